"""Group-sequential verdicts: a few planned looks, α split over them, the fixed-n test at the last one.

The anytime-valid design of :mod:`cfsal.stats.sequential` may look after every batch, but pays for
it: its boundary matches the fixed-n test's only at about 1.8 × the fixed n (for α/m = 0.05/20),
so at equal power it needs *more* rollouts than the fixed design (benchmarks/results/sequential.md).
A group-sequential design (Pocock 1977; O'Brien & Fleming 1979; Jennison & Turnbull 2000,
*Group Sequential Methods with Applications to Clinical Trials*) looks only at K sample sizes fixed
in advance, and so gives up almost nothing at the last look while still stopping clear cases early.

The design here is the Haybittle–Peto idea (Haybittle 1971, *Br. J. Radiol.* 44:793; Peto et al.
1976, *Br. J. Cancer* 34:585) made exact by Bonferroni over the looks (weighted Bonferroni,
Holm 1979 / Westfall & Krishen 2001):

* Looks at nₖ = k·N/K, k = 1..K, with the maximum N = :func:`group_maximum` (the fixed n times the
  factor that restores the fixed design's power at the last look's reduced level).
* Weights wₖ: the early looks share ``early_share`` ε of α equally, the last look keeps 1 − ε.
  Equal early weights (not O'Brien–Fleming's vanishing ones) because the first look has few
  samples, where a t-test needs a very large t for a tiny p: OBF's first-look level would be
  unreachable in practice and the look wasted.
* At an early look k the claim's test is the paired t-test (Fisher's z for correlations), and
  equivalence also needs the bounded-mean betting test when the measure's bounds are known (as in
  the fixed-n TOST). Sampling stops for support when its p ≤ wₖ·α_stop, with α_stop = α/m in a
  session of m hypotheses (as the anytime design: a support that stopped the sampling survives
  Holm); for refutation when p ≤ wₖ·α.
* At the last look the fixed-n test of :func:`cfsal.stats.assess` (sign flip and bootstrap-t,
  bounded TOST, permutation correlation) runs at level w_K·α on all N samples.
* The reported p-value is min over the looks taken of pₖ / wₖ. Under the null every pₖ is valid at
  its own (planned) nₖ, so P(minₖ pₖ/wₖ ≤ u) ≤ Σ wₖ·u = u whatever the stopping: a valid p-value
  for Holm or BH across the session, and SUPPORTED exactly when it is below α. Stopping early
  without a decision (a budget) can only make the minimum larger.

The early looks' t-tests are asymptotic (exact for normal differences); they carry only ε·α/m of
the false-support risk, and the last look — where almost all of α sits — is the fixed design's own
test with its distribution-free guarantees. Measured calibration under this stopping, on the same
null rows as the anytime design, is in ``benchmarks/results/sequential.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats._validation import finite_vector, paired_vectors
from cfsal.stats.correlation import correlation_equivalence
from cfsal.stats.paired import bounded_mean_test
from cfsal.stats.sequential import CONTINUE, Look, SequentialResult, Stopped
from cfsal.stats.verdict import (
    INCONCLUSIVE,
    REFUTED,
    SUPPORTED,
    Claim,
    Verdict,
    _explain,
    _p,
    assess,
    assess_correlation,
)

#: Planned looks K (the last at the maximum).
DEFAULT_LOOKS = 3
#: Share ε of α spent on the early looks together; the last look keeps 1 − ε.
EARLY_SHARE = 0.2
#: No early look decides with fewer samples: a t-test's p from a handful of values means little.
MIN_EARLY_N = 8
#: The power at which :func:`group_maximum` matches the fixed design (the usual planning value).
PLANNING_POWER = 0.8
METHOD = "group-sequential"


def look_weights(looks: int, early_share: float = EARLY_SHARE) -> tuple[float, ...]:
    """Bonferroni weights of the K looks: ε/(K − 1) each for the early ones, 1 − ε for the last."""
    looks = _check_count(looks)
    if looks == 1:
        return (1.0,)
    if not 0 < early_share < 1:
        raise StatisticsError(f"early_share={early_share!r} must lie in (0, 1): the share of α the early looks "
                              "spend together (e.g. 0.2).")
    return (early_share / (looks - 1),) * (looks - 1) + (1.0 - early_share,)


def group_maximum(fixed_n: int, looks: int = DEFAULT_LOOKS, early_share: float = EARLY_SHARE,
                  alpha: float = 0.05, power: float = PLANNING_POWER) -> int:
    """The most samples a group-sequential test takes: the fixed n scaled to keep the fixed design's power.

    The last look tests at (1 − ε)·α instead of α; for a normal mean that needs
    ((z₁₋₍₁₋ε₎α/2 + z_power) / (z₁₋α/2 + z_power))² times the samples (1.07 for ε = 0.2, α = 0.05,
    power 0.8). The early looks only add power, so this is on the safe side. Rounded up to a
    multiple of K so that the looks are equally spaced.
    """
    fixed_n = max(1, int(fixed_n))
    looks = _check_count(looks)
    last = look_weights(looks, early_share)[-1]
    z_power = stats.norm.ppf(power)
    ratio = ((stats.norm.ppf(1 - last * alpha / 2) + z_power) / (stats.norm.ppf(1 - alpha / 2) + z_power)) ** 2
    maximum = math.ceil(ratio * fixed_n - 1e-9)
    return looks * math.ceil(maximum / looks)


def group_looks(maximum: int, looks: int = DEFAULT_LOOKS) -> list[int]:
    """The planned sample counts n₁ < … < n_K = maximum (equally spaced, rounded up)."""
    looks = _check_count(looks)
    if maximum < looks:
        raise StatisticsError(f"max_samples={maximum} is below the number of looks {looks}; every look needs "
                              "at least one new sample.")
    return sorted({math.ceil(maximum * k / looks) for k in range(1, looks + 1)})


def _check_count(looks: Any) -> int:
    if isinstance(looks, bool) or not isinstance(looks, (int, np.integer)) or looks < 1:
        raise StatisticsError(f"looks={looks!r} must be a whole number ≥ 1 (e.g. 3 planned looks).")
    return int(looks)


# ----------------------------------------------------------------------------------- the early looks

def _t_sides(x: np.ndarray, theta: float) -> tuple[float, float]:
    """One-sided paired-t p-values (mean > θ, mean < θ); zero spread decides by the mean alone."""
    mean = float(np.mean(x))
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    if not sd > 1e-12 * max(1.0, abs(mean)):
        return (0.0 if mean > theta else 1.0), (0.0 if mean < theta else 1.0)
    t = (mean - theta) / (sd / math.sqrt(x.size))
    df = x.size - 1
    return float(stats.t.sf(t, df)), float(stats.t.cdf(t, df))


@dataclasses.dataclass(frozen=True)
class _Tests:
    """The p-values of one early look: the claim's, and those that would refute it."""

    support: float
    equivalence: float | None = None   # claims with a margin (the no_effect claim's support is this too)
    opposite: float | None = None      # direction claims: the other side at 0; no_effect: beyond the margin
    estimate: float = math.nan
    half_width: tuple[float, float] = (math.inf, math.inf)   # below/above the estimate, at the look's level


def _mean_tests(claim: Claim, x: np.ndarray, bounds: tuple[float, float] | None, level: float) -> _Tests:
    margin, alt = claim.margin, claim.alternative
    theta0 = margin if margin is not None else 0.0
    if claim.kind == "no_effect":
        support = _equivalence_p(x, float(margin), bounds, level)
        above, below = _t_sides(x, margin)[0], _t_sides(x, -margin)[1]
        return _Tests(support, support, min(above, below), float(np.mean(x)), _t_half(x, level))
    if alt == "two-sided":
        support = min(1.0, 2 * min(_t_sides(x, theta0)[0], _t_sides(x, -theta0)[1]))
    elif alt == "greater":
        support = _t_sides(x, theta0)[0]
    else:
        support = _t_sides(x, -theta0)[1]
    opposite = None
    if claim.kind == "direction":
        opposite = _t_sides(x, 0.0)[1] if alt == "greater" else _t_sides(x, 0.0)[0]
    equivalence = _equivalence_p(x, float(margin), bounds, level) if margin is not None else None
    return _Tests(support, equivalence, opposite, float(np.mean(x)), _t_half(x, level))


def _equivalence_p(x: np.ndarray, margin: float, bounds: tuple[float, float] | None, level: float) -> float:
    """TOST p of −margin < mean < margin: paired t, and the betting test when the bounds are known."""
    lower, upper = _t_sides(x, -margin)[0], _t_sides(x, margin)[1]
    if bounds is not None:
        lower = max(lower, bounded_mean_test(x, -margin, bounds, alternative="greater", alpha=level))
        upper = max(upper, bounded_mean_test(x, margin, bounds, alternative="less", alpha=level))
    return max(lower, upper)


def _t_half(x: np.ndarray, level: float) -> tuple[float, float]:
    if x.size < 2:
        return (math.inf, math.inf)
    half = float(stats.t.ppf(1 - level / 2, x.size - 1) * np.std(x, ddof=1) / math.sqrt(x.size))
    return (half, half)


def _correlation_tests(claim: Claim, a: np.ndarray, b: np.ndarray, level: float) -> _Tests:
    """Pearson r with Fisher's z: under independence atanh(r)·√(n − 3) is close to N(0, 1) for any margins."""
    n = a.size
    if n < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return _Tests(1.0, None, None, math.nan)
    r = float(np.clip(np.corrcoef(a, b)[0, 1], -1 + 1e-15, 1 - 1e-15))
    z = math.atanh(r) * math.sqrt(n - 3)
    greater, less = float(stats.norm.sf(z)), float(stats.norm.cdf(z))
    support = {"two-sided": min(1.0, 2 * min(greater, less)), "greater": greater, "less": less}[claim.alternative]
    opposite = {"greater": less, "less": greater}.get(claim.alternative)
    equivalence = correlation_equivalence(r, n, claim.margin) if claim.margin is not None else None
    k = stats.norm.ppf(1 - level / 2) / math.sqrt(n - 3)
    low, high = math.tanh(math.atanh(r) - k), math.tanh(math.atanh(r) + k)
    return _Tests(support, equivalence, opposite, r, (r - low, high - r))


# ------------------------------------------------------------------------------------------ the design

def group_sequential_assess(claim: Claim, values: ArrayLike, *, looks: Sequence[int], maximum: int,
                            seed: int | np.random.SeedSequence, bounds: tuple[float, float] | None = None,
                            covariate: ArrayLike | None = None, alpha_stop: float | None = None,
                            planned_looks: int = DEFAULT_LOOKS, early_share: float = EARLY_SHARE,
                            final_reason: Stopped = "max_samples") -> SequentialResult:
    """Judge ``claim`` at the planned looks reached so far (``looks``, each one of :func:`group_looks`).

    ``maximum`` is the planned N (its looks are ``group_looks(maximum, planned_looks)``); ``looks``
    are the ones the run has reached, in order — the data beyond the last are ignored. ``seed``
    drives the fixed-n test at the last look (its resamples), as the fixed design's seed does.
    If the run ends before the last planned look without a decision (a budget), the verdict is
    INCONCLUSIVE with ``final_reason``. Deterministic: the same values, looks and seed give the
    same result.
    """
    alpha = claim.alpha
    alpha_stop = alpha if alpha_stop is None else float(alpha_stop)
    if not 0 < alpha_stop <= alpha:
        raise StatisticsError(f"alpha_stop={alpha_stop!r} must lie in (0, alpha={alpha}]: it is the (stricter) "
                              "level at which support stops the sampling.")
    plan = group_looks(int(maximum), planned_looks)
    weights = look_weights(len(plan), early_share)
    reached = sorted({int(n) for n in looks})
    if not reached or any(n not in plan for n in reached):
        raise StatisticsError(f"looks={list(looks)!r}: a group-sequential test looks only at its planned sample "
                              f"counts {plan} (max_samples={maximum}, {planned_looks} looks).")
    y = finite_vector(values, "values")
    x = None
    if claim.kind == "correlation":
        if covariate is None:
            raise StatisticsError("a correlation claim needs covariate= (the x of each pair) and values (the y).")
        x, y = paired_vectors(covariate, values)
    elif covariate is not None:
        raise StatisticsError(f"covariate= is for correlation claims; this claim is kind={claim.kind!r}.")
    if y.size < reached[-1]:
        raise StatisticsError(f"looks go up to n = {reached[-1]} but only {y.size} values were given.")
    bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))

    record: list[Look] = []
    p_support = p_equivalence = p_opposite = math.inf   # running min of p / w over the looks taken
    for k, n in enumerate(reached):
        index = plan.index(n)
        w = weights[index]
        if index == len(plan) - 1:
            return _last_look(claim, x, y[:n], bounds, seed, w, record, (p_support, p_equivalence, p_opposite),
                              alpha_stop, len(plan), early_share, plan)
        tests = (_correlation_tests(claim, x[:n], y[:n], w * alpha) if x is not None
                 else _mean_tests(claim, y[:n], bounds, w * alpha))
        decision = CONTINUE
        if n >= MIN_EARLY_N:
            p_support = min(p_support, tests.support / w)
            if tests.equivalence is not None:
                p_equivalence = min(p_equivalence, tests.equivalence / w)
            if tests.opposite is not None:
                p_opposite = min(p_opposite, tests.opposite / w)
            within_margin = (claim.kind != "no_effect" and tests.equivalence is not None
                             and tests.equivalence <= w * alpha)
            other_way = tests.opposite is not None and tests.opposite <= w * alpha
            if tests.support <= w * alpha_stop:
                decision = SUPPORTED
            elif within_margin or other_way:
                decision = REFUTED
        last_seen = k == len(reached) - 1
        shown = INCONCLUSIVE if (decision == CONTINUE and last_seen) else decision
        record.append(Look(n, tests.estimate, tests.estimate - tests.half_width[0],
                           tests.estimate + tests.half_width[1], min(1.0, p_support), shown))
        if decision != CONTINUE:
            return _early_result(claim, record, tests, decision, w, alpha_stop, len(plan), early_share, plan,
                                 p_support, p_equivalence)
    # the run ended before the last planned look without a decision: a budget ran out
    look = record[-1]
    confidence = 1 - weights[plan.index(look.n)] * alpha
    verdict = Verdict(INCONCLUSIVE, claim, look.estimate, look.ci_low, look.ci_high, confidence,
                      float(min(1.0, p_support)), None, look.n, _test_text(len(plan), early_share, plan),
                      None if not math.isfinite(p_equivalence) else float(min(1.0, p_equivalence)),
                      "", None)
    why = {"budget": "the session's budget ran out", "max_samples": "the data ran out",
           "decided": "the data ran out", "futility": "the run stopped"}[final_reason]
    explanation = (f"Not decided after {look.n} samples ({len(record)} of {len(plan)} planned looks): {why} "
                   f"before the last look (group-sequential p = {_p(verdict.p_value)}).")
    verdict = dataclasses.replace(verdict, explanation=explanation)
    return SequentialResult(verdict, tuple(record), final_reason, alpha_stop, METHOD, _thresholds(claim), None,
                            int(maximum))


def _thresholds(claim: Claim) -> tuple[float, ...]:
    margin = claim.margin
    return (0.0,) if margin is None else (-float(margin), 0.0, float(margin))


def _test_text(looks: int, early_share: float, plan: Sequence[int]) -> str:
    if looks == 1:
        return f"group-sequential with 1 look at n = {plan[-1]}: the fixed-n test"
    return (f"group-sequential: {looks} planned looks at n = {', '.join(map(str, plan))}; {early_share:.0%} of α "
            f"split over the early looks (paired t / Fisher z), the fixed-n test at the last (Bonferroni over looks)")


def _early_result(claim: Claim, record: list[Look], tests: _Tests, decision: str, w: float, alpha_stop: float,
                  looks: int, early_share: float, plan: Sequence[int], p_support: float,
                  p_equivalence: float) -> SequentialResult:
    look = record[-1]
    p_claim = float(min(1.0, p_support))
    verdict = Verdict(decision, claim, look.estimate, look.ci_low, look.ci_high, 1 - w * claim.alpha, p_claim,
                      None, look.n, _test_text(looks, early_share, plan),
                      None if not math.isfinite(p_equivalence) else float(min(1.0, p_equivalence)), "", None)
    at = f"at look {len(record)} of {looks} ({look.n} of at most {plan[-1]} samples)"
    what = "correlation" if claim.kind == "correlation" else "mean difference"
    if decision == SUPPORTED:
        text = (f"Decided {at}: the {what} {look.estimate:.3g} gives p = {_p(tests.support)} at this look, below its "
                f"share of α ({w:.3g} × {alpha_stop:.3g}), so sampling stopped; group-sequential p = {_p(p_claim)}.")
    elif tests.opposite is not None and tests.opposite <= w * claim.alpha:
        text = (f"Refuted {at}: the {what} {look.estimate:.3g} points the other way (p = {_p(tests.opposite)}, "
                f"below the look's level {w * claim.alpha:.3g}).")
    else:
        text = (f"Refuted {at}: the {what} {look.estimate:.3g} lies within ±{claim.margin:g} (equivalence "
                f"p = {_p(tests.equivalence)}, below the look's level {w * claim.alpha:.3g}).")
    verdict = dataclasses.replace(verdict, explanation=text)
    return SequentialResult(verdict, tuple(record), "decided", alpha_stop, METHOD, _thresholds(claim), None, plan[-1])


def _last_look(claim: Claim, x: np.ndarray | None, y: np.ndarray, bounds, seed, w: float, record: list[Look],
               early: tuple[float, float, float], alpha_stop: float, looks: int, early_share: float,
               plan: Sequence[int]) -> SequentialResult:
    """The fixed-n test on all samples at level w_K·α, combined with the early looks' evidence."""
    level_claim = dataclasses.replace(claim, alpha=w * claim.alpha)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]) if not isinstance(seed, np.random.SeedSequence)
                                else seed)
    fixed = (assess_correlation(level_claim, x, y, rng=rng) if x is not None
             else assess(level_claim, y, rng=rng, bounds=bounds))
    p_support = min(early[0], fixed.p_value / w)
    p_equivalence = min(early[1], fixed.equivalence_p / w if fixed.equivalence_p is not None else math.inf)
    p_claim = float(min(1.0, p_support))
    p_eq = None if not math.isfinite(p_equivalence) else float(min(1.0, p_equivalence))
    refuted_opposite = early[2] < claim.alpha
    if p_claim < claim.alpha:
        outcome, reason = SUPPORTED, "significant"
    elif fixed.outcome == REFUTED:
        outcome, reason = REFUTED, "fixed"          # the fixed-n test's own refutation, at level w_K·α
    elif claim.kind != "no_effect" and p_eq is not None and p_eq < claim.alpha:
        outcome, reason = REFUTED, "equivalent"
    elif refuted_opposite:
        outcome, reason = REFUTED, "outside_margin" if claim.kind == "no_effect" else "opposite"
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    verdict = dataclasses.replace(fixed, outcome=outcome, claim=claim, p_value=p_claim, equivalence_p=p_eq,
                                  samples_needed=fixed.samples_needed if outcome == INCONCLUSIVE else None,
                                  test=f"{_test_text(looks, early_share, plan)}; last look: {fixed.test}")
    base = fixed.explanation if reason == "fixed" else _explain(verdict, reason, opposite_p=min(1.0, early[2]))
    verdict = dataclasses.replace(verdict, explanation=(
        f"{base} (Last of {looks} planned looks, n = {y.size}: its fixed-n test ran at level {w:.3g} × α and the "
        f"group-sequential p = min over looks of p / weight.)"))
    record.append(Look(int(y.size), float(verdict.effect), float(verdict.ci_low), float(verdict.ci_high), p_claim,
                       outcome))
    return SequentialResult(verdict, tuple(record), "decided" if outcome != INCONCLUSIVE else "max_samples",
                            alpha_stop, METHOD, _thresholds(claim), None, plan[-1])
