"""Atari Breakout (ale_breakout): objects read from RAM line up with the emulator's pixels; each RAM
intervention changes exactly what it says, in RAM and in the frame; HackAtari's ball modifications
behave as HackAtari's code says."""

from __future__ import annotations

import numpy as np
import pytest
from _ale_checks import check_intervention, holds, pixels, random_play, replays

from cfsal.envs import ale_breakout_ram as ram_map
from cfsal.envs import make
from cfsal.envs.objects import objects
from cfsal.errors import InterventionError
from cfsal.interventions import ale_breakout

GAME = "ale_breakout"
COURT = slice(ram_map.WALL_TOP + ram_map.ROWS * ram_map.BRICK_SIZE[1], ram_map.PADDLE_Y)


@pytest.fixture(scope="module")
def frames():
    return random_play(GAME, seed=5, steps=600, every=2)


def test_paddle_box_is_exactly_its_pixels(frames):
    paddle_rows = slice(ram_map.PADDLE_Y, ram_map.PADDLE_Y + ram_map.PADDLE_SIZE[1])
    for state, rgb, _ in frames:
        boxes = objects(GAME, state)
        drawn, box = pixels(rgb, ram_map.PADDLE_COLOR, paddle_rows), boxes["paddle"].native_mask()
        ignored = boxes["ball"].native_mask() if "ball" in boxes else np.zeros_like(box)
        ignored[:, 152:] = True  # the right wall's foot is drawn in the paddle's colour; so is the ball
        assert not ((drawn ^ box) & ~ignored).any(), boxes["paddle"]


def test_ball_box_holds_the_ball_pixels(frames):
    with_ball = 0
    for state, rgb, _ in frames:
        box = objects(GAME, state).get("ball")
        drawn = pixels(rgb, ram_map.BALL_COLOR, COURT)
        assert holds(box, drawn), box
        with_ball += box is not None and drawn.any()
    assert with_ball > 100


def test_brick_boxes_are_exactly_the_wall():
    """With random bricks cleared, every brick pixel is in the box of an alive brick of its row's colour,
    and every alive brick is drawn there (checks the 36 × 8 bit map of WALL_UNITS)."""
    wall = slice(ram_map.WALL_TOP, ram_map.WALL_TOP + ram_map.ROWS * ram_map.BRICK_SIZE[1])
    env, snapshot = in_play()
    rng = np.random.default_rng(0)
    for _ in range(12):
        env.restore(snapshot)
        state = env.get_toybox_state()
        for address in ram_map.WALL:
            state["ram"][address] &= int(rng.integers(256))
        env.set_toybox_state(state)
        env.step(0)
        boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
        drawn = np.zeros(rgb.shape[:2], bool)
        for color in ram_map.ROW_COLORS:
            drawn |= pixels(rgb, color, wall)
        bricks = np.zeros_like(drawn)
        for box in boxes.values():
            if box.kind == "brick":
                bricks |= box.native_mask()
                assert (rgb[box.y0:box.y1, box.x0:box.x1] == box.color).all(-1).mean() > 0.9, box
        ball = boxes["ball"].native_mask() if "ball" in boxes else np.zeros_like(drawn)
        assert not (drawn & ~bricks & ~ball).any() and not (bricks & ~drawn).any()
        assert 0 < sum(box.kind == "brick" for box in boxes.values()) < 108


def test_hud_boxes_hold_score_and_lives():
    env = make(GAME, seed=2)
    for value, lives in ((7, 5), (305, 2), (999, 1)):
        state = env.get_toybox_state()
        state["ram"][ram_map.SCORE_HUNDREDS], state["ram"][ram_map.SCORE_TENS] = ram_map.score_bytes(value)
        state["ram"][ram_map.LIVES] = lives
        env.set_toybox_state(state)
        env.step(0), env.step(0)
        boxes, rgb = objects(GAME, env.get_toybox_state()), env.rgb_frame()
        hud = pixels(rgb, ram_map.HUD_COLOR, slice(0, 16))
        hud[:, 130:] = False  # the player number
        assert not (hud & ~boxes["score"].native_mask() & ~boxes["lives"].native_mask()).any()
        assert hud[:, 36:80].any() and hud[:, 100:112].any()
        assert ram_map.score(env.get_toybox_state()["ram"]) == value


def in_play(seed: int = 1):
    env = make(GAME, seed=seed)
    for _ in range(30):
        env.step(0)
    while "ball" not in objects(GAME, env.get_toybox_state()):
        env.step(1)
    return env, env.snapshot()


CASES = [
    (ale_breakout.MoveBall(dx=20, dy=-10), {ram_map.BALL_X, ram_map.BALL_Y}, "ball", "refresh"),
    # the paddle eases back to the controller, halfway in the first frame: a small move stays under its box
    (ale_breakout.MovePaddle(dx=-12), {ram_map.PADDLE_X}, "paddle", "refresh"),
    (ale_breakout.SetScore(value=123), {ram_map.SCORE_HUNDREDS, ram_map.SCORE_TENS}, "score", 1),
    (ale_breakout.RemoveBrick(row=2, column=5), {21}, "brick_r2_c05", "refresh"),
    (ale_breakout.RemoveRow(row=0), set(range(5, 36, 6)), "brick_row_0", "refresh"),
]


@pytest.mark.parametrize("intervention, addresses, moved, settle", CASES, ids=[c[0].name for c in CASES])
def test_intervention_changes_exactly_its_ram_and_frame_then_the_game_runs(intervention, addresses, moved, settle):
    env, _ = in_play()
    check_intervention(GAME, env, intervention, addresses, moved, settle)


@pytest.mark.parametrize("intervention", [case[0] for case in CASES], ids=[c[0].name for c in CASES])
def test_snapshot_then_intervention_replays_bit_identically(intervention):
    env, snapshot = in_play(seed=2)
    first, again = replays(env, snapshot, intervention), replays(env, snapshot, intervention)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], again[0])) and first[1:] == again[1:]


def test_removed_bricks_stay_removed_and_the_paddle_eases_back():
    env, _ = in_play()
    ale_breakout.RemoveRow(row=3).apply_to_env(env)
    x = env.get_toybox_state()["ram"][ram_map.PADDLE_X]
    ale_breakout.MovePaddle(dx=30 if x < 120 else -30).apply_to_env(env)
    for _ in range(3):
        env.step(0)
    ram = env.get_toybox_state()["ram"]
    assert not any(ram_map.brick_alive(ram, 3, column) for column in range(ram_map.COLUMNS))
    assert abs(ram[ram_map.PADDLE_X] - x) <= 1  # the controller's position wins within 2 agent steps


def test_state_dependent_refusals_say_what_to_do():
    building = make(GAME, seed=0).get_toybox_state()
    with pytest.raises(InterventionError, match="still drawing its wall"):
        ale_breakout.RemoveBrick(row=0, column=0).apply(building)
    env, _ = in_play()
    state = env.get_toybox_state()
    with pytest.raises(InterventionError, match=r"it is at \d+, so use -?\d+ ≤ dx ≤"):
        ale_breakout.MovePaddle(dx=136).apply(state)
    gone = ale_breakout.RemoveRow(row=1).apply(state)
    with pytest.raises(InterventionError, match="no brick left there"):
        ale_breakout.RemoveBrick(row=1, column=4).apply(gone)
    for row in range(5):
        state = ale_breakout.RemoveRow(row=row).apply(state)
    with pytest.raises(InterventionError, match="build a new wall"):
        ale_breakout.RemoveRow(row=5).apply(state)
    served = make(GAME, seed=0, fire_on_reset=False).get_toybox_state()
    with pytest.raises(InterventionError, match="no ball is in play"):
        ale_breakout.MoveBall(dx=5).apply(served)


@pytest.mark.parametrize("name, address, delta", [("right_drift", ram_map.BALL_X, 2), ("left_drift", ram_map.BALL_X, -2),
                                                  ("gravity", ram_map.BALL_Y, 2), ("inverse_gravity", ram_map.BALL_Y, -2)])
def test_ball_modifications_are_hackataris(name, address, delta):
    modification = ram_map.FRAME_MODIFICATIONS[name]
    rule, memory = modification.rule, modification.memory
    ram = [0] * 128
    ram[ram_map.BALL_X], ram[ram_map.BALL_Y] = 100, 120
    assert rule(ram, memory) == ({address: ram[address] + delta}, {"timer": 1})
    assert rule(ram, {"timer": 3}) == ({}, {"timer": 4})  # every 10th frame only
    ram[address] = 200 if delta > 0 else 58
    assert rule(ram, {"timer": 10})[0] == {}  # not past HackAtari's bounds


def test_gravity_variant_pulls_the_ball_down_and_is_carried_by_snapshots():
    def ball_y(configure) -> list[int]:
        env = make(GAME)
        configure.apply_to_env(env, seed=4)
        for _ in range(12):
            env.step(1)
        snapshot = env.snapshot()
        other = make(GAME)
        other.restore(snapshot)
        ys = [(env.step(0), env.get_toybox_state()["ram"][ram_map.BALL_Y])[1] for _ in range(15)]
        assert ys == [(other.step(0), other.get_toybox_state()["ram"][ram_map.BALL_Y])[1] for _ in range(15)]
        assert snapshot.config == env.config
        return ys

    plain, pulled = ball_y(ale_breakout.Configure(gravity=False)), ball_y(ale_breakout.Configure(gravity=True))
    assert plain != pulled
    with pytest.raises(InterventionError, match="gravity=True"):
        ale_breakout.Configure()
