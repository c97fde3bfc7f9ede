"""``cfsal interventions list``: every intervention with its parameters, valid ranges and docs."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from cfsal.envs.games import get_game
from cfsal.interventions.spec import list_interventions


def _format(entry: dict[str, Any], verbose: bool) -> str:
    flags = [entry["kind"]] + (["persistent"] if entry["persistent"] else [])
    if entry["paper_name"]:
        flags.append(f"paper: {entry['paper_name']}")
    lines = [f"{entry['name']}  [{', '.join(flags)}]", f"    {entry['summary']}"]
    for p in entry["params"]:
        default = "required" if p["required"] else f"default {p['default']!r}"
        lines.append(f"    - {p['name']}: {p['range']}; {default}. {p['doc']}".rstrip())
    if verbose and entry["doc"]:
        lines.extend(textwrap.indent(entry["doc"], "      ").splitlines())
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    game = get_game(args.game).name if args.game else None
    entries = list_interventions(game=game, kind=args.kind)
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    for entry in entries:
        print(_format(entry, verbose=not args.brief))
        print()
    print(f"{len(entries)} interventions. State interventions apply at any step "
          f"(settle='refresh' or n NOOP steps); config ones restart the game (episode start).")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("interventions", help="the intervention library")
    sub = parser.add_subparsers(dest="interventions_command", required=True)
    listing = sub.add_parser("list", help="list every intervention with its parameters, ranges and docs")
    listing.add_argument("--game", help="only this game (breakout, amidar, space_invaders, pong)")
    listing.add_argument("--kind", choices=("state", "config"), help="only state or config interventions")
    listing.add_argument("--brief", action="store_true", help="parameters only, without the full docs")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_cmd_list)
