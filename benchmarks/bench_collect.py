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
  (forwards stay single-threaded: a thread count changes a convolution's floats);
* **the lockstep bound**: the lockstep run's own forward blocks (``EpisodeStore.blocks_forwarded``)
  at the bare forward's time per block: the most any design that forwards on one core while the
  other steps could reach on those episodes, with stepping and Python entirely hidden.

A **two-core probe** plays the lockstep run's own episodes (same seeds, same actions, so the same
steps) the way a design that forwards on both cores would: the environments in a stepping process
(observations on shared memory), four 16-row lanes forwarded by two threads of this process, so that
both cores forward while the stepping process steps. It is a sketch with nothing else in it (no
candidates kept beyond the snapshot, no cache, no errors handled): an upper estimate of what such a
design would reach here; it also states how much CPU time the forwards and steps took with both
cores busy, against their times alone.

It then measures the **contention** such a design meets: the bare forward's time per block alone,
beside a process that steps an environment without pause, and beside a thread of this process doing
the same (what the store's stepping thread is), interleaved.

Goals (issue "Verdicts that hold up"): lockstep ≥ 5× serial and ≥ 60% of the bare forward rate; the
ceiling row says what share of the physically possible 5× serial would take.
Writes ``benchmarks/results/collect.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.shared_memory import SharedMemory
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
from cfsal.rollout.sampling import DEFAULT_WIDTH, EPISODE_STEP_LIMIT, StateSampler, drawn_steps

RESULTS = Path(__file__).resolve().parent / "results"


def lockstep(agent, samples: int, seed: int) -> tuple[float, int, int, int]:
    """Seconds, agent steps, forward blocks and episodes to draw ``samples`` states of ``States()`` in lockstep."""
    sampler = StateSampler(agent, States(), seed=seed)
    started = time.perf_counter()
    sampler.take(samples)
    seconds = time.perf_counter() - started
    episodes = sampler.selection.episodes
    # the steps of the episodes the samples came from (episodes started beyond them are not counted)
    return seconds, sum(sampler.store.lengths[e] for e in range(episodes)), sampler.store.blocks_forwarded, episodes


PROBE_LANES = 4


def _probe_stepping(connections, board_name: str, shape: tuple[int, ...], game: str, seed: int, episodes: int) -> None:
    """The probe's stepping process: plays episodes ``0 .. episodes - 1`` of the store's seeding in
    :data:`PROBE_LANES` lanes, a lane's step on each message of actions; replies each lane's episodes."""
    memory = SharedMemory(name=board_name)
    board = np.ndarray((PROBE_LANES, FORWARD_BLOCK, *shape), dtype=np.uint8, buffer=memory.buf)
    slots: list[list] = [[None] * FORWARD_BLOCK for _ in range(PROBE_LANES)]
    started, steps = 0, 0

    def start(lane: int, row: int) -> None:
        nonlocal started
        slots[lane][row] = None
        if started < episodes:
            env = make(game, max_episode_steps=EPISODE_STEP_LIMIT)
            board[lane, row], _ = env.reset(seed=int(child(seed, started, 0).generate_state(1)[0]))
            slots[lane][row] = (env, started, int(drawn_steps(States(), seed, started)[-1]))
            started += 1

    def playing(lane: int) -> list[int]:
        return [-1 if slot is None else slot[1] for slot in slots[lane]]

    for lane, connection in enumerate(connections):
        for row in range(FORWARD_BLOCK):
            start(lane, row)
        connection.send(playing(lane))
    live = [connection for lane, connection in enumerate(connections) if max(playing(lane)) >= 0]
    while live:
        for connection in wait(live):
            lane = connections.index(connection)
            for row, action in enumerate(connection.recv()):
                if slots[lane][row] is None:
                    continue
                env, _, last = slots[lane][row]
                board[lane, row], _, terminated, truncated, _ = env.step(int(action))
                steps += 1
                if terminated or truncated or env.steps >= last:
                    if env.steps == last:
                        env.snapshot()  # what the store keeps of it
                    env.close()
                    start(lane, row)
            connection.send(playing(lane))
            if all(episode < 0 for episode in playing(lane)):
                live.remove(connection)
    connections[0].send(steps)
    memory.close()


def two_core_probe(agent, episodes: int, seed: int) -> tuple[int, float, float, float]:
    """Steps, seconds, and CPU seconds of this process and of the stepping process, for the probe."""
    shape = tuple(agent.spec.observation.shape)
    memory = SharedMemory(create=True, size=PROBE_LANES * FORWARD_BLOCK * int(np.prod(shape)))
    board = np.ndarray((PROBE_LANES, FORWARD_BLOCK, *shape), dtype=np.uint8, buffer=memory.buf)
    pipes = [multiprocessing.Pipe() for _ in range(PROBE_LANES)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stepping = multiprocessing.get_context("fork").Process(
        target=_probe_stepping, args=([far for _, far in pipes], memory.name, shape, agent.spec.game, seed, episodes))
    stepping.start()

    def forward_lanes(first: int) -> None:  # lanes first, first + 2, ...: one forwards while another steps
        forward = BlockForward(agent, shape)
        rngs: dict[int, np.random.Generator] = {}
        mine = {lane: pipes[lane][0].recv() for lane in range(first, PROBE_LANES, 2)}
        while mine:
            for lane in list(mine):
                playing = mine[lane] if mine[lane] is not None else pipes[lane][0].recv()
                rows = [row for row, episode in enumerate(playing) if episode >= 0]
                if not rows:
                    del mine[lane]
                    continue
                logits, _ = forward([board[lane, row] for row in rows])
                uniforms = np.array([rngs.setdefault(playing[row], np.random.default_rng(child(seed, playing[row], 1)))
                                     .random() for row in rows])
                actions = np.zeros(FORWARD_BLOCK, dtype=np.int64)
                actions[rows] = actions_from_logits(logits, uniforms=uniforms)
                pipes[lane][0].send(actions)
                mine[lane] = None

    with deterministic_forwards():
        cpu, started = time.process_time(), time.perf_counter()
        threads = [threading.Thread(target=forward_lanes, args=(first,)) for first in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    steps = pipes[0][0].recv()
    stepping.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    memory.close()
    memory.unlink()
    return steps, seconds, cpu, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


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


def measure(agent, samples: int, repeats: int) -> list[tuple]:
    """Per repeat: lockstep, serial and bare-forward rates, the steps, the lockstep seconds, the
    stepping-alone rate, the lockstep bound, the two-core probe's rate, its CPU per step against its
    parts alone, and whether it played the lockstep's steps."""
    rows = []
    for r in range(repeats):  # interleaved, so that a change of load hits every way alike
        seconds, steps, blocks, episodes = lockstep(agent, samples, seed=r)
        serial_seconds = serial(agent, steps, seed=r)
        forward = bare_forward(agent, DEFAULT_WIDTH, 50)
        step_seconds = stepping_alone(agent, steps, seed=r)
        probe_steps, probe_seconds, forwarding_cpu, stepping_cpu = two_core_probe(agent, episodes, seed=r)
        bound = steps / (blocks * forward * FORWARD_BLOCK / DEFAULT_WIDTH)
        # CPU per agent step with both cores busy, against the forward row and the step alone
        busy = (forwarding_cpu + stepping_cpu) / probe_steps
        alone = forward / DEFAULT_WIDTH + step_seconds / steps
        rows.append((steps / seconds, steps / serial_seconds, DEFAULT_WIDTH / forward, steps, seconds,
                     steps / step_seconds, bound, probe_steps / probe_seconds, busy / alone, probe_steps == steps))
        print(f"{samples} states, repeat {r}: lockstep {rows[-1][0]:.0f} steps/s ({steps} steps, {blocks} blocks, "
              f"{seconds:.1f} s), serial {rows[-1][1]:.0f} steps/s, bare forward {rows[-1][2]:.0f} rows/s, "
              f"stepping alone {rows[-1][5]:.0f} steps/s, lockstep bound {bound:.0f} steps/s, two-core probe "
              f"{rows[-1][7]:.0f} steps/s ({probe_steps} steps; CPU per step {1e3 * busy:.3f} ms, {busy / alone:.2f}× "
              f"its parts alone)", flush=True)
    return rows


def _step_until(game: str, stop, stepping) -> None:
    """Step ``game`` with random actions (a new episode where one ends) until ``stop`` is set; set
    ``stepping`` once the environment is made. Runs on a thread or in a forked process alike."""
    env = make(game)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    stepping.set()
    while not stop.is_set():
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            env.reset()


def contention(agent, repeats: int, blocks: int = 300) -> list[tuple[float, float, float]]:
    """Per repeat, milliseconds per forward block: alone, beside a stepping process, beside a stepping thread."""
    env = make(agent.spec.game, seed=0)
    frames = [env.observation] * FORWARD_BLOCK
    fork = multiprocessing.get_context("fork")

    def milliseconds_per_block(block: BlockForward) -> float:
        started = time.perf_counter()
        for _ in range(blocks):
            block(frames)
        return 1000 * (time.perf_counter() - started) / blocks

    def beside(stepper_kind, event_kind, block: BlockForward) -> float:
        stop, stepping = event_kind(), event_kind()
        stepper = stepper_kind(target=_step_until, args=(agent.spec.game, stop, stepping))
        stepper.start()
        try:
            stepping.wait()
            return milliseconds_per_block(block)
        finally:
            stop.set()
            stepper.join()

    rows = []
    with deterministic_forwards():
        block = BlockForward(agent, tuple(agent.spec.observation.shape))
        block(frames)
        for r in range(repeats):
            alone = milliseconds_per_block(block)
            beside_process = beside(fork.Process, fork.Event, block)
            beside_thread = beside(threading.Thread, threading.Event, block)
            rows.append((alone, beside_process, beside_thread))
            print(f"contention, repeat {r}: {alone:.2f} ms alone, {beside_process:.2f} ms beside a stepping process, "
                  f"{beside_thread:.2f} ms beside a stepping thread", flush=True)
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
    contended = contention(agent, args.repeats)
    lines = [
        "# Collecting states (`benchmarks/bench_collect.py`)", "",
        f"Machine: {machine_line(machine, [round(v, 2) for v in os.getloadavg()])}.", "",
        (f"Agent `{args.agent}`; states of the default `States()`, {args.repeats} repeats per count (medians; the "
         "three ways interleaved in each repeat). Rates in agent steps per second, counting the steps of the "
         "episodes the states came from (episodes played ahead of them are not counted)."), "",
        "| states | way | agent steps/s | ratio | goal |", "|---:|---|---:|---:|---|",
    ]
    for samples, rows in measured.items():
        lock, ser, bare = (float(np.median([row[i] for row in rows])) for i in range(3))
        alone = float(np.median([row[5] for row in rows]))
        bound, probe, slowdown = (float(np.median([row[i] for row in rows])) for i in (6, 7, 8))
        ceiling = two_core_ceiling(bare, alone)
        same_steps = "" if all(row[9] for row in rows) else " ✘ other steps than the lockstep"
        lines += [
            f"| {samples} | lockstep ({DEFAULT_WIDTH} episodes side by side) | {lock:.0f} | — | — |",
            (f"| {samples} | serial (one episode at a time, unbatched forward) | {ser:.0f} | lockstep is "
             f"{lock / ser:.2f}× | ≥ 5× {'✔' if lock / ser >= 5 else '✘'} |"),
            (f"| {samples} | bare blocked forward, {DEFAULT_WIDTH} rows | {bare:.0f} | lockstep is {lock / bare:.0%} "
             f"of it | ≥ 60% {'✔' if lock / bare >= 0.6 else '✘'} |"),
            f"| {samples} | stepping alone (random actions, no forward) | {alone:.0f} | — | — |",
            (f"| {samples} | lockstep bound: its forward blocks at the bare forward's time | {bound:.0f} | "
             f"{bound / ser:.2f}× serial; 5× serial would need {5 * ser / bound:.0%} of it | — |"),
            (f"| {samples} | two-core probe (stepping process, both cores forwarding){same_steps} | {probe:.0f} | "
             f"{probe / ser:.2f}× serial; CPU per step {slowdown:.2f}× its parts alone | ≥ 5× "
             f"{'✔' if probe / ser >= 5 else '✘'} |"),
            (f"| {samples} | two-core ceiling 2 / (1/forward + 1/stepping) | {ceiling:.0f} | {ceiling / ser:.2f}× "
             f"serial; 5× serial would need {5 * ser / ceiling:.0%} of it | — |"),
        ]
    alone, beside_process, beside_thread = (float(np.median([row[i] for row in contended])) for i in range(3))
    lines += [
        "", "Contention (medians of the repeats; 300 blocks each): one 16-row forward block takes "
        f"{alone:.2f} ms alone, {beside_process:.2f} ms ({beside_process / alone:.2f}×) beside a process that "
        f"steps without pause, {beside_thread:.2f} ms ({beside_thread / alone:.2f}×) beside a thread of the "
        "same process that does. Per repeat (alone / process / thread): " + "; ".join(
            f"{a:.2f} / {b:.2f} / {c:.2f}" for a, b, c in contended) + ".",
    ]
    lines.append("")
    for samples, rows in measured.items():
        lines.append(f"Per repeat, {samples} states: " + "; ".join(
            f"{a:.0f} / {b:.0f} / {c:.0f} / {d:.0f} / {e:.0f} / {f:.0f} ({steps} steps in {s:.1f} s)"
            for a, b, c, steps, s, d, e, f, *_ in rows)
            + " (lockstep / serial / bare forward / stepping alone / lockstep bound / two-core probe).")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "collect.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
