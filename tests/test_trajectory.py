"""Recorded trajectories: exact replay, files without pickle, branching at chosen steps."""

import numpy as np
import pytest

from cfsal.envs import make
from cfsal.rollout import Trajectory, TrajectoryError, record, replay, run_paired
from cfsal.rollout.branching import BranchPoint
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import shift_ball


@pytest.fixture(scope="module")
def trajectory():
    return record(tiny_agent(), seed=4, max_steps=120, rgb=True)


def test_record_keeps_every_step(trajectory):
    n = trajectory.length
    assert n == 120 or trajectory.ended
    assert trajectory.observations.shape == (n, 4, 84, 84) and trajectory.observations.dtype == np.uint8
    assert trajectory.logits.shape == (n, 4) and len(trajectory.states) == n
    assert trajectory.rgb.shape == (n, 160, 240, 3)


def test_replay_reproduces_the_recording_exactly(trajectory):
    observations = replay(trajectory)
    assert len(observations) == trajectory.length + 1


def test_save_load_round_trip_without_pickle(tmp_path, trajectory):
    loaded = Trajectory.load(trajectory.save(tmp_path / "episode.npz"))
    for name in ("observations", "actions", "logits", "values", "rewards", "lives", "rgb"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(trajectory, name))
    assert loaded.states == trajectory.states and loaded.start_lives == trajectory.start_lives
    replay(loaded)


def test_damaged_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(TrajectoryError, match="not a readable cfsal trajectory"):
        Trajectory.load(tmp_path / "bad.npz")


def test_snapshot_at_a_step_continues_like_the_recording(trajectory):
    env = make(trajectory.game)
    t = 50
    obs = env.restore(trajectory.snapshot_at(t))
    np.testing.assert_array_equal(obs, trajectory.observations[t])
    for k in range(t, min(t + 20, trajectory.length - 1)):
        obs, reward, *_ = env.step(int(trajectory.actions[k]))
        np.testing.assert_array_equal(obs, trajectory.observations[k + 1])


def test_branch_steps_every_at_and_sampled(trajectory):
    assert trajectory.branch_steps(every=40) == [0, 40, 80]
    assert trajectory.branch_steps(at=[70, 10, 10]) == [10, 70]
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    assert trajectory.branch_steps(sample=5, rng=rng()) == trajectory.branch_steps(sample=5, rng=rng())
    with pytest.raises(ValueError, match="exactly one"):
        trajectory.branch_steps(every=3, sample=2)
    with pytest.raises(ValueError, match="outside this trajectory"):
        trajectory.branch_steps(at=[10_000])


def test_recorded_steps_are_branch_points(trajectory):
    points = [BranchPoint(0, t, trajectory.snapshot_at(t)) for t in trajectory.branch_steps(every=40)[1:]]
    pairs = run_paired(tiny_agent(), points, StateEdit("breakout", shift_ball(30)), horizon=3,
                       seeds=[np.random.SeedSequence(i) for i in range(len(points))])
    assert all(p.factual.length == 3 for p in pairs)
