"""The counterfactual experiment: branch an agent's play, intervene, compare, measure.

This is the one branch-and-continue mechanism behind every hypothesis (the seed code had nine
copies of its rollout loop, one per intervention).

Samples can also come in batches (``batch=``, ``stop=``), for sequential verdicts: after every
batch a caller-supplied rule looks at the samples so far and may stop the experiment. The i-th
paired sample is the same whether it is drawn in a batch or in one fixed-size run — branch points
are collected in one pass over seeded episodes (the first k of them do not depend on how many are
asked for) and pair i runs from child i of the pairs seed — so a sequential run is exactly a
prefix of the fixed-n run with the same seed, which makes the two designs comparable sample by
sample and every stopping point reproducible.

Samples branched from one episode share its game phase and are not independent; ``max_per_episode``
takes at most that many branch points from each episode (the first ones), so the samples spread
over more episodes, and ``result.episodes`` tells the statistics which samples belong together
(``cfsal.stats.assess(..., clusters=result.episodes)``). The cap is decided point by point from
the points before it, so the prefix property above holds with it too.
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
from cfsal.rollout.executors import run_with
from cfsal.rollout.paired import InterventionLike, PairedBranch, applicable

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
    branch_every: int
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

    @property
    def n(self) -> int:
        return len(self.values)

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
                "unique_situations": self.unique_situations}


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


def counterfactual(agent: Agent, intervention: InterventionLike | Sequence[InterventionLike], *, samples: int = 30,
                   branch_every: int = 50, first_branch: int | None = None, horizon: int = 20,
                   measure: Measure | tuple[Measure, Measure] = action_disagreement, seed: int = 0,
                   greedy: bool = False, settle: Any = "refresh", executor: Any = "inline", workers: int = 2,
                   progress: Progress | None = None, batch: int | None = None,
                   stop: Callable[[CounterfactualResult], bool] | None = None,
                   max_per_episode: int | None = None, common_random_numbers: bool = True,
                   unique_situations: bool = False) -> CounterfactualResult:
    """Run ``samples`` paired counterfactuals of ``intervention`` on ``agent``; measure each pair.

    Branch points are every ``branch_every`` steps of seeded episodes (from ``first_branch``,
    default ``branch_every``), keeping only points where the intervention applies. A list of
    interventions is assigned round-robin over the branch points (a dose-response design, e.g.
    enemies moved by −4, −2, +2, +4 steps; ``result.assignments`` says which got which).

    ``max_per_episode`` caps the branch points taken from one episode (the first ones in episode
    order; later candidates of a full episode are skipped), so ``samples`` come from at least
    ``samples / max_per_episode`` episodes. Samples of one episode are correlated (they share its
    game phase); more episodes make an episode-clustered verdict possible and precise. The cost is
    playing more episodes to collect the branch points (each only up to its last point taken).

    ``unique_situations`` skips a branch point whose situation (the game state apart from its RNG,
    and the frames: ``branching.situation_key``) an earlier sample already branched from, so every
    sample starts somewhere new. The default keeps repeats (``result.situations`` records them):
    a state the agent visits often, a frozen screen or the opening of a replayed game, then counts
    as often as it is visited. Which population a claim is about (visits, or distinct states) is
    the researcher's call; skipping changes it, and plays more episodes when repeats are common.

    ``measure`` is one paired measure, or a pair ``(x, y)`` for a correlation claim: then
    ``result.covariate`` holds x and ``result.values`` holds y for every pair.

    Sequential runs: with ``batch``, pairs are run ``batch`` at a time as their branch points are
    found, and ``samples`` is the most that will be run; after each batch ``stop(result_so_far)``
    is called and a true return ends the run (the result then holds the samples so far). The i-th
    sample is identical to the fixed-size run's i-th sample with the same seed.

    ``common_random_numbers`` (default True): the two arms of a pair sample each action from the same
    uniform, so where the intervention leaves the policy alone they act alike and the difference is
    exactly zero — the paired design's variance reduction. False samples the arms independently: a
    placebo baseline (a no-op intervention then shows how much two runs differ by chance), or null
    controls whose differences are random rather than zero. Greedy runs draw no uniforms.

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
    _check_count("branch_every", branch_every, "agent steps between branch points")
    _check_count("horizon", horizon, "steps each arm runs after the branch")
    if first_branch is not None:
        _check_count("first_branch", first_branch, "agent steps before the first branch point")
    if batch is not None:
        _check_count("batch", batch, "samples per look")
    if max_per_episode is not None and (isinstance(max_per_episode, bool)
                                        or not isinstance(max_per_episode, (int, np.integer)) or max_per_episode < 1):
        raise CfsalError(
            f"counterfactual(..., max_per_episode={max_per_episode!r}): the most branch points taken from one "
            "episode must be an integer ≥ 1 (e.g. max_per_episode=5 spreads 30 samples over at least 6 "
            "episodes), or None for no cap."
        )
    if not isinstance(unique_situations, bool):
        raise CfsalError(f"counterfactual(..., unique_situations={unique_situations!r}): pass True (each sample "
                         "from a situation not sampled before) or False (the default: keep repeats).")
    covariate_measure, measure = measure if isinstance(measure, tuple) else (None, measure)
    points_seed, pairs_seed = child(seed, 0), child(seed, 1)
    accepted: list[int] = []
    points: list[BranchPoint] = []
    situations: list[bytes] = []  # situation_key of each point, computed once
    pairs: list[PairedBranch] = []
    values: list[float] = []
    covariate: list[float] = []
    per_episode: dict[int, int] = {}

    def build() -> CounterfactualResult:
        return _result(agent, interventions, measure, covariate_measure, horizon, branch_every, seed, pairs, values,
                       covariate, np.array(accepted[: len(pairs)], dtype=int), greedy, settle, first_branch,
                       points[: len(pairs)], batch, samples if batch is not None else None, max_per_episode,
                       common_random_numbers, labels_of_keys(situations[: len(pairs)]), unique_situations)

    def run_pending() -> None:
        """Run and measure the pairs of every collected point not yet run (pair i: child i of the pairs seed)."""
        start = len(pairs)
        todo = points[start:]
        if progress is not None:
            progress("paired rollouts", start, samples if batch is not None else len(points))
        new = run_with(executor, agent, todo, [interventions[a] for a in accepted[start:len(points)]],
                       horizon=horizon, seeds=[child(pairs_seed, i) for i in range(start, start + len(todo))],
                       greedy=greedy, settle=settle, workers=workers,
                       common_random_numbers=common_random_numbers)
        for pair in new:
            pairs.append(pair)
            values.append(evaluate_measure(measure, pair.factual, pair.intervened, agent))
            if covariate_measure is not None:
                covariate.append(evaluate_measure(covariate_measure, pair.factual, pair.intervened, agent))
            if progress is not None:
                progress("measured", len(pairs), samples if batch is not None else len(points))

    seen: set[bytes] = set()  # situations sampled so far (unique_situations)

    def accept(point: BranchPoint) -> bool:
        full = max_per_episode is not None and per_episode.get(point.episode, 0) >= max_per_episode
        ok = not full and applicable(interventions[len(accepted) % len(interventions)], point)
        key = situation_key(point.snapshot) if ok else None
        ok = ok and not (unique_situations and key in seen)
        if ok:
            seen.add(key)
            per_episode[point.episode] = per_episode.get(point.episode, 0) + 1
            accepted.append(len(accepted) % len(interventions))
            points.append(point)
            situations.append(key)
            if progress is not None:
                progress("branch points", len(accepted), samples)
            if batch is not None and (len(points) - len(pairs) >= batch or len(points) == samples):
                run_pending()
                if stop is not None and stop(build()):
                    raise _Stopped
        return ok

    try:
        collect_branch_points(agent, count=samples, branch_every=branch_every, seed=points_seed,
                              first_branch=first_branch, greedy=greedy, accept=accept, per_episode=max_per_episode)
    except _Stopped:
        pass
    if len(pairs) < len(points):  # the fixed-size design: every pair in one batched run
        run_pending()
    return build()


def _result(agent: Agent, interventions: list[InterventionLike], measure: Measure, covariate_measure: Measure | None,
            horizon: int, branch_every: int, seed: int, pairs: list[PairedBranch], values: list[float],
            covariate: list[float], assignments: np.ndarray, greedy: bool, settle: Any, first_branch: int | None,
            points: list[BranchPoint], batch: int | None, max_samples: int | None,
            max_per_episode: int | None, common_random_numbers: bool = True,
            situations: np.ndarray | None = None, unique_situations: bool = False) -> CounterfactualResult:
    return CounterfactualResult(
        agent=agent.name, game=agent.spec.game,
        intervention=interventions[0].to_dict() if len(interventions) == 1 else
        {"name": "round_robin", "interventions": [item.to_dict() for item in interventions]},
        measure=getattr(measure, "__name__", "measure"), horizon=horizon, branch_every=branch_every,
        seed=seed, values=np.array(values, dtype=float), episodes=np.array([p.episode for p in pairs], dtype=int),
        steps=np.array([p.step for p in pairs], dtype=int), took_effect=np.array([p.took_effect for p in pairs]),
        pairs=tuple(pairs), bounds=getattr(measure, "bounds", None), assignments=assignments,
        covariate=None if covariate_measure is None else np.array(covariate, dtype=float),
        covariate_measure=None if covariate_measure is None else getattr(covariate_measure, "__name__", "measure"),
        greedy=greedy, settle=settle, first_branch=first_branch, points=tuple(points),
        batch=batch, max_samples=max_samples, max_per_episode=max_per_episode,
        common_random_numbers=bool(common_random_numbers), situations=situations,
        games=None if situations is None else games_of([p.episode for p in pairs], situations),
        unique_situations=unique_situations,
    )
