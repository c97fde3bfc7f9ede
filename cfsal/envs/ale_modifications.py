"""HackAtari's modifications of every ALE game, by game: the table :class:`~cfsal.envs.ale_env.AleEnv` runs.

Each game's RAM module (:mod:`cfsal.envs.ale_pong_ram`, :mod:`cfsal.envs.ale_breakout_ram`, …)
transcribes the HackAtari rules that have a clean RAM form (``k4ntz/HackAtari``,
``hackatari/games/<game>.py``) as pure functions ``(ram, memory) → (writes, new memory)``; this
module only gathers them, so the environment needs no game's module by name.
"""

from __future__ import annotations

from cfsal.envs import ale_boxing_ram, ale_breakout_ram, ale_freeway_ram, ale_pong_ram, ale_space_invaders_ram
from cfsal.envs.ale_pong_ram import FrameModification

#: Per ALE game: name → (the per-frame function, its memory when a game starts).
FRAME_MODIFICATIONS: dict[str, dict[str, tuple[FrameModification, dict[str, int]]]] = {
    **ale_pong_ram.FRAME_MODIFICATIONS,
    "ale_breakout": ale_breakout_ram.FRAME_MODIFICATIONS,
    "ale_freeway": ale_freeway_ram.FRAME_MODIFICATIONS,
    "ale_boxing": ale_boxing_ram.FRAME_MODIFICATIONS,
    "ale_space_invaders": ale_space_invaders_ram.FRAME_MODIFICATIONS,
}
