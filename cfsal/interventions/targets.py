"""Which intervention changes which game object: the table that turns "X is salient" into a test.

A saliency claim is about an object ("the agent looks at the ball"); a counterfactual test needs
an intervention that changes *that object and nothing else* (Atrey et al. 2020, §3). This module
states, for every object that :func:`cfsal.envs.objects.objects` draws, which registered
interventions change it, how (``changes``: its position, speed, value, presence), and with which
parameters the change is big enough to matter yet valid in most game states. ``cfsal suggest``
reads it to write hypothesis files; a researcher reads it as a menu (``target_table()``).

Object names are those of :func:`cfsal.envs.objects.objects` — an object's name or kind, the
strings :meth:`cfsal.saliency.SaliencyMap.mass_on` accepts (``"ball"``, ``"brick"``,
``"enemy_0"``, ``"score"``). For each object the first target listed is the default: the most
direct change of the object itself. ``doses`` (where given) are parameter sets of the same
intervention that change one state variable by different amounts, for dose–response and
correlation designs (the paper moved Amidar enemies by ±2 and ±4 steps).

Some Atari edits reach the screen a frame late (the game prepares its score digits, or positions
a Freeway car, on the frame before it draws them): such a target says how many agent steps to
``settle`` before anything is measured, or the agent would see no change at all. An audited object
that no intervention changes (Space Invaders' lasers, ALE Breakout's lives) has no row: ``cfsal
suggest`` audits it and writes no claim about it, and says so.

The table is checked against the game: ``tests/test_suggest_targets.py`` applies every target to
a real mid-game state and asserts that the named object's box or value changes, and that the change
reaches the agent's observation once settled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfsal.errors import InterventionError
from cfsal.interventions.params import registry
from cfsal.interventions.state import Intervention

#: State variables of an object that a target can change (``Target.changes``).
VARIABLES = ("position", "speed", "value", "presence", "shape")


@dataclass(frozen=True)
class Target:
    """One way to change one object: intervention ``intervention`` with ``params``.

    ``action`` is a gerund phrase for the claim a hypothesis file states ("moving the ball 40
    pixels to the right"). ``changes`` lists the object's variables the edit changes, so a
    correlation found between saliency and, say, distance can be tested with a target that
    changes ``"position"``. ``doses`` are alternative parameter sets for a dose–response design.
    ``settle`` (where given) is the NOOP agent steps both arms play after the edit before a claim
    measures anything: the game draws the change only from the second frame on.
    """

    game: str
    object: str
    intervention: str
    params: Mapping[str, Any]
    action: str
    changes: tuple[str, ...]
    doses: tuple[Mapping[str, Any], ...] = field(default=())
    note: str = ""
    settle: int | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.changes) - set(VARIABLES))
        if unknown:
            raise InterventionError(f"target {self.intervention} on {self.object}: unknown variable(s) "
                                    f"{', '.join(unknown)}; use {', '.join(VARIABLES)}.")
        if self.settle is not None and not (isinstance(self.settle, int) and self.settle >= 1):
            raise InterventionError(f"target {self.intervention} on {self.object}: settle={self.settle!r} must be "
                                    "a number of agent steps ≥ 1 (or None: measure right after the edit).")

    @property
    def cls(self) -> type[Intervention]:
        """The intervention class (from the registry)."""
        if self.intervention not in registry:
            raise InterventionError(f"target on {self.game}.{self.object} names {self.intervention!r}, which is "
                                    f"not a registered intervention; `cfsal interventions list` shows them.")
        return registry[self.intervention]  # type: ignore[return-value]

    def build(self) -> Intervention:
        """The intervention with the default parameters."""
        return self.cls(**self.params)

    def build_doses(self) -> list[Intervention]:
        """One intervention per dose (empty when the target has no doses)."""
        return [self.cls(**dose) for dose in self.doses]

    def to_dict(self) -> dict[str, Any]:
        return {"game": self.game, "object": self.object, "intervention": self.intervention,
                "params": dict(self.params), "action": self.action, "changes": list(self.changes),
                "doses": [dict(d) for d in self.doses], "note": self.note, "settle": self.settle}


def _shifts(name: str, values: tuple[int, ...], **fixed: Any) -> tuple[dict[str, Any], ...]:
    return tuple({name: v, **fixed} for v in values)


_MOVES = (-40, -20, 20, 40)
_RING_MOVES = (-20, -10, 10, 20)  # Boxing's ring and Space Invaders' ground are about 80 pixels wide
_DIGITS_LATE = "the game draws the new digits from the second frame on, so both arms play a NOOP step first"

TARGETS: tuple[Target, ...] = (
    # -- breakout ---------------------------------------------------------------------------
    Target("breakout", "ball", "breakout.move_ball", {"dx": 40}, "moving the ball 40 pixels to the right",
           ("position",), _shifts("dx", _MOVES),
           "the paper's IVmoveball (it moved (+5, +5)); 40 pixels is unambiguous. Skipped where the ball "
           "would leave the court."),
    Target("breakout", "ball", "breakout.set_ball_velocity", {"speed": 4.0}, "setting the ball's speed to 4",
           ("speed",), _shifts("speed", (1.0, 2.0, 3.0, 4.0, 6.0)),
           "Toybox resets the speed at deep bricks and sets the angle at every paddle bounce."),
    Target("breakout", "paddle", "breakout.move_paddle", {"dx": 40}, "moving the paddle 40 pixels to the right",
           ("position",), _shifts("dx", _MOVES), "skipped where the paddle would leave the court"),
    Target("breakout", "paddle", "breakout.set_paddle_width", {"width": 48}, "doubling the paddle's width",
           ("shape",), _shifts("width", (8, 16, 32, 48))),
    Target("breakout", "brick", "breakout.remove_bricks", {"rows": (5,)}, "removing the bottom row of bricks",
           ("presence",), ({"rows": (5,)}, {"rows": (4, 5)}, {"rows": (3, 4, 5)})),
    Target("breakout", "brick", "breakout.shift_bricks", {"columns": 6}, "shifting the broken-brick pattern by 6 columns",
           ("position",), _shifts("columns", (-6, -3, 3, 6)),
           "the paper's IVshiftBricks; changes nothing while no brick is broken"),
    Target("breakout", "brick", "breakout.reflect_bricks",
           {"carry_ball": False, "carry_paddle": False, "mirror_velocity": False},
           "mirroring the brick wall left-right", ("position",), (),
           "the paper's IVsymbricks without moving ball and paddle"),
    Target("breakout", "score", "breakout.set_score", {"value": 1000}, "setting the score to 1000", ("value",),
           _shifts("value", (0, 100, 500, 1000, 5000))),
    Target("breakout", "lives", "breakout.set_lives", {"value": 1}, "setting the lives left to 1", ("value",),
           _shifts("value", (0, 1, 3, 5, 9))),
    # -- amidar -----------------------------------------------------------------------------
    *(Target("amidar", f"enemy_{i}", "amidar.move_enemies", {"steps": 4, "enemies": (i,)},
             f"moving enemy {i} four tiles along its route", ("position",),
             _shifts("steps", (-4, -2, 2, 4), enemies=(i,)),
             "the paper's IVmoveEnemies, as in its enemy-distance study (±2, ±4)") for i in range(5)),
    Target("amidar", "enemy", "amidar.move_enemies", {"steps": 4}, "moving every enemy four tiles along its route",
           ("position",), _shifts("steps", (-4, -2, 2, 4))),
    Target("amidar", "player", "amidar.move_player", {"tx": 0, "ty": 0}, "putting the player in the top-left corner",
           ("position",), ({"tx": 0, "ty": 0}, {"tx": 31, "ty": 0}, {"tx": 0, "ty": 30}, {"tx": 31, "ty": 30})),
    Target("amidar", "painted_box", "amidar.paint_boxes", {"boxes": (0, 1, 2, 3, 4)},
           "filling the five left boxes of the top row", ("presence",), ()),
    Target("amidar", "score", "amidar.set_score", {"value": 1000}, "setting the score to 1000", ("value",),
           _shifts("value", (0, 100, 500, 1000, 5000)), "the paper's IVmodifyScore"),
    Target("amidar", "lives", "amidar.set_lives", {"value": 1}, "setting the lives left to 1", ("value",),
           _shifts("value", (0, 1, 2, 3, 5))),
    # -- pong -------------------------------------------------------------------------------
    Target("pong", "ball", "pong.move_ball", {"dy": 40}, "moving the ball 40 pixels down", ("position",),
           _shifts("dy", _MOVES)),
    Target("pong", "paddle", "pong.move_paddle", {"dy": 40}, "moving the agent's paddle 40 pixels down",
           ("position",), _shifts("dy", _MOVES)),
    Target("pong", "opponent_paddle", "pong.move_paddle", {"player": "opponent", "dy": 40},
           "moving the opponent's paddle 40 pixels down", ("position",),
           _shifts("dy", _MOVES, player="opponent")),
    Target("pong", "score", "pong.set_scores", {"agent": 10}, "setting the agent's score to 10", ("value",),
           _shifts("agent", (0, 5, 10, 15, 20))),
    Target("pong", "opponent_score", "pong.set_scores", {"opponent": 10}, "setting the opponent's score to 10",
           ("value",), _shifts("opponent", (0, 5, 10, 15, 20))),
    # -- ale_pong (real Atari Pong) ---------------------------------------------------------
    Target("ale_pong", "ball", "ale_pong.move_ball", {"dy": 40}, "moving the ball 40 pixels down", ("position",),
           _shifts("dy", _MOVES), "skipped where the ball would leave the court"),
    Target("ale_pong", "opponent_paddle", "ale_pong.move_enemy", {"dy": 40},
           "moving the opponent's paddle 40 pixels down", ("position",), _shifts("dy", _MOVES),
           "the enemy paddle of the published shortcut (it follows the ball)"),
    Target("ale_pong", "paddle", "ale_pong.move_player", {"dy": 40}, "moving the agent's paddle 40 pixels down",
           ("position",), _shifts("dy", _MOVES),
           "brief: the paddle eases back to where the controller holds it within about 2 agent steps"),
    Target("ale_pong", "score", "ale_pong.set_score", {"player": 10}, "setting the agent's score to 10", ("value",),
           _shifts("player", (0, 5, 10, 15, 20)), _DIGITS_LATE, settle=1),
    Target("ale_pong", "opponent_score", "ale_pong.set_score", {"enemy": 10}, "setting the opponent's score to 10",
           ("value",), _shifts("enemy", (0, 5, 10, 15, 20)), _DIGITS_LATE, settle=1),
    # -- ale_breakout (real Atari Breakout; its lives have no intervention) ----------------
    Target("ale_breakout", "ball", "ale_breakout.move_ball", {"dx": 40}, "moving the ball 40 pixels to the right",
           ("position",), _shifts("dx", _MOVES), "skipped where the ball would leave the court or none is in play"),
    Target("ale_breakout", "paddle", "ale_breakout.move_paddle", {"dx": 40}, "moving the paddle 40 pixels to the right",
           ("position",), _shifts("dx", _MOVES),
           "brief: the paddle eases back to where the controller holds it within about 2 agent steps"),
    Target("ale_breakout", "brick", "ale_breakout.remove_row", {"row": 5}, "removing the bottom row of bricks",
           ("presence",), (), "skipped where that row is gone already"),
    Target("ale_breakout", "score", "ale_breakout.set_score", {"value": 500}, "setting the score to 500", ("value",),
           _shifts("value", (0, 100, 250, 500, 900)), _DIGITS_LATE, settle=1),
    # -- ale_freeway (real Atari Freeway; the idle second player's chicken and score have none) -
    Target("ale_freeway", "player", "ale_freeway.move_chicken", {"dy": -40}, "moving the chicken 40 pixels up",
           ("position",), _shifts("dy", _MOVES),
           "the agent's chicken (its kind, player: the name chicken would also select the idle opponent's)"),
    *(Target("ale_freeway", f"car_{lane}", "ale_freeway.move_car", {"lane": lane, "dx": 40},
             f"moving the car of lane {lane} 40 pixels to the right", ("position",),
             _shifts("dx", _MOVES, lane=lane),
             "the game positions a car a frame before it draws it (some lanes on alternate frames), so both arms "
             "play a NOOP step first; skipped where the car would leave the road",
             settle=1) for lane in range(10)),
    Target("ale_freeway", "score", "ale_freeway.set_score", {"value": 20}, "setting the agent's score to 20",
           ("value",), _shifts("value", (0, 5, 10, 20, 30)), _DIGITS_LATE, settle=1),
    # -- ale_boxing (real Atari Boxing) ------------------------------------------------------
    Target("ale_boxing", "player", "ale_boxing.move_player", {"dx": 20}, "moving the agent's boxer 20 pixels to the "
           "right", ("position",), _shifts("dx", _RING_MOVES), "skipped where it would leave the ring"),
    Target("ale_boxing", "enemy", "ale_boxing.move_enemy", {"dx": 20}, "moving the enemy boxer 20 pixels to the right",
           ("position",), _shifts("dx", _RING_MOVES), "skipped where it would leave the ring"),
    Target("ale_boxing", "score", "ale_boxing.set_score", {"player": 50}, "setting the agent's score to 50",
           ("value",), _shifts("player", (0, 25, 50, 75, 99))),
    Target("ale_boxing", "enemy_score", "ale_boxing.set_score", {"enemy": 50}, "setting the enemy's score to 50",
           ("value",), _shifts("enemy", (0, 25, 50, 75, 99))),
    Target("ale_boxing", "clock", "ale_boxing.set_clock", {"seconds": 30}, "setting the clock to 30 seconds left",
           ("value",), _shifts("seconds", (10, 30, 60, 90, 119))),
    # -- ale_space_invaders (real Atari Space Invaders; its UFO has no intervention) --------
    Target("ale_space_invaders", "ship", "ale_space_invaders.move_ship", {"dx": 20},
           "moving the cannon 20 pixels to the right", ("position",), _shifts("dx", _RING_MOVES),
           "skipped where it would leave the ground the game lets it reach (82 pixels)"),
    Target("ale_space_invaders", "alien", "ale_space_invaders.remove_alien", {"row": 5, "column": 3},
           "removing the fourth alien of the bottom row", ("presence",), (),
           "the one most often still there (97% of random play's states, the bottom-left one 41%); skipped where "
           "it is gone"),
    Target("ale_space_invaders", "shield", "ale_space_invaders.remove_shield", {"shield": 1},
           "removing the middle shield", ("presence",), (), "skipped where it is gone already"),
    Target("ale_space_invaders", "score", "ale_space_invaders.set_score", {"value": 1000}, "setting the score to 1000",
           ("value",), _shifts("value", (0, 100, 500, 1000, 5000))),
    # -- space invaders ---------------------------------------------------------------------
    Target("space_invaders", "ship", "space_invaders.move_ship", {"dx": 40}, "moving the ship 40 pixels to the right",
           ("position",), _shifts("dx", _MOVES)),
    Target("space_invaders", "alien", "space_invaders.shift_formation", {"dx": 20},
           "shifting the alien formation 20 pixels to the right", ("position",), _shifts("dx", (-20, -10, 10, 20))),
    Target("space_invaders", "alien", "space_invaders.remove_aliens", {"rows": (5,)},
           "removing the bottom row of aliens", ("presence",), ()),
    Target("space_invaders", "shield", "space_invaders.set_shields", {"xs": ()}, "removing the shields",
           ("presence",), ()),
    Target("space_invaders", "ufo", "space_invaders.hide_ufo", {}, "sending the UFO away", ("presence",), ()),
    Target("space_invaders", "score", "space_invaders.set_score", {"value": 1000}, "setting the score to 1000",
           ("value",), _shifts("value", (0, 100, 500, 1000, 5000))),
    Target("space_invaders", "lives", "space_invaders.set_lives", {"value": 1}, "setting the lives left to 1",
           ("value",), _shifts("value", (0, 1, 2, 5))),
)


def targets_for(game: str, obj: str | None = None, *, changes: str | None = None) -> list[Target]:
    """Targets of ``game`` (on object ``obj``, changing variable ``changes``), defaults first."""
    if changes is not None and changes not in VARIABLES:
        raise InterventionError(f"changes={changes!r} is not a variable targets change; use one of "
                                f"{', '.join(VARIABLES)}.")
    return [t for t in TARGETS if t.game == game and (obj is None or t.object == obj)
            and (changes is None or changes in t.changes)]


def target_table(game: str | None = None) -> list[dict[str, Any]]:
    """The table as plain rows (for printing, JSON, reports)."""
    return [t.to_dict() for t in TARGETS if game is None or t.game == game]
