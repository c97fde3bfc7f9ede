"""Building reports from a pytest session or from saved files: what the plugin and ``cfsal report`` call.

The plugin renders each hypothesis's frames while its in-memory result (with the paired
branches) still exists — in the process that ran it, so this works under xdist too — and keeps
only their description in the hypothesis's record; the page itself is written once at the end
of the session from the results dict. ``cfsal report RESULTS.json`` rebuilds the page from the
saved JSON alone. No pytest import here: the plugin passes plain values.
"""

from __future__ import annotations

import argparse
import json
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfsal.errors import ReportError
from cfsal.report.html import media_dir_for, slug, write_html
from cfsal.report.media import MEDIA_SCHEMA_VERSION, branch_media
from cfsal.report.paths import resolved_from

#: The results schema this report reads (``SessionState.to_dict()``).
SUPPORTED_SCHEMA_VERSIONS = (1,)


def load_results(path: str | os.PathLike, *, what: str = "results") -> dict[str, Any]:
    """Read and check a results JSON written by the plugin (``--cfsal-json``); the files it names
    (frames, movies) are found relative to its folder, wherever it was moved (:mod:`cfsal.report.paths`)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{what} file {str(path)!r} does not exist; pytest writes one, by default "
                               "reports/results.json under its rootdir (--cfsal-json PATH to choose).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{what} file {str(path)!r} is not valid JSON ({error}); pass the file "
                               "pytest wrote with --cfsal-json.") from None
    if not isinstance(data, dict) or "hypotheses" not in data:
        raise ReportError(f"{what} file {str(path)!r} has no 'hypotheses' list: it is not a cfsal results "
                               "file (pytest --cfsal-json writes one).")
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ReportError(f"{what} file {str(path)!r} has schema_version {version!r}; this cfsal reads "
                               f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}. Re-run the hypotheses with "
                               "this cfsal version.")
    return resolved_from(data, path.parent)


def report_from_files(results_path: str | os.PathLike, out: str | os.PathLike,
                      baseline_path: str | os.PathLike | None = None) -> Path:
    """``cfsal report``: the page for a saved results JSON, optionally compared with a baseline JSON."""
    results = load_results(results_path)
    baseline = load_results(baseline_path, what="baseline") if baseline_path else None
    return write_html(results, out, baseline=baseline, source=str(results_path), audits=audits_beside(results))


def record_media(agent: Any, result: Any, html_path: str | os.PathLike, nodeid: str) -> dict[str, Any]:
    """Render a hypothesis's branch frames and movie next to the report that will show them.

    Never raises: the report must not change a hypothesis's outcome, so a failure to draw is a
    note in the report (with the error) rather than a failed test.
    """
    if agent is None or not getattr(result, "pairs", None):
        return {"schema_version": MEDIA_SCHEMA_VERSION, "branches": [], "movie": None,
                "notes": ["no frames: the hypothesis used no `agent` fixture or its result holds no paired branches"]}
    try:
        return branch_media(agent, result, media_dir_for(html_path), stem=slug(nodeid))
    except Exception as error:  # noqa: BLE001 — drawing must never fail the science
        where = traceback.extract_tb(error.__traceback__)[-1]
        return {"schema_version": MEDIA_SCHEMA_VERSION, "branches": [], "movie": None,
                "notes": [(f"frames could not be rendered: {type(error).__name__}: {error} "
                           f"({Path(where.filename).name}:{where.lineno})")]}


def audits_beside(results: Mapping[str, Any], root: str | os.PathLike = ".") -> list[dict[str, Any]]:
    """The ``cfsal suggest`` audits (``audit.json``) beside the files of the session's hypotheses.

    Files that ``cfsal suggest`` wrote sit in one folder with the audit that suggested them, so a
    session that ran them gets the audit in its report ("saliency said … / the intervention
    says …"). Node ids are relative to ``root`` (pytest's rootdir); anything in such a folder
    that is not a cfsal audit is ignored.
    """
    folders = sorted({(Path(root) / record["nodeid"].split("::")[0]).parent
                      for record in results.get("hypotheses", []) if record.get("nodeid")})
    audits = []
    for folder in folders:
        candidate = folder / "audit.json"
        try:
            audit = json.loads(candidate.read_text(encoding="utf-8")) if candidate.is_file() else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            audit = None
        if isinstance(audit, dict) and audit.get("kind") == "cfsal-saliency-audit":
            audits.append(audit)
    return audits


def write_session_report(results: Mapping[str, Any], html_path: str | os.PathLike,
                         baseline_path: str | os.PathLike | None = None, root: str | os.PathLike = ".") -> Path:
    """The page at the end of a pytest session (the plugin's ``pytest_sessionfinish``)."""
    baseline = load_results(baseline_path, what="baseline") if baseline_path else None
    return write_html(results, html_path, baseline=baseline, audits=audits_beside(results, root))


def existing_results_file(value: str) -> str:
    """argparse ``type=`` for ``--cfsal-compare``/``--compare``: fail at the command line, not at the end."""
    try:
        load_results(value, what="baseline")
    except ReportError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value
