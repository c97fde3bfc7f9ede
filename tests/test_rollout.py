"""The counterfactual engine: determinism, common random numbers, exact zeros under no effect."""

import numpy as np
import pytest

from cfsal import measures
from cfsal.agents import AgentSpec, ConstantAgent
from cfsal.errors import InterventionError
from cfsal.rollout import collect_branch_points, counterfactual, run_paired
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import shift_ball

MOVE = StateEdit("breakout", shift_ball(60, 20))
UNCHANGED = StateEdit("breakout", lambda state, rng: state)


def test_same_seed_same_values_different_seed_different_branch_points():
    agent = tiny_agent()
    a = counterfactual(agent, MOVE, samples=6, branch_every=10, horizon=4, measure=measures.value_change, seed=1)
    b = counterfactual(agent, MOVE, samples=6, branch_every=10, horizon=4, measure=measures.value_change, seed=1)
    c = counterfactual(agent, MOVE, samples=6, branch_every=10, horizon=4, measure=measures.value_change, seed=2)
    assert np.array_equal(a.values, b.values) and a.to_dict() == b.to_dict()
    assert not np.array_equal(a.values, c.values)


def test_an_edit_that_changes_nothing_gives_exact_zeros_for_every_measure():
    agent = tiny_agent()
    result = counterfactual(agent, UNCHANGED, samples=5, branch_every=10, horizon=6, seed=0)
    for pair in result.pairs:
        for measure in measures.BUILTIN.values():
            assert measure(pair.factual, pair.intervened) == 0.0
        np.testing.assert_array_equal(pair.factual.actions, pair.intervened.actions)
    assert not result.took_effect.any()


def test_a_constant_agent_never_reacts():
    agent = ConstantAgent(AgentSpec.for_game("breakout"), action=1)
    result = counterfactual(agent, MOVE, samples=5, branch_every=10, horizon=6,
                            measure=measures.policy_total_variation, seed=0)
    assert result.took_effect.all() and np.all(result.values == 0)


def test_branch_points_only_where_the_intervention_applies():
    def needs_score(state, rng):
        if state["score"] < 1:
            raise InterventionError("needs a point scored")
        return state

    agent = ConstantAgent(AgentSpec.for_game("breakout"), action=1)
    result = counterfactual(agent, StateEdit("breakout", needs_score), samples=3, branch_every=5, horizon=2, seed=0)
    for pair in result.pairs:
        assert pair.factual.length > 0


def test_pairs_do_not_depend_on_which_other_points_run_with_them():
    agent = tiny_agent()
    points = collect_branch_points(agent, count=4, branch_every=10, seed=5)
    seeds = np.random.SeedSequence(9).spawn(4)
    together = run_paired(agent, points, MOVE, horizon=5, seeds=seeds)
    alone = run_paired(agent, points[2:3], MOVE, horizon=5, seeds=seeds[2:3])
    np.testing.assert_array_equal(together[2].intervened.logits, alone[0].intervened.logits)
    np.testing.assert_array_equal(together[2].factual.actions, alone[0].factual.actions)


def test_an_intervention_for_another_game_is_refused():
    with pytest.raises(InterventionError, match="is a amidar intervention but agent"):
        counterfactual(tiny_agent(), StateEdit("amidar", lambda s, r: s), samples=2)


class HoldLives(StateEdit):
    """A persistent fake: lives are set back to 5 after every step."""

    persistent = True

    def reapply_to_env(self, env, rng=None):
        self.apply_to_env(env, rng)


def test_persistent_interventions_are_reapplied_every_step():
    def five_lives(state, rng):
        state["lives"] = 5
        return state

    agent = ConstantAgent(AgentSpec.for_game("breakout"), action=1)
    result = counterfactual(agent, HoldLives("breakout", five_lives), samples=3, branch_every=20, horizon=300, seed=0)
    for pair in result.pairs:
        assert pair.intervened.lives.min() == 4  # a lost life shows for one step, then is undone
        assert pair.factual.lives.min() < 3


def test_saliency_follows_a_moved_ball_and_is_zero_for_an_unchanged_state():
    agent = tiny_agent()
    mass = measures.saliency_mass_change("ball", method="jacobian")
    unchanged = counterfactual(agent, UNCHANGED, samples=3, branch_every=10, horizon=1, seed=0, measure=mass)
    assert np.all(unchanged.values == 0) and unchanged.bounds == (-1.0, 1.0)
    rank = counterfactual(agent, UNCHANGED, samples=3, branch_every=10, horizon=1, seed=0,
                          measure=measures.saliency_rank_change(method="jacobian"))
    assert np.all(rank.values == 0)
    moved = counterfactual(agent, MOVE, samples=3, branch_every=10, horizon=1, seed=0,
                           measure=measures.saliency_rank_change(method="jacobian"))
    assert np.all(moved.values > 0)


def test_a_constant_agents_saliency_never_changes():
    agent = ConstantAgent(AgentSpec.for_game("breakout"), action=1)
    result = counterfactual(agent, MOVE, samples=3, branch_every=10, horizon=1, seed=0,
                            measure=measures.saliency_rank_change(method="perturbation"))
    assert np.all(result.values == 0)


def test_progress_is_reported_through_every_phase():
    seen = []
    counterfactual(tiny_agent(), MOVE, samples=3, branch_every=10, horizon=2, seed=0,
                   progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert ("branch points", 3, 3) in seen and ("measured", 3, 3) == seen[-1]


def test_a_list_of_interventions_is_assigned_round_robin_and_recorded():
    agent = tiny_agent()
    small, large = StateEdit("breakout", shift_ball(10)), StateEdit("breakout", shift_ball(60))
    result = counterfactual(agent, [small, large], samples=6, branch_every=10, horizon=1, seed=0,
                            measure=(measures.policy_total_variation, measures.value_change))
    assert result.assignments.tolist() == [0, 1, 0, 1, 0, 1]
    assert result.covariate is not None and len(result.covariate) == 6
    assert result.to_dict()["intervention"]["name"] == "round_robin"


def test_a_persistent_edit_that_changes_nothing_still_gives_exact_zeros():
    agent = tiny_agent()
    result = counterfactual(agent, HoldLives("breakout", unchanged_edit), samples=3, branch_every=10, horizon=8,
                            seed=0, measure=measures.policy_total_variation)
    for pair in result.pairs:
        np.testing.assert_array_equal(pair.factual.logits, pair.intervened.logits)


def unchanged_edit(state, rng):
    return state


def test_a_region_missing_from_a_frame_is_an_error_or_zero_saliency_as_asked():
    def remove_ball(state, rng):
        state["balls"] = []
        return state

    agent = tiny_agent()
    gone = StateEdit("breakout", remove_ball)
    with pytest.raises(Exception, match="'ball' is absent|no object matches 'ball'"):
        counterfactual(agent, gone, samples=2, branch_every=10, horizon=1, seed=0,
                       measure=measures.saliency_mass_change("ball", method="jacobian"))
    zero = counterfactual(agent, gone, samples=2, branch_every=10, horizon=1, seed=0,
                          measure=measures.saliency_mass_change("ball", method="jacobian", absent="zero"))
    assert np.all(zero.values <= 0) and np.any(zero.values < 0)  # the factual ball's saliency, lost
    with pytest.raises(Exception, match="absent='nowhere'"):
        measures.saliency_mass_change("ball", absent="nowhere")


@pytest.mark.parametrize(("measure", "says"), [
    ("policy_tv", r"measure='policy_tv' is a name; pass the function itself: measure=measures.policy_total_variation"),
    (3, r"measure=3 \(of type int\) is not a function"),
    (lambda trace: 0.0, r"cannot be called as measure\(factual, intervened\).*difference_of"),
    ((measures.policy_kl,), r"a tuple of exactly two, measure=\(x, y\)"),
    ((measures.policy_kl, "value_change"), r"measure='value_change' is a name.*measures.value_change"),
])
def test_a_wrong_measure_is_refused_before_any_rollout(measure, says, monkeypatch):
    from cfsal.errors import MeasureError
    from cfsal.rollout import experiment

    def played(*args, **kwargs):
        raise AssertionError("a rollout ran before the measure was checked")

    monkeypatch.setattr(experiment, "_Run", played)
    with pytest.raises(MeasureError, match=says):
        counterfactual(tiny_agent(seed=0), StateEdit("breakout", shift_ball(5)), samples=2, measure=measure)
