"""Atari Space Invaders' RAM: where the cannon, the aliens, the shields, the UFO and the score live, and
HackAtari's shield modifications.

The addresses are OCAtari's (Delfosse et al. 2023, ``k4ntz/OC_Atari``, ``ocatari/ram/spaceinvaders.py``):
the agent's cannon x = ``ram[28] − 1`` (y 185), the alien formation's left edge ``ram[26] − 1`` and
its descent ``31 + 2·ram[16]``, one byte per alien row (``ram[23 − row]``, row 0 at the top), one bit
per column, shields ``ram[43:70]`` (nine bytes per shield, each two rows tall, bit 7 leftmost) at
``ram[27] − 1 + 32·i``, the UFO x ``ram[30] − 1``, the score in BCD ``ram[102]`` (hundreds) and
``ram[104]``. Checked here against the emulator's frames by clearing each alien and shield bit
(``tests/test_ale_space_invaders.py``). What the frames added: bit 0 of a row byte is always the
formation's leftmost *surviving* column (the game shifts the bits and moves ``ram[26]`` 16 pixels
right when the leftmost column is gone, so a column number is relative to it); a hit alien's
explosion is drawn in its cell for a few frames after its bit is cleared; the score is hidden while
the UFO flies (as OCAtari's HUD mode has it); the cannon is drawn
where it was a frame earlier, a pixel either side of ``ram[28] − 1`` while it moves, so its box is
9 pixels wide (OCAtari: 7).

The rules in :data:`FRAME_MODIFICATIONS` are HackAtari's Space Invaders modifications
(``k4ntz/HackAtari``, ``hackatari/games/spaceinvaders.py``), run before every emulated frame.
HackAtari's ``disable_shield_right`` also zeroes ``ram[70]``, a byte past the right shield that the
game uses for something else (it takes values 0..4, 254, 255 in play): here it clears the shield's
nine bytes only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cfsal.envs.ale_rules import FrameModification, Modification
from cfsal.envs.bcd import from_bcd, to_bcd

#: RAM addresses (OCAtari's).
SHIP_X, FORMATION_X, FORMATION_Y, SHIELDS_X, UFO_X = 28, 26, 16, 27, 30
SCORE_HUNDREDS, SCORE_ONES = 102, 104
SCORE_ADDRESSES = (SCORE_HUNDREDS, SCORE_ONES)  # as score_bytes writes them
ROWS, COLUMNS, SHIELDS, SHIELD_BYTES = 6, 6, 3, 9
MISSILE_X = 87  # HackAtari's controlable_missile writes the cannon's x here


def row_address(row: int) -> int:
    """The RAM byte of alien row ``row`` (0 at the top); bit ``c`` is column ``c`` from the left."""
    return 23 - row


def shield_addresses(shield: int) -> range:
    """The nine RAM bytes of shield ``shield`` (0 left .. 2 right), top to bottom."""
    return range(43 + SHIELD_BYTES * shield, 43 + SHIELD_BYTES * (shield + 1))


#: Screen geometry (210 × 160).
SHIP_X_OFFSET, SHIP_Y = 2, 185
SHIP_SIZE = (9, 10)
ALIEN_X_OFFSET, ALIEN_TOP, ALIEN_STEP = 1, 31, (16, 18)
ALIEN_SIZE = (8, 10)
SHIELD_X_OFFSET, SHIELD_STEP, SHIELD_TOP, SHIELD_WIDTH = 1, 32, 157, 8
UFO_X_OFFSET, UFO_Y = 1, 12
UFO_SIZE = (7, 8)
UFO_ABSENT = (0, 180)  # ram[30] when no UFO flies

#: The RAM values the game itself reaches (6,000 agent steps of random play; the cannon also held
#: left and right), inclusive.
SHIP_X_RANGE = (35, 117)
MAX_SCORE = 9999  # four digits on screen

#: The HUD (x, y, w, h): the agent's four digits, the other player's.
SCORE_BOX, OTHER_SCORE_BOX = (4, 10, 60, 10), (84, 10, 60, 10)
SHIP_COLOR = SCORE_COLOR = (50, 132, 50)
ALIEN_COLOR, SHIELD_COLOR, UFO_COLOR = (134, 134, 29), (181, 83, 40), (151, 25, 122)


def alien_alive(ram: Sequence[int], row: int, column: int) -> bool:
    return bool(ram[row_address(row)] >> column & 1)


def aliens_left(ram: Sequence[int]) -> int:
    return sum((ram[row_address(row)] & 0x3F).bit_count() for row in range(ROWS))


def score(ram: Sequence[int]) -> int:
    return from_bcd(ram[SCORE_HUNDREDS]) * 100 + from_bcd(ram[SCORE_ONES])


def score_bytes(value: int) -> tuple[int, int]:
    """(ram[102], ram[104]) showing ``value`` (0..9999)."""
    return to_bcd(value // 100), to_bcd(value % 100)


# -- HackAtari's modifications, run before every emulated frame -------------------------------------


def _clear_shields(*shields: int) -> FrameModification:
    def rule(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
        return {address: 0 for shield in shields for address in shield_addresses(shield)}, {}

    return rule


def _shields_at(value: int) -> FrameModification:
    def rule(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
        return {SHIELDS_X: value}, {}

    return rule


def controlable_missile(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``controlable_missile``: the cannon's missile follows the cannon (RAM 87 = RAM 28)."""
    return {MISSILE_X: int(ram[SHIP_X])}, {}


def no_danger(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``no_danger``: no shields, and the aliens' missiles cleared (RAM 80..82 = 0, 83..84 = 255)."""
    writes = {address: 0 for shield in range(SHIELDS) for address in shield_addresses(shield)}
    return {**writes, 80: 0, 81: 0, 82: 0, 83: 255, 84: 255}, {}


#: name (HackAtari's) → the per-frame rule, its memory when a game starts, what it does.
FRAME_MODIFICATIONS: dict[str, Modification] = {
    "disable_shield_left": Modification(_clear_shields(0), {}, "no left shield"),
    "disable_shield_middle": Modification(_clear_shields(1), {}, "no middle shield"),
    "disable_shield_right": Modification(_clear_shields(2), {}, "no right shield"),
    "relocate_shields_slight_left": Modification(_shields_at(35), {}, "shields 8 pixels left"),
    "relocate_shields_off_by_one": Modification(_shields_at(44), {}, "shields 1 pixel right"),
    "relocate_shields_off_by_three": Modification(_shields_at(46), {}, "shields 3 pixels right"),
    "relocate_shields_right": Modification(_shields_at(53), {}, "shields 10 pixels right"),
    "controlable_missile": Modification(controlable_missile, {}, "the cannon's missile follows the cannon"),
    "no_danger": Modification(no_danger, {}, "no shields and no alien missiles"),
}
