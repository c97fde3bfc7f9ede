"""Multiple-testing corrections over all hypotheses of a session.

A session of twenty hypotheses at α = 0.05 expects one false SUPPORTED even if every agent ignores
every intervention. Holm (1979) keeps the family-wise error rate ≤ α under any dependence and is
uniformly more powerful than Bonferroni, so it is the default. Benjamini–Hochberg (1995) controls
the false-discovery rate instead (valid under independence or positive dependence), for
exploratory sessions with many hypotheses.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import StatisticsError

Correction = Literal["holm", "bh", "none"]
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


def _p_values(p_values: ArrayLike) -> np.ndarray:
    p = np.asarray(p_values, dtype=float).reshape(-1)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise StatisticsError(f"p-values must be finite numbers in [0, 1], got {p.tolist()}.")
    return p


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values: ``max_{j ≤ i} min(1, (m − j + 1) p_(j))`` in sorted order."""
    p = _p_values(p_values)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty_like(p)
    adjusted[order] = stepped
    return adjusted


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (scipy.stats.false_discovery_control, method='bh')."""
    p = _p_values(p_values)
    if p.size == 0:
        return p
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)


def adjust_p_values(p_values: ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values by ``method`` ('holm', 'bh' or 'none'); compare each with α."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return _p_values(p_values).copy()
    raise StatisticsError(
        f"correction={method!r} is not one of {CORRECTIONS}: 'holm' controls the chance of any false "
        "SUPPORTED (default), 'bh' the expected share of false ones, 'none' neither."
    )


def e_benjamini_hochberg(e_values: ArrayLike, alpha: float) -> np.ndarray:
    """e-BH (Wang & Ramdas 2022, JRSS-B 84:822): which hypotheses to reject, given e-values.

    Rejects the k hypotheses with the largest e-values, for the largest k with e_(k) ≥ m/(α·k).
    Controls the false-discovery rate at α under *any* dependence between the e-values, which
    makes it the natural correction for sequential tests: a test martingale stopped at any
    stopping time is an e-value (optional stopping). Returns a boolean mask.
    """
    e = np.asarray(e_values, dtype=float).reshape(-1)
    if np.any(np.isnan(e)) or np.any(e < 0):
        raise StatisticsError(f"e-values must be non-negative numbers, got {e.tolist()}.")
    if not 0 < alpha < 1:
        raise StatisticsError(f"alpha={alpha!r} must be in (0, 1).")
    m = e.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(-e, kind="stable")
    k = np.arange(1, m + 1)
    passing = np.flatnonzero(e[order] >= m / (alpha * k))
    reject = np.zeros(m, dtype=bool)
    if passing.size:
        reject[order[: passing.max() + 1]] = True
    return reject
