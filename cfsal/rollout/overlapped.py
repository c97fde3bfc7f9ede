"""Overlapped runs: groups of pairs forwarded on this thread while their environments step elsewhere.

:func:`cfsal.rollout.paired.run_paired` (``overlap``) splits its pairs into groups of one 16-row
forward block each; while this thread forwards a group whose observations are ready, the
environments of the others are prepared and stepped, in the environment process
(:mod:`cfsal.rollout.envprocess`; :func:`run_in_env_process`) or, where that cannot be used, in a
second thread (:func:`run_pipelined`). Every group is independent (its own environments,
uniforms and rows) and forwards the same blocks on the same thread whatever ran beside it, so
either way gives the one-thread run's pairs byte for byte.
"""

from __future__ import annotations

import functools
import json
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cfsal.rollout import envprocess
from cfsal.rollout.arms import (
    InterventionLike,
    PairOrigin,
    SettledTexts,
    edits_like_the_library,
    finish_pair,
    read_origins,
)
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.traces import PairedBranch

if TYPE_CHECKING:
    from cfsal.rollout.lockstep import Arms


def usable_env_process(interventions: list[InterventionLike], wait: bool) -> envprocess.EnvProcess | None:
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


def run_in_env_process(process: envprocess.EnvProcess, game: str, arms: Callable[..., Arms],
                       points: list[BranchPoint],
                       interventions: list[InterventionLike], seeds: list[np.random.SeedSequence], settle: Any,
                       groups: list[tuple[int, int]], horizon: int,
                       given: list[PairOrigin] | None = None) -> list[PairedBranch] | None:
    """:func:`run_pipelined` with the environments in the environment process: this process only
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
                                [each.chosen for each in texts[g]],
                                [text or "" for each in texts[g]
                                 for text in (each.factual_picture, each.intervened_picture)])

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


def run_pipelined(arms: Callable[[int, int], Arms], groups: list[tuple[int, int]],
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
    (:func:`run_in_env_process`), which this is the fallback for: interventions that edit the
    environment themselves or do not pickle, a process still starting, or no way to start one.
    """
    prepared: list[Arms | None] = [None] * len(groups)
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
    """Work for :func:`run_pipelined`'s worker in three first-in-first-out lanes, served in order
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
    """The worker of :func:`run_pipelined`: run jobs, report each result (or the first error, then
    stop) until stopped."""
    while (job := jobs.take()) is not None:
        try:
            result = job()
        except BaseException as error:  # reaches the caller through the forwarding thread
            ready.put(error)
            return
        if result is not None:
            ready.put(result)
