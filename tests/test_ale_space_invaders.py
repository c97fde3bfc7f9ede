"""Atari Space Invaders (ale_space_invaders): objects read from RAM line up with the emulator's pixels
(every alien and shield bit checked); each RAM intervention changes exactly what it says, in RAM and in
the frame; HackAtari's shield modifications behave as HackAtari's code says."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_checks import check_intervention, holds, pixels, random_play, replays

from cfsal.envs import ale_space_invaders_ram as ram_map
from cfsal.envs import make
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import ale_space_invaders

GAME = "ale_space_invaders"
PLAY = slice(25, 180)  # below the score, above the cannon's row


@pytest.fixture(scope="module")
def frames():
    return random_play(GAME, seed=5, steps=900, every=3)


def test_ship_and_alien_boxes_hold_their_pixels(frames):
    aliens_drawn = explosions = 0
    for state, rgb, _ in frames:
        boxes = objects(GAME, state)
        ship = pixels(rgb, ram_map.SHIP_COLOR, slice(ram_map.SHIP_Y, ram_map.SHIP_Y + ram_map.SHIP_SIZE[1]))
        assert holds(boxes["ship"], ship), boxes["ship"]
        drawn = pixels(rgb, ram_map.ALIEN_COLOR, PLAY)
        alive, cells = np.zeros_like(drawn), np.zeros_like(drawn)
        for box in boxes.values():
            if box.kind == "alien":
                alive |= box.native_mask()
                aliens_drawn += drawn[box.y0:box.y1, box.x0:box.x1].any()
        left = state["ram"][ram_map.FORMATION_X] - ram_map.ALIEN_X_OFFSET
        top = ram_map.ALIEN_TOP + 2 * state["ram"][ram_map.FORMATION_Y]
        for row in range(ram_map.ROWS):  # a hit alien's explosion is drawn in its cell for a few frames
            y = top + row * ram_map.ALIEN_STEP[1]
            cells[y:y + ram_map.ALIEN_SIZE[1], max(left, 0):left + ram_map.COLUMNS * ram_map.ALIEN_STEP[0]] = True
        assert not (drawn & ~cells).any()
        explosions += (drawn & ~alive).any()
    assert aliens_drawn > 0.9 * sum(b.kind == "alien" for s, *_ in frames for b in objects(GAME, s).values())
    assert explosions < 0.2 * len(frames)


def test_every_alien_and_shield_bit_draws_inside_its_box():
    """Clear random alien and shield bits: what is drawn is exactly inside the boxes of what is left."""
    env = make(GAME, seed=1)
    for _ in range(20):
        env.step(0)
    snapshot = env.snapshot()
    rng = np.random.default_rng(0)
    for _ in range(10):
        env.restore(snapshot)
        state = env.get_toybox_state()
        for address in [ram_map.row_address(r) for r in range(ram_map.ROWS)] + list(range(43, 70)):
            state["ram"][address] &= int(rng.integers(256))
        env.set_toybox_state(state)
        env.refresh_observation()
        boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
        for kind, color in (("alien", ram_map.ALIEN_COLOR), ("shield", ram_map.SHIELD_COLOR)):
            drawn = pixels(rgb, color, PLAY)
            mask = np.zeros_like(drawn)
            for box in boxes.values():
                if box.kind == kind:
                    mask |= box.native_mask()
                    assert drawn[box.y0:box.y1, box.x0:box.x1].any(), box
                    if kind == "shield":  # the box is the shield's extent: its edges are drawn
                        inside = drawn[box.y0:box.y1, box.x0:box.x1]
                        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            assert not (drawn & ~mask).any(), kind


def test_ufo_and_score_boxes_hold_their_pixels():
    env = make(GAME, seed=2)
    state = env.get_toybox_state()
    state["ram"][ram_map.UFO_X] = 80
    state["ram"][ram_map.SCORE_HUNDREDS], state["ram"][ram_map.SCORE_ONES] = ram_map.score_bytes(1234)
    env.set_toybox_state(state)
    env.refresh_observation()
    boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
    ufo = pixels(rgb, ram_map.UFO_COLOR)
    assert ufo.any() and holds(boxes["ufo"], ufo)
    assert "score" not in boxes and not pixels(rgb, ram_map.SCORE_COLOR, slice(0, 25)).any()  # hidden by the UFO
    state["ram"][ram_map.UFO_X] = ram_map.UFO_ABSENT[1]
    env.set_toybox_state(state)
    env.refresh_observation()
    boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
    score = pixels(rgb, ram_map.SCORE_COLOR, slice(0, 25))
    assert score.any() and holds(boxes["score"], score) and "ufo" not in boxes


def in_play(seed: int = 1):
    env = make(GAME, seed=seed)
    for _ in range(30):
        env.step(0)
    return env, env.snapshot()


CASES = [
    (ale_space_invaders.MoveShip(dx=30), {ram_map.SHIP_X}, "ship", "refresh"),
    (ale_space_invaders.RemoveAlien(row=2, column=3), {ram_map.row_address(2)}, "alien_r2_c3", "refresh"),
    (ale_space_invaders.RemoveShield(shield=1), set(ram_map.shield_addresses(1)), "shield_1", "refresh"),
    (ale_space_invaders.SetScore(value=1234), {ram_map.SCORE_HUNDREDS, ram_map.SCORE_ONES}, "score", 1),
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


def test_an_emptied_left_column_is_renumbered_where_it_is_drawn():
    env, _ = in_play()
    before = objects(GAME, env.get_toybox_state())["alien_r0_c1"]
    for row in range(ram_map.ROWS):
        ale_space_invaders.RemoveAlien(row=row, column=0).apply_to_env(env)
    env.step(0)
    after = objects(GAME, env.get_toybox_state())["alien_r0_c0"]  # the old column 1
    assert abs(after.x0 - before.x0) <= 4 and "alien_r0_c5" not in objects(GAME, env.get_toybox_state())


def test_refusals_say_what_to_do():
    state = in_play()[0].get_toybox_state()
    x = state["ram"][ram_map.SHIP_X] - 1
    with pytest.raises(InterventionError, match=rf"it is at {x}, so use -?\d+ ≤ dx ≤ -?\d+"):
        ale_space_invaders.MoveShip(dx=33 - x if x < 100 else 117 - x).apply(state)  # a pixel past an edge
    gone = ale_space_invaders.RemoveShield(shield=0).apply(state)
    with pytest.raises(InterventionError, match="gone already"):
        ale_space_invaders.RemoveShield(shield=0).apply(gone)
    for row in range(ram_map.ROWS):
        state["ram"][ram_map.row_address(row)] = 1 if row == 0 else 0
    with pytest.raises(InterventionError, match="no alien at row 1"):
        ale_space_invaders.RemoveAlien(row=1, column=0).apply(state)
    with pytest.raises(InterventionError, match="last alien"):
        ale_space_invaders.RemoveAlien(row=0, column=0).apply(state)


def test_shield_rules_are_hackataris_without_its_stray_byte():
    ram = [7] * 128
    right = ram_map.FRAME_MODIFICATIONS["disable_shield_right"]
    assert right.rule(ram, right.memory) == ({a: 0 for a in range(61, 70)}, {})  # HackAtari's range(61, 71) also hits 70
    assert ram_map.FRAME_MODIFICATIONS["relocate_shields_right"].rule(ram, {}) == ({27: 53}, {})
    ram[ram_map.SHIP_X] = 60
    assert ram_map.FRAME_MODIFICATIONS["controlable_missile"].rule(ram, {}) == ({87: 60}, {})


def test_a_disabled_shield_stays_gone():
    env = make(GAME)
    ale_space_invaders.Configure(disable_shield_middle=True).apply_to_env(env, seed=3)
    for _ in range(10):
        env.step(0)
    boxes = objects(GAME, env.get_toybox_state())
    assert "shield_1" not in boxes and {"shield_0", "shield_2"} <= set(boxes)
