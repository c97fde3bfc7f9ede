"""The cfsal checkpoint format: safetensors weights + JSON metadata, no pickle anywhere.

A checkpoint is one ``.safetensors`` file. Its tensors are the agent's state dict; its header
metadata holds one key, ``cfsal``, whose value is a JSON document: format version, architecture,
the :class:`AgentSpec` (game, action set, observation spec) and free-form provenance (training
command, steps, wall time, machine). Loading parses JSON and raw tensor bytes only, so a
checkpoint from anywhere can be opened without running code from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from cfsal.agents.base import Agent, AgentSpec
from cfsal.agents.networks import ConstantAgent, NatureActorCritic, UniformRandomAgent
from cfsal.envs.games import get_game
from cfsal.errors import CfsalError, CheckpointError

FORMAT = "cfsal-checkpoint"
FORMAT_VERSION = 1

_ARCHITECTURES: dict[str, type[Agent]] = {
    NatureActorCritic.architecture: NatureActorCritic,
    ConstantAgent.architecture: ConstantAgent,
    UniformRandomAgent.architecture: UniformRandomAgent,
}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about itself (everything but the weights)."""

    architecture: str
    spec: AgentSpec
    name: str
    provenance: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": self.architecture,
                "name": self.name, "spec": self.spec.to_dict(), "provenance": self.provenance,
                "options": self.options}


def training_dir(out: Path) -> Path:
    """The folder beside the checkpoint ``out`` where a training run (A2C or DAgger) keeps its learning
    curve, its run record and the state it resumes from: ``<out>.train``."""
    return out.with_name(out.name + ".train")


def save_checkpoint(agent: Agent, path: str | os.PathLike, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``agent`` as a cfsal checkpoint (atomically: a crash never leaves half a file)."""
    architecture = getattr(agent, "architecture", None)
    if architecture not in _ARCHITECTURES:
        raise CheckpointError(
            f"cannot save an agent of type {type(agent).__name__}: cfsal checkpoints hold the "
            f"architectures {sorted(_ARCHITECTURES)}; save other modules with TorchScript."
        )
    options = {"action": agent.action} if isinstance(agent, ConstantAgent) else {}
    info = CheckpointInfo(architecture, agent.spec, agent.name, provenance or {}, options)
    tensors = {k: v.detach().contiguous().clone() for k, v in agent.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"cfsal": json.dumps(info.to_dict())})
    os.replace(tmp, path)
    return path


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and validate a checkpoint's metadata without loading its weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}: check the path, or list agents with `cfsal zoo list`.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises several types for damaged files
        raise CheckpointError(
            f"{str(path)!r} is not a readable cfsal checkpoint ({type(error).__name__}: {error}); "
            "the file is corrupt or of another format. Re-train it with `cfsal train`, or load "
            "SB3 zips / TorchScript files by their extension (.zip, .pt)."
        ) from None
    if "cfsal" not in metadata:
        raise CheckpointError(f"{str(path)!r} is a safetensors file but not a cfsal checkpoint (no 'cfsal' metadata).")
    try:
        raw = json.loads(metadata["cfsal"])
        if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{str(path)!r} has checkpoint format {raw.get('format')!r} version "
                f"{raw.get('format_version')!r}; this cfsal reads {FORMAT!r} version {FORMAT_VERSION}."
            )
        spec = AgentSpec.from_dict(raw["spec"])
        get_game(spec.game)
        return CheckpointInfo(raw["architecture"], spec, raw.get("name", path.stem),
                              raw.get("provenance", {}), raw.get("options", {}))
    except CfsalError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{str(path)!r} has damaged cfsal metadata ({error!r}); re-create the checkpoint.") from None


def check_compatible(spec: AgentSpec, *, game: str | None, where: str) -> None:
    """Fail clearly if an agent made for one game is used for another."""
    if game is None:
        return
    wanted = get_game(game)
    if spec.game != wanted.name:
        raise CheckpointError(
            f"{where} is an agent for {spec.game!r}, but {wanted.name!r} was asked for; "
            f"pick an agent trained on {wanted.name} (see `cfsal zoo list`)."
        )
    if tuple(spec.action_set) != wanted.action_set:
        raise CheckpointError(
            f"{where} uses the action set {list(spec.action_set)} but cfsal's {wanted.name} has "
            f"{list(wanted.action_set)}; it was trained on a different action set."
        )


def load_checkpoint(path: str | os.PathLike, *, game: str | None = None) -> Agent:
    """Load a cfsal checkpoint, checking it against ``game`` when given."""
    info = read_checkpoint_info(path)
    check_compatible(info.spec, game=game, where=repr(str(path)))
    cls = _ARCHITECTURES.get(info.architecture)
    if cls is None:
        raise CheckpointError(f"{str(path)!r} uses architecture {info.architecture!r}; cfsal knows {sorted(_ARCHITECTURES)}.")
    try:
        agent = cls(info.spec, name=info.name, **info.options)
        agent.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"the weights in {str(path)!r} do not fit a {info.architecture} for {info.spec.game} "
            f"with observation shape {list(info.spec.observation.shape)}: {str(error).splitlines()[0]}"
        ) from None
    agent.provenance = info.provenance
    return agent.eval()
