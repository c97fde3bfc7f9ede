"""The verdict on one claim, as data: the outcome, every number behind it, why, and by which test.

``reason`` (why this outcome) and ``method`` (the test behind the p-value) are fields, so nothing
needs to be read back out of a sentence. The explanation is rendered from the fields by
:func:`cfsal.stats.explain.explain` whenever a verdict is shown or written, and never stored.
The rules that produce verdicts are in :mod:`cfsal.stats.fixed_n`, :mod:`cfsal.stats.sequential`
and :mod:`cfsal.stats.group_sequential`; :func:`cfsal.stats.adjust` corrects them for multiple testing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from cfsal.errors import StatisticsError, check_schema_version
from cfsal.stats.claim import Claim, Outcome
from cfsal.stats.explain import explain
from cfsal.stats.multiple import Correction

SCHEMA_VERSION = 1

#: Why a verdict has its outcome.
Reason = Literal[
    "significant",      # the test of the claim succeeded: SUPPORTED
    "equivalent",       # equivalence within ±margin: REFUTED, no effect worth the name
    "opposite",         # a significant change the other way: REFUTED
    "outside_margin",   # a no-effect claim's interval lies beyond ±margin: REFUTED
    "neither",          # no test decided: INCONCLUSIVE
    "too_few",          # too few samples for any test: INCONCLUSIVE
    "constant",         # a correlation with a measure that never varies: INCONCLUSIVE
    "few_clusters",     # too few episodes for inference by episode: INCONCLUSIVE
]
#: The test behind a verdict's p-value (with ``clusters`` set, run on episodes instead of samples).
Method = Literal[
    "paired",                # sign-flip permutation and bootstrap-t, the larger p (effect, direction)
    "minimum-effect",        # the paired test against |effect| ≤ margin (effect, direction with a margin)
    "tost",                  # two one-sided tests within ±margin (no_effect)
    "pearson", "spearman",   # permutation test of r or ρ (correlation)
    "none",                  # too few samples or episodes: no test ran
    "betting", "asymptotic", "correlation-mixture",   # anytime-valid sequential tests
]
#: Why a sequential test stopped sampling.
Stopped = Literal["decided", "max_samples", "budget", "futility"]
#: Where a group-sequential test ended: an early decision, a futility stop, its last planned look, or
#: ``short`` of the last look (a budget ran out first).
GroupEnd = Literal["early", "futility", "last", "short"]


def json_float(value: float | None) -> float | str | None:
    """JSON-safe float: non-finite values as the strings 'nan', 'inf', '-inf' (strict JSON has none)."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def float_from_json(value: float | str | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Adjustment:
    """The multiple-testing correction a verdict was re-decided under (:func:`cfsal.stats.adjust`)."""

    method: Correction   # "holm", "bh" or "none"
    hypotheses: int      # how many verdicts were corrected together (one session)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "hypotheses": self.hypotheses}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Adjustment:
        return cls(data["method"], int(data["hypotheses"]))


@dataclass(frozen=True, kw_only=True)
class AnytimeStop:
    """How an anytime-valid sequential test (:func:`cfsal.stats.sequential_assess`) ended."""

    design: ClassVar[str] = "anytime"
    stopped: Stopped
    looks: int                 # looks taken
    maximum: int               # the most samples it planned for
    futility: float | None     # γ of the futility rule, None when it was off

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "stopped": self.stopped, "looks": self.looks, "maximum": self.maximum,
                "futility": self.futility}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnytimeStop:
        return cls(stopped=data["stopped"], looks=int(data["looks"]), maximum=int(data["maximum"]),
                   futility=float_from_json(data["futility"]))


@dataclass(frozen=True)
class GroupFutility:
    """What the futility rule found at an early look: for each decision the claim allows, the chance
    that the last look makes it, given the data so far and an optimistic true mean."""

    chances: dict[str, float]   # "support", "equivalent", "opposite", "beyond the margin" → probability
    gamma: float
    maximum: int                        # the last look's sample count
    unreachable: tuple[str, ...] = ()   # decisions no data of that size could reach

    @property
    def futile(self) -> bool:
        return bool(self.chances) and all(p < self.gamma for p in self.chances.values())

    def to_dict(self) -> dict[str, Any]:
        return {"chances": [[name, json_float(p)] for name, p in self.chances.items()], "gamma": self.gamma,
                "maximum": self.maximum, "unreachable": list(self.unreachable)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupFutility:
        return cls({name: float(p) for name, p in data["chances"]}, float(data["gamma"]), int(data["maximum"]),
                   tuple(data["unreachable"]))


@dataclass(frozen=True, kw_only=True)
class GroupStop:
    """How a group-sequential test (:func:`cfsal.stats.group_sequential_assess`) ended, with the
    fixed-n verdict of the look it ended at (its test at that look's share of α)."""

    design: ClassVar[str] = "group"
    end: GroupEnd
    look: int                   # looks taken
    looks: int                  # looks planned
    maximum: int                # samples planned at the last look
    weight: float               # the share of α of the look it ended at
    alpha_stop: float           # the level at which support stops the sampling
    look_verdict: Verdict
    final_reason: Stopped | None = None     # end "short": why the run ended before its last look
    futility: GroupFutility | None = None   # end "futility": what the rule found
    planned_maximum: int | None = None      # the maximum it would have planned had a session's sample
                                            # budget not set it to its share, ``maximum``

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "end": self.end, "look": self.look, "looks": self.looks,
                "maximum": self.maximum, "weight": self.weight, "alpha_stop": self.alpha_stop,
                "look_verdict": self.look_verdict.to_dict(), "final_reason": self.final_reason,
                "futility": None if self.futility is None else self.futility.to_dict(),
                "planned_maximum": self.planned_maximum}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupStop:
        futility = data["futility"]
        return cls(end=data["end"], look=int(data["look"]), looks=int(data["looks"]),
                   maximum=int(data["maximum"]), weight=float(data["weight"]),
                   alpha_stop=float(data["alpha_stop"]), look_verdict=Verdict.from_dict(data["look_verdict"]),
                   final_reason=data["final_reason"],
                   futility=None if futility is None else GroupFutility.from_dict(futility),
                   planned_maximum=data["planned_maximum"])


def _sequential_from_dict(data: dict[str, Any] | None) -> AnytimeStop | GroupStop | None:
    if data is None:
        return None
    return AnytimeStop.from_dict(data) if data["design"] == "anytime" else GroupStop.from_dict(data)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome of testing one claim, with every number behind it; :attr:`explanation` says why in words."""

    outcome: Outcome
    claim: Claim
    reason: Reason
    method: Method
    effect: float                 # mean paired difference (intervened − factual), or r
    ci_low: float
    ci_high: float
    confidence: float             # 1 − α (effect, direction, correlation) or 1 − 2α (no_effect)
    p_value: float                # raw p of the test for the claim
    n: int
    test: str                     # the tests as they describe themselves: resamples, exact or not, margins
    equivalence_p: float | None = None   # TOST p when a margin is declared
    opposite_p: float | None = None      # one-sided claims: p of the test in the opposite direction
    samples_needed: int | None = None    # INCONCLUSIVE only: rough n for 80% power
    clusters: int | None = None   # episodes behind the samples when inference was clustered by episode
    p_adjusted: float | None = None          # after multiple-testing correction (None before adjust())
    correction: Adjustment | None = None     # the correction behind p_adjusted
    sequential: AnytimeStop | GroupStop | None = None   # how a sequential design stopped (None: fixed n)

    @property
    def explanation(self) -> str:
        """Why this outcome, in a paragraph a researcher reads (rendered from the fields, never stored)."""
        return explain(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "outcome": self.outcome,
            "claim": self.claim.to_dict(),
            "effect": json_float(self.effect),
            "ci_low": json_float(self.ci_low),
            "ci_high": json_float(self.ci_high),
            "confidence": self.confidence,
            "p_value": json_float(self.p_value),
            "p_adjusted": json_float(self.p_adjusted),
            "n": self.n,
            "test": self.test,
            "equivalence_p": json_float(self.equivalence_p),
            "explanation": self.explanation,
            "samples_needed": self.samples_needed,
            "clusters": self.clusters,
            "reason": self.reason,
            "method": self.method,
            "opposite_p": json_float(self.opposite_p),
            "correction": None if self.correction is None else self.correction.to_dict(),
            "sequential": None if self.sequential is None else self.sequential.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Read :meth:`to_dict` back; ``explanation`` is not read, it is rendered again from the fields."""
        check_schema_version(data, SCHEMA_VERSION, "verdict", StatisticsError,
                             "re-run the hypotheses with this cfsal, or read the file with the cfsal that wrote it.")
        if "reason" not in data:
            raise StatisticsError(
                "this verdict was written by a cfsal whose verdicts did not yet record their reason and "
                "method, so it cannot be read back as a Verdict; its numbers and explanation are in the file "
                "as written. Re-run the hypotheses with this cfsal to get verdicts it can read."
            )
        correction = data.get("correction")
        return cls(
            outcome=data["outcome"], claim=Claim.from_dict(data["claim"]), reason=data["reason"],
            method=data["method"], effect=float_from_json(data["effect"]), ci_low=float_from_json(data["ci_low"]),
            ci_high=float_from_json(data["ci_high"]), confidence=float(data["confidence"]),
            p_value=float_from_json(data["p_value"]), n=int(data["n"]), test=data["test"],
            equivalence_p=float_from_json(data.get("equivalence_p")),
            opposite_p=float_from_json(data.get("opposite_p")),
            samples_needed=data.get("samples_needed"),
            clusters=data.get("clusters"),  # absent in files written before clustered inference
            p_adjusted=float_from_json(data.get("p_adjusted")),
            correction=None if correction is None else Adjustment.from_dict(correction),
            sequential=_sequential_from_dict(data.get("sequential")),
        )
