"""What changed between two sessions' results (a baseline JSON and the current one).

The question a retrained agent or a changed engine raises is "which claims moved?": a verdict
that flipped, an effect that left the baseline's confidence interval, a p-value that crossed α.
Hypotheses are matched by their pytest node id; the rest are new or removed. Pure functions over
the results dicts (``SessionState.to_dict()``), so the comparison is testable without pytest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Settings whose change makes two sessions' numbers differ by design (worth saying first).
SETTING_KEYS = ("seed", "samples", "alpha", "correction", "agent_override")


def summary_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of one hypothesis record that a comparison looks at (verdict at the adjusted level)."""
    verdict = record.get("adjusted_verdict") or record.get("verdict") or {}
    return {"outcome": verdict.get("outcome", record.get("status", "ERROR")),
            "effect": verdict.get("effect"), "ci_low": verdict.get("ci_low"), "ci_high": verdict.get("ci_high"),
            "p_value": verdict.get("p_value"), "p_adjusted": verdict.get("p_adjusted"), "n": verdict.get("n"),
            "agent": record.get("agent")}


@dataclass(frozen=True)
class Change:
    """One hypothesis in either session: its numbers before and after, and what changed."""

    nodeid: str
    claim: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def status(self) -> str:
        """``new``, ``removed``, ``verdict changed``, ``effect moved`` or ``unchanged``."""
        if self.before is None:
            return "new"
        if self.after is None:
            return "removed"
        if self.before["outcome"] != self.after["outcome"]:
            return "verdict changed"
        if self.effect_left_ci:
            return "effect moved"
        return "unchanged"

    @property
    def effect_left_ci(self) -> bool:
        """Whether the current effect lies outside the baseline's confidence interval."""
        if self.before is None or self.after is None:
            return False
        low, high, effect = self.before["ci_low"], self.before["ci_high"], self.after["effect"]
        if low is None or high is None or effect is None:
            return False
        return not low <= effect <= high

    @property
    def effect_delta(self) -> float | None:
        if self.before is None or self.after is None or None in (self.before["effect"], self.after["effect"]):
            return None
        return self.after["effect"] - self.before["effect"]


@dataclass(frozen=True)
class Comparison:
    """Every hypothesis of both sessions, plus the settings and versions that differ."""

    changes: tuple[Change, ...]
    settings: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    versions: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    baseline_started: float | None = None

    def count(self, status: str) -> int:
        return sum(change.status == status for change in self.changes)


def _differences(before: Mapping[str, Any], after: Mapping[str, Any], keys: Any = None) -> dict[str, tuple[Any, Any]]:
    keys = keys if keys is not None else sorted(set(before) | set(after))
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def compare(results: Mapping[str, Any], baseline: Mapping[str, Any]) -> Comparison:
    """Match hypotheses by node id; report per-hypothesis changes, and differing settings and versions.

    Order: verdict changes first, then moved effects, new, removed, unchanged (each by node id),
    so the page leads with what a reader must look at.
    """
    now = {r["nodeid"]: r for r in results.get("hypotheses", [])}
    then = {r["nodeid"]: r for r in baseline.get("hypotheses", [])}
    changes = [Change(nodeid, (now.get(nodeid) or then[nodeid]).get("claim", ""),
                      summary_of(then[nodeid]) if nodeid in then else None,
                      summary_of(now[nodeid]) if nodeid in now else None)
               for nodeid in sorted(set(now) | set(then))]
    order = {"verdict changed": 0, "effect moved": 1, "new": 2, "removed": 3, "unchanged": 4}
    changes.sort(key=lambda c: (order[c.status], c.nodeid))
    return Comparison(tuple(changes),
                      settings=_differences(baseline.get("settings", {}), results.get("settings", {}), SETTING_KEYS),
                      versions=_differences(baseline.get("versions", {}), results.get("versions", {})),
                      baseline_started=baseline.get("started"))
