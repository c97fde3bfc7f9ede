"""Before/after pictures of an intervention, for the report: two RGB frames side by side.

The changed region is found from the frames themselves (pixels that differ, grouped into connected
boxes), not from the intervention's own account of what it changed, so the picture is also a check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

_OUTLINE = np.array([0, 255, 255], dtype=np.uint8)  # cyan: absent from the four games' palettes
_GAP = 8


def changed_boxes(before: np.ndarray, after: np.ndarray, *, margin: int = 1,
                  merge_distance: int = 2) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` (inclusive) around the pixels that differ between two frames.

    Differing pixels closer than ``merge_distance`` are grouped (a digit's strokes form one box);
    each box is grown by ``margin`` pixels and clipped to the frame.
    """
    if before.shape != after.shape:
        raise ValueError(f"frames differ in shape: {before.shape} vs {after.shape}")
    diff = np.any(before != after, axis=-1) if before.ndim == 3 else before != after
    if not diff.any():
        return []
    grown = ndimage.binary_dilation(diff, iterations=merge_distance) if merge_distance else diff
    labels, _ = ndimage.label(grown)
    height, width = diff.shape
    boxes = []
    for found in ndimage.find_objects(np.where(diff, labels, 0)):
        if found is None:
            continue
        rows, cols = found
        boxes.append((max(cols.start - margin, 0), max(rows.start - margin, 0),
                      min(cols.stop - 1 + margin, width - 1), min(rows.stop - 1 + margin, height - 1)))
    return boxes


def _outline(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    out = frame.copy()
    for x0, y0, x1, y1 in boxes:
        out[y0, x0:x1 + 1] = _OUTLINE
        out[y1, x0:x1 + 1] = _OUTLINE
        out[y0:y1 + 1, x0] = _OUTLINE
        out[y0:y1 + 1, x1] = _OUTLINE
    return out


def side_by_side(before: np.ndarray, after: np.ndarray, *, outline: bool = True, scale: int = 2) -> np.ndarray:
    """One RGB image: ``before`` left, ``after`` right, changed regions outlined in cyan on both."""
    if before.shape != after.shape or before.ndim != 3:
        raise ValueError(f"need two H×W×3 frames of one shape, got {before.shape} and {after.shape}")
    if outline:
        boxes = changed_boxes(before, after)
        before, after = _outline(before, boxes), _outline(after, boxes)
    gap = np.full((before.shape[0], _GAP, 3), 255, dtype=np.uint8)
    image = np.concatenate([before, gap, after], axis=1)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1) if scale > 1 else image


def render_before_after(env: Any, intervention: Any, path: str | Path, *, rng: np.random.Generator | None = None,
                        outline: bool = True, scale: int = 2, restore: bool = True) -> Path:
    """Apply ``intervention`` to ``env`` and write a side-by-side PNG of the frame before and after.

    With ``restore`` (default) the environment is put back exactly as it was (snapshot/restore),
    so rendering does not disturb a rollout.
    """
    snapshot = env.snapshot() if restore else None
    before = env.rgb_frame()
    intervention.apply_to_env(env, rng=rng, settle="refresh")
    after = env.rgb_frame()
    if snapshot is not None:
        env.restore(snapshot)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(side_by_side(before, after, outline=outline, scale=scale)).save(path)
    return path
