"""A second process that plays part of an episode store's episodes, so that both cores forward.

Collecting states is bound by the agent's forward: the lockstep store forwards on one core while a
thread steps the environments on the other, which then idles about a third of the time
(``benchmarks/results/collect.md``). When a store has many episodes still to start, it hands the
upper half of them to this process (:func:`cfsal.rollout.sampling.play_range`), which plays them as
a store of its own, one forward block at a time, while the store plays the lower half the same way;
both cores then forward.

Nothing changes but where an episode is played: episode ``e`` depends on the seed and ``e`` alone
(:mod:`cfsal.rollout.sampling`), and every forward is a single-threaded block of
:data:`~cfsal.agents.base.FORWARD_BLOCK` rows, so its candidates are byte-identical wherever it was
played (``tests/test_sampling.py``). One process per session, started in the background on first
use (``python -m cfsal.rollout.collector``, as the environment process is, so no user script is
run again) and used once it is up, where it pays (two or more usable CPUs and a load below their
count: :func:`cfsal.rollout.paired.overlap_pays`). Jobs and results cross as pickles over a socket
pair only the two processes hold (the agent's weights by value, not as shared memory).
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from cfsal.agents.base import FORWARD_BLOCK
from cfsal.errors import CfsalError
from cfsal.rollout.paired import overlap_pays

#: Fewest episodes a store must still have to start before it hands half of them over: fewer, and
#: each half would not fill one forward block.
MIN_EPISODES = 2 * FORWARD_BLOCK
#: ``CFSAL_COLLECTOR=0`` keeps every episode in the calling process; ``always`` uses the collector
#: whatever the load (tests); unset, it is used where it pays.
ENVIRONMENT_SWITCH = "CFSAL_COLLECTOR"
_HELLO, _EXIT = b"hello", b"exit"


class CollectorError(CfsalError):
    """The collector process failed a job or ended; the store then plays those episodes itself."""


def _serve(conn: Connection, play: Callable[[Any], Any]) -> None:
    """The collector's loop: a job (the caller's ``sys.path`` and the pickled job) in, its result out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle: it ends this process
    conn.send_bytes(_HELLO)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):  # the caller is gone
            return
        if data == _EXIT:
            return
        try:
            path, job = pickle.loads(data)
            sys.path.extend(entry for entry in path if entry not in sys.path)  # where the caller finds its agent
            reply = ("ok", play(pickle.loads(job)))
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller, who plays it itself
            reply = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        conn.send_bytes(pickle.dumps(reply))


class Collector:
    """The calling process's handle on the collector process: one job at a time."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cfsal.rollout.collector", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.started = False
        self.busy = False

    def ready(self) -> bool:
        """Whether the process is up (it said hello) and has no job."""
        if not self.started and self.process.poll() is None and self.conn.poll(0):
            self.started = self.conn.recv_bytes() == _HELLO
        return self.started and not self.busy

    def submit(self, job: Any) -> None:
        """Start ``job`` (pickled whole here, so a job that cannot be pickled fails here, not there)."""
        message = pickle.dumps((list(sys.path), pickle.dumps(job)))
        try:
            self.conn.send_bytes(message)
        except OSError as error:
            raise self._ended() from error
        self.busy = True

    def done(self) -> bool:
        return not self.busy or self.conn.poll(0)

    def result(self) -> Any:
        """The job's result (waiting for it); its error, or the process's end, as a CollectorError."""
        try:
            kind, payload = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError) as error:
            raise self._ended() from error
        finally:
            self.busy = False
        if kind == "error":
            raise CollectorError(f"the collector process failed: {payload}")
        return payload

    def _ended(self) -> CollectorError:
        _forget(self)
        return CollectorError(f"the collector process (pid {self.process.pid}) ended during a job "
                              f"(exit code {self.process.poll()}).")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.conn.send_bytes(_EXIT)
                self.process.wait(timeout=5.0)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.conn.close()


_PROCESS: list[Collector] = []
_GUARD = threading.Lock()
_UNSTARTABLE: list[str] = []  # why it could not start here: not tried again this session
_SWITCHED_OFF: set[str] = set()  # who said this process should play every episode itself


def use_collector(on: bool, who: str = "caller") -> None:
    """Let stores use the collector process (the default), or not: ``pytest -n`` workers say not,
    as they already occupy the cores."""
    (_SWITCHED_OFF.discard if on else _SWITCHED_OFF.add)(who)


def collector() -> Collector | None:
    """The session's collector process if it is up, idle and worth using here; else None. The first
    call starts it in the background, so a later one finds it up."""
    switch = os.environ.get(ENVIRONMENT_SWITCH, "")
    if switch == "0" or os.name != "posix" or _UNSTARTABLE or _SWITCHED_OFF or (
            switch != "always" and not overlap_pays()):
        return None
    with _GUARD:
        if not _PROCESS:
            try:
                _PROCESS.append(Collector())
            except OSError as error:
                _UNSTARTABLE.append(str(error))
                return None
        process = _PROCESS[0]
    if process.process.poll() is not None:  # it died (starting, or since): no more tries this session
        _UNSTARTABLE.append(f"exit code {process.process.poll()}")
        _forget(process)
        return None
    return process if process.ready() else None


def _forget(process: Collector) -> None:
    with _GUARD:
        if _PROCESS and _PROCESS[0] is process:
            _PROCESS.clear()


def close_collector() -> None:
    """End the session's collector process (the next store that wants one starts another)."""
    with _GUARD:
        processes = list(_PROCESS)
        _PROCESS.clear()
    for process in processes:
        process.close()


atexit.register(close_collector)


if __name__ == "__main__":
    from cfsal.rollout.sampling import play_range  # this process plays a store's episodes

    _serve(Connection(int(sys.argv[1])), play_range)
