"""Objects of the real Atari games beyond Pong, read from RAM, under the names of cfsal's Toybox games.

Each function takes the 128 RAM bytes and returns :data:`Sprite` tuples, ``(name, kind, x, y, w, h,
colour)`` in screen pixels (160 × 210, upper-left corner); :func:`cfsal.envs.objects.objects`
clips them into :class:`~cfsal.envs.objects.ObjectBox` es. Addresses and sizes are OCAtari's
(``k4ntz/OC_Atari``, ``ocatari/ram/<game>.py``) as corrected in each game's RAM module, and the
boxes are checked against the emulator's own frames in ``tests/test_ale_<game>.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cfsal.envs import ale_boxing_ram as boxing
from cfsal.envs import ale_breakout_ram as breakout
from cfsal.envs import ale_freeway_ram as freeway
from cfsal.envs import ale_space_invaders_ram as invaders

Sprite = tuple[str, str, int, int, int, int, "tuple[int, int, int] | None"]


def ale_breakout(ram: Sequence[int]) -> list[Sprite]:
    """Toybox Breakout's names: ``ball``, ``paddle``, ``brick_r{row}_c{col:02d}`` (alive bricks, row 0
    at the top), ``brick_row_{row}`` (the extent of a row's alive bricks), ``score``, ``lives``."""
    out: list[Sprite] = []
    if breakout.ball_in_play(ram):
        out.append(("ball", "ball", ram[breakout.BALL_X] - breakout.BALL_X_OFFSET,
                    ram[breakout.BALL_Y] - breakout.BALL_Y_OFFSET, *breakout.BALL_SIZE, breakout.BALL_COLOR))
    out.append(("paddle", "paddle", ram[breakout.PADDLE_X] - breakout.PADDLE_X_OFFSET, breakout.PADDLE_Y,
                *breakout.PADDLE_SIZE, breakout.PADDLE_COLOR))
    width, height = breakout.BRICK_SIZE
    for row in range(breakout.ROWS):
        y = breakout.WALL_TOP + row * height
        alive = []
        for column in range(breakout.COLUMNS):
            left, right = breakout.brick_halves(ram, row, column)
            if left or right:  # a brick half-cleared by an edit is drawn half
                x0, x1 = (breakout.WALL_LEFT + column * width + (0 if left else width // 2),
                          breakout.WALL_LEFT + column * width + (width if right else width // 2))
                alive.append((x0, x1))
                out.append((f"brick_r{row}_c{column:02d}", "brick", x0, y, x1 - x0, height, breakout.ROW_COLORS[row]))
        if alive:
            out.append((f"brick_row_{row}", "brick_row", alive[0][0], y, alive[-1][1] - alive[0][0], height, None))
    out.append(("score", "score", *breakout.SCORE_BOX, breakout.HUD_COLOR))
    out.append(("lives", "lives", *breakout.LIVES_BOX, breakout.HUD_COLOR))
    return out


def ale_freeway(ram: Sequence[int]) -> list[Sprite]:
    """``chicken`` (the agent's, left; kind ``player``), ``opponent_chicken`` (the idle second player's, right),
    ``car_{lane}`` (lane 0 at the top .. 9), ``score``, ``opponent_score``."""
    out: list[Sprite] = [
        ("chicken", "player", freeway.CHICKEN_X, freeway.CHICKEN_Y_BASE - ram[freeway.CHICKEN_Y],
         *freeway.CHICKEN_SIZE, freeway.CHICKEN_COLOR),
        ("opponent_chicken", "chicken", freeway.OTHER_CHICKEN_X, freeway.CHICKEN_Y_BASE - ram[freeway.OTHER_CHICKEN_Y],
         *freeway.CHICKEN_SIZE, freeway.CHICKEN_COLOR),
    ]
    for lane in range(freeway.LANES):
        x = ram[freeway.car_x_address(lane)] - freeway.CAR_X_OFFSET
        x = x + 160 if x < 0 else x  # a car at the left edge is drawn at the right edge (what shows of it)
        left = max(x, freeway.HIDDEN_LEFT)
        out.append((f"car_{lane}", "car", left, freeway.CAR_TOP + lane * freeway.LANE_HEIGHT,
                    x + freeway.CAR_SIZE[0] - left, freeway.CAR_SIZE[1], freeway.CAR_COLORS[lane]))
    for name, address, boxes in (("score", freeway.SCORE, freeway.SCORE_BOXES),
                                 ("opponent_score", freeway.OTHER_SCORE, freeway.OTHER_SCORE_BOXES)):
        out.append((name, "score", *freeway.score_box(ram[address], boxes), freeway.SCORE_COLOR))
    return out


def ale_boxing(ram: Sequence[int]) -> list[Sprite]:
    """``player`` (the agent's white boxer), ``enemy`` (black), each with its punching arm's reach,
    ``score``, ``enemy_score``, ``clock``."""
    out: list[Sprite] = []
    bodies = {name: (ram[x] + offset, ram[y] + boxing.Y_OFFSET + shift)
              for name, x, y, offset, shift in (("player", boxing.PLAYER_X, boxing.PLAYER_Y, boxing.PLAYER_X_OFFSET,
                                                 boxing.PLAYER_Y_SHIFT),
                                                ("enemy", boxing.ENEMY_X, boxing.ENEMY_Y, boxing.ENEMY_X_OFFSET,
                                                 boxing.ENEMY_Y_SHIFT))}
    for (name, (x, y)), arms, color in zip(bodies.items(), (boxing.PLAYER_ARMS, boxing.ENEMY_ARMS),
                                           (boxing.PLAYER_COLOR, boxing.ENEMY_COLOR)):
        other_x = bodies["enemy" if name == "player" else "player"][0]
        punch = max(boxing.reach(ram[arm]) for arm in arms)
        left, right = (0, punch) if x <= other_x else (punch, 0)  # gloves reach towards the other boxer
        width, height = boxing.BODY_SIZE
        x0 = max(x - boxing.LAG - left, boxing.HIDDEN_LEFT)
        out.append((name, name, x0, y - boxing.LAG, x + width + boxing.LAG + right - x0, height + 2 * boxing.LAG,
                    color))
    out.append(("score", "score", *boxing.score_box(ram[boxing.PLAYER_SCORE], boxing.PLAYER_SCORE_BOXES),
                boxing.PLAYER_COLOR))
    out.append(("enemy_score", "score", *boxing.score_box(ram[boxing.ENEMY_SCORE], boxing.ENEMY_SCORE_BOXES),
                boxing.ENEMY_COLOR))
    out.append(("clock", "clock", *boxing.CLOCK_BOX, boxing.CLOCK_COLOR))
    return out


def ale_space_invaders(ram: Sequence[int]) -> list[Sprite]:
    """Toybox Space Invaders' names: ``ship`` (the agent's cannon), ``alien_r{row}_c{col}`` (row 0 at the
    top; column 0 is the formation's leftmost surviving column), ``shield_{i}`` (the extent of what is
    left of it), ``ufo`` (while it flies), ``score`` (while the UFO does not: it hides the scores)."""
    out: list[Sprite] = [("ship", "ship", ram[invaders.SHIP_X] - invaders.SHIP_X_OFFSET, invaders.SHIP_Y,
                          *invaders.SHIP_SIZE, invaders.SHIP_COLOR)]
    left = ram[invaders.FORMATION_X] - invaders.ALIEN_X_OFFSET
    top = invaders.ALIEN_TOP + 2 * ram[invaders.FORMATION_Y]
    for row in range(invaders.ROWS):
        for column in range(invaders.COLUMNS):
            if invaders.alien_alive(ram, row, column):
                out.append((f"alien_r{row}_c{column}", "alien", left + column * invaders.ALIEN_STEP[0],
                            top + row * invaders.ALIEN_STEP[1], *invaders.ALIEN_SIZE, invaders.ALIEN_COLOR))
    for shield in range(invaders.SHIELDS):
        rows = [ram[address] for address in invaders.shield_addresses(shield)]
        drawn = [j for j, bits in enumerate(rows) if bits]  # each byte two pixel rows, top to bottom
        columns = [c for c in range(invaders.SHIELD_WIDTH) if any(bits >> (7 - c) & 1 for bits in rows)]  # bit 7 left
        if drawn:
            x = ram[invaders.SHIELDS_X] - invaders.SHIELD_X_OFFSET + shield * invaders.SHIELD_STEP + columns[0]
            out.append((f"shield_{shield}", "shield", x, invaders.SHIELD_TOP + 2 * drawn[0], columns[-1] - columns[0] + 1,
                        2 * (drawn[-1] - drawn[0] + 1), invaders.SHIELD_COLOR))
    if ram[invaders.UFO_X] not in invaders.UFO_ABSENT:  # the UFO flies where the scores are shown
        out.append(("ufo", "ufo", ram[invaders.UFO_X] - invaders.UFO_X_OFFSET, invaders.UFO_Y, *invaders.UFO_SIZE,
                    invaders.UFO_COLOR))
    else:
        out.append(("score", "score", *invaders.SCORE_BOX, invaders.SCORE_COLOR))
    return out


#: game → its RAM reader.
EXTRACTORS: dict[str, Callable[[Sequence[int]], list[Sprite]]] = {
    "ale_breakout": ale_breakout,
    "ale_freeway": ale_freeway,
    "ale_boxing": ale_boxing,
    "ale_space_invaders": ale_space_invaders,
}

#: Grayscale value of each game's background in the observation (the most common pixel).
BACKGROUND_GRAY: dict[str, int] = {"ale_breakout": 0, "ale_freeway": 142, "ale_boxing": 132, "ale_space_invaders": 0}
