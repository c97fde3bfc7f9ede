"""The paper, experiment 1 (Breakout): does the agent aim the ball at the tunnel?

Perturbation maps of Breakout agents light up the tunnel the agent digs through the wall, which
suggests "the agent aims the ball at the tunnel". The paper tested it by moving the tunnel
(IVshiftBricks: the pattern of broken bricks shifted sideways) and by mirroring the wall
(IVsymbricks), and looked at whether the saliency moved with the tunnel; the maps did not follow
the tunnel consistently, and the paper concluded that the tunnel story was not supported.

Three claims, each with a measure that cannot be satisfied by accident:

* **Saliency follows the tunnel.** Compare both maps on both places: the broken-brick cells before
  the shift (``old``) and after it (``new``). The measure is
  ``[intervened(new) − intervened(old)] − [factual(new) − factual(old)]`` in shares of each map's
  total saliency: about 0 if saliency ignores where the holes are, positive if it follows them.
* **The policy reacts to where the tunnel is** (total variation of the policy, right after the
  shift).
* **Mirroring the scene mirrors the decision.** The paper's control/reflect comparison made
  exact: the wall, the ball (and its velocity) and the paddle are mirrored, so a policy driven by
  the scene's geometry turns LEFT into RIGHT. The measure is how much closer the intervened policy
  is to the mirror image of the factual policy than to the factual policy itself (total
  variation; +1: a perfect mirror of a policy that was sure of its move, 0: no preference).

Differences from the paper: our `breakout-a2c` is trained far less (see its model card) and digs
shallow holes rather than the deep tunnel of the paper's 40M-step agent, so the "tunnel" here is
the pattern of broken bricks at a step drawn from [300, 700) of each episode; shifts of ±2 and ±4 columns are
assigned by episode (24 and 48 pixels; the paper's figures showed several shift sizes). Where the
ball goes after the shift needs the ball's path, which the paired traces do not record yet.
"""

from __future__ import annotations

import json

import numpy as np

import cfsal
from cfsal import measures
from cfsal.envs.objects import area_resize, objects
from cfsal.interventions import breakout
from cfsal.saliency import saliency

SHIFTS = [breakout.ShiftBricks(columns=k) for k in (-4, -2, 2, 4)]
MIRROR = breakout.ReflectBricks(carry_ball=True, carry_paddle=True, mirror_velocity=True)
# A step uniform in [300, 700) of each episode: far enough in for the wall to have holes, and reached
# by most breakout-a2c episodes (median length ~650 steps); then 4 NOOP steps in both arms after the edit
# so that all 4 stacked frames show the edited scene (a refreshed newest frame alone would leave
# three frames of the old one in the agent's input).
LATE = {"states": cfsal.States(window=(300, 700)), "settle": 4}


def broken_bricks(state: dict) -> np.ndarray:
    """Observation-pixel weights [84, 84] of the broken bricks' cells (the holes, the tunnel)."""
    frame_size = objects("breakout", state)["paddle"].frame_size
    native = np.zeros(frame_size)
    for brick in state["bricks"]:
        if not brick["alive"]:
            x, y = int(brick["position"]["x"]), int(brick["position"]["y"])
            native[y:y + int(brick["size"]["y"]), x:x + int(brick["size"]["x"])] = 1.0
    return area_resize(native)


@measures.bounded(-2.0, 2.0)
def saliency_follows_the_holes(factual, intervened, *, agent) -> float:
    """How much more of the saliency sits on the holes' new place than on their old one,
    intervened map minus factual map (perturbation maps, newest frame)."""
    states = [json.loads(factual.first_state), json.loads(intervened.first_state)]
    maps = saliency(agent, np.stack([factual.first_observation, intervened.first_observation]),
                    method="perturbation", states=states)
    old, new = broken_bricks(states[0]), broken_bricks(states[1])
    on_old, on_new = maps.mass_on(old), maps.mass_on(new)
    return float((on_new[1] - on_old[1]) - (on_new[0] - on_old[0]))


saliency_follows_the_holes.needs_agent = True

MIRROR_ACTIONS = [0, 1, 3, 2]  # NOOP, FIRE, RIGHT, LEFT → NOOP, FIRE, LEFT, RIGHT


@measures.bounded(-1.0, 1.0)
def mirrored_policy(factual, intervened) -> float:
    """How much closer the intervened policy is to the mirror image of the factual policy (LEFT
    and RIGHT swapped) than to the factual policy itself, in total variation, at the first step."""
    factual_policy, intervened_policy = factual.policies[0], intervened.policies[0]
    mirror_image = factual_policy[MIRROR_ACTIONS]
    return float(0.5 * np.abs(intervened_policy - factual_policy).sum()
                 - 0.5 * np.abs(intervened_policy - mirror_image).sum())


@cfsal.hypothesis(agent="breakout-a2c", kind="direction", alternative="greater")
def test_saliency_follows_the_tunnel_when_it_moves(counterfactual):
    """When the broken bricks are shifted sideways, the agent's saliency moves with them."""
    return counterfactual(SHIFTS, horizon=1, measure=saliency_follows_the_holes, **LATE)


@cfsal.hypothesis(agent="breakout-a2c", kind="effect", margin=0.05)
def test_moving_the_tunnel_changes_the_policy(counterfactual):
    """Shifting the broken bricks sideways changes the agent's policy by more than 0.05 in total variation."""
    return counterfactual(SHIFTS, horizon=1, measure=measures.policy_total_variation, **LATE)


@cfsal.hypothesis(agent="breakout-a2c", kind="direction", alternative="greater")
def test_mirroring_the_scene_mirrors_the_policy(counterfactual):
    """When wall, ball and paddle are mirrored, the agent's policy turns into its mirror image (LEFT ↔ RIGHT)."""
    return counterfactual(MIRROR, horizon=1, measure=mirrored_policy, **LATE)


@cfsal.hypothesis(agent="breakout-expert", kind="direction", alternative="greater")
def test_the_expert_mirrors_its_policy_with_the_scene(counterfactual):
    """Positive control: the distilled expert's policy turns into its mirror image when the scene is mirrored."""
    return counterfactual(MIRROR, horizon=1, measure=mirrored_policy, **LATE)
