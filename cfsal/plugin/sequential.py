"""Sequential verdicts in a pytest session: which hypotheses run sequentially, their looks, and the budget.

Two designs, chosen by ``--cfsal-design`` (or the ``cfsal_design`` ini key, or a hypothesis's
``design=``); the batches come from :func:`cfsal.rollout.counterfactual` (``batch=``, ``stop=``):

* **group** (default; :func:`cfsal.stats.group_sequential_assess`): K = ``--cfsal-looks`` planned
  looks, equally spaced up to a maximum just above the fixed n (:func:`cfsal.stats.group_maximum`,
  1.07 × for K = 3), one batch per look, each look the fixed-n test at its share of α. It stops at
  the first look that decides; the last look tests at (1 − ε)·α, so it keeps the fixed design's
  power while clear cases stop after a third or two thirds of the samples. Hopeless tests stop
  undecided at an early look (:func:`cfsal.stats.group_sequential.group_futility`, the same γ).
* **anytime** (:func:`cfsal.stats.sequential_assess`): a look after every ``batch`` samples, valid
  however often one looks and whenever one stops, with a maximum of :func:`default_maximum` samples
  (4 × the fixed n) and futility stopping (:func:`cfsal.stats.sequential.futility_check`,
  γ = :data:`DEFAULT_FUTILITY`; futility stops never add a SUPPORTED). It pays for its freedom with
  more samples at equal power (docs/sequential.md).

This module holds what sits between the statistics and the engine in a session:

* **Settings**: ``--cfsal-sequential`` (or the ``cfsal_sequential`` ini key) turns the mode on for
  every hypothesis that does not say ``sequential=False``; ``--cfsal-batch`` (anytime) and
  ``--cfsal-max-samples`` are the defaults for ``batch=`` / ``max_samples=``.
* **Multiple testing**: a session of m hypotheses stops a test for support only at α/m (at a
  group look, its share wₖ·α/m). Holm's first step and e-BH's largest threshold are both α/m, so
  a support that ended the sampling is never undone by the correction across the session
  (docs/sequential.md).
* **Budget** (``--cfsal-budget``): ``N`` paired samples for the whole session, split evenly over its
  m hypotheses (⌊N/m⌋ each, never more than a hypothesis's own maximum) so that every verdict is
  the same serially and under ``pytest -n``; or ``Ns`` / ``Nm`` seconds of wall time from the start
  of the session (per process; not reproducible by nature). A group design is planned within its
  sample share (its looks end at the share); an anytime test whose share runs out, or any test
  whose time runs out, before it decides is INCONCLUSIVE, and its explanation says the budget ran out.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import _cfsal_pytestplugin
from _cfsal_pytestplugin import DEFAULT_BATCH, DEFAULT_DESIGN, DEFAULT_FUTILITY
from cfsal.errors import HypothesisDeclarationError
from cfsal.stats.group_sequential import (
    DEFAULT_LOOKS,
    group_looks,
    group_maximum,
    group_sequential_assess,
    look_weights,
)
from cfsal.stats.sequential import CONTINUE, sequential_assess

#: The default maximum of the anytime design is this multiple of the fixed-n sample size (:func:`default_maximum`).
MAX_MULTIPLE = 4


@dataclass(frozen=True)
class Budget:
    """A session budget: ``samples`` paired samples (shared evenly) or ``seconds`` of wall time."""

    samples: int | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "seconds": self.seconds}

    def describe(self) -> str:
        return f"{self.samples} samples" if self.samples is not None else f"{self.seconds:g} s"


def parse_budget(text: str | None) -> Budget | None:
    """``"2000"`` → 2000 paired samples; ``"600s"``, ``"10m"`` → seconds; ``None``/``""`` → no budget
    (the syntax is the command line's: :func:`_cfsal_pytestplugin.parse_budget`)."""
    try:
        parsed = _cfsal_pytestplugin.parse_budget(text)
    except ValueError as error:
        raise HypothesisDeclarationError(str(error)) from None
    return None if parsed is None else Budget(*parsed)


@dataclass
class SequentialSession:
    """Sequential settings of one session, and how many hypotheses share its α and its budget."""

    enabled: bool = False
    batch: int = DEFAULT_BATCH        # anytime design: samples per look
    max_samples: int | None = None    # None: group_maximum() (group) or default_maximum() (anytime)
    budget: Budget | None = None
    correction: str = "holm"
    hypotheses: int = 1               # set once collection is final
    futility: float | None = DEFAULT_FUTILITY   # both designs; None turns futility stopping off
    design: str = DEFAULT_DESIGN
    looks: int = DEFAULT_LOOKS        # group design: planned looks
    started: float = field(default_factory=time.monotonic)

    def applies_to(self, spec: Any) -> bool:
        return self.enabled if spec is None or spec.sequential is None else bool(spec.sequential)

    def design_of(self, spec: Any) -> str:
        return (getattr(spec, "design", None) if spec is not None else None) or self.design

    def plan(self, spec: Any, fixed_samples: int, alpha: float = 0.05) -> Plan:
        """The design, looks, maximum, stopping level and budget share of one hypothesis."""
        design = self.design_of(spec)
        declared_futility = getattr(spec, "futility", None)
        futility = self.futility if declared_futility is None else (declared_futility or None)
        family = 1 if self.correction == "none" else max(1, self.hypotheses)
        declared = (spec.max_samples if spec is not None and spec.max_samples else None) or self.max_samples
        if design == "group":
            maximum = declared or group_maximum(fixed_samples, self.looks, alpha=alpha)
        else:
            maximum = declared or default_maximum(fixed_samples)
        share = None
        if self.budget is not None and self.budget.samples is not None:
            share = max(1, self.budget.samples // max(1, self.hypotheses))
        limit = min(maximum, share) if share is not None else maximum
        deadline = None if self.budget is None or self.budget.seconds is None else self.started + self.budget.seconds
        if design == "group":
            # planned within the budget: a sample budget is known before the first sample, so the
            # looks end at the share and the last one is still a full test at its level
            count = max(1, min(self.looks, limit))
            planned = tuple(group_looks(limit, count))
            return Plan(batch=math.ceil(limit / count), max_samples=maximum, limit=limit, share=share,
                        deadline=deadline, family=family, futility=futility, design="group", planned=planned,
                        weights=look_weights(len(planned)))
        batch = (spec.batch if spec is not None and spec.batch else None) or self.batch
        return Plan(batch=min(batch, limit), max_samples=maximum, limit=limit, share=share, deadline=deadline,
                    family=family, futility=futility, design="anytime")

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "design": self.design, "looks": self.looks, "batch": self.batch,
                "max_samples": self.max_samples, "budget": None if self.budget is None else self.budget.to_dict(),
                "hypotheses": self.hypotheses, "futility": self.futility}


def default_maximum(fixed_samples: int) -> int:
    """The most samples an anytime test takes unless it says otherwise: :data:`MAX_MULTIPLE` × its fixed-n size.

    Why a multiple of the fixed n: an anytime-valid test pays for looking after every batch. Its
    boundary at N, W*_N·σ/N (Howard et al. 2021), first matches the fixed-n test's z·σ/√n at
    N ≈ 1.8·n for α/m = 0.05/20 — whatever σ and the effect, so no pilot sample can improve on it.
    That is the least for equal power; a bet on a bounded measure is further truncated by the
    bounds, and on low-variance measures far from them (saliency in [−2, 2] moving by 0.01) needs
    more. Measured on ``hypotheses/`` (benchmarks/results/sequential.md): 2 × lost 3 of the fixed
    design's 13 decisions, 4 × kept them. Futility stopping ends the undecided ones early, so the
    larger maximum is paid for only where the data still point to a decision.
    """
    return MAX_MULTIPLE * max(1, int(fixed_samples))


@dataclass(frozen=True)
class Plan:
    """One hypothesis's sequential design."""

    batch: int
    max_samples: int        # declared maximum
    limit: int              # samples it may really take: the maximum or its budget share, whichever is less
    share: int | None       # its share of a sample budget
    deadline: float | None  # time.monotonic() at which a time budget runs out
    family: int             # hypotheses sharing α: support stops the sampling at α / family
    futility: float | None = None  # γ of the design's futility rule (None: off)
    design: str = "anytime"
    planned: tuple[int, ...] = ()       # group design: the sample counts it looks at, the last = limit
    weights: tuple[float, ...] = ()     # group design: each look's share of α

    def alpha_stop(self, alpha: float) -> float:
        return alpha / self.family

    def reason_at_limit(self) -> str:
        return "budget" if self.share is not None and self.share < self.max_samples else "max_samples"

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "batch": self.batch, "max_samples": self.max_samples, "limit": self.limit,
                "budget_share": self.share, "time_budget": self.deadline is not None, "family": self.family,
                "futility": self.futility, "planned_looks": list(self.planned), "look_weights": list(self.weights)}


@dataclass
class StopRule:
    """The ``stop`` callback handed to ``counterfactual``: decide after each batch, remember why it stopped.

    ``looks`` are the sample counts judged so far: every batch's n (anytime), or the planned looks
    the samples have reached (group). :func:`judge` recomputes the verdict at exactly these.
    """

    claim: Any
    plan: Plan
    alpha: float
    seed: int = 0           # the hypothesis seed: the group design's resamples at each look
    clock: Callable[[], float] = time.monotonic
    reason: str | None = None
    looks: list[int] = field(default_factory=list)

    def __call__(self, result: Any) -> bool:
        n = int(result.n)
        refuse_clustered(self.claim, result)
        decided = self._group_look(result, n) if self.plan.design == "group" else self._anytime_look(result, n)
        if decided is not None:
            self.reason = decided
            return True
        if n >= self.plan.limit:
            self.reason = self.plan.reason_at_limit()
            return True
        if self.plan.deadline is not None and self.clock() >= self.plan.deadline:
            self.reason = "budget"
            return True
        return False

    def _anytime_look(self, result: Any, n: int) -> str | None:
        values, covariate = units_of(result, final=n >= self.plan.limit)
        if not len(values) or (self.looks and len(values) == self.looks[-1]):
            return None  # no episode completed in this batch: nothing new to look at
        self.looks.append(len(values))
        outcome = sequential_assess(self.claim, values, looks=self.looks, bounds=_bounds(result),
                                    covariate=covariate, alpha_stop=self.plan.alpha_stop(self.alpha),
                                    sequence=False, max_samples=max(unit_limit(result, self.plan.limit), len(values)),
                                    futility=self.plan.futility)
        if outcome.looks[-1].decision not in (CONTINUE, "INCONCLUSIVE"):
            return "decided"
        return "futility" if outcome.stopped == "futility" else None

    def _group_look(self, result: Any, n: int) -> str | None:
        """Judge the planned looks the units reached; the last planned look always ends the run."""
        values, covariate = units_of(result, final=n >= self.plan.limit)
        planned = planned_units(self.plan, result)
        reached = [k for k in planned if k <= len(values)]
        if not reached or reached == self.looks:
            return None
        self.looks = reached
        if reached[-1] == planned[-1]:
            return "max_samples"         # judge() runs the last look's fixed-n test and says what it decided
        outcome = group_sequential_assess(self.claim, values, looks=reached, maximum=planned[-1],
                                          seed=self.seed, bounds=_bounds(result), covariate=covariate,
                                          alpha_stop=self.plan.alpha_stop(self.alpha),
                                          planned_looks=len(planned), futility=self.plan.futility)
        if outcome.stopped == "futility":
            return "futility"
        return "decided" if outcome.looks[-1].decision not in (CONTINUE, "INCONCLUSIVE") else None


def units_of(result: Any, *, final: bool) -> tuple[np.ndarray, Any]:
    """The values (and covariate) a sequential test sees: each sample when samples are independent.

    With several states per episode (``States(per_episode=k)``, clustered) the units are episodes:
    each episode's mean over its states, in the order the episodes came. Those means are independent
    and identically distributed, as a sequential test needs, and a mean never changes once looked
    at: while the run goes on (``final`` false) the newest episode counts only once it holds its k
    states (the states of one episode arrive together, episodes in order).
    """
    clusters = getattr(result, "clusters", None)
    values = np.asarray(result.values, dtype=float)
    if clusters is None:
        return values, getattr(result, "covariate", None)
    _, first, inverse = np.unique(np.asarray(clusters), return_index=True, return_inverse=True)
    slot = np.argsort(np.argsort(first))[inverse]  # each sample's episode, numbered in arrival order
    counts = np.bincount(slot)
    means = np.bincount(slot, weights=values) / counts
    if not final and counts[-1] < result.design.states.per_episode:
        means = means[:-1]
    return means, None


def on_episode_means(result: Any) -> bool:
    """Whether a run's sequential test sees episode means (several states per episode, clustered)."""
    return getattr(result, "clusters", None) is not None


def unit_limit(result: Any, limit: int) -> int:
    """The most units a run may give: its sample limit, or the episodes that many states fill."""
    if not on_episode_means(result):
        return limit
    return math.ceil(limit / result.design.states.per_episode)


def planned_units(plan: Plan, result: Any) -> tuple[int, ...]:
    """The group design's looks in the run's units: its planned sample counts, or with several states per
    episode as many looks equally spaced up to the episodes its sample limit fills (each look then tests
    episode means, as the anytime design does)."""
    if not on_episode_means(result):
        return plan.planned
    episodes = unit_limit(result, plan.limit)
    return tuple(group_looks(episodes, max(1, min(len(plan.planned), episodes))))


def plan_record(plan: Plan, result: Any) -> dict[str, Any]:
    """The plan as the JSON records it, in the units its looks count: ``limit`` stays in samples (a budget
    counts samples), ``unit_limit`` and ``planned_looks`` are episodes when the units are episode means."""
    return {**plan.to_dict(), "unit": "episodes" if on_episode_means(result) else "samples",
            "unit_limit": unit_limit(result, plan.limit),
            "planned_looks": list(planned_units(plan, result)) if plan.design == "group" else []}


def refuse_clustered(claim: Any, result: Any) -> None:
    """Several states per episode are judged on episode means; a correlation of episode means is another claim."""
    if not on_episode_means(result) or claim.kind != "correlation":
        return
    raise HypothesisDeclarationError(
        f"a sequential correlation claim needs one state per episode, but this design takes several "
        f"({result.design.states.describe()}): a correlation of episode means is another claim. Use the "
        "default design, or sequential=False (then the fixed-n test is clustered by episode).")


def _bounds(result: Any) -> tuple[float, float] | None:
    bounds = getattr(result, "bounds", None)
    return tuple(bounds) if bounds is not None else None


def judge(claim: Any, result: Any, plan: Plan, alpha: float, rule: StopRule | None, seed: int | None = None):
    """The sequential verdict of a finished run: the same looks the run stopped at, recomputed from its values.

    ``seed`` (default: the stop rule's) drives the group design's resamples at each look, as it
    drives the fixed design's; the same seed as the stop rule's gives the decisions that stopped the run.
    """
    refuse_clustered(claim, result)
    if plan.design == "group":
        return _as_episodes(result, _judge_group(claim, result, plan, alpha, rule, seed))
    values, covariate = units_of(result, final=True)
    looks = list(rule.looks) if rule is not None and rule.looks else [len(values)]
    reason = (rule.reason if rule is not None and rule.reason in ("max_samples", "budget") else
              plan.reason_at_limit())
    judged = sequential_assess(claim, values, looks=looks, bounds=_bounds(result), covariate=covariate,
                               alpha_stop=plan.alpha_stop(alpha), final_reason=reason,
                               max_samples=max(unit_limit(result, plan.limit), looks[-1]), futility=plan.futility)
    return _as_episodes(result, judged)


def _as_episodes(result: Any, judged: Any) -> Any:
    """A verdict on episode means records that its n values are episodes (its explanation then says so)."""
    if not on_episode_means(result):
        return judged
    return dataclasses.replace(judged, verdict=dataclasses.replace(judged.verdict, clusters=judged.verdict.n))


def _judge_group(claim: Any, result: Any, plan: Plan, alpha: float, rule: StopRule | None, seed: int | None):
    seed = seed if seed is not None else (rule.seed if rule is not None else 0)
    values, covariate = units_of(result, final=True)
    planned = planned_units(plan, result)
    looks = list(rule.looks) if rule is not None and rule.looks else [k for k in planned if k <= len(values)]
    if not looks:
        unit = "episodes" if on_episode_means(result) else "samples"
        raise HypothesisDeclarationError(
            f"the run ended after {len(values)} {unit}, before the group design's first planned look at "
            f"{planned[0]}; it cannot be judged. Give the hypothesis more samples or budget, or use "
            "--cfsal-design anytime.")
    final_reason = rule.reason if rule is not None and rule.reason == "budget" else "max_samples"
    planned_maximum = plan.max_samples if plan.reason_at_limit() == "budget" else None
    if planned_maximum is not None and on_episode_means(result):
        planned_maximum = unit_limit(result, planned_maximum)
    return group_sequential_assess(claim, values, looks=looks, maximum=planned[-1], seed=seed,
                                   bounds=_bounds(result), covariate=covariate,
                                   alpha_stop=plan.alpha_stop(alpha), planned_looks=len(planned),
                                   final_reason=final_reason, futility=plan.futility,
                                   planned_maximum=planned_maximum)
