"""A gymnasium environment over ctoybox with the paper's observation pipeline, built in.

The pipeline is OpenAI baselines' ``wrap_deepmind`` (which the paper's A2C agents saw), the one
:class:`~cfsal.envs.framestack.FrameStackEnv` holds for every backend; ALE-bound gymnasium
wrappers could not be used on Toybox anyway. Here a frame is one Toybox frame driven by an ALE
action, and the state a snapshot must carry besides the pipeline's is Toybox's (with its RNG).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cfsal.envs.framestack import (  # preprocess_frame re-exported: it lived here before
    FIRE,
    NOOP,
    FrameStackEnv,
    pipeline_from_dict,
    pipeline_to_dict,
    preprocess_frame,
)
from cfsal.envs.games import GameSpec, get_game
from cfsal.envs.validation import check_config, check_state
from cfsal.errors import SnapshotError, check_schema_version

__all__ = ["SNAPSHOT_SCHEMA_VERSION", "EnvSnapshot", "ToyboxEnv", "preprocess_frame"]

SNAPSHOT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class EnvSnapshot:
    """Everything needed to put a :class:`ToyboxEnv` back exactly where it was.

    The game state is held three ways, used in this order by :meth:`ToyboxEnv.restore`:

    1. ``native``: a clone of Toybox's own state object — exact, but only in this process
       (dropped when pickled or serialised);
    2. a *recipe*: the reset seed and the actions since reset, replayed from scratch — exact
       anywhere, costs one re-run of the episode prefix (the paper's code restored this way);
    3. ``toybox_json``: the game's JSON state. Toybox's JSON reader can move a float by one
       ulp (measured: 215 of 300 Breakout states changed), so this path is not bit-exact.

    The rest is the preprocessing state that lives outside Toybox. :meth:`to_dict` is plain
    JSON, so snapshots cross process boundaries without pickling.
    """

    game: str
    toybox_json: str
    frame_stack: np.ndarray
    steps: int
    lives: int
    episode_return: float
    needs_real_reset: bool
    np_random_state: dict[str, Any] = field(repr=False)
    reset_seed: int | None = None
    actions: tuple[int, ...] | None = field(default=None, repr=False)
    config_json: str | None = field(default=None, repr=False)  # set when the game was configured
    native: Any = field(default=None, repr=False, compare=False)

    @property
    def has_recipe(self) -> bool:
        return self.reset_seed is not None and self.actions is not None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["native"] = None  # a Toybox handle cannot cross processes; the recipe can
        return state

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SNAPSHOT_SCHEMA_VERSION,
            "game": self.game,
            "toybox_json": self.toybox_json,
            **pipeline_to_dict(self),
            "reset_seed": self.reset_seed,
            "actions": None if self.actions is None else list(self.actions),
            "config_json": self.config_json,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSnapshot:
        check_schema_version(data, SNAPSHOT_SCHEMA_VERSION, "snapshot", SnapshotError,
                             "re-record it with this cfsal version.")
        return cls(
            game=data["game"],
            toybox_json=data["toybox_json"],
            **pipeline_from_dict(data),
            reset_seed=data.get("reset_seed"),
            actions=None if data.get("actions") is None else tuple(int(a) for a in data["actions"]),
            config_json=data.get("config_json"),
        )


class ToyboxEnv(FrameStackEnv):
    """One Toybox game as a gymnasium environment, preprocessed as the paper's agents saw it.

    Observations are ``uint8`` arrays of shape ``(frame_stack, screen_size, screen_size)``,
    newest frame last. Actions index :attr:`GameSpec.action_set`.

    Seeding: Toybox is deterministic from a fixed start, so a seed varies the start twice over:
    it seeds Toybox's own RNG (ball serve angles, enemy choices, …) and draws the number of
    no-op frames. The same seed gives the same episode; different seeds give different ones.
    """

    def __init__(self, game: str | GameSpec = "breakout", **pipeline: Any) -> None:
        """``pipeline``: the settings of :class:`~cfsal.envs.framestack.FrameStackEnv` (``noop_max``, …)."""
        # ctoybox loads the native cores (~0.1 s): imported where an environment is made or driven, so
        # importing cfsal.envs (as `cfsal interventions list` does) does not load them (tests/test_cli.py).
        from ctoybox import Toybox

        super().__init__(get_game(game), **pipeline)
        self.toybox = Toybox(self.spec_game.name)
        from ctoybox.ffi import ffi, lib  # the native cores, loaded on first use (see above)

        self._native = (ffi, lib)  # for rendering into reused buffers (_grab)
        self._pong = self.spec_game.name == "pong"
        self._pong_config = self.toybox.config_to_json() if self._pong else None
        self._raw_actions, self._noop, self._fire = self.spec_game.action_set, NOOP, FIRE
        self._lives = self.toybox.get_lives()
        self._reset_seed: int | None = None
        self._actions: list[int] | None = None
        self._config_json: str | None = None

    # -- the raw game --------------------------------------------------------------------------
    def get_toybox_state(self) -> dict[str, Any]:
        """The game's Toybox JSON state as a dict (a fresh copy; edit it freely)."""
        return self.toybox.state_to_json()

    def toybox_state_text(self) -> str:
        """The game's Toybox JSON state as Toybox wrote it (no parse): cheap to compare for equality.

        Two states serialise to the same text exactly when they are the same state, so rollouts
        compare texts (~50 µs) where a parsed dict (~230 µs) is not needed.
        """
        from ctoybox.ffi import lib, rust_str  # the native cores, loaded on first use (see __init__)

        return rust_str(lib.state_to_json(self.toybox.rstate.get_state()))

    def set_toybox_state_text(self, text: str) -> None:
        """:meth:`set_toybox_state` of ``json.loads(text)``, where ``text`` is that dict's ``json.dumps``.

        Writes exactly the bytes :meth:`set_toybox_state` would write (it ``json.dumps`` the dict
        it is given), without parsing and re-serialising a state whose text is already at hand:
        a snapshot's ``toybox_json`` is such a text.
        """
        self._actions = None
        if self._pong:
            text = f'{{"config": {json.dumps(self._pong_config)}, "state": {text}}}'
        self.toybox.write_state_json(text)

    def set_toybox_state(self, state: dict[str, Any], *, check: bool = True) -> None:
        """Replace the game state. The observation stack is *not* re-rendered; see
        :meth:`refresh_observation`. The state now differs from what the actions since reset
        produce, so snapshots from here on carry no replay recipe.

        The state is first checked by :func:`cfsal.envs.validation.check_state` (a bad value can abort
        or hang the native core, taking the whole process with it); ``check=False`` is for states
        that were checked already (an intervention's output) or came from the core itself.
        """
        if check:
            check_state(self.game, state)
        self._actions = None
        if self._pong and "state" not in state:
            state = {"config": self._pong_config, "state": state}
        self.toybox.write_state_json(state)

    def configure(self, config: dict[str, Any] | None) -> None:
        """Replace the game's configuration (colours, start lives, speeds…); ``None`` restores the default.

        Toybox restarts the game when its config changes, so call :meth:`reset` afterwards.
        Snapshots taken from here on carry the config, and :meth:`restore` re-applies it. The config
        is checked first (:func:`cfsal.envs.validation.check_config`), so a bad one raises
        :class:`~cfsal.errors.GameStateError` instead of reaching the native core.
        """
        from ctoybox import Toybox  # the native cores, loaded on first use (see __init__)

        if config is None:
            self.toybox = Toybox(self.spec_game.name)
            self._config_json = None
        else:
            check_config(self.game, config)
            self.toybox.write_config_json(config)
            self._config_json = json.dumps(config, sort_keys=True)
        if self._pong:
            self._pong_config = self.toybox.config_to_json()
        self._needs_real_reset = True
        self._actions = None

    @property
    def config(self) -> dict[str, Any]:
        return self.toybox.config_to_json()

    def rgb_frame(self) -> np.ndarray:
        """The current full-resolution RGB frame (H×W×3, uint8)."""
        return self.toybox.get_rgb_frame()

    def refresh_observation(self) -> np.ndarray:
        """Re-render the newest stack slot from the current Toybox state and return the stack.

        After a state edit the stack still shows the old frames; this makes the newest one show
        the edit without advancing the game (stepping no-ops is the other way, and changes time).
        """
        return self._show(self.toybox.get_state())

    @property
    def lives(self) -> int:
        return self.toybox.get_lives()

    @property
    def score(self) -> int:
        return self.toybox.get_score()

    # -- gymnasium API: the pipeline's, and a replay recipe of the actions since a seeded reset ----
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._actions = None  # a new life is not replayed by reset(seed) and the actions; _new_game starts a recipe
        return super().reset(seed=seed, options=options)

    def step(self, action):
        outcome = super().step(action)
        if self._actions is not None:
            self._actions.append(int(action))
        return outcome

    # -- snapshots ----------------------------------------------------------------------------
    def snapshot(self) -> EnvSnapshot:
        """Capture the whole environment; :meth:`restore` puts it back bit-identically."""
        return EnvSnapshot(
            game=self.game,
            toybox_json=json.dumps(self.get_toybox_state()),
            **self._pipeline_state(),
            reset_seed=self._reset_seed if self._actions is not None else None,
            actions=tuple(self._actions) if self._actions is not None else None,
            config_json=self._config_json,
            native=self.toybox.rstate.clone(),
        )

    def restore(self, snapshot: EnvSnapshot, *, exact: bool = True) -> np.ndarray:
        """Put the environment back to ``snapshot``; returns the observation at that point.

        With ``exact`` (default) the native clone or the replay recipe is used when the snapshot
        has one (see :class:`EnvSnapshot`); ``exact=False`` forces the JSON path.
        """
        self._check_snapshot(snapshot)
        if snapshot.config_json != self._config_json:
            self.configure(None if snapshot.config_json is None else json.loads(snapshot.config_json))
        if exact and snapshot.native is not None:
            self.toybox.rstate = snapshot.native.clone()
            self._actions = None if snapshot.actions is None else list(snapshot.actions)
            self._reset_seed = snapshot.reset_seed
        elif exact and snapshot.has_recipe:
            self._replay(snapshot)
        else:
            # The text is json.dumps of a state (snapshot() wrote it): written as is, as
            # set_toybox_state(json.loads(text), check=False) would write it, without the parse.
            self.set_toybox_state_text(snapshot.toybox_json)
        return self._restore_pipeline(snapshot)

    def _replay(self, snapshot: EnvSnapshot) -> None:
        self.reset(seed=snapshot.reset_seed)
        for action in snapshot.actions:
            self.step(action)
        if not np.array_equal(self._stack, snapshot.frame_stack):
            raise SnapshotError(
                f"replaying the snapshot's {len(snapshot.actions)} actions from seed {snapshot.reset_seed} "
                "did not reproduce its frames: it was taken from an environment with other settings "
                "(noop_max, frame_skip, …); restore it into an environment made with the same settings."
            )

    # -- the pipeline's hooks: one Toybox frame at a time -----------------------------------------
    def _new_game(self, seed: int | None) -> None:
        self._reset_seed = seed
        self._actions = [] if seed is not None else None
        self.toybox.set_seed(int(self.np_random.integers(0, 2**31 - 1)))
        self.toybox.new_game()

    def _noop_frame(self) -> None:
        self.toybox.apply_ale_action(NOOP)

    def _advance(self, ale_action: int) -> tuple[float, bool]:
        """The pipeline's step; its reward is the change of Toybox's score over the whole step."""
        score_before = self.toybox.get_score()
        _, game_over = super()._advance(ale_action)
        return float(self.toybox.get_score() - score_before), game_over

    def _emulate(self, ale_action: int) -> float:
        """One Toybox frame; Toybox reports no reward per frame (:meth:`_advance` takes the score's change)."""
        self.toybox.apply_ale_action(ale_action)
        return 0.0

    def _game_over(self) -> bool:
        return self.toybox.game_over()

    def _grab(self, out: np.ndarray) -> np.ndarray:
        """Toybox's grayscale frame of the current state (``toybox.get_state()``) rendered into ``out``."""
        ffi, lib = self._native
        lib.render_current_frame(ffi.cast("uint8_t *", out.ctypes.data), out.size, True,
                                 self.toybox.rsimulator.get_simulator(), self.toybox.rstate.get_state())
        return out

    def _frame_slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Three H×W grayscale buffers (two renders and their max), reused by every step: rollouts
        step environments millions of times, and ctoybox's ``get_state`` allocates a fresh frame
        (and asks the core its size) on every render."""
        sim, lib = self.toybox.rsimulator.get_simulator(), self._native[1]
        shape = (lib.simulator_frame_height(sim), lib.simulator_frame_width(sim))
        slots = self.__dict__.get("_slots")
        if slots is None or slots[0].shape != shape:
            slots = tuple(np.zeros(shape, np.uint8) for _ in range(3))
            self._slots = slots
        return slots
