"""Plumbing shared by the saliency methods: frames in, heads out, blurs, targets, reductions.

Kept small on purpose (as Captum's ``_utils``): each method file reads top to bottom and calls
only these helpers.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from cfsal.agents.base import Agent
from cfsal.errors import CfsalError

SCREEN = 84


class SaliencyError(CfsalError, ValueError):
    """Bad saliency parameters or inputs (an unknown method, a wrong frame shape, …)."""


def agent_dtype(agent: Agent) -> torch.dtype:
    """The floating dtype the agent computes in (float32 unless someone called ``.double()``)."""
    for tensor in list(agent.parameters()) + list(agent.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def as_frames(agent: Agent, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Stacked observations as a ``[T, stack, 84, 84]`` tensor in the agent's dtype, 0–255 scale.

    One stack ``[stack, 84, 84]`` becomes ``T = 1``. Saliency never edits its input in place.
    """
    tensor = torch.as_tensor(np.ascontiguousarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    expected = tuple(agent.spec.observation.shape)
    if tensor.ndim != 4 or tuple(tensor.shape[1:]) != expected:
        raise SaliencyError(
            f"frames must be one observation {list(expected)} or a batch [T, {', '.join(map(str, expected))}] "
            f"(frame stack, height, width; newest frame last), got shape {list(tensor.shape)}. "
            f"Pass env.observation, or np.stack of several."
        )
    return tensor.detach().to(agent_dtype(agent)).clone()


@contextlib.contextmanager
def evaluation(agent: Agent) -> Iterator[Agent]:
    """Run with the agent in eval mode (no dropout/batch-norm updates), restoring its mode after."""
    was_training = agent.training
    agent.eval()
    try:
        yield agent
    finally:
        agent.train(was_training)


def forward(agent: Agent, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``agent(batch)`` → (logits [B, A], value [B]); the raw module call, so dtypes are kept."""
    logits, value = agent(batch)
    return logits, value.reshape(-1)


def forward_chunks(agent: Agent, batch: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward a large batch in chunks of ``chunk`` rows, without gradients."""
    logits, values = [], []
    with torch.no_grad():
        for start in range(0, len(batch), chunk):
            lo, va = forward(agent, batch[start:start + chunk])
            logits.append(lo)
            values.append(va)
    return torch.cat(logits), torch.cat(values)


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if not ok or (value < 0 if allow_zero else value <= 0):
        kind = "an integer" if integer else "a number"
        bound = "≥ 0" if allow_zero else "> 0"
        raise SaliencyError(f"{name} must be {kind} {bound}, got {value!r}")


# -- Gaussian blur exactly as scipy.ndimage.gaussian_filter ('reflect' borders, truncate 4) ------
@lru_cache(maxsize=32)
def blur_matrix(size: int, sigma: float) -> np.ndarray:
    """[size, size] matrix G with ``G @ x == scipy.ndimage.gaussian_filter1d(x, sigma)``.

    A Gaussian blur with reflecting borders is linear, so one matrix per axis reproduces
    scipy's filter (which the paper's code called per mask and per frame) as two matmuls, and
    lets all masks and frames be blurred in one batched operation.
    """
    matrix = gaussian_filter1d(np.eye(size), sigma, axis=0, mode="reflect")
    matrix.flags.writeable = False
    return matrix


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur the last two axes of ``images`` like ``scipy.ndimage.gaussian_filter(·, sigma)``."""
    rows = torch.tensor(blur_matrix(images.shape[-2], float(sigma)), dtype=images.dtype)
    cols = torch.tensor(blur_matrix(images.shape[-1], float(sigma)), dtype=images.dtype)
    return rows @ images @ cols.T


# -- targets and reductions for gradient-based methods --------------------------------------------
TARGETS = ("action", "sum")


def resolve_actions(agent: Agent, frames: torch.Tensor, target: str,
                    actions: Sequence[int] | np.ndarray | None) -> torch.Tensor | None:
    """Per-frame action indices for ``target="action"`` (given, else the greedy action); None for "sum"."""
    if target not in TARGETS:
        raise SaliencyError(f"target must be one of {TARGETS} ('action': the logit of the chosen action; "
                            f"'sum': the sum of all logits, as the paper's Jacobian), got {target!r}")
    if target == "sum":
        return None
    if actions is None:
        with torch.no_grad():
            logits, _ = forward(agent, frames)
        return logits.argmax(dim=-1)
    chosen = torch.as_tensor(np.asarray(actions), dtype=torch.long).reshape(-1)
    n_actions = agent.spec.n_actions
    if len(chosen) != len(frames) or (chosen < 0).any() or (chosen >= n_actions).any():
        raise SaliencyError(f"actions must hold one index in [0, {n_actions}) per frame ({len(frames)} frames), "
                            f"got {np.asarray(actions).tolist()}")
    return chosen


def actor_scalar(logits: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
    """One scalar per row: the chosen action's logit, or the sum of the logits."""
    if actions is None:
        return logits.sum(dim=-1)
    return logits.gather(1, actions.reshape(-1, 1)).squeeze(1)


REDUCTIONS = ("abs_sum", "sum", "newest", "abs_newest")


def reduce_stack(attribution: torch.Tensor, how: str) -> torch.Tensor:
    """[T, stack, H, W] attributions → [T, H, W] maps.

    ``abs_sum`` (default for signed attributions): |sum over the frame stack|, a magnitude map
    whose region masses add up; ``sum``: signed sum; ``newest``/``abs_newest``: the newest frame
    only (the one the agent sees now; the paper's choice for its Jacobian).
    """
    if how == "abs_sum":
        return attribution.sum(dim=1).abs()
    if how == "sum":
        return attribution.sum(dim=1)
    if how == "newest":
        return attribution[:, -1]
    if how == "abs_newest":
        return attribution[:, -1].abs()
    raise SaliencyError(f"reduce must be one of {REDUCTIONS}, got {how!r}")


def to_numpy_maps(maps: torch.Tensor) -> np.ndarray:
    """[T, H, W] tensor → float32 numpy array."""
    return maps.detach().to(torch.float64).cpu().numpy().astype(np.float32)


def require_captum(method: str) -> Any:
    """Import Captum's attribution package, or say how to get it."""
    try:
        import captum.attr as attr  # an optional extra (cfsal[attribution]), needed by four methods only
    except ImportError:
        raise SaliencyError(
            f"saliency method {method!r} uses Captum (the maintained PyTorch attribution library), "
            "which is not installed: `pip install 'cfsal[attribution]'` (or `pip install captum`)."
        ) from None
    return attr


class ActorHead(torch.nn.Module):
    """The agent's actor as a Captum forward function: logits [B, A], or their sum [B]."""

    def __init__(self, agent: Agent, summed: bool) -> None:
        super().__init__()
        self.agent = agent
        self.summed = summed

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        logits, _ = forward(self.agent, obs)
        return logits.sum(dim=-1) if self.summed else logits


class CriticHead(torch.nn.Module):
    """The agent's critic as a Captum forward function: value [B]."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return forward(self.agent, obs)[1]


def seeded(seed: int) -> contextlib.AbstractContextManager:
    """Torch's global RNG forked and seeded for a library (Captum) that draws from it.

    cfsal never relies on the global RNG: the previous state is restored on exit, so the
    caller's random stream is untouched and the result depends only on ``seed``.
    """

    @contextlib.contextmanager
    def _ctx() -> Iterator[None]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            yield

    return _ctx()
