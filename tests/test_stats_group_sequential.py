"""Group-sequential verdicts: the plan (weights, maximum, looks), hand-checked looks, validity under its stopping."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from cfsal.errors import StatisticsError
from cfsal.stats import (
    Claim,
    SequentialResult,
    Verdict,
    assess,
    assess_correlation,
    group_looks,
    group_maximum,
    group_sequential_assess,
    look_weights,
)
from cfsal.stats.group_sequential import MIN_EARLY_N, group_futility
from cfsal.stats.paired import bounded_mean_test, bounded_mean_test_floor


def run(claim, values, fixed_n=30, seed=0, **kwargs):
    maximum = group_maximum(fixed_n)
    looks = kwargs.pop("looks", group_looks(maximum))
    return group_sequential_assess(claim, values, looks=looks, maximum=maximum, seed=seed, **kwargs)


def test_weights_split_alpha_and_sum_to_one():
    assert look_weights(3) == pytest.approx((0.1, 0.1, 0.8))
    assert look_weights(1) == (1.0,)
    for k, share in ((2, 0.1), (5, 0.3)):
        weights = look_weights(k, share)
        assert sum(weights) == pytest.approx(1.0) and weights[-1] == pytest.approx(1 - share)


def test_maximum_restores_the_fixed_designs_power_at_the_last_looks_level():
    # ((z_{1-0.02} + z_0.8) / (z_{1-0.025} + z_0.8))^2 = 1.068 for α = 0.05, ε = 0.2
    ratio = ((stats.norm.ppf(1 - 0.04 / 2) + stats.norm.ppf(0.8)) / (stats.norm.ppf(0.975) + stats.norm.ppf(0.8))) ** 2
    assert ratio == pytest.approx(1.068, abs=1e-3)
    assert [group_maximum(n) for n in (30, 200, 300)] == [33, 216, 321]
    assert group_maximum(30, looks=1) == 30           # one look is the fixed design
    assert group_looks(33) == [11, 22, 33] and group_looks(10, 4) == [3, 5, 8, 10]


def test_one_look_is_the_fixed_test_with_the_plugins_seed():
    values = np.random.default_rng(4).normal(0.3, 1, size=40)
    claim = Claim("effect")
    fixed = assess(claim, values, rng=np.random.default_rng(np.random.SeedSequence([7, 1])))
    grouped = group_sequential_assess(claim, values, looks=[40], maximum=40, seed=7, planned_looks=1)
    assert grouped.verdict.outcome == fixed.outcome
    assert grouped.verdict.p_value == pytest.approx(fixed.p_value)
    assert (grouped.verdict.ci_low, grouped.verdict.ci_high) == pytest.approx((fixed.ci_low, fixed.ci_high))


def look_rng(seed, index):
    return np.random.default_rng(np.random.SeedSequence([seed, 2, index]))


def test_an_early_look_is_the_fixed_test_at_its_share_of_alpha():
    values = np.random.default_rng(1).normal(0.9, 1, size=33)
    result = run(Claim("effect"), values, seed=4)
    fixed = assess(Claim("effect", alpha=0.1 * 0.05), values[:11], rng=look_rng(4, 0))
    assert result.stopped == "decided" and result.n == 11 and len(result.looks) == 1
    assert fixed.outcome == "SUPPORTED" and fixed.p_value <= 0.1 * 0.05                # w₁·α
    assert result.verdict.p_value == pytest.approx(fixed.p_value / 0.1)                 # p = min p / w
    assert (result.verdict.ci_low, result.verdict.ci_high) == pytest.approx((fixed.ci_low, fixed.ci_high))
    assert result.verdict.outcome == "SUPPORTED" and result.method == "group-sequential"


def test_exact_tests_cannot_decide_a_first_look_below_their_resolution():
    """Two-sided sign flip at n = 11: min p = 2 / 2¹¹ ≈ 0.001 > 0.1 × 0.05 / 20, so no support at look 1."""
    values = np.full(33, 1.0) + np.random.default_rng(2).normal(0, 0.01, size=33)
    result = run(Claim("effect"), values, alpha_stop=0.05 / 20)
    assert result.looks[0].decision == "CONTINUE" and result.n == 22 and result.verdict.outcome == "SUPPORTED"


def test_support_stops_only_at_the_stricter_session_level():
    values = np.random.default_rng(1).normal(0.9, 1, size=33)
    p = assess(Claim("effect", alpha=0.005), values[:11], rng=look_rng(0, 0)).p_value
    strict = run(Claim("effect"), values, alpha_stop=p / 0.1 / 2)       # the look's share of α_stop is below p
    assert strict.looks[0].decision == "CONTINUE" and strict.n > 11


def test_a_null_measure_is_refuted_by_equivalence_only_with_enough_samples():
    """All zeros on [0, 1]: no valid test rules out mean ≥ 0.05 below p ≈ 0.95ⁿ, so not at n = 33 or 36/72."""
    claim = Claim("effect", margin=0.05)
    short = run(claim, np.zeros(33), bounds=(0.0, 1.0))
    assert short.verdict.outcome == "INCONCLUSIVE" and 0.95 ** 33 > 0.8 * 0.05
    enough = run(claim, np.zeros(108), fixed_n=100, bounds=(0.0, 1.0))   # looks 36, 72, 108
    assert enough.verdict.outcome == "REFUTED" and enough.n == 108 and 0.95 ** 72 > 0.1 * 0.05


def test_direction_claims_are_refuted_when_the_effect_points_the_other_way():
    values = np.random.default_rng(2).normal(-1.5, 1, size=33)
    result = run(Claim("direction", alternative="greater"), values)
    assert result.verdict.outcome == "REFUTED" and result.n == 11
    assert "other way" in result.verdict.explanation


def test_no_effect_is_supported_by_equivalence_within_the_margin():
    values = np.random.default_rng(3).uniform(0, 0.02, size=216)
    result = run(Claim("no_effect", margin=0.1), values, fixed_n=200, bounds=(0.0, 1.0))
    assert result.verdict.outcome == "SUPPORTED" and result.n < 216


def test_correlation_claims_use_the_permutation_test_at_every_look():
    rng = np.random.default_rng(5)
    x = rng.normal(size=33)
    y = x + 0.3 * rng.normal(size=33)
    strong = run(Claim("correlation", alternative="greater"), y, covariate=x)
    early = assess_correlation(Claim("correlation", alternative="greater", alpha=0.005), x[:11], y[:11],
                               rng=look_rng(0, 0))
    assert strong.verdict.outcome == "SUPPORTED" and strong.n == 11
    assert strong.verdict.p_value == pytest.approx(early.p_value / 0.1)
    null_y, longer = rng.normal(size=33), rng.normal(size=7)   # values beyond the last look are ignored
    weak = run(Claim("correlation", alternative="greater"), np.concatenate([null_y, longer]),
               covariate=np.concatenate([x, longer]), seed=3)
    fixed = assess_correlation(Claim("correlation", alternative="greater", alpha=0.8 * 0.05), x, null_y,
                               rng=np.random.default_rng(np.random.SeedSequence([3, 1])))
    assert weak.n == 33 and weak.verdict.p_value <= fixed.p_value / 0.8 + 1e-12


def test_independent_skewed_measures_are_not_correlated_at_an_early_look():
    """Why every look is the permutation test: Fisher's z at n = 11 supported these 2.75% of the time (level 0.5%)."""
    rng = np.random.default_rng(106)
    early = sum(run(Claim("correlation", alternative="greater"), rng.exponential(size=11), looks=[11],
                    covariate=rng.exponential(size=11), seed=i).looks[0].decision == "SUPPORTED" for i in range(300))
    assert early / 300 <= 0.005 + 3 * math.sqrt(0.005 * 0.995 / 300)


def test_a_run_cut_short_by_a_budget_is_inconclusive_and_says_why():
    values = np.random.default_rng(6).normal(0.0, 1, size=33)
    result = run(Claim("effect"), values, looks=[11, 22], final_reason="budget")
    assert result.verdict.outcome == "INCONCLUSIVE" and result.stopped == "budget" and result.n == 22
    assert "budget" in result.verdict.explanation and [look.n for look in result.looks] == [11, 22]


def test_false_support_stays_below_alpha_under_its_stopping():
    """200 null hypotheses, each at the 3 planned looks; Monte-Carlo 3-σ bound on α = 0.05 is 0.096."""
    rng = np.random.default_rng(11)
    supported = sum(run(Claim("effect"), rng.normal(size=33), seed=i).verdict.outcome == "SUPPORTED"
                    for i in range(200))
    assert supported / 200 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)


def test_looking_often_without_the_split_would_inflate_alpha():
    """Why the weights exist: the unadjusted t-test at the same 3 looks, under the null, supports too often."""
    rng = np.random.default_rng(12)
    naive = sum(any(stats.ttest_1samp(x[:n], 0).pvalue < 0.05 for n in (11, 22, 33))
                for x in rng.normal(size=(2000, 33)))
    assert naive / 2000 > 0.08


def test_same_seed_same_result_and_json_round_trip():
    values = np.random.default_rng(8).normal(0.25, 1, size=33)
    a, b = run(Claim("effect"), values, seed=5), run(Claim("effect"), values, seed=5)
    assert a.to_dict() == b.to_dict()
    again = SequentialResult.from_dict(a.to_dict(), a.verdict)
    assert again.to_dict() == a.to_dict() and again.method == "group-sequential"


def test_a_verdict_read_back_from_sorted_json_explains_itself_the_same():
    """The session writes sorted keys and reads verdicts back to correct them; the look the explanation
    quotes and the futility rule's chances (in their order) travel with the verdict."""
    futile = run(Claim("effect", margin=0.05), np.random.default_rng(3).uniform(0.0, 0.02, 33), looks=[11],
                 bounds=(0.0, 1.0), futility=0.1)
    early = run(Claim("effect"), np.random.default_rng(1).normal(0.9, 1, size=33))
    assert futile.verdict.sequential.end == "futility" and early.verdict.sequential.end == "early"
    for result in (futile, early):
        back = Verdict.from_dict(json.loads(json.dumps(result.verdict.to_dict(), sort_keys=True)))
        assert back == result.verdict and back.explanation == result.verdict.explanation
        assert back.sequential.look_verdict.claim.alpha < result.verdict.claim.alpha   # the look's own level


def test_a_budget_that_set_the_maximum_is_the_reason_an_undecided_test_stopped():
    values = np.random.default_rng(6).normal(0.0, 1, size=12)
    result = group_sequential_assess(Claim("effect"), values, looks=group_looks(12), maximum=12, seed=0,
                                     planned_maximum=33)
    assert result.verdict.outcome == "INCONCLUSIVE" and result.stopped == "budget"
    assert result.verdict.explanation.endswith("its share, 12 samples (of the 33 it would have planned).")
    plain = group_sequential_assess(Claim("effect"), values, looks=group_looks(12), maximum=12, seed=0)
    assert plain.stopped == "max_samples" and "budget" not in plain.verdict.explanation


def test_no_early_decision_below_the_minimum_sample_count():
    values = np.full(6, 5.0)
    result = group_sequential_assess(Claim("effect"), values, looks=[2], maximum=6, seed=0)
    assert MIN_EARLY_N > 2 and result.looks[0].decision == "INCONCLUSIVE" and result.verdict.outcome == "INCONCLUSIVE"


@pytest.mark.parametrize("kwargs, message", [
    ({"looks": [12]}, "planned sample counts"),
    ({"looks": [11], "alpha_stop": 0.2}, "alpha_stop"),
    ({"looks": [11], "planned_looks": 0}, "whole number"),
    ({"looks": [11], "early_share": 1.5}, "early_share"),
    ({"looks": [11], "covariate": np.zeros(33)}, "correlation claims"),
    ({"looks": [11], "futility": 1.5}, "futility"),
])
def test_bad_settings_teach(kwargs, message):
    with pytest.raises(StatisticsError, match=message):
        group_sequential_assess(Claim("effect"), np.zeros(33), maximum=33, seed=0, **kwargs)


def test_too_few_values_or_maximum_teach():
    with pytest.raises(StatisticsError, match="only 20 values"):
        group_sequential_assess(Claim("effect"), np.zeros(20), looks=[11, 22], maximum=33, seed=0)
    with pytest.raises(StatisticsError, match="below the number of looks"):
        group_looks(2, 3)


# ------------------------------------------------------------------------------------------ futility

def _with_and_without_futility(claim, values, seed, **kwargs):
    """The run as the plugin drives it: look by look until a look ends it, with and without futility."""
    maximum = group_maximum(30)
    out = {}
    for futility in (None, 0.1):
        for k in range(1, 4):
            result = group_sequential_assess(claim, values, looks=group_looks(maximum)[:k], maximum=maximum,
                                             seed=seed, futility=futility, **kwargs)
            if result.stopped != "max_samples" or k == 3:
                break
        out[futility] = result
    return out[None], out[0.1]


def test_futility_is_non_binding_it_only_turns_continuations_into_inconclusive_stops():
    """Nulls and effects of every size: a run stopped for futility was not going to be SUPPORTED
    *earlier*, and every other run is exactly the run without the rule (same looks, same verdict)."""
    rng = np.random.default_rng(21)
    stopped = 0
    for i, effect in enumerate(np.repeat([0.0, 0.2, 0.5, 0.9], 25)):
        plain, futile = _with_and_without_futility(Claim("effect"), rng.normal(effect, 1, size=33), seed=i)
        if futile.stopped == "futility":
            stopped += 1
            assert futile.verdict.outcome == "INCONCLUSIVE" and futile.n < plain.n
            assert [look.n for look in futile.looks] == [look.n for look in plain.looks][:len(futile.looks)]
        else:
            assert futile.verdict.outcome == plain.verdict.outcome and futile.n == plain.n
            assert futile.verdict.p_value == plain.verdict.p_value
    assert stopped >= 10  # the nulls and small effects do stop early


def test_futility_costs_no_measurable_power_on_a_planned_effect():
    """An effect the fixed design detects ~80% of the time (d = 0.55, n = 30): the rule must not
    stop the runs that would have been supported (100 seeded runs; at most 2 lost)."""
    rng = np.random.default_rng(22)
    lost = 0
    for i in range(100):
        plain, futile = _with_and_without_futility(Claim("effect"), rng.normal(0.55, 1, size=33), seed=i)
        lost += plain.verdict.outcome == "SUPPORTED" and futile.verdict.outcome != "SUPPORTED"
    assert lost <= 2


def test_a_refutation_no_bounded_test_could_reach_by_the_last_look_counts_as_out_of_reach():
    """A measure on [0, 1] moving by about 0.01, margin 0.05: support is hopeless, and equivalence needs
    a bounded test that 33 samples cannot pass at 0.8·α — so the first look stops, and says why."""
    values = np.random.default_rng(3).uniform(0.0, 0.02, 33)
    claim = Claim("effect", margin=0.05)
    result = run(claim, values, looks=[11], bounds=(0.0, 1.0), futility=0.1)
    assert result.stopped == "futility" and result.n == 11 and result.verdict.outcome == "INCONCLUSIVE"
    assert "out of reach with 33 samples" in result.verdict.explanation
    assert bounded_mean_test_floor(33, 0.05, (0.0, 1.0), alternative="less") > 0.8 * 0.05
    check = group_futility(claim, values, None, 11, 33, 0.8 * 0.05, (0.0, 1.0))
    assert check.futile and check.chances["equivalent"] == 0.0 and check.unreachable == ("equivalent",)


def test_no_futility_stop_without_spread_or_once_the_evidence_is_enough_for_the_last_look():
    zeros = np.zeros(33)  # a measure that has not varied yet says nothing about its spread
    assert run(Claim("effect"), zeros, looks=[11, 22], futility=0.1).stopped == "max_samples"
    assert not group_futility(Claim("effect"), zeros, None, 11, 33, 0.04, None).futile
    # strong early evidence (p/w < α at look 1) that then fades: the last look supports whatever it sees,
    # so the rule must not end the run at look 2
    values = np.concatenate([np.full(11, 1.0) + np.linspace(0, 0.2, 11), np.random.default_rng(4).normal(-1, 1, 22)])
    first = run(Claim("effect"), values, looks=[11], alpha_stop=0.0005)
    assert first.verdict.p_value < 0.05 and first.stopped == "max_samples"
    second = run(Claim("effect"), values, looks=[11, 22], alpha_stop=0.0005, futility=0.1)
    assert second.stopped != "futility"


@pytest.mark.parametrize("null_mean, alternative", [(0.05, "less"), (0.3, "less"), (0.9, "greater"), (0.5, "greater")])
def test_the_bounded_tests_floor_is_below_every_p_it_gives(null_mean, alternative):
    rng = np.random.default_rng(5)
    for n in (5, 20, 80):
        floor = bounded_mean_test_floor(n, null_mean, (0.0, 1.0), alternative=alternative)
        best = np.zeros(n) if alternative == "less" else np.ones(n)   # the most favourable data there are
        for values in (best, rng.random(n) * 0.2, rng.random(n)):
            assert bounded_mean_test(values, null_mean, (0.0, 1.0), alternative=alternative) >= floor * (1 - 1e-12)
