"""cfsal: counterfactual testing of saliency-derived hypotheses about deep RL agents.

A hypothesis is a pytest test::

    import cfsal
    from cfsal.interventions import breakout

    @cfsal.hypothesis(agent="breakout-expert", kind="effect")
    def test_moving_the_ball_changes_what_the_agent_does(counterfactual):
        '''Moving the ball changes the agent's policy.'''
        return counterfactual(breakout.MoveBall(dx=30), measure=cfsal.measures.policy_total_variation)

Importing cfsal registers its gymnasium ids (``gymnasium.make("cfsal/Breakout-v0")``). The pytest
plugin is the top-level module ``_cfsal_pytestplugin``, which imports this package only once a
test module has (so a pytest run without hypotheses never pays for torch).
"""

from __future__ import annotations

__version__ = "0.1.0"

from cfsal import agents, envs, interventions, measures, report, rollout, saliency, stats, testing
from cfsal.agents.zoo import load_agent
from cfsal.claims import ROLLOUT_SEARCH, ClaimNotSupported, expect
from cfsal.envs import make
from cfsal.judge import judge
from cfsal.plugin.declare import hypothesis
from cfsal.rollout import Design, Periodic, States, counterfactual

__all__ = ["ROLLOUT_SEARCH", "ClaimNotSupported", "Design", "Periodic", "States", "__version__", "agents",
           "counterfactual", "envs", "expect", "hypothesis", "interventions", "judge", "load_agent", "make",
           "measures", "report", "rollout", "saliency", "stats", "testing"]
