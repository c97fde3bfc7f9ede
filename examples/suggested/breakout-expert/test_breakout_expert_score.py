"""Suggested by `cfsal suggest`: does breakout-expert ignore the score?

Saliency said (audit of breakout-expert, weights sha256 7066706860ee…, 481 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 0.73% of the saliency on 2.3% of the screen, enrichment 0.316
  (95% CI 0.29–0.345), rank 5 of 5: low; over 481 frames (blocks of 10).

Frames: episode 0 (seed 4088532484, 1000 steps) steps 10–990 every 10; episode 1 (seed 3581274545,
1000 steps) steps 10–990 every 10; episode 2 (seed 1008912121, 883 steps) steps 10–880 every 10;
episode 3 (seed 4023748921, 1000 steps) steps 10–990 every 10; episode 4 (seed 383384112, 961 steps)
steps 10–960 every 10.
95% CIs: moving-block bootstrap over each episode's mapped frames (2000 resamples).

The claims below test what that suggests on fresh branch points (not the audited frames). The full
audit is in audit.json beside this file; docs/suggest.md explains every number.
"""

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

AGENT = "breakout-expert"
CHANGE = breakout.SetScore(value=1000)


@cfsal.hypothesis(agent=AGENT, kind="no_effect", margin=0.05, samples=400)
def test_the_agent_ignores_the_score(counterfactual):
    """Setting the score to 1000 changes the agent's policy by less than 0.05 in total variation (a
    control: saliency finds little on the score).

    Sample size: a pilot of 8 pairs (seed 2530644202) gave mean 0.147, SD 0.208, upper 80% limit σ =
    0.281. 80% power to show equivalence within ±0.05 when the true effect is 0, α = 0.05/5 claims =
    0.01: n = ((z_(1−α) + z_0.9)·σ / 0.05)², and at least the exact zeros the bounded betting test
    needs: 400 (kept within 20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)
