"""Paired counterfactual continuations: factual vs. intervened, batched, with common random numbers.

From each branch point two copies of the environment are restored from the same snapshot; the
intervention is applied to one. Both then run for ``horizon`` steps *in lockstep with every
other branch*: each step is a single batched forward pass of the agent over all live branches.
Sampled actions use common random numbers: the two members of a pair draw their action from the
same uniform at every step (inverse-CDF sampling), so whenever the intervention leaves the
policy unchanged, the pair takes identical actions and the paired difference is exactly zero.

Each branch point has its own seed (uniforms, intervention randomness), so a set of branch
points can be split across workers and give the same numbers as one process.

Speed (issue #6: batched rollouts at ≥ 70% of the bare batched forward rate): the forward pass is
the work; what surrounds it is kept small (each pair's Toybox JSON read and written once, an edit
checked only where it wrote, see :func:`prepare_pair`) and, with two CPUs, taken off the
forwarding thread: groups of branches are pipelined so that a worker prepares and steps
environments while this thread forwards (:func:`run_paired`'s ``overlap``).
``benchmarks/bench_rollouts.py`` measures both.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import (
    FORWARD_BLOCK,
    Agent,
    actions_from_logits,
    blocked_logits_and_value,
    deterministic_forwards,
)
from cfsal.envs import ToyboxEnv, make
from cfsal.interventions.base import (
    ApplyRecord,
    Intervention,
    _applies_as_defined_here,
    _check_settle,
    _settle_env,
)
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


@dataclass(frozen=True)
class Trace:
    """One continuation from a branch point; arrays have one entry per step taken."""

    actions: np.ndarray
    logits: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    lives: np.ndarray
    ended: bool
    first_observation: np.ndarray = field(repr=False)
    first_state: str = field(default="", repr=False)  # Toybox JSON the first observation shows

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def policies(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PairedBranch:
    """The factual and intervened continuations from one branch point."""

    episode: int
    step: int
    factual: Trace
    intervened: Trace
    took_effect: bool


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
    factual_json: str = ""            # the same states as ``json.dumps`` text (Trace.first_state)
    intervened_json: str = ""


def prepare_pair(game: str, point: BranchPoint, intervention: InterventionLike, seed: np.random.SeedSequence,
                 settle: Any = "refresh") -> PreparedPair:
    """Restore both arms from ``point`` and apply ``intervention`` to one (its randomness: child 1 of ``seed``).

    The single place that defines how a pair starts, shared by the engine and the report's frames.

    Toybox JSON is the cost here (parsing ~220 µs, ``json.dumps`` ~290 µs, Toybox's reader and
    writer ~50 µs each for a Breakout state), so each state is read and serialised once: the start
    state is parsed once for both arms; Toybox's own text (cheap) tells whether the factual round
    trip changed anything; a library intervention's edit is checked only where it wrote
    (:meth:`~cfsal.interventions.base.Intervention.apply_from_core`). Two phases: :func:`start_pair`
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

    def finish(self) -> PreparedPair:
        # Unchanged by the round trip (the usual case): the state is the start state, its text the
        # one just written. (factual_state is then ``start`` itself, which nothing mutates.)
        same = self.factual_settled == self.restored
        factual_state = self.start if same else json.loads(self.factual_settled)
        factual_json = self.factual_written if same else json.dumps(factual_state)
        intervened_state = (json.loads(self.intervened_settled) if isinstance(self.intervened_settled, str)
                            else self.intervened_settled)
        # Compared across the arms (both through the same JSON round trip and settling), this is
        # exactly "did the edit leave a difference", even where settling may have undone it.
        took_effect = bool(self.intervention.took_effect(factual_state, intervened_state))
        return PreparedPair(self.factual, self.intervened, self.intervention_rng, took_effect, factual_state,
                            intervened_state, factual_json, json.dumps(intervened_state))


def start_pair(game: str, point: BranchPoint, intervention: InterventionLike, seed: np.random.SeedSequence,
               settle: Any = "refresh") -> StartedPair:
    """The first phase of :func:`prepare_pair`: both arms ready to step, their start states read
    (as Toybox's text, ~50 µs) but not yet parsed or serialised."""
    snapshot = point.snapshot
    factual, intervened = make(game), make(game)
    factual.restore(snapshot)
    restored = factual.toybox_state_text()
    # The state both arms start from, as the core holds it (both are restored from one snapshot).
    start = json.loads(restored)
    # A native restore puts back exactly the state whose json.dumps is the snapshot's text.
    known = snapshot.toybox_json if snapshot.native is not None else json.dumps(start)
    written = _treat_like_the_intervened_arm(factual, settle, known)
    factual_settled = factual.toybox_state_text()
    intervened.restore(snapshot)
    rng = np.random.default_rng(child(seed, 1))
    if _edits_like_the_library(intervention):
        intervened_settled: str | dict[str, Any] = _apply_to_restored(intervention, intervened, start, rng, settle)
    else:
        record = intervention.apply_to_env(intervened, rng=rng, settle=settle)
        # The record's settled state is read after its last change to the environment.
        intervened_settled = record.settled if isinstance(record, ApplyRecord) else intervened.get_toybox_state()
    return StartedPair(factual, intervened, rng, intervention, start, restored, written, factual_settled,
                       intervened_settled)


def _edits_like_the_library(intervention: InterventionLike) -> bool:
    """A library state intervention whose ``apply_to_env`` is the base class's: then
    :func:`_apply_to_restored` does what it does, with less JSON."""
    return (isinstance(intervention, Intervention) and _applies_as_defined_here(intervention)
            and type(intervention).apply_to_env is Intervention.apply_to_env)


def _apply_to_restored(intervention: Intervention, env: ToyboxEnv, start: dict[str, Any],
                       rng: np.random.Generator, settle: Any) -> str:
    """:meth:`Intervention.apply_to_env` on an environment just restored to ``start`` (the core's
    state, already parsed), returning the settled state as Toybox's text: the same edit, checks,
    write and settling, without its two parsed state reads (``start`` is at hand; the settled state
    is parsed later, by :meth:`StartedPair.finish`) and with only the edited values checked
    (:meth:`Intervention.apply_from_core`)."""
    mode = _check_settle(intervention.name, settle)
    after = intervention.apply_from_core(start, rng)
    env.set_toybox_state_text(json.dumps(after))  # what set_toybox_state(after, check=False) writes
    _settle_env(env, mode)
    return env.toybox_state_text()


def run_paired(agent: Agent, points: list[BranchPoint],
               intervention: InterventionLike | Sequence[InterventionLike], *, horizon: int,
               seeds: list[np.random.SeedSequence], greedy: bool = False,
               settle: Any = "refresh", overlap: bool | None = None) -> list[PairedBranch]:
    """Run factual and intervened continuations from every point, all branches in lockstep.

    ``intervention`` is one for all points, or a sequence with one per point.

    ``overlap`` pipelines groups of 8 branches (one 16-row forward block each) when there are more
    than 8: this thread forwards whichever group is ready while a second thread steps the
    environments of the others and prepares the groups not yet started (Toybox's and Pillow's C
    code and torch's kernels release the GIL; see :func:`_run_pipelined`). ``None`` (default)
    overlaps when this process may use two or more CPUs and the machine is not oversubscribed (see
    :func:`overlap_pays`). The results are byte-identical either way: every continuation sees the
    same steps, and the forward still runs in 16-row blocks on one thread.
    """
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention] * len(points)
    if len(interventions) != len(points):
        raise ValueError(f"need one intervention per branch point ({len(points)}), got {len(interventions)}")
    if len(seeds) != len(points):
        raise ValueError(f"need one seed per branch point ({len(points)}), got {len(seeds)}")
    if horizon < 1:
        raise ValueError(f"horizon must be ≥ 1 step, got {horizon}")
    with deterministic_forwards():
        return _run_paired(agent, list(points), interventions, horizon, list(seeds), greedy, settle,
                           _should_overlap(overlap))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def overlap_pays() -> bool:
    """Whether overlapping env steps with forwards should pay here: two or more usable CPUs and a
    1-minute load average below the machine's CPU count.

    On an oversubscribed machine the two threads wait for each other's time slices (and for the
    GIL, when the thread holding it is preempted): measured at load 7 on 2 CPUs, the overlapped
    run took 1.2× the one-thread time (``benchmarks/results/rollouts.md``).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): assume the CPUs are free
        load = 0.0
    return usable_cpus() >= 2 and load < (os.cpu_count() or 1)


def _should_overlap(overlap: bool | None) -> bool:
    return overlap_pays() if overlap is None else bool(overlap)


#: Pairs per group of an overlapped run: one 16-row forward block (2 rows a pair).
GROUP_PAIRS = FORWARD_BLOCK // 2


def overlap_groups(n_pairs: int, group: int = GROUP_PAIRS) -> list[tuple[int, int]]:
    """The ``[start, end)`` pair ranges an overlapped run pipelines: ``group`` pairs each (the last
    may be smaller), so a group's forward is one whole 16-row block while its rows all run."""
    return [(start, min(start + group, n_pairs)) for start in range(0, n_pairs, group)]


def _run_paired(agent: Agent, points: list[BranchPoint], interventions: list[InterventionLike], horizon: int,
                seeds: list[np.random.SeedSequence], greedy: bool, settle: Any, overlap: bool) -> list[PairedBranch]:
    if not points:
        return []

    def arms(a: int, b: int, start: bool = False) -> _Arms:
        return _Arms(agent, points[a:b], interventions[a:b], seeds[a:b], horizon, greedy, settle, start)

    groups = overlap_groups(len(points)) if overlap else [(0, len(points))]
    if len(groups) == 1:
        every = arms(0, len(points), start=True)
        for t in range(horizon):
            decided = every.forward(t)
            if decided is None:
                break
            every.step(t, decided)
        return every.pairs()
    return _run_pipelined(arms, groups, horizon)


def _run_pipelined(arms: Callable[[int, int], _Arms], groups: list[tuple[int, int]],
                   horizon: int) -> list[PairedBranch]:
    """Run groups of pairs through a two-stage pipeline: this thread forwards, a worker prepares
    and steps environments.

    Every group is independent (its own environments, uniforms and rows), so groups need not move
    in lockstep: this thread forwards whichever group's observations are ready and hands the
    decided actions to the worker, which steps that group while this thread forwards the others.
    The worker prepares the groups (restore, intervene: Python that holds the GIL), one pair at a
    time, whenever no step is waiting, so setup hides behind the forwards of the groups already
    running instead of preceding them, and a step never waits behind a whole group's setup; what
    only the results need (parsing and serialising the start states, ``took_effect``) waits until
    the worker has nothing else to do. While no group is ready to forward (mostly at the start,
    when the worker is still preparing), this thread takes waiting steps itself. A group's forward
    is the same 16-row blocks on the same torch thread whatever ran beside it, and an environment
    steps the same in either thread, so the results are byte-identical to the one-thread run.

    The limit is the GIL, not the work: the worker's Python (env-step glue, setup's JSON and
    checks) makes the forwards here wait each time a torch op hands the GIL back: on a quiet 2-core
    machine this thread needs ~0.79 s for forwards that take ~0.51 s alone
    (``benchmarks/results/rollouts.md``).
    """
    prepared: list[_Arms | None] = [None] * len(groups)
    jobs = _Jobs()
    ready: queue.SimpleQueue = queue.SimpleQueue()  # (group, step) whose observations are ready

    def prepare(g: int, i: int) -> tuple[int, int] | None:
        prepared[g].start_pair(i)
        if i + 1 < len(prepared[g].points):
            return None
        prepared[g].launch()
        return g, 0

    def step(g: int, t: int, decided: Any) -> tuple[int, int]:
        prepared[g].step(t, decided)
        return g, t + 1

    def finish(g: int) -> None:
        prepared[g].finish()

    for g in range(len(groups)):
        prepared[g] = arms(*groups[g])
        for i in range(len(prepared[g].points)):
            jobs.put(_SETUP, functools.partial(prepare, g, i))
        jobs.put(_RESULTS, functools.partial(finish, g))
    worker = threading.Thread(target=_serve, args=(jobs, ready), name="cfsal-envs", daemon=True)
    worker.start()
    running = len(groups)
    try:
        while running:
            try:
                item = ready.get_nowait()
            except queue.Empty:
                stolen = jobs.take((_STEPS,), block=False)
                item = stolen() if stolen is not None else ready.get()
            if isinstance(item, BaseException):
                raise item
            g, t = item
            decided = prepared[g].forward(t) if t < horizon else None
            if decided is None:
                running -= 1
                continue
            jobs.put(_STEPS, functools.partial(step, g, t, decided))
    finally:
        jobs.stop()
        worker.join()
    return [pair for group in prepared for pair in group.pairs()]


_STEPS, _SETUP, _RESULTS = 0, 1, 2  # the worker's lanes, in the order it serves them


class _Jobs:
    """Work for :func:`_run_pipelined`'s worker in three first-in-first-out lanes, served in order
    of urgency: steps (a forward waits on them), setup (groups not yet started), results."""

    def __init__(self) -> None:
        self._lanes: tuple[deque, ...] = (deque(), deque(), deque())
        self._changed = threading.Condition()
        self._stopped = False

    def put(self, lane: int, job: Callable[[], Any]) -> None:
        with self._changed:
            self._lanes[lane].append(job)
            self._changed.notify()

    def take(self, lanes: tuple[int, ...] = (_STEPS, _SETUP, _RESULTS), block: bool = True) -> Callable[[], Any] | None:
        """The next job of the most urgent non-empty lane; None once stopped (or, not blocking, if none)."""
        with self._changed:
            while not self._stopped:
                for lane in lanes:
                    if self._lanes[lane]:
                        return self._lanes[lane].popleft()
                if not block:
                    return None
                self._changed.wait()
            return None

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()


def _serve(jobs: _Jobs, ready: queue.SimpleQueue) -> None:
    """The worker of :func:`_run_pipelined`: run jobs, report each result (or the first error, then
    stop) until stopped."""
    while (job := jobs.take()) is not None:
        try:
            result = job()
        except BaseException as error:  # reaches the caller through the forwarding thread
            ready.put(error)
            return
        if result is not None:
            ready.put(result)


class _Arms:
    """The continuations of a run of branch points, advanced in lockstep: rows ``2i`` and
    ``2i + 1`` are the factual and intervened arm of the run's ``i``-th pair."""

    def __init__(self, agent: Agent, points: list[BranchPoint], interventions: list[InterventionLike],
                 seeds: list[np.random.SeedSequence], horizon: int, greedy: bool, settle: Any,
                 start: bool = True) -> None:
        self.agent, self.points, self.interventions, self.greedy = agent, points, interventions, greedy
        self.seeds, self.horizon, self.settle = seeds, horizon, settle
        self.uniforms = np.empty((len(points), horizon))
        self.started: list[StartedPair] | None = [None] * len(points)  # type: ignore[list-item]
        if start:
            for i in range(len(points)):
                self.start_pair(i)
            self.launch()

    def start_pair(self, i: int) -> None:
        """Prepare pair ``i`` (:func:`start_pair`) and draw its uniforms: a pipelined run does this
        one pair at a time, so that steps of running groups are never queued behind a whole group."""
        self.uniforms[i] = np.random.default_rng(child(self.seeds[i], 0)).random(self.horizon)
        self.started[i] = start_pair(self.agent.spec.game, self.points[i], self.interventions[i], self.seeds[i],
                                     self.settle)

    def launch(self) -> None:
        """Once every pair is started: the rows, their first observations and the step records."""
        started = self.started  # finished by finish(), perhaps in another thread
        self.envs = [env for pair in started for env in (pair.factual, pair.intervened)]
        self.intervention_rngs = [pair.intervention_rng for pair in started]
        self.took_effect: list[bool] = []
        self.first_states: list[str] = []
        self.observations = np.stack([env.observation for env in self.envs])
        self.first_observations = self.observations.copy()
        rows, horizon = len(self.envs), self.horizon  # what every step records, one column per continuation
        self.actions, self.values = np.zeros((horizon, rows), np.int64), np.zeros((horizon, rows), np.float32)
        self.logits = np.zeros((horizon, rows, self.agent.spec.n_actions), np.float32)
        self.rewards, self.lives = np.zeros((horizon, rows), np.float32), np.zeros((horizon, rows), np.int64)
        self.lengths = np.zeros(len(self.envs), dtype=int)
        self.alive = np.ones(len(self.envs), dtype=bool)
        self.persistent = [_is_persistent(item) for item in self.interventions]

    def forward(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """One batched forward over the live rows, and their actions at step ``t`` (None: all ended)."""
        index = np.flatnonzero(self.alive)
        if index.size == 0:
            return None
        live = self.observations if index.size == len(self.alive) else self.observations[index]
        logits, values = blocked_logits_and_value(self.agent, live)
        actions = actions_from_logits(logits, greedy=self.greedy, uniforms=self.uniforms[index // 2, t])
        return index, actions, logits.numpy(), values.numpy()

    def step(self, t: int, decided: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None) -> None:
        """Take the decided actions in the live environments and record step ``t``."""
        if decided is None:
            return
        index, actions, logits, values = decided
        self.actions[t, index], self.logits[t, index], self.values[t, index] = actions, logits, values
        self.lengths[index] = t + 1
        envs, observations, rewards, lives = self.envs, self.observations, self.rewards[t], self.lives[t]
        for k, action in zip(index.tolist(), actions.tolist()):
            observations[k], rewards[k], terminated, truncated, info = envs[k].step(action)
            lives[k] = info["lives"]
            if terminated or truncated:
                self.alive[k] = False
            elif self.persistent[k // 2]:
                # Re-applied after every step (a JSON write and a re-render); the factual arm gets
                # the same treatment without the edit, as at the branch point.
                if k % 2 == 1:
                    self.interventions[k // 2].reapply_to_env(envs[k], rng=self.intervention_rngs[k // 2])
                else:
                    _treat_like_the_intervened_arm(envs[k], "refresh")
                observations[k] = envs[k].observation

    def trace(self, k: int) -> Trace:
        n = self.lengths[k]
        column = [np.ascontiguousarray(a[:n, k]) for a in (self.actions, self.logits, self.values, self.rewards,
                                                            self.lives)]
        return Trace(*column, ended=not self.alive[k], first_observation=self.first_observations[k],
                     first_state=self.first_states[k])

    def finish(self) -> None:
        """Parse and serialise the start states (:meth:`StartedPair.finish`): needed only for the
        results, so a pipelined run does it when its worker has nothing else to do."""
        if self.started is None:
            return
        prepared = [pair.finish() for pair in self.started]
        self.took_effect = [pair.took_effect for pair in prepared]
        self.first_states = [text for pair in prepared for text in (pair.factual_json, pair.intervened_json)]
        self.started = None

    def pairs(self) -> list[PairedBranch]:
        self.finish()
        return [PairedBranch(point.episode, point.step, self.trace(2 * i), self.trace(2 * i + 1),
                             self.took_effect[i]) for i, point in enumerate(self.points)]


def applicable(intervention: InterventionLike, point: BranchPoint) -> bool:
    """Whether the intervention can be applied at this branch point (e.g. a ball is in play)."""
    from cfsal.errors import InterventionError

    try:
        intervention.apply(json.loads(point.snapshot.toybox_json), rng=np.random.default_rng(0))
    except InterventionError:
        return False
    return True
