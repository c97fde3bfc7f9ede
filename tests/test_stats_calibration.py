"""Calibration and power of the verdicts on simulated data.

Calibration: when nothing is going on, an effect claim may be SUPPORTED at most at rate α (up to
Monte-Carlo error, here two binomial standard errors). Two kinds of "nothing":

* exchangeable pairs — what a null-control agent produces: factual and intervened measures are
  draws from the same (skewed, discrete, tied …) distribution, so every difference is symmetric;
* mean-zero differences of any shape, including skewed ones (the intervention reshapes the
  measure without moving its mean).

The fast tests use 200 datasets per family; the slow ones the 1000 the issue asks for.
docs/statistics.md records the measured rates.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from cfsal.stats import Claim, assess, assess_correlation

ALPHA = 0.05
N_PAIRS = 30
Sampler = Callable[[np.random.Generator, int], np.ndarray]

EXCHANGEABLE_NULLS: dict[str, Sampler] = {
    # Return over a horizon, common random numbers: a shared part plus arm-specific exponential noise.
    "exponential returns, shared noise": lambda g, n: (g.exponential(size=n) + g.exponential(size=n))
    - (g.exponential(size=n) + g.exponential(size=n)),
    # Action disagreement with a reference policy, one 0/1 per arm: differences in {-1, 0, 1}.
    "action disagreement, 0/1 per arm": lambda g, n: g.binomial(1, 0.15, n) - g.binomial(1, 0.15, n),
    # Steps to the next life loss, discrete and skewed.
    "poisson steps to life loss": lambda g, n: g.poisson(3.0, n) - g.poisson(3.0, n),
}

MEAN_ZERO_NULLS: dict[str, Sampler] = {
    "normal": lambda g, n: g.normal(size=n),
    "student t3 (heavy tails)": lambda g, n: g.standard_t(3, size=n),
    "exponential - 1 (skewness 2)": lambda g, n: g.exponential(size=n) - 1.0,
    "{-1, 0, 1} with many ties": lambda g, n: g.choice([-1.0, 0.0, 1.0], size=n, p=[0.1, 0.8, 0.1]),
    "{-1, 3} discrete and skewed": lambda g, n: g.choice([-1.0, 3.0], size=n, p=[0.75, 0.25]),
}


def supported_rate(claim: Claim, sampler: Sampler, *, datasets: int, n: int = N_PAIRS, n_resamples: int = 999,
                   seed: int = 0) -> float:
    """Share of simulated datasets on which ``claim`` is SUPPORTED."""
    g = np.random.default_rng(seed)
    hits = sum(assess(claim, sampler(g, n), rng=g, n_resamples=n_resamples).outcome == "SUPPORTED"
               for _ in range(datasets))
    return hits / datasets


def bound(datasets: int, alpha: float = ALPHA) -> float:
    """α plus two Monte-Carlo standard errors of a rate estimated from ``datasets`` draws."""
    return alpha + 2 * np.sqrt(alpha * (1 - alpha) / datasets)


@pytest.mark.parametrize("name", sorted(EXCHANGEABLE_NULLS))
def test_effect_claims_are_calibrated_on_exchangeable_pairs(name):
    rate = supported_rate(Claim("effect"), EXCHANGEABLE_NULLS[name], datasets=200)
    assert rate <= bound(200), f"{name}: SUPPORTED in {rate:.3f} of null datasets"


def test_effect_claims_are_exactly_calibrated_with_few_pairs():
    """n = 8: all 256 sign patterns are enumerated, the permutation test is exact."""
    rate = supported_rate(Claim("effect"), EXCHANGEABLE_NULLS["exponential returns, shared noise"],
                          datasets=300, n=8)
    assert rate <= bound(300)


@pytest.mark.parametrize("name", sorted(MEAN_ZERO_NULLS))
def test_effect_claims_are_calibrated_on_mean_zero_differences(name):
    rate = supported_rate(Claim("effect"), MEAN_ZERO_NULLS[name], datasets=200)
    assert rate <= bound(200), f"{name}: SUPPORTED in {rate:.3f} of null datasets"


def test_direction_claims_are_calibrated():
    for alternative in ("greater", "less"):
        rate = supported_rate(Claim("direction", alternative), MEAN_ZERO_NULLS["normal"], datasets=200)
        assert rate <= bound(200), alternative


def test_no_effect_claims_are_calibrated_at_the_margin():
    """A true effect exactly at the margin is the hardest null for an equivalence claim."""
    margin = 0.3
    rate = supported_rate(Claim("no_effect", margin=margin), lambda g, n: g.normal(margin, 1.0, n),
                          datasets=1000)
    assert rate <= bound(1000)


@pytest.mark.parametrize("n", [30, 100])
def test_no_effect_claims_with_bounds_are_calibrated_for_rare_events(n):
    """Action disagreement at a true rate of 5%, margin 0.05: the hardest null for "no effect".

    Without bounds the t-based TOST says SUPPORTED in 21% (n = 30) and 11% (n = 100) of these
    datasets (docs/statistics.md); with the measure's bounds declared it stays below α.
    """
    g = np.random.default_rng(2)
    claim = Claim("no_effect", margin=0.05)
    hits = sum(assess(claim, g.binomial(1, 0.05, n).astype(float), rng=g, bounds=(0, 1)).outcome
               == "SUPPORTED" for _ in range(1000))
    assert hits / 1000 <= bound(1000)


def test_correlation_claims_are_calibrated_for_independent_skewed_measures():
    g = np.random.default_rng(1)
    claim = Claim("correlation")
    hits = sum(assess_correlation(claim, g.exponential(size=N_PAIRS), g.exponential(size=N_PAIRS), rng=g,
                                  n_resamples=999).outcome == "SUPPORTED" for _ in range(200))
    assert hits / 200 <= bound(200)


def test_a_real_effect_is_found_with_modest_samples():
    """Cohen's d = 0.8 with 30 pairs: the t-test has 99% power; the verdict should be close."""
    rate = supported_rate(Claim("effect"), lambda g, n: g.normal(0.8, 1.0, n), datasets=100)
    assert rate >= 0.9
    rate = supported_rate(Claim("direction", "greater"),
                          lambda g, n: g.binomial(1, 0.4, n) - g.binomial(1, 0.1, n), datasets=100)
    assert rate >= 0.7  # action disagreement 40% vs 10%: power of the exact sign test is about 0.8


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXCHANGEABLE_NULLS) + sorted(MEAN_ZERO_NULLS))
def test_effect_claims_are_calibrated_over_a_thousand_null_datasets(name, record_property):
    sampler = {**EXCHANGEABLE_NULLS, **MEAN_ZERO_NULLS}[name]
    rate = supported_rate(Claim("effect"), sampler, datasets=1000, n_resamples=1999, seed=1)
    record_property("supported_rate", rate)  # in --junitxml; docs/statistics.md lists the values
    print(f"{name}: SUPPORTED rate {rate:.3f} (bound {bound(1000):.4f})")
    assert rate <= bound(1000), f"{name}: SUPPORTED in {rate:.3f} of null datasets"
