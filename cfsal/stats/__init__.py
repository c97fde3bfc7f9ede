"""Statistics for counterfactual hypotheses: paired tests, intervals, equivalence, correlation, corrections.

Knows nothing of games, agents or pytest: it works on arrays of paired numbers. The verdict
rules are in ``docs/statistics.md`` and :mod:`cfsal.stats.verdict`.

    >>> import numpy as np
    >>> from cfsal.stats import Claim, assess
    >>> v = assess(Claim("effect"), np.full(20, 0.3), rng=np.random.default_rng(0))
    >>> v.outcome
    'SUPPORTED'
"""

from cfsal.stats.bootstrap import bootstrap_ci
from cfsal.stats.correlation import (
    CorrelationResult,
    correlation,
    correlation_equivalence,
    fisher_interval,
)
from cfsal.stats.multiple import adjust_p_values, benjamini_hochberg, holm
from cfsal.stats.paired import (
    DEFAULT_RESAMPLES,
    BootstrapTResult,
    EquivalenceResult,
    MinimumEffectResult,
    PairedTestResult,
    PermutationResult,
    WilcoxonResult,
    bootstrap_t_test,
    minimum_effect_test,
    paired_test,
    sign_flip_test,
    t_interval,
    tost,
    wilcoxon_test,
)
from cfsal.stats.power import samples_for_correlation, samples_for_equivalence, samples_for_mean
from cfsal.stats.verdict import SCHEMA_VERSION, Claim, Verdict, adjust, assess, assess_correlation

__all__ = [
    "Claim", "Verdict", "assess", "assess_correlation", "adjust", "SCHEMA_VERSION", "DEFAULT_RESAMPLES",
    "paired_test", "minimum_effect_test", "sign_flip_test", "bootstrap_t_test", "wilcoxon_test", "tost", "t_interval",
    "bootstrap_ci",
    "correlation", "correlation_equivalence", "fisher_interval",
    "holm", "benjamini_hochberg", "adjust_p_values",
    "samples_for_mean", "samples_for_equivalence", "samples_for_correlation",
    "PairedTestResult", "PermutationResult", "BootstrapTResult", "WilcoxonResult", "EquivalenceResult", "MinimumEffectResult",
    "CorrelationResult",
]
