"""The verdict table printed at the end of a pytest session (plain text, fixed width)."""

from __future__ import annotations

from typing import Any

COLUMNS = ("hypothesis", "agent", "n", "effect [95% CI]", "p", "p adj", "verdict")


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
    return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def _row(record: dict[str, Any]) -> tuple[str, ...]:
    name = record["nodeid"].split("::")[-1]
    verdict = record.get("adjusted_verdict") or record.get("verdict")
    if verdict is None:
        return (name, record.get("agent", "—"), "—", "—", "—", "—", record.get("status", "ERROR"))
    effect = f"{_fmt(verdict['effect'])} [{_fmt(verdict['ci_low'])}, {_fmt(verdict['ci_high'])}]"
    return (name, record.get("agent", "—"), str(verdict["n"]), effect, _fmt(verdict["p_value"]),
            _fmt(verdict.get("p_adjusted")), verdict["outcome"])


def verdict_table(records: list[dict[str, Any]]) -> list[str]:
    """One header line, one line per hypothesis; columns sized to their contents."""
    rows = [COLUMNS, *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    widths[0] = min(widths[0], 60)
    lines = []
    for row in rows:
        cells = [row[0][: widths[0]].ljust(widths[0]), *(c.ljust(w) for c, w in zip(row[1:], widths[1:]))]
        lines.append("  ".join(cells).rstrip())
    return lines
