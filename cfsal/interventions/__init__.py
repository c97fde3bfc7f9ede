"""Named, typed, validated, composable interventions on game states (Toybox states; ALE Pong's RAM).

Public face::

    from cfsal.interventions import breakout, from_spec, registry, list_interventions
    iv = breakout.MoveBall(dx=5, dy=5)                 # or from_spec({"name": "breakout.move_ball", "dx": 5, "dy": 5})
    new_state = iv.apply(env.get_toybox_state(), rng)  # pure: an edited copy
    record = iv.apply_to_env(env, rng, settle="refresh")  # or settle=3 NOOP steps, as the paper did
    iv.took_effect(record.before, record.after)

State interventions (:class:`Intervention`, :mod:`~cfsal.interventions.state`) apply at any step;
config interventions (:class:`ConfigIntervention`, ``<game>.configure``,
:mod:`~cfsal.interventions.config`) restart the game and so apply at episode start
(``apply_to_env(env, seed)``). Persistent ones (frozen / decrementing score) are re-applied after
every step by the rollout (:meth:`Intervention.reapply_to_env`). Both declare their parameters with
:func:`param` (:mod:`~cfsal.interventions.params`, which also holds the :data:`registry`).

Your own interventions: a frozen dataclass subclassing :class:`Intervention` (Toybox games) or
:class:`AleRamEdit` (ALE games' RAM), with ``game = "…"``, parameters declared with :func:`param`, and
an ``edit(state, rng)`` that changes the state and returns what it chose; see
``docs/writing-interventions.md``.

Two modules are imported by their own path, as they need what the rest does not: Hypothesis
strategies in :mod:`cfsal.interventions.strategies` (Hypothesis), before/after PNGs in
:mod:`cfsal.interventions.render` (SciPy, Pillow).
"""

from __future__ import annotations

from cfsal.interventions import (
                                 ale_boxing,
                                 ale_breakout,
                                 ale_freeway,
                                 ale_pong,
                                 ale_space_invaders,
                                 amidar,
                                 breakout,
                                 pong,
                                 space_invaders,
)
from cfsal.interventions._ale_common import AleRamEdit
from cfsal.interventions.config import ConfigComposite, ConfigIntervention, compose
from cfsal.interventions.params import ParamSpec, param, registry
from cfsal.interventions.spec import from_spec, list_interventions
from cfsal.interventions.checks import game_of_state
from cfsal.interventions.state import ApplyRecord, Composite, Intervention
from cfsal.interventions.targets import TARGETS, Target, target_table, targets_for

__all__ = [
    "AleRamEdit", "ApplyRecord", "Composite", "ConfigComposite", "ConfigIntervention", "Intervention", "ParamSpec",
    "ale_boxing", "ale_breakout", "ale_freeway", "ale_pong", "ale_space_invaders", "amidar", "breakout",
    "compose", "from_spec", "game_of_state", "list_interventions",
    "param", "pong", "registry", "space_invaders", "TARGETS", "Target", "target_table", "targets_for",
]
