"""Branch points: exact snapshots taken while an agent plays, to branch counterfactuals from.

The paper re-ran a pickled list of actions up to the intervention step for every run. Here the
agent plays once and the environment is snapshotted (Toybox JSON incl. RNG + frame stack) at each
branch point, so any number of continuations can start from exactly that state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent, actions_from_logits, deterministic_forwards
from cfsal.envs import EnvSnapshot, make, snapshot_from_dict


@dataclass(frozen=True)
class BranchPoint:
    """Where a counterfactual starts: which episode and step, and the exact environment state."""

    episode: int
    step: int
    snapshot: EnvSnapshot

    def to_dict(self) -> dict[str, Any]:
        return {"episode": self.episode, "step": self.step, "snapshot": self.snapshot.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BranchPoint:
        return cls(int(data["episode"]), int(data["step"]), snapshot_from_dict(data["snapshot"]))


def situation_key(snapshot: EnvSnapshot) -> bytes:
    """What the agent faces at a branch point: the game's state without its RNG, and the frame stack.

    Two branch points with the same key are one situation sampled twice: the agent sees the same
    frames and the game continues the same way until it next draws a random number. That happens
    more than one would think. Toybox Breakout has four serves, and the no-op starts change nothing
    before the serve, so a (nearly) deterministic agent that keeps its lives replays one of four
    games (the distilled expert: of 8 episodes, 3 were one game at step 40); an agent
    waiting to serve sees one frozen screen at every branch point of the wait. Repeats are not
    independent samples of anything.
    """
    state = json.loads(snapshot.toybox_json)
    state.pop("rand", None)
    digest = hashlib.blake2b(json.dumps(state, sort_keys=True).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(snapshot.frame_stack).tobytes())
    return digest.digest()


def labels_of_keys(keys: Sequence[bytes]) -> np.ndarray:
    """Each key's label: the index of its first occurrence (so labels are stable under appending).

    With :func:`situation_key` of each point, the situations of points from
    :func:`collect_branch_points` (``counterfactual`` records them as ``result.situations``)."""
    first: dict[bytes, int] = {}
    return np.array([first.setdefault(key, i) for i, key in enumerate(keys)], dtype=int)


def games_of(episodes: Sequence[int], situations: Sequence[int]) -> np.ndarray:
    """Per sample, its *game*: episodes that pass through a common situation are one game.

    Episodes that meet in one situation continue alike until the game or the agent next draws a
    random number, and a replayed episode (:func:`situation_key`) meets its original at every
    branch point; counting them as independent clusters would overstate the evidence. Merging
    every pair that shares any situation (transitively) is the conservative choice. The label is
    the smallest episode in the game, so episodes that meet no other keep their own number.
    """
    episodes, situations = np.asarray(episodes, dtype=int), np.asarray(situations, dtype=int)
    parent = {int(e): int(e) for e in episodes}

    def root(e: int) -> int:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    first_episode: dict[int, int] = {}
    for episode, situation in zip(episodes.tolist(), situations.tolist()):
        other = first_episode.setdefault(situation, episode)
        a, b = root(episode), root(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(e) for e in episodes.tolist()], dtype=int)


def collect_branch_points(agent: Agent, *, count: int, branch_every: int, seed: np.random.SeedSequence | int,
                          first_branch: int | None = None, max_episode_steps: int = 27_000,
                          max_episodes: int = 1_000, greedy: bool = False,
                          accept: Callable[[BranchPoint], bool] | None = None,
                          per_episode: int | None = None) -> list[BranchPoint]:
    """Let ``agent`` play seeded episodes and snapshot every ``branch_every`` steps until ``count``.

    Episodes run one after another (each from its own child seed) so that the set of branch
    points depends on ``seed`` only, not on how many are asked for beyond a prefix. ``accept``
    filters candidates (e.g. "the intervention applies here": a ball is in play). With
    ``per_episode`` an episode ends as soon as that many of its points are accepted: the points
    are those an uncapped collection would accept up to the cap, without playing the rest.
    """
    if count < 1 or branch_every < 1:
        raise ValueError(f"count and branch_every must be ≥ 1, got count={count}, branch_every={branch_every}")
    if per_episode is not None and per_episode < 1:
        raise ValueError(f"per_episode must be ≥ 1 or None, got {per_episode}")
    with deterministic_forwards():
        return _collect(agent, count, branch_every, seed, branch_every if first_branch is None else first_branch,
                        max_episode_steps, max_episodes, greedy, accept, per_episode)


def _collect(agent: Agent, count: int, branch_every: int, seed: np.random.SeedSequence | int, first: int,
             max_episode_steps: int, max_episodes: int, greedy: bool,
             accept: Callable[[BranchPoint], bool] | None, per_episode: int | None = None) -> list[BranchPoint]:
    points: list[BranchPoint] = []
    env = make(agent.spec.game, max_episode_steps=max_episode_steps)
    for episode in range(max_episodes):
        env_seed, action_seed = child(seed, episode, 0), child(seed, episode, 1)
        obs, _ = env.reset(seed=int(env_seed.generate_state(1)[0]))
        rng = np.random.default_rng(action_seed)
        done, taken = False, 0
        while not done and len(points) < count:
            if env.steps >= first and (env.steps - first) % branch_every == 0:
                point = BranchPoint(episode, env.steps, env.snapshot())
                if accept is None or accept(point):
                    points.append(point)
                    taken += 1
                    if per_episode is not None and taken >= per_episode:
                        break  # the episode's share is full: playing on would only be discarded
            logits, _ = agent.logits_and_value(obs)
            action = actions_from_logits(logits, greedy=greedy, uniforms=rng.random(1))[0]
            obs, _, terminated, truncated, _ = env.step(int(action))
            done = terminated or truncated
        if len(points) >= count:
            return points
    raise RuntimeError(
        f"only {len(points)} branch points in {max_episodes} episodes of {agent.name}; lower "
        f"first_branch ({first}) or branch_every ({branch_every}), or ask for fewer samples."
    )
