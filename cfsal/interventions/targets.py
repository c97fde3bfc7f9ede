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

The table is checked against the game: ``tests/test_suggest_targets.py`` applies every target to
a real mid-game state and asserts that the named object's box or value changes.
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
    """

    game: str
    object: str
    intervention: str
    params: Mapping[str, Any]
    action: str
    changes: tuple[str, ...]
    doses: tuple[Mapping[str, Any], ...] = field(default=())
    note: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.changes) - set(VARIABLES))
        if unknown:
            raise InterventionError(f"target {self.intervention} on {self.object}: unknown variable(s) "
                                    f"{', '.join(unknown)}; use {', '.join(VARIABLES)}.")

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
                "doses": [dict(d) for d in self.doses], "note": self.note}


def _shifts(name: str, values: tuple[int, ...], **fixed: Any) -> tuple[dict[str, Any], ...]:
    return tuple({name: v, **fixed} for v in values)


_MOVES = (-40, -20, 20, 40)

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
    Target("amidar", "painted_box", "amidar.paint_boxes", {"boxes": (0, 1, 2, 3, 4)}, "filling the top five boxes",
           ("presence",), ()),
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
           _shifts("player", (0, 5, 10, 15, 20))),
    Target("ale_pong", "opponent_score", "ale_pong.set_score", {"enemy": 10}, "setting the opponent's score to 10",
           ("value",), _shifts("enemy", (0, 5, 10, 15, 20))),
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
