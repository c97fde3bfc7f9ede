"""Tests for paired designs: one number per pair, ``intervened − factual``.

A counterfactual rollout pairs every intervened continuation with its factual twin (common random
numbers), so the unit of analysis is the paired difference. Under "the intervention does nothing"
each difference is as likely to be ``+d`` as ``−d``; the sign-flip permutation test (Fisher 1935;
Good, *Permutation Tests*, 2005, §3) uses exactly that symmetry and needs no normality. Its
statistic is the mean. Because Σd² does not change under sign flips, the mean orders the sign
patterns exactly as the one-sample t statistic does, so this is also the studentized permutation
test, asymptotically valid for the weaker null "mean zero" even when the differences are skewed
(Janssen 1997). Finite-sample skewness still inflates it when the differences are asymmetric but
have mean zero (an intervention that reshapes the distribution without moving its mean), so
:func:`paired_test` combines it with a symmetric bootstrap-t test of the mean (Hall 1988, 1992)
and rejects only when both do. Equivalence ("no effect within ±margin") is Schuirmann's (1987) two one-sided
tests on the paired mean, the standard in bioequivalence and in Lakens (2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats._validation import check_confidence, check_resamples, finite_vector, within_bounds

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")

#: Monte-Carlo sign patterns per permutation test: the p-value's Monte-Carlo standard error at
#: p = 0.05 is √(0.05·0.95/10⁴) ≈ 0.002, and n = 30 pairs take ~10 ms.
DEFAULT_RESAMPLES = 9999

#: Upper bound on (resamples × pairs) held in memory at once while building a null or bootstrap
#: distribution: sign patterns and bootstrap-t resamples (here and in the clustered tests), pairings
#: (the correlation's permutation test).
_BATCH_ELEMENTS = 2**21


def resample_batch(n_resamples: int, per_resample: int) -> int:
    """How many of ``n_resamples`` resamples of ``per_resample`` elements each to build at once: as many as
    stay within :data:`_BATCH_ELEMENTS`, at least one."""
    return max(1, min(n_resamples, _BATCH_ELEMENTS // per_resample))


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test: observed statistic, p-value and how the null distribution was built."""

    statistic: float
    p_value: float
    alternative: str
    n_resamples: int  # sign patterns (or pairings) evaluated
    exact: bool       # True: every pattern enumerated, p exact; False: Monte Carlo with the +1 correction

    def describe(self, what: str) -> str:
        return f"{what} ({self.how()})"

    def how(self) -> str:
        """How the null distribution was built, in words: every pattern, or how many resamples."""
        return f"exact, {self.n_resamples} patterns" if self.exact else f"{self.n_resamples} resamples"


@dataclass(frozen=True)
class BootstrapTResult:
    statistic: float  # the one-sample t statistic of the observed differences
    p_value: float
    alternative: str
    n_resamples: int


@dataclass(frozen=True)
class PairedTestResult:
    """The test behind effect and direction verdicts: both component tests must reject."""

    p_value: float    # max(sign_flip.p_value, bootstrap_t.p_value)
    sign_flip: PermutationResult
    bootstrap_t: BootstrapTResult

    def describe(self) -> str:
        return (f"sign-flip permutation ({self.sign_flip.how()}) and bootstrap-t ({self.bootstrap_t.n_resamples} "
                "resamples), larger p")


@dataclass(frozen=True)
class WilcoxonResult:
    statistic: float
    p_value: float
    alternative: str
    n_nonzero: int


@dataclass(frozen=True)
class EquivalenceResult:
    """Two one-sided tests: is the mean inside (−margin, +margin)?"""

    p_value: float    # max(p_lower, p_upper): equivalence is shown at level α when p_value < α
    p_lower: float    # H0: mean ≤ −margin
    p_upper: float    # H0: mean ≥ +margin
    margin: float
    mean: float


def _check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r} is not one of {ALTERNATIVES}.")
    return alternative


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _sign_patterns(n: int, rng: np.random.Generator | None, count: int) -> np.ndarray:
    """``count`` rows of ±1: all 2ⁿ patterns in order when ``rng`` is None, else random ones."""
    if rng is None:
        bits = (np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n)) & 1
    else:
        bits = rng.integers(0, 2, size=(count, n), dtype=np.int8)
    return 1.0 - 2.0 * bits


def _at_least_as_extreme(t: np.ndarray, observed: float, alternative: str) -> int:
    """How many resampled statistics are at least as extreme as ``observed`` (bootstrap-t tails)."""
    if alternative == "two-sided":
        return int(np.count_nonzero(np.abs(t) >= abs(observed)))
    if alternative == "greater":
        return int(np.count_nonzero(t >= observed))
    return int(np.count_nonzero(t <= observed))


def _tail_p(null: np.ndarray, observed: float, alternative: str, adjustment: int) -> float:
    """scipy.stats.permutation_test's p-value: ties within 100 ulp count as 'as extreme'."""
    gamma = abs(np.finfo(float).eps * 100 * observed)
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / (null.size + adjustment)
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / (null.size + adjustment)
    p = {"less": less, "greater": greater, "two-sided": 2 * min(less, greater)}[alternative]
    return float(min(1.0, p))


def sign_flip_test(differences: ArrayLike, *, rng: np.random.Generator,
                   alternative: Alternative = "two-sided",
                   n_resamples: int = DEFAULT_RESAMPLES) -> PermutationResult:
    """Sign-flip permutation test of the mean paired difference.

    Exact when all 2ⁿ sign patterns fit in ``n_resamples`` (n ≤ 13 with the default), otherwise
    Monte Carlo with the ``(count + 1) / (n_resamples + 1)`` correction, so the p-value is valid
    (never anti-conservative) for any number of resamples (Phipson & Smyth 2010). Two-sided p is
    twice the smaller tail, capped at 1. Zero differences are kept: flipping them changes nothing,
    which is the correct null for pairs that did not differ.

    Same p-values as ``scipy.stats.permutation_test(..., permutation_type="samples")`` (the tests
    check this), computed as one matrix product of random signs with the differences, which is
    ~10× faster than scipy's general path at n = 500.
    """
    d = finite_vector(differences, "differences")
    _check_alternative(alternative)
    n_resamples = check_resamples(n_resamples)
    if d.size < 1:
        raise ValueError("sign_flip_test needs at least one difference.")
    return _sign_flip(d, d.size, rng, alternative, n_resamples)


def _sign_flip(units: np.ndarray, divisor: int, rng: np.random.Generator, alternative: str,
               n_resamples: int) -> PermutationResult:
    """Flip the signs of ``units`` (differences, or per-episode sums of them) jointly; statistic Σ units / divisor.

    Shared by :func:`sign_flip_test` (units = differences, divisor = n) and the episode-clustered
    test in :mod:`cfsal.stats.clustered` (units = per-episode sums, divisor = total n), so that with
    one sample per episode the two give identical p-values from the same generator.
    """
    size = units.size
    exact = size < 64 and 2**size <= n_resamples
    observed = float(np.ones(size) @ units / divisor)
    if np.all(units == 0):
        # Every sign pattern gives the observed mean: all tails have probability 1.
        return PermutationResult(0.0, 1.0, alternative, 2**size if exact else n_resamples, exact)
    if exact:
        null = _sign_patterns(size, None, 0) @ units / divisor
    else:
        batch = resample_batch(n_resamples, size)
        null = np.concatenate([_sign_patterns(size, rng, min(batch, n_resamples - start)) @ units / divisor
                               for start in range(0, n_resamples, batch)])
    p = _tail_p(null, observed, alternative, adjustment=0 if exact else 1)
    return PermutationResult(observed, p, alternative, int(null.size), exact)


def _t_statistics(samples: np.ndarray) -> np.ndarray:
    """One-sample t of each row; zero spread gives ±inf (or 0 when the mean is 0 too)."""
    n = samples.shape[-1]
    mean = samples.mean(axis=-1)
    sd = samples.std(axis=-1, ddof=1)
    spread = np.ptp(samples, axis=-1) > 0  # not sd > 0: rounding leaves sd ≈ 1e-17 for equal values
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(n))
    return np.where(spread, t, np.sign(mean) * np.where(mean == 0, 0.0, np.inf))


def bootstrap_t_test(differences: ArrayLike, *, rng: np.random.Generator,
                     alternative: Alternative = "two-sided",
                     n_resamples: int = DEFAULT_RESAMPLES) -> BootstrapTResult:
    """Bootstrap-t test of "mean difference = 0" (Hall 1992, §3.12; Efron & Tibshirani 1993, §16.4).

    Resamples the *centred* differences (so the null holds in the bootstrap world) and compares the
    observed t with the bootstrap t's; two-sided uses |t| (the symmetric bootstrap-t, whose error
    in level is O(n⁻²) against O(n⁻¹) for the plain t-test under skewness; Hall 1988). The p-value
    carries the +1 Monte-Carlo correction.
    """
    d = finite_vector(differences, "differences")
    _check_alternative(alternative)
    n_resamples = check_resamples(n_resamples)
    if d.size < 2:
        raise ValueError("bootstrap_t_test needs at least two differences.")
    if np.all(d == 0):
        return BootstrapTResult(0.0, 1.0, alternative, n_resamples)
    observed = float(_t_statistics(d))
    # Constant differences centre to exact zeros (d − mean can leave ±1e-17 behind).
    centred = np.zeros_like(d) if np.all(d == d[0]) else d - d.mean()
    batch = resample_batch(n_resamples, d.size)
    count = 0
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        t = _t_statistics(centred[rng.integers(0, d.size, size=(size, d.size))])
        count += _at_least_as_extreme(t, observed, alternative)
    return BootstrapTResult(observed, (count + 1) / (n_resamples + 1), alternative, n_resamples)


def paired_test(differences: ArrayLike, *, rng: np.random.Generator, alternative: Alternative = "two-sided",
                n_resamples: int = DEFAULT_RESAMPLES) -> PairedTestResult:
    """The test of effect and direction claims: p = max(sign-flip p, bootstrap-t p).

    Two readings of "the intervention does nothing" need two tests. If factual and intervened
    continuations are exchangeable (an agent that ignores the intervened object), every difference
    is symmetric about 0 and the sign-flip test is exact at any n. If only the *mean* is unchanged
    while the shape is not, the sign-flip test over-rejects under skewness and the bootstrap-t test
    holds its level far better. Rejecting only when both reject keeps the level under the first
    reading exactly and under the second as well as the bootstrap-t does (a union of nulls tested
    by intersection, Berger 1982). No test of a mean can be exact for every skewed distribution at
    a fixed n (Bahadur & Savage 1956); docs/statistics.md lists the measured rates.
    """
    d = finite_vector(differences, "differences")
    flip = sign_flip_test(d, rng=rng, alternative=alternative, n_resamples=n_resamples)
    boot = bootstrap_t_test(d, rng=rng, alternative=alternative, n_resamples=n_resamples)
    return PairedTestResult(max(flip.p_value, boot.p_value), flip, boot)


@dataclass(frozen=True)
class MinimumEffectResult:
    """A test that the mean difference lies *beyond* ±margin, not merely away from 0."""

    p_value: float
    margin: float
    side: PairedTestResult  # the paired test on the shifted differences, on the side that decided

    def describe(self) -> str:
        return f"{self.side.describe()}, against |effect| ≤ {self.margin:g} (minimum-effect test)"


def minimum_effect_test(differences: ArrayLike, margin: float, *, rng: np.random.Generator,
                        alternative: Alternative = "two-sided",
                        n_resamples: int = DEFAULT_RESAMPLES) -> MinimumEffectResult:
    """Is the mean difference larger than the smallest effect of interest? (Murphy & Myors 1999)

    H0: |mean| ≤ margin (or mean ≤ margin for "greater", ≥ −margin for "less"), tested by
    :func:`paired_test` on the differences shifted by the margin; two-sided takes twice the
    smaller one-sided p. A neural agent's policy moves a little under *any* pixel change, so
    "differs from 0" is nearly always significant with enough samples; a claim that states a
    margin means "differs by more than that", and this is its test.
    """
    d = finite_vector(differences, "differences")
    if not margin > 0:
        raise StatisticsError(f"margin must be > 0, got {margin!r}")
    sides = {}
    if alternative in ("two-sided", "greater"):
        sides["greater"] = paired_test(d - margin, rng=rng, alternative="greater", n_resamples=n_resamples)
    if alternative in ("two-sided", "less"):
        sides["less"] = paired_test(d + margin, rng=rng, alternative="less", n_resamples=n_resamples)
    best = min(sides.values(), key=lambda result: result.p_value)
    p = min(1.0, best.p_value * len(sides))
    return MinimumEffectResult(p, float(margin), best)


def wilcoxon_test(differences: ArrayLike, *, alternative: Alternative = "two-sided",
                  zero_method: Literal["wilcox", "pratt", "zsplit"] = "wilcox") -> WilcoxonResult:
    """Wilcoxon signed-rank test (scipy.stats.wilcoxon): a rank-based check on the permutation test.

    With ``zero_method="wilcox"`` zero differences are dropped (Wilcoxon 1945); if every difference
    is zero there is nothing to rank and p = 1.
    """
    d = finite_vector(differences, "differences")
    _check_alternative(alternative)
    nonzero = int(np.count_nonzero(d))
    if nonzero == 0:
        return WilcoxonResult(0.0, 1.0, alternative, 0)
    result = stats.wilcoxon(d, zero_method=zero_method, alternative=alternative)
    return WilcoxonResult(float(result.statistic), float(result.pvalue), alternative, nonzero)


#: Most a bet of :func:`bounded_mean_test` stakes, as a fraction of what the null's bound allows
#: (WSR's truncation: a full stake would lose everything on one value at the far bound).
BET_STAKE_CAP = 0.75


def bounded_mean_test_floor(n: int, null_mean: float, bounds: tuple[float, float], *,
                            alternative: Literal["greater", "less"]) -> float:
    """The smallest p-value :func:`bounded_mean_test` can give with ``n`` values, whatever they are.

    Each value multiplies the bettor's wealth by at most 1 + cap·m/(1 − m) (m: the null mean rescaled
    to the side the bet loses towards; every value at the bound the bet wins towards), so p ≥ that
    factor to the power −n. Planning uses it: no data of that size can pass a level below it.
    """
    low, high = float(bounds[0]), float(bounds[1])
    m = (null_mean - low) / (high - low)
    if alternative == "greater":
        m = 1.0 - m
    if m <= 0.0:
        return 1.0
    if m >= 1.0:
        return 0.0
    return float(math.exp(-int(n) * math.log1p(BET_STAKE_CAP * m / (1.0 - m))))


def bounded_mean_test(values: ArrayLike, null_mean: float, bounds: tuple[float, float], *,
                      alternative: Literal["greater", "less"], alpha: float = 0.05,
                      stake_cap: float = BET_STAKE_CAP) -> float:
    """Valid one-sided p-value for the mean of a *bounded* measure, by betting (Waudby-Smith & Ramdas 2023).

    ``alternative="less"`` tests H0: mean ≥ ``null_mean``; ``"greater"`` tests H0: mean ≤ ``null_mean``.
    Rescaled to [0, 1], a bettor starts with wealth 1 and stakes λₜ (chosen from the past only,
    the "predictable plug-in" of WSR §5 tuned by ``alpha``) on each value falling on the
    alternative's side; under H0 the wealth is a non-negative supermartingale, so by Ville's
    inequality p = 1 / max wealth is valid at every n and for *every* distribution on the bounds,
    skewed, discrete or zero-inflated. That is what a t-based test cannot offer (Bahadur & Savage
    1956): e.g. 30 zero differences of a 0/1 measure give p = 0.95³⁰ ≈ 0.21 at most for "mean <
    0.05", since a 5% rate produces 30 zeros that often.

    ``stake_cap`` (< 1) is the largest stake as a fraction of what the null allows; any cap keeps the
    test valid, a larger one shows values at the bound sooner and loses more on one at the far bound.
    """
    if not 0 < stake_cap < 1:
        raise ValueError(f"stake_cap={stake_cap!r} must lie in (0, 1).")
    x = finite_vector(values, "values")
    low, high = within_bounds(x, bounds)
    y = (x - low) / (high - low)
    m = (null_mean - low) / (high - low)
    if alternative == "greater":  # mirror: H0 mean ≤ m  ⇔  H0 mean(1 − y) ≥ 1 − m
        y, m = 1.0 - y, 1.0 - m
    if m <= 0.0:
        return 1.0  # H0 "mean ≥ a value at or below the lower bound" holds for every distribution
    if m > 1.0:
        return 0.0  # H0 "mean ≥ a value above the upper bound" is impossible
    if m == 1.0:
        return 0.0 if np.any(y < 1.0) else 1.0
    if y.size == 0:
        return 1.0
    n = y.size
    t = np.arange(1, n + 1)
    running_mean = (0.5 + np.cumsum(y)) / (t + 1)
    previous_mean = np.concatenate([[0.5], running_mean[:-1]])
    running_var = (0.25 + np.cumsum((y - previous_mean) ** 2)) / (t + 1)
    previous_var = np.concatenate([[0.25], running_var[:-1]])
    stake = np.minimum(np.sqrt(2 * np.log(1 / alpha) / (n * previous_var)), stake_cap / (1 - m))
    wealth = np.cumprod(1.0 + stake * (m - y))
    return float(min(1.0, 1.0 / max(1.0, wealth.max())))


def tost(differences: ArrayLike, margin: float, *, bounds: tuple[float, float] | None = None,
         alpha: float = 0.05) -> EquivalenceResult:
    """Schuirmann's two one-sided t-tests (TOST) of ``−margin < mean < +margin``.

    ``p_value < α`` exactly when the (1 − 2α) t-interval of the mean lies inside ±margin (see
    :func:`t_interval`). With zero spread (e.g. an agent whose behaviour never changes, all
    differences 0) the mean is known exactly: each one-sided p is 0 if the mean is strictly on the
    right side of its bound and 1 otherwise.

    The t-tests rely on the mean being roughly normal. For skewed or zero-inflated measures (a
    rare action change) that fails badly: at a true rate of 5% and margin 0.05, 30 pairs are
    declared equivalent 21% of the time. When the measure's ``bounds`` are known, each one-sided
    p is therefore the larger of the t-test's and :func:`bounded_mean_test`'s, which is valid for
    any distribution on the bounds (``alpha`` tunes the latter's bets).
    """
    d = finite_vector(differences, "differences")
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin={margin!r}: an equivalence margin must be a finite number > 0.")
    mean = float(np.mean(d)) if d.size else float("nan")
    if d.size < 2:
        return EquivalenceResult(1.0, 1.0, 1.0, float(margin), mean)
    if np.all(d == d[0]):
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
    else:
        p_lower = float(stats.ttest_1samp(d, -margin, alternative="greater").pvalue)
        p_upper = float(stats.ttest_1samp(d, margin, alternative="less").pvalue)
    if bounds is not None:
        p_lower = max(p_lower, bounded_mean_test(d, -margin, bounds, alternative="greater", alpha=alpha))
        p_upper = max(p_upper, bounded_mean_test(d, margin, bounds, alternative="less", alpha=alpha))
    return EquivalenceResult(max(p_lower, p_upper), p_lower, p_upper, float(margin), mean)


def t_interval(differences: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean (scipy.stats.ttest_1samp(...).confidence_interval).

    Used at confidence 1 − 2α for equivalence claims, where it is the interval TOST inverts. A
    sample without spread gives the point itself.
    """
    d = finite_vector(differences, "differences")
    check_confidence(confidence)
    if d.size < 2:
        return (-np.inf, np.inf)
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=confidence)
    return float(ci.low), float(ci.high)
