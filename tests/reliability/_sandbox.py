"""A child process that feeds states and configs to the native Toybox core, so a Rust panic cannot kill pytest.

ctoybox reports *malformed* JSON (missing fields, wrong types, integers beyond i32) as a Python
``ValueError``, but a well-formed state with an impossible value (a Space Invaders life count of
10, an index past the end of a board) makes the Rust core panic, and a panic across the FFI
aborts the whole interpreter. Fuzzing therefore writes states in this child: one long-lived
process answers one JSON line per case; if it dies, the parent records the crash (exit code and
the input that caused it) and starts a fresh child. Every case has a wall-clock timeout, so a
state that makes the core spin is reported as a hang, not a stuck CI job.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

_CHILD = r'''
import json, sys, math
from ctoybox import Toybox
from cfsal.envs import make
from cfsal.envs.validation import check_state
import cfsal.envs.toybox_env as toybox_env

checked_config = toybox_env.check_config

sys.stdout.write("ready\n")  # imports done: the parent times each case from here, not the interpreter's start
sys.stdout.flush()
envs = {}
for line in sys.stdin:
    case = json.loads(line)
    game = case["game"]
    if game not in envs:
        envs[game] = make(game, seed=0)
    env = envs[game]
    env.reset(seed=case.get("seed", 0))
    try:
        if case.get("config") is not None:
            # check=False: the config goes to Rust unchecked (to show what the check prevents)
            toybox_env.check_config = checked_config if case.get("check", True) else (lambda *a, **k: None)
            env.configure(case["config"])
            env.reset(seed=case.get("seed", 0))
        if case.get("state") is not None:
            env.set_toybox_state(case["state"], check=case.get("check", True))
            env.refresh_observation()
        for _ in range(case.get("steps", 0)):
            _, _, terminated, truncated, _ = env.step(case.get("action", 0))
            if terminated or truncated:
                break
        env.rgb_frame()
        answer = {"outcome": "ok", "lives": env.lives, "score": env.score}
        try:  # does the game the case led to still pass cfsal's state check (snapshots restore through it)?
            check_state(game, env.get_toybox_state(), where="after the case")
        except Exception as error:
            answer["state_problem"] = str(error)[:300]
    except Exception as error:
        answer = {"outcome": "refused", "error": f"{type(error).__name__}: {error}"[:300]}
    if case.get("config") is not None:
        env.configure(None)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
'''


#: How long a fresh child may take to import cfsal before it answers cases.
STARTUP_TIMEOUT = 300.0


@dataclass(frozen=True)
class NativeOutcome:
    """What the native core did with one case: ``ok``, ``refused`` (a Python error), ``crash``, ``hang``."""

    outcome: str
    detail: str = ""
    state_problem: str | None = None  # ``ok`` only: why the game's state afterwards fails check_state


class NativeSandbox:
    """One child process answering cases; restarted after a crash or a hang."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen[str] | None = None
        self.crashes = 0

    def _start(self) -> subprocess.Popen[str]:
        """A fresh child, once it has imported cfsal (seconds on a busy machine: not part of any case's time)."""
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RUST_BACKTRACE="0")
        process = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=env)
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(STARTUP_TIMEOUT)
        selector.close()
        if not ready or process.stdout.readline().strip() != "ready":
            process.kill()
            raise RuntimeError(f"the sandbox's child did not start within {STARTUP_TIMEOUT} s (imports failed?)")
        return process

    def run(self, game: str, state: dict[str, Any] | None = None, *, steps: int = 10, action: int = 0,
            config: dict[str, Any] | None = None, seed: int = 0, check: bool = True) -> NativeOutcome:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        line = json.dumps({"game": game, "state": state, "steps": steps, "action": action,
                           "config": config, "seed": seed, "check": check}, allow_nan=True)
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._died()
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        ready = selector.select(self.timeout)
        selector.close()
        if not ready:
            self.process.kill()
            self.process.wait()
            self.process = None
            return NativeOutcome("hang", f"no answer within {self.timeout} s")
        answer = self.process.stdout.readline()
        if not answer:
            return self._died()
        data = json.loads(answer)
        return NativeOutcome(data["outcome"], data.get("error", ""), data.get("state_problem"))

    def _died(self) -> NativeOutcome:
        code = self.process.wait()
        self.process = None
        self.crashes += 1
        return NativeOutcome("crash", f"exit code {code}")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
