"""Networks: the Nature-CNN actor-critic of the paper's A2C agents, and control agents.

The layout is baselines' ``cnn`` policy (Mnih et al. 2015): conv 32×8×8/4, 64×4×4/2, 64×3×3/1,
fc 512, with a policy head and a value head on the shared trunk. It is also exactly
stable-baselines3's ``CnnPolicy`` for A2C/PPO and CleanRL's ``ppo_atari`` ``Agent``, so their weights
load into it key for key (:func:`sb3_key_map`, :func:`cleanrl_key_map`); an SB3 policy trained with
``share_features_extractor=False`` loads into :class:`UnsharedNatureActorCritic`.
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


class UnsharedNatureActorCritic(Agent):
    """Two Nature-CNN trunks, one under the policy head and one under the value head.

    What an SB3 ``CnnPolicy`` trained with ``share_features_extractor=False`` computes: the actions
    come from ``pi_features_extractor``, the value from ``vf_features_extractor``. Inputs as
    :class:`NatureActorCritic` (0–255 floats, divided by 255 inside).
    """

    architecture = "nature_cnn_actor_critic_unshared"
    traceable = True

    def __init__(self, spec: AgentSpec, name: str = "nature-cnn-unshared") -> None:
        super().__init__(spec, name)
        shape = tuple(spec.observation.shape)
        self.policy_trunk = _trunk(shape[0], _flat_size(shape))
        self.value_trunk = _trunk(shape[0], _flat_size(shape))
        self.policy_head = nn.Linear(512, spec.n_actions)
        self.value_head = nn.Linear(512, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = obs / 255.0
        return self.policy_head(self.policy_trunk(scaled)), self.value_head(self.value_trunk(scaled)).squeeze(-1)


#: The Nature CNN's weighted layers: their index in our ``trunk`` → their name in SB3's ``NatureCNN``.
#: CleanRL's ``network`` is the same ``nn.Sequential`` as our trunk, so its indices are ours.
_SB3_TRUNK_LAYERS = {"0": "cnn.0", "2": "cnn.2", "4": "cnn.4", "7": "linear.0"}
_CLEANRL_TRUNK_LAYERS = {ours: ours for ours in _SB3_TRUNK_LAYERS}


def _key_map(trunks: dict[str, str], layers: dict[str, str], heads: dict[str, str]) -> dict[str, str]:
    """Their state-dict keys → ours, for trunks (their prefix → ours), trunk layers and heads."""
    mapping = {}
    for theirs_prefix, ours_prefix in trunks.items():
        for ours, theirs in layers.items():
            for kind in ("weight", "bias"):
                mapping[f"{theirs_prefix}.{theirs}.{kind}"] = f"{ours_prefix}.{ours}.{kind}"
    for theirs, ours in heads.items():
        for kind in ("weight", "bias"):
            mapping[f"{theirs}.{kind}"] = f"{ours}.{kind}"
    return mapping


def sb3_key_map() -> dict[str, str]:
    """SB3 ``ActorCriticCnnPolicy`` state-dict keys → :class:`NatureActorCritic` keys.

    SB3 also saves ``pi_features_extractor.*`` and ``vf_features_extractor.*``: aliases of
    ``features_extractor`` when the extractor is shared (the default), see :func:`sb3_unshared_key_map`.
    """
    return _key_map({"features_extractor": "trunk"}, _SB3_TRUNK_LAYERS,
                    {"action_net": "policy_head", "value_net": "value_head"})


def sb3_unshared_key_map() -> dict[str, str]:
    """SB3 ``CnnPolicy`` keys with ``share_features_extractor=False`` → :class:`UnsharedNatureActorCritic` keys."""
    return _key_map({"pi_features_extractor": "policy_trunk", "vf_features_extractor": "value_trunk"},
                    _SB3_TRUNK_LAYERS, {"action_net": "policy_head", "value_net": "value_head"})


def cleanrl_key_map() -> dict[str, str]:
    """CleanRL ``ppo_atari.py`` ``Agent`` state-dict keys → :class:`NatureActorCritic` keys.

    CleanRL's ``network`` is the same ``nn.Sequential`` as our trunk (conv, ReLU ×3, Flatten,
    Linear, ReLU), so the indices coincide; ``actor`` and ``critic`` are the heads.
    """
    return _key_map({"network": "trunk"}, _CLEANRL_TRUNK_LAYERS, {"actor": "policy_head", "critic": "value_head"})


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
