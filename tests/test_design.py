"""The declared state distribution: States / Periodic, the lockstep sampler, the judge, hypothesis seeds."""

import numpy as np
import pytest

from cfsal import measures
from cfsal.errors import CfsalError
from cfsal.interventions import breakout
from cfsal.judge import judge
from cfsal.plugin.session import hypothesis_identity, hypothesis_seed
from cfsal.rollout import Periodic, States, counterfactual
from cfsal.rollout.design import Selection, design_from_dict
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
        assert design_from_dict(design.to_dict()) == design
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
    assert result.states == WINDOW and result.clusters is None
    assert len(set(result.episodes.tolist())) == 6
    record = result.to_dict()
    assert record["states"]["kind"] == "uniform" and record["states"]["window"] == [5, 40]
    assert record["selection"]["kept"] == 6
    assert record["branch_every"] is None


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
    assert result.states == Periodic(every=10) and result.branch_every == 10
    assert result.to_dict()["states"]["kind"] == "periodic"


@pytest.mark.parametrize("settings, words", [
    ({"states": States(), "branch_every": 10}, "declare it in one place"),
    ({"states": States(), "unique_situations": True}, "independent draws"),
    ({"states": "uniform"}, "cfsal.rollout.States"),
])
def test_contradictory_designs_are_one_error(agent, settings, words):
    with pytest.raises(CfsalError, match=words):
        counterfactual(agent, breakout.MoveBall(dx=30), samples=3, **settings)


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
    assert first.to_dict()["states_seed"] == 77


def test_a_result_of_the_states_design_rebuilds_its_branch_points_exactly(agent):
    from cfsal.report.media import rebuild_branch_points

    result = counterfactual(agent, breakout.MoveBall(dx=30), samples=4, states=WINDOW, states_seed=5, **SETTINGS)
    rebuilt = rebuild_branch_points(agent, result, [1, 3])
    for index in (1, 3):
        assert rebuilt[index].snapshot.toybox_json == result.points[index].snapshot.toybox_json
        np.testing.assert_array_equal(rebuilt[index].snapshot.frame_stack, result.points[index].snapshot.frame_stack)
