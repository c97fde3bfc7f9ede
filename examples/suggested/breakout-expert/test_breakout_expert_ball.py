"""Suggested by `cfsal suggest`: does breakout-expert use the ball?

Saliency said (audit of breakout-expert, weights sha256 b500c4428313…, 457 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 0.19% of the saliency on 0.042% of the screen, enrichment 4.52
  (95% CI 3.9–5.11), rank 2 of 5: salient; over 454 frames (blocks of 6).
  Its saliency share correlates with its distance: r = -0.24 (95% CI -0.31 to -0.16, 454 frames).

Frames: episode 0 (seed 4088532484, 689 steps) steps 10–680 every 10; episode 1 (seed 3581274545,
1000 steps) steps 10–990 every 10; episode 2 (seed 1008912121, 921 steps) steps 10–920 every 10;
episode 3 (seed 4023748921, 1000 steps) steps 10–990 every 10; episode 4 (seed 383384112, 1000
steps) steps 10–990 every 10.
95% CIs: moving-block bootstrap over each episode's mapped frames (2000 resamples).

The claims below test what that suggests on fresh branch points (not the audited frames). The full
audit is in audit.json beside this file; docs/suggest.md explains every number.
"""

import json
import math

import cfsal
from cfsal import measures
from cfsal.envs.objects import objects
from cfsal.interventions import breakout

AGENT = "breakout-expert"
CHANGE = breakout.MoveBall(dx=40)
DISTANCE_DOSES = [
    breakout.MoveBall(dx=-40),
    breakout.MoveBall(dx=-20),
    breakout.MoveBall(dx=20),
    breakout.MoveBall(dx=40),
]


def ball_distance_to_paddle(trace) -> float:
    """Distance between the centres of the ball and the paddle, in screen pixels."""
    boxes = objects("breakout", json.loads(trace.first_state))
    (x0, y0), (x1, y1) = _centre(boxes, "ball"), _centre(boxes, "paddle")
    return math.hypot(x1 - x0, y1 - y0)


def _centre(boxes, pattern: str) -> tuple[float, float]:
    chosen = [box for box in boxes.values() if box.name == pattern or box.kind == pattern]
    x0, y0 = min(b.x0 for b in chosen), min(b.y0 for b in chosen)
    x1, y1 = max(b.x1 for b in chosen), max(b.y1 for b in chosen)
    return (x0 + x1) / 2, (y0 + y1) / 2


DISTANCE_CHANGE = measures.difference_of(ball_distance_to_paddle, "ball_distance_to_paddle_change")
DISTANCE_SALIENCY_CHANGE = measures.saliency_mass_change("ball", method="perturbation")


@cfsal.hypothesis(agent=AGENT, kind="effect", margin=0.05, samples=140)
def test_the_agent_uses_the_ball(counterfactual):
    """Moving the ball 40 pixels to the right changes the agent's policy by more than 0.05 in total
    variation.

    Sample size: a pilot of 8 pairs (seed 1961512366) gave mean 0.278, SD 0.25, upper 80% limit σ =
    0.339. 80% power at the smallest effect of interest, a mean of 0.15, against the margin 0.05, α
    = 0.05/6 claims = 0.00833: n = ((z_(1−α/2) + z_0.8)·σ / (0.15 − 0.05))² = 140 (kept within
    20–400).
    """
    return counterfactual(CHANGE, branch_every=40, horizon=1, measure=measures.policy_total_variation)


@cfsal.hypothesis(agent=AGENT, kind="correlation", alternative="less", samples=113)
def test_ball_saliency_follows_its_distance(counterfactual):
    """Moving the ball closer to the paddle raises the perturbation saliency on it (Δdistance vs
    Δsaliency, r < 0).

    Sample size: 80% power for the one-sided test at r = 0.3 (the smallest correlation of interest),
    α = 0.05/6 claims = 0.00833: n = ((z_(1−α) + z_0.8) / atanh 0.3)² + 3 = 113.
    """
    return counterfactual(DISTANCE_DOSES, branch_every=40, horizon=1,
                          measure=(DISTANCE_CHANGE, DISTANCE_SALIENCY_CHANGE))
