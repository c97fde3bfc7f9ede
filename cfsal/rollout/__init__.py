"""Branching and paired counterfactual rollouts.

Public face: :func:`counterfactual`, :class:`CounterfactualResult`, :func:`collect_branch_points`,
:func:`run_paired`, :class:`Trace`, :class:`PairedBranch`, :func:`record`, :func:`replay`,
:class:`Trajectory`.
"""

from cfsal.rollout.branching import BranchPoint, collect_branch_points
from cfsal.rollout.counterfactual import CounterfactualResult, counterfactual
from cfsal.rollout.paired import PairedBranch, Trace, run_paired
from cfsal.rollout.trajectory import Trajectory, TrajectoryError, record, replay

__all__ = ["BranchPoint", "CounterfactualResult", "PairedBranch", "Trace", "Trajectory", "TrajectoryError",
           "collect_branch_points", "counterfactual", "record", "replay", "run_paired"]
