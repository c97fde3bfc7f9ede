"""Every ALE game beyond Pong (whose own tests are tests/test_ale_*.py): its interventions are listed and
round-trip as specs, and survive fuzzing on states of random play: valid ones apply cleanly or refuse
with an InterventionError and the game plays on; one invalid parameter is refused at construction.

Fuzz profiles as in tests/test_ale_interventions.py: ``CFSAL_INTERVENTIONS_PROFILE=
interventions-thorough`` (the recorded run, 1,000 cases per game) instead of the fast default.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from _ale_checks import PROFILE, random_play
from hypothesis import given, settings
from hypothesis import strategies as st

from cfsal.envs import ALE_GAMES, make
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import from_spec, list_interventions, strategies

GAMES = [game for game in ALE_GAMES if game != "ale_pong"]


@cache
def snapshots(game: str) -> tuple:
    """Snapshots at ten points of 400 steps of random play (from step 5 on)."""
    return tuple(snapshot for *_, snapshot in random_play(game, seed=3, steps=400, every=40, first=5))


@pytest.mark.parametrize("game", GAMES)
def test_every_game_has_interventions_and_objects(game):
    names = {entry["name"] for entry in list_interventions(game=game)}
    assert names and all(name.startswith(game + ".") for name in names)
    assert f"{game}.configure" in names, "HackAtari's modifications as a whole-game variant"
    env = make(game, seed=0)
    for _ in range(40):
        env.step(0)
    assert objects(game, env.get_toybox_state())


@pytest.mark.parametrize("game", GAMES)
@settings(PROFILE)
@given(data=st.data())
def test_fuzz_valid_interventions_apply_cleanly_or_refuse_and_the_game_plays_on(game, data):
    intervention = data.draw(strategies.interventions(game=game), label="intervention")
    stored = snapshots(game)
    env = make(game)
    env.restore(stored[data.draw(st.integers(0, len(stored) - 1), label="snapshot")])
    try:
        record = intervention.apply_to_env(env, settle=data.draw(st.sampled_from(["refresh", 0, 2])))
    except InterventionError as error:
        assert str(error).startswith(intervention.name)
        return
    changed = record.before["ram"] != record.after["ram"] or record.before["modifications"] != record.after["modifications"]
    assert record.took_effect == changed  # only a no-op edit (a score set to itself) takes no effect
    for t in range(50):
        *_, terminated, truncated, _info = env.step(t % env.action_space.n)
        if terminated or truncated:
            break
    assert len(env.get_toybox_state()["ram"]) == 128


@pytest.mark.parametrize("game", GAMES)
@settings(PROFILE)
@given(data=st.data())
def test_fuzz_one_invalid_parameter_is_refused_at_construction(game, data):
    name = data.draw(st.sampled_from(strategies.names(game) + strategies.names(game, kind="config")), label="name")
    cls = strategies._class(name)
    if not cls.params():
        return
    kwargs = data.draw(strategies.invalid_parameters(name), label="kwargs")
    with pytest.raises(InterventionError, match=name):
        cls(**kwargs)


@pytest.mark.parametrize("game", GAMES)
@settings(PROFILE)
@given(data=st.data())
def test_specs_round_trip_through_json(game, data):
    kind = data.draw(st.sampled_from(["state", "config"]))
    intervention = data.draw(strategies.interventions(game=game, kind=kind))
    assert from_spec(json.loads(json.dumps(intervention.to_dict()))) == intervention


@pytest.mark.parametrize("game", GAMES)
def test_variants_replay_from_snapshots(game):
    """Every HackAtari modification of the game, switched on from reset, plays and replays bit-identically."""
    configure = strategies._class(f"{game}.configure")
    for spec in configure.params():
        env = make(game)
        configure(**{spec.name: True}).apply_to_env(env, seed=1)
        assert env.config == {"modifications": [spec.name]}
        for t in range(30):
            env.step(t % env.action_space.n)
        snapshot = env.snapshot()
        first = [env.step(t % env.action_space.n)[0] for t in range(30)]
        other = make(game)
        other.restore(snapshot)
        assert all(np.array_equal(a, other.step(t % env.action_space.n)[0]) for t, a in enumerate(first)), spec.name
