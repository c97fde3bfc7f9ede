"""Atari Pong's objects, read from RAM at OCAtari's addresses, line up with the emulator's own pixels;
the ALE state dict round-trips; saliency region queries work on ale_pong."""

import json

import numpy as np
import pytest

from cfsal.envs import ale_pong_ram as pong
from cfsal.envs import make
from cfsal.envs.objects import BACKGROUND_GRAY, NATIVE_SIZE, objects
from cfsal.errors import CfsalError, GameStateError

COURT = slice(pong.FIELD_TOP, pong.FIELD_BOTTOM)


def pixels(rgb: np.ndarray, color: tuple[int, int, int], rows: slice = COURT) -> np.ndarray:
    """Boolean mask over the whole frame of ``color`` within ``rows``."""
    mask = np.zeros(rgb.shape[:2], bool)
    mask[rows] = (rgb[rows] == color).all(-1)
    return mask


@pytest.fixture(scope="module")
def frames():
    """(state, rgb) of 400 steps of seeded random play."""
    env = make("ale_pong", seed=11)
    rng = np.random.default_rng(11)
    out = []
    for _ in range(400):
        env.step(int(rng.integers(env.action_space.n)))
        out.append((env.get_toybox_state(), env.rgb_frame()))
    return out


def test_native_size_and_background_match_the_emulator(frames):
    rgb = frames[0][1]
    env = make("ale_pong", seed=11)
    assert rgb.shape[:2] == NATIVE_SIZE["ale_pong"]
    assert np.bincount(env.observation[-1].ravel()).argmax() == BACKGROUND_GRAY["ale_pong"]


def test_paddle_boxes_are_exactly_their_pixels(frames):
    seen = {"paddle": 0, "opponent_paddle": 0}
    for state, rgb in frames:
        boxes = objects("ale_pong", state)
        for name, color in (("paddle", pong.PLAYER_COLOR), ("opponent_paddle", pong.ENEMY_COLOR)):
            drawn = pixels(rgb, color)
            if name not in boxes:
                assert not drawn.any()
                continue
            seen[name] += 1
            box = boxes[name].native_mask()
            ball = pixels(rgb, pong.BALL_COLOR)  # the ball is drawn over a paddle it touches
            assert not (drawn & ~box).any() and not (box & ~drawn & ~ball).any(), (name, boxes[name])
    assert min(seen.values()) > 300


def test_ball_box_holds_every_ball_pixel(frames):
    with_ball = shown = 0
    for state, rgb in frames:
        box = objects("ale_pong", state).get("ball")
        drawn = pixels(rgb, pong.BALL_COLOR)
        if box is None:
            assert not drawn.any()
            continue
        with_ball += 1
        assert not (drawn & ~box.native_mask()).any(), box
        shown += bool(drawn.any())
        assert box.width == 2 and box.height <= 5
    assert with_ball > 200 and shown >= 0.95 * with_ball


@pytest.mark.parametrize("player, enemy", [(0, 0), (7, 12), (15, 3), (20, 20)])
def test_score_boxes_hold_the_digits(player, enemy):
    env = make("ale_pong", seed=2)
    for _ in range(30):
        env.step(0)
    state = env.get_toybox_state()
    state["ram"][pong.PLAYER_SCORE], state["ram"][pong.ENEMY_SCORE] = player, enemy
    env.set_toybox_state(state)
    for _ in range(2):  # the score is drawn from RAM on the frames after the write
        env.step(0)
    boxes, rgb = objects("ale_pong", env.get_toybox_state()), env.rgb_frame()
    hud = slice(0, pong.FIELD_TOP)
    for name, color in (("score", pong.PLAYER_COLOR), ("opponent_score", pong.ENEMY_COLOR)):
        drawn = pixels(rgb, color, hud)
        assert drawn.any() and not (drawn & ~boxes[name].native_mask()).any(), name


def test_observation_boxes_are_where_the_agent_sees_the_objects(frames):
    """The 84×84 box of each paddle covers the observation pixels that differ from the background there."""
    env = make("ale_pong", seed=11)
    rng = np.random.default_rng(11)
    for _ in range(60):
        env.step(int(rng.integers(env.action_space.n)))
    boxes = objects("ale_pong", env.get_toybox_state())
    newest = env.observation[-1]
    for name in ("paddle", "opponent_paddle"):
        row0, row1, col0, col1 = boxes[name].obs_box()
        assert (newest[row0:row1, col0:col1] != BACKGROUND_GRAY["ale_pong"]).any()
        outside = ~boxes[name].obs_mask()
        assert boxes[name].obs_weights()[outside].sum() == 0


def test_state_round_trips_and_a_written_state_replays_exactly():
    env = make("ale_pong", seed=4)
    for t in range(50):
        env.step(t % 6)
    text = env.toybox_state_text()
    assert env.snapshot().toybox_json == text
    after = [env.step(t % 6)[0][-1] for t in range(20)]  # newest frames: the stack is not part of the state
    env.set_toybox_state_text(text)
    assert env.toybox_state_text() == text
    again = [env.step(t % 6)[0][-1] for t in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(after, again))


def test_refresh_shows_an_edit_without_advancing_time():
    env = make("ale_pong", seed=4)
    for _ in range(60):
        env.step(0)
    state = env.get_toybox_state()
    old_y = objects("ale_pong", state)["opponent_paddle"].y0
    new_y = 45 if old_y > 100 else 160
    state["ram"][pong.ENEMY_Y] = state["ram"][pong.ENEMY_Y_SHOWN] = new_y + pong.ENEMY_Y_OFFSET
    old_newest = env.observation[-1]
    env.set_toybox_state(state)
    before = env.toybox_state_text()
    newest = env.refresh_observation()[-1]
    assert env.toybox_state_text() == before
    assert objects("ale_pong", env.get_toybox_state())["opponent_paddle"].y0 == new_y
    drawn_top = pixels(env.rgb_frame(), pong.ENEMY_COLOR).nonzero()[0][0]
    assert abs(drawn_top - new_y) <= 4  # the picture is the next frame's: the enemy moves up to 4 rows in it
    assert (newest != old_newest).any()


def test_after_a_refresh_the_picture_state_has_the_objects_where_the_picture_draws_them():
    """The refreshed picture is the next emulated frame's, so boxes from the current RAM lag it by a frame
    of motion; the state the picture goes with (``picture_state_text``) has them where they are drawn."""
    env = make("ale_pong", seed=11)
    rng = np.random.default_rng(11)
    drawn_frames = picture_holds = current_holds = 0
    for t in range(300):
        env.step(int(rng.integers(env.action_space.n)))
        assert env.picture_state_text() is None  # after a step the picture is of the state itself
        if t % 5:
            continue
        env.refresh_observation()
        drawn = pixels(env.rgb_frame(), pong.BALL_COLOR)
        if not drawn.any():
            continue
        drawn_frames += 1
        pictured = objects("ale_pong", json.loads(env.picture_state_text())).get("ball")
        current = objects("ale_pong", env.get_toybox_state()).get("ball")
        picture_holds += pictured is not None and not (drawn & ~pictured.native_mask()).any()
        current_holds += current is not None and not (drawn & ~current.native_mask()).any()
    assert drawn_frames >= 30 and picture_holds == drawn_frames
    assert current_holds < drawn_frames / 2  # the lag the picture state corrects (0 of 50 when measured)
    assert make("pong", seed=0).picture_state_text() is None  # Toybox renders its own state


@pytest.mark.parametrize("bad, message", [
    ({"game": "pong"}, "not a ale_pong state"),
    ({"ram": [0] * 127}, "128 integers"),
    ({"ram": [256] + [0] * 127}, "128 integers"),
    ({"emulator": "not base64!"}, "base64"),
    ({"modifications": {"sleepy_enemy": {}}}, "no modification 'sleepy_enemy'"),
])
def test_bad_states_are_refused_with_what_is_wrong(bad, message):
    env = make("ale_pong", seed=0)
    state = {**env.get_toybox_state(), **bad}
    with pytest.raises(GameStateError, match=message):
        env.set_toybox_state(state)


def test_objects_of_a_state_without_ram_are_explained():
    with pytest.raises(CfsalError, match="get_toybox_state"):
        objects("ale_pong", {"game": "ale_pong"})


def test_saliency_mass_on_the_ball_works_on_ale_pong():
    import torch

    from cfsal.agents.base import AgentSpec
    from cfsal.agents.networks import NatureActorCritic
    from cfsal.saliency import saliency

    torch.manual_seed(0)
    agent = NatureActorCritic(AgentSpec.for_game("ale_pong")).eval()
    env = make("ale_pong", seed=5)
    while "ball" not in objects("ale_pong", env.get_toybox_state()):
        env.step(0)
    state = env.get_toybox_state()
    maps = saliency(agent, env.observation[None], method="jacobian", states=[json.loads(json.dumps(state))])
    mass = maps.mass_on("ball")
    assert np.all(np.isfinite(mass)) and np.all((0 <= mass) & (mass <= 1))
    removed = saliency(agent, env.observation[None], method="object", states=[state])
    assert np.isfinite(removed.mass_on("ball")).all()
