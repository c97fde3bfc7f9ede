"""cfsal: counterfactual testing of saliency-derived hypotheses about deep RL agents.

A hypothesis is a pytest test::

    import cfsal
    from cfsal.interventions import breakout

    @cfsal.hypothesis(agent="breakout-expert", kind="effect")
    def test_moving_the_ball_changes_what_the_agent_does(counterfactual):
        '''Moving the ball changes the agent's policy.'''
        return counterfactual(breakout.MoveBall(dx=30), measure=cfsal.measures.policy_total_variation)

Submodules are imported lazily so that loading the pytest plugin does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "hypothesis": ("cfsal.plugin.declare", "hypothesis"),
    "counterfactual": ("cfsal.rollout", "counterfactual"),
    "Design": ("cfsal.rollout.design", "Design"),
    "States": ("cfsal.rollout.design", "States"),
    "Periodic": ("cfsal.rollout.design", "Periodic"),
    "judge": ("cfsal.judge", "judge"),
    "load_agent": ("cfsal.agents.zoo", "load_agent"),
    "make": ("cfsal.envs", "make"),
    "expect": ("cfsal.claims", "expect"),
    "ClaimNotSupported": ("cfsal.claims", "ClaimNotSupported"),
    "ROLLOUT_SEARCH": ("cfsal.claims", "ROLLOUT_SEARCH"),
}
_SUBMODULES = {"agents", "envs", "interventions", "measures", "rollout", "saliency", "stats", "report", "testing"}

__all__ = ["__version__", *_LAZY, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(import_module(module), attribute)
    if name in _SUBMODULES:
        return import_module(f"cfsal.{name}")
    raise AttributeError(f"module 'cfsal' has no attribute {name!r}")
