"""Fixed-n verdicts: the rules that turn paired numbers into SUPPORTED / REFUTED / INCONCLUSIVE.

The rules are stated for users in ``docs/statistics.md``; this module implements them exactly.
In short, for a claim at level α:

* **effect** (the intervention changes the measure): SUPPORTED if the two-sided paired test
  (sign-flip permutation and bootstrap-t, larger p) gives p < α; REFUTED if a margin is declared
  and TOST shows the mean inside ±margin; else INCONCLUSIVE. Without a margin an effect claim
  cannot be REFUTED.
* **direction** (it moves the measure up / down): SUPPORTED if the one-sided test in the claimed
  direction gives p < α; REFUTED if the one-sided test in the opposite direction does, or if
  equivalence within the margin holds; else INCONCLUSIVE.
* **no_effect** (any change is within ±margin): SUPPORTED if TOST gives p < α (the 1 − 2α
  t-interval lies inside ±margin); REFUTED if that interval lies entirely outside ±margin (an
  effect significantly larger than the margin); else INCONCLUSIVE.
* **correlation**: like *direction* (or *effect*, when two-sided) on r, with a permutation test,
  a Fisher-z ∪ BCa bootstrap CI and a Fisher-scale equivalence test for refutation.

With ``clusters=`` (the episode of each sample), every test and interval treats episodes, not
samples, as the independent units (:mod:`cfsal.stats.clustered`), and fewer than
:data:`~cfsal.stats.clustered.MIN_CLUSTERS` episodes give INCONCLUSIVE.

SUPPORTED is always checked first. Multiple-testing correction (:func:`cfsal.stats.adjust`) applies
to the p-value of the claim, so it controls false SUPPORTED verdicts; refutations keep level α.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cfsal.errors import HypothesisDeclarationError, StatisticsError
from cfsal.stats import power
from cfsal.stats._validation import check_resamples, finite_vector, paired_vectors
from cfsal.stats.bootstrap import bootstrap_ci, cluster_bootstrap_ci
from cfsal.stats.claim import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Outcome
from cfsal.stats.clustered import (
    MIN_CLUSTERS,
    Clusters,
    cluster_minimum_effect_test,
    cluster_paired_test,
    cluster_robust_se,
    cluster_t_interval,
    cluster_tost,
    group,
)
from cfsal.stats.correlation import (
    MIN_PAIRS,
    CorrelationMethod,
    correlation,
    correlation_equivalence,
    is_constant,
)
from cfsal.stats.paired import (
    DEFAULT_RESAMPLES,
    minimum_effect_test,
    paired_test,
    t_interval,
    tost,
)
from cfsal.stats.verdict import Method, Reason, Verdict

_OPPOSITE = {"greater": "less", "less": "greater"}


def _undecided(claim: Claim, n: int, effect: float, test: str, reason: Reason, confidence: float,
               method: Method) -> Verdict:
    return Verdict(outcome=INCONCLUSIVE, claim=claim, reason=reason, method=method, effect=effect, ci_low=-math.inf,
                   ci_high=math.inf, confidence=confidence, p_value=1.0, n=n, test=test)


def _decide(alpha: float, p_claim: float, equivalence_p: float | None,
            opposite_p: float | None) -> tuple[Outcome, Reason]:
    """SUPPORTED is checked first; then REFUTED by equivalence within the margin, then by a significant
    change the other way."""
    if p_claim < alpha:
        return SUPPORTED, "significant"
    if equivalence_p is not None and equivalence_p < alpha:
        return REFUTED, "equivalent"
    if opposite_p is not None and opposite_p < alpha:
        return REFUTED, "opposite"
    return INCONCLUSIVE, "neither"


def _check_claim(claim: Any, function: str) -> Claim:
    if not isinstance(claim, Claim):
        raise HypothesisDeclarationError(
            f"{function}: expected a cfsal.stats.Claim as the first argument, got {type(claim).__name__}; "
            "e.g. Claim(kind='effect')."
        )
    return claim


def _check_bounds(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError) as error:
        raise StatisticsError(
            f"bounds={bounds!r}: give (low, high), the range the measure can take.") from error
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise StatisticsError(
            f"bounds={bounds!r}: need finite low < high, e.g. (0, 1) for action disagreement or (-1, 1) "
            "for a difference of two rates; leave bounds=None for an unbounded measure."
        )
    return low, high


def _equivalence_label(margin: float, bounds: tuple[float, float] | None,
                       groups: tuple[np.ndarray, Clusters] | None = None) -> str:
    if groups is not None:
        t = f"cluster-robust t (CR1, {groups[1].count} episodes, {groups[1].count - 1} df)"
        if bounds is None:
            return f"TOST, {t} (margin ±{margin:g})"
        return (f"TOST, {t} and bounded-mean betting test on the episode means in [{bounds[0]:g}, {bounds[1]:g}] "
                f"(margin ±{margin:g})")
    if bounds is None:
        return f"TOST, paired t (margin ±{margin:g})"
    low, high = bounds
    return f"TOST, paired t and bounded-mean betting test on [{low:g}, {high:g}] (margin ±{margin:g})"


def _equivalence(d: np.ndarray, margin: float, bounds: tuple[float, float] | None, alpha: float,
                 groups: tuple[np.ndarray, Clusters] | None):
    return tost(d, margin, bounds=bounds, alpha=alpha) if groups is None else \
        cluster_tost(d, groups[0], margin, bounds=bounds, alpha=alpha)


def _spread(d: np.ndarray, groups: tuple[np.ndarray, Clusters] | None) -> tuple[float, int]:
    """(sd of one independent unit, number of units): samples, or episodes when clustered.

    For episodes the unit sd is CR1 SE × √G, so that sd/√G is the clustered SE and the power
    formulas return a number of episodes (converted to samples at the current samples per episode).
    """
    if groups is None:
        return float(np.std(d, ddof=1)), int(d.size)
    return cluster_robust_se(d, groups[0]) * math.sqrt(groups[1].count), groups[1].count


def _as_samples(units: int | None, d: np.ndarray, groups: tuple[np.ndarray, Clusters] | None) -> int | None:
    if units is None or groups is None:
        return units
    return max(math.ceil(units * d.size / groups[1].count), int(d.size) + 1)


def _samples_to_decide(claim: Claim, d: np.ndarray, effect: float, bounds: tuple[float, float] | None,
                       groups: tuple[np.ndarray, Clusters] | None) -> int | None:
    """An undecided effect or direction claim: samples for 80% power towards the side the data point to.

    Beyond the margin (or with none declared), towards SUPPORTED; inside a declared margin, towards
    REFUTED by equivalence (an effect smaller than the claim needs is shown with more samples, exact
    zeros included). None when the data point the other way and no margin was declared.
    """
    sd, units = _spread(d, groups)
    pointing = effect if claim.alternative != "less" else -effect
    if claim.margin is not None and abs(effect) < claim.margin:
        needed = power.samples_for_equivalence(effect, sd, claim.margin, claim.alpha, current=units)
        if needed is not None and bounds is not None:
            needed = max(needed, power.samples_for_bounded_equivalence(effect, claim.margin, bounds, claim.alpha,
                                                                       current=units) or needed)
        return _as_samples(needed, d, groups)
    if claim.alternative != "two-sided" and pointing <= 0:
        return None
    beyond = abs(effect) - claim.margin if claim.margin is not None else effect
    return _as_samples(power.samples_for_mean(beyond, sd, claim.alpha, sided=claim.sided, current=units), d, groups)


def _assess_no_effect(claim: Claim, d: np.ndarray, bounds: tuple[float, float] | None,
                      groups: tuple[np.ndarray, Clusters] | None = None) -> Verdict:
    margin, alpha = float(claim.margin), claim.alpha
    effect = float(np.mean(d))
    equivalence = _equivalence(d, margin, bounds, alpha, groups)
    confidence = 1 - 2 * alpha
    low, high = t_interval(d, confidence) if groups is None else cluster_t_interval(d, groups[0], confidence)
    if equivalence.p_value < alpha:
        outcome, reason = SUPPORTED, "significant"
    elif low > margin or high < -margin:
        outcome, reason = REFUTED, "outside_margin"
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    needed = None
    if outcome == INCONCLUSIVE:
        sd, units = _spread(d, groups)
        needed = power.samples_for_equivalence(effect, sd, margin, alpha, current=units)
        if needed is not None and bounds is not None:
            needed = max(needed, power.samples_for_bounded_equivalence(effect, margin, bounds, alpha,
                                                                       current=units) or needed)
        needed = _as_samples(needed, d, groups)
    return Verdict(outcome=outcome, claim=claim, reason=reason, method="tost", effect=effect, ci_low=low, ci_high=high,
                   confidence=confidence, p_value=equivalence.p_value, n=int(d.size),
                   test=_equivalence_label(margin, bounds, groups), equivalence_p=equivalence.p_value,
                   samples_needed=needed, clusters=None if groups is None else groups[1].count)


def _few_clusters(claim: Claim, d: np.ndarray, labels: np.ndarray, groups: Clusters) -> Verdict:
    """INCONCLUSIVE for want of episodes, with the effect and its (wide) episode-level t-interval."""
    confidence = 1 - 2 * claim.alpha if claim.kind == "no_effect" else 1 - claim.alpha
    low, high = cluster_t_interval(d, labels, confidence)
    return Verdict(outcome=INCONCLUSIVE, claim=claim, reason="few_clusters", method="none", effect=float(np.mean(d)),
                   ci_low=low, ci_high=high, confidence=confidence, p_value=1.0, n=int(d.size),
                   test=f"none (samples from {groups.count} episodes, fewer than {MIN_CLUSTERS})",
                   clusters=groups.count)


def assess(claim: Claim, differences: ArrayLike, *, rng: np.random.Generator,
           n_resamples: int = DEFAULT_RESAMPLES, bounds: tuple[float, float] | None = None,
           clusters: ArrayLike | None = None) -> Verdict:
    """Verdict on an effect, direction or no-effect claim from paired differences (intervened − factual).

    ``rng`` drives the permutation test and the bootstrap, so the same seed gives the same verdict.
    ``bounds`` is the range the measure can take (e.g. (0, 1) for action disagreement); when given,
    equivalence (no_effect claims, and refuting others by a margin) must also pass a test that is
    valid for every distribution on those bounds — declare them for rare-event and 0/1 measures,
    where the t-based TOST alone is badly over-confident (docs/statistics.md, Calibration).
    Fewer than 2 differences give INCONCLUSIVE; NaN or infinite ones raise :class:`StatisticsError`.

    ``clusters`` labels each difference with its episode (``result.episodes``), or with its game
    (``result.games``: episodes that meet in a situation merged, for agents that replay). Samples branched
    from one episode share its game phase and are correlated, so then every test and interval
    treats *episodes* as the independent units (:mod:`cfsal.stats.clustered`): the sign flip of
    episode sums and an episode bootstrap-t for effect and direction claims, whose CI is the union of
    the episode-bootstrap BCa interval and the CR1 t-interval (the bootstrap alone covered 85% instead
    of 95% with 5–6 episodes; docs/statistics.md), and a cluster-robust (CR1, G − 1 df) TOST and interval for no-effect claims (Cameron, Gelbach &
    Miller 2008; Canay, Romano & Shaikh 2017). Fewer than ``MIN_CLUSTERS`` (5) episodes give
    INCONCLUSIVE. The verdict records the number of episodes in ``clusters``.
    """
    claim = _check_claim(claim, "assess")
    if claim.kind == "correlation":
        raise HypothesisDeclarationError(
            "assess: a 'correlation' claim relates two measures; call assess_correlation(claim, x, y, rng=…) "
            "with one value of each per sample."
        )
    d = finite_vector(differences, "differences")
    n_resamples = check_resamples(n_resamples)
    bounds = _check_bounds(bounds)
    if d.size < 2:
        effect = float(d[0]) if d.size else math.nan
        confidence = 1 - 2 * claim.alpha if claim.kind == "no_effect" else 1 - claim.alpha
        return _undecided(claim, int(d.size), effect, "none (too few samples)", "too_few", confidence, "none")
    groups = None
    if clusters is not None:
        labels = np.asarray(clusters)
        summary = group(d, labels)
        if summary.count < MIN_CLUSTERS:
            return _few_clusters(claim, d, labels, summary)
        groups = (labels, summary)
    if claim.kind == "no_effect":
        return _assess_no_effect(claim, d, bounds, groups)

    alpha, effect = claim.alpha, float(np.mean(d))
    if groups is None:
        def paired(values: np.ndarray, alternative: str) -> Any:
            return paired_test(values, rng=rng, alternative=alternative, n_resamples=n_resamples)
    else:
        def paired(values: np.ndarray, alternative: str) -> Any:
            return cluster_paired_test(values, groups[0], rng=rng, alternative=alternative, n_resamples=n_resamples)
    if claim.margin is None:
        test = paired(d, claim.alternative)
    elif groups is None:  # a stated margin is the smallest effect of interest: SUPPORTED means beyond it
        test = minimum_effect_test(d, claim.margin, rng=rng, alternative=claim.alternative,
                                   n_resamples=n_resamples)
    else:
        test = cluster_minimum_effect_test(d, groups[0], claim.margin, rng=rng, alternative=claim.alternative,
                                           n_resamples=n_resamples)
    opposite = paired(d, _OPPOSITE[claim.alternative]) if claim.kind == "direction" else None
    if groups is None:
        low, high = bootstrap_ci(d, rng, confidence=1 - alpha, n_resamples=n_resamples)
    else:  # the episode bootstrap under-covers with few episodes: report its union with the CR1 t-interval
        boot = cluster_bootstrap_ci(d, groups[0], rng, confidence=1 - alpha, n_resamples=n_resamples)
        t = cluster_t_interval(d, groups[0], 1 - alpha)
        low, high = min(boot[0], t[0]), max(boot[1], t[1])
    equivalence = (_equivalence(d, claim.margin, bounds, alpha, groups) if claim.margin is not None else None)

    outcome, reason = _decide(alpha, test.p_value, None if equivalence is None else equivalence.p_value,
                              None if opposite is None else opposite.p_value)
    needed = None
    if outcome == INCONCLUSIVE:
        needed = _samples_to_decide(claim, d, effect, bounds, groups)
    label = test.describe()
    if groups is not None:
        label = f"{label}; CI: episode bootstrap (BCa) ∪ cluster-robust t"
    if claim.margin is not None:
        label = f"{label}; {_equivalence_label(claim.margin, bounds, groups)}"
    return Verdict(outcome=outcome, claim=claim, reason=reason,
                   method="paired" if claim.margin is None else "minimum-effect", effect=effect, ci_low=low,
                   ci_high=high, confidence=1 - alpha, p_value=test.p_value, n=int(d.size), test=label,
                   equivalence_p=None if equivalence is None else equivalence.p_value,
                   opposite_p=None if opposite is None else opposite.p_value, samples_needed=needed,
                   clusters=None if groups is None else groups[1].count)


def assess_correlation(claim: Claim, x: ArrayLike, y: ArrayLike, *, rng: np.random.Generator,
                       method: CorrelationMethod = "pearson",
                       n_resamples: int = DEFAULT_RESAMPLES) -> Verdict:
    """Verdict on a correlation claim between two measures over the same samples (e.g. saliency vs. reliance).

    ``effect`` is r (Pearson) or ρ (Spearman), with a Fisher-z ∪ BCa bootstrap CI at 1 − α (see
    :mod:`cfsal.stats.correlation`) and a permutation p-value.
    Fewer than 4 pairs, or a constant measure, give INCONCLUSIVE.
    """
    claim = _check_claim(claim, "assess_correlation")
    if claim.kind != "correlation":
        raise HypothesisDeclarationError(
            f"assess_correlation: got a {claim.kind!r} claim; use Claim(kind='correlation', alternative=…) "
            "here, or assess(claim, differences, rng=…) for paired differences."
        )
    a, b = paired_vectors(x, y)
    n_resamples = check_resamples(n_resamples)
    if method not in ("pearson", "spearman"):
        raise StatisticsError(f"assess_correlation: method={method!r} is not 'pearson' or 'spearman'.")
    name = method.capitalize()
    test_name = f"{name} correlation, permutation"
    if a.size < MIN_PAIRS:
        return _undecided(claim, int(a.size), math.nan, test_name, "too_few", 1 - claim.alpha, method)
    if is_constant(a) or is_constant(b):
        return _undecided(claim, int(a.size), math.nan, test_name, "constant", 1 - claim.alpha, method)

    alpha = claim.alpha
    result = correlation(a, b, rng=rng, method=method, alternative=claim.alternative, confidence=1 - alpha,
                         n_resamples=n_resamples)
    opposite = (correlation(a, b, rng=rng, method=method, alternative=_OPPOSITE[claim.alternative],
                            confidence=1 - alpha, n_resamples=n_resamples)
                if claim.alternative != "two-sided" else None)
    equivalence_p = (correlation_equivalence(result.r, result.n, claim.margin, method,
                                             bootstrap_se=result.bootstrap_se)
                     if claim.margin is not None else None)
    outcome, reason = _decide(alpha, result.p_value, equivalence_p, None if opposite is None else opposite.p_value)
    needed = None
    if outcome == INCONCLUSIVE:
        pointing = result.r if claim.alternative != "less" else -result.r
        if claim.alternative == "two-sided" or pointing > 0:
            needed = power.samples_for_correlation(result.r, alpha, sided=claim.sided, current=result.n,
                                                   spearman=method == "spearman")
    how = f"exact, {result.n_resamples} orderings" if result.exact else f"{result.n_resamples} resamples"
    test = f"{name} correlation, permutation ({how}), Fisher-z ∪ BCa bootstrap CI"
    return Verdict(outcome=outcome, claim=claim, reason=reason, method=method, effect=result.r, ci_low=result.ci_low,
                   ci_high=result.ci_high, confidence=1 - alpha, p_value=result.p_value, n=result.n, test=test,
                   equivalence_p=equivalence_p, opposite_p=None if opposite is None else opposite.p_value,
                   samples_needed=needed)
