"""Interruptions and faults: what a Ctrl-C, a killed run or a dead worker leaves behind.

* Results are written atomically after every hypothesis, so a Ctrl-C in the 2nd of 3 leaves a
  valid JSON of the finished one marked ``partial`` and a report marked partial; a SIGKILL (no
  chance to clean up) still leaves the last complete JSON, from which ``cfsal report`` builds a
  page marked partial.
* A rollout worker that dies (``os._exit`` in the process pool, in a Ray task, or a whole xdist
  worker) is reported as an error of its hypothesis — in the terminal and in the JSON — and the
  rest of the session runs.
"""

from __future__ import annotations

import json

import pytest

from cfsal.plugin.session import SessionState, Settings
from cfsal.report.build import report_from_files

#: Three hypotheses; the middle one is replaced per test by the fault under study.
THREE = '''
import os, signal
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball
from faults import DiesInWorker

SETTINGS = dict(branch_every=15, horizon=2, measure=measures.policy_total_variation)

@cfsal.hypothesis("first: moving the ball changes the policy")
def test_1_first(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **SETTINGS)

@cfsal.hypothesis("second: the faulty one")
def test_2_faulty(counterfactual):
    FAULT

@cfsal.hypothesis("third: moving the ball the other way changes the policy")
def test_3_third(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(-60, 20)), **SETTINGS)
'''

#: Picklable (module-level) so the process pool and Ray can ship it to their workers.
FAULTS = '''
import os
from dataclasses import dataclass
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

class DiesInWorker(StateEdit):
    def apply_to_env(self, env, rng=None, settle="refresh"):
        os._exit(3)  # a worker that dies without a word

def dies():
    return DiesInWorker("breakout", shift_ball(60, 20))
'''


def _session(tiny_project, fault: str):
    tiny_project.makepyfile(faults=FAULTS)
    tiny_project.makepyfile(test_three=THREE.replace("FAULT", fault))
    return tiny_project


def _run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--cfsal-samples", "4",
                                         "--cfsal-json", "out.json", "--cfsal-html", "report/index.html", *args)


def _results(pytester) -> dict:
    return json.loads((pytester.path / "out.json").read_text())  # must be valid JSON whatever happened


def _names(data: dict) -> dict[str, str]:
    return {r["nodeid"].split("::")[-1]: r["status"] for r in data["hypotheses"]}


def test_ctrl_c_in_the_second_of_three_leaves_the_first_and_a_partial_report(tiny_project):
    _session(tiny_project, "raise KeyboardInterrupt")
    result = _run(tiny_project)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = _results(tiny_project)
    assert data["partial"] is True
    assert list(_names(data)) == ["test_1_first"] and data["hypotheses"][0]["result"]["n"] == 4
    page = (tiny_project.path / "report" / "index.html").read_text()
    assert "Partial results." in page and "test_1_first" in page and "test_3_third" not in page
    assert not list(tiny_project.path.glob("*.tmp")), "an atomic write left its temporary file"


def test_a_killed_session_leaves_the_last_complete_json_and_the_report_says_partial(tiny_project):
    _session(tiny_project, "os.kill(os.getpid(), signal.SIGKILL)")
    result = _run(tiny_project)
    assert result.ret == -9
    data = _results(tiny_project)
    assert data["partial"] is True and list(_names(data)) == ["test_1_first"]
    page = report_from_files(tiny_project.path / "out.json", tiny_project.path / "rebuilt" / "index.html").read_text()
    assert "Partial results." in page and "test_1_first" in page


def test_every_write_is_a_complete_file(tmp_path):
    """Incremental writes replace the file whole (write a temporary, then rename): a reader never
    sees half a JSON, and each write holds every record so far."""
    state = SessionState(Settings(json_path=str(tmp_path / "out.json")))
    for index in range(3):
        state.add({"nodeid": f"t.py::test_{index}", "status": "ERROR", "error": "x"})
        data = json.loads((tmp_path / "out.json").read_text())
        assert data["partial"] is True and len(data["hypotheses"]) == index + 1
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.slow
def test_a_process_pool_worker_that_dies_is_an_error_of_its_hypothesis(tiny_project):
    _session(tiny_project, "return counterfactual(DiesInWorker('breakout', None), **SETTINGS)")
    tiny_project.makepyfile(test_three=THREE.replace("FAULT", "from faults import dies\n"
                                                 "    return counterfactual(dies(), **SETTINGS)"))
    result = _run(tiny_project, "--cfsal-executor", "process", "--cfsal-workers", "1")
    result.stdout.fnmatch_lines(["cfsal: process-pool worker 0*failed: BrokenProcessPool*"])
    data = _results(tiny_project)
    assert _names(data)["test_2_faulty"] == "ERROR" and "BrokenProcessPool" in data["hypotheses"][1]["error"]
    assert {"test_1_first", "test_3_third"} <= set(_names(data)) and data["partial"] is False


@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_is_an_error_of_its_hypothesis(tiny_project):
    pytest.importorskip("ray")
    tiny_project.makepyfile(faults=FAULTS)
    tiny_project.makepyfile(test_ray='''
import ray, pytest, cfsal
from cfsal import measures
from faults import dies

@cfsal.hypothesis("a Ray task whose worker dies")
def test_dies_on_ray(counterfactual):
    try:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as error:
        pytest.skip(f"Ray cannot start here: {error}")
    return counterfactual(dies(), branch_every=15, horizon=2, samples=2, measure=measures.policy_total_variation)
''')
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-json", "out.json",
                                               "--cfsal-html", "off", "--cfsal-executor", "ray", "--cfsal-workers", "1",
                                               timeout=300)
    if result.parseoutcomes().get("skipped"):
        pytest.skip("Ray cannot start on this machine")
    result.stdout.fnmatch_lines(["*cfsal: Ray task 0 failed*"])
    assert _names(_results(tiny_project)) == {"test_dies_on_ray": "ERROR"}


@pytest.mark.slow
def test_an_xdist_worker_that_dies_is_reported_not_dropped(tiny_project):
    _session(tiny_project, "os._exit(1)")
    result = _run(tiny_project, "-n", "2")
    result.stdout.fnmatch_lines(["*crashed while running*test_2_faulty*"])
    data = _results(tiny_project)
    assert {"test_1_first", "test_3_third"} <= set(_names(data))
    assert _names(data).get("test_2_faulty") == "ERROR"
