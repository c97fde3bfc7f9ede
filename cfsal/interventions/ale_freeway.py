"""Real Atari Freeway (``ale_freeway``) interventions: RAM edits of the chicken, the cars and the score,
and HackAtari's car stops as whole-game variants.

Edits write RAM bytes at OCAtari's addresses (:mod:`cfsal.envs.ale_freeway_ram`); coordinates are
screen pixels (160 × 210) and every target stays within what the game itself reaches. Lanes are
numbered 0 (top) to 9. :class:`Configure` switches on HackAtari's deterministic car rules
(Delfosse et al., HackAtari, arXiv 2406.03997; ``k4ntz/HackAtari``, ``hackatari/games/freeway.py``)
from reset; HackAtari's random ones (``stop_random_car``, ``align_all_cars``, colour strobes) are
left out, as a counterfactual pair must not draw from an RNG of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.envs import ale_freeway_ram as ram_map
from cfsal.interventions._ale_common import AleConfigure, AleMove, AleRamEdit, AleSetScore, span
from cfsal.interventions.params import param

GAME = "ale_freeway"
LAST_LANE = ram_map.LANES - 1


class _Freeway(AleRamEdit):
    game: ClassVar[str] = GAME


@dataclass(frozen=True)
class MoveChicken(_Freeway, AleMove):
    """Move the agent's chicken by ``dy`` screen pixels (negative: up, towards the far side).

    Its top edge stays where the game puts it: 16 ≤ y ≤ 187. The chicken stays there and walks on
    from it; a chicken moved past the top lane still has to reach the top to score.
    """

    summary: ClassVar[str] = "move the agent's chicken by dy pixels (RAM 14)"
    dy: int = param(low=-span(ram_map.CHICKEN_Y_RANGE), high=span(ram_map.CHICKEN_Y_RANGE),
                    doc="pixels down (negative: up)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        # Not through _axes: y = 193 − RAM (the RAM counts up the screen), which no RAM offset expresses.
        ram, base = state["ram"], ram_map.CHICKEN_Y_BASE
        low, high = (base - value for value in reversed(ram_map.CHICKEN_Y_RANGE))
        ram[ram_map.CHICKEN_Y] = base - self._on_screen("chicken", base - ram[ram_map.CHICKEN_Y], self.dy, low, high,
                                                        "dy")

    def target(self, state: dict[str, Any]) -> Any:
        return state["ram"][ram_map.CHICKEN_Y]


@dataclass(frozen=True)
class MoveCar(_Freeway, AleMove):
    """Move the car of one lane by ``dx`` screen pixels; it drives on from there.

    Its left edge stays where the game puts cars: −3 ≤ x ≤ 156 (the leftmost 8 columns are blank).
    The game positions a car a frame before it draws it, so the move shows from the second frame
    after the edit: settle with a NOOP step (``settle=1``) for the agent to see it.
    """

    summary: ClassVar[str] = "move one lane's car by dx pixels (RAM 108..117)"
    lane: int = param(low=0, high=LAST_LANE, doc="lane, 0 (top) .. 9 (bottom)")
    dx: int = param(low=-span(ram_map.CAR_X_RANGE), high=span(ram_map.CAR_X_RANGE), doc="pixels to the right")

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", f"lane {self.lane}'s car", ram_map.car_x_address(self.lane), ram_map.CAR_X_RANGE,
                 ram_map.CAR_X_OFFSET),)


@dataclass(frozen=True)
class HoldCars(_Freeway):
    """Hold the cars of some lanes (all by default) where they are for ``frames`` emulated frames.

    Writes each lane's move counter (RAM 33..42), which the game counts down every frame before the
    car moves again: a pause of ``frames`` frames (4 per agent step), after which the cars drive on
    at their own speeds. ``ale_freeway.Configure(stop_all_cars_edge=True)`` etc. stop them for good.
    """

    summary: ClassVar[str] = "hold cars where they are for a number of frames (RAM 33..42)"
    frames: int = param(low=1, high=ram_map.MAX_HOLD, doc="frames to hold them (4 per agent step)")
    lanes: tuple[int, ...] | None = param(None, low=0, high=LAST_LANE, doc="lanes 0 (top) .. 9; default all")

    def _validate(self) -> None:
        if self.lanes is not None and (not self.lanes or len(set(self.lanes)) != len(self.lanes)):
            raise self._error(f"lanes={list(self.lanes)} must name different lanes, at least one (or leave it "
                              "out for all).")

    def _chosen(self) -> tuple[int, ...]:
        return tuple(range(ram_map.LANES)) if self.lanes is None else self.lanes

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        for lane in self._chosen():
            state["ram"][ram_map.car_counter_address(lane)] = self.frames

    def target(self, state: dict[str, Any]) -> Any:
        return [state["ram"][ram_map.car_counter_address(lane)] for lane in self._chosen()]


@dataclass(frozen=True)
class SetScore(_Freeway, AleSetScore):
    """Set the agent's score (0..99, the two digits the game shows).

    The digits show from the second frame after the edit: settle with a NOOP step (``settle=1``).
    ALE computes Freeway's reward from this byte (RAM 103): a raised score earns a point of reward on
    the next step whatever the rise, so never measure return with a score intervention.
    """

    summary: ClassVar[str] = "set the agent's score (RAM 103, BCD)"
    ram_map = ram_map
    value: int = param(low=0, high=ram_map.MAX_SCORE, doc="the score to show")


@dataclass(frozen=True)
class Configure(AleConfigure):
    """A whole-game variant from reset: HackAtari's Freeway car stops (:mod:`cfsal.envs.ale_freeway_ram`).

    ``stop_all_cars_tunnel`` stops every car with a gap (top five at x 52, bottom five at 32),
    ``stop_all_cars_edge`` at the edges, ``disable_cars`` off screen; ``stop_top_2`` /
    ``stop_bottom_2`` / ``stop_top_4`` / ``stop_bottom_4`` stop those lanes where they are;
    ``stop_nearest_5`` the five lanes of the chicken's half. Applied with ``apply_to_env(env, seed)``.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "a whole-game variant at episode start: HackAtari's car stops"
