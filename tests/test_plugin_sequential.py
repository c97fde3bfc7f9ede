"""Sequential verdicts in the plugin, tested from the outside with pytester (docs/sequential.md)."""

import json

import numpy as np
import pytest

HYPOTHESES = '''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball, unchanged

@cfsal.hypothesis(kind="direction", alternative="greater", batch=4, max_samples=24)
def test_moving_the_ball_changes_the_policy(counterfactual):
    """Moving the ball raises the policy's total variation."""
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60)), horizon=3,
                          measure=measures.policy_total_variation)

@cfsal.hypothesis(kind="effect", batch=4, max_samples=12)
def test_an_edit_that_changes_nothing_changes_the_value(counterfactual):
    """Rewriting the state unchanged changes the policy (false: without a margin it cannot decide)."""
    return counterfactual(StateEdit("breakout", unchanged), states=cfsal.States(window=(5, 60)), horizon=3,
                          measure=measures.policy_total_variation)

@cfsal.hypothesis(kind="effect", sequential=False)
def test_fixed_by_declaration(counterfactual):
    """Moving the ball changes the policy (fixed-n by declaration)."""
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60)), horizon=3,
                          measure=measures.policy_total_variation)
'''


@pytest.fixture
def project(tiny_project):
    tiny_project.makepyfile(test_claims=HYPOTHESES)
    return tiny_project


def run(project, *args, design="anytime"):
    return project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "8", "--cfsal-json", "out.json",
                                        "--cfsal-html", "off", "--cfsal-sequential", "--cfsal-design", design, *args)


def records(project):
    data = json.loads((project.path / "out.json").read_text())
    return {r["nodeid"].split("::")[-1]: r for r in data["hypotheses"]}


def test_sequential_records_every_look_and_stops_when_decided(project):
    result = run(project)
    result.stdout.fnmatch_lines(["cfsal: seed 0, samples 8*sequential (anytime design, batch 10*"])
    by_name = records(project)
    moving = by_name["test_moving_the_ball_changes_the_policy"]
    looks = moving["sequential"]["looks"]
    assert moving["verdict"]["outcome"] == "SUPPORTED" and moving["sequential"]["stopped"] == "decided"
    assert [look["n"] for look in looks] == list(range(4, 4 * len(looks) + 1, 4))
    assert [look["decision"] for look in looks] == ["CONTINUE"] * (len(looks) - 1) + ["SUPPORTED"]
    assert moving["result"]["n"] == looks[-1]["n"] < 24
    for look in looks:
        assert set(look) == {"n", "estimate", "ci_low", "ci_high", "p_value", "decision"}
        assert look["ci_low"] <= look["estimate"] <= look["ci_high"]
    # three hypotheses share α: support stops the sampling at α/3, which Holm cannot undo
    assert moving["sequential"]["alpha_stop"] == pytest.approx(0.05 / 3)
    assert moving["sequential"]["plan"]["futility"] == 0.1 and moving["sequential"]["futility"] == 0.1
    assert moving["adjusted_verdict"]["outcome"] == "SUPPORTED"
    nothing = by_name["test_an_edit_that_changes_nothing_changes_the_value"]
    assert nothing["verdict"]["outcome"] == "INCONCLUSIVE" and nothing["sequential"]["stopped"] == "max_samples"
    assert [look["n"] for look in nothing["sequential"]["looks"]] == [4, 8, 12]
    assert "maximum number of samples" in nothing["verdict"]["explanation"]
    fixed = by_name["test_fixed_by_declaration"]
    assert "sequential" not in fixed and fixed["result"]["n"] == 8 and fixed["result"]["design"]["batch"] is None


def test_sequential_samples_are_a_prefix_of_the_fixed_design(project):
    run(project)
    sequential = records(project)["test_moving_the_ball_changes_the_policy"]["result"]["values"]
    project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "24", "--cfsal-json", "out.json",
                                 "--cfsal-html", "off")
    fixed = records(project)["test_moving_the_ball_changes_the_policy"]["result"]["values"]
    assert len(sequential) < len(fixed) and fixed[: len(sequential)] == sequential


def test_a_sample_budget_is_split_evenly_and_ends_in_inconclusive_with_the_reason(project):
    run(project, "--cfsal-budget", "12")  # 3 hypotheses: 4 samples each
    by_name = records(project)
    moving = by_name["test_moving_the_ball_changes_the_policy"]
    assert moving["result"]["n"] == 4 and moving["sequential"]["plan"]["budget_share"] == 4
    if moving["verdict"]["outcome"] == "INCONCLUSIVE":
        assert moving["sequential"]["stopped"] == "budget"
        assert "budget ran out" in moving["verdict"]["explanation"]
    nothing = by_name["test_an_edit_that_changes_nothing_changes_the_value"]
    assert nothing["sequential"]["stopped"] == "budget" and nothing["verdict"]["outcome"] == "INCONCLUSIVE"


def test_a_time_budget_that_has_run_out_stops_every_test_at_its_first_look(project):
    run(project, "--cfsal-budget", "0s")
    nothing = records(project)["test_an_edit_that_changes_nothing_changes_the_value"]
    assert nothing["result"]["n"] == 4 and nothing["sequential"]["stopped"] == "budget"


@pytest.mark.slow
def test_ini_key_turns_sequential_on_and_fixed_turns_it_off(project):
    project.makeini("[pytest]\ncfsal_sequential = true\n")
    project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "8", "--cfsal-json", "out.json",
                                 "--cfsal-html", "off")
    assert "sequential" in records(project)["test_moving_the_ball_changes_the_policy"]
    project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "8", "--cfsal-json", "out.json",
                                 "--cfsal-html", "off", "--cfsal-fixed")
    assert "sequential" not in records(project)["test_moving_the_ball_changes_the_policy"]


def test_bad_budget_is_a_usage_error(project):
    result = run(project, "--cfsal-budget", "lots")
    result.stderr.fnmatch_lines(["*--cfsal-budget='lots'*600s*"])


def test_bad_futility_is_a_usage_error(project):
    result = run(project, "--cfsal-futility", "2")
    result.stderr.fnmatch_lines(["*--cfsal-futility must lie in [[]0, 1)*got 2.0*"])


def test_bad_sequential_declaration_is_a_clear_error(pytester):
    pytester.makepyfile(test_bad='''
import cfsal

@cfsal.hypothesis(kind="effect", batch=50, max_samples=20)
def test_x(counterfactual):
    """x"""
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*batch=50 is larger than max_samples=20*"])


@pytest.mark.slow
@pytest.mark.parametrize("design", ["anytime", "group"])
def test_sequential_verdicts_and_json_are_identical_serially_and_under_xdist(project, design):
    def session(*args):
        run(project, *args, design=design)
        return [(r["nodeid"], r["result"]["values"], r["verdict"], r["adjusted_verdict"], r["sequential"])
                for r in sorted(records(project).values(), key=lambda r: r["nodeid"]) if "sequential" in r]

    assert session() == session("-n", "2")


def test_report_draws_the_confidence_sequence_and_says_why_it_stopped(tmp_path):
    from cfsal.report.html import referenced_files, write_html

    looks = [{"n": 10, "estimate": 0.2, "ci_low": -0.1, "ci_high": 0.6, "p_value": 0.4, "decision": "CONTINUE"},
             {"n": 20, "estimate": 0.25, "ci_low": 0.06, "ci_high": 0.45, "p_value": 0.003, "decision": "SUPPORTED"}]
    verdict = {"schema_version": 1, "outcome": "SUPPORTED", "claim": {"kind": "effect", "alternative": "two-sided",
               "margin": 0.05, "alpha": 0.05}, "effect": 0.25, "ci_low": 0.06, "ci_high": 0.45, "confidence": 0.95,
               "p_value": 0.003, "p_adjusted": 0.003, "n": 20, "test": "sequential: betting", "equivalence_p": 1.0,
               "explanation": "The intervention changes the measure.", "samples_needed": None}
    record = {"nodeid": "t.py::test_seq", "claim": "c", "spec": {"kind": "effect", "margin": 0.05}, "seed": 1,
              "status": "SUPPORTED", "verdict": verdict, "adjusted_verdict": verdict, "agent": "tiny", "game": "breakout",
              "result": {"values": [0.25] * 20, "measure": "policy_total_variation", "n": 20, "batch": 10,
                         "max_samples": 200},
              "sequential": {"schema_version": 1, "looks": looks, "stopped": "decided", "alpha_stop": 0.05,
                             "method": "betting", "thresholds": [-0.05, 0.0, 0.05], "n": 20,
                             "plan": {"batch": 10, "max_samples": 200, "limit": 200, "budget_share": None,
                                      "time_budget": False, "family": 1}}}
    page_path = write_html({"schema_version": 1, "hypotheses": [record], "settings": {}}, tmp_path / "r.html")
    page = page_path.read_text()
    files = [p.name for p in referenced_files(page, tmp_path)]
    assert any(name.endswith("-sequential.png") for name in files)
    assert "stopped at n = 20 because its anytime-valid test decided" in page
    assert "1 of 1 hypotheses tested sequentially" in page
    record["sequential"]["stopped"] = "futility"
    page = write_html({"schema_version": 1, "hypotheses": [record], "settings": {}}, tmp_path / "f.html").read_text()
    assert "because no decision was in reach by its maximum (futility stop)" in page


def test_anytime_plan_is_four_times_the_fixed_n_with_futility():
    from cfsal.plugin.sequential import DEFAULT_FUTILITY, MAX_MULTIPLE, SequentialSession

    session = SequentialSession(enabled=True, hypotheses=5, design="anytime")
    plan = session.plan(None, 30)
    assert plan.max_samples == plan.limit == MAX_MULTIPLE * 30 == 120
    assert plan.futility == DEFAULT_FUTILITY and plan.to_dict()["futility"] == DEFAULT_FUTILITY
    assert SequentialSession(enabled=True, futility=None, design="anytime").plan(None, 30).futility is None


def test_stop_rule_stops_for_futility_where_the_statistics_do_and_judge_agrees():
    """The batched stop rule, fed growing prefixes, stops at the futility look of sequential_assess; twice the same."""
    from types import SimpleNamespace

    import numpy as np

    from cfsal.plugin.sequential import SequentialSession, StopRule, judge
    from cfsal.stats import Claim, looks_for, sequential_assess

    half = np.random.default_rng(11).normal(size=60)
    values = np.empty(120)
    values[0::2], values[1::2] = half, -half        # running mean exactly 0: no effect at all
    claim = Claim("effect")
    plan = SequentialSession(enabled=True, design="anytime").plan(None, 30)

    def run() -> tuple[int, StopRule]:
        rule = StopRule(claim, plan, 0.05)
        for n in range(10, 121, 10):
            if rule(SimpleNamespace(n=n, values=values[:n], bounds=None, covariate=None)):
                return n, rule
        return 120, rule

    stopped_at, rule = run()
    expected = sequential_assess(claim, values, looks=looks_for(10, 120), futility=plan.futility, max_samples=120)
    assert rule.reason == "futility" and expected.stopped == "futility" and stopped_at == expected.n < 120
    verdict = judge(claim, SimpleNamespace(n=stopped_at, values=values[:stopped_at], bounds=None, covariate=None),
                    plan, 0.05, rule)
    assert verdict.stopped == "futility" and verdict.verdict.outcome == "INCONCLUSIVE"
    assert run()[0] == stopped_at   # same data, same stopping point


def test_group_design_looks_only_at_its_planned_counts_and_records_them(project):
    result = run(project, design="group")
    result.stdout.fnmatch_lines(["cfsal: seed 0, samples 8*sequential (group design, 3 looks*"])
    by_name = records(project)
    moving = by_name["test_moving_the_ball_changes_the_policy"]       # max_samples=24: looks at 8, 16, 24
    plan, sequential = moving["sequential"]["plan"], moving["sequential"]
    assert plan["design"] == "group" and plan["planned_looks"] == [8, 16, 24] and plan["batch"] == 8
    assert plan["look_weights"] == pytest.approx([0.1, 0.1, 0.8]) and sequential["method"] == "group-sequential"
    assert [look["n"] for look in sequential["looks"]] == [8, 16, 24][: len(sequential["looks"])]
    assert moving["verdict"]["outcome"] == "SUPPORTED" and moving["result"]["n"] == sequential["looks"][-1]["n"]
    assert sequential["alpha_stop"] == pytest.approx(0.05 / 3)
    nothing = by_name["test_an_edit_that_changes_nothing_changes_the_value"]   # max_samples=12: 4, 8, 12
    assert [look["n"] for look in nothing["sequential"]["looks"]] == [4, 8, 12]
    assert nothing["verdict"]["outcome"] == "INCONCLUSIVE" and nothing["sequential"]["stopped"] == "max_samples"
    assert "Last of 3 planned looks" in nothing["verdict"]["explanation"]
    assert "sequential" not in by_name["test_fixed_by_declaration"]


def test_group_design_with_a_sample_budget_plans_its_looks_within_the_share(project):
    run(project, "--cfsal-budget", "18", design="group")       # 3 hypotheses: 6 samples each
    nothing = records(project)["test_an_edit_that_changes_nothing_changes_the_value"]
    assert nothing["sequential"]["plan"]["planned_looks"] == [2, 4, 6] and nothing["result"]["n"] == 6
    assert nothing["sequential"]["stopped"] == "budget" and "sample budget" in nothing["verdict"]["explanation"]


def test_bad_design_and_looks_are_usage_errors(project):
    run(project, design="pocock").stderr.fnmatch_lines(["*--cfsal-design*invalid choice*pocock*"])
    run(project, "--cfsal-looks", "0", design="group").stderr.fnmatch_lines(["*--cfsal-looks must be*got 0*"])


def test_group_plan_defaults_just_above_the_fixed_n_and_matches_the_statistics():
    from cfsal.plugin.sequential import Budget, SequentialSession
    from cfsal.stats import group_maximum

    plan = SequentialSession(enabled=True, hypotheses=5).plan(None, 30)
    assert plan.design == "group" and plan.planned == (11, 22, 33) == (11, 22, group_maximum(30))
    assert plan.batch == 11 and plan.limit == 33 and plan.weights == pytest.approx((0.1, 0.1, 0.8))
    assert plan.futility == 0.1 and plan.alpha_stop(0.05) == pytest.approx(0.01)  # the session's γ, both designs
    shared = SequentialSession(enabled=True, hypotheses=3, budget=Budget(samples=60)).plan(None, 30)
    assert shared.planned == (7, 14, 20) and shared.reason_at_limit() == "budget"
    single = SequentialSession(enabled=True, looks=1).plan(None, 30)
    assert single.planned == (30,) and single.weights == (1.0,)


def test_group_stop_rule_stops_at_the_first_deciding_look_and_judge_agrees():
    from types import SimpleNamespace

    import numpy as np

    from cfsal.plugin.sequential import SequentialSession, StopRule, judge
    from cfsal.stats import Claim, group_sequential_assess

    plan = SequentialSession(enabled=True).plan(None, 30)
    claim = Claim("effect")

    def feed(values, plan=plan):
        rule = StopRule(claim, plan, 0.05, seed=9)
        for n in range(plan.batch, plan.limit + 1, plan.batch):
            if rule(SimpleNamespace(n=n, values=values[:n], bounds=None, covariate=None)):
                break
        result = SimpleNamespace(n=n, values=values[:n], bounds=None, covariate=None)
        return rule, judge(claim, result, plan, 0.05, rule)

    strong = np.random.default_rng(0).normal(1.2, 1, size=33)
    rule, outcome = feed(strong)
    assert rule.reason == "decided" and rule.looks == [11] and outcome.verdict.outcome == "SUPPORTED"
    null = np.random.default_rng(1).normal(0.0, 1, size=33)
    rule, outcome = feed(null)  # hopeless by the second look: the default plan stops it for futility
    assert rule.reason == "futility" and rule.looks == [11, 22] and outcome.stopped == "futility"
    assert outcome.n == 22 and outcome.verdict.outcome == "INCONCLUSIVE" and outcome.futility == 0.1
    direct = group_sequential_assess(claim, null, looks=[11, 22], maximum=33, seed=9, futility=0.1)
    assert outcome.to_dict() == direct.to_dict() and feed(null)[1].to_dict() == outcome.to_dict()
    without = SequentialSession(enabled=True, futility=None).plan(None, 30)
    rule, outcome = feed(null, without)
    assert rule.looks == [11, 22, 33] and outcome.n == 33 and outcome.stopped == "max_samples"
    direct = group_sequential_assess(claim, null, looks=[11, 22, 33], maximum=33, seed=9)
    assert outcome.to_dict() == direct.to_dict()


def test_an_unknown_design_in_a_declaration_teaches_the_two_there_are():
    from cfsal.errors import HypothesisDeclarationError
    from cfsal.plugin.declare import HypothesisSpec

    with pytest.raises(HypothesisDeclarationError, match=r"design='pocock' is not one of \('group', 'anytime'\)"):
        HypothesisSpec("c", design="pocock")
    assert HypothesisSpec("c", design="anytime").to_dict()["design"] == "anytime"


def test_a_hypothesis_may_set_or_turn_off_its_own_futility_rule():
    from cfsal.errors import HypothesisDeclarationError
    from cfsal.plugin.declare import HypothesisSpec
    from cfsal.plugin.sequential import SequentialSession

    session = SequentialSession(enabled=True, hypotheses=4)
    for design in ("group", "anytime"):
        assert session.plan(HypothesisSpec("c", design=design), 30).futility == 0.1           # the session's γ
        assert session.plan(HypothesisSpec("c", design=design, futility=0.2), 30).futility == 0.2
        assert session.plan(HypothesisSpec("c", design=design, futility=False), 30).futility is None
        assert session.plan(HypothesisSpec("c", design=design, futility=0), 30).futility is None
    off = SequentialSession(enabled=True, futility=None)   # --cfsal-futility 0
    assert off.plan(HypothesisSpec("c"), 30).futility is None
    assert off.plan(HypothesisSpec("c", futility=0.05), 30).futility == 0.05
    for bad in (-0.1, 1.5, True, "0.1"):
        with pytest.raises(HypothesisDeclarationError, match=r"futility=.* must be γ in \(0, 1\).*False or 0"):
            HypothesisSpec("c", futility=bad)


CLUSTERED = '''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

@cfsal.hypothesis(kind="direction", alternative="greater", batch=6, max_samples=30, design="anytime")
def test_episode_means_decide(counterfactual):
    """Moving the ball raises the policy's total variation (three states per episode)."""
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60), per_episode=3),
                          horizon=3, measure=measures.policy_total_variation)

@cfsal.hypothesis(kind="direction", alternative="greater", max_samples=30, design="group")
def test_group_looks_count_episodes(counterfactual):
    """The same claim on the group design: its looks are planned in episodes (30 states fill 10)."""
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), states=cfsal.States(window=(5, 60), per_episode=3),
                          horizon=3, measure=measures.policy_total_variation)
'''


def test_several_states_per_episode_are_judged_sequentially_on_episode_means(tiny_project):
    tiny_project.makepyfile(test_clustered=CLUSTERED)
    tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-json", "out.json", "--cfsal-html", "off",
                                      "--cfsal-sequential")
    by_name = records(tiny_project)
    means = by_name["test_episode_means_decide"]
    assert means["status"] in ("SUPPORTED", "INCONCLUSIVE", "REFUTED"), means.get("error")
    samples, episodes = means["result"]["n"], means["verdict"]["n"]
    assert episodes == means["verdict"]["clusters"] and samples > episodes  # looks count episodes, not samples
    assert [look["n"] for look in means["sequential"]["looks"]][-1] == episodes
    assert "Episodes are the units" in means["verdict"]["explanation"]
    group = by_name["test_group_looks_count_episodes"]
    assert group["status"] in ("SUPPORTED", "INCONCLUSIVE", "REFUTED"), group.get("error")
    plan, looks = group["sequential"]["plan"], [look["n"] for look in group["sequential"]["looks"]]
    assert plan["unit"] == "episodes" and plan["unit_limit"] == 10 and plan["planned_looks"] == [4, 7, 10]
    assert set(looks) <= {4, 7, 10} and looks[-1] == group["verdict"]["n"] == group["verdict"]["clusters"]
    assert group["result"]["n"] > group["verdict"]["n"]
    assert "Episodes are the units" in group["verdict"]["explanation"]


def test_episode_means_count_an_episode_once_its_states_are_in():
    from types import SimpleNamespace

    from cfsal.plugin.sequential import units_of
    from cfsal.rollout import States

    design = SimpleNamespace(states=States(window=(5, 60), per_episode=3))
    running = SimpleNamespace(values=[1.0, 2.0, 3.0, 10.0, 20.0], clusters=[4, 4, 4, 9, 9], design=design)
    assert units_of(running, final=False)[0].tolist() == [2.0]        # episode 9 still awaits a state
    assert units_of(running, final=True)[0].tolist() == [2.0, 15.0]   # the run is over: it counts as it is
    independent = SimpleNamespace(values=[1.0, 2.0], clusters=None, covariate=None, design=design)
    assert units_of(independent, final=False)[0].tolist() == [1.0, 2.0]


def _null_episodes(rng: np.random.Generator, episodes: int, k: int) -> np.ndarray:
    """k states of each of ``episodes`` null episodes, sharing their episode's level (intra-episode correlation 0.5)."""
    return rng.normal(0, 1, size=(episodes, 1)) + rng.normal(0, 1, size=(episodes, k))


def test_episode_means_keep_group_false_support_within_alpha_where_samples_do_not():
    """The same nulls on the group design (3 looks): its looks at episode means stay within α, its looks at
    the states as if independent do not."""
    from cfsal.stats import Claim
    from cfsal.stats.group_sequential import group_looks, group_sequential_assess

    rng = np.random.default_rng(1)
    claim, runs, episodes, k = Claim("effect"), 150, 30, 3
    as_samples = as_means = 0
    for run in range(runs):
        states = _null_episodes(rng, episodes, k)
        for values, maximum in ((states.ravel(), episodes * k), (states.mean(axis=1), episodes)):
            outcome = group_sequential_assess(claim, values, looks=group_looks(maximum, 3), maximum=maximum,
                                              seed=run)
            supported = outcome.verdict.outcome == "SUPPORTED"
            as_samples += supported and maximum > episodes
            as_means += supported and maximum == episodes
    bound = 0.05 + 1.96 * (0.05 * 0.95 / runs) ** 0.5
    assert as_means / runs <= bound < as_samples / runs


def test_episode_means_keep_anytime_false_support_within_alpha_where_samples_do_not():
    """Nulls with states of one episode sharing its level (intra-episode correlation 0.5): looked at after
    every 2 episodes, the anytime test of the 3 states per episode as if independent supports too often;
    on the episode means it stays within α (plus Monte-Carlo error for 300 runs)."""
    from cfsal.stats import Claim
    from cfsal.stats.sequential import sequential_assess

    rng = np.random.default_rng(0)
    claim, runs, episodes, k = Claim("effect"), 300, 40, 3
    as_samples = as_means = 0
    for _ in range(runs):
        states = _null_episodes(rng, episodes, k)
        flat = states.ravel()
        as_samples += sequential_assess(claim, flat, looks=list(range(2 * k, episodes * k + 1, 2 * k)),
                                        sequence=False).verdict.outcome == "SUPPORTED"
        as_means += sequential_assess(claim, states.mean(axis=1), looks=list(range(2, episodes + 1, 2)),
                                      sequence=False).verdict.outcome == "SUPPORTED"
    bound = 0.05 + 1.96 * (0.05 * 0.95 / runs) ** 0.5
    assert as_means / runs <= bound
    assert as_samples / runs > as_means / runs
