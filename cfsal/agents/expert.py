"""A scripted Breakout expert that reads the Toybox state: the teacher of the positive control.

:func:`expert_action` is a pure function of Breakout's Toybox JSON state to an action index of
the game's action set (NOOP, FIRE, RIGHT, LEFT). It serves with FIRE when no ball is in play.
Otherwise it

1. **predicts** where and when the ball next reaches the paddle's height, by replaying Toybox's
   own ball physics (:func:`simulate_ball`: the same sub-frame time slices, wall, ceiling and
   brick bounces, and speed-up rule as ctoybox 0.5.0's ``breakout.rs``), and
2. **plans** (:func:`_plan_candidates`) where the paddle should be at that instant, among the positions it can reach (the
   paddle moves exactly 4 px per frame, 16 px per agent step at frame skip 4, or part of that in
   the step of the hit), preferring a hit off the paddle's centre.

Why not simply chase the ball's x: at frame skip 4 the ball travels up to 16 px per agent step
(fast speed), as fast as the paddle, so a chaser that reacts late misses steep balls. And why
aim: Toybox's paddle has 5 discrete segments (``paddle_discrete_segments``); a hit on the
centre one sends the ball straight up, and in a cleared column a vertical ball bounces between
ceiling and paddle for ever (measured: a plain "paddle under the landing point" policy scored 30
and then looped until the 27k-step limit on every seed). The planner therefore hits the ball
with a side segment, sending it towards the side of the court with more bricks left.

Geometry and rules below are ctoybox 0.5.0's Breakout constants (``screen`` module of
``toybox/src/breakout.rs``); velocities in the state are per Toybox frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from cfsal.envs import make
from cfsal.envs.games import get_game

#: Action indices of Breakout's action set (NOOP, FIRE, RIGHT, LEFT).
NOOP, FIRE, RIGHT, LEFT = 0, 1, 2, 3

BOARD_LEFT_X = 12.0
BOARD_RIGHT_X = 228.0
BOARD_TOP_Y = 25.0
BOARD_BOTTOM_Y = 148.0
PADDLE_SMALL_WIDTH = 16.0
PADDLE_SEGMENTS = 5
BALL_ANGLE_MIN = 30.0
BALL_ANGLE_RANGE = 120.0
BALL_SPEED_ROW_DEPTH = 3
BALL_SPEED_FAST = 4.0
FRAMES_PER_STEP = 4


@dataclass(frozen=True)
class BallLanding:
    """Where and when the ball first reaches the paddle's height (if nothing intercepts it).

    ``frames`` counts Toybox frames from the given state (fractional: Toybox moves the ball in
    sub-frame slices); ``paddle_width`` is the width the paddle will have then (it shrinks to 16
    px after the ball first touches the ceiling); ``speed`` is the ball's speed then;
    ``first_brick_frames`` is when the ball first breaks a brick on the way (None: no brick);
    ``closest_brick`` is how near (px) it passed to an alive brick, when that was tracked.
    """

    x: float
    y: float
    frames: float
    paddle_width: float
    speed: float
    first_brick_frames: float | None
    closest_brick: float = math.inf


def _brick_rows(state: Mapping[str, Any]) -> list[list[float]]:
    """Bricks as mutable ``[left, top, right, bottom, depth, alive]`` rows, in Toybox's order."""
    return [[b["position"]["x"], b["position"]["y"], b["position"]["x"] + b["size"]["x"],
             b["position"]["y"] + b["size"]["y"], b["depth"], b["alive"]] for b in state["bricks"]]


def _brick_hit(bricks: list[list[float]], bx: tuple[float, float], by: tuple[float, float]) -> int:
    """Index into ``bricks`` of the first alive brick containing ``bx`` or ``by``, else -1.

    Mirrors ``Brick::contains`` (closed rectangle) and the list-order scan with ``break``.
    Returns ``2·i`` for an x-side hit and ``2·i + 1`` for a y-side hit.
    """
    for i, (left, top, right, bottom, _depth, alive) in enumerate(bricks):
        if not alive:
            continue
        if left <= bx[0] <= right and top <= bx[1] <= bottom:
            return 2 * i
        if left <= by[0] <= right and top <= by[1] <= bottom:
            return 2 * i + 1
    return -1


def _fly(x: float, y: float, vx: float, vy: float, *, radius: float, paddle_y: float, width: float,
         bricks: list[list[float]], horizon_frames: int,
         until_first_brick: bool = False) -> BallLanding | None:
    """Toybox's per-frame ball update (``update_mut`` / ``update_time_slice``) without the paddle.

    ``bricks`` is updated in place. Returns None if the level would be cleared first or after
    ``horizon_frames`` frames. With ``until_first_brick`` the flight stops at the first brick
    broken, and otherwise records how close the ball passed to an alive brick.
    """
    alive = sum(1 for b in bricks if b[5])
    brick_top = min((b[1] for b in bricks), default=0.0) - radius
    brick_bottom = max((b[3] for b in bricks), default=0.0) + radius
    first_brick: float | None = None
    closest = math.inf
    elapsed = 0.0
    for _frame in range(horizon_frames):
        time_step = radius / math.hypot(vx, vy)
        simulated = 0.0
        while simulated < 1.0:
            dt = min(time_step, 1.0 - simulated)
            x += vx * dt
            y += vy * dt
            simulated += dt
            if vy > 0 and (abs(paddle_y - y) < radius or y + radius > BOARD_BOTTOM_Y):
                return BallLanding(x, y, elapsed + simulated, width, math.hypot(vx, vy), first_brick,
                                   closest)
            if vy < 0 and y - radius < BOARD_TOP_Y:
                vy = -vy
                width = PADDLE_SMALL_WIDTH
            if until_first_brick and brick_top - 16 <= y <= brick_bottom + 16:
                closest = min(closest, _distance_to_bricks(bricks, x, y))
            if brick_top <= y <= brick_bottom:
                hit = _brick_hit(bricks, (x + math.copysign(radius, vx), y),
                                 (x, y + math.copysign(radius, vy)))
                if hit >= 0:
                    brick = bricks[hit // 2]
                    if hit % 2 == 0:
                        vx = -vx
                    else:
                        vy = -vy
                    brick[5] = False
                    alive -= 1
                    if first_brick is None:
                        first_brick = elapsed + simulated
                        if until_first_brick:
                            return BallLanding(x, y, first_brick, width, math.hypot(vx, vy), first_brick, 0.0)
                    if brick[4] >= BALL_SPEED_ROW_DEPTH:
                        theta = math.atan2(vy, vx)
                        vx, vy = BALL_SPEED_FAST * math.cos(theta), BALL_SPEED_FAST * math.sin(theta)
                    if alive == 0:
                        return None
            if vx > 0:
                if x + radius > BOARD_RIGHT_X:
                    vx = -vx
            elif x - radius < BOARD_LEFT_X:
                vx = -vx
        elapsed += 1.0
    return None


def simulate_ball(state: Mapping[str, Any], horizon_frames: int = 600) -> BallLanding | None:
    """Replay Toybox's ball physics until the ball reaches the paddle line (``|y − 143| < r``).

    The paddle is ignored (the question is where the ball *would* meet it). Returns ``None``
    when no ball is in play, when the level would be cleared first, or after ``horizon_frames``.
    """
    balls = state.get("balls") or []
    if not balls:
        return None
    ball = balls[0]
    return _fly(float(ball["position"]["x"]), float(ball["position"]["y"]),
                float(ball["velocity"]["x"]), float(ball["velocity"]["y"]),
                radius=float(state["ball_radius"]), paddle_y=float(state["paddle"]["position"]["y"]),
                width=float(state["paddle_width"]), bricks=_brick_rows(state),
                horizon_frames=horizon_frames)


def paddle_segment(offset: float, paddle_width: float) -> int:
    """Toybox's discrete paddle segment for a hit ``offset = ball.x − paddle.x`` (0 sends the
    ball most to the right, 2 straight up, 4 most to the left; −1 and 5 are the edge slivers)."""
    normalized = 1.0 - (offset + paddle_width / 2.0) / paddle_width
    return math.floor(normalized * PADDLE_SEGMENTS)


def bounce_velocity(segment: int, speed: float) -> tuple[float, float]:
    """The ball's velocity after a hit on ``segment`` (``check_bounce_paddle``)."""
    relative = segment / PADDLE_SEGMENTS + 1.0 / (2 * PADDLE_SEGMENTS)
    angle = math.radians(relative * BALL_ANGLE_RANGE + BALL_ANGLE_MIN)
    return speed * math.cos(angle), -speed * math.sin(angle)


def _bricks_at_landing(state: Mapping[str, Any], landing: BallLanding) -> list[list[float]]:
    """The bricks as they will be when the ball reaches the paddle line."""
    bricks = _brick_rows(state)
    ball = state["balls"][0]
    _fly(float(ball["position"]["x"]), float(ball["position"]["y"]),
         float(ball["velocity"]["x"]), float(ball["velocity"]["y"]),
         radius=float(state["ball_radius"]), paddle_y=float(state["paddle"]["position"]["y"]),
         width=float(state["paddle_width"]), bricks=bricks, horizon_frames=int(landing.frames) + 2)
    return bricks


def _bounce_cost(state: Mapping[str, Any], landing: BallLanding, bricks: list[list[float]],
                 segment: int, depth: int = 2) -> float:
    """How good a paddle hit on ``segment`` is: the frames until the ball next breaks a brick.

    When the ball would come back down without breaking one, the next paddle hit is searched
    too (``depth`` flights in all, each next segment assumed reachable when the paddle has the
    time to get there); failing that, 1000·flights + 10 × how near (px) the ball passed to a
    brick. Without this the expert repeats, for ever, a loop that misses the last bricks.
    """
    radius = float(state["ball_radius"])
    paddle_y = float(state["paddle"]["position"]["y"])
    vx, vy = bounce_velocity(segment, landing.speed)
    after = _fly(landing.x, landing.y, vx, vy, radius=radius, paddle_y=paddle_y,
                 width=landing.paddle_width, bricks=[list(b) for b in bricks], horizon_frames=400,
                 until_first_brick=True)
    if after is None:
        return 1000.0 * depth
    if after.first_brick_frames is not None:
        return after.first_brick_frames
    fallback = 1000.0 * depth + 10.0 * min(after.closest_brick, 100.0)
    if depth <= 1:
        return fallback
    paddle_reach = float(state["paddle_speed"]) * after.frames + radius + after.paddle_width / 2.0
    if abs(after.x - landing.x) > paddle_reach:
        return fallback
    later = min(_bounce_cost(state, after, bricks, next_segment, depth - 1)
                for next_segment in (0, 1, 3, 4))
    return min(after.frames + later, fallback)


def _distance_to_bricks(bricks: list[list[float]], x: float, y: float) -> float:
    """Distance from (x, y) to the nearest alive brick rectangle."""
    best = math.inf
    for left, top, right, bottom, _depth, alive in bricks:
        if alive:
            dx = max(left - x, 0.0, x - right)
            dy = max(top - y, 0.0, y - bottom)
            best = min(best, math.hypot(dx, dy))
    return best


def _plan_candidates(state: Mapping[str, Any], landing: BallLanding, margin: float) -> list[tuple[float, int]]:
    """Every plan the paddle can follow until the ball arrives, as ``(cost, action now)``.

    The paddle can be at ``p + 16·m + 4·e·s`` when the ball arrives, where ``m`` is the net
    number of full steps moved before the step of the hit (``|m| ≤`` steps left), ``e ∈ {−1,0,1}``
    the move during that step and ``s`` the frames of it that pass before the hit. Positions
    that catch the ball (with ``margin`` px to spare) cost how soon the resulting bounce breaks
    a brick (one flight of look-ahead) minus 20 × robustness (distance from a segment boundary,
    so prediction error does not change the segment), plus 0.01 per move; a miss costs 10⁶ +
    the distance. A ball sent straight up into a cleared column never reaches a brick, so the
    cost also avoids the vertical loop.
    """
    paddle_x = float(state["paddle"]["position"]["x"])
    radius = float(state["ball_radius"])
    width = landing.paddle_width
    low, high = BOARD_LEFT_X - width / 2.0, BOARD_RIGHT_X + width / 2.0
    hit_step = max(math.ceil(landing.frames / FRAMES_PER_STEP) - 1, 0)
    partial = landing.frames - FRAMES_PER_STEP * hit_step
    speed = float(state["paddle_speed"])
    reach = radius + width / 2.0 - margin
    brick_time: dict[int, float] = {}
    bricks = _bricks_at_landing(state, landing)
    plans: list[tuple[float, int]] = []
    for m in range(-hit_step, hit_step + 1):
        before = min(max(paddle_x + speed * FRAMES_PER_STEP * m, low), high)
        for e in (-1, 0, 1):
            position = min(max(before + speed * partial * e, low), high)
            offset = landing.x - position
            if abs(offset) >= reach:
                cost = 1e6 + abs(offset)
            else:
                segment = paddle_segment(offset, width)
                if segment not in brick_time:
                    brick_time[segment] = _bounce_cost(state, landing, bricks, segment)
                normalized = (0.5 - offset / width) * PADDLE_SEGMENTS
                robustness = min(normalized - math.floor(normalized), math.ceil(normalized) - normalized)
                cost = brick_time[segment] - 20.0 * robustness
            cost += 0.01 * (abs(m) + abs(e))
            move = m if hit_step > 0 else e
            plans.append((cost, RIGHT if move > 0 else LEFT if move < 0 else NOOP))
    return plans


#: Extra cost of FIRE while a ball is in play: it does what NOOP does, but an agent that learns
#: to press it then would serve at once after a lost life, which the expert does not intend.
FIRE_IN_PLAY_COST = 5.0
#: Cost of every action but FIRE when no ball is in play (serving is the only sensible move).
NOT_SERVING_COST = 50.0
#: Cost of the actions that do not follow the ball when no landing can be predicted.
NOT_FOLLOWING_COST = 10.0


def expert_decision(state: Mapping[str, Any]) -> tuple[int, np.ndarray]:
    """The expert's action and the cost of each action (NOOP, FIRE, RIGHT, LEFT) now.

    The cost of an action is that of the best plan starting with it (see
    :func:`_plan_candidates`; units are roughly Toybox frames until the next brick). Distillation
    turns the costs into soft labels, so that where two actions are about equally good (moving
    now or one step later towards the same spot) the student is not taught an arbitrary choice
    it cannot see in the pixels. The action is always :func:`expert_action`'s.
    """
    costs = np.zeros(4, dtype=np.float64)
    if not state.get("balls"):
        costs[:] = NOT_SERVING_COST
        costs[FIRE] = 0.0
        return FIRE, costs
    landing = simulate_ball(state)
    if landing is None:
        action = _follow_ball(state)
        costs[:] = NOT_FOLLOWING_COST
        costs[action] = 0.0
        return action, costs
    plans = _plan_candidates(state, landing, 1.0)
    cost, action = min(plans, key=lambda plan: plan[0])  # min keeps the first of equals
    costs[:] = np.inf
    for plan_cost, first_move in plans:
        costs[first_move] = min(costs[first_move], plan_cost)
    costs[FIRE] = costs[NOOP] + FIRE_IN_PLAY_COST
    return action, costs - cost


def _follow_ball(state: Mapping[str, Any]) -> int:
    offset = float(state["balls"][0]["position"]["x"]) - float(state["paddle"]["position"]["x"])
    return RIGHT if offset > 8 else LEFT if offset < -8 else NOOP


def expert_action(state: Mapping[str, Any]) -> int:
    """The scripted expert's action index (NOOP 0, FIRE 1, RIGHT 2, LEFT 3) for a Breakout state:
    FIRE to serve, the first move of the cheapest plan while a ball is in play, and following
    the ball when no landing can be predicted (level about to be cleared, long flight among bricks)."""
    return expert_decision(state)[0]


def expert_actions(states: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """:func:`expert_action` over a sequence of states, as an int64 array."""
    return np.array([expert_action(s) for s in states], dtype=np.int64)


def check_breakout_actions() -> None:
    """Fail loudly if the indices above no longer name Breakout's actions."""
    meanings = get_game("breakout").action_meanings
    if (meanings[NOOP], meanings[FIRE], meanings[RIGHT], meanings[LEFT]) != ("NOOP", "FIRE", "RIGHT", "LEFT"):
        raise AssertionError(f"breakout's action set is now {meanings}; update cfsal.agents.expert")


@dataclass(frozen=True)
class ExpertEpisode:
    """One game played by the expert: final score, agent steps, lives left, whether it cleared."""

    seed: int
    score: float
    steps: int
    lives: int
    cleared: bool


def play_expert_episode(seed: int, *, max_steps: int = 27_000) -> ExpertEpisode:
    """Play one full Breakout game with the expert on ``cfsal.envs.make("breakout")``.

    The game is stopped early once the last brick is gone: ctoybox 0.5.0 does not refill the
    wall, so the score is final and only the step-limit truncation would follow.
    """
    env = make("breakout", seed=seed, max_episode_steps=max_steps)
    score, steps = 0.0, 0
    while True:
        state = env.get_toybox_state()
        if not any(brick["alive"] for brick in state["bricks"]):
            return ExpertEpisode(seed, score, steps, env.lives, True)
        _, reward, terminated, truncated, _ = env.step(expert_action(state))
        score += reward
        steps += 1
        if terminated or truncated:
            return ExpertEpisode(seed, score, steps, env.lives, False)
