"""Which states a verdict speaks about: the declared distribution its branch points are drawn from.

A counterfactual verdict is a statement about an agent *on a population of states*, so the
population is part of the claim. Two designs:

* :class:`States` (the default): each episode is seeded independently, a step is drawn uniformly
  from a window of agent steps, and the state there is the sample, if the episode is still running
  and the intervention applies; otherwise the episode is set aside (counted, never silently) and the
  next one is played. One sample per episode makes samples independent by construction; with
  ``per_episode=k`` an episode gives k steps drawn without replacement and inference is clustered
  by episode. ``States.at(20)`` is the paper's fixed-step design.
* :class:`Periodic`: the design before session 11, a branch point every ``every`` steps of one
  episode after another. Kept so that old results can be reproduced and compared; its samples are
  correlated within an episode (docs/statistics.md, "Samples from the same episode").

This module is a leaf: plain values, no environment or agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cfsal.errors import CfsalError

#: The default window of agent steps. Measured on the zoo agents (``benchmarks/bench_collect.py``,
#: docs/statistics.md "Which states"): breakout-a2c's episodes last a median of ~830 steps,
#: amidar-a2c's ~1,500 and the breakout expert's mostly past 3,000, so [40, 800) is reached by
#: most episodes of every zoo agent (few set aside, so the population is not one of long games
#: only), starts after the opening's no-op starts and serve, and spans the early and middle game.
DEFAULT_WINDOW = (40, 500)


def _whole(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise CfsalError(f"{name}={value!r}: must be an integer ≥ {least}.")
    return value


@dataclass(frozen=True)
class States:
    """A step drawn uniformly from ``window`` = [start, stop) of each independently seeded episode.

    ``per_episode`` steps (distinct, drawn without replacement) come from each episode; with more
    than one, samples of an episode are correlated and the judge clusters by episode. A candidate
    state is kept only where the episode is still running and the intervention applies; the
    result records how many were set aside and why (``result.selection``).
    """

    window: tuple[int, int] = DEFAULT_WINDOW
    per_episode: int = 1

    def __post_init__(self) -> None:
        window = tuple(self.window) if isinstance(self.window, (tuple, list)) else None
        if window is None or len(window) != 2:
            raise CfsalError(f"States(window={self.window!r}): the window is a pair (start, stop) of agent "
                             "steps, e.g. window=(40, 500); for one fixed step use States.at(step).")
        start = _whole("States(window=(start, …)) start", window[0], 0)
        stop = _whole("States(window=(…, stop)) stop", window[1], 1)
        if stop <= start:
            raise CfsalError(f"States(window={window!r}): stop must be greater than start (the window is "
                             "[start, stop), so States.at(20) is window=(20, 21)).")
        object.__setattr__(self, "window", (start, stop))
        _whole("States(per_episode)", self.per_episode, 1)
        if self.per_episode > stop - start:
            raise CfsalError(f"States(window={window!r}, per_episode={self.per_episode}): an episode cannot "
                             f"give more distinct steps than the window holds ({stop - start}).")

    @classmethod
    def at(cls, step: int) -> States:
        """The paper's fixed-step design: every sample at agent step ``step`` of its own episode."""
        return cls(window=(step, step + 1))

    @property
    def clustered(self) -> bool:
        """Whether samples share episodes (then the episode is the unit of inference)."""
        return self.per_episode > 1

    def describe(self) -> str:
        start, stop = self.window
        where = f"step {start}" if stop == start + 1 else f"a step uniform in [{start}, {stop})"
        each = "an independently seeded episode" if self.per_episode == 1 else \
            f"each independently seeded episode ({self.per_episode} distinct steps, clustered by episode)"
        return f"{where} of {each}, where the intervention applies"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "uniform", "window": list(self.window), "per_episode": self.per_episode,
                "description": self.describe()}


@dataclass(frozen=True)
class Periodic:
    """A branch point every ``every`` steps (from ``first``, default ``every``) of consecutive episodes.

    The design before ``States``: samples of one episode are correlated and few episodes are used,
    so its verdicts are judged clustered by episode. ``per_episode`` caps the points of one episode.
    """

    every: int = 50
    first: int | None = None
    per_episode: int | None = None

    def __post_init__(self) -> None:
        _whole("Periodic(every)", self.every, 1)
        if self.first is not None:
            _whole("Periodic(first)", self.first, 0)
        if self.per_episode is not None:
            _whole("Periodic(per_episode)", self.per_episode, 1)

    @property
    def clustered(self) -> bool:
        return self.per_episode != 1

    def describe(self) -> str:
        first = self.every if self.first is None else self.first
        cap = "" if self.per_episode is None else f", at most {self.per_episode} per episode"
        return (f"every {self.every} steps from step {first} of consecutive seeded episodes{cap}, "
                "where the intervention applies")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "periodic", "every": self.every, "first": self.first, "per_episode": self.per_episode,
                "description": self.describe()}


StateDesign = States | Periodic


def design_from_dict(data: dict[str, Any]) -> StateDesign:
    """The design a result's JSON recorded (``to_dict``), back as a value."""
    if data.get("kind") == "periodic":
        return Periodic(every=data["every"], first=data.get("first"), per_episode=data.get("per_episode"))
    return States(window=tuple(data["window"]), per_episode=data.get("per_episode", 1))


@dataclass(frozen=True)
class Selection:
    """What drawing the samples cost and set aside: the candidates behind the kept states.

    ``episodes`` were played (started); of the candidate states, ``ended`` were never reached (the
    episode ended before its drawn step) and ``not_applicable`` were reached but the intervention
    did not apply there. A large share set aside means the claim speaks about a selected part of
    the declared population; the report says so.
    """

    kept: int
    episodes: int
    ended: int = 0
    not_applicable: int = 0

    @property
    def candidates(self) -> int:
        return self.kept + self.ended + self.not_applicable

    def describe(self) -> str:
        parts = [f"{self.kept} of {self.candidates} candidate states kept from {self.episodes} episodes"]
        if self.not_applicable:
            parts.append(f"{self.not_applicable} where the intervention did not apply")
        if self.ended:
            parts.append(f"{self.ended} in episodes that ended first")
        return "; ".join(parts)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        return cls(kept=int(data.get("kept", 0)), episodes=int(data.get("episodes", 0)),
                   ended=int(data.get("ended", 0)), not_applicable=int(data.get("not_applicable", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "episodes": self.episodes, "ended": self.ended,
                "not_applicable": self.not_applicable, "candidates": self.candidates}
