"""max_per_episode: samples spread over more episodes, without losing determinism or the prefix property."""

import numpy as np
import pytest

from cfsal import measures
from cfsal.errors import CfsalError
from cfsal.rollout import counterfactual
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import shift_ball

MOVE = StateEdit("breakout", shift_ball(60, 20))
SETTINGS = {"branch_every": 10, "horizon": 2, "measure": measures.value_change, "seed": 3}


def _episode_counts(result) -> np.ndarray:
    return np.unique(result.episodes, return_counts=True)[1]


def test_the_cap_limits_points_per_episode_and_takes_each_episodes_first_ones():
    agent = tiny_agent()
    free = counterfactual(agent, MOVE, samples=8, **SETTINGS)
    capped = counterfactual(agent, MOVE, samples=8, max_per_episode=2, **SETTINGS)
    assert _episode_counts(capped).max() <= 2
    assert len(np.unique(capped.episodes)) >= 4 > len(np.unique(free.episodes))
    # episode 0's first two points are the uncapped run's first two (same seeds for branch collection)
    np.testing.assert_array_equal(capped.steps[:2], free.steps[:2])
    np.testing.assert_array_equal(capped.values[:2], free.values[:2])
    # a capped episode contributes its first points in step order
    for episode in np.unique(capped.episodes):
        steps = capped.steps[capped.episodes == episode]
        assert np.all(np.diff(steps) > 0) and steps[0] == SETTINGS["branch_every"]
    assert capped.design.states.per_episode == 2 and capped.to_dict()["design"]["states"]["per_episode"] == 2
    assert free.to_dict()["design"]["states"]["per_episode"] is None


def test_capped_runs_are_deterministic_and_a_prefix_of_larger_runs():
    agent = tiny_agent()
    small = counterfactual(agent, MOVE, samples=4, max_per_episode=1, **SETTINGS)
    again = counterfactual(agent, MOVE, samples=4, max_per_episode=1, **SETTINGS)
    large = counterfactual(agent, MOVE, samples=7, max_per_episode=1, **SETTINGS)
    assert small.to_dict() == again.to_dict()
    for key in ("values", "episodes", "steps"):
        np.testing.assert_array_equal(getattr(large, key)[:4], getattr(small, key))
    np.testing.assert_array_equal(large.episodes, np.arange(7))  # one point each: one episode per sample


def test_a_sequential_capped_run_is_a_prefix_of_the_fixed_one():
    agent = tiny_agent()
    fixed = counterfactual(agent, MOVE, samples=6, max_per_episode=2, **SETTINGS)
    stopped = counterfactual(agent, MOVE, samples=6, max_per_episode=2, batch=2, stop=lambda r: r.n >= 4,
                             **SETTINGS)
    assert stopped.n == 4
    np.testing.assert_array_equal(stopped.values, fixed.values[:4])
    np.testing.assert_array_equal(stopped.episodes, fixed.episodes[:4])


@pytest.mark.parametrize("bad", [0, -2, 1.5, "5", True])
def test_a_bad_cap_is_refused_with_a_teaching_error(bad):
    with pytest.raises(CfsalError, match=r"max_per_episode=.*integer ≥ 1.*None for no cap"):
        counterfactual(tiny_agent(), MOVE, samples=2, max_per_episode=bad, **SETTINGS)


def test_a_full_episode_stops_playing_and_the_points_are_those_of_filtering_alone(monkeypatch):
    """collect_branch_points(per_episode=k) ends an episode at its k-th accepted point; the points
    equal what an uncapped collection gives when the caller drops the rest (the old behaviour), with
    fewer agent steps played."""
    from cfsal.rollout import branching
    from cfsal.rollout.branching import collect_branch_points

    agent = tiny_agent()
    counts: dict[int, int] = {}

    def first_two(point):
        counts[point.episode] = counts.get(point.episode, 0) + 1
        return counts[point.episode] <= 2

    forwards = []
    real = agent.logits_and_value
    monkeypatch.setattr(agent, "logits_and_value", lambda obs: forwards.append(1) or real(obs))
    filtered = collect_branch_points(agent, count=6, branch_every=10, seed=7, accept=first_two)
    played_filtered = len(forwards)
    forwards.clear()
    capped = collect_branch_points(agent, count=6, branch_every=10, seed=7, per_episode=2)
    assert [(p.episode, p.step) for p in capped] == [(p.episode, p.step) for p in filtered]
    assert len(forwards) < played_filtered
    with pytest.raises(ValueError, match="per_episode"):
        branching.collect_branch_points(agent, count=2, branch_every=10, seed=7, per_episode=0)
