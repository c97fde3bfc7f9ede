"""Sequential verdicts: look at the paired samples batch by batch and stop once the evidence decides.

A fixed sample size wastes rollouts on clear cases and is underpowered on subtle ones, and a user
who "peeks" — tests at n = 10, 20, 30, … and stops at the first p < α — inflates false support
far above α (measured in ``benchmarks/results/sequential.md``). The tests here are *anytime-valid*:
their error guarantees hold simultaneously over every sample size, so the data may be looked at
after every batch and sampling stopped whenever the verdict is decided (Ville's inequality:
P(sup_t K_t ≥ 1/α) ≤ α for a non-negative supermartingale K with K_0 = 1).

Two confidence sequences (CS) for the mean of the paired differences, one per kind of measure:

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
  (no test of an unbounded mean can be exact at a finite n: Bahadur & Savage 1956); the measured
  rates are in docs/sequential.md. Declare ``bounds`` whenever the measure has them.

Every decision is a one-sided anytime-valid test of a threshold θ (0 or ±margin): p⁺(θ) for
"mean > θ" and p⁻(θ) for "mean < θ", p = min(1, 1/supₛ≤ₙ Kₛ(θ)). The verdict rules mirror the
fixed-n rules of :mod:`cfsal.stats.verdict` (docs/statistics.md), each test at level α (two-sided
claims split α over the two sides):

* effect: SUPPORTED if 2·min(p⁺(θ₀), p⁻(−θ₀)) < α_stop, θ₀ = margin or 0 (the minimum-effect
  test with a margin); REFUTED if a margin is declared and max(p⁻(m), p⁺(−m)) < α (equivalence).
* direction: SUPPORTED if the claimed side's p < α_stop; REFUTED if the opposite side's test at 0
  gives p < α, or equivalence holds.
* no_effect: SUPPORTED if max(p⁻(m), p⁺(−m)) < α_stop; REFUTED if p⁺(m) < α or p⁻(−m) < α.
* correlation: as direction/effect on Kendall's τ, estimated from *disjoint* pairs of samples:
  sᵢ = sign((x₂ᵢ − x₂ᵢ₋₁)(y₂ᵢ − y₂ᵢ₋₁)) ∈ {−1, 0, 1} is i.i.d. with mean τ (population Kendall
  τ_a), 0 under independence, and bounded — so the betting CS applies exactly. A correlation
  margin (on the scale of r) is mapped to τ by Greiner's relation τ = (2/π)·arcsin(ρ).

**Futility** (``futility=γ``, :func:`futility_check`): a test may also stop *undecided* once its
(1 − γ) confidence sequence rules out every mean at which a decision is expected by the planned
maximum — stochastic curtailment (Lan, Simon & Halperin 1982) with an anytime-valid sequence in
place of a fixed-n prediction. It is non-binding (Jennison & Turnbull 2000, §10.6): it only
removes looks, so it can never add a SUPPORTED or a REFUTED.

``α_stop`` (default α) is the level at which sampling stops for support; the plugin sets it to
α/m for a session of m hypotheses, so that neither Holm nor e-BH across the session can undo a
support that stopped the sampling (docs/sequential.md).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats._validation import finite_vector, paired_vectors
from cfsal.stats.verdict import INCONCLUSIVE, REFUTED, SUPPORTED, Claim, Verdict, _encode, _p

SEQUENTIAL_SCHEMA_VERSION = 1
CONTINUE = "CONTINUE"

#: Largest bet as a fraction of what the capital can lose (WSR 2023 use c = 1/2 or 3/4).
BET_CAP = 0.75
#: Constant bets (as fractions of the largest bet that keeps the capital positive) averaged by dKelly.
KELLY_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Grid of candidate means (on the [0, 1] scale) on which betting CS bounds are read off.
GRID_POINTS = 401
#: The coarser grid of the futility rule's sequence (rounded outward: coarser only makes it stop later).
FUTILITY_GRID_POINTS = 201
#: The asymptotic CS is tightest around this many samples (WSABKR 2024, eq. (2.6)); fixed in advance.
OPTIMISED_AT = 50
#: Fewest samples before the asymptotic CS of an unbounded measure may decide: its standard deviation
#: estimate needs them. Measured (docs/sequential.md): from 10, exponential − 1 nulls were SUPPORTED
#: at 0.165; from 30, at 0.075, the fixed-n test's own level at n = 10.
MIN_ASYMPTOTIC_N = 30
#: The same for the correlation stream, whose values are symmetric about 0 under independence.
MIN_CORRELATION_PAIRS = 10

Stopped = Literal["decided", "max_samples", "budget", "futility"]

#: Default futility level γ: a test stops undecided once its (1 − γ) confidence sequence rules out every
#: mean at which a decision is expected by its maximum (:func:`futility_check`).
FUTILITY = 0.1


# ----------------------------------------------------------------------------------- the two processes

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


def _running_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    t, mean, sd = _running_stats(x)
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


# ------------------------------------------------------------------------------------------ data types

@dataclass(frozen=True)
class Look:
    """One look at the data: after ``n`` samples, the estimate, the CS so far and what was decided."""

    n: int
    estimate: float
    ci_low: float    # running intersection of the confidence sequence up to this look
    ci_high: float
    p_value: float   # anytime-valid p of the claim's test so far
    decision: str    # SUPPORTED, REFUTED, CONTINUE, or INCONCLUSIVE (last look, undecided)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "estimate": _encode(self.estimate), "ci_low": _encode(self.ci_low),
                "ci_high": _encode(self.ci_high), "p_value": _encode(self.p_value), "decision": self.decision}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Look:
        return cls(int(data["n"]), float(data["estimate"]), float(data["ci_low"]), float(data["ci_high"]),
                   float(data["p_value"]), str(data["decision"]))


@dataclass(frozen=True)
class SequentialResult:
    """A sequential verdict with every look that led to it."""

    verdict: Verdict
    looks: tuple[Look, ...]
    stopped: str          # "decided", "max_samples", "budget" or "futility"
    alpha_stop: float     # level at which support stopped the sampling
    method: str           # "betting" (bounded), "asymptotic" (unbounded) or "correlation-mixture"
    thresholds: tuple[float, ...]  # the θ's the decisions test, on the scale of the estimate
    futility: float | None = None  # γ of the futility rule, None when it was off
    max_samples: int | None = None  # the maximum the futility rule planned for

    @property
    def n(self) -> int:
        return self.verdict.n

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SEQUENTIAL_SCHEMA_VERSION, "looks": [look.to_dict() for look in self.looks],
                "stopped": self.stopped, "alpha_stop": self.alpha_stop, "method": self.method,
                "thresholds": list(self.thresholds), "n": self.n, "futility": self.futility,
                "max_samples": self.max_samples}

    @classmethod
    def from_dict(cls, data: dict[str, Any], verdict: Verdict) -> SequentialResult:
        if data.get("schema_version") != SEQUENTIAL_SCHEMA_VERSION:
            raise StatisticsError(f"sequential schema_version={data.get('schema_version')!r}; this cfsal reads "
                                  f"{SEQUENTIAL_SCHEMA_VERSION}. Re-run the hypotheses with this cfsal.")
        return cls(verdict, tuple(Look.from_dict(d) for d in data["looks"]), data["stopped"],
                   float(data["alpha_stop"]), data["method"], tuple(float(t) for t in data["thresholds"]),
                   None if data.get("futility") is None else float(data["futility"]),
                   None if data.get("max_samples") is None else int(data["max_samples"]))


# -------------------------------------------------------------------------------------- the evidence

@dataclass(frozen=True)
class _Evidence:
    """One-sided anytime p-value paths (running minimum over t) for one level's bets."""

    greater: dict[float, np.ndarray]   # θ → p⁺ₜ(θ) for every t (H0: mean ≤ θ)
    less: dict[float, np.ndarray]      # θ → p⁻ₜ(θ) (H0: mean ≥ θ)


def _level_key(level: float) -> float:
    return float(level)


def _evidence(x: np.ndarray, thresholds: Sequence[float], levels: Sequence[float], display_level: float,
              bounds: tuple[float, float] | None, min_n: int, sequence: bool = True) -> tuple[dict[float, _Evidence], np.ndarray, np.ndarray, np.ndarray]:
    """p-value paths at every threshold for bets tuned to each level; CS bounds at ``display_level``."""
    out = {}
    if bounds is not None:
        low, high = bounds
        y = (x - low) / (high - low)
        scaled = [(th - low) / (high - low) for th in thresholds]
        for level in sorted(set(levels)):
            greater = {th: _bounded_p(y, s, level, "greater") for th, s in zip(thresholds, scaled)}
            less = {th: _bounded_p(y, s, level, "less") for th, s in zip(thresholds, scaled)}
            out[_level_key(level)] = _Evidence(greater, less)
        if sequence:
            grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, GRID_POINTS),
                                             [s for s in scaled if 0.0 <= s <= 1.0]]))
            lower, upper = _grid_bounds(betting_log_capital(y, grid, display_level, "greater"),
                                        betting_log_capital(y, grid, display_level, "less"), grid, display_level)
            lower, upper = low + (high - low) * lower, low + (high - low) * upper
        else:
            lower, upper = np.full(x.size, np.nan), np.full(x.size, np.nan)
        estimate = np.cumsum(x) / np.arange(1, x.size + 1)
    else:
        for level in sorted(set(levels)):
            greater = {th: _p_path(mixture_log_evidence(x, [th], level, "greater", min_n)[:, 0]) for th in thresholds}
            less = {th: _p_path(mixture_log_evidence(x, [th], level, "less", min_n)[:, 0]) for th in thresholds}
            out[_level_key(level)] = _Evidence(greater, less)
        lower, upper, estimate = _mixture_bounds(x, display_level, min_n)
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


def _grid_bounds(log_greater: np.ndarray, log_less: np.ndarray, grid: np.ndarray, level: float):
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


def _mixture_bounds(x: np.ndarray, level: float, min_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form one-sided mixture bounds, running intersection."""
    t, mean, sd = _running_stats(x)
    half = mixture_boundary(t, level) * sd / t
    lower = np.where(t >= min_n, mean - half, -np.inf)
    upper = np.where(t >= min_n, mean + half, np.inf)
    return np.maximum.accumulate(lower), np.minimum.accumulate(upper), mean


# ------------------------------------------------------------------------------------------ the rules

def _thresholds(claim: Claim, margin: float | None) -> list[float]:
    ths = {0.0}
    if margin is not None:
        ths |= {margin, -margin}
    return sorted(ths)


def _decide(claim: Claim, ev_a: dict[float, _Evidence], alpha: float, alpha_stop: float, margin: float | None,
            i: int) -> tuple[str, float, float | None, str]:
    """Decision after sample i (0-based) → (decision, p of the claim, equivalence p, reason)."""
    kind, alt = claim.kind, claim.alternative
    theta0 = margin if (margin is not None and kind != "correlation") else 0.0
    if kind in ("effect", "correlation") and alt == "two-sided":
        e = ev_a[_level_key(alpha_stop / 2)]
        p_claim = min(1.0, 2.0 * min(e.greater[theta0][i], e.less[-theta0][i]))
    elif kind in ("direction", "correlation"):
        e = ev_a[_level_key(alpha_stop)]
        p_claim = (e.greater[theta0] if alt == "greater" else e.less[-theta0])[i]
    else:  # no_effect
        e = ev_a[_level_key(alpha_stop)]
        p_claim = max(e.less[margin][i], e.greater[-margin][i])
    r = ev_a[_level_key(alpha)]
    p_eq = max(r.less[margin][i], r.greater[-margin][i]) if margin is not None else None
    if p_claim < alpha_stop:
        return SUPPORTED, float(p_claim), p_eq, "significant"
    if kind == "no_effect":
        if r.greater[margin][i] < alpha or r.less[-margin][i] < alpha:
            return REFUTED, float(p_claim), p_eq, "outside_margin"
        return CONTINUE, float(p_claim), p_eq, "neither"
    if alt in ("greater", "less"):
        opposite = (r.less[0.0] if alt == "greater" else r.greater[0.0])[i]
        if opposite < alpha:
            return REFUTED, float(p_claim), p_eq, "opposite"
    if p_eq is not None and p_eq < alpha:
        return REFUTED, float(p_claim), p_eq, "equivalent"
    return CONTINUE, float(p_claim), p_eq, "neither"


# ---------------------------------------------------------------------------------------- futility

def check_futility(futility: float | None) -> None:
    """A futility level is γ in (0, 1), or None for no futility stopping (both designs)."""
    if futility is not None and not 0 < futility < 1:
        raise StatisticsError(f"futility={futility!r} must lie in (0, 1) (γ, e.g. 0.1), or be None to turn it off.")


def _regions(claim: Claim, margin: float | None, radius) -> list[tuple[float, float]]:
    """Intervals of true means at which some decision is *expected* by the maximum: the claim's rule with
    each threshold θ moved outward by ``radius(θ, side, level)``, the sequence's radius there (support at
    α_stop, refutation at α).

    A mean inside an interval makes the final estimate land, on average, where that decision's test rejects;
    a mean outside every interval leaves the test undecided at the maximum in more than half the runs.
    """
    kind, alt = claim.kind, claim.alternative
    theta0 = margin if (margin is not None and kind != "correlation") else 0.0
    up = lambda theta, level: theta + radius(theta, "greater", level)    # noqa: E731 — lowest mean that rejects ≤ θ
    down = lambda theta, level: theta - radius(theta, "less", level)     # noqa: E731 — highest mean that rejects ≥ θ
    inf, a = math.inf, claim.alpha
    if kind == "no_effect":
        s = radius.support
        return [r for r in [(up(-margin, s), down(margin, s)), (up(margin, a), inf), (-inf, down(-margin, a))]
                if r[0] <= r[1]]
    s = radius.support
    if alt == "two-sided":
        out = [(up(theta0, s), inf), (-inf, down(-theta0, s))]
    elif alt == "greater":
        out = [(up(theta0, s), inf), (-inf, down(0.0, a))]
    else:
        out = [(-inf, down(-theta0, s)), (up(0.0, a), inf)]
    if margin is not None:
        out.append((up(-margin, a), down(margin, a)))
    return [(lo, hi) for lo, hi in out if lo <= hi]


@dataclass(frozen=True)
class _Radius:
    """The radius a decision's test needs at the maximum N: the normal-mixture boundary W*_N·σ̂/N, and for a
    bounded measure at least room·log(1/level)/(f·N) — a bet on one side of θ can stake at most f/room
    (room: the distance from θ to the bound it loses towards), so the capital grows at most that fast even
    on data without variance (Waudby-Smith & Ramdas 2023, §5: the bets are truncated by the bounds)."""

    sd: float
    maximum: int
    support: float                          # level of the support tests
    bounds: tuple[float, float] | None

    def __call__(self, theta: float, side: str, level: float) -> float:
        r = _boundary_at(self.maximum, level) * self.sd / self.maximum
        if self.bounds is not None:
            low, high = self.bounds
            room = max(0.0, theta - low) if side == "greater" else max(0.0, high - theta)
            r = max(r, room * math.log(1.0 / level) / (KELLY_FRACTIONS[-1] * self.maximum))
        return r


def futility_sequence(x: np.ndarray, gamma: float, bounds: tuple[float, float] | None,
                      min_n: int) -> tuple[np.ndarray, np.ndarray]:
    """The (1 − γ) confidence sequence (each side γ/2, running intersection) the futility rule reads.

    The same processes as the decisions: betting on a coarse grid for bounded measures (rounded
    outward, so it is never narrower than the exact sequence), the normal mixture otherwise.
    """
    half = gamma / 2.0
    if bounds is None:
        lower, upper, _ = _mixture_bounds(x, half, min_n)
        return lower, upper
    low, high = bounds
    y = (x - low) / (high - low)
    grid = np.linspace(0.0, 1.0, FUTILITY_GRID_POINTS)
    lower, upper = _grid_bounds(betting_log_capital(y, grid, half, "greater"),
                                betting_log_capital(y, grid, half, "less"), grid, half)
    return low + (high - low) * lower, low + (high - low) * upper


@functools.lru_cache(maxsize=4096)
def _boundary_at(t: int, level: float) -> float:
    """W*ₜ for one t (cached: the futility rule asks for the same maximum at every look)."""
    return float(mixture_boundary([t], level)[0])


def futility_check(claim: Claim, sd: float, cs_low: float, cs_high: float, maximum: int, *,
                   alpha_stop: float, bounds: tuple[float, float] | None = None) -> bool:
    """Is the test futile at a look where the (1 − γ) sequence is [cs_low, cs_high] and the SD is ``sd``?

    Stochastic curtailment (Lan, Simon & Halperin 1982) made anytime-valid: the test is futile when
    the (1 − γ) confidence sequence of the mean (:func:`futility_sequence`: the same betting /
    mixture process, each side at γ/2, so it holds at every look at once) has no point in common
    with any interval of :func:`_regions` — the means at which support or a refutation is expected
    by ``maximum``. The radius there (:class:`_Radius`) is the normal-mixture boundary W*_N·σ̂/N
    (Howard et al. 2021) with the current standard deviation and, for a bounded measure, at least
    the distance a bet truncated by the bounds can cover in N samples.

    Why it is safe: stopping for futility only *removes* later looks, so every run that ends
    SUPPORTED with it ends SUPPORTED without it (non-binding futility, Jennison & Turnbull 2000,
    §10.6): false support cannot rise. And if the true mean lies in a decision's interval, the
    rule fires only when the (1 − γ) sequence has excluded the true mean, which happens with
    probability ≤ γ over the whole run (Ville's inequality): power is lost only on effects the
    test would decide by its maximum in fewer than about half the runs, and on others at most γ.
    """
    if not (math.isfinite(cs_low) and math.isfinite(cs_high) and math.isfinite(sd)):
        return False
    two_sided = claim.alternative == "two-sided" and claim.kind != "no_effect"
    support_level = alpha_stop / 2 if two_sided else alpha_stop
    regions = _regions(claim, claim.margin, _Radius(sd, maximum, support_level, bounds))
    return all(hi < cs_low or lo > cs_high for lo, hi in regions)


def correlation_stream(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """One number per *disjoint* pair of samples whose mean is ≈ ρ, and exactly 0 given the past under independence.

    For pair k (samples 2k−1, 2k) uₖ = ½·(Δx/ŝx)(Δy/ŝy), with Δ the within-pair difference and ŝ
    the standard deviations of the samples *before* the pair (predictable; the pair's own |Δ|
    while fewer than two earlier samples vary). Then E[uₖ | past] = Cov(x, y)/(ŝx ŝy), which is 0
    when x and y are independent (Δx is symmetric about 0 whatever the distribution) and tends
    to Pearson's ρ as ŝ converges. Pairs are disjoint so that the uₖ are independent given the
    past: a martingale-difference stream for the mean tests of this module.
    """
    a, b = paired_vectors(x, y)
    k = a.size // 2
    dx, dy = a[1:2 * k:2] - a[0:2 * k:2], b[1:2 * k:2] - b[0:2 * k:2]
    scale_x, scale_y = _prior_sd(a, k, dx), _prior_sd(b, k, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = 0.5 * np.where((scale_x > 0) & (scale_y > 0), dx * dy / (scale_x * scale_y), 0.0)
    return u


def _prior_sd(values: np.ndarray, pairs: int, deltas: np.ndarray) -> np.ndarray:
    """SD (ddof 1) of the samples before each pair; ``|Δ|/√2`` (the pair's own) where those do not vary."""
    t = np.arange(1, values.size + 1)
    mean = np.cumsum(values) / t
    var = (np.cumsum(values * values) - t * mean * mean) / np.maximum(t - 1, 1)
    before = 2 * np.arange(pairs) - 1                      # index of the last sample before pair k
    prior = np.where(before >= 1, np.sqrt(np.maximum(var[np.maximum(before, 0)], 0.0)), 0.0)
    return np.where(prior > 1e-12, prior, np.abs(deltas) / math.sqrt(2.0))


def _check_looks(looks: Sequence[int], n: int) -> list[int]:
    looks = sorted({int(k) for k in looks})
    if not looks or looks[0] < 1 or looks[-1] > n:
        raise StatisticsError(f"looks={looks!r}: every look must be a sample count in 1..{n} (the samples "
                              "available); e.g. looks=range(10, n + 1, 10) for batches of 10.")
    return looks


def sequential_assess(claim: Claim, values: ArrayLike, *, looks: Sequence[int], bounds: tuple[float, float] | None = None,
                      covariate: ArrayLike | None = None, alpha_stop: float | None = None,
                      final_reason: Stopped = "max_samples", sequence: bool = True, max_samples: int | None = None,
                      futility: float | None = None) -> SequentialResult:
    """Judge ``claim`` on ``values`` looked at after each sample count in ``looks``; stop at the first decision.

    Pure and deterministic: the same values and looks give the same result (no resampling). The
    data beyond the stopping look are ignored, so a caller may pass more samples than were needed
    (the fixed-n and the sequential design draw the same i-th sample, see
    :func:`cfsal.rollout.counterfactual`). ``covariate`` makes it a correlation claim between
    ``covariate`` (x) and ``values`` (y). ``final_reason`` says why the last look is the last
    ("max_samples" or "budget") if nothing is decided by then. ``sequence=False`` skips the
    confidence-sequence bounds of a bounded measure (NaN in the looks; the decisions do not use
    them), for simulations that need only the verdicts.

    ``futility=γ`` (e.g. :data:`FUTILITY`) also stops the test *undecided* ("futility") at a look
    where :func:`futility_check` finds that no decision is still expected by ``max_samples`` (the
    planned maximum, default the last look). Non-binding: it never adds a SUPPORTED or REFUTED,
    only ends some runs earlier as INCONCLUSIVE.
    """
    alpha = claim.alpha
    alpha_stop = alpha if alpha_stop is None else float(alpha_stop)
    if not 0 < alpha_stop <= alpha:
        raise StatisticsError(f"alpha_stop={alpha_stop!r} must lie in (0, alpha={alpha}]: it is the (stricter) "
                              "level at which support stops the sampling.")
    if claim.kind == "correlation":
        if covariate is None:
            raise StatisticsError("a correlation claim needs covariate= (the x of each pair) and values (the y).")
        x = correlation_stream(covariate, values)
        stream_bounds: tuple[float, float] | None = None
        margin = claim.margin
        method, scale = "correlation-mixture", 2
        n_total = finite_vector(values, "values").size
    else:
        if covariate is not None:
            raise StatisticsError(f"covariate= is for correlation claims; this claim is kind={claim.kind!r}.")
        x = finite_vector(values, "values")
        stream_bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
        margin = claim.margin
        method, scale = ("betting" if stream_bounds is not None else "asymptotic"), 1
        n_total = x.size
        if stream_bounds is not None:
            low, high = stream_bounds
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise StatisticsError(f"bounds={bounds!r}: need finite low < high.")
            outside = (x < low) | (x > high)
            if outside.any():
                raise StatisticsError(
                    f"{int(outside.sum())} values lie outside the declared bounds [{low:g}, {high:g}] (e.g. "
                    f"{x[outside][0]!r}); widen the bounds to the range the measure can really take.")
    looks = _check_looks(looks, n_total)
    maximum = looks[-1] if max_samples is None else int(max_samples)
    if maximum < looks[-1]:
        raise StatisticsError(f"max_samples={max_samples!r} is below the last look {looks[-1]}: the maximum is the "
                              "most samples the test may take; pass the planned maximum or leave it out.")
    check_futility(futility)
    thresholds = _thresholds(claim, margin)
    display_level = alpha / 2 if claim.alternative == "two-sided" and claim.kind != "no_effect" else alpha
    levels = {alpha_stop, alpha_stop / 2, alpha}
    x = x[: looks[-1] // scale]   # nothing after the last look can matter
    min_n = MIN_CORRELATION_PAIRS if claim.kind == "correlation" else MIN_ASYMPTOTIC_N
    evidence, estimate, lower, upper = _evidence(x, thresholds, sorted(levels), display_level, stream_bounds, min_n,
                                                 sequence)
    if futility is not None:
        f_low, f_high = futility_sequence(x, futility, stream_bounds, min_n)
        sd_path = _running_stats(x)[2]
    record: list[Look] = []
    stopped: str = final_reason
    decision, p_claim, p_eq, reason, last = CONTINUE, 1.0, None, "too_few", looks[-1]
    for k, n in enumerate(looks):
        m = n // scale
        if m < 1:
            decision, p_claim, p_eq, reason = CONTINUE, 1.0, None, "too_few"
            record.append(Look(n, float("nan"), -math.inf, math.inf, 1.0, CONTINUE))
            continue
        i = m - 1
        decision, p_claim, p_eq, reason = _decide(claim, evidence, alpha, alpha_stop, margin, i)
        if decision == CONTINUE and futility is not None and n < maximum and m >= 2 and futility_check(
                claim, float(sd_path[i]), float(f_low[i]), float(f_high[i]), maximum // scale,
                alpha_stop=alpha_stop, bounds=stream_bounds):
            reason = "futility"
            record.append(Look(n, float(estimate[i]), float(lower[i]), float(upper[i]), float(p_claim), INCONCLUSIVE))
            last, stopped = n, "futility"
            break
        final = decision != CONTINUE or k == len(looks) - 1
        shown_decision = INCONCLUSIVE if (decision == CONTINUE and final) else decision
        record.append(Look(n, float(estimate[i]), float(lower[i]), float(upper[i]),
                           float(p_claim), shown_decision))
        if final:
            last = n
            if decision != CONTINUE:
                stopped = "decided"
            break
    look = record[-1]
    outcome = look.decision if look.decision in (SUPPORTED, REFUTED) else INCONCLUSIVE
    verdict = Verdict(
        outcome=outcome, claim=claim, effect=look.estimate, ci_low=look.ci_low, ci_high=look.ci_high,
        confidence=1 - 2 * display_level, p_value=float(p_claim), p_adjusted=None, n=int(last),
        test=_test_text(method, len(record), alpha_stop, alpha),
        equivalence_p=None if p_eq is None else float(p_eq),
        explanation="", samples_needed=None)
    explanation = _explain(verdict, reason if outcome != INCONCLUSIVE else "neither", stopped, margin, method,
                           len(record), maximum, futility)
    verdict = dataclasses.replace(verdict, explanation=explanation)
    return SequentialResult(verdict, tuple(record), stopped, alpha_stop, method, tuple(thresholds),
                            futility, maximum)


def _test_text(method: str, looks: int, alpha_stop: float, alpha: float) -> str:
    name = {"betting": "betting confidence sequence (Waudby-Smith & Ramdas 2023)",
            "asymptotic": "asymptotic Gaussian-mixture confidence sequence (Waudby-Smith et al. 2024)",
            "correlation-mixture": "standardised products of disjoint pairs, asymptotic Gaussian-mixture confidence "
                                   "sequence (Waudby-Smith et al. 2024)"}[method]
    stop = f", stopping for support at α = {alpha_stop:.3g}" if alpha_stop < alpha else ""
    return f"sequential: {name}, {looks} look{'s' if looks != 1 else ''}{stop}"


def _explain(v: Verdict, reason: str, stopped: str, margin: float | None, method: str, looks: int,
             maximum: int | None = None, futility: float | None = None) -> str:
    c = v.claim
    what = "correlation" if method == "correlation-mixture" else "mean difference"
    cs = f"{v.confidence:.0%} confidence sequence [{v.ci_low:.3g}, {v.ci_high:.3g}]"
    at = f"after {v.n} samples ({looks} look{'s' if looks != 1 else ''})"
    if reason == "significant":
        if c.kind == "no_effect":
            return (f"No effect beyond ±{margin:g}, {at}: the {what} {v.effect:.3g} has a {cs} inside the margin "
                    f"(anytime-valid p = {_p(v.p_value)}).")
        beyond = f" beyond ±{margin:g}" if margin is not None and c.kind != "correlation" else ""
        moves = {"greater": "raises", "less": "lowers", "two-sided": "changes"}[c.alternative]
        subject = "The correlation is " + {"greater": "positive", "less": "negative", "two-sided": "non-zero"}[
            c.alternative] if c.kind == "correlation" else f"The intervention {moves} the measure{beyond}"
        return f"{subject}, {at}: {what} {v.effect:.3g}, {cs}, anytime-valid p = {_p(v.p_value)}."
    if reason == "outside_margin":
        return f"A real effect beyond ±{margin:g}, {at}: the {cs} of the {what} {v.effect:.3g} lies outside the margin."
    if reason == "opposite":
        return f"The measure moves the other way, {at}: {what} {v.effect:.3g}, {cs}."
    if reason == "equivalent":
        return (f"No effect worth the name, {at}: the {cs} of the {what} {v.effect:.3g} lies within ±{margin:g} "
                f"(anytime-valid equivalence p = {_p(v.equivalence_p)}).")
    if stopped == "futility":
        return (f"Stopped for futility {at}: the {1 - futility:.0%} confidence sequence of the {what} {v.effect:.3g} "
                f"excludes every value at which the claim or its refutation could be expected to be decided by the "
                f"maximum of {maximum} samples, so more samples would very likely end undecided too (anytime-valid "
                f"p = {_p(v.p_value)}). A futility stop never supports anything; raise max_samples, or declare a "
                "margin, if a smaller effect matters.")
    why = {"max_samples": "the hypothesis's maximum number of samples was reached",
           "budget": "the session's budget ran out",
           "decided": "the data ran out"}[stopped]
    return (f"Not decided {at}: {why} while the {cs} of the {what} {v.effect:.3g} still allowed both the claim "
            f"and its refutation (anytime-valid p = {_p(v.p_value)}); raise max_samples or the budget, or "
            "declare a margin so that 'no effect' can end the test.")


def looks_for(batch: int, max_samples: int) -> list[int]:
    """The look schedule of a batch design: batch, 2·batch, …, and max_samples itself."""
    if batch < 1 or max_samples < 1:
        raise StatisticsError(f"batch={batch} and max_samples={max_samples} must be ≥ 1.")
    return sorted(set(range(batch, max_samples + 1, batch)) | {max_samples})
