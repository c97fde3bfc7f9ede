"""Recorded episodes and their saliency maps, cached on disk so a second audit reuses them.

Maps are the expensive part of an audit (perturbation saliency: 289 forward passes per frame), so
each episode's maps are stored as one ``.npz`` (no pickle) keyed by what determines them: the
agent's weights (sha256), the method and its parameters, the seed, the episode index, the step
limit and the mapping stride. The episode itself is cached beside them as a
:class:`cfsal.rollout.trajectory.Trajectory` file. A changed checkpoint (a retrained agent) has a
new sha256, so stale maps are never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent, agent_sha256  # noqa: F401 - re-exported: audits name agents by it
from cfsal.errors import CfsalError
from cfsal.rollout.trajectory import Trajectory, TrajectoryError, record
from cfsal.saliency import saliency, stacked
from cfsal.saliency.api import method_revision

CACHE_FORMAT_VERSION = 1
DEFAULT_CACHE = Path("reports") / "cache" / "suggest"

Progress = Callable[[int], None]


def episode_seed(seed: int, episode: int) -> int:
    """The recording seed of episode ``episode`` of an audit with ``seed`` (stateless derivation)."""
    return int(child(seed, 0, episode).generate_state(1)[0])


def mapped_steps(length: int, every: int) -> np.ndarray:
    """Steps whose observation is mapped: every ``every``-th from step ``every`` (step 0's stack is
    the blank reset frame repeated) to the end."""
    if every < 1:
        raise CfsalError(f"every must be ≥ 1 (map every k-th step), got {every}")
    return np.arange(every, length, every)


def _params_digest(method: str, params: Mapping[str, Any]) -> str:
    text = json.dumps({"method": method, "params": params, "revision": method_revision(method)}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _episode_path(cache: Path, sha: str, seed: int, episode: int, max_steps: int) -> Path:
    return cache / sha[:16] / "episodes" / f"seed{seed}-ep{episode}-max{max_steps}.npz"


def _maps_path(cache: Path, sha: str, method: str, params: Mapping[str, Any], seed: int, episode: int,
               max_steps: int, every: int) -> Path:
    return (cache / sha[:16] / f"{method}-{_params_digest(method, params)}"
            / f"seed{seed}-ep{episode}-max{max_steps}-every{every}.npz")


def load_episode(agent: Agent, *, sha: str, seed: int, episode: int, max_steps: int,
                 cache: Path | None) -> Trajectory:
    """Episode ``episode`` of the audit: from the cache, or recorded (sampled actions, as A2C plays)."""
    path = None if cache is None else _episode_path(cache, sha, seed, episode, max_steps)
    if path is not None and path.is_file():
        try:
            return Trajectory.load(path)
        except TrajectoryError:
            path.unlink()  # a damaged cache entry is re-recorded, never trusted
    trajectory = record(agent, seed=episode_seed(seed, episode), max_steps=max_steps)
    if path is not None:
        trajectory.save(path)
    return trajectory


def episode_maps(agent: Agent, trajectory: Trajectory, steps: np.ndarray, *, method: str, params: Mapping[str, Any],
                 sha: str, seed: int, episode: int, max_steps: int, every: int, cache: Path | None,
                 chunk: int = 16, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Actor and critic maps ``float32 [len(steps), 84, 84]`` of the episode's mapped steps.

    Read from the cache when an entry with the same key (and the same steps) exists; otherwise
    computed in chunks of ``chunk`` frames (``progress(frames_done)`` after each) and stored.
    """
    path = None if cache is None else _maps_path(cache, sha, method, params, seed, episode, max_steps, every)
    if path is not None and path.is_file():
        cached = _read_maps(path, sha, method, steps)
        if cached is not None:
            if progress is not None:
                progress(len(steps))
            return cached
    actor, critic = [], []
    stacks = None
    if method == "object":  # each frame's stacked states: a moving object is removed wherever it was
        stacks = stacked([json.loads(s) for s in trajectory.states])
    for start in range(0, len(steps), chunk):
        idx = steps[start:start + chunk]
        maps = saliency(agent, trajectory.observations[idx], method,
                        states=None if stacks is None else [stacks[i] for i in idx], **params)
        actor.append(maps.actor)
        critic.append(maps.critic)
        if progress is not None:
            progress(len(idx))
    empty = np.zeros((0, 84, 84), np.float32)
    result = (np.concatenate(actor) if actor else empty, np.concatenate(critic) if critic else empty)
    if path is not None:
        _write_maps(path, result, steps, sha=sha, method=method, params=params)
    return result


def _write_maps(path: Path, maps: tuple[np.ndarray, np.ndarray], steps: np.ndarray, *, sha: str, method: str,
                params: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "cfsal-saliency-cache", "format_version": CACHE_FORMAT_VERSION, "agent_sha256": sha,
            "method": method, "params": params}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, actor=maps[0], critic=maps[1], steps=steps.astype(np.int64),
                        meta=np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8))
    os.replace(tmp, path)


def _read_maps(path: Path, sha: str, method: str, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached maps if the entry is intact and was made for these steps, else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            if (meta.get("format_version") != CACHE_FORMAT_VERSION or meta.get("agent_sha256") != sha
                    or meta.get("method") != method or not np.array_equal(data["steps"], steps)):
                return None
            return data["actor"], data["critic"]
    except (OSError, ValueError, KeyError):
        return None
