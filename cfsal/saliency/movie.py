"""Saliency movies: what the paper's ``make_movie`` did, as plain functions.

Each movie frame is the raw RGB game frame side by side with the same frame overlaid with the
actor map in blue and the critic map in red (the paper's colours). Maps are upsampled from the
84×84 observation to the native frame, and scaled by one constant per movie (a high percentile
of the whole episode's maps) rather than per frame, so brightness is comparable over time —
the paper's fixed per-game "fudge factors", computed instead of hand-tuned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F

from cfsal.saliency._utils import SaliencyError
from cfsal.saliency.result import SaliencyMap


def movie_scale(maps: np.ndarray, percentile: float = 99.5) -> float:
    """One intensity scale for a whole episode's maps (the value drawn at full colour)."""
    positive = np.abs(maps)[np.abs(maps) > 0]
    return float(np.percentile(positive, percentile)) if positive.size else 1.0


def _to_native(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    tensor = torch.as_tensor(np.abs(maps), dtype=torch.float32)[:, None]
    return F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)[:, 0].numpy()


#: Frames processed together by :func:`overlay` and :func:`render`: a whole episode's float
#: intermediates (hundreds of MB) fall out of cache, which made both several times slower.
CHUNK = 16


def overlay(rgb: np.ndarray, actor: np.ndarray, critic: np.ndarray, *, actor_scale: float, critic_scale: float,
            strength: float = 0.8) -> np.ndarray:
    """RGB frames ``[T, H, W, 3]`` with actor saliency added in blue and critic saliency in red."""
    out = np.empty(rgb.shape, dtype=np.uint8)
    for start in range(0, len(rgb), CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _overlay_chunk(rgb[part], actor[part], critic[part], actor_scale, critic_scale, strength)
    return out


def _overlay_chunk(rgb: np.ndarray, actor: np.ndarray, critic: np.ndarray, actor_scale: float,
                   critic_scale: float, strength: float) -> np.ndarray:
    height, width = rgb.shape[1:3]
    blue = np.clip(_to_native(actor, height, width) / actor_scale, 0, 1)
    red = np.clip(_to_native(critic, height, width) / critic_scale, 0, 1)
    out = rgb.astype(np.float32) * (1 - strength * np.maximum(blue, red)[..., None])
    out[..., 2] += 255 * strength * blue
    out[..., 0] += 255 * strength * red
    return np.clip(out, 0, 255).astype(np.uint8)


def render(rgb_frames: np.ndarray, maps: SaliencyMap, *, upscale: int = 2, percentile: float = 99.5) -> np.ndarray:
    """Movie frames ``[T, H·upscale, (2·W + gap)·upscale, 3]``: raw frame | overlaid frame."""
    rgb_frames = np.asarray(rgb_frames)
    if rgb_frames.ndim != 4 or rgb_frames.shape[-1] != 3 or len(rgb_frames) != len(maps):
        raise SaliencyError(f"render needs one RGB frame [H, W, 3] per map frame ({len(maps)}), got "
                            f"{list(rgb_frames.shape)}; collect env.rgb_frame() at each step.")
    scales = movie_scale(maps.actor, percentile), movie_scale(maps.critic, percentile)
    frames, height, width, _ = rgb_frames.shape
    gap = 4
    out = np.full((frames, height, upscale, 2 * width + gap, upscale, 3), 255, dtype=np.uint8)
    for start in range(0, frames, CHUNK):
        part = slice(start, start + CHUNK)
        painted = _overlay_chunk(rgb_frames[part], maps.actor[part], maps.critic[part], *scales, 0.8)
        out[part, :, :, :width] = rgb_frames[part, :, None, :, None]
        out[part, :, :, width + gap:] = painted[:, :, None, :, None]
    return out.reshape(frames, height * upscale, (2 * width + gap) * upscale, 3)


def write_movie(frames: np.ndarray, out_dir: str | os.PathLike, stem: str, *, fps: float = 15.0,
                formats: Sequence[str] = ("gif", "mp4"), stills: int = 6) -> dict[str, list[Path]]:
    """Write movie frames as GIF and/or MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) and
    ``stills`` evenly spaced PNGs; returns the paths."""
    unknown = set(formats) - {"gif", "mp4"}
    if unknown:
        raise SaliencyError(f"movie formats are 'gif' and 'mp4', got {sorted(unknown)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {"stills": []}
    if "gif" in formats:
        path = out / f"{stem}.gif"
        iio.imwrite(path, frames, extension=".gif", duration=1000.0 / fps, loop=0)
        written["gif"] = [path]
    if "mp4" in formats:
        path = out / f"{stem}.mp4"
        even = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # H.264 wants even sides
        iio.imwrite(path, even, extension=".mp4", plugin="FFMPEG", fps=fps, macro_block_size=1)
        written["mp4"] = [path]
    for index in np.linspace(0, len(frames) - 1, num=min(stills, len(frames))).round().astype(int):
        path = out / f"{stem}-{index:05d}.png"
        iio.imwrite(path, frames[index])
        written["stills"].append(path)
    return written

