"""What the session summary says besides the table: verdicts the correction changed, the declared
state distributions, and samples that came from repeated situations."""

from __future__ import annotations

from typing import Any

from cfsal.rollout.design import States, design_of_record


def changed_by_correction(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hypotheses whose verdict at the adjusted level differs from their verdict alone."""
    return [r for r in records if r.get("verdict") and r.get("adjusted_verdict")
            and r["verdict"]["outcome"] != r["adjusted_verdict"]["outcome"]]


def designs_used(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each declared state distribution of the session (its description) and the hypotheses drawn from it."""
    found: dict[str, list[str]] = {}
    for record in records:
        design = design_of_record(record.get("result") or {})
        if design is not None:
            found.setdefault(design.states.describe(), []).append(record["nodeid"])
    return found


def repeated_situations(records: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(nodeid, n, distinct situations) of the periodic-design hypotheses some of whose samples branched
    from the same game situation: replayed games or frozen screens of consecutive branch points. (With
    independently seeded episodes, two that meet in one situation are independent draws: not noted.)"""
    found = []
    for record in records:
        result = record.get("result") or {}
        design = design_of_record(result)
        if design is not None and isinstance(design.states, States):
            continue
        n, distinct = result.get("n"), result.get("distinct_situations")
        if n is not None and distinct is not None and distinct < n:
            found.append((record["nodeid"], int(n), int(distinct)))
    return found


