"""Anytime-valid evidence about a mean: test martingales, their p-value paths and confidence sequences.

Two processes, one per kind of measure (:mod:`cfsal.stats.sequential` decides with them):

* **Bounded measures** (``bounds`` known, e.g. total variation in [0, 1]): the betting CS of
  Waudby-Smith & Ramdas (2023, JRSS-B 86:1, §4–5, "hedged capital" with the predictable plug-in
  bet λₜ = min(c, √(2 log(1/a) / (σ̂²ₜ₋₁ t log(1 + t))))). For every candidate mean m the capital
  Kₜ(m) = Π(1 + λᵢ(xᵢ − m)) is a non-negative martingale when the mean is m, for *every*
  distribution on the bounds — skewed, discrete, zero-inflated. Exact, non-asymptotic.
* **Unbounded measures**: the Gaussian-mixture asymptotic CS of Waudby-Smith, Arbour, Sinha,
  Kennedy & Ramdas (2024, Ann. Statist., "Time-uniform central limit theory and asymptotic
  confidence sequences", Thm 2.2), i.e. the normal-mixture boundary of Howard, Ramdas, McAuliffe &
  Sekhon (2021, Ann. Statist. 49:1055, eq. (14)) applied to the standardised running sum with the
  empirical standard deviation. Valid as samples grow for any distribution with finite variance
  (no test of an unbounded mean can be exact at a finite n: Bahadur & Savage 1956).

A one-sided p-value at time t is min(1, 1/supₛ≤ₜ Kₛ(θ)), valid at any stopping time by Ville's
inequality: P(supₜ Kₜ ≥ 1/α) ≤ α for a non-negative supermartingale K with K₀ = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

#: Largest bet as a fraction of what the capital can lose (WSR 2023 use c = 1/2 or 3/4).
BET_CAP = 0.75
#: Constant bets (as fractions of the largest bet that keeps the capital positive) averaged by dKelly.
KELLY_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Grid of candidate means (on the [0, 1] scale) on which betting CS bounds are read off.
GRID_POINTS = 401
#: The asymptotic CS is tightest around this many samples (WSABKR 2024, eq. (2.6)); fixed in advance.
OPTIMISED_AT = 50
#: Fewest samples before the asymptotic CS of an unbounded measure may decide: its standard deviation
#: estimate needs them. Measured (docs/sequential.md): from 10, exponential − 1 nulls were SUPPORTED
#: at 0.165; from 30, at 0.075, the fixed-n test's own level at n = 10.
MIN_ASYMPTOTIC_N = 30


def betting_log_capital(x: np.ndarray, theta: np.ndarray, level: float, side: Literal["greater", "less"]) -> np.ndarray:
    """log Kₜ(θ) of the WSR (2023) predictable plug-in bettor for values ``x`` in [0, 1]; shape (n, len(θ)).

    ``side="greater"`` bets on the mean exceeding θ (its capital tests H0: mean ≤ θ), ``"less"`` on
    the mean falling short of θ. The bet λₜ uses only x₁..xₜ₋₁ (predictable), tuned for a one-sided
    level ``level``, and is truncated so the capital can never reach 0.
    """
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    n = x.size
    if n == 0:
        return np.zeros((0, theta.size))
    t = np.arange(1, n + 1)
    running_mean = (0.5 + np.cumsum(x)) / (t + 1)
    previous_mean = np.concatenate([[0.5], running_mean[:-1]])
    running_var = (0.25 + np.cumsum((x - previous_mean) ** 2)) / (t + 1)
    previous_var = np.concatenate([[0.25], running_var[:-1]])
    lam = np.sqrt(2.0 * math.log(1.0 / level) / (previous_var * t * np.log1p(t)))[:, None]
    with np.errstate(divide="ignore"):
        room = (theta if side == "greater" else 1.0 - theta)[None, :]   # most the capital can lose per unit bet
        cap = np.where(room > 0, 1.0 / room, np.inf)
    move = (x[:, None] - theta[None, :]) * (1.0 if side == "greater" else -1.0)
    plug_in = np.cumsum(np.log(np.maximum(1.0 + np.minimum(lam, BET_CAP * cap) * move, 1e-300)), axis=0)
    # dKelly: the average of constant bets at fractions of the largest safe bet (WSR 2023, §5.6)
    finite_cap = np.where(np.isfinite(cap), cap, 1.0 / np.maximum(room, 1e-12))
    kelly = [np.cumsum(np.log(np.maximum(1.0 + f * finite_cap * move, 1e-300)), axis=0) for f in KELLY_FRACTIONS]
    log_kelly = np.logaddexp.reduce(np.stack(kelly), axis=0) - math.log(len(KELLY_FRACTIONS))
    return np.logaddexp(plug_in, log_kelly) - math.log(2.0)


def _mixture_r(level: float) -> float:
    """Howard et al.'s mixture variance ρ (in units of samples) minimising the CS width at OPTIMISED_AT."""
    two_log = -2.0 * math.log(level)
    return OPTIMISED_AT / (two_log + math.log(two_log + 1.0))


def running_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, mean, SD with ddof 1) after each of the first t samples; an SD lost in rounding is 0."""
    t = np.arange(1, x.size + 1)
    mean = np.cumsum(x) / t
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (np.cumsum(x * x) - t * mean * mean) / np.maximum(t - 1, 1)
    sd = np.sqrt(np.maximum(var, 0.0))
    sd = np.where(np.abs(sd) < 1e-12 * (1 + np.abs(mean)), 0.0, sd)
    return t, mean, sd


def mixture_log_evidence(x: np.ndarray, theta: np.ndarray, level: float, side: Literal["greater", "less"],
                         min_n: int = MIN_ASYMPTOTIC_N) -> np.ndarray:
    """log Mₜ(θ): the one-sided (half-normal) Gaussian mixture of Howard et al. (2021) on the standardised sum.

    With Wₜ = (Σxᵢ − tθ)/σ̂ₜ and mixture variance r, M⁺ = 2√(r/(t+r))·exp(W²/(2(t+r)))·Φ(W/√(t+r))
    (for ``"less"``, W → −W). The first ``min_n`` − 1 samples carry no evidence (log M = −inf).
    """
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    t, mean, sd = running_stats(x)
    r = _mixture_r(level)
    sign = 1.0 if side == "greater" else -1.0
    diff = sign * (mean[:, None] - theta[None, :]) * t[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(sd[:, None] > 0, diff / sd[:, None], np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))
    scale = np.sqrt(t + r)[:, None]
    z = w / scale
    with np.errstate(over="ignore", invalid="ignore"):
        log_m = (math.log(2.0) + 0.5 * np.log(r / (t + r))[:, None] + 0.5 * z * z + stats.norm.logcdf(z))
    log_m = np.where(np.isinf(w) & (w > 0), np.inf, log_m)
    log_m = np.where(np.isinf(w) & (w < 0), -np.inf, log_m)
    log_m[t < min_n] = -np.inf
    return log_m


# ------------------------------------------------------------------------------------------ evidence

@dataclass(frozen=True)
class Evidence:
    """One-sided anytime p-value paths (running minimum over t) for one level's bets."""

    greater: dict[float, np.ndarray]   # θ → p⁺ₜ(θ) for every t (H0: mean ≤ θ)
    less: dict[float, np.ndarray]      # θ → p⁻ₜ(θ) (H0: mean ≥ θ)


def evidence(x: np.ndarray, thresholds: Sequence[float], levels: Sequence[float], display_level: float,
             bounds: tuple[float, float] | None, min_n: int,
             sequence: bool = True) -> tuple[dict[float, Evidence], np.ndarray, np.ndarray, np.ndarray]:
    """p-value paths at every threshold for bets tuned to each level (keyed by the level), and the
    running estimate with CS bounds at ``display_level`` (NaN bounds for a bounded measure when
    ``sequence`` is False)."""
    out = {}
    if bounds is not None:
        low, high = bounds
        y = (x - low) / (high - low)
        scaled = [(th - low) / (high - low) for th in thresholds]
        for level in sorted(set(levels)):
            greater = {th: _bounded_p(y, s, level, "greater") for th, s in zip(thresholds, scaled)}
            less = {th: _bounded_p(y, s, level, "less") for th, s in zip(thresholds, scaled)}
            out[float(level)] = Evidence(greater, less)
        if sequence:
            grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, GRID_POINTS),
                                             [s for s in scaled if 0.0 <= s <= 1.0]]))
            lower, upper = grid_bounds(betting_log_capital(y, grid, display_level, "greater"),
                                        betting_log_capital(y, grid, display_level, "less"), grid, display_level)
            lower, upper = low + (high - low) * lower, low + (high - low) * upper
        else:
            lower, upper = np.full(x.size, np.nan), np.full(x.size, np.nan)
        estimate = np.cumsum(x) / np.arange(1, x.size + 1)
    else:
        for level in sorted(set(levels)):
            greater = {th: _p_path(mixture_log_evidence(x, [th], level, "greater", min_n)[:, 0]) for th in thresholds}
            less = {th: _p_path(mixture_log_evidence(x, [th], level, "less", min_n)[:, 0]) for th in thresholds}
            out[float(level)] = Evidence(greater, less)
        lower, upper, estimate = mixture_bounds(x, display_level, min_n)
    return out, estimate, lower, upper


def _bounded_p(y: np.ndarray, s: float, level: float, side: Literal["greater", "less"]) -> np.ndarray:
    """p-value path of the one-sided betting test of θ = ``s`` on the [0, 1] scale.

    A null outside the bounds is impossible (p = 0) or certain (p = 1), e.g. "mean ≤ −0.05" for a
    measure in [0, 1] (p = 0 for the "greater" test of it) or "mean ≥ −0.05" (p = 1).
    """
    if side == "greater":
        if s < 0.0 or s >= 1.0:
            return np.full(y.size, 0.0 if s < 0.0 else 1.0)
    elif s > 1.0 or s <= 0.0:
        return np.full(y.size, 0.0 if s > 1.0 else 1.0)
    return _p_path(betting_log_capital(y, [s], level, side)[:, 0])


def _p_path(log_capital: np.ndarray) -> np.ndarray:
    """p = min(1, 1/supₛ≤ₜ Kₛ): valid at any (stopping) time by Ville's inequality."""
    if log_capital.size == 0:
        return log_capital
    return np.minimum(1.0, np.exp(-np.maximum.accumulate(log_capital)))


def grid_bounds(log_greater: np.ndarray, log_less: np.ndarray, grid: np.ndarray, level: float):
    """Running-intersection CS on the grid: the lower bound is the last θ of the rejected run from 0."""
    threshold = math.log(1.0 / level)
    reject_low = np.maximum.accumulate(log_greater, axis=0) >= threshold    # θ below the mean, rejected
    reject_high = np.maximum.accumulate(log_less, axis=0) >= threshold
    # capital is monotone in θ (each factor is), so rejections form a prefix / suffix of the grid
    k_low = np.argmin(reject_low, axis=1)             # first not-rejected index
    all_low = reject_low.all(axis=1)
    lower = np.where(k_low > 0, grid[np.maximum(k_low - 1, 0)], grid[0])
    lower = np.where(all_low, grid[-1], lower)
    k_high = reject_high.shape[1] - 1 - np.argmin(reject_high[:, ::-1], axis=1)  # last not-rejected index
    all_high = reject_high.all(axis=1)
    upper = np.where(k_high < grid.size - 1, grid[np.minimum(k_high + 1, grid.size - 1)], grid[-1])
    upper = np.where(all_high, grid[0], upper)
    return lower, upper


def mixture_boundary(t: ArrayLike, level: float) -> np.ndarray:
    """W*ₜ: the standardised sum Σ(xᵢ − θ)/σ at which the one-sided mixture of Howard et al. (2021) reaches 1/level.

    The confidence sequence's radius after t samples is W*ₜ·σ/t (bisection: log M⁺ increases in W ≥ 0).
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    r = _mixture_r(level)
    target = math.log(1.0 / level)
    lo, hi = np.zeros(t.size), np.full(t.size, 100.0) * np.sqrt(t + r)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        z = mid / np.sqrt(t + r)
        value = math.log(2.0) + 0.5 * np.log(r / (t + r)) + 0.5 * z * z + stats.norm.logcdf(z)
        below = value < target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return hi


def mixture_bounds(x: np.ndarray, level: float, min_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form one-sided mixture bounds, running intersection."""
    t, mean, sd = running_stats(x)
    half = mixture_boundary(t, level) * sd / t
    lower = np.where(t >= min_n, mean - half, -np.inf)
    upper = np.where(t >= min_n, mean + half, np.inf)
    return np.maximum.accumulate(lower), np.minimum.accumulate(upper), mean
