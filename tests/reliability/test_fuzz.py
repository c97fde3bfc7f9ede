"""Fuzzing the native boundary: random state edits and random intervention parameters, every game.

The property, for every case: cfsal either refuses the input in Python (``GameStateError`` from
:func:`cfsal.envs.validation.check_state`, ``InterventionError`` from an intervention) or the native
Toybox core plays the result for 20 steps without refusing it, crashing, or hanging. "Refusing"
counts as a failure: it means an invalid input reached the core. The core runs in a child process
(:mod:`_sandbox`), because a Rust panic aborts the interpreter, with a timeout per case.

Cases tried are counted with ``hypothesis.event`` (see ``--hypothesis-show-statistics``) and
written to ``reports/reliability-fuzz-counts.json`` (override with ``CFSAL_FUZZ_COUNTS``): the
``ci`` profile runs a bounded number, ``CFSAL_PROFILE=thorough`` the long run recorded in
docs/reliability.md.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _sandbox import NativeSandbox
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cfsal.envs import make
from cfsal.envs.games import get_game
from cfsal.envs.validation import check_config, check_state
from cfsal.errors import GameStateError, InterventionError
from cfsal.interventions import from_spec, registry, strategies
from cfsal.testing import random_play_states

GAMES = ("breakout", "amidar", "space_invaders", "pong")
STEPS = 20
COUNTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def sandbox():
    box = NativeSandbox(timeout=20.0)
    yield box
    box.close()


@pytest.fixture(scope="module", autouse=True)
def write_counts():
    yield
    path = Path(os.environ.get("CFSAL_FUZZ_COUNTS", "reports/reliability-fuzz-counts.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() else {}
    profile = settings().max_examples
    previous[f"max_examples={profile}"] = dict(sorted(COUNTS.items()))
    path.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print(f"\nfuzz cases ({path}): {dict(sorted(COUNTS.items()))}")


@cache
def states(game: str) -> tuple[dict[str, Any], ...]:
    """Toybox states of ``game`` from a few points of a random-play episode (start, middle, late)."""
    return random_play_states(game, steps=150, every=50)


def _paths(value: Any, path: tuple = (), numbers_only: bool = False) -> list[tuple]:
    """Every key path in a state (lists: first three items), containers too unless ``numbers_only``."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    out = [path] if path and (is_number or not numbers_only) else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, path + (key,), numbers_only))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            out.extend(_paths(item, path + (index,), numbers_only))
    return out


#: Replacement values: extremes of every Rust integer width, non-finite floats, wrong types.
EDIT_VALUES = st.one_of(
    st.integers(-2**65, 2**65),
    st.sampled_from([-1, 0, 1, 2, 9, 10, 99, 255, 256, 2**31 - 1, 2**31, -2**31, 2**32, 2**63, -2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e4, 1e4),
    st.sampled_from(["x", "", None, True, False, [], {}, [1, 2], {"x": 1}]),
)


@st.composite
def state_edits(draw: st.DrawFn, state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A state with 1–3 random edits: a number nudged (near its range, where bugs hide), a value
    replaced by an extreme or a wrong type, a key deleted, or an unknown key added."""
    state = copy.deepcopy(state)
    done = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        action = draw(st.sampled_from(["nudge"] * 6 + ["replace"] * 3 + ["delete", "add"]))
        paths = _paths(state, numbers_only=action == "nudge") or _paths(state)
        path = draw(st.sampled_from(paths))
        parent = state
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        if action == "nudge" and isinstance(old, (int, float)) and not isinstance(old, bool):
            delta = draw(st.sampled_from([1, 1, 2, 3, 5, 10, 20, 50, 300, 5000])) * draw(st.sampled_from([-1, 1]))
            parent[path[-1]] = draw(st.sampled_from([old + delta] * 4 + [-old, old * 2, 0]))
            parent[path[-1]] = type(old)(parent[path[-1]])
        elif action in ("nudge", "replace"):
            parent[path[-1]] = copy.deepcopy(draw(EDIT_VALUES))  # the strategy's [] and {} are shared
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["unknown_field"] = 1
        done.append(f"{action} {'/'.join(map(str, path))}")
        if not _paths(state):
            break
    return state, done


def _judge(game: str, state: dict[str, Any], sandbox: NativeSandbox, kind: str, action: int = 0) -> None:
    """Refused in Python, or played cleanly by the core: anything else is a finding."""
    try:
        check_state(game, state)
    except GameStateError as error:
        assert game in str(error)
        COUNTS[f"{kind}/{game}/refused by cfsal"] += 1
        event("refused by cfsal")
        return
    outcome = sandbox.run(game, state, steps=STEPS, action=action)
    COUNTS[f"{kind}/{game}/native {outcome.outcome}"] += 1
    event(f"native {outcome.outcome}")
    assert outcome.outcome == "ok", f"{game}: a state cfsal let through made the core {outcome.outcome}: {outcome.detail}"


@pytest.mark.parametrize("game", GAMES)
@given(data=st.data())
def test_random_state_edits_are_refused_in_python_or_played_cleanly(game, sandbox, data):
    original = states(game)[data.draw(st.integers(0, len(states(game)) - 1), label="state index")]
    edited, _edits = data.draw(state_edits(original), label="edits")
    action = data.draw(st.integers(0, len(make(game).spec_game.action_set) - 1), label="action")
    _judge(game, json.loads(json.dumps(edited, allow_nan=True)), sandbox, "state edits", action)


def _raw_parameter_values() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=4), st.none(), st.booleans(),
                     st.lists(st.integers(-5, 40), max_size=3), st.lists(st.lists(st.integers(-2, 8), max_size=3),
                                                                         max_size=2))


@st.composite
def any_parameters(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """Valid, one-invalid (the library's own strategies) or entirely raw parameter dicts."""
    how = draw(st.sampled_from(["valid", "invalid", "raw"]))
    if how == "valid":
        return draw(strategies.parameters(name))
    if how == "invalid":
        return draw(strategies.invalid_parameters(name))
    names = [p.name for p in registry[name].params()]
    return draw(st.dictionaries(st.sampled_from(names), _raw_parameter_values(), max_size=len(names))) if names else {}


@pytest.mark.parametrize("game", GAMES)
@given(data=st.data())
def test_intervention_parameters_are_refused_in_python_or_give_a_playable_state(game, sandbox, data):
    name = data.draw(st.sampled_from(strategies.names(game)), label="intervention")
    params = data.draw(any_parameters(name), label="params")
    try:
        intervention = from_spec({"name": name, **params})
    except InterventionError as error:
        assert name in str(error)
        COUNTS[f"interventions/{game}/refused at construction"] += 1
        event("refused at construction")
        return
    state = states(game)[data.draw(st.integers(0, len(states(game)) - 1), label="state index")]
    try:
        edited = intervention.apply(state, np.random.default_rng(0))
    except InterventionError as error:
        assert name in str(error)
        COUNTS[f"interventions/{game}/refused for this state"] += 1
        event("refused for this state")
        return
    try:
        check_state(game, edited, where=name)
    except GameStateError as error:
        pytest.fail(f"{name}({params}) was accepted but produced an unplayable state: {error}")
    _judge(game, edited, sandbox, "interventions")


@pytest.mark.parametrize("game", GAMES)
@given(data=st.data())
def test_config_interventions_are_refused_in_python_or_give_a_playable_game(game, sandbox, data):
    """Config edits restart the game with new settings: the core must then play, never abort."""
    name = data.draw(st.sampled_from(strategies.names(game, kind="config")), label="intervention")
    params = data.draw(any_parameters(name), label="params")
    try:
        intervention = from_spec({"name": name, **params})
    except InterventionError as error:
        assert name in str(error)
        COUNTS[f"config interventions/{game}/refused at construction"] += 1
        event("refused at construction")
        return
    config = intervention.apply_config(default_config(game))
    outcome = sandbox.run(game, None, steps=STEPS, config=config, action=data.draw(st.integers(0, 3), label="action"))
    COUNTS[f"config interventions/{game}/native {outcome.outcome}"] += 1
    event(f"native {outcome.outcome}")
    assert outcome.outcome == "ok", f"{name}({params}) was accepted but made the core {outcome.outcome}: {outcome.detail}"


@cache
def _default_config_json(game: str) -> str:
    return json.dumps(make(game).config)


def default_config(game: str) -> dict[str, Any]:
    return json.loads(_default_config_json(game))


@pytest.mark.parametrize("game", GAMES)
def test_nan_and_infinity_in_float_parameters_never_reach_the_core(game):
    """The spot check behind the fuzzing: every float parameter of every intervention refuses NaN/±inf."""
    tried = 0
    for name in strategies.names(game) + strategies.names(game, kind="config"):
        for spec in registry[name].params():
            if spec.kind != "float":
                continue
            others = {p.name: _plain_valid(p) for p in registry[name].params() if p.required}
            for bad in (math.nan, math.inf, -math.inf, "1.5"):
                with pytest.raises(InterventionError, match=f"{spec.name}="):
                    from_spec({"name": name, **others, spec.name: bad})
                tried += 1
    COUNTS[f"non-finite floats/{game}"] += tried


def _plain_valid(spec) -> Any:
    """A value of a required parameter's type inside its range (its lower bound, or 1)."""
    if spec.kind in ("int", "float"):
        value = spec.low if spec.low is not None else (min(1, spec.high) if spec.high is not None else 1)
        return int(value) if spec.kind == "int" else float(value)
    return {"bool": True, "str": (spec.choices or ("",))[0], "color": (0, 0, 0)}.get(spec.kind, ())


def _set(path: str, value: Any):
    """An edit that sets one ``/``-separated path (list indices as digits) of a state."""
    def edit(state: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        for key in parents:
            state = state[key]
        state[last] = value(state[last]) if callable(value) else value
    return edit


#: Every edit that crashed or hung a native core while this suite was written (test_fuzz findings).
FOUND = [
    ("pong", "p1_score", -1), ("pong", "p2_score", -7),
    ("amidar", "level", -7), ("amidar", "lives", 2**31 - 1), ("amidar", "score", -2**31),
    ("amidar", "player/history/0", 1), ("amidar", "enemies/2/ai/EnemyLookupAI/default_route_index", 7),
    ("space_invaders", "enemies/0/row", -7), ("space_invaders", "shields/1/data/1", []),
    ("breakout", "ball_radius", -2**31), ("breakout", "balls/0/velocity/x", -1e9),
    ("breakout", "bricks/0/size/x", 1e9), ("breakout", "bricks/0/size/y", 1e9),
]


@pytest.mark.parametrize("game, path, value", FOUND, ids=[f"{g}:{p}={v}" for g, p, v in FOUND])
def test_every_state_that_broke_a_core_is_refused(game, path, value):
    state = copy.deepcopy(states(game)[1])
    _set(path, value)(state)
    with pytest.raises(GameStateError, match=path.split("/")[0]):
        check_state(game, state)


@pytest.mark.slow
@pytest.mark.parametrize("game, path, value", FOUND, ids=[f"{g}:{p}={v}" for g, p, v in FOUND])
def test_and_each_really_breaks_the_core_unchecked(game, path, value, sandbox):
    """Why the check exists: unchecked, each of these aborts the interpreter or hangs the core."""
    sandbox.timeout = 10.0
    state = copy.deepcopy(states(game)[1])
    _set(path, value)(state)
    outcome = sandbox.run(game, state, steps=STEPS, action=len(make(game).spec_game.action_set) - 1, check=False)
    assert outcome.outcome in ("crash", "hang"), outcome


# -- raw game configurations (ToyboxEnv.configure) -------------------------------------------------
#: Agent steps (4 frames each) a configured game must play: config effects (a serve, a lost life, an
#: enemy's first move) show within the first frames, and every abort/hang found shows by step 1.
CONFIG_STEPS = 60
#: Integer and float ladders tried on every numeric key: zero, ±1, small, large, the i32 edges.
INT_LADDER = (0, -1, 1, 2, -1000, 1000, 100_000, 2**31 - 1, -2**31)
FLOAT_LADDER = (0.0, -1.0, 0.001, -0.001, 1e3, -1e3, 1e6, 1e9, -1e9, 1e300, math.nan, math.inf)


def _config_paths(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) of every key and list of a config (lists: first two items), but the RNG seed
    and the colour channels (the schema bounds those to u64/u8 exactly)."""
    out = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("rand", "r", "g", "b", "a"):
                out.extend(_config_paths(item, path + (key,)))
    elif isinstance(value, list) and not (value and isinstance(value[0], str)):  # an Amidar board: below
        for index, item in enumerate(value[:2]):
            out.extend(_config_paths(item, path + (index,)))
    return out


def _with(config: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    new = copy.deepcopy(config)
    parent = new
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = copy.deepcopy(value)
    return new


def _ladder_values(value: Any) -> list[Any]:
    """What to try instead of one config value: its ladder, or for a list empty/one/short/double/long."""
    if isinstance(value, bool):
        return [not value, 0]
    if isinstance(value, int):
        return list(INT_LADDER) + [None, "1", 1.5]
    if isinstance(value, float):
        return list(FLOAT_LADDER) + [None, "1.0"]
    if isinstance(value, list):
        return [[], value[:1], value[:-1], value + value, (value * 20)[:40]] if value else [[], [0]]
    if isinstance(value, str):
        return ["", "Nope"]
    return [None, []]


def amidar_boards(board: list[str]) -> list[list[str]]:
    """Boards of wrong shapes, junk characters, no tracks, or the default's size doubled."""
    width = len(board[0])
    return [[], [""], ["="], board[:1], board[:2], board[:-1], board + board, [row[:-1] for row in board],
            [row + "=" for row in board], [row + row for row in board], board[:-1] + [board[-1][:-3]],
            [row.replace("=", "x") for row in board], [row.replace(" ", "?") for row in board],
            [row.replace("=", "é") for row in board], [row.replace("c", "=").replace("p", "=") for row in board],
            ["=" * width] * len(board), [" " * width] * len(board), [board[0]] + [row[:5] + "0" + row[6:] for row in board[1:]]]


def _special_cases(game: str, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Hand-picked whole-value edits per game (positions off the screen, AIs off the tracks, …)."""
    cases: list[tuple[str, dict[str, Any]]] = []
    if game == "breakout":
        for x, y, angle in ((-50.0, 80.0, 30.0), (1000.0, 80.0, 30.0), (120.0, -500.0, 30.0), (120.0, 500.0, 30.0),
                            (120.0, 80.0, 0.0), (120.0, 80.0, 90.0), (120.0, 80.0, 1e9)):
            cases.append((f"ball_start_positions=[({x}, {y}, {angle}°)]",
                          _with(config, ("ball_start_positions",), [{"x": x, "y": y, "angle_degrees": angle}])))
        for rows, scores in ((0, 0), (1, 1), (7, 7), (12, 12), (7, 6), (5, 6), (6, 3)):
            new = _with(config, ("row_colors",), (config["row_colors"] * 3)[:rows])
            cases.append((f"{rows} row colours, {scores} row scores",
                          _with(new, ("row_scores",), (config["row_scores"] * 3)[:scores])))
    if game == "amidar":
        for index, board in enumerate(amidar_boards(config["board"])):
            cases.append((f"board variant {index}", _with(config, ("board",), board)))
        for tx, ty in ((0, 0), (31, 30), (31, 25), (28, 18), (27, 18), (32, 15), (31, 31), (-1, 0), (5, 5), (100, 100)):
            cases.append((f"player_start=({tx}, {ty})", _with(config, ("player_start",), {"tx": tx, "ty": ty})))
        enemies = config["enemies"]
        for label, value in (("20 enemies", enemies * 4), ("route 5", enemies + [{"EnemyLookupAI": {"next": 0, "default_route_index": 5}}]),
                             ("next 500", [{"EnemyLookupAI": {"next": 500, "default_route_index": 0}}]),
                             ("a Player enemy", ["Player"])):
            cases.append((f"enemies: {label}", _with(config, ("enemies",), value)))
        for tx, ty in ((0, 0), (3, 3), (500, 0)):
            start = {"tx": tx, "ty": ty}
            for ai in ({"EnemyRandomMvmt": {"dir": "Up", "start": start, "start_dir": "Left"}},
                       {"EnemyAmidarMvmt": {"horiz": "Left", "vert": "Up", "start": start, "start_horiz": "Left", "start_vert": "Up"}},
                       {"EnemyTargetPlayer": {"dir": "Up", "start": start, "start_dir": "Left", "player_seen": None, "vision_distance": 5}},
                       {"EnemyPerimeterAI": {"start": start}}):
                cases.append((f"enemies: {next(iter(ai))} at ({tx}, {ty})", _with(config, ("enemies",), [ai])))
    if game == "space_invaders":
        for x, y in ((-1000, 157), (1000, 157), (84, -1000), (84, 1000), (0, 0), (-20, 157), (310, 157), (84, 250)):
            cases.append((f"shields=[({x}, {y})]", _with(config, ("shields",), [[x, y]])))
        cases.append(("50 shields", _with(config, ("shields",), [[84, 157]] * 50)))
    return cases


@cache
def config_ladder(game: str) -> tuple[tuple[str, str], ...]:
    """Every systematic raw-config case of ``game``: (label, config as JSON text)."""
    config = default_config(game)
    cases = [(f"{'/'.join(map(str, path))}={value!r}"[:120], _with(config, path, value))
             for path, old in _config_paths(config) for value in _ladder_values(old)]
    cases += [(f"without {key}", {k: v for k, v in config.items() if k != key}) for key in config]
    cases.append(("unknown key", {**config, "unknown_field": 1}))
    cases += _special_cases(game, config)
    return tuple((label, json.dumps(value, allow_nan=True)) for label, value in cases)


def _judge_config(game: str, config: Any, sandbox: NativeSandbox, kind: str, action: int = 1,
                  in_hypothesis: bool = False) -> str:
    """Refused by check_config, or configured, reset and played by the core without a refusal,
    crash or hang. Also counts configured games whose state leaves STATE_LIMITS (not a failure: see
    docs/reliability.md)."""
    try:
        check_config(game, config)
    except GameStateError as error:
        assert game in str(error) and "CONFIG_LIMITS" in str(error)
        COUNTS[f"{kind}/{game}/refused by cfsal"] += 1
        if in_hypothesis:
            event("refused by cfsal")
        return "refused"
    outcome = sandbox.run(game, None, steps=CONFIG_STEPS, config=config, action=action)
    COUNTS[f"{kind}/{game}/native {outcome.outcome}"] += 1
    if in_hypothesis:
        event(f"native {outcome.outcome}")
    assert outcome.outcome == "ok", f"{game}: a config cfsal let through made the core {outcome.outcome}: {outcome.detail}"
    if outcome.state_problem:
        COUNTS[f"{kind}/{game}/played, state afterwards outside STATE_LIMITS"] += 1
    return "ok"


@pytest.mark.parametrize("game", GAMES)
def test_every_rung_of_the_raw_config_ladder_is_refused_in_python_or_played_cleanly(game, sandbox):
    """Per key, a ladder of values (zero, negative, huge, NaN, wrong types, empty/short/long lists),
    missing and unknown keys, and hand-picked layouts: none may reach the core and break it."""
    outcomes = Counter(_judge_config(game, json.loads(text), sandbox, "config ladder")
                       for _label, text in config_ladder(game))
    assert outcomes["refused"] and outcomes["ok"], outcomes  # the ladder spans both sides of the check


#: Random values for a config key: every Rust integer width's edges, non-finite floats, wrong types.
CONFIG_VALUES = st.one_of(
    st.sampled_from(INT_LADDER + (3, 5, 6, 9, 10, 20, 21, 24, 99, 100, 255, 2**32, 2**63)),
    st.integers(-2**65, 2**65), st.floats(allow_nan=True, allow_infinity=True), st.floats(-400, 400),
    st.sampled_from(["", "x", None, True, False, [], {}, [1, 2], {"tx": 1, "ty": 1}, [[1, 2]]]),
)


@st.composite
def config_edits(draw: st.DrawFn, game: str) -> dict[str, Any]:
    """The default config with 1–3 random edits: nudge a number, replace a value, delete or add a
    key, cut/duplicate a list, or (Amidar) reshape the board or write a character into it."""
    config = default_config(game)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        kinds = ["nudge"] * 8 + ["replace"] * 2 + ["list", "delete", "add"] + (["board"] * 3 if game == "amidar" else [])
        action = draw(st.sampled_from(kinds))
        paths = _config_paths(config)
        numbers = [(p, v) for p, v in paths if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if action == "nudge" and numbers:
            paths = numbers
        if not paths:
            break
        path, old = draw(st.sampled_from(paths))
        if action == "nudge" and isinstance(old, (int, float)) and not isinstance(old, bool):
            delta = draw(st.sampled_from([1, 1, 1, 2, 3, 5, 10, 50, 300, 5000])) * draw(st.sampled_from([-1, 1]))
            value = type(old)(draw(st.sampled_from([old + delta] * 4 + [-old, old * 2, old // 2, 0])))
            config = _with(config, path, value)
        elif action == "list" and isinstance(old, list):
            config = _with(config, path, draw(st.sampled_from(_ladder_values(old))))
        elif action == "board" and isinstance(config.get("board"), list) and all(isinstance(r, str) for r in config["board"]):
            config = _with(config, ("board",), draw(board_edits(config["board"])))
        elif action == "delete" and len(path) >= 1:
            parent = config
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict):
                del parent[path[-1]]
        elif action == "add":
            config["unknown_field"] = 1
        else:
            config = _with(config, path, draw(CONFIG_VALUES))
    return config


@st.composite
def board_edits(draw: st.DrawFn, board: list[str]) -> list[str]:
    """An Amidar board with one change: a character, a row's length, the number of rows."""
    board = list(board)
    if not board:
        return draw(st.sampled_from([[], ["="], ["==", "=="]]))
    how = draw(st.sampled_from(["char", "char", "row", "rows"]))
    ty = draw(st.integers(0, len(board) - 1))
    if how == "char" and board[ty]:
        tx = draw(st.integers(0, len(board[ty]) - 1))
        char = draw(st.one_of(st.sampled_from("=cp "), st.characters(max_codepoint=0x3FF)))
        board[ty] = board[ty][:tx] + char + board[ty][tx + 1:]
    elif how == "row":
        board[ty] = draw(st.sampled_from([board[ty][:-1], board[ty] + "=", "", board[ty] * 2]))
    else:
        board = draw(st.sampled_from([board[:-1], board + board[-1:], board[:1], board * 2]))
    return board


@pytest.mark.parametrize("game", GAMES)
@given(data=st.data())
def test_random_raw_configs_are_refused_in_python_or_played_cleanly(game, sandbox, data):
    config = data.draw(config_edits(game), label="config")
    action = data.draw(st.integers(0, get_game(game).n_actions - 1), label="action")
    _judge_config(game, json.loads(json.dumps(config, allow_nan=True)), sandbox, "raw configs", action,
                  in_hypothesis=True)


#: Every raw config that aborted or hung a native core in the exploration behind CONFIG_LIMITS
#: (each row: game, key path, value; docs/reliability.md lists what each did).
FOUND_CONFIGS = [
    ("breakout", "paddle_discrete_segments", 0), ("breakout", "ball_start_positions", []),
    ("breakout", "row_scores", [7, 7, 4]), ("breakout", "ball_speed_slow", 1e300),
    ("amidar", "start_lives", 2**31 - 1), ("amidar", "board", ["="]), ("amidar", "board", []),
    ("amidar", "board/3", "row 3 with an 'x'"), ("amidar", "enemies/0/EnemyLookupAI/default_route_index", 1000),
    ("amidar", "enemies", [{"EnemyRandomMvmt": {"dir": "Up", "start": {"tx": 3, "ty": 3}, "start_dir": "Left"}}]),
    ("amidar", "enemies", [{"EnemyTargetPlayer": {"dir": "Up", "start": {"tx": 500, "ty": 0}, "start_dir": "Left",
                                                  "player_seen": None, "vision_distance": 5}}]),
    ("amidar", "player_start", {"tx": 31, "ty": 30}),  # found by the seed-0 and seed-2 long runs (a LEFT move)
]


def _found_config(game: str, path: str, value: Any) -> dict[str, Any]:
    keys = tuple(int(p) if p.isdigit() else p for p in path.split("/"))
    if path == "board/3":  # a junk character in a row of the right length
        row = default_config(game)["board"][3]
        value = row[:5] + "x" + row[6:]
    return _with(default_config(game), keys, value)


@pytest.mark.parametrize("game, path, value", FOUND_CONFIGS, ids=[f"{g}:{p}={v!r}"[:60] for g, p, v in FOUND_CONFIGS])
def test_every_config_that_broke_a_core_is_refused(game, path, value):
    with pytest.raises(GameStateError, match=path.split("/")[0]):
        check_config(game, _found_config(game, path, value))


@pytest.mark.slow
@pytest.mark.parametrize("game, path, value", FOUND_CONFIGS, ids=[f"{g}:{p}={v!r}"[:60] for g, p, v in FOUND_CONFIGS])
def test_and_each_config_really_breaks_the_core_unchecked(game, path, value, sandbox):
    """Why the config check exists: unchecked, each of these aborts the interpreter or hangs the core."""
    sandbox.timeout = 10.0
    outcomes = []
    for action in (1, 4):  # FIRE; LEFT in Amidar's and Breakout's action sets (RIGHTFIRE elsewhere)
        outcomes.append(sandbox.run(game, None, steps=CONFIG_STEPS, config=_found_config(game, path, value),
                                    action=action, check=False))
        if outcomes[-1].outcome in ("crash", "hang"):
            break
    assert outcomes[-1].outcome in ("crash", "hang"), outcomes
