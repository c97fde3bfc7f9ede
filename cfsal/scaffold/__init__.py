"""`cfsal init`: scaffold a hypotheses/ folder that runs as written.

The template is the shortest path from "I saw saliency on X" to a test of it: it names the
claim, the intervention that changes X and nothing else, the measure, and the sample size,
each with a comment saying how to choose it.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from cfsal.agents.checkpoint import check_compatible, read_checkpoint_info
from cfsal.agents.zoo import cards
from cfsal.envs import get_game
from cfsal.errors import AgentNotFoundError, CfsalError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
FILES = {"conftest.py": "conftest.py.txt", "test_my_hypothesis.py": "test_my_hypothesis.py.txt"}
#: A visible, agent-relevant edit per game for the template's first hypothesis.
EXAMPLE_INTERVENTION = {
    "breakout": "breakout.MoveBall(dx=40)",
    "amidar": "amidar.MoveEnemies(steps=4)",
    "space_invaders": "space_invaders.MoveShip(dx=30)",
    "pong": "pong.MoveBall(dx=-30)",
}


@dataclass(frozen=True)
class TemplateAgent:
    """The agent a template tests and its game; ``default`` says cfsal chose it (no ``--agent``),
    ``trained`` whether it learned from the screen (a control such as ``pong-random`` did not)."""

    name: str
    game: str
    default: bool
    trained: bool


def default_agent(game: str, zoo: Mapping[str, Any]) -> str:
    """The zoo agent a template for ``game`` tests: the game's best-scoring trained agent, else its
    uniform-random control, so that the template runs unedited for every game the zoo covers."""
    cards = [card for card in zoo.values() if card.game == game]
    trained = [card for card in cards if card.kind == "checkpoint"]
    if trained:
        return max(trained, key=lambda card: card.evaluation.get("mean", float("-inf"))).name
    controls = [card for card in cards if card.kind == "uniform_random"] or cards
    if not controls:
        raise CfsalError(f"the zoo has no agent for {game!r}; pass --agent PATH to a checkpoint of yours.")
    return controls[0].name


def _no_template(game: str) -> CfsalError:
    return CfsalError(f"cfsal init has templates for {', '.join(EXAMPLE_INTERVENTION)}, not for {game}: write one for "
                      f"breakout and swap in {game}'s interventions (`cfsal interventions list --game {game}`).")


def _unknown_agent(name: str, game: str | None, zoo: Mapping[str, Any]) -> AgentNotFoundError:
    close = difflib.get_close_matches(name, list(zoo), n=3, cutoff=0.8)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    game = game or (zoo[close[0]].game if close else None)
    same_game = [n for n, card in zoo.items() if card.game == game] if game else []
    listing = (f"Zoo agents for {game}: {', '.join(same_game)}" if same_game
               else f"Zoo agents: {', '.join(zoo)}")
    return AgentNotFoundError(
        f"--agent {name!r} is neither a zoo agent nor an existing file.{hint} {listing} "
        "(`cfsal zoo list` describes them); or pass the path of a checkpoint (.safetensors, SB3 .zip, TorchScript .pt)."
    )


def resolve_agent(agent: str | None, game: str | None, zoo: Mapping[str, Any]) -> TemplateAgent:
    """Check ``--agent`` and ``--game`` against the zoo (or the file) and against each other.

    Either may be left out: the game follows from a zoo agent or a cfsal checkpoint, the agent from
    the game (:func:`default_agent`); neither given means Breakout. Runs before anything is written,
    so a typo costs one message, not a template that errors when run.
    """
    game = get_game(game).name if game is not None else None
    if game is not None and game not in EXAMPLE_INTERVENTION:
        raise _no_template(game)
    if agent is None:
        game = game or "breakout"
        name = default_agent(game, zoo)
        return TemplateAgent(name, game, default=True, trained=zoo[name].kind == "checkpoint")
    if agent in zoo:
        card = zoo[agent]
        if game is not None and card.game != game:
            raise CfsalError(f"--agent {agent!r} plays {card.game}, not {game}: drop --game, or choose a {game} "
                             f"agent ({', '.join(n for n, c in zoo.items() if c.game == game) or 'none in the zoo'}).")
        return TemplateAgent(agent, card.game, default=False, trained=card.kind == "checkpoint")
    path = Path(agent)
    if not path.is_file():
        raise _unknown_agent(agent, game, zoo)
    if path.suffix.lower() == ".safetensors":
        spec = read_checkpoint_info(path).spec
        check_compatible(spec, game=game, where=f"--agent {agent!r}")
        return TemplateAgent(agent, spec.game, default=False, trained=True)
    if game is None:
        raise CfsalError(f"--agent {agent!r} is not a cfsal checkpoint, so its file does not say which game it "
                         "plays: add --game (breakout, amidar, space_invaders or pong).")
    return TemplateAgent(agent, game, default=False, trained=True)


def scaffold(directory: str | Path, *, agent: str | None = None, game: str | None = None,
             force: bool = False) -> list[Path]:
    """Write the template files into ``directory``; refuses to overwrite unless ``force``.

    ``agent`` and ``game`` are checked by :func:`resolve_agent` first; nothing is written when
    either is wrong.
    """
    chosen = resolve_agent(agent, game, cards())
    if chosen.game not in EXAMPLE_INTERVENTION:
        raise _no_template(chosen.game)
    target = Path(directory)
    existing = [target / name for name in FILES if (target / name).exists()]
    if existing and not force:
        raise CfsalError(f"{', '.join(map(str, existing))} already exist; pass --force to overwrite, "
                         "or choose another directory.")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in FILES.items():
        text = (TEMPLATE_DIR / template).read_text().replace("{{agent}}", chosen.name).replace("{{game}}", chosen.game)
        text = text.replace("{{intervention}}", EXAMPLE_INTERVENTION[chosen.game])
        (target / name).write_text(text)
        written.append(target / name)
    return written


def _cmd_init(args: argparse.Namespace) -> int:
    chosen = resolve_agent(args.agent, args.game, cards())
    for path in scaffold(args.directory, agent=chosen.name, game=chosen.game, force=args.force):
        print(f"wrote {path}")
    if chosen.default and chosen.trained:
        print(f"agent: {chosen.name}, the zoo's best-scoring {chosen.game} agent (--agent to test another)")
    elif chosen.default:
        print(f"agent: {chosen.name}. The zoo has no trained {chosen.game} agent, so the template tests this "
              "control, which ignores the screen: expect its first hypothesis not to hold. "
              "Pass --agent PATH to test your own.")
    print(f"next: pytest {args.directory}")
    return 0


def register(subparsers) -> None:
    init = subparsers.add_parser("init", help="scaffold a hypotheses/ folder with a commented template")
    init.add_argument("directory", nargs="?", default="hypotheses")
    init.add_argument("--agent", help="zoo name or checkpoint path of the agent to test "
                                      "(default: the game's best-scoring zoo agent)")
    init.add_argument("--game", help="breakout, amidar, space_invaders or pong (default: the agent's game, "
                                     "else breakout)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_cmd_init)
