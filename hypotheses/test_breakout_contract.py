"""Beyond the paper: a behavioural contract for CI, and a search for the move the agent ignores.

**A contract a retrained agent must keep.** Saliency audits are usually done once, on one
checkpoint; a retrained or fine-tuned agent can silently stop using what the audit found. These
claims state what `breakout-a2c` does today — it reacts to the ball, and it does not react to the
score display — so that CI can gate a new checkpoint on them::

    pytest hypotheses/test_breakout_contract.py --cfsal-agent path/to/new.safetensors \\
        --cfsal-fail-on inconclusive --cfsal-json reports/contract.json \\
        --cfsal-compare reports/contract-baseline.json

`--cfsal-fail-on inconclusive` makes a contract that can no longer be *shown* a failure, not a
skip; `--cfsal-compare` lists what changed since the baseline run.

**Property-based falsification.** "The expert reacts to the ball" is a claim about *every* large
move of the ball, not the one a test author happened to pick. Hypothesis searches ball moves for
one under which the claim is not supported and shrinks it to the smallest such move; the
`ROLLOUT_SEARCH` settings keep the search to a few rollout-heavy examples.
"""

from hypothesis import given
from hypothesis import strategies as st

import cfsal
from cfsal import measures
from cfsal.interventions import breakout


@cfsal.hypothesis(agent="breakout-a2c", kind="effect", margin=0.05, samples=60)
def test_contract_the_agent_reacts_to_the_ball(counterfactual):
    """Moving the ball 40 pixels sideways changes breakout-a2c's policy by more than 0.05 (total variation)."""
    return counterfactual(breakout.MoveBall(dx=40), horizon=1,
                          measure=measures.policy_total_variation)


@cfsal.hypothesis(agent="breakout-a2c", kind="no_effect", margin=0.05, samples=200)
def test_contract_the_agent_ignores_the_score_display(counterfactual):
    """Setting the displayed score to another value changes breakout-a2c's policy by less than 0.05."""
    return counterfactual(breakout.SetScore(value=321), horizon=1,
                          measure=measures.policy_total_variation)


@cfsal.hypothesis("No ball move of 20 pixels or more leaves the expert's policy unchanged", agent="breakout-expert")
@given(dx=st.integers(-60, 60).filter(lambda d: abs(d) >= 20))
@cfsal.ROLLOUT_SEARCH
def test_search_for_a_ball_move_the_expert_ignores(counterfactual, dx):
    result = counterfactual(breakout.MoveBall(dx=dx), samples=20, horizon=1,
                            measure=measures.policy_total_variation)
    cfsal.expect(result, "effect", margin=0.05)
