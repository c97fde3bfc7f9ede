"""Sanity checks for saliency maps (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

Cascading model-parameter randomisation: re-initialise the agent's layers one at a time, from
the output heads down to the first convolution, keeping earlier re-initialisations, and after
each step compare the maps with the trained agent's by Spearman rank correlation. A map that
explains the *trained* agent must change as its weights are destroyed (correlation falls
towards 0); a map that stays put is showing the input (edges, bright pixels), not the agent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from scipy.stats import rankdata

from cfsal.agents.base import Agent
from cfsal.errors import check_schema_version
from cfsal.saliency._utils import SaliencyError
from cfsal.saliency.api import saliency
from cfsal.saliency.result import SaliencyMap

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RandomizationCheck:
    """Rank correlations between the trained agent's maps and its cascadingly randomised copies.

    ``layers[i]`` is the layer re-initialised at step i (together with all before it);
    ``actor[i]`` / ``critic[i]`` are Spearman correlations at that step, averaged over frames
    (NaN when a map is constant, e.g. all zero, and a rank correlation is undefined).
    """

    method: str
    params: Mapping[str, Any]
    agent: str
    seed: int
    layers: tuple[str, ...]
    actor: tuple[float, ...]
    critic: tuple[float, ...]

    @property
    def fully_randomised(self) -> dict[str, float]:
        """Correlations once every layer is re-initialised (the check's headline numbers)."""
        return {"actor": self.actor[-1], "critic": self.critic[-1]}

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "method": self.method, "params": dict(self.params),
                "agent": self.agent, "seed": self.seed, "layers": list(self.layers),
                "actor": list(self.actor), "critic": list(self.critic)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RandomizationCheck:
        check_schema_version(data, SCHEMA_VERSION, "randomisation check", SaliencyError, "rerun the check.")
        return cls(data["method"], dict(data["params"]), data["agent"], int(data["seed"]),
                   tuple(data["layers"]), tuple(float(v) for v in data["actor"]),
                   tuple(float(v) for v in data["critic"]))


def spearman_per_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each frame's map in ``a`` with the same frame in ``b`` ([T])."""
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def randomisable_layers(agent: Agent) -> list[tuple[str, torch.nn.Module]]:
    """Modules that own parameters, from the output end to the input end (registration order reversed)."""
    layers = [(name, module) for name, module in agent.named_modules()
              if name and any(True for _ in module.parameters(recurse=False))]
    return layers[::-1]


def reinitialise(module: torch.nn.Module, seed: int) -> None:
    """PyTorch's default initialisation of ``module`` from ``seed`` alone (global RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            with torch.no_grad():
                for parameter in module.parameters(recurse=False):
                    parameter.normal_(0.0, float(parameter.std()) if parameter.numel() > 1 else 1.0)


def cascading_randomization(agent: Agent, frames: np.ndarray | torch.Tensor, method: str = "perturbation", *,
                            seed: int = 0, states: Sequence[Mapping[str, Any]] | None = None,
                            reference: SaliencyMap | None = None, **params: Any) -> RandomizationCheck:
    """Adebayo et al.'s cascading randomisation of ``agent`` for any saliency ``method``.

    The agent itself is not modified (a deep copy is randomised). ``reference`` may pass the
    trained agent's maps if already computed with the same method and parameters.
    """
    original = reference or saliency(agent, frames, method, states=states, **params)
    copy_ = copy.deepcopy(agent)
    layers = randomisable_layers(copy_)
    if not layers:
        raise SaliencyError(f"agent {agent.name!r} has no parameters to randomise (a control agent?); "
                            "the randomisation check needs a trained network.")
    actor, critic = [], []
    for step, (_, module) in enumerate(layers):
        reinitialise(module, seed * 1000 + step)
        randomised = saliency(copy_, frames, method, states=states, **params)
        actor.append(float(np.nanmean(spearman_per_frame(original.actor, randomised.actor)))
                     if _any_defined(original.actor, randomised.actor) else float("nan"))
        critic.append(float(np.nanmean(spearman_per_frame(original.critic, randomised.critic)))
                      if _any_defined(original.critic, randomised.critic) else float("nan"))
    return RandomizationCheck(method, dict(original.params), getattr(agent, "name", "agent"), seed,
                              tuple(name for name, _ in layers), tuple(actor), tuple(critic))


def _any_defined(a: np.ndarray, b: np.ndarray) -> bool:
    """True when some frame has non-constant maps in both (so a rank correlation exists)."""
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return bool(((flat_a.max(1) > flat_a.min(1)) & (flat_b.max(1) > flat_b.min(1))).any())
