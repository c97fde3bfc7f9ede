"""RISE: randomized input sampling (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for
Explanation of Black-box Models").

N random masks: a ``cells × cells`` grid of Bernoulli(p) keep/drop cells, bilinearly upsampled to
``(cells + 1) · ⌈84 / cells⌉`` and cropped at a random shift to 84×84 (smooth, shifted masks as
in the paper). The input (all 4 stacked frames) is multiplied by each mask, and

    S(pixel) = 1 / (N · p) · Σ_n (F(x ⊙ M_n) − F̄) · M_n(pixel),

with F the probability of the chosen action (``target="action"``; RISE is defined on class
probabilities) or the value (critic). ``centre=True`` (default) subtracts the mean score F̄ over
the masks, a control variate: the expectation changes only by a constant, the Monte-Carlo noise
of uneven mask coverage disappears, and an agent that ignores its input gets exactly zero (the
null-control requirement). ``centre=False`` is the paper's uncentred estimator. Captum has no
RISE, so it is implemented here; masks come from a ``torch.Generator`` seeded with ``seed``, and
all masked inputs of a frame are batched.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cfsal.agents.base import Agent
from cfsal.saliency._utils import SaliencyError, check_positive, evaluation, forward_chunks, resolve_actions



def rise_masks(n_masks: int, cells: int, keep: float, size: int, seed: int) -> torch.Tensor:
    """``[n_masks, size, size]`` float64 RISE masks from ``seed`` alone."""
    generator = torch.Generator().manual_seed(int(seed))
    cell = math.ceil(size / cells)
    grid = (torch.rand(n_masks, 1, cells, cells, generator=generator, dtype=torch.float64) < keep).to(torch.float64)
    big = F.interpolate(grid, size=((cells + 1) * cell, (cells + 1) * cell), mode="bilinear",
                        align_corners=False)[:, 0]
    shift = torch.randint(0, cell, (n_masks, 2), generator=generator)
    rows = shift[:, 0, None] + torch.arange(size)[None]
    cols = shift[:, 1, None] + torch.arange(size)[None]
    return big[torch.arange(n_masks)[:, None, None], rows[:, :, None], cols[:, None, :]]


def rise(agent: Agent, frames: torch.Tensor, *, target: str = "action",
         actions: Sequence[int] | np.ndarray | None = None, n_masks: int = 500, cells: int = 8,
         keep: float = 0.5, seed: int = 0, centre: bool = True, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor, dict]:
    check_positive("n_masks", n_masks, integer=True)
    check_positive("cells", cells, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    if not 0 < keep <= 1:
        raise SaliencyError(f"keep (the probability a mask cell is kept) must be in (0, 1], got {keep!r}")
    if target == "sum":
        raise SaliencyError("RISE weights masks by a probability: use target='action' (the sum of a "
                            "softmax is always 1, so target='sum' would give a flat map)")
    size = frames.shape[-1]
    masks = rise_masks(n_masks, cells, keep, size, seed).to(frames.dtype)
    actor = torch.empty(len(frames), size, size, dtype=frames.dtype)
    critic = torch.empty_like(actor)
    with evaluation(agent):
        chosen = resolve_actions(agent, frames, target, actions)
        for t in range(len(frames)):
            masked = frames[t][None] * masks[:, None]
            logits, values = forward_chunks(agent, masked, batch_size)
            probs = torch.softmax(logits, dim=-1)[:, chosen[t]]
            actor[t] = torch.einsum("n,nhw->hw", _centred(probs, centre), masks) / (n_masks * keep)
            critic[t] = torch.einsum("n,nhw->hw", _centred(values, centre), masks) / (n_masks * keep)
    return actor, critic, {"actions": chosen.tolist()}


def _centred(scores: torch.Tensor, centre: bool) -> torch.Tensor:
    """Scores minus their mean, computed relative to the first so equal scores give exact zeros."""
    if not centre:
        return scores
    shifted = scores - scores[0]
    return shifted - shifted.mean()
