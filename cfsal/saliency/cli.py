"""``cfsal saliency AGENT --method perturbation --episodes 1 --out DIR``: play, map, film.

Plays each episode with the agent, computes the chosen saliency map for every step (in chunks,
with a progress bar), and writes per episode: the maps (``*.saliency.json``), a side-by-side
movie (GIF and MP4) and a strip of PNG stills.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Episode:
    """What one played episode leaves for saliency: observations, RGB frames, Toybox states."""

    observations: np.ndarray
    rgb: np.ndarray
    states: list[dict[str, Any]]
    actions: np.ndarray
    score: float


def play_episode(agent, *, seed: int, max_steps: int, greedy: bool = False) -> Episode:
    """Play one episode (or its first ``max_steps`` steps), recording what each step showed."""
    import cfsal.envs as envs

    env = envs.make(agent.spec.game, seed=seed)
    rng = np.random.default_rng(seed)
    observations, rgb, states, actions = [], [], [], []
    for _ in range(max_steps):
        observation = env.observation
        action = int(agent.act(observation, greedy=greedy, rng=rng)[0])
        observations.append(observation)
        rgb.append(env.rgb_frame())
        states.append(env.get_toybox_state())
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return Episode(np.stack(observations), np.stack(rgb), states, np.asarray(actions), float(env.score))


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    from cfsal.saliency._utils import SaliencyError

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
    import torch
    from tqdm import tqdm

    from cfsal.agents.zoo import load_agent
    from cfsal.saliency.api import method_defaults, saliency
    from cfsal.saliency.movie import render, write_movie
    from cfsal.saliency.result import SaliencyMap

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
        bar = tqdm(total=len(steps), desc=f"{args.method} ep {episode_index}", unit="frame",
                   disable=args.no_progress)
        for start in range(0, len(steps), args.chunk):
            idx = steps[start:start + args.chunk]
            chunks.append(saliency(agent, episode.observations[idx], args.method,
                                   states=[episode.states[i] for i in idx], **params))
            bar.update(len(idx))
        bar.close()
        maps = SaliencyMap(np.concatenate([c.actor for c in chunks]), np.concatenate([c.critic for c in chunks]),
                           chunks[0].method, chunks[0].params, chunks[0].agent, chunks[0].game,
                           tuple(o for c in chunks for o in c.objects),
                           {k: [x for c in chunks for x in c.details.get(k, [])] for k in chunks[0].details})
        stem = f"{Path(agent.name).stem}-{args.method}-ep{episode_index}"
        maps_path = maps.save(out / f"{stem}.saliency.json")
        written = write_movie(render(episode.rgb[steps], maps), out, stem, fps=args.fps,
                              formats=tuple(args.formats), stills=args.stills)
        movies = [str(p) for kind in ("gif", "mp4") for p in written.get(kind, [])]
        print(f"episode {episode_index} (seed {seed}): {len(episode.observations)} steps, score "
              f"{episode.score:g}; wrote {maps_path}, {', '.join(movies)} and {len(written['stills'])} "
              f"PNG stills in {out}")
    return 0


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
    parser.add_argument("--max-steps", type=int, default=500, help="stop an episode after this many agent steps")
    parser.add_argument("--every", type=int, default=1, help="map every k-th step only")
    parser.add_argument("--chunk", type=int, default=8, help="frames per saliency call (progress granularity)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a method parameter, e.g. --param radius=2 (repeatable)")
    parser.add_argument("--greedy", action="store_true", help="argmax actions (default: sample, as A2C plays)")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--formats", nargs="+", default=["gif", "mp4"], choices=["gif", "mp4"])
    parser.add_argument("--stills", type=int, default=6, help="number of PNG stills per episode")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--game", help="the game, checked against the agent (required for SB3 zips / TorchScript)")
    parser.add_argument("--trust-code", action="store_true", help="allow TorchScript files, which run code when loaded")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_cmd_saliency)
