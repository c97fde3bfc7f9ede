"""The intervention–object table is true: every target changes the object it names, in a real game."""

import json

import numpy as np
import pytest

from cfsal.envs import make
from cfsal.envs.ale_freeway_ram import car_x_address
from cfsal.envs.ale_space_invaders_ram import SHIP_X
from cfsal.envs.objects import objects, select
from cfsal.errors import InterventionError
from cfsal.interventions import (
    TARGETS,
    ale_freeway,
    ale_space_invaders,
    breakout,
    compose,
    pong,
    registry,
    space_invaders,
    targets_for,
)
from cfsal.suggest.catalog import OBJECTS, audit_objects


def _mid_game_state(game: str) -> dict:
    """A state some way into a game, with the objects every target of that game needs on screen."""
    env = make(game, seed=3)
    rng = np.random.default_rng(3)
    for _ in range(60):
        env.step(int(rng.integers(env.action_space.n)))
    state = env.get_toybox_state()
    if game == "breakout":  # broken bricks (for shifts) and a ball in play
        state = breakout.DigTunnel(column=2, depth=3).apply(state)
        if not state["balls"]:
            env.set_toybox_state(state)
            env.step(1)
            state = env.get_toybox_state()
        state = (breakout.MoveBall(x=120, y=100) + breakout.MovePaddle(x=120)).apply(state)
    if game == "pong":  # everything mid-field, so ±40-pixel moves fit
        state = (pong.MoveBall(y=100) + pong.MovePaddle(y=100) + pong.MovePaddle(player="opponent", y=100)).apply(state)
    if game == "space_invaders":
        state = space_invaders.ShowUfo(x=100).apply(state)
    if game.startswith("ale_"):  # play on until every target of the game fits (the ball mid-court, ...)
        for _ in range(3000):
            if game == "ale_freeway":  # cars mid-road, so ±40-pixel moves fit
                state = compose(*(ale_freeway.MoveCar(lane=lane, dx=80 - (state["ram"][car_x_address(lane)] - 3))
                                  for lane in range(10) if state["ram"][car_x_address(lane)] != 83)).apply(state)
            if game == "ale_space_invaders" and state["ram"][SHIP_X] != 76:  # the cannon mid-ground: ±20 fits
                state = ale_space_invaders.MoveShip(dx=76 - state["ram"][SHIP_X]).apply(state)
            if all(_applies(t, state) for t in TARGETS if t.game == game):
                return state
            action = 1 if game == "ale_freeway" and rng.random() < 0.8 else int(rng.integers(env.action_space.n))
            env.step(action)  # Freeway: mostly UP, so the chicken reaches the middle of the road
            state = env.get_toybox_state()
        raise AssertionError(f"no {game} state in 3000 steps where every target applies")
    return state


def _applies(target, state: dict) -> bool:
    try:
        for intervention in [target.build(), *target.build_doses()]:
            intervention.apply(state, np.random.default_rng(0))
    except InterventionError:
        return False
    return True


STATES = {game: _mid_game_state(game) for game in sorted({t.game for t in TARGETS})}


def _boxes(game: str, state: dict, pattern: str) -> list:
    return sorted((b.name, b.x0, b.y0, b.x1, b.y1) for b in select(objects(game, state), pattern))


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.intervention}-{t.object}")
def test_every_target_changes_the_object_it_names(target):
    state = STATES[target.game]
    assert target.intervention in registry
    if set(target.changes) & {"position", "shape"}:
        assert _boxes(target.game, state, target.object), f"{target.object} is not on screen in the test state"
    for intervention in [target.build(), *target.build_doses()[-1:]]:
        after = intervention.apply(state, np.random.default_rng(0))
        assert intervention.took_effect(state, after), intervention
        if set(target.changes) & {"position", "presence", "shape"}:
            assert _boxes(target.game, state, target.object) != _boxes(target.game, after, target.object)


def test_every_drawn_object_of_breakout_and_amidar_has_a_target():
    for game, names in {"breakout": ("ball", "paddle", "brick", "score", "lives"),
                        "amidar": ("player", "enemy_0", "enemy_4", "painted_box", "score", "lives")}.items():
        for name in names:
            assert targets_for(game, name), f"no intervention changes {game}.{name}"


def test_targets_for_filters_by_variable_and_teaches_on_a_bad_one():
    assert [t.intervention for t in targets_for("breakout", "ball", changes="speed")] == ["breakout.set_ball_velocity"]
    assert targets_for("breakout", "ball")[0].intervention == "breakout.move_ball"  # the default comes first
    with pytest.raises(InterventionError, match="position"):
        targets_for("breakout", "ball", changes="colour")
    json.dumps([t.to_dict() for t in TARGETS])  # plain data


@pytest.mark.parametrize("target", [t for t in TARGETS if t.game.startswith("ale_")],
                         ids=lambda t: f"{t.intervention}-{t.object}")
def test_every_atari_target_reaches_the_agents_observation_once_settled(target):
    """The Atari draws some edits a frame late (score digits, a Freeway car): measured right after
    such an edit the agent would see nothing, and every claim about the object would find no effect.
    Both arms settle alike (the factual arm plays the same NOOP steps), so the newest frames differ
    only by the edit."""
    from cfsal.interventions.state import settle_env

    env = make(target.game, seed=0)
    env.set_toybox_state(STATES[target.game])
    start = env.snapshot()
    settle = "refresh" if target.settle is None else target.settle
    factual = settle_env(env, settle)[0][-1].copy()
    env.restore(start)
    target.build().apply_to_env(env, np.random.default_rng(0), settle=settle)
    assert np.any(env.observation[-1] != factual), f"{target.intervention} does not reach the observation"


@pytest.mark.parametrize("game, obj", [("ale_pong", "score"), ("ale_breakout", "score"), ("ale_freeway", "score"),
                                       ("ale_freeway", "car_0")])
def test_edits_the_atari_draws_a_frame_late_are_settled(game, obj):
    """Without its settle step the agent would see nothing of these edits (the frame re-rendered
    right after the edit is the factual one), so the target must give one."""
    from cfsal.interventions.state import settle_env

    target = targets_for(game, obj)[0]
    assert target.settle == 1
    env = make(game, seed=0)
    env.set_toybox_state(STATES[game])
    start = env.snapshot()
    refreshed = settle_env(env, "refresh")[0][-1].copy()
    env.restore(start)
    target.build().apply_to_env(env, np.random.default_rng(0), settle="refresh")
    assert np.array_equal(env.observation[-1], refreshed)


#: Audited objects that no intervention changes: the audit reports on them, no claim is written.
WITHOUT_TARGET = {"space_invaders": {"laser"}, "ale_breakout": {"lives"}, "ale_space_invaders": {"ufo"},
                  "ale_freeway": {"opponent_chicken", "opponent_score"}}


@pytest.mark.parametrize("game", sorted(OBJECTS))
def test_every_audited_object_has_a_target_unless_no_intervention_changes_it(game):
    untargeted = {o.name for o in audit_objects(game) if not targets_for(game, o.name)}
    assert untargeted == WITHOUT_TARGET.get(game, set())
    assert {t.object for t in TARGETS if t.game == game} <= {o.name for o in audit_objects(game)} | {"enemy"}
