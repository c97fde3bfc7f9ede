"""Object saliency (Iyer et al. 2018, "Transparency and Explanation in Deep RL Neural Networks";
the seed paper's third map).

For every game object in a frame, remove it and see how much the agent's output moves. The
paper located objects by template matching and set their pixels to 0 (black) in all 4 stacked
frames; score = ‖L(I) − L(I_o)‖₂ with L the actor's logits, and |V(I) − V(I_o)| for the critic.
cfsal takes the objects from the Toybox state (:func:`cfsal.envs.objects.objects`), paints
every observation pixel the object's box touches, in all 4 frames, with ``fill``: 0 as in the
paper, or ``"background"`` for the game's background gray (which differs from 0 in pong).

The map paints each object's score over its box (the maximum where boxes overlap); the exact
per-object scores are in ``details["actor_scores"]`` / ``details["critic_scores"]`` (one dict
per frame). All objects of all frames go through the agent in batched forward passes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from cfsal.agents.base import Agent
from cfsal.envs.objects import BACKGROUND_GRAY, ObjectBox
from cfsal.saliency._utils import SaliencyError, check_positive, evaluation, forward, forward_chunks



def object_saliency(agent: Agent, frames: torch.Tensor, *, objects: Sequence[Mapping[str, ObjectBox]],
                    fill: float | str = 0.0, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Remove each object in turn → (actor, critic) [T, 84, 84] maps plus per-object scores."""
    check_positive("batch_size", batch_size, integer=True)
    if len(objects) != len(frames):
        raise SaliencyError(
            f"object saliency needs the objects of every frame: got {len(objects)} object sets for "
            f"{len(frames)} frames. Pass states=[env.get_toybox_state() for each frame] to saliency()."
        )
    value = _fill_value(agent.spec.game, fill)
    size = frames.shape[-1]
    names = [list(boxes) for boxes in objects]
    masks = [torch.stack([torch.as_tensor(boxes[n].obs_mask(size)) for n in frame_names])
             if frame_names else torch.zeros(0, size, size, dtype=torch.bool)
             for boxes, frame_names in zip(objects, names)]
    owner = torch.cat([torch.full((len(m),), t, dtype=torch.long) for t, m in enumerate(masks)])
    all_masks = torch.cat(masks) if len(owner) else torch.zeros(0, size, size, dtype=torch.bool)
    removed = torch.where(all_masks[:, None], torch.as_tensor(value, dtype=frames.dtype), frames[owner])
    with evaluation(agent):
        with torch.no_grad():
            base_logits, base_values = forward(agent, frames)
        logits, values = forward_chunks(agent, removed, batch_size)
    actor_scores = (logits - base_logits[owner]).norm(dim=-1)
    critic_scores = (values - base_values[owner]).abs()
    actor = torch.zeros(len(frames), size, size, dtype=frames.dtype)
    critic = torch.zeros_like(actor)
    zero = torch.zeros((), dtype=frames.dtype)
    for row in range(len(owner)):  # one row per object: paint its score over its box
        t, mask = owner[row], all_masks[row]
        actor[t] = torch.maximum(actor[t], torch.where(mask, actor_scores[row], zero))
        critic[t] = torch.maximum(critic[t], torch.where(mask, critic_scores[row], zero))
    details = {"actor_scores": [], "critic_scores": []}
    row = 0
    for frame_names in names:
        details["actor_scores"].append({n: float(actor_scores[row + i]) for i, n in enumerate(frame_names)})
        details["critic_scores"].append({n: float(critic_scores[row + i]) for i, n in enumerate(frame_names)})
        row += len(frame_names)
    return actor, critic, details


def _fill_value(game: str, fill: float | str) -> float:
    if fill == "background":
        return float(BACKGROUND_GRAY[game])
    if isinstance(fill, (int, float)) and 0 <= fill <= 255:
        return float(fill)
    raise SaliencyError(f"fill must be a gray level in [0, 255] (the paper used 0) or 'background', got {fill!r}")
