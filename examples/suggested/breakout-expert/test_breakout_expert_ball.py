"""Suggested by `cfsal suggest`: does breakout-expert use the ball?

Saliency said (audit of breakout-expert, weights sha256 7066706860ee…, 481 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 0.16% of the saliency on 0.042% of the screen, enrichment 3.93
  (95% CI 3.37–4.54), rank 2 of 5: salient; over 438 frames (blocks of 10).
  Its saliency share correlates with its speed: r = -0.21 (95% CI -0.28 to -0.14, 436 frames).

Frames: episode 0 (seed 4088532484, 1000 steps) steps 10–990 every 10; episode 1 (seed 3581274545,
1000 steps) steps 10–990 every 10; episode 2 (seed 1008912121, 883 steps) steps 10–880 every 10;
episode 3 (seed 4023748921, 1000 steps) steps 10–990 every 10; episode 4 (seed 383384112, 961 steps)
steps 10–960 every 10.
95% CIs: moving-block bootstrap over each episode's mapped frames (2000 resamples).

The claims below test what that suggests on fresh branch points (not the audited frames). The full
audit is in audit.json beside this file; docs/suggest.md explains every number.
"""

import json
import math

import cfsal
from cfsal import measures
from cfsal.interventions import breakout

AGENT = "breakout-expert"
CHANGE = breakout.MoveBall(dx=40)
SPEED_DOSES = [
    breakout.SetBallVelocity(speed=1.0),
    breakout.SetBallVelocity(speed=2.0),
    breakout.SetBallVelocity(speed=3.0),
    breakout.SetBallVelocity(speed=4.0),
    breakout.SetBallVelocity(speed=6.0),
]


def ball_speed(trace) -> float:
    """The ball's speed in pixels per frame, from the Toybox state."""
    velocity = json.loads(trace.first_state)["balls"][0]["velocity"]
    return math.hypot(velocity["x"], velocity["y"])


SPEED_CHANGE = measures.difference_of(ball_speed, "ball_speed_change")
SPEED_SALIENCY_CHANGE = measures.saliency_mass_change("ball", method="perturbation", absent='zero')


@cfsal.hypothesis(agent=AGENT, kind="effect", margin=0.05, samples=354)
def test_the_agent_uses_the_ball(counterfactual):
    """Moving the ball 40 pixels to the right changes the agent's policy by more than 0.05 in total
    variation.

    Sample size: a pilot of 8 pairs (seed 1961512366) gave mean 0.525, SD 0.406, upper 80% limit σ =
    0.55. 80% power at the smallest effect of interest, a mean of 0.15, against the margin 0.05, α =
    0.05/5 claims = 0.01: n = ((z_(1−α/2) + z_0.8)·σ / (0.15 − 0.05))² = 354 (kept within 20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)


@cfsal.hypothesis(agent=AGENT, kind="correlation", alternative="less", samples=108)
def test_ball_saliency_follows_its_speed(counterfactual):
    """Speeding the ball up lowers the perturbation saliency on it (Δspeed vs Δsaliency, r < 0).

    Sample size: 80% power for the one-sided test at r = 0.3 (the smallest correlation of interest),
    α = 0.05/5 claims = 0.01: n = ((z_(1−α) + z_0.8) / atanh 0.3)² + 3 = 108.
    """
    return counterfactual(SPEED_DOSES, branch_every=40, horizon=1, settle=1,
                          measure=(SPEED_CHANGE, SPEED_SALIENCY_CHANGE))
