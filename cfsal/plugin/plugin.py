"""The cfsal session in pytest: run each hypothesis, judge it, collect the verdicts, summarise, exit status.

One object per pytest session, :class:`CfsalSession`, registered by the plugin module
(``_cfsal_pytestplugin``) once the run uses cfsal; its methods are the hooks (the shape of pytest's
``junitxml``). The experiment is :func:`cfsal.rollout.counterfactual` and the verdict
:func:`cfsal.judge.judge`; this module only adapts them to pytest.

Outcome of a hypothesis test: SUPPORTED passes; REFUTED fails (a one-line reason, no
traceback); INCONCLUSIVE is skipped with its reason, or fails with ``--cfsal-fail-on
inconclusive``. ``--cfsal-fail-on never`` (for a run that reports rather than gates, such as the
paper's experiments, some of which are expected to be refuted) skips REFUTED ones too; errors of a
hypothesis (a bad intervention, an unknown agent, any exception it raises) still fail, each as that
hypothesis's ERROR record in the table and the JSON: nothing vanishes. A test's own outcome can only
use its own p-value (the others are not known yet when it finishes). The *session* verdict — the
summary table, the JSON, and the exit status — uses every p-value adjusted across the session (Holm
by default): a hypothesis that passed alone but is not SUPPORTED after the correction is listed in
the summary and, where ``--cfsal-fail-on`` says so, fails the session. The adjusted verdict is the
one to cite.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import _cfsal_pytestplugin as options
from _cfsal_pytestplugin import PROPERTY, STARTED_PROPERTY
from cfsal.errors import CfsalError, ReportError
from cfsal.judge import judge as judge_fixed
from cfsal.plugin.error_lines import error_line, shown
from cfsal.plugin.fixtures import STOP_RULE_KEY, agent_of, counterfactual_of, env_of, spec_of
from cfsal.plugin.sequential import SequentialSession, judge, parse_budget, plan_record
from cfsal.plugin.session import SessionState, Settings, hypothesis_seed
from cfsal.plugin.summary import changed_by_correction, designs_used, repeated_situations
from cfsal.report.build import load_results, record_media, write_session_report
from cfsal.report.table import set_aside, verdict_table
from cfsal.rollout.sampling import use_states_cache
from cfsal.stats.group_sequential import DEFAULT_LOOKS


class CfsalSession:
    """A pytest session's cfsal state (settings, agents, verdict records) and the hooks that use it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.worker = hasattr(config, "workerinput")
        self.html_path = _output_path(config, "--cfsal-html", "cfsal_html")
        self.compare = _baseline(config.getoption("--cfsal-compare"))
        self.state = SessionState(Settings(
            seed=config.getoption("--cfsal-seed"), samples=config.getoption("--cfsal-samples"),
            alpha=config.getoption("--cfsal-alpha"), correction=config.getoption("--cfsal-correction"),
            fail_on=options.fail_on(config),
            json_path=None if self.worker else _output_path(config, "--cfsal-json", "cfsal_json"),
            agent_override=config.getoption("--cfsal-agent"),
            executor=config.getoption("--cfsal-executor"), workers=config.getoption("--cfsal-workers"),
            states_cache=_states_cache(config),
        ))
        self.sequential = _sequential_session(config, self.state.settings.correction)
        self.started: dict[str, str] = {}  # nodeid → claim of every hypothesis whose setup was reported

    # -- what the fixtures hand a hypothesis (declared in _cfsal_pytestplugin)

    def hypothesis_seed(self, node: pytest.Item) -> int:
        return hypothesis_seed(self.state.settings.seed, node.nodeid)

    def agent(self, node: pytest.Item):
        return agent_of(self.state, node)

    def env(self, agent, seed: int):
        return env_of(agent, seed)

    def counterfactual(self, request: pytest.FixtureRequest, agent, seed: int):
        return counterfactual_of(request, self.state, self.sequential, agent, seed)

    # -- hooks

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The family size for sequential stopping (α/m) and budget shares: the hypotheses that will run.

        Every xdist worker collects the same items, so every worker computes the same m.
        """
        self.sequential.hypotheses = max(1, sum(1 for item in session.items if spec_of(item) is not None))

    def pytest_report_collectionfinish(self) -> str:
        s, q = self.state.settings, self.sequential
        if q.design == "group":
            looks = f"group design, {q.looks} looks, max {q.max_samples or '1.07×samples'}"
        else:
            looks = f"anytime design, batch {q.batch}, max {q.max_samples or '4×samples'}"
        mode = (f", sequential ({looks}" + (f", budget {q.budget.describe()}" if q.budget else "") + ")"
                if q.enabled else "")
        return (f"cfsal: seed {s.seed}, samples {s.samples}, alpha {s.alpha}, correction {s.correction}, "
                f"fail on {s.fail_on}" + (f", agent override {s.agent_override}" if s.agent_override else "") + mode)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """Run a hypothesis, turn what it returns into a verdict, and set the test outcome."""
        spec = spec_of(pyfuncitem)
        if spec is None:
            return None
        seed = self.hypothesis_seed(pyfuncitem)
        record: dict[str, Any] = {"nodeid": pyfuncitem.nodeid, "claim": spec.claim, "spec": spec.to_dict(),
                                  "seed": seed}
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        started = time.perf_counter()
        if getattr(pyfuncitem.obj, "is_hypothesis_test", False):
            return _run_search(pyfuncitem, args, record, started)
        result, verdict, sequential = _run_and_judge(pyfuncitem, spec, args, self.state.settings.alpha)
        record.update(status=verdict.outcome, verdict=verdict.to_dict(), result=result.to_dict(),
                      agent=result.agent, game=result.game, seconds=round(time.perf_counter() - started, 2))
        if sequential is not None:
            record["sequential"] = sequential
        if self.html_path:  # frames need the in-memory result: render them here (also on xdist workers)
            record["media"] = record_media(pyfuncitem.funcargs.get("agent"), result, self.html_path, pyfuncitem.nodeid)
        _attach(pyfuncitem, record, verdict, result.agent, seed)
        _set_outcome(verdict, spec.claim, self.state.settings.fail_on, result.design.states.describe())
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
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
            report.user_properties.append((PROPERTY, json.dumps(self._error_record(item, spec, line, call))))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect verdict records from test reports: in-process, or on the xdist controller."""
        if self.worker or report.when == "teardown":
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

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if self.worker or not state.records:
            return
        partial = exitstatus == pytest.ExitCode.INTERRUPTED
        if state.settings.json_path:
            state.write_json(state.settings.json_path, partial=partial)
        if self.html_path:
            write_session_report(state.to_dict(partial=partial), self.html_path, self.compare,
                                 root=session.config.rootpath)
        demoted = [r for r in changed_by_correction(state.final_records())
                   if _fails(r["adjusted_verdict"]["outcome"], state.settings.fail_on)]
        if demoted and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        state, s = self.state, self.state.settings
        if self.worker or not state.records:
            return
        records = state.final_records()
        terminalreporter.section("cfsal verdicts")
        terminalreporter.write_line(f"seed {s.seed} · α {s.alpha} · correction {s.correction} over "
                                    f"{len(state.records)} hypotheses · verdicts at the adjusted level")
        for line in verdict_table(records):
            terminalreporter.write_line(line)
        for record in changed_by_correction(records):
            terminalreporter.write_line(
                f"note: {record['nodeid']} is {record['verdict']['outcome']} alone but "
                f"{record['adjusted_verdict']['outcome']} after {s.correction} across the session "
                f"(p {record['verdict']['p_value']:.3g} → {record['adjusted_verdict']['p_adjusted']:.3g})"
            )
        for description, nodeids in designs_used(records).items():
            terminalreporter.write_line(f"states ({len(nodeids)} hypotheses): {description}")
        for nodeid, text in set_aside(records):
            terminalreporter.write_line(f"note: {nodeid}: {text}")
        for nodeid, n, distinct in repeated_situations(records):
            terminalreporter.write_line(
                f"note: {nodeid}: {n} samples from {distinct} distinct situations of the periodic design, repeats "
                "counted as visits (docs/statistics.md, 'Episodes that look alike')"
            )
        here = self.config.invocation_params.dir
        for kind, path in (("results", s.json_path), ("report", self.html_path)):
            terminalreporter.write_line(f"{kind}: {shown(path, here) if path else 'not written (off)'}")

    def pytest_unconfigure(self) -> None:
        """Stop keeping episodes where this session said (matters when pytest runs in a longer-lived process)."""
        use_states_cache(None)

    def _error_record(self, item: pytest.Item, spec, error: str, call: pytest.CallInfo) -> dict[str, Any]:
        """The ERROR record of a hypothesis that raised: in the table, the JSON and the exit status like any verdict."""
        settings = self.state.settings
        record = {"nodeid": item.nodeid, "claim": spec.claim, "spec": spec.to_dict(), "status": "ERROR",
                  "error": error, "seed": self.hypothesis_seed(item), "seconds": round(call.duration, 2)}
        loaded = getattr(getattr(item, "funcargs", {}).get("agent"), "name", None)
        agent_name = loaded or settings.agent_override or spec.agent
        if isinstance(agent_name, str):
            record["agent"] = agent_name
        return record


def _run_and_judge(item: pytest.Function, spec, args: dict[str, Any], default_alpha: float):
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
        if claim.kind == "correlation" and getattr(result, "covariate", None) is None:
            raise CfsalError("a 'correlation' hypothesis needs two measures: counterfactual(…, measure=(x, y)).")
        outcome = judge(claim, result, rule.plan, claim.alpha, rule)
        return result, outcome.verdict, {**outcome.to_dict(), "plan": plan_record(rule.plan, result)}
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


def _fails(outcome: str, fail_on: str) -> bool:
    if outcome == "ERROR":
        return True
    return fail_on != "never" and (outcome == "REFUTED" or (fail_on == "inconclusive" and outcome == "INCONCLUSIVE"))


def _sequential_session(config: pytest.Config, correction: str) -> SequentialSession:
    """The session's sequential settings from the options and ini keys (checked by the plugin module)."""
    enabled = config.getoption("cfsal_sequential")
    if enabled is None:
        enabled = bool(config.getini("cfsal_sequential"))
    futility = config.getoption("--cfsal-futility")
    return SequentialSession(
        enabled=enabled, batch=config.getoption("--cfsal-batch") or options.DEFAULT_BATCH,
        max_samples=config.getoption("--cfsal-max-samples"),
        budget=parse_budget(config.getoption("--cfsal-budget") or config.getini("cfsal_budget")),
        correction=correction, futility=options.DEFAULT_FUTILITY if futility is None else (futility or None),
        design=config.getoption("--cfsal-design") or config.getini("cfsal_design"),
        looks=config.getoption("--cfsal-looks") or DEFAULT_LOOKS)


def _output_path(config: pytest.Config, option: str, ini: str) -> str | None:
    """Where an output file goes: the option as typed (relative to the current directory), else the ini
    key or its default under the rootdir; None when either says ``off``."""
    given = config.getoption(option)
    if given:
        return None if given.strip().lower() in options.OFF else given
    value = str(config.getini(ini) or "").strip()
    return None if not value or value.lower() in options.OFF else str(config.rootpath / value)


def _states_cache(config: pytest.Config) -> str | None:
    """The option as typed (like --cfsal-json), the ini key relative to the rootdir; None when off."""
    given = config.getoption("--cfsal-states-cache")
    value = (given or str(config.getini("cfsal_states_cache") or "")).strip()
    if not value or value.lower() in options.OFF:
        return None
    return str(Path(value).resolve() if given else config.rootpath / value)


def _baseline(path: str | None) -> str | None:
    """``--cfsal-compare``, checked when the session starts (before any hypothesis runs), not at its end."""
    if path:
        try:
            load_results(path, what="baseline")
        except ReportError as error:
            raise pytest.UsageError(f"--cfsal-compare: {error}") from None
    return path
