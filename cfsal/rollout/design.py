"""How a hypothesis samples: which states its verdict speaks about, and how each pair is run.

:class:`Design` holds every choice that decides the samples (the state distribution, how many,
the horizon, settling, greedy or sampled actions, common random numbers, the seeds, the looks of a
sequential run); a result carries it whole, so its JSON says exactly how its numbers were drawn.

A counterfactual verdict is a statement about an agent *on a population of states*, so the
population is part of the claim. Two designs:

* :class:`States` (the default): each episode is seeded independently, a step is drawn uniformly
  from a window of agent steps, and the state there is the sample, if the episode is still running
  and the intervention applies; otherwise the episode is set aside (counted, never silently) and the
  next one is played. One sample per episode makes samples independent by construction; with
  ``per_episode=k`` an episode gives k steps drawn without replacement and inference is clustered
  by episode. ``States.at(20)`` is the paper's fixed-step design.
* :class:`Periodic`: the earlier default design, a branch point every ``every`` steps of one
  episode after another. Kept so that old results can be reproduced and compared; its samples are
  correlated within an episode (docs/statistics.md, "Samples from the same episode").

This module is a leaf: plain values, no environment or agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from numbers import Integral
from typing import Any

from cfsal.errors import CfsalError

#: The default window of agent steps. Measured on the zoo agents (32 seeded episodes each; docs/statistics.md
#: "Which states a verdict speaks about"): breakout-a2c's episodes last 190–830 steps (median 650),
#: amidar-a2c's 547–1,170 and the breakout expert's mostly past 570, so by step 500 about 60% of
#: breakout-a2c's episodes and all of the others' still run (few candidates set aside, so the
#: population is not one of long games only); from step 40 the no-op starts and the serve are over.
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
    so its verdicts are judged clustered by episode. ``per_episode`` caps the points of one episode;
    ``unique_situations`` skips a point whose situation an earlier one already had (replayed games).
    """

    every: int = 50
    first: int | None = None
    per_episode: int | None = None
    unique_situations: bool = False

    def __post_init__(self) -> None:
        _whole("Periodic(every)", self.every, 1)
        if self.first is not None:
            _whole("Periodic(first)", self.first, 0)
        if self.per_episode is not None:
            _whole("Periodic(per_episode)", self.per_episode, 1)
        if not isinstance(self.unique_situations, bool):
            raise CfsalError(f"unique_situations={self.unique_situations!r}: pass True (each sample from a situation "
                             "not sampled before) or False (the default: keep repeats).")

    @property
    def clustered(self) -> bool:
        return self.per_episode != 1

    def describe(self) -> str:
        first = self.every if self.first is None else self.first
        cap = "" if self.per_episode is None else f", at most {self.per_episode} per episode"
        unique = ", each situation once" if self.unique_situations else ""
        return (f"every {self.every} steps from step {first} of consecutive seeded episodes{cap}{unique}, "
                "where the intervention applies")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "periodic", "every": self.every, "first": self.first, "per_episode": self.per_episode,
                "unique_situations": self.unique_situations, "description": self.describe()}


StateDesign = States | Periodic


def states_from_dict(data: Mapping[str, Any]) -> StateDesign:
    """The state distribution a result's JSON recorded (``to_dict``), back as a value."""
    if data.get("kind") == "periodic":
        return Periodic(every=data["every"], first=data.get("first"), per_episode=data.get("per_episode"),
                        unique_situations=bool(data.get("unique_situations", False)))
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


def _count(name: str, value: Any, meaning: str) -> int:
    """Experiment sizes are whole numbers ≥ 1; anything else is one teaching error, up front."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise CfsalError(f"{name}={value!r}: {name} counts {meaning} and must be an integer ≥ 1 (e.g. {name}=30).")
    return int(value)


def _flag(name: str, value: Any, true: str, false: str) -> bool:
    if not isinstance(value, bool):
        raise CfsalError(f"{name}={value!r}: pass True ({true}) or False ({false}).")
    return value


def _seed(name: str, value: Any, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        also = ", or None" if optional else ""
        raise CfsalError(f"{name}={value!r}: a seed is an integer ≥ 0{also} (every random choice derives from it, "
                         "so the same seed gives the same samples).")
    return int(value)


@dataclass(frozen=True)
class Design:
    """How a hypothesis samples: every choice that decides its paired samples, in one value.

    A result carries its design whole (``result.design``, ``"design"`` in the JSON), so a verdict
    says which states it speaks about and how they were drawn. What runs the samples (executor,
    workers, progress, a sequential stop rule) and what is measured are not part of it: they never
    change the numbers, or are the claim itself.
    """

    #: which states the samples branch from (:class:`States`, the default, or :class:`Periodic`)
    states: StateDesign = field(default_factory=States)
    #: paired samples to take; with ``batch``, the most a sequential run may take
    samples: int = 30
    #: agent steps each arm runs after the branch
    horizon: int = 20
    #: after the edit: "refresh" re-renders the newest frame (no time passes); an integer n steps n no-ops
    #: (the paper: 3)
    settle: str | int = "refresh"
    #: True: both arms act greedily; False: they sample from the policy
    greedy: bool = False
    #: True: the two arms of a pair sample each action from the same uniform (exact zeros where the
    #: intervention leaves the policy alone); False: independently (placebos, null controls)
    common_random_numbers: bool = True
    #: every random choice of the experiment derives from it
    seed: int = 0
    #: the seed of a store of episodes shared by experiments on one agent and design (the plugin: one
    #: per session); None: from ``seed``. The periodic design always draws from ``seed`` (recorded None)
    states_seed: int | None = None
    #: sequential runs: samples per look (None: one fixed-size run)
    batch: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.states, (States, Periodic)):
            raise CfsalError(f"states={self.states!r}: pass a cfsal.rollout.States (a step drawn from a window of each "
                             "independently seeded episode; the default) or a cfsal.rollout.Periodic.")
        set_ = object.__setattr__
        set_(self, "samples", _count("samples", self.samples, "paired samples (branch points)"))
        set_(self, "horizon", _count("horizon", self.horizon, "steps each arm runs after the branch"))
        if self.batch is not None:
            set_(self, "batch", _count("batch", self.batch, "samples per look"))
        if self.settle != "refresh":
            if isinstance(self.settle, bool) or not isinstance(self.settle, Integral) or not 0 <= self.settle <= 1000:
                raise CfsalError(f"settle={self.settle!r}: use settle='refresh' (re-render the newest frame, no time "
                                 "passes) or an integer 0 ≤ n ≤ 1000 of NOOP steps (the paper stepped 3).")
            set_(self, "settle", int(self.settle))
        _flag("greedy", self.greedy, "both arms act greedily", "they sample from the policy; the default")
        _flag("common_random_numbers", self.common_random_numbers,
              "the arms share each action's uniform; the default", "the arms sample independently")
        set_(self, "seed", _seed("seed", self.seed))
        states_seed = _seed("states_seed", self.states_seed, optional=True)
        set_(self, "states_seed", None if isinstance(self.states, Periodic) else states_seed)

    def describe(self, states: bool = True) -> str:
        """One line for people: how many samples, from which states (unless ``states=False``, where
        the states have a line of their own), and how each pair ran."""
        size = f"{self.samples} samples" if self.batch is None else \
            f"up to {self.samples} samples, looked at every {self.batch}"
        where = f" at {self.states.describe()}" if states else ""
        settle = "settle 'refresh'" if self.settle == "refresh" else f"settle {self.settle} no-op steps"
        actions = "greedy actions" if self.greedy else \
            "sampled actions, " + ("common random numbers" if self.common_random_numbers else "independent arms")
        return f"{size}{where}; each arm {self.horizon} steps after the branch ({settle}, {actions})"

    def changes(self) -> dict[str, Any]:
        """The fields set away from the defaults, as ``counterfactual`` keywords (what the plugin's
        fixture keeps when it fills in the hypothesis's samples and seeds)."""
        default = Design()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}

    def to_dict(self) -> dict[str, Any]:
        return {"states": self.states.to_dict(), **{f.name: getattr(self, f.name) for f in fields(self)[1:]}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """A design recorded by :meth:`to_dict`, checked as a new one is."""
        if not isinstance(data, Mapping) or not isinstance(data.get("states"), Mapping):
            raise CfsalError(f"a recorded design is a JSON object with a 'states' object (Design.to_dict()); got "
                             f"{data!r:.200}.")
        return cls(states=states_from_dict(data["states"]),
                   **{f.name: data[f.name] for f in fields(cls)[1:] if f.name in data})


#: The older keywords of the periodic design, and the :class:`Periodic` field each one sets.
PERIODIC_KEYWORDS = {"branch_every": "every", "first_branch": "first", "max_per_episode": "per_episode",
                     "unique_situations": "unique_situations"}
#: Every keyword that declares a design (``counterfactual``'s keywords apart from the execution ones).
KEYWORDS = (*(f.name for f in fields(Design)), *PERIODIC_KEYWORDS)


def _periodic_keywords(given: dict[str, Any]) -> dict[str, Any]:
    """The older keywords, checked with their own teaching errors, as :class:`Periodic` fields."""
    if "branch_every" in given:
        _count("branch_every", given["branch_every"], "agent steps between branch points")
    if "first_branch" in given:
        _count("first_branch", given["first_branch"], "agent steps before the first branch point")
    cap = given.get("max_per_episode")
    if "max_per_episode" in given and (isinstance(cap, bool) or not isinstance(cap, Integral) or cap < 1):
        raise CfsalError(f"max_per_episode={cap!r}: the most branch points taken from one episode must be an "
                         "integer ≥ 1 (e.g. max_per_episode=5 spreads 30 samples over at least 6 episodes), or None "
                         "for no cap.")
    if "unique_situations" in given:
        _flag("unique_situations", given["unique_situations"], "each sample from a situation not sampled before",
              "the default: keep repeats")
    return {PERIODIC_KEYWORDS[name]: int(value) if name != "unique_situations" else value
            for name, value in given.items()}


def declare(design: Design | None = None, **keywords: Any) -> Design:
    """The design ``counterfactual(..., design=design, **keywords)`` runs.

    Keywords left None are not given. Without ``design`` they build one (the rest at ``Design``'s
    defaults); the older ``branch_every``, ``first_branch``, ``max_per_episode`` and
    ``unique_situations`` declare a :class:`Periodic` state design. With ``design``, a keyword may
    repeat what the design says but not change it: each setting is declared in one place.
    """
    unknown = sorted(set(keywords) - set(KEYWORDS))
    if unknown:
        raise CfsalError(f"counterfactual(..., {unknown[0]}=...): not a design setting; a design declares "
                         f"{', '.join(KEYWORDS)}.")
    if design is not None and not isinstance(design, Design):
        raise CfsalError(f"counterfactual(..., design={design!r}): pass a cfsal.rollout.Design, or the settings "
                         "as keywords (samples=30, horizon=10, ...).")
    given = {name: value for name, value in keywords.items() if value is not None}
    periodic = _periodic_keywords({name: given.pop(name) for name in PERIODIC_KEYWORDS if name in given})
    origin = {name: f"{name}={value!r}" for name, value in given.items()}
    if periodic:
        if "states" in given and set(periodic) - {"unique_situations"}:
            name = next(k for k, v in PERIODIC_KEYWORDS.items() if v in periodic and v != "unique_situations")
            raise CfsalError(f"counterfactual(..., states=..., {name}=...): {name} belongs to the periodic design; "
                             "declare it in one place, e.g. states=Periodic(every=40) or states=States(...).")
        base = given.get("states", design.states if design is not None else None)
        if not isinstance(base, Periodic) and set(periodic) - {"unique_situations"}:
            base = Periodic()
        if not isinstance(base, Periodic):
            if periodic["unique_situations"]:
                raise CfsalError("unique_situations=True is for the periodic design (branch_every=..., or "
                                 "states=Periodic(...)); with States every sample comes from its own independently "
                                 "seeded episode, so two that meet in one situation are still independent draws of "
                                 "the declared population.")
        else:
            given["states"] = replace(base, **periodic)
            origin["states"] = ", ".join(f"{k}={keywords[k]!r}" for k, v in PERIODIC_KEYWORDS.items() if v in periodic)
    if design is None:
        return Design(**given)
    merged = replace(design, **given)
    for name in given:
        wanted = getattr(merged, name)
        if wanted != getattr(design, name):
            raise CfsalError(
                f"counterfactual(..., design=..., {origin[name]}): the design says {name}={getattr(design, name)!r}. "
                f"Declare each setting in one place: in the design (design=dataclasses.replace(design, "
                f"{name}={wanted!r})), or as keywords without design=.")
    return design


def design_of_record(result: Mapping[str, Any]) -> Design | None:
    """The design a result's JSON (``CounterfactualResult.to_dict``) was drawn with, from either layout:
    ``"design"`` (schema 2), or the flat fields of schema 1; None if it does not say (older records)."""
    if isinstance(result.get("design"), Mapping):
        return Design.from_dict(result["design"])
    if result.get("states"):
        states = states_from_dict(result["states"])
    elif result.get("branch_every"):
        states = Periodic(every=result["branch_every"], first=result.get("first_branch"),
                          per_episode=result.get("max_per_episode"),
                          unique_situations=bool(result.get("unique_situations", False)))
    else:
        return None
    if isinstance(states, Periodic) and result.get("unique_situations"):
        states = replace(states, unique_situations=True)
    return Design(states=states, samples=result.get("max_samples") or result.get("n") or 1,
                  horizon=result.get("horizon", 20), settle=result.get("settle", "refresh"),
                  greedy=bool(result.get("greedy", False)),
                  common_random_numbers=bool(result.get("common_random_numbers", True)),
                  seed=result.get("seed", 0), states_seed=result.get("states_seed"), batch=result.get("batch"))
