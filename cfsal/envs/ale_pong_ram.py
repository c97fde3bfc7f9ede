"""Atari Pong's RAM: where the ball, the paddles and the scores live, and HackAtari's lazy enemy.

The addresses are OCAtari's (Delfosse et al. 2023, ``k4ntz/OC_Atari``, ``ocatari/ram/pong.py``):
ball x = ``ram[49] − 49``, ball y = ``ram[54] − 14`` (no ball while ``ram[54] == 0``), enemy paddle
y = ``ram[50] − 15``, player paddle y = ``ram[51] − 13``, scores ``ram[13]`` (enemy) and ``ram[14]``
(player). Checked here against the emulator's own frames (``tests/test_ale_objects.py``), which
refined three things: paddles are drawn 16 rows tall (OCAtari says 15); the player's paddle is
drawn on even rows only, at ``ram[51] − 14`` when ``ram[51]`` is even; the ball is sometimes drawn
a row higher than ``ram[54] − 14``. ``ram[50]`` and ``ram[51]`` are copies the game makes every
frame of the positions it moves, ``ram[21]`` (enemy, what HackAtari writes) and ``ram[60]``
(player), so an edit writes both.

The player's paddle follows the controller, whose position ALE keeps in the emulator, not in RAM:
a paddle moved in RAM eases back to it within about 8 frames (2 agent steps).

:func:`lazy_enemy` is HackAtari's ``lazy_enemy`` modification (``k4ntz/HackAtari``,
``hackatari/games/pong.py``), with the same RAM semantics and the same per-frame schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cfsal.envs.ale_rules import Modification

#: RAM addresses (OCAtari's, see the module docstring).
BALL_X, BALL_Y = 49, 54
ENEMY_Y, ENEMY_Y_SHOWN = 21, 50
PLAYER_Y, PLAYER_Y_SHOWN = 60, 51
ENEMY_SCORE, PLAYER_SCORE = 13, 14
SERVE_TIMER = 11  # HackAtari's lazy_enemy re-centres the enemy while 0 < ram[11] < 5

#: Offsets from RAM to the screen's upper-left pixel (210 × 160 screen).
BALL_X_OFFSET, BALL_Y_OFFSET = 49, 14
ENEMY_Y_OFFSET, PLAYER_Y_OFFSET = 15, 13
BALL_SIZE = (2, 4)      # width, height in screen pixels
PADDLE_SIZE = (4, 16)
ENEMY_X, PLAYER_X = 16, 140
FIELD_TOP, FIELD_BOTTOM = 34, 194  # the walls end / begin here

#: The RAM values the game itself reaches (60,000 frames of random play), inclusive: edits stay inside.
BALL_X_RANGE = (51, 206)
BALL_Y_RANGE = (44, 207)
ENEMY_Y_RANGE = (34, 206)
PLAYER_Y_RANGE = (38, 203)
MAX_POINTS = 20  # 21 ends the game

SCORE_Y, SCORE_HEIGHT = 1, 20
#: Score boxes (x, width) by the number shown: one digit, two digits, twenty (OCAtari's layout).
PLAYER_SCORE_BOXES = ((116, 12), (104, 24), (100, 28))
ENEMY_SCORE_BOXES = ((36, 12), (24, 24), (20, 28))
PLAYER_COLOR, ENEMY_COLOR, BALL_COLOR = (92, 186, 92), (213, 130, 74), (236, 236, 236)


def ball_in_play(ram: Sequence[int]) -> bool:
    """Whether a ball is on the court (OCAtari's test: ``ram[54] != 0 and ram[49] > 49``)."""
    return ram[BALL_Y] != 0 and ram[BALL_X] > BALL_X_OFFSET


def enemy_shown(ram: Sequence[int]) -> bool:
    """Whether the enemy paddle is drawn (OCAtari's test: ``ram[50] > 33``; 0 before the first serve)."""
    return ram[ENEMY_Y_SHOWN] > 33


def points(byte: int) -> int:
    """The points a score byte holds: Pong keeps its scores in plain binary."""
    return byte


def points_byte(value: int) -> int:
    """The score byte holding ``value`` points (plain binary)."""
    return value


def score_box(value: int, boxes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """(x, width) of a score showing ``value``."""
    return boxes[0] if value < 10 else boxes[1] if value < 20 else boxes[2]


# -- HackAtari's modifications, run before every emulated frame -------------------------------------


def lazy_enemy(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``lazy_enemy``: the enemy does not move while the ball travels away from it.

    A pure transcription of ``GameModifications.lazy_enemy``: during a serve (``0 < ram[11] < 5``)
    the enemy is put at 127 and the ball at x 130; while the ball moves right (away from the enemy)
    the enemy is held where it was. Returns the RAM writes and the new memory; HackAtari runs it
    before every frame and once after an agent step's last frame, and so does :class:`AleEnv`.
    """
    writes: dict[int, int] = {}
    # HackAtari reads the RAM once (ale.getRAM() is a copy), so its comparisons see the values from
    # before its own serve writes; the hold overrides the serve's enemy write.
    if 0 < ram[SERVE_TIMER] < 5:
        writes[ENEMY_Y], writes[BALL_X] = 127, 130
    if memory["ball_previous_x"] < ram[BALL_X]:
        writes[ENEMY_Y] = memory["last_enemy_y"]
        last = memory["last_enemy_y"]
    else:
        last = int(ram[ENEMY_Y])
    return writes, {"ball_previous_x": int(ram[BALL_X]), "last_enemy_y": int(last)}


#: Per ALE game: name → the per-frame rule, its memory when a game starts (HackAtari's), what it does.
FRAME_MODIFICATIONS: dict[str, dict[str, Modification]] = {
    "ale_pong": {"lazy_enemy": Modification(lazy_enemy, {"ball_previous_x": 130, "last_enemy_y": 127},
                                            "the enemy does not move while the ball moves away from it")},
}


def modification_memory_now(game: str, name: str, ram: Sequence[int]) -> dict[str, Any]:
    """The memory a modification switched on mid-game starts from: what it would have seen last."""
    if (game, name) == ("ale_pong", "lazy_enemy"):
        return {"ball_previous_x": int(ram[BALL_X]), "last_enemy_y": int(ram[ENEMY_Y])}
    return dict(FRAME_MODIFICATIONS[game][name].memory)
