"""`cfsal init`: the scaffold runs as written."""

import subprocess
import sys

import pytest

from cfsal.errors import CfsalError
from cfsal.scaffold import scaffold


@pytest.mark.parametrize("game", ["breakout", "amidar", "space_invaders", "pong"])
def test_the_template_compiles_for_every_game(tmp_path, game):
    for path in scaffold(tmp_path / game, agent=f"{game}-random", game=game):
        compile(path.read_text(), str(path), "exec")


def test_refuses_to_overwrite_without_force(tmp_path):
    scaffold(tmp_path)
    with pytest.raises(CfsalError, match="--force"):
        scaffold(tmp_path)
    scaffold(tmp_path, force=True)


def test_the_scaffold_runs_as_written_with_pytest(tmp_path):
    subprocess.run([sys.executable, "-m", "cfsal.cli", "init", str(tmp_path / "hyps"), "--agent", "breakout-constant"],
                   check=True, capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "hyps"), "-p", "no:cacheprovider",
                           "--cfsal-samples", "8", "--cfsal-json", str(tmp_path / "out.json")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert "cfsal verdicts" in done.stdout, done.stdout[-2000:]
    assert "test_the_agent_reacts_to_the_change" in done.stdout and "Error" not in done.stdout
