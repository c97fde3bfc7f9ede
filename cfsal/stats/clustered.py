"""Paired tests when samples come in episodes: the episode, not the branch point, is the independent unit.

``counterfactual`` branches every k steps of seeded episodes, so many paired samples share one
episode — its game phase, its score, its agent's habits there — and their differences are
correlated. Tests that treat them as independent are over-confident: on the breakout expert, 400
samples from one episode gave a 95% interval four times too narrow (docs/statistics.md, "Samples
from the same episode"). The remedy is the one econometrics uses for clustered data (Cameron,
Gelbach & Miller 2008, "Bootstrap-based improvements for inference with clustered errors",
*REStat* 90(3); Cameron & Miller 2015, "A practitioner's guide to cluster-robust inference",
*J. Human Resources* 50(2)): every statistic is built from per-episode sums, so only the G
episodes count as independent draws.

* **Sign flip of episode sums** (:func:`cluster_sign_flip_test`). If the agent ignores the
  intervention, swapping the factual and intervened arms of *every* pair of one episode at once
  leaves the episode's distribution unchanged, so each episode's sum of differences is symmetric
  about 0 and independent of the others: flipping the signs of whole episodes is an exact
  randomization test of that sharp null at any G (Fisher 1935; with a studentized statistic it is
  the wild cluster bootstrap with Rademacher weights and the null imposed, CGM 2008 §3.2; its
  validity with few, large clusters is Canay, Romano & Shaikh 2017, "Randomization tests under an
  approximate symmetry assumption", *Econometrica* 85(3)). With G episodes the smallest p is 2⁻ᴳ
  one-sided and 2¹⁻ᴳ two-sided.
* **Cluster bootstrap-t** (:func:`cluster_bootstrap_t_test`): episodes resampled with replacement
  (the "pairs cluster bootstrap-t" of CGM 2008 §3.1) from the centred data, each resample
  studentized by its own cluster-robust SE. Combined with the sign flip as in
  :func:`cfsal.stats.paired.paired_test`: reject only when both do.
* **Cluster-robust SE** (:func:`cluster_robust_se`): CR1, Liang & Zeger (1986) with the
  small-sample factor G/(G − 1) (Stata's ``vce(cluster)`` for a mean), referred to Student t with
  G − 1 degrees of freedom (Bell & McCaffrey 2002; Cameron & Miller 2015 §VI.C). It gives the
  interval and the TOST of no-effect claims (:func:`cluster_t_interval`, :func:`cluster_tost`).
* **Cluster bootstrap CI**: :func:`cfsal.stats.bootstrap.cluster_bootstrap_ci` (episodes
  resampled, BCa).

With one sample per episode every routine here equals its independent-samples counterpart
(the tests check it). Below :data:`MIN_CLUSTERS` episodes no verdict is drawn at all
(:func:`cfsal.stats.verdict.assess`): a variance estimated from 4 numbers, or a randomization
test with 16 sign patterns, cannot carry a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats._validation import check_confidence, check_resamples
from cfsal.stats.paired import (
    BET_STAKE_CAP,
    DEFAULT_RESAMPLES,
    Alternative,
    BootstrapTResult,
    EquivalenceResult,
    MinimumEffectResult,
    PermutationResult,
    _at_least_as_extreme,
    _check_alternative,
    _sign_flip,
    bounded_mean_test,
    resample_batch,
)

#: Fewest episodes behind a clustered verdict. With 4 episodes the two-sided sign-flip test cannot
#: go below p = 2/16 and a t with 3 degrees of freedom needs |t| > 3.18 at 95%; the cluster
#: bootstrap is known to under-cover badly below ~5–10 clusters (Cameron, Gelbach & Miller 2008).
MIN_CLUSTERS = 5

#: Largest stake of the betting test on episode means (see :func:`cluster_tost`).
CLUSTER_STAKE_CAP = 0.95


@dataclass(frozen=True)
class Clusters:
    """Paired differences summarised per episode: all the clustered statistics need.

    ``sums[g]`` and ``sizes[g]`` are the sum and the number of differences of episode ``labels[g]``,
    in increasing label order (episode order, which the betting test relies on being fixed in advance).
    """

    labels: np.ndarray
    sums: np.ndarray
    sizes: np.ndarray

    @property
    def count(self) -> int:
        return int(self.labels.size)

    @property
    def n(self) -> int:
        return int(self.sizes.sum())

    @property
    def mean(self) -> float:
        return float(self.sums.sum() / self.n)

    @property
    def means(self) -> np.ndarray:
        return self.sums / self.sizes


def group(differences: ArrayLike, clusters: ArrayLike) -> Clusters:
    """Sum ``differences`` per cluster label (e.g. ``result.episodes`` of a counterfactual run).

    Labels may be any integers or strings, one per difference; their order does not matter.
    """
    d = np.asarray(differences, dtype=float).reshape(-1)
    labels = np.asarray(clusters)
    if labels.ndim != 1 or labels.size != d.size:
        raise StatisticsError(
            f"clusters: got {labels.size} labels (shape {labels.shape}) for {d.size} differences; give one "
            "episode label per difference, e.g. clusters=result.episodes."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise StatisticsError("clusters: labels must not be NaN or infinite; use the episode index of each sample.")
    unique, inverse = np.unique(labels, return_inverse=True)
    sums = np.bincount(inverse, weights=d, minlength=unique.size)
    sizes = np.bincount(inverse, minlength=unique.size).astype(float)
    return Clusters(unique, sums, sizes)


def _need(groups: Clusters, fewest: int, what: str) -> None:
    if groups.count < fewest:
        raise StatisticsError(
            f"{what} needs samples from at least {fewest} episodes, got {groups.count}; sample more episodes "
            "(counterfactual(..., max_per_episode=5) spreads the samples over more of them)."
        )


def _cr_variance(sums: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and CR1 variance of the mean along the last axis, from per-cluster sums and sizes.

    V = G/(G − 1) · Σ_g (S_g − n_g·m)² / N²: the Liang–Zeger sandwich for a mean with Stata's
    small-sample factor. With singletons it is s²/n, the usual variance of a mean.
    """
    count = sums.shape[-1]
    total = sizes.sum(axis=-1)
    mean = sums.sum(axis=-1) / total
    residual = sums - sizes * mean[..., None]
    return mean, count / (count - 1) * np.sum(residual**2, axis=-1) / total**2


def _cr_t(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cluster-robust t of the mean; equal cluster means (no spread) give ±inf, or 0 when the mean is 0."""
    mean, variance = _cr_variance(sums, sizes)
    spread = np.ptp(sums / sizes, axis=-1) > 0  # not variance > 0: rounding leaves ≈ 1e-33 for equal means
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / np.sqrt(variance)
    return np.where(spread, t, np.sign(mean) * np.where(mean == 0, 0.0, np.inf))


def cluster_robust_se(differences: ArrayLike, clusters: ArrayLike) -> float:
    """CR1 standard error of the mean difference with episodes as clusters (Liang & Zeger 1986)."""
    groups = group(differences, clusters)
    _need(groups, 2, "cluster_robust_se")
    return float(np.sqrt(_cr_variance(groups.sums, groups.sizes)[1]))


def cluster_sign_flip_test(differences: ArrayLike, clusters: ArrayLike, *, rng: np.random.Generator,
                           alternative: Alternative = "two-sided",
                           n_resamples: int = DEFAULT_RESAMPLES) -> PermutationResult:
    """Sign-flip permutation test of the mean, flipping whole episodes (Canay, Romano & Shaikh 2017).

    The statistic is the overall mean Σd/N; under the sharp null (arms exchangeable within every
    pair, episodes independent) each episode's sum is symmetric about 0, so the 2ᴳ joint sign
    patterns of the episode sums are equally likely and the p-value is exact (Monte Carlo with the
    +1 correction when 2ᴳ > ``n_resamples``).
    """
    _check_alternative(alternative)
    n_resamples = check_resamples(n_resamples)
    groups = group(differences, clusters)
    _need(groups, 1, "cluster_sign_flip_test")
    return _sign_flip(groups.sums, groups.n, rng, alternative, n_resamples)


def cluster_bootstrap_t_test(differences: ArrayLike, clusters: ArrayLike, *, rng: np.random.Generator,
                             alternative: Alternative = "two-sided",
                             n_resamples: int = DEFAULT_RESAMPLES) -> BootstrapTResult:
    """Pairs-cluster bootstrap-t test of "mean = 0" (Cameron, Gelbach & Miller 2008, §3.1).

    Episodes of the *centred* differences are resampled with replacement and each resample's mean
    is studentized by its own CR1 standard error; two-sided compares |t|. Only per-episode sums and
    sizes enter, so it runs on a (resamples × episodes) array. The p-value carries the +1 correction.
    """
    _check_alternative(alternative)
    n_resamples = check_resamples(n_resamples)
    d = np.asarray(differences, dtype=float).reshape(-1)
    groups = group(d, clusters)
    _need(groups, 2, "cluster_bootstrap_t_test")
    if np.all(d == 0):
        return BootstrapTResult(0.0, 1.0, alternative, n_resamples)
    observed = float(_cr_t(groups.sums, groups.sizes))
    means = groups.means
    centred = (np.zeros_like(groups.sums) if np.all(means == means[0])
               else groups.sums - groups.sizes * groups.mean)
    batch = resample_batch(n_resamples, groups.count)
    count = 0
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        index = rng.integers(0, groups.count, size=(size, groups.count))
        count += _at_least_as_extreme(_cr_t(centred[index], groups.sizes[index]), observed, alternative)
    return BootstrapTResult(observed, (count + 1) / (n_resamples + 1), alternative, n_resamples)


@dataclass(frozen=True)
class ClusteredTestResult:
    """The episode-clustered test of effect and direction claims: both component tests must reject."""

    p_value: float    # max(sign_flip.p_value, bootstrap_t.p_value)
    sign_flip: PermutationResult
    bootstrap_t: BootstrapTResult
    clusters: int

    def describe(self) -> str:
        return (f"sign-flip of {self.clusters} episode sums ({self.sign_flip.how()}) and episode bootstrap-t "
                f"({self.bootstrap_t.n_resamples} resamples), larger p")


def cluster_paired_test(differences: ArrayLike, clusters: ArrayLike, *, rng: np.random.Generator,
                        alternative: Alternative = "two-sided",
                        n_resamples: int = DEFAULT_RESAMPLES) -> ClusteredTestResult:
    """:func:`cfsal.stats.paired.paired_test` with episodes as the units: p = max(sign-flip p, bootstrap-t p)."""
    flip = cluster_sign_flip_test(differences, clusters, rng=rng, alternative=alternative, n_resamples=n_resamples)
    boot = cluster_bootstrap_t_test(differences, clusters, rng=rng, alternative=alternative,
                                    n_resamples=n_resamples)
    return ClusteredTestResult(max(flip.p_value, boot.p_value), flip, boot, group(differences, clusters).count)


def cluster_minimum_effect_test(differences: ArrayLike, clusters: ArrayLike, margin: float, *,
                                rng: np.random.Generator, alternative: Alternative = "two-sided",
                                n_resamples: int = DEFAULT_RESAMPLES) -> MinimumEffectResult:
    """:func:`cfsal.stats.paired.minimum_effect_test` (|mean| beyond ±margin) with episodes as the units."""
    d = np.asarray(differences, dtype=float)
    if not margin > 0:
        raise StatisticsError(f"margin must be > 0, got {margin!r}")
    sides = {}
    if alternative in ("two-sided", "greater"):
        sides["greater"] = cluster_paired_test(d - margin, clusters, rng=rng, alternative="greater",
                                               n_resamples=n_resamples)
    if alternative in ("two-sided", "less"):
        sides["less"] = cluster_paired_test(d + margin, clusters, rng=rng, alternative="less",
                                            n_resamples=n_resamples)
    best = min(sides.values(), key=lambda result: result.p_value)
    return MinimumEffectResult(min(1.0, best.p_value * len(sides)), float(margin), best)  # type: ignore[arg-type]


def cluster_t_interval(differences: ArrayLike, clusters: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """mean ± t_{G−1} · CR1 SE: the interval a clustered TOST inverts (at confidence 1 − 2α)."""
    check_confidence(confidence)
    groups = group(differences, clusters)
    if groups.count < 2:
        return (-np.inf, np.inf)
    means = groups.means
    if np.all(means == means[0]):
        return groups.mean, groups.mean
    mean, variance = _cr_variance(groups.sums, groups.sizes)
    half = float(stats.t.ppf(0.5 + confidence / 2, groups.count - 1) * np.sqrt(variance))
    return float(mean) - half, float(mean) + half


def cluster_tost(differences: ArrayLike, clusters: ArrayLike, margin: float, *,
                 bounds: tuple[float, float] | None = None, alpha: float = 0.05) -> EquivalenceResult:
    """Two one-sided cluster-robust t-tests of ``−margin < mean < +margin`` (CR1 SE, G − 1 df).

    ``p_value < α`` exactly when :func:`cluster_t_interval` at 1 − 2α lies inside ±margin. With
    ``bounds``, each one-sided p is also the larger of it and the betting test
    (:func:`cfsal.stats.paired.bounded_mean_test`) on the *episode means*, taken in episode order.
    Those are independent and lie within the bounds, so the betting test is valid for the
    episode-weighted mean whatever their distribution; when episodes contribute different numbers
    of samples that is a slightly different quantity from the sample-weighted mean, but taking the
    larger p keeps the combination valid whenever the t-test is (a larger p is never less valid).
    Episode means are averages, rarely at the far bound, so when episodes hold more than one sample
    the bets may stake up to :data:`CLUSTER_STAKE_CAP` of what the null allows (with one sample per
    episode the test is the independent-samples one, cap included): then G episodes whose every difference is 0
    give p = (1 + 0.95·m/(1 − m))⁻ᴳ (67 episodes at margin 0.05 of a [0, 1] measure: 0.038, where
    the default cap's 0.075 could never support "no effect" from exact zeros).
    """
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin={margin!r}: an equivalence margin must be a finite number > 0.")
    groups = group(differences, clusters)
    mean = groups.mean if groups.n else float("nan")
    if groups.count < 2:
        return EquivalenceResult(1.0, 1.0, 1.0, float(margin), mean)
    means = groups.means
    if np.all(means == means[0]):
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
    else:
        se = float(np.sqrt(_cr_variance(groups.sums, groups.sizes)[1]))
        df = groups.count - 1
        p_lower = float(stats.t.sf((mean + margin) / se, df))
        p_upper = float(stats.t.cdf((mean - margin) / se, df))
    if bounds is not None:
        cap = CLUSTER_STAKE_CAP if np.any(groups.sizes > 1) else BET_STAKE_CAP  # singletons: the iid test
        p_lower = max(p_lower, bounded_mean_test(means, -margin, bounds, alternative="greater", alpha=alpha,
                                                 stake_cap=cap))
        p_upper = max(p_upper, bounded_mean_test(means, margin, bounds, alternative="less", alpha=alpha,
                                                 stake_cap=cap))
    return EquivalenceResult(max(p_lower, p_upper), p_lower, p_upper, float(margin), mean)
