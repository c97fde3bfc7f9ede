"""State of one pytest session: settings, loaded agents, and the verdict records.

Records reach this object through test reports (``user_properties``), never through shared
memory, so the same code collects them in-process and on the xdist controller.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cfsal
from cfsal.report.paths import relative_to
from cfsal.stats import Verdict, adjust

RESULTS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    samples: int = 30
    alpha: float = 0.05
    correction: str = "holm"
    fail_on: str = "refuted"
    json_path: str | None = None
    agent_override: str | None = None
    executor: str = "inline"
    workers: int = 2
    #: where played episodes are kept between sessions (None: not kept; cfsal.rollout.states_cache)
    states_cache: str | None = None


def hypothesis_identity(nodeid: str) -> str:
    """What identifies a hypothesis however pytest was invoked: its module's file name, then the rest of
    the test id (class, function, parameters). The directory part of the id depends on the rootdir and
    on how the file was named on the command line (relative, absolute, from another directory), so it
    is left out: ``hypotheses/test_ball.py::test_moves[40]`` → ``test_ball::test_moves[40]``."""
    path, _, rest = nodeid.partition("::")
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return f"{stem}::{rest}" if rest else stem


def hypothesis_seed(session_seed: int, nodeid: str) -> int:
    """A per-hypothesis seed from the session seed and the hypothesis's identity (:func:`hypothesis_identity`):
    the same across runs, xdist workers, rootdirs and ways of naming the file."""
    digest = int.from_bytes(hashlib.sha256(hypothesis_identity(nodeid).encode()).digest()[:8], "little")
    return int(np.random.SeedSequence([session_seed, digest]).generate_state(1, dtype=np.uint64)[0]) >> 1


def states_seed(session_seed: int) -> int:
    """The seed of the session's shared episodes: every hypothesis of a session with the same agent and
    state design reads the same independently seeded episodes (each keeps those where its intervention
    applies), played once. From the session seed alone, so the same under any invocation."""
    return int(np.random.SeedSequence([session_seed, 0x57A7E5]).generate_state(1, dtype=np.uint64)[0]) >> 1


@dataclass
class SessionState:
    settings: Settings
    started: float = field(default_factory=time.time)
    records: list[dict[str, Any]] = field(default_factory=list)
    agents: dict[str, Any] = field(default_factory=dict)
    finalized: list[dict[str, Any]] | None = None

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.finalized = None
        if self.settings.json_path:
            self.write_json(self.settings.json_path, partial=True)

    def final_records(self) -> list[dict[str, Any]]:
        """Records with p-values adjusted for multiple testing across the session."""
        if self.finalized is None:
            records = sorted(self.records, key=lambda r: r["nodeid"])
            judged = [r for r in records if r.get("verdict")]
            verdicts = [Verdict.from_dict(r["verdict"]) for r in judged]
            adjusted = adjust(verdicts, method=self.settings.correction) if verdicts else []
            for record, verdict in zip(judged, adjusted):
                record["adjusted_verdict"] = verdict.to_dict()
            self.finalized = records
        return self.finalized

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for record in self.final_records():
            outcome = (record.get("adjusted_verdict") or {}).get("outcome", record.get("status", "ERROR"))
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def to_dict(self, partial: bool = False) -> dict[str, Any]:
        records = self.final_records()
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "partial": partial,
            "settings": {k: v for k, v in vars(self.settings).items() if k != "json_path"},
            "counts": self.summary(),
            "versions": {"cfsal": cfsal.__version__, "torch": torch.__version__,
                         "python": platform.python_version()},
            "started": self.started,
            "duration_seconds": round(time.time() - self.started, 2),
            "hypotheses": records,
        }

    def write_json(self, path: str | os.PathLike, partial: bool = False) -> None:
        """Write atomically, so an interrupted session leaves the last complete file; the files it names
        (frames, movies) relative to its folder, so it moves with them (:mod:`cfsal.report.paths`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(relative_to(self.to_dict(partial=partial), path.parent), indent=2, sort_keys=True))
        os.replace(tmp, path)


#: Record keys that measure the run rather than the science: wall-clock time and where the
#: report's pictures were written. Everything else in a record is fixed by the seed.
RUN_KEYS = frozenset({"seconds", "media"})


def verdicts_json(results: dict[str, Any]) -> str:
    """The part of a results file that the seed fixes, as canonical JSON (sorted keys, no spaces).

    Two runs with the same ``--cfsal-seed`` must give byte-identical text here — whatever the
    machine load, ``-n`` or ``--cfsal-executor`` — because every random choice derives from the
    seed and the hypothesis id (:func:`hypothesis_seed`) and the rollouts forward in fixed blocks
    on one thread. Timing, versions and the executor settings are left out: they describe the
    run, not its verdicts.
    """
    records = [{k: v for k, v in record.items() if k not in RUN_KEYS}
               for record in sorted(results["hypotheses"], key=lambda r: r["nodeid"])]
    return json.dumps({"schema_version": results.get("schema_version"), "seed": results["settings"]["seed"],
                       "hypotheses": records}, sort_keys=True, separators=(",", ":"))
