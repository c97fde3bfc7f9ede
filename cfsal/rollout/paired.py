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
forwarding thread: groups of branches are pipelined so that the environments of some are prepared
and stepped while this thread forwards others (:func:`run_paired`'s ``overlap``) — in a second
process (:mod:`cfsal.rollout.envprocess`), or a second thread where that cannot be used.
``benchmarks/bench_rollouts.py`` measures every way.

The environment side (starting pairs, stepping arms) is :mod:`cfsal.rollout.arms`, torch-free so
that the environment process need not import torch; this module is the agent side.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import (
    FORWARD_BLOCK,
    Agent,
    actions_from_logits,
    blocked_logits_and_value,
    deterministic_forwards,
)
from cfsal.rollout import envprocess
from cfsal.rollout.arms import (  # re-exported: the engine's public pieces have always lived here
    ArmEnvs,
    InterventionLike,
    PairOrigin,
    PreparedPair,
    SettledTexts,
    StartedPair,
    applicable,
    edits_like_the_library,
    finish_pair,
    prepare_pair,
    read_origins,
    start_pair,
)
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.traces import PairedBranch, Trace  # re-exported: they lived here before

__all__ = ["InterventionLike", "PairedBranch", "PreparedPair", "StartedPair", "Trace", "applicable",
           "overlap_groups", "overlap_pays", "prepare_pair", "run_paired", "start_pair", "usable_cpus"]


def run_paired(agent: Agent, points: list[BranchPoint],
               intervention: InterventionLike | Sequence[InterventionLike], *, horizon: int,
               seeds: list[np.random.SeedSequence], greedy: bool = False,
               settle: Any = "refresh", overlap: bool | str | None = None,
               origins: Sequence[PairOrigin] | None = None,
               common_random_numbers: bool = True) -> list[PairedBranch]:
    """Run factual and intervened continuations from every point, all branches in lockstep.

    ``intervention`` is one for all points, or a sequence with one per point.

    ``overlap`` pipelines groups of 8 branches (one 16-row forward block each) when there are more
    than 8: this thread forwards whichever group is ready while the environments of the others are
    stepped and the groups not yet started are prepared — in the session's environment process
    (:mod:`cfsal.rollout.envprocess`) once it has started and when every intervention is a library
    one that pickles, else in a second thread (which shares the GIL with the forwards, so gains
    less). ``None`` (default) overlaps when this process may use two or more CPUs and the machine
    is not oversubscribed (see :func:`overlap_pays`); ``True`` always; ``"process"`` and
    ``"thread"`` choose the way (``"process"`` waits for the process to start, and refuses
    interventions it cannot run). The results are byte-identical whichever way: every continuation
    sees the same steps, and the forward still runs in 16-row blocks on one thread.

    ``common_random_numbers`` (default): the arms of a pair sample their actions from the same
    uniforms; False: independently (see :func:`arm_uniforms`).

    ``origins`` (one :class:`~cfsal.rollout.arms.PairOrigin` per point, read where the points' native
    snapshots were) lets a process without those snapshots (an executor's worker) start each pair
    from its JSON instead of replaying the episode up to it: the same pairs, byte for byte, for
    library interventions (:func:`~cfsal.rollout.arms.edits_like_the_library`) only.
    """
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention] * len(points)
    if len(interventions) != len(points):
        raise ValueError(f"need one intervention per branch point ({len(points)}), got {len(interventions)}")
    if len(seeds) != len(points):
        raise ValueError(f"need one seed per branch point ({len(points)}), got {len(seeds)}")
    if horizon < 1:
        raise ValueError(f"horizon must be ≥ 1 step, got {horizon}")
    if origins is not None:
        if len(origins) != len(points):
            raise ValueError(f"need one origin per branch point ({len(points)}), got {len(origins)}")
        if not all(edits_like_the_library(item) for item in interventions):
            raise ValueError("origins= is for library interventions only: one with its own apply_to_env reads "
                             "the restored environment, which needs the branch point itself")
    with deterministic_forwards():
        return _run_paired(agent, list(points), interventions, horizon, list(seeds), greedy, settle,
                           _overlap_way(overlap), None if origins is None else list(origins),
                           bool(common_random_numbers))


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


#: What ``run_paired``'s ``overlap`` may say, and what each means: no overlap, the best way there
#: is, or one way.
OVERLAP_WAYS = {False: "none", True: "auto", "thread": "thread", "process": "process"}


def _overlap_way(overlap: bool | str | None) -> str:
    if overlap is None:
        return "auto" if overlap_pays() else "none"
    way = OVERLAP_WAYS.get(overlap) if isinstance(overlap, (bool, str)) else None
    if way is None:
        raise ValueError(f"overlap={overlap!r}: use None (when it pays), True, False, 'process' or 'thread'")
    return way


#: Pairs per group of an overlapped run: one 16-row forward block (2 rows a pair).
GROUP_PAIRS = FORWARD_BLOCK // 2


def overlap_groups(n_pairs: int, group: int = GROUP_PAIRS) -> list[tuple[int, int]]:
    """The ``[start, end)`` pair ranges an overlapped run pipelines: ``group`` pairs each (the last
    may be smaller), so a group's forward is one whole 16-row block while its rows all run."""
    return [(start, min(start + group, n_pairs)) for start in range(0, n_pairs, group)]


def _run_paired(agent: Agent, points: list[BranchPoint], interventions: list[InterventionLike], horizon: int,
                seeds: list[np.random.SeedSequence], greedy: bool, settle: Any, way: str,
                origins: list[PairOrigin] | None = None, common: bool = True) -> list[PairedBranch]:
    if not points:
        return []

    def arms(a: int, b: int, start: bool = False, remote: bool = False) -> _Arms:
        return _Arms(agent, points[a:b], interventions[a:b], seeds[a:b], horizon, greedy, settle, start, remote,
                     None if origins is None else origins[a:b], common)

    groups = overlap_groups(len(points)) if way != "none" else [(0, len(points))]
    if len(groups) == 1:
        every = arms(0, len(points), start=True)
        for t in range(horizon):
            decided = every.forward(t)
            if decided is None:
                break
            every.step(t, decided)
        return every.pairs()
    if way in ("auto", "process"):
        process = _usable_env_process(interventions, wait=way == "process")
        if process is not None:
            try:
                pairs = _run_in_env_process(process, agent.spec.game, arms, points, interventions, seeds, settle,
                                            groups, horizon, origins)
            finally:
                process.lock.release()
            if pairs is not None:
                return pairs
    return _run_pipelined(arms, groups, horizon)


def _usable_env_process(interventions: list[InterventionLike], wait: bool) -> envprocess.EnvProcess | None:
    """The environment process, locked for this run, when it can run these pairs byte-identically
    (library interventions that pickle) and is free (started, and no other thread's run using it);
    else None, and the run steps its environments in a thread. ``wait`` (``overlap="process"``):
    wait for the process to start and for the lock, and say why it cannot be used."""
    reason = None
    if not all(edits_like_the_library(item) for item in interventions):
        reason = ("an intervention edits the environment itself (its own apply_to_env), which only this "
                  "process can do byte-identically")
    else:
        try:
            pickle.dumps(interventions)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            reason = f"an intervention does not pickle ({error})"
    if reason is not None:
        if wait:
            raise ValueError(f"overlap='process' cannot run these pairs: {reason}; use overlap=True or 'thread'")
        return None
    process = envprocess.env_process(wait=wait)
    if process is None or not process.lock.acquire(blocking=wait):
        if wait:
            raise envprocess.EnvProcessError("the environment process could not be started here; "
                                             "use overlap=True or 'thread'")
        return None
    return process


def _run_in_env_process(process: envprocess.EnvProcess, game: str, arms: Callable[..., _Arms],
                        points: list[BranchPoint],
                        interventions: list[InterventionLike], seeds: list[np.random.SeedSequence], settle: Any,
                        groups: list[tuple[int, int]], horizon: int,
                        given: list[PairOrigin] | None = None) -> list[PairedBranch] | None:
    """:func:`_run_pipelined` with the environments in the environment process: this process only
    forwards (no other Python competes for its GIL), that one prepares and steps the groups' environments.
    None when that process cannot load the pairs (an intervention class it cannot import) or there
    is no room for the shared observation board: the caller then runs them with a thread, from the
    start (nothing was recorded yet).

    This thread sends every group's pairs (their :class:`~cfsal.rollout.arms.PairOrigin`, read from
    a scratch environment restored natively here), then forwards each group whose observations are
    on the shared board and sends its actions; replies say which group stepped. The pairs' results
    (parsing the settled start states, ``took_effect``) are finished here from the texts that
    process sends, one pair at a time whenever no reply is waiting: that process is the busier one.
    Replies of another run (one that ended early, by an error or an interrupt) are skipped.
    """
    shape = tuple(points[0].snapshot.frame_stack.shape)
    run = next(process.runs)
    try:
        board = process.board_for(2 * len(points), shape)
    except OSError:  # no room for the shared observations: the thread needs none
        return None
    parts = [arms(a, b, remote=True) for a, b in groups]
    origins: list[list[PairOrigin]] = []
    finishing: deque[tuple[int, int]] = deque()  # (group, pair) whose texts are here, to finish
    texts: dict[int, list[SettledTexts]] = {}
    finished: dict[int, list[tuple[bool, str, str]]] = {}

    def finish(g: int, i: int) -> None:
        origin, a = origins[g][i], groups[g][0]
        took_effect, _, _, factual_json, intervened_json = finish_pair(
            interventions[a + i], json.loads(origin.restored), origin.restored, texts[g][i])
        finished[g].append((took_effect, factual_json, intervened_json))
        if len(finished[g]) == len(origins[g]):
            parts[g].results = ([took for took, _, _ in finished[g]],
                                [text for _, *both in finished[g] for text in both],
                                [each.chosen for each in texts[g]])

    try:
        for g, (a, b) in enumerate(groups):
            origins.append(given[a:b] if given is not None else read_origins(game, points[a:b]))
            process.group_message(run, g, 2 * a, game, settle, origins[g], interventions[a:b], seeds[a:b])
        process.send(envprocess.SEND_TEXTS, run)
        running = waiting = len(groups)
        while running or waiting or finishing:
            if finishing and not (running and process.conn.poll(0)):  # nothing else to do this moment
                finish(*finishing.popleft())
                continue
            kind, owner, g, *rest = process.recv()
            if owner != run:
                continue
            if kind == envprocess.UNLOADABLE:
                return None
            if kind == envprocess.ERROR:
                error, where = rest
                if hasattr(error, "add_note"):
                    error.add_note(f"(raised in the environment process:)\n{where}")
                raise error
            if kind == envprocess.TEXTS:
                texts[g], finished[g] = rest[0], []
                finishing.extend((g, i) for i in range(len(rest[0])))
                waiting -= 1
                continue
            a, b = groups[g]
            if kind == envprocess.READY:
                parts[g].begin(board[2 * a:2 * b], board[2 * a:2 * b].copy())
                t = 0
            else:
                t, rewards, lives, done = rest
                parts[g].record(t, parts[g].stepping, (rewards, lives, done))
                t += 1
            decided = parts[g].forward(t) if t < horizon else None
            if decided is None:
                running -= 1
                continue
            parts[g].stepping = decided[0]
            process.send(envprocess.STEP, run, g, t, *decided)
    finally:
        try:
            process.send(envprocess.CLOSE, run)  # frees its environments (and, ended early, its queued work)
        except envprocess.EnvProcessError:
            pass  # it ended: the pairs are complete if this run was, and the next run starts a new one
    return [pair for part in parts for pair in part.pairs()]


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
    (``benchmarks/results/rollouts.md``). Hence the environment process
    (:func:`_run_in_env_process`), which this is the fallback for: interventions that edit the
    environment themselves or do not pickle, a process still starting, or no way to start one.
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


def arm_uniforms(seeds: Sequence[np.random.SeedSequence], horizon: int, common: bool = True) -> np.ndarray:
    """The uniform each row (arm) samples its action from at every step, rows ``2i``/``2i + 1`` for pair ``i``.

    ``common`` (the default): both arms of a pair share child 0 of the pair's seed (common random
    numbers), so a pair whose policies agree takes the same actions and its difference is exactly
    zero. Otherwise the intervened arm draws from child 2 (child 1 is the intervention's own
    randomness): the arms sample independently, as two separate runs would. That is the design for
    a placebo baseline (how much two runs differ by chance alone) and for null controls whose
    paired differences are random rather than zero.
    """
    factual = np.stack([np.random.default_rng(child(seed, 0)).random(horizon) for seed in seeds])
    intervened = factual if common else np.stack([np.random.default_rng(child(seed, 2)).random(horizon)
                                                  for seed in seeds])
    rows = np.empty((2 * len(factual), horizon))
    rows[0::2], rows[1::2] = factual, intervened
    return rows


class _Arms:
    """The agent side of a run of pairs advanced in lockstep (rows ``2i`` and ``2i + 1``: the
    factual and intervened arm of the run's ``i``-th pair): their uniforms, the batched forwards,
    and what every step records. The environments are an :class:`~cfsal.rollout.arms.ArmEnvs`
    here (``self.envs``), or (``remote``) in the environment process, whose replies
    :meth:`begin`, :meth:`record` and ``results`` take in."""

    def __init__(self, agent: Agent, points: list[BranchPoint], interventions: list[InterventionLike],
                 seeds: list[np.random.SeedSequence], horizon: int, greedy: bool, settle: Any,
                 start: bool = True, remote: bool = False, origins: list[PairOrigin] | None = None,
                 common_random_numbers: bool = True) -> None:
        self.agent, self.points, self.greedy, self.horizon, self.origins = agent, points, greedy, horizon, origins
        self.uniforms = arm_uniforms(seeds, horizon, common_random_numbers)
        self.envs = None if remote else ArmEnvs(agent.spec.game, interventions, seeds, settle)
        self.results: tuple[list[bool], list[str], list[Any]] | None = None  # took_effect, first states, chosen
        self.stepping: np.ndarray | None = None  # remote: the rows of the step under way
        if start:
            for i in range(len(points)):
                self.start_pair(i)
            self.launch()

    def start_pair(self, i: int) -> None:
        """Prepare pair ``i`` (:func:`start_pair`): a pipelined run does this one pair at a time, so
        that steps of running groups are never queued behind a whole group."""
        if self.origins is not None:
            self.envs.start_at(i, self.origins[i])
        else:
            self.envs.start(i, self.points[i])

    def launch(self) -> None:
        """Once every pair is started: the rows' first observations and the step records."""
        first = self.envs.launch()
        self.begin(self.envs.observations, first)

    def begin(self, observations: np.ndarray, first: np.ndarray) -> None:
        """The rows' observations (updated by every step, here or on the environment process's
        board) and a copy of the first ones; empty step records."""
        self.observations, self.first_observations = observations, first
        rows, horizon = len(first), self.horizon  # what every step records, one column per continuation
        self.actions, self.values = np.zeros((horizon, rows), np.int64), np.zeros((horizon, rows), np.float32)
        self.logits = np.zeros((horizon, rows, self.agent.spec.n_actions), np.float32)
        self.rewards, self.lives = np.zeros((horizon, rows), np.float32), np.zeros((horizon, rows), np.int64)
        self.lengths = np.zeros(rows, dtype=int)
        self.alive = np.ones(rows, dtype=bool)

    def forward(self, t: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One batched forward over the live rows: their actions at step ``t`` (recorded with the
        logits and values), as ``(rows, actions)``; None once every row has ended."""
        index = np.flatnonzero(self.alive)
        if index.size == 0:
            return None
        live = self.observations if index.size == len(self.alive) else self.observations[index]
        logits, values = blocked_logits_and_value(self.agent, live)
        actions = actions_from_logits(logits, greedy=self.greedy, uniforms=self.uniforms[index, t])
        self.actions[t, index], self.logits[t, index], self.values[t, index] = actions, logits.numpy(), values.numpy()
        self.lengths[index] = t + 1
        return index, actions

    def step(self, t: int, decided: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Take the decided actions in the live environments (here) and record step ``t``."""
        if decided is not None:
            self.record(t, decided[0], self.envs.step(*decided))

    def record(self, t: int, index: np.ndarray, outcome: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """What the environments of rows ``index`` returned at step ``t``: rewards, lives, endings."""
        rewards, lives, ended = outcome
        self.rewards[t, index], self.lives[t, index] = rewards, lives
        self.alive[index[ended]] = False

    def trace(self, k: int) -> Trace:
        n = self.lengths[k]
        column = [np.ascontiguousarray(a[:n, k]) for a in (self.actions, self.logits, self.values, self.rewards,
                                                            self.lives)]
        return Trace(*column, ended=not self.alive[k], first_observation=self.first_observations[k],
                     first_state=self.results[1][k])

    def finish(self) -> None:
        """Parse and serialise the start states (:meth:`ArmEnvs.finish`): needed only for the
        results, so a pipelined run does it when its worker has nothing else to do."""
        if self.results is None:
            self.results = self.envs.finish()

    def pairs(self) -> list[PairedBranch]:
        self.finish()
        took_effect, _, chosen = self.results
        return [PairedBranch(point.episode, point.step, self.trace(2 * i), self.trace(2 * i + 1),
                             took_effect[i], chosen[i]) for i, point in enumerate(self.points)]
