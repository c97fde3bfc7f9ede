"""`cfsal init`: scaffold a hypotheses/ folder that runs as written.

The template is the shortest path from "I saw saliency on X" to a test of it: it names the
claim, the intervention that changes X and nothing else, the measure, and the sample size,
each with a comment saying how to choose it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cfsal.errors import CfsalError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
FILES = {"conftest.py": "conftest.py.txt", "test_my_hypothesis.py": "test_my_hypothesis.py.txt"}
#: A visible, agent-relevant edit per game for the template's first hypothesis.
EXAMPLE_INTERVENTION = {
    "breakout": "breakout.MoveBall(dx=40)",
    "amidar": "amidar.MoveEnemies(steps=4)",
    "space_invaders": "space_invaders.MoveShip(dx=30)",
    "pong": "pong.MoveBall(dx=-30)",
}


def scaffold(directory: str | Path, *, agent: str = "breakout-expert", game: str = "breakout",
             force: bool = False) -> list[Path]:
    """Write the template files into ``directory``; refuses to overwrite unless ``force``."""
    from cfsal.envs import get_game

    game = get_game(game).name
    target = Path(directory)
    existing = [target / name for name in FILES if (target / name).exists()]
    if existing and not force:
        raise CfsalError(f"{', '.join(map(str, existing))} already exist; pass --force to overwrite, "
                         "or choose another directory.")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in FILES.items():
        text = (TEMPLATE_DIR / template).read_text().replace("{{agent}}", agent).replace("{{game}}", game)
        text = text.replace("{{intervention}}", EXAMPLE_INTERVENTION[game])
        (target / name).write_text(text)
        written.append(target / name)
    return written


def _cmd_init(args: argparse.Namespace) -> int:
    for path in scaffold(args.directory, agent=args.agent, game=args.game, force=args.force):
        print(f"wrote {path}")
    print(f"next: pytest {args.directory}")
    return 0


def register(subparsers) -> None:
    init = subparsers.add_parser("init", help="scaffold a hypotheses/ folder with a commented template")
    init.add_argument("directory", nargs="?", default="hypotheses")
    init.add_argument("--agent", default="breakout-expert", help="zoo name or checkpoint path of the agent to test")
    init.add_argument("--game", default="breakout")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_cmd_init)
