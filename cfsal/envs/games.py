"""The Toybox games cfsal supports, and how their names map to gym ids.

Only the games that ctoybox 0.5.0 ships *with an Atari counterpart* are here (gridworld is not an
Atari game, so no Atari-trained agent or saliency claim applies to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from cfsal.errors import UnknownGameError

#: ALE action numbering (what ``Toybox.apply_ale_action`` takes).
ALE_ACTION_MEANINGS: dict[int, str] = {
    0: "NOOP", 1: "FIRE", 2: "UP", 3: "RIGHT", 4: "LEFT", 5: "DOWN", 6: "UPRIGHT", 7: "UPLEFT",
    8: "DOWNRIGHT", 9: "DOWNLEFT", 10: "UPFIRE", 11: "RIGHTFIRE", 12: "LEFTFIRE", 13: "DOWNFIRE",
    14: "UPRIGHTFIRE", 15: "UPLEFTFIRE", 16: "DOWNRIGHTFIRE", 17: "DOWNLEFTFIRE",
}


@dataclass(frozen=True)
class GameSpec:
    """Static facts about one game.

    ``action_set`` is the ALE-numbered minimal action set, in the order the agent's discrete
    actions index it (identical to ALE's minimal sets, so Atari agents' action indices line up).
    ``fire_on_reset`` follows OpenAI baselines' ``FireResetEnv``, but only where the game needs
    it: Toybox Breakout has no ball in play until FIRE; in Amidar FIRE is a *jump*, which a
    reset should not spend.
    """

    name: str
    gym_id: str
    aliases: tuple[str, ...]
    action_set: tuple[int, ...]
    fire_on_reset: bool
    atari_name: str

    @property
    def action_meanings(self) -> tuple[str, ...]:
        return tuple(ALE_ACTION_MEANINGS[a] for a in self.action_set)

    @property
    def n_actions(self) -> int:
        return len(self.action_set)


GAMES: dict[str, GameSpec] = {
    spec.name: spec
    for spec in (
        GameSpec("breakout", "cfsal/Breakout-v0", ("BreakoutToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4), True, "Breakout"),
        GameSpec("amidar", "cfsal/Amidar-v0", ("AmidarToyboxNoFrameskip-v4",),
                 (0, 1, 2, 3, 4, 5, 10, 11, 12, 13), False, "Amidar"),
        GameSpec("space_invaders", "cfsal/SpaceInvaders-v0", ("SpaceInvadersToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "SpaceInvaders"),
        GameSpec("pong", "cfsal/Pong-v0", ("PongToyboxNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "Pong"),
    )
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_game(name: str) -> GameSpec:
    """Look a game up by cfsal name, cfsal gym id, or the seed paper's gym id (any case).

    >>> get_game("BreakoutToyboxNoFrameskip-v4").name
    'breakout'
    """
    if isinstance(name, GameSpec):
        return name
    if not isinstance(name, str):
        raise UnknownGameError(f"game must be a string such as 'breakout', got {name!r}")
    key = _normalise(name)
    for spec in GAMES.values():
        names = {spec.name, _normalise(spec.gym_id), spec.atari_name.lower(),
                 *(_normalise(a) for a in spec.aliases)}
        if key in names or key.replace("_", "") == spec.name.replace("_", ""):
            return spec
    raise UnknownGameError(
        f"unknown game {name!r}. cfsal supports: {', '.join(GAMES)} "
        f"(or their gym ids {', '.join(s.gym_id for s in GAMES.values())})."
    )
