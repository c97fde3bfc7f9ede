"""Interventions shared by several games: the score, the life counter and selections of grid cells.

:func:`score_family` makes a game's six score interventions from the classes here, bound to its
``game`` and its display limit ``max_score``; each game module subclasses :class:`SetLives` with its
own docstring. The limits are what the game can *draw*: Breakout draws five score digits, Space
Invaders draws the score modulo 10 000, and a Space Invaders life count of 10 makes Toybox panic and
abort the process. :class:`CellSelection` is what Breakout's bricks and Space Invaders' aliens share:
rows, columns and cells, checked against the grid's size.

The paper's score experiments (Amidar, §4): set the score once (IVmodifyScore), at several steps,
to fixed or random values (IVmultModifyScores), hold it at one value for the whole episode
(IVnonChangingScores), and decrement it every step from a high start (IVdecrementScore). Toybox
derives the reward from the displayed score, so these also change the reward signal: measure
behaviour by something they do not touch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.interventions.params import param
from cfsal.interventions.state import Intervention


class _ScoreBase(Intervention):
    """Shared score logic: the state key is ``score``; ``max_score`` is what the game can draw."""

    max_score: ClassVar[int]
    score_key: ClassVar[str] = "score"

    def target(self, state: dict[str, Any]) -> Any:
        return state[self.score_key]

    def _set(self, state: dict[str, Any], value: int) -> None:
        if not 0 <= value <= self.max_score:
            raise self._error(
                f"the score would become {value}, outside 0 ≤ score ≤ {self.max_score} (what "
                f"{self.game} can draw). Current score: {state[self.score_key]}; use "
                f"{self.game}.set_score to choose a value directly."
            )
        state[self.score_key] = int(value)


@dataclass(frozen=True)
class SetScore(_ScoreBase):
    """Set the displayed score to ``value`` (the paper's IVmodifyScore, Amidar).

    Changes only the score counter; the score digits are redrawn. Reward follows the score in
    Toybox, so the step after the edit does *not* see the jump as reward (the jump happens between
    steps), but later points accrue on top of the new value.
    """

    summary: ClassVar[str] = "set the score to a value"
    value: int = param(low=0, high="max_score", doc="the new score")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        self._set(state, self.value)


@dataclass(frozen=True)
class AddScore(_ScoreBase):
    """Add ``delta`` (may be negative) to the score; the result must stay drawable (≥ 0)."""

    summary: ClassVar[str] = "add to the score"
    delta: int = param(low="-max_score", high="max_score", doc="points to add (negative subtracts)")

    def _validate(self) -> None:
        if self.delta == 0:
            raise self._error("delta=0 changes nothing; give a non-zero number of points.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        self._set(state, state[self.score_key] + self.delta)


@dataclass(frozen=True)
class MultiplyScore(_ScoreBase):
    """Multiply the score by ``factor`` (rounded to the nearest integer)."""

    summary: ClassVar[str] = "multiply the score"
    factor: float = param(low=0.0, high=1000.0, doc="multiplier (0 zeroes the score)")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        self._set(state, int(round(state[self.score_key] * self.factor)))


@dataclass(frozen=True)
class RandomScore(_ScoreBase):
    """Set the score to a value drawn uniformly from ``low..high`` (inclusive) with the given rng.

    The paper's IVmultModifyScores with ``random_score``: a fresh value in 1..200 at each of
    several steps. Each :meth:`apply` draws anew, only from the ``rng`` passed in.
    """

    summary: ClassVar[str] = "set the score to a random value (drawn from the passed rng)"
    low: int = param(1, low=0, high="max_score", doc="smallest value drawn")
    high: int = param(200, low=0, high="max_score", doc="largest value drawn")

    def _validate(self) -> None:
        if self.low > self.high:
            raise self._error(f"low={self.low} is above high={self.high}; give low ≤ high.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        self._set(state, int(self._require_rng(rng).integers(self.low, self.high + 1)))


@dataclass(frozen=True)
class FreezeScore(_ScoreBase):
    """Hold the score at ``value`` for the rest of the episode (the paper's IVnonChangingScores).

    Persistent: a rollout re-applies it after every step (:meth:`reapply_to_env`). The paper drew
    the held value once per episode from 0..200; draw it yourself from your rng and pass it here.
    """

    summary: ClassVar[str] = "hold the score at one value (persistent: re-applied every step)"
    persistent: ClassVar[bool] = True
    value: int = param(low=0, high="max_score", doc="the value the score is held at")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        self._set(state, self.value)


@dataclass(frozen=True)
class DecrementScore(_ScoreBase):
    """Lower the score by ``by`` every step, stopping at 0 (the paper's IVdecrementScore).

    Persistent: re-applied after every step. The paper started from a high score (3000) and drew
    ``by`` from 1..20 per episode: compose ``set_score(value=3000) + decrement_score(by=…)`` — the
    set is applied once, the decrement after every step.
    """

    summary: ClassVar[str] = "lower the score every step (persistent)"
    persistent: ClassVar[bool] = True
    by: int = param(low=1, high="max_score", doc="points removed per step")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state[self.score_key] = max(0, int(state[self.score_key]) - self.by)


@dataclass(frozen=True)
class SetLives(Intervention):
    """Set the number of lives left (the life counter on screen changes)."""

    summary: ClassVar[str] = "set the number of lives"
    max_lives: ClassVar[int] = 9
    value: int = param(low=0, high="max_lives", doc="lives left")

    def target(self, state: dict[str, Any]) -> Any:
        return state["lives"]

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        state["lives"] = self.value


@dataclass(frozen=True)
class CellSelection(Intervention, register=False):
    """Select cells of a game's grid (Breakout's bricks, Space Invaders' aliens): whole ``rows``, whole
    ``columns`` and single ``cells`` as (column, row) — the union.

    Subclasses set the grid's size (``cell_columns``, ``cell_rows``), what a cell holds
    (``cell_noun``: "bricks") and edit what :meth:`_selection`, a columns × rows mask, selects.
    """

    cell_columns: ClassVar[int]
    cell_rows: ClassVar[int]
    cell_noun: ClassVar[str]
    last_column: ClassVar[int]  # the bounds of rows and columns, set from the grid's size
    last_row: ClassVar[int]
    rows: tuple[int, ...] = param((), low=0, high="last_row", doc="whole rows (0 = top)")
    columns: tuple[int, ...] = param((), low=0, high="last_column", doc="whole columns (0 = left)")
    cells: tuple[tuple[int, int], ...] = param((), doc="single cells as (column, row)")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "cell_columns") and hasattr(cls, "cell_rows"):
            cls.last_column, cls.last_row = cls.cell_columns - 1, cls.cell_rows - 1

    def _validate(self) -> None:
        if not (self.rows or self.columns or self.cells):
            raise self._error(f"select {self.cell_noun} with rows=[…], columns=[…] and/or cells=[[col, row], …].")

    def _selection(self) -> np.ndarray:
        mask = np.zeros((self.cell_columns, self.cell_rows), dtype=bool)
        mask[:, list(self.rows)] = True
        mask[list(self.columns), :] = True
        for column, row in self.cells:
            mask[column, row] = True
        return mask


def score_family(game: str, max_score: int, *, module: str,
                 paper_names: Mapping[str, str] | None = None) -> tuple[type[_ScoreBase], ...]:
    """``game``'s SetScore, AddScore, MultiplyScore, RandomScore, FreezeScore and DecrementScore.

    Each is a subclass of the class of the same name here, with ``game``, ``max_score`` (the largest
    score the game can draw), the shared docstring, and its place in ``module`` (the game module
    that binds them, so ``breakout.SetScore`` is registered as ``"breakout.set_score"``).
    ``paper_names`` gives the seed paper's names by class name (``{"SetScore": "IVmodifyScore"}``).
    """
    family = []
    for shared in (SetScore, AddScore, MultiplyScore, RandomScore, FreezeScore, DecrementScore):
        namespace: dict[str, Any] = {"game": game, "max_score": max_score, "__doc__": shared.__doc__,
                                     "__module__": module, "__qualname__": shared.__name__}
        if paper_names and shared.__name__ in paper_names:
            namespace["paper_name"] = paper_names[shared.__name__]
        family.append(dataclass(frozen=True)(type(shared.__name__, (shared,), namespace)))
    return tuple(family)
