"""Episode-clustered inference: equal to the iid routines with one sample per episode, CR1 by hand,
exact sign flips of episode sums, calibration on within-episode-correlated nulls, and the verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cfsal.errors import StatisticsError
from cfsal.stats import Claim, Verdict, adjust, assess
from cfsal.stats.bootstrap import bootstrap_ci, cluster_bootstrap_ci
from cfsal.stats.clustered import (
    MIN_CLUSTERS,
    cluster_bootstrap_t_test,
    cluster_paired_test,
    cluster_robust_se,
    cluster_sign_flip_test,
    cluster_t_interval,
    cluster_tost,
    group,
)
from cfsal.stats.paired import bootstrap_t_test, paired_test, sign_flip_test, t_interval, tost

R = 999


def rng(seed=0):
    return np.random.default_rng(seed)


def episodes_null(seed: int, episodes: int = 10, per: int = 20, shared: float = 0.5, noise: float = 0.5,
                  mean: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Differences whose episodes share a symmetric random offset: a null (mean ``mean``) with correlated samples."""
    g = np.random.default_rng(seed)
    labels = np.repeat(np.arange(episodes), per)
    return mean + g.normal(0, shared, episodes)[labels] + g.normal(0, noise, labels.size), labels


# --------------------------------------------------------------- one sample per episode = the iid routines

D = np.random.default_rng(7).normal(0.15, 1.0, 25)


def test_one_sample_per_episode_gives_the_iid_tests_exactly():
    labels = np.arange(D.size)
    assert cluster_sign_flip_test(D, labels, rng=rng(1), n_resamples=R) == sign_flip_test(D, rng=rng(1), n_resamples=R)
    a, b = cluster_bootstrap_t_test(D, labels, rng=rng(2), n_resamples=R), bootstrap_t_test(D, rng=rng(2), n_resamples=R)
    assert a.p_value == b.p_value and a.statistic == pytest.approx(b.statistic, rel=1e-12)
    assert cluster_paired_test(D, labels, rng=rng(3), n_resamples=R).p_value == \
        paired_test(D, rng=rng(3), n_resamples=R).p_value
    assert cluster_bootstrap_ci(D, labels, rng(4), n_resamples=R) == pytest.approx(bootstrap_ci(D, rng(4), n_resamples=R))
    assert cluster_t_interval(D, labels, 0.9) == pytest.approx(t_interval(D, 0.9), rel=1e-12)
    clustered, plain = cluster_tost(D, labels, 0.6, bounds=(-5, 5)), tost(D, 0.6, bounds=(-5, 5))
    assert clustered.p_lower == pytest.approx(plain.p_lower) and clustered.p_upper == pytest.approx(plain.p_upper)
    assert cluster_robust_se(D, labels) == pytest.approx(np.std(D, ddof=1) / math.sqrt(D.size), rel=1e-12)


@pytest.mark.parametrize("claim", [Claim("effect"), Claim("effect", margin=0.1), Claim("direction", "greater"),
                                   Claim("no_effect", margin=0.6)], ids=lambda c: f"{c.kind}-{c.margin}")
def test_assess_with_singleton_episodes_equals_assess_without(claim):
    plain = assess(claim, D, rng=rng(5), n_resamples=R, bounds=(-5, 5))
    clustered = assess(claim, D, rng=rng(5), n_resamples=R, bounds=(-5, 5), clusters=np.arange(D.size))
    assert (clustered.outcome, clustered.n, clustered.clusters) == (plain.outcome, plain.n, D.size)
    assert clustered.p_value == pytest.approx(plain.p_value, rel=1e-9)
    if claim.kind == "no_effect":
        assert (clustered.ci_low, clustered.ci_high) == pytest.approx((plain.ci_low, plain.ci_high), rel=1e-9)
    else:  # the bootstrap interval (equal to the iid one here) joined with the CR1 t-interval
        t_low, t_high = t_interval(D, 1 - claim.alpha)
        assert clustered.ci_low == pytest.approx(min(plain.ci_low, t_low), rel=1e-9)
        assert clustered.ci_high == pytest.approx(max(plain.ci_high, t_high), rel=1e-9)
    assert plain.clusters is None and "episodes" in clustered.explanation


# ------------------------------------------------------------------------------------ known values

def test_cr1_standard_error_by_hand():
    # sums 3, 7, 6 over sizes 2, 2, 1; mean 16/5; residual sums −3.4, 0.6, 2.8; V = 3/2 · 19.76 / 25
    d, labels = [1.0, 2.0, 3.0, 4.0, 6.0], ["a", "a", "b", "b", "c"]
    assert cluster_robust_se(d, labels) == pytest.approx(math.sqrt(1.5 * 19.76 / 25), rel=1e-12)
    half = 2.919985580355516 * math.sqrt(1.5 * 19.76 / 25)  # t_{0.95, 2 df}
    assert cluster_t_interval(d, labels, 0.9) == pytest.approx((3.2 - half, 3.2 + half), rel=1e-9)


def test_the_sign_flip_of_episode_sums_is_exact_over_the_episodes():
    # three episodes, all sums positive: only the observed pattern is as extreme, p = 1/8 one-sided
    d, labels = [0.5, 0.1, 2.0, -0.2, 1.0], [0, 0, 1, 1, 2]
    result = cluster_sign_flip_test(d, labels, rng=rng(), alternative="greater")
    assert result.exact and result.n_resamples == 8 and result.p_value == pytest.approx(1 / 8)
    assert result.statistic == pytest.approx(np.mean(d))
    # the same data read as five independent samples reaches a smaller p: 2/32 (patterns beating 3.4 of 32)
    assert sign_flip_test(d, rng=rng(), alternative="greater").p_value < 1 / 8


def test_group_sums_per_label_and_refuses_mismatched_labels():
    groups = group([1.0, 2.0, 3.0], [5, 1, 5])
    np.testing.assert_array_equal(groups.labels, [1, 5])
    np.testing.assert_array_equal(groups.sums, [2.0, 4.0])
    np.testing.assert_array_equal(groups.sizes, [1.0, 2.0])
    with pytest.raises(StatisticsError, match="one episode label per difference"):
        group([1.0, 2.0], [0])
    with pytest.raises(StatisticsError, match="at least 2 episodes.*max_per_episode"):
        cluster_robust_se([1.0, 2.0], [0, 0])


def test_the_episode_bootstrap_ci_is_wider_than_the_iid_one_under_shared_episode_offsets():
    d, labels = episodes_null(3)
    iid_low, iid_high = bootstrap_ci(d, rng(1), n_resamples=R)
    low, high = cluster_bootstrap_ci(d, labels, rng(1), n_resamples=R)
    assert high - low > 2 * (iid_high - iid_low)
    assert low < np.mean(d) < high


# ------------------------------------------------------------------------------------ calibration

def test_on_correlated_nulls_iid_tests_over_reject_and_clustered_ones_hold_the_level():
    """200 nulls of 10 episodes × 20 samples, episode offsets as large as the noise: the iid test
    rejects far above α = 0.05; the clustered one stays within α + 2.5 Monte-Carlo SE (fixed seeds)."""
    iid = clustered = 0
    trials = 200
    for seed in range(trials):
        d, labels = episodes_null(seed)
        iid += paired_test(d, rng=rng(seed), n_resamples=R).p_value < 0.05
        clustered += cluster_paired_test(d, labels, rng=rng(seed), n_resamples=R).p_value < 0.05
    limit = 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / trials)
    assert iid / trials > 0.3
    assert clustered / trials <= limit


def test_on_correlated_nulls_at_the_margin_iid_tost_over_supports_and_clustered_tost_does_not():
    """True mean exactly at the margin (so 'no effect within ±margin' is false): false support rate."""
    iid = clustered = 0
    trials = 200
    for seed in range(trials):
        d, labels = episodes_null(1000 + seed, mean=0.3, shared=0.3, noise=0.3)
        iid += tost(d, 0.3).p_value < 0.05
        clustered += cluster_tost(d, labels, 0.3).p_value < 0.05
    assert iid / trials > 0.15
    assert clustered / trials <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / trials)


# ------------------------------------------------------------------------------------ verdicts

def test_fewer_than_five_episodes_is_inconclusive_and_says_to_sample_more_episodes():
    d, labels = episodes_null(4, episodes=MIN_CLUSTERS - 1, per=50, shared=0.01, noise=0.01, mean=1.0)
    v = assess(Claim("effect"), d, rng=rng(), n_resamples=R, clusters=labels)
    assert v.outcome == "INCONCLUSIVE" and v.clusters == MIN_CLUSTERS - 1 and v.n == d.size
    assert "only 4 episodes" in v.explanation and "max_per_episode" in v.explanation
    assert v.ci_low < 1.0 < v.ci_high and math.isfinite(v.ci_low)
    # the same data read as independent samples would have been SUPPORTED
    assert assess(Claim("effect"), d, rng=rng(), n_resamples=R).outcome == "SUPPORTED"


def test_a_clear_effect_over_enough_episodes_is_supported_with_the_episode_count_recorded():
    d, labels = episodes_null(5, episodes=12, per=5, shared=0.1, noise=0.2, mean=0.5)
    v = assess(Claim("direction", "greater"), d, rng=rng(), n_resamples=R, clusters=labels)
    assert v.outcome == "SUPPORTED" and v.clusters == 12
    assert "12 episodes" in v.explanation and "episode" in v.test
    adjusted = adjust([v, v])[0]
    assert adjusted.clusters == 12 and "60 samples from 12 episodes" in adjusted.explanation


def test_clustered_effect_ci_joins_the_episode_bootstrap_and_the_cluster_robust_t_interval():
    d, labels = episodes_null(9, episodes=6, per=5, mean=0.4)
    v = assess(Claim("effect"), d, rng=rng(2), n_resamples=R, clusters=labels)
    t = cluster_t_interval(d, labels, 0.95)
    assert v.ci_low <= t[0] and v.ci_high >= t[1] and "∪ cluster-robust t" in v.test
    assert v.ci_high - v.ci_low < 2 * (t[1] - t[0])  # a union of two intervals of the same effect, not a blow-up


def test_clustered_no_effect_verdict_uses_the_cluster_robust_interval():
    d, labels = episodes_null(6, episodes=8, per=25, shared=0.02, noise=0.05)
    v = assess(Claim("no_effect", margin=0.1), d, rng=rng(), n_resamples=R, clusters=labels)
    assert v.outcome == "SUPPORTED" and "CR1, 8 episodes, 7 df" in v.test
    assert (v.ci_low, v.ci_high) == pytest.approx(cluster_t_interval(d, labels, 0.9))


def test_verdict_json_round_trips_clusters_and_reads_files_without_them():
    d, labels = episodes_null(8, episodes=6, per=4)
    v = assess(Claim("effect", margin=0.05), d, rng=rng(), n_resamples=R, clusters=labels)
    data = json.loads(json.dumps(v.to_dict()))
    assert data["clusters"] == 6 and Verdict.from_dict(data) == v
    del data["clusters"]  # written before clustered inference existed
    assert Verdict.from_dict(data).clusters is None
