"""Jacobian saliency (Simonyan et al. 2014; the seed paper's second map).

The paper's baselines fork computed, inside the model, the gradient of the *sum of the actor's
logits* (actor map) or of the value (critic map) with respect to the input, and showed its
square on the most recent frame of the stack: ``target="sum"``, ``frame="newest"`` (the
defaults). cfsal's version can take the chosen action's logit instead:
``target="action"`` uses the logit of ``actions[t]`` (or of the greedy action when none are
given). ``frame="all"`` sums the squared gradients over the whole stack.

All frames go through one forward and two backward passes (one per head): rows of a batch are
independent, so the gradient of the batch sum gives each row its own gradient.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.saliency._utils import SaliencyError, actor_scalar, evaluation, forward, resolve_actions



def jacobian(agent: Agent, frames: torch.Tensor, *, target: str = "sum", frame: str = "newest",
             actions: Sequence[int] | np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Squared input gradients of the actor target and of the value → (actor, critic) [T, 84, 84]."""
    if frame not in ("newest", "all"):
        raise SaliencyError(f"frame must be 'newest' (the paper's) or 'all', got {frame!r}")
    with evaluation(agent):
        chosen = resolve_actions(agent, frames, target, actions)
        inputs = frames.clone().requires_grad_(True)
        logits, values = forward(agent, inputs)
        (actor_grad,) = torch.autograd.grad(actor_scalar(logits, chosen).sum(), inputs, retain_graph=True)
        (critic_grad,) = torch.autograd.grad(values.sum(), inputs)
    details = {} if chosen is None else {"actions": chosen.tolist()}
    return _square(actor_grad, frame), _square(critic_grad, frame), details


def _square(gradient: torch.Tensor, frame: str) -> torch.Tensor:
    squared = gradient.detach().pow(2)
    return squared[:, -1] if frame == "newest" else squared.sum(dim=1)
