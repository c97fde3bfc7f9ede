"""The episode store's lanes: forwards of one lane overlap the other's stepping, and change no state."""

from __future__ import annotations

import numpy as np
import pytest

from cfsal.agents.zoo import load_agent
from cfsal.rollout import States
from cfsal.rollout.sampling import EpisodeStore, sample_states

WINDOW = States(window=(5, 40))


@pytest.fixture(scope="module")
def agent():
    return load_agent("breakout-a2c")


def _key(points):
    return [(p.episode, p.step, p.snapshot.toybox_json, p.snapshot.frame_stack.tobytes()) for p in points]


def test_two_overlapped_lanes_draw_the_states_one_lane_draws(agent):
    overlapped, _ = sample_states(agent, WINDOW, 40, seed=9)            # 32 wide: two lanes, one stepping
    single, _ = sample_states(agent, WINDOW, 40, seed=9, width=16)      # one lane: nothing overlaps
    assert _key(overlapped) == _key(single)


def test_a_store_counts_every_step_it_plays_and_closes_no_episode_early(agent):
    store = EpisodeStore(agent, WINDOW, seed=3)
    found = [store.candidates(e, ahead=20) for e in range(20)]
    assert [c.episode for c in found] == list(range(20))
    assert all(len(c.points) + c.ended == 1 for c in found)
    reached = [c.points[0].step for c in found if c.points]
    assert store.steps_played >= sum(reached)  # every reached step was played, in some lane


def test_an_error_while_stepping_surfaces_in_the_caller(agent, monkeypatch):
    store = EpisodeStore(agent, WINDOW, seed=1)

    def broken(lane, actions):
        raise RuntimeError("the emulator died")

    monkeypatch.setattr(store, "_step", broken)
    with pytest.raises(RuntimeError, match="the emulator died"):
        store.candidates(0)
    assert store._stepping is None  # drained: the next call starts clean


def test_an_episode_drawn_at_its_first_step_ends_where_it_starts(agent):
    points, selection = sample_states(agent, States(window=(0, 2)), 6, seed=2)
    assert {p.step for p in points} <= {0, 1} and selection.kept == 6
    np.testing.assert_array_equal([p.episode for p in points], np.arange(6))
