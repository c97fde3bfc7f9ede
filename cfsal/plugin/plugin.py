"""pytest entry point: options, the hypothesis call, verdict collection, summary and exit status.

Thin by design: the experiment is :func:`cfsal.rollout.counterfactual`, the verdict is
:func:`cfsal.stats.assess`; this module only adapts them to pytest.

Outcome of a hypothesis test: SUPPORTED passes; REFUTED fails (a one-line reason, no
traceback); INCONCLUSIVE is skipped with its reason, or fails with ``--cfsal-fail-on
inconclusive``. ``--cfsal-fail-on never`` (for a run that reports rather than gates, such as the
paper's experiments, some of which are expected to be refuted) skips REFUTED ones too; errors of a
hypothesis (a bad intervention, an unknown agent, any exception it raises) still fail, each as that
hypothesis's ERROR record in the table and the JSON: nothing vanishes. A test's own outcome can only use its own p-value (the others are not known
yet when it finishes). The *session* verdict — the summary table, the JSON, and the exit status —
uses every p-value adjusted across the session (Holm by default): a hypothesis that passed alone
but is not SUPPORTED after the correction is listed in the summary and, where ``--cfsal-fail-on``
says so, fails the session. The adjusted verdict is the one to cite.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from cfsal.errors import CfsalError
from cfsal.plugin.declare import DESIGNS
from cfsal.plugin.fixtures import (  # noqa: F401
    SEQUENTIAL_KEY,
    SESSION_KEY,
    STOP_RULE_KEY,
    agent,
    counterfactual,
    env,
    hypothesis_seed,
    spec_of,
)
from cfsal.plugin.sequential import (
    DEFAULT_BATCH,
    DEFAULT_DESIGN,
    DEFAULT_FUTILITY,
    DEFAULT_LOOKS,
    SequentialSession,
    parse_budget,
)
from cfsal.plugin.session import PROPERTY, STARTED_PROPERTY, SessionState, Settings

#: What ``--cfsal-fail-on`` accepts: the verdicts that fail a hypothesis's test and the session.
FAIL_ON = ("refuted", "inconclusive", "never")
#: Where results and the report go unless an option or ini key says otherwise: under pytest's rootdir.
DEFAULT_JSON, DEFAULT_HTML = "reports/results.json", "reports/index.html"
#: Values of a path option or ini key that mean "write no such file".
OFF = ("off", "none", "false", "no")


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
                    help=f"group design: planned looks per hypothesis (default {DEFAULT_LOOKS})")
    group.addoption("--cfsal-batch", type=int, default=None,
                    help=f"anytime design: samples per look unless a hypothesis says batch= (default {DEFAULT_BATCH})")
    group.addoption("--cfsal-max-samples", type=int, default=None,
                    help="sequential: the most samples per hypothesis unless it says max_samples= (default: "
                         "1.07 × its fixed-n samples for the group design, 4 × for the anytime design)")
    group.addoption("--cfsal-futility", type=float, default=None, metavar="GAMMA",
                    help="stop undecided tests once no decision is in reach by their maximum, judged by a (1 − GAMMA) "
                         "confidence sequence (anytime) or conditional power at a one-sided 1 − GAMMA bound (group) "
                         "(default 0.1; 0 turns futility stopping off)")
    group.addoption("--cfsal-budget", metavar="N|Ns|Nm", default=None,
                    help="sequential: session budget, N paired samples split evenly over the hypotheses, or "
                         "seconds (600s, 10m) of wall time; a test cut short by it is INCONCLUSIVE")
    parser.addini("cfsal_sequential", "sequential verdicts by default (true/false)", type="bool", default=False)
    parser.addini("cfsal_budget", "default for --cfsal-budget", default=None)
    parser.addini("cfsal_design", f"default for --cfsal-design ({' or '.join(DESIGNS)})", default=DEFAULT_DESIGN)
    parser.addini("cfsal_fail_on", "default for --cfsal-fail-on (refuted, inconclusive or never)", default="refuted")
    parser.addini("cfsal_json", "default for --cfsal-json, relative to the rootdir (written only if hypotheses ran)",
                  default=DEFAULT_JSON)
    from cfsal.report.build import existing_results_file

    group.addoption("--cfsal-html", metavar="PATH|off", default=None,
                    help=f"write the HTML report (verdicts, effect plots, frames with saliency) to PATH (default "
                         f"{DEFAULT_HTML} under the rootdir, if hypotheses ran; off: no report, no frames)")
    group.addoption("--cfsal-compare", metavar="BASELINE.json", default=None, type=existing_results_file,
                    help="show in the HTML report what changed since this earlier results JSON")
    parser.addini("cfsal_html", "default for --cfsal-html, relative to the rootdir (written only if hypotheses ran)",
                  default=DEFAULT_HTML)
    group.addoption("--cfsal-states-cache", metavar="DIR|off", default=None,
                    help="keep the episodes states are drawn from in DIR (relative to where pytest runs), so a re-run with the same seed reads them "
                         "instead of playing them (default reports/cache/states under the rootdir; off: never)")
    parser.addini("cfsal_states_cache", "default for --cfsal-states-cache, relative to the rootdir",
                  default="reports/cache/states")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cfsal(spec): a cfsal hypothesis (set by @cfsal.hypothesis)")
    samples = config.getoption("--cfsal-samples")
    alpha = config.getoption("--cfsal-alpha")
    if samples < 2:
        raise pytest.UsageError(f"--cfsal-samples must be ≥ 2, got {samples}")
    if not 0 < alpha < 1:
        raise pytest.UsageError(f"--cfsal-alpha must be in (0, 1), got {alpha}")
    worker = hasattr(config, "workerinput")
    state = config.stash[SESSION_KEY] = SessionState(Settings(
        seed=config.getoption("--cfsal-seed"), samples=samples, alpha=alpha,
        correction=config.getoption("--cfsal-correction"), fail_on=_fail_on(config),
        json_path=None if worker else _json_path(config),
        agent_override=config.getoption("--cfsal-agent"),
        executor=config.getoption("--cfsal-executor"), workers=config.getoption("--cfsal-workers"),
        states_cache=_states_cache(config),
    ))
    config.stash[SEQUENTIAL_KEY] = _sequential_session(config, state.settings.correction)
    if not worker:
        config.pluginmanager.register(_VerdictCollector(state), "cfsal-verdict-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop keeping episodes where this session said (matters when pytest runs in a longer-lived process)."""
    sampling = sys.modules.get("cfsal.rollout.sampling")
    if sampling is not None:
        sampling.use_states_cache(None)


def _sequential_session(config: pytest.Config, correction: str) -> SequentialSession:
    from cfsal.errors import HypothesisDeclarationError

    enabled = config.getoption("cfsal_sequential")
    if enabled is None:
        enabled = bool(config.getini("cfsal_sequential"))
    batch, maximum = config.getoption("--cfsal-batch"), config.getoption("--cfsal-max-samples")
    if batch is not None and batch < 2:
        raise pytest.UsageError(f"--cfsal-batch must be ≥ 2 samples per look, got {batch}")
    if maximum is not None and maximum < 2:
        raise pytest.UsageError(f"--cfsal-max-samples must be ≥ 2, got {maximum}")
    try:
        budget = parse_budget(config.getoption("--cfsal-budget") or config.getini("cfsal_budget"))
    except HypothesisDeclarationError as error:
        raise pytest.UsageError(str(error)) from None
    futility = config.getoption("--cfsal-futility")
    if futility is not None and not 0 <= futility < 1:
        raise pytest.UsageError(f"--cfsal-futility must lie in [0, 1) (γ, e.g. 0.1; 0 turns it off), got {futility}")
    design = config.getoption("--cfsal-design") or config.getini("cfsal_design")
    if design not in DESIGNS:
        raise pytest.UsageError(f"cfsal_design = {design!r} in the ini file: use one of {', '.join(DESIGNS)}")
    looks = config.getoption("--cfsal-looks")
    if looks is not None and looks < 1:
        raise pytest.UsageError(f"--cfsal-looks must be ≥ 1 planned look (1 is the fixed-n test), got {looks}")
    return SequentialSession(enabled=enabled, batch=batch or DEFAULT_BATCH, max_samples=maximum, budget=budget,
                             correction=correction,
                             futility=DEFAULT_FUTILITY if futility is None else (futility or None),
                             design=design, looks=looks or DEFAULT_LOOKS)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The family size for sequential stopping (α/m) and budget shares: the hypotheses that will run.

    Every xdist worker collects the same items, so every worker computes the same m.
    """
    sequential = session.config.stash.get(SEQUENTIAL_KEY, None)
    if sequential is not None:
        sequential.hypotheses = max(1, sum(1 for item in session.items if spec_of(item) is not None))


def _output_path(config: pytest.Config, option: str, ini: str) -> str | None:
    """Where an output file goes: the option as typed (relative to the current directory), else the ini
    key or its default under the rootdir; None when either says ``off``."""
    given = config.getoption(option)
    if given:
        return None if given.strip().lower() in OFF else given
    value = str(config.getini(ini) or "").strip()
    return None if not value or value.lower() in OFF else str(config.rootpath / value)


def _json_path(config: pytest.Config) -> str | None:
    return _output_path(config, "--cfsal-json", "cfsal_json")


def _html_path(config: pytest.Config) -> str | None:
    return _output_path(config, "--cfsal-html", "cfsal_html")


def _states_cache(config: pytest.Config) -> str | None:
    """The option as typed (like --cfsal-json), the ini key relative to the rootdir; None when off."""
    given = config.getoption("--cfsal-states-cache")
    value = (given or str(config.getini("cfsal_states_cache") or "")).strip()
    if not value or value.lower() in OFF:
        return None
    return str(Path(value).resolve() if given else config.rootpath / value)


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[SESSION_KEY].settings
    q = config.stash[SEQUENTIAL_KEY]
    if q.design == "group":
        looks = f"group design, {q.looks} looks, max {q.max_samples or '1.07×samples'}"
    else:
        looks = f"anytime design, batch {q.batch}, max {q.max_samples or '4×samples'}"
    mode = (f", sequential ({looks}" + (f", budget {q.budget.describe()}" if q.budget else "") + ")"
            if q.enabled else "")
    return (f"cfsal: seed {s.seed}, samples {s.samples}, alpha {s.alpha}, correction {s.correction}, "
            f"fail on {s.fail_on}" + (f", agent override {s.agent_override}" if s.agent_override else "") + mode)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a hypothesis, turn what it returns into a verdict, and set the test outcome."""
    spec = spec_of(pyfuncitem)
    if spec is None:
        return None
    from cfsal.plugin.session import hypothesis_seed as seed_for

    state = pyfuncitem.config.stash[SESSION_KEY]
    seed = seed_for(state.settings.seed, pyfuncitem.nodeid)
    record: dict[str, Any] = {"nodeid": pyfuncitem.nodeid, "claim": spec.claim, "spec": spec.to_dict(), "seed": seed}
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    started = time.perf_counter()
    if getattr(pyfuncitem.obj, "is_hypothesis_test", False):
        return _run_search(pyfuncitem, args, record, started)
    result, verdict, sequential = _run_and_judge(pyfuncitem, spec, args, seed, state.settings.alpha)
    record.update(status=verdict.outcome, verdict=verdict.to_dict(), result=result.to_dict(),
                  agent=result.agent, game=result.game, seconds=round(time.perf_counter() - started, 2))
    if sequential is not None:
        record["sequential"] = sequential
    if _html_path(pyfuncitem.config):  # frames need the in-memory result: render them here (also on xdist workers)
        from cfsal.report.build import record_media

        record["media"] = record_media(pyfuncitem.funcargs.get("agent"), result, _html_path(pyfuncitem.config),
                                       pyfuncitem.nodeid)
    _attach(pyfuncitem, record, verdict, result.agent, seed)
    _set_outcome(verdict, spec.claim, state.settings.fail_on, result.design.states.describe())
    return True


def _run_and_judge(item: pytest.Function, spec, args: dict[str, Any], seed: int, default_alpha: float):
    """Call the hypothesis function and judge what it returned: (result, verdict, sequential record or None).

    A result that came in batches (sequential mode) is judged by its design's test at the same
    looks that stopped it; any other by the fixed-n rules.
    """
    result = item.obj(**args)
    if not hasattr(result, "values") or not hasattr(result, "to_dict"):
        raise CfsalError(
            f"{item.name} returned {type(result).__name__}; a hypothesis must return the "
            "result of counterfactual(...) (a CounterfactualResult)."
        )
    claim = spec.as_claim(default_alpha)
    rule = item.stash.get(STOP_RULE_KEY, None)
    if rule is not None and getattr(getattr(result, "design", None), "batch", None) is not None:
        from cfsal.plugin.sequential import judge

        if getattr(result, "clusters", None) is not None:
            raise CfsalError(f"{item.name}: sequential verdicts need independent samples, but this design takes "
                             f"several states from one episode ({result.design.states.describe()}). Use the default "
                             "design (one state per episode), or run this hypothesis with sequential=False.")

        if claim.kind == "correlation" and getattr(result, "covariate", None) is None:
            raise CfsalError("a 'correlation' hypothesis needs two measures: counterfactual(…, measure=(x, y)).")
        outcome = judge(claim, result, rule.plan, claim.alpha, rule)
        return result, outcome.verdict, {**outcome.to_dict(), "plan": rule.plan.to_dict()}
    from cfsal.judge import judge as judge_fixed

    return result, judge_fixed(claim, result), None


def _attach(item: pytest.Function, record: dict[str, Any], verdict, agent_name: str, seed: int) -> None:
    """The record travels to the controller in user_properties; flat copies serve JUnit XML readers."""
    item.user_properties.append((PROPERTY, json.dumps(record)))
    for name, value in (("verdict", verdict.outcome), ("effect", verdict.effect), ("ci_low", verdict.ci_low),
                        ("ci_high", verdict.ci_high), ("p_value", verdict.p_value), ("n", verdict.n),
                        ("agent", agent_name), ("seed", seed)):
        item.user_properties.append((f"cfsal_{name}", value))
    if record.get("sequential"):
        item.user_properties.append(("cfsal_looks", len(record["sequential"]["looks"])))
        item.user_properties.append(("cfsal_stopped", record["sequential"]["stopped"]))


def _set_outcome(verdict, claim: str, fail_on: str, states: str) -> None:
    """SUPPORTED passes; REFUTED fails; INCONCLUSIVE is skipped, or fails when asked (no tracebacks)."""
    message = (f"{verdict.outcome}: {claim} — effect {verdict.effect:.4g} "
               f"[{verdict.ci_low:.4g}, {verdict.ci_high:.4g}], p={verdict.p_value:.3g}, n={verdict.n} "
               f"(states: {states}). {verdict.explanation}")
    if verdict.outcome == "REFUTED":
        if fail_on == "never":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    if verdict.outcome == "INCONCLUSIVE":
        if fail_on == "inconclusive":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Nothing vanishes: an error while a hypothesis is set up or run becomes its ERROR record and one
    ``cfsal:`` line; a verdict's skip points at the hypothesis, not at this plugin."""
    report = yield
    spec = spec_of(item)
    if spec is None or call.when == "teardown":
        return report
    if call.when == "setup":
        report.user_properties.append((STARTED_PROPERTY, spec.claim))
    if report.skipped and isinstance(report.longrepr, tuple):
        path, line = item.reportinfo()[:2]  # as pytest does for a skip mark (_pytest/skipping.py)
        report.longrepr = (str(path), (line or 0) + 1, report.longrepr[2])
    recorded = any(name == PROPERTY for name, _ in report.user_properties)
    if report.failed and call.excinfo is not None and not recorded:
        error = call.excinfo.value
        line = error_line(error, item.name, item.config.rootpath)
        long = item.config.getoption("tbstyle") == "long" or item.config.getoption("fulltrace")
        if long and not isinstance(error, CfsalError) and hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection("cfsal", f"cfsal: {line}")
        else:
            report.longrepr = f"cfsal: {line}"
        report.user_properties.append((PROPERTY, json.dumps(_error_record(item, spec, line, call))))
    return report


def _error_record(item: pytest.Item, spec, error: str, call: pytest.CallInfo) -> dict[str, Any]:
    """The ERROR record of a hypothesis that raised: in the table, the JSON and the exit status like any verdict."""
    from cfsal.plugin.session import hypothesis_seed as seed_for

    state = item.config.stash[SESSION_KEY]
    record = {"nodeid": item.nodeid, "claim": spec.claim, "spec": spec.to_dict(), "status": "ERROR", "error": error,
              "seed": seed_for(state.settings.seed, item.nodeid), "seconds": round(call.duration, 2)}
    loaded = getattr(getattr(item, "funcargs", {}).get("agent"), "name", None)
    agent_name = loaded or state.settings.agent_override or spec.agent
    if isinstance(agent_name, str):
        record["agent"] = agent_name
    return record


def error_line(error: BaseException, name: str, root: Path) -> str:
    """One line about an error a hypothesis raised, saying what to do.

    A cfsal error (and ``pytest.fail``) already says it; for any other exception the line names it
    and the deepest place in the user's own code it passed through (not cfsal, not a library), where
    the fix usually is; without such a place it was raised inside cfsal or a library.
    """
    if isinstance(error, (CfsalError, pytest.fail.Exception)):
        return str(error)
    if isinstance(error, pytest.FixtureLookupError):
        return f"{name} asks for a fixture {error.argname!r} that does not exist (pytest --fixtures lists them)."
    text = (str(error).strip().splitlines() or [""])[0][:300]
    what = f"{name} raised {type(error).__name__}" + (f": {text}" if text else "")
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not _library_file(frame.filename)]
    if own:
        where = own[-1]
        return (f"{what} (at {_shown(where.filename, root)}:{where.lineno}, in {where.name}). Fix it there; "
                "the hypothesis is recorded as ERROR. pytest --tb=long shows the whole traceback.")
    where = frames[-1] if frames else None
    place = f" (inside {_shown(where.filename, root)}:{where.lineno}, in {where.name})" if where else ""
    return (f"{what}{place}. Check the arguments the hypothesis gives counterfactual() and its intervention; "
            "if they are right this is a cfsal bug: please report it with the output of pytest --tb=long.")


def _library_file(filename: str) -> bool:
    """Whether a traceback frame belongs to cfsal, pytest or an installed library rather than the user's code."""
    path = Path(filename).resolve()
    return path.is_relative_to(_CFSAL_DIR) or any(path.is_relative_to(p) for p in _LIBRARY_DIRS)


_CFSAL_DIR = Path(__file__).resolve().parents[1]
_LIBRARY_DIRS = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib")})


def _shown(path: str | os.PathLike, root: Path) -> str:
    """A path as the user would type it: relative to ``root`` when it lies inside, else whole."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _run_search(item: pytest.Function, args: dict[str, Any], record: dict[str, Any], started: float) -> bool:
    """A ``@given`` falsification search: it holds (passes) or yields a shrunk counterexample (fails)."""
    try:
        item.obj(**args)
    except CfsalError:
        raise  # a mistake in the hypothesis, not a counterexample: its ERROR record is made with the report
    except Exception as error:
        record.update(status="COUNTEREXAMPLE", error=str(error).splitlines()[0][:500],
                      seconds=round(time.perf_counter() - started, 2))
        item.user_properties.append((PROPERTY, json.dumps(record)))
        raise
    record.update(status="HELD", seconds=round(time.perf_counter() - started, 2))
    item.user_properties.append((PROPERTY, json.dumps(record)))
    return True


class _VerdictCollector:
    """Collects verdict records from test reports: in-process, or on the xdist controller."""

    def __init__(self, state: SessionState) -> None:
        self.state = state
        self.started: dict[str, str] = {}  # nodeid → claim of every hypothesis whose setup was reported

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            return
        carried = False
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.state.add(json.loads(value))
                carried = True
            elif name == STARTED_PROPERTY:
                self.started[report.nodeid] = value
        if not carried and report.failed and report.nodeid in self.started \
                and "crashed while running" in str(report.longrepr):
            # xdist's report for a worker that died mid-hypothesis (it carries no marks, so the
            # setup report announced the hypothesis): no record came back with it, and without
            # this the hypothesis would vanish from the JSON, the table and the CI gate.
            self.state.add({"nodeid": report.nodeid, "claim": self.started[report.nodeid], "status": "ERROR",
                            "error": str(report.longrepr).strip().splitlines()[-1]})


def _fails(outcome: str, fail_on: str) -> bool:
    if outcome == "ERROR":
        return True
    return fail_on != "never" and (outcome == "REFUTED" or (fail_on == "inconclusive" and outcome == "INCONCLUSIVE"))


def _fail_on(config: pytest.Config) -> str:
    """``--cfsal-fail-on``, else the ``cfsal_fail_on`` ini key (checked: a typo must not disable gating)."""
    value = config.getoption("--cfsal-fail-on") or str(config.getini("cfsal_fail_on")).strip()
    if value not in FAIL_ON:
        raise pytest.UsageError(f"cfsal_fail_on = {value!r} in the ini file: use one of {', '.join(FAIL_ON)}.")
    return value


def changed_by_correction(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hypotheses whose verdict at the adjusted level differs from their verdict alone."""
    return [r for r in records if r.get("verdict") and r.get("adjusted_verdict")
            and r["verdict"]["outcome"] != r["adjusted_verdict"]["outcome"]]


def designs_used(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each declared state distribution of the session (its description) and the hypotheses drawn from it."""
    from cfsal.rollout.design import design_of_record

    found: dict[str, list[str]] = {}
    for record in records:
        design = design_of_record(record.get("result") or {})
        if design is not None:
            found.setdefault(design.states.describe(), []).append(record["nodeid"])
    return found


def repeated_situations(records: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(nodeid, n, distinct situations) of the periodic-design hypotheses some of whose samples branched
    from the same game situation: replayed games or frozen screens of consecutive branch points. (With
    independently seeded episodes, two that meet in one situation are independent draws: not noted.)"""
    from cfsal.rollout.design import States, design_of_record

    found = []
    for record in records:
        result = record.get("result") or {}
        design = design_of_record(result)
        if design is not None and isinstance(design.states, States):
            continue
        n, distinct = result.get("n"), result.get("distinct_situations")
        if n is not None and distinct is not None and distinct < n:
            found.append((record["nodeid"], int(n), int(distinct)))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    state = session.config.stash[SESSION_KEY]
    if not state.records:
        return
    if state.settings.json_path:
        state.write_json(state.settings.json_path, partial=exitstatus == pytest.ExitCode.INTERRUPTED)
    if _html_path(session.config):
        from cfsal.report.build import write_session_report

        write_session_report(state.to_dict(partial=exitstatus == pytest.ExitCode.INTERRUPTED),
                             _html_path(session.config), session.config.getoption("--cfsal-compare"),
                             root=session.config.rootpath)
    demoted = [r for r in changed_by_correction(state.final_records())
               if _fails(r["adjusted_verdict"]["outcome"], state.settings.fail_on)]
    if demoted and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash[SESSION_KEY]
    if not state.records or hasattr(config, "workerinput"):
        return
    from cfsal.report.table import verdict_table

    s = state.settings
    terminalreporter.section("cfsal verdicts")
    terminalreporter.write_line(
        f"seed {s.seed} · α {s.alpha} · correction {s.correction} over {len(state.records)} hypotheses · "
        f"verdicts at the adjusted level"
    )
    for line in verdict_table(state.final_records()):
        terminalreporter.write_line(line)
    for record in changed_by_correction(state.final_records()):
        terminalreporter.write_line(
            f"note: {record['nodeid']} is {record['verdict']['outcome']} alone but "
            f"{record['adjusted_verdict']['outcome']} after {s.correction} across the session "
            f"(p {record['verdict']['p_value']:.3g} → {record['adjusted_verdict']['p_adjusted']:.3g})"
        )
    from cfsal.report.table import set_aside

    for description, nodeids in designs_used(state.final_records()).items():
        terminalreporter.write_line(f"states ({len(nodeids)} hypotheses): {description}")
    for nodeid, text in set_aside(state.final_records()):
        terminalreporter.write_line(f"note: {nodeid}: {text}")
    for nodeid, n, distinct in repeated_situations(state.final_records()):
        terminalreporter.write_line(
            f"note: {nodeid}: {n} samples from {distinct} distinct situations of the periodic design, repeats "
            "counted as visits (docs/statistics.md, 'Episodes that look alike')"
        )
    here = config.invocation_params.dir
    for kind, path in (("results", s.json_path), ("report", _html_path(config))):
        terminalreporter.write_line(f"{kind}: {_shown(path, here) if path else 'not written (off)'}")
