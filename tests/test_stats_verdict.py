"""The verdict rules of docs/statistics.md, case by case, and the Claim/Verdict contract."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from cfsal.errors import HypothesisDeclarationError, StatisticsError
from cfsal.stats import SCHEMA_VERSION, Claim, Verdict, assess, assess_correlation

R = 1999  # resamples: enough for these clear-cut cases, and fast


def rng(seed=0):
    return np.random.default_rng(seed)


def normal(mean, sd, n, seed=1):
    return np.random.default_rng(seed).normal(mean, sd, n)


def verdict(claim, d, seed=0):
    return assess(claim, d, rng=rng(seed), n_resamples=R)


# ------------------------------------------------------------------------------------------ effect

def test_effect_supported_when_the_paired_test_rejects():
    v = verdict(Claim("effect"), normal(1.0, 1.0, 30))
    assert v.outcome == "SUPPORTED" and v.p_value < 0.05
    assert v.ci_low > 0 and v.confidence == 0.95 and v.samples_needed is None
    assert v.effect == pytest.approx(normal(1.0, 1.0, 30).mean())


def test_effect_refuted_when_equivalence_within_the_margin_holds():
    v = verdict(Claim("effect", margin=0.1), normal(0.0, 0.05, 100))
    assert v.outcome == "REFUTED" and v.equivalence_p < 0.05 <= v.p_value
    assert "within ±0.1" in v.explanation


def test_effect_inconclusive_with_a_margin_when_neither_test_succeeds():
    v = verdict(Claim("effect", margin=0.1), normal(0.2, 1.0, 12))
    assert v.outcome == "INCONCLUSIVE" and v.p_value >= 0.05 and v.equivalence_p >= 0.05
    assert v.samples_needed is not None and v.samples_needed > 12
    assert f"about {v.samples_needed} samples" in v.explanation


def test_effect_without_margin_can_never_be_refuted():
    v = verdict(Claim("effect"), normal(0.0, 0.01, 500))  # clearly no effect, but no margin declared
    assert v.outcome == "INCONCLUSIVE" and v.equivalence_p is None
    assert "cannot be refuted" in v.explanation


def test_an_effect_within_the_margin_is_refuted_even_when_it_differs_from_zero():
    """With a margin, 'effect' means beyond it (minimum-effect test): 0.02 ± small noise is not > 0.1."""
    v = verdict(Claim("effect", margin=0.1), normal(0.02, 0.05, 2000))
    assert v.p_value > 0.05 and v.equivalence_p < 0.05 and v.outcome == "REFUTED"
    assert verdict(Claim("effect"), normal(0.02, 0.05, 2000)).outcome == "SUPPORTED"


# --------------------------------------------------------------------------------------- direction

def test_direction_supported_in_the_claimed_direction():
    v = verdict(Claim("direction", "greater"), normal(0.8, 1.0, 30))
    assert v.outcome == "SUPPORTED" and "raises" in v.explanation
    v = verdict(Claim("direction", "less"), normal(-0.8, 1.0, 30))
    assert v.outcome == "SUPPORTED" and "lowers" in v.explanation


def test_direction_refuted_by_a_significant_opposite_effect():
    v = verdict(Claim("direction", "greater"), normal(-0.8, 1.0, 30))
    assert v.outcome == "REFUTED" and v.p_value > 0.95 and "other way" in v.explanation


def test_direction_refuted_by_equivalence():
    v = verdict(Claim("direction", "less", margin=0.1), normal(0.0, 0.05, 100))
    assert v.outcome == "REFUTED" and v.equivalence_p < 0.05


def test_direction_inconclusive_and_wrong_way_needs_no_sample_size():
    v = verdict(Claim("direction", "greater"), normal(0.3, 1.0, 10))
    assert v.outcome == "INCONCLUSIVE" and v.samples_needed > 10
    v = verdict(Claim("direction", "greater"), np.array([-0.3, 0.2, -0.1, 0.1, -0.2]))
    assert v.outcome == "INCONCLUSIVE" and v.samples_needed is None
    assert "points the other way" in v.explanation


# --------------------------------------------------------------------------------------- no_effect

def test_no_effect_supported_when_the_interval_is_inside_the_margin():
    v = verdict(Claim("no_effect", margin=0.1), normal(0.0, 0.05, 100))
    assert v.outcome == "SUPPORTED" and v.confidence == pytest.approx(0.90)
    assert -0.1 < v.ci_low and v.ci_high < 0.1 and v.p_value == v.equivalence_p < 0.05


def test_no_effect_refuted_when_the_interval_lies_outside_the_margin():
    v = verdict(Claim("no_effect", margin=0.1), normal(0.5, 0.2, 30))
    assert v.outcome == "REFUTED" and v.ci_low > 0.1
    v = verdict(Claim("no_effect", margin=0.1), normal(-0.5, 0.2, 30))
    assert v.outcome == "REFUTED" and v.ci_high < -0.1


def test_no_effect_inconclusive_when_the_interval_straddles_the_margin():
    v = verdict(Claim("no_effect", margin=0.1), normal(0.05, 0.3, 20))
    assert v.outcome == "INCONCLUSIVE" and v.ci_low < 0.1 < v.ci_high
    assert v.samples_needed > 20


def test_no_effect_with_bounds_needs_enough_zeros_of_a_rare_event_measure():
    """30 zero action disagreements do not show a rate below 5%; 100 do (0.95¹⁰⁰ < 0.01)."""
    claim = Claim("no_effect", margin=0.05)
    assert verdict(claim, np.zeros(30)).outcome == "SUPPORTED"  # unbounded t-TOST: the mean is known
    few = assess(claim, np.zeros(30), rng=rng(), bounds=(0, 1))
    assert few.outcome == "INCONCLUSIVE" and "bounded-mean test" in few.explanation
    assert few.samples_needed > 30 and "[0, 1]" in few.test
    assert assess(claim, np.zeros(100), rng=rng(), bounds=(0, 1)).outcome == "SUPPORTED"
    with pytest.raises(StatisticsError, match="low < high"):
        assess(claim, np.zeros(5), rng=rng(), bounds=(1, 0))


# ------------------------------------------------------------------------------------- correlation

def _corr(claim, x, y, method="pearson"):
    return assess_correlation(claim, x, y, rng=rng(), method=method, n_resamples=R)


def _xy(rho, n, seed=3):
    g = np.random.default_rng(seed)
    x = g.normal(size=n)
    return x, rho * x + np.sqrt(1 - rho**2) * g.normal(size=n)


def test_correlation_supported_refuted_and_inconclusive():
    claim = Claim("correlation", "greater", margin=0.2)
    assert _corr(claim, *_xy(0.7, 40)).outcome == "SUPPORTED"
    opposite = _corr(claim, *_xy(-0.7, 40))
    assert opposite.outcome == "REFUTED" and "opposite sign" in opposite.explanation
    none = _corr(claim, *_xy(0.0, 2000))
    assert none.outcome == "REFUTED" and none.equivalence_p < 0.05 and "|ρ| < 0.2" in none.explanation
    unsure = _corr(claim, *_xy(0.3, 12, seed=5))  # r = 0.25
    assert unsure.outcome == "INCONCLUSIVE" and unsure.samples_needed > 12
    wrong_way = _corr(claim, *_xy(0.3, 12, seed=7))  # r = -0.07: more samples would not help the claim
    assert wrong_way.outcome == "INCONCLUSIVE" and wrong_way.samples_needed is None


def test_spearman_correlation_verdict():
    x, y = _xy(0.8, 30)
    v = _corr(Claim("correlation"), np.exp(x), y, method="spearman")
    assert v.outcome == "SUPPORTED" and v.test.startswith("Spearman")
    assert -1 <= v.ci_low < v.effect < v.ci_high <= 1


def test_constant_measure_or_too_few_pairs_is_inconclusive_for_correlation():
    v = _corr(Claim("correlation"), [1.0, 2, 3, 4, 5], [0.0] * 5)
    assert v.outcome == "INCONCLUSIVE" and "constant" in v.explanation and v.p_value == 1.0
    v = _corr(Claim("correlation"), [1.0, 2, 3], [3.0, 1, 2])
    assert v.outcome == "INCONCLUSIVE" and "at least 4" in v.explanation


# ----------------------------------------------------------------------------------- degenerate data

def test_all_zero_differences_a_constant_agent():
    for n in (2, 5, 50):
        v = verdict(Claim("effect"), np.zeros(n))
        assert (v.p_value, v.ci_low, v.ci_high, v.effect) == (1.0, 0.0, 0.0, 0.0)
        assert v.outcome == "INCONCLUSIVE"
        for margin in (1e-9, 0.05, 10.0):
            assert verdict(Claim("effect", margin=margin), np.zeros(n)).outcome == "REFUTED"
            equivalent = verdict(Claim("no_effect", margin=margin), np.zeros(n))
            assert equivalent.outcome == "SUPPORTED" and (equivalent.ci_low, equivalent.ci_high) == (0.0, 0.0)


@pytest.mark.parametrize("kind", ["effect", "no_effect"])
def test_fewer_than_two_samples_is_inconclusive(kind):
    claim = Claim(kind, margin=0.1)
    for d in ([], [0.4]):
        v = verdict(claim, d)
        assert v.outcome == "INCONCLUSIVE" and v.n == len(d) and "at least 2" in v.explanation
        assert v.p_value == 1.0 and v.samples_needed is None


@pytest.mark.parametrize("bad", [[0.1, float("nan")], [float("inf"), 0.0, 1.0], [float("-inf")]])
def test_nan_or_infinite_differences_raise_a_teaching_error(bad):
    with pytest.raises(StatisticsError, match="NaN or infinite.*fix the measure"):
        verdict(Claim("effect"), bad)


def test_too_few_sign_patterns_cannot_support_a_claim():
    """Four pairs all one way: the smallest two-sided sign-flip p is 2/16 > 0.05."""
    v = verdict(Claim("effect"), [1.0, 2.0, 1.5, 3.0])
    assert v.outcome == "INCONCLUSIVE" and v.p_value == 0.125 and v.samples_needed >= 6


# ----------------------------------------------------------------------------------------- contract

@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="effects"), "not one of"),
    (dict(kind="effect", alternative="up"), "not one of"),
    (dict(kind="effect", alternative="greater"), "use kind='direction'"),
    (dict(kind="direction"), "alternative='greater' or 'less'"),
    (dict(kind="no_effect"), "needs margin"),
    (dict(kind="no_effect", margin=0.1, alternative="less"), "two-sided"),
    (dict(kind="effect", margin=0.0), "finite number > 0"),
    (dict(kind="effect", margin=float("inf")), "finite number > 0"),
    (dict(kind="correlation", margin=1.5), "below 1"),
    (dict(kind="effect", alpha=0.5), r"\(0, 0.5\)"),
    (dict(kind="effect", alpha=0.0), r"\(0, 0.5\)"),
])
def test_contradictory_claims_raise_a_teaching_error(kwargs, message):
    with pytest.raises(HypothesisDeclarationError, match=message):
        Claim(**kwargs)


def test_claim_kind_must_match_the_function():
    with pytest.raises(HypothesisDeclarationError, match="assess_correlation"):
        assess(Claim("correlation"), [1.0, 2.0], rng=rng())
    with pytest.raises(HypothesisDeclarationError, match="assess\\(claim, differences"):
        assess_correlation(Claim("effect"), [1.0, 2, 3, 4], [1.0, 2, 3, 4], rng=rng())


def _examples():
    yield verdict(Claim("effect", margin=0.1), normal(0.3, 1.0, 25))
    yield verdict(Claim("direction", "less"), normal(-0.5, 1.0, 25))
    yield verdict(Claim("no_effect", margin=0.2), normal(0.0, 0.3, 25))
    yield verdict(Claim("effect"), [0.3])  # infinite CI
    yield _corr(Claim("correlation", margin=0.1), [1.0, 2, 3, 4, 5], [1.0] * 5)  # NaN effect
    yield _corr(Claim("correlation", "less"), *_xy(-0.4, 30))


def test_verdict_dict_is_strict_json_and_round_trips():
    for v in _examples():
        data = v.to_dict()
        assert data["schema_version"] == SCHEMA_VERSION
        text = json.dumps(data, allow_nan=False)
        back = Verdict.from_dict(json.loads(text))
        assert back.to_dict() == data and isinstance(back.claim, Claim)


def test_from_dict_refuses_another_schema_version():
    data = next(_examples()).to_dict()
    with pytest.raises(StatisticsError, match="schema_version=99"):
        Verdict.from_dict({**data, "schema_version": 99})


def test_verdict_is_built_by_keyword_with_its_reason_and_method():
    v = verdict(Claim("direction", "less"), normal(0.5, 1.0, 25))
    assert (v.outcome, v.reason, v.method) == ("REFUTED", "opposite", "paired") and v.opposite_p < 0.05
    data = v.to_dict()
    assert (data["reason"], data["method"], data["opposite_p"]) == ("opposite", "paired", v.opposite_p)
    with pytest.raises(TypeError):
        Verdict("SUPPORTED", Claim("effect"), "significant", "paired", 0.3, 0.1, 0.5, 0.95, 0.01, 20, "t")
    spearman = _corr(Claim("correlation", "less"), *_xy(-0.4, 30), method="spearman")
    assert spearman.method == "spearman" and "Spearman r = " in spearman.explanation


def test_the_explanation_is_rendered_from_the_fields_never_stored():
    v = verdict(Claim("effect", margin=0.1), normal(0.3, 1.0, 25))
    data = v.to_dict()
    assert data["explanation"] == v.explanation
    assert Verdict.from_dict({**data, "explanation": "a stale sentence"}).explanation == v.explanation
    assert "explanation" not in {f.name for f in dataclasses.fields(Verdict)}
    fewer = dataclasses.replace(v, reason="too_few", n=1)
    assert fewer.explanation.startswith("Only 1 sample: a test needs at least 2")


def test_from_dict_refuses_a_verdict_written_without_its_reason():
    data = next(_examples()).to_dict()
    del data["reason"]
    with pytest.raises(StatisticsError, match="reason and method"):
        Verdict.from_dict(data)


def test_same_seed_gives_identical_verdicts():
    d = normal(0.2, 1.0, 40)  # Monte-Carlo p and bootstrap CI both depend on the generator
    x, y = _xy(0.2, 40)
    for claim in (Claim("effect", margin=0.1), Claim("direction", "greater")):
        a = assess(claim, d, rng=rng(7)).to_dict()
        assert assess(claim, d, rng=rng(7)).to_dict() == a
        assert assess(claim, d, rng=rng(8)).to_dict() != a  # the generator really is used
    c = Claim("correlation", "greater")
    first = assess_correlation(c, x, y, rng=rng(7)).to_dict()
    assert assess_correlation(c, x, y, rng=rng(7)).to_dict() == first


def test_a_stated_margin_is_the_smallest_effect_of_interest():
    """Tiny but consistent changes (a neural policy under any pixel edit) are not an 'effect' beyond 0.05."""
    from cfsal.stats import Claim, assess

    rng = np.random.default_rng(0)
    tiny = 0.002 + rng.normal(0, 0.0005, 60)
    assert assess(Claim("effect"), tiny, rng=np.random.default_rng(1)).outcome == "SUPPORTED"
    with_margin = assess(Claim("effect", margin=0.05), tiny, rng=np.random.default_rng(1))
    assert with_margin.outcome == "REFUTED" and "minimum-effect" in with_margin.test
    large = 0.2 + rng.normal(0, 0.05, 30)
    assert assess(Claim("effect", margin=0.05), large, rng=np.random.default_rng(1)).outcome == "SUPPORTED"
    assert assess(Claim("direction", "greater", margin=0.05), large, rng=np.random.default_rng(1)).outcome == "SUPPORTED"
    assert assess(Claim("direction", "less", margin=0.05), -large, rng=np.random.default_rng(1)).outcome == "SUPPORTED"


def test_minimum_effect_test_holds_its_level_at_the_margin():
    from cfsal.stats import minimum_effect_test

    rng = np.random.default_rng(5)
    rejections = sum(minimum_effect_test(0.05 + rng.normal(0, 0.1, 30), 0.05, rng=rng, alternative="greater",
                                         n_resamples=999).p_value < 0.05 for _ in range(300))
    assert rejections / 300 <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)


def test_minimum_effect_test_refuses_a_non_positive_margin():
    from cfsal.errors import StatisticsError
    from cfsal.stats import minimum_effect_test

    with pytest.raises(StatisticsError, match="margin must be > 0"):
        minimum_effect_test([0.1, 0.2, 0.3], 0.0, rng=np.random.default_rng(0))


def test_an_interval_beyond_the_margin_with_an_undecided_test_says_why():
    """Skewed differences: the BCa interval clears the margin, the stricter test (the larger of a sign-flip
    and a bootstrap-t p) does not. The words say both, and which one the verdict follows."""
    d = np.random.default_rng(2).lognormal(-3.0, 0.9, size=30)
    v = assess(Claim("effect", margin=0.05), d, rng=np.random.default_rng(0))
    assert v.outcome == "INCONCLUSIVE" and v.ci_low > 0.05 and v.p_value >= 0.05
    text = v.explanation
    assert "lies wholly beyond ±0.05" in text and "larger of a sign-flip permutation p and a bootstrap-t p" in text
    assert "the verdict follows the test" in text and "Not enough evidence either way" not in text


def test_an_interval_beyond_zero_undone_by_the_correction_says_so():
    from cfsal.stats import adjust

    d = np.random.default_rng(1).normal(0.45, 1.0, size=30)
    v = assess(Claim("effect"), d, rng=np.random.default_rng(0))
    assert v.outcome == "SUPPORTED" and v.ci_low > 0 and 0.01 < v.p_value < 0.05
    others = [dataclasses.replace(v, p_value=0.04) for _ in range(4)]
    adjusted = adjust([v, *others], method="holm")[0]  # the smallest p of five: Holm multiplies it by 5
    assert adjusted.outcome == "INCONCLUSIVE" and adjusted.p_adjusted >= 0.05
    assert "lies wholly on one side of 0" in adjusted.explanation
    assert "not adjusted for the session's other hypotheses and the p-value is: Holm-adjusted" in adjusted.explanation
