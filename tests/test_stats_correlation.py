"""Correlation with permutation p-values, Fisher-z ∪ bootstrap intervals and equivalence, against scipy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats import correlation, correlation_equivalence, fisher_interval
from cfsal.stats.correlation import pairs_bootstrap


def _pair(n, rho, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_pearson_r_ci_and_exact_p_match_scipy(alternative):
    x, y = _pair(7, 0.6, 0)  # 7! = 5040 orderings: enumerated exactly
    ours = correlation(x, y, rng=np.random.default_rng(1), alternative=alternative)
    ref = stats.pearsonr(x, y, alternative=alternative,
                         method=stats.PermutationMethod(n_resamples=9999, rng=np.random.default_rng(1)))
    assert ours.exact and ours.n_resamples == 5040
    assert ours.r == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    ci = stats.pearsonr(x, y).confidence_interval(0.95)  # Fisher z, two-sided
    assert ours.ci_low <= ci.low + 1e-12 and ours.ci_high >= ci.high - 1e-12  # the union holds Fisher's


def test_the_bootstrap_part_is_scipys_bca_over_pairs():
    x, y = _pair(25, 0.4, 6)
    low, high, se = pairs_bootstrap(x, y, rng=np.random.default_rng(7), confidence=0.9, n_resamples=2000)
    ref = stats.bootstrap((x, y), lambda a, b, axis=-1: stats.pearsonr(a, b, axis=axis).statistic, paired=True,
                          vectorized=True, confidence_level=0.9, n_resamples=2000, method="BCa",
                          rng=np.random.default_rng(7))
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert se == pytest.approx(np.std(np.arctanh(ref.bootstrap_distribution), ddof=1), rel=1e-6)


def _mixture(n, rng):
    """A dose-response design's samples: five interventions whose means of x and y rise together, with
    spreads that differ (not bivariate normal; modelled on the shipped concept claim's samples)."""
    c = np.arange(n) % 5
    mx, my = np.array([0.0, 0.001, 0.003, 0.014, 0.048])[c], np.array([0.004, 0.011, 0.2, 0.22, 0.43])[c]
    sx, sy = np.array([1e-4, 0.002, 0.005, 0.013, 0.049])[c], np.array([0.004, 0.015, 0.21, 0.29, 0.28])[c]
    return mx + sx * rng.standard_normal(n) * (1 + rng.exponential(size=n)), my + sy * rng.standard_normal(n)


def test_on_mixtures_fishers_interval_runs_short_and_the_union_holds():
    big_x, big_y = _mixture(200_000, np.random.default_rng(0))
    rho = np.corrcoef(big_x, big_y)[0, 1]
    fisher = union = 0
    for s in range(200):
        x, y = _mixture(30, np.random.default_rng(100 + s))
        got = correlation(x, y, rng=np.random.default_rng(s), n_resamples=999)
        low, high = fisher_interval(got.r, 30, "pearson")
        fisher += low <= rho <= high
        union += got.ci_low <= rho <= got.ci_high
    assert fisher / 200 < 0.9     # measured 0.845: Fisher assumes bivariate normality
    assert union / 200 >= 0.9     # measured 0.92


def test_equivalence_uses_the_larger_standard_error():
    fisher_only = correlation_equivalence(0.0, 103, 0.2)
    assert correlation_equivalence(0.0, 103, 0.2, bootstrap_se=0.05) == pytest.approx(fisher_only)
    assert correlation_equivalence(0.0, 103, 0.2, bootstrap_se=0.2) > fisher_only


def test_pearson_monte_carlo_p_is_close_to_the_t_test_for_normal_data():
    x, y = _pair(60, 0.25, 2)
    ours = correlation(x, y, rng=np.random.default_rng(3))
    assert ours.p_value == pytest.approx(stats.pearsonr(x, y).pvalue, abs=0.015)


def test_spearman_is_pearson_of_ranks_with_bonett_wright_interval():
    rng = np.random.default_rng(4)
    x = rng.exponential(size=40)
    y = np.round(x**2 + rng.normal(0, 0.5, 40), 0)  # ties in y
    ours = correlation(x, y, rng=np.random.default_rng(5), method="spearman", confidence=0.9)
    rho = stats.spearmanr(x, y).statistic
    assert ours.r == pytest.approx(rho)
    se = np.sqrt((1 + rho**2 / 2) / (40 - 3))
    z = stats.norm.ppf(0.95)
    assert ours.ci_low <= np.tanh(np.arctanh(rho) - z * se) + 1e-12
    assert ours.ci_high >= np.tanh(np.arctanh(rho) + z * se) - 1e-12
    assert ours.p_value == pytest.approx(stats.spearmanr(x, y).pvalue, abs=0.01)


def test_spearman_exact_p_matches_scipy_permutation_test():
    x, y = np.array([1.0, 3, 2, 5, 4, 6]), np.array([2.0, 1, 4, 3, 6, 5])
    ref = stats.permutation_test((y,), lambda yy: stats.spearmanr(x, yy).statistic,
                                 permutation_type="pairings", alternative="greater",
                                 rng=np.random.default_rng(0)).pvalue
    got = correlation(x, y, rng=np.random.default_rng(0), method="spearman", alternative="greater")
    assert got.p_value == pytest.approx(ref)


def test_correlation_equivalence_by_hand():
    # r = 0, n = 103: se = 0.1; p = Φ(−atanh(0.2)/0.1)
    assert correlation_equivalence(0.0, 103, 0.2) == pytest.approx(stats.norm.cdf(-np.arctanh(0.2) / 0.1))
    assert correlation_equivalence(0.5, 103, 0.2) > 0.5


def test_fisher_interval_of_a_perfect_correlation_is_the_point():
    assert fisher_interval(1.0, 10, "pearson") == (1.0, 1.0)


@pytest.mark.parametrize("x, y, message", [
    ([1.0, 2, 3, 4, 5], [2.0, 2, 2, 2, 2], "y is constant"),
    ([1.0, 2, 3], [3.0, 1, 2], "at least 4 pairs"),
    ([1.0, 2, 3, 4], [1.0, 2, 3], "same length"),
    ([1.0, 2, np.nan, 4], [1.0, 2, 3, 4], "NaN or infinite"),
])
def test_unusable_correlation_inputs_raise_a_teaching_error(x, y, message):
    with pytest.raises(StatisticsError, match=message):
        correlation(x, y, rng=np.random.default_rng(0))
