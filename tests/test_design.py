"""The declared design: Design, States / Periodic, the lockstep sampler, the judge, hypothesis seeds."""

import json

import numpy as np
import pytest

from cfsal import measures
from cfsal.errors import CfsalError
from cfsal.interventions import breakout
from cfsal.judge import judge
from cfsal.plugin.session import hypothesis_identity, hypothesis_seed
from cfsal.rollout import Design, Periodic, States, counterfactual
from cfsal.rollout.design import Selection, declare, design_of_record, states_from_dict
from cfsal.rollout.sampling import StateSampler, drawn_steps, sample_states
from cfsal.stats import Claim, assess
from cfsal.testing import tiny_agent

WINDOW = States(window=(5, 40))


@pytest.fixture(scope="module")
def agent():
    return tiny_agent()


# ------------------------------------------------------------------------------------------- the design

@pytest.mark.parametrize("window, per_episode, words", [
    ((40,), 1, r"pair \(start, stop\)"),
    ((40, 40), 1, "greater than start"),
    ((-1, 10), 1, "≥ 0"),
    ((0, 3), 4, "more distinct steps"),
    ((0, 10), 0, "per_episode"),
])
def test_a_bad_design_says_what_to_write(window, per_episode, words):
    with pytest.raises(CfsalError, match=words):
        States(window=window, per_episode=per_episode)


def test_designs_describe_themselves_and_round_trip_through_json():
    assert "uniform in [40, 500) of an independently seeded episode" in States().describe()
    assert States.at(20).describe().startswith("step 20 of")
    assert "clustered by episode" in States(per_episode=3).describe()
    for design in (States(), States(window=(10, 90), per_episode=2), States.at(7), Periodic(every=40, first=300),
                   Periodic(every=20, per_episode=3)):
        assert states_from_dict(design.to_dict()) == design
    assert not States().clustered and States(per_episode=2).clustered
    assert Periodic().clustered and not Periodic(per_episode=1).clustered


def test_drawn_steps_are_distinct_sorted_in_the_window_and_depend_on_the_episode_only():
    design = States(window=(10, 30), per_episode=5)
    steps = drawn_steps(design, 7, 3)
    assert len(set(steps.tolist())) == 5 and list(steps) == sorted(steps)
    assert steps.min() >= 10 and steps.max() < 30
    np.testing.assert_array_equal(steps, drawn_steps(design, 7, 3))
    assert not np.array_equal(drawn_steps(design, 7, 4), steps) or not np.array_equal(drawn_steps(design, 8, 3), steps)


def test_selection_counts_every_candidate():
    selection = Selection(kept=30, episodes=40, ended=6, not_applicable=4)
    assert selection.candidates == 40
    assert "30 of 40 candidate states kept from 40 episodes" in selection.describe()
    assert selection.to_dict()["not_applicable"] == 4


# ---------------------------------------------------------------------------------------------- sampling

def test_one_state_per_episode_in_the_window_whatever_the_batch_width(agent):
    points, selection = sample_states(agent, WINDOW, 12, seed=5, width=16)
    episodes = [p.episode for p in points]
    assert episodes == sorted(set(episodes))  # one per episode, in episode order
    assert all(5 <= p.step < 40 for p in points)
    assert selection.kept == 12 and selection.episodes == episodes[-1] + 1
    assert selection.candidates == selection.episodes
    narrow, _ = sample_states(agent, WINDOW, 12, seed=5, width=3)
    assert [(p.episode, p.step) for p in narrow] == [(p.episode, p.step) for p in points]
    for a, b in zip(narrow, points):  # byte-identical states: rows of a blocked forward do not interact
        assert a.snapshot.toybox_json == b.snapshot.toybox_json
        np.testing.assert_array_equal(a.snapshot.frame_stack, b.snapshot.frame_stack)


def test_taking_in_batches_gives_a_prefix_of_one_take(agent):
    whole, _ = sample_states(agent, WINDOW, 10, seed=2)
    sampler = StateSampler(agent, WINDOW, seed=2)
    parts = sampler.take(3) + sampler.take(4) + sampler.take(3)
    assert [(p.episode, p.step) for p in parts] == [(p.episode, p.step) for p in whole]
    assert sampler.selection.kept == 10


def test_states_where_the_intervention_does_not_apply_are_set_aside_and_counted(agent):
    points, selection = sample_states(agent, WINDOW, 8, seed=1, applies=lambda point: point.episode % 3 != 0)
    assert all(p.episode % 3 != 0 for p in points)
    assert selection.not_applicable == sum(1 for e in range(points[-1].episode + 1) if e % 3 == 0)
    assert selection.kept + selection.not_applicable + selection.ended == selection.candidates == selection.episodes


def test_k_states_per_episode_and_the_fixed_step_design(agent):
    points, _ = sample_states(agent, States(window=(5, 40), per_episode=3), 9, seed=4)
    episodes = [p.episode for p in points]
    assert all(episodes.count(e) == 3 for e in set(episodes))
    fixed, _ = sample_states(agent, States.at(12), 5, seed=4)
    assert {p.step for p in fixed} == {12}


def test_a_window_no_episode_reaches_gives_one_teaching_error(agent):
    sampler = StateSampler(agent, States(window=(26_000, 26_001)), seed=0, max_episodes=2)
    with pytest.raises(CfsalError, match="window the agent's episodes reach"):
        sampler.take(1)


# ------------------------------------------------------------------------------------- counterfactual()

SETTINGS = {"horizon": 3, "measure": measures.policy_total_variation, "seed": 9}


def test_the_default_design_is_declared_and_recorded(agent):
    result = counterfactual(agent, breakout.MoveBall(dx=30), samples=6, states=WINDOW, **SETTINGS)
    assert result.design.states == WINDOW and result.clusters is None
    assert len(set(result.episodes.tolist())) == 6
    record = result.to_dict()
    assert record["design"]["states"]["kind"] == "uniform" and record["design"]["states"]["window"] == [5, 40]
    assert record["selection"]["kept"] == 6


def test_a_sequential_run_is_a_prefix_of_the_fixed_run(agent):
    fixed = counterfactual(agent, breakout.MoveBall(dx=30), samples=8, states=WINDOW, **SETTINGS)
    looks = []
    partial = counterfactual(agent, breakout.MoveBall(dx=30), samples=8, states=WINDOW, batch=3,
                             stop=lambda r: looks.append(r.n) or r.n >= 6, **SETTINGS)
    assert looks == [3, 6] and partial.n == 6
    np.testing.assert_array_equal(partial.values, fixed.values[:6])


def test_several_states_per_episode_are_judged_by_episode(agent):
    result = counterfactual(agent, breakout.MoveBall(dx=30), samples=12, states=States(window=(5, 40), per_episode=3),
                            **SETTINGS)
    np.testing.assert_array_equal(result.clusters, result.episodes)
    verdict = judge(Claim("effect"), result)
    assert verdict.clusters == len(set(result.episodes.tolist())) < result.n


def test_the_periodic_keywords_still_describe_the_old_design(agent):
    result = counterfactual(agent, breakout.MoveBall(dx=30), samples=6, branch_every=10, **SETTINGS)
    assert result.design.states == Periodic(every=10)
    assert result.to_dict()["design"]["states"]["kind"] == "periodic"


@pytest.mark.parametrize("settings, words", [
    ({"states": States(), "branch_every": 10}, "declare it in one place"),
    ({"states": States(), "unique_situations": True}, "independent draws"),
    ({"states": "uniform"}, "cfsal.rollout.States"),
])
def test_contradictory_designs_are_one_error(agent, settings, words):
    with pytest.raises(CfsalError, match=words):
        counterfactual(agent, breakout.MoveBall(dx=30), samples=3, **settings)


# ------------------------------------------------------------------------------------------ Design

@pytest.mark.parametrize("settings, words", [
    ({"samples": 0}, r"samples=0: samples counts paired samples.*integer ≥ 1"),
    ({"samples": 2.5}, "samples=2.5"),
    ({"horizon": -1}, r"horizon=-1: horizon counts steps each arm runs"),
    ({"batch": 0}, "batch counts samples per look"),
    ({"settle": "sometimes"}, r"settle='refresh'.*0 ≤ n ≤ 1000"),
    ({"settle": True}, "settle=True"),
    ({"greedy": "yes"}, r"greedy='yes': pass True"),
    ({"common_random_numbers": 1}, r"common_random_numbers=1: pass True"),
    ({"seed": -1}, r"seed=-1: a seed is an integer ≥ 0"),
    ({"states_seed": "x"}, r"states_seed='x'.*, or None"),
    ({"states": "uniform"}, "cfsal.rollout.States"),
])
def test_a_bad_design_field_is_one_teaching_error(settings, words):
    with pytest.raises(CfsalError, match=words):
        Design(**settings)


@pytest.mark.parametrize("design", [
    Design(),
    Design(states=States(window=(10, 90), per_episode=2), samples=12, horizon=5, settle=3, greedy=True,
           common_random_numbers=False, seed=4, states_seed=9, batch=4),
    Design(states=Periodic(every=40, first=300, per_episode=2, unique_situations=True), seed=np.int64(7)),
])
def test_a_design_round_trips_through_json(design):
    again = Design.from_dict(json.loads(json.dumps(design.to_dict())))
    assert again == design and again.to_dict() == design.to_dict()


def test_a_design_describes_itself_and_the_periodic_design_draws_from_its_seed():
    assert Design(samples=12, horizon=5).describe().startswith("12 samples at a step uniform in [40, 500)")
    assert "up to 40 samples, looked at every 10" in Design(samples=40, batch=10).describe()
    assert "settle 3 no-op steps, greedy actions" in Design(settle=3, greedy=True).describe(states=False)
    assert "States" not in Design().describe(states=False) and "uniform" not in Design().describe(states=False)
    assert Design(states=Periodic(every=40), states_seed=5).states_seed is None  # recorded as it was drawn
    with pytest.raises(CfsalError, match="JSON object with a 'states' object"):
        Design.from_dict({"samples": 3})


def test_keywords_and_a_design_give_the_same_result(agent):
    design = Design(states=WINDOW, samples=4, horizon=3, seed=9)
    by_design = counterfactual(agent, breakout.MoveBall(dx=30), design=design,
                               measure=measures.policy_total_variation)
    by_keywords = counterfactual(agent, breakout.MoveBall(dx=30), samples=4, **{**SETTINGS, "horizon": 3},
                                 states=WINDOW)
    assert by_design.design == by_keywords.design == design
    np.testing.assert_array_equal(by_design.values, by_keywords.values)
    repeated = counterfactual(agent, breakout.MoveBall(dx=30), design=design, samples=4, horizon=3,
                              measure=measures.policy_total_variation)  # repeating the design is no conflict
    np.testing.assert_array_equal(repeated.values, by_design.values)


@pytest.mark.parametrize("design, keywords, words", [
    (Design(samples=5), {"samples": 6}, (r"design=\.\.\., samples=6\): the design says samples=5.*"
                                          r"dataclasses.replace\(design, samples=6\).*without design=")),
    (Design(), {"branch_every": 10}, r"branch_every=10\): the design says states=States.*Periodic\(every=10"),
    (Design(states=Periodic(every=40)), {"max_per_episode": 2}, "the design says states=Periodic"),
    (Design(), {"unique_situations": True}, "independent draws"),
])
def test_a_keyword_that_contradicts_the_design_says_which_to_use(design, keywords, words):
    with pytest.raises(CfsalError, match=words):
        declare(design, **keywords)


def test_the_older_keywords_still_declare_a_periodic_design():
    assert declare(branch_every=40, first_branch=300, max_per_episode=2).states == \
        Periodic(every=40, first=300, per_episode=2)
    assert declare(unique_situations=True, states=Periodic(every=10)).states == Periodic(every=10, unique_situations=True)
    assert declare(Design(states=Periodic(every=40)), branch_every=40).states == Periodic(every=40)
    with pytest.raises(CfsalError, match="not a design setting"):
        declare(executor="ray")


def test_the_plugin_fills_what_a_design_leaves_at_the_defaults():
    from cfsal.plugin.fixtures import _dissolve

    settings = _dissolve({"design": Design(states=Periodic(every=40), horizon=5), "measure": "m", "branch_every": 40})
    assert settings == {"measure": "m", "states": Periodic(every=40), "horizon": 5}  # samples, seeds: the plugin's
    assert _dissolve({"design": Design(samples=12), "samples": 12}) == {"samples": 12}
    with pytest.raises(CfsalError, match="the design says samples=12"):
        _dissolve({"design": Design(samples=12), "samples": 30})


def test_a_result_carries_its_design_whole_in_the_json(agent):
    design = Design(states=WINDOW, samples=3, horizon=3, seed=9, states_seed=4)
    record = json.loads(json.dumps(counterfactual(agent, breakout.MoveBall(dx=30), design=design).to_dict()))
    assert record["schema_version"] == 2 and Design.from_dict(record["design"]) == design
    assert not {"horizon", "seed", "branch_every", "first_branch", "max_per_episode", "states", "states_seed", "greedy",
                "settle", "batch", "max_samples", "common_random_numbers", "unique_situations"} & set(record)
    assert design_of_record(record) == design


OLD_RESULT = {  # a result as schema 1 wrote it: the design's fields flat
    "schema_version": 1, "agent": "tiny", "game": "breakout", "measure": "policy_total_variation", "bounds": [0, 1],
    "intervention": {"name": "breakout.move_ball", "dx": 40.0, "dy": None}, "horizon": 7, "branch_every": 40,
    "first_branch": None, "max_per_episode": 2, "unique_situations": False, "seed": 3, "greedy": False,
    "settle": "refresh", "batch": None, "max_samples": None, "common_random_numbers": True, "n": 2,
    "values": [0.1, 0.3], "episodes": [0, 0], "steps": [40, 80], "took_effect": [True, True],
    "states": Periodic(every=40, per_episode=2).to_dict(), "states_seed": None,
    "selection": {"kept": 2, "episodes": 1, "ended": 0, "not_applicable": 0, "candidates": 2},
}


def test_a_result_of_the_flat_layout_reads_back_as_its_design():
    assert design_of_record(OLD_RESULT) == Design(states=Periodic(every=40, per_episode=2), samples=2, horizon=7, seed=3)
    no_states = {key: value for key, value in OLD_RESULT.items() if key != "states"}
    assert design_of_record(no_states).states == Periodic(every=40, per_episode=2)  # from before declared designs
    assert design_of_record({"n": 3}) is None


def test_cfsal_report_renders_results_of_both_layouts(agent, tmp_path, capsys):
    from cfsal.cli import main
    from tests.test_report import record, results

    new = record("hypotheses/t.py::test_new", "new", "SUPPORTED", 0.3, [0.3])
    new["result"] = counterfactual(agent, breakout.MoveBall(dx=30), samples=2, states=WINDOW, **SETTINGS).to_dict()
    old = record("hypotheses/t.py::test_old", "old", "REFUTED", -0.2, [-0.2])
    old["result"] = OLD_RESULT
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results(new, old)))
    assert main(["report", str(path), "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "a step uniform in [5, 40) of an independently seeded episode" in table
    assert "every 40 steps from step 40 of consecutive seeded episodes, at most 2 per episode" in table
    assert main(["report", str(path), "--out", str(tmp_path / "page.html")]) == 0
    page = (tmp_path / "page.html").read_text()
    assert "each arm 7 steps after the branch" in page and "each arm 3 steps after the branch" in page


# ------------------------------------------------------------------------------------------------ judge

def test_exact_zeros_over_many_episodes_support_no_effect_when_clustered():
    differences = np.zeros(201)
    verdict = assess(Claim("no_effect", margin=0.05), differences, rng=np.random.default_rng(0), bounds=(0, 1),
                     clusters=np.repeat(np.arange(67), 3))
    assert verdict.outcome == "SUPPORTED" and verdict.clusters == 67


def test_an_effect_claim_below_its_margin_says_how_many_samples_would_refute_it():
    rng = np.random.default_rng(1)
    verdict = assess(Claim("effect", margin=0.05), np.abs(rng.normal(0.02, 0.01, 30)), rng=rng, bounds=(0, 1))
    assert verdict.outcome == "INCONCLUSIVE" and verdict.samples_needed is not None
    assert "Smaller than the claim needs" in verdict.explanation and "would refute it" in verdict.explanation
    zeros = assess(Claim("effect", margin=0.05), np.zeros(30), rng=rng, bounds=(0, 1))
    assert zeros.samples_needed is not None and "no number of samples" not in zeros.explanation


# ---------------------------------------------------------------------------------------- seed identity

@pytest.mark.parametrize("nodeid", [
    "hypotheses/test_ball.py::test_moves[40]",
    "test_ball.py::test_moves[40]",
    "/home/someone/project/hypotheses/test_ball.py::test_moves[40]",
    "../project/hypotheses/test_ball.py::test_moves[40]",
])
def test_a_hypothesis_is_identified_by_file_name_function_and_parameters(nodeid):
    assert hypothesis_identity(nodeid) == "test_ball::test_moves[40]"
    assert hypothesis_seed(0, nodeid) == hypothesis_seed(0, "test_ball.py::test_moves[40]")
    assert hypothesis_seed(0, nodeid) != hypothesis_seed(1, nodeid)
    assert hypothesis_seed(0, nodeid) != hypothesis_seed(0, "test_ball.py::test_moves[20]")


def test_experiments_with_one_states_seed_share_the_episodes_played_once(agent):
    from cfsal.rollout.sampling import shared_store

    first = counterfactual(agent, breakout.MoveBall(dx=30), samples=5, states=WINDOW, states_seed=77, **SETTINGS)
    store = shared_store(agent, WINDOW, seed=77)
    played = store.steps_played
    second = counterfactual(agent, breakout.SetScore(value=5), samples=5, states=WINDOW, states_seed=77,
                            **{**SETTINGS, "seed": 10})
    assert store.steps_played == played or set(second.episodes.tolist()) - set(first.episodes.tolist())
    shared = set(first.episodes.tolist()) & set(second.episodes.tolist())
    assert shared  # the same episodes, at the same steps
    for episode in shared:
        assert first.steps[first.episodes == episode][0] == second.steps[second.episodes == episode][0]
    assert first.to_dict()["design"]["states_seed"] == 77


def test_a_result_of_the_states_design_rebuilds_its_branch_points_exactly(agent):
    from cfsal.report.media import rebuild_branch_points

    result = counterfactual(agent, breakout.MoveBall(dx=30), samples=4, states=WINDOW, states_seed=5, **SETTINGS)
    rebuilt = rebuild_branch_points(agent, result, [1, 3])
    for index in (1, 3):
        assert rebuilt[index].snapshot.toybox_json == result.points[index].snapshot.toybox_json
        np.testing.assert_array_equal(rebuilt[index].snapshot.frame_stack, result.points[index].snapshot.frame_stack)
