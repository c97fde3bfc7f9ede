"""Networks: the Nature-CNN actor-critic of the paper's A2C agents, and control agents.

The layout is baselines' ``cnn`` policy (Mnih et al. 2015): conv 32×8×8/4, 64×4×4/2, 64×3×3/1,
fc 512, with a policy head and a value head on the shared trunk. It is also exactly
stable-baselines3's ``CnnPolicy`` for A2C/PPO, so SB3 weights load into it key for key.
"""

from __future__ import annotations

import torch
from torch import nn

from cfsal.agents.base import Agent, AgentSpec

NATURE_CNN = "nature_cnn_actor_critic"


def _trunk(in_channels: int, flat: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(flat, 512), nn.ReLU(),
    )


def _flat_size(shape: tuple[int, int, int]) -> int:
    _, h, w = shape
    for kernel, stride in ((8, 4), (4, 2), (3, 1)):
        h, w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    if h < 1 or w < 1:
        raise ValueError(f"observation shape {shape} is too small for the Nature CNN (needs ≥ 36×36)")
    return 64 * h * w


class NatureActorCritic(Agent):
    """Nature-CNN actor-critic on 0–255 float inputs (divided by 255 inside, as SB3 does)."""

    architecture = NATURE_CNN
    traceable = True

    def __init__(self, spec: AgentSpec, name: str = "nature-cnn") -> None:
        super().__init__(spec, name)
        shape = tuple(spec.observation.shape)
        self.trunk = _trunk(shape[0], _flat_size(shape))
        self.policy_head = nn.Linear(512, spec.n_actions)
        self.value_head = nn.Linear(512, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(obs / 255.0)
        return self.policy_head(features), self.value_head(features).squeeze(-1)


def sb3_key_map() -> dict[str, str]:
    """SB3 ``ActorCriticCnnPolicy`` state-dict keys → :class:`NatureActorCritic` keys."""
    mapping = {}
    for sb3_index, ours in ((0, 0), (2, 2), (4, 4)):
        for kind in ("weight", "bias"):
            mapping[f"features_extractor.cnn.{sb3_index}.{kind}"] = f"trunk.{ours}.{kind}"
    for kind in ("weight", "bias"):
        mapping[f"features_extractor.linear.0.{kind}"] = f"trunk.7.{kind}"
        mapping[f"action_net.{kind}"] = f"policy_head.{kind}"
        mapping[f"value_net.{kind}"] = f"value_head.{kind}"
    return mapping


class ConstantAgent(Agent):
    """Null control: always prefers one action, whatever it sees.

    Its logits do not depend on the input (gradients are exactly zero, perturbations change
    nothing), so any hypothesis claiming it reacts to something must not be supported.
    """

    architecture = "constant"
    ignores_observation = True

    def __init__(self, spec: AgentSpec, action: int = 0, confidence: float = 20.0,
                 name: str = "constant") -> None:
        super().__init__(spec, name)
        if not 0 <= action < spec.n_actions:
            raise ValueError(f"constant action {action} is not in [0, {spec.n_actions}) for {spec.game}")
        logits = torch.zeros(spec.n_actions)
        logits[action] = confidence
        self.register_buffer("logits", logits)
        self.action = action

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = obs.flatten(1).sum(dim=1, keepdim=True) * 0.0  # keeps the autograd graph alive
        return self.logits.expand(obs.shape[0], -1) + zero, zero.squeeze(-1)


class UniformRandomAgent(Agent):
    """Null control: a uniform policy over the game's actions and a zero value, input ignored."""

    architecture = "uniform_random"
    ignores_observation = True

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = obs.flatten(1).sum(dim=1, keepdim=True) * 0.0
        return torch.zeros(obs.shape[0], self.spec.n_actions) + zero, zero.squeeze(-1)
