"""Branching and paired counterfactual rollouts.

Public face: :func:`counterfactual`, :class:`CounterfactualResult`, :class:`Design` (how a
hypothesis samples), :class:`States` and :class:`Periodic` (which states a verdict speaks about),
:func:`collect_branch_points`, :func:`run_paired`, :class:`Trace`, :class:`PairedBranch`,
:func:`record`, :func:`replay`, :class:`Trajectory`.

Imported lazily (as :mod:`cfsal` itself is), so that the environment process
(:mod:`cfsal.rollout.envprocess`), which imports :mod:`cfsal.rollout.arms`, does not import torch.
(Hence :func:`counterfactual` lives in ``experiment.py``: once imported, a submodule named
``counterfactual`` would take the function's place as this package's attribute.)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "BranchPoint": "cfsal.rollout.branching",
    "collect_branch_points": "cfsal.rollout.branching",
    "CounterfactualResult": "cfsal.rollout.experiment",
    "counterfactual": "cfsal.rollout.experiment",
    "Design": "cfsal.rollout.design",
    "Periodic": "cfsal.rollout.design",
    "Selection": "cfsal.rollout.design",
    "States": "cfsal.rollout.design",
    "StateSampler": "cfsal.rollout.sampling",
    "sample_states": "cfsal.rollout.sampling",
    "PairedBranch": "cfsal.rollout.traces",
    "Trace": "cfsal.rollout.traces",
    "run_paired": "cfsal.rollout.paired",
    "Trajectory": "cfsal.rollout.trajectory",
    "TrajectoryError": "cfsal.rollout.trajectory",
    "record": "cfsal.rollout.trajectory",
    "replay": "cfsal.rollout.trajectory",
}

__all__ = ["BranchPoint", "CounterfactualResult", "Design", "PairedBranch", "Periodic", "Selection", "StateSampler",
           "States", "Trace", "Trajectory", "TrajectoryError", "collect_branch_points", "counterfactual", "record", "replay",
           "run_paired", "sample_states"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cfsal.rollout' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
