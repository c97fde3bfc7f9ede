"""Rough sample sizes for 80% power, for the "how many more samples?" line of an INCONCLUSIVE verdict.

Normal-approximation formulas (Chow, Shao & Wang, *Sample Size Calculations in Clinical Research*,
2008, §3.1–3.2; Fisher z for correlations), taking the *observed* effect and spread as if they
were true. That is optimistic when the observed effect is noise, so treat the number as an order
of magnitude, not a promise. ``None`` means no size would do: the observed effect is zero, points
the wrong way, or lies outside an equivalence margin.
"""

from __future__ import annotations

import math

from scipy import stats

POWER = 0.8


def _ceil(n: float, current: int) -> int:
    """At least one more sample than we have: the current n was, by definition, not enough."""
    return max(int(math.ceil(n)), current + 1)


def smallest_sign_flip_n(alpha: float, sided: int) -> int:
    """Fewest pairs for which an exact sign-flip test can reach p < α at all.

    The smallest attainable p is 2⁻ⁿ one-sided and 2¹⁻ⁿ two-sided (all differences of one sign):
    with fewer pairs no effect, however large, can be SUPPORTED.
    """
    return int(math.floor(math.log2(sided / alpha))) + 1


def samples_for_mean(effect: float, sd: float, alpha: float, *, sided: int, current: int,
                     power: float = POWER) -> int | None:
    """n ≈ ((z_{1−α/s} + z_{power}) · sd / |effect|)², and no less than the sign-flip minimum."""
    if not (math.isfinite(effect) and math.isfinite(sd)) or effect == 0:
        return None
    z = stats.norm.ppf(1 - alpha / sided) + stats.norm.ppf(power)
    needed = (z * sd / abs(effect)) ** 2
    return _ceil(max(needed, smallest_sign_flip_n(alpha, sided)), current)


def samples_for_equivalence(effect: float, sd: float, margin: float, alpha: float, *, current: int,
                            power: float = POWER) -> int | None:
    """TOST: n ≈ ((z_{1−α} + z_{1−β/2}) · sd / margin)² at effect 0, else z_{1−β} and margin − |effect|."""
    if not (math.isfinite(effect) and math.isfinite(sd)) or abs(effect) >= margin:
        return None
    z_power = stats.norm.ppf(1 - (1 - power) / 2) if effect == 0 else stats.norm.ppf(power)
    z = stats.norm.ppf(1 - alpha) + z_power
    return _ceil((z * sd / (margin - abs(effect))) ** 2, current)


def samples_for_correlation(r: float, alpha: float, *, sided: int, current: int, spearman: bool = False,
                            power: float = POWER) -> int | None:
    """n ≈ ((z_{1−α/s} + z_{power}) / atanh|r|)² · c + 3, with c = 1 + r²/2 for Spearman (Bonett–Wright)."""
    if not math.isfinite(r) or r == 0 or abs(r) >= 1:
        return None
    z = stats.norm.ppf(1 - alpha / sided) + stats.norm.ppf(power)
    factor = 1 + r * r / 2 if spearman else 1.0
    return _ceil((z / math.atanh(abs(r))) ** 2 * factor + 3, current)


def samples_for_bounded_equivalence(effect: float, margin: float, bounds: tuple[float, float],
                                    alpha: float, *, current: int) -> int | None:
    """Fewest samples at which the betting test of :func:`cfsal.stats.paired.bounded_mean_test` can show
    ``|mean| < margin`` if every value equalled the observed mean: its wealth grows by at most
    1 + ¾·(m − ȳ)/(1 − m) per sample on the [0, 1] scale, and must reach 1/α. A lower bound on what
    real, noisy data need.
    """
    low, high = bounds
    if not math.isfinite(effect) or abs(effect) >= margin:
        return None
    worst = 1.0
    for bound, sign in ((margin, 1.0), (-margin, -1.0)):  # the upper and the lower one-sided test
        y = sign * (effect - low) / (high - low) if sign > 0 else (high - effect) / (high - low)
        m = (bound - low) / (high - low) if sign > 0 else (high - bound) / (high - low)
        if 0 < m < 1:
            growth = 1 + 0.75 * (m - y) / (1 - m)
            worst = max(worst, math.log(1 / alpha) / math.log(growth))
    return _ceil(worst, current)
