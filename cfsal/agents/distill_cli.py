"""``cfsal distill``: distil the scripted Breakout expert into a Nature-CNN agent with DAgger.

A thin shell over :func:`cfsal.agents.distill.distill`. Re-running the same command resumes a
killed run from ``<out>.train/`` and the last checkpoint.
"""

from __future__ import annotations

import argparse
import shlex

import torch

from cfsal.agents.distill import DAggerSettings, distill
from cfsal.envs import get_game
from cfsal.errors import CfsalError


def _cmd_distill(args: argparse.Namespace) -> int:
    if get_game(args.game).name != "breakout":
        raise CfsalError(f"--game {args.game!r}: cfsal has a scripted expert for breakout only.")
    torch.set_num_threads(args.threads)
    settings = DAggerSettings(iterations=args.iterations, expert_steps=args.expert_steps,
                              student_steps=args.student_steps, n_envs=args.n_envs,
                              beta_decay=args.beta_decay, epochs=args.epochs,
                              first_epochs=args.first_epochs,
                              batch_size=args.batch_size, learning_rate=args.lr,
                              class_balance=args.class_balance,
                              rollout_max_steps=args.rollout_max_steps,
                              soft_label_temperature=args.soft_label_temperature)
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
    for flag in ("iterations", "expert_steps", "student_steps", "n_envs", "beta_decay", "epochs", "first_epochs",
                 "batch_size", "lr", "class_balance", "rollout_max_steps", "soft_label_temperature", "policy_temperature", "seed"):
        parts += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    if args.new_stage:
        parts.append("--new-stage")
    return " ".join(shlex.quote(p) for p in parts)


def register(subparsers: argparse._SubParsersAction) -> None:
    d = DAggerSettings()
    p = subparsers.add_parser("distill", help="distil the scripted breakout expert into a pixel agent (DAgger; resumes)")
    p.add_argument("--game", default="breakout", help="the game (breakout: the only one with a scripted expert)")
    p.add_argument("--out", required=True, help="output checkpoint (.safetensors); run files go to <out>.train/")
    p.add_argument("--iterations", type=int, default=d.iterations, help="DAgger iterations (0 = expert rollouts)")
    p.add_argument("--expert-steps", type=int, default=d.expert_steps, help="frames collected in iteration 0")
    p.add_argument("--student-steps", type=int, default=d.student_steps, help="frames collected per later iteration")
    p.add_argument("--n-envs", type=int, default=d.n_envs)
    p.add_argument("--beta-decay", type=float, default=d.beta_decay, help="β_i = beta_decay^i: expert share of the rollouts")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the aggregate per iteration")
    p.add_argument("--first-epochs", type=int, default=d.first_epochs, help="passes over the expert data of iteration 0")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--class-balance", type=float, default=d.class_balance,
                   help="exponent of the inverse-frequency class weights (0: plain cross-entropy)")
    p.add_argument("--rollout-max-steps", type=int, default=d.rollout_max_steps)
    p.add_argument("--soft-label-temperature", type=float, default=d.soft_label_temperature,
                   help="τ of the soft labels softmax(−plan cost/τ) (0: the expert's action only)")
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
