"""The agent side of pairs advanced in lockstep: their uniforms, the batched forwards, the step records.

Rows ``2i`` and ``2i + 1`` are the factual and intervened arm of a run's ``i``-th pair. Each step
is one batched forward over the live rows (:func:`~cfsal.agents.base.blocked_logits_and_value`),
and sampled actions use common random numbers (:func:`arm_uniforms`), so a pair whose policies
agree takes identical actions. The environments are :class:`~cfsal.rollout.arms.ArmEnvs` on this
thread, or steps of the environment process (:mod:`cfsal.rollout.overlapped`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent, actions_from_logits, blocked_logits_and_value
from cfsal.rollout.arms import ArmEnvs, InterventionLike, PairOrigin
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.traces import PairedBranch, Trace


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


class Arms:
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
        # took_effect, first states, chosen, picture states (ArmEnvs.finish)
        self.results: tuple[list[bool], list[str], list[Any], list[str]] | None = None
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
                     first_state=self.results[1][k], picture_state=self.results[3][k])

    def finish(self) -> None:
        """Parse and serialise the start states (:meth:`ArmEnvs.finish`): needed only for the
        results, so a pipelined run does it when its worker has nothing else to do."""
        if self.results is None:
            self.results = self.envs.finish()

    def pairs(self) -> list[PairedBranch]:
        self.finish()
        took_effect, _, chosen, _ = self.results
        return [PairedBranch(point.episode, point.step, self.trace(2 * i), self.trace(2 * i + 1),
                             took_effect[i], chosen[i]) for i, point in enumerate(self.points)]
