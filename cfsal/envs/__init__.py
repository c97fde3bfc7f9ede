"""Toybox games, and real Atari games through the ALE, as gymnasium environments with exact snapshot/restore.

Public face: :func:`make`, :class:`ToyboxEnv`, :class:`EnvSnapshot`, :func:`get_game`, ``GAMES``;
for the Arcade Learning Environment ``ALE_GAMES``, :class:`AleEnv` and :class:`AleSnapshot`.
Importing this package registers ``cfsal/Breakout-v0`` (etc.), the seed paper's ids
(``BreakoutToyboxNoFrameskip-v4``, …) and ``cfsal/ALE-Pong-v0`` (etc.) with gymnasium.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from cfsal.envs.ale_env import AleEnv, AleSnapshot
from cfsal.envs.framestack import preprocess_frame
from cfsal.envs.games import ALE_ACTION_MEANINGS, ALE_GAMES, GAMES, GameSpec, get_game
from cfsal.envs.toybox_env import EnvSnapshot, ToyboxEnv

__all__ = ["ALE_ACTION_MEANINGS", "ALE_GAMES", "GAMES", "AleEnv", "AleSnapshot", "EnvSnapshot", "GameSpec",
           "ToyboxEnv", "get_game", "make", "preprocess_frame", "snapshot_from_dict"]


def make(game: str, seed: int | None = None, **kwargs: Any) -> ToyboxEnv | AleEnv:
    """Make a bare environment for ``game`` (no gymnasium wrappers, so snapshot/restore is direct):
    a :class:`ToyboxEnv` for Toybox games, an :class:`AleEnv` for ALE games (``ale_pong``, …).

    With ``seed`` the environment is reset once with it, ready to step.
    """
    spec = get_game(game)
    if spec.backend == "ale":
        env: ToyboxEnv | AleEnv = AleEnv(spec, **kwargs)
    else:
        env = ToyboxEnv(spec, **kwargs)
    if seed is not None:
        env.reset(seed=seed)
    return env


def snapshot_from_dict(data: dict[str, Any]) -> EnvSnapshot | AleSnapshot:
    """A snapshot read back from its ``to_dict``, of whichever backend wrote it (ALE ones say so)."""
    if data.get("backend") == "ale":
        return AleSnapshot.from_dict(data)
    return EnvSnapshot.from_dict(data)


def _register() -> None:
    for spec in GAMES.values():
        for env_id in (spec.gym_id, *spec.aliases):
            if env_id not in gym.registry:
                gym.register(id=env_id, entry_point="cfsal.envs.toybox_env:ToyboxEnv",
                             kwargs={"game": spec.name})
    for spec in ALE_GAMES.values():  # only cfsal's id: the aliases (PongNoFrameskip-v4) are ale_py's own
        if spec.gym_id not in gym.registry:
            gym.register(id=spec.gym_id, entry_point="cfsal.envs.ale_env:AleEnv", kwargs={"game": spec.name})


_register()
