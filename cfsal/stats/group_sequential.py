"""Group-sequential verdicts: a few planned looks, α split over them, the fixed-n test at each.

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
  samples, where an exact test cannot reach a tiny level at all: OBF's first-look level would be
  unreachable in practice and the look wasted.
* At every look k the claim's test is the fixed-n test of :func:`cfsal.stats.assess` (sign flip
  and bootstrap-t, minimum-effect and bounded TOST) or :func:`cfsal.stats.assess_correlation`
  (permutation), on the nₖ samples so far, at level wₖ·α. Sampling stops for support when its
  p ≤ wₖ·α_stop, with α_stop = α/m in a session of m hypotheses (as the anytime design: a support
  that stopped the sampling survives Holm); for refutation when the test refutes at wₖ·α.
* The reported p-value is min over the looks taken of pₖ / wₖ. Under the null every pₖ is valid at
  its own (planned) nₖ, so P(minₖ pₖ/wₖ ≤ u) ≤ Σ wₖ·u = u whatever the stopping: a valid p-value
  for Holm or BH across the session, and SUPPORTED exactly when it is below α. Stopping early
  without a decision (a budget) can only make the minimum larger.

Every look is the fixed design's own test, so the design inherits its guarantees (exact sign-flip
and permutation p-values, the bounded TOST's validity for every distribution on the bounds) at
each look. A first version used paired t / Fisher-z tests at the early looks; at n = 11 those
supported a correlation between independent exponential measures at 5 × their level, which is
why it does not. The price: an exact test needs enough samples to reach a small level at all
(2 / 2ⁿ for the two-sided sign flip: n ≥ 13 for 0.1 × 0.05 / 20), so in a large session the
first look of a small design rarely decides. Measured calibration under this stopping, on the
same null rows as the anytime design, is in ``benchmarks/results/sequential.md``.
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
from cfsal.stats.claim import INCONCLUSIVE, REFUTED, SUPPORTED, Claim
from cfsal.stats.fixed_n import assess, assess_correlation
from cfsal.stats.paired import DEFAULT_RESAMPLES, bounded_mean_test_floor
from cfsal.stats.sequential import CONTINUE, FUTILITY, Look, SequentialResult, check_futility, thresholds
from cfsal.stats.verdict import GroupFutility, GroupStop, Stopped, Verdict

#: Planned looks K (the last at the maximum).
DEFAULT_LOOKS = 3
#: Share ε of α spent on the early looks together; the last look keeps 1 − ε.
EARLY_SHARE = 0.2
#: No early look decides with fewer samples (an exact test could not reach a small level anyway).
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


# ------------------------------------------------------------------------------------------ one look

def _look_rng(seed: int | np.random.SeedSequence, index: int, last: bool) -> np.random.Generator:
    """The last look's resamples come from the fixed design's stream (so one look *is* the fixed test)."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed if last else np.random.SeedSequence(
            seed.entropy, spawn_key=(*seed.spawn_key, 2, index)))
    return np.random.default_rng(np.random.SeedSequence([int(seed), 1] if last else [int(seed), 2, index]))


def _fixed_test(claim: Claim, x: np.ndarray | None, y: np.ndarray, bounds, rng, level: float) -> Verdict:
    """The fixed-n verdict on these samples at ``level`` (the look's share of α)."""
    level_claim = dataclasses.replace(claim, alpha=level)
    if x is not None:
        return assess_correlation(level_claim, x, y, rng=rng)
    return assess(level_claim, y, rng=rng, bounds=bounds)


# ------------------------------------------------------------------------------------------ futility

def group_futility(claim: Claim, values: np.ndarray, covariate: np.ndarray | None, n: int, maximum: int,
                   level: float, bounds: tuple[float, float] | None, gamma: float = FUTILITY) -> GroupFutility:
    """Conditional power of every decision at the last look, at the optimistic end of a (1 − γ) bound.

    Stochastic curtailment (Lan, Simon & Halperin 1982; Jennison & Turnbull 2000, ch. 10): with
    the first ``n`` of ``maximum`` samples in hand, the chance that the last look's test (at
    ``level``, its share of α) makes a decision is that of the remaining samples carrying the
    statistic over its critical value — computed in the normal model with the current standard
    deviation, and with the true mean at the one-sided (1 − γ) confidence bound that favours that
    decision (not at the estimate: the current trend alone stops tests that are merely unlucky).
    A decision whose test cannot reach ``level`` with ``maximum`` samples at all — a bounded test's
    bets (:func:`~cfsal.stats.paired.bounded_mean_test_floor`), a sign flip's 2⁻ᴺ — has chance 0.

    The rule is non-binding: it only removes looks after which sampling would have continued, so no
    run that stops for futility could have been SUPPORTED earlier, and false support cannot rise.
    What it may cost is power, measured in ``benchmarks/results/sequential.md``.
    """
    y = values[:n]
    if claim.kind == "correlation":
        r = float(np.corrcoef(covariate[:n], y)[0, 1]) if n >= 4 else math.nan
        # Fisher's z: atanh(r) is about normal with SD 1/√(n − 3), so n − 3 units of SD 1
        estimate, sd, have, total = math.atanh(max(-0.999999, min(0.999999, r))), 1.0, n - 3, maximum - 3
        margin = None if claim.margin is None else math.atanh(claim.margin)
        bounds = None
    else:
        estimate, sd, have, total = float(np.mean(y)), float(np.std(y, ddof=1)), n, maximum
        margin = claim.margin
    if not (math.isfinite(estimate) and math.isfinite(sd)) or sd <= 0 or have < 2 or total <= have:
        return GroupFutility({}, gamma, maximum)   # no spread yet (or nothing left to sample): nothing to extrapolate
    unreachable: list[str] = []

    def bets_reach(theta: float, side: str, at: float) -> bool:
        """Whether the bounded test of mean vs θ can pass ``at`` with ``maximum`` values at all."""
        return bounds is None or bounded_mean_test_floor(maximum, theta, bounds, alternative=side) <= at

    def chance(theta: float, side: str, at: float, bounded: bool = False, flips: bool = False) -> float:
        """P(the last look's one-sided test of mean vs θ on ``side`` passes ``at``)."""
        if bounded and not bets_reach(theta, side, at):
            return 0.0
        if flips and _sign_flip_floor(maximum) > at:
            return 0.0
        sign = 1.0 if side == "greater" else -1.0
        optimistic = estimate + sign * stats.norm.ppf(1 - gamma) * sd / math.sqrt(have)
        expected = sign * (have * estimate + (total - have) * optimistic - total * theta)  # final statistic × sd√N
        critical = stats.norm.ppf(1 - at) * sd * math.sqrt(total)
        return float(stats.norm.sf((critical - expected) / (sd * math.sqrt(total - have))))

    def both(name: str, *sides: tuple) -> float:
        """A decision that needs every one of ``sides`` (an equivalence): the least likely side bounds it."""
        if not all(bets_reach(theta, side, at) for theta, side, at, _ in sides):
            unreachable.append(name)
        return min(chance(*side) for side in sides)

    def equivalence(name: str) -> float:
        """Both one-sided bounded tests inside ±margin (TOST on the bounds)."""
        return both(name, (margin, "less", level, True), (-margin, "greater", level, True))

    kind, alternative, flips = claim.kind, claim.alternative, claim.kind != "correlation"
    chances: dict[str, float] = {}
    if kind == "no_effect":
        chances["support"] = equivalence("support")
        chances["beyond the margin"] = chance(margin, "greater", level) + chance(-margin, "less", level)
        return GroupFutility(chances, gamma, maximum, tuple(unreachable))
    theta = 0.0 if margin is None else margin
    if alternative == "two-sided":
        chances["support"] = (chance(theta, "greater", level / 2, flips=flips)
                              + chance(-theta, "less", level / 2, flips=flips))
    elif alternative == "greater":
        chances["support"] = chance(theta, "greater", level, flips=flips)
    else:
        chances["support"] = chance(-theta, "less", level, flips=flips)
    if margin is not None:
        chances["equivalent"] = equivalence("equivalent")
    if alternative != "two-sided":
        chances["opposite"] = chance(0.0, "less" if alternative == "greater" else "greater", level, flips=flips)
    return GroupFutility(chances, gamma, maximum, tuple(unreachable))


def _sign_flip_floor(n: int) -> float:
    """The smallest one-sided p a sign-flip test gives with n values: 2⁻ⁿ exact, 1/(B + 1) by Monte Carlo."""
    return max(2.0 ** -min(n, 1000), 1.0 / (DEFAULT_RESAMPLES + 1))


# ------------------------------------------------------------------------------------------ the design

def group_sequential_assess(claim: Claim, values: ArrayLike, *, looks: Sequence[int], maximum: int,
                            seed: int | np.random.SeedSequence, bounds: tuple[float, float] | None = None,
                            covariate: ArrayLike | None = None, alpha_stop: float | None = None,
                            planned_looks: int = DEFAULT_LOOKS, early_share: float = EARLY_SHARE,
                            final_reason: Stopped = "max_samples", futility: float | None = None,
                            planned_maximum: int | None = None) -> SequentialResult:
    """Judge ``claim`` at the planned looks reached so far (``looks``, each one of :func:`group_looks`).

    ``maximum`` is the planned N (its looks are ``group_looks(maximum, planned_looks)``); ``looks``
    are the ones the run has reached, in order — the data beyond the last are ignored. ``seed``
    drives every look's resamples (the last look's as the fixed design's seed does). If the run
    ends before the last planned look without a decision (a budget), the verdict is INCONCLUSIVE
    with ``final_reason``. Deterministic: the same values, looks and seed give the same result.

    ``futility=γ`` (e.g. :data:`~cfsal.stats.sequential.FUTILITY`) also ends the test undecided at an
    early look where no decision is still likely by the last one (:func:`group_futility`: each
    decision's conditional power, at the optimistic end of a one-sided 1 − γ bound, below γ);
    ``stopped`` is then ``"futility"``. Never at a look whose evidence already puts the
    group-sequential p below α (the last look would support the claim whatever it sees).

    ``planned_maximum`` is the maximum the design would have planned had a session's sample budget
    not set it to ``maximum``, its share; a test that ends undecided at that maximum then stopped
    for the ``"budget"``, and its explanation says so.
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
    check_futility(futility)
    text = _test_text(len(plan), early_share, plan)

    record: list[Look] = []
    p_support = p_equivalence = math.inf   # running min of p / w over the looks taken
    for k, n in enumerate(reached):
        index = plan.index(n)
        w, last = weights[index], index == len(plan) - 1
        fixed = _fixed_test(claim, None if x is None else x[:n], y[:n], bounds, _look_rng(seed, index, last),
                            w * alpha)
        counted = last or n >= MIN_EARLY_N
        if counted:
            p_support = min(p_support, fixed.p_value / w)
            if fixed.equivalence_p is not None:
                p_equivalence = min(p_equivalence, fixed.equivalence_p / w)
        # where the run is, for the GroupStop its verdict carries (and its explanation reads)
        stop = {"look": k + 1, "looks": len(plan), "maximum": plan[-1], "weight": w, "alpha_stop": alpha_stop,
                "look_verdict": fixed}
        if last:
            return _last_look(claim, fixed, record, p_support, p_equivalence, text, stop, futility, planned_maximum)
        decision = CONTINUE
        if counted and fixed.p_value <= w * alpha_stop:
            decision = SUPPORTED
        elif counted and fixed.outcome == REFUTED:
            decision = REFUTED
        check = None
        if decision == CONTINUE and counted and futility is not None and p_support >= alpha:
            check = group_futility(claim, y, x, n, plan[-1], weights[-1] * alpha, bounds, futility)
        if check is not None and check.futile:
            record.append(Look(n, float(fixed.effect), float(fixed.ci_low), float(fixed.ci_high),
                               min(1.0, p_support), INCONCLUSIVE))
            return _futility_result(claim, fixed, record, check, text, p_support, p_equivalence, stop)
        shown = INCONCLUSIVE if (decision == CONTINUE and k == len(reached) - 1) else decision
        record.append(Look(n, float(fixed.effect), float(fixed.ci_low), float(fixed.ci_high), min(1.0, p_support),
                           shown))
        if decision != CONTINUE:
            return _early_result(claim, fixed, record, decision, text, p_support, p_equivalence, stop, futility)
    # the run ended before the last planned look without a decision: a budget ran out
    look = record[-1]
    stopped = final_reason
    if stopped == "max_samples" and planned_maximum is not None:
        stopped = "budget"
    else:
        planned_maximum = None
    verdict = Verdict(outcome=INCONCLUSIVE, claim=claim, reason="neither", method=fixed.method, effect=look.estimate,
                      ci_low=look.ci_low, ci_high=look.ci_high, confidence=1 - weights[plan.index(look.n)] * alpha,
                      p_value=float(min(1.0, p_support)), n=look.n, test=text,
                      equivalence_p=_finite_p(p_equivalence),
                      sequential=GroupStop(end="short", final_reason=final_reason, planned_maximum=planned_maximum,
                                           **stop))
    return SequentialResult(verdict, tuple(record), stopped, alpha_stop, METHOD, tuple(thresholds(claim)), futility,
                            int(maximum))


def _finite_p(p: float) -> float | None:
    return None if not math.isfinite(p) else float(min(1.0, p))


def _test_text(looks: int, early_share: float, plan: Sequence[int]) -> str:
    if looks == 1:
        return f"group-sequential with 1 look at n = {plan[-1]}: the fixed-n test"
    return (f"group-sequential: {looks} planned looks at n = {', '.join(map(str, plan))}, the fixed-n test at "
            f"each, {early_share:.0%} of α split over the early looks (Bonferroni over looks)")


def _futility_result(claim: Claim, fixed: Verdict, record: list[Look], check: GroupFutility, text: str,
                     p_support: float, p_equivalence: float, stop: dict[str, Any]) -> SequentialResult:
    verdict = dataclasses.replace(fixed, outcome=INCONCLUSIVE, claim=claim, reason="neither",
                                  p_value=float(min(1.0, p_support)), equivalence_p=_finite_p(p_equivalence),
                                  test=f"{text}; this look: {fixed.test}",
                                  sequential=GroupStop(end="futility", futility=check, **stop))
    return SequentialResult(verdict, tuple(record), "futility", stop["alpha_stop"], METHOD, tuple(thresholds(claim)),
                            check.gamma, stop["maximum"])


def _early_result(claim: Claim, fixed: Verdict, record: list[Look], decision: str, text: str, p_support: float,
                  p_equivalence: float, stop: dict[str, Any], futility: float | None) -> SequentialResult:
    verdict = dataclasses.replace(fixed, outcome=decision, claim=claim,
                                  reason="significant" if decision == SUPPORTED else fixed.reason,
                                  p_value=float(min(1.0, p_support)), equivalence_p=_finite_p(p_equivalence),
                                  samples_needed=None, test=f"{text}; this look: {fixed.test}",
                                  sequential=GroupStop(end="early", **stop))
    return SequentialResult(verdict, tuple(record), "decided", stop["alpha_stop"], METHOD, tuple(thresholds(claim)),
                            futility, stop["maximum"])


def _last_look(claim: Claim, fixed: Verdict, record: list[Look], p_support: float, p_equivalence: float, text: str,
               stop: dict[str, Any], futility: float | None, planned_maximum: int | None) -> SequentialResult:
    """The fixed-n test on all samples at level w_K·α, combined with the early looks' evidence."""
    p_claim = float(min(1.0, p_support))
    if p_claim < claim.alpha:
        outcome, reason = SUPPORTED, "significant"
    elif fixed.outcome == REFUTED:
        outcome, reason = REFUTED, fixed.reason     # the fixed-n test's own refutation, at level w_K·α
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    stopped = "decided" if outcome != INCONCLUSIVE else "max_samples"
    if stopped == "max_samples" and planned_maximum is not None:
        stopped = "budget"
    else:
        planned_maximum = None
    verdict = dataclasses.replace(fixed, outcome=outcome, claim=claim, reason=reason, p_value=p_claim,
                                  equivalence_p=_finite_p(p_equivalence),
                                  samples_needed=fixed.samples_needed if outcome == INCONCLUSIVE else None,
                                  test=f"{text}; last look: {fixed.test}",
                                  sequential=GroupStop(end="last", planned_maximum=planned_maximum, **stop))
    record.append(Look(int(fixed.n), float(verdict.effect), float(verdict.ci_low), float(verdict.ci_high), p_claim,
                       outcome))
    return SequentialResult(verdict, tuple(record), stopped, stop["alpha_stop"], METHOD, tuple(thresholds(claim)),
                            futility, int(fixed.n))
