"""Hypothesis strategies over interventions, derived from each parameter's declared type and range.

``interventions(game="breakout")`` draws valid breakout state interventions;
``parameters("breakout.move_ball")`` draws valid parameter dicts; ``invalid_parameters(name)``
draws dicts with exactly one parameter out of range or of the wrong type, which the constructor
must reject with :class:`~cfsal.errors.InterventionError`. Valid parameters can still fail
*state-dependent* checks (a shift that would push the ball out of the court); that also raises
:class:`~cfsal.errors.InterventionError`, never anything else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from cfsal.errors import InterventionError
from cfsal.interventions.config import ConfigComposite
from cfsal.interventions.params import ParamSpec, registry
from cfsal.interventions.state import Composite

_MAX_TUPLE = 4


def _bounds(spec: ParamSpec, default_low: float, default_high: float) -> tuple[float, float]:
    low = default_low if spec.low is None else spec.low
    high = default_high if spec.high is None else spec.high
    return low, high


def _value_strategy(cls: type, spec: ParamSpec) -> st.SearchStrategy[Any]:
    if spec.kind == "bool":
        base: st.SearchStrategy[Any] = st.booleans()
    elif spec.kind == "str":
        base = st.sampled_from(spec.choices or ())
    elif spec.kind == "int":
        low, high = _bounds(spec, -1000, 1000)
        base = st.integers(int(low), int(high))
    elif spec.kind == "float":
        low, high = _bounds(spec, -1000.0, 1000.0)
        base = st.floats(float(low), float(high), allow_nan=False, allow_infinity=False)
    elif spec.kind == "color":
        channel = st.integers(0, 255)
        base = st.tuples(channel, channel, channel)
    elif spec.kind == "int_tuple":
        low, high = _bounds(spec, 0, 100)
        base = st.lists(st.integers(int(low), int(high)), max_size=_MAX_TUPLE, unique=True).map(tuple)
    elif spec.kind == "cell_tuple":
        cell = st.tuples(st.integers(0, cls.cell_columns - 1), st.integers(0, cls.cell_rows - 1))
        base = st.lists(cell, max_size=_MAX_TUPLE, unique=True).map(tuple)
    else:
        raise AssertionError(spec.kind)
    return st.one_of(st.none(), base) if spec.optional else base


def _constructs(cls: type, kwargs: dict[str, Any]) -> bool:
    try:
        cls(**kwargs)
    except InterventionError:
        return False
    return True


def _class(name: str) -> type:
    if name not in registry or registry[name] in (Composite, ConfigComposite):
        raise InterventionError(f"unknown intervention {name!r}; see cfsal.interventions.list_interventions().")
    return registry[name]


def parameters(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid parameter dicts for intervention ``name`` (cross-parameter rules applied by filtering)."""
    cls = _class(name)
    fields = {spec.name: _value_strategy(cls, spec) for spec in cls.params()}
    return st.fixed_dictionaries(fields).filter(lambda kw: _constructs(cls, kw))


def intervention(name: str) -> st.SearchStrategy[Any]:
    """Valid instances of intervention ``name``."""
    cls = _class(name)
    return parameters(name).map(lambda kw: cls(**kw))


def names(game: str | None = None, kind: str = "state") -> list[str]:
    """Registered intervention names of a game (all games if None) and kind ("state"/"config")."""
    return sorted(n for n, cls in registry.items()
                  if cls not in (Composite, ConfigComposite) and cls.kind == kind
                  and (game is None or cls.game == game))


def interventions(game: str | None = None, names: Iterable[str] | None = None,
                  kind: str = "state") -> st.SearchStrategy[Any]:
    """Valid interventions: of one game, of a list of names, or of every game (``kind`` selects
    state or config interventions)."""
    chosen = sorted(names) if names is not None else globals()["names"](game, kind)
    if not chosen:
        raise InterventionError(f"no {kind} interventions match game={game!r}, names={names!r}.")
    return st.one_of([intervention(n) for n in chosen])


def _bad_values(cls: type, spec: ParamSpec) -> st.SearchStrategy[Any]:
    """Values that ``spec`` must reject: out of range, wrong type, non-finite."""
    wrong_type = st.sampled_from(["seven", [1, 2], {"a": 1}])
    if spec.kind == "bool":
        return st.one_of(st.sampled_from([1, 0, "yes"]), wrong_type)
    if spec.kind == "str":
        return st.one_of(st.text(max_size=5).filter(lambda s: s not in (spec.choices or ())), st.integers())
    if spec.kind in ("int", "float"):
        options = [wrong_type, st.booleans()]
        if spec.low is not None:
            options.append(st.integers(max_value=math.floor(spec.low) - 1))
        if spec.high is not None:
            options.append(st.integers(min_value=math.ceil(spec.high) + 1))
        if spec.kind == "float":
            options.append(st.sampled_from([math.nan, math.inf, -math.inf]))
        else:
            options.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
        return st.one_of(options)
    if spec.kind == "color":
        return st.one_of(st.tuples(st.integers(256, 10_000), st.integers(0, 255), st.integers(0, 255)),
                         st.just((1, 2)), wrong_type.filter(lambda v: not isinstance(v, list)))
    if spec.kind == "int_tuple":
        high = 100 if spec.high is None else spec.high
        return st.one_of(st.integers(int(high) + 1, int(high) + 100).map(lambda v: (v,)),
                         st.just(("a",)), st.just(7))
    if spec.kind == "cell_tuple":
        return st.one_of(st.just(((cls.cell_columns, 0),)), st.just(((0, cls.cell_rows),)),
                         st.just(((1, 2, 3),)), st.just(5))
    raise AssertionError(spec.kind)


def invalid_parameters(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Parameter dicts for ``name`` with exactly one parameter invalid (the rest valid)."""
    cls = _class(name)
    specs = cls.params()

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kwargs = dict(draw(parameters(name)))
        spec = draw(st.sampled_from(specs))
        kwargs[spec.name] = draw(_bad_values(cls, spec))
        return kwargs

    return build()
