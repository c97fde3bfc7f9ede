"""The games cfsal supports, and how their names map to gym ids.

Two tables. ``GAMES``: the Toybox games (only those ctoybox 0.5.0 ships *with an Atari
counterpart*; gridworld is not an Atari game, so no Atari-trained agent or saliency claim applies
to it). ``ALE_GAMES``: real Atari 2600 games through the Arcade Learning Environment
(:mod:`cfsal.envs.ale_env`), named ``ale_<game>`` so they never clash with the Toybox game of the
same title (``pong`` is Toybox Pong, ``ale_pong`` the Atari cartridge). Both tables hold
:class:`GameSpec` entries; :func:`get_game` looks a name up in both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from cfsal.errors import GameStateError, UnknownGameError

#: ALE action numbering (what ``Toybox.apply_ale_action`` takes).
ALE_ACTION_MEANINGS: dict[int, str] = {
    0: "NOOP", 1: "FIRE", 2: "UP", 3: "RIGHT", 4: "LEFT", 5: "DOWN", 6: "UPRIGHT", 7: "UPLEFT",
    8: "DOWNRIGHT", 9: "DOWNLEFT", 10: "UPFIRE", 11: "RIGHTFIRE", 12: "LEFTFIRE", 13: "DOWNFIRE",
    14: "UPRIGHTFIRE", 15: "UPLEFTFIRE", 16: "DOWNRIGHTFIRE", 17: "DOWNLEFTFIRE",
}


@dataclass(frozen=True)
class GameSpec:
    """Static facts about one game.

    ``action_set`` is the ALE-numbered minimal action set, in the order the agent's discrete
    actions index it (identical to ALE's minimal sets, so Atari agents' action indices line up).
    ``fire_on_reset`` follows OpenAI baselines' ``FireResetEnv``, but only where the game needs
    it: Toybox Breakout has no ball in play until FIRE; in Amidar FIRE is a *jump*, which a
    reset should not spend.

    ``backend`` says which emulator plays the game: ``"toybox"`` (:class:`~cfsal.envs.ToyboxEnv`)
    or ``"ale"`` (:class:`~cfsal.envs.ale_env.AleEnv`, which loads the cartridge ``rom``, an
    ``ale_py.roms`` id such as ``"pong"``, and checks that ``action_set`` is its minimal set).
    """

    name: str
    gym_id: str
    aliases: tuple[str, ...]
    action_set: tuple[int, ...]
    fire_on_reset: bool
    atari_name: str
    backend: str = "toybox"
    rom: str | None = None

    @property
    def action_meanings(self) -> tuple[str, ...]:
        return tuple(ALE_ACTION_MEANINGS[a] for a in self.action_set)

    @property
    def n_actions(self) -> int:
        return len(self.action_set)


GAMES: dict[str, GameSpec] = {
    spec.name: spec
    for spec in (
        GameSpec("breakout", "cfsal/Breakout-v0", ("BreakoutToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4), True, "Breakout"),
        GameSpec("amidar", "cfsal/Amidar-v0", ("AmidarToyboxNoFrameskip-v4",),
                 (0, 1, 2, 3, 4, 5, 10, 11, 12, 13), False, "Amidar"),
        GameSpec("space_invaders", "cfsal/SpaceInvaders-v0", ("SpaceInvadersToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "SpaceInvaders"),
        GameSpec("pong", "cfsal/Pong-v0", ("PongToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "Pong"),
    )
}


#: Real Atari games through the Arcade Learning Environment (ale-py), with DeepMind's protocol
#: (cfsal.envs.ale_env). Adding a game is one entry: its ``action_set`` must be ALE's minimal action
#: set for the ROM (AleEnv refuses a mismatch), and ``fire_on_reset`` is True only where the game
#: waits for FIRE to start (Breakout: the serve), as for the Toybox games. Names start with ``ale_``
#: (never matched by the Atari title alone: ``pong`` stays Toybox Pong); zoo agents for them are
#: ``<name>-<kind>`` as for every game (``ale_pong-a2c``).
ALE_GAMES: dict[str, GameSpec] = {
    spec.name: spec
    for spec in (
        GameSpec("ale_pong", "cfsal/ALE-Pong-v0", ("PongNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "Pong", backend="ale", rom="pong"),
    )
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_game(name: str) -> GameSpec:
    """Look a game up by cfsal name, cfsal gym id, or the seed paper's gym id (any case).

    Toybox games also answer to their Atari title (``"Pong"`` is Toybox Pong); ALE games answer
    to their ``ale_`` name (``"ale-pong"`` works too), their cfsal gym id or their aliases.

    >>> get_game("BreakoutToyboxNoFrameskip-v4").name
    'breakout'
    >>> get_game("cfsal/ALE-Pong-v0").name
    'ale_pong'
    """
    if isinstance(name, GameSpec):
        return name
    if not isinstance(name, str):
        raise UnknownGameError(f"game must be a string such as 'breakout', got {name!r}")
    key = _normalise(name)
    for spec in GAMES.values():
        names = {spec.name, _normalise(spec.gym_id), spec.atari_name.lower(),
                 *(_normalise(a) for a in spec.aliases)}
        if key in names or key.replace("_", "") == spec.name.replace("_", ""):
            return spec
    for spec in ALE_GAMES.values():
        names = {spec.name, _normalise(spec.gym_id), *(_normalise(a) for a in spec.aliases)}
        if key in names or key.replace("_", "") == spec.name.replace("_", ""):
            return spec
    raise UnknownGameError(
        f"unknown game {name!r}. cfsal supports: {', '.join(GAMES)} "
        f"(or their gym ids {', '.join(s.gym_id for s in GAMES.values())}); "
        f"Atari games through the ALE: {', '.join(ALE_GAMES)} "
        f"({', '.join(s.gym_id for s in ALE_GAMES.values())})."
    )


# -- what the native core accepts ------------------------------------------------------------------
#: Any number an edit writes into a state, outside the RNG's state words, lies in this range. The
#: cores compute in i32 and move objects pixel by pixel: far larger values overflow or loop for
#: minutes (measured by tests/reliability/test_fuzz.py: a ball velocity of 1e9 hangs Breakout).
GENERIC_LIMIT = 100_000

#: Per game: (path glob, low, high) for fields with a narrower safe range, inclusive. Paths use
#: ``/`` between keys and ``*`` for a list index. Each bound keeps a value the game can draw and
#: play; the crashes and hangs beyond them were found by fuzzing (tests/reliability/test_fuzz.py).
_FRAME_MARGIN = 100
STATE_LIMITS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "breakout": (
        ("lives", -1, 99), ("score", 0, GENERIC_LIMIT), ("level", 1, 1000), ("ball_radius", 1, 10),
        ("balls/*/position/x", -_FRAME_MARGIN, 240 + _FRAME_MARGIN),
        ("balls/*/position/y", -_FRAME_MARGIN, 160 + _FRAME_MARGIN),
        ("balls/*/velocity/*", -20, 20), ("paddle/position/x", 0, 240), ("paddle/position/y", 0, 160),
        ("paddle/velocity/*", -20, 20), ("paddle_width", 1, 240), ("paddle_speed", 0, 20),
        ("bricks/*/position/x", 0, 240), ("bricks/*/position/y", 0, 160),
        ("bricks/*/size/x", 1, 240), ("bricks/*/size/y", 1, 160), ("bricks/*/row", 0, 100),
        ("bricks/*/col", 0, 100), ("bricks/*/points", 0, 1000), ("bricks/*/depth", 0, 1000),
    ),
    "pong": (
        ("p1_score", 0, 1000), ("p2_score", 0, 1000),
        ("ball/position/x", -_FRAME_MARGIN, 160 + _FRAME_MARGIN),
        ("ball/position/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN), ("ball/velocity/*", -20, 20),
        # the core lets a paddle held in one direction overshoot the 210-px screen: by 250 px at the
        # default speeds, by ~570 at the fastest config (max_paddle_speed 24); ±1e9 played cleanly
        ("p?_paddle/position/x", 0, 160), ("p?_paddle/position/y", -1000, 1210),
        ("p?_paddle/velocity/*", -30, 30),
    ),
    "amidar": (
        ("score", 0, 999_999), ("lives", -1, 9), ("level", 1, 1000), ("jumps", 0, 99),
        ("chase_timer", 0, GENERIC_LIMIT), ("jump_timer", 0, GENERIC_LIMIT),
        ("player/speed", 0, 64), ("enemies/*/speed", 0, 64),
    ),
    "space_invaders": (
        ("lives", -1, 9), ("score", 0, GENERIC_LIMIT), ("level", 1, 1000),
        ("enemies/*/row", 0, 5), ("enemies/*/col", 0, 5),
        ("ship/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("ship/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("ship/w", 1, 320), ("ship/h", 1, 210), ("ship/speed", 0, 20),
        ("enemies/*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("enemies/*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("shields/*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("shields/*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("ufo/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("ufo/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("*laser*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("*laser*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("*laser*/w", 1, 320), ("*laser*/h", 1, 210), ("*laser*/speed", 0, 20),
    ),
}

_INT_FORMATS = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
                "int64": (-2**63, 2**63 - 1), "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
                "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1), "uint": (0, 2**64 - 1)}


@cache
def state_schema(game: str) -> dict[str, Any]:
    """The JSON schema ctoybox publishes for a game's state (pong: the frame state cfsal edits)."""
    from ctoybox import Toybox

    schema = Toybox(get_game(game).name).schema_for_state()
    if game == "pong":
        return {**schema["definitions"]["FrameState"], "definitions": schema["definitions"]}
    return schema


def check_state(game: str, state: Any, *, where: str = "state") -> None:
    """Refuse a state the native core would refuse, loop on, or abort the process over.

    Two checks, both in Python so nothing bad reaches Rust: the state must fit ctoybox's own JSON
    schema (every required key, the right types, integers within their Rust width), and every
    number must lie within :data:`STATE_LIMITS` (or ±:data:`GENERIC_LIMIT`), plus the game's
    structural rules (Amidar histories name junctions of the board). ctoybox turns schema misfits
    into a ``ValueError`` pointing at "line 1, column 22003"; the out-of-range values abort
    the interpreter or hang it. Raises :class:`~cfsal.errors.GameStateError` naming the path,
    the value and the valid range.
    """
    spec = get_game(game)
    if spec.name == "pong" and isinstance(state, dict) and "state" in state and "config" in state:
        state = state["state"]
    problem = _state_check(spec.name)(state, "")
    if problem is None:
        problem = _limit_problem(spec.name, state)
    if problem is None:
        problem = structural_problem(spec.name, state)
    if problem is not None:
        raise unplayable_state(spec.name, problem, where)


def structural_problem(game: str, state: dict[str, Any]) -> str | None:
    """The game's whole-state rules beyond schema and limits (Amidar's board graph, Space Invaders'
    shield grids); ``None`` when the state keeps them."""
    if game == "amidar":
        return _amidar_problem(state)
    if game == "space_invaders":
        return _space_invaders_problem(state)
    return None


def unplayable_state(game: str, problem: str, where: str) -> GameStateError:
    """The error every state check raises, naming the problem and what to do."""
    return GameStateError(f"{where}: not a playable {game} state: {problem}. Edit a state from "
                          f"env.get_toybox_state() and keep every value within the game's ranges "
                          f"(cfsal.envs.games.STATE_LIMITS).")


@cache
def config_schema(game: str) -> dict[str, Any]:
    """The JSON schema ctoybox publishes for a game's configuration."""
    from ctoybox import Toybox

    return Toybox(get_game(game).name).schema_for_config()


def check_config(game: str, config: Any, *, where: str = "config") -> None:
    """Refuse a configuration the native core would refuse, abort the process over, or hang on.

    ``Toybox.write_config_json`` hands the dict straight to Rust: a missing key or a wrong type
    comes back as a ``ValueError`` pointing at a column of the JSON text, and some well-typed values
    abort the interpreter or hang the core (Breakout's ``paddle_discrete_segments: 0``, an empty
    ``ball_start_positions``, an Amidar board with a junk character). Three checks, all in Python:
    ctoybox's own config schema; every number within :data:`CONFIG_LIMITS` (or
    ±:data:`GENERIC_LIMIT`); the game's structural rules (lists the core indexes are non-empty and of
    matching lengths, an Amidar board is a rectangle of known tiles with every start on a track).
    The limits and rules were measured by fuzzing raw configs (tests/reliability/test_fuzz.py).
    Raises :class:`~cfsal.errors.GameStateError` naming the key, the value and the valid range.
    """
    spec = get_game(game)
    problem = _config_check(spec.name)(config, "")
    if problem is None:
        problem = _config_rules(spec.name, config)
    if problem is None:
        problem = _limit_problem(spec.name, config, table=CONFIG_LIMITS)
    if problem is not None:
        raise GameStateError(f"{where}: not a valid {spec.name} configuration: {problem}. Start from "
                             f"env.config (the current configuration) and change only the keys you need "
                             f"(ranges: cfsal.envs.games.CONFIG_LIMITS).")


#: Per game: (key glob, low, high[, why]) for config numbers, inclusive; every other number (but the
#: RNG seed and colours, which the schema bounds) lies within ±GENERIC_LIMIT. Found by fuzzing raw
#: configs in a child process (tests/reliability/test_fuzz.py, docs/reliability.md): a bound marked
#: "aborts"/"hangs" is where the native core broke; the others keep the game's own states within
#: STATE_LIMITS (so a configured game's snapshots pass check_state) or keep a value meaningful.
CONFIG_LIMITS: dict[str, tuple[tuple, ...]] = {
    "breakout": (
        ("start_lives", 1, 99, "the state's lives are 0..99; 0 or fewer ends the game before its first frame"),
        ("ball_speed_slow", 0, 20, "pixels per frame; 1e300 hangs the core, and beyond 20 the ball's velocity "
                                   "leaves STATE_LIMITS"),
        ("ball_speed_fast", 0, 20, "pixels per frame; beyond 20 the ball's velocity leaves STATE_LIMITS"),
        ("paddle_discrete_segments", 1, 1000, "0 segments aborts the core (it divides by the count); use null "
                                              "for a round paddle"),
        ("ball_start_positions/*/x", 0, 240, "on the 240-pixel-wide screen"),
        ("ball_start_positions/*/y", 0, 160, "on the 160-pixel-high screen"),
        ("ball_start_positions/*/angle_degrees", -360, 360, "an angle in degrees"),
        ("row_scores/*", 0, 1000, "points of a brick; the state's brick points are 0..1000"),
    ),
    "amidar": (
        ("start_lives", 1, 9, "2^31-1 hangs the core; the state's lives are at most 9"),
        ("start_jumps", 0, 99, "the state's jumps are 0..99"),
        ("player_speed", 0, 64, "world units per frame; the state's speeds are 0..64"),
        ("enemy_starting_speed", 0, 64, "world units per frame; the state's speeds are 0..64"),
        ("jump_time", 0, GENERIC_LIMIT, "frames; a negative time leaves a negative jump timer"),
        ("chase_time", 0, GENERIC_LIMIT, "frames"),
        ("chase_score_bonus", 0, GENERIC_LIMIT, "points; the state's score is never negative"),
        ("box_bonus", 0, GENERIC_LIMIT, "points; the state's score is never negative"),
        ("enemies/*/*/vision_distance", 0, GENERIC_LIMIT, "tiles"),
    ),
    "space_invaders": (
        ("jitter", 0, 1, "the randomness of the aliens' firing, a probability"),
        ("shields/*/0", 0, 304, "a shield's left edge, on the 320-pixel-wide screen with its 16-pixel width"),
        ("shields/*/1", 0, 192, "a shield's top edge, on the 210-pixel-high screen with its 18-pixel height"),
    ),
    "pong": (
        ("game_points", 1, 1000, "0 or fewer ends the game at once; the state's scores are 0..1000"),
        ("paddle_speed", 0, 24, "paddle acceleration per frame"),
        ("max_paddle_speed", 0, 24, "paddle top speed per frame"),
    ),
}

#: The characters of an Amidar board (``=`` track, ``c`` chase-marker track, ``p`` the default
#: board's painted segment, space: no track). Measured: every other printable ASCII character (and
#: any non-ASCII one) aborts the core when the board is parsed.
AMIDAR_BOARD_CHARS = frozenset("=cp ")
#: Rows × columns of the default Amidar board, the board ctoybox's enemy route tables walk.
AMIDAR_BOARD_SHAPE = (31, 32)


def _config_rules(game: str, config: dict[str, Any]) -> str | None:
    if game == "breakout":
        return _breakout_config_problem(config)
    if game == "amidar":
        return _amidar_config_problem(config)
    return None


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
    import numpy as np

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


@cache
def _config_check(game: str) -> Check:
    schema = config_schema(game)
    return _compile(schema, schema.get("definitions", {}), {})


def _at(path: str) -> str:
    return path.lstrip("/") or "(the state)"


Check = Callable[[Any, str], "str | None"]


@cache
def _state_check(game: str) -> Check:
    schema = state_schema(game)
    return _compile(schema, schema["definitions"], {})


def _compile(schema: dict[str, Any], definitions: dict[str, Any], named: dict[str, Check]) -> Check:
    """Compile the subset of JSON schema ctoybox uses into a function ``(value, path) → problem or None``.

    Compiled once per game (``$ref``/``allOf`` resolved ahead), so a Space Invaders state with its
    shield pixels checks in about a millisecond rather than re-walking the schema per pixel.
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in named:
            named[name] = lambda value, path: resolved(value, path)  # recursion-safe placeholder
            resolved = _compile(definitions[name], definitions, named)
            named[name] = resolved
        return named[name]
    checks: list[Check] = [_compile(part, definitions, named) for part in schema.get("allOf", ())]
    if "anyOf" in schema:
        options = [_compile(part, definitions, named) for part in schema["anyOf"]]

        def any_of(value: Any, path: str) -> str | None:
            problems = [option(value, path) for option in options]
            if all(p is not None for p in problems):
                return f"{_at(path)}={_short(value)} matches none of its {len(problems)} allowed forms ({problems[0]})"
            return None

        checks.append(any_of)
    if "enum" in schema:
        allowed = schema["enum"]
        checks.append(lambda value, path: None if value in allowed
                      else f"{_at(path)}={_short(value)} is not one of {allowed}")
    if "type" in schema:
        checks.append(_compile_type(schema, definitions, named))
    if len(checks) == 1:
        return checks[0]

    def all_of(value: Any, path: str) -> str | None:
        for check in checks:
            problem = check(value, path)
            if problem is not None:
                return problem
        return None

    return all_of


def _compile_type(schema: dict[str, Any], definitions: dict[str, Any], named: dict[str, Check]) -> Check:
    kinds = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
    if "number" in kinds:
        kinds.append("integer")
    low, high = _INT_FORMATS.get(schema.get("format", ""), (-2**63, 2**64 - 1))
    required = tuple(schema.get("required", ()))
    properties = {key: _compile(sub, definitions, named) for key, sub in schema.get("properties", {}).items()}
    items_schema = schema.get("items")
    # draft-07 tuple form (a list of schemas, one per position: Space Invaders' shield (x, y)) or one
    # schema for every item.
    positional = [_compile(part, definitions, named) for part in items_schema] if isinstance(items_schema, list) else None
    items = _compile(items_schema, definitions, named) if isinstance(items_schema, dict) else None
    min_items, max_items = schema.get("minItems", 0), schema.get("maxItems")
    flat = _flat_integer_object(schema, definitions)
    if flat is not None:  # colours (shield pixels): thousands per state, checked in one pass each
        keys, (flat_low, flat_high) = flat

        def check_flat(value: Any, path: str) -> str | None:
            if (type(value) is dict and value.keys() == keys
                    and all(type(v) is int and flat_low <= v <= flat_high for v in value.values())):
                return None
            return f"{_at(path)}={_short(value)} is not {{{', '.join(sorted(keys))}}} with {flat_low} ≤ each ≤ {flat_high}"

        return check_flat

    def check(value: Any, path: str) -> str | None:
        kind = _json_kind(value)
        if kind not in kinds:
            return f"{_at(path)}={_short(value)} is {kind}, expected {' or '.join(dict.fromkeys(kinds))}"
        if kind == "integer":
            if not low <= value <= high:
                return f"{_at(path)}={value} does not fit {schema.get('format')} ({low} ≤ value ≤ {high})"
        elif kind == "number":
            if not math.isfinite(value):
                return f"{_at(path)}={value} is not a finite number"
        elif kind == "object":
            missing = [k for k in required if k not in value]
            if missing:
                return f"{_at(path)} lacks {', '.join(missing)}"
            for key, item in value.items():
                sub = properties.get(key)
                if sub is None:
                    return f"{_at(path + '/' + str(key))} is not a field this game knows"
                problem = sub(item, f"{path}/{key}")
                if problem is not None:
                    return problem
        elif kind == "array":
            if len(value) < min_items or (max_items is not None and len(value) > max_items):
                return f"{_at(path)} has {len(value)} items, expected {min_items}..{max_items}"
            for index, item in enumerate(value):
                item_check = positional[index] if positional is not None and index < len(positional) else items
                if item_check is not None:
                    problem = item_check(item, f"{path}/{index}")
                    if problem is not None:
                        return problem
        return None

    return check


def _flat_integer_object(schema: dict[str, Any], definitions: dict[str, Any]) -> tuple[set[str], tuple[int, int]] | None:
    """(keys, bounds) when ``schema`` is an object of required integers sharing one format (a colour)."""
    properties = schema.get("properties")
    if schema.get("type") != "object" or not properties or set(schema.get("required", ())) != set(properties):
        return None
    formats = {sub.get("format") for sub in properties.values()}
    if len(formats) != 1 or any(sub.get("type") != "integer" for sub in properties.values()):
        return None
    return set(properties), _INT_FORMATS.get(formats.pop(), (-2**63, 2**64 - 1))


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: Keys whose numbers the schema bounds completely: RNG words (u64), colours and shield pixels (u8).
_UNBOUNDED_KEYS = frozenset({"rand", "color", "data"})


def _numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a state with its path (``/``-joined, list indices as digits), but for _UNBOUNDED_KEYS."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in _UNBOUNDED_KEYS:
                yield from _numbers(item, f"{path}/{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numbers(item, f"{path}/{index}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


@cache
def _limit_patterns(game: str, table_name: str = "state") -> tuple[tuple[re.Pattern[str], float, float, str], ...]:
    table = STATE_LIMITS if table_name == "state" else CONFIG_LIMITS
    out = []
    for glob, low, high, *why in table[game]:
        regex = "".join("[^/]+" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in glob)
        out.append((re.compile(regex + r"\Z"), low, high, why[0] if why else ""))
    return tuple(out)


def _limit_problem(game: str, value: dict[str, Any], *, table: dict[str, tuple[tuple, ...]] = STATE_LIMITS) -> str | None:
    """The first number of a state (or, with ``table=CONFIG_LIMITS``, a config) outside its range."""
    patterns = _limit_patterns(game, "state" if table is STATE_LIMITS else "config")
    for path, number in _numbers(value):
        low, high, why = -GENERIC_LIMIT, GENERIC_LIMIT, ""
        for regex, pattern_low, pattern_high, pattern_why in patterns:
            if regex.match(path):
                low, high, why = pattern_low, pattern_high, pattern_why
                break
        if not low <= number <= high:
            return (f"{path}={number} is outside {_fmt_limit(low)} ≤ value ≤ {_fmt_limit(high)}"
                    + (f" ({why})" if why else ""))
    return None


def _fmt_limit(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


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
