"""Collecting states: independent episodes in lockstep vs one episode at a time, and vs the bare forward rate.

    python benchmarks/bench_collect.py [--agent breakout-a2c] [--samples 60 240] [--repeats 3]

The default design draws each sample from its own independently seeded episode, so collecting
states means playing many episodes. Three rates, in agent steps per second, in one run:

* **lockstep**: :class:`cfsal.rollout.sampling.StateSampler` (32 episodes side by side, one blocked
  forward per step for all of them), drawing ``--samples`` states of the default ``States()`` (60:
  one hypothesis's worth, where the last, longest episodes play in a half-empty block; 240: several
  hypotheses' worth, as when the hypotheses of a session share one agent's episodes);
* **serial**: the same number of agent steps played the way collection ran before (one episode at a
  time, one unbatched forward per step: ``cfsal.rollout.branching``'s loop);
* **bare forward**: the store's forward alone (two kept 16-row blocks, :class:`~cfsal.agents.base.BlockForward`),
  the most any batched collection of this agent could reach on one core (environment stepping free);
* **stepping alone**: the same number of environment steps with random actions and no forward, so
  that the run also states the **two-core ceiling**: every agent step costs one row of a blocked
  forward plus one environment step, whichever core does them, so no collection on this machine's
  two cores can exceed 2 / (forward per row + step) agent steps per second, however it schedules
  (forwards stay single-threaded: a thread count changes a convolution's floats).

Goals (issue "Verdicts that hold up"): lockstep ≥ 5× serial and ≥ 60% of the bare forward rate; the
ceiling row says what share of the physically possible 5× serial would take.
Writes ``benchmarks/results/collect.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rollouts import machine_description, machine_line

from cfsal._seeding import child
from cfsal.agents.base import FORWARD_BLOCK, BlockForward, actions_from_logits, deterministic_forwards
from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.rollout import States
from cfsal.rollout.sampling import DEFAULT_WIDTH, StateSampler

RESULTS = Path(__file__).resolve().parent / "results"


def lockstep(agent, samples: int, seed: int) -> tuple[float, int]:
    """Seconds and agent steps to draw ``samples`` states of ``States()`` in lockstep."""
    sampler = StateSampler(agent, States(), seed=seed)
    started = time.perf_counter()
    sampler.take(samples)
    seconds = time.perf_counter() - started
    # the steps of the episodes the samples came from (episodes started beyond them are not counted)
    return seconds, sum(sampler.store.lengths[e] for e in range(sampler.selection.episodes))


def serial(agent, steps: int, seed: int) -> float:
    """Seconds to play ``steps`` agent steps one episode at a time, one unbatched forward per step."""
    env = make(agent.spec.game)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    started = time.perf_counter()
    with deterministic_forwards():
        for episode_step in range(steps):
            logits, _ = agent.logits_and_value(obs)
            action = actions_from_logits(logits, uniforms=rng.random(1))[0]
            obs, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                obs, _ = env.reset(seed=int(child(seed, episode_step).generate_state(1)[0]))
    return time.perf_counter() - started


def stepping_alone(agent, steps: int, seed: int) -> float:
    """Seconds to play ``steps`` environment steps with random actions and no forward at all."""
    env = make(agent.spec.game)
    rng = np.random.default_rng(seed)
    actions = rng.integers(env.action_space.n, size=steps)
    env.reset(seed=seed)
    started = time.perf_counter()
    for episode_step, action in enumerate(actions):
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset(seed=int(child(seed, episode_step).generate_state(1)[0]))
    return time.perf_counter() - started


def bare_forward(agent, rows: int, repeats: int) -> float:
    """Seconds to forward ``rows`` observations in kept forward blocks (the store's own forward, alone)."""
    env = make(agent.spec.game, seed=0)
    frames = [env.observation] * FORWARD_BLOCK
    with deterministic_forwards():
        block = BlockForward(agent, tuple(agent.spec.observation.shape))
        block(frames)
        started = time.perf_counter()
        for _ in range(repeats):
            for _ in range(rows // FORWARD_BLOCK):
                block(frames)
    return (time.perf_counter() - started) / repeats


def measure(agent, samples: int, repeats: int) -> list[tuple[float, float, float, int, float, float]]:
    """Per repeat: lockstep, serial and bare-forward rates, the steps, the lockstep seconds and the
    stepping-alone rate."""
    rows = []
    for r in range(repeats):  # interleaved, so that a change of load hits every way alike
        seconds, steps = lockstep(agent, samples, seed=r)
        serial_seconds = serial(agent, steps, seed=r)
        forward = bare_forward(agent, DEFAULT_WIDTH, 50)
        step_seconds = stepping_alone(agent, steps, seed=r)
        rows.append((steps / seconds, steps / serial_seconds, DEFAULT_WIDTH / forward, steps, seconds,
                     steps / step_seconds))
        print(f"{samples} states, repeat {r}: lockstep {rows[-1][0]:.0f} steps/s ({steps} steps, {seconds:.1f} s), "
              f"serial {rows[-1][1]:.0f} steps/s, bare forward {rows[-1][2]:.0f} rows/s, stepping alone "
              f"{rows[-1][5]:.0f} steps/s", flush=True)
    return rows


def two_core_ceiling(forward_rows_per_second: float, steps_per_second: float) -> float:
    """Agent steps per second if both cores did nothing but forward rows and environment steps."""
    return 2 / (1 / forward_rows_per_second + 1 / steps_per_second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="breakout-a2c")
    parser.add_argument("--samples", type=int, nargs="+", default=[60, 240])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = machine_description(1)
    agent = load_agent(args.agent)
    measured = {samples: measure(agent, samples, args.repeats) for samples in args.samples}
    lines = [
        "# Collecting states (`benchmarks/bench_collect.py`)", "",
        f"Machine: {machine_line(machine, [round(v, 2) for v in os.getloadavg()])}.", "",
        f"Agent `{args.agent}`; states of the default `States()`, {args.repeats} repeats per count (medians; the "
        "three ways interleaved in each repeat). Rates in agent steps per second, counting the steps of the "
        "episodes the states came from (episodes played ahead of them are not counted).", "",
        "| states | way | agent steps/s | ratio | goal |", "|---:|---|---:|---:|---|",
    ]
    for samples, rows in measured.items():
        lock, ser, bare = (float(np.median([row[i] for row in rows])) for i in range(3))
        alone = float(np.median([row[5] for row in rows]))
        ceiling = two_core_ceiling(bare, alone)
        lines += [
            f"| {samples} | lockstep ({DEFAULT_WIDTH} episodes side by side) | {lock:.0f} | — | — |",
            f"| {samples} | serial (one episode at a time, unbatched forward) | {ser:.0f} | lockstep is "
            f"{lock / ser:.2f}× | ≥ 5× {'✔' if lock / ser >= 5 else '✘'} |",
            f"| {samples} | bare blocked forward, {DEFAULT_WIDTH} rows | {bare:.0f} | lockstep is {lock / bare:.0%} "
            f"of it | ≥ 60% {'✔' if lock / bare >= 0.6 else '✘'} |",
            f"| {samples} | stepping alone (random actions, no forward) | {alone:.0f} | — | — |",
            f"| {samples} | two-core ceiling 2 / (1/forward + 1/stepping) | {ceiling:.0f} | {ceiling / ser:.2f}× "
            f"serial; 5× serial would need {5 * ser / ceiling:.0%} of it | — |",
        ]
    lines.append("")
    for samples, rows in measured.items():
        lines.append(f"Per repeat, {samples} states: " + "; ".join(
            f"{a:.0f} / {b:.0f} / {c:.0f} / {d:.0f} ({steps} steps in {s:.1f} s)" for a, b, c, steps, s, d in rows)
            + " (lockstep / serial / bare forward / stepping alone).")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "collect.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
