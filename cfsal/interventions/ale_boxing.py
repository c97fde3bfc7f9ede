"""Real Atari Boxing (``ale_boxing``) interventions: RAM edits of the boxers, the scores and the clock, and
HackAtari's Boxing modifications as whole-game variants.

Edits write RAM bytes at OCAtari's addresses (:mod:`cfsal.envs.ale_boxing_ram`); coordinates are
screen pixels (160 × 210) and every target stays within the ring the game itself keeps the boxers
in. The agent boxes white ("player"), the built-in opponent black ("enemy"). :class:`Configure`
switches on HackAtari's deterministic Boxing rules (Delfosse et al., HackAtari, arXiv 2406.03997;
``k4ntz/HackAtari``, ``hackatari/games/boxing.py``) from reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.envs import ale_boxing_ram as ram_map
from cfsal.interventions._ale_common import AleConfigure, AleMove, AleRamEdit, AleSetScores, span
from cfsal.interventions.params import param

GAME = "ale_boxing"


class _Boxing(AleRamEdit):
    game: ClassVar[str] = GAME
    ram_map = ram_map  # the game's RAM map, which the shared edits (AleSetScores) read


@dataclass(frozen=True)
class _MoveBoxer(_Boxing, AleMove):
    """Move a boxer by (dx, dy) screen pixels, within the ring."""

    _boxer: ClassVar[str]
    _x: ClassVar[int]
    _y: ClassVar[int]
    _x_offset: ClassVar[int]
    dx: int = param(0, low=-span(ram_map.X_RANGE), high=span(ram_map.X_RANGE), doc="pixels to the right")
    dy: int = param(0, low=-span(ram_map.Y_RANGE), high=span(ram_map.Y_RANGE), doc="pixels down")

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", self._boxer, self._x, ram_map.X_RANGE, -self._x_offset),
                ("dy", self._boxer, self._y, ram_map.Y_RANGE, -ram_map.Y_OFFSET))


@dataclass(frozen=True)
class MovePlayer(_MoveBoxer):
    """Move the agent's (white) boxer by (dx, dy) screen pixels; it stays there.

    Within the ring the game keeps the boxers in: 35 ≤ x ≤ 114, 39 ≤ y ≤ 127 (upper-left corner of
    the body). The game pushes boxers apart that overlap.
    """

    summary: ClassVar[str] = "move the agent's (white) boxer by (dx, dy) pixels (RAM 32, 34)"
    _boxer, _x, _y, _x_offset = "player", ram_map.PLAYER_X, ram_map.PLAYER_Y, ram_map.PLAYER_X_OFFSET


@dataclass(frozen=True)
class MoveEnemy(_MoveBoxer):
    """Move the enemy (black) boxer by (dx, dy) screen pixels; its AI goes on from there.

    Within the ring the game keeps the boxers in: 33 ≤ x ≤ 112, 39 ≤ y ≤ 127.
    """

    summary: ClassVar[str] = "move the enemy (black) boxer by (dx, dy) pixels (RAM 33, 35)"
    _boxer, _x, _y, _x_offset = "enemy", ram_map.ENEMY_X, ram_map.ENEMY_Y, ram_map.ENEMY_X_OFFSET


@dataclass(frozen=True)
class SetScore(_Boxing, AleSetScores):
    """Set the agent's and/or the enemy's score (0..99; 100 is a knock-out and ends the game).

    The digits show from the second frame after the edit: settle with a NOOP step (``settle=1``).
    ALE computes Boxing's reward from these bytes (RAM 18 − RAM 19), so the next step's reward
    includes the change: never measure return with a score intervention.
    """

    summary: ClassVar[str] = "set the agent's and/or the enemy's score (RAM 18, 19, BCD)"
    player: int | None = param(None, low=0, high=ram_map.MAX_POINTS, doc="the agent's (white) score")
    enemy: int | None = param(None, low=0, high=ram_map.MAX_POINTS, doc="the enemy's (black) score")


@dataclass(frozen=True)
class SetClock(_Boxing):
    """Set the time left on the clock (1..119 seconds; the game ends at 0:00).

    The clock counts down from there; it shows from the second frame after the edit (``settle=1``).
    """

    summary: ClassVar[str] = "set the seconds left on the clock (RAM 16, 17)"
    seconds: int = param(low=1, high=ram_map.MAX_SECONDS, doc="seconds left")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["ram"][ram_map.CLOCK_MINUTES], state["ram"][ram_map.CLOCK_SECONDS] = ram_map.clock_bytes(self.seconds)

    def target(self, state: dict[str, Any]) -> Any:
        return ram_map.seconds_left(state["ram"])


@dataclass(frozen=True)
class Configure(AleConfigure):
    """A whole-game variant from reset: HackAtari's Boxing modifications (:mod:`cfsal.envs.ale_boxing_ram`).

    ``one_armed``: the player's right arm never punches; ``gravity``: the player sinks a row every
    3rd frame; ``switch_positions``: the boxers start on each other's side; ``classic_colors``: the
    player red, the enemy blue. Applied with ``apply_to_env(env, seed)``.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "a whole-game variant at episode start: HackAtari's one_armed, gravity, ..."
