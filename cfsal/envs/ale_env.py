"""Real Atari games (Arcade Learning Environment, ``ale-py``) with the observations of :class:`ToyboxEnv`.

An agent trained here sees exactly what a Toybox agent sees, so the same
:class:`~cfsal.agents.networks.NatureActorCritic`, checkpoint format and loaders serve both: the
observations of DeepMind's pipeline, which :class:`~cfsal.envs.framestack.FrameStackEnv` holds for
both. Here a frame is one frame of the raw emulator (ALE's own frame skip stays 1). Sticky actions
(Machado et al. 2018) are off by default (``repeat_action_probability=0.0``, the DeepMind protocol)
and configurable.

Seeding: ``reset(seed=s)`` seeds the no-op draws and, with sticky actions, reloads the cartridge with
an ALE seed derived from ``s`` (ALE reads its seed when a ROM loads; its RNG drives sticky actions),
as gymnasium's own ``AtariEnv`` does. Without sticky actions the emulator is deterministic, so an
episode depends only on the seed and the actions, and the cartridge is not reloaded: the emulator
goes back to its state just after loading (loading costs ~0.1 s of CPU; emulators of collected
environments are reused the same way).

Snapshots hold the emulator state *with its RNG* (``ALEInterface.cloneState(include_rng=True)``,
serialised to bytes), the frame stack and the counters; :meth:`AleEnv.restore` replays
bit-identically, in this environment or in another one made with the same settings.

The rollout engine and the interventions see the game as a JSON state dict (the protocol
:class:`ToyboxEnv` defines, hence the names :meth:`AleEnv.get_toybox_state` etc.):
``{"game", "ram": [128 bytes], "emulator": <base64 ALE state with RNG>, "modifications"}``.
Interventions edit ``ram``; writing the state restores the emulator and then writes the RAM bytes
that differ, so a state read and written back is the same state. ``modifications`` are HackAtari's
per-frame RAM rules switched on (name → their memory, :mod:`cfsal.envs.ale_modifications`), run before
every emulated frame as HackAtari runs them; :meth:`AleEnv.configure` makes them a whole-game variant.
"""

from __future__ import annotations

import base64
import json
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from cfsal.envs.ale_modifications import FRAME_MODIFICATIONS
from cfsal.envs.framestack import FIRE, NOOP, FrameStackEnv, pipeline_from_dict, pipeline_to_dict
from cfsal.envs.games import GameSpec, get_game
from cfsal.errors import GameStateError, SnapshotError

ALE_SNAPSHOT_SCHEMA_VERSION = 1

#: Emulators of collected environments, by (ROM, sticky-action probability), each with its state just
#: after loading: loading a cartridge costs ~0.085 s of CPU, and the rollout engine makes an environment
#: per episode and two per pair, so a new environment takes a spare one and puts it in that state.
#: Enough are kept for a batched run of 128 pairs (0.7 MB each): with 32, a 64-pair run loaded 96
#: cartridges every time, 83% of its time.
_SPARE: dict[tuple[str, float], list[tuple[Any, Any]]] = {}
_MAX_SPARE = 256


def _give_back(key: tuple[str, float], ale: Any, loaded: Any) -> None:
    spare = _SPARE.setdefault(key, [])
    if len(spare) < _MAX_SPARE:
        spare.append((ale, loaded))


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
    ram: bytes = field(default=b"", repr=False)
    modifications: dict[str, dict[str, int]] = field(default_factory=dict)
    config: dict[str, Any] | None = None

    #: A restore is always exact (the emulator's own state); the engine asks for ``native`` clones.
    native: ClassVar[None] = None

    @property
    def toybox_json(self) -> str:
        """The state dict of this moment as JSON text (what :meth:`AleEnv.toybox_state_text` gives)."""
        return _state_text(self.game, self.ram, self.ale_state, self.modifications)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": ALE_SNAPSHOT_SCHEMA_VERSION,
            "backend": "ale",
            "game": self.game,
            "ale_state": base64.b64encode(self.ale_state).decode("ascii"),
            **pipeline_to_dict(self),
            "repeat_action_probability": self.repeat_action_probability,
            "ram": list(self.ram),
            "modifications": self.modifications,
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AleSnapshot:
        version = data.get("schema_version")
        if version != ALE_SNAPSHOT_SCHEMA_VERSION or data.get("backend") != "ale":
            raise SnapshotError(
                f"not an ALE snapshot of schema version {ALE_SNAPSHOT_SCHEMA_VERSION} (got backend "
                f"{data.get('backend')!r}, version {version!r}); re-record it with this cfsal version."
            )
        return cls(
            game=data["game"],
            ale_state=base64.b64decode(data["ale_state"]),
            **pipeline_from_dict(data),
            repeat_action_probability=float(data["repeat_action_probability"]),
            ram=bytes(data.get("ram", [])),
            modifications={k: dict(v) for k, v in data.get("modifications", {}).items()},
            config=data.get("config"),
        )


class AleEnv(FrameStackEnv):
    """One ALE game as a gymnasium environment, preprocessed as DeepMind's agents saw it.

    Observations are ``uint8`` arrays of shape ``(frame_stack, screen_size, screen_size)``,
    newest frame last; actions index :attr:`GameSpec.action_set` (ALE's minimal action set).
    ``info`` carries ``lives``, ``score`` (the unclipped return of the game so far), ``steps``,
    ``episode_return``, and after a step ``life_lost`` and ``game_over``, as :class:`ToyboxEnv`.
    """

    def __init__(self, game: str | GameSpec = "ale_pong", *, repeat_action_probability: float = 0.0,
                 **pipeline: Any) -> None:
        """``repeat_action_probability``: sticky actions (0: off); ``pipeline``: the settings of
        :class:`~cfsal.envs.framestack.FrameStackEnv` (``noop_max``, …)."""
        # ale_py loads the emulator's native library (~0.15 s): imported where an ALE game is made or
        # driven, as ctoybox is for Toybox, so `cfsal interventions list` loads neither
        # (tests/test_interventions.py)
        import ale_py
        from ale_py import roms

        spec = get_game(game)
        if spec.backend != "ale" or not spec.rom:
            raise ValueError(f"{spec.name!r} is not an ALE game (backend {spec.backend!r}); "
                             "use cfsal.envs.make, which picks the right environment")
        if not 0.0 <= repeat_action_probability < 1.0:
            raise ValueError(f"repeat_action_probability must be in [0, 1), got {repeat_action_probability!r}")
        super().__init__(spec, **pipeline)
        self.repeat_action_probability = float(repeat_action_probability)

        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._rom_path = str(roms.get_rom_path(spec.rom))
        key = (self._rom_path, self.repeat_action_probability)
        if _SPARE.get(key):
            self.ale, self._loaded = _SPARE[key].pop()
            self.ale.restoreState(self._loaded)
        else:
            self.ale = ale_py.ALEInterface()
            self.ale.setFloat("repeat_action_probability", self.repeat_action_probability)
            self.ale.setInt("frame_skip", 1)
            self._load(0)
            self._loaded = self.ale.cloneState(include_rng=True)
        weakref.finalize(self, _give_back, key, self.ale, self._loaded)
        minimal = tuple(int(a.value) for a in self.ale.getMinimalActionSet())
        if minimal != spec.action_set:
            raise ValueError(f"{spec.name}: the table's action set {list(spec.action_set)} is not ALE's minimal "
                             f"set {list(minimal)} for ROM {spec.rom!r}; fix its entry in cfsal.envs.games.ALE_GAMES")
        self._raw_actions = tuple(ale_py.Action(a) for a in spec.action_set)
        self._noop, self._fire = ale_py.Action(NOOP), ale_py.Action(FIRE)
        height, width = self.ale.getScreenDims()
        self._slots = tuple(np.zeros((height, width), np.uint8) for _ in range(3))
        self._lives = self.ale.lives()
        self._config: dict[str, Any] | None = None
        self._modifications: dict[str, dict[str, int]] = {}
        self._picture: tuple[bytes, bytes] | None = None  # (RAM refreshed, RAM its picture goes with)

    # -- the raw game --------------------------------------------------------------------------
    @property
    def lives(self) -> int:
        return self.ale.lives()

    @property
    def score(self) -> float:
        """The game's unclipped score so far (ALE has no score register: the sum of its rewards)."""
        return self._return

    def rgb_frame(self) -> np.ndarray:
        """The current full-resolution RGB screen (210×160×3, uint8)."""
        return self.ale.getScreenRGB()

    # -- the state protocol of the rollout engine and the interventions ---------------------------
    def get_toybox_state(self) -> dict[str, Any]:
        """The game as a JSON state dict (see the module docstring); a fresh copy, edit it freely."""
        return json.loads(self.toybox_state_text())

    def toybox_state_text(self) -> str:
        """:meth:`get_toybox_state` as JSON text: equal texts are equal states."""
        return _state_text(self.game, self.ale.getRAM().tobytes(), self.ale.cloneState(include_rng=True).serialize(),
                           self._modifications)

    def set_toybox_state_text(self, text: str) -> None:
        """:meth:`set_toybox_state` of ``json.loads(text)``."""
        self.set_toybox_state(json.loads(text), check=True)

    def set_toybox_state(self, state: dict[str, Any], *, check: bool = True) -> None:
        """Write a state dict: restore its emulator state, then write the RAM bytes that differ.

        The observation stack is not re-rendered (:meth:`refresh_observation` does that). The state
        is always checked (game, 128 RAM bytes 0..255, known modifications): ``check`` is accepted
        for the engine's sake, and a bad state raises :class:`~cfsal.errors.GameStateError`.
        """
        import ale_py  # the native library, loaded on first use (see __init__)

        ram, emulator, modifications = _checked_state(self.game, state)
        self.ale.restoreState(ale_py.ALEState(emulator))
        current = self.ale.getRAM()
        for address in np.flatnonzero(current != ram).tolist():
            self.ale.setRAM(address, int(ram[address]))
        self._modifications = modifications

    def refresh_observation(self) -> np.ndarray:
        """Re-render the newest stacked frame from the current state, without advancing time.

        The Atari draws its screen while it runs a frame, so the picture of an edited RAM is the
        next frame's: emulate one NOOP frame (with the modifications switched on), keep its screen,
        and put the emulator and the modifications back where they were. :meth:`rgb_frame` then
        shows that picture too.
        """
        saved, memory = self.ale.cloneState(include_rng=True), {k: dict(v) for k, v in self._modifications.items()}
        before = self.ale.getRAM().tobytes()
        self._run_modifications()
        self.ale.act(self._noop)
        self.ale.getScreenGrayscale(self._slots[2])
        self._picture = (before, self.ale.getRAM().tobytes())
        self.ale.restoreState(saved)
        self._modifications = memory
        return self._show(self._slots[2])

    def picture_state_text(self) -> str | None:
        """After :meth:`refresh_observation`, the state its picture goes with: this state with the RAM
        of the emulated frame that drew it (objects read from the current RAM lag the picture by that
        frame's motion, 1–3 pixels); None once the state has changed (a step, a restore, a write)
        or without a refresh. Read objects and displayed values from it; its emulator part is the
        current state's (restoring that alone restores this state, not the picture's)."""
        if self._picture is None or self._picture[0] != self.ale.getRAM().tobytes():
            return None
        return _state_text(self.game, self._picture[1], self.ale.cloneState(include_rng=True).serialize(),
                           self._modifications)

    def configure(self, config: dict[str, Any] | None) -> None:
        """Make this a variant of the game: ``{"modifications": ["lazy_enemy"]}`` switches HackAtari's
        modifications on from every reset on; ``None`` restores the original game.

        As for :meth:`ToyboxEnv.configure`, call :meth:`reset` afterwards; snapshots carry the config.
        """
        names = _checked_modifications(self.game, [] if config is None else (config or {}).get("modifications", []))
        self._config = None if config is None else {"modifications": names}
        self._needs_real_reset = True

    @property
    def config(self) -> dict[str, Any]:
        """The variant in force (``{"modifications": [...]}``); no modifications for the original game."""
        return {"modifications": []} if self._config is None else {"modifications": list(self._config["modifications"])}

    # -- snapshots ----------------------------------------------------------------------------
    def snapshot(self) -> AleSnapshot:
        """Capture the whole environment; :meth:`restore` puts it back bit-identically."""
        return AleSnapshot(
            game=self.game,
            ale_state=self.ale.cloneState(include_rng=True).serialize(),
            **self._pipeline_state(),
            repeat_action_probability=self.repeat_action_probability,
            ram=self.ale.getRAM().tobytes(),
            modifications={k: dict(v) for k, v in self._modifications.items()},
            config=None if self._config is None else dict(self._config),
        )

    def restore(self, snapshot: AleSnapshot, *, exact: bool = True) -> np.ndarray:
        """Put the environment back to ``snapshot``; returns the observation at that point.

        Always exact (``exact`` is accepted for the engine, which asks Toybox for a JSON restore).
        """
        import ale_py  # the native library, loaded on first use (see __init__)

        if not isinstance(snapshot, AleSnapshot):
            raise SnapshotError(f"{type(snapshot).__name__} is not an ALE snapshot; restore it into the "
                                "environment kind that took it")
        self._check_snapshot(snapshot)
        if snapshot.repeat_action_probability != self.repeat_action_probability:
            raise SnapshotError(
                f"snapshot was taken with repeat_action_probability {snapshot.repeat_action_probability}, this "
                f"environment uses {self.repeat_action_probability}; make it with the snapshot's setting.")
        self.ale.restoreState(ale_py.ALEState(snapshot.ale_state))
        self._config = None if snapshot.config is None else dict(snapshot.config)
        self._modifications = {k: dict(v) for k, v in snapshot.modifications.items()}
        return self._restore_pipeline(snapshot)

    # -- the pipeline's hooks: one frame of the raw emulator at a time ----------------------------
    def _load(self, ale_seed: int) -> None:
        """(Re)load the cartridge with ``ale_seed``: ALE reads its seed when a ROM loads."""
        self.ale.setInt("random_seed", ale_seed)
        self.ale.loadROM(self._rom_path)

    def _new_game(self, seed: int | None) -> None:
        if seed is not None:
            ale_seed = int(self.np_random.integers(0, 2**31 - 1))
            if self.repeat_action_probability:
                self._load(ale_seed)
            else:  # without sticky actions ALE draws nothing random: the freshly loaded cartridge
                self.ale.restoreState(self._loaded)
        self.ale.reset_game()
        self._modifications = {name: dict(FRAME_MODIFICATIONS[self.game][name].memory)
                               for name in self.config["modifications"]}

    def _noop_frame(self) -> None:
        self.ale.act(self._noop)
        if self.ale.game_over(with_truncation=False):
            self.ale.reset_game()

    def _advance(self, action) -> tuple[float, bool]:
        outcome = super()._advance(action)
        self._run_modifications()  # HackAtari runs them once more after an agent step's last frame
        return outcome

    def _emulate(self, action) -> float:
        self._run_modifications()
        return self.ale.act(action)

    def _game_over(self) -> bool:
        return self.ale.game_over(with_truncation=False)

    def _grab(self, out: np.ndarray) -> np.ndarray:
        self.ale.getScreenGrayscale(out)
        return out

    def _frame_slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._slots

    def _run_modifications(self) -> None:
        """Run the switched-on modifications once (HackAtari's step modifications: read RAM, write RAM)."""
        if not self._modifications:
            return
        table = FRAME_MODIFICATIONS[self.game]
        for name, memory in self._modifications.items():
            writes, self._modifications[name] = table[name].rule(self.ale.getRAM(), memory)
            for address, value in writes.items():
                self.ale.setRAM(address, value)


def _state_text(game: str, ram: bytes, emulator: bytes, modifications: dict[str, dict[str, int]]) -> str:
    return json.dumps({"game": game, "ram": list(ram), "emulator": base64.b64encode(emulator).decode("ascii"),
                       "modifications": modifications})


def _checked_modifications(game: str, names: Any) -> list[str]:
    known = FRAME_MODIFICATIONS.get(game, {})
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise GameStateError(f"{game}: modifications must be a list of names, got {names!r}")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise GameStateError(f"{game} has no modification {', '.join(map(repr, unknown))}; "
                             f"it has {', '.join(map(repr, sorted(known))) or 'none'} (HackAtari's names).")
    return sorted(set(names))


def _checked_state(game: str, state: Any) -> tuple[np.ndarray, bytes, dict[str, dict[str, int]]]:
    """The RAM, emulator bytes and modifications of a state dict, or a GameStateError that says what is wrong."""
    if not isinstance(state, dict) or state.get("game") != game:
        found = state.get("game") if isinstance(state, dict) else type(state).__name__
        raise GameStateError(f"not a {game} state (got {found!r}); read one with env.get_toybox_state() "
                             f"of cfsal.envs.make({game!r})")
    ram = state.get("ram")
    if (not isinstance(ram, list) or len(ram) != 128
            or not all(type(b) is int and 0 <= b <= 255 for b in ram)):
        raise GameStateError(f"{game}: state['ram'] must be a list of 128 integers 0..255 (the Atari's RAM)")
    try:
        emulator = base64.b64decode(state["emulator"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise GameStateError(f"{game}: state['emulator'] must be the base64 ALE state the environment wrote") from None
    modifications = state.get("modifications", {})
    if not isinstance(modifications, dict):
        raise GameStateError(f"{game}: state['modifications'] must map names to their memory, got {modifications!r}")
    _checked_modifications(game, list(modifications))
    return np.array(ram, dtype=np.uint8), emulator, {k: dict(v) for k, v in modifications.items()}
