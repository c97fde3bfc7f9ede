"""The paper, counterfactual importance (Breakout): is saliency on a concept a sign that it matters?

The paper compared, per concept (ball, paddle, bricks, score, lives), how much saliency a concept
receives with how much the agent's behaviour changes when that concept is intervened on. If
saliency were explanatory, the two would go together. Here every branch intervenes on one concept
(by episode: episode e gets concept e mod 5), and the claim is a positive correlation between the saliency of what
was changed (share of the factual perturbation map on the changed pixels) and the change of the
policy right after the intervention (total variation). The per-concept effects are hypotheses too.

Differences from the paper: our `breakout-a2c` is trained far less than the paper's agent (see its
model card); the concepts are intervened on at a step drawn from [40, 500) of each seeded episode rather than at
hand-picked frames; the brick intervention removes the bottom row (what the ball reaches first).
"""

import pytest

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

CONCEPTS = {
    "ball": breakout.MoveBall(dx=30),
    "paddle": breakout.MovePaddle(dx=40),
    "bricks": breakout.RemoveBricks(rows=(5,)),
    "score": breakout.SetScore(value=321),
    "lives": breakout.SetLives(value=1),
}


@cfsal.hypothesis(agent="breakout-a2c", kind="correlation", alternative="greater")
def test_salient_concepts_are_the_ones_that_change_behaviour(counterfactual):
    """The more salient the changed concept, the more the policy changes when it is changed."""
    return counterfactual(list(CONCEPTS.values()), horizon=1,
                          measure=(measures.saliency_on_changed_pixels(method="perturbation"),
                                   measures.policy_total_variation))


@pytest.mark.parametrize("concept", list(CONCEPTS))
@cfsal.hypothesis(agent="breakout-a2c", kind="effect", margin=0.05)
def test_intervening_on_a_concept_changes_the_policy(counterfactual, concept):
    """Intervening on this concept changes the agent's policy by more than 0.05 in total variation."""
    return counterfactual(CONCEPTS[concept], horizon=1, measure=measures.policy_total_variation)
