"""Samples from the same episode: how many episodes stand behind each verdict, and what clustering changes.

    python benchmarks/bench_clusters.py [--caps 3,5,10] [--synthetic 500] [--workers 2] [--seed 0]

``counterfactual`` branches every k steps of seeded episodes, so n samples may come from a handful
of episodes; samples of one episode share its game phase and are correlated. Three experiments,
every verdict by ``cfsal.stats.assess`` (``clusters=None``: samples as independent units, today's
default; ``clusters=result.episodes``: episodes as the units, :mod:`cfsal.stats.clustered`):

1. **Stored results** (no rollouts): the paired claims of ``examples/suggested/breakout-expert/
   results.json`` re-assessed from the stored per-sample ``values`` and ``episodes``.
2. **Every hypothesis in ``hypotheses/``** at its declared settings and fixed n (as
   ``benchmarks/bench_sequential.py`` part 3 runs them, with the plugin's per-hypothesis seed),
   without a cap and with ``max_per_episode`` = each of ``--caps``: episodes behind the samples,
   iid vs clustered CI and verdict (raw, α = 0.05, no multiple-testing correction, so the two
   analyses are compared claim by claim), and the wall and CPU time of each run.
3. **Synthetic nulls with shared episode offsets** (``--synthetic`` per row): differences
   ``a_episode + e_sample`` with intraclass correlation ρ; the rate of false SUPPORTED for an
   effect claim (mean 0) and a no-effect claim (mean exactly at the margin), iid vs clustered; and
   the coverage of the 95% intervals: iid BCa, episode-bootstrap BCa, CR1 t, and their union (the
   interval a clustered effect verdict reports).

Writes ``benchmarks/results/clusters.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rollouts import machine_description, machine_line
from bench_sequential import clopper_pearson, hypothesis_items, mc_limit

from cfsal.plugin.session import hypothesis_seed
from cfsal.rollout import counterfactual
from cfsal.stats import Claim, Verdict, assess, assess_correlation
from cfsal.stats.bootstrap import bootstrap_ci, cluster_bootstrap_ci
from cfsal.stats.clustered import cluster_robust_se, cluster_t_interval

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
RESAMPLES = 9999
STORED = ROOT / "examples" / "suggested" / "breakout-expert" / "results.json"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 1]))  # as the plugin


def _se(values: np.ndarray, episodes: np.ndarray) -> tuple[float, float]:
    """(iid SE, CR1 SE) of the mean; the clustered one is NaN with a single episode."""
    iid = float(np.std(values, ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
    clustered = cluster_robust_se(values, episodes) if np.unique(episodes).size > 1 else math.nan
    return iid, clustered


def distinct_episodes(values: np.ndarray, episodes: np.ndarray, steps: np.ndarray) -> int:
    """Episodes that differ in what was measured, for stored results (which keep no game states):
    two episodes with the same branch steps and the same values are counted once. An upper bound on
    replays: discrete or saturated measures (all zeros) also make different games look alike."""
    signatures = {tuple(zip(steps[episodes == e].tolist(), np.round(values[episodes == e], 12).tolist()))
                  for e in np.unique(episodes)}
    return len(signatures)


def distinct_games(situations: np.ndarray, episodes: np.ndarray) -> int:
    """Episodes that are not replays of another: their branch points are not all the same situations
    (``result.situations``: the game state apart from its RNG, and the frames) as an earlier one's."""
    return len({tuple(situations[episodes == e].tolist()) for e in np.unique(episodes)})


def both_verdicts(claim: Claim, values: np.ndarray, episodes: np.ndarray, bounds, covariate, seed: int,
                  resamples: int = RESAMPLES) -> dict[str, Any]:
    """The iid and the episode-clustered verdict of one claim on the same samples (same generator seed)."""
    if claim.kind == "correlation":
        iid = assess_correlation(claim, covariate, values, rng=_rng(seed), n_resamples=resamples)
        return {"iid": iid, "clustered": None, "se": (math.nan, math.nan)}
    iid = assess(claim, values, rng=_rng(seed), bounds=bounds, n_resamples=resamples)
    clustered = assess(claim, values, rng=_rng(seed), bounds=bounds, n_resamples=resamples, clusters=episodes)
    return {"iid": iid, "clustered": clustered, "se": _se(values, episodes)}


# ------------------------------------------------------------------------------------ 1. stored results

def stored_rows() -> list[dict[str, Any]]:
    data = json.loads(STORED.read_text(encoding="utf-8"))
    rows = []
    for entry in data["hypotheses"]:
        result = entry.get("result")
        if not result or not result.get("values"):
            continue
        claim = Claim.from_dict(entry["verdict"]["claim"])
        values, episodes = np.asarray(result["values"], float), np.asarray(result["episodes"])
        covariate = None if result.get("covariate") is None else np.asarray(result["covariate"], float)
        bounds = tuple(result["bounds"]) if result.get("bounds") else None
        rows.append({"nodeid": entry["nodeid"].split("::")[-1], "kind": claim.kind, "n": values.size,
                     "episodes": int(np.unique(episodes).size), "seed": int(entry["seed"]),
                     "distinct": distinct_episodes(values, episodes, np.asarray(result["steps"])),
                     **both_verdicts(claim, values, episodes, bounds, covariate, int(entry["seed"]))})
    return rows


# ------------------------------------------------------------------------------------ 2. hypotheses

@functools.cache
def _agent(name: str):
    from cfsal.agents.zoo import load_agent

    return load_agent(name)


def hypothesis_row(index: int, cap: int | None, session_seed: int) -> dict[str, Any]:
    """One hypothesis of hypotheses/ at its declared settings, with ``max_per_episode=cap`` (in a worker)."""
    torch.set_num_threads(1)
    item = hypothesis_items()[index]
    spec = item.spec
    claim = Claim(spec.kind, spec.alternative, spec.margin, spec.alpha or ALPHA)
    seed = hypothesis_seed(session_seed, item.nodeid)
    agent = _agent(spec.agent)
    wall, cpu = time.perf_counter(), time.process_time()
    result = counterfactual(agent, item.intervention, samples=spec.samples or 30, seed=seed,
                            max_per_episode=cap, **item.settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per = np.unique(result.episodes, return_counts=True)[1]
    row = {"nodeid": item.nodeid.split("::")[-1], "index": index, "cap": cap, "kind": spec.kind, "n": result.n,
           "episodes": int(per.size), "most_per_episode": int(per.max()), "wall": wall, "cpu": cpu,
           "distinct": distinct_games(result.situations, result.episodes),
           "situations": result.distinct_situations, "games": int(np.unique(result.games).size),
           **both_verdicts(claim, result.values, result.episodes, result.bounds, result.covariate, seed)}
    row["by_game"] = None if row["clustered"] is None else (
        row["clustered"] if row["games"] == row["episodes"] else
        assess(claim, result.values, rng=_rng(seed), bounds=result.bounds, n_resamples=RESAMPLES,
               clusters=result.games))
    print(f"  {row['nodeid']} cap {cap}: {row['n']} samples from {row['episodes']} episodes, "
          f"iid {row['iid'].outcome}, clustered {row['clustered'].outcome if row['clustered'] else '—'} "
          f"({wall:.0f} s wall)", flush=True)
    return row


# ------------------------------------------------------------------------------------ 3. synthetic

DESIGNS = ((3, 10, 0.3), (6, 5, 0.3), (10, 20, 0.3), (40, 5, 0.3), (10, 20, 0.0))  # episodes, per episode, ρ
MARGIN = 0.2  # in units of the total SD


def synthetic_row(design: tuple[int, int, float], count: int, seed: int) -> dict[str, Any]:
    """False SUPPORTED over ``count`` nulls of one design, for an effect and a no-effect claim, iid vs clustered."""
    episodes, per, rho = design
    g = np.random.default_rng(seed)
    labels = np.repeat(np.arange(episodes), per)
    false = {(kind, how): 0 for kind in ("effect", "no_effect") for how in ("iid", "clustered")}
    for trial in range(count):
        for kind, claim, mean in (("effect", Claim("effect"), 0.0),
                                  ("no_effect", Claim("no_effect", margin=MARGIN), MARGIN)):
            d = mean + math.sqrt(rho) * g.normal(size=episodes)[labels] + math.sqrt(1 - rho) * g.normal(size=labels.size)
            for how, clusters in (("iid", None), ("clustered", labels)):
                v = assess(claim, d, rng=np.random.default_rng([seed, trial]), n_resamples=999, clusters=clusters)
                false[(kind, how)] += v.outcome == "SUPPORTED"
    return {"design": design, "count": count, "false": false}


COVERAGE_DESIGNS = ((5, 6, 0.3, "normal"), (6, 5, 0.3, "normal"), (10, 5, 0.3, "normal"), (20, 5, 0.3, "normal"),
                    (6, 5, 0.3, "exponential"), (10, 5, 0.3, "exponential"))


def coverage_row(design: tuple[int, int, float, str], count: int, seed: int) -> dict[str, Any]:
    """How often each 95% interval covers the true mean 0, episode offsets normal or skewed (exponential − 1)."""
    episodes, per, rho, offsets = design
    g = np.random.default_rng(seed)
    labels = np.repeat(np.arange(episodes), per)
    hits = {"iid BCa": 0, "episode BCa": 0, "CR1 t": 0, "union": 0}
    for trial in range(count):
        a = g.normal(size=episodes) if offsets == "normal" else g.exponential(size=episodes) - 1.0
        d = math.sqrt(rho) * a[labels] + math.sqrt(1 - rho) * g.normal(size=labels.size)
        boot = cluster_bootstrap_ci(d, labels, np.random.default_rng([seed, trial]), n_resamples=999)
        t = cluster_t_interval(d, labels, 0.95)
        intervals = {"iid BCa": bootstrap_ci(d, np.random.default_rng([seed, trial]), n_resamples=999),
                     "episode BCa": boot, "CR1 t": t, "union": (min(boot[0], t[0]), max(boot[1], t[1]))}
        for key, (low, high) in intervals.items():
            hits[key] += low <= 0.0 <= high
    return {"design": design, "count": count, "hits": hits}


# ------------------------------------------------------------------------------------ report

def _ci(v: Verdict | None) -> str:
    if v is None:
        return "—"
    return f"{v.effect:.3g} [{v.ci_low:.3g}, {v.ci_high:.3g}]"


def _outcome(v: Verdict | None) -> str:
    return "— (correlation: not clustered)" if v is None else v.outcome


def stored_section(rows: list[dict]) -> list[str]:
    lines = ["## 1. Stored results: `examples/suggested/breakout-expert/results.json`", "",
             ("Re-assessed from the stored per-sample values and episodes (the seed each was run with); "
             "SE = standard error of the mean, iid vs CR1 with episodes as clusters; *distinct*: episodes whose branch "
             "steps and measured values differ (stored results keep no game states, so this is an upper bound on replays)."), "",
             ("| hypothesis | kind | n | episodes (distinct) | SE iid → clustered | iid: effect [CI] → verdict | "
             "clustered: effect [CI] → verdict |"), "|---|---|---:|---:|---|---|---|"]
    for r in rows:
        se_iid, se_cl = r["se"]
        se = "—" if math.isnan(se_iid) else f"{se_iid:.3f} → {'—' if math.isnan(se_cl) else f'{se_cl:.3f}'}"
        lines.append(f"| `{r['nodeid']}` | {r['kind']} | {r['n']} | {r['episodes']} ({r['distinct']}) | {se} | {_ci(r['iid'])} → "
                     f"{r['iid'].outcome} | {_ci(r['clustered'])} → {_outcome(r['clustered'])} |")
    return lines + [""]


def _by_game(row: dict) -> str:
    return "—" if row["by_game"] is None else f"{row['by_game'].outcome} ({row['games']})"


def hypotheses_section(rows: list[dict], caps: list[int]) -> list[str]:
    configs = [None, *caps]
    name = {None: "no cap"} | {c: f"max_per_episode={c}" for c in caps}
    by = {(r["index"], r["cap"]): r for r in rows}
    indexes = sorted({r["index"] for r in rows})
    lines = ["## 2. The hypotheses in `hypotheses/` at their declared settings", "",
             ("Fixed n (the hypothesis's `samples`, default 30), the plugin's per-hypothesis seed; raw verdicts at "
             "α = 0.05 (no Holm), so iid and clustered are compared claim by claim. *episodes*: how many episodes "
             "the samples came from (most samples from one episode in brackets); *distinct*: episodes that are not replays "
             "of another (their branch points are not all the same game situations, `result.situations`: the Toybox "
             "state apart from its RNG, and the frames); *situations*: distinct situations among the n samples; *by game*: "
             "the clustered verdict with `clusters=result.games` (episodes that meet in a situation merged; "
             "the number of games in brackets)."), ""]
    for cap in configs:
        lines += [f"### {name[cap]}", "",
                  ("| hypothesis | kind | n | episodes (max/episode) | distinct | situations | iid: effect [CI] → verdict | "
                  "clustered: effect [CI] → verdict | by game | wall s | CPU s |"),
                  "|---|---|---:|---|---:|---:|---|---|---|---:|---:|"]
        for i in indexes:
            r = by.get((i, cap))
            if r is None:
                continue
            lines.append(f"| `{r['nodeid']}` | {r['kind']} | {r['n']} | {r['episodes']} ({r['most_per_episode']}) | "
                         f"{r['distinct']} | {r['situations']} | "
                         f"{_ci(r['iid'])} → {r['iid'].outcome} | {_ci(r['clustered'])} → {_outcome(r['clustered'])} "
                         f"| {_by_game(r)} | {r['wall']:.1f} | {r['cpu']:.1f} |")
        lines.append("")
    lines += ["### Summary", "",
              ("| design | hypotheses | median episodes | with < 5 episodes | with replayed episodes | with repeated situations | "
              "decided iid | decided clustered | decided by game | iid and clustered agree | total wall s | total CPU s |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cap in configs:
        these = [by[(i, cap)] for i in indexes if (i, cap) in by]
        paired = [r for r in these if r["clustered"] is not None]
        decided = {key: sum(r[key].outcome != "INCONCLUSIVE" for r in paired) for key in ("iid", "clustered", "by_game")}
        lines.append(f"| {name[cap]} | {len(these)} ({len(paired)} paired) | "
                     f"{np.median([r['episodes'] for r in these]):.0f} | {sum(r['episodes'] < 5 for r in these)} | "
                     f"{sum(r['distinct'] < r['episodes'] for r in these)} | "
                     f"{sum(r['situations'] < r['n'] for r in these)} | "
                     f"{decided['iid']}/{len(paired)} | {decided['clustered']}/{len(paired)} | "
                     f"{decided['by_game']}/{len(paired)} | "
                     f"{sum(r['iid'].outcome == r['clustered'].outcome for r in paired)}/{len(paired)} | "
                     f"{sum(r['wall'] for r in these):.0f} | {sum(r['cpu'] for r in these):.0f} |")
    return lines + [""]


def synthetic_section(rows: list[dict]) -> list[str]:
    lines = ["## 3. False support on nulls with shared episode offsets", "",
             ("Differences `√ρ·a_episode + √(1−ρ)·e_sample` (standard normal a, e; total SD 1): an *effect* claim "
             f"with mean 0, and a *no_effect* claim (margin {MARGIN}) with the mean exactly at the margin. Both claims "
             "are false: every SUPPORTED is a false one. A calibrated test stays at or below "
             "α = 0.05 (the limit column is α + 1.96 Monte-Carlo SE). 999 resamples per test."), "",
             ("| episodes × per episode | ρ | nulls | effect: iid | effect: clustered | no_effect: iid | "
             "no_effect: clustered | limit |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    def rate(k: int, count: int) -> str:
        low, high = clopper_pearson(k, count)
        return f"{k / count:.3f} [{low:.3f}, {high:.3f}]"

    for r in rows:
        episodes, per, rho = r["design"]
        count, false = r["count"], r["false"]
        lines.append(f"| {episodes} × {per} | {rho:g} | {count} | {rate(false['effect', 'iid'], count)} | "
                     f"{rate(false['effect', 'clustered'], count)} | {rate(false['no_effect', 'iid'], count)} | "
                     f"{rate(false['no_effect', 'clustered'], count)} | {mc_limit(count):.3f} |")
    return lines + ["", ("Rates with 95% Clopper–Pearson intervals. With fewer than 5 episodes the clustered "
                    "verdict is INCONCLUSIVE by rule."), ""]


def coverage_section(rows: list[dict]) -> list[str]:
    keys = ("iid BCa", "episode BCa", "CR1 t", "union")
    lines = ["### Coverage of 95% intervals of the mean", "",
             ("Same model, mean 0, episode offsets normal or exponential − 1 (skewed); 999 resamples. "
             "*union* is what a clustered effect or direction verdict reports."), "",
             "| episodes × per episode | ρ | offsets | datasets | " + " | ".join(keys) + " |",
             "|---|---:|---|---:|" + "---:|" * len(keys)]
    for r in rows:
        episodes, per, rho, offsets = r["design"]
        cells = " | ".join(f"{r['hits'][k] / r['count']:.3f}" for k in keys)
        lines.append(f"| {episodes} × {per} | {rho:g} | {offsets} | {r['count']} | {cells} |")
    return lines + ["", (f"Monte-Carlo SE of a coverage near 0.95 with {rows[0]['count']} datasets: "
                    f"{math.sqrt(0.95 * 0.05 / rows[0]['count']):.3f}."), ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", default="3,5,10", help="max_per_episode values to compare with no cap")
    parser.add_argument("--synthetic", type=int, default=500, help="simulated nulls per synthetic row")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="session seed for the hypotheses")
    parser.add_argument("--parts", default="stored,hypotheses,synthetic")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "clusters.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    caps = [int(c) for c in args.caps.split(",") if c]
    parts = set(args.parts.split(","))
    machine = machine_description(torch.get_num_threads())
    started = time.perf_counter()
    stored = stored_rows() if "stored" in parts else []
    count = len(hypothesis_items())
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        synthetic_jobs = [pool.submit(synthetic_row, design, args.synthetic, 300 + i) for i, design in
                          enumerate(DESIGNS)] if "synthetic" in parts else []
        jobs = [pool.submit(hypothesis_row, i, cap, args.seed) for cap in [None, *caps] for i in range(count)] \
            if "hypotheses" in parts else []
        coverage_jobs = [pool.submit(coverage_row, design, args.synthetic, 400 + i) for i, design in
                         enumerate(COVERAGE_DESIGNS)] if "synthetic" in parts else []
        rows = [job.result() for job in jobs]
        synthetic = [job.result() for job in synthetic_jobs]
        coverage = [job.result() for job in coverage_jobs]
    minutes = (time.perf_counter() - started) / 60
    lines = ["# Samples from the same episode: episodes behind each verdict, iid vs clustered inference", "",
             (f"Produced by `python benchmarks/bench_clusters.py --caps {args.caps} --synthetic {args.synthetic} "
             f"--workers {args.workers} --seed {args.seed}` in {minutes:.1f} min (wall). Every verdict by "
             "`cfsal.stats.assess`, without and with `clusters=result.episodes`."), "",
             (f"Machine: {machine_line(machine, [round(v, 2) for v in os.getloadavg()])}. "
             "Wall times per run are measured while the other worker and the machine's other jobs run; CPU "
             "times are the fairer cost."), ""]
    if stored:
        lines += stored_section(stored)
    if rows:
        lines += hypotheses_section(rows, caps)
    if synthetic:
        lines += synthetic_section(synthetic)
    if coverage:
        lines += coverage_section(coverage)
    text = "\n".join(lines)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
