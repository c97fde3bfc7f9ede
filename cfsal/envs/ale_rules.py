"""What one of HackAtari's modifications is to cfsal: a rule run before every frame, and what it does.

Each ALE game's RAM module (:mod:`cfsal.envs.ale_pong_ram`, …) lists its modifications as
:class:`Modification` entries under HackAtari's names; :mod:`cfsal.envs.ale_modifications` gathers
them for the environment, and the game's ``Configure`` intervention takes its parameters (names and
docs) from the same entries, so a modification is declared once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: A per-frame rule: (the RAM, its memory) → (RAM writes by address, its new memory). Pure.
FrameModification = Callable[[Sequence[int], Mapping[str, int]], tuple[dict[int, int], dict[str, int]]]


@dataclass(frozen=True)
class Modification:
    """One HackAtari modification: its per-frame ``rule``, the ``memory`` it starts a game with
    (HackAtari's values), and ``doc``, one line on what a player sees (the ``Configure`` parameter's doc)."""

    rule: FrameModification
    memory: dict[str, int]
    doc: str
