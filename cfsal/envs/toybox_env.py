"""A gymnasium environment over ctoybox with the paper's observation pipeline, built in.

The preprocessing of OpenAI baselines' ``wrap_deepmind`` (which the paper's A2C agents saw) is
implemented *inside* one environment rather than as a wrapper stack, for one reason: a
counterfactual rollout must be able to snapshot and restore the *whole* environment (the Toybox
state with its RNG, the frame stack, the step counter, the no-op RNG) and replay bit-identically.
With a wrapper stack, each wrapper hides part of that state. ALE-bound gymnasium wrappers cannot
be used on Toybox anyway.

Pipeline per agent step (baselines order): the ALE action is applied for ``frame_skip`` Toybox
frames; the observation is the pixel-wise max of the last two grayscale frames, area-resized to
84×84, pushed onto a stack of the last 4 such frames (channel-first, newest last). Episodes start
with 1..``noop_max`` single-frame no-ops (baselines' ``NoopResetEnv`` sits below the frame skip)
and, in Breakout, FIRE to serve. ``episodic_life`` and ``clip_rewards`` are for training only.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from cfsal.envs.games import GameSpec, get_game
from cfsal.envs.validation import check_config, check_state
from cfsal.errors import SnapshotError

SNAPSHOT_SCHEMA_VERSION = 1
_NOOP, _FIRE = 0, 1


def preprocess_frame(gray: np.ndarray, screen_size: int = 84) -> np.ndarray:
    """Area-resize one grayscale Toybox frame (H×W or H×W×1, uint8) to ``screen_size``².

    PIL's BOX filter averages the covered source area, like cv2's INTER_AREA that baselines used.
    """
    if gray.ndim == 3:
        gray = gray[..., 0]
    image = Image.fromarray(np.ascontiguousarray(gray), mode="L")
    return np.asarray(image.resize((screen_size, screen_size), Image.Resampling.BOX), dtype=np.uint8)


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
            "frame_stack": base64.b64encode(self.frame_stack.tobytes()).decode("ascii"),
            "frame_stack_shape": list(self.frame_stack.shape),
            "steps": self.steps,
            "lives": self.lives,
            "episode_return": self.episode_return,
            "needs_real_reset": self.needs_real_reset,
            "np_random_state": self.np_random_state,
            "reset_seed": self.reset_seed,
            "actions": None if self.actions is None else list(self.actions),
            "config_json": self.config_json,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSnapshot:
        version = data.get("schema_version")
        if version != SNAPSHOT_SCHEMA_VERSION:
            raise SnapshotError(
                f"snapshot schema version {version!r} is not supported (this cfsal reads "
                f"version {SNAPSHOT_SCHEMA_VERSION}); re-record it with this cfsal version."
            )
        stack = np.frombuffer(base64.b64decode(data["frame_stack"]), dtype=np.uint8)
        return cls(
            game=data["game"],
            toybox_json=data["toybox_json"],
            frame_stack=stack.reshape(data["frame_stack_shape"]).copy(),
            steps=int(data["steps"]),
            lives=int(data["lives"]),
            episode_return=float(data["episode_return"]),
            needs_real_reset=bool(data["needs_real_reset"]),
            np_random_state=data["np_random_state"],
            reset_seed=data.get("reset_seed"),
            actions=None if data.get("actions") is None else tuple(int(a) for a in data["actions"]),
            config_json=data.get("config_json"),
        )


class ToyboxEnv(gym.Env):
    """One Toybox game as a gymnasium environment, preprocessed as the paper's agents saw it.

    Observations are ``uint8`` arrays of shape ``(frame_stack, screen_size, screen_size)``,
    newest frame last. Actions index :attr:`GameSpec.action_set`.

    Seeding: Toybox is deterministic from a fixed start, so a seed varies the start twice over:
    it seeds Toybox's own RNG (ball serve angles, enemy choices, …) and draws the number of
    no-op frames. The same seed gives the same episode; different seeds give different ones.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        game: str | GameSpec = "breakout",
        *,
        noop_max: int = 30,
        frame_skip: int = 4,
        frame_stack: int = 4,
        screen_size: int = 84,
        episodic_life: bool = False,
        clip_rewards: bool = False,
        fire_on_reset: bool | None = None,
        max_episode_steps: int | None = 27_000,
        render_mode: str | None = None,
    ) -> None:
        # ctoybox loads the native cores (~0.1 s): imported where an environment is made or driven, so
        # importing cfsal.envs (as `cfsal interventions list` does) does not load them (tests/test_cli.py).
        from ctoybox import Toybox

        self.spec_game: GameSpec = get_game(game)
        for name, value, low in (("noop_max", noop_max, 0), ("frame_skip", frame_skip, 1),
                                 ("frame_stack", frame_stack, 1), ("screen_size", screen_size, 8)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.noop_max = noop_max
        self.frame_skip = frame_skip
        self.screen_size = screen_size
        self.episodic_life = episodic_life
        self.clip_rewards = clip_rewards
        self.fire_on_reset = self.spec_game.fire_on_reset if fire_on_reset is None else fire_on_reset
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode

        self.toybox = Toybox(self.spec_game.name)
        from ctoybox.ffi import ffi, lib  # the native cores, loaded on first use (see above)

        self._native = (ffi, lib)  # for rendering into reused buffers (_render_gray)
        self._pong = self.spec_game.name == "pong"
        self._pong_config = self.toybox.config_to_json() if self._pong else None
        self.observation_space = gym.spaces.Box(
            0, 255, shape=(frame_stack, screen_size, screen_size), dtype=np.uint8
        )
        self.action_space = gym.spaces.Discrete(self.spec_game.n_actions)
        self._stack = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._steps = 0
        self._lives = self.toybox.get_lives()
        self._return = 0.0
        self._needs_real_reset = True
        self._reset_seed: int | None = None
        self._actions: list[int] | None = None
        self._config_json: str | None = None

    # -- the raw game --------------------------------------------------------------------------
    @property
    def game(self) -> str:
        return self.spec_game.name

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
        self._stack[-1] = preprocess_frame(self.toybox.get_state(), self.screen_size)
        return self._stack.copy()

    @property
    def lives(self) -> int:
        return self.toybox.get_lives()

    @property
    def score(self) -> int:
        return self.toybox.get_score()

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def observation(self) -> np.ndarray:
        return self._stack.copy()

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.episodic_life and not self._needs_real_reset and seed is None:
            # baselines' EpisodicLifeEnv: a lost life ends the training episode but not the game.
            self._advance(_NOOP)
            self._actions = None
        else:
            self._reset_seed = seed
            self._actions = [] if seed is not None else None
            self.toybox.set_seed(int(self.np_random.integers(0, 2**31 - 1)))
            self.toybox.new_game()
            self._stack[:] = 0
            self._steps = 0
            self._return = 0.0
            for _ in range(int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0):
                self.toybox.apply_ale_action(_NOOP)
            self._push(self.toybox.get_state())
            self._needs_real_reset = False
        if self.fire_on_reset:
            self._advance(_FIRE)
        self._lives = self.toybox.get_lives()
        return self._stack.copy(), self._info()

    def step(self, action):
        # The plain-int check first: gymnasium's ``contains`` costs a few µs a step in rollouts.
        if not (type(action) is int and 0 <= action < self.action_space.n) and not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not valid for {self.game}: use an integer in "
                f"[0, {self.action_space.n}) indexing {self.spec_game.action_meanings}"
            )
        reward, game_over = self._advance(self.spec_game.action_set[int(action)])
        if self._actions is not None:
            self._actions.append(int(action))
        self._steps += 1
        self._return += reward
        lives = self.toybox.get_lives()
        life_lost = lives < self._lives
        self._lives = lives
        terminated = game_over or (self.episodic_life and life_lost)
        if game_over:
            self._needs_real_reset = True
        truncated = (
            not terminated
            and self.max_episode_steps is not None
            and self._steps >= self.max_episode_steps
        )
        if truncated:
            self._needs_real_reset = True
        if self.clip_rewards:
            reward = float(np.sign(reward))
        info = self._info(lives)
        info["life_lost"] = life_lost
        info["game_over"] = game_over
        return self._stack.copy(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.rgb_frame()
        return None

    def close(self) -> None:
        pass

    # -- snapshots ----------------------------------------------------------------------------
    def snapshot(self) -> EnvSnapshot:
        """Capture the whole environment; :meth:`restore` puts it back bit-identically."""
        return EnvSnapshot(
            game=self.game,
            toybox_json=json.dumps(self.get_toybox_state()),
            frame_stack=self._stack.copy(),
            steps=self._steps,
            lives=self._lives,
            episode_return=self._return,
            needs_real_reset=self._needs_real_reset,
            np_random_state=self.np_random.bit_generator.state,
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
        if snapshot.game != self.game:
            raise SnapshotError(
                f"snapshot is of {snapshot.game!r} but this environment plays {self.game!r}; "
                f"restore it into cfsal.envs.make({snapshot.game!r})."
            )
        if snapshot.frame_stack.shape != self._stack.shape:
            raise SnapshotError(
                f"snapshot frame stack has shape {snapshot.frame_stack.shape}, this environment "
                f"uses {self._stack.shape}; make the environment with the same frame_stack and "
                f"screen_size as the one that took the snapshot."
            )
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
        self._stack[:] = snapshot.frame_stack
        self._steps = snapshot.steps
        self._lives = snapshot.lives
        self._return = snapshot.episode_return
        self._needs_real_reset = snapshot.needs_real_reset
        self.np_random.bit_generator.state = snapshot.np_random_state
        return self._stack.copy()

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

    # -- internals ----------------------------------------------------------------------------
    def _advance(self, ale_action: int) -> tuple[float, bool]:
        """Apply one ALE action for ``frame_skip`` frames; push the max of the last two frames."""
        tb = self.toybox
        score_before = tb.get_score()
        last: np.ndarray | None = None
        previous: np.ndarray | None = None
        game_over = False
        slots = self._frame_slots()
        for i in range(self.frame_skip):
            tb.apply_ale_action(ale_action)
            if i >= self.frame_skip - 2:
                previous, last = last, self._render_gray(slots, i % 2)
            if tb.game_over():
                game_over = True
                if last is None:
                    last = self._render_gray(slots, 0)
                break
        frame = last if previous is None else np.maximum(previous, last, out=slots[2])
        self._push(frame)
        return float(tb.get_score() - score_before), game_over

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

    def _render_gray(self, slots: tuple[np.ndarray, ...], index: int) -> np.ndarray:
        """Toybox's grayscale frame of the current state (``toybox.get_state()``) rendered into ``slots[index]``."""
        ffi, lib = self._native
        out = slots[index]
        lib.render_current_frame(ffi.cast("uint8_t *", out.ctypes.data), out.size, True,
                                 self.toybox.rsimulator.get_simulator(), self.toybox.rstate.get_state())
        return out

    def _push(self, gray: np.ndarray) -> None:
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = preprocess_frame(gray, self.screen_size)

    def _info(self, lives: int | None = None) -> dict[str, Any]:
        return {"lives": self.toybox.get_lives() if lives is None else lives, "score": self.toybox.get_score(),
                "steps": self._steps, "episode_return": self._return}
