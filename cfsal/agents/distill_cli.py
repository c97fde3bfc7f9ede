"""``cfsal distill``: distil the scripted Breakout expert into a Nature-CNN agent with DAgger.

A thin shell over :func:`cfsal.agents.distill.distill`. Re-running the same command resumes a
killed run from ``<out>.train/`` and the last checkpoint.
"""

from __future__ import annotations

import argparse
import shlex
import typing
from dataclasses import Field, fields

import torch

from cfsal.agents.distill import DAggerSettings, distill
from cfsal.envs import get_game
from cfsal.errors import CfsalError


def _cmd_distill(args: argparse.Namespace) -> int:
    if get_game(args.game).name != "breakout":
        raise CfsalError(f"--game {args.game!r}: cfsal has a scripted expert for breakout only.")
    torch.set_num_threads(args.threads)
    settings = DAggerSettings(**{f.name: getattr(args, f.name) for f in fields(DAggerSettings)})
    command = args.command or _reproducing_command(args)
    result = distill(args.out, seed=args.seed, settings=settings, command=command,
                     progress=not args.no_progress, new_stage=args.new_stage,
                     policy_temperature=args.policy_temperature)
    print(f"wrote {result.checkpoint}: {result.iterations} DAgger iterations, {result.dataset_size} "
          f"labelled frames, {result.wall_seconds / 60:.1f} min in total")
    return 0


def _reproducing_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, with every setting spelled out (so a later
    change of a default cannot change what it means)."""
    parts = ["cfsal", "distill", "--game", args.game, "--out", args.out]
    for f in fields(DAggerSettings):
        parts += [_flag(f), str(getattr(args, f.name))]
    for name in ("policy_temperature", "seed"):
        parts += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    if args.new_stage:
        parts.append("--new-stage")
    return " ".join(shlex.quote(p) for p in parts)


def _flag(setting: Field) -> str:
    """A DAgger setting's command-line flag: ``--expert-steps`` for ``expert_steps``, or the one it declares."""
    return "--" + (setting.metadata["flag"] or setting.name).replace("_", "-")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("distill", help="distil the scripted breakout expert into a pixel agent (DAgger; resumes)")
    p.add_argument("--game", default="breakout", help="the game (breakout: the only one with a scripted expert)")
    p.add_argument("--out", required=True, help="output checkpoint (.safetensors); run files go to <out>.train/")
    types = typing.get_type_hints(DAggerSettings)
    for f in fields(DAggerSettings):
        p.add_argument(_flag(f), dest=f.name, metavar=_flag(f)[2:].upper(), type=types[f.name], default=f.default,
                       help=f.metadata["doc"])
    p.add_argument("--policy-temperature", type=float, default=1.0,
                   help="divide the exported policy's logits by T (T < 1 sharpens sampling; the student as "
                        "trained stays in <out>.train/); with all iterations done, only re-exports")
    p.add_argument("--new-stage", action="store_true",
                   help="go on with changed settings from the next iteration (kept as a stage in run.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--command", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_distill)
