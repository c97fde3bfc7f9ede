"""Sequential (anytime-valid) verdicts: known cases, hand-computed values and validity under optional stopping."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from cfsal.errors import StatisticsError
from cfsal.stats import (
    Claim,
    SequentialResult,
    Verdict,
    adjust,
    betting_log_capital,
    correlation_stream,
    e_benjamini_hochberg,
    looks_for,
    mixture_log_evidence,
    sequential_assess,
)
from cfsal.stats.confidence_sequences import BET_CAP, KELLY_FRACTIONS, MIN_ASYMPTOTIC_N, _mixture_r

LOOKS = looks_for(10, 200)


def reference_log_capital(x, theta, level, side):
    """The WSR (2023) bettor written out step by step: half plug-in (hedged) and half dKelly."""
    sign = 1.0 if side == "greater" else -1.0
    room = theta if side == "greater" else 1.0 - theta
    plug_in, kelly = 1.0, np.ones(len(KELLY_FRACTIONS))
    mean, var, out = 0.5, 0.25, []
    for t, value in enumerate(x, start=1):
        lam = min(math.sqrt(2 * math.log(1 / level) / (var * t * math.log(1 + t))), BET_CAP / room)
        plug_in *= 1 + lam * sign * (value - theta)
        kelly *= 1 + np.array(KELLY_FRACTIONS) / room * sign * (value - theta)
        out.append(math.log(0.5 * plug_in + 0.5 * kelly.mean()))
        var = (0.25 + sum((x[i] - m) ** 2 for i, m in enumerate(_means(x, t)))) / (t + 1)
        mean = (0.5 + sum(x[:t])) / (t + 1)
    return np.array(out), mean


def _means(x, t):
    """Predictable means μ̂₀ … μ̂ₜ₋₁ (μ̂₀ = ½)."""
    return [(0.5 + sum(x[:i])) / (i + 1) for i in range(t)]


def test_betting_capital_matches_a_step_by_step_bettor():
    x = np.random.default_rng(0).beta(2, 5, size=40)
    for side, theta in (("greater", 0.2), ("less", 0.35)):
        expected, _ = reference_log_capital(list(x), theta, 0.05, side)
        assert betting_log_capital(x, [theta], 0.05, side)[:, 0] == pytest.approx(expected, rel=1e-10)


def test_all_zeros_rule_out_a_5_percent_effect_only_when_the_capital_reaches_1_over_alpha():
    # x = 0 every time and θ = 0.05: each bet multiplies the capital by 1 + λ·0.05, by hand
    x = np.zeros(300)
    log_k = betting_log_capital(x, [0.05], 0.05, "less")[:, 0]
    first = int(np.argmax(log_k >= math.log(20))) + 1
    result = sequential_assess(Claim("no_effect", margin=0.05), x, looks=range(1, 301), bounds=(0, 1))
    assert result.verdict.outcome == "SUPPORTED" and result.n == first
    assert 60 < first < 100  # 30 zeros are not enough (0.95³⁰ = 0.21), far fewer than 300 are
    assert result.looks[-2].decision == "CONTINUE" and result.stopped == "decided"


def test_half_normal_mixture_matches_numerical_integration():
    # M⁺ = ∫₀^∞ exp(λW − λ²t/2) · 2·N(λ; 0, 1/r) dλ  (Howard et al. 2021), with W = Σx/σ̂
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 1.0, size=60)
    level, t = 0.05, 60
    r = _mixture_r(level)
    w = x.sum() / x.std(ddof=1)
    density = lambda lam: 2 * stats.norm.pdf(lam, scale=1 / math.sqrt(r))
    value, _ = integrate.quad(lambda lam: math.exp(lam * w - lam * lam * t / 2) * density(lam), 0, np.inf)
    assert mixture_log_evidence(x, [0.0], level, "greater")[-1, 0] == pytest.approx(math.log(value), rel=1e-6)
    assert np.all(np.isneginf(mixture_log_evidence(x, [0.0], level, "greater")[: MIN_ASYMPTOTIC_N - 1, 0]))


def test_the_displayed_sequence_agrees_with_the_decisions():
    rng = np.random.default_rng(2)
    values = rng.uniform(0.0, 0.3, size=200)
    result = sequential_assess(Claim("effect", margin=0.05), values, looks=LOOKS, bounds=(0, 1))
    assert result.verdict.outcome == "SUPPORTED" and result.looks[-1].ci_low >= 0.05
    assert all(look.ci_low < 0.05 for look in result.looks[:-1])
    widths = [look.ci_high - look.ci_low for look in result.looks]
    assert widths == sorted(widths, reverse=True)  # running intersection: never widens


def test_decisions_do_not_depend_on_drawing_the_sequence():
    values = np.random.default_rng(8).uniform(0.0, 0.2, size=200)
    drawn = sequential_assess(Claim("effect", margin=0.05), values, looks=LOOKS, bounds=(0, 1))
    bare = sequential_assess(Claim("effect", margin=0.05), values, looks=LOOKS, bounds=(0, 1), sequence=False)
    assert [(look.n, look.p_value, look.decision) for look in drawn.looks] == \
        [(look.n, look.p_value, look.decision) for look in bare.looks]


def test_samples_after_the_stop_do_not_change_anything():
    rng = np.random.default_rng(3)
    values = rng.normal(0.8, 1.0, size=200)
    full = sequential_assess(Claim("direction", "greater"), values, looks=LOOKS)
    cut = sequential_assess(Claim("direction", "greater"), values[: full.n], looks=[k for k in LOOKS if k <= full.n],
                            max_samples=200)  # the same design, only the data after the stop left out
    assert full.verdict == cut.verdict and full.looks == cut.looks and full.n < 200


@pytest.mark.parametrize("claim, data, outcome, reason", [
    (Claim("direction", "less"), lambda r: r.uniform(0.2, 0.6, 200), "REFUTED", "other way"),
    (Claim("effect", margin=0.2), lambda r: r.uniform(-0.05, 0.05, 200), "REFUTED", "No effect worth"),
    (Claim("no_effect", margin=0.05), lambda r: r.uniform(0.2, 0.4, 200), "REFUTED", "beyond ±0.05"),
    (Claim("effect"), lambda r: np.zeros(200), "INCONCLUSIVE", "maximum number of samples"),
])
def test_verdict_rules(claim, data, outcome, reason):
    result = sequential_assess(claim, data(np.random.default_rng(4)), looks=LOOKS, bounds=(-1, 1))
    assert result.verdict.outcome == outcome and reason in result.verdict.explanation


def test_budget_reason_reaches_the_explanation():
    result = sequential_assess(Claim("effect"), np.zeros(20), looks=[10, 20], bounds=(-1, 1), final_reason="budget")
    assert result.stopped == "budget" and "budget ran out" in result.verdict.explanation


def test_correlation_stream_estimates_rho_and_is_centred_under_independence():
    rng = np.random.default_rng(5)
    x = rng.normal(size=20000)
    y = 0.6 * x + 0.8 * rng.normal(size=20000)
    assert correlation_stream(x, y).mean() == pytest.approx(0.6, abs=0.03)
    assert correlation_stream(x, rng.exponential(size=20000)).mean() == pytest.approx(0.0, abs=0.03)
    result = sequential_assess(Claim("correlation", "greater"), y[:400], covariate=x[:400], looks=looks_for(20, 400))
    assert result.verdict.outcome == "SUPPORTED" and result.n < 400


def test_false_support_under_optional_stopping_stays_below_alpha():
    """200 bounded nulls (0/1 exchangeable pairs) looked at 20 times: SUPPORTED at most α + MC error."""
    rng = np.random.default_rng(6)
    supported = sum(
        sequential_assess(Claim("effect"), (rng.random(200) < 0.3) * 1.0 - (rng.random(200) < 0.3), looks=LOOKS,
                          bounds=(-1, 1), sequence=False).verdict.outcome == "SUPPORTED" for _ in range(200))
    assert supported / 200 <= 0.05 + 1.96 * math.sqrt(0.05 * 0.95 / 200)


def test_alpha_stop_is_what_holm_keeps():
    rng = np.random.default_rng(7)
    result = sequential_assess(Claim("effect"), rng.uniform(0.1, 0.5, 100), looks=looks_for(10, 100),
                               bounds=(0, 1), alpha_stop=0.05 / 10)
    assert result.verdict.p_value < 0.005
    others = [Verdict.from_dict({**result.verdict.to_dict(), "p_value": 0.9})] * 9
    assert adjust([result.verdict, *others])[0].outcome == "SUPPORTED"
    with pytest.raises(StatisticsError, match="alpha_stop"):
        sequential_assess(Claim("effect"), np.zeros(10), looks=[10], alpha_stop=0.1)


def test_result_round_trips_through_json():
    result = sequential_assess(Claim("no_effect", margin=0.1), np.zeros(60), looks=looks_for(10, 60), bounds=(0, 1))
    again = SequentialResult.from_dict(result.to_dict(), Verdict.from_dict(result.verdict.to_dict()))
    assert again == result


def test_bad_inputs_teach():
    with pytest.raises(StatisticsError, match="outside the declared bounds"):
        sequential_assess(Claim("effect"), [0.5, 2.0], looks=[2], bounds=(0, 1))
    with pytest.raises(StatisticsError, match="every look must be"):
        sequential_assess(Claim("effect"), [0.5, 0.2], looks=[3])
    with pytest.raises(StatisticsError, match="covariate"):
        sequential_assess(Claim("correlation"), [0.5, 0.2], looks=[2])


def test_e_bh_by_hand():
    # m = 4, α = 0.1: thresholds m/(αk) = 40, 20, 13.3, 10 → the two largest pass (e = 25 ≥ 20)
    assert e_benjamini_hochberg([1.0, 25.0, 50.0, 5.0], 0.1).tolist() == [False, True, True, False]
    assert not e_benjamini_hochberg([30.0, 1.0], 0.05).any()


# ------------------------------------------------------------------------------------------ futility

def _antithetic(seed: int, n: int = 200) -> np.ndarray:
    """Pairs (h, −h): the running mean is exactly 0 at every even n — a null with no effect at all."""
    half = np.random.default_rng(seed).normal(size=n // 2)
    x = np.empty(n)
    x[0::2], x[1::2] = half, -half
    return x


def test_futility_stops_a_clear_null_before_its_maximum_and_says_why():
    x = _antithetic(11)
    plain = sequential_assess(Claim("effect"), x, looks=LOOKS)
    futile = sequential_assess(Claim("effect"), x, looks=LOOKS, futility=0.1)
    assert plain.n == 200 and plain.stopped == "max_samples"
    assert futile.stopped == "futility" and futile.verdict.outcome == "INCONCLUSIVE" and futile.n < 200
    assert "futility" in futile.verdict.explanation and "maximum of 200" in futile.verdict.explanation
    assert futile.looks == plain.looks[: len(futile.looks) - 1] + (futile.looks[-1],)
    # a larger maximum keeps the test going: more samples could still decide a smaller effect
    later = sequential_assess(Claim("effect"), np.concatenate([x, x]), looks=looks_for(10, 400), futility=0.1)
    assert later.n > futile.n or later.stopped != "futility"


def test_futility_never_stops_a_clear_effect():
    rng = np.random.default_rng(12)
    for _ in range(40):
        result = sequential_assess(Claim("effect"), rng.normal(0.4, 1.0, 200), looks=LOOKS, futility=0.1)
        assert result.stopped == "decided" and result.verdict.outcome == "SUPPORTED"
        bounded = sequential_assess(Claim("direction", "greater"), np.clip(rng.normal(0.25, 0.4, 200), -1, 1),
                                    looks=LOOKS, bounds=(-1, 1), futility=0.1)
        assert bounded.stopped == "decided" and bounded.verdict.outcome == "SUPPORTED"


def test_futility_never_adds_false_support():
    """Non-binding: every SUPPORTED with futility is SUPPORTED without it, at the same n; the rate stays ≤ α + MC error."""
    rng = np.random.default_rng(13)
    with_futility = without = 0
    stops = 0
    for _ in range(150):
        x = rng.normal(size=200)
        a = sequential_assess(Claim("effect"), x, looks=LOOKS, sequence=False, futility=0.2)
        b = sequential_assess(Claim("effect"), x, looks=LOOKS, sequence=False)
        if a.verdict.outcome == "SUPPORTED":
            assert b.verdict.outcome == "SUPPORTED" and b.n == a.n
        with_futility += a.verdict.outcome == "SUPPORTED"
        without += b.verdict.outcome == "SUPPORTED"
        stops += a.stopped == "futility"
    assert with_futility <= without
    assert with_futility / 150 <= 0.05 + 1.96 * math.sqrt(0.05 * 0.95 / 150)
    assert stops > 0  # the rule did act on these nulls


def test_futility_is_deterministic_and_recorded():
    x = _antithetic(14)
    first = sequential_assess(Claim("effect"), x, looks=LOOKS, futility=0.1, max_samples=200)
    again = sequential_assess(Claim("effect"), x.copy(), looks=LOOKS, futility=0.1, max_samples=200)
    assert first == again and [look.n for look in first.looks] == [look.n for look in again.looks]
    data = first.to_dict()
    assert data["futility"] == 0.1 and data["max_samples"] == 200 and data["stopped"] == "futility"
    assert SequentialResult.from_dict(data, first.verdict) == first


def test_futility_bad_settings_teach():
    with pytest.raises(StatisticsError, match="futility=1.5"):
        sequential_assess(Claim("effect"), np.zeros(20), looks=[10, 20], futility=1.5)
    with pytest.raises(StatisticsError, match="below the last look"):
        sequential_assess(Claim("effect"), np.zeros(20), looks=[10, 20], max_samples=15)


def test_a_corrected_sequential_verdict_is_told_as_its_design_decided_then_corrected():
    import dataclasses

    rng = np.random.default_rng(7)
    result = sequential_assess(Claim("effect"), rng.uniform(0.1, 0.5, 100), looks=looks_for(10, 100),
                               bounds=(0, 1), alpha_stop=0.05 / 10)
    others = [Verdict.from_dict({**result.verdict.to_dict(), "p_value": 0.9})] * 9
    kept = adjust([result.verdict, *others])[0]
    assert kept.outcome == "SUPPORTED"
    assert "anytime-valid p" in kept.explanation and "still supported" in kept.explanation
    assert "After Holm correction over 10 hypotheses the adjusted p = " in kept.explanation
    weaker = dataclasses.replace(result.verdict, p_value=0.02)   # supported alone, not among ten
    lost = adjust([weaker, *others])[0]
    assert lost.outcome == "INCONCLUSIVE"
    assert "anytime-valid p" in lost.explanation and "≥ α = 0.05: not shown once the session's other" in lost.explanation
    assert "(minimum-effect test)" not in lost.explanation and "CI [" not in lost.explanation  # not fixed-n words
