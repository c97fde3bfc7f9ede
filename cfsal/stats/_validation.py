"""Checks on the numbers handed to cfsal.stats, with messages that say what to do."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cfsal.errors import StatisticsError


def finite_vector(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D float array, refusing NaN and infinity.

    A NaN in paired differences almost always means a measure failed on some branch (a division by
    zero, an episode that ended before the horizon); silently dropping it would bias the test, so
    the caller has to decide.
    """
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise StatisticsError(f"{name}: cannot read the values as numbers ({error}).") from error
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise StatisticsError(
            f"{name}: expected a 1-D sequence of numbers (one per pair), got an array of shape "
            f"{array.shape}. Flatten it or reduce each pair to one number first."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.flatnonzero(bad)
        shown = ", ".join(f"[{i}]={array[i]}" for i in where[:5])
        raise StatisticsError(
            f"{name}: {bad.sum()} of {array.size} values are NaN or infinite ({shown}"
            f"{', …' if where.size > 5 else ''}). A measure failed on those samples; fix the measure "
            "or drop those samples explicitly before testing (dropping them silently could bias the verdict)."
        )
    return array


def paired_vectors(x: ArrayLike, y: ArrayLike,
                   names: tuple[str, str] = ("x", "y")) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 1-D arrays of the same length (one value per sample in each)."""
    a, b = finite_vector(x, names[0]), finite_vector(y, names[1])
    if a.size != b.size:
        raise StatisticsError(
            f"{names[0]} has {a.size} values but {names[1]} has {b.size}; a correlation needs one "
            "pair (x[i], y[i]) per sample, so both must have the same length."
        )
    return a, b


def within_bounds(values: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float]:
    """The declared ``bounds`` of a measure as floats, once they are finite and ordered and every value
    lies inside them: a test that is valid because of the bounds must not be handed values beyond them."""
    low, high = float(bounds[0]), float(bounds[1])
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise StatisticsError(f"bounds={bounds!r}: need finite low < high.")
    outside = (values < low) | (values > high)
    if outside.any():
        raise StatisticsError(
            f"{int(outside.sum())} values lie outside the declared bounds [{low:g}, {high:g}] "
            f"(e.g. {values[outside][0]!r}); widen the bounds to the range the measure can really take."
        )
    return low, high


def check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 99:
        raise StatisticsError(
            f"n_resamples={n_resamples!r}: use an integer ≥ 99 (Monte-Carlo p-values cannot go below "
            "1/(n_resamples + 1)); 9999 is the default."
        )
    return int(n_resamples)


def check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise StatisticsError(f"confidence={confidence!r} must be in (0, 1), e.g. 0.95.")
    return float(confidence)
