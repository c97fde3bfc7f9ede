"""Object saliency (Iyer et al. 2018, "Transparency and Explanation in Deep RL Neural Networks";
the seed paper's third map).

For every game object in a frame, remove it and see how much the agent's output moves. The
paper located objects by template matching and set their pixels to 0 (black) in each of the 4
stacked frames where the object was; score = ‖L(I) − L(I_o)‖₂ with L the actor's logits, and
|V(I) − V(I_o)| for the critic. cfsal takes the objects from the game state
(:func:`cfsal.envs.objects.objects`) and paints every observation pixel the object's box touches
with ``fill``: 0 as in the paper, or ``"background"`` for the game's background gray (which
differs from 0 in pong).

A stacked observation shows a moving object at four places. Given the object boxes of each stacked
frame (``objects[t]`` a sequence of box sets, oldest first), the object is removed from every frame
where it was, at the place it was; given one box set per observation (its newest frame's), its
current box is painted into all four frames, which leaves older images of a moving object in
place. :func:`stacked` builds the per-frame box sets from an episode's consecutive states.

The map paints each object's score over its current box (the maximum where boxes overlap); the
exact per-object scores are in ``details["actor_scores"]`` / ``details["critic_scores"]`` (one dict
per frame). All objects of all frames go through the agent in batched forward passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from cfsal.agents.base import Agent
from cfsal.envs.objects import BACKGROUND_GRAY, ObjectBox
from cfsal.saliency._utils import SaliencyError, check_positive, evaluation, forward

BoxSet = Mapping[str, ObjectBox]


def stacked(sequence: Sequence, depth: int = 4) -> list[list]:
    """For consecutive frames of one episode, each frame's last ``depth`` items (oldest first).

    ``stacked(states)`` gives what :func:`cfsal.saliency.saliency` takes as ``states`` to remove
    moving objects from every stacked frame. The first frames of an episode get fewer items: their
    older stacked frames were blank (the stack starts as zeros), so nothing is removed there.
    """
    items = list(sequence)
    return [items[max(0, t - depth + 1):t + 1] for t in range(len(items))]


def channel_boxes(entry: BoxSet | Sequence[BoxSet], channels: int) -> list[BoxSet]:
    """The box sets of an observation's stacked frames, oldest first: one set stands for every frame;
    a sequence of L ≤ ``channels`` sets covers the newest L frames (older ones were blank)."""
    if isinstance(entry, Mapping):
        return [entry] * channels
    sets = list(entry)
    if not 1 <= len(sets) <= channels:
        raise SaliencyError(f"an observation of {channels} stacked frames takes 1 to {channels} object sets (oldest "
                            f"first), got {len(sets)}: pass cfsal.saliency.stacked(states) for an episode's states.")
    return [{}] * (channels - len(sets)) + sets


def removal_masks(per_channel: Sequence[BoxSet], size: int) -> tuple[list[str], torch.Tensor]:
    """The objects of the newest frame and, for each, where to paint in each stacked frame
    (bool [objects, channels, size, size]: its box in every frame that shows it)."""
    names = list(per_channel[-1])
    empty = torch.zeros(size, size, dtype=torch.bool)
    masks = [torch.stack([torch.as_tensor(boxes[name].obs_mask(size)) if name in boxes else empty
                          for boxes in per_channel]) for name in names]
    return names, (torch.stack(masks) if masks else torch.zeros(0, len(per_channel), size, size, dtype=torch.bool))


def object_saliency(agent: Agent, frames: torch.Tensor, *, objects: Sequence[BoxSet | Sequence[BoxSet]],
                    fill: float | str = 0.0, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Remove each object in turn → (actor, critic) [T, 84, 84] maps plus per-object scores."""
    check_positive("batch_size", batch_size, integer=True)
    if len(objects) != len(frames):
        raise SaliencyError(
            f"object saliency needs the objects of every frame: got {len(objects)} object sets for "
            f"{len(frames)} frames. Pass states=[env.get_toybox_state() for each frame] to saliency()."
        )
    value = torch.as_tensor(_fill_value(agent.spec.game, fill), dtype=frames.dtype)
    channels, size = frames.shape[1], frames.shape[-1]
    removals = [removal_masks(channel_boxes(entry, channels), size) for entry in objects]
    names = [frame_names for frame_names, _ in removals]
    owner = torch.cat([torch.full((len(n),), t, dtype=torch.long) for t, n in enumerate(names)])
    all_masks = torch.cat([masks for _, masks in removals])
    with evaluation(agent), torch.no_grad():
        base_logits, base_values = forward(agent, frames)
        logits, values = [], []
        for start in range(0, len(owner), batch_size):  # the removed inputs are built chunk by chunk
            rows = slice(start, start + batch_size)
            chunk_logits, chunk_values = forward(agent, torch.where(all_masks[rows], value, frames[owner[rows]]))
            logits.append(chunk_logits)
            values.append(chunk_values)
    actor_scores = (torch.cat(logits) - base_logits[owner]).norm(dim=-1) if logits else torch.zeros(0)
    critic_scores = (torch.cat(values) - base_values[owner]).abs() if values else torch.zeros(0)
    actor = torch.zeros(len(frames), size, size, dtype=frames.dtype)
    critic = torch.zeros_like(actor)
    zero = torch.zeros((), dtype=frames.dtype)
    for row in range(len(owner)):  # one row per object: paint its score over its current box
        t, mask = owner[row], all_masks[row, -1]
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
