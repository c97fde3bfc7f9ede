"""``suggest``: audit an agent's saliency, turn the findings into claims, size them, write the files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cfsal.agents.base import Agent
from cfsal.suggest.audit import Audit, Progress, run_audit
from cfsal.suggest.claims import PILOT_SAMPLES, plan_claims, size_claims
from cfsal.suggest.render import write_files

AUDIT_FILE = "audit.json"


def suggest(agent: Agent, out: str | Path, *, episodes: int = 5, methods: Sequence[str] = ("perturbation",),
            seed: int = 0, max_steps: int = 1000, every: int = 10,
            params: Mapping[str, Mapping[str, Any]] | None = None, claims: str = "salient",
            pilot: int = PILOT_SAMPLES, cache: str | Path | None = None, command: str = "",
            progress: Progress | None = None) -> Audit:
    """Audit ``agent`` (see :func:`cfsal.suggest.audit.run_audit`), write one hypothesis file per
    object with claims into ``out`` and the audit, with the claims it led to, as ``out/audit.json``.

    Every random choice (episodes, bootstrap, pilots) derives from ``seed``.
    """
    audit = run_audit(agent, episodes=episodes, methods=methods, seed=seed, max_steps=max_steps, every=every,
                      params=params, cache=cache, progress=progress)
    plans = size_claims(agent, plan_claims(audit, mode=claims), seed=seed, pilot=pilot, progress=progress)
    written = write_files(audit, plans, out)
    records = tuple({**plan.to_dict(), "file": name} for name, items in written.items() for plan in items)
    audit = replace(audit, claims=records, command=command)
    audit.save(Path(out) / AUDIT_FILE)
    return audit
