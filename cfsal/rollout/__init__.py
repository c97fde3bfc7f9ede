"""Branching and paired counterfactual rollouts.

Public face: :func:`counterfactual`, :class:`CounterfactualResult`, :class:`Design` (how a
hypothesis samples), :class:`States` and :class:`Periodic` (which states a verdict speaks about),
:func:`collect_branch_points`, :func:`run_paired`, :class:`Trace`, :class:`PairedBranch`,
:func:`record`, :func:`replay`, :class:`Trajectory`.

(:func:`counterfactual` lives in ``experiment.py``: a submodule named ``counterfactual`` would take
the function's place as this package's attribute once imported.)
"""

from __future__ import annotations

from cfsal.rollout.branching import BranchPoint, collect_branch_points
from cfsal.rollout.design import Design, Periodic, Selection, States
from cfsal.rollout.experiment import CounterfactualResult, counterfactual
from cfsal.rollout.paired import run_paired
from cfsal.rollout.sampling import StateSampler, sample_states
from cfsal.rollout.traces import PairedBranch, Trace
from cfsal.rollout.trajectory import Trajectory, TrajectoryError, record, replay

__all__ = ["BranchPoint", "CounterfactualResult", "Design", "PairedBranch", "Periodic", "Selection", "StateSampler",
           "States", "Trace", "Trajectory", "TrajectoryError", "collect_branch_points", "counterfactual", "record", "replay",
           "run_paired", "sample_states"]
