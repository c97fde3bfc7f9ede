"""The report in a real browser: headless Chromium (Debian's) loads the page and every picture.

Needs `apt-get install chromium` (.ci/run does it) and the Python `playwright` package (dev
extra), driving the system browser; `playwright install` is never run. Skipped, with the
reason, only where Chromium is not installed.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from cfsal import measures
from cfsal.interventions import breakout
from cfsal.report.html import write_html
from cfsal.report.media import branch_media
from cfsal.rollout import counterfactual
from cfsal.stats import Claim, assess
from cfsal.testing import tiny_agent

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")]


def session_with_frames(tmp_path: Path) -> dict:
    """A session of two judged hypotheses (one with real branch frames and a movie) and an error."""
    agent = tiny_agent(seed=0, name="tiny")
    result = counterfactual(agent, breakout.MoveBall(dx=40), samples=6, branch_every=15, horizon=4,
                            measure=measures.policy_total_variation, seed=5)
    verdict = assess(Claim("effect"), result.values, rng=np.random.default_rng(0), bounds=(0.0, 1.0)).to_dict()
    nodeid = "hypotheses/test_ball.py::test_moving_the_ball_changes_the_policy"
    judged = {"nodeid": nodeid, "claim": "Moving the ball <changes> the policy.", "seed": 5, "status": verdict["outcome"],
              "verdict": verdict, "adjusted_verdict": verdict, "result": result.to_dict(), "agent": "tiny",
              "game": "breakout", "seconds": 2.0, "spec": {"kind": "effect", "margin": None},
              "media": branch_media(agent, result, tmp_path / "rendered", stem="ball")}
    frameless = {**judged, "nodeid": nodeid + "_again", "media": None}
    broken = {"nodeid": "hypotheses/test_x.py::test_broken", "claim": "<script>alert(1)</script>", "status": "ERROR",
              "error": "unknown agent 'nobody'", "agent": "nobody", "spec": {}}
    return {"schema_version": 1, "partial": False, "started": 1.7e9, "duration_seconds": 3.0,
            "settings": {"seed": 0, "samples": 6, "alpha": 0.05, "correction": "holm", "fail_on": "refuted"},
            "versions": {"cfsal": "0.1.0"}, "counts": {}, "hypotheses": [judged, frameless, broken]}


def test_report_renders_in_headless_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
    results = session_with_frames(tmp_path)
    page_path = write_html(results, tmp_path / "report" / "index.html",
                           baseline={**results, "hypotheses": results["hypotheses"][1:]})
    screenshot = tmp_path / "report-screenshot.png"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors, requests = [], []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
            title = page.title()
            dialogs = page.evaluate("document.querySelectorAll('script').length")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert title == "cfsal report — 3 hypotheses"
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests  # nothing fetched from anywhere
    assert dialogs == 0  # the malicious claim stayed text
    assert len(images) == 4  # 2 effect plots + typical and extreme frames (the tiny agent's branches differ)
    assert all(width > 0 for _, width in images), images
    assert screenshot.stat().st_size > 10_000
