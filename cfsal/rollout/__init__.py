"""Branching and paired counterfactual rollouts.

Public face: :func:`counterfactual`, :class:`CounterfactualResult`, :func:`collect_branch_points`,
:func:`run_paired`, :class:`Trace`, :class:`PairedBranch`.
"""

from cfsal.rollout.branching import BranchPoint, collect_branch_points
from cfsal.rollout.counterfactual import CounterfactualResult, counterfactual
from cfsal.rollout.paired import PairedBranch, Trace, run_paired

__all__ = ["BranchPoint", "CounterfactualResult", "PairedBranch", "Trace", "collect_branch_points",
           "counterfactual", "run_paired"]
