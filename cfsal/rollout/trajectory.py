"""Recorded episodes: every step's observation, action, logits, value, reward and Toybox state.

This replaces the seed code's pickled list of actions handed between three scripts. A
:class:`Trajectory` is a typed value; on disk it is one ``.npz`` file opened with
``allow_pickle=False``: arrays as arrays (uint8 frames), the per-step Toybox states as one gzip'd
JSON-lines blob, metadata as JSON. Any recorded step can become an exact branch point
(:meth:`Trajectory.snapshot_at`), and :func:`replay` checks that re-running the recorded actions
from the start reproduces the recording bit for bit.
"""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent, actions_from_logits
from cfsal.envs import EnvSnapshot, make
from cfsal.errors import CfsalError

TRAJECTORY_FORMAT_VERSION = 1


class TrajectoryError(CfsalError):
    """A trajectory file that is damaged, of another version, or does not replay."""


@dataclass(frozen=True)
class Trajectory:
    """One episode. Arrays are indexed by step ``t``: ``observations[t]`` is what the agent saw
    before taking ``actions[t]``; ``states[t]`` the Toybox JSON at that moment."""

    game: str
    agent: str
    seed: int
    greedy: bool
    observations: np.ndarray
    actions: np.ndarray
    logits: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    lives: np.ndarray
    states: tuple[str, ...] = field(repr=False)
    np_random_state: dict[str, Any] = field(repr=False)
    start_lives: int = 0
    reset_seed: int | None = None
    rgb: np.ndarray | None = field(default=None, repr=False)
    ended: bool = False

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def score(self) -> float:
        return float(self.rewards.sum())

    def snapshot_at(self, step: int) -> EnvSnapshot:
        """The exact environment at ``step`` (before its action), to branch from."""
        if not 0 <= step < self.length:
            raise IndexError(f"step {step} is outside this trajectory (0 ≤ step < {self.length})")
        lives_before = int(self.lives[step - 1]) if step else self.start_lives
        return EnvSnapshot(game=self.game, toybox_json=self.states[step], frame_stack=self.observations[step].copy(),
                           steps=step, lives=lives_before, episode_return=float(self.rewards[:step].sum()),
                           needs_real_reset=False, np_random_state=self.np_random_state,
                           reset_seed=self.reset_seed,
                           actions=None if self.reset_seed is None else tuple(int(a) for a in self.actions[:step]))

    def branch_steps(self, *, every: int | None = None, at: Iterable[int] | None = None,
                     sample: int | None = None, rng: np.random.Generator | None = None,
                     start: int = 0) -> list[int]:
        """Steps to branch at: every ``every`` steps, at given steps (e.g. events), or ``sample`` random ones."""
        chosen = [every is not None, at is not None, sample is not None]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of every=, at= or sample=")
        if every is not None:
            if every < 1:
                raise ValueError(f"every must be ≥ 1, got {every}")
            return list(range(start, self.length, every))
        if at is not None:
            steps = sorted(set(int(s) for s in at))
            bad = [s for s in steps if not 0 <= s < self.length]
            if bad:
                raise ValueError(f"steps {bad[:5]} are outside this trajectory (0 ≤ step < {self.length})")
            return steps
        if rng is None:
            raise ValueError("sample= needs an rng (numpy.random.Generator); cfsal never uses the global RNG")
        population = np.arange(start, self.length)
        return sorted(rng.choice(population, size=min(sample, population.size), replace=False).tolist())

    def life_loss_steps(self) -> list[int]:
        """Steps whose action lost a life: an event to branch just before."""
        previous = np.concatenate([[self.lives[0]], self.lives[:-1]])
        return np.flatnonzero(self.lives < previous).tolist()

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": "cfsal-trajectory", "format_version": TRAJECTORY_FORMAT_VERSION, "game": self.game,
                "agent": self.agent, "seed": self.seed, "greedy": self.greedy, "ended": self.ended,
                "start_lives": self.start_lives, "reset_seed": self.reset_seed,
                "np_random_state": self.np_random_state}
        arrays = {"observations": self.observations, "actions": self.actions, "logits": self.logits,
                  "values": self.values, "rewards": self.rewards, "lives": self.lives,
                  "states": np.frombuffer(gzip.compress("\n".join(self.states).encode()), dtype=np.uint8),
                  "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        if self.rgb is not None:
            arrays["rgb"] = self.rgb
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode())
                if meta.get("format") != "cfsal-trajectory" or meta.get("format_version") != TRAJECTORY_FORMAT_VERSION:
                    raise TrajectoryError(
                        f"{str(path)!r} is trajectory format {meta.get('format')!r} v{meta.get('format_version')}; "
                        f"this cfsal reads cfsal-trajectory v{TRAJECTORY_FORMAT_VERSION}. Re-record it."
                    )
                states = tuple(gzip.decompress(data["states"].tobytes()).decode().split("\n"))
                return cls(game=meta["game"], agent=meta["agent"], seed=int(meta["seed"]), greedy=bool(meta["greedy"]),
                           observations=data["observations"], actions=data["actions"], logits=data["logits"],
                           values=data["values"], rewards=data["rewards"], lives=data["lives"], states=states,
                           np_random_state=meta["np_random_state"], start_lives=int(meta["start_lives"]),
                           reset_seed=meta.get("reset_seed"),
                           rgb=data["rgb"] if "rgb" in data.files else None, ended=bool(meta["ended"]))
        except TrajectoryError:
            raise
        except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as error:
            raise TrajectoryError(f"{str(path)!r} is not a readable cfsal trajectory ({type(error).__name__}: "
                                  f"{error}); re-record it with cfsal.rollout.record.") from None


def record(agent: Agent, *, seed: int = 0, max_steps: int = 27_000, greedy: bool = False,
           rgb: bool = False) -> Trajectory:
    """Let ``agent`` play one episode from ``seed`` and record every step."""
    env = make(agent.spec.game, max_episode_steps=max_steps)
    env_seed, action_seed = child(seed, 0), child(seed, 1)
    reset_seed = int(env_seed.generate_state(1)[0])
    obs, _ = env.reset(seed=reset_seed)
    action_rng = np.random.default_rng(action_seed)
    observations, actions, logits_list, values, rewards, lives, states, frames = [], [], [], [], [], [], [], []
    random_state = env.np_random.bit_generator.state
    start_lives = env.lives
    ended = False
    for _ in range(max_steps):
        observations.append(obs)
        states.append(json.dumps(env.get_toybox_state()))
        if rgb:
            frames.append(env.rgb_frame())
        logits, value = agent.logits_and_value(obs)
        action = int(actions_from_logits(logits, greedy=greedy, uniforms=action_rng.random(1))[0])
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        logits_list.append(logits[0].numpy())
        values.append(float(value[0]))
        rewards.append(reward)
        lives.append(info["lives"])
        if terminated or truncated:
            ended = terminated
            break
    return Trajectory(
        game=agent.spec.game, agent=agent.name, seed=seed, greedy=greedy, start_lives=start_lives, reset_seed=reset_seed,
        observations=np.stack(observations), actions=np.array(actions, dtype=np.int64),
        logits=np.stack(logits_list).astype(np.float32), values=np.array(values, dtype=np.float32),
        rewards=np.array(rewards, dtype=np.float32), lives=np.array(lives, dtype=np.int64), states=tuple(states),
        np_random_state=random_state, rgb=np.stack(frames) if rgb else None, ended=ended,
    )


def replay(trajectory: Trajectory, *, check: bool = True) -> list[np.ndarray]:
    """Re-run the recorded actions from the first recorded state; with ``check``, verify every
    observation and reward matches the recording exactly. Returns the observations."""
    env = make(trajectory.game)
    obs = env.restore(trajectory.snapshot_at(0))
    seen = [obs]
    for t, action in enumerate(trajectory.actions):
        if check and not np.array_equal(obs, trajectory.observations[t]):
            raise TrajectoryError(f"replay of {trajectory.agent}'s {trajectory.game} episode diverged at step {t}")
        obs, reward, terminated, truncated, _ = env.step(int(action))
        if check and reward != trajectory.rewards[t]:
            raise TrajectoryError(f"replay reward differs at step {t}: {reward} vs recorded {trajectory.rewards[t]}")
        seen.append(obs)
    return seen
