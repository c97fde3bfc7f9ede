"""Executors: where paired continuations run — in this process, a process pool, or Ray.

Every branch point carries its own seed (see :mod:`cfsal.rollout.paired`), so splitting the
points into chunks changes *where* they run, never the numbers: all executors return identical
pairs, in the order of the points. Inline is the default and the fastest on a laptop (one
process batches every branch into each forward pass); the pool and Ray pay off when there are
more cores than a single batched forward can use.

Workers receive plain data — the agent module, snapshots (Toybox JSON + arrays), the
intervention dataclass, and for library interventions each pair's origin (:func:`with_origins`,
so a worker need not replay episodes) — never a live Toybox object (they cannot be pickled).

The process pool is kept for the session (per worker count) rather than spawned per call:
starting a worker (a fresh interpreter importing torch and cfsal) took ~3.5 s, more than a
64-branch batched run. Chunks run without :func:`run_paired`'s env/forward overlap, since the
workers already occupy the cores.
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from cfsal.agents.base import Agent
from cfsal.errors import CfsalError
from cfsal.rollout.arms import PairOrigin, edits_like_the_library, read_origins
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.paired import InterventionLike, PairedBranch, run_paired

_PICKLE_HINT = (". Workers receive the agent, intervention and measure by pickling: define them at module "
                "level (no lambdas or local functions), or use the inline executor.")


class ExecutorError(CfsalError):
    """An executor that cannot run here, or a worker that died."""


@dataclass(frozen=True)
class PairedJob:
    """Everything one chunk of paired continuations needs, as plain picklable data."""

    agent: Agent
    points: tuple[BranchPoint, ...]
    seeds: tuple[np.random.SeedSequence, ...]
    interventions: tuple[InterventionLike, ...]
    horizon: int
    greedy: bool
    settle: Any
    overlap: bool | None = None  # run_paired's env/forward overlap (None: when 2+ CPUs)
    origins: tuple[PairOrigin, ...] | None = None  # where the pairs start (see with_origins)
    common_random_numbers: bool = True  # the arms of a pair share their action uniforms


def run_job(job: PairedJob) -> list[PairedBranch]:
    """Run one chunk, in whatever process this is (run_paired pins its forwards to one thread)."""
    return run_paired(job.agent, list(job.points), list(job.interventions), horizon=job.horizon,
                      seeds=list(job.seeds), greedy=job.greedy, settle=job.settle, overlap=job.overlap,
                      origins=job.origins, common_random_numbers=job.common_random_numbers)


def with_origins(job: PairedJob) -> PairedJob:
    """The job with each pair's :class:`~cfsal.rollout.arms.PairOrigin`, read here, where the points'
    native snapshots are: a worker then starts each pair from its JSON (a few Toybox reads) instead
    of replaying the episode up to the branch point (one env step per step of the prefix, ~20 ms a
    pair at step 100). Library interventions and points with native snapshots only (reading the
    origin of a point without one would replay it here, serially); other jobs are returned as they are."""
    if (job.origins is not None or not all(edits_like_the_library(item) for item in job.interventions)
            or any(point.snapshot.native is None for point in job.points)):
        return job
    return replace(job, origins=tuple(read_origins(job.agent.spec.game, job.points)))


def split(job: PairedJob, parts: int) -> list[PairedJob]:
    """Contiguous chunks, so results concatenate back in point order; each runs without overlap
    (the chunks themselves are the parallelism)."""
    bounds = np.linspace(0, len(job.points), min(parts, len(job.points)) + 1).astype(int)
    return [replace(job, points=job.points[a:b], seeds=job.seeds[a:b], interventions=job.interventions[a:b],
                    origins=None if job.origins is None else job.origins[a:b], overlap=False)
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class Executor(Protocol):
    name: str

    def run(self, job: PairedJob) -> list[PairedBranch]: ...


class InlineExecutor:
    """All branches in this process, one batched forward pass per step (default)."""

    name = "inline"

    def run(self, job: PairedJob) -> list[PairedBranch]:
        return run_job(job)


class ProcessPoolExecutorBackend:
    """Chunks of branches in a pool of worker processes (spawned, so no inherited torch state)."""

    name = "process"

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ExecutorError(f"a process pool needs ≥ 1 worker, got {workers}")
        self.workers = workers

    def run(self, job: PairedJob) -> list[PairedBranch]:
        chunks = split(with_origins(job), self.workers)
        pool = session_pool(self.workers)
        futures = [pool.submit(run_job, chunk) for chunk in chunks]
        results = []
        for index, future in enumerate(futures):
            try:
                results.extend(future.result())
            except Exception as error:  # BrokenProcessPool and whatever the worker raised
                if isinstance(error, BrokenProcessPool):
                    close_pools(self.workers)  # the next run starts a fresh pool
                raise ExecutorError(
                    f"process-pool worker {index} (branches {sum(len(c.points) for c in chunks[:index])}–"
                    f"{sum(len(c.points) for c in chunks[:index + 1]) - 1}) failed: "
                    f"{type(error).__name__}: {error}" + _PICKLE_HINT * ("pickle" in str(error))
                ) from error
        return results


_POOLS: dict[int, ProcessPoolExecutor] = {}


def session_pool(workers: int) -> ProcessPoolExecutor:
    """The process pool of ``workers`` spawned workers (no inherited torch state), started once and
    reused by every later run in this process until :func:`close_pools` (or exit)."""
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    return _POOLS[workers]


def close_pools(workers: int | None = None) -> None:
    """Shut down the session's process pools (all, or the one of ``workers`` workers)."""
    for size in [workers] if workers is not None else list(_POOLS):
        pool = _POOLS.pop(size, None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


atexit.register(close_pools)


class RayExecutor:
    """Chunks of branches as Ray tasks (``pip install cfsal[ray]``); starts a local Ray if none runs."""

    name = "ray"

    def __init__(self, tasks: int = 2, address: str | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ExecutorError("the Ray executor needs Ray: pip install 'cfsal[ray]' (or pip install ray)") from None
        self.tasks = tasks
        self.address = address

    def run(self, job: PairedJob) -> list[PairedBranch]:
        import ray  # an optional extra (cfsal[ray]): checked in __init__

        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=None if self.address else self.tasks,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        # no retries: a job is deterministic, so one whose worker died would die again (Ray >= 2.x retries
        # system failures 3 times by default, and a test of a dying worker then timed out)
        remote = ray.remote(num_cpus=1, max_retries=0)(run_job)
        chunks = split(with_origins(job), self.tasks)
        results = []
        for index, ref in enumerate([remote.remote(chunk) for chunk in chunks]):
            try:
                results.extend(ray.get(ref))
            except Exception as error:
                raise ExecutorError(f"Ray task {index} failed: {type(error).__name__}: {error}") from error
        return results


def get_executor(name: str | Executor, workers: int = 2) -> Executor:
    """``"inline"``, ``"process"`` or ``"ray"`` (or an executor object, returned as is)."""
    if not isinstance(name, str):
        return name
    if name == "inline":
        return InlineExecutor()
    if name == "process":
        return ProcessPoolExecutorBackend(workers)
    if name == "ray":
        return RayExecutor(workers)
    raise ExecutorError(f"unknown executor {name!r}: use 'inline' (default), 'process' or 'ray'")


def run_with(executor: str | Executor, agent: Agent, points: Sequence[BranchPoint],
             interventions: Sequence[InterventionLike], *, horizon: int, seeds: Sequence[np.random.SeedSequence],
             greedy: bool = False, settle: Any = "refresh", workers: int = 2,
             common_random_numbers: bool = True) -> list[PairedBranch]:
    """Run paired continuations of ``interventions[i]`` from ``points[i]`` on ``executor``."""
    job = PairedJob(agent, tuple(points), tuple(seeds), tuple(interventions), horizon, greedy, settle,
                    common_random_numbers=common_random_numbers)
    return get_executor(executor, workers).run(job)
