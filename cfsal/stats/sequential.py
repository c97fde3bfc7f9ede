"""Sequential verdicts: look at the paired samples batch by batch and stop once the evidence decides.

A fixed sample size wastes rollouts on clear cases and is underpowered on subtle ones, and a user
who "peeks" — tests at n = 10, 20, 30, … and stops at the first p < α — inflates false support
far above α (measured in ``benchmarks/results/sequential.md``). The tests here are *anytime-valid*:
their error guarantees hold simultaneously over every sample size, so the data may be looked at
after every batch and sampling stopped whenever the verdict is decided (Ville's inequality:
P(sup_t K_t ≥ 1/α) ≤ α for a non-negative supermartingale K with K_0 = 1).

Two confidence sequences (CS) for the mean of the paired differences, one per kind of measure
(:mod:`cfsal.stats.confidence_sequences`): the betting CS of Waudby-Smith & Ramdas (2023) for
bounded measures, exact for every distribution on the bounds, and the asymptotic Gaussian-mixture
CS of Waudby-Smith et al. (2024) for unbounded ones, valid as samples grow (the measured rates are
in docs/sequential.md). Declare ``bounds`` whenever the measure has them.

Every decision is a one-sided anytime-valid test of a threshold θ (0 or ±margin): p⁺(θ) for
"mean > θ" and p⁻(θ) for "mean < θ", p = min(1, 1/supₛ≤ₙ Kₛ(θ)). The verdict rules mirror the
fixed-n rules of :mod:`cfsal.stats.fixed_n` (docs/statistics.md), each test at level α (two-sided
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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from cfsal.errors import StatisticsError
from cfsal.stats._validation import finite_vector, paired_vectors, within_bounds
from cfsal.stats.claim import INCONCLUSIVE, REFUTED, SUPPORTED, Claim
from cfsal.stats.confidence_sequences import (
    KELLY_FRACTIONS,
    MIN_ASYMPTOTIC_N,
    Evidence,
    betting_log_capital,
    evidence,
    grid_bounds,
    mixture_boundary,
    mixture_bounds,
    running_stats,
)
from cfsal.stats.verdict import AnytimeStop, Method, Stopped, Verdict, json_float

SEQUENTIAL_SCHEMA_VERSION = 1
CONTINUE = "CONTINUE"

#: The coarser grid of the futility rule's sequence (rounded outward: coarser only makes it stop later).
FUTILITY_GRID_POINTS = 201
#: The same as MIN_ASYMPTOTIC_N for the correlation stream, whose values are symmetric about 0 under independence.
MIN_CORRELATION_PAIRS = 10

#: Default futility level γ: a test stops undecided once its (1 − γ) confidence sequence rules out every
#: mean at which a decision is expected by its maximum (:func:`futility_check`).
FUTILITY = 0.1


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
        return {"n": self.n, "estimate": json_float(self.estimate), "ci_low": json_float(self.ci_low),
                "ci_high": json_float(self.ci_high), "p_value": json_float(self.p_value), "decision": self.decision}

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


# ------------------------------------------------------------------------------------------ the rules

def thresholds(claim: Claim) -> list[float]:
    """The θ's a claim's decisions test, on the scale of the estimate: 0, and ±margin when declared."""
    ths = {0.0}
    if claim.margin is not None:
        ths |= {claim.margin, -claim.margin}
    return sorted(ths)


def _decide(claim: Claim, ev_a: dict[float, Evidence], alpha: float, alpha_stop: float, margin: float | None,
            i: int) -> tuple[str, float, float | None, str]:
    """Decision after sample i (0-based) → (decision, p of the claim, equivalence p, reason)."""
    kind, alt = claim.kind, claim.alternative
    theta0 = margin if (margin is not None and kind != "correlation") else 0.0
    if kind in ("effect", "correlation") and alt == "two-sided":
        e = ev_a[float(alpha_stop / 2)]
        p_claim = min(1.0, 2.0 * min(e.greater[theta0][i], e.less[-theta0][i]))
    elif kind in ("direction", "correlation"):
        e = ev_a[float(alpha_stop)]
        p_claim = (e.greater[theta0] if alt == "greater" else e.less[-theta0])[i]
    else:  # no_effect
        e = ev_a[float(alpha_stop)]
        p_claim = max(e.less[margin][i], e.greater[-margin][i])
    r = ev_a[float(alpha)]
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
        lower, upper, _ = mixture_bounds(x, half, min_n)
        return lower, upper
    low, high = bounds
    y = (x - low) / (high - low)
    grid = np.linspace(0.0, 1.0, FUTILITY_GRID_POINTS)
    lower, upper = grid_bounds(betting_log_capital(y, grid, half, "greater"),
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
        method: Method = "correlation-mixture"
        scale = 2
        n_total = finite_vector(values, "values").size
    else:
        if covariate is not None:
            raise StatisticsError(f"covariate= is for correlation claims; this claim is kind={claim.kind!r}.")
        x = finite_vector(values, "values")
        stream_bounds = None if bounds is None else within_bounds(x, bounds)
        margin = claim.margin
        method, scale = ("betting" if stream_bounds is not None else "asymptotic"), 1
        n_total = x.size
    looks = _check_looks(looks, n_total)
    maximum = looks[-1] if max_samples is None else int(max_samples)
    if maximum < looks[-1]:
        raise StatisticsError(f"max_samples={max_samples!r} is below the last look {looks[-1]}: the maximum is the "
                              "most samples the test may take; pass the planned maximum or leave it out.")
    check_futility(futility)
    tested = thresholds(claim)
    display_level = alpha / 2 if claim.alternative == "two-sided" and claim.kind != "no_effect" else alpha
    levels = {alpha_stop, alpha_stop / 2, alpha}
    x = x[: looks[-1] // scale]   # nothing after the last look can matter
    min_n = MIN_CORRELATION_PAIRS if claim.kind == "correlation" else MIN_ASYMPTOTIC_N
    paths, estimate, lower, upper = evidence(x, tested, sorted(levels), display_level, stream_bounds, min_n, sequence)
    if futility is not None:
        f_low, f_high = futility_sequence(x, futility, stream_bounds, min_n)
        sd_path = running_stats(x)[2]
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
        decision, p_claim, p_eq, reason = _decide(claim, paths, alpha, alpha_stop, margin, i)
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
        outcome=outcome, claim=claim, reason=reason if outcome != INCONCLUSIVE else "neither", method=method,
        effect=look.estimate, ci_low=look.ci_low, ci_high=look.ci_high, confidence=1 - 2 * display_level,
        p_value=float(p_claim), n=int(last), test=_test_text(method, len(record), alpha_stop, alpha),
        equivalence_p=None if p_eq is None else float(p_eq),
        sequential=AnytimeStop(stopped=stopped, looks=len(record), maximum=maximum, futility=futility))
    return SequentialResult(verdict, tuple(record), stopped, alpha_stop, method, tuple(tested), futility, maximum)


def _test_text(method: str, looks: int, alpha_stop: float, alpha: float) -> str:
    name = {"betting": "betting confidence sequence (Waudby-Smith & Ramdas 2023)",
            "asymptotic": "asymptotic Gaussian-mixture confidence sequence (Waudby-Smith et al. 2024)",
            "correlation-mixture": "standardised products of disjoint pairs, asymptotic Gaussian-mixture confidence "
                                   "sequence (Waudby-Smith et al. 2024)"}[method]
    stop = f", stopping for support at α = {alpha_stop:.3g}" if alpha_stop < alpha else ""
    return f"sequential: {name}, {looks} look{'s' if looks != 1 else ''}{stop}"


def looks_for(batch: int, max_samples: int) -> list[int]:
    """The look schedule of a batch design: batch, 2·batch, …, and max_samples itself."""
    if batch < 1 or max_samples < 1:
        raise StatisticsError(f"batch={batch} and max_samples={max_samples} must be ≥ 1.")
    return sorted(set(range(batch, max_samples + 1, batch)) | {max_samples})
