"""Atari Freeway's RAM: where the chickens, the cars and the scores live, and HackAtari's car stops.

The addresses are OCAtari's (Delfosse et al. 2023, ``k4ntz/OC_Atari``, ``ocatari/ram/freeway.py``):
the agent's chicken y = ``193 − ram[14]`` (x 44), the other player's ``193 − ram[15]`` (x 108), car
``i`` (lane 0 at the top .. 9) x = ``ram[117 − i] − 3``, scores ``ram[103]`` and ``ram[104]``
(BCD). Checked here against the emulator's frames (``tests/test_ale_freeway.py``), which corrected
OCAtari's car boxes: a car is drawn 8 rows tall from y = 28 + 16·i (OCAtari: 10 rows from
27 + 16·i); the game positions a car on the frame before it draws it, so the picture lags the RAM
by a frame (a car is drawn a pixel right of ``ram − 3`` while it moves left, and a moved car shows
from the second frame on), hence its box is 9 pixels wide; a car at ``ram < 3`` shows at the right
edge; the chicken is 7 pixels wide on the frames its legs swing (OCAtari: 6).

``ram[42 − i]`` is lane ``i``'s move counter (HackAtari's "speed"): the frames until the car next
moves, counted down every frame and reloaded by the game, so a car held with a large value stands
for that many frames (HackAtari writes 100 into it before every frame to stop a car for good).

The rules in :data:`FRAME_MODIFICATIONS` are HackAtari's Freeway modifications without randomness
(``k4ntz/HackAtari``, ``hackatari/games/freeway.py``), run before every emulated frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cfsal.envs.ale_rules import FrameModification, Modification
from cfsal.envs.bcd import from_bcd, to_bcd

#: RAM addresses (OCAtari's).
CHICKEN_Y, OTHER_CHICKEN_Y = 14, 15
SCORE, OTHER_SCORE = 103, 104
SCORE_ADDRESSES = (SCORE,)  # as score_bytes writes them
LANES = 10


def car_x_address(lane: int) -> int:
    """The RAM byte of lane ``lane``'s car x (lane 0 at the top)."""
    return 117 - lane


def car_counter_address(lane: int) -> int:
    """The RAM byte of lane ``lane``'s move counter (HackAtari's speed byte)."""
    return 42 - lane


#: Screen geometry (210 × 160): y = CHICKEN_Y_BASE − ram, x = ram − CAR_X_OFFSET.
CHICKEN_Y_BASE, CHICKEN_X, OTHER_CHICKEN_X = 193, 44, 108
CHICKEN_SIZE = (7, 8)
CAR_X_OFFSET, CAR_TOP, LANE_HEIGHT = 3, 28, 16
CAR_SIZE = (9, 8)
HIDDEN_LEFT = 8  # the Atari blanks the first 8 columns of these rows

#: The RAM values the game itself reaches (12,000 agent steps of random play, biased up), inclusive.
CHICKEN_Y_RANGE = (6, 177)
CAR_X_RANGE = (0, 159)
MAX_SCORE = 99  # two digits on screen
MAX_HOLD = 255  # frames a car can be held (one byte)

#: The HUD: the ones digit, and the tens digit left of it from 10 on (x, y, w, h).
SCORE_BOXES = ((49, 5, 6, 8), (41, 5, 14, 8))
OTHER_SCORE_BOXES = ((113, 5, 6, 8), (105, 5, 14, 8))
CHICKEN_COLOR, SCORE_COLOR = (252, 252, 84), (228, 111, 111)
#: Car colours by lane (OCAtari's ``car_colors``; lane 3 shares the score's colour).
CAR_COLORS = ((167, 26, 26), (180, 231, 117), (105, 105, 15), (228, 111, 111), (24, 26, 167),
              (162, 98, 33), (84, 92, 214), (184, 50, 50), (135, 183, 84), (210, 210, 64))


def score(ram: Sequence[int]) -> int:
    """The agent's score (BCD in ``ram[103]``)."""
    return from_bcd(ram[SCORE])


def score_bytes(value: int) -> tuple[int]:
    """(ram[103],) showing ``value`` (0..99)."""
    return (to_bcd(value),)


def score_box(byte: int, boxes: tuple[tuple[int, int, int, int], ...]) -> tuple[int, int, int, int]:
    return boxes[1] if from_bcd(byte) >= 10 else boxes[0]


# -- HackAtari's modifications, run before every emulated frame -------------------------------------
STOPPED = 100  # HackAtari's value for a stopped car's counter


def _stop(lanes: range, positions: tuple[int, int] | None = None) -> FrameModification:
    """Hold ``lanes`` (and, with ``positions``, put the top five cars' x at the first value, the bottom
    five's at the second), as HackAtari's ``stop_*`` rules do before every frame."""

    def rule(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
        writes = {car_counter_address(lane): STOPPED for lane in lanes}
        if positions is not None:
            writes.update({car_x_address(lane): positions[lane >= 5] for lane in range(LANES)})
        return writes, {}

    return rule


def stop_nearest_5(ram: Sequence[int], memory: Mapping[str, int]) -> tuple[dict[int, int], dict[str, int]]:
    """HackAtari's ``stop_nearest_5``: stop the bottom five lanes while the chicken is in the lower half
    (``ram[14] < 95``), else the top five."""
    lanes = range(5, 10) if ram[CHICKEN_Y] < 95 else range(5)
    return {car_counter_address(lane): STOPPED for lane in lanes}, {}


#: name (HackAtari's) → the per-frame rule, its memory when a game starts, what it does. HackAtari's
#: ``stop_all_cars_tunnel`` puts the bottom five cars (its RAM 108..112) at 35 and the top five at 55.
FRAME_MODIFICATIONS: dict[str, Modification] = {
    "stop_all_cars_tunnel": Modification(_stop(range(LANES), (55, 35)), {}, "all cars stand, leaving a gap"),
    "stop_all_cars_edge": Modification(_stop(range(LANES), (150, 15)), {}, "all cars stand at the screen's edges"),
    "disable_cars": Modification(_stop(range(LANES), (3, 3)), {}, "all cars stand off screen"),
    "stop_top_2": Modification(_stop(range(2)), {}, "lanes 0-1 stand"),
    "stop_bottom_2": Modification(_stop(range(8, 10)), {}, "lanes 8-9 stand"),
    "stop_top_4": Modification(_stop(range(4)), {}, "lanes 0-3 stand"),
    "stop_bottom_4": Modification(_stop(range(6, 10)), {}, "lanes 6-9 stand"),
    "stop_nearest_5": Modification(stop_nearest_5, {}, "the five lanes of the chicken's half stand"),
}
