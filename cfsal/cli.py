"""The ``cfsal`` command: train, evaluate, explain and test agents.

Every subcommand is a thin shell over a library function; errors cfsal raises on purpose are
printed as one line (``cfsal: error: …``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

import torch

from _cfsal_cli import DESCRIPTION, PACKAGE_COMMANDS, SUBCOMMANDS, run_command
from cfsal.agents.evaluation import MIN_EPISODES_FOR_CI, evaluate
from cfsal.agents.zoo import ZOO_DIR, ModelCard, cards, load_agent, refresh_card
from cfsal.envs import get_game
from cfsal.errors import CfsalError
from cfsal.report.curves import is_training_curve, plot_learning_curves


def _stop_gracefully_on_signals() -> None:
    """SIGTERM and SIGINT stop training through KeyboardInterrupt, so the final checkpoint is saved.

    A job started in the background by a non-interactive shell ignores SIGINT, and Python's default
    SIGTERM kills without cleanup; both would lose up to one checkpoint interval of training.
    """
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


def _cmd_train(args: argparse.Namespace) -> int:
    # stable-baselines3 takes seconds to import and only training needs it (every other command would wait)
    from cfsal.agents.training import A2CSettings, train_a2c

    if args.alg != "a2c":
        raise CfsalError(f"--alg {args.alg!r} is not supported; cfsal trains 'a2c' (the paper's algorithm).")
    torch.set_num_threads(args.threads)
    _stop_gracefully_on_signals()
    command = "cfsal " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if args.command is None else args.command
    result = train_a2c(args.game, args.steps, args.out, seed=args.seed,
                       settings=A2CSettings(n_envs=args.n_envs), checkpoint_every=args.checkpoint_every,
                       checkpoint_minutes=args.checkpoint_minutes, progress=not args.no_progress, command=command)
    score = "n/a" if result.recent_mean_score is None else f"{result.recent_mean_score:.2f}"
    print(f"wrote {result.checkpoint} after {result.steps} steps ({result.wall_seconds / 3600:.2f} h in total); "
          f"mean training score over the last 100 games: {score}")
    return 0


def _describe_interval(result) -> str:
    """The mean's 95% interval as a sentence, or why there is none (too few episodes for it to hold)."""
    if result.episodes < MIN_EPISODES_FOR_CI:
        return (f"no confidence interval: {result.episodes} episodes are too few (a bootstrap interval from fewer "
                f"than {MIN_EPISODES_FOR_CI} covers the mean much less often than 95%); scores range "
                f"{min(result.scores):g} – {max(result.scores):g}. Use --episodes 30 for an interval.")
    return (f"95% CI of the mean {result.ci_low:.2f} – {result.ci_high:.2f} "
            f"(BCa bootstrap over the {result.episodes} episode scores)")


def _cmd_eval(args: argparse.Namespace) -> int:
    agent = load_agent(args.agent, game=args.game, trust=args.trust_code)
    result = evaluate(agent, episodes=args.episodes, seed=args.seed, greedy=args.greedy,
                      max_steps=args.max_steps, progress=not args.json and not args.no_progress)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        policy = "greedy" if args.greedy else "sampled"
        print(f"{agent.name} on {agent.spec.game}: mean score {result.mean:.2f} over {result.episodes} episodes, "
              f"{policy} actions, seed {args.seed}")
        print(_describe_interval(result))
        lengths = result.lengths
        print(f"episode length: mean {sum(lengths) / len(lengths):.0f}, min {min(lengths)}, max {max(lengths)} "
              f"steps; {sum(result.truncated)} truncated at {args.max_steps}")
    return 0


def _cmd_zoo_list(args: argparse.Namespace) -> int:
    zoo = cards()
    if args.json:
        print(json.dumps({name: card.to_dict() for name, card in zoo.items()}, indent=2))
        return 0
    if args.markdown:
        print("| agent | game | kind | training | mean score [95% CI] | what it is |\n|---|---|---|---|---|---|")
        for card in zoo.values():
            ev, tr = card.evaluation, card.training
            steps = f"{tr['steps'] / 1e6:.2f}M steps, {tr['wall_seconds'] / 3600:.1f} h" if "steps" in tr else (
                f"{tr.get('iterations', '?')} DAgger iterations, {tr.get('dataset_size', '?')} frames" if tr else "—")
            score = f"{ev['mean']:.1f} [{ev['ci_low']:.1f}, {ev['ci_high']:.1f}]" if ev else "—"
            print(f"| `{card.name}` | {card.game} | {card.kind} | {steps} | {score} | {card.description} |")
        return 0
    print(f"{'name':<28}{'game':<16}{'kind':<16}{'eval mean [95% CI]':<26}description")
    for card in zoo.values():
        ev = card.evaluation
        score = f"{ev['mean']:.1f} [{ev['ci_low']:.1f}, {ev['ci_high']:.1f}]" if ev else "—"
        print(f"{card.name:<28}{card.game:<16}{card.kind:<16}{score:<26}{card.description}")
    return 0


def _cmd_zoo_add(args: argparse.Namespace) -> int:
    card = ModelCard(name=args.name, kind=args.kind, game=get_game(args.game).name, description=args.description,
                     checkpoint=args.checkpoint, base=args.base, seed=args.randomize_seed, action=args.action)
    if card.kind == "checkpoint" and not (card.checkpoint and (ZOO_DIR / card.checkpoint).is_file()):
        raise CfsalError(f"--checkpoint must name a file in {ZOO_DIR} for kind 'checkpoint', got {card.checkpoint!r}")
    card = refresh_card(card, episodes=args.episodes, progress=True)
    ev = card.evaluation
    print(f"{card.name}: {ev['mean']:.2f} [{ev['ci_low']:.2f}, {ev['ci_high']:.2f}] over {ev['episodes']} episodes")
    return 0


def _cmd_zoo_refresh(args: argparse.Namespace) -> int:
    zoo = cards()
    for name in args.names or list(zoo):
        if name not in zoo:
            raise CfsalError(f"no zoo card named {name!r}; known: {', '.join(zoo)}")
        card = refresh_card(zoo[name], episodes=args.episodes, progress=True)
        ev = card.evaluation
        print(f"{card.name}: {ev['mean']:.2f} [{ev['ci_low']:.2f}, {ev['ci_high']:.2f}] over {ev['episodes']} episodes")
    return 0


def _cmd_zoo_curves(args: argparse.Namespace) -> int:
    runs = sorted(p for p in ZOO_DIR.glob("*.train") if is_training_curve(p))
    if not runs:
        raise CfsalError(f"no training runs with a curve.csv in {ZOO_DIR}")
    print(f"wrote {plot_learning_curves(runs, Path(args.out))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole ``cfsal`` parser (``_cfsal_cli`` answers ``cfsal --help`` with its top level alone)."""
    parser = argparse.ArgumentParser(prog="cfsal", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="subcommand", required=True)

    train = sub.add_parser("train", help=SUBCOMMANDS["train"])
    train.add_argument("--game", required=True,
                       help="breakout, amidar, space_invaders or pong (Toybox); ale_pong, ale_breakout, ale_freeway, "
                            "ale_boxing or ale_space_invaders (real Atari, ALE)")
    train.add_argument("--alg", default="a2c", help="training algorithm (a2c)")
    train.add_argument("--steps", type=float, required=True, help="total agent steps (e.g. 1e7); a rerun resumes to it")
    train.add_argument("--out", required=True, help="output checkpoint (.safetensors); training state goes beside it")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-envs", type=int, default=16)
    train.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest per core for A2C's small batches)")
    train.add_argument("--checkpoint-every", type=int, default=100_000, help="agent steps between checkpoints")
    train.add_argument("--checkpoint-minutes", type=float, default=10.0,
                       help="wall-time minutes between checkpoints (whichever of the two comes first)")
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--command", help=argparse.SUPPRESS)
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help=SUBCOMMANDS["eval"])
    ev.add_argument("agent", help="zoo name or agent file (.safetensors; with --game and --trust-code an SB3 .zip, "
                                  "a CleanRL .cleanrl_model or TorchScript)")
    ev.add_argument("--episodes", type=int, default=30)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--greedy", action="store_true", help="argmax actions (default: sample from the policy, as A2C plays)")
    ev.add_argument("--max-steps", type=int, default=27_000, help="truncate an episode after this many agent steps")
    ev.add_argument("--game", help="the game, checked against the agent (required for SB3 zips, CleanRL "
                                   "checkpoints and TorchScript)")
    ev.add_argument("--trust-code", action="store_true",
                    help="load files made elsewhere: SB3 zips and CleanRL checkpoints (pickles, read tensors-only) "
                         "and TorchScript (runs code when loaded)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=_cmd_eval)

    zoo = sub.add_parser("zoo", help=SUBCOMMANDS["zoo"])
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    zoo_list = zoo_sub.add_parser("list", help="list zoo agents with their model cards")
    zoo_list.add_argument("--json", action="store_true")
    zoo_list.add_argument("--markdown", action="store_true", help="the README's agent table")
    zoo_list.set_defaults(func=_cmd_zoo_list)
    zoo_add = zoo_sub.add_parser("add", help="add an agent to the zoo: hash, evaluate and write its card")
    zoo_add.add_argument("name")
    zoo_add.add_argument("--kind", required=True, choices=("checkpoint", "constant", "uniform_random", "randomized"))
    zoo_add.add_argument("--game", required=True)
    zoo_add.add_argument("--description", required=True)
    zoo_add.add_argument("--checkpoint", help="file name inside cfsal/zoo/ (kind checkpoint)")
    zoo_add.add_argument("--base", help="zoo agent whose weights are randomised (kind randomized)")
    zoo_add.add_argument("--randomize-seed", type=int, help="seed of the re-initialisation (kind randomized)")
    zoo_add.add_argument("--action", type=int, help="action index (kind constant)")
    zoo_add.add_argument("--episodes", type=int, default=30)
    zoo_add.set_defaults(func=_cmd_zoo_add)
    zoo_refresh = zoo_sub.add_parser("refresh", help="re-hash and re-evaluate zoo agents, rewriting their cards")
    zoo_refresh.add_argument("names", nargs="*")
    zoo_refresh.add_argument("--episodes", type=int, default=30)
    zoo_refresh.set_defaults(func=_cmd_zoo_refresh)
    zoo_curves = zoo_sub.add_parser("curves", help="plot the zoo's learning curves")
    zoo_curves.add_argument("--out", default="docs/img/learning-curves.png")
    zoo_curves.set_defaults(func=_cmd_zoo_curves)

    for module in PACKAGE_COMMANDS.values():  # the packages' own subcommands, in the order of cfsal --help
        import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if hasattr(args, "steps"):
        args.steps = int(args.steps)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
