"""The HTML report: one self-contained page per session, its pictures in a folder beside it.

Researchers read results as pictures — the distribution of paired effects, the frame, where the
map glows, what the intervention changed — so the page shows them next to the numbers behind
each verdict (effect, CI, raw and adjusted p, n, seed, intervention). It is plain HTML with
inline CSS: no scripts, no fonts or styles fetched from anywhere, so it opens offline, from a
CI artifact or a mail attachment. Images are PNG/GIF files in ``<name>_files/`` beside the page
(linked, not inlined), which keeps the page light. Everything a user wrote (claims, node ids,
intervention parameters, error messages) is escaped.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from cfsal.report.audit import render_audit_section
from cfsal.report.compare import Comparison, compare
from cfsal.report.media import pick_branches
from cfsal.report.numbers import number_text
from cfsal.report.plots import COLOURS, plot_confidence_sequence, plot_correlation, plot_paired_effects
from cfsal.report.style import PAGE_CSS
from cfsal.report.table import states_text
from cfsal.rollout.design import design_of_record

#: Verdicts of counterfactual hypotheses, then outcomes of property-based searches (HELD: no
#: counterexample found; COUNTEREXAMPLE: one found), then ERROR.
OUTCOMES = ("SUPPORTED", "REFUTED", "INCONCLUSIVE", "HELD", "COUNTEREXAMPLE", "ERROR")


def esc(value: Any) -> str:
    """Escape anything for HTML text and attributes (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number as a reader wants it (:func:`~cfsal.report.numbers.number_text`), escaped for the page."""
    return esc(number_text(value, digits))


def badge(outcome: str, *, outline: bool = False) -> str:
    colour = COLOURS.get(outcome, COLOURS["ERROR"])
    style = f"color:{colour}" if outline else f"background:{colour}"
    return f'<span class="badge{" outline" if outline else ""}" style="{style}">{esc(outcome)}</span>'


def outcome_of(record: Mapping[str, Any]) -> str:
    """The verdict to cite: adjusted across the session if available, else raw, else the status."""
    verdict = record.get("adjusted_verdict") or record.get("verdict") or {}
    return verdict.get("outcome", record.get("status", "ERROR"))


def slug(nodeid: str) -> str:
    """A file- and anchor-safe name for a hypothesis: readable part + hash (node ids may collide when cut)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid.split("::")[-1]).strip("-")[:60] or "hypothesis"
    return f"{name}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"


def _href(target: Path, page_dir: Path) -> str:
    return esc(quote(Path(os.path.relpath(target, page_dir)).as_posix()))


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- media -----------------------------------------------------------------------------------------
def _local_copy(source: str | None, media_dir: Path) -> Path | None:
    """The media file inside ``media_dir`` (copied there if it lives elsewhere); None if missing."""
    if not source:
        return None
    path = Path(source)
    if not path.is_file():
        return None
    if path.resolve().parent != media_dir.resolve():
        target = media_dir / path.name
        shutil.copyfile(path, target)
        return target
    return path


def _plot(record: Mapping[str, Any], media_dir: Path) -> Path | None:
    result = record.get("result") or {}
    values = result.get("values")
    if not values:
        return None
    highlight = {b["label"]: b["index"] for b in (record.get("media") or {}).get("branches", [])} \
        or pick_branches(values)
    verdict = record.get("adjusted_verdict") or record.get("verdict")
    if result.get("covariate") is not None:
        return plot_correlation(np.asarray(result["covariate"], dtype=float), np.asarray(values, dtype=float),
                                media_dir / f"{slug(record['nodeid'])}-correlation.png", verdict=verdict,
                                x_label=result.get("covariate_measure") or "x",
                                y_label=result.get("measure", "y"), highlight=highlight)
    return plot_paired_effects(np.asarray(values, dtype=float), media_dir / f"{slug(record['nodeid'])}-effects.png",
                               verdict=verdict, measure=result.get("measure", "measure"),
                               margin=(record.get("spec") or {}).get("margin"), highlight=highlight)


def _sequence_plot(record: Mapping[str, Any], media_dir: Path) -> Path | None:
    sequential = record.get("sequential")
    if not sequential or not sequential.get("looks"):
        return None
    result = record.get("result") or {}
    spec = record.get("spec") or {}
    correlation = result.get("covariate") is not None
    return plot_confidence_sequence(sequential, media_dir / f"{slug(record['nodeid'])}-sequential.png",
                                    verdict=record.get("verdict"),
                                    measure="correlation" if correlation else result.get("measure", "measure"),
                                    margin=spec.get("margin"))


def _sequential_text(record: Mapping[str, Any]) -> str:
    """Where and why a sequential test stopped, in words, under its plot."""
    sequential = record.get("sequential")
    if not sequential:
        return ""
    looks = sequential.get("looks", [])
    plan = sequential.get("plan", {})
    group = plan.get("design") == "group" or sequential.get("method") == "group-sequential"
    why = {"decided": f"its {'group-sequential' if group else 'anytime-valid'} test decided",
           "max_samples": f"it reached its maximum of {plan.get('unit_limit', plan.get('limit', '—'))} "
                          f"{plan.get('unit', 'samples')} undecided",
           "budget": "the session's budget ran out before it decided",
           "futility": "no decision was in reach by its maximum (futility stop)"}.get(sequential.get("stopped"), "—")
    last_planned = plan.get("unit_limit", plan.get("limit"))
    if group and sequential.get("stopped") == "decided" and looks and looks[-1]["n"] == last_planned:
        why = "its last planned look (the fixed-n test at its share of α) decided"
    rows = "".join(f'<tr><td class="num">{esc(look["n"])}</td><td class="num">{fmt(look["estimate"])}</td>'
                   f'<td class="num">[{fmt(look["ci_low"])}, {fmt(look["ci_high"])}]</td>'
                   f'<td class="num">{fmt(look["p_value"])}</td><td>{esc(look["decision"])}</td></tr>' for look in looks)
    stop_level = (f'Support stops the sampling at α = {fmt(sequential.get("alpha_stop"))} (α shared by '
                  f'{esc(plan.get("family", 1))} hypotheses)')
    if group:
        planned = ", ".join(str(n) for n in plan.get("planned_looks", [])) or "—"
        weights = ", ".join(fmt(w) for w in plan.get("look_weights", [])) or "—"
        design = (f'Group-sequential: planned looks at n = {esc(planned)}, with shares {esc(weights)} of α; it '
                  f'stopped at n = {esc(looks[-1]["n"] if looks else "—")} because {esc(why)}. {stop_level}, each '
                  "look at its share; each interval is at its look's level, so all hold at once (Bonferroni).")
        header, p_name = "interval at the look's level", "group-sequential p"
    else:
        design = (f'Looked after every {esc(plan.get("batch", "—"))} samples and stopped at n = '
                  f'{esc(looks[-1]["n"] if looks else "—")} because {esc(why)}. {stop_level}; the band is valid '
                  f'at every look at once ({esc(sequential.get("method", ""))}).')
        header, p_name = "confidence sequence", "anytime p"
    return (f'<h3>Sequential test</h3><p class="note">{design}</p>'
            f'<table><thead><tr><th>n</th><th>estimate</th><th>{header}</th><th>{p_name}</th>'
            f'<th>decision</th></tr></thead><tbody>{rows}</tbody></table>')


# -- sections ------------------------------------------------------------------------------------
def _summary(results: Mapping[str, Any], records: list[Mapping[str, Any]], source: str | None) -> str:
    settings = results.get("settings", {})
    counts = {o: 0 for o in OUTCOMES}
    for record in records:
        counts[outcome_of(record)] = counts.get(outcome_of(record), 0) + 1
    badges = "".join(f"{badge(o)} <span>{n}</span>" if n else "" for o, n in counts.items())
    agents = sorted({str(r.get("agent")) for r in records if r.get("agent")})
    versions = ", ".join(f"{esc(k)} {esc(v)}" for k, v in sorted(results.get("versions", {}).items()))
    facts = [
        ("hypotheses", f"{len(records)}"),
        ("agents", esc(", ".join(agents) or "—")),
        ("seed", f'<span class="mono">{esc(settings.get("seed", "—"))}</span>'),
        ("statistics", (f"α = {esc(settings.get('alpha', '—'))}, {esc(settings.get('correction', '—'))} "
                        f"correction across the session, {esc(settings.get('samples', '—'))} samples per "
                        f"hypothesis by default, failing on {esc(settings.get('fail_on', '—'))}")),
        ("started", esc(_when(results.get("started")))),
        ("duration", f"{fmt(results.get('duration_seconds'), 1)} s"),
        ("versions", versions or "—"),
    ]
    sequential = [r for r in records if r.get("sequential")]
    if sequential:
        used = sum(int((r.get("result") or {}).get("n", 0)) for r in sequential)
        most = sum(int((r["sequential"].get("plan") or {}).get("limit", 0)) for r in sequential)
        decided = sum(r["sequential"].get("stopped") == "decided" for r in sequential)
        text = (f"{len(sequential)} of {len(records)} hypotheses tested sequentially: {decided} decided before "
                f"their limit, {used} paired samples used of at most {most}")
        facts.insert(4, ("sequential", text))
    if settings.get("agent_override"):
        facts.insert(2, ("agent override", f'<span class="mono">{esc(settings["agent_override"])}</span>'))
    if source:
        facts.append(("results", f'<span class="mono">{esc(source)}</span>'))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<section class="card summary"><h2>Summary</h2><div class="counts">{badges}</div>'
            f'<p class="muted">Verdicts at the level adjusted for multiple testing across the session '
            f'(the ones to cite); each hypothesis also shows its raw verdict.</p><dl class="facts">{rows}</dl></section>')


def _index_table(records: list[Mapping[str, Any]]) -> str:
    rows = []
    for record in records:
        verdict = record.get("adjusted_verdict") or record.get("verdict") or {}
        effect = (f"{fmt(verdict.get('effect'))} [{fmt(verdict.get('ci_low'))}, {fmt(verdict.get('ci_high'))}]"
                  if verdict else "—")
        rows.append(
            f'<tr><td><a href="#{slug(record["nodeid"])}">{esc(record["nodeid"].split("::")[-1])}</a></td>'
            f'<td>{esc(record.get("agent", "—"))}</td><td class="num">{esc(verdict.get("n", "—"))}</td>'
            f'<td class="num">{effect}</td><td class="num">{fmt(verdict.get("p_value"))}</td>'
            f'<td class="num">{fmt(verdict.get("p_adjusted"))}</td><td>{badge(outcome_of(record))}</td></tr>')
    return ('<section class="card"><h2>Hypotheses</h2><table><thead><tr><th>hypothesis</th><th>agent</th>'
            '<th>n</th><th>effect [CI]</th><th>p</th><th>p adj</th><th>verdict</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _intervention_text(spec: Any) -> str:
    if isinstance(spec, Mapping):
        if spec.get("name") == "round_robin":
            return "round robin over: " + "; ".join(_intervention_text(part) for part in spec["interventions"])
        if "interventions" in spec:
            return " + ".join(_intervention_text(part) for part in spec["interventions"])
        params = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name" and v is not None)
        return f"{spec.get('name', '?')}({params})"
    if isinstance(spec, list):
        return " + ".join(_intervention_text(part) for part in spec)
    return str(spec)


def _chosen_text(chosen: list[Any]) -> str:
    """What a state-dependent intervention chose across the branches: the most frequent choices, counted."""
    counts: dict[str, int] = {}
    for choice in chosen:
        text = json.dumps(choice, sort_keys=True)
        counts[text] = counts.get(text, 0) + 1
    common = sorted(counts.items(), key=lambda item: -item[1])[:3]
    more = f"; {len(counts) - len(common)} other choices" if len(counts) > len(common) else ""
    return "; ".join(f"<code>{esc(text)}</code> ×{count}" for text, count in common) + esc(more)


def _claim_text(spec: Mapping[str, Any], verdict: Mapping[str, Any]) -> str:
    kind = spec.get("kind") or (verdict.get("claim") or {}).get("kind", "—")
    parts = [kind]
    if spec.get("alternative") and spec["alternative"] != "two-sided":
        parts.append(spec["alternative"])
    if spec.get("margin") is not None:
        parts.append(f"margin ±{spec['margin']}")
    return ", ".join(str(p) for p in parts)


def _sources(result: Mapping[str, Any]) -> str:
    """Where the samples came from: episodes, and distinct situations when some repeat (replayed
    games, frozen screens), since repeats are not independent samples."""
    episodes, distinct, n = result.get("episodes"), result.get("distinct_situations"), result.get("n")
    if not episodes:
        return ""
    count = len(set(episodes))
    text = f"from {count} episode{'s' if count != 1 else ''}"
    if distinct is not None and n is not None and distinct < n:
        text += f", {distinct} distinct situations"
    return f' <span class="muted">{esc(text)}</span>'


def _facts(record: Mapping[str, Any]) -> str:
    verdict = record.get("verdict") or {}
    adjusted = record.get("adjusted_verdict") or verdict
    result = record.get("result") or {}
    design = design_of_record(result)
    spec = record.get("spec") or {}
    confidence = adjusted.get("confidence")
    level = f"{confidence * 100:.0f}% CI" if confidence else "CI"
    took = result.get("took_effect")
    facts = [
        ("effect", (f'<span class="num"><b>{fmt(adjusted.get("effect"))}</b> [{fmt(adjusted.get("ci_low"))}, '
                    f'{fmt(adjusted.get("ci_high"))}] <span class="muted">{level}</span></span>')),
        ("p", f'{fmt(verdict.get("p_value"))} raw · {fmt(adjusted.get("p_adjusted"))} adjusted'),
        ("n", esc(adjusted.get("n", result.get("n", "—"))) + _sources(result)),
        ("claim kind", esc(_claim_text(spec, adjusted))),
        ("measure", esc(result.get("measure", "—")) + (f' <span class="muted">bounds {esc(result["bounds"])}</span>'
                                                       if result.get("bounds") else "")),
        ("intervention", f'<code>{esc(_intervention_text(result.get("intervention", "—")))}</code>'),
        *([("chosen", _chosen_text(result["chosen"]))] if result.get("chosen") else []),
        ("states", esc(states_text(result))),
        ("branching", esc(design.describe(states=False) if design else "—")
                      + (f"; took effect in {sum(map(bool, took))} of {len(took)}" if took else "")),
        ("agent", esc(f'{record.get("agent", "—")} on {record.get("game", "—")}')),
        ("seed", f'<span class="mono">{esc(record.get("seed", "—"))}</span>'),
        ("test", esc(adjusted.get("test", "—"))),
        ("time", f'{fmt(record.get("seconds"), 1)} s'),
    ]
    if adjusted.get("samples_needed"):
        facts.insert(3, ("samples needed", esc(adjusted["samples_needed"])))
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _frames(record: Mapping[str, Any], media_dir: Path, page_dir: Path, from_json_only: bool) -> str:
    media = record.get("media")
    if not media:
        if not record.get("result"):
            return ""
        why = ("this report was rebuilt from the results JSON, which holds the numbers but no frames"
               if from_json_only else "no frames were rendered for this hypothesis")
        return (f'<h3>Branches</h3><p class="note">No before/after frames: {why}. Run the hypotheses with '
                'pytest (its report, <code>reports/index.html</code> unless <code>--cfsal-html</code> says otherwise, '
                'renders them from the in-memory results).</p>')
    figures = []
    for branch in media.get("branches", []):
        image = _local_copy(branch.get("image"), media_dir)
        source = ("game frame (RGB)" if branch.get("source") == "rgb" else "the agent's 84×84 observation")
        varied = (record.get("result") or {}).get("intervention", {}).get("name") == "round_robin"
        caption = (f'<b>{esc(branch["label"])} branch</b> — episode {esc(branch["episode"])}, step '
                   f'{esc(branch["step"])}, paired difference {fmt(branch["value"])}'
                   + (f' under <code>{esc(_intervention_text(branch.get("intervention")))}</code>' if varied and branch.get("intervention") else "")
                   + ("" if branch.get("took_effect", True) else " (the edit did not take effect)")
                   + (f'; it chose <code>{esc(json.dumps(branch["chosen"]))}</code>' if branch.get("chosen") is not None else "")
                   + f'<br>{esc(source)}; left: before, right: after the intervention; bottom row: '
                   f'{esc(media.get("method", "saliency"))} saliency (actor blue, critic red); cyan: pixels that changed')
        body = (f'<img src="{_href(image, page_dir)}" alt="{esc(branch["label"])} branch before and after">'
                if image else '<p class="note">(image file missing)</p>')
        figures.append(f"<figure>{body}<figcaption>{caption}</figcaption></figure>")
    movie = _local_copy(media.get("movie"), media_dir)
    movie_link = (f'<p><a href="{_href(movie, page_dir)}">Movie of the {"extreme" if len(figures) > 1 else "typical"} '
                  'branch</a> <span class="note">(GIF, one frame per step: factual left, intervened right, with saliency on a coarser grid)</span></p>'
                  if movie else "")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in media.get("notes", []))
    return f'<h3>Branches</h3><div class="frames">{"".join(figures)}</div>{movie_link}{notes}'


def _hypothesis(record: Mapping[str, Any], media_dir: Path, page_dir: Path, from_json_only: bool) -> str:
    nodeid = record["nodeid"]
    verdict = record.get("verdict") or {}
    adjusted = record.get("adjusted_verdict") or {}
    head = (f'<div class="hyp-head"><div><h2>{esc(nodeid.split("::")[-1])}</h2>'
            f'<div class="mono muted">{esc(nodeid)}</div></div>'
            f'<div>{badge(outcome_of(record))}'
            + (f' <span class="muted">raw</span> {badge(verdict["outcome"], outline=True)}' if verdict else "")
            + "</div></div>")
    claim = f'<blockquote class="claim">{esc(record.get("claim", ""))}</blockquote>'
    if record.get("status") == "HELD":
        return (f'<section class="card" id="{slug(nodeid)}">{head}{claim}<p>The property held: the search found '
                f'no counterexample ({fmt(record.get("seconds"), 1)} s).</p></section>')
    if record.get("error") or not verdict:
        error = esc(record.get("error") or f"no verdict (status {record.get('status', 'ERROR')})")
        return f'<section class="card" id="{slug(nodeid)}">{head}{claim}<div class="error">{error}</div></section>'
    explanation = esc(adjusted.get("explanation") or verdict.get("explanation", ""))
    plot = _plot(record, media_dir)
    plot_html = (f'<a href="{_href(plot, page_dir)}"><img class="plot" src="{_href(plot, page_dir)}" '
                 'alt="paired differences, one per branch, with the confidence interval"></a>' if plot else "")
    sequence = _sequence_plot(record, media_dir)
    if sequence:
        plot_html += (f'<a href="{_href(sequence, page_dir)}"><img class="plot" src="{_href(sequence, page_dir)}" '
                      'alt="the confidence sequence narrowing over the looks, and where the test stopped"></a>')
    return (f'<section class="card" id="{slug(nodeid)}">{head}{claim}<p>{explanation}</p>'
            f'<div class="cols"><div>{_facts(record)}</div><div>{plot_html}</div></div>'
            f'{_sequential_text(record)}{_frames(record, media_dir, page_dir, from_json_only)}</section>')


def _arrow(before: str | None, after: str | None) -> str:
    """``before → after`` where both exist and differ; else the one that exists."""
    if before is None or after is None or before == after:
        return after if after is not None else (before or "—")
    return f"{before} → {after}"


def _p(summary: Mapping[str, Any]) -> float | None:
    return summary["p_adjusted"] if summary.get("p_adjusted") is not None else summary.get("p_value")


def _comparison(comparison: Comparison) -> str:
    counts = ", ".join(f"{comparison.count(s)} {s}" for s in ("verdict changed", "effect moved", "new", "removed",
                                                               "unchanged") if comparison.count(s))
    rows = []
    for change in comparison.changes:
        before, after = change.before or {}, change.after or {}
        verdict = (f'{badge(before["outcome"], outline=True)} → {badge(after["outcome"])}'
                   if change.before and change.after and before["outcome"] != after["outcome"]
                   else badge((after or before)["outcome"], outline=change.after is None))
        delta = change.effect_delta
        sign = "" if delta is None else (f' <span class="{"up" if delta > 0 else "down"}">'
                                         f'({"+" if delta > 0 else ""}{fmt(delta)})</span>' if delta else "")
        effect = _arrow(fmt(before["effect"]) if change.before else None,
                        fmt(after["effect"]) if change.after else None) + sign
        p_adj = _arrow(fmt(_p(before)) if change.before else None, fmt(_p(after)) if change.after else None)
        name = esc(change.nodeid.split("::")[-1])
        link = f'<a href="#{slug(change.nodeid)}">{name}</a>' if change.after else name
        rows.append(f'<tr><td>{link}</td><td>{esc(change.status)}</td><td>{verdict}</td>'
                    f'<td class="num">{effect}</td><td class="num">{p_adj}</td></tr>')
    differing = [("setting", comparison.settings), ("version", comparison.versions)]
    diffs = "".join(f'<li>{kind} <code>{esc(key)}</code>: {esc(a)} → {esc(b)}</li>'
                    for kind, table in differing for key, (a, b) in table.items())
    return (f'<section class="card"><h2>Changes since the baseline</h2>'
            f'<p class="muted">Baseline started {esc(_when(comparison.baseline_started))}: {esc(counts)}. '
            'Hypotheses are matched by node id; "effect moved" means the effect left the baseline\'s CI.</p>'
            + (f"<ul>{diffs}</ul>" if diffs else "")
            + '<table><thead><tr><th>hypothesis</th><th>change</th><th>verdict</th><th>effect</th>'
            f'<th>p (adj)</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def render_page(results: Mapping[str, Any], *, media_dir: Path, page_dir: Path,
                baseline: Mapping[str, Any] | None = None, source: str | None = None,
                audits: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole page as a string (writes the plots into ``media_dir``).

    ``audits`` are ``cfsal suggest`` saliency audits whose hypotheses ran in this session: each
    gets a section, after the index, with per claim "saliency said … / the intervention says …".
    """
    records = sorted(results.get("hypotheses", []), key=lambda r: r["nodeid"])
    from_json_only = not any(r.get("media") for r in records)
    partial = ('<div class="banner"><b>Partial results.</b> The session was interrupted before every '
               f'hypothesis ran; this page shows the {len(records)} that finished.</div>'
               if results.get("partial") else "")
    json_note = ('<div class="banner">Built from the results JSON alone: every number is here, but the JSON '
                 'holds no before/after frames. The report pytest writes (<code>reports/index.html</code> by default) renders them.</div>'
                 if from_json_only and records else "")
    empty = '<p class="muted">No hypotheses ran in this session.</p>' if not records else ""
    parts = [partial, json_note, _summary(results, records, source),
             _comparison(compare(results, baseline)) if baseline is not None else "",
             _index_table(records) if records else empty,
             *(_audit_section(audit, results, media_dir) for audit in audits),
             *(_hypothesis(r, media_dir, page_dir, from_json_only) for r in records)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>cfsal report — {len(records)} hypotheses</title><style>{PAGE_CSS}</style></head><body><main>"
            "<h1>cfsal report</h1><p class=\"muted\">Counterfactual tests of saliency-derived hypotheses: "
            "each claim was tested by intervening on the game state and comparing the agent's behaviour "
            "with and without the intervention, from the same snapshot.</p>"
            + "".join(parts)
            + f"<footer>Generated {esc(_when(datetime.now(timezone.utc).timestamp()))} by cfsal.</footer>"
            "</main></body></html>\n")


def _audit_section(audit: Mapping[str, Any], results: Mapping[str, Any], media_dir: Path) -> str:
    return render_audit_section(audit, results, media_dir)


def write_html(results: Mapping[str, Any], path: str | os.PathLike, *, media_dir: str | os.PathLike | None = None,
               baseline: Mapping[str, Any] | None = None, source: str | None = None,
               audits: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write the report of a session's ``results`` (``SessionState.to_dict()``) to ``path``.

    Plots, and copies of the frames and movies that records carry under ``media`` (rendered by
    the plugin from the in-memory results, see :func:`cfsal.report.media.branch_media`), go to
    ``media_dir`` (default: ``<path stem>_files/`` beside the page) and are linked relatively, so
    the page and its folder move together. With ``baseline`` (another session's results) the
    page starts with what changed. ``source`` names the results file in the summary.
    """
    path = Path(path)
    media = Path(media_dir) if media_dir is not None else media_dir_for(path)
    media.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_page(results, media_dir=media, page_dir=path.parent, baseline=baseline, source=source,
                       audits=audits)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    prune_media(media, set(referenced_files(page, path.parent)))
    return path


#: Names of the pictures cfsal writes into a page's media folder (plots, branch frames, movies).
_OURS = re.compile(r".+-[0-9a-f]{8}-(effects|correlation|sequential|typical|extreme)\.(png|gif)$")


def prune_media(media_dir: Path, keep: set[Path]) -> list[Path]:
    """Delete pictures of hypotheses no longer on the page (earlier runs), so the folder stays light.

    Only files with the names cfsal gives its pictures are touched; anything else in the folder
    is left alone.
    """
    keep = {p.resolve() for p in keep}
    removed = [p for p in media_dir.iterdir() if _OURS.match(p.name) and p.resolve() not in keep]
    for path in removed:
        path.unlink()
    return removed


def media_dir_for(path: str | os.PathLike) -> Path:
    """Where :func:`write_html` puts a page's pictures by default (the plugin renders frames there)."""
    path = Path(path)
    return path.with_name(f"{path.stem}_files")


def referenced_files(page: str, page_dir: Path) -> Iterable[Path]:
    """Every local file the page links to (``src``/``href`` that are not anchors): for checks and tests."""
    for target in re.findall(r'(?:src|href)="([^"#][^"]*)"', page):
        yield page_dir / unquote(html.unescape(target))
