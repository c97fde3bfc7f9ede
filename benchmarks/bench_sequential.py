"""Sequential verdicts (issue #11, "Must show"): calibrated under optional stopping, and cheaper.

    python benchmarks/bench_sequential.py [--synthetic 1000] [--agent-nulls 250] [--seeds 2]

Three experiments in one run, every verdict by the code the plugin uses
(``cfsal.stats.group_sequential_assess`` for the group design, the plugin's default;
``cfsal.stats.sequential_assess`` for the anytime design; ``cfsal.stats.assess`` for fixed-n):

1. **Synthetic nulls** (``--synthetic`` per row): paired data for which every claim is false, looked
   at after every 10 samples up to 200 (20 looks) and stopped at the first decision. False
   SUPPORTED must stay ≤ α + Monte-Carlo error. In the same rows, *naive repeated fixed-n
   testing* — cfsal's fixed-n test applied at the same 20 looks, stopping at the first SUPPORTED —
   shows what peeking costs. The same rows are judged by the group design (looks 11, 22, 33 and
   65, 130, 195), with naive fixed-n testing at those looks beside them.
2. **Null-control agents** (``--agent-nulls`` hypotheses): agents whose action ignores the input,
   under ball and enemy moves, an effect claim on a bounded measure, run by the sequential engine
   (``counterfactual(batch=10, stop=…)``, at most 60 samples), each judged by both designs. 80% of
   them are statistical nulls: ``breakout-random`` and ``amidar-random`` drawing each arm's actions
   independently (``common_random_numbers=False``), measured by differences of the first action
   (random, mean exactly 0), with naive repeated fixed-n testing beside them; the rest are engine
   checks (constant agents, and the random one under common random numbers: exact zeros).
3. **Efficiency on hypotheses/**: every hypothesis in ``hypotheses/``, per session seed, run once
   with the batched engine until both designs are decided (the i-th sample is the same in both:
   the fixed-n design reads the first n samples, the sequential one stops where its rule stops).
   Every design as the main job would run it: fixed-n at each hypothesis's ``samples`` (default
   30) with Holm across the session; group-sequential with 3 (the default) and 5 planned looks up
   to ``group_maximum(samples)``; anytime with batch 10, at most 4 × samples, stopping for
   support at α/m (m = hypotheses in the session) and for futility (γ = 0.1), then Holm. Also the
   anytime design without futility, and capped at the fixed n. Beside them an *oracle bound*: what
   a design would spend that knew every fixed-n verdict in advance and decided with cfsal's
   fixed-n tests at the most lenient level Holm grants (``oracle_stops``), a floor for every real
   design that decides with those tests.

``--parts hypotheses`` runs only the efficiency part (for iterating; the recorded run runs all three).

Writes ``benchmarks/results/sequential.md``.
"""

from __future__ import annotations

import argparse
import importlib
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rollouts import machine_description, machine_line

from cfsal import measures
from cfsal.interventions import amidar, breakout
from cfsal.plugin.sequential import DEFAULT_BATCH, DEFAULT_FUTILITY, default_maximum
from cfsal.plugin.session import hypothesis_seed
from cfsal.rollout import counterfactual
from cfsal.stats import (
    Claim,
    Verdict,
    adjust,
    assess,
    assess_correlation,
    group_looks,
    group_maximum,
    group_sequential_assess,
    looks_for,
    sequential_assess,
)

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
LOOKS = looks_for(10, 200)
NAIVE_RESAMPLES = 999
#: Group designs of part 1: (fixed n it stands in for, planned looks). The first is the main job's
#: default hypothesis (samples=30: looks at 11, 22, 33); the second a large one (looks at 65, 130, 195).
GROUP_DESIGNS = ((30, 3), (180, 3))
#: The group designs compared in part 3: (key, planned looks, futility γ); the first is the plugin's default.
GROUP_VARIANTS = (("group3", 3, DEFAULT_FUTILITY), ("group3_plain", 3, None), ("group5", 5, DEFAULT_FUTILITY))
GROUP_NAMES = {"group3": "group 3", "group3_plain": "group 3 without futility", "group5": "group 5"}


def mc_limit(n: int, alpha: float = ALPHA) -> float:
    """α + 1.96·√(α(1−α)/n): the rate a calibrated test stays under in 97.5% of benchmark runs."""
    return alpha + 1.96 * math.sqrt(alpha * (1 - alpha) / n)


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    low = 0.0 if k == 0 else float(scipy_stats.beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(scipy_stats.beta.ppf(0.975, k + 1, n - k))
    return low, high


# ------------------------------------------------------------------------------------ 1. synthetic

@dataclass(frozen=True)
class NullRow:
    name: str
    claim: Claim
    draw: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray | None]]  # (values, covariate)
    bounds: tuple[float, float] | None
    naive: bool      # also run naive repeated fixed-n testing at the same looks
    limit: bool = False  # a documented limit, not part of the calibration claim


def _pairs01(rng: np.random.Generator) -> tuple[np.ndarray, None]:
    return (rng.random(200) < 0.3) * 1.0 - (rng.random(200) < 0.3), None


NULL_ROWS = (
    NullRow("effect · exchangeable 0/1 disagreement per arm (bounded [−1, 1])", Claim("effect"), _pairs01,
            (-1.0, 1.0), naive=True),
    NullRow("effect · normal, mean 0 (unbounded)", Claim("effect"), lambda r: (r.normal(size=200), None), None,
            naive=True),
    NullRow("effect · exchangeable exponential returns (unbounded)", Claim("effect"),
            lambda r: (r.exponential(size=200) - r.exponential(size=200), None), None, naive=False),
    NullRow("direction greater · exchangeable 0/1 (bounded)", Claim("direction", "greater"), _pairs01, (-1.0, 1.0),
            naive=False),
    NullRow("effect, margin 0.05 · mean exactly 0.05, uniform(0, 0.1) (bounded [0, 1])", Claim("effect", margin=0.05),
            lambda r: (r.uniform(0.0, 0.1, 200), None), (0.0, 1.0), naive=False),
    NullRow("no_effect, margin 0.05 · 0/1 at rate 0.05 (bounded [0, 1])", Claim("no_effect", margin=0.05),
            lambda r: ((r.random(200) < 0.05) * 1.0, None), (0.0, 1.0), naive=True),
    NullRow("correlation greater · independent exponential x, y", Claim("correlation", "greater"),
            lambda r: (r.exponential(size=200), r.exponential(size=200)), None, naive=False),
    NullRow("effect · exponential − 1, skewed with mean 0 (unbounded)", Claim("effect"),
            lambda r: (r.exponential(size=200) - 1.0, None), None, naive=False, limit=True),
)


def fixed_verdict(claim: Claim, values: np.ndarray, covariate: np.ndarray | None, bounds, rng, resamples: int) -> Verdict:
    if claim.kind == "correlation":
        return assess_correlation(claim, covariate, values, rng=rng, n_resamples=resamples)
    return assess(claim, values, rng=rng, bounds=bounds, n_resamples=resamples)


def synthetic_row(index: int, count: int, seed: int) -> dict[str, Any]:
    """One row of part 1 (by its index in NULL_ROWS, so that it can run in a worker process)."""
    row = NULL_ROWS[index]
    rng = np.random.default_rng(seed)
    sequential = naive = futile = 0
    stops = []
    group = {design: {"supported": 0, "naive": 0, "stops": []} for design in GROUP_DESIGNS}
    started = time.process_time()
    for trial in range(count):
        values, covariate = row.draw(rng)
        result = sequential_assess(row.claim, values, looks=LOOKS, bounds=row.bounds, covariate=covariate,
                                   sequence=False, futility=DEFAULT_FUTILITY)
        sequential += result.verdict.outcome == "SUPPORTED"
        futile += result.stopped == "futility"
        stops.append(result.n)
        if row.naive:
            naive += _naive_supports(row, values, covariate, LOOKS, rng)
        for design in GROUP_DESIGNS:
            maximum = group_maximum(design[0], design[1])
            looks = group_looks(maximum, design[1])
            grouped = group_sequential_assess(row.claim, values, looks=looks, maximum=maximum, bounds=row.bounds,
                                              covariate=covariate, planned_looks=design[1],
                                              seed=int(seed) * 100_003 + trial, futility=DEFAULT_FUTILITY)
            group[design]["supported"] += grouped.verdict.outcome == "SUPPORTED"
            group[design]["stops"].append(grouped.n)
            if row.naive:
                group[design]["naive"] += _naive_supports(row, values, covariate, looks, rng)
    return {"row": index, "count": count, "sequential": sequential, "naive": naive if row.naive else None,
            "futility": futile, "mean_stop": float(np.mean(stops)),
            "group": [{"fixed_n": d[0], "looks": d[1], "supported": g["supported"],
                       "naive": g["naive"] if row.naive else None, "mean_stop": float(np.mean(g["stops"]))}
                      for d, g in group.items()],
            "cpu_seconds": time.process_time() - started}


def _naive_supports(row: NullRow, values: np.ndarray, covariate: np.ndarray | None, looks, rng) -> bool:
    """cfsal's fixed-n test at every look, stopping at the first SUPPORTED: what peeking gives."""
    for n in looks:
        verdict = fixed_verdict(row.claim, values[:n], None if covariate is None else covariate[:n], row.bounds, rng,
                                NAIVE_RESAMPLES)
        if verdict.outcome == "SUPPORTED":
            return True
    return False


# ------------------------------------------------------------------------------------ 2. null agents

def _first_action_is(action: int) -> Callable[[Any], float]:
    def first_action_is(trace) -> float:
        return float(len(trace.actions) > 0 and trace.actions[0] == action)

    first_action_is.__name__ = f"first_action_is_{action}"
    return first_action_is


def _first_action(trace) -> float:
    return float(trace.actions[0]) if len(trace.actions) else 0.0


def _chance_measures(actions: int, indicators: int) -> tuple[Any, ...]:
    """Paired differences of what the first action is: bounded, and for an agent that ignores its
    input and draws independently in each arm, exchangeable between the arms (mean exactly 0)."""
    is_action = [measures.bounded(-1.0, 1.0)(measures.difference_of(_first_action_is(a))) for a in range(indicators)]
    index = measures.bounded(-(actions - 1.0), actions - 1.0)(measures.difference_of(_first_action, "first_action"))
    return (*is_action, index)


@dataclass(frozen=True)
class AgentNull:
    """One row of part 2: an agent whose action ignores its input, and how its pairs are drawn."""

    agent: str
    intervention: Any
    measures: tuple[Any, ...]
    common_random_numbers: bool   # False: each arm draws its own actions (random, mean-zero differences)
    horizon: int
    share: float                  # of --agent-nulls (engine checks; the statistical nulls split the rest)


#: The random agents with independent draws are the statistical nulls (their differences are
#: random with mean 0, so the tests are really exercised); the constant agents and the random one
#: under common random numbers give exact zeros and check the engine's batches and stopping.
AGENT_NULLS = (
    AgentNull("breakout-random", breakout.MoveBall(dx=40), _chance_measures(4, 4), False, 1, 0.0),
    AgentNull("amidar-random", amidar.MoveEnemies(steps=5), _chance_measures(10, 4), False, 1, 0.0),
    AgentNull("breakout-constant", breakout.MoveBall(dx=40),
              (measures.policy_total_variation, measures.action_disagreement, measures.first_action_changed), True,
              5, 0.2 / 3),
    AgentNull("breakout-random", breakout.MoveBall(dx=40),
              (measures.policy_total_variation, measures.action_disagreement, measures.first_action_changed), True,
              5, 0.2 / 3),
    AgentNull("amidar-constant", amidar.MoveEnemies(steps=5),
              (measures.policy_total_variation, measures.action_disagreement, measures.first_action_changed), True,
              5, 0.2 / 3),
)


AGENT_MAXIMUM = 60
#: The group design of part 2: the plugin's default for a hypothesis with the default 30 samples.
AGENT_GROUP_MAXIMUM = group_maximum(30)
#: Naive repeated fixed-n testing on the agent nulls: at the anytime design's looks.
AGENT_NAIVE_LOOKS = looks_for(DEFAULT_BATCH, AGENT_MAXIMUM)


def agent_shares(count: int) -> list[int]:
    """Hypotheses per row of AGENT_NULLS: each engine check its share (rounded down), the statistical
    nulls (independent draws) the rest, split evenly — at least 80% of ``count``."""
    shares = [math.floor(count * row.share) if row.common_random_numbers else 0 for row in AGENT_NULLS]
    chance = [i for i, row in enumerate(AGENT_NULLS) if not row.common_random_numbers]
    rest = count - sum(shares)
    for j, i in enumerate(chance):
        shares[i] = rest // len(chance) + (j < rest % len(chance))
    return shares


def agent_nulls(count: int, seed: int) -> list[dict[str, Any]]:
    """Each null hypothesis judged by both designs on the same samples (the i-th sample is the same),
    and by naive repeated fixed-n testing at the anytime looks where the differences are random."""
    from cfsal.agents.zoo import load_agent

    torch.set_num_threads(1)
    group_plan = group_looks(AGENT_GROUP_MAXIMUM)
    rows = []
    for index, (row, share) in enumerate(zip(AGENT_NULLS, agent_shares(count))):
        agent = load_agent(row.agent)
        supported = group_supported = naive = samples = group_samples = nonzero = 0
        started = time.process_time()
        for k in range(share):
            measure = row.measures[k % len(row.measures)]
            claim = Claim("effect")
            hypothesis = int(np.random.SeedSequence([seed, index, k]).generate_state(1)[0])

            def anytime(result, claim=claim):
                looks = [n for n in AGENT_NAIVE_LOOKS if n <= result.n]
                return sequential_assess(claim, result.values, looks=looks, bounds=result.bounds, sequence=False,
                                         max_samples=AGENT_MAXIMUM, futility=DEFAULT_FUTILITY)

            def grouped(result, claim=claim, hypothesis=hypothesis):
                looks = [n for n in group_plan if n <= result.n]
                return None if not looks else group_sequential_assess(
                    claim, result.values, looks=looks, maximum=AGENT_GROUP_MAXIMUM, seed=hypothesis,
                    bounds=result.bounds, futility=DEFAULT_FUTILITY)

            def stop(result, anytime=anytime, grouped=grouped, row=row) -> bool:
                if not row.common_random_numbers:
                    return False   # every sample up to the maximum: the naive tester looks at all of them
                first = anytime(result)
                second = grouped(result)
                return ((first.verdict.outcome != "INCONCLUSIVE" or first.stopped == "futility")
                        and second is not None and (second.stopped in ("decided", "futility")
                                                    or result.n >= AGENT_GROUP_MAXIMUM))

            result = counterfactual(agent, row.intervention, samples=AGENT_MAXIMUM, branch_every=20,
                                    horizon=row.horizon, measure=measure, seed=hypothesis, batch=DEFAULT_BATCH,
                                    stop=stop, common_random_numbers=row.common_random_numbers)
            first, second = anytime(result), grouped(result)
            supported += first.verdict.outcome == "SUPPORTED"
            group_supported += second.verdict.outcome == "SUPPORTED"
            samples += first.n
            group_samples += second.n
            nonzero += int(np.count_nonzero(result.values[:first.n]))
            if not row.common_random_numbers:
                rng = np.random.default_rng(np.random.SeedSequence([seed, index, k, 1]))
                naive += any(fixed_verdict(claim, result.values[:n], None, result.bounds, rng,
                                           NAIVE_RESAMPLES).outcome == "SUPPORTED" for n in AGENT_NAIVE_LOOKS)
        rows.append({"agent": row.agent, "intervention": row.intervention.to_dict(), "hypotheses": share,
                     "common_random_numbers": row.common_random_numbers, "horizon": row.horizon,
                     "measures": [getattr(m, "__name__", "measure") for m in row.measures],
                     "supported": supported, "samples": samples, "group_supported": group_supported,
                     "group_samples": group_samples, "nonzero": nonzero,
                     "naive": None if row.common_random_numbers else naive,
                     "cpu_seconds": time.process_time() - started})
    return rows


# ------------------------------------------------------------------------------------ 3. efficiency

@dataclass
class Item:
    nodeid: str
    spec: Any
    intervention: Any
    settings: dict[str, Any]


def _hypothesis_functions():
    """(path, name, function, spec) of every ``@cfsal.hypothesis`` in hypotheses/, declared rightly."""
    sys.path.insert(0, str(ROOT))
    for path in sorted((ROOT / "hypotheses").glob("test_*.py")):
        module = importlib.import_module(f"hypotheses.{path.stem}")
        for name in sorted(vars(module)):
            function = getattr(module, name)
            marks = getattr(function, "pytestmark", [])
            spec = next((m.kwargs["spec"] for m in marks if m.name == "cfsal"), None)
            if spec is not None and not getattr(spec, "error", ""):
                yield path, name, function, spec


def _variants(function) -> list[tuple[dict[str, Any], str]]:
    params = next((m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"), None)
    return [({}, "")] if params is None else [({params.args[0]: value}, f"[{value}]") for value in params.args[1]]


def hypothesis_items() -> list[Item]:
    """Every hypothesis in hypotheses/ but the ``@given`` searches (fixed samples by design), with
    what its body passes to ``counterfactual``."""
    items = []
    for path, name, function, spec in _hypothesis_functions():
        if getattr(function, "is_hypothesis_test", False):
            continue
        for extra, suffix in _variants(function):
            captured: dict[str, Any] = {}

            def record(intervention, _into=captured, **settings):
                _into.update(settings, intervention=intervention)

            function(record, **extra)
            intervention = captured.pop("intervention")
            items.append(Item(f"hypotheses/{path.name}::{name}{suffix}", spec, intervention, captured))
    return items


def session_family() -> int:
    """m as the plugin counts it for α/m (``pytest_collection_finish``): every hypothesis the main job
    runs, the ``@given`` searches included, so the benchmark stops where the main job would."""
    return sum(len(_variants(function)) for _, _, function, _ in _hypothesis_functions())


def _fixed_of(item: Item, values: np.ndarray, covariate: np.ndarray | None, bounds, seed: int,
              alpha: float | None = None) -> Verdict:
    claim = Claim(item.spec.kind, item.spec.alternative, item.spec.margin, alpha or item.spec.alpha or ALPHA)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))  # as the plugin
    return fixed_verdict(claim, values, covariate, bounds, rng, 9999)


def efficiency(session_seed: int) -> list[dict[str, Any]]:
    from cfsal.agents.zoo import load_agent

    torch.set_num_threads(1)
    agents: dict[str, Any] = {}
    items = hypothesis_items()
    family = session_family()
    alpha_stop = ALPHA / family
    rows, samples = [], []
    for item in items:
        spec = item.spec
        if spec.agent not in agents:
            agents[spec.agent] = load_agent(spec.agent)
        agent = agents[spec.agent]
        fixed_n = spec.samples or 30
        limit = default_maximum(fixed_n)
        claim = Claim(spec.kind, spec.alternative, spec.margin, spec.alpha or ALPHA)
        seed = hypothesis_seed(session_seed, item.nodeid)

        def judged(result, maximum: int, futility: float | None, claim=claim):
            n = min(int(result.n), maximum)
            return sequential_assess(claim, result.values[:n],
                                     covariate=None if result.covariate is None else result.covariate[:n],
                                     looks=[k for k in looks_for(DEFAULT_BATCH, maximum) if k <= n],
                                     bounds=result.bounds, alpha_stop=alpha_stop, sequence=False,
                                     max_samples=maximum, futility=futility)

        def grouped(result, looks: int, futility: float | None, claim=claim, fixed_n=fixed_n, seed=seed):
            maximum = group_maximum(fixed_n, looks, alpha=claim.alpha)
            reached = [k for k in group_looks(maximum, looks) if k <= result.n]
            if not reached:
                return None
            return group_sequential_assess(claim, result.values,
                                           covariate=None if result.covariate is None else result.covariate,
                                           looks=reached, maximum=maximum, seed=seed, bounds=result.bounds,
                                           alpha_stop=alpha_stop, planned_looks=looks, futility=futility)

        def group_done(result, looks: int, futility: float | None, grouped=grouped, fixed_n=fixed_n,
                       claim=claim) -> bool:
            outcome = grouped(result, looks, futility)
            return outcome is not None and (outcome.stopped in ("decided", "futility")
                                            or result.n >= group_maximum(fixed_n, looks, alpha=claim.alpha))

        def stop(result, fixed_n=fixed_n, limit=limit, judged=judged, group_done=group_done) -> bool:
            # every design compared here has stopped: the fixed n is reached, the group designs have
            # decided or reached their maxima, and the anytime design *without* futility (the most
            # samples any of them takes) has decided or reached its maximum
            return (result.n >= fixed_n and all(group_done(result, k, f) for _, k, f in GROUP_VARIANTS)
                    and judged(result, limit, None).verdict.outcome != "INCONCLUSIVE")

        started = time.process_time()
        result = counterfactual(agent, item.intervention, samples=limit, seed=seed, batch=DEFAULT_BATCH, stop=stop,
                                **item.settings)
        sequential = judged(result, limit, DEFAULT_FUTILITY)
        plain = judged(result, limit, None)
        capped = judged(result, fixed_n, DEFAULT_FUTILITY)
        fixed = _fixed_of(item, result.values[:fixed_n],
                          None if result.covariate is None else result.covariate[:fixed_n], result.bounds, seed)
        row = {"nodeid": item.nodeid, "seed": session_seed, "family": family, "kind": spec.kind, "fixed_n": fixed_n,
               "fixed": fixed, "sequential": sequential.verdict, "sequential_n": sequential.n,
               "stopped": sequential.stopped, "plain": plain.verdict, "plain_n": plain.n, "limit": limit,
               "capped": capped.verdict, "capped_n": capped.n, "capped_stopped": capped.stopped,
               "run_n": result.n, "cpu_seconds": time.process_time() - started}
        for key, looks, futility in GROUP_VARIANTS:
            outcome = grouped(result, looks, futility)
            row.update({key: outcome.verdict, f"{key}_n": outcome.n, f"{key}_looks": len(outcome.looks),
                        f"{key}_stopped": outcome.stopped})
        rows.append(row)
        samples.append((item, result.values, result.covariate, result.bounds, seed))
        print(f"  seed {session_seed} {item.nodeid}: fixed {fixed_n} → {fixed.outcome}, anytime "
              f"{sequential.n} → {sequential.verdict.outcome} ({sequential.stopped}), group "
              f"{row['group3_n']} → {row['group3'].outcome} ({row['group3_stopped']}); {row['cpu_seconds']:.0f} s CPU",
              flush=True)
    for key in ("fixed", "sequential", "plain", "capped", *(key for key, _, _ in GROUP_VARIANTS)):
        for row, verdict in zip(rows, adjust([r[key] for r in rows], "holm")):
            row[f"{key}_adjusted"] = verdict
    oracle_stops(rows, samples, family)
    return rows


def oracle_stops(rows: list[dict[str, Any]], samples: list[tuple], family: int) -> None:
    """What a design that knew every fixed-n verdict in advance would spend, into ``row["oracle_n"]``.

    A lower bound for every design whose stopping tests are cfsal's fixed-n ones (as every look of
    the group design is), sequential or not, however clever: each hypothesis the fixed design
    decides stops at the first n (on the same samples)
    where cfsal's fixed-n test reaches that verdict at the most lenient level Holm ever grants in
    this session, α/(m − d + 1) with d decided (the level of the last of d rejections); if only the
    fixed n itself does, at the fixed n. Every undecided hypothesis costs nothing at all. No real
    design gets there: it cannot know which claims will be decided, nor where.
    """
    decided = sum(row["fixed_adjusted"].outcome != "INCONCLUSIVE" for row in rows)
    level = ALPHA / max(1, family - decided + 1)
    for row, (item, values, covariate, bounds, seed) in zip(rows, samples, strict=True):
        target = row["fixed_adjusted"].outcome
        row["oracle_level"] = level
        row["oracle_n"] = 0 if target == "INCONCLUSIVE" else next(
            (n for n in range(2, row["fixed_n"])
             if _fixed_of(item, values[:n], None if covariate is None else covariate[:n], bounds, seed,
                          alpha=level).outcome == target),
            row["fixed_n"])


# ------------------------------------------------------------------------------------ report

def to_markdown(synthetic: list[dict], nulls: list[dict], efficient: list[dict], machine: dict, load_at_end,
                minutes: float, args) -> str:
    lines: list[str] = ["# Sequential verdicts: calibration under optional stopping, and rollouts saved", "",
             (f"Produced by `python benchmarks/bench_sequential.py --synthetic {args.synthetic} --agent-nulls "
             f"{args.agent_nulls} --seeds {args.seeds}"
             + ("" if args.parts == PARTS else f" --parts {args.parts}")
             + f"` in {minutes:.1f} min (wall). α = {ALPHA}. "
             "Every verdict is computed by the code the plugin uses."), "",
             f"Machine: {machine_line(machine, load_at_end)}.", ""]
    if synthetic:
        lines += synthetic_section(synthetic, args.synthetic)
    if nulls:
        lines += nulls_section(nulls)
    if efficient:
        lines += efficiency_section(efficient, synthetic, nulls)
    return "\n".join(lines)


def synthetic_section(synthetic: list[dict], count: int) -> list[str]:
    lines = ["## 1. Synthetic nulls: optional stopping after every 10 samples (20 looks, up to 200)", "",
             (f"{count} simulated null hypotheses per row: every claim is false. *sequential*: "
             f"`sequential_assess` with futility stopping (γ = {DEFAULT_FUTILITY}, maximum 200), stopped at the "
             "first decision or futility stop. *naive*: cfsal's fixed-n test "
             f"(`assess`, {NAIVE_RESAMPLES} resamples) at the same looks, stopped at the first SUPPORTED — "
             "what a user who peeks and reruns does. Limit: α + 1.96·√(α(1−α)/n) = "
             f"{mc_limit(count):.3f}."), "",
             "| null | sequential SUPPORTED | rate [95% CI] | ≤ limit | naive repeated fixed-n | naive rate | mean stop n | futility stops |",
             "|---|---:|---|---|---:|---:|---:|---:|"]
    total_k = total_n = 0
    for r in synthetic:
        row, k, n = NULL_ROWS[r["row"]], r["sequential"], r["count"]
        low, high = clopper_pearson(k, n)
        if not row.limit:
            total_k, total_n = total_k + k, total_n + n
        naive = "—" if r["naive"] is None else f"{r['naive']}/{n}"
        naive_rate = "—" if r["naive"] is None else f"**{r['naive'] / n:.3f}**"
        name = row.name + (" *(documented limit)*" if row.limit else "")
        lines.append(f"| {name} | {k}/{n} | {k / n:.3f} [{low:.3f}, {high:.3f}] | "
                     f"{'yes' if k / n <= mc_limit(n) else '**no**'} | {naive} | {naive_rate} | {r['mean_stop']:.0f} | {r['futility']} |")
    low, high = clopper_pearson(total_k, total_n)
    naive_rows = [r for r in synthetic if r["naive"] is not None]
    naive_over = all(r["naive"] / r["count"] > mc_limit(r["count"]) for r in naive_rows
                     if NULL_ROWS[r["row"]].claim.kind != "no_effect")
    lines += ["", (f"Pooled over the calibration rows (all but the documented limit): {total_k}/{total_n} SUPPORTED, "
              f"rate {total_k / total_n:.4f} [{low:.4f}, {high:.4f}]. **Goal (sequential false support ≤ α + MC "
              f"error in every row): {'met' if all(r['sequential'] / r['count'] <= mc_limit(r['count']) for r in synthetic if not NULL_ROWS[r['row']].limit) else 'missed'}.** "
              f"**Naive repeated fixed-n testing exceeds α on the effect rows: {'yes' if naive_over else 'no'}.**"), ""]
    return lines + group_synthetic_section(synthetic, count)


def group_synthetic_section(synthetic: list[dict], count: int) -> list[str]:
    """Part 1 for the group designs: the same null rows, looked at only at the planned counts."""
    designs = ", ".join(f"fixed n {n} → looks at {', '.join(map(str, group_looks(group_maximum(n, k), k)))}"
                        for n, k in GROUP_DESIGNS)
    lines = ["### 1b. The same nulls under the group-sequential design (the plugin's default)", "",
             (f"The same {count} rows per null, judged by `group_sequential_assess` ({designs}; futility "
              f"stopping with γ = {DEFAULT_FUTILITY}, as the plugin runs it), stopped at the first look that decides "
              "or finds the test futile. *naive*: cfsal's fixed-n test at the same planned looks, stopped at the "
              "first SUPPORTED."), "",
             "| null | fixed n | group SUPPORTED | rate [95% CI] | ≤ limit | naive at the same looks | mean stop n |",
             "|---|---:|---:|---|---|---:|---:|"]
    ok = True
    for r in synthetic:
        row = NULL_ROWS[r["row"]]
        for g in r.get("group", []):
            k, n = g["supported"], r["count"]
            low, high = clopper_pearson(k, n)
            within = k / n <= mc_limit(n)
            ok = ok and (within or row.limit)
            naive = "—" if g["naive"] is None else f"{g['naive']}/{n} (**{g['naive'] / n:.3f}**)"
            name = row.name + (" *(documented limit)*" if row.limit else "")
            lines.append(f"| {name} | {g['fixed_n']} | {k}/{n} | {k / n:.3f} [{low:.3f}, {high:.3f}] | "
                         f"{'yes' if within else '**no**'} | {naive} | {g['mean_stop']:.0f} |")
    lines += ["", (f"**Goal (group-sequential false support ≤ α + MC error in every calibration row): "
                   f"{'met' if ok else 'missed'}.**"), ""]
    return lines


def nulls_section(nulls: list[dict]) -> list[str]:
    lines = ["## 2. Null-control agents (their action ignores the input)", "",
             ("Effect claims (two-sided, no margin) on bounded measures, run by the sequential engine "
              f"(`counterfactual(batch=10, stop=…)`, at most {AGENT_MAXIMUM} samples, branch every 20 steps). Each "
              f"hypothesis is judged on the same samples by the anytime design (looks every 10, at most "
              f"{AGENT_MAXIMUM}) and by the group design (looks at "
              f"{', '.join(map(str, group_looks(AGENT_GROUP_MAXIMUM)))})."), "",
             ("**Statistical nulls** (`common_random_numbers=False`): the uniform-random agents draw each arm's "
              "actions independently, and the measures are paired differences of what the first action is "
              "(indicator of action a, or the action's index; horizon 1), so every difference is random with "
              "mean exactly 0 — the tests, not only the engine, are exercised. *naive*: cfsal's fixed-n test "
              f"(`assess`, {NAIVE_RESAMPLES} resamples) at the same looks ({', '.join(map(str, AGENT_NAIVE_LOOKS))}), "
              "stopped at the first SUPPORTED."), "",
             ("| agent | intervention | hypotheses | anytime SUPPORTED | rate [95% CI] | samples | group SUPPORTED | "
              "rate | naive repeated fixed-n | naive rate | nonzero d |"),
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    chance = [r for r in nulls if not r["common_random_numbers"]]
    engine = [r for r in nulls if r["common_random_numbers"]]
    for r in chance:
        low, high = clopper_pearson(r["supported"], r["hypotheses"])
        lines.append(f"| {r['agent']} | {r['intervention']['name']} | {r['hypotheses']} | {r['supported']} | "
                     f"{r['supported'] / r['hypotheses']:.3f} [{low:.3f}, {high:.3f}] | {r['samples']} | "
                     f"{r['group_supported']} | {r['group_supported'] / r['hypotheses']:.3f} | {r['naive']} | "
                     f"**{r['naive'] / r['hypotheses']:.3f}** | {r['nonzero'] / max(1, r['samples']):.0%} |")
    if chance:
        n = sum(r["hypotheses"] for r in chance)
        k, g, naive = (sum(r[key] for r in chance) for key in ("supported", "group_supported", "naive"))
        low, high = clopper_pearson(k, n)
        glow, ghigh = clopper_pearson(g, n)
        limit = mc_limit(n)
        nlow, nhigh = clopper_pearson(naive, n)
        exceeds = ("yes, significantly" if nlow > ALPHA else
                   "above α, but within its Monte-Carlo error at this count (part 1 shows it clearly)"
                   if naive / n > ALPHA else "no")
        lines += ["", (f"Pooled over the statistical nulls: anytime {k}/{n} SUPPORTED, rate {k / n:.4f} [{low:.4f}, "
                       f"{high:.4f}]; group {g}/{n}, rate {g / n:.4f} [{glow:.4f}, {ghigh:.4f}]; naive repeated "
                       f"fixed-n {naive}/{n} = {naive / n:.3f} [{nlow:.3f}, {nhigh:.3f}]. "
                       f"**Goal (≤ α + MC error = {limit:.3f}, over ≥ 200): "
                       f"{'met' if max(k, g) / n <= limit and n >= 200 else 'missed'}.** Naive repeated testing "
                       f"exceeds α: {exceeds}."), ""]
    if engine:
        lines += [("**Engine checks** (common random numbers, the default): the constant agents, and the random "
                   "one whose two arms share their uniforms, give exact zeros on behaviour measures (policy total "
                   "variation, action disagreement, first action changed; horizon 5): any support would be a bug "
                   "in the batches or the stopping."), "",
                  ("| agent | intervention | hypotheses | anytime SUPPORTED | samples | group SUPPORTED | samples | "
                   "nonzero d |"), "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in engine:
            lines.append(f"| {r['agent']} | {r['intervention']['name']} | {r['hypotheses']} | {r['supported']} | "
                         f"{r['samples']} | {r['group_supported']} | {r['group_samples']} | {r['nonzero']} |")
        lines.append("")
    return lines


def efficiency_section(efficient: list[dict], synthetic: list[dict], nulls: list[dict]) -> list[str]:
    m = efficient[0]["family"]
    searches = m - len({r["nodeid"] for r in efficient})
    groups = [key for key, _, _ in GROUP_VARIANTS]
    lines = ["## 3. Efficiency on the hypotheses in `hypotheses/`", "",
             ("Each hypothesis run once per session seed by the batched engine; every design reads a prefix of "
              "the same samples, and the fixed-n design the first `samples` (default 30). *group K*: the "
              f"group-sequential design with K planned looks up to `group_maximum(samples, K)` "
              f"(K = 3 with futility stopping, γ = {DEFAULT_FUTILITY}, is the plugin's default design), support "
              f"stopping at each look's share of α/m with m = {m}"
              + (f" (as the main job counts: with its {searches} `@given` search(es), which sample a fixed n)"
                 if searches else "") + "; *group 3 without futility* is the same design "
              f"without its futility rule. *anytime*: batch {DEFAULT_BATCH}, at most {default_maximum(1)} × samples, "
              f"support stopping at α/m, futility stopping with γ = {DEFAULT_FUTILITY}; *no futility* and "
              "*capped* (`max_samples` = the fixed n) are its variants. Verdicts after Holm across the session, "
              "as the main job reports them."), "",
             "| hypothesis | seed | kind | fixed n → verdict | "
             + " | ".join(f"{GROUP_NAMES[g]} n → verdict" for g in groups)
             + " | anytime n → verdict (stopped) | no futility | capped |",
             "|---|---:|---|---|" + "---|" * len(groups) + "---|---|---|"]
    for r in efficient:
        cells = [f"{r[f'{g}_n']} → {r[f'{g}_adjusted'].outcome}" + (" (futility)" if r[f"{g}_stopped"] == "futility"
                                                                    else "") for g in groups]
        lines.append(f"| `{r['nodeid'].split('::')[-1]}` | {r['seed']} | {r['kind']} | "
                     f"{r['fixed_n']} → {r['fixed_adjusted'].outcome} | " + " | ".join(cells) + " | "
                     f"{r['sequential_n']} → {r['sequential_adjusted'].outcome} ({r['stopped']}) | "
                     f"{r['plain_n']} → {r['plain_adjusted'].outcome} | {r['capped_n']} → {r['capped_adjusted'].outcome} |")
    keys = ("fixed", *groups, "sequential", "plain", "capped")
    names = {"fixed": "fixed-n", "sequential": "anytime", "plain": "anytime without futility",
             "capped": "anytime capped at the fixed n", **GROUP_NAMES}
    total = {key: sum(r[f"{key}_n"] for r in efficient) for key in keys}

    def decided(key: str) -> int:
        return sum(r[f"{key}_adjusted"].outcome != "INCONCLUSIVE" for r in efficient)

    def agree(key: str) -> int:
        return sum(r["fixed_adjusted"].outcome == r[f"{key}_adjusted"].outcome for r in efficient)

    lines += ["", "| design | rollouts (paired samples) | share of fixed-n | decided after Holm | same verdict as fixed-n |",
              "|---|---:|---:|---:|---:|"]
    for key in keys:
        lines.append(f"| {names[key]} | {total[key]} | {total[key] / total['fixed']:.0%} | "
                     f"{decided(key)}/{len(efficient)} | {agree(key)}/{len(efficient)} |")
    default = groups[0]
    ratio = total[default] / total["fixed"]
    met = ratio <= 0.5 and decided(default) >= decided("fixed")
    no_effect = [r for r in efficient if r["kind"] == "no_effect"]
    rest_fixed = total["fixed"] - sum(r["fixed_n"] for r in no_effect)
    rest_group = total[default] - sum(r[f"{default}_n"] for r in no_effect)
    futile = [r for r in efficient if r["stopped"] == "futility"]
    group_futile = [r for r in efficient if r[f"{default}_stopped"] == "futility"]
    lost = sum(r["group3_plain_adjusted"].outcome != "INCONCLUSIVE" and r[f"{default}_adjusted"].outcome == "INCONCLUSIVE"
               for r in efficient)
    oracle = sum(r["oracle_n"] for r in efficient)
    levels = " and ".join(sorted({f"{r['oracle_level']:.4f}" for r in efficient}))
    lines.append(f"| *oracle bound* (below) | {oracle} | {oracle / total['fixed']:.0%} | "
                 f"{decided('fixed')}/{len(efficient)} | {len(efficient)}/{len(efficient)} |")
    lines += ["", (f"*Oracle bound*: what a design would spend that knew every fixed-n verdict in advance — a "
                   "lower bound for any design, sequential or not, that decides with cfsal's fixed-n tests. Each "
                   "hypothesis the fixed design decides stops at the first n (on the same samples) at which "
                   "cfsal's fixed-n test reaches that verdict at the most lenient level Holm grants in this "
                   f"session, α/(m − d + 1) = {levels}; each undecided one costs 0 samples. Per hypothesis "
                   "(decided ones): " + ", ".join(
                       f"`{r['nodeid'].split('::')[-1]}` {r['oracle_n']}/{r['fixed_n']}"
                       for r in efficient if r["oracle_n"]) + ".")]
    lines += ["", (f"**Goal (≤ 50% of the fixed-n rollouts at equal or better power), for the default design "
                   f"(group 3): {ratio:.0%} of the rollouts, deciding {decided(default)} vs "
                   f"{decided('fixed')} — {'met' if met else 'missed'}.** Where the samples go: the "
                   f"{len(no_effect)} no-effect claims take {sum(r[f'{default}_n'] for r in no_effect)} of its "
                   f"{total[default]} (fixed-n: {sum(r['fixed_n'] for r in no_effect)} of {total['fixed']}); the "
                   f"other claims take {rest_group} vs {rest_fixed} "
                   f"({rest_group / max(1, rest_fixed):.0%})."), "",
              (f"Group futility stops: {len(group_futile)} (saving "
               f"{sum(r['group3_plain_n'] - r[f'{default}_n'] for r in group_futile)} samples; decisions the same design "
               f"without futility would have made: {lost}). Anytime futility stops: {len(futile)} (saving "
               f"{sum(r['plain_n'] - r['sequential_n'] for r in futile)} samples)."),
              "", (f"CPU time: synthetic {sum(r['cpu_seconds'] for r in synthetic):.0f} s, null agents "
                   f"{sum(r['cpu_seconds'] for r in nulls):.0f} s, hypotheses "
                   f"{sum(r['cpu_seconds'] for r in efficient):.0f} s."), ""]
    return lines


#: The three experiments; ``--parts`` picks some (the recorded run runs all three).
PARTS = "synthetic,agents,hypotheses"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=1000, help="simulated nulls per synthetic row")
    parser.add_argument("--agent-nulls", type=int, default=250,
                        help="null-control hypotheses (80%% statistical nulls: ≥ 200 with the default)")
    parser.add_argument("--seeds", type=int, default=2, help="session seeds for the efficiency part")
    parser.add_argument("--parts", default=PARTS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sequential.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = machine_description(torch.get_num_threads())
    started = time.perf_counter()
    parts = set(args.parts.split(","))
    # The three parts are independent: run them side by side (each on one torch thread).
    with ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn")) as pool:
        synthetic_jobs = [pool.submit(synthetic_row, i, args.synthetic, 100 + i) for i, row in enumerate(NULL_ROWS)
                          if not row.naive] if "synthetic" in parts else []
        naive_jobs = [pool.submit(synthetic_row, i, args.synthetic, 100 + i) for i, row in enumerate(NULL_ROWS)
                      if row.naive] if "synthetic" in parts else []
        nulls_job = pool.submit(agent_nulls, args.agent_nulls, 11) if "agents" in parts else None
        efficiency_jobs = [pool.submit(efficiency, seed) for seed in range(args.seeds)] if "hypotheses" in parts else []
        synthetic = sorted([job.result() for job in synthetic_jobs + naive_jobs], key=lambda r: r["row"])
        nulls = nulls_job.result() if nulls_job is not None else []
        efficient = [row for job in efficiency_jobs for row in job.result()]
    minutes = (time.perf_counter() - started) / 60
    text = to_markdown(synthetic, nulls, efficient, machine, [round(v, 2) for v in os.getloadavg()], minutes, args)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
