"""What every ALE game's RAM interventions share: the state check, moves kept in range, HackAtari variants.

An ALE state is :class:`~cfsal.envs.ale_env.AleEnv`'s JSON dict (``ram``, ``emulator``,
``modifications``). An edit checks the game, edits a copy of the RAM, and checks that every byte is
still 0..255; targets are checked against the values the game itself reaches before anything is
written, so the emulator never sees a value it has not produced. :class:`AleMove` moves a position,
:class:`AleSetScore` and :class:`AleSetScores` write scores in the bytes and the code the game's RAM
map names. :class:`AleConfigure` turns HackAtari's modifications of a game (``k4ntz/HackAtari``)
into a whole-game variant, one boolean parameter per modification, as
``ale_pong.Configure(lazy_enemy=True)`` does for Pong: the parameters are made from the
environment's table, so a modification is declared once.
"""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from cfsal.envs.ale_modifications import FRAME_MODIFICATIONS
from cfsal.errors import InterventionError
from cfsal.interventions.config import ConfigIntervention
from cfsal.interventions.params import param
from cfsal.interventions.checks import copy_state
from cfsal.interventions.state import Intervention


class AleRamEdit(Intervention, register=False):
    """An edit of an ALE game's state dict: the game checked, a copy edited, its RAM checked.

    Subclasses set ``game`` and implement ``_edit`` (on the copy) and ``target``.
    """

    #: Where a move must stay, as its refusal names it (Pong: "the court").
    playfield: ClassVar[str] = "where the game puts it"

    def _apply(self, state: dict[str, Any], rng: np.random.Generator | None,
               from_core: bool) -> tuple[dict[str, Any], Any]:
        if not isinstance(state, dict) or state.get("game") != self.game or not isinstance(state.get("ram"), list):
            found = state.get("game") if isinstance(state, dict) else type(state).__name__
            raise InterventionError(
                f"{self.name} edits {self.game} states, but was given {found!r}. "
                f"Apply it to cfsal.envs.make({self.game!r}).get_toybox_state()."
            )
        new = copy_state(state)
        chosen = self.edit(new, rng)
        ram = new["ram"]
        if len(ram) != 128 or not all(type(b) is int and 0 <= b <= 255 for b in ram):
            wrong = (f"{len(ram)} RAM bytes instead of 128" if len(ram) != 128 else
                     next(f"RAM byte {i} = {b!r}" for i, b in enumerate(ram) if not (type(b) is int and 0 <= b <= 255)))
            raise self._error(f"the edit left RAM bytes outside 0..255 ({wrong}); this is a bug in the intervention: "
                              "write ints 0..255, at most what the game itself reaches.")
        return new, chosen

    def _moved(self, what: str, now: int, delta: int, low: int, high: int, offset: int, param_name: str) -> int:
        """The RAM value of a position moved by ``delta`` screen pixels (screen = RAM − ``offset``; ``low``
        and ``high`` are the RAM values the game reaches), or a teaching error."""
        return self._on_screen(what, now - offset, delta, low - offset, high - offset, param_name) + offset

    def _on_screen(self, what: str, here: int, delta: int, low: int, high: int, param_name: str) -> int:
        """``here + delta`` if it stays within ``low..high`` (screen pixels), else an error naming the range
        the game reaches and the deltas that stay inside it."""
        new = here + delta
        if not low <= new <= high:
            axis = param_name[1:]
            raise self._error(
                f"the {what} would be at {axis}={new}, outside {self.playfield} ({low} ≤ {axis} ≤ {high}, "
                f"screen pixels); it is at {here}, so use {low - here} ≤ {param_name} ≤ {high - here}."
            )
        return new


class AleMove(AleRamEdit, register=False):
    """Move something by ``dx`` and/or ``dy`` screen pixels: each axis one RAM position, kept within
    what the game reaches (:meth:`AleRamEdit._moved`); the target is that position (a pair for two axes).

    Subclasses declare the move parameters (``dx``, ``dy`` or both) and :meth:`_axes`; :meth:`_not_ready`
    may refuse a state (no ball in play). A move of zero on every axis is refused: it would edit nothing.
    """

    def _axes(self) -> tuple[tuple[str, str, int, tuple[int, int], int], ...]:
        """Per move parameter: (it, what moves, RAM address, RAM range the game reaches, offset: RAM − screen)."""
        raise NotImplementedError

    def _not_ready(self, ram: list[int]) -> str | None:
        """Why nothing can be moved in this state, or None."""
        return None

    def _validate(self) -> None:
        moves = [f.name for f in dataclasses.fields(self) if f.name in ("dx", "dy")]
        if all(getattr(self, name) == 0 for name in moves):
            raise self._error(f"{' and '.join(f'{name}=0' for name in moves)} move{'' if len(moves) > 1 else 's'} "
                              f"nothing; give a non-zero {' and/or '.join(moves)}.")

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        ram = state["ram"]
        problem = self._not_ready(ram)
        if problem:
            raise self._error(problem)
        for name, what, address, (low, high), offset in self._axes():
            ram[address] = self._moved(what, ram[address], getattr(self, name), low, high, offset, name)

    def target(self, state: dict[str, Any]) -> Any:
        positions = tuple(state["ram"][address] for _, _, address, _, _ in self._axes())
        return positions if len(positions) > 1 else positions[0]


class AleSetScore(AleRamEdit, register=False):
    """Set the agent's score to ``value``, in the bytes and the code the game keeps it in.

    The game's RAM map (``ram_map``, :mod:`cfsal.envs.ale_breakout_ram`, …) names the score's bytes
    (``SCORE_ADDRESSES``), writes a score into them (``score_bytes``) and reads it back (``score``);
    the target is the score read back. Subclasses set ``ram_map`` and declare ``value`` with the
    largest score the game shows.
    """

    ram_map: ClassVar[ModuleType]
    value: int

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        for address, byte in zip(self.ram_map.SCORE_ADDRESSES, self.ram_map.score_bytes(self.value), strict=True):
            state["ram"][address] = byte

    def target(self, state: dict[str, Any]) -> Any:
        return self.ram_map.score(state["ram"])


class AleSetScores(AleRamEdit, register=False):
    """Set the agent's (``player``) and/or the enemy's score, each one byte in the game's code.

    The game's RAM map (``ram_map``, :mod:`cfsal.envs.ale_pong_ram`, …) names the bytes
    (``PLAYER_SCORE``, ``ENEMY_SCORE``) and their code (``points_byte`` writes a score, ``points``
    reads one); the target is the pair read back (None for a score left as it is). Subclasses set
    ``ram_map`` and declare ``player`` and ``enemy`` (``int | None``) with the game's limit.
    """

    ram_map: ClassVar[ModuleType]
    player: int | None
    enemy: int | None

    def _validate(self) -> None:
        if self.player is None and self.enemy is None:
            raise self._error("give player=… and/or enemy=….")

    def _scores(self) -> tuple[tuple[int | None, int], tuple[int | None, int]]:
        """(the score to write or None, its RAM address) for the player, then the enemy."""
        return (self.player, self.ram_map.PLAYER_SCORE), (self.enemy, self.ram_map.ENEMY_SCORE)

    def _edit(self, state: dict[str, Any], rng: np.random.Generator | None) -> None:
        for value, address in self._scores():
            if value is not None:
                state["ram"][address] = self.ram_map.points_byte(value)

    def target(self, state: dict[str, Any]) -> Any:
        return tuple(None if value is None else self.ram_map.points(state["ram"][address])
                     for value, address in self._scores())


def span(ram_range: tuple[int, int]) -> int:
    """The largest move within a RAM range, for a parameter's declared bounds."""
    return ram_range[1] - ram_range[0]


class AleConfigure(ConfigIntervention, register=False):
    """A whole-game variant from reset: HackAtari's modifications of the game switched on or off.

    A game's class sets ``game`` (and ``summary`` and its docstring) and is made a frozen dataclass,
    as every intervention is; its parameters are not written in it but made when it is defined: one
    ``bool | None`` parameter (default None) per modification the environment runs for the game
    (:data:`cfsal.envs.ale_modifications.FRAME_MODIFICATIONS`), in the table's order, named as
    HackAtari names it and documented by the table's line, so they cannot drift from what the game
    runs. ``True`` switches a modification on, ``False`` off, ``None`` leaves it as it is.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Declare the game's modifications as the class's parameters, before ``@dataclass`` reads them."""
        table = FRAME_MODIFICATIONS.get(getattr(cls, "game", None))
        if table is None:  # refused before it is registered
            raise TypeError(f"{cls.__qualname__} configures no game with HackAtari modifications: set game = one "
                            f"of {', '.join(map(repr, FRAME_MODIFICATIONS))} (cfsal.envs.ale_modifications).")
        super().__init_subclass__(**kwargs)
        cls.__annotations__ = {**inspect.get_annotations(cls), **dict.fromkeys(table, "bool | None")}
        for name, modification in table.items():
            setattr(cls, name, param(None, doc=modification.doc))

    def _settings(self) -> dict[str, bool]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def _validate(self) -> None:
        if not self._settings():
            names = [f"{f.name}=True" for f in dataclasses.fields(self)]
            if len(names) == 1:
                raise self._error(f"give {names[0]} (or False to switch it off).")
            raise self._error(f"give at least one of {', '.join(names)} (or =False to switch one off).")

    def _edit_config(self, config: dict[str, Any]) -> None:
        names = set(config.get("modifications", []))
        for name, on in self._settings().items():
            names = names | {name} if on else names - {name}
        config["modifications"] = sorted(names)

    def changed_keys(self) -> tuple[str, ...]:
        return ("modifications",)
