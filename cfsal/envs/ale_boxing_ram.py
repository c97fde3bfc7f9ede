"""Atari Boxing's RAM: where the boxers, their punches, the scores and the clock live, and HackAtari's mods.

The addresses are OCAtari's (Delfosse et al. 2023, ``k4ntz/OC_Atari``, ``ocatari/ram/boxing.py``):
the agent's (white) boxer at x = ``ram[32] + 5``, y = ``ram[34] + 38``, the enemy (black) at
``ram[33] + 4``, ``ram[35] + 38``, arm extensions ``ram[55]``, ``ram[57]`` (player) and
``ram[59]``, ``ram[61]`` (enemy), scores ``ram[18]`` and ``ram[19]``. Checked here against the
emulator's frames (``tests/test_ale_boxing.py``), which corrected OCAtari in four places: the scores
are BCD (OCAtari reports the raw byte as the value: 0x33 as 51 where the screen shows 33); a boxer
is drawn 47 rows tall (OCAtari: 46), the enemy a pixel left of OCAtari's x; a boxer is drawn where
it was a frame earlier, up to 2 pixels away while it moves, so its box has 2 pixels to spare on
every side; and OCAtari's box leaves out the punching arm, which reaches 7 pixels past the body at
an arm byte of 48..63 and 16 pixels from 64 on (and, on the frame it retracts to 41, either). The
clock (which OCAtari only boxes) is ``ram[16]`` (minutes in the high nibble; ``0xB``, the colon,
in the low one) and ``ram[17]`` (seconds, BCD).

The rules in :data:`FRAME_MODIFICATIONS` are HackAtari's Boxing modifications without randomness
(``k4ntz/HackAtari``, ``hackatari/games/boxing.py``), run before every emulated frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cfsal.envs.ale_rules import Modification
from cfsal.envs.bcd import from_bcd, to_bcd

#: RAM addresses (OCAtari's; the clock's measured here).
PLAYER_X, ENEMY_X, PLAYER_Y, ENEMY_Y = 32, 33, 34, 35
PLAYER_ARMS, ENEMY_ARMS = (55, 57), (59, 61)
PLAYER_SCORE, ENEMY_SCORE = 18, 19
CLOCK_MINUTES, CLOCK_SECONDS = 16, 17
ONE_ARMED, PLAYER_COLOR_BYTE, ENEMY_COLOR_BYTE = 101, 1, 2  # what HackAtari writes

#: Screen geometry (210 × 160): body x = ram + offset, y = ram + 38.
PLAYER_X_OFFSET, ENEMY_X_OFFSET, Y_OFFSET = 5, 3, 38
PLAYER_Y_SHIFT, ENEMY_Y_SHIFT = 0, -1  # the enemy is drawn a row higher
BODY_SIZE = (14, 47)
LAG = 2  # pixels a boxer may be drawn from its RAM position (drawn a frame late)
PUNCH_REACH = ((64, 16), (48, 7))  # arm byte ≥ threshold → pixels the glove reaches past the body
RETRACTING_ARM = 41  # drawn at any reach on that frame

#: The RAM values the game itself reaches (8,000 agent steps of random play; the ring is the same
#: for both boxers, so the range is the union of theirs), inclusive.
X_RANGE = (30, 109)
Y_RANGE = (1, 89)
MAX_POINTS = 99  # 100 is a knock-out: the game ends
MAX_SECONDS = 119  # the clock starts at 2:00 and shows 1:59 by the first agent step

#: The HUD (x, y, w, h): one-digit and two-digit scores (OCAtari's), the clock.
PLAYER_SCORE_BOXES = ((47, 5, 6, 7), (39, 5, 14, 7))
ENEMY_SCORE_BOXES = ((111, 5, 6, 7), (103, 5, 14, 7))
CLOCK_BOX = (63, 17, 30, 7)
PLAYER_COLOR, ENEMY_COLOR, CLOCK_COLOR = (214, 214, 214), (0, 0, 0), (20, 60, 0)
HIDDEN_LEFT = 8  # the Atari blanks the first 8 columns; the enemy's colour is that black


def reach(arm: int) -> int:
    """Pixels a glove reaches past the body for an arm byte (0 at rest, up to 72 at full stretch)."""
    if arm == RETRACTING_ARM:
        return PUNCH_REACH[0][1]
    return next((pixels for threshold, pixels in PUNCH_REACH if arm >= threshold), 0)


#: A score byte's code (BCD): its points, and the byte holding some points.
points, points_byte = from_bcd, to_bcd


def seconds_left(ram: Sequence[int]) -> int:
    return (ram[CLOCK_MINUTES] >> 4) * 60 + from_bcd(ram[CLOCK_SECONDS])


def clock_bytes(seconds: int) -> tuple[int, int]:
    """(ram[16], ram[17]) showing ``seconds`` left (the colon glyph kept in ram[16]'s low nibble)."""
    return (seconds // 60) << 4 | 0xB, to_bcd(seconds % 60)


def score_box(byte: int, boxes: tuple[tuple[int, int, int, int], ...]) -> tuple[int, int, int, int]:
    return boxes[1] if from_bcd(byte) >= 10 else boxes[0]


# -- HackAtari's modifications, run before every emulated frame -------------------------------------
GRAVITY_EVERY = 3  # HackAtari's gravity_level


def one_armed(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``one_armed``: the player's right arm never punches (RAM 101 = 128)."""
    return {ONE_ARMED: 128}, {}


def gravity(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``gravity``: every 3rd frame the player sinks a row, down to RAM y 87."""
    y = ram[PLAYER_Y]
    writes = {PLAYER_Y: y + 1} if y < 87 and memory["timer"] % GRAVITY_EVERY == 0 else {}
    return writes, {"timer": memory["timer"] + 1}


def switch_positions(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``switch_positions``: on the first two frames of a game the boxers start on each
    other's side (player at RAM (105, 85), enemy at (30, 4))."""
    if not memory["once"]:
        return {}, {"once": 0}
    return {ENEMY_X: 30, ENEMY_Y: 4, PLAYER_X: 105, PLAYER_Y: 85}, {"once": memory["once"] - 1}


def classic_colors(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``classic_colors``: the player red, the enemy blue (colour bytes 1 and 2)."""
    return {PLAYER_COLOR_BYTE: 48, ENEMY_COLOR_BYTE: 113}, {}


#: name (HackAtari's) → the per-frame rule, its memory when a game starts (HackAtari's), what it does.
FRAME_MODIFICATIONS: dict[str, Modification] = {
    "one_armed": Modification(one_armed, {}, "the player's right arm never punches"),
    "gravity": Modification(gravity, {"timer": 0}, "the player sinks a row every 3rd frame"),
    "switch_positions": Modification(switch_positions, {"once": 2}, "the boxers start on each other's side"),
    "classic_colors": Modification(classic_colors, {}, "the player red, the enemy blue"),
}
