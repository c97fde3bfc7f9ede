"""Suggested by `cfsal suggest`: does breakout-expert use the paddle?

Saliency said (audit of breakout-expert, weights sha256 7066706860ee…, 481 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 1.8% of the saliency on 0.15% of the screen, enrichment 11.9
  (95% CI 10.4–13.5), rank 1 of 5: salient; over 481 frames (blocks of 10).
  Its saliency share correlates with its speed: r = -0.23 (95% CI -0.32 to -0.13, 481 frames).

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
CHANGE = breakout.MovePaddle(dx=40)


@cfsal.hypothesis(agent=AGENT, kind="effect", margin=0.05, samples=400)
def test_the_agent_uses_the_paddle(counterfactual):
    """Moving the paddle 40 pixels to the right changes the agent's policy by more than 0.05 in total
    variation.

    Sample size: a pilot of 8 pairs (seed 1902154619) gave mean 0.596, SD 0.491, upper 80% limit σ =
    0.664. 80% power at the smallest effect of interest, a mean of 0.15, against the margin 0.05, α
    = 0.05/5 claims = 0.01: n = ((z_(1−α/2) + z_0.8)·σ / (0.15 − 0.05))² = 400 (kept within 20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)
