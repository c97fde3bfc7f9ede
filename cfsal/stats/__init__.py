"""Statistics for counterfactual hypotheses: paired tests, intervals, equivalence, correlation, corrections.

Knows nothing of games, agents or pytest: it works on arrays of paired numbers. The verdict
rules are in ``docs/statistics.md`` and :mod:`cfsal.stats.fixed_n`; a :class:`Verdict` is data
(:mod:`cfsal.stats.verdict`), and its explanation is rendered from it (:mod:`cfsal.stats.explain`).

    >>> import numpy as np
    >>> from cfsal.stats import Claim, assess
    >>> v = assess(Claim("effect"), np.full(20, 0.3), rng=np.random.default_rng(0))
    >>> v.outcome
    'SUPPORTED'
"""

from cfsal.stats.adjustment import adjust
from cfsal.stats.bootstrap import bootstrap_ci, cluster_bootstrap_ci
from cfsal.stats.claim import Claim
from cfsal.stats.clustered import (
    MIN_CLUSTERS,
    cluster_paired_test,
    cluster_robust_se,
    cluster_sign_flip_test,
    cluster_t_interval,
    cluster_tost,
)
from cfsal.stats.confidence_sequences import betting_log_capital, mixture_log_evidence
from cfsal.stats.correlation import (
    CorrelationResult,
    correlation,
    correlation_equivalence,
    fisher_interval,
)
from cfsal.stats.fixed_n import assess, assess_correlation
from cfsal.stats.group_sequential import group_looks, group_maximum, group_sequential_assess, look_weights
from cfsal.stats.multiple import adjust_p_values, benjamini_hochberg, e_benjamini_hochberg, holm
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
from cfsal.stats.sequential import Look, SequentialResult, correlation_stream, looks_for, sequential_assess
from cfsal.stats.verdict import SCHEMA_VERSION, Verdict

__all__ = [
    "DEFAULT_RESAMPLES",
    "MIN_CLUSTERS",
    "SCHEMA_VERSION",
    "BootstrapTResult",
    "Claim",
    "CorrelationResult",
    "EquivalenceResult",
    "Look",
    "MinimumEffectResult",
    "PairedTestResult",
    "PermutationResult",
    "SequentialResult",
    "Verdict",
    "WilcoxonResult",
    "adjust",
    "adjust_p_values",
    "assess",
    "assess_correlation",
    "benjamini_hochberg",
    "betting_log_capital",
    "bootstrap_ci",
    "bootstrap_t_test",
    "cluster_bootstrap_ci",
    "cluster_paired_test",
    "cluster_robust_se",
    "cluster_sign_flip_test",
    "cluster_t_interval",
    "cluster_tost",
    "correlation",
    "correlation_equivalence",
    "correlation_stream",
    "e_benjamini_hochberg",
    "fisher_interval",
    "group_looks",
    "group_maximum",
    "group_sequential_assess",
    "holm",
    "look_weights",
    "looks_for",
    "minimum_effect_test",
    "mixture_log_evidence",
    "paired_test",
    "samples_for_correlation",
    "samples_for_equivalence",
    "samples_for_mean",
    "sequential_assess",
    "sign_flip_test",
    "t_interval",
    "tost",
    "wilcoxon_test",
]
