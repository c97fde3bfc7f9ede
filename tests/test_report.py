"""The HTML report: escaping, links, the partial flag, the comparison view, media, and `cfsal report`."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cfsal.report.build import load_results, report_from_files
from cfsal.report.compare import compare
from cfsal.report.html import referenced_files, slug, write_html
from cfsal.report.media import pick_branches

MALICIOUS = "<script>alert(1)</script>"


def verdict(outcome, effect, low, high, p, p_adj=None, n=10):
    return {"outcome": outcome, "effect": effect, "ci_low": low, "ci_high": high, "p_value": p, "p_adjusted": p_adj,
            "n": n, "confidence": 0.95, "test": "sign-flip permutation", "explanation": f"{outcome} because.",
            "samples_needed": None, "claim": {"kind": "effect"}}


def record(nodeid, claim, outcome, effect, values, *, p=0.01, media=None, intervention=None):
    return {"nodeid": nodeid, "claim": claim, "seed": 7, "status": outcome, "agent": "tiny", "game": "breakout",
            "seconds": 1.5, "spec": {"kind": "effect", "alternative": "two-sided", "margin": None},
            "verdict": verdict(outcome, effect, effect - 0.1, effect + 0.1, p),
            "adjusted_verdict": verdict(outcome, effect, effect - 0.1, effect + 0.1, p, min(1.0, 2 * p)),
            "result": {"agent": "tiny", "game": "breakout", "measure": "policy_total_variation", "bounds": [0, 1],
                       "intervention": intervention or {"name": "breakout.move_ball", "dx": 40.0, "dy": None},
                       "horizon": 5, "branch_every": 15, "seed": 7, "n": len(values), "values": values,
                       "episodes": [0] * len(values), "steps": list(range(15, 15 * len(values) + 1, 15)),
                       "took_effect": [True] * len(values)},
            **({"media": media} if media else {})}


def results(*records, partial=False):
    return {"schema_version": 1, "partial": partial, "started": 1.7e9, "duration_seconds": 12.5,
            "settings": {"seed": 3, "samples": 10, "alpha": 0.05, "correction": "holm", "fail_on": "refuted"},
            "versions": {"cfsal": "0.1.0", "python": "3.11"}, "counts": {}, "hypotheses": list(records)}


@pytest.fixture
def session():
    return results(
        record("hyp/test_a.py::test_ball", "Moving the ball changes the policy.", "SUPPORTED", 0.3,
               [0.1, 0.2, 0.3, 0.5, 0.0]),
        record(f"hyp/test_a.py::test_evil[{MALICIOUS}]", MALICIOUS, "INCONCLUSIVE", 0.01,
               [0.0, 0.02, -0.01], p=0.4, intervention={"name": "x", "label": '"><img src=x onerror=alert(2)>'}),
        {"nodeid": "hyp/test_b.py::test_broken", "claim": "It breaks.", "status": "ERROR", "agent": "nobody",
         "error": "unknown agent '<b>nobody</b>'", "spec": {}},
    )


def test_user_text_is_escaped(tmp_path, session):
    page = write_html(session, tmp_path / "index.html").read_text()
    assert MALICIOUS not in page and "<img src=x" not in page and "<b>nobody</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()  # the page runs no script at all


def test_every_link_resolves_to_an_existing_file(tmp_path, session):
    path = write_html(session, tmp_path / "out" / "index.html")
    files = list(referenced_files(path.read_text(), path.parent))
    assert len(files) >= 2  # one plot per judged hypothesis
    assert all(f.is_file() for f in files), [f for f in files if not f.is_file()]
    assert all(f.parent == tmp_path / "out" / "index_files" for f in files)


def test_summary_shows_counts_agents_seed_versions_and_numbers(tmp_path, session):
    page = write_html(session, tmp_path / "index.html").read_text()
    for text in ("SUPPORTED</span> <span>1", "INCONCLUSIVE</span> <span>1", "ERROR</span> <span>1",
                 "nobody, tiny", ">3<", "cfsal 0.1.0", "12.5 s", "0.300 [0.200, 0.400]", "0.010 raw · 0.020 adjusted",
                 "breakout.move_ball(dx=40.0)", "policy_total_variation"):
        assert text in page, text


def test_partial_results_are_flagged(tmp_path, session):
    assert "Partial results" not in write_html(session, tmp_path / "a.html").read_text()
    session["partial"] = True
    assert "Partial results" in write_html(session, tmp_path / "b.html").read_text()


def test_a_report_from_json_alone_says_it_has_no_frames(tmp_path, session):
    page = write_html(session, tmp_path / "index.html").read_text()
    assert "Built from the results JSON alone" in page and "no before/after frames" in page.lower()


def test_frames_from_another_folder_are_copied_beside_the_page(tmp_path, session):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(elsewhere / "b-typical.png")
    (elsewhere / "b-extreme.gif").write_bytes(b"GIF89a")
    session["hypotheses"][0]["media"] = {
        "method": "perturbation", "movie": str(elsewhere / "b-extreme.gif"), "notes": ["a <note>"],
        "branches": [{"label": "typical", "index": 3, "episode": 0, "step": 60, "value": 0.5, "took_effect": True,
                      "image": str(elsewhere / "b-typical.png"), "source": "rgb"}]}
    path = write_html(session, tmp_path / "report" / "index.html")
    page = path.read_text()
    assert 'src="index_files/b-typical.png"' in page and 'href="index_files/b-extreme.gif"' in page
    assert "typical branch</b> — episode 0, step 60" in page and "a &lt;note&gt;" in page
    assert "Built from the results JSON alone" not in page
    assert all(f.is_file() for f in referenced_files(page, path.parent))


def test_comparison_lists_verdict_changes_moved_effects_new_and_removed(tmp_path, session):
    baseline = copy.deepcopy(session)
    baseline["settings"]["seed"] = 1
    ball = baseline["hypotheses"][0]
    ball["adjusted_verdict"].update(outcome="INCONCLUSIVE", effect=0.05, ci_low=-0.02, ci_high=0.1)
    baseline["hypotheses"][1]["adjusted_verdict"].update(ci_low=-1.0, ci_high=1.0)
    baseline["hypotheses"][2]["nodeid"] = "hyp/test_old.py::test_gone"
    comparison = compare(session, baseline)
    status = {c.nodeid: c.status for c in comparison.changes}
    assert status == {"hyp/test_a.py::test_ball": "verdict changed",
                      f"hyp/test_a.py::test_evil[{MALICIOUS}]": "unchanged",
                      "hyp/test_b.py::test_broken": "new", "hyp/test_old.py::test_gone": "removed"}
    assert comparison.changes[0].nodeid == "hyp/test_a.py::test_ball"  # what changed comes first
    assert comparison.settings == {"seed": (1, 3)}
    assert comparison.changes[0].effect_delta == pytest.approx(0.25)

    page = write_html(session, tmp_path / "index.html", baseline=baseline).read_text()
    assert "Changes since the baseline" in page
    assert "1 verdict changed, 1 new, 1 removed, 1 unchanged" in page
    assert "0.050 → 0.300" in page and "(+0.250)" in page and "test_gone" in page
    assert "setting <code>seed</code>: 1 → 3" in page
    assert MALICIOUS not in page


def test_an_effect_outside_the_baseline_ci_is_reported_as_moved(session):
    baseline = copy.deepcopy(session)
    baseline["hypotheses"][0]["adjusted_verdict"].update(effect=0.9, ci_low=0.8, ci_high=1.0)
    assert compare(session, baseline).changes[0].status == "effect moved"


def test_pick_branches_takes_the_median_like_and_the_largest():
    assert pick_branches([0.0, 0.1, 0.2, -0.9, 0.15]) == {"typical": 1, "extreme": 3}
    assert pick_branches([0.0, 0.0, 0.0]) == {"typical": 0}
    assert pick_branches([]) == {}


def test_slugs_are_file_safe_and_distinct():
    a, b = slug("x.py::test_a[1/2]"), slug("x.py::test_a[1:2]")
    assert a != b and "/" not in a and ":" not in b


def test_load_results_rejects_other_files_with_a_teaching_message(tmp_path):
    from cfsal.errors import ReportError

    (tmp_path / "other.json").write_text(json.dumps({"schema_version": 99, "hypotheses": []}))
    with pytest.raises(ReportError, match="schema_version 99.*Re-run"):
        load_results(tmp_path / "other.json")
    with pytest.raises(ReportError, match="does not exist"):
        load_results(tmp_path / "missing.json")


def cfsal(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cfsal.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)


def test_cli_rebuilds_the_report_with_a_comparison(tmp_path, session):
    (tmp_path / "results.json").write_text(json.dumps(session))
    (tmp_path / "base.json").write_text(json.dumps(results(session["hypotheses"][0])))
    done = cfsal("report", "results.json", "--compare", "base.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = tmp_path / "reports" / "index.html"
    assert done.stdout.strip() == f"wrote {page.relative_to(tmp_path)}"
    text = page.read_text()
    assert "Changes since the baseline" in text and "2 new, 1 unchanged" in text
    assert all(f.is_file() for f in referenced_files(text, page.parent))


def test_cli_bad_results_file_is_one_line_error(tmp_path):
    (tmp_path / "x.json").write_text("not json")
    done = cfsal("report", "x.json", cwd=tmp_path)
    assert done.returncode == 2 and "is not valid JSON" in done.stderr and "Traceback" not in done.stderr


def test_report_from_files_matches_write_html(tmp_path, session):
    (tmp_path / "r.json").write_text(json.dumps(session))
    page = report_from_files(tmp_path / "r.json", tmp_path / "x" / "report.html").read_text()
    assert "report_files/" in page and str(tmp_path / "r.json") in page


def test_pictures_of_earlier_runs_are_pruned_and_other_files_kept(tmp_path, session):
    media = tmp_path / "index_files"
    media.mkdir()
    stale = media / f"{slug('hyp/test_gone.py::test_gone')}-effects.png"
    stale.write_bytes(b"old")
    mine = media / "notes.txt"
    mine.write_text("the user's")
    path = write_html(session, tmp_path / "index.html")
    assert not stale.exists() and mine.exists()
    assert all(f.is_file() for f in referenced_files(path.read_text(), path.parent))


def test_an_audit_beside_the_hypothesis_files_gets_its_section(tmp_path):
    """Files written by `cfsal suggest` sit beside their audit.json: a session that ran them shows it."""
    import shutil
    from pathlib import Path

    from cfsal.report.build import audits_beside, write_session_report

    example = Path(__file__).parents[1] / "examples" / "suggested" / "breakout-expert"
    suggested = tmp_path / "hypotheses" / "suggested"
    suggested.mkdir(parents=True)
    shutil.copy(example / "audit.json", suggested / "audit.json")
    (tmp_path / "hypotheses" / "audit.json").write_text('{"kind": "something else"}')
    session = results(record("hypotheses/suggested/test_ball.py::test_the_agent_uses_the_ball", "x", "SUPPORTED",
                             0.3, [0.3]),
                      record("hypotheses/test_other.py::test_y", "y", "SUPPORTED", 0.3, [0.3]))
    assert [a["agent"] for a in audits_beside(session, tmp_path)] == ["breakout-expert"]
    page = write_session_report(session, tmp_path / "reports" / "index.html", root=tmp_path).read_text()
    assert "breakout-expert" in page and "audit" in page.lower()
    assert audits_beside(session, tmp_path / "nowhere") == []


def test_results_name_their_media_relative_to_themselves_and_move_with_them(tmp_path, session):
    from cfsal.report.paths import relative_to

    media = tmp_path / "reports" / "index_files"
    media.mkdir(parents=True)
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(media / "b-typical.png")
    session["hypotheses"][0]["media"] = {
        "method": "perturbation", "movie": None, "notes": [],
        "branches": [{"label": "typical", "index": 3, "episode": 0, "step": 60, "value": 0.5, "took_effect": True,
                      "image": str(media / "b-typical.png"), "source": "rgb"}]}
    written = relative_to(session, tmp_path / "reports")
    assert written["hypotheses"][0]["media"]["branches"][0]["image"] == "index_files/b-typical.png"
    assert session["hypotheses"][0]["media"]["branches"][0]["image"] == str(media / "b-typical.png")  # a copy
    (tmp_path / "reports" / "results.json").write_text(json.dumps(written))
    (tmp_path / "reports").rename(tmp_path / "archived")
    loaded = load_results(tmp_path / "archived" / "results.json")
    assert loaded["hypotheses"][0]["media"]["branches"][0]["image"] == \
        str((tmp_path / "archived" / "index_files" / "b-typical.png").resolve())
    page = report_from_files(tmp_path / "archived" / "results.json", tmp_path / "archived" / "index.html").read_text()
    assert 'src="index_files/b-typical.png"' in page and "image file missing" not in page


def test_results_with_absolute_media_paths_are_still_read(tmp_path, session):
    image = tmp_path / "old" / "b-typical.png"
    image.parent.mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(image)
    session["hypotheses"][0]["media"] = {"method": "perturbation", "movie": None, "notes": [], "branches": [
        {"label": "typical", "index": 3, "episode": 0, "step": 60, "value": 0.5, "image": str(image), "source": "rgb"}]}
    (tmp_path / "results.json").write_text(json.dumps(session))
    assert load_results(tmp_path / "results.json")["hypotheses"][0]["media"]["branches"][0]["image"] == str(image)
