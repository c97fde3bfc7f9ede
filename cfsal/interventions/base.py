"""The intervention interface in one import, as it was before it was split by concern.

Parameters live in :mod:`cfsal.interventions.params`, state interventions and their checks in
:mod:`cfsal.interventions.state`, config interventions and :func:`compose` in
:mod:`cfsal.interventions.config`; import from those. This module keeps ``cfsal.interventions.base``
working for code written against it (cfsal.rollout.arms among it).
"""

from cfsal.interventions.config import ConfigComposite, ConfigIntervention, KeyedConfigure, compose, rgb
from cfsal.interventions.params import Parameterised, ParamSpec, flatten, intervention_name, param, registry
from cfsal.interventions.state import (RECORD_SCHEMA_VERSION, ApplyRecord, Composite, Intervention,
                                       applies_as_defined_here, check_edit, check_finite, check_game,
                                       check_playable, check_settle, copy_state, game_of_state, settle_env)

# The names cfsal.rollout.arms imports (private when this was one module).
_applies_as_defined_here = applies_as_defined_here
_check_settle = check_settle
_settle_env = settle_env

__all__ = [
    "RECORD_SCHEMA_VERSION", "ApplyRecord", "Composite", "ConfigComposite", "ConfigIntervention",
    "Intervention", "KeyedConfigure", "ParamSpec", "Parameterised", "applies_as_defined_here", "check_edit",
    "check_finite", "check_game", "check_playable", "check_settle", "compose", "copy_state", "flatten",
    "game_of_state", "intervention_name", "param", "registry", "rgb", "settle_env",
]
