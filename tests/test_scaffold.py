"""`cfsal init`: the scaffold runs as written, for the agent and game asked for."""

import json
import subprocess
import sys

import pytest

from cfsal.agents.zoo import cards
from cfsal.errors import CfsalError
from cfsal.scaffold import default_agent, resolve_agent, scaffold


def cfsal(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cfsal.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.parametrize("game", ["breakout", "amidar", "space_invaders", "pong"])
def test_the_template_compiles_for_every_game(tmp_path, game):
    for path in scaffold(tmp_path / game, agent=f"{game}-random", game=game):
        compile(path.read_text(), str(path), "exec")


def test_refuses_to_overwrite_without_force(tmp_path):
    scaffold(tmp_path)
    with pytest.raises(CfsalError, match="--force"):
        scaffold(tmp_path)
    scaffold(tmp_path, force=True)


@pytest.mark.parametrize("game, agent", [("breakout", "breakout-expert"), ("amidar", "amidar-a2c"),
                                         ("pong", "pong-random"), ("space_invaders", "space_invaders-random")])
def test_each_game_defaults_to_its_best_trained_agent_else_its_random_control(game, agent):
    assert default_agent(game, cards()) == agent
    chosen = resolve_agent(None, game, cards())
    assert (chosen.name, chosen.game, chosen.default) == (agent, game, True)


def test_the_game_follows_from_the_agent():
    assert resolve_agent("amidar-a2c", None, cards()).game == "amidar"
    assert resolve_agent(None, None, cards()).name == "breakout-expert"


@pytest.mark.parametrize("args, message", [
    (("--agent", "breakout-a2cc"), "Did you mean breakout-a2c? Zoo agents for breakout: breakout-a2c-randomized, "),
    (("--agent", "amidar-a2c", "--game", "breakout"), "'amidar-a2c' plays amidar, not breakout"),
    (("--game", "ale_pong"), "cfsal init has templates for breakout, amidar, space_invaders, pong, not for ale_pong"),
    (("--game", "chess"), "unknown game 'chess'"),
    (("--agent", "mine.zip"), "'mine.zip' is neither a zoo agent nor an existing file"),
])
def test_a_wrong_agent_or_game_is_one_teaching_line_and_nothing_is_written(tmp_path, args, message):
    done = cfsal("init", tmp_path / "hyps", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "hyps").exists()


def test_the_scaffold_runs_as_written_with_pytest(tmp_path):
    subprocess.run([sys.executable, "-m", "cfsal.cli", "init", str(tmp_path / "hyps"), "--agent", "breakout-constant"],
                   check=True, capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "hyps"), "-p", "no:cacheprovider",
                           "--cfsal-samples", "8", "--cfsal-json", str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert "cfsal verdicts" in done.stdout, done.stdout[-2000:]
    assert "test_the_agent_reacts_to_the_change" in done.stdout and "Error" not in done.stdout


@pytest.mark.slow
def test_init_for_amidar_without_an_agent_runs_unedited(tmp_path):
    """The first-hour trap of #25: `--game amidar` wrote Amidar interventions for breakout-expert."""
    made = cfsal("init", tmp_path / "hyps", "--game", "amidar")
    assert made.returncode == 0 and "amidar-a2c, the zoo's best-scoring amidar agent" in made.stdout, made.stderr
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "hyps"), "-p", "no:cacheprovider",
                           "--cfsal-samples", "8", "--cfsal-json", str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    results = json.loads((tmp_path / "out.json").read_text())
    assert [(h["agent"], h["game"]) for h in results["hypotheses"]] == [("amidar-a2c", "amidar")] * 2, done.stdout[-2000:]
    assert set(results["counts"]) <= {"SUPPORTED", "REFUTED", "INCONCLUSIVE"}, done.stdout[-2000:]
