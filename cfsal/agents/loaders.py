"""Load agents made elsewhere: stable-baselines3 ``.zip`` files and TorchScript modules.

SB3 zips: only the ``policy.pth`` member is read, with ``torch.load(weights_only=True)`` (PyTorch's
restricted unpickler that builds tensors and nothing else), and only with trust (a warning even then). The ``data`` member, whose spaces and
schedules are cloudpickled, is never deserialised; game and action count are checked from the
weights' shapes and the ``game`` you name instead.

TorchScript modules are programs: loading one runs code from the file. cfsal therefore loads them
only with ``trust=True`` and warns even then.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from pathlib import Path

import torch

from cfsal.agents.base import Agent, AgentSpec, ObservationSpec
from cfsal.agents.networks import NatureActorCritic, sb3_key_map
from cfsal.envs.games import get_game
from cfsal.errors import CheckpointError


def load_sb3_zip(path: str | os.PathLike, *, game: str, name: str | None = None,
                 trust: bool | None = None) -> NatureActorCritic:
    """Load an SB3 A2C/PPO ``CnnPolicy`` zip (trained on a cfsal Toybox env) as a cfsal agent.

    ``policy.pth`` is a pickle. It is read with PyTorch's restricted unpickler, which builds
    tensors only, but that is still an unpickler fed a file from elsewhere: ``trust=False``
    refuses, ``trust=True`` loads with a warning. :func:`cfsal.agents.zoo.load_agent` (and the
    CLI's ``--trust-code``) pass ``trust`` explicitly; ``None`` (direct calls) loads and warns.
    """
    path = Path(path)
    if trust is False:
        raise CheckpointError(
            f"{str(path)!r} is a stable-baselines3 zip, whose policy.pth is a pickle. cfsal reads it with "
            "PyTorch's tensors-only unpickler, but loads files from elsewhere only when asked: pass "
            "trust=True (CLI: --trust-code), or convert it once to a pickle-free cfsal checkpoint "
            "with cfsal.agents.save_checkpoint."
        )
    warnings.warn(f"loading the stable-baselines3 zip {str(path)!r}: its policy.pth is a pickle, read with "
                  "torch.load(weights_only=True); only load zips from sources you trust", stacklevel=2)
    spec_game = get_game(game)
    try:
        with zipfile.ZipFile(path) as archive:
            if "policy.pth" not in archive.namelist():
                raise CheckpointError(f"{str(path)!r} has no policy.pth: it is not a stable-baselines3 model zip.")
            raw = archive.read("policy.pth")
    except zipfile.BadZipFile:
        raise CheckpointError(f"{str(path)!r} is not a valid zip file (corrupt or not an SB3 model).") from None
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"policy.pth in {str(path)!r} could not be read safely ({error}); "
                              "it is damaged or contains more than tensors.") from None
    mapping = sb3_key_map()
    missing = [key for key in mapping if key not in state]
    if missing:
        raise CheckpointError(
            f"{str(path)!r} is not an SB3 CnnPolicy actor-critic (missing {missing[:3]}…); cfsal "
            "loads A2C/PPO models trained with policy='CnnPolicy' and a shared feature extractor."
        )
    weights = {ours: state[theirs] for theirs, ours in mapping.items()}
    n_actions = weights["policy_head.weight"].shape[0]
    in_channels = weights["trunk.0.weight"].shape[1]
    if n_actions != spec_game.n_actions:
        raise CheckpointError(
            f"{str(path)!r} has {n_actions} actions but {spec_game.name} has {spec_game.n_actions} "
            f"({', '.join(spec_game.action_meanings)}): it was trained for another game."
        )
    if weights["trunk.7.weight"].shape[1] != 3136:
        raise CheckpointError(f"{str(path)!r} was trained on observations that are not 84×84 "
                              "(its first dense layer does not take 3136 inputs).")
    spec = AgentSpec(spec_game.name, spec_game.action_set, ObservationSpec(shape=(in_channels, 84, 84)))
    agent = NatureActorCritic(spec, name=name or path.stem)
    agent.load_state_dict(weights, strict=True)
    agent.provenance = {"source": "stable-baselines3 zip", "file": path.name}
    return agent.eval()


class TorchScriptAgent(Agent):
    """Wraps a TorchScript module whose forward maps [B, 4, 84, 84] 0–255 floats to (logits, value)."""

    architecture = "torchscript"

    def __init__(self, spec: AgentSpec, module: torch.jit.ScriptModule, name: str) -> None:
        super().__init__(spec, name)
        self.module = module

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = self.module(obs)
        return logits, value.reshape(-1)


def load_torchscript(path: str | os.PathLike, *, game: str, trust: bool = False,
                     name: str | None = None) -> TorchScriptAgent:
    """Load a TorchScript agent. Refuses unless ``trust=True``: TorchScript runs code from the file."""
    path = Path(path)
    if not trust:
        raise CheckpointError(
            f"{str(path)!r} is a TorchScript module, which executes code when loaded. Load it only "
            "if you trust its source: pass trust=True (CLI: --trust-code)."
        )
    warnings.warn(f"loading TorchScript from {str(path)!r}: it can run arbitrary code", stacklevel=2)
    spec_game = get_game(game)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:
        raise CheckpointError(f"{str(path)!r} is not a loadable TorchScript module ({error}).") from None
    agent = TorchScriptAgent(AgentSpec(spec_game.name, spec_game.action_set), module, name or path.stem)
    with torch.no_grad():
        logits, value = agent(torch.zeros(1, 4, 84, 84))
    if logits.shape != (1, spec_game.n_actions) or value.shape != (1,):
        raise CheckpointError(
            f"{str(path)!r} returns logits of shape {tuple(logits.shape)} and value {tuple(value.shape)}; "
            f"{spec_game.name} needs (1, {spec_game.n_actions}) and (1,)."
        )
    agent.provenance = {"source": "torchscript", "file": path.name}
    return agent.eval()
