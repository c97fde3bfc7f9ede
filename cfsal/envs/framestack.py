"""DeepMind's observation pipeline (Mnih et al. 2015; OpenAI baselines' ``wrap_deepmind``), built into one environment.

The seed paper's agents and DeepMind's saw the same thing, whatever emulated the game: each action
repeated for ``frame_skip`` frames, the pixel-wise max of the last two grayscale screens,
area-resized to 84×84 and pushed onto a stack of the last 4 (channel-first, newest last);
episodes start with 1..``noop_max`` single-frame no-ops (below the frame skip, as baselines'
``NoopResetEnv``) and FIRE where the game asks for it; ``episodic_life`` and ``clip_rewards`` are
for training only. :class:`FrameStackEnv` does all that once, over a game backend that emulates
one frame at a time (:class:`~cfsal.envs.toybox_env.ToyboxEnv`, :class:`~cfsal.envs.ale_env.AleEnv`).

It is one environment, not a wrapper stack, because a counterfactual rollout must snapshot and
restore the *whole* environment (game, frame stack, counters, no-op RNG) and replay
bit-identically: each wrapper would hide part of that state.
"""

from __future__ import annotations

import base64
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from cfsal.envs.games import GameSpec
from cfsal.errors import SnapshotError

#: The ALE actions the pipeline itself takes: no-ops at reset, FIRE to serve.
NOOP, FIRE = 0, 1


def preprocess_frame(gray: np.ndarray, screen_size: int = 84) -> np.ndarray:
    """Area-resize one grayscale frame (H×W or H×W×1, uint8) to ``screen_size``².

    PIL's BOX filter averages the covered source area, like cv2's INTER_AREA that baselines used.
    """
    if gray.ndim == 3:
        gray = gray[..., 0]
    image = Image.fromarray(np.ascontiguousarray(gray), mode="L")
    return np.asarray(image.resize((screen_size, screen_size), Image.Resampling.BOX), dtype=np.uint8)


def pipeline_to_dict(snapshot: Any) -> dict[str, Any]:
    """The pipeline's part of a snapshot's ``to_dict``: the frame stack and the counters, as JSON."""
    return {
        "frame_stack": base64.b64encode(snapshot.frame_stack.tobytes()).decode("ascii"),
        "frame_stack_shape": list(snapshot.frame_stack.shape),
        "steps": snapshot.steps,
        "lives": snapshot.lives,
        "episode_return": snapshot.episode_return,
        "needs_real_reset": snapshot.needs_real_reset,
        "np_random_state": snapshot.np_random_state,
    }


def pipeline_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's snapshot fields read back from :func:`pipeline_to_dict`'s keys."""
    stack = np.frombuffer(base64.b64decode(data["frame_stack"]), dtype=np.uint8)
    return {
        "frame_stack": stack.reshape(data["frame_stack_shape"]).copy(),
        "steps": int(data["steps"]),
        "lives": int(data["lives"]),
        "episode_return": float(data["episode_return"]),
        "needs_real_reset": bool(data["needs_real_reset"]),
        "np_random_state": data["np_random_state"],
    }


class FrameStackEnv(gym.Env):
    """A game as a gymnasium environment with DeepMind's pipeline; a backend supplies the frames.

    A backend sets ``_raw_actions`` (its action per action index), ``_noop`` and ``_fire``, and
    ``_lives`` once its game exists, and implements ``lives``, ``score``, ``rgb_frame`` and the
    frame-level hooks ``_new_game``, ``_noop_frame``, ``_emulate``, ``_grab``, ``_game_over`` and
    ``_frame_slots``.

    Observations are ``uint8`` arrays of shape ``(frame_stack, screen_size, screen_size)``, newest
    frame last. ``info`` carries ``lives``, ``score``, ``steps``, ``episode_return``, and after a
    step ``life_lost`` and ``game_over``.

    The pipeline's settings, the same keywords for every backend's constructor:

    - ``noop_max``: an episode starts with 1..noop_max single-frame no-ops (0: none);
    - ``frame_skip``: emulated frames per agent step (the action repeated);
    - ``frame_stack``: frames per observation;
    - ``screen_size``: the side of a resized frame, in pixels;
    - ``episodic_life``: a lost life ends the episode but not the game (training only);
    - ``clip_rewards``: rewards clipped to their sign (training only);
    - ``fire_on_reset``: FIRE after every reset (None: as the game's ``GameSpec`` says);
    - ``max_episode_steps``: agent steps before an episode is truncated (None: never);
    - ``render_mode``: None or ``"rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, spec: GameSpec, *, noop_max: int = 30, frame_skip: int = 4, frame_stack: int = 4,
                 screen_size: int = 84, episodic_life: bool = False, clip_rewards: bool = False,
                 fire_on_reset: bool | None = None, max_episode_steps: int | None = 27_000,
                 render_mode: str | None = None) -> None:
        for name, value, low in (("noop_max", noop_max, 0), ("frame_skip", frame_skip, 1),
                                 ("frame_stack", frame_stack, 1), ("screen_size", screen_size, 8)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.spec_game: GameSpec = spec
        self.noop_max = noop_max
        self.frame_skip = frame_skip
        self.screen_size = screen_size
        self.episodic_life = episodic_life
        self.clip_rewards = clip_rewards
        self.fire_on_reset = spec.fire_on_reset if fire_on_reset is None else fire_on_reset
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, shape=(frame_stack, screen_size, screen_size), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(spec.n_actions)
        self._stack = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._steps = 0
        self._return = 0.0
        self._needs_real_reset = True

    @property
    def game(self) -> str:
        return self.spec_game.name

    def picture_state_text(self) -> str | None:
        """The state the newest frame was drawn from, as state text, where that is not the current state;
        None where it is (every backend after a step; Toybox always, since it renders its own state).
        Read objects and displayed values of the newest frame from it."""
        return None

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
            self._advance(self._noop)
        else:
            self._new_game(seed)
            self._stack[:] = 0
            self._steps = 0
            self._return = 0.0
            for _ in range(int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0):
                self._noop_frame()
            self._push(self._grab(self._frame_slots()[0]))
            self._needs_real_reset = False
        if self.fire_on_reset:
            self._advance(self._fire)
        self._lives = self.lives
        return self._stack.copy(), self._info()

    def step(self, action):
        # The plain-int check first: gymnasium's ``contains`` costs a few µs a step in rollouts.
        if not (type(action) is int and 0 <= action < self.action_space.n) and not self.action_space.contains(action):
            raise ValueError(
                f"action {action!r} is not valid for {self.game}: use an integer in "
                f"[0, {self.action_space.n}) indexing {self.spec_game.action_meanings}"
            )
        reward, game_over = self._advance(self._raw_actions[int(action)])
        self._steps += 1
        self._return += reward
        lives = self.lives
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

    # -- the pipeline's part of a snapshot ------------------------------------------------------
    def _pipeline_state(self) -> dict[str, Any]:
        """The snapshot fields the pipeline owns (the backend adds its game's state)."""
        return {"frame_stack": self._stack.copy(), "steps": self._steps, "lives": self._lives,
                "episode_return": self._return, "needs_real_reset": self._needs_real_reset,
                "np_random_state": self.np_random.bit_generator.state}

    def _check_snapshot(self, snapshot: Any) -> None:
        """A :class:`~cfsal.errors.SnapshotError` unless ``snapshot`` is of this game and frame stack."""
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

    def _restore_pipeline(self, snapshot: Any) -> np.ndarray:
        """Put the frame stack, the counters and the no-op RNG back; returns the observation."""
        self._stack[:] = snapshot.frame_stack
        self._steps = snapshot.steps
        self._lives = snapshot.lives
        self._return = snapshot.episode_return
        self._needs_real_reset = snapshot.needs_real_reset
        self.np_random.bit_generator.state = snapshot.np_random_state
        return self._stack.copy()

    # -- internals ----------------------------------------------------------------------------
    def _advance(self, action: Any) -> tuple[float, bool]:
        """Repeat ``action`` for ``frame_skip`` frames; push the max of the last two screens
        (baselines' ``MaxAndSkipEnv``). Returns the summed reward of the frames and whether the game ended."""
        slots = self._frame_slots()
        reward = 0.0
        last: np.ndarray | None = None
        previous: np.ndarray | None = None
        game_over = False
        for i in range(self.frame_skip):
            reward += self._emulate(action)
            if i >= self.frame_skip - 2:
                previous, last = last, self._grab(slots[i % 2])
            if self._game_over():
                game_over = True
                if last is None:
                    last = self._grab(slots[0])
                break
        frame = last if previous is None else np.maximum(previous, last, out=slots[2])
        self._push(frame)
        return float(reward), game_over

    def _show(self, gray: np.ndarray) -> np.ndarray:
        """Make ``gray`` the newest stacked frame without advancing time (after a state edit); the observation."""
        self._stack[-1] = preprocess_frame(gray, self.screen_size)
        return self._stack.copy()

    def _push(self, gray: np.ndarray) -> None:
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = preprocess_frame(gray, self.screen_size)

    def _info(self, lives: int | None = None) -> dict[str, Any]:
        return {"lives": self.lives if lives is None else lives, "score": self.score,
                "steps": self._steps, "episode_return": self._return}
