"""Do verdicts hold up across seeds? Five hypotheses of hypotheses/, K seeds each, old design beside new.

    python benchmarks/bench_seeds.py [--seeds 40] [--workers 2] [--claims a,b] [--designs old,new]

For every claim and seed k, the hypothesis runs at its declared settings with the seed the plugin
would give it under ``--cfsal-seed k`` (:func:`cfsal.plugin.session.hypothesis_seed`), under two
designs, in one run:

* **old**: the design before session 11, a branch point every ``branch_every`` steps of consecutive
  episodes (each hypothesis's former setting), judged as if the samples were independent (as the
  plugin did);
* **new**: the declared default, one state per independently seeded episode (``States``) from the
  session's shared episodes (:func:`cfsal.plugin.session.states_seed`), judged by
  :func:`cfsal.judge.judge`.

What replication asks of a verdict: the per-seed intervals contain the pooled estimate (the mean of
the K per-seed estimates) about as often as they claim (95%; 90% for no-effect claims), the spread
of the per-seed estimates matches the standard error the intervals imply (half-width / z), and no
claim is SUPPORTED at one seed and REFUTED at another. Verdicts are raw (α = 0.05, no correction
across hypotheses), so that each claim is judged alone.

Every finished (claim, design, seed) is appended to ``benchmarks/results/seeds.jsonl`` at once,
so an interrupted run resumes where it stopped; ``--fresh`` starts over. Writes
``benchmarks/results/seeds.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rollouts import machine_description, machine_line
from bench_sequential import hypothesis_items

RESULTS = Path(__file__).resolve().parent / "results"
LOG = RESULTS / "seeds.jsonl"

#: The five claims, by short name: (node id in hypotheses/, the periodic setting it had before).
CLAIMS = {
    "a2c-ball": ("hypotheses/test_breakout_contract.py::test_contract_the_agent_reacts_to_the_ball",
                 {"branch_every": 40}),
    "expert-ball": ("hypotheses/test_breakout_ball.py::test_moving_the_ball_changes_what_the_expert_does",
                    {"branch_every": 40}),
    "amidar-score-policy": ("hypotheses/test_amidar_score.py::"
                            "test_changing_the_score_does_not_change_what_the_agent_decides", {"branch_every": 20}),
    "concepts-correlation": ("hypotheses/test_breakout_counterfactual_importance.py::"
                             "test_salient_concepts_are_the_ones_that_change_behaviour", {"branch_every": 30}),
    "expert-mirror": ("hypotheses/test_breakout_tunnel.py::test_the_expert_mirrors_its_policy_with_the_scene",
                      {"branch_every": 60, "first_branch": 300}),
}
DESIGNS = ("old", "new")
DEFAULT_SAMPLES = 30  # the plugin's --cfsal-samples default


def _items() -> dict[str, Any]:
    by_id = {item.nodeid: item for item in hypothesis_items()}
    missing = [nodeid for nodeid, _ in CLAIMS.values() if nodeid not in by_id]
    if missing:
        raise SystemExit(f"bench_seeds: hypotheses not found in hypotheses/: {missing}")
    return {name: by_id[nodeid] for name, (nodeid, _) in CLAIMS.items()}


_AGENTS: dict[str, Any] = {}


def run_one(name: str, design: str, k: int) -> dict[str, Any]:
    """One claim at session seed k under one design: the verdict's numbers and what the run cost."""
    import torch

    from cfsal.agents.zoo import load_agent
    from cfsal.judge import judge
    from cfsal.plugin.session import hypothesis_seed, states_seed
    from cfsal.rollout import counterfactual
    from cfsal.stats import assess, assess_correlation

    torch.set_num_threads(1)
    item = _items()[name]
    spec = item.spec
    if spec.agent not in _AGENTS:
        _AGENTS[spec.agent] = load_agent(spec.agent)
    settings = dict(item.settings)
    seed = hypothesis_seed(k, item.nodeid)
    if design == "old":
        settings.pop("states", None)
        settings.update(CLAIMS[name][1])
    else:  # as the plugin: the session's shared episodes
        settings["states_seed"] = states_seed(k)
    started, cpu = time.perf_counter(), time.process_time()
    result = counterfactual(_AGENTS[spec.agent], item.intervention, samples=spec.samples or DEFAULT_SAMPLES,
                            seed=seed, **settings)
    claim = spec.as_claim(0.05)
    if design == "new":
        verdict = judge(claim, result)
    else:  # as the plugin judged before: every sample an independent unit
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        verdict = (assess_correlation(claim, result.covariate, result.values, rng=rng) if claim.kind == "correlation"
                   else assess(claim, result.values, rng=rng, bounds=result.bounds))
    return {"claim": name, "design": design, "k": k, "seed": seed, "kind": claim.kind, "outcome": verdict.outcome,
            "effect": verdict.effect, "ci": [verdict.ci_low, verdict.ci_high], "confidence": verdict.confidence,
            "p": verdict.p_value, "n": result.n, "episodes": int(len(set(result.episodes.tolist()))),
            "clusters": verdict.clusters, "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "selection": None if result.selection is None else result.selection.to_dict()}


def _done() -> set[tuple[str, str, int]]:
    if not LOG.exists():
        return set()
    return {(r["claim"], r["design"], r["k"]) for r in map(json.loads, LOG.read_text().splitlines())}


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    effects = np.array([r["effect"] for r in rows], dtype=float)
    low, high = np.array([r["ci"][0] for r in rows]), np.array([r["ci"][1] for r in rows])
    confidence = rows[0]["confidence"]
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    if rows[0]["kind"] == "correlation":  # Fisher z scale, where the interval is symmetric
        effects_z, low, high = np.arctanh(np.clip(effects, -0.999999, 0.999999)), np.arctanh(low), np.arctanh(high)
        pooled_z = float(np.mean(effects_z))
        covered = float(np.mean((low <= pooled_z) & (pooled_z <= high)))
        spread = float(np.std(effects_z, ddof=1)) / float(np.mean((high - low) / (2 * z)))
        pooled = float(np.tanh(pooled_z))
    else:
        pooled = float(np.mean(effects))
        covered = float(np.mean((low <= pooled) & (pooled <= high)))
        spread = float(np.std(effects, ddof=1)) / float(np.mean((high - low) / (2 * z)))
    outcomes = [r["outcome"] for r in rows]
    return {"K": len(rows), "pooled": pooled, "confidence": confidence, "covered": covered, "spread_ratio": spread,
            "supported": outcomes.count("SUPPORTED"), "refuted": outcomes.count("REFUTED"),
            "inconclusive": outcomes.count("INCONCLUSIVE"),
            "median_episodes": float(np.median([r["episodes"] for r in rows])),
            "mean_cpu_s": float(np.mean([r["cpu_s"] for r in rows]))}


def _goal(summary: dict[str, Any]) -> tuple[bool, bool, bool]:
    coverage_goal = 0.87 if summary["confidence"] < 0.93 else 0.92
    return (summary["covered"] >= coverage_goal, summary["spread_ratio"] <= 1.15,
            not (summary["supported"] and summary["refuted"]))


def write_markdown(rows: list[dict[str, Any]], machine: dict[str, Any], seeds: int, load_at_end: list[float]) -> Path:
    lines = [
        "# Verdicts across seeds (`benchmarks/bench_seeds.py`)",
        "",
        f"Machine: {machine_line(machine, load_at_end)}.",
        "",
        "Each claim at its declared settings under K session seeds (the plugin's per-hypothesis seed for "
        "`--cfsal-seed k`, k = 0 … K − 1); **old**: a branch point every `branch_every` steps of consecutive "
        "episodes, samples analysed as independent (the plugin before session 11); **new**: one state per "
        "independently seeded episode (`States()`, the default), judged by `cfsal.judge.judge`. *covered*: "
        "share of per-seed intervals containing the pooled estimate (goal ≥ 92% for 95% intervals, ≥ 87% "
        "for the 90% intervals of no-effect claims); *spread*: SD of the per-seed estimates ÷ mean standard "
        "error implied by the intervals (goal ≤ 1.15; correlations on Fisher's z scale); verdicts raw at "
        "α = 0.05 (goal: never SUPPORTED at one seed and REFUTED at another).",
        "",
        "| claim | design | K | pooled | covered | spread | SUPPORTED / REFUTED / INCONCLUSIVE | median episodes "
        "| CPU s per run | goals |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for name in CLAIMS:
        for design in DESIGNS:
            chosen = [r for r in rows if r["claim"] == name and r["design"] == design and r["k"] < seeds]
            if len(chosen) < 2:
                continue
            s = _summary(chosen)
            marks = "".join("✔" if ok else "✘" for ok in _goal(s))
            lines.append(f"| {name} | {design} | {s['K']} | {s['pooled']:.3g} | {s['covered']:.0%} "
                         f"({s['confidence']:.0%} CI) | {s['spread_ratio']:.2f} | {s['supported']} / {s['refuted']} / "
                         f"{s['inconclusive']} | {s['median_episodes']:g} | {s['mean_cpu_s']:.1f} | {marks} |")
    lines += ["", "Goals column: coverage, spread, no SUPPORTED-and-REFUTED (✔ met, ✘ missed).", "",
              "Claims: " + "; ".join(f"`{name}` = `{nodeid}`" for name, (nodeid, _) in CLAIMS.items()) + "."]
    out = RESULTS / "seeds.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--claims", default=",".join(CLAIMS))
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--fresh", action="store_true", help="forget the results of earlier runs")
    args = parser.parse_args()
    claims, designs = args.claims.split(","), args.designs.split(",")
    unknown = [c for c in claims if c not in CLAIMS] + [d for d in designs if d not in DESIGNS]
    if unknown:
        raise SystemExit(f"bench_seeds: unknown {unknown}; claims: {list(CLAIMS)}, designs: {list(DESIGNS)}")
    RESULTS.mkdir(exist_ok=True)
    if args.fresh and LOG.exists():
        LOG.unlink()
    machine = machine_description(1)
    done = _done()
    tasks = [(name, design, k) for k in range(args.seeds) for name in claims for design in designs
             if (name, design, k) not in done]
    print(f"{len(tasks)} runs to do ({len(done)} already in {LOG.name})", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, *task): task for task in tasks}
        for i, future in enumerate(as_completed(futures), 1):
            row = future.result()
            with LOG.open("a") as log:
                log.write(json.dumps(row) + "\n")
            print(f"[{i}/{len(tasks)}] {row['claim']} {row['design']} k={row['k']}: {row['outcome']} "
                  f"{row['effect']:.3g} [{row['ci'][0]:.3g}, {row['ci'][1]:.3g}] ({row['cpu_s']:.0f} s CPU)", flush=True)
    rows = [json.loads(line) for line in LOG.read_text().splitlines()]
    print(write_markdown(rows, machine, args.seeds, list(os.getloadavg())).read_text())


if __name__ == "__main__":
    main()
