"""Gradient × input (Shrikumar et al. 2016), through Captum's ``InputXGradient``.

Attribution x_i · ∂F/∂x_i, with F the chosen action's logit / the sum of logits (actor) or the
value (critic). Inputs are in the 0–255 pixel scale the agent receives, so black pixels get no
attribution whatever the gradient: a known blind spot of this method on Atari frames.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import ActorHead, CriticHead, evaluation, reduce_stack, require_captum, resolve_actions



def gradient_x_input(agent: Agent, frames: torch.Tensor, *, target: str = "action",
                     actions: Sequence[int] | np.ndarray | None = None,
                     reduce: str = "abs_sum") -> tuple[torch.Tensor, torch.Tensor, dict]:
    attr = require_captum("gradient_x_input")
    with evaluation(agent):
        chosen = resolve_actions(agent, frames, target, actions)
        inputs = frames.clone().requires_grad_(True)
        actor = attr.InputXGradient(ActorHead(agent, summed=chosen is None)).attribute(inputs, target=chosen)
        critic = attr.InputXGradient(CriticHead(agent)).attribute(inputs)
    details = {} if chosen is None else {"actions": chosen.tolist()}
    return reduce_stack(actor.detach(), reduce), reduce_stack(critic.detach(), reduce), details
