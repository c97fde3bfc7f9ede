"""The report's plot of one hypothesis: its paired effects, one dot per branch point, with the CI.

A verdict is a summary of a distribution; the plot shows the distribution. Each dot is one
branch point's paired difference (intervened − factual measure); the band is the verdict's
confidence interval of the mean, the line its estimate. Exact zeros (the intervention left the
agent's behaviour untouched under common random numbers) are common and meaningful, so they
are counted in the title rather than lost in a pile. A ``no_effect`` claim's ±margin is shaded,
so the reader sees whether the CI sits inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # figures drawn off-screen, leaving the pyplot backend alone

#: Verdict colours, shared with the HTML badges so the page and its plots agree.
COLOURS = {"SUPPORTED": "#1a7f37", "REFUTED": "#cf222e", "INCONCLUSIVE": "#9a6700", "ERROR": "#57606a",
           "HELD": "#1a7f37", "COUNTEREXAMPLE": "#cf222e"}
_HIGHLIGHT = {"typical": "#0969da", "extreme": "#8250df"}


def jitter(values: np.ndarray, *, seed: int = 0, width: float = 0.28) -> np.ndarray:
    """Vertical offsets for a strip plot: deterministic (seeded), so a report rebuilds identically."""
    return np.random.default_rng(seed).uniform(-width, width, size=len(values))


def plot_paired_effects(values: np.ndarray, path: str | Path, *, verdict: Mapping[str, Any] | None = None,
                        measure: str = "measure", margin: float | None = None,
                        highlight: Mapping[str, int] | None = None) -> Path:
    """Strip plot (top) and histogram (bottom) of per-branch paired differences; returns ``path``.

    ``verdict`` (a :meth:`cfsal.stats.Verdict.to_dict`) supplies the effect, CI and outcome;
    ``highlight`` maps a label (``typical``, ``extreme``) to the index of a branch shown in the
    report's frames, so the reader can find those frames in the distribution.
    """
    values = np.asarray(values, dtype=float)
    outcome = (verdict or {}).get("outcome", "ERROR")
    colour = COLOURS.get(outcome, COLOURS["ERROR"])
    fig = Figure(figsize=(6.4, 2.9))
    strip, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.1, 1.0], "hspace": 0.08})
    for ax in (strip, hist):
        ax.axvline(0.0, color="#8c959f", lw=0.9, zorder=1)
        if margin:
            ax.axvspan(-margin, margin, color="#d0d7de", alpha=0.45, lw=0, zorder=0)
        if verdict and verdict.get("ci_low") is not None:
            ax.axvspan(verdict["ci_low"], verdict["ci_high"], color=colour, alpha=0.18, lw=0, zorder=0)
            ax.axvline(verdict["effect"], color=colour, lw=1.8, zorder=3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", alpha=0.25)
    strip.scatter(values, jitter(values), s=16, color="#24292f", alpha=0.55, lw=0, zorder=2)
    for label, index in (highlight or {}).items():
        if 0 <= index < len(values):
            strip.scatter([values[index]], [0.0], s=90, facecolor="none", edgecolor=_HIGHLIGHT.get(label, "k"),
                          lw=2, zorder=4, label=f"{label} branch")
    strip.set_ylim(-0.5, 0.5)
    strip.set_yticks([])
    zeros = int(np.sum(values == 0))
    strip.set_title(f"{len(values)} paired differences ({zeros} exactly 0)", fontsize=9, loc="left", color="#57606a")
    if highlight:
        strip.legend(fontsize=7, loc="upper right", frameon=False, ncol=2, bbox_to_anchor=(1.0, 1.32))
    span = float(np.ptp(values)) if len(values) else 0.0
    bins = 1 if span == 0 else min(30, max(8, len(values) // 3))
    hist.hist(values, bins=bins, color="#6e7781", alpha=0.85, lw=0, zorder=2,
              range=None if span else (values[0] - 0.5, values[0] + 0.5) if len(values) else None)
    hist.set_ylabel("branches", fontsize=8)
    hist.set_xlabel(f"{measure}: intervened − factual (line: mean, band: CI"
                    + (", grey: ±margin)" if margin else ")"), fontsize=8)
    for ax in (strip, hist):
        ax.tick_params(labelsize=7)
    return _save(fig, path)


def plot_correlation(x: np.ndarray, y: np.ndarray, path: str | Path, *, verdict: Mapping[str, Any] | None = None,
                     x_label: str = "x", y_label: str = "y", highlight: Mapping[str, int] | None = None) -> Path:
    """Scatter of a correlation claim's two measures, one dot per branch, with a least-squares line.

    The title carries r with its CI (from ``verdict``), so the plot and the numbers agree.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    outcome = (verdict or {}).get("outcome", "ERROR")
    colour = COLOURS.get(outcome, COLOURS["ERROR"])
    fig = Figure(figsize=(6.4, 2.9))
    ax = fig.subplots()
    ax.scatter(x, y, s=16, color="#24292f", alpha=0.55, lw=0, zorder=2)
    if len(x) > 1 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        xs = np.array([x.min(), x.max()])
        ax.plot(xs, slope * xs + intercept, color=colour, lw=1.8, zorder=3)
    for label, index in (highlight or {}).items():
        if 0 <= index < len(x):
            ax.scatter([x[index]], [y[index]], s=90, facecolor="none", edgecolor=_HIGHLIGHT.get(label, "k"),
                       lw=2, zorder=4, label=f"{label} branch")
    if verdict and verdict.get("ci_low") is not None:
        ax.set_title(f"r = {verdict['effect']:.3f} [{verdict['ci_low']:.3f}, {verdict['ci_high']:.3f}], "
                     f"{len(x)} branches", fontsize=9, loc="left", color="#57606a")
    if highlight:
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    _style(ax)
    return _save(fig, path)


def plot_confidence_sequence(sequential: Mapping[str, Any], path: str | Path, *,
                             verdict: Mapping[str, Any] | None = None, measure: str = "measure",
                             margin: float | None = None) -> Path:
    """A sequential test's confidence sequence narrowing over its looks, and where and why it stopped.

    ``sequential`` is a record's ``"sequential"`` entry (:meth:`cfsal.stats.SequentialResult.to_dict`
    plus the plan): one point per look with the running estimate and the band of the confidence
    sequence (anytime design: valid at every look at once, so the band may be read at any n;
    group design: each planned look's interval at that look's share of α). The thresholds the
    decisions test (0, ±margin) are drawn as lines; the last look is marked with the decision and
    the reason (decided, maximum reached, budget ran out).
    """
    looks = list(sequential.get("looks", []))
    n = np.array([look["n"] for look in looks], dtype=float)
    estimate = np.array([float(look["estimate"]) for look in looks])
    low = np.array([float(look["ci_low"]) for look in looks])
    high = np.array([float(look["ci_high"]) for look in looks])
    outcome = (verdict or {}).get("outcome", looks[-1]["decision"] if looks else "ERROR")
    colour = COLOURS.get(outcome, COLOURS["ERROR"])
    fig = Figure(figsize=(6.4, 2.7))
    ax = fig.subplots()
    finite = np.isfinite(low) & np.isfinite(high)
    span = [np.nanmin(np.concatenate([low[finite], estimate[np.isfinite(estimate)], [0.0]])),
            np.nanmax(np.concatenate([high[finite], estimate[np.isfinite(estimate)], [0.0]]))]
    pad = 0.08 * (span[1] - span[0] or 1.0)
    shown_low = np.where(np.isfinite(low), low, span[0] - pad)
    shown_high = np.where(np.isfinite(high), high, span[1] + pad)
    if margin:
        ax.axhspan(-margin, margin, color="#d0d7de", alpha=0.45, lw=0, zorder=0)
    for planned in sequential.get("plan", {}).get("planned_looks", []):   # group design: where it would look
        ax.axvline(float(planned), color="#d0d7de", lw=0.8, ls="--", zorder=0)
    for threshold in sorted({float(t) for t in sequential.get("thresholds", [0.0])}):
        ax.axhline(threshold, color="#8c959f", lw=0.9, ls="-" if threshold == 0 else "--", zorder=1)
    if len(n):
        ax.fill_between(n, shown_low, shown_high, step="pre" if len(n) > 1 else None, color=colour, alpha=0.2,
                        lw=0, zorder=2)
        ax.vlines(n, shown_low, shown_high, color=colour, lw=3, alpha=0.45, zorder=2)  # the interval at each look
        ax.plot(n, estimate, marker="o", ms=3.5, color=colour, lw=1.5, zorder=3)
        ax.axvline(n[-1], color=colour, lw=1.2, ls=":", zorder=3)
        reason = {"decided": "decided", "max_samples": "maximum reached", "budget": "budget ran out"}.get(
            sequential.get("stopped", ""), sequential.get("stopped", ""))
        plan = sequential.get("plan", {})
        right = max(n[-1], float(plan.get("unit_limit", plan.get("limit", n[-1])))) * 1.03
        left_half = n[-1] < right / 2
        ax.annotate(f"stopped at n = {int(n[-1])}: {outcome} ({reason})", xy=(n[-1], estimate[-1]),
                    xytext=(6 if left_half else -6, 8), textcoords="offset points",
                    ha="left" if left_half else "right", fontsize=8, color=colour)
        ax.set_xlim(0, right)
    ax.set_ylim(span[0] - pad, span[1] + pad)
    level = (verdict or {}).get("confidence")
    unit = "episodes (each one value: its states' mean)" if sequential.get("plan", {}).get("unit") == "episodes" \
        else "paired samples"
    ax.set_xlabel(f"{unit} (one point per look)", fontsize=8)
    ax.set_ylabel(measure if len(measure) < 28 else measure[:25] + "…", fontsize=8)
    if sequential.get("method") == "group-sequential":
        planned = len(sequential.get("plan", {}).get("planned_looks", [])) or len(looks)
        band = "band: each look's interval at its share of α (all hold at once)"
        looked = f"{len(looks)} of {planned} planned looks"
    else:
        band = f"band: {f'{level:.0%} ' if level else ''}confidence sequence (valid at every look)"
        looked = f"{len(looks)} look{'s' if len(looks) != 1 else ''}"
    ax.set_title(f"{looked}; {band}, line: estimate" + (", grey: ±margin" if margin else ""),
                 fontsize=9, loc="left", color="#57606a")
    _style(ax)
    return _save(fig, path)


def _style(ax) -> None:
    """The report's plain axes: small ticks, no top/right frame, a light grid."""
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.25)


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (folders made as needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
