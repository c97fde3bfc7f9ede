"""Counterfactual rollout speed: batched branches vs. one branch at a time vs. the bare forward passes.

    python benchmarks/bench_rollouts.py [--agent cfsal/zoo/breakout-a2c.safetensors …] [--branches 64]

Issue #6 asks of the engine (``cfsal.rollout.run_paired``, all branches in lockstep, one batched
forward per step): counterfactual agent-steps per second at least 4x those of running one branch
at a time, and at least 70% of the bare batched forward rate of the same agent on the same batch
sizes (so that batching leaves little on the table). All three run here on the same branch
points, in the same process, interleaved in every repeat so they see the same machine load; the
reported time of each is the minimum over ``--repeats`` (the machine is shared; the minimum is
the least disturbed run). An *agent-step* is one step of one continuation (a pair of factual and
intervened continuations of horizon H is 2H agent-steps).

The batched run is ``run_paired`` as users call it: with two or more usable CPUs and a machine
that is not oversubscribed it pipelines groups of 8 branches: the environments of some groups are
prepared and stepped while the agent forwards the others (``overlap``), in the session's
environment process (``cfsal.rollout.envprocess``; started and waited for before any timing).
The same run on one thread (``overlap=False``), with the environments in the process
(``overlap="process"``) and in a second thread (``overlap="thread"``) are timed beside it. The
bare forward rate is always one thread, the same batch sizes, the same 16-row blocks.

Also timed: the process-pool executor with 2 workers against inline (its first call, which spawns
the session's pool, and later calls), and a breakdown of the one-thread batched time into setup
(make, restore, intervene), environment stepping, forward passes, results (parsing the start
states) and the rest (Python bookkeeping), each measured directly rather than by a profiler (whose
per-call overhead would inflate the Python share). Writes ``benchmarks/results/rollouts.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from cfsal._seeding import children
from cfsal.agents.base import Agent, blocked_logits_and_value, deterministic_forwards
from cfsal.agents.checkpoint import load_checkpoint
from cfsal.agents.zoo import load_agent
from cfsal.envs import AleEnv, ToyboxEnv
from cfsal.interventions import ale_pong, breakout
from cfsal.rollout import BranchPoint, PairedBranch, collect_branch_points, lockstep, overlapped, run_paired
from cfsal.rollout import envprocess
from cfsal.rollout.executors import close_pools, run_with
from cfsal.rollout.paired import applicable, overlap_pays, usable_cpus

ROOT = Path(__file__).resolve().parent.parent
#: The edit timed per game: the ball moved, where it fits.
INTERVENTIONS = {"breakout": lambda: breakout.MoveBall(dx=40), "ale_pong": lambda: ale_pong.MoveBall(dy=20)}
SCHEMA_VERSION = 3
GOAL_SPEEDUP = 4.0
GOAL_FORWARD_SHARE = 0.70


# ------------------------------------------------------------------------------------------- machine

def machine_description(threads: int) -> dict[str, Any]:
    """The machine a number was measured on: CPU model, cores, torch threads, load average now."""
    model, cores = platform.processor() or "unknown CPU", os.cpu_count()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        cores = int(fields.get("CPU(s)", cores))
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    return {"cpu": model, "logical_cpus": cores, "torch": torch.__version__, "torch_threads": threads,
            "python": platform.python_version(), "load_average": [round(v, 2) for v in os.getloadavg()]}


def machine_line(machine: dict[str, Any], load_at_end: list[float] | None = None) -> str:
    load = ", ".join(f"{v:.1f}" for v in machine["load_average"])
    end = f"; at the end {', '.join(f'{v:.1f}' for v in load_at_end)}" if load_at_end else ""
    return (f"{machine['cpu']}; {machine['logical_cpus']} logical CPUs; torch {machine['torch']} with "
            f"{machine['torch_threads']} thread(s); Python {machine['python']}; load average (1, 5, 15 min) "
            f"at the start {load}{end}")


# -------------------------------------------------------------------------------------------- timing

def best_of(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Minimum wall time over ``repeats`` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def agent_steps(pairs: list[PairedBranch]) -> int:
    """Steps taken by every continuation (both arms of every pair)."""
    return int(sum(p.factual.length + p.intervened.length for p in pairs))


def live_rows_per_step(pairs: list[PairedBranch], horizon: int) -> np.ndarray:
    """How many continuations were still running at each step: the batch size of each forward."""
    lengths = np.array([[p.factual.length, p.intervened.length] for p in pairs]).ravel()
    return (lengths[None, :] > np.arange(horizon)[:, None]).sum(axis=1)


def same_pairs(a: list[PairedBranch], b: list[PairedBranch]) -> bool:
    """Byte-identical continuations (the engine promises this whatever the batch composition)."""
    return len(a) == len(b) and all(
        getattr(p, arm).actions.tobytes() == getattr(q, arm).actions.tobytes()
        and getattr(p, arm).logits.tobytes() == getattr(q, arm).logits.tobytes()
        and getattr(p, arm).values.tobytes() == getattr(q, arm).values.tobytes()
        for p, q in zip(a, b) for arm in ("factual", "intervened"))


def run_batched(agent: Agent, points: list[BranchPoint], intervention: Any, horizon: int,
                seeds: list[np.random.SeedSequence], overlap: bool | str | None = None) -> list[PairedBranch]:
    return run_paired(agent, points, intervention, horizon=horizon, seeds=seeds, overlap=overlap)


def run_one_at_a_time(agent: Agent, points: list[BranchPoint], intervention: Any, horizon: int,
                      seeds: list[np.random.SeedSequence]) -> list[PairedBranch]:
    return [pair for point, seed in zip(points, seeds)
            for pair in run_paired(agent, [point], intervention, horizon=horizon, seeds=[seed])]


def bare_forwards(agent: Agent, observations: np.ndarray, rows_per_step: np.ndarray) -> None:
    """The forward passes a batched rollout makes (same batch sizes, 16-row blocks, one thread), alone."""
    tiled = np.resize(observations, (int(rows_per_step.max()), *observations.shape[1:]))
    with deterministic_forwards():
        for rows in rows_per_step:
            if rows:
                blocked_logits_and_value(agent, tiled[:rows])


def breakdown(agent: Agent, points: list[BranchPoint], intervention: Any, horizon: int,
              seeds: list[np.random.SeedSequence]) -> dict[str, float]:
    """Where one batched run's time goes, timed inside the run (not by a profiler, whose per-call
    overhead would inflate the Python share): setup before the first forward (make, restore,
    intervene, took_effect), the forward calls, the environment steps, and the rest. On one
    thread (``overlap=False``), so that the parts add up to the total."""
    spent = {"forward": 0.0, "env": 0.0, "results": 0.0}
    first_forward: list[float] = []
    env_class = AleEnv if agent.spec.game.startswith("ale_") else ToyboxEnv
    forward, step, finish = lockstep.blocked_logits_and_value, env_class.step, lockstep.Arms.finish

    def timed_finish(arms: Any) -> None:
        start = time.perf_counter()
        try:
            finish(arms)
        finally:
            spent["results"] += time.perf_counter() - start

    def timed_forward(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        first_forward.append(start) if not first_forward else None
        try:
            return forward(*args, **kwargs)
        finally:
            spent["forward"] += time.perf_counter() - start

    def timed_step(env: Any, action: Any) -> Any:
        start = time.perf_counter()
        try:
            return step(env, action)
        finally:
            spent["env"] += time.perf_counter() - start

    with mock.patch.object(lockstep, "blocked_logits_and_value", timed_forward), \
            mock.patch.object(env_class, "step", timed_step), mock.patch.object(lockstep.Arms, "finish", timed_finish):
        start = time.perf_counter()
        run_batched(agent, points, intervention, horizon, seeds, overlap=False)
        total = time.perf_counter() - start
    setup = first_forward[0] - start
    return {"total": total, "setup": setup, "forward": spent["forward"], "env": spent["env"],
            "results": spent["results"],
            "rest": total - setup - spent["forward"] - spent["env"] - spent["results"]}


SCHEDSTAT = Path("/proc/thread-self/schedstat")


def schedstat(path: Path = SCHEDSTAT) -> tuple[float, float]:
    """A thread's CPU time and its time runnable but waiting for a CPU, in seconds (Linux); this
    thread's by default."""
    cpu, waiting, _ = path.read_text().split()
    return int(cpu) / 1e9, int(waiting) / 1e9


def env_process_schedstat() -> tuple[float, float]:
    """:func:`schedstat` of the environment process (one thread), or zeros when there is none."""
    process = envprocess.env_process(wait=False)
    if process is None:
        return 0.0, 0.0
    pid = process.process.pid
    return schedstat(Path(f"/proc/{pid}/task/{pid}/schedstat"))


def cpu_view(function: Callable[[], Any]) -> dict[str, float]:
    """Where this thread's wall time in ``function()`` went: on a CPU, waiting for a CPU (the machine
    is busy), or asleep (waiting for the environment process, the overlap's worker thread or the
    GIL); and the CPU time of the worker thread or of the environment process, whichever ran.

    Wall times on a shared machine mostly measure the other jobs; this split does not: it shows
    what a run needs of this thread and of the worker, and how long it waited for the other.
    """
    worker: list[tuple[float, float]] = []
    serve = overlapped._serve

    def probe(*args: Any) -> None:
        try:
            serve(*args)
        finally:
            worker.append(schedstat())  # the worker's totals, just before it ends

    with mock.patch.object(overlapped, "_serve", probe):
        cpu, waiting = schedstat()
        other = env_process_schedstat()[0]
        start = time.perf_counter()
        function()
        wall = time.perf_counter() - start
        end = schedstat()
        other = env_process_schedstat()[0] - other
        cpu, waiting = end[0] - cpu, end[1] - waiting
    return {"wall": wall, "cpu": cpu, "waiting_for_cpu": waiting, "asleep": max(0.0, wall - cpu - waiting),
            "worker_cpu": worker[0][0] if worker else other}


# -------------------------------------------------------------------------------------------- result

@dataclass(frozen=True)
class RolloutBenchmark:
    """Seconds (best of the repeats) and agent-steps of every variant, on the same branch points."""

    agent: str
    intervention: dict[str, Any]
    branches: int
    horizon: int
    repeats: int
    agent_steps: int
    forward_rows: int
    batched_seconds: float
    one_at_a_time_seconds: float
    bare_forward_seconds: float
    identical_pairs: bool
    breakdown: dict[str, float]
    forward_rows_per_second_16: float
    forward_rows_per_second_2_unpadded: float
    serial_seconds: float = float("nan")  # the batched run on one thread (overlap=False)
    env_process_seconds: float = float("nan")  # environments in the environment process (overlap="process")
    thread_seconds: float = float("nan")  # environments in a second thread (overlap="thread")
    default_way: str = "one thread"  # how the default batched run ran: "process", "thread" or "one thread"
    usable_cpus: int = 1
    cpu_views: dict[str, dict[str, float]] | None = None  # Linux: see cpu_view()
    process_seconds: float | None = None
    process_fixed_seconds: float | None = None  # first call: spawns the session's pool
    process_identical: bool | None = None
    workers: int = 2

    @property
    def batched_rate(self) -> float:
        return self.agent_steps / self.batched_seconds

    @property
    def one_at_a_time_rate(self) -> float:
        return self.agent_steps / self.one_at_a_time_seconds

    @property
    def bare_forward_rate(self) -> float:
        return self.forward_rows / self.bare_forward_seconds

    @property
    def serial_forward_share(self) -> float:
        """The one-thread batched rate as a fraction of the bare forward rate."""
        return self.agent_steps / self.serial_seconds / self.bare_forward_rate

    @property
    def speedup(self) -> float:
        return self.one_at_a_time_seconds / self.batched_seconds

    @property
    def forward_share(self) -> float:
        """Batched rate as a fraction of the bare forward rate (goal ≥ 0.70)."""
        return self.batched_rate / self.bare_forward_rate

    @property
    def unpadded_one_at_a_time_seconds(self) -> float:
        """Estimate: one branch at a time if its 2 live rows were forwarded without padding to 16.

        Rollouts pad every forward to 16 rows for determinism, which a one-branch call pays 8x for;
        this subtracts that cost (measured per-row rates of 16-row and 2-row forwards) to show how
        much of the speed-up comes from batching itself.
        """
        per_row_saving = 8 / self.forward_rows_per_second_16 - 1 / self.forward_rows_per_second_2_unpadded
        return self.one_at_a_time_seconds - self.forward_rows * per_row_saving

    @property
    def loop_forward_share(self) -> float:
        """Like :attr:`serial_forward_share`, leaving out the per-branch setup before the first step."""
        return self.agent_steps / (self.breakdown["total"] - self.breakdown["setup"]) / self.bare_forward_rate

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, **asdict(self), "batched_rate": self.batched_rate,
                "one_at_a_time_rate": self.one_at_a_time_rate, "bare_forward_rate": self.bare_forward_rate,
                "speedup": self.speedup, "forward_share": self.forward_share,
                "serial_forward_share": self.serial_forward_share, "loop_forward_share": self.loop_forward_share}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutBenchmark:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"rollout benchmark schema_version={data.get('schema_version')!r}; this reads "
                             f"{SCHEMA_VERSION}: re-run python benchmarks/bench_rollouts.py")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def load_bench_agent(spec: str) -> Agent:
    """A zoo name or a checkpoint path; a missing trained checkpoint falls back to a fresh Nature CNN
    (same compute per forward, which is all this benchmark measures)."""
    path = Path(spec)
    if path.suffix == ".safetensors":
        if path.is_file():
            agent = load_checkpoint(path)
            agent.name = path.stem
            return agent.eval()
        from cfsal.testing import tiny_agent

        print(f"{path} is missing: timing a freshly initialised Nature CNN instead (same compute)")
        return tiny_agent("breakout", name="fresh-nature-cnn")
    return load_agent(spec)


def measure(agent: Agent, *, branches: int, horizon: int, branch_every: int, repeats: int, seed: int = 0,
            intervention: Any = None, process: bool = True, workers: int = 2) -> RolloutBenchmark:
    """Time every variant on the same ``branches`` branch points (see the module docstring)."""
    intervention = intervention or INTERVENTIONS[agent.spec.game]()
    points = collect_branch_points(agent, count=branches, branch_every=branch_every, seed=seed,
                                   accept=lambda point: applicable(intervention, point))
    seeds = children(seed + 1, len(points))
    timings = {name: float("inf") for name in ("batched", "serial", "process", "thread", "one", "bare", "fwd16",
                                                 "fwd2")}
    # What the default batched run does, decided once: run_paired decides at every call from the
    # load average, which this benchmark's own processes raise, so repeats could mix the ways.
    overlapped = overlap_pays()
    # Started in the background by a user's first overlapped run; here before any timing.
    default_way = ("process" if envprocess.env_process(wait=True) is not None else "thread") if overlapped \
        else "one thread"
    batched = run_batched(agent, points, intervention, horizon, seeds)  # warm-up, and the batch sizes
    rows = live_rows_per_step(batched, horizon)
    observations = np.stack([arm.first_observation for p in batched for arm in (p.factual, p.intervened)])
    block16, block2 = torch.as_tensor(np.resize(observations, (16, *observations.shape[1:]))).float(), \
        torch.as_tensor(observations[:2]).float()
    outputs: dict[str, Any] = {}
    parts = {"total": float("inf")}
    for _ in range(repeats):
        for name, function in (
                ("batched", lambda: run_batched(agent, points, intervention, horizon, seeds, overlap=overlapped)),
                ("serial", lambda: run_batched(agent, points, intervention, horizon, seeds, overlap=False)),
                ("process", lambda: run_batched(agent, points, intervention, horizon, seeds, overlap="process")),
                ("thread", lambda: run_batched(agent, points, intervention, horizon, seeds, overlap="thread")),
                ("one", lambda: run_one_at_a_time(agent, points, intervention, horizon, seeds)),
                ("bare", lambda: bare_forwards(agent, observations, rows))):
            seconds, outputs[name] = best_of(function, 1)
            timings[name] = min(timings[name], seconds)
        run = breakdown(agent, points, intervention, horizon, seeds)
        parts = run if run["total"] < parts["total"] else parts
        with deterministic_forwards(), torch.no_grad():
            timings["fwd16"] = min(timings["fwd16"], best_of(lambda: agent(block16), 20)[0])
            timings["fwd2"] = min(timings["fwd2"], best_of(lambda: agent(block2), 20)[0])
    views = None
    if SCHEDSTAT.is_file():
        runs = {"serial": lambda: run_batched(agent, points, intervention, horizon, seeds, overlap=False),
                "process": lambda: run_batched(agent, points, intervention, horizon, seeds, overlap="process"),
                "thread": lambda: run_batched(agent, points, intervention, horizon, seeds, overlap="thread"),
                "bare": lambda: bare_forwards(agent, observations, rows)}
        views = {name: min((cpu_view(run) for _ in range(repeats)), key=lambda v: v["cpu"])
                 for name, run in runs.items()}
    process_seconds = process_fixed = process_identical = None
    if process:
        def pooled_run(count: int, steps: int) -> list[PairedBranch]:
            return run_with("process", agent, points[:count], [intervention] * count, horizon=steps,
                            seeds=seeds[:count], workers=workers)

        close_pools(workers)  # the first call spawns the session's pool; later calls reuse it
        process_fixed, _ = best_of(lambda: pooled_run(workers, 1), 1)
        process_seconds, pooled = best_of(lambda: pooled_run(len(points), horizon), repeats)
        process_identical = same_pairs(pooled, batched)
        close_pools(workers)
    return RolloutBenchmark(
        agent=agent.name, intervention=intervention.to_dict(), branches=len(points), horizon=horizon,
        repeats=repeats, agent_steps=agent_steps(batched), forward_rows=int(rows.sum()),
        batched_seconds=timings["batched"], one_at_a_time_seconds=timings["one"],
        bare_forward_seconds=timings["bare"],
        identical_pairs=all(same_pairs(outputs[name], batched) for name in ("one", "serial", "process", "thread")),
        breakdown=parts, serial_seconds=timings["serial"], env_process_seconds=timings["process"],
        thread_seconds=timings["thread"], default_way=default_way, usable_cpus=usable_cpus(), cpu_views=views,
        forward_rows_per_second_16=16 / timings["fwd16"], forward_rows_per_second_2_unpadded=2 / timings["fwd2"],
        process_seconds=process_seconds, process_fixed_seconds=process_fixed, process_identical=process_identical,
        workers=workers)


# ------------------------------------------------------------------------------------------- report

def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def side_by_side(results: list[RolloutBenchmark], machine: dict[str, Any], load_at_end: list[float]) -> str:
    """One row per agent (one game each), measured one after another in this run."""
    lines = ["# Counterfactual rollouts, Toybox and ALE side by side", "",
             f"Machine: {machine_line(machine, load_at_end)}. Produced by `python benchmarks/bench_rollouts.py --agent "
             + " ".join(r.agent for r in results) + "`; every number as in the single-agent report below it "
             "(best of the repeats).", "",
             "| agent | intervention | environment steps/s in the pipeline | batched agent-steps/s | vs one branch at a "
             "time | share of the bare batched forward rate |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| `{r.agent}` | `{r.intervention['name']}` | {r.agent_steps / r.breakdown['env']:.0f} | "
                     f"{r.batched_rate:.0f} | {r.speedup:.1f}× | {r.forward_share:.0%} |")
    return "\n".join(lines)


def to_markdown(result: RolloutBenchmark, machine: dict[str, Any], load_at_end: list[float]) -> str:
    r = result
    b = r.breakdown
    parts = [("setup before the first step: make 2 envs per branch, restore, intervene, check the edit, "
              "settle (`start_pair`)", b["setup"]),
             ("environment steps (`ToyboxEnv.step` / `AleEnv.step`: 4 frames, 2 renders, max, resize, stack)",
              b["env"]),
             ("forward calls (`blocked_logits_and_value`)", b["forward"]),
             ("results: parse and serialise the start states, took_effect (`StartedPair.finish`)",
              b.get("results", 0.0)),
             ("the rest: sampling actions, recording traces, indexing, Python loop", b["rest"])]
    lines = [
        "# Counterfactual rollout benchmark",
        "",
        (f"Agent `{r.agent}` (Nature CNN: 3 conv + 512 linear), intervention `{r.intervention['name']}` "
        f"{ {k: v for k, v in r.intervention.items() if k not in ('name', 'game') and v not in (None, ())} }, "
        f"{r.branches} branch points (every branch point is one factual/intervened pair), horizon {r.horizon}: "
        f"{r.agent_steps} agent-steps per variant. Best of {r.repeats} interleaved repeats. Produced by "
        "`python benchmarks/bench_rollouts.py`. Other jobs may share the machine (see the load average at "
        "the start and the end), so absolute rates are lower bounds; the ratios compare runs under the same load."),
        "",
        (f"The batched run is `run_paired` as users call it. With {r.usable_cpus} usable CPUs and a load "
        "average below the CPU count it **uses a second core** (`overlap`): the branches are pipelined in "
        "groups of 8 (one 16-row forward block each); this thread forwards whichever group is ready while the "
        "environments of the others are stepped and the groups not yet started are prepared, in the session's "
        "environment process (`cfsal.rollout.envprocess`: no GIL shared with the forwards; a worker thread "
        "where the process cannot be used). The forward itself stays on one torch thread in the same 16-row "
        "blocks, so results are byte-identical; on an oversubscribed machine it runs on one thread. "
        + {"process": "This run used the environment process.", "thread": "This run used a worker thread.",
           "one thread": "This run did not overlap (the machine was oversubscribed when it started)."}[r.default_way]
        + " Every way is also timed explicitly. The bare forwards always run on one thread."),
        "",
        f"Machine: {machine_line(machine, load_at_end)}.",
        "",
        "| variant | seconds | agent-steps / s | ratio |",
        "|---|---:|---:|---:|",
        (f"| batched: `run_paired` over all {r.branches} branches in lockstep (default: "
        f"{r.default_way}) | {r.batched_seconds:.3f} | {r.batched_rate:.0f} | 1 |"),
        (f"| batched on one thread (`overlap=False`) | {r.serial_seconds:.3f} | "
        f"{r.agent_steps / r.serial_seconds:.0f} | {r.serial_seconds / r.batched_seconds:.2f}× the batched time |"),
        (f"| batched, environments in the environment process (`overlap=\"process\"`) | "
        f"{r.env_process_seconds:.3f} | {r.agent_steps / r.env_process_seconds:.0f} | "
        f"{r.env_process_seconds / r.batched_seconds:.2f}× the batched time |"),
        (f"| batched, environments in a 2nd thread (`overlap=\"thread\"`) | {r.thread_seconds:.3f} | "
        f"{r.agent_steps / r.thread_seconds:.0f} | {r.thread_seconds / r.batched_seconds:.2f}× the batched time |"),
        (f"| one branch at a time: `run_paired` with one point per call | {r.one_at_a_time_seconds:.3f} | "
        f"{r.one_at_a_time_rate:.0f} | batched is {r.speedup:.2f}× faster |"),
        (f"| (estimate) one branch at a time, forwards not padded to 16 rows | "
        f"{r.unpadded_one_at_a_time_seconds:.3f} | {r.agent_steps / r.unpadded_one_at_a_time_seconds:.0f} | "
        f"batched is {r.unpadded_one_at_a_time_seconds / r.batched_seconds:.2f}× faster |"),
        (f"| bare batched forwards: same batch sizes, 16-row blocks, 1 thread | {r.bare_forward_seconds:.3f} | "
        f"{r.bare_forward_rate:.0f} rows/s | batched reaches {r.forward_share:.0%} of it |"),
    ]
    if r.process_seconds is not None:
        lines.append(f"| process pool, {r.workers} workers (`executor=\"process\"`, pool already started) | "
                     f"{r.process_seconds:.3f} | "
                     f"{r.agent_steps / r.process_seconds:.0f} | {r.process_seconds / r.batched_seconds:.2f}× "
                     f"the inline time |")
    lines += [
        "",
        "| goal (issue #6) | measured | |",
        "|---|---:|---|",
        (f"| batched ≥ {GOAL_SPEEDUP:g}× one branch at a time | {r.speedup:.2f}× | "
        f"{_met(r.speedup >= GOAL_SPEEDUP)} |"),
        (f"| batched ≥ {GOAL_FORWARD_SHARE:.0%} of the bare batched forward rate | {r.forward_share:.0%} | "
        f"{_met(r.forward_share >= GOAL_FORWARD_SHARE)} |"),
        (f"| (not a goal) batched on one thread vs. the bare forward rate | {r.serial_forward_share:.0%} | |"),
        (f"| (not a goal) batched, environments in the environment process, vs. the bare forward rate | "
        f"{r.agent_steps / r.env_process_seconds / r.bare_forward_rate:.0%} | |"),
        (f"| (not a goal) batched, environments in a 2nd thread, vs. the bare forward rate | "
        f"{r.agent_steps / r.thread_seconds / r.bare_forward_rate:.0%} | |"),
        (f"| (not a goal) the one-thread lockstep loop alone, its time minus setup, vs. the bare forward rate | "
        f"{r.loop_forward_share:.0%} | |"),
        "",
        ("Batched (default, one thread, environment process, worker thread) and one-at-a-time continuations "
        "are byte-identical "
        "(actions, logits, values): "
        f"{r.identical_pairs}.")
        + (f" Process pool ones too: {r.process_identical}." if r.process_identical is not None else ""),
        "",
        "## Where the batched time goes",
        "",
        ("Timed inside one batched run on one thread (`overlap=False`, so that the parts add up; the "
        f"fastest of the repeats, total {b['total']:.3f} s) by wrapping the forward and the environment "
        "step with clocks:"),
        "",
        "| part | seconds | share |",
        "|---|---:|---:|",
        *[f"| {name} | {seconds:.3f} | {seconds / b['total']:.0%} |" for name, seconds in parts],
        "",
        (f"The same forward calls take {r.bare_forward_seconds:.3f} s alone and {b['forward']:.3f} s inside the "
        "rollout (environment steps in between can evict the network's weights from the cache; on a shared "
        "machine the difference is also noise)."),
        "",
        (f"One forward of a 16-row block: {r.forward_rows_per_second_16:.0f} rows/s; of 2 rows without "
        f"padding: {r.forward_rows_per_second_2_unpadded:.0f} rows/s. A one-branch call forwards its 2 "
        "live rows padded to a 16-row block (for determinism, `cfsal.agents.base.FORWARD_BLOCK`)."),
    ]
    if r.process_seconds is not None:
        lines += ["", (f"Process pool: the first call (one branch per worker, horizon 1) takes "
                      f"{r.process_fixed_seconds:.2f} s: it spawns the session's {r.workers} interpreters, which "
                      "import torch and cfsal; later calls reuse them (`cfsal.rollout.executors.session_pool`). "
                      "Every call still pickles the agent; snapshots cross the process boundary without "
                      "Toybox's native clone, so each pair travels with its origin (read here, "
                      "`cfsal.rollout.executors.with_origins`) and a worker starts it from JSON instead of "
                      "replaying the episode up to it.")]
    if r.cpu_views:
        v = r.cpu_views
        lines += ["", "## CPU time: what the runs need, apart from the machine's load", "",
                  ("Per thread, from Linux's `/proc/<pid>/task/<tid>/schedstat` (the run with the least CPU time "
                   f"of {r.repeats}): time on a CPU, time runnable but waiting for one (other jobs had it), and "
                   "time asleep (waiting for the environment process, the worker thread or the GIL); and the CPU "
                   "time of the other side: the worker thread, or the environment process."), "",
                  "| run | wall | main thread: on a CPU | waiting for a CPU | asleep | other side: on a CPU |",
                  "|---|---:|---:|---:|---:|---:|",
                  *[f"| {label} | {v[name]['wall']:.3f} | {v[name]['cpu']:.3f} | {v[name]['waiting_for_cpu']:.3f} | "
                    f"{v[name]['asleep']:.3f} | {v[name]['worker_cpu']:.3f} |"
                    for name, label in (("serial", "batched, one thread"),
                                        ("process", "batched, environment process"),
                                        ("thread", "batched, worker thread"), ("bare", "bare forwards"))],
                  ""]
        for name, label in (("process", "With the environment process"), ("thread", "With a worker thread")):
            ahead = v[name]["cpu"] + v[name]["asleep"]
            lines.append(
                f"{label}, the main thread needs {v[name]['cpu']:.3f} s on a CPU and sleeps {v[name]['asleep']:.3f} s; "
                f"the other side needs {v[name]['worker_cpu']:.3f} s. With a free second core the run would take about "
                f"max(main CPU + asleep, other side's CPU) = {max(ahead, v[name]['worker_cpu']):.3f} s, "
                f"{v['bare']['cpu'] / max(ahead, v[name]['worker_cpu']):.0%} of the bare forwards' CPU time (an "
                "estimate from this run's CPU times, not a measurement on a free machine).")
            lines.append("")
        lines.append(f"On CPU time, the one-thread batched run reaches {v['bare']['cpu'] / v['serial']['cpu']:.0%} of "
                     "the bare forwards.")
    return "\n".join(lines) + "\n"


HAND_WRITTEN = "(analysis, written by hand)"


def hand_written_analysis(path: Path) -> str:
    """The hand-written analysis that ends an earlier results file (from its ``## …`` heading that
    says "(analysis, written by hand)"), kept when the measured part above it is rewritten."""
    text = path.read_text() if path.is_file() else ""
    heading = next((line for line in text.splitlines() if line.startswith("## ") and HAND_WRITTEN in line), None)
    return "" if heading is None else "\n" + text[text.index(heading):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", nargs="+", default=[str(ROOT / "cfsal" / "zoo" / "breakout-a2c.safetensors")],
                        help="checkpoint paths or zoo names (Nature-CNN agents); several are measured one after "
                             "another and tabled side by side (e.g. breakout-a2c ale_pong-a2c)")
    parser.add_argument("--branches", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--branch-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats; each variant's best counts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-process", action="store_true", help="skip the process-pool timing")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rollouts.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    machine = machine_description(torch.get_num_threads())
    results = [measure(load_bench_agent(spec), branches=args.branches, horizon=args.horizon,
                       branch_every=args.branch_every, repeats=args.repeats, process=not args.no_process,
                       workers=args.workers) for spec in args.agent]
    load = [round(v, 2) for v in os.getloadavg()]
    out = Path(args.out)
    if len(results) == 1:
        report = to_markdown(results[0], machine, load) + hand_written_analysis(out)
    else:
        report = side_by_side(results, machine, load) + "\n\n" + "\n\n".join(
            to_markdown(r, machine, load).replace("# Counterfactual rollout benchmark", f"## `{r.agent}`", 1)
            for r in results)
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
