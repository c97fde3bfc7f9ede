"""Paired counterfactual continuations: factual vs. intervened, batched, with common random numbers.

From each branch point two copies of the environment are restored from the same snapshot; the
intervention is applied to one. Both then run for ``horizon`` steps *in lockstep with every
other branch*: each step is a single batched forward pass of the agent over all live branches.
Sampled actions use common random numbers: the two members of a pair draw their action from the
same uniform at every step (inverse-CDF sampling), so whenever the intervention leaves the
policy unchanged, the pair takes identical actions and the paired difference is exactly zero.

Each branch point has its own seed (uniforms, intervention randomness), so a set of branch
points can be split across workers and give the same numbers as one process.

Speed (the goal: batched rollouts at ≥ 70% of the bare batched forward rate): the forward pass is
the work; what surrounds it is kept small (each pair's Toybox JSON read and written once, an edit
checked only where it wrote, see :func:`prepare_pair`) and, with two CPUs, taken off the
forwarding thread: groups of branches are pipelined so that the environments of some are prepared
and stepped while this thread forwards others (:func:`run_paired`'s ``overlap``) — in a second
process (:mod:`cfsal.rollout.envprocess`), or a second thread where that cannot be used.
``benchmarks/bench_rollouts.py`` measures every way.

This module checks a run and chooses its way; the parts are apart: the environment side
(starting pairs, stepping arms) in :mod:`cfsal.rollout.arms`, torch-free so that the environment
process need not import torch; the agent side (uniforms, batched forwards, records) in
:mod:`cfsal.rollout.lockstep`; the overlapped ways in :mod:`cfsal.rollout.overlapped`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from cfsal.agents.base import FORWARD_BLOCK, Agent, deterministic_forwards
from cfsal.rollout import overlapped
from cfsal.rollout.arms import (  # re-exported: the engine's public pieces have always lived here
    InterventionLike,
    PairOrigin,
    PreparedPair,
    StartedPair,
    applicable,
    edits_like_the_library,
    prepare_pair,
    start_pair,
)
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.lockstep import Arms, arm_uniforms  # arm_uniforms re-exported: it lived here
from cfsal.rollout.traces import PairedBranch, Trace  # re-exported: they lived here before

__all__ = ["InterventionLike", "PairedBranch", "PreparedPair", "StartedPair", "Trace", "applicable", "arm_uniforms",
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

    def arms(a: int, b: int, start: bool = False, remote: bool = False) -> Arms:
        return Arms(agent, points[a:b], interventions[a:b], seeds[a:b], horizon, greedy, settle, start, remote,
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
        process = overlapped.usable_env_process(interventions, wait=way == "process")
        if process is not None:
            try:
                pairs = overlapped.run_in_env_process(process, agent.spec.game, arms, points, interventions, seeds,
                                                      settle, groups, horizon, origins)
            finally:
                process.lock.release()
            if pairs is not None:
                return pairs
    return overlapped.run_pipelined(arms, groups, horizon)
