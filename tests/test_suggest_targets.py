"""The intervention–object table is true: every target changes the object it names, in a real game."""

import json

import numpy as np
import pytest

from cfsal.envs import make
from cfsal.envs.objects import objects, select
from cfsal.errors import InterventionError
from cfsal.interventions import TARGETS, breakout, pong, registry, space_invaders, targets_for


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
    if game == "ale_pong":  # play on until the ball and both paddles are mid-court, so ±40-pixel moves fit
        while not all(_applies(t, state) for t in TARGETS if t.game == game):
            env.step(int(rng.integers(env.action_space.n)))
            state = env.get_toybox_state()
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
