"""cfsal's pytest plugin: options, fixtures, and the start of a cfsal session once a test uses cfsal.

A top-level module, as Hypothesis's ``_hypothesis_pytestplugin`` is: pytest loads it in every run
of an environment where cfsal is installed, and importing the ``cfsal`` package loads torch
(seconds). So this module declares the options and ini keys and checks their values, and imports
the library only when it is needed: once a collected test module has imported ``cfsal``, a
hypothesis asks for a fixture, a ``--cfsal-…`` option asks for the library at once
(``--cfsal-compare``), or an xdist worker reports a hypothesis. Then it registers the session's
state object, :class:`cfsal.plugin.plugin.CfsalSession`, whose methods are the hooks that run
hypotheses, judge them and write the table, the JSON and the report (the shape of pytest's own
``junitxml``). ``pytest --version`` and a run without hypotheses import no torch
(docs/architecture.md measures it).
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

#: The user property that carries a hypothesis's record from the test report to the session.
PROPERTY = "cfsal"
#: Sent with a hypothesis's setup report, so the xdist controller knows it began even if its worker dies.
STARTED_PROPERTY = "cfsal_started"
#: What ``--cfsal-fail-on`` accepts: the verdicts that fail a hypothesis's test and the session.
FAIL_ON = ("refuted", "inconclusive", "never")
#: Where results and the report go unless an option or ini key says otherwise: under pytest's rootdir.
DEFAULT_JSON, DEFAULT_HTML, DEFAULT_STATES_CACHE = "reports/results.json", "reports/index.html", "reports/cache/states"
#: Values of a path option or ini key that mean "write no such file".
OFF = ("off", "none", "false", "no")
#: Sequential designs: group-sequential (planned looks) and anytime-valid (a look after every batch).
DESIGNS = ("group", "anytime")
#: The sequential design unless ``--cfsal-design`` or a hypothesis's ``design=`` says otherwise.
DEFAULT_DESIGN = "group"
#: Anytime design: samples per look unless ``--cfsal-batch`` or a hypothesis's ``batch=`` says otherwise.
DEFAULT_BATCH = 10
#: γ of the futility rules: a (1 − γ) confidence sequence (anytime) or one-sided bound (group) decides
#: whether a decision is still in reach.
DEFAULT_FUTILITY = 0.1
#: The started session (:class:`cfsal.plugin.plugin.CfsalSession`) of a pytest config.
SESSION_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cfsal", "counterfactual saliency hypotheses")
    group.addoption("--cfsal-seed", type=int, default=0, help="session seed: every random choice derives from it (default 0)")
    group.addoption("--cfsal-samples", type=int, default=30, help="paired samples per hypothesis unless it says otherwise (default 30)")
    group.addoption("--cfsal-alpha", type=float, default=0.05, help="significance level (default 0.05)")
    group.addoption("--cfsal-correction", choices=("holm", "bh", "none"), default="holm",
                    help="multiple-testing correction across the session's hypotheses (default holm)")
    group.addoption("--cfsal-fail-on", choices=FAIL_ON, default=None,
                    help="which verdicts fail the test: REFUTED only (default, or the cfsal_fail_on ini key), "
                         "INCONCLUSIVE too, or never (report only; errors still fail)")
    group.addoption("--cfsal-json", metavar="PATH|off", default=None,
                    help=f"write every verdict and its numbers to PATH (default {DEFAULT_JSON} under the rootdir, "
                         "if hypotheses ran; off: no file)")
    group.addoption("--cfsal-agent", metavar="NAME", default=None, help="run every hypothesis on this agent instead")
    group.addoption("--cfsal-executor", choices=("inline", "process", "ray"), default="inline",
                    help="where counterfactual rollouts run: this process (default), a process pool, or Ray")
    group.addoption("--cfsal-workers", type=int, default=2, help="workers for --cfsal-executor process/ray (default 2)")
    group.addoption("--cfsal-sequential", dest="cfsal_sequential", action="store_const", const=True, default=None,
                    help="sequential verdicts: sample in batches and stop as soon as the evidence decides, "
                         "with the error rates kept (hypotheses may opt out with sequential=False)")
    group.addoption("--cfsal-fixed", dest="cfsal_sequential", action="store_const", const=False,
                    help="fixed-n verdicts for every hypothesis that does not say sequential=True")
    group.addoption("--cfsal-design", choices=DESIGNS, default=None,
                    help=f"sequential design unless a hypothesis says design=: group (a few planned looks, the "
                         f"fixed-n test at each) or anytime (a look after every batch); default "
                         f"{DEFAULT_DESIGN}, or the cfsal_design ini key")
    group.addoption("--cfsal-looks", type=int, default=None,
                    help="group design: planned looks per hypothesis (default: the statistics' own, "
                         "cfsal.stats.group_sequential.DEFAULT_LOOKS; the cfsal line after collection shows it)")
    group.addoption("--cfsal-batch", type=int, default=None,
                    help=f"anytime design: samples per look unless a hypothesis says batch= (default {DEFAULT_BATCH})")
    group.addoption("--cfsal-max-samples", type=int, default=None,
                    help="sequential: the most samples per hypothesis unless it says max_samples= (default: "
                         "1.07 × its fixed-n samples for the group design, 4 × for the anytime design)")
    group.addoption("--cfsal-futility", type=float, default=None, metavar="GAMMA",
                    help="stop undecided tests once no decision is in reach by their maximum, judged by a (1 − GAMMA) "
                         "confidence sequence (anytime) or conditional power at a one-sided 1 − GAMMA bound (group) "
                         f"(default {DEFAULT_FUTILITY}; 0 turns futility stopping off)")
    group.addoption("--cfsal-budget", metavar="N|Ns|Nm", default=None,
                    help="sequential: session budget, N paired samples split evenly over the hypotheses, or "
                         "seconds (600s, 10m) of wall time; a test cut short by it is INCONCLUSIVE")
    group.addoption("--cfsal-html", metavar="PATH|off", default=None,
                    help=f"write the HTML report (verdicts, effect plots, frames with saliency) to PATH (default "
                         f"{DEFAULT_HTML} under the rootdir, if hypotheses ran; off: no report, no frames)")
    group.addoption("--cfsal-compare", metavar="BASELINE.json", default=None,
                    help="show in the HTML report what changed since this earlier results JSON")
    group.addoption("--cfsal-states-cache", metavar="DIR|off", default=None,
                    help="keep the episodes states are drawn from in DIR (relative to where pytest runs), so a re-run "
                         f"with the same seed reads them instead of playing them (default {DEFAULT_STATES_CACHE} "
                         "under the rootdir; off: never)")
    parser.addini("cfsal_sequential", "sequential verdicts by default (true/false)", type="bool", default=False)
    parser.addini("cfsal_budget", "default for --cfsal-budget", default=None)
    parser.addini("cfsal_design", f"default for --cfsal-design ({' or '.join(DESIGNS)})", default=DEFAULT_DESIGN)
    parser.addini("cfsal_fail_on", "default for --cfsal-fail-on (refuted, inconclusive or never)", default="refuted")
    parser.addini("cfsal_json", "default for --cfsal-json, relative to the rootdir (written only if hypotheses ran)",
                  default=DEFAULT_JSON)
    parser.addini("cfsal_html", "default for --cfsal-html, relative to the rootdir (written only if hypotheses ran)",
                  default=DEFAULT_HTML)
    parser.addini("cfsal_states_cache", "default for --cfsal-states-cache, relative to the rootdir",
                  default=DEFAULT_STATES_CACHE)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cfsal(spec): a cfsal hypothesis (set by @cfsal.hypothesis)")
    check_options(config)
    config.pluginmanager.register(_Starter(config), "cfsal-starter")
    if config.getoption("--cfsal-compare") or "cfsal" in sys.modules:
        started(config)  # a baseline to check now, or a conftest already imported cfsal


def started(config: pytest.Config):
    """The session's :class:`cfsal.plugin.plugin.CfsalSession`, created and registered on first use."""
    if SESSION_KEY not in config.stash:
        from cfsal.plugin.plugin import CfsalSession  # the library, once it is needed (module docstring)

        session = config.stash[SESSION_KEY] = CfsalSession(config)
        config.pluginmanager.register(session, "cfsal-session")
    return config.stash[SESSION_KEY]


class _Starter:
    """Starts the cfsal session when a run turns out to use cfsal (its hooks see it before the session's)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if "cfsal" in sys.modules:  # a collected test module imported it
            started(self.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The xdist controller collects nothing: the first report of a hypothesis starts its session,
        which then needs this report too (a plugin registered during a hook misses that call)."""
        if SESSION_KEY not in self.config.stash and any(
                name in (PROPERTY, STARTED_PROPERTY) for name, _ in report.user_properties):
            started(self.config).pytest_runtest_logreport(report)


def check_options(config: pytest.Config) -> None:
    """Every option and ini value checked at the command line, with what to type instead."""
    if config.getoption("--cfsal-samples") < 2:
        raise pytest.UsageError(f"--cfsal-samples must be ≥ 2, got {config.getoption('--cfsal-samples')}")
    if not 0 < config.getoption("--cfsal-alpha") < 1:
        raise pytest.UsageError(f"--cfsal-alpha must be in (0, 1), got {config.getoption('--cfsal-alpha')}")
    fail_on(config)
    batch, maximum = config.getoption("--cfsal-batch"), config.getoption("--cfsal-max-samples")
    if batch is not None and batch < 2:
        raise pytest.UsageError(f"--cfsal-batch must be ≥ 2 samples per look, got {batch}")
    if maximum is not None and maximum < 2:
        raise pytest.UsageError(f"--cfsal-max-samples must be ≥ 2, got {maximum}")
    futility = config.getoption("--cfsal-futility")
    if futility is not None and not 0 <= futility < 1:
        raise pytest.UsageError(f"--cfsal-futility must lie in [0, 1) (γ, e.g. 0.1; 0 turns it off), got {futility}")
    design = config.getoption("--cfsal-design") or config.getini("cfsal_design")
    if design not in DESIGNS:
        raise pytest.UsageError(f"cfsal_design = {design!r} in the ini file: use one of {', '.join(DESIGNS)}")
    looks = config.getoption("--cfsal-looks")
    if looks is not None and looks < 1:
        raise pytest.UsageError(f"--cfsal-looks must be ≥ 1 planned look (1 is the fixed-n test), got {looks}")
    try:
        parse_budget(config.getoption("--cfsal-budget") or config.getini("cfsal_budget"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def fail_on(config: pytest.Config) -> str:
    """``--cfsal-fail-on``, else the ``cfsal_fail_on`` ini key (checked: a typo must not disable gating)."""
    value = config.getoption("--cfsal-fail-on") or str(config.getini("cfsal_fail_on")).strip()
    if value not in FAIL_ON:
        raise pytest.UsageError(f"cfsal_fail_on = {value!r} in the ini file: use one of {', '.join(FAIL_ON)}.")
    return value


def parse_budget(text: str | None) -> tuple[int | None, float | None] | None:
    """``"2000"`` → (2000 paired samples, None); ``"600s"``, ``"10m"`` → (None, seconds); ``None``/``""`` → None."""
    if text is None or str(text).strip() == "":
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*", str(text))
    if not match or (match.group(2) is None and "." in match.group(1)):
        raise ValueError(f"--cfsal-budget={text!r}: give a whole number of paired samples for the session "
                         "(e.g. 2000), or a time with a unit: 600s, 10m, 1h.")
    number, unit = match.groups()
    if unit is None:
        if int(number) < 1:
            raise ValueError(f"--cfsal-budget={text!r}: the budget must be at least 1 sample.")
        return int(number), None
    return None, float(number) * {"s": 1, "m": 60, "h": 3600}[unit]


@pytest.fixture
def hypothesis_seed(request: pytest.FixtureRequest) -> int:
    """This hypothesis's seed, from ``--cfsal-seed`` and the hypothesis's identity (file name, function,
    parameters; not the directory, so it is the same however the file is named on the command line)."""
    return started(request.config).hypothesis_seed(request.node)


@pytest.fixture
def agent(request: pytest.FixtureRequest):
    """The agent the hypothesis names (``@cfsal.hypothesis(agent=…)``), or ``--cfsal-agent``.
    A user's own ``agent`` fixture in a conftest overrides this one."""
    return started(request.config).agent(request.node)


@pytest.fixture
def env(request: pytest.FixtureRequest, agent, hypothesis_seed: int):
    """A fresh environment of the agent's game, reset with the hypothesis seed."""
    return started(request.config).env(agent, hypothesis_seed)


@pytest.fixture
def counterfactual(request: pytest.FixtureRequest, agent, hypothesis_seed: int):
    """Run paired counterfactual rollouts on ``agent``: ``counterfactual(intervention, **settings)``.

    Settings are those of :func:`cfsal.rollout.counterfactual` (keywords, or ``design=`` a
    :class:`cfsal.rollout.Design`); ``samples`` defaults to the hypothesis's ``samples`` or
    ``--cfsal-samples``, ``seed`` to the hypothesis seed, and ``states_seed`` to the session's
    (hypotheses on one agent and design read the same episodes). A ``design=`` fills in the same
    way: its fields left at ``Design``'s defaults take these, as keywords left out do. In
    sequential mode (``--cfsal-sequential`` or ``sequential=True``) the samples come in batches and
    the run stops as soon as the hypothesis's sequential test decides (docs/sequential.md).
    """
    return started(request.config).counterfactual(request, agent, hypothesis_seed)
