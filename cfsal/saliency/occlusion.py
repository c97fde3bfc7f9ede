"""Occlusion (Zeiler & Fergus 2014), through Captum's ``Occlusion``.

A ``window × window`` patch, through all 4 stacked frames, is set to ``baseline`` (0, black) at
every ``stride`` step; a pixel's attribution is the mean drop F(x) − F(x_occluded) over the
windows that cover it, with F the chosen action's logit / the sum of logits (actor) or the
value (critic). The hard-edged cousin of perturbation saliency; maps are |·| by default.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import (ActorHead, CriticHead, check_positive, evaluation, reduce_stack,
                                   require_captum, resolve_actions)



def occlusion(agent: Agent, frames: torch.Tensor, *, target: str = "action",
              actions: Sequence[int] | np.ndarray | None = None, window: int = 8, stride: int = 4,
              baseline: float = 0.0, reduce: str = "abs_newest",
              batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor, dict]:
    attr = require_captum("occlusion")
    check_positive("window", window, integer=True)
    check_positive("stride", stride, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    stack = frames.shape[1]
    shape, strides = (stack, window, window), (stack, stride, stride)
    with evaluation(agent), torch.no_grad():
        chosen = resolve_actions(agent, frames, target, actions)
        actor = attr.Occlusion(ActorHead(agent, summed=chosen is None)).attribute(
            frames, sliding_window_shapes=shape, strides=strides, baselines=float(baseline), target=chosen,
            perturbations_per_eval=batch_size)
        critic = attr.Occlusion(CriticHead(agent)).attribute(
            frames, sliding_window_shapes=shape, strides=strides, baselines=float(baseline),
            perturbations_per_eval=batch_size)
    details = {} if chosen is None else {"actions": chosen.tolist()}
    # The window spans the whole stack, so every stacked frame carries the same attribution.
    return reduce_stack(actor.detach(), reduce), reduce_stack(critic.detach(), reduce), details
