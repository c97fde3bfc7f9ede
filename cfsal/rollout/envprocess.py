"""The environment process: a second process that steps the environments of overlapped rollouts.

Why a process and not a thread: an overlapped rollout forwards the agent on one core while the
environments step on the other (:func:`cfsal.rollout.paired.run_paired`). In one process the two
share the GIL, and every time the forward's torch code hands the GIL back to Python it waits for
the stepping thread's Python (the Toybox glue, the pair setup's JSON): in the 64-branch benchmark
the forwards took ~1.3× their time alone, and the run reached a median 70% of the bare forward rate
(75% with this process, whose forwards take ~1.1× their time alone while the other core steps).
Here the environments live in a process of their own whose code uses no torch
(:mod:`cfsal.rollout.arms`), so the forwarding process runs no other Python at all.

What crosses the boundary, and how:

- observations: a shared board (a file in ``/dev/shm`` mapped by both processes and unlinked as
  soon as both have it, so nothing is left behind even if one dies): this process writes a row when
  it steps it, the forwarding process reads the rows of the group it forwards. A group is stepped
  only after its forward and forwarded only after its step, so the two never touch a row at once;
- everything else as :mod:`multiprocessing.connection` messages (pickles, as a process pool's are)
  over a socket pair only these two processes hold: per group, the pairs'
  :class:`~cfsal.rollout.arms.PairOrigin` (snapshots without their native clone), interventions and
  seeds; per step, the rows and actions one way and rewards, lives and endings back; per group, the
  texts Toybox wrote of the settled start states (:class:`~cfsal.rollout.arms.SettledTexts`), which
  the forwarding process parses when it would otherwise wait (this process is the busier one).
  Nothing read from a file or another party is unpickled.

It serves two lanes in order of urgency: steps (a forward waits on them), then setup (groups not
yet started, one pair at a time). One process per session, started in the background on first use
(``python -m cfsal.rollout.envprocess``, not ``multiprocessing``'s spawn, which would re-run the
user's main script); until it is up (about 2 s: ``import cfsal`` loads torch there too), overlapped
runs use the thread.
Results are byte-identical either way (``tests/test_rollout_fast.py``).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections import deque
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from cfsal.rollout.arms import ArmEnvs

#: Messages, forwarding process → environment process.
GROUP, STEP, SEND_TEXTS, CLOSE, BOARD, EXIT = "group", "step", "send-texts", "close", "board", "exit"
#: Replies: a group is ready (its first observations are on the board), a step was taken, a group's
#: settled texts, an error, a group whose pairs could not be unpickled here (the caller runs it itself).
READY, STEPPED, TEXTS, ERROR, UNLOADABLE = "ready", "stepped", "texts", "error", "unloadable"
HELLO, BOARD_OPEN = "hello", "board-open"


class EnvProcessError(RuntimeError):
    """The environment process ended while a rollout needed it, or could not be started."""


# ----------------------------------------------------------------------------------- the process

def _serve(conn: Connection) -> None:
    """The environment process's loop: read messages into lanes, run the most urgent job, reply."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle: it ends this process
    lanes: tuple[deque, deque] = (deque(), deque())  # steps, setup
    groups: dict[tuple[int, int], ArmEnvs] = {}
    texts_wanted: set[int] = set()  # runs whose every group has been sent: their texts may follow
    texts: dict[tuple[int, int], list] = {}  # launched groups' settled texts, until sent
    board: np.ndarray | None = None
    conn.send((HELLO, os.getpid()))

    def group(run: int, g: int, path: list[str]) -> None:
        """A group's header; its pairs follow as a message of their own, so that one this process
        cannot unpickle (an intervention class it cannot import) is answered UNLOADABLE."""
        sys.path.extend(entry for entry in path if entry not in sys.path)  # where the caller finds its modules
        try:
            first_row, game, settle, origins, interventions, seeds = conn.recv()
        except (EOFError, OSError):
            raise
        except Exception as error:  # noqa: BLE001 - the message was read whole: the stream stays in step
            close(run)
            conn.send((UNLOADABLE, run, g, f"{type(error).__name__}: {error}"))
            return
        rows = board[first_row:first_row + 2 * len(origins)]
        envs = groups[run, g] = ArmEnvs(game, interventions, seeds, settle, observations=rows)
        lanes[1].extend((run, functools.partial(envs.start_at, i, origin)) for i, origin in enumerate(origins))
        lanes[1].append((run, functools.partial(launch, run, g)))

    def launch(run: int, g: int) -> list[tuple]:
        groups[run, g].launch()  # the first observations are on the board
        texts[run, g] = groups[run, g].settled_texts()
        return [(READY, run, g), *(send_texts(run, g) if run in texts_wanted else [])]

    def send_texts(run: int, g: int) -> list[tuple]:
        return [(TEXTS, run, g, texts.pop((run, g)))]

    def step(run: int, g: int, t: int, index: np.ndarray, actions: np.ndarray) -> None:
        if (run, g) in groups:  # else its run failed here, and the caller is about to hear of it
            lanes[0].append((run, functools.partial(_step, run, g, t, groups[run, g], index, actions)))

    def want_texts(run: int) -> None:
        # Asked for once every group has been sent: a group's texts (~100 kB) must never wait in a
        # full socket while the other process is itself blocked sending a group. Groups launched
        # already send theirs now; later ones with their READY.
        texts_wanted.add(run)
        lanes[0].extend((run, functools.partial(send_texts, owner, g)) for owner, g in list(texts) if owner == run)

    def close(run: int) -> None:
        texts_wanted.discard(run)
        for key in [key for key in groups if key[0] == run]:
            del groups[key]
            texts.pop(key, None)
        for lane in lanes:
            kept = [job for job in lane if job[0] != run]
            lane.clear()
            lane.extend(kept)

    handlers = {GROUP: group, STEP: step, SEND_TEXTS: want_texts, CLOSE: close}
    while True:
        while conn.poll() or not any(lanes):
            try:
                kind, *args = conn.recv()
            except (EOFError, OSError):  # the caller is gone
                return
            if kind == EXIT:
                return
            if kind == BOARD:
                board = _open_board(*args)
                conn.send((BOARD_OPEN,))
                continue
            try:
                handlers[kind](*args)
            except Exception as error:  # noqa: BLE001 - a message this process cannot act on
                close(args[0])
                _send_error(conn, args[0], error)
        run, job = next(lane for lane in lanes if lane).popleft()
        try:
            reply = job()
        except Exception as error:  # noqa: BLE001 - every error goes back to the caller
            close(run)
            _send_error(conn, run, error)
            continue
        for message in reply or ():
            conn.send(message)


def _step(run: int, g: int, t: int, envs: Any, index: np.ndarray, actions: np.ndarray) -> list[tuple]:
    return [(STEPPED, run, g, t, *envs.step(index, actions))]


def _send_error(conn: Connection, run: int, error: BaseException) -> None:
    """The error as the caller should see it: the same exception if it pickles (an InterventionError
    stays one), else a RuntimeError with its type and message; and the traceback here. (A message
    that does not pickle is refused before any of it is sent.)"""
    where = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        conn.send((ERROR, run, None, error, where))
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        conn.send((ERROR, run, None, RuntimeError(f"{type(error).__name__}: {error}"), where))


def _open_board(path: str, rows: int, shape: tuple[int, ...]) -> np.ndarray:
    """The board file mapped as ``rows`` observations of ``shape`` (both processes map it so)."""
    with open(path, "r+b") as file:
        buffer = mmap.mmap(file.fileno(), 0)
    return np.frombuffer(buffer, dtype=np.uint8, count=rows * int(np.prod(shape))).reshape(rows, *shape)


# ------------------------------------------------------------------------------- the caller's side

class EnvProcess:
    """The forwarding process's handle on the environment process: its socket, the shared
    observation board, and a lock (one rollout at a time uses it; another thread's rollout meanwhile
    steps its environments in a thread)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # It imports cfsal from where this process did (an installed copy, or a checkout on sys.path).
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cfsal.rollout.envprocess", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.lock = threading.Lock()
        self.started = False
        self.board: np.ndarray | None = None
        self.runs = itertools.count()

    def ready(self, timeout: float | None = 0.0) -> bool:
        """Whether the process is up (waiting up to ``timeout`` seconds for it; None: as long as it takes)."""
        if not self.started and self.conn.poll(timeout):
            self.started = self.recv()[0] == HELLO
        return self.started

    def send(self, *message: Any) -> None:
        try:
            self.conn.send(message)
        except OSError as error:
            raise self._ended() from error

    def recv(self) -> tuple:
        try:
            return self.conn.recv()
        except (EOFError, OSError) as error:
            raise self._ended() from error

    def _ended(self) -> EnvProcessError:
        _forget(self)
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        return EnvProcessError(
            f"the environment process (pid {self.process.pid}) ended during a rollout (exit code {code}); a "
            "crash in Toybox's native code ends it this way. The next rollout starts a new one; "
            "run_paired(..., overlap='thread') runs the environments in this process instead, where the "
            "error shows in full.")

    def board_for(self, rows: int, shape: tuple[int, ...]) -> np.ndarray:
        """The shared observation board, with room for ``rows`` observations of ``shape`` (grown as needed)."""
        if self.board is not None and self.board.shape[1:] == shape and len(self.board) >= rows:
            return self.board
        if self.board is not None and self.board.shape[1:] == shape:
            rows = max(rows, 2 * len(self.board))
        rows = max(rows, 256)
        size = rows * int(np.prod(shape))
        path = _board_file(size)
        try:
            board = _open_board(path, rows, shape)
            self.send(BOARD, path, rows, shape)
            reply = self.recv()
            if reply[0] != BOARD_OPEN:
                raise EnvProcessError(f"the environment process answered {reply[0]!r} to a new board")
        finally:
            os.unlink(path)  # both processes have it mapped: nothing stays behind on disk
        self.board = board
        return self.board

    def group_message(self, run: int, g: int, first_row: int, game: str, settle: Any, origins: list,
                      interventions: list, seeds: list) -> None:
        """Send group ``g``'s pairs: a header with this process's ``sys.path`` (where the other finds
        the interventions' modules), then the pairs as a message of their own (see ``_serve``)."""
        pairs = ForkingPickler.dumps((first_row, game, settle, origins, interventions, seeds))  # before the header:
        self.send(GROUP, run, g, list(sys.path))  # a pickling error must not leave the other waiting for it
        try:
            self.conn.send_bytes(pairs)
        except OSError as error:
            raise self._ended() from error

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(EXIT)
            except EnvProcessError:
                pass
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.conn.close()


def _board_file(size: int) -> str:
    """A file of ``size`` bytes for the board, its space reserved up front (a sparse file on a full
    ``/dev/shm`` would kill either process with SIGBUS at the first write past the free space):
    in ``/dev/shm`` where it has room, else in the temporary directory. OSError if neither has."""
    failures = []
    for directory in ["/dev/shm"] * os.path.isdir("/dev/shm") + [tempfile.gettempdir()]:
        with tempfile.NamedTemporaryFile(prefix="cfsal-board-", dir=directory, delete=False) as file:
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(file.fileno(), 0, size)
                else:
                    file.truncate(size)
                return file.name
            except OSError as error:
                failures.append(f"{directory}: {error}")
        os.unlink(file.name)
    raise OSError(f"no room for a {size / 2**20:.0f} MiB observation board ({'; '.join(failures)})")


_PROCESS: list[EnvProcess] = []
_GUARD = threading.Lock()
_UNSTARTABLE: list[str] = []  # why a process failed to start here: not tried again this session


def env_process(wait: bool = False) -> EnvProcess | None:
    """The session's environment process, started in the background on first call: it once it is up
    (``wait``: however long that takes), else None (the caller steps its environments in a thread).
    None also where it cannot run (not a POSIX system, or it could not be started or has ended)."""
    if os.name != "posix" or _UNSTARTABLE:
        return None
    with _GUARD:
        if not _PROCESS:
            try:
                _PROCESS.append(EnvProcess())
            except OSError as error:
                _UNSTARTABLE.append(str(error))
                return None
        process = _PROCESS[0]
    try:
        return process if process.ready(None if wait else 0.0) else None
    except EnvProcessError as error:  # it died starting (its own error went to stderr): threads from now on
        _UNSTARTABLE.append(str(error))
        return None


def _forget(process: EnvProcess) -> None:
    with _GUARD:
        if _PROCESS and _PROCESS[0] is process:
            _PROCESS.clear()


def close_env_process() -> None:
    """End the session's environment process (the next overlapped run starts another)."""
    with _GUARD:
        processes = list(_PROCESS)
        _PROCESS.clear()
    for process in processes:
        process.close()


atexit.register(close_env_process)


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
