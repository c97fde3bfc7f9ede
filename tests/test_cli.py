"""The cfsal command: eval --json, zoo list, and one-line errors for bad input."""

import json
import subprocess
import sys

import pytest

from cfsal.agents import save_checkpoint
from cfsal.testing import tiny_agent


def cfsal(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cfsal.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_eval_json_has_mean_ci_and_scores(tmp_path):
    path = save_checkpoint(tiny_agent(), tmp_path / "tiny.safetensors")
    done = cfsal("eval", path, "--episodes", 2, "--seed", 1, "--json", "--max-steps", 300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"mean", "ci_low", "ci_high", "scores", "lengths"} <= set(result)
    assert len(result["scores"]) == 2


@pytest.mark.parametrize("args, message", [
    (("train", "--game", "chess", "--steps", "10", "--out", "x.safetensors"), "unknown game 'chess'"),
    (("eval", "no-such-agent"), "unknown agent 'no-such-agent'"),
    (("eval", "corrupt.safetensors"), "not a readable cfsal checkpoint"),
    (("eval", "amidar.safetensors", "--game", "breakout"), "is an agent for 'amidar'"),
])
def test_bad_input_gives_one_line_error_and_no_traceback(tmp_path, args, message):
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x00" * 64)
    save_checkpoint(tiny_agent("amidar"), tmp_path / "amidar.safetensors")
    done = cfsal(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
