"""The saliency-audit section of the HTML report: what saliency said, and what the interventions say.

``cfsal suggest`` writes an audit (``audit.json``): per saliency method, each object's enrichment
(its share of saliency against its share of the screen) and the claims written from it. Once the
generated files have run, the results JSON holds a verdict per claim. This section puts the two
side by side — per object an enrichment chart with CIs, per claim "saliency said … / the
intervention says …" — and counts, per method, the share of saliency-suggested claims that an
intervention SUPPORTED (with a Wilson 95% interval): the paper's question, answered with numbers.

:func:`render_audit_section` returns an escaped HTML fragment for the main report;
:func:`write_audit_page` wraps it in a standalone page (``cfsal suggest --report``).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # figures drawn off-screen, leaving the pyplot backend alone

from cfsal.errors import ReportError
from cfsal.report.numbers import json_number, non_finite_text

_COLOURS = {"SUPPORTED": "#1a7f37", "REFUTED": "#cf222e", "INCONCLUSIVE": "#9a6700", "ERROR": "#59636e",
            "not run": "#59636e"}
_LABEL_COLOURS = {"salient": "#0969da", "low": "#8c959f", "unclear": "#bf8700", "rare": "#d0d7de"}

_CSS = """
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:#1f2328; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 64px; }
table { border-collapse: collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid #d1d9e0; vertical-align:top; }
th { color:#59636e; font-weight:600; }
td.num { font-variant-numeric: tabular-nums; white-space:nowrap; }
.badge { display:inline-block; padding:1px 9px; border-radius:999px; color:#fff; font-size:12px; font-weight:600; }
.muted { color:#59636e; }
img.plot { max-width:100%; height:auto; border:1px solid #d1d9e0; border-radius:6px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    value = json_number(value)
    if isinstance(value, str):
        return _esc(value)
    special = non_finite_text(value)
    return special if special is not None else f"{value:.{digits}g}"


def _badge(outcome: str) -> str:
    return f'<span class="badge" style="background:{_COLOURS.get(outcome, "#59636e")}">{_esc(outcome)}</span>'


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "-", text).strip("-").lower()


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927): sensible at 0/n and n/n, unlike Wald."""
    if total == 0:
        return float("nan"), float("nan")
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def enrichment_chart(method_audit: Mapping[str, Any], path: Path, *, title: str) -> Path:
    """Per object: enrichment with its 95% CI on a log axis, 1 (no enrichment) marked."""
    objects = [o for o in method_audit["objects"] if o["enrichment"] is not None
               and math.isfinite(o["enrichment"]) and o["enrichment"] > 0]
    fig = Figure(figsize=(6.4, 0.45 * max(len(objects), 2) + 1.1), dpi=110)
    ax = fig.subplots()
    for i, o in enumerate(reversed(objects)):
        low, high = o["ci_low"], o["ci_high"]
        ax.plot([low, high], [i, i], color=_LABEL_COLOURS.get(o["label"], "#59636e"), lw=3, solid_capstyle="butt")
        ax.plot([o["enrichment"]], [i], "o", color=_LABEL_COLOURS.get(o["label"], "#59636e"), ms=7)
    ax.axvline(1.0, color="#59636e", lw=1, ls="--")
    ax.set_yticks(range(len(objects)), [o["name"].replace("_", " ") for o in reversed(objects)])
    ax.set_xscale("log")
    ax.set_xlabel("enrichment: saliency share / screen share (95% CI); 1 = as much as its area")
    ax.set_title(title, fontsize=11)
    if not objects:
        ax.text(0.5, 0.5, "the map is zero on every frame: nothing is salient", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _verdicts(results: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Results records by ``file::test`` (the node id's tail, whatever folder pytest ran from)."""
    out: dict[str, Mapping[str, Any]] = {}
    for record in (results or {}).get("hypotheses", []):
        nodeid = str(record.get("nodeid", ""))
        tail = nodeid.split("/")[-1]
        out[tail] = record
    return out


def _outcome(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "not run"
    verdict = record.get("adjusted_verdict") or record.get("verdict") or {}
    return str(verdict.get("outcome") or record.get("status") or "ERROR")


def _saliency_said(audit: Mapping[str, Any], claim: Mapping[str, Any]) -> str:
    parts = []
    methods = [claim["method"]] if claim.get("method") else claim.get("methods", [])
    for method in methods:
        finding = next((o for o in audit["methods"].get(method, {}).get("objects", []) if o["name"] == claim["object"]),
                       None)
        if finding is None:
            continue
        if claim["kind"] == "correlation":
            corr = next((c for c in finding["correlations"] if c["variable"] == claim["variable"]), None)
            if corr is not None:
                parts.append(f"{method}: saliency on the {claim['object']} vs its {claim['variable']}, "
                             f"r = {corr['r']:+.2f} [{corr['ci_low']:+.2f}, {corr['ci_high']:+.2f}]")
        else:
            parts.append(f"{method}: enrichment {_num(finding['enrichment'])} [{_num(finding['ci_low'])}, "
                         f"{_num(finding['ci_high'])}], rank {finding['rank']}, {finding['label']}")
    return "; ".join(parts) or "—"


def _intervention_says(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return '<span class="muted">not run yet: <code>pytest</code> the files, then pass the results JSON</span>'
    verdict = record.get("adjusted_verdict") or record.get("verdict") or {}
    outcome = _outcome(record)
    effect = verdict.get("effect")
    text = (f" effect {_num(effect)} [{_num(verdict.get('ci_low'))}, {_num(verdict.get('ci_high'))}], "
            f"n = {verdict.get('n', '—')}, adjusted p = {_num(verdict.get('p_adjusted'))}") if verdict else ""
    return _badge(outcome) + _esc(text)


def _per_method(audit: Mapping[str, Any], verdicts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Per method: suggested (effect and correlation) claims that ran, and how many were SUPPORTED."""
    rows = []
    for method in audit["methods"]:
        suggested = [c for c in audit.get("claims", []) if c["kind"] in ("effect", "correlation")
                     and method in ([c["method"]] if c.get("method") else c.get("methods", []))]
        ran = [c for c in suggested if f"{c['file']}::{c['test']}" in verdicts]
        supported = sum(_outcome(verdicts[f"{c['file']}::{c['test']}"]) == "SUPPORTED" for c in ran)
        low, high = wilson_interval(supported, len(ran))
        share = f"{supported}/{len(ran)} = {supported / len(ran):.0%} (95% CI {low:.0%}–{high:.0%})" if ran else "—"
        rows.append(f"<tr><td>{_esc(method)}</td><td class='num'>{len(suggested)}</td><td class='num'>{len(ran)}</td>"
                    f"<td class='num'>{_esc(share)}</td></tr>")
    return rows


def render_audit_section(audit: Mapping[str, Any], results: Mapping[str, Any] | None,
                         media_dir: str | os.PathLike) -> str:
    """The audit as an HTML fragment (a ``<section>``); charts are written into ``media_dir``.

    Image links are ``<media_dir name>/<file>``: the page must sit beside ``media_dir`` (as the
    main report's ``<name>_files/`` does). ``results`` (a cfsal results JSON dict, or None) adds
    each claim's verdict. Every string from the audit or the results is escaped.
    """
    if audit.get("kind") != "cfsal-saliency-audit":
        raise ReportError("render_audit_section: the dict is not a cfsal saliency audit (kind "
                          f"{audit.get('kind')!r}); pass the audit.json `cfsal suggest` wrote.")
    media_dir = Path(media_dir)
    verdicts = _verdicts(results)
    agent = str(audit["agent"])
    out = [f'<section class="card audit" id="audit-{_esc(_slug(agent))}">',
           f"<h2>Saliency audit: {_esc(agent)}</h2>",
           (f'<p class="muted">{_esc(audit["game"])}, weights sha256 <code>{_esc(str(audit["agent_sha256"])[:12])}…'
            f'</code>; {_esc(audit["frames"])} frames of {len(audit["episodes"])} episodes (seed {_esc(audit["seed"])}, '
            f'every {_esc(audit["every"])} steps); CIs: {_esc(audit["bootstrap"]["scheme"])}, '
            f'{_esc(audit["bootstrap"]["resamples"])} resamples.</p>')]
    if audit.get("command"):
        out.append(f"<p><code>{_esc(audit['command'])}</code></p>")
    for method, result in audit["methods"].items():
        chart = enrichment_chart(result, media_dir / f"audit-{_slug(agent)}-{_slug(method)}.png",
                                 title=f"{agent}: {method} saliency ({result['output']} map)")
        out.append(f"<h3>{_esc(method)}</h3>")
        out.append(f'<img class="plot" src="{_esc(media_dir.name)}/{_esc(chart.name)}" '
                   f'alt="enrichment of each object under {_esc(method)} saliency, with 95% CIs">')
        out.append("<table><tr><th>rank</th><th>object</th><th>saliency share</th><th>screen share</th>"
                   "<th>enrichment [95% CI]</th><th>label</th><th>correlations found</th></tr>")
        for o in result["objects"]:
            corr = "; ".join(f"{c['variable']} r = {c['r']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"
                             for c in o["correlations"] if c["found"]) or "—"
            out.append(f"<tr><td class='num'>{_esc(o['rank'])}</td><td>{_esc(o['name'])}</td>"
                       f"<td class='num'>{_esc(_num(100 * o['saliency_share']))}%</td>"
                       f"<td class='num'>{_esc(_num(100 * o['screen_share']))}%</td>"
                       f"<td class='num'>{_esc(_num(o['enrichment']))} [{_esc(_num(o['ci_low']))}, "
                       f"{_esc(_num(o['ci_high']))}]</td><td>{_esc(o['label'])}</td><td>{_esc(corr)}</td></tr>")
        out.append("</table>")
        out.append(f'<p class="muted">{_esc(_num(100 * result["rest_share"]))}% of the saliency lies on no object; '
                   f"the map is zero on {_esc(result['zero_frames'])} of {_esc(result['frames'])} frames.</p>")
    out.append("<h3>Claims: saliency said … / the intervention says …</h3>")
    if audit.get("claims"):
        out.append("<table><tr><th>claim</th><th>kind</th><th>saliency said</th><th>the intervention says</th></tr>")
        for claim in audit["claims"]:
            key = f"{claim['file']}::{claim['test']}"
            out.append(f"<tr><td>{_esc(claim['claim'])}<br><code>{_esc(key)}</code></td><td>{_esc(claim['kind'])}</td>"
                       f"<td>{_esc(_saliency_said(audit, claim))}</td>"
                       f"<td>{_intervention_says(verdicts.get(key))}</td></tr>")
        out.append("</table>")
        out.append("<h3>Of the claims saliency suggested, how many did an intervention support?</h3>")
        out.append("<table><tr><th>method</th><th>claims suggested</th><th>run</th><th>SUPPORTED</th></tr>")
        out.extend(_per_method(audit, verdicts))
        out.append("</table>")
    else:
        out.append('<p class="muted">No claims: no object was clearly salient or clearly not.</p>')
    out.append("</section>")
    return "\n".join(out)


def _read_json(path: str | os.PathLike, what: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"cannot read the {what} {str(path)!r} ({error}).") from None


def write_audit_page(audit: str | os.PathLike | Mapping[str, Any], path: str | os.PathLike, *,
                     results: str | os.PathLike | Mapping[str, Any] | None = None) -> Path:
    """A standalone page with the audit section; its charts go to ``<page stem>_files/`` beside it."""
    audit_data = audit if isinstance(audit, Mapping) else _read_json(audit, "audit")
    results_data = results if isinstance(results, Mapping) or results is None else _read_json(results, "results")
    if results_data is not None and "hypotheses" not in results_data:
        raise ReportError("the results file has no 'hypotheses' list: pass the JSON pytest wrote with --cfsal-json.")
    path = Path(path)
    media_dir = path.with_name(path.stem + "_files")
    section = render_audit_section(audit_data, results_data, media_dir)
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>cfsal audit: "
            f"{_esc(audit_data['agent'])}</title><style>{_CSS}</style></head><body><main>{section}</main></body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
