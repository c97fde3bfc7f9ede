"""Paired counterfactual continuations: factual vs. intervened, batched, with common random numbers.

From each branch point two copies of the environment are restored from the same snapshot; the
intervention is applied to one. Both then run for ``horizon`` steps *in lockstep with every
other branch*: each step is a single batched forward pass of the agent over all live branches.
Sampled actions use common random numbers: the two members of a pair draw their action from the
same uniform at every step (inverse-CDF sampling), so whenever the intervention leaves the
policy unchanged, the pair takes identical actions and the paired difference is exactly zero.

Each branch point has its own seed (uniforms, intervention randomness), so a set of branch
points can be split across workers and give the same numbers as one process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent, actions_from_logits, blocked_logits_and_value, deterministic_forwards
from cfsal.envs import ToyboxEnv, make
from cfsal.rollout.branching import BranchPoint


class InterventionLike(Protocol):
    """What the engine needs of an intervention (cfsal.interventions implements it)."""

    name: str
    game: str

    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]: ...

    def apply_to_env(self, env: ToyboxEnv, rng: np.random.Generator | None = None, settle: Any = "refresh") -> Any: ...

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


def _is_persistent(intervention: InterventionLike) -> bool:
    """Persistent interventions (a frozen or decrementing score) are re-applied after every step."""
    return bool(getattr(intervention, "persistent", False))


@dataclass(frozen=True)
class Trace:
    """One continuation from a branch point; arrays have one entry per step taken."""

    actions: np.ndarray
    logits: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    lives: np.ndarray
    ended: bool
    first_observation: np.ndarray = field(repr=False)
    first_state: str = field(default="", repr=False)  # Toybox JSON the first observation shows

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def policies(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PairedBranch:
    """The factual and intervened continuations from one branch point."""

    episode: int
    step: int
    factual: Trace
    intervened: Trace
    took_effect: bool


def _trace_arrays(horizon: int, n_actions: int) -> dict[str, np.ndarray]:
    return {"actions": np.zeros(horizon, dtype=np.int64), "logits": np.zeros((horizon, n_actions), np.float32),
            "values": np.zeros(horizon, np.float32), "rewards": np.zeros(horizon, np.float32),
            "lives": np.zeros(horizon, np.int64)}


def _treat_like_the_intervened_arm(env: ToyboxEnv, settle: Any) -> None:
    """Give the factual arm the same treatment as the intervened one, minus the edit.

    An edit reaches Toybox through its JSON reader, which can move any float by one ulp; the
    factual arm goes through the same (unedited) round trip, so the arms differ only where the
    intervention edited. Re-rendering the newest frame (``"refresh"``) drops the max over the
    last two frames, and stepping NOOPs advances time: done to one arm only, either would differ
    between the arms even for an edit that changes nothing (the seed code's one-armed no-op
    steps were such a confound).
    """
    env.set_toybox_state(env.get_toybox_state())
    if settle == "refresh":
        env.refresh_observation()
    else:
        for _ in range(int(settle)):
            env.step(0)


@dataclass
class PreparedPair:
    """Both arms of one branch, ready to run: the same snapshot, the same treatment, one edit."""

    factual: ToyboxEnv
    intervened: ToyboxEnv
    intervention_rng: np.random.Generator
    took_effect: bool
    factual_state: dict[str, Any]     # Toybox states at the start of the continuations
    intervened_state: dict[str, Any]


def prepare_pair(game: str, point: BranchPoint, intervention: InterventionLike, seed: np.random.SeedSequence,
                 settle: Any = "refresh") -> PreparedPair:
    """Restore both arms from ``point`` and apply ``intervention`` to one (its randomness: child 1 of ``seed``).

    The single place that defines how a pair starts, shared by the engine and the report's frames.
    """
    factual, intervened = make(game), make(game)
    factual.restore(point.snapshot)
    _treat_like_the_intervened_arm(factual, settle)
    intervened.restore(point.snapshot)
    rng = np.random.default_rng(child(seed, 1))
    intervention.apply_to_env(intervened, rng=rng, settle=settle)
    # Compared across the arms (both through the same JSON round trip and settling), this is
    # exactly "did the edit leave a difference", even where settling may have undone it.
    factual_state, intervened_state = factual.get_toybox_state(), intervened.get_toybox_state()
    took_effect = bool(intervention.took_effect(factual_state, intervened_state))
    return PreparedPair(factual, intervened, rng, took_effect, factual_state, intervened_state)


def run_paired(agent: Agent, points: list[BranchPoint],
               intervention: InterventionLike | Sequence[InterventionLike], *, horizon: int,
               seeds: list[np.random.SeedSequence], greedy: bool = False,
               settle: Any = "refresh") -> list[PairedBranch]:
    """Run factual and intervened continuations from every point, all branches in lockstep.

    ``intervention`` is one for all points, or a sequence with one per point."""
    interventions = list(intervention) if isinstance(intervention, (list, tuple)) else [intervention] * len(points)
    if len(interventions) != len(points):
        raise ValueError(f"need one intervention per branch point ({len(points)}), got {len(interventions)}")
    with deterministic_forwards():
        return _run_paired(agent, points, interventions, horizon, seeds, greedy, settle)


def _run_paired(agent: Agent, points: list[BranchPoint], interventions: list[InterventionLike], horizon: int,
                seeds: list[np.random.SeedSequence], greedy: bool, settle: Any) -> list[PairedBranch]:
    if len(seeds) != len(points):
        raise ValueError(f"need one seed per branch point ({len(points)}), got {len(seeds)}")
    if horizon < 1:
        raise ValueError(f"horizon must be ≥ 1 step, got {horizon}")
    n_pairs = len(points)
    uniforms = np.empty((n_pairs, horizon))
    prepared = []
    for i, (point, seed) in enumerate(zip(points, seeds)):
        uniforms[i] = np.random.default_rng(child(seed, 0)).random(horizon)
        prepared.append(prepare_pair(agent.spec.game, point, interventions[i], seed, settle))
    envs: list[ToyboxEnv] = [env for pair in prepared for env in (pair.factual, pair.intervened)]
    intervention_rngs = [pair.intervention_rng for pair in prepared]
    took_effect = [pair.took_effect for pair in prepared]
    observations = np.stack([env.observation for env in envs])
    first_observations = observations.copy()
    first_states = [json.dumps(state) for pair in prepared for state in (pair.factual_state, pair.intervened_state)]

    records = [_trace_arrays(horizon, agent.spec.n_actions) for _ in envs]
    lengths = np.zeros(len(envs), dtype=int)
    alive = np.ones(len(envs), dtype=bool)
    pair_of = np.arange(len(envs)) // 2
    persistent = [_is_persistent(item) for item in interventions]
    for t in range(horizon):
        index = np.flatnonzero(alive)
        if index.size == 0:
            break
        logits, values = blocked_logits_and_value(agent, observations[index])
        actions = actions_from_logits(logits, greedy=greedy, uniforms=uniforms[pair_of[index], t])
        logits_np, values_np = logits.numpy(), values.numpy()
        for j, k in enumerate(index):
            observations[k], reward, terminated, truncated, info = envs[k].step(int(actions[j]))
            rec = records[k]
            rec["actions"][t], rec["logits"][t], rec["values"][t] = actions[j], logits_np[j], values_np[j]
            rec["rewards"][t], rec["lives"][t] = reward, info["lives"]
            lengths[k] = t + 1
            if terminated or truncated:
                alive[k] = False
            elif persistent[pair_of[k]]:
                # Re-applied after every step (a JSON write and a re-render); the factual arm gets
                # the same treatment without the edit, as at the branch point.
                if k % 2 == 1:
                    interventions[pair_of[k]].reapply_to_env(envs[k], rng=intervention_rngs[pair_of[k]])
                else:
                    _treat_like_the_intervened_arm(envs[k], "refresh")
                observations[k] = envs[k].observation

    def trace(k: int) -> Trace:
        rec = records[k]
        n = lengths[k]
        return Trace(rec["actions"][:n], rec["logits"][:n], rec["values"][:n], rec["rewards"][:n],
                     rec["lives"][:n], ended=not alive[k], first_observation=first_observations[k],
                     first_state=first_states[k])

    return [PairedBranch(point.episode, point.step, trace(2 * i), trace(2 * i + 1), took_effect[i])
            for i, point in enumerate(points)]


def applicable(intervention: InterventionLike, point: BranchPoint) -> bool:
    """Whether the intervention can be applied at this branch point (e.g. a ball is in play)."""
    from cfsal.errors import InterventionError

    try:
        intervention.apply(json.loads(point.snapshot.toybox_json), rng=np.random.default_rng(0))
    except InterventionError:
        return False
    return True
