"""DAgger's parts: what one iteration collects from the β-mixture of expert and student, and how the student learns it.

The positive control of cfsal must behave like a strong agent *and* see only what an A2C agent
sees. Its teacher (:mod:`cfsal.agents.expert`) reads the Toybox state; the student is
:class:`NatureActorCritic` on the 4×84×84 DeepMind observations and never sees the state.

Algorithm (Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", Alg. 3.1), run iteration by iteration by
:func:`cfsal.agents.distill.distill`:

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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cfsal.agents.base import actions_from_logits
from cfsal.agents.expert import expert_action, expert_decision
from cfsal.agents.networks import NatureActorCritic
from cfsal.envs import make
from cfsal.envs.toybox_env import ToyboxEnv
from cfsal.errors import TrainingError


def _setting(default: float, doc: str, *, flag: str | None = None, may_be_zero: bool = False,
             below_one: bool = False) -> Any:
    """Declare a DAgger setting once: its default, what it means (``cfsal distill --help`` shows it),
    its command-line flag where that is not the field's name, and what values it refuses besides
    negative ones (zero unless ``may_be_zero``; 1 and more when ``below_one``)."""
    return field(default=default, metadata={"doc": doc, "flag": flag, "may_be_zero": may_be_zero,
                                            "below_one": below_one})


@dataclass(frozen=True)
class DAggerSettings:
    """Hyperparameters of one distillation run (all of them; recorded in run.json).

    Each is declared with :func:`_setting`; ``cfsal distill`` makes its flags, their help and the
    command line that reproduces a run from these declarations (:mod:`cfsal.agents.distill_cli`).
    """

    iterations: int = _setting(5, "DAgger iterations (0 = expert rollouts)")
    expert_steps: int = _setting(20_000, "frames collected in iteration 0")
    student_steps: int = _setting(10_000, "frames collected per later iteration")
    n_envs: int = _setting(16, "environments stepped together while collecting")
    beta_decay: float = _setting(0.5, "β_i = beta_decay^i: expert share of the rollouts", below_one=True)
    first_epochs: int = _setting(8, "passes over the expert data of iteration 0")
    epochs: int = _setting(4, "passes over the aggregate per iteration")
    batch_size: int = _setting(128, "minibatch size")
    learning_rate: float = _setting(5e-4, "Adam step size", flag="lr")
    class_balance: float = _setting(0.5, "exponent of the inverse-frequency class weights (0: plain cross-entropy)",
                                    may_be_zero=True)
    max_class_weight: float = _setting(10.0, "cap on a class weight, so that a rare action cannot dominate")
    value_coef: float = _setting(0.5, "weight of the value head's squared error beside the policy's cross-entropy")
    gamma: float = _setting(0.99, "discount of the Monte-Carlo returns the value head learns", below_one=True)
    rollout_max_steps: int = _setting(4_000, "steps after which a rollout episode is cut")
    soft_label_temperature: float = _setting(0.0, "τ of the soft labels softmax(−plan cost/τ) (0: the expert's "
                                                  "action only)", may_be_zero=True)

    def __post_init__(self) -> None:
        for f in fields(self):
            value, rule = getattr(self, f.name), f.metadata
            if value < 0 or (value == 0 and not rule["may_be_zero"]) or (value >= 1 and rule["below_one"]):
                allowed = "≥ 0" if rule["may_be_zero"] else "positive"
                raise TrainingError(f"DAgger setting {f.name}={value!r} must be {allowed}"
                                    f"{' and < 1' if rule['below_one'] else ''}; the default is {f.default!r}.")

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
