"""Breakout interventions: the ball, the bricks (and so the tunnel), the paddle, score and lives.

Geometry (Toybox ``tb_breakout``; checked against rendered frames in the tests): the screen is
240 × 160 pixels; the court spans 12 ≤ x ≤ 228 (grey walls outside) and 25 ≤ y ≤ 148 (a ball
whose bottom passes y = 148 is lost). Bricks are 12 × 4 pixels, 18 columns × 6 rows, upper-left
corner at (12 + 12·col, 43 + 4·row), listed in the state column-major (index = col·6 + row).
The ball's ``position`` is its *centre* (drawn as a 2r × 2r square), the paddle's ``position`` is
the centre of its top edge. Mirroring the court left↔right maps a centre x to 240 − x and a brick
whose left edge is at x to 228 − x (its right edge 240 − x becomes the new left edge): the seed
code used 228 − x for the ball and paddle centres too, which puts them 12 pixels off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.interventions import _common
from cfsal.interventions.config import KeyedConfigure, rgb
from cfsal.interventions.params import param
from cfsal.interventions.state import AxisMove, Intervention, Track

GAME = "breakout"
SCREEN_WIDTH, SCREEN_HEIGHT = 240, 160
COURT_LEFT, COURT_RIGHT = 12, 228
COURT_TOP, COURT_BOTTOM = 25, 148
COLUMNS, ROWS = 18, 6
BRICK_WIDTH, BRICK_HEIGHT = 12, 4
MIRROR_CENTRE = COURT_LEFT + COURT_RIGHT  # x ↦ 240 − x for centres
_DEFAULT_RADIUS = 2.0


class _Breakout(Intervention):
    game: ClassVar[str] = GAME
    cell_columns: ClassVar[int] = COLUMNS
    cell_rows: ClassVar[int] = ROWS


def _ball(intervention: Intervention, state: dict[str, Any], index: int) -> dict[str, Any]:
    balls = state["balls"]
    if not balls:
        raise intervention._error(
            "no ball is in play (Breakout waits for FIRE after a reset or a lost life). Intervene "
            "once a ball is served: cfsal.envs.make(…) fires on reset; after a lost life step FIRE."
        )
    if index >= len(balls):
        raise intervention._error(f"ball={index} but only {len(balls)} ball(s) are in play.")
    return balls[index]


def _ball_limits(state: dict[str, Any]) -> tuple[float, float, float, float]:
    r = float(state.get("ball_radius", _DEFAULT_RADIUS))
    return COURT_LEFT + r, COURT_RIGHT - r, COURT_TOP + r, COURT_BOTTOM - r


def _alive_grid(state: dict[str, Any]) -> np.ndarray:
    """Brick liveness as a (columns, rows) bool array, indexed by the bricks' own col/row fields."""
    grid = np.zeros((COLUMNS, ROWS), dtype=bool)
    for brick in state["bricks"]:
        grid[brick["col"], brick["row"]] = brick["alive"]
    return grid


def _write_alive(state: dict[str, Any], grid: np.ndarray) -> None:
    for brick in state["bricks"]:
        brick["alive"] = bool(grid[brick["col"], brick["row"]])


def _bricks_target(state: dict[str, Any]) -> list[bool]:
    return _alive_grid(state).ravel().tolist()


def _wrap_x(x: float, shift: float, low: float, high: float) -> float:
    """Shift x with wrap-around over the court width, then keep it within [low, high]."""
    width = COURT_RIGHT - COURT_LEFT
    wrapped = (x - COURT_LEFT + shift) % width + COURT_LEFT
    return float(min(max(wrapped, low), high))


# -- ball ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveBall(_Breakout):
    """Move the ball: by (dx, dy) pixels, or to (x, y) (the ball's centre). Velocity is kept.

    The paper's IVmoveball moved the ball by (+1, +1) (experiments: (+5, +5)) at step 20 and then
    stepped 3 NOOPs. Give either ``dx`` or ``x`` per axis (not both); an axis left out stays. The
    new centre must keep the whole ball inside the court: 12 + r ≤ x ≤ 228 − r and
    25 + r ≤ y ≤ 148 − r (r = ball radius, 2). A ball placed inside a live brick breaks it on the
    next frame, as if it had hit it.
    """

    summary: ClassVar[str] = "move the ball by (dx, dy) or to (x, y)"
    paper_name: ClassVar[str] = "IVmoveball"
    dx: float | None = param(None, low=-(COURT_RIGHT - COURT_LEFT), high=COURT_RIGHT - COURT_LEFT,
                             doc="pixels to the right (negative: left)")
    dy: float | None = param(None, low=-(COURT_BOTTOM - COURT_TOP), high=COURT_BOTTOM - COURT_TOP,
                             doc="pixels down (negative: up)")
    x: float | None = param(None, low=COURT_LEFT + _DEFAULT_RADIUS, high=COURT_RIGHT - _DEFAULT_RADIUS,
                            doc="the ball's new centre x, inside the court; use dx to move relative to where it is")
    y: float | None = param(None, low=COURT_TOP + _DEFAULT_RADIUS, high=COURT_BOTTOM - _DEFAULT_RADIUS,
                            doc="the ball's new centre y, inside the court; use dy to move relative to where it is")
    ball: int = param(0, low=0, high=7, doc="which ball, if several are in play")

    def _validate(self) -> None:
        self._require_move(("dx", "x"), ("dy", "y"))

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        position = _ball(self, state, self.ball)["position"]
        x_low, x_high, y_low, y_high = _ball_limits(state)
        new = self._moved_within("ball", "the court", position, {"x": (x_low, x_high), "y": (y_low, y_high)})
        position["x"], position["y"] = float(new["x"]), float(new["y"])

    def target(self, state: dict[str, Any]) -> Any:
        balls = state["balls"]
        return None if len(balls) <= self.ball else (balls[self.ball]["position"]["x"], balls[self.ball]["position"]["y"])


@dataclass(frozen=True)
class SetBallVelocity(_Breakout):
    """Set the ball's speed and/or direction.

    ``angle_degrees`` is measured on screen, anticlockwise from "right": 90 is straight up, −90
    straight down. Angles within 10° of horizontal are refused (such a ball would take hundreds of
    frames to come back). Toybox itself resets the speed to ``ball_speed_fast`` (4) when the ball
    breaks a brick of the upper three rows, and sets the angle at every paddle bounce.
    """

    summary: ClassVar[str] = "set the ball's speed and/or direction"
    speed: float | None = param(None, low=0.5, high=8.0, doc="pixels per frame (Toybox uses 2 and 4)")
    angle_degrees: float | None = param(None, low=-180.0, high=180.0,
                                        doc="direction, anticlockwise from right; 90 = up")
    ball: int = param(0, low=0, high=7, doc="which ball, if several are in play")

    def _validate(self) -> None:
        if self.speed is None and self.angle_degrees is None:
            raise self._error("give speed and/or angle_degrees.")
        if self.angle_degrees is not None and abs(np.sin(np.radians(self.angle_degrees))) < np.sin(np.radians(10)):
            raise self._error(
                f"angle_degrees={self.angle_degrees:g} is within 10° of horizontal; the ball would "
                f"hardly move vertically. Use an angle with 10° ≤ |angle| ≤ 170°."
            )

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        velocity = _ball(self, state, self.ball)["velocity"]
        vx, vy = velocity["x"], velocity["y"]
        speed = self.speed if self.speed is not None else float(np.hypot(vx, vy))
        angle = np.radians(self.angle_degrees) if self.angle_degrees is not None else np.arctan2(-vy, vx)
        velocity["x"] = float(speed * np.cos(angle))
        velocity["y"] = float(-speed * np.sin(angle))

    def target(self, state: dict[str, Any]) -> Any:
        balls = state["balls"]
        if len(balls) <= self.ball:
            return None
        v = balls[self.ball]["velocity"]
        return (round(v["x"], 9), round(v["y"], 9))


# -- bricks -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftBricks(_Breakout):
    """Shift the pattern of broken bricks (and so the tunnel) by ``columns`` columns, wrapping round.

    The paper's IVshiftBricks: brick (col, row) takes the liveness of brick (col − columns, row);
    colours and points stay with the rows, so only which bricks are broken moves, by
    12·``columns`` pixels. The paper also moved the ball and paddle: ``carry_ball`` /
    ``carry_paddle`` shift them by the same 12·``columns`` pixels (wrapping round the court,
    clamped inside it) so they keep their place relative to the tunnel.
    """

    summary: ClassVar[str] = "shift the broken-brick pattern (the tunnel) sideways by whole columns"
    paper_name: ClassVar[str] = "IVshiftBricks"
    columns: int = param(low=-(COLUMNS - 1), high=COLUMNS - 1, doc="columns to the right (negative: left)")
    carry_ball: bool = param(False, doc="shift the ball with the bricks")
    carry_paddle: bool = param(False, doc="shift the paddle with the bricks")

    def _validate(self) -> None:
        if self.columns == 0:
            raise self._error("columns=0 changes nothing; shift by 1..17 columns either way.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        _write_alive(state, np.roll(_alive_grid(state), self.columns, axis=0))
        shift = self.columns * BRICK_WIDTH
        if self.carry_ball:
            x_low, x_high, _, _ = _ball_limits(state)
            for ball in state["balls"]:
                ball["position"]["x"] = _wrap_x(ball["position"]["x"], shift, x_low, x_high)
        if self.carry_paddle:
            paddle = state["paddle"]["position"]
            paddle["x"] = _wrap_x(paddle["x"], shift, COURT_LEFT, COURT_RIGHT)

    def target(self, state: dict[str, Any]) -> Any:
        return _bricks_target(state)


@dataclass(frozen=True)
class ReflectBricks(_Breakout):
    """Mirror the brick wall left↔right (the paper's IVsymbricks code: a flip of the broken bricks).

    Brick (col, row) takes the liveness of brick (17 − col, row). With ``carry_ball`` /
    ``carry_paddle`` the ball and paddle are mirrored too (centre x ↦ 240 − x — the seed used
    228 − x, 12 pixels off) and with ``mirror_velocity`` the ball's horizontal velocity flips, so
    the whole scene is the mirror image of the original.
    """

    summary: ClassVar[str] = "mirror the brick wall (and optionally ball and paddle) left-right"
    paper_name: ClassVar[str] = "IVsymbricks"
    carry_ball: bool = param(True, doc="mirror the ball's position too")
    carry_paddle: bool = param(True, doc="mirror the paddle's position too")
    mirror_velocity: bool = param(True, doc="flip the ball's horizontal velocity (a true mirror image)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        _write_alive(state, _alive_grid(state)[::-1])
        if self.carry_ball:
            for ball in state["balls"]:
                ball["position"]["x"] = float(MIRROR_CENTRE - ball["position"]["x"])
                if self.mirror_velocity:
                    ball["velocity"]["x"] = -ball["velocity"]["x"]
        if self.carry_paddle:
            state["paddle"]["position"]["x"] = float(MIRROR_CENTRE - state["paddle"]["position"]["x"])

    def target(self, state: dict[str, Any]) -> Any:
        return _bricks_target(state)


@dataclass(frozen=True)
class SymmetricBricks(_Breakout):
    """Make the wall left-right symmetric by copying one half onto the other.

    ``keep="left"``: columns 9..17 take the liveness of columns 8..0 (the left half is the
    original). Ball and paddle are untouched.
    """

    summary: ClassVar[str] = "copy one half of the wall onto the other (mirror-symmetric wall)"
    keep: str = param("left", choices=("left", "right"), doc="which half is kept and mirrored")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        grid = _alive_grid(state)
        half = COLUMNS // 2
        if self.keep == "left":
            grid[half:] = grid[:half][::-1]
        else:
            grid[:half] = grid[half:][::-1]
        _write_alive(state, grid)

    def target(self, state: dict[str, Any]) -> Any:
        return _bricks_target(state)


class _SetBricks(_Breakout):
    """Set the bricks a subclass selects (:meth:`_selection`, a columns × rows mask) to ``alive``."""

    alive: ClassVar[bool] = False

    def _selection(self) -> np.ndarray:
        raise NotImplementedError

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        grid = _alive_grid(state)
        grid[self._selection()] = self.alive
        _write_alive(state, grid)

    def target(self, state: dict[str, Any]) -> Any:
        return _alive_grid(state)[self._selection()].tolist()


@dataclass(frozen=True)
class RemoveBricks(_common.CellSelection, _SetBricks):
    """Break bricks: whole ``rows``, whole ``columns`` and single ``cells`` (col, row) — the union.

    Rows are numbered 0 (top, red, 7 points) to 5 (bottom, blue, 1 point); columns 0 (left) to
    17. No points are awarded. Breaking every brick does not end the level by itself (Toybox only
    resets the wall when its own ``reset`` flag is set).
    """

    summary: ClassVar[str] = "break bricks (rows, columns and/or single cells)"
    cell_noun: ClassVar[str] = "bricks"


@dataclass(frozen=True)
class RestoreBricks(RemoveBricks):
    """Rebuild bricks: whole ``rows``, whole ``columns`` and single ``cells`` (col, row) — the union."""

    summary: ClassVar[str] = "rebuild broken bricks (rows, columns and/or single cells)"
    alive: ClassVar[bool] = True


@dataclass(frozen=True)
class DigTunnel(_SetBricks):
    """Dig a tunnel: break the bottom ``depth`` bricks of ``width`` columns starting at ``column``.

    ``depth=6`` (default) opens the columns all the way, the tunnel the paper's agents dig to send
    the ball behind the wall.
    """

    summary: ClassVar[str] = "break a column of bricks from the bottom up (a tunnel)"
    column: int = param(low=0, high=COLUMNS - 1, doc="leftmost tunnel column (0 = left)")
    width: int = param(1, low=1, high=4, doc="tunnel width in columns")
    depth: int = param(ROWS, low=1, high=ROWS, doc="bricks broken from the bottom (6 = all the way)")

    def _validate(self) -> None:
        if self.column + self.width > COLUMNS:
            raise self._error(
                f"column={self.column} with width={self.width} runs past the last column "
                f"({COLUMNS - 1}); use column ≤ {COLUMNS - self.width}."
            )

    def _selection(self) -> np.ndarray:
        mask = np.zeros((COLUMNS, ROWS), dtype=bool)
        mask[self.column:self.column + self.width, ROWS - self.depth:] = True
        return mask


# -- paddle -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MovePaddle(_Breakout, AxisMove):
    """Move the paddle (its centre) by ``dx`` or to ``x``; it must stay within 12 ≤ x ≤ 228."""

    summary: ClassVar[str] = "move the paddle by dx or to x"
    track: ClassVar[Track] = Track("x", COURT_LEFT, COURT_RIGHT, "the court")
    moved: ClassVar[str] = "paddle centre"
    dx: float | None = track.delta()
    x: float | None = track.position("new centre x")

    def _located(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return state["paddle"]["position"], state["paddle"]["velocity"]


@dataclass(frozen=True)
class SetPaddleWidth(_Breakout):
    """Set the paddle width in pixels. Toybox itself sets it to 16 when the ball first hits the
    ceiling and back to 24 when a life is lost, so the edit lasts until one of those events."""

    summary: ClassVar[str] = "set the paddle width"
    width: int = param(low=4, high=96, doc="pixels (Toybox uses 24, then 16)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["paddle_width"] = float(self.width)

    def target(self, state: dict[str, Any]) -> Any:
        return state["paddle_width"]


# -- score and lives ----------------------------------------------------------------------------
SetScore, AddScore, MultiplyScore, RandomScore, FreezeScore, DecrementScore = _common.score_family(
    GAME, max_score=99_999, module=__name__)  # five digits fit left of the life counter


@dataclass(frozen=True)
class SetLives(_common.SetLives):
    """Set the number of lives left (0..9: one digit on screen; 0 means the current ball is the last)."""

    game: ClassVar[str] = GAME


# -- configuration (episode start) --------------------------------------------------------------
@dataclass(frozen=True)
class Configure(KeyedConfigure):
    """Change Breakout's configuration: colours, start lives, ball speeds. Episode start only.

    Applied with ``apply_to_env(env, seed)``, which writes the config (Toybox restarts the game)
    and resets the environment. Colours are (r, g, b); ``brick_color`` recolours every row.
    Note that agents see grayscale: a colour change matters to them through its luminance.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "config at episode start: colours, start lives, ball speeds"
    OWN_KEYS: ClassVar[tuple[str, ...]] = ("brick_color",)
    start_lives: int | None = param(None, low=1, high=9, doc="lives at the start (Toybox: 5)")
    ball_speed_slow: float | None = param(None, low=0.5, high=8.0, doc="serve speed (Toybox: 2)")
    ball_speed_fast: float | None = param(None, low=0.5, high=8.0, doc="speed after deep bricks (Toybox: 4)")
    ball_color: tuple[int, int, int] | None = param(None, doc="ball colour")
    paddle_color: tuple[int, int, int] | None = param(None, doc="paddle colour")
    bg_color: tuple[int, int, int] | None = param(None, doc="background colour")
    brick_color: tuple[int, int, int] | None = param(None, doc="colour of every brick row")

    def changed_keys(self) -> tuple[str, ...]:
        keys = super().changed_keys()
        return keys + ("row_colors",) if self.brick_color is not None else keys

    def _edit_config(self, config: dict[str, Any]) -> None:
        super()._edit_config(config)
        if self.brick_color is not None:
            config["row_colors"] = [rgb(self.brick_color) for _ in config["row_colors"]]
