"""The environment side of paired continuations: starting both arms of a pair and stepping them.

Torch-free on purpose: :mod:`cfsal.rollout.envprocess` runs this in a second process that forwards
nothing, while :mod:`cfsal.rollout.lockstep` (the agent side: forwards, sampled actions, records)
runs the agent. Everything here is the same code wherever it runs, so a pair's continuations are
byte-identical whether its environments stepped in the forwarding thread, in a worker thread or in
the environment process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cfsal._seeding import child
from cfsal.envs import EnvSnapshot, ToyboxEnv, make
from cfsal.errors import InterventionError
from cfsal.interventions.state import (
    ApplyRecord,
    Intervention,
    applies_as_defined_here,
    check_settle,
    settle_env,
)

if TYPE_CHECKING:
    from cfsal.rollout.branching import BranchPoint


class InterventionLike(Protocol):
    """What the engine needs of an intervention (cfsal.interventions implements it)."""

    name: str
    game: str

    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]: ...

    def apply_to_env(self, env: ToyboxEnv, rng: np.random.Generator | None = None, settle: Any = "refresh") -> Any: ...

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


def _is_persistent(intervention: InterventionLike) -> bool:
    """Persistent interventions (a frozen or decrementing score) are re-applied after every step."""
    return bool(getattr(intervention, "persistent", False))


def _treat_like_the_intervened_arm(env: ToyboxEnv, settle: Any, text: str | None = None) -> str:
    """Give the factual arm the same treatment as the intervened one, minus the edit.

    An edit reaches Toybox through its JSON reader, which can move any float by one ulp; the
    factual arm goes through the same (unedited) round trip, so the arms differ only where the
    intervention edited. Re-rendering the newest frame (``"refresh"``) drops the max over the
    last two frames, and stepping NOOPs advances time: done to one arm only, either would differ
    between the arms even for an edit that changes nothing (the seed code's one-armed no-op
    steps were such a confound).

    ``text`` is ``json.dumps`` of the environment's current state when the caller already has it
    (a snapshot restored natively: its ``toybox_json``); then the state is not read and
    re-serialised. Returns the text written.
    """
    if text is None:
        text = json.dumps(env.get_toybox_state())
    env.set_toybox_state_text(text)
    if settle == "refresh":
        env.refresh_observation()
    else:
        for _ in range(int(settle)):
            env.step(0)
    return text


@dataclass
class PreparedPair:
    """Both arms of one branch, ready to run: the same snapshot, the same treatment, one edit."""

    factual: ToyboxEnv
    intervened: ToyboxEnv
    intervention_rng: np.random.Generator
    took_effect: bool
    factual_state: dict[str, Any]     # Toybox states at the start of the continuations
    intervened_state: dict[str, Any]
    factual_json: str = ""            # the same states as JSON text (Trace.first_state): Toybox's own or
                                      # json.dumps, whichever is at hand (parse it; do not compare texts)
    intervened_json: str = ""
    chosen: Any = None                # what the edit chose in the start state (Intervention.edit's return)
    factual_picture: str = ""         # the states the first pictures go with where they are not the
    intervened_picture: str = ""      # states above (Trace.picture_state; ALE after a refresh), else ""


def prepare_pair(game: str, point: BranchPoint, intervention: InterventionLike, seed: np.random.SeedSequence,
                 settle: Any = "refresh") -> PreparedPair:
    """Restore both arms from ``point`` and apply ``intervention`` to one (its randomness: child 1 of ``seed``).

    The single place that defines how a pair starts, shared by the engine and the report's frames.

    Toybox JSON is the cost here (parsing ~220 µs, ``json.dumps`` ~290 µs, Toybox's reader and
    writer ~50 µs each for a Breakout state), so each state is read and serialised once: the start
    state is parsed once for both arms; Toybox's own text (cheap) tells whether the factual round
    trip changed anything; a library intervention's edit is checked only where it wrote
    (:meth:`~cfsal.interventions.state.Intervention.apply_from_core`). Two phases: :func:`start_pair`
    leaves both arms ready to step; :meth:`StartedPair.finish` parses and serialises the start
    states (which rollouts may do later, off the critical path).
    """
    return start_pair(game, point, intervention, seed, settle).finish()


@dataclass
class StartedPair:
    """Both arms restored, edited and settled (ready to step), with the start states still as
    Toybox wrote them: :meth:`finish` turns them into a :class:`PreparedPair`."""

    factual: ToyboxEnv
    intervened: ToyboxEnv
    intervention_rng: np.random.Generator
    intervention: InterventionLike
    start: dict[str, Any]        # the snapshot's state as the core holds it (parsed once)
    restored: str                # ... and as Toybox wrote it
    factual_written: str         # the text the factual arm was given (json.dumps of ``start``)
    factual_settled: str         # Toybox's text of the factual arm once settled
    intervened_settled: str | dict[str, Any]  # Toybox's text (library edits) or the parsed state
    chosen: Any = None           # what the edit chose (Intervention.edit's return; JSON-ready data)
    factual_picture: str | None = None     # the state each arm's first picture goes with, where that is
    intervened_picture: str | None = None  # not the settled state (ALE after a refresh; env.picture_state_text)

    def finish(self) -> PreparedPair:
        took_effect, factual_state, intervened_state, factual_json, intervened_json = finish_pair(
            self.intervention, self.start, self.restored, self.settled_texts())
        return PreparedPair(self.factual, self.intervened, self.intervention_rng, took_effect, factual_state,
                            intervened_state, factual_json, intervened_json, self.chosen,
                            self.factual_picture or "", self.intervened_picture or "")

    def settled_texts(self) -> SettledTexts:
        return SettledTexts(self.factual_written, self.factual_settled, self.intervened_settled, self.chosen,
                            self.factual_picture, self.intervened_picture)


@dataclass(frozen=True)
class SettledTexts:
    """What :func:`finish_pair` needs of a started pair besides its start state: plain data, so the
    environment process can hand the parsing to the forwarding process, which has time for it."""

    factual_written: str        # the text the factual arm was given (json.dumps of the start state)
    factual_settled: str        # Toybox's text of the factual arm once settled
    intervened_settled: str | dict[str, Any]  # Toybox's text (library edits) or the parsed state
    chosen: Any = None          # what the edit chose in the start state
    factual_picture: str | None = None     # StartedPair's: the states the first pictures go with, where
    intervened_picture: str | None = None  # they are not the settled ones


def finish_pair(intervention: InterventionLike, start: dict[str, Any], restored: str,
                texts: SettledTexts) -> tuple[bool, dict[str, Any], dict[str, Any], str, str]:
    """The second phase of :func:`prepare_pair`: whether the edit took effect, both start states
    parsed, and both as JSON text (Trace.first_state). ``start`` is the parsed ``restored``."""
    # Unchanged by the round trip (the usual case): the state is the start state, its text the
    # one just written. (factual_state is then ``start`` itself, which nothing mutates.)
    same = texts.factual_settled == restored
    factual_state = start if same else json.loads(texts.factual_settled)
    factual_json = texts.factual_written if same else texts.factual_settled
    settled = texts.intervened_settled
    intervened_state = json.loads(settled) if isinstance(settled, str) else settled
    # Compared across the arms (both through the same JSON round trip and settling), this is
    # exactly "did the edit leave a difference", even where settling may have undone it.
    took_effect = bool(intervention.took_effect(factual_state, intervened_state))
    return (took_effect, factual_state, intervened_state, factual_json,
            settled if isinstance(settled, str) else json.dumps(intervened_state))


def start_pair(game: str, point: BranchPoint, intervention: InterventionLike, seed: np.random.SeedSequence,
               settle: Any = "refresh") -> StartedPair:
    """The first phase of :func:`prepare_pair`: both arms ready to step, their start states read
    (as Toybox's text, ~50 µs) but not yet parsed or serialised."""
    factual = make(game)
    factual.restore(point.snapshot)
    return _start_restored(factual, point.snapshot, factual.toybox_state_text(), None, intervention, seed, settle)


@dataclass(frozen=True)
class PairOrigin:
    """Where a pair starts, as plain data for another process (:mod:`cfsal.rollout.envprocess`):
    the snapshot (its native clone stays behind), the state as the core held it after a native
    restore (Toybox's text) and the text the factual arm is written.

    Both arms' Toybox states are written whole from text right after the restore (Toybox's reader
    builds a new state from it), so a pair started from its origin by :func:`start_pair_at` is the
    pair :func:`start_pair` starts from the branch point, byte for byte, wherever it runs — for
    library interventions, whose edit is of the parsed start state (:func:`edits_like_the_library`).
    """

    snapshot: EnvSnapshot
    restored: str
    known: str | None  # None: json.dumps of the parsed ``restored`` (a snapshot without a native clone)

    @classmethod
    def read(cls, scratch: ToyboxEnv, snapshot: EnvSnapshot) -> PairOrigin:
        """Restore ``scratch`` to ``snapshot`` (exactly, as :func:`start_pair` does) and read the origin."""
        scratch.restore(snapshot)
        return cls(snapshot, scratch.toybox_state_text(), snapshot.toybox_json if snapshot.native is not None else None)


def read_origins(game: str, points: Sequence[BranchPoint]) -> list[PairOrigin]:
    """Each point's :class:`PairOrigin`, read from one scratch environment (where the points' native
    snapshots are)."""
    scratch = make(game)
    return [PairOrigin.read(scratch, point.snapshot) for point in points]


def start_pair_at(game: str, origin: PairOrigin, intervention: InterventionLike, seed: np.random.SeedSequence,
                  settle: Any = "refresh") -> StartedPair:
    """:func:`start_pair` from a :class:`PairOrigin`: the arms are restored through the snapshot's JSON
    (no native clone here, and no replay of the episode), then written whole as :func:`start_pair`
    writes them. Only for interventions that :func:`edits_like_the_library` (another intervention's
    ``apply_to_env`` would read the JSON-restored state, which may differ from the native one by an ulp)."""
    if not edits_like_the_library(intervention):
        raise ValueError(f"{getattr(intervention, 'name', intervention)!r} edits the environment itself; "
                         "start its pairs with start_pair from the branch point")
    factual = make(game)
    factual.restore(origin.snapshot, exact=False)
    return _start_restored(factual, origin.snapshot, origin.restored, origin.known, intervention, seed, settle,
                           exact=False)


def _start_restored(factual: ToyboxEnv, snapshot: EnvSnapshot, restored: str, known: str | None,
                    intervention: InterventionLike, seed: np.random.SeedSequence, settle: Any,
                    exact: bool = True) -> StartedPair:
    """Both arms from ``factual`` just restored to ``snapshot``, whose state the core wrote as ``restored``."""
    # The state both arms start from, as the core holds it (both are restored from one snapshot).
    start = json.loads(restored)
    # A native restore puts back exactly the state whose json.dumps is the snapshot's text.
    known = json.dumps(start) if known is None else known
    written = _treat_like_the_intervened_arm(factual, settle, known)
    factual_settled = factual.toybox_state_text()
    intervened = make(factual.game)
    intervened.restore(snapshot, exact=exact)
    rng = np.random.default_rng(child(seed, 1))
    if edits_like_the_library(intervention):
        intervened_settled, chosen = _apply_to_restored(intervention, intervened, start, rng, settle)
    else:
        record = intervention.apply_to_env(intervened, rng=rng, settle=settle)
        # The record's settled state is read after its last change to the environment.
        intervened_settled = record.settled if isinstance(record, ApplyRecord) else intervened.get_toybox_state()
        chosen = record.chosen if isinstance(record, ApplyRecord) else None
    return StartedPair(factual, intervened, rng, intervention, start, restored, written, factual_settled,
                       intervened_settled, chosen, factual.picture_state_text(), intervened.picture_state_text())


def edits_like_the_library(intervention: InterventionLike) -> bool:
    """A library state intervention whose ``apply_to_env`` is the base class's: then
    :func:`_apply_to_restored` does what it does, with less JSON."""
    return (isinstance(intervention, Intervention) and applies_as_defined_here(intervention)
            and type(intervention).apply_to_env is Intervention.apply_to_env)


def _apply_to_restored(intervention: Intervention, env: ToyboxEnv, start: dict[str, Any],
                       rng: np.random.Generator, settle: Any) -> tuple[str, Any]:
    """:meth:`Intervention.apply_to_env` on an environment just restored to ``start`` (the core's
    state, already parsed), returning the settled state as Toybox's text and what the edit chose:
    the same edit, checks, write and settling, without its two parsed state reads (``start`` is at
    hand; the settled state is parsed later, by :meth:`StartedPair.finish`) and with only the edited
    values checked (:meth:`Intervention.apply_from_core`)."""
    mode = check_settle(intervention.name, settle)
    after, chosen = intervention.apply_choosing(start, rng, from_core=True)
    env.set_toybox_state_text(json.dumps(after))  # what set_toybox_state(after, check=False) writes
    settle_env(env, mode)
    return env.toybox_state_text(), chosen


def applicable(intervention: InterventionLike, point: BranchPoint) -> bool:
    """Whether the intervention can be applied at this branch point (e.g. a ball is in play)."""
    try:
        intervention.apply(json.loads(point.snapshot.toybox_json), rng=np.random.default_rng(0))
    except InterventionError:
        return False
    return True


class ArmEnvs:
    """The environments of a run of pairs: rows ``2i`` and ``2i + 1`` are the factual and the
    intervened arm of the run's ``i``-th pair.

    Pairs are started one at a time (:meth:`start` or :meth:`start_at`, so that a pipelined run never
    queues a step behind a whole group's setup), then :meth:`launch` writes every row's first
    observation into ``observations`` (a caller's buffer, e.g. shared memory, or a new array), and
    each :meth:`step` writes the rows it stepped. :meth:`finish` parses and serialises the start
    states, which only the results need.
    """

    def __init__(self, game: str, interventions: list[InterventionLike], seeds: list[np.random.SeedSequence],
                 settle: Any, observations: np.ndarray | None = None) -> None:
        self.game, self.interventions, self.seeds, self.settle = game, interventions, seeds, settle
        self.started: list[StartedPair | None] = [None] * len(interventions)
        self.observations = observations
        self.persistent = [_is_persistent(item) for item in interventions]
        self.took_effect: list[bool] = []
        self.first_states: list[str] = []
        self.chosen: list[Any] = []
        self.picture_states: list[str] = []

    def start(self, i: int, point: BranchPoint) -> None:
        self.started[i] = start_pair(self.game, point, self.interventions[i], self.seeds[i], self.settle)

    def start_at(self, i: int, origin: PairOrigin) -> None:
        self.started[i] = start_pair_at(self.game, origin, self.interventions[i], self.seeds[i], self.settle)

    def launch(self) -> np.ndarray:
        """Once every pair is started: the rows' environments and first observations (returned)."""
        started = self.started
        self.envs = [env for pair in started for env in (pair.factual, pair.intervened)]
        self.intervention_rngs = [pair.intervention_rng for pair in started]
        first = np.stack([env.observation for env in self.envs])
        if self.observations is None:
            self.observations = first.copy()
        else:
            self.observations[:] = first
        return first

    def step(self, index: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Take ``actions`` in the environments of rows ``index``; their rewards, lives and whether they ended."""
        envs, observations = self.envs, self.observations
        rewards, lives = np.zeros(len(index), np.float32), np.zeros(len(index), np.int64)
        ended = np.zeros(len(index), bool)
        for j, (k, action) in enumerate(zip(index.tolist(), actions.tolist())):
            observations[k], rewards[j], terminated, truncated, info = envs[k].step(action)
            lives[j] = info["lives"]
            if terminated or truncated:
                ended[j] = True
            elif self.persistent[k // 2]:
                # Re-applied after every step (a JSON write and a re-render); the factual arm gets
                # the same treatment without the edit, as at the branch point.
                if k % 2 == 1:
                    self.interventions[k // 2].reapply_to_env(envs[k], rng=self.intervention_rngs[k // 2])
                else:
                    _treat_like_the_intervened_arm(envs[k], "refresh")
                observations[k] = envs[k].observation
        return rewards, lives, ended

    def finish(self) -> tuple[list[bool], list[str], list[Any], list[str]]:
        """Parse and serialise the start states (:meth:`StartedPair.finish`): whether each edit took
        effect, every row's first state as JSON text, what each pair's edit chose, and every row's
        picture state ("" where it is the first state)."""
        if self.started is not None:
            prepared = [pair.finish() for pair in self.started]
            self.took_effect = [pair.took_effect for pair in prepared]
            self.first_states = [text for pair in prepared for text in (pair.factual_json, pair.intervened_json)]
            self.chosen = [pair.chosen for pair in prepared]
            self.picture_states = [text for pair in prepared
                                   for text in (pair.factual_picture, pair.intervened_picture)]
            self.started = None
        return self.took_effect, self.first_states, self.chosen, self.picture_states

    def settled_texts(self) -> list[SettledTexts]:
        """Instead of :meth:`finish` (the caller finishes with :func:`finish_pair`): each pair's texts,
        after which the started pairs are let go (their environments step on)."""
        texts = [pair.settled_texts() for pair in self.started]
        self.started = None
        return texts
