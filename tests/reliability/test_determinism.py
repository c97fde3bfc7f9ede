"""Determinism: the same seed gives byte-identical verdicts — across runs, ``-n 0/2`` and executors.

Compared as bytes: :func:`cfsal.plugin.session.verdicts_json` of each run's results file (every
record, verdict, CI, p-value, the paired values and the branch points; only timing and picture
paths left out). A float that differs in its last bit fails these tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cfsal import measures
from cfsal.plugin.session import verdicts_json
from cfsal.rollout import counterfactual
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import shift_ball

CLAIMS = '''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball, unchanged

@cfsal.hypothesis("Moving the ball changes the policy")
def test_move(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), branch_every=15, horizon=4,
                          measure=measures.policy_total_variation)

@cfsal.hypothesis("Moving the ball changes the value", kind="direction", alternative="greater")
def test_value(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(-40, 10)), branch_every=12, horizon=3,
                          measure=measures.value_change)

@cfsal.hypothesis("An unchanged state changes nothing", kind="no_effect", margin=0.05)
def test_unchanged(counterfactual):
    return counterfactual(StateEdit("breakout", unchanged), branch_every=15, horizon=3,
                          measure=measures.action_disagreement)
'''


@pytest.fixture
def project(tiny_project):
    tiny_project.makepyfile(test_claims=CLAIMS)
    return tiny_project


def verdicts(project, *args: str) -> str:
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--cfsal-samples", "8",
                                          "--cfsal-json", "out.json", "--cfsal-html", "off", *args)
    assert result.ret in (0, 1), result.stdout.str()
    data = json.loads((project.path / "out.json").read_text())
    assert len(data["hypotheses"]) == 3 and all(r.get("verdict") for r in data["hypotheses"])
    return verdicts_json(data)


def test_the_same_seed_gives_byte_identical_verdicts_and_another_seed_does_not(project):
    first = verdicts(project, "--cfsal-seed", "7")
    assert verdicts(project, "--cfsal-seed", "7") == first
    assert verdicts(project, "--cfsal-seed", "8") != first


@pytest.mark.slow
def test_verdicts_are_byte_identical_across_xdist_and_executors(project):
    serial = verdicts(project)
    assert verdicts(project, "-n", "2") == serial
    assert verdicts(project, "--cfsal-executor", "process", "--cfsal-workers", "2") == serial


@pytest.mark.slow
def test_verdicts_are_byte_identical_on_ray(project):
    pytest.importorskip("ray")
    # Whether Ray can start here is asked in a child process: a ray.init + shutdown in this
    # (xdist worker) process made a later ray.init in the same process segfault.
    probe = subprocess.run([sys.executable, "-c", "import ray; ray.init(num_cpus=1, include_dashboard=False, "
                            "log_to_driver=False, configure_logging=False); ray.shutdown()"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"Ray cannot start here: {probe.stderr.strip().splitlines()[-1:] or probe.returncode}")
    assert verdicts(project, "--cfsal-executor", "ray", "--cfsal-workers", "2") == verdicts(project)


def test_a_result_serialises_to_the_same_bytes_twice_in_one_process():
    """In-process reruns too (no state leaks between calls: caches, RNGs, thread counts)."""
    def run() -> str:
        result = counterfactual(tiny_agent(), StateEdit("breakout", shift_ball(60, 20)), samples=4, branch_every=15,
                                horizon=3, seed=11, measure=measures.policy_total_variation)
        return json.dumps(result.to_dict(), sort_keys=True)

    assert run() == run()


def test_run_only_fields_are_left_out_and_nothing_else():
    record = {"nodeid": "t.py::test_a", "claim": "c", "seconds": 1.5, "media": {"movie": "x.gif"},
              "verdict": {"p_value": 0.1}}
    text = verdicts_json({"schema_version": 1, "settings": {"seed": 3, "executor": "ray"}, "started": 1.0,
                          "hypotheses": [record]})
    assert json.loads(text) == {"schema_version": 1, "seed": 3, "hypotheses": [
        {"nodeid": "t.py::test_a", "claim": "c", "verdict": {"p_value": 0.1}}]}
