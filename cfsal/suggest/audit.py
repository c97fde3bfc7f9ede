"""The saliency audit: which game objects does a saliency method say the agent looks at?

Over recorded episodes of an agent, for each saliency method:

* **Attribution to objects.** Every mapped frame's saliency mass (actor map by default) is split
  over the game objects by the objects' observation-pixel coverage
  (:meth:`cfsal.envs.objects.ObjectBox.obs_weights`, PIL's own resampling weights), so the masses
  on disjoint objects plus the mass on no object add up to the map's total exactly.
* **Enrichment.** An object's share of saliency against its share of the screen:
  E = Σ_t s_t / Σ_t a_t over the frames where it is drawn (s_t: its share of frame t's saliency,
  a_t: the share of the 84×84 observation it covers). E = 1 is what a map blind to objects would
  give; the ball, a few pixels of the screen, is salient when E ≫ 1. A ratio of sums, not a mean
  of per-frame ratios, so frames where a tiny object covers almost nothing do not dominate.
* **Correlations** of an object's saliency share with its state variables (distance to the
  player, speed, displayed value; :mod:`cfsal.suggest.catalog`), Pearson's r — the paper's Amidar
  enemy analysis (saliency on an enemy rises as it nears the player), for every object.

Uncertainty: consecutive frames of an episode are autocorrelated (the ball is salient in runs),
so frames are not independent draws. Confidence intervals come from a **moving-block bootstrap**
(Künsch 1989): each episode's mapped frames are cut into consecutive blocks of ``block`` frames,
blocks are resampled with replacement (2000 times) and the statistic is recomputed; the interval
is the percentile interval. The block length is the smallest lag at which the frame-to-frame
autocorrelation of every object's saliency share falls below 0.2 (pooled within episodes), so
frames further apart than a block are close to independent. The audit records the block length.

The audit is exploratory: it proposes claims, and the hypothesis files test them on fresh
branches. It therefore reports intervals without a multiple-comparison correction; a finding is
only a suggestion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cfsal._seeding import child
from cfsal.agents.base import Agent
from cfsal.envs.objects import ObjectBox, select, union_weights
from cfsal.envs.objects import objects as game_objects
from cfsal.errors import CfsalError
from cfsal.saliency import method_defaults
from cfsal.saliency._utils import SCREEN
from cfsal.suggest.catalog import VARIABLES, audit_objects, frame_variables
from cfsal.suggest.episodes import agent_sha256, episode_maps, episode_seed, load_episode, mapped_steps

if TYPE_CHECKING:
    from typing_extensions import Self

AUDIT_SCHEMA_VERSION = 1
RESAMPLES = 2000
CONFIDENCE = 0.95
#: Lag autocorrelation below which frames count as nearly independent (block-length rule).
ACF_THRESHOLD = 0.2
MAX_BLOCK = 10
#: A correlation is reported as found when its CI excludes 0 and |r| is at least this.
MIN_R = 0.2
#: Fewer frames than this with the object on screen: no enrichment verdict ("rare").
MIN_FRAMES = 5

Progress = Callable[[str, int, int], None]


# -- attribution ----------------------------------------------------------------------------
def attribute(maps: np.ndarray, boxes: Sequence[Mapping[str, ObjectBox]], regions: Sequence[str]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split saliency over objects: ``(mass [F, O], area [F, O], rest [F], total [F])``.

    ``mass[f, o]`` is Σ weight·|saliency| over the pixels of region ``o`` in frame ``f`` (NaN where
    it is not drawn), ``area[f, o]`` the share of the screen it covers (NaN likewise), ``rest`` the
    mass on no region (total minus the mass on the union of all regions) and ``total`` Σ|saliency|.
    Regions that do not overlap therefore satisfy Σ_o mass + rest = total exactly.
    """
    maps = np.abs(np.asarray(maps, dtype=np.float64))
    n, n_regions = len(maps), len(regions)
    if len(boxes) != n:
        raise CfsalError(f"attribute: {n} maps but {len(boxes)} frames of object boxes")
    mass = np.full((n, n_regions), np.nan)
    area = np.full((n, n_regions), np.nan)
    rest = maps.sum(axis=(1, 2))
    total = rest.copy()
    for f, frame in enumerate(boxes):  # one frame's weights at a time: [O, 84, 84] stays small
        chosen_all = []
        for o, region in enumerate(regions):
            chosen = select(frame, region)
            if chosen:
                weights = union_weights(chosen, SCREEN)
                mass[f, o] = float((weights * maps[f]).sum())
                area[f, o] = float(weights.sum()) / float(SCREEN * SCREEN)
                chosen_all.extend(chosen)
        if chosen_all:
            rest[f] = total[f] - float((union_weights(chosen_all, SCREEN) * maps[f]).sum())
    return mass, area, rest, total


def shares(mass: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Per-frame share of saliency on each object; 0 on frames whose map is all zero (nothing is
    salient there), NaN where the object is absent."""
    safe = np.where(total > 0, total, 1.0)
    return np.where(total[:, None] > 0, mass / safe[:, None], np.where(np.isnan(mass), np.nan, 0.0))


# -- resampling -----------------------------------------------------------------------------
def block_ids(episodes: np.ndarray, block: int) -> np.ndarray:
    """Block index of every frame: consecutive runs of ``block`` frames, never crossing episodes.
    Frames must be ordered by episode, then step."""
    ids = np.empty(len(episodes), dtype=np.int64)
    next_id = 0
    for e in np.unique(episodes):
        where = np.flatnonzero(episodes == e)
        ids[where] = next_id + np.arange(len(where)) // block
        next_id = ids[where].max() + 1 if len(where) else next_id
    return ids


def block_weights(episodes: np.ndarray, block: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Moving-block bootstrap as frame weights ``[resamples, F]``: how often each frame is drawn."""
    ids = block_ids(episodes, block)
    n_blocks = int(ids.max()) + 1 if len(ids) else 0
    draws = rng.integers(n_blocks, size=(resamples, n_blocks))
    counts = np.zeros((resamples, n_blocks))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    return counts[:, ids]


def choose_block(episodes: np.ndarray, series: np.ndarray, *, threshold: float = ACF_THRESHOLD,
                 max_block: int = MAX_BLOCK) -> int:
    """Smallest lag k ≥ 1 at which every column's within-episode lag-k autocorrelation is below
    ``threshold`` (columns that are constant or too short count as uncorrelated)."""
    series = np.asarray(series, dtype=np.float64).reshape(len(episodes), -1)
    for k in range(1, max_block + 1):
        if k >= len(episodes):
            return k
        same = episodes[k:] == episodes[:-k]
        worst = 0.0
        for column in series.T:
            a, b = column[:-k][same], column[k:][same]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
                continue
            worst = max(worst, abs(float(np.corrcoef(a[ok], b[ok])[0, 1])))
        if worst < threshold:
            return k
    return max_block


def _percentile_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def enrichment(share: np.ndarray, area: np.ndarray, weights: np.ndarray,
               confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """E = Σ s / Σ a over frames where the object is drawn, with a block-bootstrap percentile CI."""
    present = np.isfinite(share) & np.isfinite(area)
    s, a = np.where(present, share, 0.0), np.where(present, area, 0.0)
    if a.sum() <= 0:
        return float("nan"), float("nan"), float("nan")
    numerator, denominator = weights @ s, weights @ a
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
    low, high = _percentile_ci(boot, confidence)
    return float(s.sum() / a.sum()), low, high


def weighted_pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson's r of (x, y) under each row of frame ``weights`` ``[R, F]`` → ``[R]`` (NaN if degenerate)."""
    w = np.atleast_2d(weights)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = (w @ x) / total, (w @ y) / total
        dx, dy = x[None, :] - mx[:, None], y[None, :] - my[:, None]
        cov = (w * dx * dy).sum(axis=1)
        vx, vy = (w * dx * dx).sum(axis=1), (w * dy * dy).sum(axis=1)
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 0) & (vy > 0), r, np.nan)


# -- results --------------------------------------------------------------------------------
class _FlatRecord:
    """A result whose fields are all plain JSON values: its dict is its fields, read back by name."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Correlation(_FlatRecord):
    """Pearson's r between an object's saliency share and one of its state variables, over frames."""

    variable: str
    r: float
    ci_low: float
    ci_high: float
    n: int
    found: bool


@dataclass(frozen=True)
class ObjectFinding:
    """What one method's maps say about one object. ``label``: ``salient`` (enrichment CI above 1),
    ``low`` (CI below 1), ``unclear`` (CI spans 1) or ``rare`` (drawn in too few frames)."""

    name: str
    rank: int
    frames: int
    saliency_share: float
    screen_share: float
    enrichment: float
    ci_low: float
    ci_high: float
    label: str
    correlations: tuple[Correlation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["correlations"] = [c.to_dict() for c in self.correlations]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectFinding:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k != "correlations"}
        return cls(**values, correlations=tuple(Correlation.from_dict(c) for c in data.get("correlations", ())))


@dataclass(frozen=True)
class MethodAudit:
    """The audit under one saliency method, objects in rank order (highest enrichment first)."""

    method: str
    params: Mapping[str, Any]
    output: str
    frames: int
    zero_frames: int
    rest_share: float
    block: int
    objects: tuple[ObjectFinding, ...]

    def finding(self, name: str) -> ObjectFinding:
        for item in self.objects:
            if item.name == name:
                return item
        raise CfsalError(f"the {self.method} audit has no object {name!r}; it has "
                         f"{', '.join(o.name for o in self.objects)}")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": dict(self.params), "output": self.output, "frames": self.frames,
                "zero_frames": self.zero_frames, "rest_share": self.rest_share, "block": self.block,
                "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodAudit:
        return cls(data["method"], dict(data["params"]), data["output"], int(data["frames"]),
                   int(data["zero_frames"]), float(data["rest_share"]), int(data["block"]),
                   tuple(ObjectFinding.from_dict(o) for o in data["objects"]))


@dataclass(frozen=True)
class EpisodeInfo(_FlatRecord):
    """Where the audited frames came from: episode ``index`` recorded with ``seed``."""

    index: int
    seed: int
    length: int
    score: float
    first_step: int
    last_step: int
    mapped: int


@dataclass(frozen=True)
class Audit:
    """A saliency audit of one agent: settings, where the frames came from, findings per method.
    ``claims`` is filled by :func:`cfsal.suggest.suggest` with the claims written from it."""

    agent: str
    agent_sha256: str
    game: str
    seed: int
    max_steps: int
    every: int
    episodes: tuple[EpisodeInfo, ...]
    methods: Mapping[str, MethodAudit]
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    claims: tuple[Mapping[str, Any], ...] = field(default=())
    command: str = ""

    @property
    def frames(self) -> int:
        return sum(e.mapped for e in self.episodes)

    def frames_text(self) -> str:
        """Where the frames came from, for docstrings: one clause per episode."""
        return "; ".join(f"episode {e.index} (seed {e.seed}, {e.length} steps) steps {e.first_step}–{e.last_step} "
                         f"every {self.every}" for e in self.episodes if e.mapped)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": AUDIT_SCHEMA_VERSION, "kind": "cfsal-saliency-audit", "agent": self.agent,
                "agent_sha256": self.agent_sha256, "game": self.game, "seed": self.seed,
                "max_steps": self.max_steps, "every": self.every, "frames": self.frames,
                "episodes": [e.to_dict() for e in self.episodes],
                "bootstrap": {"scheme": "moving-block bootstrap over each episode's mapped frames, "
                                        "percentile interval; block length per method from the "
                                        f"autocorrelation rule (lag autocorrelation < {ACF_THRESHOLD})",
                              "resamples": self.resamples, "confidence": self.confidence},
                "methods": {name: m.to_dict() for name, m in self.methods.items()},
                "claims": [dict(c) for c in self.claims], "command": self.command}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audit:
        version = data.get("schema_version")
        if data.get("kind") != "cfsal-saliency-audit" or version != AUDIT_SCHEMA_VERSION:
            raise CfsalError(f"not a cfsal saliency audit of schema version {AUDIT_SCHEMA_VERSION} "
                             f"(kind {data.get('kind')!r}, version {version!r}); re-run `cfsal suggest`.")
        return cls(data["agent"], data["agent_sha256"], data["game"], int(data["seed"]), int(data["max_steps"]),
                   int(data["every"]), tuple(EpisodeInfo.from_dict(e) for e in data["episodes"]),
                   {k: MethodAudit.from_dict(v) for k, v in data["methods"].items()},
                   int(data["bootstrap"]["resamples"]), float(data["bootstrap"]["confidence"]),
                   tuple(data.get("claims", ())), data.get("command", ""))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, default=_json_number) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Audit:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise CfsalError(f"cannot read the audit {str(path)!r} ({error}); `cfsal suggest` writes "
                             "audit.json beside the hypothesis files.") from None


def _json_number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- the audit of one method's frames (pure) ------------------------------------------------
def audit_frames(method: str, params: Mapping[str, Any], output: str, maps: np.ndarray,
                 boxes: Sequence[Mapping[str, ObjectBox]], variables: Mapping[str, np.ndarray],
                 episodes: np.ndarray, regions: Sequence[str], rng: np.random.Generator,
                 resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> MethodAudit:
    """Enrichment and correlations of every region over the given frames (one method's maps)."""
    mass, area, rest, total = attribute(maps, boxes, regions)
    share = shares(mass, total)
    block = choose_block(episodes, share)
    weights = block_weights(episodes, block, resamples, rng)
    findings = []
    for o, region in enumerate(regions):
        present = np.isfinite(share[:, o])
        estimate, low, high = enrichment(share[:, o], area[:, o], weights, confidence)
        frames = int(present.sum())
        if frames < MIN_FRAMES or not np.isfinite(estimate):
            label = "rare"
        elif low > 1:
            label = "salient"
        elif high < 1:
            label = "low"
        else:
            label = "unclear"
        correlations = []
        for variable in VARIABLES:
            y = variables[variable][:, o]
            ok = present & np.isfinite(y)
            if ok.sum() < 10 or np.ptp(y[ok]) == 0 or np.ptp(share[ok, o]) == 0:
                continue
            r = float(weighted_pearson(share[ok, o], y[ok], np.ones((1, int(ok.sum()))))[0])
            r_low, r_high = _percentile_ci(weighted_pearson(share[ok, o], y[ok], weights[:, ok]), confidence)
            found = bool(abs(r) >= MIN_R and (r_low > 0 or r_high < 0))
            correlations.append(Correlation(variable, r, r_low, r_high, int(ok.sum()), found))
        findings.append(ObjectFinding(region, 0, frames, float(np.nanmean(share[:, o])) if frames else float("nan"),
                                      float(np.nanmean(area[:, o])) if frames else float("nan"),
                                      estimate, low, high, label, tuple(correlations)))
    order = sorted(range(len(findings)), key=lambda i: -_sortable(findings[i].enrichment))
    ranked = tuple(ObjectFinding(**{**findings[i].__dict__, "rank": rank + 1}) for rank, i in enumerate(order))
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_share = float(np.mean(np.where(total > 0, rest / np.where(total > 0, total, 1.0), 0.0)))
    return MethodAudit(method, dict(params), output, len(maps), int((total == 0).sum()), rest_share, block, ranked)


def _sortable(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


# -- the whole audit ------------------------------------------------------------------------
def run_audit(agent: Agent, *, episodes: int = 5, methods: Sequence[str] = ("perturbation",), seed: int = 0,
              max_steps: int = 1000, every: int = 10, params: Mapping[str, Mapping[str, Any]] | None = None,
              output: str = "actor", cache: str | Path | None = None, resamples: int = RESAMPLES,
              progress: Progress | None = None) -> Audit:
    """Record ``episodes`` episodes of ``agent`` (seeded from ``seed``), map every ``every``-th
    step with each method, and audit the maps. ``params[method]`` overrides a method's defaults.
    ``progress(phase, done, total)`` reports "episodes" and then "<method> frames"."""
    if episodes < 1:
        raise CfsalError(f"episodes must be ≥ 1, got {episodes}")
    if output not in ("actor", "critic"):
        raise CfsalError(f"output must be 'actor' (the policy's map) or 'critic' (the value's), got {output!r}")
    params = dict(params or {})
    settings = {}
    for method in methods:
        defaults = method_defaults(method)  # raises for an unknown method, before any work
        unknown = sorted(set(params.get(method, {})) - set(defaults))
        if unknown:
            raise CfsalError(f"saliency method {method!r} has no parameter(s) {', '.join(unknown)}; its parameters "
                             f"are {', '.join(defaults)}")
        settings[method] = {**defaults, **params.get(method, {})}
    game = agent.spec.game
    regions = [o.name for o in audit_objects(game)]
    sha = agent_sha256(agent)
    cache_dir = None if cache is None else Path(cache)

    trajectories, infos, steps_of = [], [], []
    for e in range(episodes):
        trajectory = load_episode(agent, sha=sha, seed=seed, episode=e, max_steps=max_steps, cache=cache_dir)
        steps = mapped_steps(trajectory.length, every)
        trajectories.append(trajectory)
        steps_of.append(steps)
        infos.append(EpisodeInfo(e, episode_seed(seed, e), trajectory.length, trajectory.score,
                                 int(steps[0]) if len(steps) else 0, int(steps[-1]) if len(steps) else 0, len(steps)))
        if progress is not None:
            progress("episodes", e + 1, episodes)
    if sum(len(s) for s in steps_of) == 0:
        raise CfsalError(f"no frames to map: the episodes lasted {[t.length for t in trajectories]} steps, "
                         f"fewer than every={every}. Use a smaller --every or a larger --max-steps.")

    boxes, previous, states, frame_episodes = [], [], [], []
    for e, (trajectory, steps) in enumerate(zip(trajectories, steps_of)):
        for t in steps:
            state = json.loads(trajectory.states[t])
            states.append(state)
            boxes.append(game_objects(game, state))
            previous.append(game_objects(game, json.loads(trajectory.states[t - 1])))
            frame_episodes.append(e)
    variables = frame_variables(game, boxes, previous, states)
    frame_episodes_array = np.asarray(frame_episodes)

    results = {}
    for m, method in enumerate(methods):
        total_frames, done = len(boxes), 0
        maps = []
        for e, (trajectory, steps) in enumerate(zip(trajectories, steps_of)):
            def tick(n: int, _method: str = method, _total: int = total_frames) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(f"{_method} frames", done, _total)

            actor, critic = episode_maps(agent, trajectory, steps, method=method, params=settings[method], sha=sha,
                                         seed=seed, episode=e, max_steps=max_steps, every=every, cache=cache_dir,
                                         progress=tick)
            maps.append(actor if output == "actor" else critic)
        rng = np.random.default_rng(child(seed, 1, m))
        results[method] = audit_frames(method, settings[method], output, np.concatenate(maps), boxes, variables,
                                       frame_episodes_array, regions, rng, resamples)
    return Audit(getattr(agent, "name", "agent"), sha, game, seed, max_steps, every, tuple(infos), results, resamples)
