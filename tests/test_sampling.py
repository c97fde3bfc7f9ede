"""The episode store's lanes: forwards of one lane overlap the other's stepping, and change no state."""

from __future__ import annotations

import numpy as np
import pytest

from cfsal.agents.base import FORWARD_BLOCK
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


def test_episodes_played_ahead_pause_and_resume_where_they_stopped(agent):
    # one episode wanted per call: the episodes filling the rest of its block pause while it plays alone
    one_at_a_time = EpisodeStore(agent, WINDOW, seed=4)
    paused = [one_at_a_time.candidates(e, ahead=1) for e in range(24)]
    all_at_once = EpisodeStore(agent, WINDOW, seed=4)
    whole = [all_at_once.candidates(e, ahead=24) for e in range(24)]
    assert [_key(c.points) for c in paused] == [_key(c.points) for c in whole]
    assert [c.ended for c in paused] == [c.ended for c in whole]
    # alone in their block, the episodes played ahead never stepped: every step played was a wanted one's
    assert one_at_a_time.steps_played == sum(one_at_a_time.lengths[e] for e in range(24))
    assert all_at_once.steps_played > sum(all_at_once.lengths[e] for e in range(24))


def test_a_store_counts_every_step_it_plays_and_closes_no_episode_early(agent):
    store = EpisodeStore(agent, WINDOW, seed=3)
    found = [store.candidates(e, ahead=20) for e in range(20)]
    assert [c.episode for c in found] == list(range(20))
    assert all(len(c.points) + c.ended == 1 for c in found)
    reached = [c.points[0].step for c in found if c.points]
    assert store.steps_played >= sum(reached)  # every reached step was played, in some lane
    # each forward block carries 1 to 16 of those steps
    assert store.steps_played / FORWARD_BLOCK <= store.blocks_forwarded <= store.steps_played


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


# ------------------------------------------------------------------------------------------ on disk

def test_a_second_store_reads_the_episodes_the_first_played_from_disk(agent, tmp_path):
    from cfsal.rollout.sampling import StateSampler
    from cfsal.rollout.states_cache import EpisodeCache

    cache = EpisodeCache.for_store(tmp_path, agent, WINDOW, seed=4, greedy=False, max_episode_steps=27_000)
    first = StateSampler(agent, WINDOW, store=EpisodeStore(agent, WINDOW, seed=np.random.SeedSequence(4),
                                                           cache=cache))
    played = first.take(10)
    assert first.store.steps_played > 0 and len(list(cache.directory.glob("*.json.gz"))) >= 10
    again = StateSampler(agent, WINDOW, store=EpisodeStore(agent, WINDOW, seed=np.random.SeedSequence(4),
                                                           cache=cache))
    read = again.take(10)
    assert again.store.steps_played == 0  # nothing played: every episode came from disk
    assert _key(read) == _key(played)
    assert all(p.snapshot.native is not None for p in read)  # replayed once, so rollouts restore cheaply
    assert again.selection == first.selection


def test_a_cached_session_gives_the_same_verdict_numbers(agent, tmp_path):
    from cfsal.interventions import breakout
    from cfsal.rollout import counterfactual
    from cfsal.rollout.sampling import use_states_cache

    try:
        use_states_cache(tmp_path)
        fresh = counterfactual(agent, breakout.MoveBall(dx=20), samples=6, horizon=5, states=WINDOW,
                               seed=1, states_seed=77)
        files = sorted(p.name for p in tmp_path.rglob("*.json.gz"))
        from cfsal.rollout import sampling

        sampling._STORES.clear()  # a new session in this process: only the disk is left
        cached = counterfactual(agent, breakout.MoveBall(dx=20), samples=6, horizon=5, states=WINDOW,
                                seed=1, states_seed=77)
    finally:
        use_states_cache(None)
    assert files and sorted(p.name for p in tmp_path.rglob("*.json.gz")) == files  # nothing played again
    np.testing.assert_array_equal(cached.values, fresh.values)
    np.testing.assert_array_equal(cached.steps, fresh.steps)


def test_another_seed_design_or_agent_is_another_key(agent):
    from cfsal.agents.zoo import load_agent as load
    from cfsal.rollout.states_cache import store_key

    key = store_key(agent, WINDOW, seed=1, greedy=False, max_episode_steps=27_000)
    assert key == store_key(agent, States(window=(5, 40)), seed=1, greedy=False, max_episode_steps=27_000)
    assert key != store_key(agent, WINDOW, seed=2, greedy=False, max_episode_steps=27_000)
    assert key != store_key(agent, States(window=(5, 41)), seed=1, greedy=False, max_episode_steps=27_000)
    assert key != store_key(agent, WINDOW, seed=1, greedy=True, max_episode_steps=27_000)
    assert key != store_key(load("breakout-expert"), WINDOW, seed=1, greedy=False, max_episode_steps=27_000)


def test_a_file_that_does_not_read_is_played_again(agent, tmp_path):
    from cfsal.rollout.states_cache import EpisodeCache

    cache = EpisodeCache.for_store(tmp_path, agent, WINDOW, seed=4, greedy=False, max_episode_steps=27_000)
    cache.directory.mkdir(parents=True)
    cache.path(0).write_bytes(b"not gzip")
    store = EpisodeStore(agent, WINDOW, seed=np.random.SeedSequence(4), cache=cache)
    found = store.candidates(0)
    assert store.steps_played > 0 and found.episode == 0
    assert cache.load(0) is not None  # written again, whole
