"""Bootstrap confidence intervals (via scipy.stats.bootstrap): of independent samples, or resampling episodes."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from scipy import stats

from cfsal.stats.clustered import group


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, *, statistic: Callable = np.mean,
                 confidence: float = 0.95, n_resamples: int = 9999,
                 method: str = "BCa") -> tuple[float, float]:
    """A bootstrap CI of ``statistic`` over one sample (BCa by default, Efron 1987).

    Degenerate samples (fewer than two values, or all equal) have no sampling spread to resample:
    the interval is then the point estimate itself, which is what BCa converges to and avoids
    scipy's NaN with a warning.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("cannot bootstrap an empty sample")
    point = float(statistic(values))
    if values.size < 2 or np.all(values == values[0]):
        return point, point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        result = stats.bootstrap((values,), statistic, confidence_level=confidence,
                                 n_resamples=n_resamples, method=method, rng=rng, vectorized=True)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        result = stats.bootstrap((values,), statistic, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile", rng=rng, vectorized=True)
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return low, high


def _ratio_mean(sums: np.ndarray, sizes: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(sums, axis=axis) / np.sum(sizes, axis=axis)


def cluster_bootstrap_ci(values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator, *,
                         confidence: float = 0.95, n_resamples: int = 9999,
                         method: str = "BCa") -> tuple[float, float]:
    """A bootstrap CI of the mean that resamples whole episodes (the cluster bootstrap; Davison &
    Hinkley 1997, §3.8; Cameron, Gelbach & Miller 2008, §2.3).

    Samples of one episode are correlated, so resampling them one by one pretends to more
    independent draws than there are; resampling episodes (their sums and sizes, paired) keeps
    the dependence inside each. The statistic is Σ sums / Σ sizes, the overall mean; BCa's
    jackknife then leaves out one episode at a time. With one sample per episode this is
    :func:`bootstrap_ci` on the samples. Degenerate cases (one episode, or equal episode means)
    give the point estimate, as there.
    """
    groups = group(values, clusters)
    if groups.n == 0:
        raise ValueError("cannot bootstrap an empty sample")
    point = groups.mean
    means = groups.means
    if groups.count < 2 or np.all(means == means[0]):
        return point, point
    data = (groups.sums, groups.sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        result = stats.bootstrap(data, _ratio_mean, confidence_level=confidence, n_resamples=n_resamples,
                                 method=method, rng=rng, vectorized=True, paired=True)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        result = stats.bootstrap(data, _ratio_mean, confidence_level=confidence, n_resamples=n_resamples,
                                 method="percentile", rng=rng, vectorized=True, paired=True)
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return low, high
