"""Situations: branch points in the same game state (apart from Toybox's RNG) are one situation.

Why this is tested at all: Toybox Breakout has four serves, so episodes of a deterministic agent are
replays of each other, and the result must say so rather than count them as independent samples.
"""

import json

import numpy as np
import pytest

from cfsal import measures
from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.errors import CfsalError
from cfsal.plugin.summary import repeated_situations
from cfsal.report.html import _sources
from cfsal.rollout import counterfactual
from cfsal.rollout.branching import games_of, labels_of_keys, situation_key
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import shift_ball

MOVE = StateEdit("breakout", shift_ball(60, 20))


def _served(seed: int):
    env = make("breakout")
    env.reset(seed=seed)
    return env.snapshot()


def _serve_of(snapshot) -> tuple:
    ball = json.loads(snapshot.toybox_json)["balls"][0]
    return round(ball["position"]["x"], 6), round(ball["velocity"]["x"], 6)


def test_the_key_ignores_the_rng_but_not_the_game():
    snapshots = [_served(seed) for seed in range(12)]
    serves = [_serve_of(s) for s in snapshots]
    assert len(set(serves)) < len(serves)  # Toybox Breakout: few serves, so some seeds share one
    for a in range(len(snapshots)):
        for b in range(a + 1, len(snapshots)):
            same_rng = json.loads(snapshots[a].toybox_json)["rand"] == json.loads(snapshots[b].toybox_json)["rand"]
            assert not same_rng  # every seed has its own RNG state ...
            # ... and yet the key is equal exactly when the serve (the only difference) is
            assert (situation_key(snapshots[a]) == situation_key(snapshots[b])) == (serves[a] == serves[b])


def test_labels_point_at_the_first_sample_of_each_situation():
    np.testing.assert_array_equal(labels_of_keys([b"a", b"b", b"a", b"c", b"b"]), [0, 1, 0, 3, 1])
    assert labels_of_keys([]).size == 0


def test_episodes_that_share_a_situation_are_one_game_transitively():
    episodes = [0, 0, 1, 1, 2, 3, 3, 4]
    situations = [0, 1, 2, 3, 1, 5, 3, 7]  # 2 meets 0 (situation 1); 3 meets 1 (situation 3)
    np.testing.assert_array_equal(games_of(episodes, situations), [0, 0, 1, 1, 0, 1, 1, 4])
    # a chain: 2 meets 1, then 1 meets 0 — all one game, labelled by the smallest episode
    np.testing.assert_array_equal(games_of([2, 1, 1, 0], [0, 0, 1, 1]), [0, 0, 0, 0])
    assert games_of([], []).size == 0


def test_a_deterministic_agent_replays_games_and_the_result_says_so():
    # one point per episode at step 40 of eight episodes, four serves: the expert (scripted, nearly
    # deterministic) replays some games exactly (here episodes 2, 4 and 7); others differ
    # from each other only in the paddle's last move, which is a different situation
    result = counterfactual(load_agent("breakout-expert"), MOVE, samples=8, branch_every=40, horizon=1,
                            max_per_episode=1, measure=measures.action_disagreement, seed=0)
    assert np.unique(result.episodes).size == 8
    assert result.distinct_situations < result.n
    labels = labels_of_keys([situation_key(point.snapshot) for point in result.points])
    np.testing.assert_array_equal(labels, result.situations)  # the helpers agree with the engine
    for label in np.unique(result.situations):
        same = result.situations == label
        assert np.all(result.values[same] == result.values[same][0])  # replays measure the same
    # the replayed episodes are one game; the others keep their own
    assert np.unique(result.games).size == result.distinct_situations
    for label in np.unique(result.situations):
        assert np.unique(result.games[result.situations == label]).size == 1
    record = result.to_dict()
    assert record["situations"] == result.situations.tolist() and record["games"] == result.games.tolist()
    assert record["distinct_situations"] == result.distinct_situations
    assert "distinct situations" in _sources(record)
    # the session's terminal summary names it; results without the field (older JSON) are skipped
    older = {k: v for k, v in record.items() if k != "distinct_situations"}
    records = [{"nodeid": "t::replays", "result": record}, {"nodeid": "t::old", "result": older},
               {"nodeid": "t::error", "result": None}]
    assert repeated_situations(records) == [("t::replays", 8, result.distinct_situations)]


def test_a_stochastic_agent_mostly_meets_new_situations_and_sequential_runs_keep_the_prefix():
    agent = tiny_agent()
    settings = {"branch_every": 10, "horizon": 2, "measure": measures.value_change, "seed": 3}
    full = counterfactual(agent, MOVE, samples=12, **settings)
    assert full.distinct_situations == full.n
    np.testing.assert_array_equal(full.situations, np.arange(full.n))
    np.testing.assert_array_equal(full.games, full.episodes)  # no episode meets another
    assert "distinct" not in _sources(full.to_dict()) and "episode" in _sources(full.to_dict())
    looked = counterfactual(agent, MOVE, samples=12, batch=4, stop=lambda r: r.n >= 8, **settings)
    np.testing.assert_array_equal(looked.situations, full.situations[: looked.n])


def test_unique_situations_skips_repeats_and_keeps_the_first_of_each():
    expert = load_agent("breakout-expert")
    settings = {"branch_every": 40, "horizon": 1, "max_per_episode": 1, "measure": measures.action_disagreement,
                "seed": 0}
    kept = counterfactual(expert, MOVE, samples=8, **settings)
    unique = counterfactual(expert, MOVE, samples=8, unique_situations=True, **settings)
    assert kept.distinct_situations < kept.n and not kept.design.states.unique_situations
    assert unique.distinct_situations == unique.n == 8 and unique.design.states.unique_situations
    np.testing.assert_array_equal(unique.games, unique.episodes)  # no two samples meet any more
    # every first occurrence is kept as it was; a skipped repeat makes way for a later branch point
    # of the same episode (the cap counts samples taken), not for a different sample elsewhere
    taken = {(int(e), int(t)): v for e, t, v in zip(unique.episodes, unique.steps, unique.values)}
    for i in np.flatnonzero(kept.situations == np.arange(kept.n)):
        assert taken[(int(kept.episodes[i]), int(kept.steps[i]))] == kept.values[i]
    np.testing.assert_array_equal(unique.episodes, kept.episodes)  # one sample per episode in both
    repeats = kept.situations != np.arange(kept.n)
    assert set(unique.steps[repeats].tolist()) != {40} and set(kept.steps.tolist()) == {40}
    assert unique.to_dict()["design"]["states"]["unique_situations"] is True
    with pytest.raises(CfsalError, match="unique_situations"):
        counterfactual(expert, MOVE, samples=2, unique_situations="yes", **settings)
