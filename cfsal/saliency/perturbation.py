"""Perturbation saliency (Greydanus et al. 2018, "Visualizing and Understanding Atari Agents"),
the seed paper's main map, computed batched.

Definition (the paper's code, ``saliency.py``/``score_frame``):

1. For each grid centre (i, j) ∈ {0, d, 2d, …} × {0, d, 2d, …} below 84, the mask M_ij is the
   one-pixel circle ``x² + y² ≤ 1`` around (i, j), blurred by a Gaussian of σ = r
   (``scipy.ndimage.gaussian_filter``, reflecting borders), divided by its maximum.
2. Each of the 4 stacked frames is blended with its own Gaussian-blurred (σ = 3) copy under the
   mask: I′ = I·(1 − M) + blur(I)·M.
3. S(i, j) = ½‖L(I) − L(I′)‖² with L the actor's logits (actor map) or the critic's value
   (critic map), stored at grid cell (i/d, j/d) of an ``(int(84/d) + 1)²`` grid (cells with no
   centre, which exist when d divides 84, stay 0 as in the paper).
4. The grid is bilinearly resized to 84×84 and rescaled so its maximum equals the grid's raw
   maximum.

The paper's ``scipy.misc.imresize`` also byte-scaled the grid (subtracting its minimum and
quantising to 8 bits) before step 4's rescale; ``imresize_min=True`` reproduces the min
subtraction (without the 8-bit rounding). The default follows the definition above.

Batching: masks are built once per (r, d) and cached; the blurred frames are computed once per
frame; all perturbed inputs I + M·(blur(I) − I) of a chunk of frames × masks go through the
agent in one forward pass. :func:`perturbation_per_mask` is the direct, unbatched form of the
same formula (one mask, one frame, one forward pass at a time, blurring with scipy), kept as
the reference that tests and the benchmark compare against.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from cfsal.agents.base import Agent
from cfsal.saliency._utils import SCREEN, blur, blur_matrix, check_positive, evaluation, forward


def grid_centres(density: int, size: int = SCREEN) -> np.ndarray:
    """Mask centres along one axis: 0, d, 2d, … < size (the paper's ``range(0, 84, d)``)."""
    return np.arange(0, size, density)


def grid_size(density: int, size: int = SCREEN) -> int:
    """Side of the score grid, ``int(size / d) + 1`` as in the paper."""
    return int(size / density) + 1


@lru_cache(maxsize=8)
def perturbation_masks(radius: float, density: int, size: int = SCREEN) -> np.ndarray:
    """All masks ``[K, size, size]`` (float64, each max 1), row-major over the grid centres.

    Each is a one-pixel circle blurred with σ = ``radius``: the blur is separable and linear,
    so every mask is ``G @ circle @ Gᵀ`` with scipy's own filter as the matrix G.
    """
    centres = grid_centres(density, size)
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    grid = np.arange(size)
    dy = grid[None, :, None] - ys.reshape(-1)[:, None, None]
    dx = grid[None, None, :] - xs.reshape(-1)[:, None, None]
    circles = (dy * dy + dx * dx <= 1).astype(np.float64)
    g = torch.tensor(blur_matrix(size, float(radius)))
    masks = (g @ torch.as_tensor(circles) @ g.T).numpy()
    masks /= masks.max(axis=(1, 2), keepdims=True)
    masks.flags.writeable = False
    return masks


@lru_cache(maxsize=8)
def _masks(radius: float, density: int, size: int, dtype: torch.dtype) -> torch.Tensor:
    """The masks as a tensor in the agent's dtype (cached: built once per setting)."""
    return torch.tensor(perturbation_masks(float(radius), int(density), size), dtype=dtype)


def paper_mask(centre: tuple[int, int], radius: float, size: int = SCREEN) -> np.ndarray:
    """One mask exactly as the paper's ``get_mask`` builds it (scipy, no matrices)."""
    y, x = np.ogrid[-centre[0]:size - centre[0], -centre[1]:size - centre[1]]
    mask = np.zeros((size, size))
    mask[x * x + y * y <= 1] = 1.0
    mask = gaussian_filter(mask, sigma=radius)
    return mask / mask.max()


def upsample(grid: torch.Tensor, size: int = SCREEN, *, imresize_min: bool = False) -> torch.Tensor:
    """[T, g, g] score grids → [T, size, size] maps: bilinear, rescaled so max = the grid's raw max."""
    raw_max = grid.amax(dim=(1, 2), keepdim=True)
    if imresize_min:
        grid = grid - grid.amin(dim=(1, 2), keepdim=True)
    maps = F.interpolate(grid[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    up_max = maps.amax(dim=(1, 2), keepdim=True)
    scale = torch.where(up_max > 0, raw_max / torch.where(up_max > 0, up_max, 1.0), torch.zeros_like(up_max))
    return maps * scale


def _scatter(scores: torch.Tensor, density: int) -> torch.Tensor:
    """[T, n_centres²] scores → [T, g, g] grid with the paper's (i/d, j/d) placement."""
    n = len(grid_centres(density))
    g = grid_size(density)
    grid = torch.zeros(scores.shape[0], g, g, dtype=scores.dtype)
    grid[:, :n, :n] = scores.reshape(-1, n, n)
    return grid


def perturbation(agent: Agent, frames: torch.Tensor, *, radius: float = 5.0, density: int = 5,
                 blur_sigma: float = 3.0, batch_size: int = 128,
                 imresize_min: bool = False) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Batched perturbation saliency of ``frames`` [T, 4, 84, 84] → (actor, critic) [T, 84, 84].

    ``batch_size`` bounds the perturbed inputs per forward pass; 128 keeps each batch in cache
    (on a laptop CPU larger batches were no faster per input, and cost memory).
    """
    check_positive("radius", radius)
    check_positive("density", density, integer=True)
    check_positive("blur_sigma", blur_sigma)
    check_positive("batch_size", batch_size, integer=True)
    dtype = frames.dtype
    masks = _masks(radius, density, frames.shape[-1], dtype)
    n_masks = len(masks)
    delta = blur(frames, blur_sigma) - frames  # I' = I + M·(blur(I) − I)  ==  I·(1−M) + blur(I)·M
    actor_scores = torch.empty(len(frames), n_masks, dtype=dtype)
    critic_scores = torch.empty(len(frames), n_masks, dtype=dtype)
    with evaluation(agent), torch.no_grad():
        base_logits, base_values = forward(agent, frames)
        for t, k in _blocks(len(frames), n_masks, batch_size):
            # [frames, masks, stack, H, W] built by broadcasting: no gathered copies of frames or masks.
            perturbed = torch.addcmul(frames[t, None], masks[None, k, None], delta[t, None])
            logits, values = forward(agent, perturbed.reshape(-1, *frames.shape[1:]))
            logits = logits.reshape(perturbed.shape[0], perturbed.shape[1], -1)
            values = values.reshape(perturbed.shape[0], perturbed.shape[1])
            actor_scores[t, k] = 0.5 * (logits - base_logits[t, None]).pow(2).sum(dim=-1)
            critic_scores[t, k] = 0.5 * (values - base_values[t, None]).pow(2)
    actor = upsample(_scatter(actor_scores, density), frames.shape[-1], imresize_min=imresize_min)
    critic = upsample(_scatter(critic_scores, density), frames.shape[-1], imresize_min=imresize_min)
    return actor, critic, {}


def _blocks(n_frames: int, n_masks: int, batch_size: int) -> list[tuple[slice, slice]]:
    """(frames, masks) slices of at most ``batch_size`` perturbed inputs: whole frames when
    several fit in a batch, otherwise runs of masks within one frame."""
    if batch_size >= n_masks:
        per = batch_size // n_masks
        return [(slice(t, min(t + per, n_frames)), slice(0, n_masks)) for t in range(0, n_frames, per)]
    n_chunks = -(-n_masks // batch_size)
    chunk = -(-n_masks // n_chunks)  # equal-sized runs: 289 masks at batch 128 → 3 × 97, not 128+128+33
    return [(slice(t, t + 1), slice(k, min(k + chunk, n_masks)))
            for t in range(n_frames) for k in range(0, n_masks, chunk)]


def perturbed_inputs(frames: torch.Tensor, *, radius: float = 5.0, density: int = 5,
                     blur_sigma: float = 3.0) -> torch.Tensor:
    """Every perturbed input of :func:`perturbation`, ``[T, K, 4, 84, 84]`` (for benchmarks)."""
    masks = _masks(radius, density, frames.shape[-1], frames.dtype)
    delta = blur(frames, blur_sigma) - frames
    return torch.addcmul(frames[:, None], masks[None, :, None], delta[:, None])


def bare_forwards(agent: Agent, inputs: torch.Tensor, batch_size: int = 128) -> None:
    """Only the forward passes :func:`perturbation` makes, over prebuilt ``[T, K, …]`` inputs and
    in the same batches: the floor its running time is measured against."""
    with evaluation(agent), torch.no_grad():
        forward(agent, inputs[:, 0])
        for t, k in _blocks(inputs.shape[0], inputs.shape[1], batch_size):
            forward(agent, inputs[t, k].reshape(-1, *inputs.shape[2:]))


def perturbation_per_mask(agent: Agent, frames: torch.Tensor, *, radius: float = 5.0, density: int = 5,
                          blur_sigma: float = 3.0,
                          imresize_min: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's formula computed directly: per frame, per mask, blur with scipy, one forward.

    Slow on purpose: it is the reference :func:`perturbation` must equal, written as the paper's
    loop (``get_mask``, ``I·(1−M) + gaussian_filter(I, σ)·M`` per stacked frame, one model call
    per mask).
    """
    size = frames.shape[-1]
    g = grid_size(density)
    actor = torch.zeros(len(frames), g, g, dtype=torch.float64)
    critic = torch.zeros(len(frames), g, g, dtype=torch.float64)
    with evaluation(agent), torch.no_grad():
        for t, stack in enumerate(frames):
            image = stack.to(torch.float64).numpy()
            base_logits, base_value = forward(agent, stack[None])
            for i in grid_centres(density, size):
                for j in grid_centres(density, size):
                    mask = paper_mask((int(i), int(j)), radius, size)
                    perturbed = np.stack([frame * (1 - mask) + gaussian_filter(frame, sigma=blur_sigma) * mask
                                          for frame in image])
                    logits, value = forward(agent, torch.as_tensor(perturbed, dtype=frames.dtype)[None])
                    actor[t, i // density, j // density] = 0.5 * (base_logits - logits).pow(2).sum().double()
                    critic[t, i // density, j // density] = 0.5 * (base_value - value).pow(2).sum().double()
    return (upsample(actor, size, imresize_min=imresize_min).to(frames.dtype),
            upsample(critic, size, imresize_min=imresize_min).to(frames.dtype))
