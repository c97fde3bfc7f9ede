"""The ``cfsal`` command's front door: ``cfsal --help`` answers at once, and a subcommand loads only its own code.

A top-level module (as the pytest plugin ``_cfsal_pytestplugin`` is) because importing the ``cfsal``
package loads torch, which takes seconds: the list of subcommands should not wait for it, and a
subcommand that a package owns (``cfsal saliency``) should not also wait for the others' code (the
report's matplotlib, the audit's, training's stable-baselines3). train, eval and zoo live in
:mod:`cfsal.cli`. The help lines here are the subcommands' own; tests/test_cli.py checks that this
help is the full parser's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

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
#: The subcommands a package owns: the module whose ``register(subparsers)`` adds it (cfsal.cli adds the rest).
PACKAGE_COMMANDS = {
    "saliency": "cfsal.saliency.cli",
    "interventions": "cfsal.interventions.cli",
    "distill": "cfsal.agents.distill_cli",
    "report": "cfsal.report.cli",
    "init": "cfsal.scaffold",
    "suggest": "cfsal.suggest.cli",
}


def front_parser(command: Any = None) -> argparse.ArgumentParser:
    """The top level of ``cfsal``'s parser: the subcommands by name and help line, none of their options,
    except ``command``'s (a module of :data:`PACKAGE_COMMANDS`), which registers its own."""
    parser = argparse.ArgumentParser(prog="cfsal", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name, line in SUBCOMMANDS.items():
        if command is not None and PACKAGE_COMMANDS.get(name) == command.__name__:
            command.register(sub)
        else:
            sub.add_parser(name, help=line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        front_parser().parse_args(argv)  # --help, no subcommand or an unknown one: argparse answers and exits
    if argv[0] in PACKAGE_COMMANDS:  # the library, and of the commands only this one (module docstring)
        return run_command(front_parser(import_module(PACKAGE_COMMANDS[argv[0]])).parse_args(argv))
    from cfsal.cli import main as run

    return run(argv)


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand: cfsal's own errors as one line (``cfsal: error: …``, exit 2), no traceback."""
    from cfsal.errors import CfsalError  # loaded already: the subcommand's module imported cfsal

    try:
        return args.func(args)
    except CfsalError as error:
        print(f"cfsal: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cfsal: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
