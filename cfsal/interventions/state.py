"""State interventions: named, typed, range-checked, composable edits of a running game's state.

The paper (Atrey et al., 2020) tests a saliency-derived claim by *intervening* on the game state
(move the ball, shift the bricks, rewrite the score …) and watching what the agent does. Here every
edit is a small frozen dataclass with declared parameters (:mod:`cfsal.interventions.params`):

* :meth:`Intervention.apply` is pure: it returns an edited copy of the state dict, checked whole
  before it can reach the native core (:meth:`Intervention.apply_from_core`, for a state just read
  from the core, checks only the values the edit changed; the checks are
  :mod:`cfsal.interventions.checks`);
* :meth:`Intervention.apply_to_env` edits a live :class:`cfsal.envs.ToyboxEnv` and settles the
  observation, either by re-rendering the newest frame (``settle="refresh"``) or, as the paper did,
  by stepping a few NOOPs (``settle=3``);
* :meth:`Intervention.took_effect` compares the quantity the intervention targets in two states,
  because the paper found edits that changed nothing for 40 frames;
* interventions compose with ``a + b`` (:class:`Composite`);
* an edit may return what it *chose* in the state it was given (the enemy nearest the player, the
  brick above the ball): :meth:`Intervention.apply_choosing` hands it back and :class:`ApplyRecord`,
  the rollout's pairs and the results JSON keep it per branch. Your own interventions subclass
  :class:`Intervention` and implement :meth:`Intervention.edit` (``docs/writing-interventions.md``).

Config interventions, which restart the game, are in :mod:`cfsal.interventions.config`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from cfsal.errors import InterventionError
from cfsal.interventions.checks import check_edit, check_finite, check_game, check_playable, copy_state
from cfsal.interventions.params import Composition, Parameterised, flatten, param

RECORD_SCHEMA_VERSION = 1

_NOOP_INDEX = 0  # index 0 of every game's action set is NOOP (cfsal.envs.games)


class Intervention(Parameterised):
    """Base of every state intervention. Concrete ones are frozen dataclasses.

    Subclasses set ``game`` (a class attribute: ``game = "amidar"``), declare their parameters with
    :func:`~cfsal.interventions.params.param`, implement :meth:`edit` (change the given copy of the
    state in place; return what was chosen, or None) and, preferably, :meth:`target` (the part of the
    state the intervention is meant to change, compared by :meth:`took_effect`). The library's own
    interventions implement ``_edit`` instead, which :meth:`edit` calls. ``persistent = True`` marks
    interventions that the paper re-applied after *every* step (a frozen or decrementing score):
    :meth:`reapply` / :meth:`reapply_to_env` are what a rollout calls between steps.
    """

    kind: ClassVar[str] = "state"
    persistent: ClassVar[bool] = False

    # -- the pure edit ----------------------------------------------------------------------
    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """Return an edited deep copy of ``state`` (a Toybox JSON state dict); ``state`` is untouched.

        Raises :class:`InterventionError` if the state is of another game or the edit does not fit
        it (no ball in play, a target outside the court, …). Random choices draw only from ``rng``.
        """
        return self._apply(state, rng, from_core=False)[0]

    def apply_from_core(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """:meth:`apply` to a state just read from the native core (``env.get_toybox_state()``).

        Such a state is playable, so only what the edit changed needs checking: the result is
        checked by :func:`~cfsal.interventions.checks.check_edit` (the changed values against the
        game's schema and limits), about 10× faster than the whole-state
        :func:`~cfsal.interventions.checks.check_playable` that :meth:`apply` runs on states of
        unknown origin. Every edit :meth:`apply` refuses is refused here too (tested on
        random edits in ``tests/test_rollout_fast.py``). Rollouts and :meth:`apply_to_env` use it.
        """
        return self._apply(state, rng, from_core=True)[0]

    def apply_choosing(self, state: dict[str, Any], rng: np.random.Generator | None = None, *,
                       from_core: bool = False) -> tuple[dict[str, Any], Any]:
        """:meth:`apply` (or, ``from_core``, :meth:`apply_from_core`) and what the edit chose in
        ``state`` (the return value of :meth:`edit`; None for edits that choose nothing beyond their
        parameters), as JSON data. The rollout records the choice of every branch from here."""
        new, chosen = self._apply(state, rng, from_core)
        return new, (None if chosen is None else _json_data(self, chosen))

    def _apply(self, state: dict[str, Any], rng: np.random.Generator | None,
               from_core: bool) -> tuple[dict[str, Any], Any]:
        check_game(self, state)
        new = copy_state(state)
        chosen = self.edit(new, rng)
        if from_core:
            check_edit(self, state, new)
        else:
            check_finite(self, new)
            check_playable(self, new)
        return new, chosen

    def edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> Any:
        """Change ``state`` (a copy of the game's state, yours to change) in place; return what was chosen.

        Override this in your own intervention. A state-dependent edit returns what it chose in this
        state as JSON-ready data (``{"enemy": 2}``): it is recorded per branch (:class:`ApplyRecord`,
        ``CounterfactualResult.chosen``, the results JSON and the report). Raise :meth:`_error`
        (an :class:`~cfsal.errors.InterventionError`) when the edit does not apply to this state:
        the sampler then skips the state. Random choices draw only from ``rng``.
        """
        return self._edit(state, rng)

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement edit(self, state, rng).")

    def reapply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        """What to apply after each later step: the edit again if persistent, else an unchanged copy."""
        return self.apply(state, rng) if self.persistent else copy_state(state)

    # -- did it work? -----------------------------------------------------------------------
    def target(self, state: dict[str, Any]) -> Any:
        """The part of ``state`` this intervention sets (JSON-like value, compared with ``==``).

        By default the whole state, so that :meth:`took_effect` says whether the edit changed
        anything at all; override it to name the part the intervention is about.
        """
        return state

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Did the targeted part of the state change between ``before`` and ``after``?

        Call it with the state just before and just after :meth:`apply` to catch no-op edits
        (setting the score to its current value), or with the factual and the counterfactual
        state *at the same later step* to catch edits the game ignored — the paper's waypoint
        shift of an Amidar enemy left its position unchanged for 40 frames.
        """
        return not _same(self.target(before), self.target(after))

    def _new_coordinate(self, now: float, relative: str, absolute: str) -> float:
        """Where a move puts one coordinate: the absolute parameter (``x``) if given, else ``now`` plus
        the relative one (``dx``, none: no move)."""
        target = getattr(self, absolute)
        return target if target is not None else now + (getattr(self, relative) or 0)

    def _moved_within(self, what: str, where: str, now: Mapping[str, float],
                      limits: Mapping[str, tuple[float, float]]) -> dict[str, float]:
        """Where a move puts ``what`` from ``now`` (per axis of ``limits``, e.g. ``x``: by ``dx`` or to
        ``x``, :meth:`_new_coordinate`) if every axis stays within its limits (inclusive); else an error
        that names ``where`` it must stay, the limits, where it is now and what to give instead."""
        new = {axis: self._new_coordinate(now[axis], "d" + axis, axis) for axis in limits}
        if all(low <= new[axis] <= high for axis, (low, high) in limits.items()):
            return new
        ranges = ", ".join(f"{low:g} ≤ {axis} ≤ {high:g}" for axis, (low, high) in limits.items())
        moves, places = ("/".join(f"{prefix}{axis}" for axis in limits) for prefix in ("d", ""))
        here = _point({axis: now[axis] for axis in limits})
        raise self._error(f"the {what} would be at {_point(new)}, outside {where} ({ranges}); it is now at "
                          f"{here}. Use a smaller {moves} or {places} inside {where}.")

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
        mode = check_settle(self.name, settle)
        before = env.get_toybox_state()
        if applies_as_defined_here(self):
            after, chosen = self.apply_choosing(before, rng, from_core=True)
        else:
            after, chosen = self.apply(before, rng), None
        env.set_toybox_state(after, check=False)  # apply() checked it
        return _settle(env, self, before, after, mode, chosen)

    def reapply_to_env(self, env: Any, rng: np.random.Generator | None = None) -> ApplyRecord | None:
        """Re-apply a persistent intervention after a step (refreshing the newest frame); else None."""
        if not self.persistent:
            return None
        return self.apply_to_env(env, rng, settle="refresh")

    def parts(self) -> tuple[Intervention, ...]:
        return (self,)

    def __add__(self, other: Any) -> Composite:
        return Composite(members=flatten((self, other)))


def _point(position: Mapping[str, float]) -> str:
    """A position for a message: ``x=12`` on one axis, ``(12, 80.5)`` on several (to 0.1 pixel)."""
    values = [f"{round(value, 1):g}" for value in position.values()]
    return f"{next(iter(position))}={values[0]}" if len(values) == 1 else f"({', '.join(values)})"


#: How a delta along each axis is documented (screen axes: x to the right, y down).
_DIRECTIONS = {"x": "pixels to the right (negative: left)", "y": "pixels down (negative: up)"}


@dataclass(frozen=True)
class Track:
    """The line an :class:`AxisMove` keeps its object on: the ``axis``, its inclusive limits and what a
    refusal calls it (``where``: "the court"). The move's parameters are declared from it, so their
    bounds and the limits the edit checks are written once."""

    axis: str
    low: float
    high: float
    where: str

    def delta(self) -> Any:
        """The move's optional parameter ``dx`` (or ``dy``): at most the track's length either way."""
        span = self.high - self.low
        return param(None, low=-span, high=span, doc=_DIRECTIONS[self.axis])

    def position(self, doc: str) -> Any:
        """The move's optional parameter ``x`` (or ``y``): a place on the track, documented by ``doc``."""
        return param(None, low=self.low, high=self.high, doc=doc)


class AxisMove(Intervention, register=False):
    """Move one object along its ``track`` by a delta or to a position (``dx`` or ``x``); it stops there.

    Subclasses set ``track`` (:class:`Track`), declare the two parameters from it (``dx: int | None =
    track.delta()``, ``x: int | None = track.position("new left edge")``), name the object in ``moved``
    (filled in from the parameters: ``"{player}'s paddle"``) and implement :meth:`_located`. The
    target is the object's coordinate on the axis.
    """

    track: ClassVar[Track]
    moved: ClassVar[str]

    def _located(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Where the object's coordinates are in ``state``, and its velocity (None: it has none)."""
        raise NotImplementedError

    def _validate(self) -> None:
        self._require_one_of("d" + self.track.axis, self.track.axis)

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        axis, (position, velocity) = self.track.axis, self._located(state)
        new = self._moved_within(self.moved.format_map(self.to_dict()), self.track.where, position,
                                 {axis: (self.track.low, self.track.high)})[axis]
        kind = next(spec.kind for spec in self.params() if spec.name == axis)
        position[axis] = int(new) if kind == "int" else float(new)  # as the parameter is declared
        if velocity is not None:
            velocity[axis] = 0.0

    def target(self, state: dict[str, Any]) -> Any:
        return self._located(state)[0][self.track.axis]


def _json_data(intervention: Any, chosen: Any) -> Any:
    """What an edit chose, as it will read back from the results JSON (numpy numbers and arrays
    become Python ones, tuples lists), or an error saying what to return instead."""
    def plain(value: Any) -> Any:
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        raise TypeError(f"{type(value).__name__} is not JSON data")

    try:
        return json.loads(json.dumps(chosen, default=plain))
    except (TypeError, ValueError) as error:
        raise InterventionError(
            f"{intervention.name}: edit() returned {chosen!r}, which cannot be recorded ({error}); return what it "
            "chose as dicts, lists, numbers and strings (or None)."
        ) from None


def applies_as_defined_here(intervention: Any) -> bool:
    """Whether ``apply`` is this module's (so :meth:`Intervention.apply_from_core` does the same edit);
    a subclass that overrides ``apply`` keeps its own, fully checked."""
    return type(intervention).apply in (Intervention.apply, Composite.apply)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return a == b


def check_settle(name: str, settle: Any) -> str | int:
    if settle == "refresh":
        return settle
    if isinstance(settle, (int, np.integer)) and not isinstance(settle, bool) and 0 <= settle <= 1000:
        return int(settle)
    raise InterventionError(
        f"{name}: settle={settle!r} is not valid. Use settle='refresh' (re-render the newest frame, "
        f"no time passes) or an integer 0 ≤ n ≤ 1000 of NOOP steps (the paper stepped 3)."
    )


def settle_env(env: Any, mode: str | int) -> tuple[Any, list[float], bool, bool]:
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


def _settle(env: Any, intervention: Any, before: dict, after: dict, mode: str | int, chosen: Any = None) -> ApplyRecord:
    observation, rewards, terminated, truncated = settle_env(env, mode)
    return ApplyRecord(
        name=intervention.name, spec=intervention.to_dict(), settle=mode, before=before, after=after,
        settled=env.get_toybox_state(), observation=np.asarray(observation), rewards=tuple(rewards),
        terminated=bool(terminated), truncated=bool(truncated),
        took_effect=intervention.took_effect(before, after), chosen=chosen,
    )


@dataclass(frozen=True)
class ApplyRecord:
    """What :meth:`Intervention.apply_to_env` did.

    ``before``: the Toybox state just before the edit; ``after``: the edited state that was written;
    ``settled``: the state once settling finished (equal to ``after`` for ``settle="refresh"``);
    ``observation``: the agent's observation after settling; ``rewards``: rewards of the NOOP
    steps (empty for refresh); ``took_effect``: :meth:`Intervention.took_effect` on before/after;
    ``chosen``: what the edit chose in ``before`` (:meth:`Intervention.edit`'s return value; None
    when it chooses nothing beyond its parameters, ``spec``).
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
    chosen: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the observation is left out: it is pixels the caller already holds)."""
        return {"schema_version": RECORD_SCHEMA_VERSION, "name": self.name, "spec": self.spec,
                "settle": self.settle, "before": self.before, "after": self.after,
                "settled": self.settled, "rewards": list(self.rewards), "terminated": self.terminated,
                "truncated": self.truncated, "took_effect": self.took_effect, "chosen": self.chosen}


# -- composition --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Composite(Composition, Intervention):
    """Several state interventions of one game, applied left to right (``a + b`` or a spec list)."""

    name: ClassVar[str] = "compose"
    summary: ClassVar[str] = "apply several interventions of one game in order"
    members: tuple[Intervention, ...] = ()

    def __post_init__(self) -> None:
        self._check_members(Intervention, "intervention", lambda m: (
            f"{m!r} is not a state intervention. Config interventions ({getattr(m, 'name', '?')}) restart the "
            "game, so apply them at episode start with .apply_to_env(env, seed=…) instead of composing them "
            "with state edits."))

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

    def _apply(self, state: dict[str, Any], rng: np.random.Generator | None,
               from_core: bool) -> tuple[dict[str, Any], Any]:
        # Each member's output was checked, so the next member edits a playable state too.
        chosen = []
        for m in self.members:
            if applies_as_defined_here(m):
                state, choice = m.apply_choosing(state, rng, from_core=from_core)
            else:
                state, choice = m.apply(state, rng), None
            chosen.append(choice)
        return state, (chosen if any(choice is not None for choice in chosen) else None)

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

    def __iter__(self) -> Iterator[Intervention]:
        return iter(self.members)
