"""Holm and Benjamini–Hochberg adjusted p-values, by hand and through adjust()."""

from __future__ import annotations

import dataclasses
from statistics import NormalDist

import numpy as np
import pytest

from cfsal.errors import StatisticsError
from cfsal.stats import Claim, Verdict, adjust, adjust_p_values, benjamini_hochberg, holm
from cfsal.stats.verdict import Adjustment

P = [0.01, 0.04, 0.03, 0.005]
# Holm, sorted 0.005, 0.01, 0.03, 0.04 × 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04
#       → running max 0.02, 0.03, 0.06, 0.06
HOLM = [0.03, 0.06, 0.06, 0.02]
# BH, sorted × 4/rank = 0.02, 0.02, 0.04, 0.04 → running min from the top: 0.02, 0.02, 0.04, 0.04
BH = [0.02, 0.04, 0.04, 0.02]


def test_holm_by_hand():
    assert holm(P) == pytest.approx(HOLM)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]).size == 0


def test_benjamini_hochberg_by_hand():
    assert benjamini_hochberg(P) == pytest.approx(BH)


def test_adjust_p_values_dispatch_and_bad_method():
    assert adjust_p_values(P, "none") == pytest.approx(P)
    with pytest.raises(StatisticsError, match="'holm' controls"):
        adjust_p_values(P, "bonferroni")
    with pytest.raises(StatisticsError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])


def _verdict(p, *, kind="effect", equivalence_p=None, margin=None, effect=0.2):
    claim = Claim(kind, "greater" if kind == "direction" else "two-sided", margin=margin)
    half = NormalDist().inv_cdf(0.975) * 0.5 / np.sqrt(40)  # a CI from sd = 0.5, n = 40
    supported = p < 0.05
    return Verdict(outcome="SUPPORTED" if supported else "INCONCLUSIVE", claim=claim,
                   reason="significant" if supported else "neither", method="paired", effect=effect,
                   ci_low=effect - half, ci_high=effect + half, confidence=0.95, p_value=p, n=40, test="test",
                   equivalence_p=equivalence_p)


def test_adjust_holm_sets_adjusted_p_and_re_decides():
    verdicts = [_verdict(0.01), _verdict(0.04, equivalence_p=0.01, margin=0.5), _verdict(0.03),
                _verdict(0.005, kind="direction")]
    out = adjust(verdicts, "holm")
    assert [v.p_adjusted for v in out] == pytest.approx(HOLM)
    assert [v.p_value for v in out] == P  # raw p kept
    assert [v.outcome for v in out] == ["SUPPORTED", "REFUTED", "INCONCLUSIVE", "SUPPORTED"]
    assert "Holm-adjusted p = 0.03" in out[0].explanation
    assert out[1].samples_needed is None and "within ±0.5" in out[1].explanation
    # Lost support without equivalence: INCONCLUSIVE, with a sample size at the Holm level (α/2 here).
    assert out[2].samples_needed is not None and out[2].samples_needed > 40


def test_adjust_bh_is_less_strict_than_holm():
    out = adjust([_verdict(p) for p in P], "bh")
    assert [v.p_adjusted for v in out] == pytest.approx(BH)
    assert [v.outcome for v in out] == ["SUPPORTED"] * 4


def test_adjust_leaves_unsupported_verdicts_and_is_idempotent():
    verdicts = [_verdict(0.2), _verdict(0.01)]
    once = adjust(verdicts, "holm")
    assert once[0].outcome == "INCONCLUSIVE" and once[0].explanation.startswith(verdicts[0].explanation)
    assert once[0].explanation.endswith(" After Holm correction over 2 hypotheses: adjusted p = 0.2.")  # max(2 × 0.01, 0.2)
    assert [v.to_dict() for v in adjust(once, "holm")] == [v.to_dict() for v in once]
    assert adjust([], "holm") == []


def test_adjust_none_keeps_outcomes():
    verdicts = [_verdict(p) for p in P]
    out = adjust(verdicts, "none")
    assert [v.outcome for v in out] == [v.outcome for v in verdicts]
    assert [v.p_adjusted for v in out] == P


def test_adjust_changes_p_values_and_outcomes_never_text():
    """The explanation is rendered from the adjusted fields; adjust() itself writes no text."""
    verdicts = [_verdict(0.01), _verdict(0.04, equivalence_p=0.01, margin=0.5), _verdict(0.03), _verdict(0.2)]
    for before, after in zip(verdicts, adjust(verdicts, "holm")):
        changed = {f.name for f in dataclasses.fields(Verdict) if getattr(before, f.name) != getattr(after, f.name)}
        assert changed <= {"outcome", "reason", "samples_needed", "p_adjusted", "correction"}
        assert after.correction == Adjustment("holm", 4) and after.test == before.test
    lost = adjust(verdicts, "holm")[1]   # lost its support, refuted by equivalence within the margin
    assert (lost.outcome, lost.reason) == ("REFUTED", "equivalent") and lost.explanation.startswith("No effect worth")
