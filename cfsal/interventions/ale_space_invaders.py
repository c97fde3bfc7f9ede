"""Real Atari Space Invaders (``ale_space_invaders``) interventions: RAM edits of the cannon, the aliens,
the shields and the score, and HackAtari's shield modifications as whole-game variants.

Edits write RAM bytes at OCAtari's addresses (:mod:`cfsal.envs.ale_space_invaders_ram`); coordinates
are screen pixels (160 × 210) and every target stays within what the game itself reaches. Aliens
are named as the objects are: ``row`` 0 (top) .. 5, ``column`` 0 .. 5 counted from the formation's
leftmost surviving column. :class:`Configure` switches on HackAtari's Space Invaders rules
(Delfosse et al., HackAtari, arXiv 2406.03997; ``k4ntz/HackAtari``, ``hackatari/games/spaceinvaders.py``)
from reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.envs import ale_space_invaders_ram as ram_map
from cfsal.interventions._ale_common import AleConfigure, AleMove, AleRamEdit, AleSetScore, span
from cfsal.interventions.params import param

GAME = "ale_space_invaders"


class _SpaceInvaders(AleRamEdit):
    game: ClassVar[str] = GAME


@dataclass(frozen=True)
class MoveShip(_SpaceInvaders, AleMove):
    """Move the agent's cannon by ``dx`` screen pixels; it stays there until the agent moves it.

    Its left edge stays where the game puts it: 34 ≤ x ≤ 116 (RAM 35..117, minus 1).
    """

    summary: ClassVar[str] = "move the agent's cannon by dx pixels (RAM 28)"
    dx: int = param(low=-span(ram_map.SHIP_X_RANGE), high=span(ram_map.SHIP_X_RANGE), doc="pixels to the right")

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", "cannon", ram_map.SHIP_X, ram_map.SHIP_X_RANGE, 1),)


@dataclass(frozen=True)
class RemoveAlien(_SpaceInvaders):
    """Remove one alien (row 0 at the top .. 5; column 0 .. 5 from the formation's leftmost surviving column).

    When that empties the leftmost column, the game renumbers the columns (the next one becomes 0)
    and moves the formation's x 16 pixels right, so the other aliens stay where they are drawn.
    The last alien cannot be removed: the game would start a new wave.
    """

    summary: ClassVar[str] = "remove one alien (RAM 18..23, its bit)"
    row: int = param(low=0, high=ram_map.ROWS - 1, doc="alien row, 0 (top) .. 5")
    column: int = param(low=0, high=ram_map.COLUMNS - 1, doc="alien column, 0 (leftmost surviving) .. 5")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        ram = state["ram"]
        if not ram_map.alien_alive(ram, self.row, self.column):
            raise self._error(f"there is no alien at row {self.row}, column {self.column}; remove one of those on "
                              "screen (cfsal.envs.objects.objects names them alien_r<row>_c<column>).")
        if ram_map.aliens_left(ram) == 1:
            raise self._error("this is the last alien, and the game would start a new wave; leave it.")
        ram[ram_map.row_address(self.row)] &= ~(1 << self.column) & 0xFF

    def target(self, state: dict[str, Any]) -> Any:
        return ram_map.alien_alive(state["ram"], self.row, self.column)


@dataclass(frozen=True)
class RemoveShield(_SpaceInvaders):
    """Remove what is left of one shield (0 left, 1 middle, 2 right)."""

    summary: ClassVar[str] = "remove one shield (its nine RAM bytes in 43..69)"
    shield: int = param(low=0, high=ram_map.SHIELDS - 1, doc="shield, 0 (left) .. 2 (right)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        ram = state["ram"]
        if not any(ram[address] for address in ram_map.shield_addresses(self.shield)):
            raise self._error(f"shield {self.shield} is gone already; pick one still on screen.")
        for address in ram_map.shield_addresses(self.shield):
            ram[address] = 0

    def target(self, state: dict[str, Any]) -> Any:
        return [state["ram"][address] for address in ram_map.shield_addresses(self.shield)]


@dataclass(frozen=True)
class SetScore(_SpaceInvaders, AleSetScore):
    """Set the agent's score (0..9999, the four digits the game shows).

    The digits show from the second frame after the edit: settle with a NOOP step (``settle=1``).
    ALE computes Space Invaders' reward from these bytes (RAM 102, 104), so the next step's reward
    includes the change: never measure return with a score intervention.
    """

    summary: ClassVar[str] = "set the agent's score (RAM 102, 104, BCD)"
    ram_map = ram_map
    value: int = param(low=0, high=ram_map.MAX_SCORE, doc="the score to show")


@dataclass(frozen=True)
class Configure(AleConfigure):
    """A whole-game variant from reset: HackAtari's Space Invaders modifications
    (:mod:`cfsal.envs.ale_space_invaders_ram`).

    ``disable_shield_left`` / ``_middle`` / ``_right`` remove a shield for good; ``relocate_shields_*``
    move all three (RAM 27 = 35, 44, 46, 53; the game's own is 43); ``controlable_missile``: the
    cannon's missile follows the cannon; ``no_danger``: no shields and no alien missiles. Applied
    with ``apply_to_env(env, seed)``.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "a whole-game variant at episode start: HackAtari's shield and missile mods"
