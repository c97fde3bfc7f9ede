"""DAgger runs: distil the scripted Breakout expert into a pixel-only Nature-CNN actor-critic, resumably.

:func:`distill` runs the iterations of :mod:`cfsal.agents.dagger` (the algorithm, and why the
positive control is made this way) one after another and keeps what a killed run needs to go on
exactly where it stopped: every random choice derives from one seed keyed by iteration, so a
resumed run continues exactly as an uninterrupted one.

Files beside ``out`` in ``<out>.train/``: ``iter_<k>.npz`` (the data of iteration k; large,
git-ignored), ``curve.csv`` (one row per iteration), ``run.json`` (settings, progress, wall
time, machine) and ``student.safetensors`` (the student as trained, what a killed run resumes
from; git-ignored like the shards); ``out`` is rewritten after every iteration with the policy
as deployed.

*Deployed policy temperature* (``policy_temperature`` T, ``--policy-temperature``): the student
learns soft targets softmax(−cost/τ), so its policy is as unsure as the expert's near-ties
make it, and sampling from it (as ``cfsal eval`` and the rollouts play every agent) takes
second-best actions that a deterministic teacher never takes. ``out`` holds the student's
policy head divided by T (logits/T: the same ranking of actions, the greedy policy unchanged,
sampling sharper; T = 1 leaves it as trained). It is an export setting, not a training one:
T can change without a new stage and without retraining, DAgger's rollouts keep sampling the
student as trained (wider coverage of states off the expert's path), and the value head is
untouched. For a student of soft labels at τ, exporting at T is close to having taught it at
τ·T.

A run may go on in a new *stage* with other settings (``new_stage=True``, ``cfsal distill
--new-stage``): the iterations done so far and their data stay as they are, the later ones use
the new settings, and run.json and the checkpoint's provenance list every stage with its
command, so the agent can be rebuilt from the commands in order.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cfsal.agents.base import AgentSpec
from cfsal.agents.checkpoint import load_checkpoint, save_checkpoint, training_dir
from cfsal.agents.dagger import (  # re-exported: DAgger's parts lived here before
    DAggerSettings,
    Shard,
    agreement,
    class_weights,
    collect,
    discounted_returns,
    soft_labels,
    train_on,
)
from cfsal.agents.networks import NatureActorCritic
from cfsal.errors import TrainingError

__all__ = ["ALGORITHM", "RUN_SCHEMA_VERSION", "STUDENT_FILE", "DAggerSettings", "DistillResult", "Shard", "agreement",
           "class_weights", "collect", "deployed_policy", "discounted_returns", "distill", "soft_labels", "train_on",
           "training_dir"]

RUN_SCHEMA_VERSION = 1
#: The student as trained, in ``<out>.train/`` (``out`` holds the deployed policy).
STUDENT_FILE = "student.safetensors"
ALGORITHM = "DAgger from scripted expert"


@dataclass(frozen=True)
class DistillResult:
    checkpoint: Path
    iterations: int
    dataset_size: int
    wall_seconds: float


def _iteration_seed(seed: int, iteration: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, iteration])


def _new_student(seed: int, name: str) -> NatureActorCritic:
    generator_seed = int(np.random.SeedSequence([seed, 2**20]).generate_state(1)[0])
    with torch.random.fork_rng():
        torch.manual_seed(generator_seed)
        return NatureActorCritic(AgentSpec.for_game("breakout"), name=name).eval()


def _machine() -> str:
    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus, "
            f"torch {torch.__version__} threads {torch.get_num_threads()}")


def _check_policy_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise TrainingError(f"policy_temperature={temperature}: use a finite T > 0 (1 keeps the policy as "
                            f"trained, T < 1 sharpens it).")


def _trained_student(path: Path, directory: Path) -> NatureActorCritic:
    """The student as trained, from ``<out>.train/student.safetensors`` (or, for runs from before
    that file existed, from ``out`` itself, which then held the student as trained)."""
    student = load_checkpoint(path, game="breakout")
    if not isinstance(student, NatureActorCritic):
        raise TrainingError(f"{path} is not a Nature-CNN checkpoint; delete it and {directory} to restart.")
    if path.parent != directory and float(student.provenance.get("policy_temperature", 1.0)) != 1.0:
        raise TrainingError(f"{path} holds a sharpened policy and {directory / STUDENT_FILE} (the student as "
                            f"trained) is missing; restore that file or restart with another --out.")
    return student


def deployed_policy(student: NatureActorCritic, temperature: float) -> NatureActorCritic:
    """A copy of ``student`` whose policy logits are divided by ``temperature`` (the value head as is)."""
    _check_policy_temperature(temperature)
    deployed = copy.deepcopy(student)
    with torch.no_grad():
        deployed.policy_head.weight.div_(temperature)
        deployed.policy_head.bias.div_(temperature)
    return deployed


def distill(out: str | os.PathLike, *, seed: int = 0,
            settings: DAggerSettings = DAggerSettings(),  # noqa: B008 (a frozen dataclass)
            command: str = "", progress: bool = True, new_stage: bool = False,
            policy_temperature: float = 1.0) -> DistillResult:
    """Run (or resume) DAgger until ``settings.iterations`` iterations are done; write ``out``.

    Resuming needs the same seed and settings: the run's files are checked against them and a
    mismatch is an error rather than a silently different agent. Only ``iterations`` may grow:
    more DAgger iterations continue the same run (each iteration's randomness depends only on
    the seed and its index). With ``new_stage`` the settings may change too: the iterations
    done so far are kept and the new settings apply from the next one (recorded as a stage).
    ``out`` gets the policy at ``policy_temperature`` (see the module docstring); with every
    iteration already done, only ``out`` is rewritten (so T can be chosen after training).
    """
    out = Path(out)
    directory = training_dir(out)
    run_file = directory / "run.json"
    done, wall_before = 0, 0.0
    stages: list[dict[str, Any]] = []
    previous_run: dict[str, Any] | None = None
    if run_file.exists():
        previous_run = json.loads(run_file.read_text())
        previous = DAggerSettings.from_dict(previous_run["settings"])
        same = replace(previous, iterations=settings.iterations) == settings
        if previous_run.get("seed") != seed or not (same or new_stage):
            raise TrainingError(
                f"{directory} holds a DAgger run with seed {previous_run.get('seed')} and settings "
                f"{previous_run['settings']}; resume with the same --seed and settings (only --iterations "
                f"may grow), go on with new settings from the next iteration with --new-stage (same "
                f"--seed), or choose another --out."
            )
        done, wall_before = int(previous_run["iterations_done"]), float(previous_run["wall_seconds"])
        stages = list(previous_run.get("earlier_stages", []))
    _check_policy_temperature(policy_temperature)
    student_file = directory / STUDENT_FILE
    if done and (student_file.exists() or out.exists()):
        student = _trained_student(student_file if student_file.exists() else out, directory)
        # The student is written before run.json: if a kill fell between the two, its
        # weights are one iteration ahead, and they are the truth.
        done = int(student.provenance.get("iterations", done))
    else:
        student = _new_student(seed, out.name.removesuffix(".safetensors"))
    if previous_run is not None and not same:  # a new stage starts after the iterations done
        if settings.iterations <= done:
            raise TrainingError(f"a new stage needs more --iterations than the {done} already done.")
        stages.append({"iterations_done": done, "settings": previous_run["settings"],
                       "command": previous_run.get("command", "")})
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # the aggregate of the iterations done, needed only to train more (an export needs none)
    shards: list[Shard] = ([Shard.load(directory / f"iter_{k}.npz") for k in range(done)]
                           if done < settings.iterations else [])
    for iteration in range(done, settings.iterations):
        collect_seed, train_seed = _iteration_seed(seed, iteration).spawn(2)
        beta = settings.beta(iteration)
        shard_file = directory / f"iter_{iteration}.npz"
        if shard_file.exists():  # collected before an interruption: the same data again
            shard = Shard.load(shard_file)
        else:
            shard = collect(student if beta < 1 else None, settings.steps(iteration), beta,
                            collect_seed, settings)
            shard.save(shard_file)
        before = agreement(student, shard)
        shards.append(shard)
        losses = train_on(student, shards, settings, np.random.default_rng(train_seed),
                          epochs=settings.first_epochs if iteration == 0 else settings.epochs)
        wall = wall_before + time.monotonic() - started
        dataset_size = sum(len(s) for s in shards)
        row = {"iteration": iteration, "beta": beta, "dataset_size": dataset_size,
               "rollout_episodes": len(shard.episode_scores),
               "rollout_mean_score": round(float(np.mean(shard.episode_scores)), 2) if shard.episode_scores else "",
               "agreement_before_training": round(before, 4),
               **{k: round(v, 4) for k, v in losses.items()}, "wall_seconds": round(wall, 1)}
        _append_curve(directory / "curve.csv", row)
        provenance = {"algorithm": ALGORITHM, "teacher": "cfsal.agents.expert.expert_action",
                      "iterations": iteration + 1, "dataset_size": dataset_size,
                      "epochs_per_iteration": settings.epochs, "epochs_iteration_0": settings.first_epochs, "wall_seconds": round(wall, 1),
                      "machine": _machine(), "command": command, "seed": seed,
                      "settings": settings.to_dict(), "earlier_stages": stages,
                      "value_head": ("MSE to Monte-Carlo discounted returns (gamma 0.99, sign-clipped "
                                     "rewards) of the rollouts, on detached trunk features")}
        save_checkpoint(student, student_file, provenance)
        _export(student, out, provenance, policy_temperature)
        run = {"schema_version": RUN_SCHEMA_VERSION, "algorithm": ALGORITHM, "game": "breakout",
               "seed": seed, "settings": settings.to_dict(), "iterations_done": iteration + 1,
               "dataset_size": dataset_size, "wall_seconds": round(wall, 1), "machine": _machine(),
               "command": command, "earlier_stages": stages}
        run_file.write_text(json.dumps(run, indent=2) + "\n")
        if progress:
            print(f"DAgger iteration {iteration}: β={beta:.3g}, {dataset_size} labelled frames, "
                  f"rollout score {row['rollout_mean_score']}, agreement {before:.3f} → train acc "
                  f"{losses['accuracy']:.3f}, {wall / 60:.1f} min", flush=True)
    wall = wall_before + time.monotonic() - started
    if done >= settings.iterations and done:  # nothing to train: (re-)export at this temperature
        if not student_file.exists():
            save_checkpoint(student, student_file, student.provenance)
        _export(student, out, {**student.provenance, "command": command or student.provenance.get("command", "")},
                policy_temperature)
    if not out.exists():
        save_checkpoint(student, out, {"algorithm": ALGORITHM, "iterations": 0, "seed": seed})
    dataset_size = sum(len(s) for s in shards) if shards else int(student.provenance.get("dataset_size", 0))
    return DistillResult(out, settings.iterations, dataset_size, wall)


def _export(student: NatureActorCritic, out: Path, provenance: dict[str, Any], policy_temperature: float) -> None:
    provenance = {**provenance, "policy_temperature": policy_temperature}
    if policy_temperature != 1.0:
        provenance["policy_export"] = (f"policy head (logits) divided by T = {policy_temperature:g} after "
                                       f"training; the student as trained is <out>.train/{STUDENT_FILE}")
    save_checkpoint(deployed_policy(student, policy_temperature), out, provenance)


def _append_curve(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
