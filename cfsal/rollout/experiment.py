"""The counterfactual experiment: draw states, branch, intervene, compare, measure.

The one branch-and-continue mechanism behind every hypothesis. Which states the samples come
from is a declared design (:mod:`cfsal.rollout.design`): by default one state per independently
seeded episode, drawn by :mod:`cfsal.rollout.sampling`, so the samples are independent and the
verdict speaks about a stated population.

Samples can also come in batches (``batch=``, ``stop=``), for sequential verdicts: after every
batch a caller-supplied rule looks at the samples so far and may stop the experiment. The i-th
paired sample is the same whether it is drawn in a batch or in one fixed-size run (the i-th state
depends on the seed alone, and pair i runs from child i of the pairs seed), so a sequential run is
exactly a prefix of the fixed-n run with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent
from cfsal.errors import InterventionError, MeasureError
from cfsal.measures import Measure, action_disagreement
from cfsal.measures import check as check_measure
from cfsal.measures import evaluate as evaluate_measure
from cfsal.rollout.branching import (
    BranchPoint,
    collect_branch_points,
    games_of,
    labels_of_keys,
    situation_key,
)
from cfsal.rollout.design import Design, Selection, StateDesign, States, declare
from cfsal.rollout.executors import run_with
from cfsal.rollout.paired import InterventionLike, PairedBranch, applicable
from cfsal.rollout.sampling import StateSampler, shared_store

#: 2: the design as one nested object ("design": Design.to_dict()) instead of flat copies of its fields
RESULT_SCHEMA_VERSION = 2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CounterfactualResult:
    """Paired differences of one measure under one intervention, one per branch point.

    ``design`` says how the samples were drawn (:class:`cfsal.rollout.Design`); the arrays hold one
    entry per sample.
    """

    agent: str
    game: str
    intervention: dict[str, Any]
    measure: str
    design: Design
    values: np.ndarray
    episodes: np.ndarray
    steps: np.ndarray
    took_effect: np.ndarray
    pairs: tuple[PairedBranch, ...] = field(repr=False, compare=False)
    bounds: tuple[float, float] | None = None
    assignments: np.ndarray | None = None
    covariate: np.ndarray | None = None
    covariate_measure: str | None = None
    points: tuple[BranchPoint, ...] = field(default=(), repr=False, compare=False)  # in memory only
    #: per sample, the first sample branched from the same situation (``branching.situation_key``:
    #: the game state apart from its RNG, and the frames); repeats are one situation sampled twice
    situations: np.ndarray | None = None
    #: per sample, its game: episodes that share a situation merged (``branching.games_of``); the
    #: conservative clusters when episodes replay each other (``assess(..., clusters=result.games)``)
    games: np.ndarray | None = None
    #: the candidates behind the samples: kept, set aside (episode ended first; intervention did not apply)
    selection: Selection | None = None
    #: per sample, what the intervention's edit chose in that sample's state (``Intervention.edit``'s
    #: return: the enemy nearest the player, the brick above the ball); None when no edit chose anything
    chosen: tuple[Any, ...] | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def clusters(self) -> np.ndarray | None:
        """The episode of each sample when samples share episodes (the unit of inference), else None."""
        clustered = self.design.states.clustered and len(np.unique(self.episodes)) < self.n
        return self.episodes if clustered else None

    @property
    def distinct_situations(self) -> int | None:
        """How many different situations the samples branched from (≤ n; None if not recorded)."""
        return None if self.situations is None else int(np.unique(self.situations).size)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": RESULT_SCHEMA_VERSION, "agent": self.agent, "game": self.game,
                "intervention": self.intervention, "measure": self.measure, "bounds": self.bounds,
                "design": self.design.to_dict(), "n": self.n,
                "values": [float(v) for v in self.values], "episodes": self.episodes.tolist(),
                "steps": self.steps.tolist(), "took_effect": self.took_effect.tolist(),
                "assignments": None if self.assignments is None else self.assignments.tolist(),
                "covariate_measure": self.covariate_measure,
                "covariate": None if self.covariate is None else [float(v) for v in self.covariate],
                "situations": None if self.situations is None else self.situations.tolist(),
                "distinct_situations": self.distinct_situations,
                "games": None if self.games is None else self.games.tolist(),
                "selection": None if self.selection is None else self.selection.to_dict(),
                "chosen": None if self.chosen is None else list(self.chosen)}


def _as_list(intervention: InterventionLike | Sequence[InterventionLike]) -> list[InterventionLike]:
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention]
    if not interventions:
        raise InterventionError("counterfactual() needs at least one intervention")
    return interventions


def _check_measures(measure: Any) -> None:
    """One measure, or a pair (x, y) for a correlation claim: checked before any rollout is played."""
    if isinstance(measure, list) or (isinstance(measure, tuple) and len(measure) != 2):
        raise MeasureError(f"measure={measure!r}: give one measure, or a tuple of exactly two, measure=(x, y), "
                           "for a correlation claim.")
    for each in measure if isinstance(measure, tuple) else (measure,):
        check_measure(each)


class _Stopped(Exception):
    """Raised from inside branch-point collection to end a sequential run early (never escapes)."""


def counterfactual(agent: Agent, intervention: InterventionLike | Sequence[InterventionLike], *,
                   design: Design | None = None, samples: int | None = None, states: StateDesign | None = None,
                   horizon: int | None = None, measure: Measure | tuple[Measure, Measure] = action_disagreement,
                   seed: int | None = None, greedy: bool | None = None, settle: str | int | None = None,
                   executor: Any = "inline", workers: int = 2, progress: Progress | None = None,
                   batch: int | None = None, stop: Callable[[CounterfactualResult], bool] | None = None,
                   common_random_numbers: bool | None = None, states_seed: int | None = None,
                   branch_every: int | None = None, first_branch: int | None = None,
                   max_per_episode: int | None = None, unique_situations: bool | None = None) -> CounterfactualResult:
    """Run paired counterfactuals of ``intervention`` on ``agent`` as ``design`` says; measure each pair.

    The design (:class:`cfsal.rollout.Design`) is how the samples are drawn: ``design=``, or its
    fields as keywords (``samples=30, horizon=10``), each left out at ``Design``'s default; a
    keyword may repeat a given ``design`` but not change it. Defaults: 30 samples, each arm 20 steps
    after the branch, ``settle="refresh"``, sampled actions with common random numbers, seed 0.

    ``states`` declares which states the verdict speaks about (:mod:`cfsal.rollout.design`). The
    default, ``States()``, draws each sample at a step uniform in [40, 500) of its own independently
    seeded episode, where the intervention applies: samples are independent by construction.
    ``States(window=(a, b), per_episode=k)`` changes the window or takes k steps per episode (then the
    verdict is clustered by episode), ``States.at(20)`` is the paper's fixed step. Candidates set
    aside (the episode ended first, the intervention did not apply) are counted in ``result.selection``.
    ``Periodic(every=40)`` (or the older keywords ``branch_every``, ``first_branch``,
    ``max_per_episode``, ``unique_situations``) is the design before: a point every k steps of
    consecutive episodes.

    A list of interventions is a dose-response design: episode e (periodic: branch point i) gets
    intervention ``e mod len(list)``; ``result.assignments`` says which got which.

    ``measure`` is one paired measure, or a pair ``(x, y)`` for a correlation claim: then
    ``result.covariate`` holds x and ``result.values`` holds y for every pair.

    Sequential runs: with ``batch``, pairs are run ``batch`` at a time and ``samples`` is the most
    that will be run; after each batch ``stop(result_so_far)`` is called and a true return ends the
    run. The i-th sample is identical to the fixed-size run's i-th sample with the same seed.

    ``common_random_numbers`` (default True): the two arms of a pair sample each action from the same
    uniform, so where the intervention leaves the policy alone they act alike and the difference is
    exactly zero. False samples the arms independently (placebo baselines, null controls with
    random differences).

    Every random choice derives from the design's ``seed``; ``executor`` ("inline", "process",
    "ray") changes where the continuations run, never the numbers. ``progress(phase, done, total)``
    is called as work proceeds (branch points found; pairs measured).
    """
    interventions = _as_list(intervention)
    for item in interventions:
        if item.game != agent.spec.game:
            raise InterventionError(
                f"{item.name} is a {item.game} intervention but agent {agent.name!r} plays "
                f"{agent.spec.game}; pick an intervention from cfsal.interventions.{agent.spec.game}."
            )
    _check_measures(measure)
    design = declare(design, samples=samples, states=states, horizon=horizon, seed=seed, greedy=greedy,
                     settle=settle, batch=batch, common_random_numbers=common_random_numbers,
                     states_seed=states_seed, branch_every=branch_every, first_branch=first_branch,
                     max_per_episode=max_per_episode, unique_situations=unique_situations)
    run = _Run(agent, interventions, measure, design, executor, workers, progress, stop)
    if isinstance(design.states, States):
        run.sample_states()
    else:
        run.sample_periodic()
    return run.build()


class _Run:
    """One experiment's state while it runs: the points collected, the pairs run and measured."""

    def __init__(self, agent: Agent, interventions: list[InterventionLike], measure: Any, design: Design,
                 executor: Any, workers: int, progress: Progress | None,
                 stop: Callable[[CounterfactualResult], bool] | None) -> None:
        self.covariate_measure, self.measure = measure if isinstance(measure, tuple) else (None, measure)
        self.agent, self.interventions, self.design = agent, interventions, design
        self.executor, self.workers, self.progress, self.stop = executor, workers, progress, stop
        self.points_seed, self.pairs_seed = child(design.seed, 0), child(design.seed, 1)
        self.assigned: list[int] = []
        self.points: list[BranchPoint] = []
        self.situations: list[bytes] = []
        self.pairs: list[PairedBranch] = []
        self.values: list[float] = []
        self.covariate: list[float] = []
        self.selection: Selection | None = None

    def build(self) -> CounterfactualResult:
        n, interventions, covariate_measure = len(self.pairs), self.interventions, self.covariate_measure
        pairs = self.pairs
        situations = labels_of_keys(self.situations[:n])
        return CounterfactualResult(
            agent=self.agent.name, game=self.agent.spec.game,
            intervention=interventions[0].to_dict() if len(interventions) == 1 else
            {"name": "round_robin", "interventions": [item.to_dict() for item in interventions]},
            measure=getattr(self.measure, "__name__", "measure"), design=self.design,
            values=np.array(self.values, dtype=float), episodes=np.array([p.episode for p in pairs], dtype=int),
            steps=np.array([p.step for p in pairs], dtype=int), took_effect=np.array([p.took_effect for p in pairs]),
            pairs=tuple(pairs), bounds=getattr(self.measure, "bounds", None),
            assignments=np.array(self.assigned[:n], dtype=int),
            covariate=None if covariate_measure is None else np.array(self.covariate, dtype=float),
            covariate_measure=None if covariate_measure is None else getattr(covariate_measure, "__name__", "measure"),
            points=tuple(self.points[:n]), situations=situations,
            games=games_of([p.episode for p in pairs], situations), selection=self.selection,
            chosen=tuple(p.chosen for p in pairs) if any(p.chosen is not None for p in pairs) else None,
        )

    def run_pending(self) -> None:
        """Run and measure the pairs of every collected point not yet run (pair i: child i of the pairs seed)."""
        design, start = self.design, len(self.pairs)
        todo = self.points[start:]
        total = design.samples if design.batch is not None else len(self.points)
        if self.progress is not None:
            self.progress("paired rollouts", start, total)
        new = run_with(self.executor, self.agent, todo, [self.interventions[a] for a in self.assigned[start:]],
                       horizon=design.horizon, seeds=[child(self.pairs_seed, i) for i in range(start, start + len(todo))],
                       greedy=design.greedy, settle=design.settle, workers=self.workers,
                       common_random_numbers=design.common_random_numbers)
        for pair in new:
            self.pairs.append(pair)
            self.values.append(evaluate_measure(self.measure, pair.factual, pair.intervened, self.agent))
            if self.covariate_measure is not None:
                self.covariate.append(evaluate_measure(self.covariate_measure, pair.factual, pair.intervened,
                                                       self.agent))
            if self.progress is not None:
                self.progress("measured", len(self.pairs), total)

    def stopped(self) -> bool:
        """After a sequential batch: run its pairs and ask the stop rule."""
        self.run_pending()
        return self.stop is not None and self.stop(self.build())

    def _add(self, point: BranchPoint, assignment: int) -> None:
        self.assigned.append(assignment)
        self.points.append(point)
        self.situations.append(situation_key(point.snapshot))

    def sample_states(self) -> None:
        """The declared design: independent episodes in lockstep, taken in order (a batch at a time)."""
        design, m = self.design, len(self.interventions)
        store = None if design.states_seed is None else \
            shared_store(self.agent, design.states, seed=design.states_seed, greedy=design.greedy)
        sampler = StateSampler(self.agent, design.states, seed=self.points_seed, greedy=design.greedy, store=store,
                               applies=lambda point: applicable(self.interventions[point.episode % m], point))
        step = design.batch or design.samples
        while len(self.points) < design.samples:
            for point in sampler.take(min(step, design.samples - len(self.points))):
                self._add(point, point.episode % m)
            self.selection = sampler.selection
            if self.progress is not None:
                self.progress("branch points", len(self.points), design.samples)
            if design.batch is not None and self.stopped():
                return
        if len(self.pairs) < len(self.points):
            self.run_pending()

    def sample_periodic(self) -> None:
        """The periodic design: every k steps of consecutive episodes (the cap and filters decided point by point)."""
        design, periodic, m = self.design, self.design.states, len(self.interventions)
        per_episode: dict[int, int] = {}
        seen: set[bytes] = set()
        set_aside = [0, 0]  # not applicable, repeated situation

        def accept(point: BranchPoint) -> bool:
            full = periodic.per_episode is not None and per_episode.get(point.episode, 0) >= periodic.per_episode
            if full:
                return False
            if not applicable(self.interventions[len(self.points) % m], point):
                set_aside[0] += 1
                return False
            key = situation_key(point.snapshot)
            if periodic.unique_situations and key in seen:
                set_aside[1] += 1
                return False
            seen.add(key)
            per_episode[point.episode] = per_episode.get(point.episode, 0) + 1
            self.assigned.append(len(self.points) % m)
            self.points.append(point)
            self.situations.append(key)
            self.selection = Selection(kept=len(self.points), episodes=point.episode + 1,
                                       not_applicable=set_aside[0])
            if self.progress is not None:
                self.progress("branch points", len(self.points), design.samples)
            look = design.batch is not None and (len(self.points) - len(self.pairs) >= design.batch
                                                 or len(self.points) == design.samples)
            if look and self.stopped():
                raise _Stopped
            return True

        try:
            collect_branch_points(self.agent, count=design.samples, branch_every=periodic.every,
                                  seed=self.points_seed, first_branch=periodic.first, greedy=design.greedy,
                                  accept=accept, per_episode=periodic.per_episode)
        except _Stopped:
            return
        if len(self.pairs) < len(self.points):
            self.run_pending()
