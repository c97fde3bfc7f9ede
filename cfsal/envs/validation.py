"""Refuse, in Python, a Toybox state or configuration the native core would refuse, hang on, or abort over.

ctoybox hands what it is given straight to Rust: a schema misfit comes back as a ``ValueError``
pointing at "line 1, column 22003", and some well-typed values abort the interpreter or hang the core
(found by fuzzing: tests/reliability/test_fuzz.py, docs/reliability.md). Three checks, in this order,
each naming the path, the value and what is allowed: ctoybox's own JSON schema
(:mod:`cfsal.envs.schema`), the ranges of :data:`cfsal.envs.games.STATE_LIMITS` /
:data:`~cfsal.envs.games.CONFIG_LIMITS` (or ±:data:`~cfsal.envs.games.GENERIC_LIMIT`), and the game's
structural rules (:mod:`cfsal.envs.rules`).

:func:`check_state` and :func:`check_config` check a whole state or config;
:func:`check_changed_values` checks only what an edit changed in a state read from the core, with
the same verdicts and messages, for interventions applied thousands of times per run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from cfsal.envs import rules
from cfsal.envs.games import CONFIG_LIMITS, GENERIC_LIMIT, STATE_LIMITS, get_game
from cfsal.envs.schema import Check, compile_schema, node_at
from cfsal.errors import GameStateError

#: A path into a state: object keys and list indices, outermost first.
Path = tuple[Any, ...]


@cache
def state_schema(game: str) -> dict[str, Any]:
    """The JSON schema ctoybox publishes for a game's state (pong: the frame state cfsal edits)."""
    # Imported here, not at the top: ctoybox loads the native cores (~0.1 s), which the checks need
    # only once a state is checked; `cfsal interventions list` never pays it (tests/test_cli.py).
    from ctoybox import Toybox

    schema = Toybox(get_game(game).name).schema_for_state()
    if game == "pong":
        return {**schema["definitions"]["FrameState"], "definitions": schema["definitions"]}
    return schema


@cache
def config_schema(game: str) -> dict[str, Any]:
    """The JSON schema ctoybox publishes for a game's configuration."""
    from ctoybox import Toybox  # the native cores, loaded on the first check (see state_schema)

    return Toybox(get_game(game).name).schema_for_config()


def check_state(game: str, state: Any, *, where: str = "state") -> None:
    """Refuse a state the native core would refuse, loop on, or abort the process over.

    Two checks, both in Python so nothing bad reaches Rust: the state must fit ctoybox's own JSON
    schema (every required key, the right types, integers within their Rust width), and every
    number must lie within :data:`~cfsal.envs.games.STATE_LIMITS` (or
    ±:data:`~cfsal.envs.games.GENERIC_LIMIT`), plus the game's structural rules (Amidar histories
    name junctions of the board). ctoybox turns schema misfits into a ``ValueError`` pointing at
    "line 1, column 22003"; the out-of-range values abort the interpreter or hang it. Raises
    :class:`~cfsal.errors.GameStateError` naming the path, the value and the valid range.
    """
    spec = get_game(game)
    if spec.name == "pong" and isinstance(state, dict) and "state" in state and "config" in state:
        state = state["state"]
    problem = _state_check(spec.name)(state, "")
    if problem is None:
        problem = _limit_problem(spec.name, state)
    if problem is None:
        problem = rules.state_problem(spec.name, state)
    if problem is not None:
        raise unplayable_state(spec.name, problem, where)


def unplayable_state(game: str, problem: str, where: str) -> GameStateError:
    """The error every state check raises, naming the problem and what to do."""
    return GameStateError(f"{where}: not a playable {game} state: {problem}. Edit a state from "
                          f"env.get_toybox_state() and keep every value within the game's ranges "
                          f"(cfsal.envs.games.STATE_LIMITS).")


def check_config(game: str, config: Any, *, where: str = "config") -> None:
    """Refuse a configuration the native core would refuse, abort the process over, or hang on.

    ``Toybox.write_config_json`` hands the dict straight to Rust: a missing key or a wrong type
    comes back as a ``ValueError`` pointing at a column of the JSON text, and some well-typed values
    abort the interpreter or hang the core (Breakout's ``paddle_discrete_segments: 0``, an empty
    ``ball_start_positions``, an Amidar board with a junk character). Three checks, all in Python:
    ctoybox's own config schema; the game's structural rules (lists the core indexes are non-empty
    and of matching lengths, an Amidar board is a rectangle of known tiles with every start on a
    track); every number within :data:`~cfsal.envs.games.CONFIG_LIMITS` (or
    ±:data:`~cfsal.envs.games.GENERIC_LIMIT`). Raises :class:`~cfsal.errors.GameStateError` naming
    the key, the value and the valid range.
    """
    spec = get_game(game)
    problem = _config_check(spec.name)(config, "")
    if problem is None:
        problem = rules.config_problem(spec.name, config)
    if problem is None:
        problem = _limit_problem(spec.name, config, table="config")
    if problem is not None:
        raise GameStateError(f"{where}: not a valid {spec.name} configuration: {problem}. Start from "
                             f"env.config (the current configuration) and change only the keys you need "
                             f"(ranges: cfsal.envs.games.CONFIG_LIMITS).")


# -- checking only what an edit changed ------------------------------------------------------------
#: Leaf types an edit may change in place and still be checked leaf by leaf (exact types: a bool is
#: not an int here, a numpy float is not a float); any other change is checked on the whole state.
_LEAF_TYPES = frozenset({int, float, str, bool, type(None)})


def changed_values(before: Any, after: Any) -> list[tuple[Path, Any]] | None:
    """``(path, value)`` of every leaf of ``after`` that differs from ``before``, or None when the two
    differ in shape anywhere (a key added or removed, a list resized, a value of another type)."""
    changed: list[tuple[Path, Any]] = []
    return changed if _changed_leaves(before, after, (), changed) else None


def check_changed_values(game: str, after: dict[str, Any], changed: list[tuple[Path, Any]], *,
                         where: str = "state") -> None:
    """Refuse ``after`` exactly where :func:`check_state` would, given that it differs from a state
    read from the native core (so playable) only in the ``changed`` values (:func:`changed_values`).

    ``check_state`` walks the whole state (~2.6 ms for Breakout, half the cost of preparing a
    counterfactual pair). An edit touches a few numbers, and every check of ``check_state`` that can
    fail on a state of the same shape is a check of one value: its schema node (type, integer width,
    enum) and its range in :data:`~cfsal.envs.games.STATE_LIMITS`. So each changed value is checked
    against the schema node at its path and the limits of its path, and the game's whole-state
    structural rules run as in ``check_state``; a value under a schema ``anyOf`` (no single node
    governs it) sends the whole state to ``check_state``. Same errors, same messages.
    """
    spec = get_game(game)
    problem = None
    for path, value in changed:  # the schema first, then the limits, as check_state orders them
        leaf = _leaf_check(spec.name, tuple("*" if type(part) is int else part for part in path))
        if leaf is None:
            check_state(spec.name, after, where=where)
            return
        problem = problem or leaf(value, "/" + "/".join(map(str, path)))
    if problem is None:
        problem = _limit_problem(spec.name, _sparse_state(changed))
    if problem is None:
        problem = rules.state_problem(spec.name, after)
    if problem is not None:
        raise unplayable_state(spec.name, problem, where)


def _changed_leaves(before: Any, after: Any, path: Path, out: list[tuple[Path, Any]]) -> bool:
    """Collect ``(path, value)`` of every leaf of ``after`` that differs from ``before``; False when the
    two differ in shape or type anywhere (then the caller checks the whole state)."""
    kind = type(after)
    if type(before) is not kind:
        return False
    if kind is dict:
        if before.keys() != after.keys():
            return False
        pairs: Any = ((key, before[key], value) for key, value in after.items())
    elif kind is list:
        if len(before) != len(after):
            return False
        pairs = ((index, old, value) for index, (old, value) in enumerate(zip(before, after)))
    else:  # the top level itself a leaf: not a state
        return kind in _LEAF_TYPES and before == after
    for key, old, value in pairs:
        if old is value:
            continue
        if type(value) in _LEAF_TYPES and type(old) is type(value):
            if old != value:  # a NaN never equals anything: it is a change, and refused
                out.append((path + (key,), value))
        elif not _changed_leaves(old, value, path + (key,), out):
            return False
    return True


@cache
def _leaf_check(game: str, key: Path) -> Check | None:
    """The schema check of the node at ``key`` (list indices as ``*``), compiled by the same compiler
    as the whole-state check (so a value passes it exactly when the whole-state check would pass it
    there), or None when no single node governs the path."""
    schema = state_schema(game)
    node = node_at(schema, key)
    return None if node is None else compile_schema(node, schema.get("definitions", {}))


def _sparse_state(changed: list[tuple[Path, Any]]) -> dict[str, Any]:
    """A state holding only the changed values, at their paths (list slots before them ``None``), for
    the range check: the same limits and messages, a few values instead of all."""
    root: dict[str, Any] = {}
    for path, value in changed:
        node: Any = root
        for part, below in zip(path, path[1:]):
            if type(part) is int:
                node.extend([None] * (part + 1 - len(node)))
            if (node.get(part) if type(node) is dict else node[part]) is None:
                node[part] = [] if type(below) is int else {}
            node = node[part]
        if type(path[-1]) is int:
            node.extend([None] * (path[-1] + 1 - len(node)))
        node[path[-1]] = value
    return root


# -- schema and ranges -----------------------------------------------------------------------------
@cache
def _state_check(game: str) -> Check:
    schema = state_schema(game)
    return compile_schema(schema, schema["definitions"])


@cache
def _config_check(game: str) -> Check:
    schema = config_schema(game)
    return compile_schema(schema, schema.get("definitions", {}))


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
def _limit_patterns(game: str, table: str) -> tuple[tuple[re.Pattern[str], float, float, str], ...]:
    out = []
    for glob, low, high, *why in (STATE_LIMITS if table == "state" else CONFIG_LIMITS)[game]:
        regex = "".join("[^/]+" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in glob)
        out.append((re.compile(regex + r"\Z"), low, high, why[0] if why else ""))
    return tuple(out)


def _limit_problem(game: str, value: dict[str, Any], *, table: str = "state") -> str | None:
    """The first number of a state (or, with ``table="config"``, a config) outside its range."""
    patterns = _limit_patterns(game, table)
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
