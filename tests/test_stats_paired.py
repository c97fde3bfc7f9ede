"""Paired-difference routines of cfsal.stats against scipy and known values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats import (
    bootstrap_ci,
    bootstrap_t_test,
    paired_test,
    sign_flip_test,
    t_interval,
    tost,
    wilcoxon_test,
)
from cfsal.stats.paired import bounded_mean_test


def _scipy_sign_flip(d, alternative, rng, n_resamples=9999):
    return stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                  vectorized=True, alternative=alternative, n_resamples=n_resamples,
                                  rng=rng).pvalue


@pytest.mark.parametrize("n", [2, 3, 8, 13])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_exact_matches_scipy_permutation_test(n, alternative):
    rng = np.random.default_rng(n)
    d = np.round(rng.normal(0.4, 1.0, n), 1)  # rounding creates ties in the null distribution
    ours = sign_flip_test(d, rng=rng, alternative=alternative)
    assert ours.exact and ours.n_resamples == 2**n
    assert ours.p_value == pytest.approx(_scipy_sign_flip(d, alternative, rng), abs=1e-12)


def test_sign_flip_exact_known_value():
    # All five differences positive: only the identity pattern reaches the observed mean.
    result = sign_flip_test([1.0, 2.0, 3.0, 4.0, 5.0], rng=np.random.default_rng(0), alternative="greater")
    assert result.p_value == 1 / 32
    assert sign_flip_test([1.0, 2.0, 3.0, 4.0, 5.0], rng=np.random.default_rng(0)).p_value == 2 / 32


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_monte_carlo_agrees_with_scipy(alternative):
    rng = np.random.default_rng(1)
    d = rng.normal(0.3, 1.0, 30)
    ours = sign_flip_test(d, rng=rng, alternative=alternative)
    assert not ours.exact and ours.n_resamples == 9999
    assert ours.p_value == pytest.approx(_scipy_sign_flip(d, alternative, rng), abs=0.02)


def test_sign_flip_monte_carlo_p_never_below_one_over_resamples_plus_one():
    d = np.full(40, 2.0)  # every pattern but the identity gives a smaller mean
    result = sign_flip_test(d, rng=np.random.default_rng(0), alternative="greater", n_resamples=999)
    assert result.p_value == pytest.approx(1 / 1000)


def test_sign_flip_all_zero_differences_give_p_one():
    for n in (2, 20, 100):
        assert sign_flip_test(np.zeros(n), rng=np.random.default_rng(0)).p_value == 1.0


def test_bootstrap_t_statistic_is_the_one_sample_t():
    d = np.random.default_rng(2).normal(0.5, 1, 25)
    assert bootstrap_t_test(d, rng=np.random.default_rng(0)).statistic == pytest.approx(
        stats.ttest_1samp(d, 0.0).statistic)


def test_bootstrap_t_monte_carlo_matches_complete_enumeration():
    """For n = 5 all 5⁵ resamples can be enumerated: the ideal bootstrap p-value is known exactly."""
    d = np.array([0.3, 1.1, -0.4, 2.0, 0.9])
    centred = d - d.mean()
    everything = centred[np.array(list(itertools.product(range(5), repeat=5)))]
    with np.errstate(divide="ignore", invalid="ignore"):  # resamples of one repeated value: t = ±∞
        t_all = everything.mean(1) / (everything.std(1, ddof=1) / np.sqrt(5))
    t_obs = d.mean() / (d.std(ddof=1) / np.sqrt(5))
    ideal = {"two-sided": np.mean(np.abs(t_all) >= abs(t_obs)), "greater": np.mean(t_all >= t_obs),
             "less": np.mean(t_all <= t_obs)}
    for alternative, expected in ideal.items():
        got = bootstrap_t_test(d, rng=np.random.default_rng(3), alternative=alternative, n_resamples=20000)
        assert got.p_value == pytest.approx(expected, abs=0.01), alternative


def test_bootstrap_t_degenerate_samples():
    assert bootstrap_t_test(np.zeros(10), rng=np.random.default_rng(0)).p_value == 1.0
    # Constant non-zero differences: centred resamples are all zero, none as extreme as t = ∞.
    for value in (1.0, 0.3, -0.7):  # 0.3 and -0.7: the float mean is off by 1 ulp, the spread still is 0
        d = np.full(20, value)
        assert bootstrap_t_test(d, rng=np.random.default_rng(0), n_resamples=999).p_value == 1 / 1000


def test_paired_test_takes_the_larger_p_of_its_two_components():
    d = np.random.default_rng(4).normal(0.4, 1, 20)
    result = paired_test(d, rng=np.random.default_rng(5))
    assert result.p_value == max(result.sign_flip.p_value, result.bootstrap_t.p_value)
    assert "sign-flip" in result.describe() and "bootstrap-t" in result.describe()


def test_wilcoxon_matches_scipy_and_known_value():
    d = np.random.default_rng(6).normal(0.3, 1, 15)
    for alternative in ("two-sided", "greater", "less"):
        assert wilcoxon_test(d, alternative=alternative).p_value == pytest.approx(
            stats.wilcoxon(d, alternative=alternative).pvalue)
    assert wilcoxon_test([1.0, 2.0, 3.0, 4.0, 5.0]).p_value == pytest.approx(2 / 32)  # exact null
    assert wilcoxon_test(np.zeros(7)).p_value == 1.0


def test_tost_matches_the_two_one_sided_t_tests_by_hand():
    d = np.random.default_rng(7).normal(0.05, 0.2, 40)
    margin = 0.15
    se = d.std(ddof=1) / np.sqrt(d.size)
    p_lower = stats.t.sf((d.mean() + margin) / se, d.size - 1)
    p_upper = stats.t.cdf((d.mean() - margin) / se, d.size - 1)
    result = tost(d, margin)
    assert result.p_lower == pytest.approx(p_lower) and result.p_upper == pytest.approx(p_upper)
    assert result.p_value == pytest.approx(max(p_lower, p_upper))


@pytest.mark.parametrize("seed", range(6))
def test_tost_is_the_one_minus_two_alpha_interval_inside_the_margin(seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(rng.uniform(-0.2, 0.2), 0.3, 25)
    for margin in (0.05, 0.1, 0.2, 0.3):
        low, high = t_interval(d, confidence=0.90)
        assert (tost(d, margin).p_value < 0.05) == (-margin < low and high < margin)


def test_t_interval_matches_the_textbook_formula():
    d = np.random.default_rng(8).normal(1, 2, 12)
    half = stats.t.ppf(0.975, 11) * d.std(ddof=1) / np.sqrt(12)
    assert t_interval(d, 0.95) == pytest.approx((d.mean() - half, d.mean() + half))


def test_zero_differences_are_equivalent_for_any_positive_margin():
    for margin in (1e-9, 0.01, 1.0, 1e6):
        assert tost(np.zeros(2), margin).p_value == 0.0
    assert t_interval(np.zeros(5)) == (0.0, 0.0)
    assert tost(np.full(5, 0.3), 0.2).p_value == 1.0  # known exactly, and outside the margin


def test_bootstrap_ci_is_scipy_bca_and_handles_constant_samples():
    d = np.random.default_rng(9).exponential(size=30)
    ours = bootstrap_ci(d, np.random.default_rng(10), n_resamples=2000)
    ref = stats.bootstrap((d,), np.mean, method="BCa", n_resamples=2000, rng=np.random.default_rng(10))
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert bootstrap_ci(np.zeros(10), np.random.default_rng(0)) == (0.0, 0.0)


@pytest.mark.parametrize("bad", [[0.1, np.nan, 0.2], [np.inf, 0.0], [[0.1, 0.2], [0.3, 0.4]]])
def test_unusable_inputs_raise_a_teaching_error(bad):
    with pytest.raises(StatisticsError, match="NaN or infinite|1-D"):
        sign_flip_test(bad, rng=np.random.default_rng(0))


def test_bounded_mean_test_cannot_beat_the_exact_worst_case():
    """30 zeros of a 0/1 measure: a 5% rate gives them with probability 0.95³⁰, so p ≥ 0.215."""
    p = bounded_mean_test(np.zeros(30), 0.05, (0, 1), alternative="less")
    assert 0.95**30 <= p < 0.5
    assert bounded_mean_test(np.zeros(100), 0.05, (0, 1), alternative="less") < 0.05
    assert bounded_mean_test(np.ones(100), 0.95, (0, 1), alternative="greater") < 0.05  # mirrored
    assert bounded_mean_test(np.zeros(5), -0.1, (0, 1), alternative="less") == 1.0  # H0 always true
    assert bounded_mean_test(np.zeros(5), -0.1, (0, 1), alternative="greater") == 0.0  # H0 impossible


def test_bounded_mean_test_is_valid_for_rare_events_at_the_null():
    g = np.random.default_rng(11)
    for rate, n in ((0.05, 30), (0.05, 200), (0.3, 50)):
        p = [bounded_mean_test(g.binomial(1, rate, n), rate, (0, 1), alternative="less") for _ in range(1000)]
        assert np.mean(np.array(p) < 0.05) <= 0.05, (rate, n)


def test_bounded_values_outside_the_bounds_raise_a_teaching_error():
    with pytest.raises(StatisticsError, match="outside the declared bounds"):
        bounded_mean_test([0.2, 1.5], 0.1, (0, 1), alternative="less")


def test_tost_with_bounds_is_at_least_as_strict_as_without():
    d = np.random.default_rng(12).binomial(1, 0.02, 150).astype(float)
    plain, bounded = tost(d, 0.05), tost(d, 0.05, bounds=(0, 1))
    assert bounded.p_value >= plain.p_value
    assert tost(np.zeros(30), 0.05, bounds=(0, 1)).p_value > 0.2  # vs. 0 without bounds
