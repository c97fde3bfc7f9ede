"""Checks of a state an intervention is given or produces, before it can reach the native core.

:meth:`~cfsal.interventions.state.Intervention.apply` checks that the state is of the intervention's
game (:func:`check_game`), copies it (:func:`copy_state`: edits are pure) and refuses an edited state
the core would refuse, hang on or abort over: the whole state (:func:`check_finite`,
:func:`check_playable`) or, for a state just read from the core, only the values the edit changed
(:func:`check_edit`). The schema and limits themselves are :mod:`cfsal.envs.validation`'s.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from cfsal.envs.validation import changed_values, check_changed_values, check_state
from cfsal.errors import GameStateError, InterventionError

_GAME_KEYS = {
    "breakout": ("bricks", "paddle", "balls"),
    "amidar": ("board", "enemies", "player"),
    "space_invaders": ("shields", "ship", "ufo"),
    "pong": ("p1_paddle", "p2_paddle", "ball"),
}


def game_of_state(state: Any) -> str | None:
    """Which game a Toybox state dict belongs to (by its keys), or None."""
    if not isinstance(state, dict):
        return None
    for game, keys in _GAME_KEYS.items():
        if all(k in state for k in keys):
            return game
    return None


def check_game(intervention: Any, state: Any) -> None:
    found = game_of_state(state)
    expected = intervention.game
    if found != expected:
        what = f"a {found} state" if found else f"something that is not a Toybox state ({type(state).__name__})"
        raise InterventionError(
            f"{intervention.name} edits {expected} states, but was given {what}. "
            f"Apply it to cfsal.envs.make({expected!r}).get_toybox_state()."
        )


_JSON_ATOMS = frozenset({str, int, float, bool, type(None)})


def copy_state(state: Any) -> Any:
    """``copy.deepcopy`` of a Toybox state, about 3× faster for what JSON holds.

    Dicts, lists and immutable atoms (exact types) are copied by a direct recursion; anything else
    goes to ``copy.deepcopy`` with the same memo, so shared sub-objects stay shared and other types
    are copied exactly as ``deepcopy`` would. Every edit copies the whole state (``apply`` is pure),
    so this was the largest cost of preparing a counterfactual pair.
    """
    return _copy_json(state, {})


def _copy_json(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _JSON_ATOMS:
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if kind is dict:
        out: Any = {}
        memo[key] = out
        for k, v in value.items():
            out[k] = v if type(v) in _JSON_ATOMS else _copy_json(v, memo)
        return out
    if kind is list:
        out = []
        memo[key] = out
        out.extend([v if type(v) in _JSON_ATOMS else _copy_json(v, memo) for v in value])
        return out
    return copy.deepcopy(value, memo)


def check_playable(intervention: Any, state: dict[str, Any]) -> None:
    """Refuse an edited state the native core would refuse, hang on or abort over (see
    :func:`cfsal.envs.validation.check_state`): the last guard before the edit reaches Rust."""
    try:
        check_state(intervention.game, state, where=intervention.name)
    except GameStateError as error:
        raise _unplayable_edit(intervention, error) from None


def _unplayable_edit(intervention: Any, error: Exception) -> InterventionError:
    return InterventionError(f"{error} The edit of {intervention.name} left a state Toybox cannot play; "
                             "choose parameters that keep the game inside these limits.")


def check_finite(intervention: Any, state: Any) -> None:
    """Last guard before the native core: no NaN/inf floats, no integers beyond int32."""
    stack = [state]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)  # exact JSON types are looked up, not isinstance-tested: every edit walks it all
        if kind in _UNCHECKED:
            continue
        if kind not in _CHECKED:  # subclasses (numpy floats, bool, OrderedDict …) as isinstance sees them
            kind = next((base for base in _CHECKED if isinstance(item, base)), None)
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is float and not math.isfinite(item):
            raise InterventionError(f"{intervention.name}: the edit produced a non-finite number ({item}).")
        elif kind is int and not -(2**63) <= item < 2**64:
            raise InterventionError(f"{intervention.name}: the edit produced an out-of-range integer ({item}).")


_CHECKED = (dict, list, float, int)
_UNCHECKED = frozenset({str, bool, type(None)})


def check_edit(intervention: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Refuse ``after`` exactly where :func:`check_finite` and :func:`check_playable` would, given that
    ``before`` came from the native core (so is playable): only the values the edit changed are checked.

    An edit touches a few numbers; checking the whole state was half the cost of preparing a
    counterfactual pair (issue #6). If the edit kept the shape of the state, each changed value is
    checked alone (:func:`cfsal.envs.validation.check_changed_values`); anything else (a key added
    or removed, a list resized, a changed type) gets the full checks.
    """
    changed = changed_values(before, after)
    if changed is None:
        check_finite(intervention, after)
        check_playable(intervention, after)
        return
    for _path, value in changed:
        kind = type(value)
        if kind is float and not math.isfinite(value):
            raise InterventionError(f"{intervention.name}: the edit produced a non-finite number ({value}).")
        if kind is int and not -(2**63) <= value < 2**64:
            raise InterventionError(f"{intervention.name}: the edit produced an out-of-range integer ({value}).")
    game = intervention.game if intervention.game != "any" else game_of_state(after)
    try:
        check_changed_values(game, after, changed, where=intervention.name)
    except GameStateError as error:
        raise _unplayable_edit(intervention, error) from None
