"""Space Invaders interventions: the ship, the alien formation, the shields, the UFO, score, lives.

Geometry (Toybox ``tb_spaceinvaders``; checked against rendered frames in the tests): the screen
is 320 × 210; the ground starts at y = 195. The ship (16 × 10, upper-left ``x, y``) moves within
68 ≤ x ≤ 230. Aliens are 16 × 10 sprites at their upper-left ``x, y``, 6 rows × 6 columns; shields
are 16 × 18 destructible sprites at y = 157 (default x = 84, 148, 212). The score is drawn at the
top left *only while the UFO is away*; the life count is drawn only between lives.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.interventions import _common
from cfsal.interventions.config import ConfigIntervention
from cfsal.interventions.params import param
from cfsal.interventions.state import AxisMove, Intervention, Track

GAME = "space_invaders"
SCREEN_WIDTH, SCREEN_HEIGHT = 320, 210
GROUND_Y = 195
SHIP_X_MIN, SHIP_X_MAX = 68, 230
ALIEN_SIZE = (16, 10)
ALIEN_ROWS = ALIEN_COLUMNS = 6
SHIELD_Y = 157
SHIELD_SIZE = (16, 18)
UFO_START = (-2, 12)
UFO_PERIOD = 500


class _SpaceInvaders(Intervention):
    game: ClassVar[str] = GAME


@functools.lru_cache(maxsize=1)
def _intact_shield_data() -> tuple:
    """The pixel data of an undamaged shield, read once from a fresh Toybox game."""
    # Imported here: ctoybox loads the native cores (~0.1 s), needed only once a shield is added;
    # `cfsal interventions list` never loads them (tests/test_cli.py).
    from ctoybox import Toybox

    shield = Toybox(GAME).state_to_json()["shields"][0]
    return tuple(tuple((c["r"], c["g"], c["b"], c["a"]) for c in row) for row in shield["data"])


def _shield(x: int) -> dict[str, Any]:
    data = [[{"r": r, "g": g, "b": b, "a": a} for r, g, b, a in row] for row in _intact_shield_data()]
    return {"x": x, "y": SHIELD_Y, "data": data}


# -- ship ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveShip(_SpaceInvaders, AxisMove):
    """Move the player's ship by ``dx`` or to ``x`` (upper-left corner; 68 ≤ x ≤ 230)."""

    summary: ClassVar[str] = "move the ship by dx or to x"
    track: ClassVar[Track] = Track("x", SHIP_X_MIN, SHIP_X_MAX, "its track")
    moved: ClassVar[str] = "ship"
    dx: int | None = track.delta()
    x: int | None = track.position("new left edge")

    def _located(self, state: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return state["ship"], None  # its state keeps no velocity, only the speed the agent steers it at


# -- aliens -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftFormation(_SpaceInvaders):
    """Shift the whole alien formation by (dx, dy) pixels.

    Living aliens must stay on screen (0 ≤ x ≤ 304) and above the shields (bottom ≤ 157): lower,
    Toybox removes the shields, and at the ground the game is lost.
    """

    summary: ClassVar[str] = "shift the alien formation"
    dx: int = param(0, low=-300, high=300, doc="pixels to the right (negative: left)")
    dy: int = param(0, low=-150, high=150, doc="pixels down (negative: up)")

    def _validate(self) -> None:
        if self.dx == 0 and self.dy == 0:
            raise self._error("dx=0 and dy=0 move nothing; give a non-zero shift.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        alive = [e for e in state["enemies"] if e["alive"]]
        if not alive:
            raise self._error("no aliens are alive to move.")
        xs = np.array([e["x"] for e in alive]) + self.dx
        ys = np.array([e["y"] for e in alive]) + self.dy
        x_high = SCREEN_WIDTH - ALIEN_SIZE[0]
        y_high = SHIELD_Y - ALIEN_SIZE[1]
        if xs.min() < 0 or xs.max() > x_high or ys.min() < 0 or ys.max() > y_high:
            raise self._error(
                f"the formation would span x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}; living "
                f"aliens must stay within 0 ≤ x ≤ {x_high} and 0 ≤ y ≤ {y_high} (above the shields). "
                f"Use a smaller shift."
            )
        for enemy in state["enemies"]:
            enemy["x"] += self.dx
            enemy["y"] += self.dy

    def target(self, state: dict[str, Any]) -> Any:
        return [(e["x"], e["y"]) for e in state["enemies"]]


@dataclass(frozen=True)
class RemoveAliens(_SpaceInvaders, _common.CellSelection):
    """Kill aliens instantly (no points, no explosion): whole ``rows``, ``columns`` and ``cells``.

    Rows are numbered 0 (top, 30 points) to 5 (bottom, 10 points). Removing every alien wins the
    wave: Toybox sets up the next one on the next frame.
    """

    summary: ClassVar[str] = "remove aliens (rows, columns and/or single cells)"
    alive: ClassVar[bool] = False
    cell_columns: ClassVar[int] = ALIEN_COLUMNS
    cell_rows: ClassVar[int] = ALIEN_ROWS
    cell_noun: ClassVar[str] = "aliens"

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        selected = self._selection()
        for enemy in state["enemies"]:
            if selected[enemy["col"], enemy["row"]]:
                enemy["alive"] = self.alive
                enemy["death_counter"] = None

    def target(self, state: dict[str, Any]) -> Any:
        selected = self._selection()
        return [e["alive"] for e in state["enemies"] if selected[e["col"], e["row"]]]


@dataclass(frozen=True)
class RestoreAliens(RemoveAliens):
    """Bring aliens back to life at their place in the formation: ``rows``, ``columns``, ``cells``."""

    summary: ClassVar[str] = "bring aliens back (rows, columns and/or single cells)"
    alive: ClassVar[bool] = True


# -- shields ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetShields(_SpaceInvaders):
    """Lay out the shields: one at each left-edge x in ``xs`` (empty: no shields).

    A shield that already exists at the same list position keeps its damage unless
    ``repair`` is set; added shields are intact. Default layout: (84, 148, 212).
    """

    summary: ClassVar[str] = "remove, add, move or repair shields"
    xs: tuple[int, ...] = param((84, 148, 212), low=0, high=SCREEN_WIDTH - SHIELD_SIZE[0],
                                doc="left edges of the shields")
    repair: bool = param(False, doc="make every shield intact")

    def _validate(self) -> None:
        if len(self.xs) > 6:
            raise self._error(f"{len(self.xs)} shields do not fit; give at most 6.")
        ordered = sorted(self.xs)
        if any(b - a < SHIELD_SIZE[0] for a, b in zip(ordered, ordered[1:])):
            raise self._error(f"shields at {self.xs} overlap; keep left edges ≥ {SHIELD_SIZE[0]} pixels apart.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        old = state["shields"]
        shields = []
        for i, x in enumerate(self.xs):
            if i < len(old) and not self.repair:
                shield = copy.deepcopy(old[i])
                shield["x"] = x
            else:
                shield = _shield(x)
            shields.append(shield)
        state["shields"] = shields

    def target(self, state: dict[str, Any]) -> Any:
        return [(s["x"], s["y"], str(s["data"])) for s in state["shields"]]


# -- UFO ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShowUfo(_SpaceInvaders):
    """Bring the UFO (mothership) on screen at ``x``; it flies right from there.

    While the UFO is on screen Toybox hides the score (it is drawn in the same place).
    """

    summary: ClassVar[str] = "bring the UFO on screen"
    x: int = param(UFO_START[0], low=UFO_START[0], high=SCREEN_WIDTH - 16, doc="left edge of the UFO")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["ufo"] = {"x": self.x, "y": UFO_START[1], "appearance_counter": None, "death_counter": None}

    def target(self, state: dict[str, Any]) -> Any:
        ufo = state["ufo"]
        return (ufo["appearance_counter"] is None, ufo["x"])


@dataclass(frozen=True)
class HideUfo(_SpaceInvaders):
    """Send the UFO away and restart its timer (``frames`` until it appears; Toybox: 500)."""

    summary: ClassVar[str] = "send the UFO away and restart its timer"
    frames: int = param(UFO_PERIOD, low=0, high=5000, doc="frames until the UFO appears again")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["ufo"] = {"x": UFO_START[0], "y": UFO_START[1], "appearance_counter": self.frames,
                        "death_counter": None}

    def target(self, state: dict[str, Any]) -> Any:
        ufo = state["ufo"]
        return (ufo["appearance_counter"] is None, ufo["x"])


# -- score and lives ----------------------------------------------------------------------------
SetScore, AddScore, MultiplyScore, RandomScore, FreezeScore, DecrementScore = _common.score_family(
    GAME, max_score=9_999, module=__name__)  # Toybox draws the score modulo 10 000


@dataclass(frozen=True)
class SetLives(_common.SetLives):
    """Set the number of lives left (0..9). Toybox has one sprite per digit: 10 lives make it panic
    and abort the process, which is why the range is checked here. Shown only between lives."""

    game: ClassVar[str] = GAME


@dataclass(frozen=True)
class Configure(ConfigIntervention):
    """Change Space Invaders' configuration at episode start: the shield layout, firing jitter.

    Applied with ``apply_to_env(env, seed)`` (Toybox restarts the game, the env resets). Only
    config keys that Toybox 0.5 honours are offered: its Space Invaders ignores ``start_lives``
    and ``row_scores`` in the config (measured: the game still starts with 3 lives and 10/20/30
    points per alien) — use ``space_invaders.set_lives`` / score interventions on the state.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "config at episode start: shield layout, firing jitter"
    shield_xs: tuple[int, ...] | None = param(
        None, low=0, high=304, doc="left edges of the shields, 0–6 of them (Toybox: 84, 148, 212)")
    shield_y: int | None = param(None, low=120, high=165,
                                 doc="top edge of every shield, between the aliens and the ship (Toybox: 157)")
    jitter: float | None = param(None, low=0.0, high=1.0, doc="randomness of the aliens' firing (Toybox: 0.5)")

    def _validate(self) -> None:
        super()._validate()
        if self.shield_xs is not None and len(self.shield_xs) > 6:
            raise self._error(f"at most 6 shields fit, got {len(self.shield_xs)} in shield_xs={self.shield_xs!r}.")

    def changed_keys(self) -> tuple[str, ...]:
        return tuple(k for k in ("shield_xs", "shield_y", "jitter") if getattr(self, k) is not None)

    def _edit_config(self, config: dict[str, Any]) -> None:
        xs = self.shield_xs if self.shield_xs is not None else [x for x, _ in config["shields"]]
        ys = [y for _, y in config["shields"]] or [157]
        if self.shield_xs is not None or self.shield_y is not None:
            y = self.shield_y if self.shield_y is not None else ys[0]
            config["shields"] = [[int(x), int(y)] for x in xs]
        if self.jitter is not None:
            config["jitter"] = self.jitter

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        keys = {"shield_xs": "shields", "shield_y": "shields", "jitter": "jitter"}
        return any(before.get(keys[k]) != after.get(keys[k]) for k in self.changed_keys())
