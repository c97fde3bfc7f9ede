"""The cfsal command: eval, a fast start, and one-line errors for bad input."""

import json
import subprocess
import sys

import pytest

from cfsal.agents import save_checkpoint
from cfsal.agents.evaluation import MIN_EPISODES_FOR_CI
from cfsal.cli import build_parser
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


def test_eval_prints_an_interval_only_from_enough_episodes(tmp_path):
    path = save_checkpoint(tiny_agent(), tmp_path / "tiny.safetensors")
    few = cfsal("eval", path, "--episodes", 2, "--max-steps", 50, "--no-progress")
    assert few.returncode == 0, few.stderr
    assert "no confidence interval: 2 episodes are too few" in few.stdout and "CI" not in few.stdout
    enough = cfsal("eval", path, "--episodes", MIN_EPISODES_FOR_CI, "--max-steps", 20, "--no-progress")
    assert "95% CI of the mean" in enough.stdout and f"over the {MIN_EPISODES_FOR_CI} episode scores" in enough.stdout


@pytest.mark.parametrize("args", [["--help"], [], ["no-such-command"]])
def test_the_list_of_commands_does_not_import_torch(args):
    """`cfsal --help` paid 3.5–6 s for torch (#25): the front door (_cfsal_cli) answers it without the library."""
    assert _modules_loaded_by(args, ("torch", "cfsal", "ctoybox", "scipy.stats")) == []


def test_cfsal_help_is_the_full_parsers():
    """The front door lists the subcommands by its own help lines; they match the subcommands' parsers."""
    from _cfsal_cli import front_parser

    assert front_parser().format_help() == build_parser().format_help()


def test_the_front_door_hands_subcommands_to_the_library(capsys):
    from _cfsal_cli import main

    assert main(["interventions", "list", "--brief"]) == 0
    assert "breakout.move_ball" in capsys.readouterr().out


def test_a_package_subcommand_loads_only_its_own_package():
    """`cfsal saliency` should not wait for the report's matplotlib or training's stable-baselines3 (first hour)."""
    watched = ("cfsal.saliency.cli", "matplotlib.figure", "stable_baselines3", "cfsal.suggest")
    assert _modules_loaded_by(["saliency", "--help"], watched) == ["cfsal.saliency.cli"]


def _modules_loaded_by(args: list[str], watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh process has imported after ``cfsal <args>`` through the front door."""
    code = ("import sys, contextlib, io\n"
            "from _cfsal_cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n"
            f"        main({args!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"print(sorted(m for m in {watched!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().replace("'", '"'))
