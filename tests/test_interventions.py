"""The intervention interface: validation that teaches, specs, composition, config kind, rendering, CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from cfsal.cli import main
from cfsal.envs import ALE_GAMES, make
from cfsal.errors import InterventionError
from cfsal.interventions import (
    Composite,
    ConfigComposite,
    amidar,
    breakout,
    compose,
    from_spec,
    list_interventions,
    params,
    pong,
    registry,
    space_invaders,
)
from cfsal.interventions._amidar_routes import ROUTES
from cfsal.interventions.params import intervention_name
from cfsal.interventions.render import changed_boxes, render_before_after, side_by_side


@pytest.fixture(scope="module")
def breakout_state():
    env = make("breakout", seed=0)
    for _ in range(5):
        env.step(0)
    return env.get_toybox_state()


# -- validation ---------------------------------------------------------------------------------
def test_out_of_range_parameter_names_the_value_the_range_and_the_alternative():
    with pytest.raises(InterventionError) as error:
        breakout.MoveBall(x=300)
    message = str(error.value)
    assert message.startswith("breakout.move_ball: x=300 is outside")
    assert "14 ≤ x ≤ 226" in message and "use dx" in message


@pytest.mark.parametrize("kwargs, fragment", [
    ({"dx": 1, "x": 20}, "not both"),
    ({}, "give dx/dy"),
    ({"dx": "5"}, "must be a number"),
    ({"dx": float("nan")}, "finite"),
    ({"dx": True}, "must be a number"),
])
def test_move_ball_rejects_bad_combinations_and_types(kwargs, fragment):
    with pytest.raises(InterventionError, match=fragment):
        breakout.MoveBall(**kwargs)


def test_integer_parameters_refuse_fractions_and_booleans():
    with pytest.raises(InterventionError, match="whole number"):
        breakout.ShiftBricks(columns=2.5)
    with pytest.raises(InterventionError, match="integer"):
        breakout.SetLives(value=True)
    assert breakout.ShiftBricks(columns=np.int64(2)).columns == 2
    assert breakout.ShiftBricks(columns=2.0).columns == 2


@pytest.mark.parametrize("game, intervention", [("breakout", breakout.RemoveBricks),
                                               ("space_invaders", space_invaders.RemoveAliens)])
def test_cell_selections_are_the_union_of_rows_columns_and_cells_within_the_grid(game, intervention):
    """Bricks and aliens share one selection: a cell is hit when its row, its column or the cell itself is
    named, and no other; rows and columns past the grid are refused saying the range."""
    iv = intervention(rows=(0,), columns=(2,), cells=((5, 3),))
    mask = iv._selection()
    expected = np.zeros((iv.cell_columns, iv.cell_rows), dtype=bool)
    expected[:, 0] = expected[2, :] = expected[5, 3] = True
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(InterventionError, match=rf"rows=\({iv.cell_rows},\) is outside .*0 ≤ rows ≤ {iv.cell_rows - 1}"):
        intervention(rows=(iv.cell_rows,))
    with pytest.raises(InterventionError, match=f"select {iv.cell_noun} with rows"):
        intervention()
    state = make(game, seed=0).get_toybox_state()
    after = iv.apply(state)
    if game == "space_invaders":
        hit = [expected[e["col"], e["row"]] for e in state["enemies"]]
        assert [not e["alive"] for e in after["enemies"]] == hit and any(hit) and not all(hit)
    assert iv.took_effect(state, after) and not any(iv.target(after))


def test_space_invaders_lives_above_nine_are_refused_before_they_crash_toybox():
    with pytest.raises(InterventionError, match="0 ≤ value ≤ 9"):
        space_invaders.SetLives(value=10)


def test_state_dependent_checks_teach(breakout_state):
    with pytest.raises(InterventionError, match="outside the court"):
        breakout.MoveBall(dx=200).apply(breakout_state)
    dead = copy.deepcopy(breakout_state)
    dead["balls"] = []
    with pytest.raises(InterventionError, match="no ball is in play"):
        breakout.MoveBall(dx=1).apply(dead)
    with pytest.raises(InterventionError, match="score would become -5"):
        breakout.AddScore(delta=-5).apply({**breakout_state, "score": 0})


def test_wrong_game_is_refused(breakout_state):
    with pytest.raises(InterventionError, match="edits amidar states, but was given a breakout state"):
        amidar.SetScore(value=3).apply(breakout_state)
    with pytest.raises(InterventionError, match="not a Toybox state"):
        breakout.SetScore(value=3).apply({"score": 1})


def test_apply_is_pure(breakout_state):
    original = copy.deepcopy(breakout_state)
    edited = breakout.ReflectBricks().apply(breakout_state)
    assert breakout_state == original and edited is not breakout_state


def test_random_choices_come_only_from_the_passed_rng(breakout_state):
    iv = breakout.RandomScore(low=1, high=10_000)
    with pytest.raises(InterventionError, match="pass rng="):
        iv.apply(breakout_state)
    first = iv.apply(breakout_state, np.random.default_rng(7))["score"]
    again = iv.apply(breakout_state, np.random.default_rng(7))["score"]
    others = {iv.apply(breakout_state, np.random.default_rng(s))["score"] for s in range(8)}
    assert first == again and len(others) > 1


def test_settle_must_be_refresh_or_a_step_count():
    env = make("pong", seed=0)
    with pytest.raises(InterventionError, match="settle"):
        pong.SetScores(agent=3).apply_to_env(env, settle="noop")


def test_took_effect_is_false_for_an_edit_that_changes_nothing(breakout_state):
    same = breakout.SetScore(value=breakout_state["score"])
    assert not same.took_effect(breakout_state, same.apply(breakout_state))


# -- specs, composition, registry ---------------------------------------------------------------
def test_from_spec_reads_dicts_lists_and_yaml():
    assert from_spec({"name": "breakout.move_ball", "dx": 10}) == breakout.MoveBall(dx=10)
    composite = from_spec([{"name": "amidar.set_score", "value": 3000}, {"name": "amidar.decrement_score", "by": 5}])
    assert isinstance(composite, Composite) and composite.persistent
    text = "- {name: amidar.set_score, value: 3000}\n- {name: amidar.decrement_score, by: 5}\n"
    assert from_spec(text) == composite
    assert from_spec("{name: breakout.remove_bricks, cells: [[1, 2]]}") == breakout.RemoveBricks(cells=((1, 2),))


@pytest.mark.parametrize("spec, fragment", [
    ({"name": "breakout.move_bal", "dx": 1}, "Did you mean breakout.move_ball"),
    ({"name": "breakout.move_ball", "dz": 1}, "unknown parameter(s) dz"),
    ({"name": "breakout.set_score"}, "missing required parameter(s) value"),
    ({"dx": 1}, "has no 'name'"),
    ("breakout.move_ball", "bare string"),
    ("{name: [", "not valid YAML"),
    ([], "empty list"),
    (42, "must be a mapping"),
])
def test_bad_specs_teach(spec, fragment):
    with pytest.raises(InterventionError) as error:
        from_spec(spec)
    assert fragment in str(error.value)


def test_to_dict_round_trips_through_json_and_yaml():
    ivs = [breakout.RemoveBricks(rows=(1,), cells=((3, 4),)), amidar.MoveEnemies(steps=-3, enemies=(1, 2)),
           space_invaders.SetShields(xs=(40, 90)), pong.MovePaddle(player="opponent", dy=-4.5),
           breakout.Configure(ball_color=(1, 2, 3), start_lives=2),
           breakout.MoveBall(dx=5, dy=5) + breakout.SetScore(value=9)]
    for iv in ivs:
        assert from_spec(json.loads(json.dumps(iv.to_dict()))) == iv
        assert from_spec(yaml.safe_dump(iv.to_dict())) == iv


def test_composition_applies_in_order_and_flattens(breakout_state):
    combined = breakout.SetScore(value=10) + breakout.AddScore(delta=5) + breakout.MultiplyScore(factor=2)
    assert len(combined.members) == 3
    assert compose(*combined.members) == combined
    assert combined.apply(breakout_state)["score"] == 30
    assert combined.took_effect(breakout_state, combined.apply(breakout_state))


def test_composition_refuses_mixed_games_and_mixed_kinds():
    with pytest.raises(InterventionError, match="different games"):
        breakout.SetScore(value=1) + amidar.SetScore(value=1)
    with pytest.raises(InterventionError, match="episode start"):
        breakout.SetScore(value=1) + breakout.Configure(start_lives=2)
    assert isinstance(breakout.Configure(start_lives=2) + breakout.Configure(bg_color=(9, 9, 9)), ConfigComposite)


def test_registry_covers_the_papers_interventions():
    paper = {cls.paper_name for cls in registry.values() if cls.paper_name}
    assert paper == {"IVmoveball", "IVsymbricks", "IVshiftBricks", "IVmodifyScore", "IVmultModifyScores",
                     "IVnonChangingScores", "IVdecrementScore", "IVmoveEnemies", "IVmoveEnemiesBack"}
    names = {entry["name"] for entry in list_interventions()}
    assert {"amidar.reverse_enemy", "breakout.dig_tunnel", "space_invaders.set_shields", "pong.set_scores"} <= names
    assert {g for g in (e["game"] for e in list_interventions())} == {"breakout", "amidar", "space_invaders", "pong",
                                                                          *ALE_GAMES}


def test_names_derive_from_the_game_and_the_class():
    for name, cls in registry.items():
        if cls not in (Composite, ConfigComposite):
            assert name == cls.name == intervention_name(cls.game, cls.__name__), cls
            assert cls.__module__ == f"cfsal.interventions.{cls.game}"
    assert intervention_name("space_invaders", "ShowUfo") == "space_invaders.show_ufo"


def test_each_games_score_family_is_bound_to_what_it_can_draw():
    for module, max_score in ((breakout, 99_999), (amidar, 999_999), (space_invaders, 9_999)):
        for cls in (module.SetScore, module.AddScore, module.MultiplyScore, module.RandomScore, module.FreezeScore,
                    module.DecrementScore):
            assert cls.max_score == max_score and cls.__qualname__ == cls.__bases__[0].__name__
            assert cls.describe() and cls.__doc__ == cls.__bases__[0].__doc__
        with pytest.raises(InterventionError, match=f"{module.GAME}.set_score: value={max_score + 1} is outside"):
            module.SetScore(value=max_score + 1)
    assert amidar.FreezeScore.paper_name == "IVnonChangingScores" and breakout.FreezeScore.paper_name is None


def test_a_users_intervention_is_named_and_registered_unless_it_opts_out(monkeypatch):
    monkeypatch.setattr(params, "registry", {})

    @dataclasses.dataclass(frozen=True)
    class NudgePaddle(breakout.MovePaddle):
        """Move the paddle a little."""

    @dataclasses.dataclass(frozen=True)
    class Scratch(breakout.MovePaddle, register=False):
        pass

    assert params.registry == {"breakout.nudge_paddle": NudgePaddle}
    assert NudgePaddle(dx=2).to_dict() == {"name": "breakout.nudge_paddle", "dx": 2.0, "x": None}
    assert Scratch.name == "breakout.move_paddle"  # inherited, not registered


def test_amidar_routes_match_the_installed_toybox():
    """Re-derive the lookup-AI routes from ctoybox: an invulnerable player, each enemy's target per index."""
    from ctoybox import Toybox

    tb = Toybox("amidar")
    state = tb.state_to_json()
    state["jump_timer"] = 10**8
    tb.write_state_json(state)
    seen: list[dict[int, int]] = [{} for _ in state["enemies"]]
    for _ in range(1700):
        tb.apply_ale_action(0)
        for i, enemy in enumerate(tb.state_to_json()["enemies"]):
            if enemy["step"] is not None:
                seen[i][enemy["ai"]["EnemyLookupAI"]["next"]] = enemy["step"]["ty"] * 32 + enemy["step"]["tx"]
    derived = tuple(tuple(s[k] for k in range(len(s))) for s in seen)
    assert derived == ROUTES
    assert amidar.REVERSE_ROUTES.keys() == {2, 4}


# -- config interventions -----------------------------------------------------------------------
def test_breakout_config_applies_at_episode_start():
    env = make("breakout", seed=0)
    iv = breakout.Configure(start_lives=2, ball_color=(0, 255, 0))
    before = env.toybox.config_to_json()
    env.step(0)
    iv.apply_to_env(env, seed=0)
    assert env.lives == 2 and env.steps == 0
    assert iv.took_effect(before, env.toybox.config_to_json())
    frame = env.rgb_frame()
    (ball,) = env.get_toybox_state()["balls"]
    x, y = int(ball["position"]["x"]), int(ball["position"]["y"])
    assert tuple(frame[y, x]) == (0, 255, 0)
    rng = np.random.default_rng(0)
    for _ in range(500):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset(seed=1)
    assert env.toybox.config_to_json()["ball_color"]["g"] == 255


def test_amidar_config_flat_colours_show_on_screen():
    env = make("amidar", seed=0)
    amidar.Configure(render_images=False, enemy_color=(0, 200, 255)).apply_to_env(env, seed=0)
    frame = env.rgb_frame()
    assert np.all(frame == (0, 200, 255), axis=-1).sum() >= 7 * 7, "at least one enemy drawn in the new colour"


def test_pong_config_colours_show_and_games_end_at_the_new_points():
    env = make("pong", seed=0)
    pong.Configure(game_points=2, ball_color=(255, 0, 0)).apply_to_env(env, seed=0)
    assert env.config["game_points"] == 2
    rng = np.random.default_rng(0)
    red_seen, steps = 0, 0
    while True:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        red_seen += int(np.all(env.rgb_frame() == (255, 0, 0), axis=-1).any())
        steps += 1
        if terminated or truncated:
            break
    assert red_seen > 0, "the ball is drawn in the configured colour"
    assert steps < 400, "a game to 2 points ends long before one to 21"
    env.reset(seed=1)
    for _ in range(500):
        if any(env.step(int(rng.integers(env.action_space.n)))[2:4]):
            env.reset(seed=2)
    assert env.config["ball_color"]["r"] == 255


def test_space_invaders_config_moves_the_shields_and_changes_the_firing():
    env = make("space_invaders", seed=0)
    before = env.config
    iv = space_invaders.Configure(shield_xs=(40, 240), shield_y=150, jitter=0.0)
    iv.apply_to_env(env, seed=0)
    assert iv.took_effect(before, env.config)
    shields = env.get_toybox_state()["shields"]
    assert [(s["x"], s["y"]) for s in shields] == [(40, 150), (240, 150)]
    frame = env.rgb_frame()
    assert frame[150:160, 40:56].any() and not frame[157:167, 148:164].any(), "drawn at the new places only"
    rng = np.random.default_rng(0)
    for _ in range(500):
        if any(env.step(int(rng.integers(env.action_space.n)))[2:4]):
            env.reset(seed=1)


def test_space_invaders_config_refuses_shields_outside_the_field():
    with pytest.raises(InterventionError, match="120 ≤ shield_y ≤ 165"):
        space_invaders.Configure(shield_y=190)
    with pytest.raises(InterventionError, match="at most 6 shields"):
        space_invaders.Configure(shield_xs=tuple(range(0, 280, 40)))


def test_config_intervention_for_another_game_is_refused():
    with pytest.raises(InterventionError, match="configures breakout"):
        breakout.Configure(start_lives=2).apply_to_env(make("amidar"), seed=0)


# -- records, rendering, CLI --------------------------------------------------------------------
def test_apply_record_is_json_ready():
    env = make("space_invaders", seed=0)
    record = space_invaders.MoveShip(dx=20).apply_to_env(env, settle=2)
    data = json.loads(json.dumps(record.to_dict()))
    assert data["settle"] == 2 and data["took_effect"] and data["after"]["ship"]["x"] == data["before"]["ship"]["x"] + 20


def test_render_before_after_writes_the_picture_and_restores_the_env(tmp_path):
    env = make("breakout", seed=0)
    for _ in range(5):
        env.step(0)
    state = env.get_toybox_state()
    frame = env.rgb_frame()
    path = render_before_after(env, breakout.MoveBall(dx=20, dy=10), tmp_path / "move.png", scale=2)
    restored = env.get_toybox_state()
    assert restored["balls"][0]["position"] == state["balls"][0]["position"]
    assert np.array_equal(env.rgb_frame(), frame)
    image = np.asarray(Image.open(path))
    assert image.shape == (160 * 2, (240 * 2 + 8) * 2, 3)
    assert (image == (0, 255, 255)).all(-1).any(), "changed region outlined in cyan"


def test_changed_boxes_find_each_moved_object():
    before = np.zeros((50, 60, 3), dtype=np.uint8)
    after = before.copy()
    after[10:14, 5:9] = 200
    after[30:32, 40:50] = 100
    assert sorted(changed_boxes(before, after, margin=0)) == [(5, 10, 8, 13), (40, 30, 49, 31)]
    assert changed_boxes(before, before) == []
    assert side_by_side(before, after, scale=1).shape == (50, 128, 3)


def test_listing_interventions_loads_neither_the_native_cores_nor_training():
    """`cfsal interventions list` imports the library (torch, SciPy: ~2 s since the library imports
    normally), but starts no game's native core and not stable-baselines3 (seconds more)."""
    code = ("import contextlib, io, sys\n"
            "from cfsal.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['interventions', 'list'])\n"
            "print(sorted(m for m in ('ctoybox', 'ale_py', 'stable_baselines3') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_lists_every_intervention_with_parameters_and_ranges(capsys):
    assert main(["interventions", "list"]) == 0
    out = capsys.readouterr().out
    for entry in list_interventions():
        assert entry["name"] in out
    assert "- dx: -216 ≤ dx ≤ 216 (or null)" in out and "IVmoveball" in out
    assert main(["interventions", "list", "--game", "pong", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in listed} == {"pong.move_ball", "pong.set_ball_velocity", "pong.move_paddle", "pong.set_scores",
                                           "pong.configure"}


def test_amidar_boxes_are_indexed_in_reading_order_in_every_environment():
    """Toybox lists board.boxes in another order in every environment (same seed); paint_boxes(boxes=(0,))
    must still fill the top-left box, and two environments must paint the same tiles."""
    states = []
    for _ in range(3):
        env = make("amidar", seed=0)
        env.reset(seed=0)
        states.append(env.unwrapped.toybox.state_to_json())
    listed = [[(b["top_left"]["tx"], b["top_left"]["ty"]) for b in s["board"]["boxes"]] for s in states]
    assert len({tuple(order) for order in listed}) > 1  # the core's own order differs (else this test proves nothing)
    painted = [amidar.PaintBoxes(boxes=(0, 8)).apply(s) for s in states]
    assert all(p["board"]["tiles"] == painted[0]["board"]["tiles"] for p in painted)
    filled = [sorted((b["top_left"]["tx"], b["top_left"]["ty"]) for b in p["board"]["boxes"] if b["painted"])
              for p in painted]
    assert filled[0] == [(0, 0), (4, 6)] and all(f == filled[0] for f in filled)
    assert amidar.PaintBoxes(boxes=(0, 8)).target(painted[1]) == [True, True]
