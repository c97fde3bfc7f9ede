"""Intervention parameters: declared with their type, range and doc, checked before anything runs.

Every intervention is a frozen dataclass whose fields are declared with :func:`param`; the shared
base :class:`Parameterised` reads each field's annotation and range into a :class:`ParamSpec`,
checks values in ``__post_init__`` (so a bad value raises :class:`~cfsal.errors.InterventionError`
before anything reaches the native core, which accepts absurd values silently or aborts over them),
and writes the spec form :meth:`Parameterised.to_dict` that :func:`cfsal.interventions.from_spec`
reads back. The same specs drive ``cfsal interventions list`` and the Hypothesis strategies.

Every public intervention class of a game is registered under ``<game>.<class name in snake
case>`` (``breakout.MoveBall`` is ``"breakout.move_ball"``) in :data:`registry`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import numpy as np

from cfsal.errors import InterventionError

#: name → class of every registered intervention (state and config kinds).
registry: dict[str, type[Parameterised]] = {}


def intervention_name(game: str, class_name: str) -> str:
    """The registered name of a game's intervention class: ``("breakout", "MoveBall")`` → ``"breakout.move_ball"``."""
    return f"{game}.{re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', class_name).lower()}"


# -- parameters ---------------------------------------------------------------------------------
def param(default: Any = dataclasses.MISSING, *, low: float | str | None = None,
          high: float | str | None = None, choices: tuple[Any, ...] | None = None, doc: str = "") -> Any:
    """Declare an intervention parameter: a dataclass field carrying its valid range and doc.

    ``low``/``high`` are inclusive bounds (for tuple parameters they bound every element); a string
    names a class attribute holding the bound, so one base class can serve games with different
    limits (``high="max_score"``). ``choices`` lists the allowed values of a string parameter.
    """
    metadata = {"low": low, "high": high, "choices": choices, "doc": doc}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ParamSpec:
    """What a parameter accepts, for validation, ``cfsal interventions list`` and strategies."""

    name: str
    kind: str  # "int", "float", "bool", "str", "int_tuple", "cell_tuple", "color"
    optional: bool
    default: Any
    low: float | None
    high: float | None
    choices: tuple[Any, ...] | None
    doc: str

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    def range_text(self, with_null: bool = True) -> str:
        if self.choices is not None:
            text = " | ".join(repr(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true | false"
        elif self.kind == "color":
            text = "(r, g, b), each 0 ≤ v ≤ 255"
        elif self.low is not None or self.high is not None:
            low = "-∞" if self.low is None else _fmt(self.low)
            high = "∞" if self.high is None else _fmt(self.high)
            text = f"{low} ≤ {self.name} ≤ {high}"
            if self.kind == "int_tuple":
                text = f"tuple of ints, each {text}"
            elif self.kind == "cell_tuple":
                text = "tuple of (column, row) pairs"
        else:
            text = self.kind
        return text + (" (or null)" if self.optional and with_null else "")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "optional": self.optional,
                "default": None if self.required else self.default, "required": self.required,
                "low": self.low, "high": self.high,
                "choices": list(self.choices) if self.choices else None,
                "range": self.range_text(), "doc": self.doc}


def _resolve_bound(cls: type, bound: float | str | None) -> float | None:
    """A bound given as a class-attribute name ("max_score", or "-max_score" for its negative)."""
    if not isinstance(bound, str):
        return bound
    if bound.startswith("-"):
        return -getattr(cls, bound[1:])
    return getattr(cls, bound)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _kind_of(annotation: Any) -> tuple[str, bool]:
    """Map a field annotation to (kind, optional)."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
        origin = typing.get_origin(annotation)
    if annotation is bool:
        return "bool", optional
    if annotation is int:
        return "int", optional
    if annotation is float:
        return "float", optional
    if annotation is str:
        return "str", optional
    if origin is tuple:
        args = typing.get_args(annotation)
        if args == (int, int, int):
            return "color", optional
        if len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            if inner is int:
                return "int_tuple", optional
            if typing.get_origin(inner) is tuple:
                return "cell_tuple", optional
    raise TypeError(f"unsupported intervention parameter annotation {annotation!r}: use int, float, bool, str, "
                    "tuple[int, ...], tuple[tuple[int, int], ...] (cells) or tuple[int, int, int] (a colour), "
                    "each optionally `| None`.")


class Parameterised:
    """Shared machinery of state and config interventions: parameters and their validation."""

    #: ``"<game>.<class name in snake case>"``, set by :meth:`__init_subclass__` (or by the class).
    name: ClassVar[str]
    game: ClassVar[str]
    kind: ClassVar[str]
    #: One line for ``cfsal interventions list``; the class docstring is the full doc.
    summary: ClassVar[str] = ""
    #: The seed paper's name for this intervention, if it used one (e.g. ``IVmoveball``).
    paper_name: ClassVar[str | None] = None

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Name and register a game's public intervention class (``register=False`` keeps a class out).

        The name comes from the game and the class name (:func:`intervention_name`) unless the
        class sets ``name`` itself; private classes (``_Breakout``) and classes without a game (the
        shared bases of :mod:`cfsal.interventions._common`) are neither named nor registered.
        """
        super().__init_subclass__(**kwargs)
        if not register:
            return
        if "name" not in cls.__dict__ and not cls.__name__.startswith("_") and getattr(cls, "game", "any") != "any":
            cls.name = intervention_name(cls.game, cls.__name__)
        if "name" in cls.__dict__:
            known = registry.get(cls.name)
            if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise TypeError(
                    f"intervention name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}; "
                    f"rename {cls.__qualname__} or give it a name of its own (name = \"{cls.game}.my_edit\").")
            registry[cls.name] = cls  # a module imported again (pytest, a notebook) replaces its own classes

    # -- parameter introspection -----------------------------------------------------------
    @classmethod
    def params(cls) -> tuple[ParamSpec, ...]:
        cached = cls.__dict__.get("_param_specs")
        if cached is not None:
            return cached
        specs = cls._build_params()
        cls._param_specs = specs  # type: ignore[attr-defined]
        return specs

    @classmethod
    def _build_params(cls) -> tuple[ParamSpec, ...]:
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in ("name", "game"):
                raise TypeError(f"{cls.__qualname__}.{f.name} is a dataclass field; make it a class attribute "
                                f"({f.name} = \"…\", without an annotation, or {f.name}: ClassVar[str] = \"…\").")
            kind, optional = _kind_of(hints[f.name])
            low, high = (_resolve_bound(cls, b) for b in (f.metadata.get("low"), f.metadata.get("high")))
            specs.append(ParamSpec(
                name=f.name, kind=kind, optional=optional, default=f.default, low=low, high=high,
                choices=f.metadata.get("choices"), doc=f.metadata.get("doc", "")))
        return tuple(specs)

    @classmethod
    def describe(cls) -> str:
        """Full documentation: the class docstring, dedented."""
        return inspect.cleandoc(cls.__doc__ or "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Reached only by a class that is not a dataclass (a dataclass has its own ``__init__``)."""
        raise TypeError(f"{type(self).__qualname__} is not a dataclass: decorate it with "
                        "@dataclasses.dataclass(frozen=True) so that its param(...) fields are parameters.")

    def __post_init__(self) -> None:
        for spec in self.params():
            value = getattr(self, spec.name)
            object.__setattr__(self, spec.name, self._coerce(spec, value))
        self._validate()

    def _validate(self) -> None:
        """Cross-parameter checks; subclasses raise :meth:`_error` on bad combinations."""

    def _error(self, message: str) -> InterventionError:
        return InterventionError(f"{self.name}: {message}")

    def _require_one_of(self, relative: str, absolute: str) -> None:
        """A one-axis move: exactly one of the relative parameter (``dx``) and the absolute one (``x``)."""
        if (getattr(self, relative) is None) == (getattr(self, absolute) is None):
            raise self._error(f"give exactly one of {relative} (relative) or {absolute} (absolute).")

    def _require_move(self, *axes: tuple[str, str]) -> None:
        """A move on several axes, each given as ``(relative, absolute)`` (``("dx", "x")``): per axis one
        of the two or neither, and at least one axis given."""
        for relative, absolute in axes:
            if getattr(self, relative) is not None and getattr(self, absolute) is not None:
                raise self._error(f"give {relative} (relative) or {absolute} (absolute), not both.")
        if all(getattr(self, name) is None for axis in axes for name in axis):
            raise self._error(f"give {'/'.join(r for r, _ in axes)} (move relative to the current position) or "
                              f"{'/'.join(a for _, a in axes)} (move to).")

    def _coerce(self, spec: ParamSpec, value: Any) -> Any:
        """Check one parameter's type and range; return it normalised (lists → tuples, ints → floats)."""
        if value is None:
            if spec.optional:
                return None
            raise self._error(f"{spec.name} is required ({spec.range_text()}). {spec.doc}")
        where = f"{spec.name}={value!r}"
        if spec.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise self._error(f"{where} must be true or false.")
        if spec.kind == "str":
            if not isinstance(value, str) or (spec.choices and value not in spec.choices):
                raise self._error(f"{where} is not one of {', '.join(map(repr, spec.choices or ()))}.")
            return value
        if spec.kind in ("int", "float"):
            return self._number(spec, value, where, spec.kind == "int")
        if spec.kind == "color":
            items = self._sequence(value, where)
            if len(items) != 3:
                raise self._error(f"{where} must be an (r, g, b) triple of integers 0..255.")
            bounded = dataclasses.replace(spec, low=0, high=255)
            return tuple(self._number(bounded, v, where, True) for v in items)
        if spec.kind == "int_tuple":
            items = self._sequence(value, where)
            return tuple(self._number(spec, v, where, True) for v in items)
        if spec.kind == "cell_tuple":
            cells = []
            for cell in self._sequence(value, where):
                pair = self._sequence(cell, where)
                if len(pair) != 2:
                    raise self._error(f"{where}: every cell must be a (column, row) pair, got {cell!r}.")
                cells.append((self._cell_part(pair[0], "column", where), self._cell_part(pair[1], "row", where)))
            return tuple(cells)
        raise AssertionError(spec.kind)

    def _cell_part(self, value: Any, part: str, where: str) -> int:
        """Bounds of cell coordinates: class attributes ``cell_columns``/``cell_rows`` (exclusive)."""
        limit = getattr(self, f"cell_{part}s")
        spec = ParamSpec(part, "int", False, None, 0, limit - 1, None, "")
        return self._number(spec, value, where, True)

    def _sequence(self, value: Any, where: str) -> tuple[Any, ...]:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise self._error(f"{where} must be a list/tuple.")
        return tuple(value)

    def _number(self, spec: ParamSpec, value: Any, where: str, integer: bool) -> Any:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise self._error(f"{where} must be {'an integer' if integer else 'a number'}, got {type(value).__name__}.")
        if integer:
            if isinstance(value, (float, np.floating)):
                if not float(value).is_integer():
                    raise self._error(f"{where} must be a whole number.")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise self._error(f"{where} must be finite.")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise self._error(f"{where} is outside the valid range {spec.range_text(False)}: {spec.doc}.")
        return value

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec form, ``{"name": …, <param>: …}``, which :func:`from_spec` reads back."""
        out: dict[str, Any] = {"name": self.name}
        for spec in self.params():
            value = getattr(self, spec.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[spec.name] = value
        return out



class Composition:
    """What both composites share (:class:`~cfsal.interventions.state.Composite` of state interventions,
    :class:`~cfsal.interventions.config.ConfigComposite` of config ones): ``members`` in place of
    parameters, the game of their members, and the spec form ``{"name": …, "interventions": […]}``."""

    name: ClassVar[str]
    game: ClassVar[str] = "any"
    members: tuple[Any, ...]

    @classmethod
    def params(cls) -> tuple[ParamSpec, ...]:
        return ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interventions": [m.to_dict() for m in self.members]}

    def _check_members(self, kind: type, what: str, not_kind: Callable[[Any], str]) -> tuple[Any, ...]:
        """``members`` as a tuple (kept on ``self``), or an error: none given, one not a ``kind`` (the
        sentence ``not_kind`` says for it), members of several games. ``what`` names a member."""
        members = tuple(self.members)
        if not members:
            raise InterventionError(f"{self.name}: give at least one {what} to compose.")
        for m in members:
            if not isinstance(m, kind):
                raise InterventionError(f"{self.name}: {not_kind(m)}")
        games = sorted({m.game for m in members})
        if len(games) > 1:
            raise InterventionError(f"{self.name}: {what}s of different games cannot be combined: {games}.")
        object.__setattr__(self, "members", members)
        return members


def flatten(interventions: Iterable[Any]) -> tuple[Any, ...]:
    """The interventions in order, each composite (``a + b``) replaced by its members."""
    return tuple(member for item in interventions
                 for member in (item.members if isinstance(item, Composition) else (item,)))
