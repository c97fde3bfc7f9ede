"""SmoothGrad (Smilkov et al. 2017), through Captum's ``NoiseTunnel`` over ``Saliency``.

The mean absolute input gradient over ``n_samples`` copies of the input with Gaussian noise of
standard deviation ``noise`` (in pixel units; 0.15 × 255 by default, the paper's 15 % of the
input range), reducing the speckle of raw gradients. Captum draws the noise from torch's global
RNG; cfsal forks and seeds it from ``seed`` so the map is reproducible and the caller's RNG
untouched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import (ActorHead, CriticHead, check_positive, evaluation, reduce_stack,
                                   require_captum, resolve_actions, seeded)



def smoothgrad(agent: Agent, frames: torch.Tensor, *, target: str = "action",
               actions: Sequence[int] | np.ndarray | None = None, n_samples: int = 25,
               noise: float = 0.15 * 255, seed: int = 0, reduce: str = "sum",
               batch_size: int = 100) -> tuple[torch.Tensor, torch.Tensor, dict]:
    attr = require_captum("smoothgrad")
    check_positive("n_samples", n_samples, integer=True)
    check_positive("noise", noise, allow_zero=True)
    check_positive("batch_size", batch_size, integer=True)
    with evaluation(agent):
        chosen = resolve_actions(agent, frames, target, actions)
        per_call = max(1, batch_size // max(1, len(frames)))
        with seeded(seed):
            actor = attr.NoiseTunnel(attr.Saliency(ActorHead(agent, summed=chosen is None))).attribute(
                frames, nt_type="smoothgrad", nt_samples=n_samples, nt_samples_batch_size=per_call,
                stdevs=float(noise), target=chosen, abs=True)
        with seeded(seed + 1):
            critic = attr.NoiseTunnel(attr.Saliency(CriticHead(agent))).attribute(
                frames, nt_type="smoothgrad", nt_samples=n_samples, nt_samples_batch_size=per_call,
                stdevs=float(noise), abs=True)
    details = {} if chosen is None else {"actions": chosen.tolist()}
    return reduce_stack(actor.detach(), reduce), reduce_stack(critic.detach(), reduce), details
