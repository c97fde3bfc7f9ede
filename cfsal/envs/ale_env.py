"""Real Atari games (Arcade Learning Environment, ``ale-py``) with the observations of :class:`ToyboxEnv`.

An agent trained here sees exactly what a Toybox agent sees, so the same
:class:`~cfsal.agents.networks.NatureActorCritic`, checkpoint format and loaders serve both: ``uint8``
observations of shape ``(4, 84, 84)``, channel-first, newest frame last, each frame the pixel-wise
max of the last two grayscale screens of a ``frame_skip``-frame action repeat, area-resized to
84×84 (:func:`cfsal.envs.toybox_env.preprocess_frame`).

The protocol is DeepMind's (Mnih et al. 2015, OpenAI baselines' ``wrap_deepmind``) built into one
environment rather than a wrapper stack, for the reason :mod:`cfsal.envs.toybox_env` gives: a
counterfactual rollout must snapshot and restore the *whole* environment. Per agent step the action
is repeated ``frame_skip`` times on the raw emulator (ALE's own frame skip stays 1); episodes start
with 1..``noop_max`` single-frame no-ops (below the frame skip, as baselines' ``NoopResetEnv``) and
FIRE where the game's :class:`~cfsal.envs.games.GameSpec` asks for it; ``episodic_life`` and
``clip_rewards`` are for training only. Sticky actions (Machado et al. 2018) are off by default
(``repeat_action_probability=0.0``, the DeepMind protocol) and configurable.

Seeding: ``reset(seed=s)`` seeds the no-op draws and reloads the cartridge with an ALE seed derived
from ``s`` (ALE reads its seed when a ROM loads; its RNG drives sticky actions), as gymnasium's own
``AtariEnv`` does. Without sticky actions the emulator is deterministic, so an episode depends only
on the seed and the actions.

Snapshots hold the emulator state *with its RNG* (``ALEInterface.cloneState(include_rng=True)``,
serialised to bytes), the frame stack and the counters; :meth:`AleEnv.restore` replays
bit-identically, in this environment or in another one made with the same settings.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from cfsal.envs.games import GameSpec, get_game
from cfsal.envs.toybox_env import preprocess_frame
from cfsal.errors import SnapshotError

ALE_SNAPSHOT_SCHEMA_VERSION = 1
_NOOP, _FIRE = 0, 1


@dataclass(frozen=True)
class AleSnapshot:
    """Everything needed to put an :class:`AleEnv` back exactly where it was.

    ``ale_state`` is ``ALEState.serialize()`` of a clone taken with the emulator's RNG, so it
    pickles and crosses processes as it is; :meth:`to_dict` is plain JSON.
    """

    game: str
    ale_state: bytes = field(repr=False)
    frame_stack: np.ndarray = field(repr=False)
    steps: int
    lives: int
    episode_return: float
    needs_real_reset: bool
    np_random_state: dict[str, Any] = field(repr=False)
    repeat_action_probability: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": ALE_SNAPSHOT_SCHEMA_VERSION,
            "backend": "ale",
            "game": self.game,
            "ale_state": base64.b64encode(self.ale_state).decode("ascii"),
            "frame_stack": base64.b64encode(self.frame_stack.tobytes()).decode("ascii"),
            "frame_stack_shape": list(self.frame_stack.shape),
            "steps": self.steps,
            "lives": self.lives,
            "episode_return": self.episode_return,
            "needs_real_reset": self.needs_real_reset,
            "np_random_state": self.np_random_state,
            "repeat_action_probability": self.repeat_action_probability,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AleSnapshot:
        version = data.get("schema_version")
        if version != ALE_SNAPSHOT_SCHEMA_VERSION or data.get("backend") != "ale":
            raise SnapshotError(
                f"not an ALE snapshot of schema version {ALE_SNAPSHOT_SCHEMA_VERSION} (got backend "
                f"{data.get('backend')!r}, version {version!r}); re-record it with this cfsal version."
            )
        stack = np.frombuffer(base64.b64decode(data["frame_stack"]), dtype=np.uint8)
        return cls(
            game=data["game"],
            ale_state=base64.b64decode(data["ale_state"]),
            frame_stack=stack.reshape(data["frame_stack_shape"]).copy(),
            steps=int(data["steps"]),
            lives=int(data["lives"]),
            episode_return=float(data["episode_return"]),
            needs_real_reset=bool(data["needs_real_reset"]),
            np_random_state=data["np_random_state"],
            repeat_action_probability=float(data["repeat_action_probability"]),
        )


class AleEnv(gym.Env):
    """One ALE game as a gymnasium environment, preprocessed as DeepMind's agents saw it.

    Observations are ``uint8`` arrays of shape ``(frame_stack, screen_size, screen_size)``,
    newest frame last; actions index :attr:`GameSpec.action_set` (ALE's minimal action set).
    ``info`` carries ``lives``, ``score`` (the unclipped return of the game so far), ``steps``,
    ``episode_return``, and after a step ``life_lost`` and ``game_over``, as :class:`ToyboxEnv`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        game: str | GameSpec = "ale_pong",
        *,
        noop_max: int = 30,
        frame_skip: int = 4,
        frame_stack: int = 4,
        screen_size: int = 84,
        episodic_life: bool = False,
        clip_rewards: bool = False,
        fire_on_reset: bool | None = None,
        repeat_action_probability: float = 0.0,
        max_episode_steps: int | None = 27_000,
        render_mode: str | None = None,
    ) -> None:
        import ale_py
        from ale_py import roms

        spec = get_game(game)
        if spec.backend != "ale" or not spec.rom:
            raise ValueError(f"{spec.name!r} is not an ALE game (backend {spec.backend!r}); "
                             "use cfsal.envs.make, which picks the right environment")
        for name, value, low in (("noop_max", noop_max, 0), ("frame_skip", frame_skip, 1),
                                 ("frame_stack", frame_stack, 1), ("screen_size", screen_size, 8)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if not 0.0 <= repeat_action_probability < 1.0:
            raise ValueError(f"repeat_action_probability must be in [0, 1), got {repeat_action_probability!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.spec_game: GameSpec = spec
        self.noop_max = noop_max
        self.frame_skip = frame_skip
        self.screen_size = screen_size
        self.episodic_life = episodic_life
        self.clip_rewards = clip_rewards
        self.fire_on_reset = spec.fire_on_reset if fire_on_reset is None else fire_on_reset
        self.repeat_action_probability = float(repeat_action_probability)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode

        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale = ale_py.ALEInterface()
        self.ale.setFloat("repeat_action_probability", self.repeat_action_probability)
        self.ale.setInt("frame_skip", 1)
        self._rom_path = str(roms.get_rom_path(spec.rom))
        self._load(0)
        minimal = tuple(int(a.value) for a in self.ale.getMinimalActionSet())
        if minimal != spec.action_set:
            raise ValueError(f"{spec.name}: the table's action set {list(spec.action_set)} is not ALE's minimal "
                             f"set {list(minimal)} for ROM {spec.rom!r}; fix its entry in cfsal.envs.games.ALE_GAMES")
        self._ale_actions = tuple(ale_py.Action(a) for a in spec.action_set)
        self._noop, self._fire = ale_py.Action(_NOOP), ale_py.Action(_FIRE)

        self.observation_space = gym.spaces.Box(0, 255, shape=(frame_stack, screen_size, screen_size), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(spec.n_actions)
        height, width = self.ale.getScreenDims()
        self._slots = tuple(np.zeros((height, width), np.uint8) for _ in range(3))
        self._stack = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._steps = 0
        self._lives = self.ale.lives()
        self._return = 0.0
        self._needs_real_reset = True

    # -- the raw game --------------------------------------------------------------------------
    @property
    def game(self) -> str:
        return self.spec_game.name

    @property
    def lives(self) -> int:
        return self.ale.lives()

    @property
    def score(self) -> float:
        """The game's unclipped score so far (ALE has no score register: the sum of its rewards)."""
        return self._return

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def observation(self) -> np.ndarray:
        return self._stack.copy()

    def rgb_frame(self) -> np.ndarray:
        """The current full-resolution RGB screen (210×160×3, uint8)."""
        return self.ale.getScreenRGB()

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.episodic_life and not self._needs_real_reset and seed is None:
            # baselines' EpisodicLifeEnv: a lost life ends the training episode but not the game.
            self._advance(self._noop)
        else:
            if seed is not None:
                self._load(int(self.np_random.integers(0, 2**31 - 1)))
            self.ale.reset_game()
            self._stack[:] = 0
            self._steps = 0
            self._return = 0.0
            for _ in range(int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0):
                self.ale.act(self._noop)
                if self.ale.game_over(with_truncation=False):
                    self.ale.reset_game()
            self.ale.getScreenGrayscale(self._slots[0])
            self._push(self._slots[0])
            self._needs_real_reset = False
        if self.fire_on_reset:
            self._advance(self._fire)
        self._lives = self.ale.lives()
        return self._stack.copy(), self._info()

    def step(self, action):
        if not (type(action) is int and 0 <= action < self.action_space.n) and not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not valid for {self.game}: use an integer in "
                f"[0, {self.action_space.n}) indexing {self.spec_game.action_meanings}"
            )
        reward, game_over = self._advance(self._ale_actions[int(action)])
        self._steps += 1
        self._return += reward
        lives = self.ale.lives()
        life_lost = lives < self._lives
        self._lives = lives
        terminated = game_over or (self.episodic_life and life_lost)
        if game_over:
            self._needs_real_reset = True
        truncated = not terminated and self.max_episode_steps is not None and self._steps >= self.max_episode_steps
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
    def snapshot(self) -> AleSnapshot:
        """Capture the whole environment; :meth:`restore` puts it back bit-identically."""
        return AleSnapshot(
            game=self.game,
            ale_state=self.ale.cloneState(include_rng=True).serialize(),
            frame_stack=self._stack.copy(),
            steps=self._steps,
            lives=self._lives,
            episode_return=self._return,
            needs_real_reset=self._needs_real_reset,
            np_random_state=self.np_random.bit_generator.state,
            repeat_action_probability=self.repeat_action_probability,
        )

    def restore(self, snapshot: AleSnapshot) -> np.ndarray:
        """Put the environment back to ``snapshot``; returns the observation at that point."""
        import ale_py

        if not isinstance(snapshot, AleSnapshot):
            raise SnapshotError(f"{type(snapshot).__name__} is not an ALE snapshot; restore it into the "
                                "environment kind that took it")
        if snapshot.game != self.game:
            raise SnapshotError(f"snapshot is of {snapshot.game!r} but this environment plays {self.game!r}; "
                                f"restore it into cfsal.envs.make({snapshot.game!r}).")
        if snapshot.frame_stack.shape != self._stack.shape:
            raise SnapshotError(
                f"snapshot frame stack has shape {snapshot.frame_stack.shape}, this environment uses "
                f"{self._stack.shape}; make the environment with the same frame_stack and screen_size.")
        if snapshot.repeat_action_probability != self.repeat_action_probability:
            raise SnapshotError(
                f"snapshot was taken with repeat_action_probability {snapshot.repeat_action_probability}, this "
                f"environment uses {self.repeat_action_probability}; make it with the snapshot's setting.")
        self.ale.restoreState(ale_py.ALEState(snapshot.ale_state))
        self._stack[:] = snapshot.frame_stack
        self._steps = snapshot.steps
        self._lives = snapshot.lives
        self._return = snapshot.episode_return
        self._needs_real_reset = snapshot.needs_real_reset
        self.np_random.bit_generator.state = snapshot.np_random_state
        return self._stack.copy()

    # -- internals ----------------------------------------------------------------------------
    def _load(self, ale_seed: int) -> None:
        """(Re)load the cartridge with ``ale_seed``: ALE reads its seed when a ROM loads."""
        self.ale.setInt("random_seed", ale_seed)
        self.ale.loadROM(self._rom_path)

    def _advance(self, action) -> tuple[float, bool]:
        """Repeat ``action`` for ``frame_skip`` frames; push the max of the last two screens."""
        ale, slots = self.ale, self._slots
        reward = 0.0
        last: np.ndarray | None = None
        previous: np.ndarray | None = None
        game_over = False
        for i in range(self.frame_skip):
            reward += ale.act(action)
            if i >= self.frame_skip - 2:
                previous, last = last, slots[i % 2]
                ale.getScreenGrayscale(last)
            if ale.game_over(with_truncation=False):
                game_over = True
                if last is None:
                    last = slots[0]
                    ale.getScreenGrayscale(last)
                break
        frame = last if previous is None else np.maximum(previous, last, out=slots[2])
        self._push(frame)
        return float(reward), game_over

    def _push(self, gray: np.ndarray) -> None:
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = preprocess_frame(gray, self.screen_size)

    def _info(self, lives: int | None = None) -> dict[str, Any]:
        return {"lives": self.ale.lives() if lives is None else lives, "score": self._return,
                "steps": self._steps, "episode_return": self._return}
