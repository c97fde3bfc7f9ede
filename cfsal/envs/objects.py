"""Game objects from the game state, as pixel boxes in the native frame and in the observation.

Saliency claims are about *things* ("the agent looks at the score", "at the enemy nearest the
player"), so every saliency query needs to know where each thing is drawn. The seed paper found
objects by template matching plus hand-computed pixels; cfsal reads them from the Toybox state
(the same JSON the interventions edit) and the renderer's layout constants, so a moved object's
box moves with it and nothing is guessed from pixels. Real Atari games (``ale_pong``) are read
from the Atari's RAM, at OCAtari's addresses (:mod:`cfsal.envs.ale_pong_ram`), checked against
the emulator's frames in ``tests/test_ale_objects.py``.

Geometry (from ctoybox 0.5.0's renderers, checked against rendered frames in
``tests/test_objects.py``):

* A box is half-open in native pixels, ``x0 ≤ x < x1``, ``y0 ≤ y < y1``, clipped to the frame.
* Native frames are breakout 240×160, amidar 160×250, space_invaders 320×210, pong and ale_pong
  160×210 (width × height). Observations are those frames box-resized by PIL to ``screen × screen`` (84),
  so an observation pixel averages a ``≈W/84 × H/84`` patch of native pixels.
  :meth:`ObjectBox.obs_weights` gives the share of each observation pixel that comes from the
  box, with PIL's own resampling weights (what region masses use);
  :meth:`ObjectBox.obs_mask` gives every observation pixel the box touches (what object removal
  paints over).

Public face: :func:`objects`, :class:`ObjectBox`, :data:`NATIVE_SIZE`, :data:`BACKGROUND_GRAY`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import numpy as np

from cfsal.envs import ale_objects
from cfsal.envs import ale_pong_ram as pong_ram
from cfsal.envs.games import get_game
from cfsal.errors import CfsalError

SCHEMA_VERSION = 1

#: Native frame size (height, width) of each game, as ``Toybox.get_height()/get_width()`` report.
NATIVE_SIZE: dict[str, tuple[int, int]] = {
    "breakout": (160, 240),
    "amidar": (250, 160),
    "space_invaders": (210, 320),
    "pong": (210, 160),
    "ale_pong": (210, 160),
    **{game: (210, 160) for game in ale_objects.EXTRACTORS},
}

#: Grayscale value of each game's background in the observation (Toybox's own conversion).
#: Object saliency can paint removed objects with it instead of the paper's 0 (which is only
#: the background in breakout, amidar and the space_invaders sky; pong's field is 83).
BACKGROUND_GRAY: dict[str, int] = {"breakout": 0, "amidar": 0, "space_invaders": 0, "pong": 83, "ale_pong": 87,
                                   **ale_objects.BACKGROUND_GRAY}


@dataclass(frozen=True)
class ObjectBox:
    """One named game object as an axis-aligned box in native pixels (half-open, clipped).

    ``kind`` groups objects ("brick", "enemy", "score", …); ``color`` is the RGB the renderer
    draws it in, when it has a single one (tests check the box against those pixels).
    """

    name: str
    kind: str
    x0: int
    y0: int
    x1: int
    y1: int
    frame_size: tuple[int, int]
    color: tuple[int, int, int] | None = None

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """Centre (x, y) in native pixels."""
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0

    def native_mask(self) -> np.ndarray:
        """Boolean mask over the native frame (height × width)."""
        mask = np.zeros(self.frame_size, dtype=bool)
        mask[self.y0:self.y1, self.x0:self.x1] = True
        return mask

    def _coverage(self, screen: int) -> tuple[np.ndarray, np.ndarray]:
        height, width = self.frame_size
        return (_area_matrix(height, screen)[:, self.y0:self.y1].sum(axis=1),
                _area_matrix(width, screen)[:, self.x0:self.x1].sum(axis=1))

    def obs_weights(self, screen: int = 84) -> np.ndarray:
        """Fraction of each observation pixel covered by the box (float32, screen × screen).

        Box resizing averages native pixels, so this is the share of each observation pixel
        that shows this object's box (to within the observation's uint8 rounding). Weights of boxes that tile the frame sum to 1 per pixel,
        which is what makes region masses add up.
        """
        rows, cols = self._coverage(screen)
        return np.outer(rows, cols).astype(np.float32)

    def obs_box(self, screen: int = 84) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1), half-open: every observation pixel the box touches."""
        rows, cols = self._coverage(screen)
        r, c = np.nonzero(rows)[0], np.nonzero(cols)[0]
        if len(r) == 0 or len(c) == 0:
            return 0, 0, 0, 0
        return int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1

    def obs_mask(self, screen: int = 84) -> np.ndarray:
        """Boolean mask (screen × screen) of every observation pixel the box touches."""
        row0, row1, col0, col1 = self.obs_box(screen)
        mask = np.zeros((screen, screen), dtype=bool)
        mask[row0:row1, col0:col1] = True
        return mask

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "box": [self.x0, self.y0, self.x1, self.y1],
                "frame_size": list(self.frame_size), "color": None if self.color is None else list(self.color)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectBox:
        x0, y0, x1, y1 = (int(v) for v in data["box"])
        color = data.get("color")
        return cls(str(data["name"]), str(data["kind"]), x0, y0, x1, y1,
                   (int(data["frame_size"][0]), int(data["frame_size"][1])),
                   None if color is None else (int(color[0]), int(color[1]), int(color[2])))


def _trunc(value: float) -> int:
    """Rust's ``as i32`` on a float: truncation toward zero (how Toybox turns positions into pixels)."""
    return int(value)


class _Builder:
    """Collects clipped boxes for one frame; boxes entirely off-screen are dropped."""

    def __init__(self, game: str) -> None:
        self.size = NATIVE_SIZE[game]
        self.boxes: dict[str, ObjectBox] = {}

    def add(self, name: str, kind: str, x: int, y: int, w: int, h: int,
            color: tuple[int, int, int] | None = None) -> None:
        height, width = self.size
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            self.boxes[name] = ObjectBox(name, kind, x0, y0, x1, y1, self.size, color)


# -- breakout ---------------------------------------------------------------------------------
_BREAKOUT_BALL_COLOR = (200, 72, 72)
_BREAKOUT_HUD_COLOR = (144, 144, 144)
_BREAKOUT_DIGIT = (24, 12)  # digit sprite cell (width, height), drawn at y = 1
_BREAKOUT_SCORE_RIGHT_DIGIT_X = 100  # BOARD_LEFT_X (12) + 88; digits go leftwards, 3 shown
_BREAKOUT_LIVES_X = 148


def _breakout(state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    out = _Builder("breakout")
    radius = _trunc(state["ball_radius"])
    for i, ball in enumerate(state["balls"]):
        x, y = _trunc(ball["position"]["x"]), _trunc(ball["position"]["y"])
        out.add("ball" if i == 0 else f"ball_{i}", "ball", x - radius, y - radius, 2 * radius, 2 * radius,
                _BREAKOUT_BALL_COLOR)
    paddle = state["paddle"]["position"]
    width = _trunc(state["paddle_width"])
    out.add("paddle", "paddle", _trunc(paddle["x"]) - width // 2, _trunc(paddle["y"]), width, 3,
            _BREAKOUT_BALL_COLOR)
    rows: dict[int, list[tuple[int, int, int, int]]] = {}
    for brick in state["bricks"]:
        if not brick["alive"]:
            continue
        x, y = _trunc(brick["position"]["x"]), _trunc(brick["position"]["y"])
        w, h = _trunc(brick["size"]["x"]), _trunc(brick["size"]["y"])
        c = brick["color"]
        out.add(f"brick_r{brick['row']}_c{brick['col']:02d}", "brick", x, y, w, h, (c["r"], c["g"], c["b"]))
        rows.setdefault(int(brick["row"]), []).append((x, y, x + w, y + h))
    for row, extents in sorted(rows.items()):
        x0, y0 = min(e[0] for e in extents), min(e[1] for e in extents)
        x1, y1 = max(e[2] for e in extents), max(e[3] for e in extents)
        out.add(f"brick_row_{row}", "brick_row", x0, y0, x1 - x0, y1 - y0)
    digit_w, digit_h = _BREAKOUT_DIGIT
    n_digits = max(3, len(str(max(0, int(state["score"])))))
    out.add("score", "score", _BREAKOUT_SCORE_RIGHT_DIGIT_X - (n_digits - 1) * digit_w, 1,
            n_digits * digit_w, digit_h, _BREAKOUT_HUD_COLOR)
    lives = int(state["lives"])
    if lives >= 0:
        n_lives = len(str(lives))
        out.add("lives", "lives", _BREAKOUT_LIVES_X - (n_lives - 1) * digit_w, 1, n_lives * digit_w, digit_h,
                _BREAKOUT_HUD_COLOR)
    return out.boxes


# -- amidar -----------------------------------------------------------------------------------
_AMIDAR_BOARD_OFFSET = (16, 37)
_AMIDAR_TILE = (4, 5)
_AMIDAR_WORLD_SCALE = 16
_AMIDAR_SPRITE = 7
_AMIDAR_HUD_Y, _AMIDAR_HUD_H = 198, 8
_AMIDAR_SCORE_RIGHT_X, _AMIDAR_SCORE_DIGIT_W = 101, 8
_AMIDAR_LIVES_X, _AMIDAR_LIVES_STEP = 148, 16
_AMIDAR_PLAYER_COLOR = (255, 255, 153)


def _amidar_sprite_origin(position: Mapping[str, Any]) -> tuple[int, int]:
    """World units → the sprite's top-left pixel: (x/16 + 16 − 1, y/16 + 37 − 1)."""
    ox, oy = _AMIDAR_BOARD_OFFSET
    return (_trunc(position["x"] / _AMIDAR_WORLD_SCALE) + ox - 1,
            _trunc(position["y"] / _AMIDAR_WORLD_SCALE) + oy - 1)


def _amidar(state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    out = _Builder("amidar")
    x, y = _amidar_sprite_origin(state["player"]["position"])
    out.add("player", "player", x, y, _AMIDAR_SPRITE, _AMIDAR_SPRITE)
    for i, enemy in enumerate(state["enemies"]):
        x, y = _amidar_sprite_origin(enemy["position"])
        out.add(f"enemy_{i}", "enemy", x, y, _AMIDAR_SPRITE, _AMIDAR_SPRITE)
    ox, oy = _AMIDAR_BOARD_OFFSET
    tw, th = _AMIDAR_TILE
    for i, box in enumerate(state["board"]["boxes"]):
        if not box["painted"]:
            continue
        # The renderer fills the inside of a painted box: tiles (tx0+1 .. tx1) × (ty0+1 .. ty1).
        x0 = ox + (box["top_left"]["tx"] + 1) * tw
        y0 = oy + (box["top_left"]["ty"] + 1) * th
        x1, y1 = ox + box["bottom_right"]["tx"] * tw, oy + box["bottom_right"]["ty"] * th
        out.add(f"painted_box_{i:02d}", "painted_box", x0, y0, x1 - x0, y1 - y0)
    n_digits = len(str(max(0, int(state["score"]))))
    out.add("score", "score", _AMIDAR_SCORE_RIGHT_X - n_digits * _AMIDAR_SCORE_DIGIT_W, _AMIDAR_HUD_Y,
            n_digits * _AMIDAR_SCORE_DIGIT_W, _AMIDAR_HUD_H)
    lives = int(state["lives"])
    if lives > 0:
        left = _AMIDAR_LIVES_X - (lives - 1) * _AMIDAR_LIVES_STEP
        out.add("lives", "lives", left, _AMIDAR_HUD_Y, _AMIDAR_LIVES_X + 1 - left, _AMIDAR_HUD_H,
                _AMIDAR_PLAYER_COLOR)
    return out.boxes


# -- space invaders ---------------------------------------------------------------------------
_SI_SHIP = (16, 10)
_SI_ENEMY = (16, 10)
_SI_SHIELD = (16, 18)
_SI_UFO = (14, 7)
_SI_SCORE = (8, 8, 120, 10)  # x, y, w, h of the four zero-padded digits (left player)
_SI_LIVES = (168, 185, 24, 10)
_SI_SHIP_COLOR, _SI_ENEMY_COLOR = (35, 129, 59), (132, 132, 36)
_SI_UFO_COLOR, _SI_LASER_COLOR = (140, 32, 116), (144, 144, 144)
_SI_LIVES_COLOR, _SI_SCORE_COLOR = (162, 134, 56), (64, 124, 64)


def _space_invaders(state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    out = _Builder("space_invaders")
    ship = state["ship"]
    displaying_lives = not ship["alive"] and ship["death_counter"] is None
    out.add("ship", "ship", ship["x"], ship["y"], *_SI_SHIP, _SI_SHIP_COLOR)
    for i, shield in enumerate(state["shields"]):
        out.add(f"shield_{i}", "shield", shield["x"], shield["y"], *_SI_SHIELD)
    for enemy in state["enemies"]:
        if enemy["alive"]:
            out.add(f"alien_r{enemy['row']}_c{enemy['col']}", "alien", enemy["x"], enemy["y"], *_SI_ENEMY,
                    _SI_ENEMY_COLOR)
    ufo = state.get("ufo")
    if ufo is not None and ufo.get("appearance_counter") is None:
        out.add("ufo", "ufo", ufo["x"], ufo["y"], *_SI_UFO, _SI_UFO_COLOR)
    lasers = ([("ship_laser", state["ship_laser"])] if state.get("ship_laser") else []) + \
        [(f"enemy_laser_{i}", laser) for i, laser in enumerate(state.get("enemy_lasers", []))]
    for name, laser in lasers:
        if laser["t"] % 4 < 2:  # lasers blink: drawn on two of every four frames
            out.add(name, "laser", laser["x"], laser["y"], laser["w"], laser["h"], _SI_LASER_COLOR)
    out.add("score", "score", *_SI_SCORE, _SI_SCORE_COLOR)
    if displaying_lives:
        out.add("lives", "lives", *_SI_LIVES, _SI_LIVES_COLOR)
    return out.boxes


# -- pong -------------------------------------------------------------------------------------
_PONG_BALL = (2, 4)
_PONG_PADDLE = (4, 16)
_PONG_SCORE_Y, _PONG_SCORE_H = 1, 20
_PONG_OPPONENT_SCORE_X, _PONG_AGENT_SCORE_X = 16, 96  # two 16-wide digit cells each
_PONG_AGENT_COLOR, _PONG_OPPONENT_COLOR, _PONG_BALL_COLOR = (92, 186, 92), (231, 130, 74), (236, 236, 236)


def _pong(state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    """The agent plays p1 (right, green), as in Atari Pong; p2 is the built-in opponent (left)."""
    state = state.get("state", state)
    out = _Builder("pong")
    ball = state["ball"]["position"]
    out.add("ball", "ball", _trunc(ball["x"]), _trunc(ball["y"]), *_PONG_BALL, _PONG_BALL_COLOR)
    for name, key, color in (("paddle", "p1_paddle", _PONG_AGENT_COLOR),
                             ("opponent_paddle", "p2_paddle", _PONG_OPPONENT_COLOR)):
        pos = state[key]["position"]
        out.add(name, "paddle", _trunc(pos["x"]), _trunc(pos["y"]), *_PONG_PADDLE, color)
    out.add("score", "score", _PONG_AGENT_SCORE_X, _PONG_SCORE_Y, 32, _PONG_SCORE_H, _PONG_AGENT_COLOR)
    out.add("opponent_score", "score", _PONG_OPPONENT_SCORE_X, _PONG_SCORE_Y, 32, _PONG_SCORE_H,
            _PONG_OPPONENT_COLOR)
    return out.boxes


# -- ale_pong (real Atari Pong, read from RAM) ---------------------------------------------------
def _ale_pong(state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    """OCAtari's Pong objects under Toybox Pong's names (OCAtari: Player, Enemy, Ball, PlayerScore,
    EnemyScore), so one hypothesis reads both games. Paddles and the ball are clipped to the court
    (the walls hide what is under them); the ball's box is one row taller than OCAtari's, above it,
    because the game draws it a row higher on some frames (about one in ten)."""
    ram = state["ram"]
    if len(ram) != 128:
        raise TypeError("'ram' of 128 bytes")
    out = _Builder("ale_pong")

    def court(name: str, kind: str, x: int, y: int, size: tuple[int, int], color: tuple[int, int, int]) -> None:
        y0, y1 = max(y, pong_ram.FIELD_TOP), min(y + size[1], pong_ram.FIELD_BOTTOM)
        if y1 > y0:
            out.add(name, kind, x, y0, size[0], y1 - y0, color)

    if pong_ram.ball_in_play(ram):
        x, y = ram[pong_ram.BALL_X] - pong_ram.BALL_X_OFFSET, ram[pong_ram.BALL_Y] - pong_ram.BALL_Y_OFFSET
        court("ball", "ball", x, y - 1, (pong_ram.BALL_SIZE[0], pong_ram.BALL_SIZE[1] + 1), pong_ram.BALL_COLOR)
    player_y = ram[pong_ram.PLAYER_Y_SHOWN] - pong_ram.PLAYER_Y_OFFSET
    court("paddle", "paddle", pong_ram.PLAYER_X, player_y - player_y % 2, pong_ram.PADDLE_SIZE, pong_ram.PLAYER_COLOR)
    if pong_ram.enemy_shown(ram):
        court("opponent_paddle", "paddle", pong_ram.ENEMY_X, ram[pong_ram.ENEMY_Y_SHOWN] - pong_ram.ENEMY_Y_OFFSET,
              pong_ram.PADDLE_SIZE, pong_ram.ENEMY_COLOR)
    for name, address, boxes, color in (("score", pong_ram.PLAYER_SCORE, pong_ram.PLAYER_SCORE_BOXES, pong_ram.PLAYER_COLOR),
                                        ("opponent_score", pong_ram.ENEMY_SCORE, pong_ram.ENEMY_SCORE_BOXES, pong_ram.ENEMY_COLOR)):
        x, width = pong_ram.score_box(ram[address], boxes)
        out.add(name, "score", x, pong_ram.SCORE_Y, width, pong_ram.SCORE_HEIGHT, color)
    return out.boxes


def _from_ram(game: str, state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    """The boxes of an ALE game whose RAM reader lives in :mod:`cfsal.envs.ale_objects`."""
    ram = state["ram"]
    if len(ram) != 128:
        raise TypeError("'ram' of 128 bytes")
    out = _Builder(game)
    for sprite in ale_objects.EXTRACTORS[game](ram):
        out.add(*sprite)
    return out.boxes


_EXTRACTORS: dict[str, Callable[[Mapping[str, Any]], dict[str, ObjectBox]]] = {
    "breakout": _breakout, "amidar": _amidar, "space_invaders": _space_invaders, "pong": _pong,
    "ale_pong": _ale_pong,
    **{game: partial(_from_ram, game) for game in ale_objects.EXTRACTORS},
}


def objects(game: str, state: Mapping[str, Any]) -> dict[str, ObjectBox]:
    """Every visible game object in ``state`` (``env.get_toybox_state()``), by name.

    Names: breakout ``ball``, ``paddle``, ``brick_r{row}_c{col:02d}`` (alive bricks),
    ``brick_row_{row}`` (bounding box of a row's alive bricks), ``score``, ``lives``;
    amidar ``player``, ``enemy_{i}``, ``painted_box_{i:02d}``, ``score``, ``lives``;
    space_invaders ``ship``, ``shield_{i}``, ``alien_r{row}_c{col}``, ``ufo``, ``ship_laser``,
    ``enemy_laser_{i}``, ``score``, ``lives`` (only while the game shows them);
    pong and ale_pong ``ball``, ``paddle`` (the agent's), ``opponent_paddle``, ``score``,
    ``opponent_score``; the other ALE games as :mod:`cfsal.envs.ale_objects` lists them. Objects not
    on screen (no ball in play, dead bricks, a UFO yet to appear) are absent.
    """
    spec = get_game(game)
    try:
        return _EXTRACTORS[spec.name](state)
    except (KeyError, TypeError) as error:
        raise CfsalError(
            f"objects({spec.name!r}, state): the state lacks {error} — pass the dict from "
            f"env.get_toybox_state() of a {spec.name} environment."
        ) from None


def select(boxes: Mapping[str, ObjectBox], pattern: str | Iterable[str]) -> list[ObjectBox]:
    """Boxes whose name matches ``pattern`` (exact name, glob such as ``enemy_*``, or kind), or
    any of several patterns.

    An exact name wins over a kind: in Pong ``"paddle"`` is the agent's paddle, not both paddles
    (the opponent's is ``"opponent_paddle"``, of kind ``paddle`` too); ``"brick"``, which names no
    single box, is every box of that kind.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    chosen: dict[str, ObjectBox] = {}
    for pat in patterns:
        if pat in boxes:
            chosen[pat] = boxes[pat]
            continue
        for name, box in boxes.items():
            if box.kind == pat or fnmatch.fnmatchcase(name, pat):
                chosen[name] = box
    return list(chosen.values())


def union_weights(boxes: Iterable[ObjectBox], screen: int = 84) -> np.ndarray:
    """Observation-pixel coverage of the union of ``boxes`` (overlaps counted once).

    The union is formed in native pixels and area-resized exactly like the observation, so
    coverage of overlapping boxes (a brick and its row) is neither double-counted nor clipped.
    """
    boxes = list(boxes)
    if not boxes:
        return np.zeros((screen, screen), dtype=np.float32)
    if len(boxes) == 1:
        return boxes[0].obs_weights(screen)
    size = boxes[0].frame_size
    mask = np.zeros(size, dtype=np.float64)
    for box in boxes:
        if box.frame_size != size:
            raise CfsalError(f"cannot unite boxes from frames of sizes {size} and {box.frame_size}")
        mask[box.y0:box.y1, box.x0:box.x1] = 1.0
    return area_resize(mask, screen).astype(np.float32)


def area_resize(native: np.ndarray, screen: int = 84) -> np.ndarray:
    """Area-average a native-resolution array (H × W) onto ``screen × screen`` cells (float64)."""
    height, width = native.shape
    return _area_matrix(height, screen) @ native @ _area_matrix(width, screen).T


@lru_cache(maxsize=16)
def _area_matrix(native: int, screen: int) -> np.ndarray:
    """[screen, native] weights of PIL's BOX resampling (what ``preprocess_frame`` uses).

    PIL's box filter does not split native pixels at cell borders: a native pixel counts fully
    for the cell whose box ``(center − scale/2, center + scale/2]`` holds the pixel's centre,
    and each cell averages its pixels. Replicating its coefficients makes object coverages match
    the observation the agent saw, not an idealised area average.
    """
    scale = native / screen
    centers = (np.arange(screen) + 0.5) * scale
    xmin = np.maximum((centers - scale * 0.5 + 0.5).astype(np.int64), 0)
    xmax = np.minimum((centers + scale * 0.5 + 0.5).astype(np.int64), native)
    pixel = np.arange(native)
    t = (pixel[None, :] - centers[:, None] + 0.5) / scale
    inside = (t > -0.5) & (t <= 0.5) & (pixel[None, :] >= xmin[:, None]) & (pixel[None, :] < xmax[:, None])
    matrix = inside / inside.sum(axis=1, keepdims=True)
    matrix.flags.writeable = False
    return matrix
