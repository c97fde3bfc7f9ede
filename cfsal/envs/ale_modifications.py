"""HackAtari's modifications of every ALE game, by game: the table :class:`~cfsal.envs.ale_env.AleEnv` runs.

Each game's RAM module (:mod:`cfsal.envs.ale_pong_ram`, :mod:`cfsal.envs.ale_breakout_ram`, …)
transcribes the HackAtari rules that have a clean RAM form (``k4ntz/HackAtari``,
``hackatari/games/<game>.py``) as pure functions ``(ram, memory) → (writes, new memory)``, each
with a line on what it does (:class:`~cfsal.envs.ale_rules.Modification`); this module only gathers
them, so the environment and each game's ``Configure`` intervention need no game's module by name.
"""

from __future__ import annotations

from cfsal.envs import ale_boxing_ram, ale_breakout_ram, ale_freeway_ram, ale_pong_ram, ale_space_invaders_ram
from cfsal.envs.ale_rules import Modification

#: Per ALE game: name → the per-frame rule, its memory when a game starts, and what it does.
FRAME_MODIFICATIONS: dict[str, dict[str, Modification]] = {
    **ale_pong_ram.FRAME_MODIFICATIONS,
    "ale_breakout": ale_breakout_ram.FRAME_MODIFICATIONS,
    "ale_freeway": ale_freeway_ram.FRAME_MODIFICATIONS,
    "ale_boxing": ale_boxing_ram.FRAME_MODIFICATIONS,
    "ale_space_invaders": ale_space_invaders_ram.FRAME_MODIFICATIONS,
}
