"""cfsal suggest on the zoo's controls: the expert's ball and paddle top the audit and the ball claim
holds; nothing the constant agent's suggestions claim as an effect is ever SUPPORTED.

Slow (real agents, perturbation maps, real rollouts); the expert's checkpoint may be retrained, so
nothing here depends on its sha256.
"""

import json

import pytest
import torch

from cfsal.agents.zoo import load_agent
from cfsal.report.audit import render_audit_section
from cfsal.suggest import run_audit, suggest

pytestmark = pytest.mark.slow


def test_ball_and_paddle_top_the_experts_perturbation_audit(tmp_path):
    torch.set_num_threads(1)
    audit = run_audit(load_agent("breakout-expert"), episodes=2, max_steps=300, every=10, cache=tmp_path)
    result = audit.methods["perturbation"]
    assert {o.name for o in result.objects[:2]} == {"ball", "paddle"}
    assert all(o.label == "salient" for o in result.objects[:2])
    assert result.finding("score").label == "low"


def test_no_effect_claim_from_the_constant_agent_is_supported(pytester, tmp_path):
    torch.set_num_threads(1)
    out = pytester.path / "suggested"
    audit = suggest(load_agent("breakout-constant"), out, episodes=1, max_steps=120, every=10, pilot=4,
                    claims="all", cache=tmp_path)
    assert audit.methods["perturbation"].zero_frames == audit.frames  # its maps are zero: nothing is salient
    effects = [c for c in audit.claims if c["kind"] == "effect"]
    assert len(effects) == 5
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "suggested", "--cfsal-json", "out.json", "--cfsal-html", "off")
    results = json.loads((pytester.path / "out.json").read_text())
    outcomes = {r["nodeid"].split("::")[-1]: (r.get("adjusted_verdict") or r["verdict"])["outcome"]
                for r in results["hypotheses"]}
    assert len(outcomes) == 5 and "SUPPORTED" not in outcomes.values()
    section = render_audit_section(audit.to_dict(), results, tmp_path / "media")
    assert "0/5 = 0%" in section
