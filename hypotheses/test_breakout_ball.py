"""Breakout: does the agent act on the ball?

Perturbation saliency of Breakout agents glows on the ball and the paddle (Greydanus et al. 2018;
the paper's Fig. 1), which suggests the story "the agent tracks the ball". The counterfactual
test: move the ball (the paper's IVmoveball, here 40 pixels to the right rather than 5, so the
move is unambiguous) and keep everything else — if the agent uses the ball, its policy changes.

`breakout-expert` is the positive control: it was distilled from a scripted expert that follows
the ball by construction, so this claim must be SUPPORTED for it. `breakout-constant` is the
null control: it ignores its input, so "it ignores the ball" must be SUPPORTED for it.
"""

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

MOVE_BALL = breakout.MoveBall(dx=40)


@cfsal.hypothesis(agent="breakout-expert", kind="effect", margin=0.05)
def test_moving_the_ball_changes_what_the_expert_does(counterfactual):
    """Moving the ball changes the expert's policy by more than 0.05 in total variation."""
    return counterfactual(MOVE_BALL, horizon=10, measure=measures.policy_total_variation)


@cfsal.hypothesis(agent="breakout-constant", kind="no_effect", margin=0.05, samples=200)
def test_the_constant_agent_ignores_the_ball(counterfactual):
    """The constant agent's policy does not change when the ball moves (a sanity check of the engine).

    Total variation is bounded in [0, 1], so "no effect within 0.05" needs about 80 exact zeros
    before a 5% effect is ruled out at α = 0.05, and more to survive the correction across all
    hypotheses of the session (Holm over ~13 needs p < 0.004); hence 200 samples (cheap here).
    """
    return counterfactual(MOVE_BALL, horizon=10, measure=measures.policy_total_variation)
