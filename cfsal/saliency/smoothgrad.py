"""SmoothGrad (Smilkov et al. 2017), through Captum's ``NoiseTunnel`` over ``Saliency``.

The mean absolute input gradient over ``n_samples`` copies of the input with Gaussian noise of
standard deviation ``noise`` (in pixel units; 0.15 × 255 by default, the paper's 15 % of the
input range), reducing the speckle of raw gradients. Captum draws the noise from torch's global
RNG for a whole call; cfsal calls it once per frame, forked and seeded from ``seed`` and the frame's
pixels, so a frame's map is reproducible, the same alone or in any batch, and the caller's RNG is
untouched.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import (ActorHead, CriticHead, check_positive, evaluation, reduce_stack,
                                   require_captum, resolve_actions, seeded)


def frame_seed(seed: int, frame: torch.Tensor) -> int:
    """A seed drawn from ``seed`` and the frame's pixels alone (not its place in a batch)."""
    digest = hashlib.blake2b(frame.detach().cpu().contiguous().numpy().tobytes(), digest_size=8).digest()
    return int(np.random.SeedSequence([int(seed) % 2**63, int.from_bytes(digest, "little")]).generate_state(1)[0])


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
        actor_tunnel = attr.NoiseTunnel(attr.Saliency(ActorHead(agent, summed=chosen is None)))
        critic_tunnel = attr.NoiseTunnel(attr.Saliency(CriticHead(agent)))
        actor, critic = [], []
        for t in range(len(frames)):  # one call per frame: its noise depends on the seed and the frame only
            frame = frames[t:t + 1]
            with seeded(frame_seed(seed, frame)):
                actor.append(actor_tunnel.attribute(
                    frame, nt_type="smoothgrad", nt_samples=n_samples, nt_samples_batch_size=batch_size,
                    stdevs=float(noise), target=None if chosen is None else chosen[t:t + 1], abs=True))
            with seeded(frame_seed(seed + 1, frame)):
                critic.append(critic_tunnel.attribute(
                    frame, nt_type="smoothgrad", nt_samples=n_samples, nt_samples_batch_size=batch_size,
                    stdevs=float(noise), abs=True))
    details = {} if chosen is None else {"actions": chosen.tolist()}
    return (reduce_stack(torch.cat(actor).detach(), reduce), reduce_stack(torch.cat(critic).detach(), reduce),
            details)
