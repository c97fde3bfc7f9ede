"""One hypothesis, one set of samples: however pytest is invoked, the verdict is the same."""

import json
import subprocess
import sys

HYPOTHESIS = '''
import cfsal
from cfsal import measures
from cfsal.interventions import breakout

@cfsal.hypothesis(kind="effect", margin=0.01)
def test_moving_the_ball_changes_the_policy(counterfactual):
    """Moving the ball changes the policy."""
    return counterfactual(breakout.MoveBall(dx=-60), states=cfsal.States(window=(5, 60)), horizon=2,
                          measure=measures.policy_total_variation)
'''


def _run(cwd, target, out):
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cfsal-samples", "6",
                    "--cfsal-fail-on", "never", "--cfsal-json", str(out), str(target)],
                   cwd=cwd, check=True, capture_output=True, text=True)
    record = json.loads(out.read_text())["hypotheses"][0]
    return record["seed"], record["result"]["values"], record["result"]["design"]["states"], record["result"]["selection"]


def test_a_claim_is_judged_the_same_from_the_root_another_directory_and_by_absolute_path(tmp_path,
                                                                                          tiny_agent_conftest):
    project = tmp_path / "project"
    (project / "hypotheses").mkdir(parents=True)
    (project / "elsewhere").mkdir()
    (project / "hypotheses" / "conftest.py").write_text(tiny_agent_conftest)
    (project / "hypotheses" / "test_ball.py").write_text(HYPOTHESIS)
    runs = [
        _run(project, "hypotheses/test_ball.py", tmp_path / "root.json"),
        _run(project / "elsewhere", "../hypotheses/test_ball.py", tmp_path / "other.json"),
        _run(tmp_path, project / "hypotheses" / "test_ball.py", tmp_path / "absolute.json"),
    ]
    assert runs[0] == runs[1] == runs[2]
    seed, values, states, selection = runs[0]
    assert len(values) == 6 and states["window"] == [5, 60]
    assert selection["kept"] == 6 and selection["candidates"] >= 6  # the set-aside states are recorded
    assert "not_applicable" in selection and "ended" in selection
