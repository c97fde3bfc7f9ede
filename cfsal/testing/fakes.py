"""Test doubles: a generic state-edit intervention and a tiny deterministic agent."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from cfsal.agents.base import AgentSpec
from cfsal.agents.networks import NatureActorCritic
from cfsal.envs import make
from cfsal.errors import InterventionError


@dataclass(frozen=True)
class StateEdit:
    """An intervention made of a plain function on the Toybox state dict.

    ``edit(state, rng) -> state`` may raise :class:`InterventionError` where it does not apply.
    Enough for testing the engine without depending on the real intervention library.
    """

    game: str
    edit: Callable[[dict[str, Any], np.random.Generator], dict[str, Any]] = field(compare=False)
    name: str = "testing.state_edit"

    def apply(self, state: dict[str, Any], rng: np.random.Generator | None = None) -> dict[str, Any]:
        return self.edit(copy.deepcopy(state), rng if rng is not None else np.random.default_rng(0))

    def apply_to_env(self, env, rng: np.random.Generator | None = None, settle: Any = "refresh") -> None:
        env.set_toybox_state(self.apply(env.get_toybox_state(), rng))
        if settle == "refresh":
            env.refresh_observation()
        else:
            for _ in range(int(settle)):
                env.step(0)

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        return before != after

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "game": self.game}


@dataclass(frozen=True)
class _ShiftBall:
    dx: float
    dy: float

    def __call__(self, state: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        if not state["balls"]:
            raise InterventionError("no ball in play")
        for ball in state["balls"]:
            ball["position"]["x"] = float(np.clip(ball["position"]["x"] + self.dx, 8, 232))
            ball["position"]["y"] = float(np.clip(ball["position"]["y"] + self.dy, 30, 140))
        return state


def shift_ball(dx: float, dy: float = 0.0) -> Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]:
    """A Breakout edit for tests: move every ball by (dx, dy); not applicable without a ball.
    Picklable, so it can travel to executor workers."""
    return _ShiftBall(float(dx), float(dy))


def unchanged(state: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """An edit that changes nothing: the engine must then report exact zeros."""
    return state


def tiny_agent(game: str = "breakout", seed: int = 0, name: str = "tiny") -> NatureActorCritic:
    """A randomly initialised Nature-CNN agent (deterministic from ``seed``): it reacts to its input."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        agent = NatureActorCritic(AgentSpec.for_game(game), name=name)
    return agent.eval()


def random_play_states(game: str, *, steps: int, every: int, seed: int = 5) -> tuple[dict[str, Any], ...]:
    """Toybox states read from the native core during seeded random play: the start and every
    ``every``-th step of ``steps`` (a new game after each end) — real states to edit in tests."""
    env = make(game, seed=seed)
    rng = np.random.default_rng(seed)
    states = [env.get_toybox_state()]
    for step in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset(seed=step)
        if step % every == every - 1:
            states.append(env.get_toybox_state())
    return tuple(states)
