"""Game objects from Toybox states: every box checked against frames Toybox actually renders."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import cfsal.envs as envs
from cfsal.envs import preprocess_frame
from cfsal.envs.objects import (BACKGROUND_GRAY, NATIVE_SIZE, ObjectBox, area_resize, objects, select,
                                union_weights)
from cfsal.errors import CfsalError


def _env(game: str, steps: int = 40, seed: int = 3, action: int = 0):
    env = envs.make(game, seed=seed)
    for _ in range(steps):
        env.step(action)
    return env


def _render(env, state) -> np.ndarray:
    env.set_toybox_state(state, check=False)  # sprites moved by hand need not be a playable state
    return env.rgb_frame()


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=-1)


#: The games drawn by Toybox (ale_pong's frames come from the emulator: tests/test_ale_objects.py).
TOYBOX_GAMES = [game for game in NATIVE_SIZE if not game.startswith("ale_")]


def _inside(mask: np.ndarray, boxes: list[ObjectBox]) -> bool:
    allowed = np.zeros_like(mask)
    for box in boxes:
        allowed |= box.native_mask()
    return bool(mask.any()) and not (mask & ~allowed).any()


def _colour(frame: np.ndarray, rgb) -> np.ndarray:
    return np.all(frame == np.asarray(rgb, dtype=np.uint8), axis=-1)


@pytest.mark.parametrize("game", TOYBOX_GAMES)
def test_native_sizes_and_background_match_toybox(game):
    env = _env(game, steps=1)
    assert (env.toybox.get_height(), env.toybox.get_width()) == NATIVE_SIZE[game]
    gray = env.toybox.get_state()[..., 0]
    values, counts = np.unique(gray, return_counts=True)
    assert values[counts.argmax()] == BACKGROUND_GRAY[game]


@pytest.mark.parametrize("game", list(NATIVE_SIZE))
def test_boxes_lie_in_the_frame_and_round_trip(game):
    env = _env(game)
    boxes = objects(game, env.get_toybox_state())
    assert boxes
    height, width = NATIVE_SIZE[game]
    for name, box in boxes.items():
        assert name == box.name
        assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height
        assert ObjectBox.from_dict(box.to_dict()) == box


@pytest.mark.parametrize("game", list(NATIVE_SIZE))
def test_observation_weights_are_the_resized_native_mask(game):
    env = _env(game)
    for box in list(objects(game, env.get_toybox_state()).values())[:10]:
        np.testing.assert_allclose(box.obs_weights(), area_resize(box.native_mask().astype(float)), atol=1e-6)
        touched = box.obs_weights() > 0
        assert (touched == box.obs_mask()).all()


@pytest.mark.parametrize("game", TOYBOX_GAMES)
def test_area_resize_reproduces_the_observation(game):
    env = _env(game)
    frame = env.toybox.get_state()
    diff = np.abs(area_resize(frame[..., 0].astype(float)) - preprocess_frame(frame))
    assert diff.max() < 1.0  # only the observation's uint8 rounding


def test_union_of_a_partition_covers_every_observation_pixel_once():
    height, width = NATIVE_SIZE["amidar"]
    tiles = [ObjectBox(f"t{x}_{y}", "tile", x, y, min(x + 7, width), min(y + 11, height), (height, width))
             for x in range(0, width, 7) for y in range(0, height, 11)]
    np.testing.assert_allclose(sum(t.obs_weights() for t in tiles), 1.0, atol=1e-6)
    np.testing.assert_allclose(union_weights(tiles), 1.0, atol=1e-6)
    overlapping = tiles[:2] + [tiles[0]]
    np.testing.assert_allclose(union_weights(overlapping), union_weights(tiles[:2]), atol=1e-7)


# -- breakout ---------------------------------------------------------------------------------
def test_breakout_ball_and_paddle_boxes_hold_exactly_their_pixels():
    env = _env("breakout", steps=5)
    state = env.get_toybox_state()
    state["balls"][0]["position"] = {"x": 101.7, "y": 100.2}
    state["paddle"]["position"]["x"] = 77.0
    frame = _render(env, state)
    boxes = objects("breakout", state)
    red = _colour(frame, (200, 72, 72))
    field = np.zeros_like(red)
    field[80:140] = True
    assert (red & field).sum() == boxes["ball"].area and (boxes["ball"].native_mask() <= red).all()
    paddle_band = np.zeros_like(red)
    paddle_band[140:150] = True
    assert ((red & paddle_band) == boxes["paddle"].native_mask()).all()


def test_breakout_every_brick_box_is_filled_with_its_colour():
    env = _env("breakout")
    state = env.get_toybox_state()
    for i in (3, 4, 50):
        state["bricks"][i]["alive"] = False
    frame = _render(env, state)
    boxes = objects("breakout", state)
    bricks = select(boxes, "brick")
    assert len(bricks) == sum(b["alive"] for b in state["bricks"])
    for box in bricks:
        assert (_colour(frame[box.y0:box.y1, box.x0:box.x1], box.color)).all()
    wall = np.zeros(NATIVE_SIZE["breakout"], dtype=bool)
    wall[40:80, 12:228] = True
    non_black = np.any(frame != 0, axis=-1) & wall
    assert _inside(non_black, bricks)
    row0 = boxes["brick_row_0"]
    assert all(row0.y0 <= b.y0 and b.y1 <= row0.y1 for b in select(boxes, "brick_r0_*"))


@pytest.mark.parametrize("field,values", [("score", (0, 7, 123, 864)), ("lives", (0, 1, 5))])
def test_breakout_hud_changes_only_inside_its_box(field, values):
    env = _env("breakout", steps=5)
    state = env.get_toybox_state()
    frames, boxes = [], []
    for value in values:
        edited = copy.deepcopy(state)
        edited[field] = value
        frames.append(_render(env, edited))
        boxes.append(objects("breakout", edited)[field])
    for a, b, box_a, box_b in zip(frames, frames[1:], boxes, boxes[1:]):
        assert _inside(_changed(a, b), [box_a, box_b])
    hud = np.any(frames[0][:13] != 0, axis=-1)
    assert hud[boxes[0].y0:boxes[0].y1, boxes[0].x0:boxes[0].x1].any()


# -- amidar -----------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["player", "enemy_2"])
def test_amidar_sprites_move_with_their_boxes(who):
    env = _env("amidar", steps=20, action=3)
    state = env.get_toybox_state()
    before = _render(env, state)
    old = objects("amidar", state)[who]
    moved = copy.deepcopy(state)
    target = moved["player"] if who == "player" else moved["enemies"][2]
    target["position"]["x"] = 16 * 4 * 12  # tile column 12, a vertical lane, well clear of the start
    target["position"]["y"] = 16 * 5 * 12
    after = _render(env, moved)
    new = objects("amidar", moved)[who]
    assert (new.x0, new.y0) != (old.x0, old.y0)
    assert _inside(_changed(before, after), [old, new])
    assert _changed(before, after)[new.y0:new.y1, new.x0:new.x1].any()


def test_amidar_painted_box_fills_its_box():
    env = _env("amidar", steps=5)
    state = env.get_toybox_state()
    before = _render(env, state)
    painted = copy.deepcopy(state)
    for i in (0, 7):
        painted["board"]["boxes"][i]["painted"] = True
    after = _render(env, painted)
    boxes = select(objects("amidar", painted), "painted_box")
    assert [b.name for b in boxes] == ["painted_box_00", "painted_box_07"]
    change = _changed(before, after)
    assert _inside(change, boxes)
    for box in boxes:
        assert change[box.y0:box.y1, box.x0:box.x1].mean() > 0.5


@pytest.mark.parametrize("field,values", [("score", (0, 7, 123, 12345, 999999)), ("lives", (1, 2, 3))])
def test_amidar_hud_changes_only_inside_its_box(field, values):
    env = _env("amidar", steps=5)
    state = env.get_toybox_state()
    frames, boxes = [], []
    for value in values:
        edited = copy.deepcopy(state)
        edited[field] = value
        frames.append(_render(env, edited))
        boxes.append(objects("amidar", edited)[field])
    for a, b, box_a, box_b in zip(frames, frames[1:], boxes, boxes[1:]):
        assert _inside(_changed(a, b), [box_a, box_b])
    for frame, box in zip(frames, boxes):  # the box holds all HUD pixels of its field
        hud = np.any(frame[195:210] != 0, axis=-1)
        side = np.zeros_like(hud)
        side[:, :108] = field == "score"
        side[:, 108:] = field == "lives"
        rows = box.native_mask()[195:210]
        assert (hud & side)[~rows].sum() == 0 and (hud & rows).any()


# -- space invaders ---------------------------------------------------------------------------
def test_space_invaders_ship_aliens_shields_and_ufo():
    env = _env("space_invaders", steps=100)
    state = env.get_toybox_state()
    frame = env.rgb_frame()
    boxes = objects("space_invaders", state)
    assert _inside(_colour(frame, (35, 129, 59)) & (np.arange(210)[:, None] > 100), [boxes["ship"]])
    aliens = select(boxes, "alien")
    assert len(aliens) == sum(e["alive"] for e in state["enemies"])
    assert _inside(_colour(frame, (132, 132, 36)), aliens)
    assert _inside(_colour(frame, (172, 80, 48)), select(boxes, "shield"))
    assert "ufo" not in boxes and "lives" not in boxes
    shown = copy.deepcopy(state)
    shown["ufo"].update(x=100, appearance_counter=None)
    ufo = objects("space_invaders", shown)["ufo"]
    assert _inside(_colour(_render(env, shown), (140, 32, 116)), [ufo])


def test_space_invaders_score_and_lives():
    env = _env("space_invaders", steps=100)
    state = env.get_toybox_state()
    frames = []
    for score in (0, 5, 1234):
        edited = copy.deepcopy(state)
        edited["score"] = score
        frames.append(_render(env, edited))
    box = objects("space_invaders", state)["score"]
    assert _inside(_changed(frames[0], frames[2]) | _changed(frames[0], frames[1]), [box])
    dead = copy.deepcopy(state)
    dead["ship"].update(alive=False, death_counter=None)
    dead["life_display_timer"] = 0
    boxes = objects("space_invaders", dead)
    lives = _colour(_render(env, dead), (162, 134, 56)) & (np.arange(210)[:, None] > 150)
    assert _inside(lives, [boxes["lives"]])


# -- pong -------------------------------------------------------------------------------------
def test_pong_ball_and_paddles():
    env = _env("pong", steps=3)
    state = env.get_toybox_state()
    state["ball"]["position"] = {"x": 80.6, "y": 100.4}
    state["p1_paddle"]["position"]["y"] = 61.6
    state["p2_paddle"]["position"]["y"] = 132.0
    frame = _render(env, state)
    boxes = objects("pong", state)
    field = np.zeros(NATIVE_SIZE["pong"], dtype=bool)
    field[40:190] = True
    assert ((_colour(frame, (236, 236, 236)) & field) == boxes["ball"].native_mask()).all()
    assert (_colour(frame, (92, 186, 92)) & field == boxes["paddle"].native_mask()).all()
    assert (_colour(frame, (231, 130, 74)) & field == boxes["opponent_paddle"].native_mask()).all()


def test_pong_scores_are_the_agents_and_the_opponents():
    env = _env("pong", steps=3)
    state = env.get_toybox_state()
    for p1, p2 in ((0, 0), (5, 13), (21, 21)):
        edited = copy.deepcopy(state)
        edited["p1_score"], edited["p2_score"] = p1, p2
        frame = _render(env, edited)
        boxes = objects("pong", edited)
        assert _inside(_colour(frame[:24], (92, 186, 92)), [_crop(boxes["score"], 24)])
        assert _inside(_colour(frame[:24], (231, 130, 74)), [_crop(boxes["opponent_score"], 24)])


def _crop(box: ObjectBox, height: int) -> ObjectBox:
    return ObjectBox(box.name, box.kind, box.x0, box.y0, box.x1, min(box.y1, height), (height, box.frame_size[1]))


# -- errors and helpers -----------------------------------------------------------------------
def test_wrong_state_for_the_game_is_explained():
    env = _env("pong", steps=1)
    with pytest.raises(CfsalError, match="get_toybox_state"):
        objects("breakout", env.get_toybox_state())


def test_select_by_name_glob_and_kind():
    env = _env("amidar", steps=5)
    boxes = objects("amidar", env.get_toybox_state())
    assert {b.name for b in select(boxes, "enemy_*")} == {b.name for b in select(boxes, "enemy")}
    assert [b.name for b in select(boxes, ["player", "score"])] == ["player", "score"]
    assert select(boxes, "nothing") == []


@pytest.mark.parametrize("game", ["pong", "ale_pong"])
def test_an_exact_name_wins_over_a_kind(game):
    """"paddle" names the agent's paddle and is also the kind of the opponent's: a region query (and the
    suggest audit's region of the agent's paddle or score) means the one object, not both."""
    env = _env(game, steps=60)
    boxes = objects(game, env.get_toybox_state())
    assert boxes["opponent_paddle"].kind == "paddle" and boxes["opponent_score"].kind == "score"
    assert [b.name for b in select(boxes, "paddle")] == ["paddle"]
    assert [b.name for b in select(boxes, "score")] == ["score"]
    assert [b.name for b in select(boxes, ["paddle", "opponent_paddle"])] == ["paddle", "opponent_paddle"]
