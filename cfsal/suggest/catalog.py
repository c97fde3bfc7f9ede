"""What the audit looks at in each game: the objects, which one is the player, and each object's
state variables per frame (distance to the player, speed, displayed value).

The objects are those of :func:`cfsal.envs.objects.objects`, named by the strings
:meth:`cfsal.saliency.SaliencyMap.mass_on` accepts (a name such as ``"ball"``, or a kind such as
``"brick"`` for all bricks together) and that :mod:`cfsal.interventions.targets` uses, so an audit
finding and the intervention that tests it speak of the same thing. The paper's Amidar enemy
analysis related saliency on an enemy to its distance from the player; here every object gets
that analysis, plus its speed (centre displacement per agent step) and, for HUD numbers, the
value shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cfsal.envs.displayed import displayed_value, shows_value
from cfsal.envs.objects import ObjectBox, select
from cfsal.errors import CfsalError

#: Per-frame state variables the audit correlates with saliency.
VARIABLES = ("distance", "speed", "value")


@dataclass(frozen=True)
class AuditObject:
    """One object of the audit: ``name`` is its region (name or kind). ``group`` marks a kind with
    many members (all bricks): its union has no meaningful distance to the player."""

    name: str
    group: bool = False


#: The audited objects of each game, and the one the agent controls (distances are measured to it).
#: HUD numbers (score, lives) are read with :func:`cfsal.envs.displayed.displayed_value`. Freeway's
#: agent chicken is audited by its kind, ``player``: the name ``chicken`` also selects the idle second
#: player's chicken (kind ``chicken``).
OBJECTS: dict[str, tuple[AuditObject, ...]] = {
    "breakout": (AuditObject("ball"), AuditObject("paddle"), AuditObject("brick", group=True),
                 AuditObject("score"), AuditObject("lives")),
    "amidar": (AuditObject("player"), *(AuditObject(f"enemy_{i}") for i in range(5)), AuditObject("painted_box", group=True),
               AuditObject("score"), AuditObject("lives")),
    "pong": (AuditObject("ball"), AuditObject("paddle"), AuditObject("opponent_paddle"),
             AuditObject("score"), AuditObject("opponent_score")),
    "ale_pong": (AuditObject("ball"), AuditObject("paddle"), AuditObject("opponent_paddle"),
                 AuditObject("score"), AuditObject("opponent_score")),
    "space_invaders": (AuditObject("ship"), AuditObject("alien", group=True), AuditObject("shield", group=True), AuditObject("ufo"),
                       AuditObject("laser", group=True), AuditObject("score"), AuditObject("lives")),
    "ale_breakout": (AuditObject("ball"), AuditObject("paddle"), AuditObject("brick", group=True),
                     AuditObject("score"), AuditObject("lives")),
    "ale_freeway": (AuditObject("player"), *(AuditObject(f"car_{lane}") for lane in range(10)),
                    AuditObject("opponent_chicken"), AuditObject("score"), AuditObject("opponent_score")),
    "ale_boxing": (AuditObject("player"), AuditObject("enemy"), AuditObject("score"), AuditObject("enemy_score"),
                   AuditObject("clock")),
    "ale_space_invaders": (AuditObject("ship"), AuditObject("alien", group=True), AuditObject("shield", group=True),
                           AuditObject("ufo"), AuditObject("score")),
}
PLAYER: dict[str, str] = {"breakout": "paddle", "amidar": "player", "pong": "paddle", "ale_pong": "paddle",
                          "space_invaders": "ship", "ale_breakout": "paddle", "ale_freeway": "player",
                          "ale_boxing": "player", "ale_space_invaders": "ship"}


def audit_objects(game: str) -> tuple[AuditObject, ...]:
    if game not in OBJECTS:
        raise CfsalError(f"the saliency audit knows the objects of {', '.join(OBJECTS)}; not of {game!r}.")
    return OBJECTS[game]


def centre(boxes: Mapping[str, ObjectBox], pattern: str) -> tuple[float, float] | None:
    """Centre (x, y) in native pixels of the union of the boxes matching ``pattern`` (None if absent)."""
    chosen = select(boxes, pattern)
    if not chosen:
        return None
    x0, y0 = min(b.x0 for b in chosen), min(b.y0 for b in chosen)
    x1, y1 = max(b.x1 for b in chosen), max(b.y1 for b in chosen)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def frame_variables(game: str, boxes: Sequence[Mapping[str, ObjectBox]], previous: Sequence[Mapping[str, ObjectBox]],
                    states: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per frame and object, ``{variable: float [F, O]}``, NaN where undefined.

    ``distance``: Euclidean distance between the object's centre and the player's (native pixels;
    not for groups such as all bricks);
    ``speed``: distance its centre moved since the previous agent step; ``value``: the number it
    shows (score, lives). ``previous[i]`` are the boxes one agent step before ``boxes[i]``.
    """
    objects = audit_objects(game)
    player = PLAYER[game]
    out = {v: np.full((len(boxes), len(objects)), np.nan) for v in VARIABLES}
    for f, (now, before, state) in enumerate(zip(boxes, previous, states)):
        player_at = centre(now, player)
        for o, obj in enumerate(objects):
            at = centre(now, obj.name)
            if at is None:
                continue
            if player_at is not None and obj.name != player and not obj.group:
                out["distance"][f, o] = float(np.hypot(at[0] - player_at[0], at[1] - player_at[1]))
            was = centre(before, obj.name)
            if was is not None:
                out["speed"][f, o] = float(np.hypot(at[0] - was[0], at[1] - was[1]))
            if shows_value(game, obj.name):
                out["value"][f, o] = displayed_value(game, obj.name, state)
    return out
