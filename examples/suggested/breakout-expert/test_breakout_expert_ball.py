"""Suggested by `cfsal suggest`: does breakout-expert use the ball?

Saliency said (audit of breakout-expert, sha256 70d45ae4b21f…, 325 frames of 5 episodes, seed 0):

- perturbation saliency (actor map): 0.41% of the saliency on 0.042% of the screen, enrichment 9.87
  (95% CI 8.8–10.9), rank 2 of 5: salient; over 217 frames (blocks of 10).

Frames: episode 0 (seed 4088532484, 321 steps) steps 10–320 every 10; episode 1 (seed 3581274545,
1000 steps) steps 10–990 every 10; episode 2 (seed 1008912121, 506 steps) steps 10–500 every 10;
episode 3 (seed 4023748921, 1000 steps) steps 10–990 every 10; episode 4 (seed 383384112, 456 steps)
steps 10–450 every 10.
95% CIs: moving-block bootstrap over each episode's mapped frames (2000 resamples).

The claims below test what that suggests on fresh branch points (not the audited frames). The full
audit is in audit.json beside this file; docs/suggest.md explains every number.
"""

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

AGENT = "breakout-expert"
CHANGE = breakout.MoveBall(dx=40)


@cfsal.hypothesis(agent=AGENT, kind="effect", margin=0.05, samples=189)
def test_the_agent_uses_the_ball(counterfactual):
    """Moving the ball 40 pixels to the right changes the agent's policy by more than 0.05 in total
    variation.

    Sample size: a pilot of 8 pairs (seed 1961512366) gave mean 0.364, SD 0.304, upper 80% limit σ =
    0.411. 80% power at the smallest effect of interest, a mean of 0.15, against the margin 0.05, α
    = 0.05/4 claims = 0.0125: n = ((z_(1−α/2) + z_0.8)·σ / (0.15 − 0.05))² = 189 (kept within
    20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)
