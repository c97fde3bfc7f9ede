"""``cfsal suggest AGENT --episodes N --method perturbation --out DIR``: audit, then write the tests.

Prints a progress bar (stderr) while it records, maps and runs pilots, then the audit as a table,
and writes one hypothesis file per object plus ``audit.json`` into ``--out``.
``cfsal suggest --report AUDIT.json [--results RESULTS.json] --html PAGE`` writes the audit's HTML
page (enrichment charts; per claim what saliency said and, once the files have run, what the
intervention says).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from cfsal.agents.zoo import load_agent
from cfsal.errors import CfsalError
from cfsal.interventions.targets import targets_for
from cfsal.report.audit import write_audit_page
from cfsal.saliency.cli import _parse_params as parse
from cfsal.suggest.api import AUDIT_FILE, suggest
from cfsal.suggest.catalog import audit_objects
from cfsal.suggest.claims import display


def summary_lines(audit: Any) -> list[str]:
    """The audit as a terminal table: per method, objects by rank with enrichment and its CI."""
    lines = [(f"saliency audit of {audit.agent} ({audit.game}, weights sha256 {audit.agent_sha256[:12]}…): "
              f"{audit.frames} frames of {len(audit.episodes)} episodes, seed {audit.seed}")]
    for method, result in audit.methods.items():
        lines.append(f"\n{method} ({result.output} map; 95% CIs: block bootstrap, blocks of {result.block} frames"
                     + (f"; map zero on {result.zero_frames}/{result.frames} frames" if result.zero_frames else "")
                     + ")")
        lines.append(f"  {'rank':<5}{'object':<16}{'saliency':>9}{'screen':>9}{'enrichment [95% CI]':>26}  label"
                     "     correlations found")
        for f in result.objects:
            corr = ", ".join(f"{c.variable} r={c.r:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]"
                             for c in f.correlations if c.found) or "—"
            ci = f"{f.enrichment:.2f} [{f.ci_low:.2f}, {f.ci_high:.2f}]"
            lines.append(f"  {f.rank:<5}{display(f.name):<16}{100 * f.saliency_share:>8.2f}%"
                         f"{100 * f.screen_share:>8.2f}%{ci:>26}  {f.label:<9} {corr}")
        lines.append(f"  on no object: {100 * result.rest_share:.1f}% of the saliency")
    untested = untargeted(audit)
    if untested:
        lines.append("\nno claims about " + ", ".join(f"{display(name)} ({label})" for name, label in untested.items())
                     + ": no intervention changes it (cfsal.interventions.targets)")
    if audit.claims:
        lines.append("\nclaims written:")
        for claim in audit.claims:
            lines.append(f"  {claim['file']}::{claim['test']}  [{claim['kind']}, n={claim['samples']}]")
    else:
        lines.append("\nno claims: no object is clearly salient or clearly not (see the labels above)")
    return lines


def untargeted(audit: Any) -> dict[str, str]:
    """The audited objects no intervention changes, each with its labels ("salient under perturbation")."""
    return {obj.name: ", ".join(f"{result.finding(obj.name).label} under {method}"
                                for method, result in audit.methods.items())
            for obj in audit_objects(audit.game) if not targets_for(audit.game, obj.name)}


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    return parse(pairs)


def _progress(enabled: bool):
    """A tqdm bar on stderr per phase (episodes, frames per method, pilots)."""
    if not enabled:
        return None, lambda: None
    bars: dict[str, Any] = {}

    def show(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            unit = {"episodes": "episode", "pilots": "claim"}.get(phase, "frame")
            bar = bars[phase] = tqdm(total=total, desc=phase, unit=unit, file=sys.stderr, leave=True)
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return show, close


def _cmd_suggest(args: argparse.Namespace) -> int:
    if args.report:
        page = write_audit_page(args.report, args.html, results=args.results)
        print(f"wrote {page}")
        return 0
    if not args.agent:
        raise CfsalError("cfsal suggest needs an AGENT (zoo name or checkpoint), or --report AUDIT.json.")
    torch.set_num_threads(args.threads)
    agent = load_agent(args.agent, game=args.game, trust=args.trust_code)
    methods = args.method or ["perturbation"]
    params = {methods[0]: _parse_params(args.param)} if args.param else None
    show, close = _progress(not args.no_progress)
    command = "cfsal suggest " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["suggest"] else ""
    try:
        audit = suggest(agent, args.out, episodes=args.episodes, methods=tuple(methods), seed=args.seed,
                        max_steps=args.max_steps, every=args.every, params=params, claims=args.claims,
                        pilot=args.pilot, cache=None if args.no_cache else args.cache, command=command,
                        progress=show)
    finally:
        close()
    print("\n".join(summary_lines(audit)))
    print(f"\nwrote {len({c['file'] for c in audit.claims})} hypothesis files and {Path(args.out) / AUDIT_FILE}; "
          f"run them with: pytest {args.out}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("suggest", help="audit an agent's saliency and write the hypothesis tests it implies")
    parser.add_argument("agent", nargs="?", help="zoo name or checkpoint path")
    parser.add_argument("--episodes", type=int, default=5, help="recorded episodes to audit (default 5)")
    parser.add_argument("--method", action="append", default=None,
                        help="saliency method (repeatable; default perturbation)")
    parser.add_argument("--out", default="hypotheses/suggested", help="folder for the hypothesis files and audit.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (episodes, bootstrap, pilots)")
    parser.add_argument("--max-steps", type=int, default=1000, help="stop each episode after this many steps")
    parser.add_argument("--every", type=int, default=10, help="map every k-th step (default 10)")
    parser.add_argument("--claims", choices=("salient", "all"), default="salient",
                        help="salient: what the audit suggests (default); all: an effect claim for every object")
    parser.add_argument("--pilot", type=int, default=8, help="paired samples per claim in the sample-size pilot")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the (first) method, e.g. --param radius=2")
    parser.add_argument("--cache", default="reports/cache/suggest", help="where maps are cached (reused by later runs)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write cached maps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--game", help="the game, checked against the agent (required for SB3 zips / TorchScript)")
    parser.add_argument("--trust-code", action="store_true", help="allow TorchScript files, which run code when loaded")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", metavar="AUDIT_JSON", help="write the HTML page of an audit instead")
    parser.add_argument("--results", metavar="RESULTS_JSON", help="with --report: the results of running the files")
    parser.add_argument("--html", default="reports/audit.html", help="with --report: the page to write")
    parser.set_defaults(func=_cmd_suggest)
