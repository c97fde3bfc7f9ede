"""The counterfactual experiment: branch an agent's play, intervene, compare, measure.

This is the one branch-and-continue mechanism behind every hypothesis (the seed code had nine
copies of its rollout loop, one per intervention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from cfsal._seeding import child, children
from cfsal.agents.base import Agent
from cfsal.errors import InterventionError
from cfsal.measures import Measure, action_disagreement
from cfsal.measures import evaluate as evaluate_measure
from cfsal.rollout.branching import BranchPoint, collect_branch_points
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

    @property
    def n(self) -> int:
        return len(self.values)

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
                "greedy": self.greedy, "settle": self.settle, "first_branch": self.first_branch}


def _as_list(intervention: InterventionLike | Sequence[InterventionLike]) -> list[InterventionLike]:
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention]
    if not interventions:
        raise InterventionError("counterfactual() needs at least one intervention")
    return interventions


def counterfactual(agent: Agent, intervention: InterventionLike | Sequence[InterventionLike], *, samples: int = 30,
                   branch_every: int = 50, first_branch: int | None = None, horizon: int = 20,
                   measure: Measure | tuple[Measure, Measure] = action_disagreement, seed: int = 0,
                   greedy: bool = False, settle: Any = "refresh", executor: Any = "inline", workers: int = 2,
                   progress: Progress | None = None) -> CounterfactualResult:
    """Run ``samples`` paired counterfactuals of ``intervention`` on ``agent``; measure each pair.

    Branch points are every ``branch_every`` steps of seeded episodes (from ``first_branch``,
    default ``branch_every``), keeping only points where the intervention applies. A list of
    interventions is assigned round-robin over the branch points (a dose-response design, e.g.
    enemies moved by −4, −2, +2, +4 steps; ``result.assignments`` says which got which).

    ``measure`` is one paired measure, or a pair ``(x, y)`` for a correlation claim: then
    ``result.covariate`` holds x and ``result.values`` holds y for every pair.

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
    if samples < 1:
        raise ValueError(f"samples must be ≥ 1, got {samples}")
    covariate_measure, measure = measure if isinstance(measure, tuple) else (None, measure)
    points_seed, pairs_seed = child(seed, 0), child(seed, 1)
    accepted: list[int] = []

    def accept(point) -> bool:
        ok = applicable(interventions[len(accepted) % len(interventions)], point)
        if ok:
            accepted.append(len(accepted) % len(interventions))
            if progress is not None:
                progress("branch points", len(accepted), samples)
        return ok

    points = collect_branch_points(agent, count=samples, branch_every=branch_every, seed=points_seed,
                                   first_branch=first_branch, greedy=greedy, accept=accept)
    assignments = np.array(accepted[: len(points)], dtype=int)
    if progress is not None:
        progress("paired rollouts", 0, len(points))
    pairs = run_with(executor, agent, points, [interventions[a] for a in assignments], horizon=horizon,
                     seeds=children(pairs_seed, len(points)), greedy=greedy, settle=settle, workers=workers)
    values = np.empty(len(pairs))
    covariate = None if covariate_measure is None else np.empty(len(pairs))
    for i, pair in enumerate(pairs):
        values[i] = evaluate_measure(measure, pair.factual, pair.intervened, agent)
        if covariate is not None:
            covariate[i] = evaluate_measure(covariate_measure, pair.factual, pair.intervened, agent)
        if progress is not None:
            progress("measured", i + 1, len(pairs))
    return CounterfactualResult(
        agent=agent.name, game=agent.spec.game,
        intervention=interventions[0].to_dict() if len(interventions) == 1 else
        {"name": "round_robin", "interventions": [item.to_dict() for item in interventions]},
        measure=getattr(measure, "__name__", "measure"), horizon=horizon, branch_every=branch_every,
        seed=seed, values=values, episodes=np.array([p.episode for p in pairs]),
        steps=np.array([p.step for p in pairs]), took_effect=np.array([p.took_effect for p in pairs]),
        pairs=tuple(pairs), bounds=getattr(measure, "bounds", None), assignments=assignments,
        covariate=covariate,
        covariate_measure=None if covariate_measure is None else getattr(covariate_measure, "__name__", "measure"),
        greedy=greedy, settle=settle, first_branch=first_branch, points=tuple(points),
    )
