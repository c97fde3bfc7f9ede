"""Sequential verdicts in a pytest session: which hypotheses run sequentially, their looks, and the budget.

The statistics are :func:`cfsal.stats.sequential_assess`; the batches come from
:func:`cfsal.rollout.counterfactual` (``batch=``, ``stop=``). This module holds what sits between
them in a session, with no pytest import:

* **Settings**: ``--cfsal-sequential`` (or the ``cfsal_sequential`` ini key) turns the mode on for
  every hypothesis that does not say ``sequential=False``; ``--cfsal-batch`` and
  ``--cfsal-max-samples`` are the defaults for ``batch=`` / ``max_samples=``.
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
DEFAULT_MAX_SAMPLES = 200


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
    max_samples: int | None = None    # None: max(DEFAULT_MAX_SAMPLES, 2 × the fixed-n sample size)
    budget: Budget | None = None
    correction: str = "holm"
    hypotheses: int = 1               # set once collection is final
    started: float = field(default_factory=time.monotonic)

    def applies_to(self, spec: Any) -> bool:
        return self.enabled if spec is None or spec.sequential is None else bool(spec.sequential)

    def plan(self, spec: Any, fixed_samples: int) -> Plan:
        """The batch, maximum, stopping level and budget share of one hypothesis."""
        batch = (spec.batch if spec is not None and spec.batch else None) or self.batch
        maximum = (spec.max_samples if spec is not None and spec.max_samples else None) or self.max_samples \
            or max(DEFAULT_MAX_SAMPLES, 2 * fixed_samples)
        share = None
        if self.budget is not None and self.budget.samples is not None:
            share = max(1, self.budget.samples // max(1, self.hypotheses))
        limit = min(maximum, share) if share is not None else maximum
        return Plan(batch=min(batch, limit), max_samples=maximum, limit=limit,
                    share=share, deadline=None if self.budget is None or self.budget.seconds is None
                    else self.started + self.budget.seconds,
                    family=1 if self.correction == "none" else max(1, self.hypotheses))

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "batch": self.batch, "max_samples": self.max_samples,
                "budget": None if self.budget is None else self.budget.to_dict(), "hypotheses": self.hypotheses}


@dataclass(frozen=True)
class Plan:
    """One hypothesis's sequential design."""

    batch: int
    max_samples: int        # declared maximum
    limit: int              # samples it may really take: the maximum or its budget share, whichever is less
    share: int | None       # its share of a sample budget
    deadline: float | None  # time.monotonic() at which a time budget runs out
    family: int             # hypotheses sharing α: support stops the sampling at α / family

    def alpha_stop(self, alpha: float) -> float:
        return alpha / self.family

    def reason_at_limit(self) -> str:
        return "budget" if self.share is not None and self.share < self.max_samples else "max_samples"

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "max_samples": self.max_samples, "limit": self.limit,
                "budget_share": self.share, "time_budget": self.deadline is not None, "family": self.family}


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
                                    alpha_stop=self.plan.alpha_stop(self.alpha))
        if outcome.looks[-1].decision not in (CONTINUE, "INCONCLUSIVE"):
            self.reason = "decided"
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
                             final_reason=reason)
