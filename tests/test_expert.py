"""The scripted Breakout expert: its physics replay matches Toybox, and it plays well."""

import math

import numpy as np
import pytest
import torch

from cfsal.agents.expert import (FIRE, LEFT, NOOP, RIGHT, bounce_velocity, check_breakout_actions,
                                 expert_action, expert_actions, paddle_segment,
                                 play_expert_episode, simulate_ball)
from cfsal.envs import make

torch.set_num_threads(1)


def falling_ball_state(seed: int):
    """An env whose ball is in play and falling, after a few NOOP steps."""
    env = make("breakout", seed=seed)
    for _ in range(200):
        state = env.get_toybox_state()
        if state["balls"] and state["balls"][0]["velocity"]["y"] > 0 and state["balls"][0]["position"]["y"] < 100:
            return env, state
        env.step(NOOP)
    raise AssertionError("no falling ball within 200 steps")


def test_action_indices_name_breakouts_actions():
    check_breakout_actions()


def test_expert_serves_when_no_ball_is_in_play():
    state = make("breakout", seed=0).get_toybox_state()
    state["balls"] = []
    assert expert_action(state) == FIRE


@pytest.mark.parametrize("seed", [0, 3])
def test_simulated_landing_matches_toybox(seed):
    """Replaying Toybox's ball physics predicts where the real ball crosses the paddle line."""
    env, state = falling_ball_state(seed)
    landing = simulate_ball(state)
    assert landing is not None
    frames = math.ceil(landing.frames - 1e-9)
    for _ in range(frames):
        env.toybox.apply_ale_action(0)
    ball = env.get_toybox_state()["balls"][0]
    # the ball is at the landing point at the end of the frame in which it reaches the line
    # (slow balls move in whole-frame slices, so the two instants coincide)
    assert ball["position"]["x"] == pytest.approx(landing.x, abs=0.5 + abs(ball["velocity"]["x"]) * (frames - landing.frames))
    assert abs(ball["position"]["y"] - 143.0) < 2.0 + 1e-6


def test_paddle_segments_follow_toybox():
    assert paddle_segment(0.0, 24.0) == 2          # centre: straight up
    assert paddle_segment(5.0, 24.0) == 1          # right of centre: up and to the right
    assert paddle_segment(-10.0, 24.0) == 4
    vx, vy = bounce_velocity(2, 2.0)
    assert abs(vx) < 1e-9 and vy == pytest.approx(-2.0)
    vx, vy = bounce_velocity(1, 2.0)
    assert vx > 0 and vy < 0 and math.hypot(vx, vy) == pytest.approx(2.0)


def test_expert_moves_towards_a_distant_ball():
    env, state = falling_ball_state(0)
    landing = simulate_ball(state)
    state["paddle"]["position"]["x"] = 24.0 if landing.x > 120 else 216.0
    assert expert_action(state) == (RIGHT if landing.x > 120 else LEFT)


@pytest.mark.parametrize("seed", [1, 2])
def test_expert_scores_fast_without_losing_a_life(seed):
    episode = play_expert_episode(seed, max_steps=800)
    assert episode.steps == 800 and not episode.cleared
    assert episode.score >= 200  # of 432; measured 253 and 292 for these seeds
    assert episode.lives == 5


def test_expert_clears_the_level():
    episode = play_expert_episode(0)
    assert episode.cleared and episode.score == 432 and episode.lives == 5
    assert episode.steps < 2_000


def test_expert_actions_is_the_batched_expert_action():
    states = [falling_ball_state(s)[1] for s in (0, 1)]
    np.testing.assert_array_equal(expert_actions(states), [expert_action(s) for s in states])
