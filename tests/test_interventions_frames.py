"""Every state intervention, on a live game: exactly the intended thing changes — in the Toybox state
*and* in the rendered frame — and the game then runs on for 500 steps.

The expected pixel regions come from Toybox's own drawing code (object positions → pixel boxes),
written here independently of the interventions, so a wrong coordinate system (the seed's
228 − x mirror for ball and paddle centres, say) fails the test.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from cfsal.envs import make, preprocess_frame
from cfsal.interventions import amidar, breakout, from_spec, registry

Box = tuple[int, int, int, int]  # x, y, width, height


# -- geometry, from Toybox's draw() --------------------------------------------------------------
def mask_of(shape: tuple[int, int], boxes: list[Box], margin: int = 0) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in boxes:
        mask[max(y - margin, 0):max(y + h + margin, 0), max(x - margin, 0):max(x + w + margin, 0)] = True
    return mask


def bo_ball(state: dict) -> list[Box]:
    r = int(state["ball_radius"])
    return [(int(b["position"]["x"]) - r, int(b["position"]["y"]) - r, 2 * r, 2 * r) for b in state["balls"]]


def bo_paddle(state: dict) -> list[Box]:
    w = int(state["paddle_width"])
    return [(int(state["paddle"]["position"]["x"]) - w // 2, int(state["paddle"]["position"]["y"]), w, 3)]


def bo_bricks(state: dict, pred: Callable[[dict], bool] = lambda b: True) -> list[Box]:
    return [(int(b["position"]["x"]), int(b["position"]["y"]), 12, 4) for b in state["bricks"] if pred(b)]


BO_SCORE: Box = (0, 0, 125, 13)
BO_LIVES: Box = (125, 0, 50, 13)


def am_sprite(position: dict) -> Box:
    return (position["x"] // 16 + 16 - 1, position["y"] // 16 + 37 - 1, 7, 7)


def am_enemies(state: dict) -> list[Box]:
    return [am_sprite(e["position"]) for e in state["enemies"]]


def am_tile(tx: int, ty: int) -> Box:
    return (4 * tx + 16, 5 * ty + 37, 4, 5)


AM_SCORE: Box = (0, 195, 110, 15)


def si_alien(e: dict) -> Box:
    return (e["x"], e["y"], 16, 10)


SI_SCORE: Box = (0, 0, 160, 25)
SI_TOP: Box = (0, 0, 320, 25)  # both score displays and the UFO, which replaces them


def po_ball(state: dict) -> list[Box]:
    return [(int(state["ball"]["position"]["x"]), int(state["ball"]["position"]["y"]), 2, 4)]


def po_paddle(state: dict, key: str) -> list[Box]:
    return [(int(state[key]["position"]["x"]), int(state[key]["position"]["y"]), 4, 16)]


# -- JSON diff ---------------------------------------------------------------------------------
def canonical(state: dict) -> dict:
    """Amidar serialises its junction sets (Rust HashSets) in arbitrary order: compare them sorted."""
    if "board" in state:
        state = {**state, "board": {**state["board"], "junctions": sorted(state["board"]["junctions"]),
                                    "chase_junctions": sorted(state["board"]["chase_junctions"])}}
    return state


def changed_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [p for k in a for p in changed_paths(a[k], b[k], f"{prefix}{k}.")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in changed_paths(x, y, f"{prefix}{i}.")]
    if isinstance(a, float) and isinstance(b, float):
        # Toybox's JSON reader can move a float by one ulp on a write/read round trip.
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) else [prefix.rstrip(".")]
    return [] if a == b else [prefix.rstrip(".")]


# -- scenario setups (plain state edits, independent of the interventions) ----------------------
def warm(game: str, steps: int, seed: int = 0):
    env = make(game, seed=seed)
    for _ in range(steps):
        env.step(0)
    return env


def edit(env, fn: Callable[[dict], None]) -> None:
    state = env.get_toybox_state()
    fn(state)
    env.set_toybox_state(state)
    env.refresh_observation()


def bo_ball_at(x: float, y: float) -> Callable[[dict], None]:
    def fn(state: dict) -> None:
        state["balls"][0]["position"].update(x=x, y=y)
    return fn


def bo_break(cells: list[tuple[int, int]]) -> Callable[[dict], None]:
    def fn(state: dict) -> None:
        for b in state["bricks"]:
            if (b["col"], b["row"]) in cells:
                b["alive"] = False
    return fn


# A tunnel at column 2, a notch at columns 5-6, a single hole at (13, 4): asymmetric on purpose.
BROKEN = [(2, r) for r in range(6)] + [(5, 5), (6, 5), (6, 4), (13, 4)]


def with_score(make_env: Callable[[], Any], score: int) -> Callable[[], Any]:
    def factory():
        env = make_env()
        edit(env, lambda s: s.update(score=score))
        return env
    return factory


def breakout_env():
    env = warm("breakout", 3)
    edit(env, bo_break(BROKEN))
    edit(env, bo_ball_at(60.0, 100.0))
    return env


def amidar_env():
    return warm("amidar", 25)


def si_env(steps: int = 40):
    return warm("space_invaders", steps)


def pong_env():
    env = warm("pong", 2)
    while env.get_toybox_state()["reset"]:
        env.step(0)
    return env


@dataclass
class Case:
    id: str
    make_env: Callable[[], Any]
    spec: dict
    paths: tuple[str, ...]                        # state paths allowed to change (fnmatch)
    region: Callable[[dict, dict], list[Box]]     # where pixels may change, from before/after states
    margin: int = 0
    check: Callable[[dict, dict, np.ndarray, np.ndarray], None] | None = None
    rng_seed: int | None = None
    extra: dict = field(default_factory=dict)


def _color_at(frame: np.ndarray, box: Box) -> set[tuple[int, int, int]]:
    x, y, w, h = box
    return {tuple(int(v) for v in c) for c in frame[y:y + h, x:x + w].reshape(-1, 3)}


def check_ball_drawn(before, after, f0, f1):
    (box,) = bo_ball(after)
    assert _color_at(f1, box) == {(200, 72, 72)}, "the ball is drawn where the state says"


def check_mirrored_wall(before, after, f0, f1):
    lit0 = f0[43:67, 12:228].any(-1)
    lit1 = f1[43:67, 12:228].any(-1)
    bricks = np.zeros_like(lit0)
    for x, y, w, h in bo_bricks(before):
        bricks[y - 43:y - 43 + h, x - 12:x - 12 + w] = True
    assert np.array_equal(lit1 & bricks, (lit0 & bricks)[:, ::-1]), "the drawn wall is the mirror image"


def check_shifted_wall(before, after, f0, f1):
    lit0 = f0[43:67, 12:228].any(-1).reshape(24, 18, 12).any(-1)
    lit1 = f1[43:67, 12:228].any(-1).reshape(24, 18, 12).any(-1)
    assert np.array_equal(lit1, np.roll(lit0, 3, axis=1)), "the drawn wall is shifted by 3 columns"


CASES = [
    # -- breakout ------------------------------------------------------------------------------
    Case("breakout.move_ball", breakout_env, {"name": "breakout.move_ball", "dx": 5, "dy": 5},
         ("balls.0.position.*",), lambda b, a: bo_ball(b) + bo_ball(a), check=check_ball_drawn),
    Case("breakout.move_ball_to", breakout_env, {"name": "breakout.move_ball", "x": 180, "y": 120},
         ("balls.0.position.*",), lambda b, a: bo_ball(b) + bo_ball(a), check=check_ball_drawn),
    Case("breakout.set_ball_velocity", breakout_env,
         {"name": "breakout.set_ball_velocity", "speed": 3, "angle_degrees": 60},
         ("balls.0.velocity.*",), lambda b, a: []),
    Case("breakout.shift_bricks", breakout_env, {"name": "breakout.shift_bricks", "columns": 3},
         ("bricks.*.alive",), lambda b, a: bo_bricks(b), check=check_shifted_wall),
    Case("breakout.reflect_bricks", breakout_env, {"name": "breakout.reflect_bricks"},
         ("bricks.*.alive", "balls.0.position.x", "balls.0.velocity.x", "paddle.position.x"),
         lambda b, a: bo_bricks(b) + bo_ball(b) + bo_ball(a) + bo_paddle(b) + bo_paddle(a),
         check=check_mirrored_wall),
    Case("breakout.symmetric_bricks", breakout_env, {"name": "breakout.symmetric_bricks", "keep": "left"},
         ("bricks.*.alive",), lambda b, a: bo_bricks(b, lambda br: br["col"] >= 9)),
    Case("breakout.remove_bricks", breakout_env,
         {"name": "breakout.remove_bricks", "rows": [0], "cells": [[10, 3]]},
         ("bricks.*.alive",), lambda b, a: bo_bricks(b, lambda br: br["row"] == 0 or (br["col"], br["row"]) == (10, 3))),
    Case("breakout.restore_bricks", breakout_env, {"name": "breakout.restore_bricks", "columns": [2]},
         ("bricks.*.alive",), lambda b, a: bo_bricks(b, lambda br: br["col"] == 2)),
    Case("breakout.dig_tunnel", breakout_env, {"name": "breakout.dig_tunnel", "column": 15, "depth": 6},
         ("bricks.*.alive",), lambda b, a: bo_bricks(b, lambda br: br["col"] == 15)),
    Case("breakout.move_paddle", breakout_env, {"name": "breakout.move_paddle", "dx": -40},
         ("paddle.position.x",), lambda b, a: bo_paddle(b) + bo_paddle(a)),
    Case("breakout.set_paddle_width", breakout_env, {"name": "breakout.set_paddle_width", "width": 40},
         ("paddle_width",), lambda b, a: bo_paddle(b) + bo_paddle(a)),
    Case("breakout.set_score", breakout_env, {"name": "breakout.set_score", "value": 1234},
         ("score",), lambda b, a: [BO_SCORE]),
    Case("breakout.add_score", breakout_env, {"name": "breakout.add_score", "delta": 50},
         ("score",), lambda b, a: [BO_SCORE]),
    Case("breakout.multiply_score", with_score(breakout_env, 12), {"name": "breakout.multiply_score", "factor": 10},
         ("score",), lambda b, a: [BO_SCORE]),
    Case("breakout.random_score", breakout_env, {"name": "breakout.random_score", "low": 300, "high": 900},
         ("score",), lambda b, a: [BO_SCORE], rng_seed=1),
    Case("breakout.freeze_score", breakout_env, {"name": "breakout.freeze_score", "value": 77},
         ("score",), lambda b, a: [BO_SCORE]),
    Case("breakout.decrement_score", with_score(breakout_env, 40),
         {"name": "breakout.decrement_score", "by": 3}, ("score",), lambda b, a: [BO_SCORE]),
    Case("breakout.set_lives", breakout_env, {"name": "breakout.set_lives", "value": 2},
         ("lives",), lambda b, a: [BO_LIVES]),
    # -- amidar --------------------------------------------------------------------------------
    Case("amidar.move_enemies", amidar_env, {"name": "amidar.move_enemies", "steps": 4},
         ("enemies.*.position.*", "enemies.*.ai.EnemyLookupAI.next", "enemies.*.step*"),
         lambda b, a: am_enemies(b) + am_enemies(a), margin=1),
    Case("amidar.move_enemy_back", amidar_env, {"name": "amidar.move_enemy_back", "enemy": 1, "steps": 6},
         ("enemies.1.position.*", "enemies.1.ai.EnemyLookupAI.next", "enemies.1.step*"),
         lambda b, a: [am_enemies(b)[1], am_enemies(a)[1]], margin=1),
    Case("amidar.reverse_enemy", amidar_env, {"name": "amidar.reverse_enemy", "enemy": 2},
         ("enemies.2.ai.EnemyLookupAI.*", "enemies.2.step*"), lambda b, a: []),
    Case("amidar.set_enemy_count", amidar_env, {"name": "amidar.set_enemy_count", "count": 3},
         ("enemies",), lambda b, a: am_enemies(b)[3:], margin=1),
    Case("amidar.set_enemy_speed", amidar_env, {"name": "amidar.set_enemy_speed", "speed": 20},
         ("enemies.*.speed",), lambda b, a: []),
    Case("amidar.move_player", amidar_env, {"name": "amidar.move_player", "tx": 0, "ty": 30},
         ("player.position.*", "player.step*", "player.history*"),
         lambda b, a: [am_sprite(b["player"]["position"]), am_sprite(a["player"]["position"])], margin=1),
    Case("amidar.paint_tiles", amidar_env, {"name": "amidar.paint_tiles", "rows": [30]},
         ("board.tiles.30.*",), lambda b, a: [(16, 5 * 30 + 37, 4 * 32, 5)]),
    # box 0 is the top-left box, tiles (0, 0)–(6, 6), wherever the core lists it (its order differs per env)
    Case("amidar.paint_boxes", amidar_env, {"name": "amidar.paint_boxes", "boxes": [0]},
         ("board.tiles.*", "board.boxes.*.painted"), lambda b, a: [(16, 37, 4 * 6 + 4, 5 * 6 + 5)]),
    Case("amidar.set_chase", amidar_env, {"name": "amidar.set_chase", "frames": 300},
         ("chase_timer", "enemies.*.caught"), lambda b, a: am_enemies(a), margin=1),
    Case("amidar.set_score", amidar_env, {"name": "amidar.set_score", "value": 4321},
         ("score",), lambda b, a: [AM_SCORE]),
    Case("amidar.add_score", amidar_env, {"name": "amidar.add_score", "delta": 12},
         ("score",), lambda b, a: [AM_SCORE]),
    Case("amidar.multiply_score", with_score(amidar_env, 7),
         {"name": "amidar.multiply_score", "factor": 3}, ("score",), lambda b, a: [AM_SCORE]),
    Case("amidar.random_score", amidar_env, {"name": "amidar.random_score", "low": 1, "high": 200},
         ("score",), lambda b, a: [AM_SCORE], rng_seed=3),
    Case("amidar.freeze_score", amidar_env, {"name": "amidar.freeze_score", "value": 150},
         ("score",), lambda b, a: [AM_SCORE]),
    Case("amidar.decrement_score", with_score(amidar_env, 3000),
         {"name": "amidar.decrement_score", "by": 20}, ("score",), lambda b, a: [AM_SCORE]),
    Case("amidar.set_lives", amidar_env, {"name": "amidar.set_lives", "value": 1},
         ("lives",), lambda b, a: [(100, 195, 60, 15)]),
    # -- space invaders --------------------------------------------------------------------------
    Case("space_invaders.move_ship", si_env, {"name": "space_invaders.move_ship", "x": 150},
         ("ship.x",), lambda b, a: [(b["ship"]["x"], b["ship"]["y"], 16, 10), (a["ship"]["x"], a["ship"]["y"], 16, 10)]),
    Case("space_invaders.shift_formation", si_env, {"name": "space_invaders.shift_formation", "dx": -10, "dy": 8},
         ("enemies.*.x", "enemies.*.y"), lambda b, a: [si_alien(e) for e in b["enemies"] + a["enemies"]]),
    Case("space_invaders.remove_aliens", si_env, {"name": "space_invaders.remove_aliens", "rows": [5], "columns": [0]},
         ("enemies.*.alive",), lambda b, a: [si_alien(e) for e in b["enemies"] if e["row"] == 5 or e["col"] == 0]),
    Case("space_invaders.restore_aliens",
         lambda: (lambda e: (edit(e, lambda s: [x.update(alive=False) for x in s["enemies"] if x["row"] == 2]), e)[1])(si_env()),
         {"name": "space_invaders.restore_aliens", "rows": [2]},
         ("enemies.*.alive",), lambda b, a: [si_alien(e) for e in b["enemies"] if e["row"] == 2]),
    Case("space_invaders.set_shields", si_env, {"name": "space_invaders.set_shields", "xs": [100, 250]},
         ("shields.*.x", "shields"), lambda b, a: [(s["x"], s["y"], 16, 18) for s in b["shields"] + a["shields"]]),
    Case("space_invaders.show_ufo", si_env, {"name": "space_invaders.show_ufo", "x": 120},
         ("ufo.*",), lambda b, a: [SI_TOP]),
    Case("space_invaders.hide_ufo",
         lambda: (lambda e: (edit(e, lambda s: s["ufo"].update(x=60, appearance_counter=None)), e)[1])(si_env()),
         {"name": "space_invaders.hide_ufo"}, ("ufo.*",), lambda b, a: [SI_TOP]),
    Case("space_invaders.set_score", si_env, {"name": "space_invaders.set_score", "value": 2500},
         ("score",), lambda b, a: [SI_SCORE]),
    Case("space_invaders.add_score", si_env, {"name": "space_invaders.add_score", "delta": 30},
         ("score",), lambda b, a: [SI_SCORE]),
    Case("space_invaders.multiply_score", with_score(si_env, 40),
         {"name": "space_invaders.multiply_score", "factor": 2.5}, ("score",), lambda b, a: [SI_SCORE]),
    Case("space_invaders.random_score", si_env, {"name": "space_invaders.random_score", "low": 10, "high": 5000},
         ("score",), lambda b, a: [SI_SCORE], rng_seed=5),
    Case("space_invaders.freeze_score", si_env, {"name": "space_invaders.freeze_score", "value": 999},
         ("score",), lambda b, a: [SI_SCORE]),
    Case("space_invaders.decrement_score", with_score(si_env, 300),
         {"name": "space_invaders.decrement_score", "by": 10}, ("score",), lambda b, a: [SI_SCORE]),
    Case("space_invaders.set_lives", lambda: si_env(5), {"name": "space_invaders.set_lives", "value": 1},
         ("lives",), lambda b, a: [(168, 185, 24, 10)]),
    # -- pong ------------------------------------------------------------------------------------
    Case("pong.move_ball", pong_env, {"name": "pong.move_ball", "x": 80, "y": 100},
         ("ball.position.*",), lambda b, a: po_ball(b) + po_ball(a)),
    Case("pong.set_ball_velocity", pong_env, {"name": "pong.set_ball_velocity", "vx": 2, "vy": -2},
         ("ball.velocity.*",), lambda b, a: []),
    Case("pong.move_paddle", pong_env, {"name": "pong.move_paddle", "player": "agent", "y": 150},
         ("p1_paddle.position.y", "p1_paddle.velocity.y"),
         lambda b, a: po_paddle(b, "p1_paddle") + po_paddle(a, "p1_paddle")),
    Case("pong.move_paddle_opponent", pong_env, {"name": "pong.move_paddle", "player": "opponent", "dy": -30},
         ("p2_paddle.position.y", "p2_paddle.velocity.y"),
         lambda b, a: po_paddle(b, "p2_paddle") + po_paddle(a, "p2_paddle")),
    Case("pong.set_scores", pong_env, {"name": "pong.set_scores", "agent": 12, "opponent": 3},
         ("p1_score", "p2_score"), lambda b, a: [(0, 0, 160, 24)]),
]


def run_on(env, rng: np.random.Generator, steps: int = 500) -> int:
    """Random actions for ``steps`` steps (resetting on episode end); returns the episodes finished."""
    finished = 0
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            finished += 1
            env.reset(seed=int(rng.integers(1 << 16)))
    return finished


def test_every_state_intervention_has_a_frame_case():
    covered = {c.spec["name"] for c in CASES}
    # ALE games' interventions have their frame cases in tests/test_ale_interventions.py
    state_names = {n for n, cls in registry.items()
                   if cls.kind == "state" and cls.game != "any" and not cls.game.startswith("ale_")}
    assert state_names - covered == set()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_intervention_changes_exactly_its_target_in_state_and_frame_then_game_runs(case: Case):
    env = case.make_env()
    intervention = from_spec(case.spec)
    rng = np.random.default_rng(case.rng_seed) if case.rng_seed is not None else None
    before, frame_before = env.get_toybox_state(), env.rgb_frame()

    record = intervention.apply_to_env(env, rng=rng)
    after, frame_after = env.get_toybox_state(), env.rgb_frame()

    # The state: something changed, only at the allowed paths, and took_effect agrees.
    paths = changed_paths(canonical(before), canonical(after))
    assert paths, "the intervention changed nothing in the state"
    stray = [p for p in paths if not any(fnmatch.fnmatchcase(p, pat) for pat in case.paths)]
    assert stray == [], f"unexpected state changes: {stray}"
    assert record.took_effect and intervention.took_effect(before, after)
    assert changed_paths(canonical(record.after), canonical(after)) == []
    assert changed_paths(canonical(record.before), canonical(before)) == []

    # The frame: pixels change only inside the region Toybox draws the edited objects in.
    diff = np.any(frame_before != frame_after, axis=-1)
    allowed = mask_of(diff.shape, case.region(before, after), case.margin)
    if allowed.any():
        assert diff.any(), "the rendered frame did not change"
    assert not (diff & ~allowed).any(), f"pixels changed outside the expected region at {np.argwhere(diff & ~allowed)[:5]}"
    if case.check:
        case.check(before, after, frame_before, frame_after)

    # settle="refresh": the newest observation frame shows the edited state, time did not pass.
    assert np.array_equal(env.observation[-1], preprocess_frame(env.toybox.get_state(), env.screen_size))

    # And the game runs on.
    run_on(env, np.random.default_rng(0))


def test_settle_by_noop_steps_advances_time_and_shows_the_change_in_every_stacked_frame():
    env = breakout_env()
    steps = env.steps
    record = breakout.SetScore(value=4321).apply_to_env(env, settle=4)
    assert env.steps == steps + 4 and len(record.rewards) == 4
    assert record.settled["score"] == 4321 and record.settle == 4
    empty = make("breakout")  # a stack whose frames all show score 4321 differ from the pre-edit stack
    assert not np.array_equal(record.observation[0], empty.observation[0])


def test_persistent_interventions_hold_across_steps():
    env = amidar_env()
    freeze = amidar.FreezeScore(value=150)
    freeze.apply_to_env(env)
    env_rng = np.random.default_rng(0)
    for _ in range(60):
        env.step(int(env_rng.integers(env.action_space.n)))
        freeze.reapply_to_env(env)
        assert env.score == 150
    decrement = amidar.SetScore(value=100) + amidar.DecrementScore(by=7)
    decrement.apply_to_env(env)
    seen = [env.score]
    for _ in range(20):
        env.step(0)
        decrement.reapply_to_env(env)
        seen.append(env.score)
    assert seen[0] == 93 and seen[-1] == 0 and all(b <= a for a, b in zip(seen, seen[1:]))
    assert amidar.MoveEnemies(steps=2).reapply_to_env(env) is None


def test_reflect_uses_240_minus_x_for_centres_not_the_seeds_228():
    env = breakout_env()
    before = env.get_toybox_state()
    after = breakout.ReflectBricks().apply(before)
    assert after["balls"][0]["position"]["x"] == pytest.approx(240 - before["balls"][0]["position"]["x"])
    # Every brick lands on an existing brick slot: brick left edges map x ↦ 228 − x.
    xs_before = {b["position"]["x"] for b in before["bricks"]}
    assert {228 - x for x in xs_before} == xs_before
    # Drawn: the ball's pixels in the reflected frame are the mirror image of the original's.
    frame_before = env.rgb_frame()
    env.set_toybox_state(after)
    frame_after = env.rgb_frame()
    (bx, by, w, h) = bo_ball(before)[0]
    mirrored = frame_before[:, ::-1]
    assert np.array_equal(frame_after[by:by + h, 240 - bx - w:240 - bx], mirrored[by:by + h, 240 - bx - w:240 - bx])


def test_waypoint_only_move_is_the_papers_edit_and_has_no_immediate_effect():
    env = amidar_env()
    before = env.get_toybox_state()
    literal = amidar.MoveEnemies(steps=5, waypoint_only=True)
    after = literal.apply(before)
    assert [e["ai"]["EnemyLookupAI"]["next"] for e in after["enemies"]] != \
        [e["ai"]["EnemyLookupAI"]["next"] for e in before["enemies"]]
    assert not literal.took_effect(before, after), "positions are unchanged at the moment of the edit"
    assert amidar.MoveEnemies(steps=5).took_effect(before, after=amidar.MoveEnemies(steps=5).apply(before))


def test_moved_enemy_continues_along_its_route():
    from cfsal.interventions._amidar_routes import ROUTES

    env = amidar_env()
    amidar.MoveEnemies(steps=10, enemies=(0,)).apply_to_env(env)
    route = ROUTES[0]
    for _ in range(40):
        env.step(0)
        enemy = env.get_toybox_state()["enemies"][0]
        step = enemy["step"]
        if step is not None:
            assert step["ty"] * 32 + step["tx"] == route[enemy["ai"]["EnemyLookupAI"]["next"]]


def test_reversed_enemy_walks_back_over_the_tiles_it_came_from():
    env = amidar_env()
    tiles_before = []
    probe = env.snapshot()
    for _ in range(6):
        env.step(0)
        e = env.get_toybox_state()["enemies"][2]
        tiles_before.append((e["position"]["x"] // 64, e["position"]["y"] // 80))
    env.restore(probe)
    for _ in range(6):
        env.step(0)
    amidar.ReverseEnemy(enemy=2).apply_to_env(env)
    tiles_after = []
    for _ in range(6):
        env.step(0)
        e = env.get_toybox_state()["enemies"][2]
        tiles_after.append((e["position"]["x"] // 64, e["position"]["y"] // 80))
    assert set(tiles_after) <= set(tiles_before) | {tiles_before[0]}
    assert tiles_after[-1] != tiles_before[-1]
