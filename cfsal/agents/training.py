"""Train an A2C agent on a cfsal environment (Toybox or ALE), resumably, with stable-baselines3.

SB3 is used rather than a hand-written A2C because it is a maintained, tested implementation
whose ``CnnPolicy`` is exactly the paper's Nature-CNN actor-critic. The hyperparameters are those
of OpenAI baselines' ``a2c`` that the paper ran (16 envs × 5 steps, RMSprop lr 7e-4 decayed
linearly to 0, α 0.99, ε 1e-5 with TF semantics, entropy 0.01, value 0.5, grad-norm 0.5,
γ 0.99), on the DeepMind pipeline with episodic life and clipped rewards.

Training state lives next to the output checkpoint in ``<out>.train/``: the SB3 model zip
(weights + optimizer, for resuming), ``curve.csv`` (the learning curve in real game scores), and
``run.json`` (settings, accumulated wall time). Running the same command again resumes towards
the same total step budget, so the learning-rate schedule is the one a single run would have had.

A checkpoint is written every ``checkpoint_every`` agent steps or ``checkpoint_minutes`` of wall
time, whichever comes first, and survives the process being killed at any moment: every file is
replaced atomically (written beside, then renamed), the zip and the weights before ``run.json``
(so ``run.json`` never claims more than is on disk), and a curve line cut short by a kill is
dropped on the next start.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv
from tqdm import tqdm

from cfsal.agents.base import AgentSpec
from cfsal.agents.checkpoint import load_checkpoint, save_checkpoint, training_dir
from cfsal.agents.networks import NatureActorCritic, sb3_key_map
from cfsal.envs import get_game, make
from cfsal.errors import TrainingError


@dataclass(frozen=True)
class A2CSettings:
    """OpenAI baselines' A2C defaults, as the paper used them."""

    n_envs: int = 16
    n_steps: int = 5
    learning_rate: float = 7e-4
    gamma: float = 0.99
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    rms_alpha: float = 0.99
    rms_eps: float = 1e-5


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    steps: int
    wall_seconds: float
    recent_mean_score: float | None


def _make_vec_env(game: str, n_envs: int, seed: int):
    def factory():
        return make(game, episodic_life=True, clip_rewards=True)

    venv = DummyVecEnv([factory] * n_envs)
    venv.seed(seed)
    return venv


def export_sb3_policy(model, game: str, name: str, out: Path, provenance: dict[str, Any]) -> Path:
    """Copy an SB3 ``CnnPolicy``'s weights into a cfsal checkpoint."""
    agent = NatureActorCritic(AgentSpec.for_game(game), name=name)
    state = model.policy.state_dict()
    agent.load_state_dict({ours: state[theirs].cpu() for theirs, ours in sb3_key_map().items()})
    return save_checkpoint(agent, out, provenance)


class _Run:
    """One (possibly resumed) training run and its files."""

    def __init__(self, game: str, total_steps: int, out: Path, seed: int, settings: A2CSettings,
                 command: str) -> None:
        self.game = game
        self.total_steps = total_steps
        self.out = out
        self.seed = seed
        self.settings = settings
        self.command = command
        self.dir = training_dir(out)
        self.scores: list[float] = []
        self.last_saved_steps = -1
        self.wall_before = 0.0
        self.steps_before = 0
        self.episodes_before = 0
        self.started = time.monotonic()
        run_file = self.dir / "run.json"
        if run_file.exists():
            previous = json.loads(run_file.read_text())
            if previous["game"] != game:
                raise TrainingError(
                    f"{self.dir} holds a {previous['game']} run, not {game}; choose another --out "
                    "or delete that directory to start over."
                )
            self.wall_before = float(previous.get("wall_seconds", 0.0))
            self.steps_before = int(previous.get("steps_done", 0))
            self.episodes_before = int(previous.get("episodes", 0))
        _drop_partial_last_line(self.dir / "curve.csv")

    @property
    def episodes(self) -> int:
        return self.episodes_before + len(self.scores)

    @property
    def wall_seconds(self) -> float:
        return self.wall_before + time.monotonic() - self.started

    def save(self, model) -> None:
        if model.num_timesteps == self.last_saved_steps:
            return
        self.last_saved_steps = model.num_timesteps
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "sb3_model.tmp.zip"
        model.save(str(tmp))
        os.replace(tmp, self.dir / "sb3_model.zip")
        recent = float(np.mean(self.scores[-100:])) if self.scores else None
        export_sb3_policy(model, self.game, self.out.stem, self.out, self.provenance(model, recent))
        curve = self.dir / "curve.csv"
        lines = [] if curve.exists() else [["steps", "wall_seconds", "episodes", "mean_score_last_100"]]
        lines.append([model.num_timesteps, round(self.wall_seconds, 1), self.episodes,
                      "" if recent is None else round(recent, 3)])
        _append_lines(curve, lines)
        meta = {"game": self.game, "algorithm": "a2c", "total_steps": self.total_steps,
                "steps_done": model.num_timesteps, "episodes": self.episodes, "seed": self.seed, "wall_seconds": self.wall_seconds,
                "settings": asdict(self.settings), "command": self.command}
        _write_atomically(self.dir / "run.json", json.dumps(meta, indent=2))

    def provenance(self, model, recent: float | None) -> dict[str, Any]:
        return {
            "algorithm": "a2c (stable-baselines3 %s)" % stable_baselines3.__version__,
            "command": self.command,
            "steps": int(model.num_timesteps),
            "frames": int(model.num_timesteps) * 4,
            "wall_seconds": round(self.wall_seconds, 1),
            "machine": f"{platform.machine()} {platform.system()}, torch threads {torch.get_num_threads()}",
            "seed": self.seed,
            "settings": asdict(self.settings),
            "training_mean_score_last_100": recent,
        }


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a kill at any moment leaves the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _append_lines(path: Path, rows: list[list[Any]]) -> None:
    """Append CSV rows in one ``write`` (a kill cuts at most the last line; see _drop_partial_last_line)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, buffer.getvalue().encode())
    finally:
        os.close(fd)


def _drop_partial_last_line(path: Path) -> None:
    """Cut a last line without its newline (a write killed half-way), so the next row starts clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        _write_atomically(path, data[: data.rfind(b"\n") + 1].decode())


class _ProgressCallback(BaseCallback):
    """Checkpointing (by steps and by wall time), the learning curve in real game scores, a progress bar."""

    def __init__(self, run: _Run, checkpoint_every: int, show_progress: bool,
                 checkpoint_seconds: float = float("inf")) -> None:
        super().__init__()
        self.run = run
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.show_progress = show_progress
        self.last_checkpoint = 0
        self.last_checkpoint_time = time.monotonic()
        self.bar = None

    def _on_training_start(self) -> None:
        self.last_checkpoint = self.model.num_timesteps
        self.last_checkpoint_time = time.monotonic()
        if self.show_progress:
            self.bar = tqdm(total=self.run.total_steps, initial=self.model.num_timesteps,
                            unit="step", unit_scale=True, desc=f"train {self.run.game}")
        else:  # a background job's log still says that training runs, and how to stop it well
            print(f"train {self.run.game}: started at step {self.model.num_timesteps} of {self.run.total_steps} "
                  "(SIGTERM or Ctrl-C saves a checkpoint, then stops)", file=sys.stderr, flush=True)

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if info.get("game_over") or info.get("TimeLimit.truncated"):
                self.run.scores.append(float(info["episode_return"]))
        if self.bar is not None:
            self.bar.update(self.model.num_timesteps - self.bar.n)
            if self.run.scores:
                self.bar.set_postfix(score=f"{np.mean(self.run.scores[-100:]):.1f}")
        if (self.model.num_timesteps - self.last_checkpoint >= self.checkpoint_every
                or time.monotonic() - self.last_checkpoint_time >= self.checkpoint_seconds):
            self.run.save(self.model)
            self.last_checkpoint = self.model.num_timesteps
            self.last_checkpoint_time = time.monotonic()
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _resume_from_checkpoint(model, checkpoint: Path, game: str, steps_done: int) -> None:
    """Resume from the committed cfsal checkpoint when the SB3 zip (with optimizer state) is gone.

    Only the weights and the step count carry over; RMSprop's running averages re-warm within
    about a hundred updates (α = 0.99), a negligible cost next to keeping 2× the bytes in git.
    """
    ours = load_checkpoint(checkpoint, game=game).state_dict()
    state = model.policy.state_dict()
    for theirs, key in sb3_key_map().items():
        for prefix in ("", "pi_", "vf_"):
            name = prefix + theirs
            if name in state:
                state[name] = ours[key].clone()
    model.policy.load_state_dict(state)
    model.num_timesteps = steps_done


def train_a2c(game: str, steps: int, out: str | os.PathLike, *, seed: int = 0,
              settings: A2CSettings = A2CSettings(), checkpoint_every: int = 100_000,
              checkpoint_minutes: float = 10.0, progress: bool = True, command: str = "") -> TrainResult:
    """Train (or resume) A2C on ``game`` until ``steps`` agent steps in total; write ``out``.

    A checkpoint is written every ``checkpoint_every`` steps or ``checkpoint_minutes`` of wall
    time, whichever comes first (on a busy machine steps come slowly; a kill loses little either way).
    """
    spec = get_game(game)
    if steps <= 0:
        raise TrainingError(f"--steps must be a positive number of agent steps, got {steps}")
    out = Path(out)
    run = _Run(spec.name, steps, out, seed, settings, command)
    venv = _make_vec_env(spec.name, settings.n_envs, seed)
    schedule = LinearSchedule(settings.learning_rate, 0.0, 1.0)
    resume_file = run.dir / "sb3_model.zip"
    if resume_file.exists():
        # Our own file, written by this function on this machine: safe to unpickle.
        model = A2C.load(str(resume_file), env=venv, device="cpu",
                         custom_objects={"learning_rate": schedule, "lr_schedule": schedule})
        if model.n_envs != settings.n_envs:
            raise TrainingError(f"{resume_file} was trained with {model.n_envs} envs; resume with --n-envs {model.n_envs}")
    else:
        torch.manual_seed(seed)
        model = A2C(
            "CnnPolicy", venv, learning_rate=schedule, n_steps=settings.n_steps, gamma=settings.gamma,
            gae_lambda=1.0, ent_coef=settings.ent_coef, vf_coef=settings.vf_coef,
            max_grad_norm=settings.max_grad_norm, rms_prop_eps=settings.rms_eps, use_rms_prop=True,
            normalize_advantage=False, seed=seed, device="cpu", verbose=0,
            policy_kwargs={"optimizer_class": RMSpropTFLike,
                           "optimizer_kwargs": {"alpha": settings.rms_alpha, "eps": settings.rms_eps,
                                                "weight_decay": 0}},
        )
        if run.steps_before and out.exists():
            _resume_from_checkpoint(model, out, spec.name, run.steps_before)
    remaining = steps - model.num_timesteps
    if remaining > 0:
        callback = _ProgressCallback(run, checkpoint_every, progress, checkpoint_seconds=60.0 * checkpoint_minutes)
        try:
            model.learn(total_timesteps=remaining, reset_num_timesteps=False, callback=callback)
        finally:
            run.save(model)
    elif not out.exists():
        run.save(model)
    recent = float(np.mean(run.scores[-100:])) if run.scores else None
    return TrainResult(out, int(model.num_timesteps), run.wall_seconds, recent)
