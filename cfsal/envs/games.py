"""The games cfsal supports, and how their names map to gym ids.

Two tables. ``GAMES``: the Toybox games (only those ctoybox 0.5.0 ships *with an Atari
counterpart*; gridworld is not an Atari game, so no Atari-trained agent or saliency claim applies
to it). ``ALE_GAMES``: real Atari 2600 games through the Arcade Learning Environment
(:mod:`cfsal.envs.ale_env`), named ``ale_<game>`` so they never clash with the Toybox game of the
same title (``pong`` is Toybox Pong, ``ale_pong`` the Atari cartridge). Both tables hold
:class:`GameSpec` entries; :func:`get_game` looks a name up in both.

``STATE_LIMITS`` and ``CONFIG_LIMITS``: the range of every number a Toybox game's native core takes
in a state or a configuration, found by fuzzing; :mod:`cfsal.envs.validation` checks them.
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

    ``backend`` says which emulator plays the game: ``"toybox"`` (:class:`~cfsal.envs.ToyboxEnv`)
    or ``"ale"`` (:class:`~cfsal.envs.ale_env.AleEnv`, which loads the cartridge ``rom``, an
    ``ale_py.roms`` id such as ``"pong"``, and checks that ``action_set`` is its minimal set).
    """

    name: str
    gym_id: str
    aliases: tuple[str, ...]
    action_set: tuple[int, ...]
    fire_on_reset: bool
    atari_name: str
    backend: str = "toybox"
    rom: str | None = None

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


#: Real Atari games through the Arcade Learning Environment (ale-py), with DeepMind's protocol
#: (cfsal.envs.ale_env). Adding a game is one entry: its ``action_set`` must be ALE's minimal action
#: set for the ROM (AleEnv refuses a mismatch), and ``fire_on_reset`` is True only where the game
#: waits for FIRE to start (Breakout: the serve), as for the Toybox games. Names start with ``ale_``
#: (never matched by the Atari title alone: ``pong`` stays Toybox Pong); zoo agents for them are
#: ``<name>-<kind>`` as for every game (``ale_pong-a2c``).
ALE_GAMES: dict[str, GameSpec] = {
    spec.name: spec
    for spec in (
        GameSpec("ale_pong", "cfsal/ALE-Pong-v0", ("PongNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "Pong", backend="ale", rom="pong"),
        GameSpec("ale_breakout", "cfsal/ALE-Breakout-v0", ("BreakoutNoFrameskip-v4",),
                 (0, 1, 3, 4), True, "Breakout", backend="ale", rom="breakout"),
        GameSpec("ale_freeway", "cfsal/ALE-Freeway-v0", ("FreewayNoFrameskip-v4",),
                 (0, 2, 5), False, "Freeway", backend="ale", rom="freeway"),
        GameSpec("ale_boxing", "cfsal/ALE-Boxing-v0", ("BoxingNoFrameskip-v4",),
                 tuple(range(18)), False, "Boxing", backend="ale", rom="boxing"),
        GameSpec("ale_space_invaders", "cfsal/ALE-SpaceInvaders-v0", ("SpaceInvadersNoFrameskip-v4",),
                 (0, 1, 3, 4, 11, 12), False, "SpaceInvaders", backend="ale", rom="space_invaders"),
    )
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_game(name: str) -> GameSpec:
    """Look a game up by cfsal name, cfsal gym id, or the seed paper's gym id (any case).

    Toybox games also answer to their Atari title (``"Pong"`` is Toybox Pong); ALE games answer
    to their ``ale_`` name (``"ale-pong"`` works too), their cfsal gym id or their aliases.

    >>> get_game("BreakoutToyboxNoFrameskip-v4").name
    'breakout'
    >>> get_game("cfsal/ALE-Pong-v0").name
    'ale_pong'
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
    for spec in ALE_GAMES.values():
        names = {spec.name, _normalise(spec.gym_id), *(_normalise(a) for a in spec.aliases)}
        if key in names or key.replace("_", "") == spec.name.replace("_", ""):
            return spec
    raise UnknownGameError(
        f"unknown game {name!r}. cfsal supports: {', '.join(GAMES)} "
        f"(or their gym ids {', '.join(s.gym_id for s in GAMES.values())}); "
        f"Atari games through the ALE: {', '.join(ALE_GAMES)} "
        f"({', '.join(s.gym_id for s in ALE_GAMES.values())})."
    )


# -- what the native core accepts ------------------------------------------------------------------
#: Any number an edit writes into a state, outside the RNG's state words, lies in this range. The
#: cores compute in i32 and move objects pixel by pixel: far larger values overflow or loop for
#: minutes (measured by tests/reliability/test_fuzz.py: a ball velocity of 1e9 hangs Breakout).
GENERIC_LIMIT = 100_000

#: Per game: (path glob, low, high) for fields with a narrower safe range, inclusive. Paths use
#: ``/`` between keys and ``*`` for a list index. Each bound keeps a value the game can draw and
#: play; the crashes and hangs beyond them were found by fuzzing (tests/reliability/test_fuzz.py).
_FRAME_MARGIN = 100
STATE_LIMITS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "breakout": (
        ("lives", -1, 99), ("score", 0, GENERIC_LIMIT), ("level", 1, 1000), ("ball_radius", 1, 10),
        ("balls/*/position/x", -_FRAME_MARGIN, 240 + _FRAME_MARGIN),
        ("balls/*/position/y", -_FRAME_MARGIN, 160 + _FRAME_MARGIN),
        ("balls/*/velocity/*", -20, 20), ("paddle/position/x", 0, 240), ("paddle/position/y", 0, 160),
        ("paddle/velocity/*", -20, 20), ("paddle_width", 1, 240), ("paddle_speed", 0, 20),
        ("bricks/*/position/x", 0, 240), ("bricks/*/position/y", 0, 160),
        ("bricks/*/size/x", 1, 240), ("bricks/*/size/y", 1, 160), ("bricks/*/row", 0, 100),
        ("bricks/*/col", 0, 100), ("bricks/*/points", 0, 1000), ("bricks/*/depth", 0, 1000),
    ),
    "pong": (
        ("p1_score", 0, 1000), ("p2_score", 0, 1000),
        ("ball/position/x", -_FRAME_MARGIN, 160 + _FRAME_MARGIN),
        ("ball/position/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN), ("ball/velocity/*", -20, 20),
        # the core lets a paddle held in one direction overshoot the 210-px screen: by 250 px at the
        # default speeds, by ~570 at the fastest config (max_paddle_speed 24); ±1e9 played cleanly
        ("p?_paddle/position/x", 0, 160), ("p?_paddle/position/y", -1000, 1210),
        ("p?_paddle/velocity/*", -30, 30),
    ),
    "amidar": (
        ("score", 0, 999_999), ("lives", -1, 9), ("level", 1, 1000), ("jumps", 0, 99),
        ("chase_timer", 0, GENERIC_LIMIT), ("jump_timer", 0, GENERIC_LIMIT),
        ("player/speed", 0, 64), ("enemies/*/speed", 0, 64),
    ),
    "space_invaders": (
        ("lives", -1, 9), ("score", 0, GENERIC_LIMIT), ("level", 1, 1000),
        ("enemies/*/row", 0, 5), ("enemies/*/col", 0, 5),
        ("ship/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("ship/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("ship/w", 1, 320), ("ship/h", 1, 210), ("ship/speed", 0, 20),
        ("enemies/*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("enemies/*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("shields/*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("shields/*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("ufo/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("ufo/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("*laser*/x", -_FRAME_MARGIN, 320 + _FRAME_MARGIN), ("*laser*/y", -_FRAME_MARGIN, 210 + _FRAME_MARGIN),
        ("*laser*/w", 1, 320), ("*laser*/h", 1, 210), ("*laser*/speed", 0, 20),
    ),
}


#: Per game: (key glob, low, high[, why]) for config numbers, inclusive; every other number (but the
#: RNG seed and colours, which the schema bounds) lies within ±GENERIC_LIMIT. Found by fuzzing raw
#: configs in a child process (tests/reliability/test_fuzz.py, docs/reliability.md): a bound marked
#: "aborts"/"hangs" is where the native core broke; the others keep the game's own states within
#: STATE_LIMITS (so a configured game's snapshots pass check_state) or keep a value meaningful.
CONFIG_LIMITS: dict[str, tuple[tuple, ...]] = {
    "breakout": (
        ("start_lives", 1, 99, "the state's lives are 0..99; 0 or fewer ends the game before its first frame"),
        ("ball_speed_slow", 0, 20, "pixels per frame; 1e300 hangs the core, and beyond 20 the ball's velocity "
                                   "leaves STATE_LIMITS"),
        ("ball_speed_fast", 0, 20, "pixels per frame; beyond 20 the ball's velocity leaves STATE_LIMITS"),
        ("paddle_discrete_segments", 1, 1000, "0 segments aborts the core (it divides by the count); use null "
                                              "for a round paddle"),
        ("ball_start_positions/*/x", 0, 240, "on the 240-pixel-wide screen"),
        ("ball_start_positions/*/y", 0, 160, "on the 160-pixel-high screen"),
        ("ball_start_positions/*/angle_degrees", -360, 360, "an angle in degrees"),
        ("row_scores/*", 0, 1000, "points of a brick; the state's brick points are 0..1000"),
    ),
    "amidar": (
        ("start_lives", 1, 9, "2^31-1 hangs the core; the state's lives are at most 9"),
        ("start_jumps", 0, 99, "the state's jumps are 0..99"),
        ("player_speed", 0, 64, "world units per frame; the state's speeds are 0..64"),
        ("enemy_starting_speed", 0, 64, "world units per frame; the state's speeds are 0..64"),
        ("jump_time", 0, GENERIC_LIMIT, "frames; a negative time leaves a negative jump timer"),
        ("chase_time", 0, GENERIC_LIMIT, "frames"),
        ("chase_score_bonus", 0, GENERIC_LIMIT, "points; the state's score is never negative"),
        ("box_bonus", 0, GENERIC_LIMIT, "points; the state's score is never negative"),
        ("enemies/*/*/vision_distance", 0, GENERIC_LIMIT, "tiles"),
    ),
    "space_invaders": (
        ("jitter", 0, 1, "the randomness of the aliens' firing, a probability"),
        ("shields/*/0", 0, 304, "a shield's left edge, on the 320-pixel-wide screen with its 16-pixel width"),
        ("shields/*/1", 0, 192, "a shield's top edge, on the 210-pixel-high screen with its 18-pixel height"),
    ),
    "pong": (
        ("game_points", 1, 1000, "0 or fewer ends the game at once; the state's scores are 0..1000"),
        ("paddle_speed", 0, 24, "paddle acceleration per frame"),
        ("max_paddle_speed", 0, 24, "paddle top speed per frame"),
    ),
}
