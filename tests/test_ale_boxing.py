"""Atari Boxing (ale_boxing): objects read from RAM line up with the emulator's pixels (punches
included); each RAM intervention changes exactly what it says, in RAM and in the frame; HackAtari's
Boxing modifications behave as HackAtari's code says."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_checks import check_intervention, holds, pixels, random_play, replays

from cfsal.envs import ale_boxing_ram as ram_map
from cfsal.envs import make
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import ale_boxing

GAME = "ale_boxing"
RING = slice(30, 180)


@pytest.fixture(scope="module")
def frames():
    return random_play(GAME, seed=5, steps=900, every=3)


def test_boxer_boxes_hold_body_and_gloves(frames):
    punches = 0
    for state, rgb, _ in frames:
        boxes = objects(GAME, state)
        for name, color in (("player", ram_map.PLAYER_COLOR), ("enemy", ram_map.ENEMY_COLOR)):
            drawn = pixels(rgb, color, RING)
            drawn[:, :ram_map.HIDDEN_LEFT] = False
            assert drawn.any() and holds(boxes[name], drawn), (name, boxes[name])
            assert boxes[name].height == ram_map.BODY_SIZE[1] + 2 * ram_map.LAG
            punches += boxes[name].width > ram_map.BODY_SIZE[0] + 2 * ram_map.LAG
    assert punches > 20


@pytest.mark.parametrize("player, enemy", [(0, 0), (7, 12), (33, 9), (99, 99)])
def test_score_and_clock_boxes_hold_the_digits(player, enemy):
    env = make(GAME, seed=2)
    state = env.get_toybox_state()
    state["ram"][ram_map.PLAYER_SCORE], state["ram"][ram_map.ENEMY_SCORE] = ram_map.to_bcd(player), ram_map.to_bcd(enemy)
    env.set_toybox_state(state)
    env.step(0), env.step(0)
    boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
    hud = slice(0, 14)
    for name, color in (("score", ram_map.PLAYER_COLOR), ("enemy_score", ram_map.ENEMY_COLOR)):
        drawn = pixels(rgb, color, hud)
        drawn[:, :ram_map.HIDDEN_LEFT] = False
        assert drawn.any() and holds(boxes[name], drawn), name
    clock = pixels(rgb, ram_map.CLOCK_COLOR, slice(0, 30))
    assert clock.any() and holds(boxes["clock"], clock)


def in_play(seed: int = 1):
    env = make(GAME, seed=seed)
    for _ in range(30):
        env.step(0)
    return env, env.snapshot()


CASES = [
    (ale_boxing.MovePlayer(dx=10, dy=20), {ram_map.PLAYER_X, ram_map.PLAYER_Y}, "player", "refresh"),
    (ale_boxing.MoveEnemy(dy=25), {ram_map.ENEMY_Y}, "enemy", "refresh"),
    (ale_boxing.SetScore(player=12, enemy=3), {ram_map.PLAYER_SCORE, ram_map.ENEMY_SCORE}, "score", 1),
    (ale_boxing.SetClock(seconds=75), {ram_map.CLOCK_SECONDS}, "clock", 1),
]


@pytest.mark.parametrize("intervention, addresses, moved, settle", CASES, ids=[c[0].name for c in CASES])
def test_intervention_changes_exactly_its_ram_and_frame_then_the_game_runs(intervention, addresses, moved, settle):
    env, _ = in_play()
    check_intervention(GAME, env, intervention, addresses, moved, settle)


@pytest.mark.parametrize("intervention", [c[0] for c in CASES], ids=[c[0].name for c in CASES])
def test_snapshot_then_intervention_replays_bit_identically(intervention):
    env, snapshot = in_play(seed=2)
    first, again = replays(env, snapshot, intervention), replays(env, snapshot, intervention)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1:] == again[1:]


def test_clock_counts_down_from_the_edit_and_ends_the_game():
    env, _ = in_play()
    ale_boxing.SetClock(seconds=1).apply_to_env(env)
    for step in range(30):  # 60 frames a second, 4 per step
        *_, terminated, _truncated, _info = env.step(0)
        if terminated:
            break
    assert terminated and 10 <= step <= 16


def test_refusals_name_the_ring():
    state = in_play()[0].get_toybox_state()
    x = state["ram"][ram_map.PLAYER_X] + ram_map.PLAYER_X_OFFSET
    with pytest.raises(InterventionError, match=rf"it is at {x}, so use -?\d+ ≤ dx ≤ -?\d+"):
        ale_boxing.MovePlayer(dx=-79 if x < 70 else 79).apply(state)
    with pytest.raises(InterventionError, match="0 ≤ player ≤ 99"):
        ale_boxing.SetScore(player=100)
    with pytest.raises(InterventionError, match="move nothing"):
        ale_boxing.MoveEnemy()


def test_modification_rules_are_hackataris():
    ram = [0] * 128
    ram[ram_map.PLAYER_Y] = 50
    gravity, memory = ram_map.gravity, ram_map.FRAME_MODIFICATIONS["gravity"].memory
    assert gravity(ram, memory) == ({ram_map.PLAYER_Y: 51}, {"timer": 1})
    assert gravity(ram, {"timer": 1}) == ({}, {"timer": 2})
    ram[ram_map.PLAYER_Y] = 87
    assert gravity(ram, {"timer": 3}) == ({}, {"timer": 4})
    switch, memory = ram_map.switch_positions, ram_map.FRAME_MODIFICATIONS["switch_positions"].memory
    writes, memory = switch(ram, memory)
    assert writes == {33: 30, 35: 4, 32: 105, 34: 85} and switch(ram, switch(ram, memory)[1]) == ({}, {"once": 0})
    assert ram_map.FRAME_MODIFICATIONS["one_armed"].rule(ram, {}) == ({101: 128}, {})


def test_switched_positions_put_the_player_on_the_right():
    env = make(GAME)
    ale_boxing.Configure(switch_positions=True).apply_to_env(env, seed=3)
    env.step(0)  # the rule runs before the frames of the first step, as HackAtari's after its reset
    boxes = objects(GAME, env.get_toybox_state())
    assert boxes["player"].x0 > boxes["enemy"].x0
