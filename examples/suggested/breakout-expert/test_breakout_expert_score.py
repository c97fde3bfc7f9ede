"""Suggested by `cfsal suggest`: does breakout-expert ignore the score?

Saliency said (audit of breakout-expert, weights sha256 b500c4428313…, 457 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 1.1% of the saliency on 2.3% of the screen, enrichment 0.468
  (95% CI 0.415–0.528), rank 5 of 5: low; over 457 frames (blocks of 6).

Frames: episode 0 (seed 4088532484, 689 steps) steps 10–680 every 10; episode 1 (seed 3581274545,
1000 steps) steps 10–990 every 10; episode 2 (seed 1008912121, 921 steps) steps 10–920 every 10;
episode 3 (seed 4023748921, 1000 steps) steps 10–990 every 10; episode 4 (seed 383384112, 1000
steps) steps 10–990 every 10.
95% CIs: moving-block bootstrap over each episode's mapped frames (2000 resamples).

The claims below test what that suggests on fresh branch points (not the audited frames). The full
audit is in audit.json beside this file; docs/suggest.md explains every number.
"""

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

AGENT = "breakout-expert"
CHANGE = breakout.SetScore(value=1000)


@cfsal.hypothesis(agent=AGENT, kind="no_effect", margin=0.05, samples=124)
def test_the_agent_ignores_the_score(counterfactual):
    """Setting the score to 1000 changes the agent's policy by less than 0.05 in total variation (a
    control: saliency finds little on the score).

    Sample size: a pilot of 8 pairs (seed 2530644202) gave mean 0.104, SD 0.108, upper 80% limit σ =
    0.146. 80% power to show equivalence within ±0.05 when the true effect is 0, α = 0.05/6 claims =
    0.00833: n = ((z_(1−α) + z_0.9)·σ / 0.05)², and at least the exact zeros the bounded betting
    test needs: 124 (kept within 20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)
