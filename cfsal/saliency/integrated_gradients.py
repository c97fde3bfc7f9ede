"""Integrated gradients (Sundararajan et al. 2017), through Captum.

Attribution of input pixel x_i: (x_i − x′_i) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x_i dα, with baseline x′
(a black frame stack, 0, by default) and F the chosen action's logit (``target="action"``), the
sum of logits (``target="sum"``), or the value (critic). Its *completeness* (attributions sum
to F(x) − F(x′)) is what tests check it against. Maps are |Σ over the frame stack| by default
(``reduce``); pass ``reduce="sum"`` for signed maps.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import (ActorHead, CriticHead, check_positive, evaluation, reduce_stack,
                                   require_captum, resolve_actions)



def integrated_gradients(agent: Agent, frames: torch.Tensor, *, target: str = "action",
                         actions: Sequence[int] | np.ndarray | None = None, baseline: float = 0.0,
                         n_steps: int = 50, reduce: str = "abs_sum",
                         internal_batch_size: int = 200) -> tuple[torch.Tensor, torch.Tensor, dict]:
    attr = require_captum("integrated_gradients")
    check_positive("n_steps", n_steps, integer=True)
    check_positive("internal_batch_size", internal_batch_size, integer=True)
    with evaluation(agent):
        chosen = resolve_actions(agent, frames, target, actions)
        actor = attr.IntegratedGradients(ActorHead(agent, summed=chosen is None)).attribute(
            frames, baselines=float(baseline), target=chosen, n_steps=n_steps,
            internal_batch_size=internal_batch_size)
        critic = attr.IntegratedGradients(CriticHead(agent)).attribute(
            frames, baselines=float(baseline), n_steps=n_steps, internal_batch_size=internal_batch_size)
    details = {} if chosen is None else {"actions": chosen.tolist()}
    return reduce_stack(actor.detach(), reduce), reduce_stack(critic.detach(), reduce), details
