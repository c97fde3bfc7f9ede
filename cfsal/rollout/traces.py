"""What a paired rollout produces: one :class:`Trace` per arm, a :class:`PairedBranch` per branch point.

A leaf of plain values (numpy only), so that measures, statistics and reports can read traces
without importing the rollout engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
    first_state: str = field(default="", repr=False)  # the state the arm starts from, as JSON text
    picture_state: str = field(default="", repr=False)  # the state its first picture goes with, where not that

    @property
    def shown_state(self) -> str:
        """The state the first observation's newest frame shows, as JSON text: read objects and displayed
        values of that frame from it. ``first_state`` itself, except on ALE after a refresh, where the
        picture is the next emulated frame's and this state carries that frame's RAM."""
        return self.picture_state or self.first_state

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
    """The factual and intervened continuations from one branch point; ``chosen``: what the
    intervention's edit chose in this branch's state (None when it chooses nothing beyond its
    parameters)."""

    episode: int
    step: int
    factual: Trace
    intervened: Trace
    took_effect: bool
    chosen: Any = None
