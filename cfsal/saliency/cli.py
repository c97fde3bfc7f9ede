"""``cfsal saliency AGENT --method perturbation --episodes 1 --out DIR``: play, map, film.

Plays each episode (up to ``--max-steps``) with the agent, computes the chosen saliency map for every
step (in chunks, with a progress bar), and writes per episode: the maps (``*.saliency.npz``, float16
by default), a side-by-side movie (MP4; GIF on request) and a strip of PNG stills, and says how big
they are.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.saliency._utils import SaliencyError
from cfsal.saliency.api import method_defaults, saliency
from cfsal.saliency.movie import render, write_movie
from cfsal.saliency.object_removal import stacked
from cfsal.saliency.result import SaliencyMap, save_npz


@dataclass(frozen=True)
class Episode:
    """What one played episode leaves for saliency: observations, RGB frames, Toybox states."""

    observations: np.ndarray
    rgb: np.ndarray
    states: list[dict[str, Any]]
    actions: np.ndarray
    score: float
    ended: bool  # the game ended (or the environment truncated it) before max_steps


#: Frames per saliency call: the progress bar's step, and the batch a method gets. The one-backward-pass
#: methods are cheap per frame, so larger batches (the same maps, ~0.4 s less per 500 frames); the others
#: (hundreds of forwards per frame for perturbation) keep batches small in memory and the bar moving.
DEFAULT_CHUNK = 8
CHUNK = {"jacobian": 32, "gradient_x_input": 32}


def play_episode(agent, *, seed: int, max_steps: int, greedy: bool = False) -> Episode:
    """Play one episode (or its first ``max_steps`` steps), recording what each step showed."""
    env = make(agent.spec.game, seed=seed)
    rng = np.random.default_rng(seed)
    observations, rgb, states, actions = [], [], [], []
    ended = False
    for _ in range(max_steps):
        observation = env.observation
        action = int(agent.act(observation, greedy=greedy, rng=rng)[0])
        observations.append(observation)
        rgb.append(env.rgb_frame())
        states.append(env.get_toybox_state())
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            ended = True
            break
    return Episode(np.stack(observations), np.stack(rgb), states, np.asarray(actions), float(env.score), ended)


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SaliencyError(f"--param takes NAME=VALUE (e.g. radius=2), got {pair!r}")
        name, text = pair.split("=", 1)
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text
    return params


def _cmd_saliency(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    agent = load_agent(args.agent, game=args.game, trust=args.trust_code)
    params = _parse_params(args.param)
    method_defaults(args.method)  # an unknown method fails before any episode is played
    out = Path(args.out)
    for episode_index in range(args.episodes):
        seed = args.seed + episode_index
        episode = play_episode(agent, seed=seed, max_steps=args.max_steps, greedy=args.greedy)
        steps = np.arange(0, len(episode.observations), args.every)
        chunks = []
        # the object method removes a moving object from every stacked frame where it was
        states = stacked(episode.states) if args.method == "object" else episode.states
        bar = tqdm(total=len(steps), desc=f"{args.method} ep {episode_index}", unit="frame",
                   disable=args.no_progress)
        chunk = args.chunk or CHUNK.get(args.method, DEFAULT_CHUNK)
        for start in range(0, len(steps), chunk):
            idx = steps[start:start + chunk]
            chunks.append(saliency(agent, episode.observations[idx], args.method,
                                   states=[states[i] for i in idx], **params))
            bar.update(len(idx))
        bar.close()
        maps = SaliencyMap(np.concatenate([c.actor for c in chunks]), np.concatenate([c.critic for c in chunks]),
                           chunks[0].method, chunks[0].params, chunks[0].agent, chunks[0].game,
                           tuple(o for c in chunks for o in c.objects),
                           {k: [x for c in chunks for x in c.details.get(k, [])] for k in chunks[0].details})
        stem = f"{Path(agent.name).stem}-{args.method}-ep{episode_index}"
        # the maps file (zlib, which releases the GIL) is written on a thread while the movie is drawn and
        # encoded (ffmpeg, a process of its own): on two cores the two writes overlap
        with ThreadPoolExecutor(max_workers=1) as writer:
            saved = writer.submit(save_npz, maps, out / f"{stem}.saliency.npz", precision=args.precision)
            written = write_movie(render(episode.rgb[steps], maps, upscale=args.upscale), out, stem, fps=args.fps,
                                  formats=tuple(args.formats), stills=args.stills)
            maps_path = saved.result()
        files = [maps_path, *(p for kind in ("mp4", "gif") for p in written.get(kind, []))]
        listing = ", ".join(f"{p.name} ({_megabytes([p])})" for p in files)
        stills = f" and {len(written['stills'])} PNG stills ({_megabytes(written['stills'])})" if written["stills"] else ""
        length = (f"{len(episode.observations)} steps" if episode.ended else
                  f"its first {len(episode.observations)} steps (--max-steps; the game went on)")
        print(f"episode {episode_index} (seed {seed}): {length}, score {episode.score:g}; wrote {listing}{stills} "
              f"in {out}")
    return 0


def _megabytes(paths: list[Path]) -> str:
    return f"{sum(p.stat().st_size for p in paths) / 1e6:.1f} MB"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cfsal saliency`` to the cfsal command (importing nothing heavy: torch loads on use)."""
    parser = subparsers.add_parser("saliency", help="saliency maps and movies of an agent's episodes")
    parser.add_argument("agent", help="zoo name or checkpoint path")
    parser.add_argument("--method", default="perturbation",
                        help="perturbation (default), jacobian, object, integrated_gradients, smoothgrad, "
                             "gradient_x_input, occlusion or rise")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--out", default="reports/saliency", help="output directory (git-ignored reports/ by default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (then +1 per episode)")
    parser.add_argument("--max-steps", type=int, default=500,
                        help="map at most this many agent steps of each episode (default 500, about 30 s of play; "
                             "the rest of a longer game is not played)")
    parser.add_argument("--every", type=int, default=1, help="map every k-th step only")
    parser.add_argument("--chunk", type=int, default=None,
                        help=f"frames per saliency call (progress granularity; default {DEFAULT_CHUNK}, "
                             f"{CHUNK['jacobian']} for the one-backward-pass methods)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a method parameter, e.g. --param radius=2 (repeatable)")
    parser.add_argument("--greedy", action="store_true", help="argmax actions (default: sample, as A2C plays)")
    parser.add_argument("--precision", default="float16", choices=["float16", "float32"],
                        help="how the .saliency.npz stores maps: float16 (default; within 0.05%% of each frame's "
                             "peak) or float32 (exact, 3-4x larger)")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--formats", nargs="+", default=["mp4"], choices=["gif", "mp4"],
                        help="movie formats (default mp4; a GIF is about 20x larger and slower to write)")
    parser.add_argument("--upscale", type=int, default=1,
                        help="movie pixels per game pixel (default 1; 2 is crisper and takes 4x the pixels to write)")
    parser.add_argument("--stills", type=int, default=6, help="number of PNG stills per episode")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--game", help="the game, checked against the agent (required for SB3 zips / TorchScript)")
    parser.add_argument("--trust-code", action="store_true", help="allow TorchScript files, which run code when loaded")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_cmd_saliency)
