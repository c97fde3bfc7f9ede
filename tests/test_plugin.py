"""The pytest plugin, tested from the outside: hypothesis files run in a temp dir, as a user would."""

import json

import pytest

HYPOTHESES = '''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball, unchanged

@cfsal.hypothesis(kind="effect")
def test_moving_the_ball_changes_the_policy(counterfactual):
    """Moving the ball changes the policy."""
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60)), horizon=5,
                          measure=measures.policy_total_variation)

@cfsal.hypothesis(kind="no_effect", margin=0.05)
def test_an_edit_that_changes_nothing_has_no_effect(counterfactual):
    """Rewriting the state unchanged does not change the agent's value estimate."""
    return counterfactual(StateEdit("breakout", unchanged), states=cfsal.States(window=(5, 60)), horizon=5,
                          measure=measures.value_change)
'''


@pytest.fixture
def project(tiny_project):
    tiny_project.makepyfile(test_claims=HYPOTHESES)
    return tiny_project


def run(project, *args):
    return project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "8", "--cfsal-json", "out.json",
                                        "--cfsal-html", "off", *args)


def test_verdicts_are_outcomes_table_and_json(project):
    result = run(project)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["cfsal: seed 0, samples 8*", "*cfsal verdicts*",
                                 "*test_an_edit_that_changes_nothing_has_no_effect*SUPPORTED*",
                                 "*test_moving_the_ball_changes_the_policy*tiny*8*SUPPORTED*"])
    data = json.loads((project.path / "out.json").read_text())
    assert data["counts"] == {"SUPPORTED": 2} and not data["partial"]
    record = next(r for r in data["hypotheses"] if "moving" in r["nodeid"])
    verdict = record["adjusted_verdict"]
    for key in ("effect", "ci_low", "ci_high", "p_value", "p_adjusted", "n"):
        assert key in verdict
    assert record["result"]["n"] == 8 and len(record["result"]["values"]) == 8


def test_same_seed_gives_identical_verdicts_and_another_seed_differs(project):
    def verdicts(seed):
        run(project, "--cfsal-seed", str(seed))
        data = json.loads((project.path / "out.json").read_text())
        return [(r["nodeid"], r["result"]["values"], r["adjusted_verdict"]) for r in data["hypotheses"]]

    assert verdicts(3) == verdicts(3)
    assert verdicts(3) != verdicts(4)


@pytest.mark.slow
def test_verdicts_are_identical_across_executors(project):
    def verdicts(*args):
        run(project, *args)
        data = json.loads((project.path / "out.json").read_text())
        return [(r["nodeid"], r["result"]["values"], r["adjusted_verdict"]) for r in data["hypotheses"]]

    serial = verdicts()
    assert serial == verdicts("--cfsal-executor", "process") == verdicts("-n", "2")
    pytest.importorskip("ray")
    assert serial == verdicts("--cfsal-executor", "ray")


def test_results_reach_the_controller_under_xdist(project):
    result = run(project, "-n", "2")
    result.assert_outcomes(passed=2)
    data = json.loads((project.path / "out.json").read_text())
    assert len(data["hypotheses"]) == 2


def test_a_null_agent_is_never_found_to_react(project):
    project.makeconftest("")
    result = run(project, "--cfsal-agent", "breakout-constant")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) <= 1  # only the no-effect claim may pass
    data = json.loads((project.path / "out.json").read_text())
    effect = next(r for r in data["hypotheses"] if "moving" in r["nodeid"])
    assert effect["adjusted_verdict"]["outcome"] != "SUPPORTED"
    assert all(v == 0 for v in effect["result"]["values"])


def test_contradictory_declaration_is_a_clear_collection_error(pytester):
    pytester.makepyfile(test_bad='''
import cfsal

@cfsal.hypothesis("x goes up", kind="direction")
def test_x(counterfactual):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*HypothesisDeclarationError*needs alternative='greater' or 'less'*"])
    assert result.ret != 0


def test_returning_the_wrong_thing_fails_with_one_line(project):
    project.makepyfile(test_wrong='''
import cfsal

@cfsal.hypothesis("nothing")
def test_returns_none(agent):
    return None
''')
    result = run(project, "test_wrong.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cfsal: test_returns_none returned NoneType*"])
    assert "Traceback" not in result.stdout.str()


def test_bounded_measures_need_enough_zeros_to_show_no_effect(project):
    project.makepyfile(test_bounded='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import unchanged

@cfsal.hypothesis(kind="no_effect", margin=0.05)
def test_no_disagreement(counterfactual):
    """An unchanged state changes no action."""
    return counterfactual(StateEdit("breakout", unchanged), states=cfsal.States(window=(5, 60)), horizon=3,
                          measure=measures.action_disagreement)
''')
    run(project, "test_bounded.py").assert_outcomes(skipped=1)  # 8 zeros: a 5% rate is still plausible
    run(project, "test_bounded.py", "--cfsal-samples", "100").assert_outcomes(passed=1)
    data = json.loads((project.path / "out.json").read_text())
    assert data["hypotheses"][0]["result"]["bounds"] == [0.0, 1.0]


def test_inconclusive_fails_only_when_asked(project):
    project.makepyfile(test_weak='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit

@cfsal.hypothesis(kind="effect", samples=2)
def test_unchanged_state_changes_something(counterfactual):
    """An edit that changes nothing changes something (cannot be supported)."""
    return counterfactual(StateEdit("breakout", lambda s, rng: s), states=cfsal.States(window=(5, 60)), horizon=3,
                          measure=measures.action_disagreement)
''')
    run(project, "test_weak.py").assert_outcomes(skipped=1)
    run(project, "test_weak.py", "--cfsal-fail-on", "inconclusive").assert_outcomes(failed=1)


def test_an_unknown_agent_is_a_one_line_error_and_the_session_goes_on(project):
    project.makepyfile(test_unknown='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit

@cfsal.hypothesis("x", agent="no-such-agent")
def test_on_a_missing_agent(counterfactual):
    return counterfactual(StateEdit("breakout", lambda s, rng: s))
''')
    project.makeconftest("")
    result = run(project, "test_unknown.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cfsal: unknown agent 'no-such-agent'*"])
    assert "Traceback" not in result.stdout.str()
    data = json.loads((project.path / "out.json").read_text())
    assert data["hypotheses"][0]["status"] == "ERROR" and data["counts"] == {"ERROR": 1}


MISTAKES = '''
import cfsal
from cfsal import measures
from cfsal.interventions import breakout
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

def broken(factual, intervened):
    return factual.actions[1000]

def lost(state, rng):
    raise RuntimeError("lost the ball")

@cfsal.hypothesis("A measure given by name")
def test_string_measure(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), horizon=2, measure="policy_tv")

@cfsal.hypothesis("A measure that raises")
def test_raising_measure(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60)), horizon=2,
                          measure=broken)

@cfsal.hypothesis("An edit that fails mid-run")
def test_failing_edit(counterfactual):
    return counterfactual(StateEdit("breakout", lost), states=cfsal.States(window=(5, 60)), horizon=2)

@cfsal.hypothesis("A ball move off the court")
def test_far_ball_move(counterfactual):
    return counterfactual(breakout.MoveBall(dx=1000), states=cfsal.States(window=(5, 60)), horizon=2)

@cfsal.hypothesis(kind="effect", samples=2)
def test_undecided(counterfactual):
    """An edit that changes nothing changes something (cannot be supported)."""
    return counterfactual(StateEdit("breakout", lambda s, rng: s), states=cfsal.States(window=(5, 60)), horizon=2,
                          measure=measures.action_disagreement)
'''


def test_no_mistake_makes_a_hypothesis_vanish(project):
    project.makepyfile(test_mistakes=MISTAKES)
    result = run(project, "-rs")
    result.assert_outcomes(passed=2, failed=4, skipped=1)
    out = result.stdout.str()
    assert "Traceback" not in out and "During handling" not in out
    result.stdout.fnmatch_lines([
        "cfsal: measure='policy_tv' is a name; pass the function itself: measure=measures.policy_total_variation*",
        ("cfsal: test_raising_measure raised IndexError: index 1000 is out of bounds* (at test_mistakes.py:8, in "
         "broken). Fix it there*"),
        "cfsal: test_failing_edit raised RuntimeError: lost the ball (at test_mistakes.py:11, in lost)*",
    ])
    assert out.count("dx=1000 is outside the valid range") == 1  # once: not again "during handling" of itself
    result.stdout.fnmatch_lines(["SKIPPED [[]1] test_mistakes.py:30: INCONCLUSIVE*"])  # the hypothesis, not the plugin
    for name in ("test_string_measure", "test_raising_measure", "test_failing_edit", "test_far_ball_move"):
        result.stdout.fnmatch_lines([f"{name} *tiny *—*ERROR"])
    data = json.loads((project.path / "out.json").read_text())
    assert data["counts"] == {"SUPPORTED": 2, "ERROR": 4, "INCONCLUSIVE": 1}
    errors = {r["nodeid"].split("::")[-1]: r["error"] for r in data["hypotheses"] if r["status"] == "ERROR"}
    assert "measures.policy_total_variation" in errors["test_string_measure"]
    assert "test_mistakes.py:11" in errors["test_failing_edit"]


def test_results_and_report_land_under_the_rootdir_by_default_and_can_be_moved(tiny_project):
    from cfsal.report.build import report_from_files
    from cfsal.report.html import referenced_files

    tiny_project.makepyfile(test_claims=HYPOTHESES)
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "6",
                                               "test_claims.py::test_moving_the_ball_changes_the_policy")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["results: reports/results.json", "report: reports/index.html"])
    reports = tiny_project.path / "reports"
    text = (reports / "results.json").read_text()
    assert str(tiny_project.path) not in text  # no path of the machine that ran it
    images = [b["image"] for b in json.loads(text)["hypotheses"][0]["media"]["branches"]]
    assert images and all(image.startswith("index_files/") for image in images)
    archived = tiny_project.path / "archived"
    reports.rename(archived)
    page = report_from_files(archived / "results.json", archived / "index.html")
    assert "image file missing" not in page.read_text()
    linked = list(referenced_files(page.read_text(), page.parent))
    assert any(f.name.endswith("-typical.png") for f in linked) and all(f.is_file() for f in linked)

    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "6", "--cfsal-json", "off",
                                               "--cfsal-html", "off",
                                               "test_claims.py::test_moving_the_ball_changes_the_policy")
    result.stdout.fnmatch_lines(["results: not written (off)", "report: not written (off)"])
    assert not (reports / "results.json").exists() and not (reports / "index.html").exists()


def test_junit_xml_carries_the_verdict_properties(project):
    run(project, "--junitxml", "junit.xml")
    xml = (project.path / "junit.xml").read_text()
    assert '<property name="cfsal_verdict" value="SUPPORTED"' in xml
    assert 'name="cfsal_p_value"' in xml and 'name="cfsal_n" value="8"' in xml


def test_a_claim_supported_alone_but_not_after_correction_fails_the_session_when_asked(tiny_project):
    tiny_project.makepyfile(test_many='''
import cfsal
from cfsal.testing import StateEdit, shift_ball
from cfsal import measures

def make(i):
    @cfsal.hypothesis("claim %d" % i, kind="effect", samples=8)
    def test(counterfactual):
        return counterfactual(StateEdit("breakout", shift_ball(40, 10)), states=cfsal.States(window=(5, 60)), horizon=3,
                              measure=measures.policy_total_variation)
    return test

for i in range(12):
    globals()["test_claim_%02d" % i] = make(i)
''')
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-fail-on", "inconclusive",
                                               "--cfsal-json", "out.json")
    data = json.loads((tiny_project.path / "out.json").read_text())
    alone = [r["verdict"]["outcome"] for r in data["hypotheses"]]
    adjusted = [r["adjusted_verdict"]["outcome"] for r in data["hypotheses"]]
    assert alone.count("SUPPORTED") > adjusted.count("SUPPORTED")  # n=8: p≈1/128 alone; ×12 > 0.05
    result.stdout.fnmatch_lines(["*note: *SUPPORTED alone but INCONCLUSIVE after holm*"])
    assert result.ret == 1


def test_a_falsification_search_shrinks_to_the_minimal_counterexample(project):
    project.makepyfile(test_search='''
import cfsal
from hypothesis import given, strategies as st
from cfsal import measures
from cfsal.testing import StateEdit, shift_ball

@cfsal.hypothesis("Every horizontal ball move changes the policy")
@given(dx=st.integers(0, 60))
@cfsal.ROLLOUT_SEARCH
def test_every_move_matters(counterfactual, dx):
    result = counterfactual(StateEdit("breakout", shift_ball(dx, 0)), samples=8, states=cfsal.States(window=(5, 60)), horizon=2,
                            measure=measures.policy_total_variation)
    cfsal.expect(result, "effect")
''')
    result = run(project, "test_search.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ClaimNotSupported: INCONCLUSIVE*", "*dx=0,*"])
    data = json.loads((project.path / "out.json").read_text())
    assert data["hypotheses"][0]["status"] == "COUNTEREXAMPLE"


def test_correlation_claims_use_the_two_measures(project):
    project.makepyfile(test_corr='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit, shift_ball

import json

def ball_x(trace):
    return json.loads(trace.first_state)["balls"][0]["position"]["x"]

@cfsal.hypothesis("The ball's recorded move and its drawn move agree", kind="correlation",
                  alternative="greater", samples=12)
def test_dose_response(counterfactual):
    moves = [StateEdit("breakout", shift_ball(dx)) for dx in (5, 20, 40, 60)]
    return counterfactual(moves, states=cfsal.States(window=(5, 60)), horizon=1,
                          measure=(measures.difference_of(ball_x), measures.difference_of(ball_x, "again")))

@cfsal.hypothesis("wrong kind for two measures", kind="effect")
def test_mismatch(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(5)), states=cfsal.States(window=(5, 60)), horizon=1, samples=3,
                          measure=(measures.policy_total_variation, measures.policy_kl))
''')
    result = run(project, "test_corr.py")
    result.stdout.fnmatch_lines(["*cfsal: counterfactual(…, measure=(x, y)) gives pairs of measures*"])
    data = json.loads((project.path / "out.json").read_text())
    corr = next(r for r in data["hypotheses"] if "dose" in r["nodeid"])
    assert corr["verdict"]["claim"]["kind"] == "correlation" and corr["verdict"]["outcome"] == "SUPPORTED"


def test_ctrl_c_leaves_valid_json_of_every_finished_hypothesis_marked_partial(project):
    project.makepyfile(test_zz_interrupt='''
import cfsal

@cfsal.hypothesis("interrupted")
def test_zz_interrupted(counterfactual):
    raise KeyboardInterrupt
''')
    result = run(project, "test_claims.py", "test_zz_interrupt.py", "-p", "no:randomly")
    assert result.ret == 2  # pytest's exit code for an interrupted session
    data = json.loads((project.path / "out.json").read_text())
    assert data["partial"] is True
    assert {r["nodeid"].split("::")[-1] for r in data["hypotheses"]} == {
        "test_moving_the_ball_changes_the_policy", "test_an_edit_that_changes_nothing_has_no_effect"}


def test_fail_on_never_reports_a_refuted_claim_without_failing(project):
    project.makepyfile(test_wrong_way='''
import cfsal
from cfsal.testing import StateEdit

def always_up(factual, intervened):
    return 1.0 + 0.01 * len(factual.actions)

@cfsal.hypothesis(kind="direction", alternative="less", samples=12)
def test_it_goes_down(counterfactual):
    """The measure goes down (it always goes up: refuted)."""
    return counterfactual(StateEdit("breakout", lambda s, rng: s), states=cfsal.States(window=(5, 60)), horizon=2, measure=always_up)
''')
    run(project, "test_wrong_way.py").assert_outcomes(failed=1)
    result = run(project, "test_wrong_way.py", "--cfsal-fail-on", "never")
    result.assert_outcomes(skipped=1)
    assert result.ret == 0 and "REFUTED" in result.stdout.str()
    assert json.loads((project.path / "out.json").read_text())["hypotheses"][0]["adjusted_verdict"]["outcome"] == "REFUTED"
    project.makeini("[pytest]\ncfsal_fail_on = never\n")
    assert run(project, "test_wrong_way.py").ret == 0
    project.makeini("[pytest]\ncfsal_fail_on = nevr\n")
    assert "cfsal_fail_on = 'nevr'" in run(project, "test_wrong_way.py").stderr.str()


def test_the_summary_notes_samples_that_repeat_a_situation(pytester):
    # the constant agent is deterministic and Breakout has four serves: 8 episodes' first branch
    # points cannot all differ, and the session says so; the random agent's samples all differ
    pytester.makepyfile(test_repeats='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

@cfsal.hypothesis("The constant agent ignores a ball move", kind="no_effect", margin=0.05,
                  agent="breakout-constant")
def test_replayed(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), branch_every=10, horizon=1,
                          max_per_episode=1, measure=measures.action_disagreement)

@cfsal.hypothesis("A ball move changes the random agent's policy", agent="breakout-random")
def test_fresh(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), branch_every=15, horizon=2,
                          measure=measures.action_disagreement)
''')
    result = run(pytester)
    note = "*note: *test_replayed: 8 samples from [1-4] distinct situations of the periodic design*"
    result.stdout.fnmatch_lines([note])
    assert "test_fresh: 8 samples from" not in result.stdout.str()
    records = {r["nodeid"].split("::")[-1]: r["result"]
               for r in json.loads((pytester.path / "out.json").read_text())["hypotheses"]}
    assert records["test_replayed"]["distinct_situations"] <= 4 and len(set(records["test_replayed"]["games"])) <= 4
    assert records["test_fresh"]["distinct_situations"] == 8


def test_a_rerun_reads_its_states_from_disk_and_judges_the_same(project):
    run(project)
    first = json.loads((project.path / "out.json").read_text())["hypotheses"]
    cache = project.path / "reports" / "cache" / "states"
    written = {path: path.stat().st_mtime_ns for path in cache.rglob("*.json.gz")}
    assert written  # the default: reports/cache/states under the rootdir
    run(project)
    again = json.loads((project.path / "out.json").read_text())["hypotheses"]
    assert [(r["result"]["values"], r["adjusted_verdict"]) for r in again] == \
        [(r["result"]["values"], r["adjusted_verdict"]) for r in first]
    assert {path: path.stat().st_mtime_ns for path in cache.rglob("*.json.gz")} == written  # nothing played again
    run(project, "--cfsal-seed", "5", "--cfsal-states-cache", "off")
    assert {path: path.stat().st_mtime_ns for path in cache.rglob("*.json.gz")} == written  # off: nothing kept
