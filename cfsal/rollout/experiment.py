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
from cfsal.errors import CfsalError, InterventionError
from cfsal.measures import Measure, action_disagreement
from cfsal.measures import evaluate as evaluate_measure
from cfsal.rollout.branching import (
    BranchPoint,
    collect_branch_points,
    games_of,
    labels_of_keys,
    situation_key,
)
from cfsal.rollout.design import Periodic, Selection, StateDesign, States
from cfsal.rollout.executors import run_with
from cfsal.rollout.paired import InterventionLike, PairedBranch, applicable
from cfsal.rollout.sampling import StateSampler, shared_store

RESULT_SCHEMA_VERSION = 1

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CounterfactualResult:
    """Paired differences of one measure under one intervention, one per branch point."""

    agent: str
    game: str
    intervention: dict[str, Any]
    measure: str
    horizon: int
    branch_every: int | None
    seed: int
    values: np.ndarray
    episodes: np.ndarray
    steps: np.ndarray
    took_effect: np.ndarray
    pairs: tuple[PairedBranch, ...] = field(repr=False, compare=False)
    bounds: tuple[float, float] | None = None
    assignments: np.ndarray | None = None
    covariate: np.ndarray | None = None
    covariate_measure: str | None = None
    greedy: bool = False
    settle: Any = "refresh"
    first_branch: int | None = None
    points: tuple[BranchPoint, ...] = field(default=(), repr=False, compare=False)  # in memory only
    batch: int | None = None          # sequential runs: samples per look
    max_samples: int | None = None    # sequential runs: the most samples the run could have taken
    max_per_episode: int | None = None  # at most this many branch points per episode (None: no cap)
    common_random_numbers: bool = True  # False: the arms of a pair sampled their actions independently
    #: per sample, the first sample branched from the same situation (``branching.situation_key``:
    #: the game state apart from its RNG, and the frames); repeats are one situation sampled twice
    situations: np.ndarray | None = None
    #: per sample, its game: episodes that share a situation merged (``branching.games_of``); the
    #: conservative clusters when episodes replay each other (``assess(..., clusters=result.games)``)
    games: np.ndarray | None = None
    unique_situations: bool = False  # True: repeated situations were skipped while collecting
    #: the declared distribution the branch points were drawn from (``cfsal.rollout.design``)
    states: StateDesign = field(default_factory=States)
    #: the candidates behind the samples: kept, set aside (episode ended first; intervention did not apply)
    selection: Selection | None = None
    #: the seed the states were drawn with when they came from a shared store (the plugin: one per
    #: session); None: from child 0 of ``seed``
    states_seed: int | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def clusters(self) -> np.ndarray | None:
        """The episode of each sample when samples share episodes (the unit of inference), else None."""
        return self.episodes if self.states.clustered and len(np.unique(self.episodes)) < self.n else None

    @property
    def distinct_situations(self) -> int | None:
        """How many different situations the samples branched from (≤ n; None if not recorded)."""
        return None if self.situations is None else int(np.unique(self.situations).size)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": RESULT_SCHEMA_VERSION, "agent": self.agent, "game": self.game,
                "intervention": self.intervention, "measure": self.measure, "bounds": self.bounds,
                "horizon": self.horizon,
                "branch_every": self.branch_every, "seed": self.seed, "n": self.n,
                "values": [float(v) for v in self.values], "episodes": self.episodes.tolist(),
                "steps": self.steps.tolist(), "took_effect": self.took_effect.tolist(),
                "assignments": None if self.assignments is None else self.assignments.tolist(),
                "covariate_measure": self.covariate_measure,
                "covariate": None if self.covariate is None else [float(v) for v in self.covariate],
                "greedy": self.greedy, "settle": self.settle, "first_branch": self.first_branch,
                "batch": self.batch, "max_samples": self.max_samples, "max_per_episode": self.max_per_episode,
                "common_random_numbers": self.common_random_numbers,
                "situations": None if self.situations is None else self.situations.tolist(),
                "distinct_situations": self.distinct_situations,
                "games": None if self.games is None else self.games.tolist(),
                "unique_situations": self.unique_situations, "states": self.states.to_dict(),
                "selection": None if self.selection is None else self.selection.to_dict(),
                "states_seed": self.states_seed}


def _as_list(intervention: InterventionLike | Sequence[InterventionLike]) -> list[InterventionLike]:
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention]
    if not interventions:
        raise InterventionError("counterfactual() needs at least one intervention")
    return interventions


class _Stopped(Exception):
    """Raised from inside branch-point collection to end a sequential run early (never escapes)."""


def _check_count(name: str, value: Any, meaning: str) -> None:
    """Experiment sizes are whole numbers ≥ 1; anything else is one teaching error, up front."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CfsalError(f"counterfactual(..., {name}={value!r}): {name} counts {meaning} and must be an "
                         f"integer ≥ 1 (e.g. {name}=30).")


def _state_design(states: StateDesign | None, branch_every: int | None, first_branch: int | None,
                  max_per_episode: int | None, unique_situations: bool) -> StateDesign:
    """The declared design: ``states``, or the periodic one the older keywords describe."""
    periodic = {"branch_every": branch_every, "first_branch": first_branch, "max_per_episode": max_per_episode}
    given = [name for name, value in periodic.items() if value is not None]
    if states is not None and given:
        raise CfsalError(f"counterfactual(..., states=..., {given[0]}=...): {given[0]} belongs to the periodic "
                         "design; declare it in one place, e.g. states=Periodic(every=40) or states=States(...).")
    if states is None and given:
        _check_count("branch_every", branch_every if branch_every is not None else 50,
                     "agent steps between branch points")
        if first_branch is not None:
            _check_count("first_branch", first_branch, "agent steps before the first branch point")
        if max_per_episode is not None and (isinstance(max_per_episode, bool)
                                            or not isinstance(max_per_episode, (int, np.integer)) or max_per_episode < 1):
            raise CfsalError(
                f"counterfactual(..., max_per_episode={max_per_episode!r}): the most branch points taken from one "
                "episode must be an integer ≥ 1 (e.g. max_per_episode=5 spreads 30 samples over at least 6 "
                "episodes), or None for no cap.")
        states = Periodic(every=int(branch_every or 50), first=first_branch, per_episode=max_per_episode)
    states = States() if states is None else states
    if not isinstance(states, (States, Periodic)):
        raise CfsalError(f"counterfactual(..., states={states!r}): pass a cfsal.rollout.States (a step drawn from a "
                         "window of each independently seeded episode; the default) or a cfsal.rollout.Periodic.")
    if not isinstance(unique_situations, bool):
        raise CfsalError(f"counterfactual(..., unique_situations={unique_situations!r}): pass True (each sample "
                         "from a situation not sampled before) or False (the default: keep repeats).")
    if unique_situations and isinstance(states, States):
        raise CfsalError("counterfactual(..., unique_situations=True) is for the periodic design; with States every "
                         "sample comes from its own independently seeded episode, so two that meet in one situation "
                         "are still independent draws of the declared population.")
    return states


def counterfactual(agent: Agent, intervention: InterventionLike | Sequence[InterventionLike], *, samples: int = 30,
                   states: StateDesign | None = None, horizon: int = 20,
                   measure: Measure | tuple[Measure, Measure] = action_disagreement, seed: int = 0,
                   greedy: bool = False, settle: Any = "refresh", executor: Any = "inline", workers: int = 2,
                   progress: Progress | None = None, batch: int | None = None,
                   stop: Callable[[CounterfactualResult], bool] | None = None, common_random_numbers: bool = True,
                   states_seed: int | None = None, branch_every: int | None = None, first_branch: int | None = None,
                   max_per_episode: int | None = None, unique_situations: bool = False) -> CounterfactualResult:
    """Run ``samples`` paired counterfactuals of ``intervention`` on ``agent``; measure each pair.

    ``states`` declares which states the verdict speaks about (:mod:`cfsal.rollout.design`). The
    default, ``States()``, draws each sample at a step uniform in [40, 500) of its own independently
    seeded episode, where the intervention applies: samples are independent by construction.
    ``States(window=(a, b), per_episode=k)`` changes the window or takes k steps per episode (then the
    verdict is clustered by episode), ``States.at(20)`` is the paper's fixed step. Candidates set
    aside (the episode ended first, the intervention did not apply) are counted in ``result.selection``.
    ``Periodic(every=40)`` (or the older keywords ``branch_every``, ``first_branch``,
    ``max_per_episode``) is the design before: a point every k steps of consecutive episodes.

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
    random differences). ``unique_situations`` (periodic design only) skips a branch point whose
    situation an earlier one already had.

    Every random choice derives from ``seed``; ``executor`` ("inline", "process", "ray") changes
    where the continuations run, never the numbers. ``progress(phase, done, total)`` is called as
    work proceeds (branch points found; pairs measured).
    """
    interventions = _as_list(intervention)
    for item in interventions:
        if item.game != agent.spec.game:
            raise InterventionError(
                f"{item.name} is a {item.game} intervention but agent {agent.name!r} plays "
                f"{agent.spec.game}; pick an intervention from cfsal.interventions.{agent.spec.game}."
            )
    _check_count("samples", samples, "paired samples (branch points)")
    _check_count("horizon", horizon, "steps each arm runs after the branch")
    if batch is not None:
        _check_count("batch", batch, "samples per look")
    design = _state_design(states, branch_every, first_branch, max_per_episode, unique_situations)
    if states_seed is not None and (isinstance(states_seed, bool) or not isinstance(states_seed, (int, np.integer))):
        raise CfsalError(f"counterfactual(..., states_seed={states_seed!r}): an integer seed, or None.")
    run = _Run(agent, interventions, measure, design, samples, horizon, seed, greedy, settle, executor, workers,
               progress, batch, stop, common_random_numbers, unique_situations, states_seed)
    if isinstance(design, States):
        run.sample_states()
    else:
        run.sample_periodic()
    return run.build()


class _Run:
    """One experiment's state while it runs: the points collected, the pairs run and measured."""

    def __init__(self, agent: Agent, interventions: list[InterventionLike], measure: Any, design: StateDesign,
                 samples: int, horizon: int, seed: int, greedy: bool, settle: Any, executor: Any, workers: int,
                 progress: Progress | None, batch: int | None, stop: Callable[[CounterfactualResult], bool] | None,
                 common_random_numbers: bool, unique_situations: bool, states_seed: int | None = None) -> None:
        self.covariate_measure, self.measure = measure if isinstance(measure, tuple) else (None, measure)
        self.agent, self.interventions, self.design, self.samples = agent, interventions, design, samples
        self.horizon, self.seed, self.greedy, self.settle = horizon, seed, greedy, settle
        self.executor, self.workers, self.progress, self.batch, self.stop = executor, workers, progress, batch, stop
        self.common_random_numbers, self.unique_situations = common_random_numbers, unique_situations
        self.points_seed, self.pairs_seed = child(seed, 0), child(seed, 1)
        self.assigned: list[int] = []
        self.points: list[BranchPoint] = []
        self.situations: list[bytes] = []
        self.pairs: list[PairedBranch] = []
        self.values: list[float] = []
        self.covariate: list[float] = []
        self.selection: Selection | None = None
        self.states_seed = states_seed if isinstance(design, States) else None  # the periodic design draws from seed

    def build(self) -> CounterfactualResult:
        n = len(self.pairs)
        return _result(self.agent, self.interventions, self.measure, self.covariate_measure, self.horizon,
                       self.design, self.seed, self.pairs, self.values, self.covariate,
                       np.array(self.assigned[:n], dtype=int), self.greedy, self.settle, self.points[:n],
                       self.batch, self.samples if self.batch is not None else None, self.common_random_numbers,
                       labels_of_keys(self.situations[:n]), self.unique_situations, self.selection,
                       self.states_seed)

    def run_pending(self) -> None:
        """Run and measure the pairs of every collected point not yet run (pair i: child i of the pairs seed)."""
        start = len(self.pairs)
        todo = self.points[start:]
        total = self.samples if self.batch is not None else len(self.points)
        if self.progress is not None:
            self.progress("paired rollouts", start, total)
        new = run_with(self.executor, self.agent, todo, [self.interventions[a] for a in self.assigned[start:]],
                       horizon=self.horizon, seeds=[child(self.pairs_seed, i) for i in range(start, start + len(todo))],
                       greedy=self.greedy, settle=self.settle, workers=self.workers,
                       common_random_numbers=self.common_random_numbers)
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
        m = len(self.interventions)
        store = None if self.states_seed is None else \
            shared_store(self.agent, self.design, seed=self.states_seed, greedy=self.greedy)
        sampler = StateSampler(self.agent, self.design, seed=self.points_seed, greedy=self.greedy, store=store,
                               applies=lambda point: applicable(self.interventions[point.episode % m], point))
        step = self.batch or self.samples
        while len(self.points) < self.samples:
            for point in sampler.take(min(step, self.samples - len(self.points))):
                self._add(point, point.episode % m)
            self.selection = sampler.selection
            if self.progress is not None:
                self.progress("branch points", len(self.points), self.samples)
            if self.batch is not None and self.stopped():
                return
        if len(self.pairs) < len(self.points):
            self.run_pending()

    def sample_periodic(self) -> None:
        """The periodic design: every k steps of consecutive episodes (the cap and filters decided point by point)."""
        design, m = self.design, len(self.interventions)
        per_episode: dict[int, int] = {}
        seen: set[bytes] = set()
        set_aside = [0, 0]  # not applicable, repeated situation

        def accept(point: BranchPoint) -> bool:
            full = design.per_episode is not None and per_episode.get(point.episode, 0) >= design.per_episode
            if full:
                return False
            if not applicable(self.interventions[len(self.points) % m], point):
                set_aside[0] += 1
                return False
            key = situation_key(point.snapshot)
            if self.unique_situations and key in seen:
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
                self.progress("branch points", len(self.points), self.samples)
            if self.batch is not None and (len(self.points) - len(self.pairs) >= self.batch
                                           or len(self.points) == self.samples):
                if self.stopped():
                    raise _Stopped
            return True

        try:
            collect_branch_points(self.agent, count=self.samples, branch_every=design.every, seed=self.points_seed,
                                  first_branch=design.first, greedy=self.greedy, accept=accept,
                                  per_episode=design.per_episode)
        except _Stopped:
            return
        if len(self.pairs) < len(self.points):
            self.run_pending()


def _result(agent: Agent, interventions: list[InterventionLike], measure: Measure, covariate_measure: Measure | None,
            horizon: int, design: StateDesign, seed: int, pairs: list[PairedBranch], values: list[float],
            covariate: list[float], assignments: np.ndarray, greedy: bool, settle: Any,
            points: list[BranchPoint], batch: int | None, max_samples: int | None, common_random_numbers: bool,
            situations: np.ndarray, unique_situations: bool, selection: Selection | None,
            states_seed: int | None = None) -> CounterfactualResult:
    periodic = isinstance(design, Periodic)
    return CounterfactualResult(
        agent=agent.name, game=agent.spec.game,
        intervention=interventions[0].to_dict() if len(interventions) == 1 else
        {"name": "round_robin", "interventions": [item.to_dict() for item in interventions]},
        measure=getattr(measure, "__name__", "measure"), horizon=horizon,
        branch_every=design.every if periodic else None,
        seed=seed, values=np.array(values, dtype=float), episodes=np.array([p.episode for p in pairs], dtype=int),
        steps=np.array([p.step for p in pairs], dtype=int), took_effect=np.array([p.took_effect for p in pairs]),
        pairs=tuple(pairs), bounds=getattr(measure, "bounds", None), assignments=assignments,
        covariate=None if covariate_measure is None else np.array(covariate, dtype=float),
        covariate_measure=None if covariate_measure is None else getattr(covariate_measure, "__name__", "measure"),
        greedy=greedy, settle=settle, first_branch=design.first if periodic else None, points=tuple(points),
        batch=batch, max_samples=max_samples, max_per_episode=design.per_episode,
        common_random_numbers=bool(common_random_numbers), situations=situations,
        games=games_of([p.episode for p in pairs], situations), unique_situations=unique_situations,
        states=design, selection=selection, states_seed=states_seed,
    )
