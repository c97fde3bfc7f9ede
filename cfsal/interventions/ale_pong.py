"""Real Atari Pong (``ale_pong``) interventions: RAM edits of the ball, the paddles, the scores, and
HackAtari's lazy enemy.

The state is :class:`~cfsal.envs.ale_env.AleEnv`'s JSON dict (``ram``, ``emulator``,
``modifications``); an edit writes RAM bytes at OCAtari's addresses (:mod:`cfsal.envs.ale_pong_ram`),
and every target is checked against the values the game itself reaches, so nothing the emulator has
never seen reaches it. Coordinates are screen pixels (160 × 210, upper-left corners): the agent
plays the right, green paddle ("player"), the built-in opponent the left, orange one ("enemy").

The lazy enemy is HackAtari's ``lazy_enemy`` (Delfosse et al., HackAtari, arXiv 2406.03997;
``k4ntz/HackAtari``, ``hackatari/games/pong.py``): while the ball travels away from the enemy, the
enemy paddle stays where it was. :class:`LazyEnemy` switches it on at a branch point ("from here
on"), :class:`Configure` makes a whole lazy-enemy game from reset, as ``<game>.configure`` does
for Toybox games.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.envs import ale_pong_ram as ram_map
from cfsal.interventions._ale_common import AleConfigure, AleMove, AleRamEdit, AleSetScores, span
from cfsal.interventions.params import param

GAME = "ale_pong"
#: Where the ball and the paddles may be, in screen pixels (the RAM ranges less their offsets): the
#: court's limits for hypotheses that choose a move from a state (hypotheses/test_pong_shortcut.py).
BALL_X_MIN, BALL_X_MAX = (v - ram_map.BALL_X_OFFSET for v in ram_map.BALL_X_RANGE)
BALL_Y_MIN, BALL_Y_MAX = (v - ram_map.BALL_Y_OFFSET for v in ram_map.BALL_Y_RANGE)
ENEMY_Y_MIN, ENEMY_Y_MAX = (v - ram_map.ENEMY_Y_OFFSET for v in ram_map.ENEMY_Y_RANGE)
PLAYER_Y_MIN, PLAYER_Y_MAX = (v - ram_map.PLAYER_Y_OFFSET for v in ram_map.PLAYER_Y_RANGE)


class _AlePong(AleRamEdit):
    """An edit of an ``ale_pong`` state dict: the game checked, a copy edited, its RAM checked
    (:class:`~cfsal.interventions._ale_common.AleRamEdit`); positions are checked against the court."""

    game: ClassVar[str] = GAME
    playfield: ClassVar[str] = "the court"
    ram_map = ram_map  # the game's RAM map, which the shared edits (AleSetScores) read


@dataclass(frozen=True)
class MoveBall(_AlePong, AleMove):
    """Move the ball by (dx, dy) screen pixels; its velocity is kept.

    Only while a ball is in play (none between a point and the next serve), and only to places the
    game itself puts the ball: 2 ≤ x ≤ 157, 30 ≤ y ≤ 193 (upper-left corner).
    """

    summary: ClassVar[str] = "move the ball by (dx, dy) pixels (RAM 49, 54)"
    dx: int = param(0, low=-span(ram_map.BALL_X_RANGE), high=span(ram_map.BALL_X_RANGE), doc="pixels to the right")
    dy: int = param(0, low=-span(ram_map.BALL_Y_RANGE), high=span(ram_map.BALL_Y_RANGE), doc="pixels down")

    def _not_ready(self, ram: list[int]) -> str | None:
        if not ram_map.ball_in_play(ram):
            return "no ball is in play (it is served a moment after each point); intervene later."
        return None

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dx", "ball", ram_map.BALL_X, ram_map.BALL_X_RANGE, ram_map.BALL_X_OFFSET),
                ("dy", "ball", ram_map.BALL_Y, ram_map.BALL_Y_RANGE, ram_map.BALL_Y_OFFSET))


class _MovePaddle(_AlePong, AleMove):
    """Move a paddle by ``dy`` screen pixels: its position byte, in range, and the copy the game draws."""

    _paddle: ClassVar[str]
    _y: ClassVar[int]           # the RAM byte the game moves
    _y_shown: ClassVar[int]     # the RAM byte it draws from
    _range: ClassVar[tuple[int, int]]
    _offset: ClassVar[int]
    dy: int

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        return (("dy", self._paddle, self._y, self._range, self._offset),)

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        super()._edit(state, rng)
        state["ram"][self._y_shown] = state["ram"][self._y]


@dataclass(frozen=True)
class MoveEnemy(_MovePaddle):
    """Move the enemy's (left, orange) paddle by ``dy`` screen pixels; the game's AI moves it on from there.

    Writes the position the game moves (RAM 21, what HackAtari edits) and the copy it draws (RAM 50).
    The paddle's top edge stays where the game puts it: 19 ≤ y ≤ 191 (the walls hide what is past 34/194).
    """

    summary: ClassVar[str] = "move the enemy (left) paddle by dy pixels (RAM 21, 50)"
    _paddle, _y, _y_shown = "enemy paddle", ram_map.ENEMY_Y, ram_map.ENEMY_Y_SHOWN
    _range, _offset = ram_map.ENEMY_Y_RANGE, ram_map.ENEMY_Y_OFFSET
    dy: int = param(low=-span(ram_map.ENEMY_Y_RANGE), high=span(ram_map.ENEMY_Y_RANGE),
                    doc="pixels down (negative: up)")

    def _not_ready(self, ram: list[int]) -> str | None:
        if not ram_map.enemy_shown(ram):
            return "the enemy paddle is not on screen yet (before the first serve); intervene later."
        return None


@dataclass(frozen=True)
class MovePlayer(_MovePaddle):
    """Move the agent's (right, green) paddle by ``dy`` screen pixels.

    Writes RAM 60 (the position) and 51 (its drawn copy); the top edge stays in 25 ≤ y ≤ 190. The
    paddle follows the controller, whose position ALE keeps outside RAM, so the game eases it back
    within about 8 frames (2 agent steps): a brief displacement, not a new controller position.
    """

    summary: ClassVar[str] = "move the agent's (right) paddle by dy pixels for a moment (RAM 60, 51)"
    _paddle, _y, _y_shown = "player paddle", ram_map.PLAYER_Y, ram_map.PLAYER_Y_SHOWN
    _range, _offset = ram_map.PLAYER_Y_RANGE, ram_map.PLAYER_Y_OFFSET
    dy: int = param(low=-span(ram_map.PLAYER_Y_RANGE), high=span(ram_map.PLAYER_Y_RANGE),
                    doc="pixels down (negative: up)")


@dataclass(frozen=True)
class SetScore(_AlePong, AleSetScores):
    """Set the agent's and/or the enemy's score (0..20; 21 ends the game).

    The game prepares the digits a frame ahead, so they show from the second frame after the edit:
    settle with a NOOP step (``settle=1``) for the agent to see them. ALE computes Pong's reward
    from these two bytes (RAM 14 and 13), so the next step's reward includes the change: never
    measure return with a score intervention.
    """

    summary: ClassVar[str] = "set the agent's and/or the enemy's score (RAM 14, 13)"
    player: int | None = param(None, low=0, high=ram_map.MAX_POINTS, doc="the agent's (right, green) score")
    enemy: int | None = param(None, low=0, high=ram_map.MAX_POINTS, doc="the enemy's (left, orange) score")


@dataclass(frozen=True)
class LazyEnemy(_AlePong):
    """From this step on, the enemy is lazy: HackAtari's ``lazy_enemy``, switched on mid-game.

    While the ball travels away from the enemy (to the right) the enemy paddle stays where it was;
    during a serve it is re-centred (RAM 21 = 127, ball x = 130), exactly as HackAtari's per-frame
    rule (:func:`cfsal.envs.ale_pong_ram.lazy_enemy`), which the environment runs before every frame.
    It remembers the ball and the enemy as they are now. Nothing moves at the branch point itself:
    the rule changes what the enemy does next, so frames differ once the ball next moves right.
    """

    summary: ClassVar[str] = "from now on the enemy does not move while the ball moves away from it (HackAtari)"

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        if "lazy_enemy" in state["modifications"]:
            raise self._error("the enemy is lazy already (the game is a lazy-enemy variant).")
        state["modifications"]["lazy_enemy"] = ram_map.modification_memory_now(GAME, "lazy_enemy", state["ram"])

    def target(self, state: dict[str, Any]) -> Any:
        return "lazy_enemy" in state.get("modifications", {})


@dataclass(frozen=True)
class Configure(AleConfigure):
    """A whole-game variant from reset: HackAtari's Pong modifications (``lazy_enemy``).

    Applied with ``apply_to_env(env, seed)`` (the environment resets), as ``<game>.configure`` is
    for Toybox games; snapshots of the variant carry it. ``lazy_enemy=False`` switches it off.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "a whole-game variant at episode start: HackAtari's lazy_enemy"
