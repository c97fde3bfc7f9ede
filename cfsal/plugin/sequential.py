"""Sequential verdicts in a pytest session: which hypotheses run sequentially, their looks, and the budget.

The statistics are :func:`cfsal.stats.sequential_assess`; the batches come from
:func:`cfsal.rollout.counterfactual` (``batch=``, ``stop=``). This module holds what sits between
them in a session, with no pytest import:

* **Settings**: ``--cfsal-sequential`` (or the ``cfsal_sequential`` ini key) turns the mode on for
  every hypothesis that does not say ``sequential=False``; ``--cfsal-batch`` and
  ``--cfsal-max-samples`` are the defaults for ``batch=`` / ``max_samples=``.
* **Maximum and futility**: by default a hypothesis may take :func:`default_maximum` samples (4 ×
  its fixed-n ``samples``), and stops *undecided* as soon as no decision is still expected by that
  maximum (:func:`cfsal.stats.sequential.futility_check`, γ = :data:`DEFAULT_FUTILITY`). Futility
  stops never add a SUPPORTED: the false-support guarantee is that of the stopping rule alone.
* **Multiple testing**: a session of m hypotheses stops a test for support only at α/m. Holm's
  first step and e-BH's largest threshold are both α/m, so a support that ended the sampling is
  never undone by the correction across the session (docs/sequential.md).
* **Budget** (``--cfsal-budget``): ``N`` paired samples for the whole session, split evenly over its
  m hypotheses (⌊N/m⌋ each, never more than a hypothesis's own maximum) so that every verdict is
  the same serially and under ``pytest -n``; or ``Ns`` / ``Nm`` seconds of wall time from the start
  of the session (per process; not reproducible by nature). A hypothesis whose share runs out
  before its test decides is INCONCLUSIVE, and its explanation says the budget ran out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cfsal.errors import HypothesisDeclarationError

DEFAULT_BATCH = 10
#: γ of the futility rule: a (1 − γ) confidence sequence decides whether a decision is still expected.
DEFAULT_FUTILITY = 0.1
#: The default maximum is this multiple of the fixed-n sample size (:func:`default_maximum`).
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
    """``"2000"`` → 2000 paired samples; ``"600s"``, ``"10m"`` → seconds; ``None``/``""`` → no budget."""
    if text is None or str(text).strip() == "":
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*", str(text))
    if not match or (match.group(2) is None and "." in match.group(1)):
        raise HypothesisDeclarationError(
            f"--cfsal-budget={text!r}: give a whole number of paired samples for the session (e.g. 2000), "
            "or a time with a unit: 600s, 10m, 1h.")
    number, unit = match.groups()
    if unit is None:
        if int(number) < 1:
            raise HypothesisDeclarationError(f"--cfsal-budget={text!r}: the budget must be at least 1 sample.")
        return Budget(samples=int(number))
    return Budget(seconds=float(number) * {"s": 1, "m": 60, "h": 3600}[unit])


@dataclass
class SequentialSession:
    """Sequential settings of one session, and how many hypotheses share its α and its budget."""

    enabled: bool = False
    batch: int = DEFAULT_BATCH
    max_samples: int | None = None    # None: default_maximum(), MAX_MULTIPLE × the fixed-n size
    budget: Budget | None = None
    correction: str = "holm"
    hypotheses: int = 1               # set once collection is final
    futility: float | None = DEFAULT_FUTILITY   # None turns futility stopping off
    started: float = field(default_factory=time.monotonic)

    def applies_to(self, spec: Any) -> bool:
        return self.enabled if spec is None or spec.sequential is None else bool(spec.sequential)

    def plan(self, spec: Any, fixed_samples: int) -> Plan:
        """The batch, maximum, stopping level and budget share of one hypothesis."""
        batch = (spec.batch if spec is not None and spec.batch else None) or self.batch
        family = 1 if self.correction == "none" else max(1, self.hypotheses)
        maximum = (spec.max_samples if spec is not None and spec.max_samples else None) or self.max_samples \
            or default_maximum(fixed_samples)
        share = None
        if self.budget is not None and self.budget.samples is not None:
            share = max(1, self.budget.samples // max(1, self.hypotheses))
        limit = min(maximum, share) if share is not None else maximum
        return Plan(batch=min(batch, limit), max_samples=maximum, limit=limit,
                    share=share, deadline=None if self.budget is None or self.budget.seconds is None
                    else self.started + self.budget.seconds,
                    family=family, futility=self.futility)

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "batch": self.batch, "max_samples": self.max_samples,
                "budget": None if self.budget is None else self.budget.to_dict(), "hypotheses": self.hypotheses,
                "futility": self.futility}


def default_maximum(fixed_samples: int) -> int:
    """The most samples a hypothesis takes unless it says otherwise: :data:`MAX_MULTIPLE` × its fixed-n size.

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
    futility: float | None = None  # γ of the futility rule (None: off)

    def alpha_stop(self, alpha: float) -> float:
        return alpha / self.family

    def reason_at_limit(self) -> str:
        return "budget" if self.share is not None and self.share < self.max_samples else "max_samples"

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "max_samples": self.max_samples, "limit": self.limit,
                "budget_share": self.share, "time_budget": self.deadline is not None, "family": self.family,
                "futility": self.futility}


@dataclass
class StopRule:
    """The ``stop`` callback handed to ``counterfactual``: decide after each batch, remember why it stopped."""

    claim: Any
    plan: Plan
    alpha: float
    clock: Callable[[], float] = time.monotonic
    reason: str | None = None
    looks: list[int] = field(default_factory=list)

    def __call__(self, result: Any) -> bool:
        from cfsal.stats.sequential import CONTINUE, sequential_assess

        n = int(result.n)
        self.looks.append(n)
        outcome = sequential_assess(self.claim, result.values, looks=self.looks, bounds=_bounds(result),
                                    covariate=getattr(result, "covariate", None),
                                    alpha_stop=self.plan.alpha_stop(self.alpha), sequence=False,
                                    max_samples=max(self.plan.limit, n), futility=self.plan.futility)
        if outcome.looks[-1].decision not in (CONTINUE, "INCONCLUSIVE"):
            self.reason = "decided"
            return True
        if outcome.stopped == "futility":
            self.reason = "futility"
            return True
        if n >= self.plan.limit:
            self.reason = self.plan.reason_at_limit()
            return True
        if self.plan.deadline is not None and self.clock() >= self.plan.deadline:
            self.reason = "budget"
            return True
        return False


def _bounds(result: Any) -> tuple[float, float] | None:
    bounds = getattr(result, "bounds", None)
    return tuple(bounds) if bounds is not None else None


def judge(claim: Any, result: Any, plan: Plan, alpha: float, rule: StopRule | None):
    """The sequential verdict of a finished run: the same looks the run stopped at, recomputed from its values."""
    from cfsal.stats.sequential import sequential_assess

    looks = list(rule.looks) if rule is not None and rule.looks else [int(result.n)]
    reason = (rule.reason if rule is not None and rule.reason in ("max_samples", "budget") else
              plan.reason_at_limit())
    return sequential_assess(claim, result.values, looks=looks, bounds=_bounds(result),
                             covariate=getattr(result, "covariate", None), alpha_stop=plan.alpha_stop(alpha),
                             final_reason=reason, max_samples=max(plan.limit, looks[-1]), futility=plan.futility)
