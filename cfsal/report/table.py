"""Verdict tables: plain text for the end of a pytest session, Markdown for a README."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from cfsal.report.numbers import json_number, number_text
from cfsal.rollout.design import Selection, design_of_record

COLUMNS = ("hypothesis", "agent", "n", "effect [CI]", "p", "p adj", "verdict")


def _fmt(value: float | str | None) -> str:
    """A number in a table cell: as on the HTML page, but with one decimal in scientific notation."""
    return number_text(value, exponent_digits=1)


def _row(record: dict[str, Any]) -> tuple[str, ...]:
    name = record["nodeid"].split("::")[-1]
    verdict = record.get("adjusted_verdict") or record.get("verdict")
    if verdict is None:
        return (name, record.get("agent", "—"), "—", "—", "—", "—", record.get("status", "ERROR"))
    effect = _effect(verdict)
    return (name, record.get("agent", "—"), str(verdict["n"]), effect, _fmt(verdict["p_value"]),
            _fmt(verdict.get("p_adjusted")), verdict["outcome"])


def _effect(verdict: dict[str, Any]) -> str:
    """The effect and its interval, with the interval's level where it is not 95%."""
    return f"{_fmt(verdict['effect'])} [{_fmt(verdict['ci_low'])}, {_fmt(verdict['ci_high'])}]{_level(verdict)}"


def _level(verdict: dict[str, Any]) -> str:
    """The interval's level when it is not 95% (no-effect claims: 90%; a group-sequential look: 1 − wₖ·α)."""
    confidence = json_number(verdict.get("confidence"))
    if not isinstance(confidence, float) or abs(confidence - 0.95) < 1e-9:
        return ""
    return f" {100 * confidence:.4g}%"


def selection_text(selection: dict[str, Any]) -> str:
    """What drawing the samples set aside, from a result's ``selection`` record."""
    return Selection.from_dict(selection).describe()


def states_text(result: dict[str, Any]) -> str:
    """Which states a verdict speaks about (the result's declared design, read from either JSON
    layout: ``design_of_record``) and what drawing them set aside."""
    design, selection = design_of_record(result), result.get("selection")
    text = "—" if design is None else design.states.describe()
    return f"{text}; {selection_text(selection)}" if selection else text


def set_aside(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(nodeid, selection text) of the hypotheses some of whose candidate states were set aside."""
    found = []
    for record in records:
        selection = (record.get("result") or {}).get("selection") or {}
        if selection.get("candidates", 0) > selection.get("kept", 0):
            found.append((record["nodeid"], selection_text(selection)))
    return found


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


def _thumbnail(record: dict[str, Any], directory: Path, width: int) -> Path | None:
    """A small copy of the hypothesis's typical (else first) before/after picture, or None."""
    branches = (record.get("media") or {}).get("branches") or []
    pictures = [b for b in branches if b.get("label") == "typical"] or branches
    if not pictures or not pictures[0].get("image") or not Path(pictures[0]["image"]).is_file():
        return None
    target = directory / (Path(pictures[0]["image"]).stem + ".png")
    with Image.open(pictures[0]["image"]) as image:
        image.thumbnail((width, width * 4))
        image.save(target, optimize=True)
    return target


def markdown_table(results: dict[str, Any], *, thumbnails: str | os.PathLike | None = None,
                   link_from: str | os.PathLike = ".", width: int = 240) -> list[str]:
    """The verdicts as a Markdown table (for a README or a pull request), one row per hypothesis.

    With ``thumbnails`` a small copy of each hypothesis's typical before/after picture is written
    there and shown in the row, linked relative to ``link_from`` (the Markdown file's folder), so
    the table can be committed with its pictures while reports/ stays generated output.
    """
    directory = None if thumbnails is None else Path(thumbnails)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    lines = ["| hypothesis | agent | claim | states | verdict | effect [CI] | n | p adj | picture |",
             "|---|---|---|---|---|---|---:|---:|---|"]
    for record in results.get("hypotheses", []):
        name = record["nodeid"].replace("hypotheses/", "")
        verdict = record.get("adjusted_verdict") or record.get("verdict")
        picture = ""
        if directory is not None and (thumb := _thumbnail(record, directory, width)) is not None:
            picture = f"![]({os.path.relpath(thumb, link_from)})"
        claim = record.get("claim", "").replace("|", "\\|")
        states = states_text(record["result"]) if record.get("result") else "—"
        if verdict is None:
            lines.append(f"| `{name}` | {record.get('agent', '—')} | {claim} | {states} | "
                         f"{record.get('status', 'ERROR')} | — | — | — | {picture} |")
            continue
        effect = _effect(verdict)
        lines.append(f"| `{name}` | {record.get('agent', '—')} | {claim} | {states} | **{verdict['outcome']}** "
                     f"| {effect} | {verdict['n']} | {_fmt(verdict.get('p_adjusted'))} | {picture} |")
    return lines
