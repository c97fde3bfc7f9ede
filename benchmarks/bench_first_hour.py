"""The first hour's waits: `cfsal --help`, `cfsal interventions list` and one `cfsal saliency` episode,
this checkout beside an earlier commit, in one run.

    python benchmarks/bench_first_hour.py [--before 8dfbf6e^] [--repeats 5] [--saliency-repeats 3]

Every command runs as a user runs it: a fresh Python process (the console script's ``main``), timed by wall
clock, the median over the repeats, this checkout and ``--before`` interleaved so that a change of
load hits both alike. ``--before`` runs from a temporary ``git worktree`` of that commit (default: the
commit before issue #25's fast start, whose `--help` imported torch and whose saliency wrote JSON
maps and a GIF). The saliency row is ``cfsal saliency breakout-a2c --method jacobian --episodes 1``
(500 steps, the default cap), with the total size of what it wrote.

Goals (issue "The first hour"): `--help` < 1 s on 2 cores; saliency output ≥ 5× smaller and the
command ≥ 3× faster than before. Writes ``benchmarks/results/first-hour.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rollouts import machine_description, machine_line

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SALIENCY = ["saliency", "breakout-a2c", "--method", "jacobian", "--episodes", "1", "--no-progress"]


def run_cli(checkout: Path, args: list[str], cwd: Path) -> float:
    """Wall seconds of ``cfsal <args>`` from ``checkout``'s code, in a fresh process."""
    # the console script's function in that checkout: the front door _cfsal_cli from session 14 on
    entry = "_cfsal_cli" if (checkout / "_cfsal_cli.py").exists() else "cfsal.cli"
    code = f"import sys; from {entry} import main; sys.argv = ['cfsal', *sys.argv[1:]]; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def measure(checkouts: dict[str, Path], repeats: int, saliency_repeats: int, scratch: Path) -> dict[str, dict]:
    """Per checkout: the wall times of each command and the saliency output's size."""
    out = {name: {"help": [], "interventions": [], "saliency": [], "bytes": 0} for name in checkouts}
    for r in range(max(repeats, saliency_repeats)):
        for name, checkout in checkouts.items():
            if r < repeats:
                out[name]["help"].append(run_cli(checkout, ["--help"], scratch))
                out[name]["interventions"].append(run_cli(checkout, ["interventions", "list"], scratch))
            if r < saliency_repeats:
                folder = scratch / f"{name}-{r}"
                out[name]["saliency"].append(run_cli(checkout, [*SALIENCY, "--out", str(folder)], scratch))
                out[name]["bytes"] = folder_bytes(folder)
        print(f"repeat {r}: " + "; ".join(f"{n}: help {v['help'][-1]:.2f} s" for n, v in out.items()), flush=True)
    return out


def report(out: dict[str, dict], before: str, commit: str, machine: dict, repeats: int, saliency_repeats: int) -> str:
    now, then = out["this checkout"], out["before"]
    med = {name: {key: float(np.median(v[key])) for key in ("help", "interventions", "saliency")} for name, v in out.items()}
    faster = med["before"]["saliency"] / med["this checkout"]["saliency"]
    smaller = then["bytes"] / max(1, now["bytes"])
    help_now = med["this checkout"]["help"]
    rows = [
        ("`cfsal --help`", "help", f"< 1 s {'✔' if help_now < 1 else '✘'}"),
        ("`cfsal interventions list`", "interventions", "—"),
        ("`cfsal saliency breakout-a2c --method jacobian --episodes 1`", "saliency",
         f"≥ 3× faster: {faster:.1f}× {'✔' if faster >= 3 else '✘'}"),
    ]
    lines = ["# The first hour's waits (`benchmarks/bench_first_hour.py`)", "",
             f"Machine: {machine_line(machine, [round(v, 2) for v in os.getloadavg()])}.", "",
             (f"This checkout (`{commit}`) beside `{before}`, each command in a fresh process, wall-clock medians "
              f"({repeats} repeats; saliency {saliency_repeats}), interleaved."), "",
             "| command | this checkout | before | goal |", "|---|---:|---:|---|"]
    for label, key, goal in rows:
        lines.append(f"| {label} | {med['this checkout'][key]:.2f} s | {med['before'][key]:.2f} s | {goal} |")
    lines.append(f"| its output (total size) | {now['bytes'] / 1e6:.1f} MB | {then['bytes'] / 1e6:.1f} MB | "
                 f"≥ 5× smaller: {smaller:.1f}× {'✔' if smaller >= 5 else '✘'} |")
    lines += ["", "All times: " + "; ".join(f"{name} {key} " + ", ".join(f"{t:.2f}" for t in v[key])
                                         for name, v in out.items() for key in ("help", "interventions", "saliency"))
              + " (s)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="8dfbf6e^", help="the commit to compare with (git revision)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--saliency-repeats", type=int, default=3)
    args = parser.parse_args()
    machine = machine_description(1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(worktree), args.before], cwd=ROOT, check=True)
        try:
            scratch = Path(tmp) / "runs"
            scratch.mkdir()
            out = measure({"this checkout": ROOT, "before": worktree}, args.repeats, args.saliency_repeats, scratch)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    text = report(out, args.before, commit, machine, args.repeats, args.saliency_repeats)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first-hour.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
