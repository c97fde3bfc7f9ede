"""Bootstrap confidence intervals (via scipy.stats.bootstrap)."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from scipy import stats


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
