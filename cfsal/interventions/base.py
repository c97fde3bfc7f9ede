"""The intervention interface: named, typed, range-checked, composable edits of a Toybox state.

The paper (Atrey et al., 2020) tests a saliency-derived claim by *intervening* on the game state
(move the ball, shift the bricks, rewrite the score …) and watching what the agent does. Its code
did each edit inline in one of nine copies of a rollout loop. Here every edit is a small frozen
dataclass:

* parameters are dataclass fields declared with :func:`param` (type, valid range, doc), checked in
  ``__post_init__`` so a bad value raises :class:`~cfsal.errors.InterventionError` *before*
  anything reaches the native core (Toybox accepts absurd values silently, and some — a Space
  Invaders life count of 10 — abort the whole process);
* :meth:`Intervention.apply` is pure: it returns an edited deep copy of the state dict, checked
  whole before it can reach the native core (:meth:`Intervention.apply_from_core`, for a state
  just read from the core, checks only the values the edit changed: :func:`check_edit`);
* :meth:`Intervention.apply_to_env` edits a live :class:`cfsal.envs.ToyboxEnv` and settles the
  observation, either by re-rendering the newest frame (``settle="refresh"``) or, as the paper
  did, by stepping a few NOOPs (``settle=3``);
* :meth:`Intervention.took_effect` compares the quantity the intervention targets in two states,
  because the paper found edits that changed nothing for 40 frames;
* interventions compose with ``a + b`` (:class:`Composite`) and round-trip through
  :meth:`Intervention.to_dict` / :func:`cfsal.interventions.from_spec`.

Two kinds exist. *State* interventions (this module's :class:`Intervention`) edit the running
game at any step. *Config* interventions (:class:`ConfigIntervention`: colours, start lives,
speeds) edit the game's configuration, and Toybox's ``write_config_json`` restarts the game, so
they can only be applied at episode start.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Union

import numpy as np

from cfsal.errors import InterventionError

SPEC_SCHEMA_VERSION = 1
RECORD_SCHEMA_VERSION = 1

#: name → class of every registered intervention (state and config kinds).
registry: dict[str, type[Intervention] | type[ConfigIntervention]] = {}

_NOOP_INDEX = 0  # index 0 of every game's action set is NOOP (cfsal.envs.games)


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
    raise TypeError(f"unsupported intervention parameter annotation {annotation!r}")


class _Parameterised:
    """Shared machinery of state and config interventions: parameters and their validation."""

    name: ClassVar[str]
    game: ClassVar[str]
    kind: ClassVar[str]
    #: One line for ``cfsal interventions list``; the class docstring is the full doc.
    summary: ClassVar[str] = ""
    #: The seed paper's name for this intervention, if it used one (e.g. ``IVmoveball``).
    paper_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in registry:
                raise TypeError(f"intervention name {cls.name!r} registered twice")
            registry[cls.name] = cls  # type: ignore[assignment]

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
            kind, optional = _kind_of(hints[f.name])
            low, high = (_resolve_bound(cls, b) for b in (f.metadata.get("low"), f.metadata.get("high")))
            specs.append(ParamSpec(
                name=f.name, kind=kind, optional=optional, default=f.default, low=low, high=high,
                choices=f.metadata.get("choices"), doc=f.metadata.get("doc", "")))
        return tuple(specs)

    @classmethod
    def describe(cls) -> str:
        """Full documentation: the class docstring, dedented."""
        import inspect

        return inspect.cleandoc(cls.__doc__ or "")

    def __post_init__(self) -> None:
        for spec in self.params():
            value = getattr(self, spec.name)
            object.__setattr__(self, spec.name, self._coerce(spec, value))
        self._validate()

    def _validate(self) -> None:
        """Cross-parameter checks; subclasses raise :meth:`_error` on bad combinations."""

    def _error(self, message: str) -> InterventionError:
        return InterventionError(f"{self.name}: {message}")

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

    def __add__(self, other: Any) -> Any:
        return compose(self, other)


# -- state interventions ------------------------------------------------------------------------
class Intervention(_Parameterised):
    """Base of every state intervention. Concrete ones are frozen dataclasses.

    Subclasses implement :meth:`_edit` (mutate the given copy of the state in place) and
    :meth:`target` (the part of the state the intervention is meant to change, compared by
    :meth:`took_effect`). ``persistent = True`` marks interventions that the paper re-applied after
    *every* step (a frozen or decrementing score): :meth:`reapply` / :meth:`reapply_to_env` are
    what a rollout calls between steps.
    """

    kind: ClassVar[str] = "state"
    persistent: ClassVar[bool] = False

    # -- the pure edit ----------------------------------------------------------------------
    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """Return an edited deep copy of ``state`` (a Toybox JSON state dict); ``state`` is untouched.

        Raises :class:`InterventionError` if the state is of another game or the edit does not fit
        it (no ball in play, a target outside the court, …). Random choices draw only from ``rng``.
        """
        return self._apply(state, rng, from_core=False)

    def apply_from_core(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """:meth:`apply` to a state just read from the native core (``env.get_toybox_state()``).

        Such a state is playable, so only what the edit changed needs checking: the result is
        checked by :func:`check_edit` (the changed values against the game's schema and limits),
        about 10× faster than the whole-state :func:`check_playable` that :meth:`apply` runs on
        states of unknown origin. Every edit :meth:`apply` refuses is refused here too (tested on
        random edits in ``tests/test_rollout_fast.py``). Rollouts and :meth:`apply_to_env` use it.
        """
        return self._apply(state, rng, from_core=True)

    def _apply(self, state: dict[str, Any], rng: np.random.Generator | None, from_core: bool) -> dict[str, Any]:
        check_game(self, state)
        new = copy_state(state)
        self._edit(new, rng)
        if from_core:
            check_edit(self, state, new)
        else:
            check_finite(self, new)
            check_playable(self, new)
        return new

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        raise NotImplementedError

    def reapply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """What to apply after each later step: the edit again if persistent, else an unchanged copy."""
        return self.apply(state, rng) if self.persistent else copy_state(state)

    # -- did it work? -----------------------------------------------------------------------
    def target(self, state: dict[str, Any]) -> Any:
        """The part of ``state`` this intervention sets (JSON-like value, compared with ``==``)."""
        raise NotImplementedError

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Did the targeted part of the state change between ``before`` and ``after``?

        Call it with the state just before and just after :meth:`apply` to catch no-op edits
        (setting the score to its current value), or with the factual and the counterfactual
        state *at the same later step* to catch edits the game ignored — the paper's waypoint
        shift of an Amidar enemy left its position unchanged for 40 frames.
        """
        return not _same(self.target(before), self.target(after))

    def _require_rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        if rng is None:
            raise self._error("this intervention makes a random choice; pass rng=numpy.random.default_rng(seed).")
        return rng

    # -- on a live environment ------------------------------------------------------------
    def apply_to_env(self, env: Any, rng: np.random.Generator | None = None,
                     settle: str | int = "refresh") -> ApplyRecord:
        """Edit ``env``'s Toybox state in place and settle its observation.

        ``settle="refresh"`` (default) re-renders the newest frame of the observation stack from the
        edited state without advancing time: the agent's next observation shows the edit in its
        newest frame (the older three frames still show the past, as after any real event).
        ``settle=n`` (an int ≥ 0) instead steps ``n`` NOOP actions, as the paper did (3 NOOPs after
        each edit) so that the whole stack shows the change; time advances, rewards may accrue and
        the episode may even end, all recorded in the returned :class:`ApplyRecord`.
        """
        mode = _check_settle(self.name, settle)
        before = env.get_toybox_state()
        after = self.apply_from_core(before, rng) if _applies_as_defined_here(self) else self.apply(before, rng)
        env.set_toybox_state(after, check=False)  # apply() checked it
        return _settle(env, self, before, after, mode)

    def reapply_to_env(self, env: Any, rng: np.random.Generator | None = None) -> ApplyRecord | None:
        """Re-apply a persistent intervention after a step (refreshing the newest frame); else None."""
        if not self.persistent:
            return None
        return self.apply_to_env(env, rng, settle="refresh")

    def parts(self) -> tuple[Intervention, ...]:
        return (self,)


def _applies_as_defined_here(intervention: Any) -> bool:
    """Whether ``apply`` is this module's (so :meth:`Intervention.apply_from_core` does the same edit);
    a subclass that overrides ``apply`` keeps its own, fully checked."""
    return type(intervention).apply in (Intervention.apply, Composite.apply)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


def _check_settle(name: str, settle: Any) -> str | int:
    if settle == "refresh":
        return settle
    if isinstance(settle, (int, np.integer)) and not isinstance(settle, bool) and 0 <= settle <= 1000:
        return int(settle)
    raise InterventionError(
        f"{name}: settle={settle!r} is not valid. Use settle='refresh' (re-render the newest frame, "
        f"no time passes) or an integer 0 ≤ n ≤ 1000 of NOOP steps (the paper stepped 3)."
    )


def _settle_env(env: Any, mode: str | int) -> tuple[Any, list[float], bool, bool]:
    """Settle an edited environment (see :meth:`Intervention.apply_to_env`): its observation,
    the NOOP steps' rewards, and whether they ended the episode."""
    rewards: list[float] = []
    terminated = truncated = False
    if mode == "refresh":
        observation = env.refresh_observation()
    else:
        observation = env.observation
        for _ in range(mode):
            observation, reward, terminated, truncated, _info = env.step(_NOOP_INDEX)
            rewards.append(float(reward))
            if terminated or truncated:
                break
    return observation, rewards, terminated, truncated


def _settle(env: Any, intervention: Any, before: dict, after: dict, mode: str | int) -> ApplyRecord:
    observation, rewards, terminated, truncated = _settle_env(env, mode)
    return ApplyRecord(
        name=intervention.name, spec=intervention.to_dict(), settle=mode, before=before, after=after,
        settled=env.get_toybox_state(), observation=np.asarray(observation), rewards=tuple(rewards),
        terminated=bool(terminated), truncated=bool(truncated),
        took_effect=intervention.took_effect(before, after),
    )


@dataclass(frozen=True)
class ApplyRecord:
    """What :meth:`Intervention.apply_to_env` did.

    ``before``: the Toybox state just before the edit; ``after``: the edited state that was written;
    ``settled``: the state once settling finished (equal to ``after`` for ``settle="refresh"``);
    ``observation``: the agent's observation after settling; ``rewards``: rewards of the NOOP
    steps (empty for refresh); ``took_effect``: :meth:`Intervention.took_effect` on before/after.
    """

    name: str
    spec: Any
    settle: str | int
    before: dict[str, Any] = field(repr=False)
    after: dict[str, Any] = field(repr=False)
    settled: dict[str, Any] = field(repr=False)
    observation: np.ndarray = field(repr=False)
    rewards: tuple[float, ...]
    terminated: bool
    truncated: bool
    took_effect: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the observation is left out: it is pixels the caller already holds)."""
        return {"schema_version": RECORD_SCHEMA_VERSION, "name": self.name, "spec": self.spec,
                "settle": self.settle, "before": self.before, "after": self.after,
                "settled": self.settled, "rewards": list(self.rewards), "terminated": self.terminated,
                "truncated": self.truncated, "took_effect": self.took_effect}


# -- composition --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Composite(Intervention):
    """Several state interventions of one game, applied left to right (``a + b`` or a spec list)."""

    name: ClassVar[str] = "compose"
    game: ClassVar[str] = "any"
    summary: ClassVar[str] = "apply several interventions of one game in order"
    members: tuple[Intervention, ...] = ()

    def __post_init__(self) -> None:
        members = tuple(self.members)
        if not members:
            raise InterventionError("compose: give at least one intervention to compose.")
        for m in members:
            if not isinstance(m, Intervention):
                raise InterventionError(
                    f"compose: {m!r} is not a state intervention. Config interventions "
                    f"({getattr(m, 'name', '?')}) restart the game, so apply them at episode start "
                    f"with .apply_to_env(env, seed=…) instead of composing them with state edits."
                )
        games = {m.game for m in members}
        if len(games) > 1:
            raise InterventionError(f"compose: interventions of different games cannot be combined: {sorted(games)}.")
        object.__setattr__(self, "members", members)

    @classmethod
    def params(cls) -> tuple[ParamSpec, ...]:
        return ()

    @property
    def composite_game(self) -> str:
        return self.members[0].game

    @property
    def persistent(self) -> bool:  # type: ignore[override]
        return any(m.persistent for m in self.members)

    def parts(self) -> tuple[Intervention, ...]:
        return tuple(p for m in self.members for p in m.parts())

    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        for m in self.members:
            state = m.apply(state, rng)
        return state

    def _apply(self, state: dict[str, Any], rng: np.random.Generator | None, from_core: bool) -> dict[str, Any]:
        # Each member's output was checked, so the next member edits a playable state too.
        for m in self.members:
            state = m.apply_from_core(state, rng) if from_core and _applies_as_defined_here(m) else m.apply(state, rng)
        return state

    def reapply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        state = copy_state(state)
        for m in self.members:
            if m.persistent:
                state = m.apply(state, rng)
        return state

    def reapply_to_env(self, env: Any, rng: np.random.Generator | None = None) -> ApplyRecord | None:
        if not self.persistent:
            return None
        before = env.get_toybox_state()
        after = self.reapply(before, rng)
        env.set_toybox_state(after, check=False)  # apply() checked it
        return _settle(env, self, before, after, "refresh")

    def target(self, state: dict[str, Any]) -> Any:
        return [m.target(state) for m in self.members]

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """True when *every* member's target changed."""
        return all(m.took_effect(before, after) for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interventions": [m.to_dict() for m in self.members]}

    def __iter__(self) -> Iterator[Intervention]:
        return iter(self.members)


def compose(*interventions: Any) -> Any:
    """Compose interventions (flattening nested composites) into one :class:`Composite`.

    Config interventions compose with config interventions only (into a
    :class:`ConfigComposite`).
    """
    flat: list[Any] = []
    for item in interventions:
        if isinstance(item, (Composite, ConfigComposite)):
            flat.extend(item.members)
        else:
            flat.append(item)
    if flat and all(isinstance(i, ConfigIntervention) for i in flat):
        return ConfigComposite(members=tuple(flat))
    return Composite(members=tuple(flat))


# -- config interventions -----------------------------------------------------------------------
class ConfigIntervention(_Parameterised):
    """Base of interventions on the game *configuration* (colours, start lives, speeds).

    Toybox's ``write_config_json`` restarts the game, so these cannot be applied mid-episode:
    :meth:`apply_to_env` writes the config and then resets the environment (with ``seed``). Use
    them to build a variant of the game at episode start; use state interventions at a step.
    """

    kind: ClassVar[str] = "config"

    def apply_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Return an edited deep copy of a Toybox config dict."""
        new = copy.deepcopy(config)
        self._edit_config(new)
        return new

    def _edit_config(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def apply_to_env(self, env: Any, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Write the edited config into ``env`` and reset it; returns ``env.reset(seed=seed)``."""
        if env.game != self.game:
            raise InterventionError(f"{self.name} configures {self.game}, but the environment plays {env.game}.")
        env.configure(self.apply_config(env.config))
        return env.reset(seed=seed)

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Did the configured keys change between two config dicts?"""
        keys = self.changed_keys()
        return any(before.get(k) != after.get(k) for k in keys)

    def changed_keys(self) -> tuple[str, ...]:
        raise NotImplementedError


class KeyedConfigure(ConfigIntervention):
    """A config intervention whose parameters are config keys of the same name.

    Subclasses list their scalar parameters (copied as they are) in ``SCALARS`` and their colour
    parameters (``(r, g, b)`` → Toybox's RGBA dict) in ``COLORS``; every parameter defaults to
    ``None`` (leave the key as it is), and at least one must be given.
    """

    SCALARS: ClassVar[tuple[str, ...]] = ()
    COLORS: ClassVar[tuple[str, ...]] = ()

    def _validate(self) -> None:
        if not self.changed_keys():
            raise self._error("give at least one setting to change.")

    def changed_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.SCALARS + self.COLORS if getattr(self, k) is not None)

    def _edit_config(self, config: dict[str, Any]) -> None:
        for key in self.SCALARS:
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        for key in self.COLORS:
            if getattr(self, key) is not None:
                config[key] = rgb(getattr(self, key))


def rgb(color: tuple[int, int, int]) -> dict[str, int]:
    """An (r, g, b) triple as Toybox's colour dict (opaque)."""
    return {"r": color[0], "g": color[1], "b": color[2], "a": 255}


@dataclass(frozen=True)
class ConfigComposite(ConfigIntervention):
    """Several config interventions of one game, applied in order."""

    name: ClassVar[str] = "compose_config"
    game: ClassVar[str] = "any"
    summary: ClassVar[str] = "apply several config interventions of one game in order"
    members: tuple[ConfigIntervention, ...] = ()

    def __post_init__(self) -> None:
        members = tuple(self.members)
        if not members or not all(isinstance(m, ConfigIntervention) for m in members):
            raise InterventionError("compose_config: give one or more config interventions.")
        if len({m.game for m in members}) > 1:
            raise InterventionError("compose_config: config interventions of different games cannot be combined.")
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "game", members[0].game)

    @classmethod
    def params(cls) -> tuple[ParamSpec, ...]:
        return ()

    def _edit_config(self, config: dict[str, Any]) -> None:
        for m in self.members:
            m._edit_config(config)

    def changed_keys(self) -> tuple[str, ...]:
        return tuple(k for m in self.members for k in m.changed_keys())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interventions": [m.to_dict() for m in self.members]}


# -- state checks -------------------------------------------------------------------------------
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
    :func:`cfsal.envs.games.check_state`): the last guard before the edit reaches Rust."""
    from cfsal.envs.games import check_state
    from cfsal.errors import GameStateError

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


# -- checking only what an edit changed ------------------------------------------------------------
#: Leaf types an edit may change in place and still be checked leaf by leaf (exact types: a bool is
#: not an int here, a numpy float is not a float); any other change is checked on the whole state.
_LEAF_TYPES = frozenset({int, float, str, bool, type(None)})


def check_edit(intervention: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Refuse ``after`` exactly where :func:`check_finite` and :func:`check_playable` would, given that
    ``before`` came from the native core (so is playable): only the values the edit changed are checked.

    ``check_state`` walks the whole state (~2.6 ms for Breakout, half the cost of preparing a
    counterfactual pair; issue #6). An intervention's edit touches a few numbers, and every check of
    ``check_state`` that can fail on a state of the same shape is a check of one value: its schema
    (type, integer width, enum) and its :data:`cfsal.envs.games.STATE_LIMITS` range. So: if
    the edit kept the shape (same keys, same list lengths, each changed value of the same exact JSON
    type as before), each changed value is checked against the schema node at its path and the limits
    of its path, and the game's whole-state structural rules (Amidar's board graph, Space Invaders'
    shield grids) run as in ``check_state``; anything else — a key added or removed, a list resized,
    a changed type, a value under a schema ``anyOf`` — falls back to the full checks.
    """
    changed: list[tuple[tuple[Any, ...], Any]] = []
    if not _changed_leaves(before, after, (), changed):
        check_finite(intervention, after)
        check_playable(intervention, after)
        return
    for path, value in changed:
        kind = type(value)
        if kind is float and not math.isfinite(value):
            raise InterventionError(f"{intervention.name}: the edit produced a non-finite number ({value}).")
        if kind is int and not -(2**63) <= value < 2**64:
            raise InterventionError(f"{intervention.name}: the edit produced an out-of-range integer ({value}).")
    from cfsal.envs import games

    game = intervention.game if intervention.game != "any" else game_of_state(after)
    spec = games.get_game(game)
    problem = None
    for path, value in changed:  # the schema first, then the limits, as check_state orders them
        leaf = _leaf_check(spec.name, _schema_key(path))
        if leaf is None:  # no single schema node for this path (anyOf on the way): check everything
            check_playable(intervention, after)
            return
        problem = problem or leaf(value, "/" + "/".join(map(str, path)))
    if problem is None:
        problem = games._limit_problem(spec.name, _sparse_state(changed))
    if problem is None:
        problem = games.structural_problem(spec.name, after)
    if problem is not None:
        raise _unplayable_edit(intervention, games.unplayable_state(spec.name, problem, intervention.name)) from None


def _changed_leaves(before: Any, after: Any, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], Any]]) -> bool:
    """Collect ``(path, value)`` of every leaf of ``after`` that differs from ``before``; False when the
    two differ in shape or type anywhere (then the caller checks the whole state)."""
    kind = type(after)
    if type(before) is not kind:
        return False
    if kind is dict:
        if before.keys() != after.keys():
            return False
        for key, value in after.items():
            old = before[key]
            if old is value:
                continue
            if type(value) in _LEAF_TYPES and type(old) is type(value):
                if old != value:  # a NaN never equals anything: it is a change, and refused
                    out.append((path + (key,), value))
            elif not _changed_leaves(old, value, path + (key,), out):
                return False
        return True
    if kind is list:
        if len(before) != len(after):
            return False
        for index, (old, value) in enumerate(zip(before, after)):
            if old is value:
                continue
            if type(value) in _LEAF_TYPES and type(old) is type(value):
                if old != value:
                    out.append((path + (index,), value))
            elif not _changed_leaves(old, value, path + (index,), out):
                return False
        return True
    if kind in _LEAF_TYPES:  # the top level itself a leaf: not a state
        return before == after
    return False


def _schema_key(path: tuple[Any, ...]) -> tuple[Any, ...]:
    """A path with list indices as ``*`` (the schema is the same for every item of a list)."""
    return tuple("*" if type(part) is int else part for part in path)


@functools.cache
def _leaf_check(game: str, key: tuple[Any, ...]) -> Any:
    """The schema check of the node at ``key``, compiled by ``cfsal.envs.games``' own compiler (so a
    value passes it exactly when the whole-state check would pass it there), or None when no single
    node governs the path (an ``anyOf`` on the way, or per-position item schemas)."""
    from cfsal.envs import games

    schema = games.state_schema(game)
    definitions = schema.get("definitions", {})
    node: Any = schema
    for part in key:
        node = _navigable(node, definitions)
        if node is None:
            return None
        node = node.get("items") if part == "*" else node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            return None
    return games._compile(node, definitions, {})


def _navigable(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any] | None:
    """The schema node whose ``properties``/``items`` apply below ``node``: ``$ref``s and one-part
    ``allOf``s (how schemars attaches a description to a reference) followed; None where the node
    combines schemas (``anyOf``/``oneOf``/several ``allOf`` parts), whose children cannot be checked alone."""
    for _ in range(50):
        if "$ref" in node:
            node = definitions.get(node["$ref"].rsplit("/", 1)[-1])
        elif len(node.get("allOf", ())) == 1 and not any(k in node for k in ("type", "properties", "items")):
            node = node["allOf"][0]
        else:
            break
        if node is None:
            return None
    if any(k in node for k in ("$ref", "anyOf", "allOf", "oneOf")):
        return None
    return node


def _sparse_state(changed: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    """A state holding only the changed values, at their paths (list slots before them ``None``), for
    ``cfsal.envs.games``' own range check: the same limits and messages, a few values instead of all."""
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
