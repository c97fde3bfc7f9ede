"""``cfsal report RESULTS.json``: rebuild the HTML report from saved results, optionally against a baseline.

The same page pytest writes with ``--cfsal-html``, from the JSON alone: every number is there;
before/after frames appear only where the run that wrote the JSON rendered them (the JSON holds
their file names, not the in-memory branches), and the page says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from cfsal.report.build import load_results, report_from_files
from cfsal.report.table import markdown_table


def _cmd_report(args: argparse.Namespace) -> int:
    if args.markdown:
        lines = markdown_table(load_results(args.results), thumbnails=args.thumbnails,
                               link_from=args.link_from)
        print("\n".join(lines))
        return 0

    path = report_from_files(args.results, args.out, baseline_path=args.compare)
    print(f"wrote {path}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="write the HTML report of a saved results JSON",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("results", metavar="RESULTS.json", help="results written by pytest --cfsal-json")
    parser.add_argument("--out", default="reports/index.html",
                        help="the page to write; its pictures go to <name>_files/ beside it (default reports/index.html)")
    parser.add_argument("--compare", metavar="BASELINE.json",
                        help="an earlier results JSON: the page starts with what changed since then")
    parser.add_argument("--markdown", action="store_true",
                        help="print the verdicts as a Markdown table instead of writing the page")
    parser.add_argument("--thumbnails", metavar="DIR",
                        help="with --markdown: write a small picture per hypothesis to DIR and show it in the table")
    parser.add_argument("--link-from", default=".", metavar="DIR",
                        help="with --thumbnails: the folder of the Markdown file, for relative links (default .)")
    parser.set_defaults(func=_cmd_report)
