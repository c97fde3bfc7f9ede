"""Training (SB3 A2C on cfsal envs, resumable) and evaluation."""

import csv
import json

import numpy as np
import pytest

from cfsal.agents import load_checkpoint
from cfsal.agents.evaluation import evaluate
from cfsal.agents.networks import ConstantAgent
from cfsal.agents.base import AgentSpec
from cfsal.agents.training import A2CSettings, train_a2c, training_dir
from cfsal.errors import TrainingError

SMALL = A2CSettings(n_envs=2)


def test_train_writes_a_loadable_checkpoint_with_provenance(tmp_path):
    out = tmp_path / "b.safetensors"
    result = train_a2c("breakout", 300, out, settings=SMALL, checkpoint_every=100, progress=False, command="test")
    assert result.steps >= 300
    agent = load_checkpoint(out, game="breakout")
    assert agent.provenance["steps"] == result.steps and agent.provenance["command"] == "test"
    rows = list(csv.DictReader((training_dir(out) / "curve.csv").open()))
    assert [int(r["steps"]) for r in rows] == sorted(int(r["steps"]) for r in rows) and len(rows) >= 3


def test_training_resumes_towards_the_same_budget(tmp_path):
    out = tmp_path / "a.safetensors"
    train_a2c("amidar", 200, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    result = train_a2c("amidar", 400, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    assert 400 <= result.steps < 420
    run = json.loads((training_dir(out) / "run.json").read_text())
    assert run["steps_done"] == result.steps and run["total_steps"] == 400


def test_resume_from_committed_checkpoint_without_the_sb3_zip(tmp_path):
    out = tmp_path / "b.safetensors"
    train_a2c("breakout", 200, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    before = load_checkpoint(out).state_dict()
    (training_dir(out) / "sb3_model.zip").unlink()
    result = train_a2c("breakout", 400, out, settings=SMALL, checkpoint_every=10**9, progress=False)
    assert result.steps >= 400
    after = load_checkpoint(out).state_dict()
    changed = [k for k in before if not np.allclose(before[k].numpy(), after[k].numpy())]
    close = all(np.abs(before[k].numpy() - after[k].numpy()).max() < 0.1 for k in before)
    assert changed and close, "resumed training should continue from the saved weights"


def test_resuming_another_games_run_is_refused(tmp_path):
    out = tmp_path / "x.safetensors"
    train_a2c("breakout", 100, out, settings=SMALL, progress=False)
    with pytest.raises(TrainingError, match="holds a breakout run"):
        train_a2c("amidar", 200, out, settings=SMALL, progress=False)


def test_evaluate_is_reproducible_and_reports_a_ci():
    agent = ConstantAgent(AgentSpec.for_game("breakout"), action=1, name="fire")
    first = evaluate(agent, episodes=3, seed=5)
    second = evaluate(agent, episodes=3, seed=5)
    assert first == second
    assert first.ci_low <= first.mean <= first.ci_high
    assert len(first.scores) == 3 and all(n > 0 for n in first.lengths)


def test_an_episodes_score_depends_only_on_the_seed_and_its_index():
    from cfsal.testing import tiny_agent

    agent = tiny_agent()
    long = evaluate(agent, episodes=3, seed=2, max_steps=200)
    short = evaluate(agent, episodes=2, seed=2, max_steps=200)
    assert long.scores[:2] == short.scores and long.lengths[:2] == short.lengths


@pytest.mark.slow
def test_sigterm_saves_a_final_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "b.safetensors"
    process = subprocess.Popen([sys.executable, "-m", "cfsal.cli", "train", "--game", "breakout", "--steps", "1e6",
                                "--out", str(out), "--n-envs", "2", "--checkpoint-every", "1000000", "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # wait until the training loop runs (however slow the machine), then let it take a few steps
    for line in process.stderr:
        if "started at step" in line:
            break
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)  # drains stderr, so the process never blocks on a full pipe
    assert out.exists(), "the final checkpoint is written on SIGTERM"
    run = json.loads((training_dir(out) / "run.json").read_text())
    assert 0 < run["steps_done"] < 10**6
