"""The paper, case study 2 (Amidar): does the agent use the score?

Perturbation saliency of Amidar agents lights up the score digits, which suggests "the agent uses
the score". The paper tested it by changing the displayed score (set to 0, to random values, held
constant, decremented) and found that saliency on the score moved while behaviour did not follow,
with a weak correlation between the two. Here the same three questions are hypotheses:

1. Changing the score moves saliency onto / off the score (it should, if saliency tracks pixels).
2. Changing the score does not change what the agent does (the paper's finding).
3. The more saliency on the score changes, the more the behaviour changes (the paper: weakly).

Differences from the paper: our `amidar-a2c` is trained on 2 CPU cores for far fewer steps than
the paper's 40M (see its model card). Behaviour is measured by action disagreement under common
random numbers, not by reward: Toybox derives reward from the displayed score, so a score
intervention would contaminate any reward-based measure (the paper's reward curves had this
confound). Saliency uses the paper's perturbation maps with radius 2, as its Amidar experiments did.
The paper also inserted no-op steps in the intervened run only; here both arms are treated alike.
"""

import cfsal
from cfsal import measures
from cfsal.interventions import amidar

RANDOM_SCORE = amidar.RandomScore(low=1, high=200)          # the paper's IVmultModifyScores values
SCORE_SALIENCY = measures.saliency_mass_change("score", method="perturbation", radius=2)


@cfsal.hypothesis(agent="amidar-a2c", kind="effect", margin=0.01)
def test_changing_the_score_moves_saliency_on_the_score(counterfactual):
    """Setting the score to a random value changes the share of saliency on the score by more than 1 point."""
    return counterfactual(RANDOM_SCORE, branch_every=40, horizon=1, measure=SCORE_SALIENCY)


@cfsal.hypothesis(agent="amidar-a2c", kind="no_effect", margin=0.05, samples=100)
def test_changing_the_score_does_not_change_what_the_agent_does(counterfactual):
    """Setting the score to a random value changes the agent's actions on fewer than 5% of steps.

    Action disagreement is bounded in [0, 1]; ruling out a 5% rate needs about 80 branches.
    """
    return counterfactual(RANDOM_SCORE, branch_every=20, horizon=20, measure=measures.action_disagreement)


@cfsal.hypothesis(agent="amidar-a2c", kind="correlation", alternative="greater")
def test_saliency_on_the_score_predicts_the_change_in_behaviour(counterfactual):
    """Branches where the score's saliency changes more are branches where the actions change more."""
    return counterfactual(RANDOM_SCORE, branch_every=40, horizon=20,
                          measure=(SCORE_SALIENCY, measures.action_disagreement))
