"""ALE Pong's RAM interventions: each changes exactly what it says in RAM and in the rendered frame,
refuses bad values before the emulator sees them, replays bit-identically from a snapshot, survives
fuzzing; HackAtari's lazy enemy behaves as HackAtari's code says, mid-game and as a whole-game variant.

Fuzz profiles as in tests/test_interventions_properties.py: ``CFSAL_INTERVENTIONS_PROFILE=
interventions-thorough`` (the recorded run, 1,000 cases) instead of the fast default.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfsal.envs import ale_pong_ram as ram_map
from cfsal.envs import make
from cfsal.envs.ale_env import AleSnapshot
from cfsal.envs.ale_modifications import FRAME_MODIFICATIONS
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import ale_pong, from_spec, registry, strategies
from cfsal.interventions._ale_common import AleConfigure

settings.register_profile("interventions-fast", max_examples=12, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
settings.register_profile("interventions-thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
PROFILE = settings.get_profile(os.environ.get("CFSAL_INTERVENTIONS_PROFILE", "interventions-fast"))


def in_play(seed: int = 1, after: int = 80):
    """An environment a few steps into a rally (ball and both paddles on screen), and its snapshot."""
    env = make("ale_pong", seed=seed)
    for _ in range(after):
        env.step(0)
    while not {"ball", "opponent_paddle"} <= set(objects("ale_pong", env.get_toybox_state())):
        env.step(0)
    return env, env.snapshot()


#: (intervention, the RAM addresses it writes, the object whose box it moves, how to settle)
CASES = [
    (ale_pong.MoveBall(dx=20, dy=-10), {ram_map.BALL_X, ram_map.BALL_Y}, "ball", "refresh"),
    (ale_pong.MoveBall(dx=-30), {ram_map.BALL_X}, "ball", "refresh"),
    (ale_pong.MoveEnemy(dy=40), {ram_map.ENEMY_Y, ram_map.ENEMY_Y_SHOWN}, "opponent_paddle", "refresh"),
    (ale_pong.MovePlayer(dy=-30), {ram_map.PLAYER_Y, ram_map.PLAYER_Y_SHOWN}, "paddle", "refresh"),
    # the game prepares the digits a frame ahead: they show from the second frame (one NOOP step)
    (ale_pong.SetScore(player=7, enemy=12), {ram_map.PLAYER_SCORE, ram_map.ENEMY_SCORE}, "opponent_score", 1),
]


@pytest.mark.parametrize("intervention, addresses, moved, settle", CASES,
                         ids=[c[0].name + str(i) for i, c in enumerate(CASES)])
def test_intervention_changes_exactly_its_ram_and_frame_then_the_game_runs(intervention, addresses, moved, settle):
    env, _ = in_play()
    before_frame, before_observation = env.rgb_frame().copy(), env.observation[-1]
    record = intervention.apply_to_env(env, settle=settle)
    before, after = np.array(record.before["ram"]), np.array(record.after["ram"])
    assert set(np.flatnonzero(before != after).tolist()) == addresses
    assert record.took_effect and record.after["emulator"] == record.before["emulator"]
    frame = env.rgb_frame()
    changed = (frame != before_frame).any(-1)
    new_box = objects("ale_pong", record.after)[moved]
    assert changed[new_box.y0:new_box.y1, new_box.x0:new_box.x1].any()  # drawn where the state says
    assert (record.observation[-1] != before_observation).any()
    for t in range(500):
        *_, terminated, truncated, _info = env.step(t % 6)
        if terminated or truncated:
            break


def test_score_edit_shows_the_new_digits_and_reward_follows_the_bytes():
    env, _ = in_play()
    ale_pong.SetScore(player=3).apply_to_env(env)
    _, reward, *_ = env.step(0)
    assert reward == 3.0  # ALE's Pong reward is the change of RAM 14 − RAM 13: documented caveat


def test_lazy_enemy_mid_game_changes_the_rule_not_the_picture():
    env, snapshot = in_play()
    record = ale_pong.LazyEnemy().apply_to_env(env)
    assert record.took_effect and record.before["ram"] == record.after["ram"]
    lazy = _enemy_while_ball_moves_right(env)
    env.restore(snapshot)
    normal = _enemy_while_ball_moves_right(env)
    assert lazy and len(set(lazy)) == 1  # held where it was
    assert len(set(normal)) > 1          # the original enemy follows the ball


def _enemy_while_ball_moves_right(env, steps: int = 120) -> list[int]:
    """The enemy's RAM position at the steps of the first rightward run of the ball, without its first and
    last step (the ball may turn within a step of 4 frames)."""
    positions, previous_x, started = [], None, False
    for _ in range(steps):
        env.step(0)
        ram = env.get_toybox_state()["ram"]
        x = ram[ram_map.BALL_X]
        moving_right = previous_x is not None and x > previous_x and ram_map.ball_in_play(ram)
        if moving_right:
            started = True
            positions.append(ram[ram_map.ENEMY_Y])
        elif started:
            break
        previous_x = x
    return positions[1:-1]


@pytest.mark.parametrize("ram, memory, writes, new_memory", [
    # ball moving right (away from the enemy): the enemy is held at its remembered place
    ({49: 120, 21: 90, 11: 0}, {"ball_previous_x": 100, "last_enemy_y": 60}, {21: 60},
     {"ball_previous_x": 120, "last_enemy_y": 60}),
    # ball moving left: nothing written, the enemy's place remembered
    ({49: 80, 21: 90, 11: 0}, {"ball_previous_x": 100, "last_enemy_y": 60}, {},
     {"ball_previous_x": 80, "last_enemy_y": 90}),
    # serve (0 < ram[11] < 5): re-centre; comparisons see the RAM as read, as in HackAtari
    ({49: 0, 21: 90, 11: 3}, {"ball_previous_x": 100, "last_enemy_y": 60}, {21: 127, 49: 130},
     {"ball_previous_x": 0, "last_enemy_y": 90}),
])
def test_lazy_enemy_rule_is_hackataris(ram, memory, writes, new_memory):
    full = [0] * 128
    for address, value in ram.items():
        full[address] = value
    assert ram_map.lazy_enemy(full, memory) == (writes, new_memory)


def test_lazy_enemy_variant_from_reset_is_carried_by_snapshots():
    env = make("ale_pong")
    configure = ale_pong.Configure(lazy_enemy=True)
    before = env.config
    configure.apply_to_env(env, seed=3)
    assert env.config == {"modifications": ["lazy_enemy"]} and configure.took_effect(before, env.config)
    for _ in range(100):
        env.step(1)
    snapshot = AleSnapshot.from_dict(json.loads(json.dumps(env.snapshot().to_dict())))
    assert snapshot.config == env.config and "lazy_enemy" in snapshot.modifications
    first = [env.step(t % 6)[0] for t in range(60)]
    other = make("ale_pong")
    other.restore(snapshot)
    assert all(np.array_equal(a, other.step(t % 6)[0]) for t, a in enumerate(first))
    ale_pong.Configure(lazy_enemy=False).apply_to_env(env, seed=3)
    assert env.config == {"modifications": []}


@pytest.mark.parametrize("intervention", [case[0] for case in CASES] + [ale_pong.LazyEnemy()])
def test_snapshot_then_intervention_replays_bit_identically(intervention):
    env, snapshot = in_play(seed=2)

    def run() -> tuple[list[np.ndarray], list[float], str]:
        env.restore(snapshot)
        intervention.apply_to_env(env)
        steps = [env.step(t % 6) for t in range(80)]
        return [s[0] for s in steps], [s[1] for s in steps], env.toybox_state_text()

    first, again = run(), run()
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0]))
    assert first[1:] == again[1:]


@pytest.mark.parametrize("make_it, message", [
    (lambda: ale_pong.MoveBall(dx=500), "outside the valid range"),
    (lambda: ale_pong.MoveBall(), "move nothing"),
    (lambda: ale_pong.MoveBall(dx=1.5), "whole number"),
    (lambda: ale_pong.MoveEnemy(dy=0), "moves nothing"),
    (lambda: ale_pong.MoveEnemy(dy="up"), "integer"),
    (lambda: ale_pong.MovePlayer(dy=-400), "outside the valid range"),
    (lambda: ale_pong.SetScore(player=21), "0 ≤ player ≤ 20"),
    (lambda: ale_pong.SetScore(), "player=… and/or enemy=…"),
    (lambda: ale_pong.Configure(), "lazy_enemy=True"),
])
def test_bad_parameters_are_refused_with_a_teaching_error(make_it, message):
    with pytest.raises(InterventionError, match=message):
        make_it()


def test_state_dependent_refusals_name_the_limit():
    env, _ = in_play()
    state = env.get_toybox_state()
    x = state["ram"][ram_map.BALL_X] - ram_map.BALL_X_OFFSET
    with pytest.raises(InterventionError, match=rf"it is at {x}, so use .* ≤ dx ≤"):
        ale_pong.MoveBall(dx=155).apply(state) if x > 2 else ale_pong.MoveBall(dx=-155).apply(state)
    served = make("ale_pong", seed=0).get_toybox_state()  # before the first serve: no ball, no enemy
    with pytest.raises(InterventionError, match="no ball is in play"):
        ale_pong.MoveBall(dx=5).apply(served)
    with pytest.raises(InterventionError, match="not on screen yet"):
        ale_pong.MoveEnemy(dy=5).apply(served)
    with pytest.raises(InterventionError, match="edits ale_pong states"):
        ale_pong.MoveBall(dx=5).apply({"ball": {}})
    lazy = ale_pong.LazyEnemy().apply(state)
    with pytest.raises(InterventionError, match="lazy already"):
        ale_pong.LazyEnemy().apply(lazy)


def test_specs_round_trip_and_are_listed():
    from cfsal.interventions import list_interventions

    names = {entry["name"] for entry in list_interventions(game="ale_pong")}
    assert names == {"ale_pong.move_ball", "ale_pong.move_enemy", "ale_pong.move_player", "ale_pong.set_score",
                     "ale_pong.lazy_enemy", "ale_pong.configure"}
    for intervention in [case[0] for case in CASES] + [ale_pong.LazyEnemy(), ale_pong.Configure(lazy_enemy=True)]:
        assert from_spec(json.loads(json.dumps(intervention.to_dict()))) == intervention
    composite = from_spec([ale_pong.MoveBall(dx=10).to_dict(), ale_pong.MoveEnemy(dy=10).to_dict()])
    env, _ = in_play()
    assert composite.apply_to_env(env).took_effect


@pytest.mark.parametrize("game", ["ale_pong", "ale_breakout", "ale_freeway", "ale_boxing", "ale_space_invaders"])
def test_configure_is_made_from_the_modifications_the_environment_runs(game):
    """Each game's Configure takes its parameters from the environment's table (names in order, docs),
    and is still an ordinary intervention: named and registered by its module, picklable, read back
    from its spec, refusing a name the table lacks as any intervention does."""
    table = FRAME_MODIFICATIONS[game]
    names = list(table)
    configure = registry[f"{game}.configure"]
    module = importlib.import_module(f"cfsal.interventions.{game}")
    assert module.Configure is configure and configure.name == f"{game}.configure"
    assert (configure.__module__, configure.__qualname__) == (module.__name__, "Configure")
    assert configure.__doc__.startswith("A whole-game variant from reset") and configure.summary
    assert [f.name for f in dataclasses.fields(configure)] == [p.name for p in configure.params()] == names
    assert all(p.doc == table[p.name].doc and p.doc for p in configure.params())
    assert all((p.kind, p.optional, p.default) == ("bool", True, None) for p in configure.params())
    first, last = names[0], names[-1]
    variant = configure(**{first: True, last: False})
    assert pickle.loads(pickle.dumps(variant)) == variant
    assert from_spec(json.loads(json.dumps(variant.to_dict()))) == variant
    with pytest.raises(InterventionError, match=f"{game}.configure: unknown parameter.s. bogus; it takes "):
        from_spec({"name": f"{game}.configure", "bogus": True})
    with pytest.raises(InterventionError, match=f"give (at least one of )?{first}=True"):
        configure()
    with pytest.raises(InterventionError, match=f"{first}=1 must be true or false"):
        configure(**{first: 1})


def test_a_configure_of_a_game_without_modifications_is_refused_before_it_is_registered():
    with pytest.raises(TypeError, match="set game = one of 'ale_pong'"):
        type("Configure", (AleConfigure,), {"game": "breakout", "__module__": __name__})
    assert registry["breakout.configure"].__module__ == "cfsal.interventions.breakout"


@pytest.fixture(scope="module")
def snapshots():
    env = make("ale_pong", seed=3)
    rng = np.random.default_rng(3)
    out = []
    for step in range(400):
        env.step(int(rng.integers(env.action_space.n)))
        if step % 40 == 5:
            out.append(env.snapshot())
    return out


@settings(PROFILE)
@given(data=st.data())
def test_fuzz_valid_interventions_apply_cleanly_or_refuse_and_the_game_plays_on(snapshots, data):
    intervention = data.draw(strategies.interventions(game="ale_pong"), label="intervention")
    index = data.draw(st.integers(0, len(snapshots) - 1), label="snapshot")
    env = make("ale_pong")
    env.restore(snapshots[index])
    try:
        record = intervention.apply_to_env(env, settle=data.draw(st.sampled_from(["refresh", 0, 2])))
    except InterventionError:
        return
    changed = record.before["ram"] != record.after["ram"] or record.before["modifications"] != record.after["modifications"]
    assert record.took_effect == changed  # only a no-op edit (a score set to itself) takes no effect
    for t in range(50):
        *_, terminated, truncated, _info = env.step(t % 6)
        if terminated or truncated:
            break
    state = env.get_toybox_state()
    assert len(state["ram"]) == 128


@settings(PROFILE)
@given(data=st.data())
def test_fuzz_one_invalid_parameter_is_refused_at_construction(data):
    name = data.draw(st.sampled_from(strategies.names("ale_pong")), label="name")
    cls = strategies._class(name)
    if not cls.params():
        return
    kwargs = data.draw(strategies.invalid_parameters(name), label="kwargs")
    with pytest.raises(InterventionError):
        cls(**kwargs)
