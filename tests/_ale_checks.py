"""Checks every ALE game's tests share: objects against the emulator's pixels, an intervention's RAM and
frame effect, snapshot replay, and the fuzz (profiles as in tests/test_ale_interventions.py)."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings

from cfsal.envs import make
from cfsal.envs.objects import ObjectBox, objects

settings.register_profile("interventions-fast", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
settings.register_profile("interventions-thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("CFSAL_INTERVENTIONS_PROFILE", "interventions-fast"))


def pixels(rgb: np.ndarray, color: tuple[int, int, int], rows: slice = slice(None)) -> np.ndarray:
    """Boolean mask over the whole frame of ``color`` within ``rows``."""
    mask = np.zeros(rgb.shape[:2], bool)
    mask[rows] = (rgb[rows] == color).all(-1)
    return mask


def random_play(game: str, seed: int, steps: int, every: int = 1, first: int = 0):
    """(state, rgb, snapshot) at every ``every``-th step of seeded random play, from step ``first``."""
    env = make(game, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for step in range(steps):
        *_, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()
        if step >= first and (step - first) % every == 0:
            out.append((env.get_toybox_state(), env.rgb_frame(), env.snapshot()))
    return out


def holds(box: ObjectBox | None, drawn: np.ndarray) -> bool:
    """Every drawn pixel lies in the box (no box: nothing drawn)."""
    if box is None:
        return not drawn.any()
    return not (drawn & ~box.native_mask()).any()


def check_intervention(game: str, env, intervention, addresses: set[int], moved: str, settle) -> None:
    """The intervention writes exactly ``addresses``, the frame changes inside the new box of ``moved``
    (or, for a removed object, inside its old box), and the game then runs 500 steps."""
    before_frame, before_observation = env.rgb_frame().copy(), env.observation[-1]
    record = intervention.apply_to_env(env, settle=settle)
    before, after = np.array(record.before["ram"]), np.array(record.after["ram"])
    assert set(np.flatnonzero(before != after).tolist()) == addresses
    assert record.took_effect and record.after["emulator"] == record.before["emulator"]
    changed = (env.rgb_frame() != before_frame).any(-1)
    box = objects(game, record.after).get(moved) or objects(game, record.before)[moved]
    assert changed[box.y0:box.y1, box.x0:box.x1].any(), (moved, box)
    assert (record.observation[-1] != before_observation).any()
    for t in range(500):
        *_, terminated, truncated, _info = env.step(t % env.action_space.n)
        if terminated or truncated:
            break


def replays(env, snapshot, intervention, steps: int = 80) -> tuple:
    """Restore, intervene, play: (newest frames, rewards, final state text)."""
    env.restore(snapshot)
    intervention.apply_to_env(env)
    played = [env.step(t % env.action_space.n) for t in range(steps)]
    return [p[0][-1] for p in played], [p[1] for p in played], env.toybox_state_text()
