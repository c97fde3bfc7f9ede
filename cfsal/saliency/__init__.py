"""Saliency maps of deep-RL agents: the seed paper's three, five more, sanity checks, movies.

One verb, one result type (as Captum's ``attribute``)::

    maps = cfsal.saliency.saliency(agent, frames, method="perturbation", states=states, radius=5)
    maps.actor, maps.critic          # float32 [T, 84, 84]
    maps.mass_on("score")            # per-frame share of actor saliency on the score

Methods (one file each): ``perturbation`` (Greydanus et al. 2018, the paper's main map),
``jacobian`` and ``object`` (the paper's other two), and ``integrated_gradients``,
``smoothgrad``, ``gradient_x_input``, ``occlusion`` (through Captum, the optional
``attribution`` extra) and ``rise`` (implemented here; Captum has none).
"""

from cfsal.saliency._utils import SaliencyError
from cfsal.saliency.api import METHODS, PAPER_METHODS, method_defaults, saliency
from cfsal.saliency.object_removal import stacked
from cfsal.saliency.perturbation import perturbation_per_mask
from cfsal.saliency.result import SaliencyMap
from cfsal.saliency.sanity import RandomizationCheck, cascading_randomization

__all__ = ["METHODS", "PAPER_METHODS", "RandomizationCheck", "SaliencyError", "SaliencyMap",
           "cascading_randomization", "method_defaults", "perturbation_per_mask", "saliency", "stacked"]
