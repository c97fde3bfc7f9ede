"""Toybox games as gymnasium environments, with exact snapshot/restore.

Public face: :func:`make`, :class:`ToyboxEnv`, :class:`EnvSnapshot`, :func:`get_game`, ``GAMES``.
Importing this package registers ``cfsal/Breakout-v0`` (etc.) and the seed paper's ids
(``BreakoutToyboxNoFrameskip-v4``, …) with gymnasium.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from cfsal.envs.games import ALE_ACTION_MEANINGS, GAMES, GameSpec, get_game
from cfsal.envs.toybox_env import EnvSnapshot, ToyboxEnv, preprocess_frame

__all__ = ["ALE_ACTION_MEANINGS", "GAMES", "EnvSnapshot", "GameSpec", "ToyboxEnv", "get_game",
           "make", "preprocess_frame"]


def make(game: str, seed: int | None = None, **kwargs: Any) -> ToyboxEnv:
    """Make a bare :class:`ToyboxEnv` (no gymnasium wrappers, so snapshot/restore is direct).

    With ``seed`` the environment is reset once with it, ready to step.
    """
    env = ToyboxEnv(get_game(game), **kwargs)
    if seed is not None:
        env.reset(seed=seed)
    return env


def _register() -> None:
    for spec in GAMES.values():
        for env_id in (spec.gym_id, *spec.aliases):
            if env_id not in gym.registry:
                gym.register(id=env_id, entry_point="cfsal.envs.toybox_env:ToyboxEnv",
                             kwargs={"game": spec.name})


_register()
