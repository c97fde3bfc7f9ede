"""The zoo: agents that ship with cfsal, addressable by name, each with a model card.

A card is a JSON file ``cfsal/zoo/<name>.json``. Agents with weights point at a cfsal checkpoint
beside the card and carry its sha256, verified on every load, so a swapped or damaged file is
caught before it is used. Control agents (constant, uniform-random, randomised copies) are
described by their card alone: they are rebuilt exactly from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from cfsal.agents.base import Agent, AgentSpec
from cfsal.agents.checkpoint import check_compatible, load_checkpoint, read_checkpoint_info
from cfsal.agents.evaluation import evaluate
from cfsal.agents.loaders import load_from_elsewhere
from cfsal.agents.networks import ConstantAgent, UniformRandomAgent
from cfsal.errors import AgentNotFoundError, CheckpointError

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
KINDS = ("checkpoint", "constant", "uniform_random", "randomized")


@dataclass(frozen=True)
class ModelCard:
    """What the zoo knows about one agent. ``evaluation`` holds `cfsal eval --json` fields."""

    name: str
    kind: str
    game: str
    description: str
    checkpoint: str | None = None
    sha256: str | None = None
    base: str | None = None
    seed: int | None = None
    action: int | None = None
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(path.read_text())
            card = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (json.JSONDecodeError, TypeError) as error:
            raise CheckpointError(f"zoo card {path} is malformed ({error}); restore it from git.") from None
        if card.kind not in KINDS:
            raise CheckpointError(f"zoo card {path} has kind {card.kind!r}; expected one of {KINDS}.")
        return card

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if getattr(self, k) not in (None, {}, "")}

    def write(self, directory: Path = ZOO_DIR) -> Path:
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cards(directory: Path = ZOO_DIR) -> dict[str, ModelCard]:
    """All model cards in the zoo, by name."""
    return {card.name: card for card in (ModelCard.from_file(p) for p in sorted(directory.glob("*.json")))}


def _randomize(agent: Agent, seed: int) -> Agent:
    """Re-initialise every layer with PyTorch's default init, from ``seed`` only (global RNG untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in agent.modules():
            if module is not agent and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return agent


def load_from_zoo(name: str, *, directory: Path = ZOO_DIR) -> Agent:
    available = cards(directory)
    if name not in available:
        raise AgentNotFoundError(
            f"unknown agent {name!r}: it is neither a zoo name nor an existing file. Zoo agents: "
            f"{', '.join(available) or '(none)'}; or pass a path to a .safetensors, SB3 .zip, CleanRL "
            ".cleanrl_model or TorchScript file."
        )
    card = available[name]
    spec = AgentSpec.for_game(card.game)
    if card.kind == "constant":
        agent: Agent = ConstantAgent(spec, action=int(card.action or 0), name=card.name)
    elif card.kind == "uniform_random":
        agent = UniformRandomAgent(spec, name=card.name)
    elif card.kind == "randomized":
        agent = _randomize(load_from_zoo(str(card.base), directory=directory), int(card.seed or 0))
        agent.name = card.name
    else:
        path = directory / str(card.checkpoint)
        if not path.is_file():
            raise CheckpointError(f"zoo agent {name!r}: its checkpoint {path} is missing; restore it with git.")
        actual = sha256_of(path)
        if actual != card.sha256:
            raise CheckpointError(
                f"zoo agent {name!r}: {path.name} has sha256 {actual[:16]}…, but its card says "
                f"{str(card.sha256)[:16]}…. The file was modified or damaged; restore it with "
                f"`git checkout -- {path}` (or re-run `cfsal zoo add` if you retrained it on purpose)."
            )
        agent = load_checkpoint(path, game=card.game)
        agent.name = card.name
    agent.card = card
    return agent.eval()


def refresh_card(card: ModelCard, *, episodes: int = 30, seed: int = 0, directory: Path = ZOO_DIR,
                 progress: bool = False) -> ModelCard:
    """Re-hash a card's checkpoint, copy its training provenance, and re-evaluate it.

    The evaluation uses `cfsal eval` defaults (sampled actions, 27k-step limit) and keeps every
    episode's score, so tests can reproduce a prefix of them exactly.
    """
    if card.kind == "checkpoint":  # a retrained checkpoint: re-hash before the verified load
        path = directory / str(card.checkpoint)
        info = read_checkpoint_info(path)
        card = replace(card, sha256=sha256_of(path), training=dict(info.provenance))
    card.write(directory)
    agent = load_from_zoo(card.name, directory=directory)
    result = evaluate(agent, episodes=episodes, seed=seed, progress=progress)
    evaluation = {k: v for k, v in result.to_dict().items() if k not in ("agent", "game")}
    card = replace(card, evaluation=evaluation)
    card.write(directory)
    return card


def load_agent(name_or_path: str | os.PathLike, *, game: str | None = None, trust: bool = False) -> Agent:
    """An agent from a zoo name, a cfsal checkpoint, or a file made elsewhere (needs ``game``): an SB3
    A2C/PPO zip, a CleanRL ``ppo_atari`` state dict or TorchScript (:mod:`cfsal.agents.loaders`).

    ``game``, when given, is checked against the agent's own game. Files made elsewhere hold
    pickles (SB3, CleanRL) or programs (TorchScript): they load only with ``trust=True`` (CLI
    ``--trust-code``), and with a warning. cfsal checkpoints and zoo names never need it.
    """
    text = str(name_or_path)
    path = Path(text)
    if text in cards():
        agent = load_from_zoo(text)
    elif path.is_file():
        if path.suffix.lower() == ".safetensors":
            agent = load_checkpoint(path)
        else:
            agent = load_from_elsewhere(path, game=game, trust=trust)
    else:
        return load_from_zoo(text)  # raises AgentNotFoundError listing the zoo
    check_compatible(agent.spec, game=game, where=repr(text))
    return agent
