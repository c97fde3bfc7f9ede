"""Pong interventions: the ball, the paddles, the scores.

Geometry (Toybox ``tb_pong``; checked against rendered frames in the tests): the screen is
160 × 210; the playfield lies between the top frame (bottom edge y = 34) and the bottom frame
(top edge y = 194). Positions are upper-left corners: the ball is 2 × 4 pixels, paddles 4 × 16.
The agent ("p1", green) is the right paddle at x = 140, the built-in opponent ("p2", orange) the
left one at x = 16. Scores are drawn at the top: opponent's left, agent's right. The environment's
"lives" are 21 minus the opponent's score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.interventions.config import KeyedConfigure
from cfsal.interventions.params import param
from cfsal.interventions.state import AxisMove, Intervention, Track

GAME = "pong"
SCREEN_WIDTH, SCREEN_HEIGHT = 160, 210
FIELD_TOP, FIELD_BOTTOM = 34, 194
BALL_SIZE = (2, 4)
PADDLE_SIZE = (4, 16)
BALL_X_MAX = SCREEN_WIDTH - BALL_SIZE[0]
BALL_Y_MIN, BALL_Y_MAX = FIELD_TOP, FIELD_BOTTOM - BALL_SIZE[1]
PADDLE_Y_MIN, PADDLE_Y_MAX = FIELD_TOP - PADDLE_SIZE[1] // 2, FIELD_BOTTOM - PADDLE_SIZE[1] // 2
MAX_POINTS = 20  # 21 ends the game
_PADDLE_KEY = {"agent": "p1_paddle", "opponent": "p2_paddle"}


class _Pong(Intervention):
    game: ClassVar[str] = GAME


def _ball_in_play(intervention: Intervention, state: dict[str, Any]) -> dict[str, Any]:
    if state["reset"]:
        raise intervention._error(
            "the ball is about to be re-served (a point was just scored): Toybox will overwrite its "
            "position on the next frame. Intervene a step later."
        )
    return state["ball"]


@dataclass(frozen=True)
class MoveBall(_Pong):
    """Move the ball by (dx, dy) or to (x, y) (upper-left corner). Velocity is kept.

    The ball must stay on screen and inside the playfield: 0 ≤ x ≤ 158, 34 ≤ y ≤ 190.
    """

    summary: ClassVar[str] = "move the ball by (dx, dy) or to (x, y)"
    dx: float | None = param(None, low=-BALL_X_MAX, high=BALL_X_MAX, doc="pixels to the right")
    dy: float | None = param(None, low=-(BALL_Y_MAX - BALL_Y_MIN), high=BALL_Y_MAX - BALL_Y_MIN, doc="pixels down")
    x: float | None = param(None, low=0, high=BALL_X_MAX, doc="new left edge; use dx to move relative")
    y: float | None = param(None, low=BALL_Y_MIN, high=BALL_Y_MAX, doc="new top edge; use dy to move relative")

    def _validate(self) -> None:
        self._require_move(("dx", "x"), ("dy", "y"))

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        position = _ball_in_play(self, state)["position"]
        new = self._moved_within("ball", "the playfield", position,
                                 {"x": (0, BALL_X_MAX), "y": (BALL_Y_MIN, BALL_Y_MAX)})
        position["x"], position["y"] = float(new["x"]), float(new["y"])

    def target(self, state: dict[str, Any]) -> Any:
        return (state["ball"]["position"]["x"], state["ball"]["position"]["y"])


@dataclass(frozen=True)
class SetBallVelocity(_Pong):
    """Set the ball's velocity in pixels per frame (Toybox serves at (−3, 1)).

    ``vx`` must be at least 0.5 in size, or the ball would never reach a paddle.
    """

    summary: ClassVar[str] = "set the ball's velocity"
    vx: float = param(low=-8.0, high=8.0, doc="pixels per frame to the right (|vx| ≥ 0.5)")
    vy: float = param(low=-8.0, high=8.0, doc="pixels per frame down")

    def _validate(self) -> None:
        if abs(self.vx) < 0.5:
            raise self._error(f"vx={self.vx:g} is too slow to reach a paddle; use |vx| ≥ 0.5.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        velocity = _ball_in_play(self, state)["velocity"]
        velocity["x"], velocity["y"] = self.vx, self.vy

    def target(self, state: dict[str, Any]) -> Any:
        return (state["ball"]["velocity"]["x"], state["ball"]["velocity"]["y"])


@dataclass(frozen=True)
class MovePaddle(_Pong, AxisMove):
    """Move a paddle vertically by ``dy`` or to ``y`` (top edge; 26 ≤ y ≤ 186); it stops moving."""

    summary: ClassVar[str] = "move the agent's or the opponent's paddle"
    track: ClassVar[Track] = Track("y", PADDLE_Y_MIN, PADDLE_Y_MAX, "its track")
    moved: ClassVar[str] = "{player}'s paddle"
    player: str = param("agent", choices=("agent", "opponent"), doc="whose paddle")
    dy: float | None = track.delta()
    y: float | None = track.position("new top edge")

    def _located(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        paddle = state[_PADDLE_KEY[self.player]]
        return paddle["position"], paddle["velocity"]


@dataclass(frozen=True)
class SetScores(_Pong):
    """Set the agent's and/or the opponent's score (0..20; 21 ends the game).

    The environment's reward is the change in the agent's score and its "lives" are 21 minus the
    opponent's score, so this changes both the display and those signals.
    """

    summary: ClassVar[str] = "set the agent's and/or opponent's score"
    agent: int | None = param(None, low=0, high=MAX_POINTS, doc="the agent's (right, green) score")
    opponent: int | None = param(None, low=0, high=MAX_POINTS, doc="the opponent's (left, orange) score")

    def _validate(self) -> None:
        if self.agent is None and self.opponent is None:
            raise self._error("give agent=… and/or opponent=….")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        if self.agent is not None:
            state["p1_score"] = self.agent
        if self.opponent is not None:
            state["p2_score"] = self.opponent

    def target(self, state: dict[str, Any]) -> Any:
        return (state["p1_score"] if self.agent is not None else None,
                state["p2_score"] if self.opponent is not None else None)


@dataclass(frozen=True)
class Configure(KeyedConfigure):
    """Change Pong's configuration at episode start: points per game, paddle speeds, colours.

    Applied with ``apply_to_env(env, seed)`` (Toybox restarts the game, the env resets). Pong's
    state embeds its config, so the environment keeps and re-attaches the new one.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "config at episode start: points per game, paddle speeds, colours"
    game_points: int | None = param(None, low=1, high=21, doc="points that win a game (Toybox: 21)")
    paddle_speed: float | None = param(None, low=0.5, high=12.0, doc="paddle acceleration per frame (Toybox: 2)")
    max_paddle_speed: float | None = param(None, low=1.0, high=24.0, doc="paddle top speed (Toybox: 6)")
    ball_color: tuple[int, int, int] | None = param(None, doc="ball colour")
    p1_color: tuple[int, int, int] | None = param(None, doc="the agent's (right) paddle colour")
    p2_color: tuple[int, int, int] | None = param(None, doc="the opponent's (left) paddle colour")
    bg_color: tuple[int, int, int] | None = param(None, doc="background colour")
