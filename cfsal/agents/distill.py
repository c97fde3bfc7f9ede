"""DAgger: distil the scripted Breakout expert into a pixel-only Nature-CNN actor-critic.

The positive control of cfsal must behave like a strong agent *and* see only what an A2C agent
sees. Its teacher (:mod:`cfsal.agents.expert`) reads the Toybox state; the student is
:class:`NatureActorCritic` on the 4×84×84 DeepMind observations and never sees the state.

Algorithm (Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", Alg. 3.1), read top to bottom in :func:`distill`:

* iteration 0 rolls out the expert (β₀ = 1);
* iteration i ≥ 1 rolls out the mixture π_i = β_i·expert + (1 − β_i)·student, chosen per env
  and step, with β_i = ``beta_decay``^i; the student's actions are *sampled* from its policy,
  as ``cfsal eval`` plays it;
* every visited observation is labelled with the expert's action on the Toybox state behind it
  and added to one aggregated data set; with ``soft_label_temperature`` τ > 0 it also gets a
  soft label, softmax(−cost/τ) over the expert's per-action plan costs
  (:func:`cfsal.agents.expert.expert_decision`), so that where moving now and moving a step later
  are about equally good the student is not taught an arbitrary choice it cannot see;
* after each collection the student is trained on the whole aggregate (``first_epochs`` passes
  after iteration 0, ``epochs`` after the others): class-weighted cross-entropy to the expert
  label, plus ``value_coef`` × squared error of the value head (on detached features) to the Monte-Carlo
  discounted return (γ = 0.99, rewards clipped to their sign as A2C sees them, whole games
  without a terminal at a lost life) of the episode the observation came from. The value head
  thus estimates the return of the rollout (mixture) policy, which makes critic saliency
  meaningful; returns of episodes cut by the step cap or by the end of a collection are
  truncated sums, a small downward bias near the cut.

A rollout episode ends at game over, after ``rollout_max_steps`` steps, or when the last brick
is gone (ctoybox 0.5.0 does not refill the wall, so the score is final and the remaining frames
teach nothing). Every random choice (environment seeds, the β coin, the student's action draws,
weight initialisation, minibatch order) derives from one seed through ``numpy.random.SeedSequence``
keyed by iteration, so a resumed run continues exactly as an uninterrupted one.

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
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from cfsal.agents.base import AgentSpec, actions_from_logits
from cfsal.agents.checkpoint import load_checkpoint, save_checkpoint
from cfsal.agents.expert import expert_action, expert_decision
from cfsal.agents.networks import NatureActorCritic
from cfsal.envs import make
from cfsal.envs.toybox_env import ToyboxEnv
from cfsal.errors import TrainingError

RUN_SCHEMA_VERSION = 1
#: The student as trained, in ``<out>.train/`` (``out`` holds the deployed policy).
STUDENT_FILE = "student.safetensors"
ALGORITHM = "DAgger from scripted expert"


@dataclass(frozen=True)
class DAggerSettings:
    """Hyperparameters of one distillation run (all of them; recorded in run.json)."""

    iterations: int = 5
    expert_steps: int = 20_000
    student_steps: int = 10_000
    n_envs: int = 16
    beta_decay: float = 0.5
    first_epochs: int = 8
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 5e-4
    class_balance: float = 0.5
    max_class_weight: float = 10.0
    value_coef: float = 0.5
    gamma: float = 0.99
    rollout_max_steps: int = 4_000
    soft_label_temperature: float = 0.0

    def __post_init__(self) -> None:
        may_be_zero = ("class_balance", "soft_label_temperature")
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (value == 0 and f.name not in may_be_zero):
                raise TrainingError(f"DAgger setting {f.name}={value!r} must be positive ({', '.join(may_be_zero)}: "
                                    f"≥ 0); the default is {f.default!r}.")
        if self.beta_decay >= 1 or self.gamma >= 1:
            raise TrainingError(f"beta_decay ({self.beta_decay}) and gamma ({self.gamma}) must be < 1.")

    def beta(self, iteration: int) -> float:
        """Probability that the expert acts in iteration ``iteration`` (1 in iteration 0)."""
        return 1.0 if iteration == 0 else self.beta_decay ** iteration

    def steps(self, iteration: int) -> int:
        return self.expert_steps if iteration == 0 else self.student_steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DAggerSettings:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Shard:
    """The data one DAgger iteration adds: observations, expert labels, Monte-Carlo returns.

    ``actions`` are what was executed (expert or student); ``costs`` are the expert's
    per-action plan costs (relative to the best action; soft labels are made from them at
    training time, at the temperature of the stage that trains); ``targets`` are soft labels
    stored by runs that kept no costs (None with ``costs``, and for hard labels only);
    ``states`` (the Toybox states behind the observations) are kept only when asked for, in
    memory, to check the labels.
    """

    observations: np.ndarray
    labels: np.ndarray
    returns: np.ndarray
    actions: np.ndarray
    episode_scores: tuple[float, ...]
    states: tuple[dict[str, Any], ...] | None = field(default=None, repr=False)
    targets: np.ndarray | None = field(default=None, repr=False)
    costs: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.stem + ".tmp.npz")
        soft = {name: value for name, value in (("targets", self.targets), ("costs", self.costs))
                if value is not None}
        np.savez_compressed(tmp, observations=self.observations, labels=self.labels,
                            returns=self.returns, actions=self.actions,
                            episode_scores=np.asarray(self.episode_scores, dtype=np.float64), **soft)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Shard:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["observations"], data["labels"], data["returns"], data["actions"],
                       tuple(data["episode_scores"].tolist()),
                       targets=data["targets"] if "targets" in data.files else None,
                       costs=data["costs"] if "costs" in data.files else None)

    @property
    def soft(self) -> bool:
        return self.costs is not None or self.targets is not None

    def soft_targets(self, n_actions: int, temperature: float) -> np.ndarray:
        """Soft labels at ``temperature`` from the costs; else the stored soft labels; else the
        hard labels one-hot."""
        if self.costs is not None and temperature > 0:
            return soft_labels(self.costs, temperature)
        if self.targets is not None:
            return self.targets
        return np.eye(n_actions, dtype=np.float32)[self.labels]


def soft_labels(costs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(−cost/τ) per row; an infinite cost (no plan starts with that action) gets 0."""
    logits = -(costs - costs.min(axis=-1, keepdims=True)) / temperature
    weights = np.exp(logits)
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + γ·G_{t+1} over one episode (G after the last step is 0)."""
    returns = np.empty(len(rewards), dtype=np.float32)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        returns[t] = running
    return returns


def _bricks_left(state: Mapping[str, Any]) -> bool:
    return any(brick["alive"] for brick in state["bricks"])


def collect(student: NatureActorCritic | None, steps: int, beta: float, seed: np.random.SeedSequence,
            settings: DAggerSettings, *, record_states: bool = False,
            teacher: Callable[[Mapping[str, Any]], int] = expert_action) -> Shard:
    """Roll out the β-mixture of teacher and student on ``n_envs`` Breakout games in lockstep.

    Returns ``steps`` observations, each labelled with the teacher's action on its state (and,
    with ``settings.soft_label_temperature`` > 0, soft labels from the expert's plan costs;
    the teacher must then be the scripted expert). The student's forward passes are batched
    across the environments.
    """
    if beta < 1.0 and student is None:
        raise TrainingError(f"β = {beta} < 1 needs a student to roll out; pass the agent being trained.")
    env_seeds, coin_seed, action_seed = seed.spawn(3)
    coin_rng = np.random.default_rng(coin_seed)
    action_rng = np.random.default_rng(action_seed)
    seed_rng = np.random.default_rng(env_seeds)
    n_envs = settings.n_envs
    envs: list[ToyboxEnv] = [make("breakout", max_episode_steps=settings.rollout_max_steps)
                             for _ in range(n_envs)]
    obs = np.stack([env.reset(seed=int(seed_rng.integers(2**31 - 1)))[0] for env in envs])
    observations = np.empty((steps, *obs.shape[1:]), dtype=np.uint8)
    labels = np.empty(steps, dtype=np.int64)
    actions = np.empty(steps, dtype=np.int64)
    returns = np.zeros(steps, dtype=np.float32)
    soft = settings.soft_label_temperature > 0
    if soft and teacher is not expert_action:
        raise TrainingError("soft labels come from the scripted expert's plan costs; use the default teacher "
                            "or soft_label_temperature=0.")
    costs = np.empty((steps, 4), dtype=np.float32) if soft else None
    states: list[dict[str, Any]] = []
    open_rows: list[list[int]] = [[] for _ in range(n_envs)]
    open_rewards: list[list[float]] = [[] for _ in range(n_envs)]
    episode_scores: list[float] = []

    def close_episode(i: int) -> None:
        rows = open_rows[i]
        if rows:
            returns[rows] = discounted_returns(np.asarray(open_rewards[i]), settings.gamma)
        open_rows[i], open_rewards[i] = [], []

    filled = 0
    while filled < steps:
        take = min(n_envs, steps - filled)
        toybox_states = [envs[i].get_toybox_state() for i in range(take)]
        if soft:
            decisions = [expert_decision(s) for s in toybox_states]
            expert = np.array([action for action, _ in decisions], dtype=np.int64)
            costs[filled:filled + take] = np.stack([c for _, c in decisions])
        else:
            expert = np.array([teacher(s) for s in toybox_states], dtype=np.int64)
        coins = coin_rng.random(n_envs)[:take]
        uniforms = action_rng.random(n_envs)[:take]
        executed = expert.copy()
        if beta < 1.0:
            logits, _ = student.logits_and_value(obs[:take])
            sampled = actions_from_logits(logits, uniforms=uniforms)
            executed = np.where(coins < beta, expert, sampled)
        rows = np.arange(filled, filled + take)
        observations[rows] = obs[:take]
        labels[rows] = expert
        actions[rows] = executed
        if record_states:
            states.extend(toybox_states)
        for i in range(take):
            obs[i], reward, terminated, truncated, _ = envs[i].step(int(executed[i]))
            open_rows[i].append(filled + i)
            open_rewards[i].append(float(np.sign(reward)))
            if terminated or truncated or not _bricks_left(envs[i].get_toybox_state()):
                episode_scores.append(float(envs[i].score))
                close_episode(i)
                obs[i] = envs[i].reset(seed=int(seed_rng.integers(2**31 - 1)))[0]
        filled += take
    for i in range(n_envs):
        close_episode(i)
    return Shard(observations, labels, returns, actions, tuple(episode_scores),
                 tuple(states) if record_states else None, costs=costs)


def train_on(agent: NatureActorCritic, shards: Sequence[Shard], settings: DAggerSettings,
             rng: np.random.Generator, epochs: int | None = None) -> dict[str, float]:
    """``epochs`` passes of Adam over the aggregate: cross-entropy + value_coef × value MSE.

    The value head regresses on *detached* trunk features: the features are the policy's, and
    the critic is a linear read-out of them. With the value error flowing into the trunk (MSE
    on returns of scale ~10 against a cross-entropy of ~1) the policy learned the decisive
    RIGHT/LEFT moves much more slowly (measured recall 0.44/0.58 after 4 epochs).

    The cross-entropy weighs class c by (N / (K·n_c))^class_balance (at most
    ``max_class_weight``): about 80 % of the expert's labels are NOOP, and with plain
    cross-entropy the student first learns that prior and stayed there (measured: 2 epochs over
    20k expert frames gave a NOOP-only policy, recall of RIGHT/LEFT ≈ 1 %).

    When any shard has soft labels, the cross-entropy is to the soft labels (made from the
    shards' plan costs at this stage's ``soft_label_temperature``; hard labels count as one-hot),
    with the same class weights (torch's probability-target form).
    """
    observations = _Rows([s.observations for s in shards])
    labels = torch.as_tensor(np.concatenate([s.labels for s in shards]))
    n_actions = agent.spec.n_actions
    temperature = settings.soft_label_temperature
    targets = (torch.as_tensor(np.concatenate([s.soft_targets(n_actions, temperature) for s in shards]))
               if any(s.soft for s in shards) else labels)
    returns = torch.as_tensor(np.concatenate([s.returns for s in shards]))
    weights = torch.as_tensor(class_weights(labels.numpy(), n_actions, settings),
                              dtype=torch.float32)
    optimizer = torch.optim.Adam(agent.parameters(), lr=settings.learning_rate)
    agent.train()
    totals = {"policy_loss": 0.0, "value_loss": 0.0, "accuracy": 0.0}
    seen = 0
    for _epoch in range(settings.epochs if epochs is None else epochs):
        order = rng.permutation(len(labels))
        for start in range(0, len(order), settings.batch_size):
            index = np.sort(order[start:start + settings.batch_size])
            batch = torch.as_tensor(observations[index]).to(torch.float32)
            features = agent.trunk(batch / 255.0)
            logits = agent.policy_head(features)
            value = agent.value_head(features.detach()).squeeze(-1)
            policy_loss = torch.nn.functional.cross_entropy(logits, targets[index], weight=weights)
            value_loss = torch.nn.functional.mse_loss(value, returns[index])
            loss = policy_loss + settings.value_coef * value_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(index)
            totals["policy_loss"] += float(policy_loss.detach()) * n
            totals["value_loss"] += float(value_loss.detach()) * n
            totals["accuracy"] += float((logits.argmax(-1) == labels[index]).float().sum())
            seen += n
    agent.eval()
    return {k: v / max(seen, 1) for k, v in totals.items()}


class _Rows:
    """Rows of several arrays addressed as one, without concatenating them: the aggregate of a
    long DAgger run is gigabytes of observations, and a copy per iteration would double it."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        part = np.searchsorted(self.starts, index, side="right") - 1
        return np.stack([self.parts[k][i - self.starts[k]] for k, i in zip(part, index)])


def class_weights(labels: np.ndarray, n_actions: int, settings: DAggerSettings) -> np.ndarray:
    """Tempered inverse-frequency weights of the action classes (absent classes get the cap)."""
    counts = np.bincount(labels, minlength=n_actions).astype(np.float64)
    inverse = np.where(counts > 0, len(labels) / (n_actions * np.maximum(counts, 1.0)), np.inf)
    return np.minimum(inverse ** settings.class_balance, settings.max_class_weight)


@torch.no_grad()
def agreement(agent: NatureActorCritic, shard: Shard, batch_size: int = 256) -> float:
    """Fraction of ``shard``'s observations on which the agent's greedy action is the expert's."""
    hits = 0
    for start in range(0, len(shard), batch_size):
        logits, _ = agent.logits_and_value(shard.observations[start:start + batch_size])
        hits += int((logits.argmax(-1).numpy() == shard.labels[start:start + batch_size]).sum())
    return hits / max(len(shard), 1)


@dataclass(frozen=True)
class DistillResult:
    checkpoint: Path
    iterations: int
    dataset_size: int
    wall_seconds: float


def training_dir(out: Path) -> Path:
    return out.with_name(out.name + ".train")


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


def distill(out: str | os.PathLike, *, seed: int = 0, settings: DAggerSettings = DAggerSettings(),
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
