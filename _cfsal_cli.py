"""The ``cfsal`` command's front door: ``cfsal --help`` answers at once; every subcommand goes to :mod:`cfsal.cli`.

A top-level module (as the pytest plugin ``_cfsal_pytestplugin`` is) because importing the ``cfsal``
package loads torch, which takes seconds: the list of subcommands should not wait for it. The help
lines here are the subcommands' own; tests/test_cli.py checks that this help is the full parser's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DESCRIPTION = "The ``cfsal`` command: train, evaluate, explain and test agents."
#: Every subcommand, in the order ``cfsal --help`` lists them, with its one-line help.
SUBCOMMANDS = {
    "train": "train an agent (resumes from --out if it exists)",
    "eval": "evaluate an agent over full games",
    "zoo": "the shipped agents",
    "saliency": "saliency maps and movies of an agent's episodes",
    "interventions": "the intervention library",
    "distill": "distil the scripted breakout expert into a pixel agent (DAgger; resumes)",
    "report": "write the HTML report of a saved results JSON",
    "init": "scaffold a hypotheses/ folder with a commented template",
    "suggest": "audit an agent's saliency and write the hypothesis tests it implies",
}


def front_parser() -> argparse.ArgumentParser:
    """The top level of ``cfsal``'s parser: the subcommands by name and help line, none of their options."""
    parser = argparse.ArgumentParser(prog="cfsal", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name, line in SUBCOMMANDS.items():
        sub.add_parser(name, help=line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        front_parser().parse_args(argv)  # --help, no subcommand or an unknown one: argparse answers and exits
    from cfsal.cli import main as run  # the library only for a subcommand (module docstring)

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
