"""Atari Freeway (ale_freeway): objects read from RAM line up with the emulator's pixels; each RAM
intervention changes exactly what it says, in RAM and in the frame; HackAtari's car stops behave as
HackAtari's code says."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_checks import check_intervention, holds, pixels, random_play, replays

from cfsal.envs import ale_freeway_ram as ram_map
from cfsal.envs import make
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import ale_freeway

GAME = "ale_freeway"


@pytest.fixture(scope="module")
def frames():
    return random_play(GAME, seed=5, steps=600, every=3)


def test_car_boxes_hold_their_pixels(frames):
    shown = 0
    for state, rgb, _ in frames:
        boxes = objects(GAME, state)
        for lane in range(ram_map.LANES):
            top = ram_map.CAR_TOP + lane * ram_map.LANE_HEIGHT
            drawn = pixels(rgb, ram_map.CAR_COLORS[lane], slice(top - 4, top + ram_map.LANE_HEIGHT - 4))
            box = boxes.get(f"car_{lane}")
            assert holds(box, drawn), (lane, box)
            shown += drawn.any()
            if box is not None and box.width == ram_map.CAR_SIZE[0]:
                assert drawn[box.y0:box.y1, box.x0:box.x1].sum() >= 0.5 * (box.area - box.height)
    assert shown > 0.9 * ram_map.LANES * len(frames)


def test_chicken_box_holds_its_pixels(frames):
    lane_lines = np.zeros(210, bool)  # the yellow centre line shares the chicken's colour
    lane_lines[[102, 104]] = True
    for state, rgb, _ in frames:
        boxes = objects(GAME, state)
        for name, x in (("chicken", ram_map.CHICKEN_X), ("opponent_chicken", ram_map.OTHER_CHICKEN_X)):
            drawn = pixels(rgb, ram_map.CHICKEN_COLOR)
            drawn[:, :x - 4] = drawn[:, x + 12:] = False
            drawn[lane_lines] = False
            assert holds(boxes[name], drawn) and drawn.any(), (name, boxes[name])


@pytest.mark.parametrize("player, other", [(0, 0), (7, 12), (35, 9), (99, 99)])
def test_score_boxes_hold_the_digits(player, other):
    env = make(GAME, seed=2)
    state = env.get_toybox_state()
    state["ram"][ram_map.SCORE], state["ram"][ram_map.OTHER_SCORE] = ram_map.to_bcd(player), ram_map.to_bcd(other)
    env.set_toybox_state(state)
    env.step(0), env.step(0)
    boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
    hud = pixels(rgb, ram_map.SCORE_COLOR, slice(0, 20))
    for name, half in (("score", slice(0, 80)), ("opponent_score", slice(80, 160))):
        drawn = np.zeros_like(hud)
        drawn[:, half] = hud[:, half]
        assert drawn.any() and holds(boxes[name], drawn), name


def in_play(seed: int = 1):
    env = make(GAME, seed=seed)
    for _ in range(30):
        env.step(1)
    return env, env.snapshot()


CASES = [
    (ale_freeway.MoveChicken(dy=-40), {ram_map.CHICKEN_Y}, "chicken", "refresh"),
    # a car is positioned a frame before it is drawn: the move shows from the second frame (one NOOP step)
    (ale_freeway.MoveCar(lane=3, dx=30), {ram_map.car_x_address(3)}, "car_3", 1),
    (ale_freeway.SetScore(value=12), {ram_map.SCORE}, "score", 1),
]


@pytest.mark.parametrize("intervention, addresses, moved, settle", CASES, ids=[c[0].name for c in CASES])
def test_intervention_changes_exactly_its_ram_and_frame_then_the_game_runs(intervention, addresses, moved, settle):
    env, _ = in_play()
    check_intervention(GAME, env, intervention, addresses, moved, settle)


@pytest.mark.parametrize("intervention", [c[0] for c in CASES] + [ale_freeway.HoldCars(frames=40)],
                         ids=[c[0].name for c in CASES] + ["hold_cars"])
def test_snapshot_then_intervention_replays_bit_identically(intervention):
    env, snapshot = in_play(seed=2)
    first, again = replays(env, snapshot, intervention), replays(env, snapshot, intervention)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1:] == again[1:]


def test_held_cars_stand_for_the_frames_asked_then_drive_on():
    env, _ = in_play()
    record = ale_freeway.HoldCars(frames=40, lanes=(0, 9)).apply_to_env(env)
    assert set(np.flatnonzero(np.array(record.before["ram"]) != np.array(record.after["ram"]))) == {42, 33}
    xs = []
    for _ in range(14):  # 56 frames
        env.step(0)
        xs.append([env.get_toybox_state()["ram"][ram_map.car_x_address(lane)] for lane in (0, 5, 9)])
    held, free = np.array(xs[:9]), np.array(xs)
    assert (held[:, [0, 2]] == held[0, [0, 2]]).all() and len(set(free[:, 1])) > 1
    assert (free[-1, [0, 2]] != held[0, [0, 2]]).all()


def test_score_edit_earns_one_point_of_reward():
    env, _ = in_play()
    record = ale_freeway.SetScore(value=12).apply_to_env(env, settle=2)
    assert record.rewards == (1.0, 0.0)  # ALE rewards a rise of RAM 103 with 1: the documented caveat


def test_refusals_name_the_range():
    state = in_play()[0].get_toybox_state()
    y = ram_map.CHICKEN_Y_BASE - state["ram"][ram_map.CHICKEN_Y]
    with pytest.raises(InterventionError, match=rf"it is at {y}, so use -?\d+ ≤ dy ≤ -?\d+"):
        ale_freeway.MoveChicken(dy=171 if y < 100 else -171).apply(state)
    with pytest.raises(InterventionError, match="different lanes"):
        ale_freeway.HoldCars(frames=5, lanes=(1, 1))
    with pytest.raises(InterventionError, match="0 ≤ lane ≤ 9"):
        ale_freeway.MoveCar(lane=10, dx=5)


@pytest.mark.parametrize("name, counters, positions", [
    ("stop_all_cars_tunnel", range(33, 43), {**{a: 35 for a in range(108, 113)}, **{a: 55 for a in range(113, 118)}}),
    ("stop_all_cars_edge", range(33, 43), {**{a: 15 for a in range(108, 113)}, **{a: 150 for a in range(113, 118)}}),
    ("disable_cars", range(33, 43), {a: 3 for a in range(108, 118)}),
    ("stop_top_2", range(41, 43), {}), ("stop_bottom_2", range(33, 35), {}),
    ("stop_top_4", range(39, 43), {}), ("stop_bottom_4", range(33, 37), {}),
])
def test_car_stops_write_what_hackatari_writes(name, counters, positions):
    modification = ram_map.FRAME_MODIFICATIONS[name]
    rule, memory = modification.rule, modification.memory
    assert rule([0] * 128, memory) == ({**{a: 100 for a in counters}, **positions}, {})


def test_stop_nearest_5_follows_the_chicken():
    rule, memory = ram_map.stop_nearest_5, ram_map.FRAME_MODIFICATIONS["stop_nearest_5"].memory
    low, high = [0] * 128, [0] * 128
    low[ram_map.CHICKEN_Y], high[ram_map.CHICKEN_Y] = 94, 95
    assert set(rule(low, memory)[0]) == set(range(33, 38)) and set(rule(high, memory)[0]) == set(range(38, 43))


def test_stopped_cars_variant_keeps_every_car_still():
    env = make(GAME)
    ale_freeway.Configure(stop_all_cars_edge=True).apply_to_env(env, seed=3)
    seen = {tuple(env.get_toybox_state()["ram"][108:118]) for _ in range(20) if env.step(1)}
    assert seen == {(15,) * 5 + (150,) * 5}
