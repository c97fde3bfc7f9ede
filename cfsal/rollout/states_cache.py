"""Played episodes kept on disk, so a later session with the same agent, design and seed reads its states.

Collecting states is most of what a hypothesis on the default design costs (one episode played to a
step in its window per sample); the paired rollouts after it are short. A cache directory holds,
per key, one file per episode: the snapshots at its drawn steps and how many it never reached. The
key is everything those depend on: the agent's weights (:func:`cfsal.agents.base.agent_sha256`),
the design, the seed, greedy play, the episode step limit, and the versions of cfsal and of the
emulators (a new Toybox or ALE release may play differently). Files are written whole (a temporary
file, then a rename), so parallel sessions and an interrupted one never leave half a file; a file
that does not read is played again.

Snapshots read back are exact: Toybox ones carry their replay recipe (reset seed and actions), ALE
ones the emulator's own state. A Toybox state is replayed once when read, to give it back its
in-memory clone, which is what rollouts restore from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cfsal.agents.base import Agent, agent_sha256
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.design import States

FORMAT_VERSION = 1
#: Where the plugin keeps played episodes, under pytest's rootdir (``--cfsal-states-cache`` moves it).
DEFAULT_DIRECTORY = Path("reports") / "cache" / "states"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def store_key(agent: Agent, states: States, *, seed: int, greedy: bool, max_episode_steps: int) -> str:
    """The name of the directory a store's episodes live in: a digest of all they depend on."""
    identity = {"format": FORMAT_VERSION, "agent_sha256": agent_sha256(agent), "game": agent.spec.game,
                "states": states.to_dict(), "seed": int(seed), "greedy": bool(greedy),
                "max_episode_steps": int(max_episode_steps),
                "versions": {name: _version(name) for name in ("cfsal", "ctoybox", "ale-py")}}
    text = json.dumps(identity, sort_keys=True)
    return f"{agent.name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


@dataclass(frozen=True)
class EpisodeCache:
    """One store's episodes on disk: ``directory / f"{episode}.json.gz"``."""

    directory: Path

    @classmethod
    def for_store(cls, root: str | Path, agent: Agent, states: States, *, seed: int, greedy: bool,
                  max_episode_steps: int) -> EpisodeCache:
        key = store_key(agent, states, seed=seed, greedy=greedy, max_episode_steps=max_episode_steps)
        return cls(Path(root) / key)

    def path(self, episode: int) -> Path:
        return self.directory / f"{episode}.json.gz"

    def load(self, episode: int) -> tuple[tuple[BranchPoint, ...], int] | None:
        """The episode's snapshots and unreached count, or None if it is not here (or does not read)."""
        try:
            with gzip.open(self.path(episode), "rt", encoding="utf-8") as file:
                data = json.load(file)
            if data.get("format") != FORMAT_VERSION or data.get("episode") != episode:
                return None
            return tuple(BranchPoint.from_dict(point) for point in data["points"]), int(data["ended"])
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            return None

    def save(self, episode: int, points: tuple[BranchPoint, ...], ended: int) -> None:
        """Write the episode whole. A failure to write costs only a replay next time: a warning, not an error."""
        data: dict[str, Any] = {"format": FORMAT_VERSION, "episode": episode, "ended": ended,
                                "points": [point.to_dict() for point in points]}
        temporary: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3) as file:
                file.write(json.dumps(data).encode("utf-8"))
            os.replace(temporary, self.path(episode))
        except OSError as error:
            if temporary is not None and os.path.exists(temporary):
                os.unlink(temporary)
            warnings.warn(f"cfsal could not cache episode {episode} in {self.directory} ({error}); it will be "
                          "played again next time. Point --cfsal-states-cache at a writable directory.",
                          stacklevel=2)
