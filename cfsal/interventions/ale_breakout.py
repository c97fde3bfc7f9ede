"""Real Atari Breakout (``ale_breakout``) interventions: RAM edits of the ball, the paddle, the score and
the bricks, and HackAtari's ball modifications as whole-game variants.

Edits write RAM bytes at OCAtari's addresses (:mod:`cfsal.envs.ale_breakout_ram`); coordinates
are screen pixels (160 × 210, upper-left corners) and every target stays within what the game
itself reaches. Bricks are named as in Toybox Breakout: ``row`` 0 (red) at the top to 5 (blue),
``column`` 0 to 17 from the left. :class:`Configure` switches on HackAtari's ``right_drift``,
``left_drift``, ``gravity`` and ``inverse_gravity`` (Delfosse et al., HackAtari, arXiv
2406.03997; ``k4ntz/HackAtari``, ``hackatari/games/breakout.py``) from reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.envs import ale_breakout_ram as ram_map
from cfsal.interventions._ale_common import AleConfigure, AleMove, AleRamEdit, AleSetScore, span
from cfsal.interventions.params import param

GAME = "ale_breakout"


class _Breakout(AleRamEdit):
    game: ClassVar[str] = GAME


@dataclass(frozen=True)
class MoveBall(_Breakout, AleMove):
    """Move the ball by (dx, dy) screen pixels; its velocity is kept.

    Only while a ball is in play (none before a serve), and only to places the game itself puts the
    ball: 6 ≤ x ≤ 152, 83 ≤ y ≤ 196 (upper-left corner).
    """

    summary: ClassVar[str] = "move the ball by (dx, dy) pixels (RAM 99, 101)"
    dx: int = param(0, low=-span(ram_map.BALL_X_RANGE), high=span(ram_map.BALL_X_RANGE), doc="pixels to the right")
    dy: int = param(0, low=-span(ram_map.BALL_Y_RANGE), high=span(ram_map.BALL_Y_RANGE), doc="pixels down")

    def _not_ready(self, ram: list[int]) -> str | None:
        return None if ram_map.ball_in_play(ram) else "no ball is in play (it is served after FIRE); intervene later."

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", "ball", ram_map.BALL_X, ram_map.BALL_X_RANGE, ram_map.BALL_X_OFFSET),
                ("dy", "ball", ram_map.BALL_Y, ram_map.BALL_Y_RANGE, ram_map.BALL_Y_OFFSET))


@dataclass(frozen=True)
class MovePaddle(_Breakout, AleMove):
    """Move the paddle by ``dx`` screen pixels, for a moment.

    Its left edge stays where the game puts it: 8 ≤ x ≤ 144. The paddle follows the controller (a
    paddle knob), whose position ALE keeps outside RAM, so the game eases it back within about 6
    frames (2 agent steps), halfway in the first: a brief displacement, as ``ale_pong.MovePlayer``.
    """

    summary: ClassVar[str] = "move the paddle by dx pixels for a moment (RAM 72)"
    dx: int = param(low=-span(ram_map.PADDLE_X_RANGE), high=span(ram_map.PADDLE_X_RANGE), doc="pixels to the right")

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", "paddle", ram_map.PADDLE_X, ram_map.PADDLE_X_RANGE, ram_map.PADDLE_X_OFFSET),)


@dataclass(frozen=True)
class SetScore(_Breakout, AleSetScore):
    """Set the score (0..999, the three digits the game shows).

    The digits show from the second frame after the edit: settle with a NOOP step (``settle=1``)
    for the agent to see them. ALE computes Breakout's reward from these bytes (RAM 76, 77), so
    the next step's reward includes the change: never measure return with a score intervention.
    """

    summary: ClassVar[str] = "set the score (RAM 76, 77, BCD)"
    ram_map = ram_map
    value: int = param(low=0, high=ram_map.MAX_SCORE, doc="the score to show")


class _RemoveBricks(_Breakout):
    """Clear the wall bits of some bricks, refusing edits the game would undo."""

    def _bricks(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        ram = state["ram"]
        if not ram_map.wall_ready(ram):
            raise self._error("the game is still drawing its wall (the first frames of a game); intervene later.")
        bricks = [brick for brick in self._bricks() if ram_map.brick_alive(ram, *brick)]
        if not bricks:
            raise self._error("there is no brick left there to remove; pick bricks that are still in the wall.")
        for brick in bricks:
            for address, bit in ram_map.brick_bits(*brick):
                ram[address] &= ~(1 << bit) & 0xFF
        if not any(ram_map.brick_alive(ram, row, column)
                   for row in range(ram_map.ROWS) for column in range(ram_map.COLUMNS)):
            raise self._error("this would remove the last bricks, and the game would build a new wall; "
                              "leave at least one brick.")

    def target(self, state: dict[str, Any]) -> Any:
        return [ram_map.brick_alive(state["ram"], *brick) for brick in self._bricks()]


@dataclass(frozen=True)
class RemoveBrick(_RemoveBricks):
    """Remove one brick (row 0 red at the top .. 5 blue; column 0 .. 17 from the left)."""

    summary: ClassVar[str] = "remove one brick (RAM 0..35, its two wall bits)"
    row: int = param(low=0, high=ram_map.ROWS - 1, doc="brick row, 0 (top, red) .. 5 (bottom, blue)")
    column: int = param(low=0, high=ram_map.COLUMNS - 1, doc="brick column, 0 (left) .. 17")

    def _bricks(self) -> list[tuple[int, int]]:
        return [(self.row, self.column)]


@dataclass(frozen=True)
class RemoveRow(_RemoveBricks):
    """Remove every brick left in one row (0 red at the top .. 5 blue)."""

    summary: ClassVar[str] = "remove a whole row of bricks (RAM 0..35)"
    row: int = param(low=0, high=ram_map.ROWS - 1, doc="brick row, 0 (top, red) .. 5 (bottom, blue)")

    def _bricks(self) -> list[tuple[int, int]]:
        return [(self.row, column) for column in range(ram_map.COLUMNS)]


@dataclass(frozen=True)
class Configure(AleConfigure):
    """A whole-game variant from reset: HackAtari's Breakout ball modifications.

    Each pushes the ball 2 pixels on every 10th frame, within HackAtari's bounds: ``right_drift`` /
    ``left_drift`` sideways, ``gravity`` down, ``inverse_gravity`` up
    (:mod:`cfsal.envs.ale_breakout_ram`). Applied with ``apply_to_env(env, seed)``; ``False``
    switches one off.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "a whole-game variant at episode start: HackAtari's ball drift / gravity"
