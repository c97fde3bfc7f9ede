"""The audit section of the HTML report: charts, claims with verdicts, escaping, per-method counts."""

import copy

import pytest

from cfsal.errors import ReportError
from cfsal.report.audit import render_audit_section, wilson_interval, write_audit_page

AUDIT = {
    "schema_version": 1, "kind": "cfsal-saliency-audit", "agent": "agent<script>", "agent_sha256": "ab" * 32,
    "game": "breakout", "seed": 0, "max_steps": 100, "every": 10, "frames": 20,
    "episodes": [{"index": 0, "seed": 1, "length": 100, "score": 3.0, "first_step": 10, "last_step": 90, "mapped": 9}],
    "bootstrap": {"scheme": "moving-block bootstrap", "resamples": 100, "confidence": 0.95},
    "methods": {"perturbation": {"method": "perturbation", "params": {}, "output": "actor", "frames": 20,
                                 "zero_frames": 0, "rest_share": 0.8, "block": 2, "objects": [
        {"name": "ball", "rank": 1, "frames": 20, "saliency_share": 0.01, "screen_share": 0.001, "enrichment": 10.0,
         "ci_low": 8.0, "ci_high": 12.0, "label": "salient",
         "correlations": [{"variable": "distance", "r": -0.4, "ci_low": -0.6, "ci_high": -0.2, "n": 20, "found": True}]},
        {"name": "score", "rank": 2, "frames": 20, "saliency_share": 0.002, "screen_share": 0.02, "enrichment": 0.1,
         "ci_low": 0.05, "ci_high": 0.2, "label": "low", "correlations": []}]}},
    "claims": [
        {"file": "test_a_ball.py", "test": "test_the_agent_uses_the_ball", "object": "ball", "kind": "effect",
         "claim": "Moving the ball <b>changes</b> the policy.", "methods": ["perturbation"], "method": None},
        {"file": "test_a_ball.py", "test": "test_ball_saliency_follows_its_distance", "object": "ball",
         "kind": "correlation", "variable": "distance", "claim": "closer → more salient", "methods": ["perturbation"],
         "method": "perturbation"},
        {"file": "test_a_score.py", "test": "test_the_agent_ignores_the_score", "object": "score", "kind": "no_effect",
         "claim": "The score does not matter.", "methods": ["perturbation"], "method": None}],
    "command": "cfsal suggest x",
}
RESULTS = {"schema_version": 1, "hypotheses": [
    {"nodeid": "examples/s/test_a_ball.py::test_the_agent_uses_the_ball", "status": "SUPPORTED",
     "verdict": {"outcome": "SUPPORTED", "effect": 0.3, "ci_low": 0.2, "ci_high": 0.4, "n": 30, "p_adjusted": 0.001}},
    {"nodeid": "examples/s/test_a_ball.py::test_ball_saliency_follows_its_distance", "status": "REFUTED",
     "verdict": {"outcome": "REFUTED", "effect": 0.1, "ci_low": -0.1, "ci_high": 0.3, "n": 50}}]}


def test_the_section_pairs_what_saliency_said_with_the_verdicts(tmp_path):
    html = render_audit_section(AUDIT, RESULTS, tmp_path / "page_files")
    assert "enrichment 10 [8, 12]" in html and "r = -0.40 [-0.60, -0.20]" in html
    assert ">SUPPORTED<" in html and ">REFUTED<" in html and "not run yet" in html  # the control did not run
    assert "1/2 = 50%" in html  # per method: one of the two suggested claims that ran was supported
    assert (tmp_path / "page_files" / "audit-agent-script-perturbation.png").stat().st_size > 1000
    assert "<script>" not in html and "<b>changes</b>" not in html and "&lt;b&gt;" in html


def test_the_section_without_results_says_the_claims_have_not_run(tmp_path):
    html = render_audit_section(AUDIT, None, tmp_path)
    assert html.count("not run yet") == 3 and "—" in html


def test_a_standalone_page_links_its_charts(tmp_path):
    page = write_audit_page(AUDIT, tmp_path / "audit.html", results=RESULTS)
    text = page.read_text()
    assert text.startswith("<!doctype html>") and 'src="audit_files/audit-agent-script-perturbation.png"' in text
    assert (tmp_path / "audit_files" / "audit-agent-script-perturbation.png").is_file()


def test_wrong_inputs_teach():
    with pytest.raises(ReportError, match="audit.json"):
        render_audit_section({"kind": "something"}, None, ".")
    broken = copy.deepcopy(RESULTS)
    del broken["hypotheses"]
    with pytest.raises(ReportError, match="--cfsal-json"):
        write_audit_page(AUDIT, "x.html", results=broken)


def test_wilson_interval_is_sensible_at_the_edges():
    low, high = wilson_interval(0, 5)
    assert low == 0 and 0.4 < high < 0.5
    assert wilson_interval(5, 5)[1] == 1.0


def test_non_finite_numbers_of_strict_json_show_as_symbols(tmp_path):
    """An undefined correlation (a constant measure) is stored as "nan" with a CI of "-inf".."inf":
    the section shows — and ∞ (it used to raise ValueError and lose the session's HTML report)."""
    results = copy.deepcopy(RESULTS)
    results["hypotheses"][1]["verdict"].update(outcome="INCONCLUSIVE", effect="nan", ci_low="-inf", ci_high="inf")
    html = render_audit_section(AUDIT, results, tmp_path / "page_files")
    assert "effect — [−∞, ∞]" in html
