"""Atari Breakout's RAM: where the ball, the paddle, the bricks and the score live, and HackAtari's ball mods.

The addresses are OCAtari's (Delfosse et al. 2023, ``k4ntz/OC_Atari``, ``ocatari/ram/breakout.py``):
paddle x = ``ram[72] − 47`` (y 189, 16 × 4), ball x = ``ram[99] − 49``, ball y = ``ram[101] + 9``
(2 × 4; no ball while ``ram[101] == 0`` or below the paddle), lives ``ram[57]``, score the BCD bytes
``ram[76]`` (hundreds) and ``ram[77]`` (tens, ones). The wall is ``ram[0:36]``, the playfield bits
the game draws: six bytes per 4-pixel column group, one per row. OCAtari decodes it with string
slicing and a column permutation; :data:`WALL_UNITS` is the same map written out, found by clearing
each of the 288 bits and looking where the frame changed (``tests/test_ale_breakout.py`` checks
it against the frames). Rows are numbered from the top (row 0 red, y 57) as in Toybox Breakout.

Two things the game does that an edit must respect, measured here: while ``ram[94] != 0`` (the
first ~30 frames of a game) it is still writing its wall, one byte per frame, over any edit; and a
wall with no brick left is replaced by a new one (Breakout's second wall).

:func:`right_drift`, :func:`left_drift`, :func:`gravity` and :func:`inverse_gravity` are HackAtari's
Breakout modifications (``k4ntz/HackAtari``, ``hackatari/games/breakout.py``), run before every
emulated frame as HackAtari runs them. HackAtari shares one frame counter among all its
modifications; here each keeps its own, which is the same whenever one of them is on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cfsal.envs.ale_rules import Modification
from cfsal.envs.bcd import from_bcd, to_bcd

#: RAM addresses (OCAtari's).
PADDLE_X, BALL_X, BALL_Y = 72, 99, 101
LIVES, SCORE_HUNDREDS, SCORE_TENS = 57, 76, 77
SCORE_ADDRESSES = (SCORE_HUNDREDS, SCORE_TENS)  # as score_bytes writes them
WALL = range(36)
WALL_BUILD = 94  # non-zero while the game writes its wall (start of a game)

#: Offsets from RAM to the screen's upper-left pixel (210 × 160 screen).
PADDLE_X_OFFSET, BALL_X_OFFSET, BALL_Y_OFFSET = 47, 49, -9
PADDLE_Y = 189
PADDLE_SIZE, BALL_SIZE = (16, 4), (2, 4)
BALL_LOWEST_Y = 196  # OCAtari: no ball drawn below this row

#: The RAM values the game itself reaches (15,000 agent steps of random play), inclusive.
PADDLE_X_RANGE = (55, 191)
BALL_X_RANGE = (55, 201)
BALL_Y_RANGE = (74, 187)
MAX_SCORE = 999  # three digits on screen

#: The wall: 6 rows × 18 bricks of 8 × 6 pixels from (8, 57).
ROWS, COLUMNS = 6, 18
BRICK_SIZE = (8, 6)
WALL_LEFT, WALL_TOP = 8, 57
#: (byte group, bit) of each 4-pixel unit of a row from the left; the row's byte is group·6 + (5 − row).
WALL_UNITS: tuple[tuple[int, int], ...] = (
    ((5, 6), (5, 7)) + tuple((4, b) for b in range(7, -1, -1)) + tuple((3, b) for b in range(8))
    + tuple((2, b) for b in range(4, 8)) + tuple((1, b) for b in range(7, -1, -1)) + tuple((0, b) for b in range(6))
)
#: Row colours from the top (OCAtari's ``blockRow_colors``).
ROW_COLORS = ((200, 72, 72), (198, 108, 58), (180, 122, 48), (162, 162, 42), (72, 160, 72), (66, 72, 200))

#: The HUD: three score digits, the lives digit (OCAtari's boxes, checked against the frames).
SCORE_BOX, LIVES_BOX = (36, 5, 44, 10), (100, 5, 12, 10)
PADDLE_COLOR = BALL_COLOR = (200, 72, 72)
HUD_COLOR = (142, 142, 142)


def ball_in_play(ram: Sequence[int]) -> bool:
    """Whether a ball is on the court (OCAtari's test: ``ram[101] != 0`` and drawn above row 196)."""
    return ram[BALL_Y] != 0 and ram[BALL_Y] - BALL_Y_OFFSET <= BALL_LOWEST_Y


def wall_ready(ram: Sequence[int]) -> bool:
    """Whether the game has finished writing its wall (edits of bricks hold from then on)."""
    return ram[WALL_BUILD] == 0


def brick_bits(row: int, column: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The two (address, bit) pairs that draw the brick at ``row`` (0 top), ``column`` (0 left)."""
    return tuple((group * 6 + (ROWS - 1 - row), bit) for group, bit in WALL_UNITS[2 * column:2 * column + 2])


def brick_halves(ram: Sequence[int], row: int, column: int) -> tuple[bool, bool]:
    """Whether the left and the right 4-pixel half of a brick are drawn (the game clears both at once;
    an edit may clear one)."""
    left, right = (bool(ram[address] >> bit & 1) for address, bit in brick_bits(row, column))
    return left, right


def brick_alive(ram: Sequence[int], row: int, column: int) -> bool:
    return any(brick_halves(ram, row, column))


def score(ram: Sequence[int]) -> int:
    """The score the game shows (BCD: hundreds in ``ram[76]``, tens and ones in ``ram[77]``)."""
    return from_bcd(ram[SCORE_HUNDREDS]) * 100 + from_bcd(ram[SCORE_TENS])


def score_bytes(value: int) -> tuple[int, int]:
    """(ram[76], ram[77]) showing ``value`` (0..999)."""
    return to_bcd(value // 100), to_bcd(value % 100)


# -- HackAtari's modifications, run before every emulated frame -------------------------------------
STRENGTH, EVERY = 2, 10  # HackAtari: move the ball 2 pixels on every 10th frame


def _nudge(ram: Sequence[int], memory: Mapping[str, int], address: int, delta: int,
           low: int, high: int, check_ball: bool) -> tuple[dict[int, int], dict[str, int]]:
    new = int(ram[address]) + delta
    moves = (not check_ball or (ram[BALL_Y] + 9 <= BALL_LOWEST_Y and new != 0)) and low <= new <= high
    writes = {address: new} if moves and memory["timer"] % EVERY == 0 else {}
    return writes, {"timer": memory["timer"] + 1}


def right_drift(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``right_drift``: every 10th frame the ball moves 2 pixels right (x RAM 57..199)."""
    return _nudge(ram, memory, BALL_X, STRENGTH, 57, 199, True)


def left_drift(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``left_drift``: every 10th frame the ball moves 2 pixels left (x RAM 57..199)."""
    return _nudge(ram, memory, BALL_X, -STRENGTH, 57, 199, True)


def gravity(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``gravity``: every 10th frame the ball falls 2 pixels (y RAM 90..165)."""
    return _nudge(ram, memory, BALL_Y, STRENGTH, 90, 165, False)


def inverse_gravity(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``inverse_gravity``: every 10th frame the ball rises 2 pixels (y RAM 90..180)."""
    return _nudge(ram, memory, BALL_Y, -STRENGTH, 90, 180, False)


#: name (HackAtari's) → the per-frame rule, its memory when a game starts (HackAtari's), what it does.
FRAME_MODIFICATIONS: dict[str, Modification] = {
    "right_drift": Modification(right_drift, {"timer": 0}, "the ball drifts right"),
    "left_drift": Modification(left_drift, {"timer": 0}, "the ball drifts left"),
    "gravity": Modification(gravity, {"timer": 0}, "the ball is pulled down"),
    "inverse_gravity": Modification(inverse_gravity, {"timer": 0}, "the ball is pushed up"),
}
