"""Property tests over the whole intervention library, driven by its own Hypothesis strategies.

* valid parameters construct, and applying them to real game states either succeeds — after which
  Toybox accepts the state and plays on — or raises the documented InterventionError (a
  state-dependent refusal); nothing else, and never a process crash in the native core;
* one invalid parameter always raises InterventionError at construction;
* every intervention survives to_dict → JSON/YAML → from_spec.

Profiles: ``interventions-fast`` (default, a few examples per test) and ``interventions-thorough``
(select with ``CFSAL_INTERVENTIONS_PROFILE=interventions-thorough``).
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfsal.envs import make
from cfsal.errors import InterventionError
from cfsal.interventions import from_spec, registry, strategies

settings.register_profile("interventions-fast", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
settings.register_profile("interventions-thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("CFSAL_INTERVENTIONS_PROFILE", "interventions-fast"))
GAMES = ("breakout", "amidar", "space_invaders", "pong")


@pytest.fixture(scope="module")
def game_envs():
    """Per game: an env and snapshots at a few points of a random-play episode."""
    out = {}
    for game in GAMES:
        env = make(game, seed=3)
        rng = np.random.default_rng(3)
        snapshots = []
        for step in range(160):
            env.step(int(rng.integers(env.action_space.n)))
            if step % 40 == 5:
                snapshots.append(env.snapshot())
        out[game] = (env, snapshots)
    return out


@pytest.mark.parametrize("game", GAMES)
@settings(PROFILE)
@given(data=st.data())
def test_valid_interventions_apply_cleanly_or_refuse_with_the_documented_error(game, game_envs, data):
    env, snapshots = game_envs[game]
    intervention = data.draw(strategies.interventions(game=game), label="intervention")
    snapshot = data.draw(st.sampled_from(snapshots), label="snapshot")
    env.restore(snapshot)
    state = env.get_toybox_state()
    pristine = copy.deepcopy(state)
    try:
        edited = intervention.apply(state, np.random.default_rng(0))
    except InterventionError as error:
        assert str(error).startswith(intervention.name)
        return
    assert state == pristine, "apply must not touch its input"
    env.set_toybox_state(edited)
    env.refresh_observation()
    for _ in range(30):
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break


# (parameterless interventions, such as ale_pong.lazy_enemy, have no parameter to get wrong)
@pytest.mark.parametrize("name", [name for name in strategies.names() + strategies.names(kind="config")
                                  if registry[name].params()])
@settings(PROFILE)
@given(data=st.data())
def test_one_invalid_parameter_is_refused_at_construction(name, data):
    kwargs = data.draw(strategies.invalid_parameters(name))
    with pytest.raises(InterventionError) as error:
        from_spec({"name": name, **kwargs})
    assert name in str(error.value)


@settings(PROFILE)
@given(intervention=st.one_of(strategies.interventions(), strategies.interventions(kind="config")))
def test_specs_round_trip_through_json_and_yaml(intervention):
    spec = intervention.to_dict()
    assert from_spec(json.loads(json.dumps(spec))) == intervention
    assert from_spec(yaml.safe_dump(spec)) == intervention


@settings(PROFILE)
@given(first=strategies.interventions(game="breakout"), second=strategies.interventions(game="breakout"))
def test_composition_equals_applying_in_sequence(first, second, game_envs):
    env, snapshots = game_envs["breakout"]
    env.restore(snapshots[1])
    state = env.get_toybox_state()
    rng_seed = 11
    try:
        expected = second.apply(first.apply(state, np.random.default_rng(rng_seed)), np.random.default_rng(rng_seed + 1))
    except InterventionError:
        return
    combined = first + second
    assert from_spec(combined.to_dict()) == combined
    if not any(p.name.endswith("random_score") for p in combined.parts()):
        assert combined.apply(state, np.random.default_rng(0)) == expected
