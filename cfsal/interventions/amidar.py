"""Amidar interventions: the score, the enemies along their routes, the player, paint, lives, chase.

Geometry (Toybox ``tb_amidar``; checked against rendered frames in the tests): the board is 32 × 31
tiles; positions are *world* units, 64 per tile across and 80 per tile down (tile (tx, ty) is at
world (64·tx, 80·ty)). On screen a world point is at (x/16 + 16, y/16 + 37), so tile (tx, ty) is at
pixel (4·tx + 16, 5·ty + 37), as the seed noted; sprites (7 × 7) are drawn one pixel up-left of it.
The score is drawn bottom-centre (y ≈ 199..205), the lives as bars to its right.

Enemies follow Toybox's lookup AI: enemy ``i`` walks a fixed closed route of tiles
(:mod:`cfsal.interventions._amidar_routes`); ``EnemyLookupAI.next`` is the index of the route tile
it is heading for. The paper moved enemies by editing ``next`` alone, which leaves the enemy where
it is until it reaches its current target (the seed notes: no effect for 40 frames). Here
:class:`MoveEnemies` places the enemy on the route tile by default, and keeps the paper's literal
edit as ``waypoint_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.interventions import _common
from cfsal.interventions._amidar_routes import ROUTES
from cfsal.interventions.config import KeyedConfigure
from cfsal.interventions.params import param
from cfsal.interventions.state import Intervention

GAME = "amidar"
BOARD_WIDTH, BOARD_HEIGHT = 32, 31
TILE_WORLD = (64, 80)
MAX_ENEMIES = len(ROUTES)


def tile_to_world(tx: int, ty: int) -> tuple[int, int]:
    return tx * TILE_WORLD[0], ty * TILE_WORLD[1]


def tile_of(tile_id: int) -> tuple[int, int]:
    return tile_id % BOARD_WIDTH, tile_id // BOARD_WIDTH


def _reverse_offsets() -> dict[int, tuple[int, int]]:
    """route → (reverse route, offset o) with reverse[m] == route[(o − m) mod L], where one exists."""
    found: dict[int, tuple[int, int]] = {}
    for a, route in enumerate(ROUTES):
        for b, other in enumerate(ROUTES):
            if a == b or len(route) != len(other):
                continue
            length = len(route)
            for offset in range(length):
                if all(other[m] == route[(offset - m) % length] for m in range(length)):
                    found[a] = (b, offset)
                    break
    return found


REVERSE_ROUTES = _reverse_offsets()


class _Amidar(Intervention):
    game: ClassVar[str] = GAME


def _lookup_ai(intervention: Intervention, enemy: dict[str, Any], index: int) -> dict[str, Any]:
    ai = enemy["ai"]
    if not isinstance(ai, dict) or "EnemyLookupAI" not in ai:
        kind = next(iter(ai)) if isinstance(ai, dict) else ai
        raise intervention._error(
            f"enemy {index} is driven by {kind}, not Toybox's route-following EnemyLookupAI; route "
            f"interventions only apply to route-following enemies (the default Amidar)."
        )
    return ai["EnemyLookupAI"]


def _enemy_indices(intervention: Intervention, state: dict[str, Any], chosen: tuple[int, ...]) -> list[int]:
    count = len(state["enemies"])
    indices = list(chosen) if chosen else list(range(count))
    for i in indices:
        if i >= count:
            raise intervention._error(f"enemy {i} does not exist; this state has {count} enemies (0..{count - 1}).")
    return indices


def _enemy_positions(state: dict[str, Any]) -> list[tuple[int, int]]:
    return [(e["position"]["x"], e["position"]["y"]) for e in state["enemies"]]


def _place_on_route(enemy: dict[str, Any], ai: dict[str, Any], index: int) -> None:
    """Put an enemy exactly on route tile ``index``; its next update picks the following tile."""
    route = ROUTES[ai["default_route_index"]]
    index %= len(route)
    tx, ty = tile_of(route[index])
    x, y = tile_to_world(tx, ty)
    ai["next"] = index
    enemy["position"] = {"x": x, "y": y}
    enemy["step"] = None


# -- enemies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveEnemies(_Amidar):
    """Move enemies ``steps`` tiles along their routes (negative: back). All enemies by default.

    The enemy is placed exactly on the route tile ``steps`` tiles after the last route tile it
    reached and continues its route from there, so the move is visible at once. The paper's
    IVmoveEnemies (forward, all enemies, at steps 20, 40, 80, …) edited only the waypoint index:
    ``waypoint_only=True`` reproduces that literally (``next += steps``), which leaves the enemy
    in place until it reaches its current target and then walks straight toward the new one.
    """

    summary: ClassVar[str] = "move enemies forward/back along their routes"
    paper_name: ClassVar[str] = "IVmoveEnemies"
    steps: int = param(low=-60, high=60, doc="route tiles forward (negative: back)")
    enemies: tuple[int, ...] = param((), low=0, high=MAX_ENEMIES - 1, doc="which enemies (empty: all)")
    waypoint_only: bool = param(False, doc="the paper's literal edit: change only the waypoint index")

    def _validate(self) -> None:
        if self.steps == 0:
            raise self._error("steps=0 moves nothing; give a non-zero number of route tiles.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        for i in _enemy_indices(self, state, self.enemies):
            enemy = state["enemies"][i]
            ai = _lookup_ai(self, enemy, i)
            length = len(ROUTES[ai["default_route_index"]])
            if self.waypoint_only:
                ai["next"] = (ai["next"] + self.steps) % length
            else:
                _place_on_route(enemy, ai, ai["next"] - 1 + self.steps)

    def target(self, state: dict[str, Any]) -> Any:
        chosen = self.enemies or range(len(state["enemies"]))
        return [(_enemy_positions(state)[i] if i < len(state["enemies"]) else None) for i in chosen]


@dataclass(frozen=True)
class MoveEnemyBack(MoveEnemies):
    """Move one enemy ``steps`` tiles back along its route (the paper's IVmoveEnemiesBack, 6..10).

    Same mechanics as :class:`MoveEnemies` with a negative step count and a single enemy.
    """

    summary: ClassVar[str] = "move one enemy back along its route"
    paper_name: ClassVar[str] = "IVmoveEnemiesBack"
    enemy: int = param(0, low=0, high=MAX_ENEMIES - 1, doc="which enemy")
    steps: int = param(6, low=1, high=60, doc="route tiles back")
    enemies: tuple[int, ...] = param((), low=0, high=MAX_ENEMIES - 1, doc="ignored: use enemy")

    def _validate(self) -> None:
        if self.enemies:
            raise self._error("use enemy=i to choose the enemy; enemies=… belongs to amidar.move_enemies.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        MoveEnemies(steps=-self.steps, enemies=(self.enemy,), waypoint_only=self.waypoint_only)._edit(state, rng)

    def target(self, state: dict[str, Any]) -> Any:
        return _enemy_positions(state)[self.enemy] if self.enemy < len(state["enemies"]) else None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        del out["enemies"]
        return out


@dataclass(frozen=True)
class ReverseEnemy(_Amidar):
    """Turn an enemy round: it heads back to the tile it came from and walks its route backwards.

    The paper sketched "switch enemy direction" but did not implement it. Toybox's lookup AI can
    only walk a route forwards, so an enemy is reversed by moving it onto the route that is its
    route walked backwards. In the default game only routes 2 and 4 are such a pair (enemies 2 and
    4); other enemies raise an error rather than silently changing their behaviour.
    """

    summary: ClassVar[str] = "turn an enemy round (enemies on routes 2 and 4)"
    enemy: int = param(low=0, high=MAX_ENEMIES - 1, doc="which enemy")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        (index,) = _enemy_indices(self, state, (self.enemy,))
        enemy = state["enemies"][index]
        ai = _lookup_ai(self, enemy, index)
        route = ai["default_route_index"]
        if route not in REVERSE_ROUTES:
            pairs = ", ".join(f"{a}↔{b}" for a, (b, _) in REVERSE_ROUTES.items() if a < b) or "none"
            raise self._error(
                f"enemy {index} follows route {route}, which has no reversed twin (Toybox's lookup AI "
                f"only walks routes forwards; reversible routes: {pairs}). Use amidar.move_enemy_back "
                f"to move it backwards instead."
            )
        reverse, offset = REVERSE_ROUTES[route]
        length = len(ROUTES[route])
        came_from = (ai["next"] - 1) % length
        new_next = (offset - came_from) % length
        ai["default_route_index"] = reverse
        ai["next"] = new_next
        tx, ty = tile_of(ROUTES[reverse][new_next])
        enemy["step"] = {"tx": tx, "ty": ty}

    def target(self, state: dict[str, Any]) -> Any:
        if self.enemy >= len(state["enemies"]):
            return None
        enemy = state["enemies"][self.enemy]
        return (enemy["ai"], enemy["step"])


@dataclass(frozen=True)
class SetEnemyCount(_Amidar):
    """Keep the first ``count`` enemies, or add enemies (on unused routes, at their route starts)."""

    summary: ClassVar[str] = "remove enemies or add them at their route starts"
    count: int = param(low=0, high=MAX_ENEMIES, doc="number of enemies (Toybox: 5)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        enemies = state["enemies"][: self.count]
        speed = enemies[0]["speed"] if enemies else 10
        used = {e["ai"]["EnemyLookupAI"]["default_route_index"] for e in enemies if "EnemyLookupAI" in e["ai"]}
        free = [r for r in range(len(ROUTES)) if r not in used]
        while len(enemies) < self.count:
            route = free.pop(0) if free else len(enemies) % len(ROUTES)
            enemy = {"ai": {"EnemyLookupAI": {"next": 0, "default_route_index": route}},
                     "position": {"x": 0, "y": 0}, "caught": False, "speed": speed, "step": None,
                     "history": []}
            _place_on_route(enemy, enemy["ai"]["EnemyLookupAI"], 0)
            enemies.append(enemy)
        state["enemies"] = enemies

    def target(self, state: dict[str, Any]) -> Any:
        return len(state["enemies"])


@dataclass(frozen=True)
class SetEnemySpeed(_Amidar):
    """Set enemies' speed in world units per frame (Toybox: 10; a tile is 64 across, 80 down).

    Toybox resets enemy speeds when a level is completed.
    """

    summary: ClassVar[str] = "set enemy speed"
    speed: int = param(low=1, high=40, doc="world units per frame (player: 8)")
    enemies: tuple[int, ...] = param((), low=0, high=MAX_ENEMIES - 1, doc="which enemies (empty: all)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        for i in _enemy_indices(self, state, self.enemies):
            state["enemies"][i]["speed"] = self.speed

    def target(self, state: dict[str, Any]) -> Any:
        return [e["speed"] for e in state["enemies"]]


# -- player -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MovePlayer(_Amidar):
    """Put the player on tile (tx, ty), which must be part of the track (not an empty tile).

    The player's memory of visited junctions is cleared: painting resumes from the next junction
    it reaches (Toybox paints the segment between the last two junctions, which after a teleport
    would be a segment the player never walked).
    """

    summary: ClassVar[str] = "put the player on a track tile"
    tx: int = param(low=0, high=BOARD_WIDTH - 1, doc="tile column (0 = left)")
    ty: int = param(low=0, high=BOARD_HEIGHT - 1, doc="tile row (0 = top)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        if state["board"]["tiles"][self.ty][self.tx] == "Empty":
            raise self._error(
                f"tile (tx={self.tx}, ty={self.ty}) is not part of the track. Pick a tile on a painted "
                f"or unpainted segment (rows 0, 5, 10, … and the vertical segments)."
            )
        x, y = tile_to_world(self.tx, self.ty)
        player = state["player"]
        player["position"] = {"x": x, "y": y}
        player["step"] = None
        player["history"] = []

    def target(self, state: dict[str, Any]) -> Any:
        return (state["player"]["position"]["x"], state["player"]["position"]["y"])


# -- paint --------------------------------------------------------------------------------------
def _box_perimeter(box: dict[str, Any]) -> list[tuple[int, int]]:
    x1, y1 = box["top_left"]["tx"], box["top_left"]["ty"]
    x2, y2 = box["bottom_right"]["tx"], box["bottom_right"]["ty"]
    return ([(x, y) for x in range(x1, x2 + 1) for y in (y1, y2)]
            + [(x, y) for y in range(y1, y2 + 1) for x in (x1, x2)])


def _paint(state: dict[str, Any], tiles: set[tuple[int, int]], painted: bool, update_boxes: bool) -> None:
    board = state["board"]
    chase = set(board["chase_junctions"])
    for tx, ty in tiles:
        if board["tiles"][ty][tx] == "Empty":
            continue
        if painted:
            board["tiles"][ty][tx] = "Painted"
        else:
            board["tiles"][ty][tx] = "ChaseMarker" if ty * BOARD_WIDTH + tx in chase else "Unpainted"
    if update_boxes:
        for box in board["boxes"]:
            perimeter = _box_perimeter(box)
            if tiles.intersection(perimeter):
                box["painted"] = all(board["tiles"][y][x] == "Painted" for x, y in perimeter)


@dataclass(frozen=True)
class PaintTiles(_Amidar):
    """Paint (or unpaint) the track tiles of whole board ``rows`` and/or ``columns``.

    No points are awarded. With ``update_boxes`` a box whose whole outline is painted is marked
    filled (and unmarked when its outline is broken), as the game would have done. Painting every
    track tile completes the board: Toybox starts the next level on the next frame.
    """

    summary: ClassVar[str] = "paint or unpaint track tiles of board rows/columns"
    rows: tuple[int, ...] = param((), low=0, high=BOARD_HEIGHT - 1, doc="board rows ty")
    columns: tuple[int, ...] = param((), low=0, high=BOARD_WIDTH - 1, doc="board columns tx")
    painted: bool = param(True, doc="paint (true) or unpaint (false)")
    update_boxes: bool = param(True, doc="fill/unfill boxes whose outline becomes (un)painted")

    def _validate(self) -> None:
        if not (self.rows or self.columns):
            raise self._error("select tiles with rows=[…] and/or columns=[…].")

    def _tiles(self) -> set[tuple[int, int]]:
        return ({(x, y) for y in self.rows for x in range(BOARD_WIDTH)}
                | {(x, y) for x in self.columns for y in range(BOARD_HEIGHT)})

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        _paint(state, self._tiles(), self.painted, self.update_boxes)

    def target(self, state: dict[str, Any]) -> Any:
        tiles = state["board"]["tiles"]
        return sorted((x, y, tiles[y][x]) for x, y in self._tiles())


def _boxes_in_reading_order(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The board's boxes (the state's own dicts) top row first, each row left to right.

    Toybox's core keeps ``board.boxes`` in a hash set, so its list comes in another order in every
    environment, even with the same seed: an index into it would name another box each time.
    """
    return sorted(board["boxes"], key=lambda box: (box["top_left"]["ty"], box["top_left"]["tx"]))


@dataclass(frozen=True)
class PaintBoxes(_Amidar):
    """Fill (or empty) boxes by index in reading order, painting (or unpainting) their outlines.

    Box 0 is the top-left box; indices run along the top row (7 boxes on the default board), then
    the next row down. Unpainting an outline shared with a
    neighbouring box also empties that neighbour (its outline is no longer complete). No points
    are awarded and no chase is triggered.
    """

    summary: ClassVar[str] = "fill or empty boxes (and their outlines)"
    boxes: tuple[int, ...] = param(low=0, high=28, doc="box indices in reading order, 0 = top left (the default "
                                   "board has 29 boxes)")
    painted: bool = param(True, doc="fill (true) or empty (false)")

    def _validate(self) -> None:
        if not self.boxes:
            raise self._error("give at least one box index in boxes=[…].")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        boxes = _boxes_in_reading_order(state["board"])
        for i in self.boxes:
            if i >= len(boxes):
                raise self._error(f"box {i} does not exist; this board has {len(boxes)} boxes (0..{len(boxes) - 1}).")
        tiles = {t for i in self.boxes for t in _box_perimeter(boxes[i])}
        _paint(state, tiles, self.painted, update_boxes=True)

    def target(self, state: dict[str, Any]) -> Any:
        boxes = _boxes_in_reading_order(state["board"])
        return [boxes[i]["painted"] if i < len(boxes) else None for i in self.boxes]


# -- modes, score, lives ------------------------------------------------------------------------
@dataclass(frozen=True)
class SetChase(_Amidar):
    """Start (``frames`` > 0) or end (``frames`` = 0) chase mode, when enemies can be caught.

    In the game, chase mode starts when the four corner boxes are filled and lasts 300 frames; the
    enemies are drawn with their chase sprites. ``reset_caught`` makes every enemy catchable again.
    """

    summary: ClassVar[str] = "start or end chase mode"
    frames: int = param(low=0, high=3000, doc="frames of chase left (Toybox: 300; 0 ends it)")
    reset_caught: bool = param(True, doc="mark every enemy as not yet caught")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["chase_timer"] = self.frames
        if self.reset_caught:
            for enemy in state["enemies"]:
                enemy["caught"] = False

    def target(self, state: dict[str, Any]) -> Any:
        return state["chase_timer"] > 0


SetScore, AddScore, MultiplyScore, RandomScore, FreezeScore, DecrementScore = _common.score_family(
    GAME, max_score=999_999, module=__name__,
    paper_names={"SetScore": "IVmodifyScore", "RandomScore": "IVmultModifyScores",
                 "FreezeScore": "IVnonChangingScores", "DecrementScore": "IVdecrementScore"})


@dataclass(frozen=True)
class SetLives(_common.SetLives):
    """Set the number of lives left (0..9, drawn as bars right of the score)."""

    game: ClassVar[str] = GAME


# -- configuration (episode start) --------------------------------------------------------------
@dataclass(frozen=True)
class Configure(KeyedConfigure):
    """Change Amidar's configuration at episode start: lives, jumps, chase, speeds, colours.

    Applied with ``apply_to_env(env, seed)`` (Toybox restarts the game, the env resets). Colours
    only show with ``render_images=False``: by default Toybox draws Amidar with fixed sprites.
    """

    game: ClassVar[str] = GAME
    summary: ClassVar[str] = "config at episode start: lives, jumps, chase time, speeds, colours"
    start_lives: int | None = param(None, low=1, high=9, doc="lives at the start (Toybox: 3)")
    start_jumps: int | None = param(None, low=0, high=9, doc="jumps at the start (Toybox: 4)")
    chase_time: int | None = param(None, low=1, high=3000, doc="frames of chase mode (Toybox: 300)")
    box_bonus: int | None = param(None, low=0, high=1000, doc="points per filled box (Toybox: 50)")
    player_speed: int | None = param(None, low=1, high=40, doc="world units per frame (Toybox: 8)")
    enemy_starting_speed: int | None = param(None, low=1, high=40, doc="world units per frame (Toybox: 10)")
    render_images: bool | None = param(None, doc="sprites (true) or flat colours (false)")
    enemy_color: tuple[int, int, int] | None = param(None, doc="enemy colour (flat rendering)")
    player_color: tuple[int, int, int] | None = param(None, doc="player colour (flat rendering)")
    painted_color: tuple[int, int, int] | None = param(None, doc="painted track colour (flat rendering)")
    unpainted_color: tuple[int, int, int] | None = param(None, doc="unpainted track colour (flat rendering)")
