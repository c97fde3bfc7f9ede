"""`SaliencyMap`: one result type for every saliency method, with region queries.

A hypothesis asks questions such as "how much saliency lies on the score?"; the answer needs
the map *and* where each game object was in that frame. So a `SaliencyMap` carries, per frame,
the actor and critic maps and (when the frames' Toybox states were given) the object boxes of
:func:`cfsal.envs.objects.objects`, and answers :meth:`SaliencyMap.mass_on`.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from cfsal.envs.objects import ObjectBox, select, union_weights
from cfsal.errors import check_schema_version
from cfsal.saliency._utils import SCREEN, SaliencyError

SCHEMA_VERSION = 1
OUTPUTS = ("actor", "critic")

Region = str | ObjectBox | np.ndarray | Iterable[str]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float32, copy=True)
    if array.ndim == 2:
        array = array[None]
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class SaliencyMap:
    """Saliency of an agent's actor and critic over ``T`` frames.

    ``actor`` and ``critic`` are read-only float32 ``[T, 84, 84]`` arrays (``T = 1`` for one
    observation), aligned with the observation pixels. ``params`` holds every parameter of the
    method, defaults included, so a map can be recomputed from it. ``objects`` holds, per frame,
    the game objects' boxes (empty when no states were given). ``details`` holds method-specific
    numbers (object saliency's per-object scores).
    """

    actor: np.ndarray
    critic: np.ndarray
    method: str
    params: Mapping[str, Any]
    agent: str
    game: str
    objects: tuple[Mapping[str, ObjectBox], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        actor, critic = _frozen(self.actor), _frozen(self.critic)
        if actor.shape != critic.shape or actor.shape[1:] != (SCREEN, SCREEN):
            raise SaliencyError(f"actor and critic maps must both be [T, {SCREEN}, {SCREEN}], "
                                f"got {list(actor.shape)} and {list(critic.shape)}")
        if self.objects and len(self.objects) != len(actor):
            raise SaliencyError(f"objects must give one dict of boxes per frame ({len(actor)}), got {len(self.objects)}")
        object.__setattr__(self, "actor", actor)
        object.__setattr__(self, "critic", critic)
        object.__setattr__(self, "objects", tuple(dict(o) for o in self.objects))

    # -- shape ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.actor)

    def frame(self, t: int) -> SaliencyMap:
        """The map of frame ``t`` alone (a ``T = 1`` map)."""
        if not -len(self) <= t < len(self):
            raise IndexError(f"frame {t} is out of range for a map of {len(self)} frames")
        t = t % len(self)
        details = {k: [v[t]] for k, v in self.details.items() if isinstance(v, list) and len(v) == len(self)}
        return SaliencyMap(self.actor[t], self.critic[t], self.method, self.params, self.agent, self.game,
                           (self.objects[t],) if self.objects else (), details)

    def of(self, output: str) -> np.ndarray:
        """The ``actor`` or ``critic`` maps, ``[T, 84, 84]``."""
        if output not in OUTPUTS:
            raise SaliencyError(f"output must be 'actor' or 'critic', got {output!r}")
        return self.actor if output == "actor" else self.critic

    # -- regions ----------------------------------------------------------------------------------
    def region_weights(self, region: Region) -> np.ndarray:
        """Per-frame observation-pixel weights ``[T, 84, 84]`` in [0, 1] of a region.

        ``region`` is an object name, a glob over names (``"enemy_*"``), an object kind
        (``"brick"``), several of those, an :class:`ObjectBox`, or a mask/weights array
        ``[84, 84]`` or ``[T, 84, 84]``. A name missing from a frame (no ball in play) gives that
        frame NaN weights, so its mass is NaN rather than a misleading 0.
        """
        n = len(self)
        if isinstance(region, ObjectBox):
            return np.broadcast_to(region.obs_weights(SCREEN), (n, SCREEN, SCREEN))
        if isinstance(region, np.ndarray):
            weights = region.astype(np.float32)
            if weights.shape == (SCREEN, SCREEN):
                weights = np.broadcast_to(weights, (n, SCREEN, SCREEN))
            if weights.shape != (n, SCREEN, SCREEN):
                raise SaliencyError(f"a region array must be [{SCREEN}, {SCREEN}] or [{n}, {SCREEN}, {SCREEN}], "
                                    f"got {list(region.shape)}")
            return weights
        if not self.objects or not any(self.objects):
            raise SaliencyError(
                f"region {region!r} names game objects, but this map has no object boxes: pass the frames' "
                f"Toybox states (states=[env.get_toybox_state(), …]) to cfsal.saliency.saliency()."
            )
        weights = np.empty((n, SCREEN, SCREEN), dtype=np.float32)
        found_any = False
        for t, boxes in enumerate(self.objects):
            chosen = select(boxes, region)
            found_any |= bool(chosen)
            weights[t] = union_weights(chosen, SCREEN) if chosen else np.nan
        if not found_any:
            names = sorted(set().union(*(b.keys() for b in self.objects)))
            raise SaliencyError(f"no object matches {region!r} in any frame; objects here: {', '.join(names[:40])}"
                                + (" …" if len(names) > 40 else ""))
        return weights

    def mass_on(self, region: Region, *, output: str = "actor", normalised: bool = True) -> np.ndarray:
        """Saliency mass on a region, per frame (float64 ``[T]``).

        Raw mass is Σ weight·saliency over the observation pixels; normalised mass divides by the
        frame's total saliency Σ|saliency|, so regions that partition the frame have masses
        summing to 1 (for the non-negative maps every method gives by default; signed maps, such
        as centred RISE's or ``reduce="sum"``, give signed shares of the total magnitude).
        A frame whose map is all zero has normalised mass 0 everywhere (nothing is salient).
        """
        maps = self.of(output).astype(np.float64)
        raw = (self.region_weights(region) * maps).sum(axis=(1, 2))
        if not normalised:
            return raw
        total = np.abs(maps).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total != 0, raw / np.where(total != 0, total, 1.0), np.where(np.isnan(raw), np.nan, 0.0))

    def masses(self, *, output: str = "actor", normalised: bool = True) -> dict[str, np.ndarray]:
        """Mass on every object that appears in any frame, by name (NaN where absent)."""
        names = sorted(set().union(*(b.keys() for b in self.objects))) if self.objects else []
        return {name: self.mass_on(name, output=output, normalised=normalised) for name in names}

    # -- files ------------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready values (shared by the JSON and ``.npz`` files)."""
        return {"schema_version": SCHEMA_VERSION, "method": self.method, "params": _jsonable(self.params),
                "agent": self.agent, "game": self.game,
                "objects": [{name: box.to_dict() for name, box in boxes.items()} for boxes in self.objects],
                "details": _jsonable(self.details)}

    def to_dict(self) -> dict[str, Any]:
        def encode(array: np.ndarray) -> dict[str, Any]:
            return {"dtype": "float32", "shape": list(array.shape),
                    "data": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")}

        return {**self.metadata(), "actor": encode(self.actor), "critic": encode(self.critic)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SaliencyMap:
        def decode(blob: Mapping[str, Any]) -> np.ndarray:
            return np.frombuffer(base64.b64decode(blob["data"]), dtype=np.float32).reshape(blob["shape"])

        return cls._from_meta(data, decode(data["actor"]), decode(data["critic"]))

    @classmethod
    def _from_meta(cls, meta: Mapping[str, Any], actor: np.ndarray, critic: np.ndarray) -> SaliencyMap:
        """A map from :meth:`to_dict`'s fields other than the arrays, and the arrays."""
        check_schema_version(meta, SCHEMA_VERSION, "saliency map", SaliencyError, "recompute the map with this cfsal.")
        objects = tuple({name: ObjectBox.from_dict(box) for name, box in frame.items()} for frame in meta["objects"])
        return cls(actor, critic, meta["method"], dict(meta["params"]), meta["agent"], meta["game"], objects,
                   dict(meta.get("details", {})))

    def save(self, path: str | os.PathLike, *, precision: str = "float32") -> Path:
        """Write the map: ``.npz`` (compact, :func:`save_npz`) or any other suffix as JSON.

        JSON holds the arrays base64-encoded (no pickle) and the object boxes uncompressed: 44 MB
        for a 500-step Breakout episode of Jacobian maps, against 12 MB as a float16 ``.npz``. It is
        kept for small maps and older files.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".npz":
            return save_npz(self, path, precision=precision)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SaliencyMap:
        """Read a map written by :meth:`save` (``.npz`` or JSON, by suffix)."""
        path = Path(path)
        if path.suffix == ".npz":
            return load_npz(path)
        return cls.from_dict(json.loads(path.read_text()))


#: Precisions :func:`save_npz` stores maps in. float16 keeps 11 significant bits relative to each
#: frame's largest |value| (errors ≤ 0.05% of it), which maps, masses and movies do not notice.
PRECISIONS = ("float16", "float32")


def save_npz(maps: SaliencyMap, path: str | os.PathLike, *, precision: str = "float32") -> Path:
    """Write ``maps`` as a compressed ``.npz``: the arrays, and :meth:`SaliencyMap.metadata` as JSON
    bytes (no pickle).

    float16 stores each frame divided by its largest |value| (the scale is kept in float32): raw
    float16 would flush Jacobian maps, whose values are around 1e-7, to zero.
    """
    if precision not in PRECISIONS:
        raise SaliencyError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(maps.metadata()).encode(), dtype=np.uint8)}
    for output in OUTPUTS:
        values = maps.of(output)
        if precision == "float16":
            scale = np.abs(values).max(axis=(1, 2)).astype(np.float32)
            safe = np.where(scale > 0, scale, 1.0).astype(np.float32)[:, None, None]
            arrays[output] = (values / safe).astype(np.float16)
            arrays[f"{output}_scale"] = scale
        else:
            arrays[output] = values
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def load_npz(path: str | os.PathLike) -> SaliencyMap:
    """Read a map written by :func:`save_npz`."""
    with np.load(Path(path), allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes())
        outputs = {}
        for output in OUTPUTS:
            values = data[output].astype(np.float32)
            if f"{output}_scale" in data:
                values *= data[f"{output}_scale"][:, None, None]
            outputs[output] = values
    return SaliencyMap._from_meta(meta, outputs["actor"], outputs["critic"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
