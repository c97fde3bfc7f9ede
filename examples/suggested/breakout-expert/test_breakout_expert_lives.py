"""Suggested by `cfsal suggest`: does saliency on the lives follow its state?

Saliency said (audit of breakout-expert, weights sha256 b500c4428313…, 457 frames of 5 episodes,
seed 0):

- perturbation saliency (actor map): 0.94% of the saliency on 0.8% of the screen, enrichment 1.18
  (95% CI 0.927–1.46), rank 4 of 5: unclear; over 457 frames (blocks of 6).
  Its saliency share correlates with its value: r = +0.28 (95% CI +0.18 to +0.37, 457 frames).

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
from cfsal.interventions import breakout

AGENT = "breakout-expert"
VALUE_DOSES = [
    breakout.SetLives(value=0),
    breakout.SetLives(value=1),
    breakout.SetLives(value=3),
    breakout.SetLives(value=5),
    breakout.SetLives(value=9),
]


def lives_value(trace) -> float:
    """The number the lives shows, from the Toybox state."""
    return float(json.loads(trace.first_state)["lives"])


VALUE_CHANGE = measures.difference_of(lives_value, "lives_value_change")
VALUE_SALIENCY_CHANGE = measures.saliency_mass_change("lives", method="perturbation")


@cfsal.hypothesis(agent=AGENT, kind="correlation", alternative="greater", samples=113)
def test_lives_saliency_follows_its_value(counterfactual):
    """Raising the number the lives shows raises the perturbation saliency on it (Δvalue vs Δsaliency,
    r > 0).

    Sample size: 80% power for the one-sided test at r = 0.3 (the smallest correlation of interest),
    α = 0.05/6 claims = 0.00833: n = ((z_(1−α) + z_0.8) / atanh 0.3)² + 3 = 113.
    """
    return counterfactual(VALUE_DOSES, branch_every=40, horizon=1,
                          measure=(VALUE_CHANGE, VALUE_SALIENCY_CHANGE))
