"""Verdicts re-decided at the level corrected for testing many hypotheses in one session.

The p-values come from :mod:`cfsal.stats.multiple` (Holm by default, or Benjamini–Hochberg). The
correction guards against false SUPPORTED verdicts, so it re-decides only verdicts whose raw p is
below α; refutations keep level α. It changes p-values and outcomes; the explanation is rendered
from them (:mod:`cfsal.stats.explain`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats import power
from cfsal.stats.claim import INCONCLUSIVE, REFUTED, SUPPORTED
from cfsal.stats.multiple import Correction, adjust_p_values
from cfsal.stats.verdict import Adjustment, Verdict


def adjust(verdicts: Sequence[Verdict], method: Correction = "holm") -> list[Verdict]:
    """Correct for testing many hypotheses: set ``p_adjusted`` and re-decide at the adjusted level.

    The family is all ``verdicts`` (one session). Each claim's raw p-value is adjusted (Holm by
    default, or Benjamini–Hochberg, or 'none'), and a verdict is SUPPORTED only if its adjusted p
    is below its α. Refutations keep level α: correction guards against false support. Adjusting
    already adjusted verdicts starts again from the raw p-values, so it is idempotent.
    """
    verdicts = list(verdicts)
    for v in verdicts:
        if not isinstance(v, Verdict):
            raise StatisticsError(f"adjust: expected Verdict objects, got {type(v).__name__}.")
    adjusted = adjust_p_values([v.p_value for v in verdicts], method)
    correction = Adjustment(method, len(verdicts))
    out: list[Verdict] = []
    for v, p_adj in zip(verdicts, adjusted):
        v = dataclasses.replace(v, p_adjusted=float(p_adj), correction=correction)
        if v.p_value < v.claim.alpha:  # supported at the raw level: decided again at the adjusted one
            if p_adj < v.claim.alpha:
                v = dataclasses.replace(v, outcome=SUPPORTED, reason="significant", samples_needed=None)
            else:
                v = _unsupported(v)
        out.append(v)
    return out


def _sd_from_ci(v: Verdict) -> float:
    """Rough spread of one independent unit (a sample, or an episode when clustered) from a two-sided CI of the mean."""
    z = stats.norm.ppf(0.5 + v.confidence / 2)
    return (v.ci_high - v.ci_low) / (2 * z) * math.sqrt(v.clusters or v.n)


def _unsupported(v: Verdict) -> Verdict:
    """A verdict SUPPORTED at the raw level whose adjusted p no longer is: REFUTED or INCONCLUSIVE.

    Only equivalence can refute it now (a significant opposite direction, or an interval outside
    the margin, cannot coexist with a significant claim), so the stored fields suffice.
    """
    c = v.claim
    if c.kind != "no_effect" and v.equivalence_p is not None and v.equivalence_p < c.alpha:
        return dataclasses.replace(v, outcome=REFUTED, reason="equivalent", samples_needed=None)
    level = c.alpha * v.p_value / v.p_adjusted if v.p_adjusted else c.alpha  # the per-test level applied
    level = min(max(level, 1e-12), 0.499)
    units = v.clusters or v.n  # clustered verdicts: power in episodes, converted back to samples below
    if c.kind == "correlation":
        needed = power.samples_for_correlation(v.effect, level, sided=c.sided, current=v.n,
                                               spearman=v.method == "spearman")
    elif c.kind == "no_effect":
        needed = power.samples_for_equivalence(v.effect, _sd_from_ci(v), float(c.margin), level, current=units)
    else:
        needed = power.samples_for_mean(v.effect, _sd_from_ci(v), level, sided=c.sided, current=units)
    if v.clusters and needed is not None:
        needed = max(math.ceil(needed * v.n / v.clusters), v.n + 1)
    return dataclasses.replace(v, outcome=INCONCLUSIVE, reason="neither", samples_needed=needed)
