"""The games' structural rules: what each native core indexes without checks, beyond schema and ranges.

A state or config can fit ctoybox's schema and every range of :data:`cfsal.envs.games.STATE_LIMITS`
and still abort the core: an Amidar history naming a tile that is no junction, a ragged Space
Invaders shield, an empty list of Breakout serves. Each rule here was found by fuzzing raw states
and configs in a child process (tests/reliability/test_fuzz.py, docs/reliability.md) and returns the
problem as text, or None; :mod:`cfsal.envs.validation` raises it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def state_problem(game: str, state: dict[str, Any]) -> str | None:
    """The game's whole-state rules beyond schema and limits (Amidar's board graph, Space Invaders'
    shield grids); ``None`` when the state keeps them."""
    if game == "amidar":
        return _amidar_problem(state)
    if game == "space_invaders":
        return _space_invaders_problem(state)
    return None


def config_problem(game: str, config: dict[str, Any]) -> str | None:
    """The game's whole-config rules beyond schema (lists the core indexes, Amidar's board); ``None``
    when the config keeps them."""
    if game == "breakout":
        return _breakout_config_problem(config)
    if game == "amidar":
        return _amidar_config_problem(config)
    return None


#: The characters of an Amidar board (``=`` track, ``c`` chase-marker track, ``p`` the default
#: board's painted segment, space: no track). Measured: every other printable ASCII character (and
#: any non-ASCII one) aborts the core when the board is parsed.
AMIDAR_BOARD_CHARS = frozenset("=cp ")
#: Rows × columns of the default Amidar board, the board ctoybox's enemy route tables walk.
AMIDAR_BOARD_SHAPE = (31, 32)


def _breakout_config_problem(config: dict[str, Any]) -> str | None:
    """Lists the Breakout core indexes without checks (each abort measured by fuzzing)."""
    if not config["ball_start_positions"]:
        return ("ball_start_positions=[] is empty; the core serves from one of them at random and aborts on an "
                "empty list: give at least one {x, y, angle_degrees}")
    rows, scores = len(config["row_colors"]), len(config["row_scores"])
    if rows != scores:
        return (f"row_scores has {scores} entries but row_colors has {rows} (one per brick row); fewer scores "
                f"than rows aborts the core: give one score per row")
    return None


def _amidar_config_problem(config: dict[str, Any]) -> str | None:
    """The Amidar core parses the board and places every mob without checks (each abort measured)."""
    board = config["board"]
    widths = sorted({len(row) for row in board})
    if not board or len(widths) != 1 or widths[0] < 2 or len(board) < 2:
        return (f"board is {len(board)} rows of {widths} characters; it must be a rectangle (every row as "
                f"long as the first) of at least 2 × 2 tiles")
    junk = sorted(set("".join(board)) - AMIDAR_BOARD_CHARS)
    if junk:
        return (f"board holds {''.join(junk)!r}; a board is made of {''.join(sorted(AMIDAR_BOARD_CHARS))!r} "
                f"('=' track, 'c'/'p' special track, ' ' none); any other character aborts the core")
    height, width = len(board), widths[0]
    lookup = [(i, e["EnemyLookupAI"]) for i, e in enumerate(config["enemies"])
              if isinstance(e, dict) and "EnemyLookupAI" in e]
    if lookup and (height, width) != AMIDAR_BOARD_SHAPE:
        return (f"board is {height} × {width} tiles, but enemies/{lookup[0][0]} uses EnemyLookupAI, whose route "
                f"tables walk the default {AMIDAR_BOARD_SHAPE[0]} × {AMIDAR_BOARD_SHAPE[1]} board (other shapes "
                f"abort the core): keep the default board's shape or use another enemy AI")
    for index, ai in lookup:
        problem = _amidar_route_problem(f"enemies/{index}/EnemyLookupAI", ai)
        if problem is not None:
            return problem
    starts = [("player_start", config["player_start"])]
    for index, enemy in enumerate(config["enemies"]):
        if isinstance(enemy, dict):
            (kind, ai), = enemy.items()
            if isinstance(ai, dict) and "start" in ai:
                starts.append((f"enemies/{index}/{kind}/start", ai["start"]))
    for where, tile in starts:
        tx, ty = tile["tx"], tile["ty"]
        if not (0 <= tx < width and 0 <= ty < height):
            return f"{where}=({tx}, {ty}) is off the {width} × {height} board (0 ≤ tx < {width}, 0 ≤ ty < {height})"
        if board[ty][tx] == " ":
            return (f"{where}=({tx}, {ty}) is not on a track (board row {ty} has ' ' there); a mob off the "
                    f"tracks aborts the core (enemies) or cannot move: start on a '=', 'c' or 'p' tile")
    if config["default_board_bugs"]:
        return _amidar_seeded_start_problem(board, config["player_start"])
    return None


#: With ``default_board_bugs`` the core seeds the player's history with this tile of the default
#: board (junction 607), wherever the player starts.
AMIDAR_SEEDED_JUNCTION = (31, 18)


def _amidar_junctions(board: list[str]) -> set[tuple[int, int]]:
    """Junction tiles (tx, ty): track tiles with a track beside them both across and up/down (equal,
    on the default board, to the 60 junctions the core computes)."""
    track = np.array([[char != " " for char in row] for row in board])
    padded = np.pad(track, 1)
    across = padded[1:-1, :-2] | padded[1:-1, 2:]
    updown = padded[:-2, 1:-1] | padded[2:, 1:-1]
    ys, xs = np.nonzero(track & across & updown)
    return set(zip(xs.tolist(), ys.tolist()))


def _amidar_seeded_start_problem(board: list[str], start: dict[str, int]) -> str | None:
    """The player's first move walks from the seeded junction (31, 18) to the next junction it
    reaches; the core panics when those two are not in line (measured: starts (31, 30), (31, 12),
    (28, 18) and (20, 30) abort it on the first turn, (31, 15) and (31, 25) do not)."""
    sx, sy = AMIDAR_SEEDED_JUNCTION
    junctions = _amidar_junctions(board)
    tx, ty = start["tx"], start["ty"]
    if (sx, sy) not in junctions:
        return (f"default_board_bugs=true seeds the player's path with tile {AMIDAR_SEEDED_JUNCTION} of the default "
                f"board, which is not a junction of this board: set default_board_bugs to false for another board")
    if (tx, ty) != (sx, sy) and (not (tx == sx or ty == sy) or (tx, ty) in junctions):
        return (f"player_start=({tx}, {ty}) with default_board_bugs=true: the core seeds the player's path with "
                f"junction {AMIDAR_SEEDED_JUNCTION} and aborts when the player's first junction is not in line with it; "
                f"start on column {sx} or row {sy} away from other junctions (the default is (31, 15)), or set "
                f"default_board_bugs to false")
    return None


#: World units per Amidar tile (x, y): positions are tile × these (board offset aside).
_AMIDAR_TILE_WORLD = (64, 80)


#: Lengths of the enemy routes inside ctoybox 0.5.0's Amidar core (cfsal.interventions._amidar_routes
#: holds the routes; tests/test_interventions.py re-derives them from the installed ctoybox).
AMIDAR_ROUTE_LENGTHS = (122, 170, 194, 146, 194)


def _amidar_route_problem(path: str, lookup: dict[str, Any]) -> str | None:
    """An EnemyLookupAI's route index and position must exist in the core's route tables (beyond
    them the core aborts)."""
    route = lookup["default_route_index"]
    if not 0 <= route < len(AMIDAR_ROUTE_LENGTHS):
        return (f"{path}/default_route_index={route} is outside 0 ≤ route < {len(AMIDAR_ROUTE_LENGTHS)} "
                f"(the core's enemy routes; a larger index aborts it)")
    if not 0 <= lookup["next"] < AMIDAR_ROUTE_LENGTHS[route]:
        return (f"{path}/next={lookup['next']} is outside 0 ≤ next < {AMIDAR_ROUTE_LENGTHS[route]} "
                f"(the length of route {route})")
    return None


def _amidar_problem(state: dict[str, Any]) -> str | None:
    """Amidar's board is a graph the core indexes without checks: edits must keep it consistent."""
    board = state["board"]
    width, height = board["width"], board["height"]
    tiles = board["tiles"]
    if len(tiles) != height or any(len(row) != width for row in tiles):
        return f"board/tiles is not {height} rows of {width} tiles (board/width, board/height)"
    n_tiles = width * height
    for key in ("junctions", "chase_junctions"):
        bad = [j for j in board[key] if not 0 <= j < n_tiles]
        if bad:
            return f"board/{key} holds {bad[0]}, outside 0 ≤ tile id < {n_tiles}"
    junctions = set(board["junctions"])
    for index, box in enumerate(board["boxes"]):
        for corner in ("top_left", "bottom_right"):
            if not (0 <= box[corner]["tx"] < width and 0 <= box[corner]["ty"] < height):
                return f"board/boxes/{index}/{corner}={box[corner]} is outside the {width}×{height} board"
    for index, enemy in enumerate(state["enemies"]):
        lookup = enemy["ai"].get("EnemyLookupAI") if isinstance(enemy["ai"], dict) else None
        if lookup is None:
            continue
        problem = _amidar_route_problem(f"enemies/{index}/ai/EnemyLookupAI", lookup)
        if problem is not None:
            return problem
    mobs = [("player", state["player"])] + [(f"enemies/{i}", e) for i, e in enumerate(state["enemies"])]
    x_max, y_max = (width - 1) * _AMIDAR_TILE_WORLD[0], (height - 1) * _AMIDAR_TILE_WORLD[1]
    for where, mob in mobs:
        outside = [j for j in mob["history"] if j not in junctions]
        if outside:
            return f"{where}/history holds {outside[0]}, which is not a junction of the board (board/junctions)"
        x, y = mob["position"]["x"], mob["position"]["y"]
        if not (0 <= x <= x_max and 0 <= y <= y_max):
            return f"{where}/position=({x}, {y}) is off the board (0 ≤ x ≤ {x_max}, 0 ≤ y ≤ {y_max} world units)"
        step = mob.get("step")
        if step is not None and not (0 <= step["tx"] < width and 0 <= step["ty"] < height):
            return f"{where}/step={step} is outside the {width}×{height} board"
    return _amidar_player_path(state["player"], width)


def _amidar_player_path(player: dict[str, Any], width: int) -> str | None:
    """The core walks the player from junction to junction along its history and panics when two
    are not joined by a straight segment (found by fuzzing; every state of real play satisfies
    this). Enemies follow their route table instead, so only the player's history is checked."""
    history = player["history"]
    for older, newer in zip(history[1:], history):
        if not (older % width == newer % width or older // width == newer // width):
            return (f"player/history has junctions {newer} and {older} one after the other, which are "
                    "not in line (same row or column); a history is a path along the board")
    tx, ty = player["position"]["x"] // _AMIDAR_TILE_WORLD[0], player["position"]["y"] // _AMIDAR_TILE_WORLD[1]
    if history and not (history[0] % width == tx or history[0] // width == ty):
        return (f"player/history starts at junction {history[0]}, which is on neither the row nor the column "
                f"of the player's tile ({tx}, {ty}); the last junction must be in line with the player")
    return None


#: Rows × columns of a Space Invaders shield's pixel grid (the sprite the core collides against).
SHIELD_SHAPE = (18, 16)


def _space_invaders_problem(state: dict[str, Any]) -> str | None:
    """The core indexes shield pixels by row and column without bounds checks (a ragged grid
    aborts it; found by fuzzing): every shield keeps its 18 × 16 pixel grid."""
    rows, columns = SHIELD_SHAPE
    for index, shield in enumerate(state["shields"]):
        data = shield["data"]
        if len(data) != rows or any(len(row) != columns for row in data):
            shape = f"{len(data)} rows of {sorted({len(row) for row in data})} pixels"
            return f"shields/{index}/data is {shape}; a shield is {rows} rows of {columns} pixels"
    return None
