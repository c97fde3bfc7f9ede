"""Pictures of a hypothesis's branches for the report: before/after frames with saliency, and a movie.

A verdict says *whether* the intervention mattered; these pictures say *what* it did. For two
branch points — a **typical** one (the paired difference closest to the median) and an
**extreme** one (the largest difference in absolute value) — the report shows the frame the
agent saw just before and just after the intervention, raw and with its saliency overlaid
(actor in blue, critic in red: the colours of Greydanus et al. 2018 and of the seed paper's
movies), plus a short movie of the extreme branch's factual and intervened continuations.

Two sources of frames, best first:

1. **RGB**: the branch's environment is rebuilt exactly — the agent's play is re-run from the
   result's seed with :func:`cfsal.rollout.collect_branch_points` (deterministic), the
   intervention is rebuilt from its spec and re-applied with the pair's own seed — and checked
   against the observations the experiment recorded (``PairedBranch.*.first_observation``). Only
   a bit-exact match is shown, so the picture is the experiment's, not a look-alike.
2. **Observation**: otherwise (an intervention that cannot be rebuilt from its spec, settings
   that differ from the defaults), the 84×84 newest frame of the agent's own observations, which
   the result holds exactly.

Saliency is computed on the recorded observations in both cases, with one colour scale per
figure (shared by before and after, so their brightness compares).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cfsal._seeding import child
from cfsal.errors import CfsalError
from cfsal.interventions import from_spec
from cfsal.interventions.render import changed_boxes
from cfsal.rollout import collect_branch_points
from cfsal.rollout.design import States
from cfsal.rollout.paired import prepare_pair
from cfsal.rollout.sampling import EpisodeStore
from cfsal.saliency import SaliencyError, saliency
from cfsal.saliency.movie import movie_scale, overlay, write_movie

if TYPE_CHECKING:  # torch loads only when frames are drawn, so the pytest plugin stays cheap to import
    from cfsal.agents.base import Agent

MEDIA_SCHEMA_VERSION = 1
_GAP = 4
_CYAN = np.array([0, 255, 255], np.uint8)  # absent from every game's palette, Toybox's and the ALE's
#: Movies cover at most this many steps of the continuation (the report stays light).
MAX_MOVIE_STEPS = 30
#: Movie frames use perturbation masks every 10 pixels instead of 5: 81 masks per frame instead of
#: 289, measured 3.8× faster (0.03 s per frame on one core), with maps that pick out the same
#: objects. The still figures keep the paper's density.
MOVIE_PERTURBATION = {"density": 10}


def pick_branches(values: Sequence[float]) -> dict[str, int]:
    """Indices of a typical branch (closest to the median) and an extreme one (largest |difference|).

    Ties go to the earliest branch, so the choice is stable. One entry only when both are the
    same branch (e.g. every difference is 0).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {}
    typical = int(np.argmin(np.abs(v - np.median(v))))
    extreme = int(np.argmax(np.abs(v)))
    return {"typical": typical} if typical == extreme else {"typical": typical, "extreme": extreme}


@dataclass(frozen=True)
class BranchFrames:
    """Before/after frames of one branch (RGB, same shape) and where they came from."""

    before: np.ndarray
    after: np.ndarray
    source: str  # "rgb" (the game's full-resolution frame) or "observation" (the agent's 84×84 input)


def observation_frames(pair: Any, upscale: int = 2) -> BranchFrames:
    """The newest frame of the factual and intervened observations, as grey RGB (always exact)."""
    def rgb(obs: np.ndarray) -> np.ndarray:
        grey = np.asarray(obs)[-1].repeat(upscale, axis=0).repeat(upscale, axis=1)
        return np.repeat(grey[..., None], 3, axis=-1)

    return BranchFrames(rgb(pair.factual.first_observation), rgb(pair.intervened.first_observation), "observation")


def _pair_seed(result: Any, index: int) -> np.random.SeedSequence:
    """The seed :func:`cfsal.rollout.counterfactual` gave pair ``index`` (its child 1 drives the edit)."""
    return child(child(result.design.seed, 1), index)


def rebuild_branch_points(agent: Agent, result: Any, indices: Sequence[int]) -> dict[int, Any]:
    """Exact :class:`cfsal.rollout.BranchPoint` snapshots of the result's branches ``indices``.

    Re-plays the agent's seeded episodes as :func:`cfsal.rollout.counterfactual` did: under the
    declared ``States`` design only the wanted episodes (each depends on its seed alone), under the
    periodic design every episode up to the last wanted one (sampled actions, the default). A
    stopgap while results do not keep their snapshots.
    """
    wanted = {(int(result.episodes[i]), int(result.steps[i])): i for i in indices}
    design = result.design
    if isinstance(design.states, States):
        seed = child(design.seed, 0) if design.states_seed is None else np.random.SeedSequence(design.states_seed)
        found = {}
        for (episode, step), index in wanted.items():
            store = EpisodeStore(agent, design.states, seed=seed, greedy=design.greedy, first=episode, width=1)
            for point in store.candidates(episode).points:
                if point.step == step:
                    found[index] = point
        return found
    every = design.states.every
    residue = int(result.steps[indices[0]]) % every
    points = collect_branch_points(agent, count=len(wanted), branch_every=every,
                                   seed=child(design.seed, 0), first_branch=residue,
                                   accept=lambda point: (point.episode, point.step) in wanted)
    return {wanted[(p.episode, p.step)]: p for p in points}


def rgb_frames(factual: Any, intervened: Any, pair: Any) -> BranchFrames | None:
    """RGB frames of both arms, or None unless their observations match the recorded ones exactly."""
    if not (np.array_equal(factual.observation, pair.factual.first_observation)
            and np.array_equal(intervened.observation, pair.intervened.first_observation)):
        return None
    return BranchFrames(factual.rgb_frame(), intervened.rgb_frame(), "rgb")


def _scales(maps: Any) -> tuple[float, float]:
    return movie_scale(maps.actor), movie_scale(maps.critic)


def _overlaid(frames: np.ndarray, maps: Any, scales: tuple[float, float]) -> np.ndarray:
    return overlay(frames, maps.actor, maps.critic, actor_scale=scales[0], critic_scale=scales[1])


def _grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Tile equally sized RGB images with white gaps."""
    height = rows[0][0].shape[0]
    vgap = np.full((height, _GAP, 3), 255, np.uint8)
    lines = []
    for row in rows:
        cells = [c for image in row for c in (image, vgap)][:-1]
        lines.append(np.concatenate(cells, axis=1))
    hgap = np.full((_GAP, lines[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([c for line in lines for c in (line, hgap)][:-1], axis=0)


def _outline(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    out = frame.copy()
    for x0, y0, x1, y1 in boxes:
        out[[y0, y1], x0:x1 + 1] = _CYAN
        out[y0:y1 + 1, [x0, x1]] = _CYAN
    return out


def branch_figure(frames: BranchFrames, maps: Any) -> np.ndarray:
    """A 2×2 image: before | after (changed regions outlined in cyan), then both with saliency."""
    boxes = changed_boxes(frames.before, frames.after)
    painted = _overlaid(np.stack([frames.before, frames.after]), maps, _scales(maps))
    return _grid([[_outline(frames.before, boxes), _outline(frames.after, boxes)], [painted[0], painted[1]]])


def continuation_frames(factual: Any, intervened: Any, pair: Any, intervention: Any, rng: np.random.Generator,
                        max_steps: int = MAX_MOVIE_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """RGB frames ``[T, 2, H, W, 3]`` and observations ``[T, 2, 4, 84, 84]`` of both arms' continuations.

    The recorded actions are replayed (a persistent intervention is re-applied after each step,
    with the same random stream as in the experiment); an arm that ended early holds its last frame.
    """
    steps = min(max(pair.factual.length, pair.intervened.length), max_steps)
    rgb = np.empty((steps + 1, 2, *factual.rgb_frame().shape), np.uint8)
    obs = np.empty((steps + 1, 2, *factual.observation.shape), np.uint8)
    arms = ((factual, pair.factual), (intervened, pair.intervened))
    persistent = bool(getattr(intervention, "persistent", False))
    for t in range(steps + 1):
        for k, (env, trace) in enumerate(arms):
            if 0 < t <= trace.length:
                env.step(int(trace.actions[t - 1]))
                if k == 1 and persistent and not (t == trace.length and trace.ended):
                    intervention.reapply_to_env(env, rng=rng)
            rgb[t, k], obs[t, k] = env.rgb_frame(), env.observation
    return rgb, obs


def _save_png(image: np.ndarray, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, optimize=True)
    return str(path.resolve())


def _movie(agent: Agent, rgb: np.ndarray, obs: np.ndarray, method: str, out_dir: Path, stem: str) -> str | None:
    """A GIF: factual (left) and intervened (right) continuation, each with saliency overlaid."""
    steps = len(rgb)
    maps = saliency(agent, obs.reshape(-1, *obs.shape[2:]), method=method,
                    **(MOVIE_PERTURBATION if method == "perturbation" else {}))
    painted = _overlaid(rgb.reshape(-1, *rgb.shape[2:]), maps, _scales(maps)).reshape(rgb.shape)
    frames = np.stack([_grid([[painted[t, 0], painted[t, 1]]]) for t in range(steps)])
    written = write_movie(frames, out_dir, stem, fps=4.0, formats=("gif",), stills=0)
    return str(written["gif"][0].resolve())


def branch_media(agent: Agent, result: Any, out_dir: str | os.PathLike, *, stem: str, intervention: Any = None,
                 method: str = "perturbation", movie: bool = True) -> dict[str, Any]:
    """Render a result's typical and extreme branches into ``out_dir``; a JSON-able description.

    ``result`` is an in-memory :class:`cfsal.rollout.CounterfactualResult` (it needs ``pairs``).
    ``intervention`` (the one, or the list, given to ``counterfactual``) defaults to one rebuilt
    from ``result.intervention``. The returned dict
    (``branches``: label, index, episode, step, value, image path, source, what the edit chose;
    ``movie``; ``notes``)
    is what the plugin stores in the hypothesis's record and :func:`cfsal.report.html.write_html`
    shows. Files are named from ``stem``, so a rerun overwrites its own pictures only.
    """
    out = Path(out_dir)
    notes: list[str] = []
    picks = pick_branches(result.values)
    branches: list[dict[str, Any]] = []
    if not picks:
        return {"schema_version": MEDIA_SCHEMA_VERSION, "method": method, "branches": [], "movie": None,
                "notes": ["no branches to show"]}
    chosen = {index: _intervention_of(result, index, intervention, notes) for index in picks.values()}
    rebuildable = [index for index, item in chosen.items() if item is not None]
    points = _rebuild_points(agent, result, rebuildable, notes) if rebuildable else {}
    movie_path = None
    for label, index in picks.items():
        pair = result.pairs[index]
        arms, frames = None, None
        if index in points:
            pair_start = prepare_pair(agent.spec.game, points[index], chosen[index], _pair_seed(result, index),
                                      result.design.settle)
            arms = (pair_start.factual, pair_start.intervened, pair_start.intervention_rng)
            frames = rgb_frames(arms[0], arms[1], pair)
            if frames is None:
                notes.append(f"{label} branch: the rebuilt environment did not reproduce the recorded observation "
                             "(non-default greedy/settle?); showing the agent's 84×84 observation instead")
                arms = None
        frames = frames or observation_frames(pair)
        observations = np.stack([pair.factual.first_observation, pair.intervened.first_observation])
        maps = saliency(agent, observations, method=method)
        image = _save_png(branch_figure(frames, maps), out / f"{stem}-{label}.png")
        branches.append({"label": label, "index": index, "episode": int(pair.episode), "step": int(pair.step),
                         "value": float(result.values[index]), "took_effect": bool(pair.took_effect),
                         "image": image, "source": frames.source,
                         "intervention": _branch_spec(result, index), "chosen": pair.chosen})
        if movie and label == ("extreme" if "extreme" in picks else "typical") and arms is not None:
            movie_path = _try_movie(agent, arms, pair, chosen[index], method, out, f"{stem}-{label}", notes)
    if movie and movie_path is None and not any("movie" in n for n in notes):
        notes.append("no movie: it needs the branch's rebuilt environment (RGB frames)")
    return {"schema_version": MEDIA_SCHEMA_VERSION, "method": method, "branches": branches, "movie": movie_path,
            "notes": notes}


def _branch_spec(result: Any, index: int) -> Any:
    """The spec of the intervention this branch received (one of several in a round-robin design)."""
    spec, assignments = result.intervention, getattr(result, "assignments", None)
    if isinstance(spec, dict) and spec.get("name") == "round_robin" and assignments is not None:
        return spec["interventions"][int(assignments[index])]
    return spec


def _intervention_of(result: Any, index: int, given: Any, notes: list[str]) -> Any:
    """The intervention branch ``index`` received: ``given``, or rebuilt from the result's spec
    (a round-robin design gives each branch one of several, recorded in ``result.assignments``)."""
    if isinstance(given, (list, tuple)):
        assignments = getattr(result, "assignments", None)
        given = given[int(assignments[index]) if assignments is not None else 0]
    if given is not None:
        return given
    try:
        return from_spec(_branch_spec(result, index))
    except CfsalError as error:
        note = ("frames are the agent's 84×84 observations: the intervention could not be rebuilt "
                f"from its spec ({error})")
        if note not in notes:
            notes.append(note)
        return None


def _rebuild_points(agent: Agent, result: Any, indices: list[int], notes: list[str]) -> dict[int, Any]:
    kept = getattr(result, "points", None)
    if kept:
        return {i: kept[i] for i in indices}
    try:
        return rebuild_branch_points(agent, result, indices)
    except RuntimeError as error:
        notes.append(f"frames are the agent's 84×84 observations: the branch points could not be rebuilt ({error})")
        return {}


def _try_movie(agent: Agent, arms: tuple[Any, Any, np.random.Generator], pair: Any, intervention: Any,
               method: str, out: Path, stem: str, notes: list[str]) -> str | None:
    rgb, obs = continuation_frames(arms[0], arms[1], pair, intervention, arms[2])
    try:
        return _movie(agent, rgb, obs, method, out, stem)
    except SaliencyError as error:  # imageio (the 'movies' extra) is not installed
        notes.append(f"no movie: {error}")
        return None
