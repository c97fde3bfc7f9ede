"""docs/architecture.md stays true: packages import only what its table allows, every public name is
listed on the page, loading pytest or `cfsal --help` does not load the library, and no module is
over 500 lines."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
ALWAYS = {"errors", "_seeding"}
#: What each package (or top-level module) of cfsal may import, as docs/architecture.md's table says.
ALLOWED: dict[str, set[str]] = {
    "envs": set(),
    "interventions": {"envs"},
    "agents": {"envs", "stats"},
    "saliency": {"agents", "envs"},
    "testing": {"agents", "envs"},
    "scaffold": {"agents", "envs"},
    "measures": {"saliency", "rollout.traces"},
    "rollout": {"agents", "envs", "interventions", "measures"},
    "stats": set(),
    "judge": {"stats"},
    "claims": {"judge", "stats"},
    "report": {"agents", "interventions", "rollout", "saliency"},
}
BELOW_ADAPTERS = {"envs", "interventions", "agents", "saliency", "testing", "measures", "rollout", "stats", "judge",
                  "claims", "report", "cfsal"}
ALLOWED["suggest"] = BELOW_ADAPTERS
ALLOWED["plugin"] = BELOW_ADAPTERS
ALLOWED["cli"] = BELOW_ADAPTERS | {"scaffold", "suggest"}
PACKAGES = ["cfsal", "cfsal.envs", "cfsal.agents", "cfsal.saliency", "cfsal.interventions", "cfsal.rollout",
            "cfsal.stats", "cfsal.suggest", "cfsal.testing"]


def _imports(path: Path) -> set[str]:
    """Every cfsal module ``path`` imports, at any depth (function-local imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "cfsal" or name.startswith("cfsal.")}


def _owner(path: Path) -> str:
    parts = path.relative_to(ROOT / "cfsal").with_suffix("").parts
    return parts[0]


@pytest.mark.parametrize("path", sorted((ROOT / "cfsal").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_package_imports_only_what_the_architecture_allows(path):
    owner = _owner(path)
    if owner not in ALLOWED:
        return  # cfsal/__init__.py and the like: the face of the whole library
    wrong = []
    for name in sorted(_imports(path)):
        if name == "cfsal":
            target = "cfsal"
        else:
            parts = name.split(".")
            target = parts[1]
            if target == owner or target in ALWAYS:
                continue
            if ".".join(parts[1:3]) in ALLOWED[owner]:  # a module allowed alone (rollout.traces)
                continue
        if target not in ALLOWED[owner]:
            wrong.append(name)
    assert not wrong, (f"{path.relative_to(ROOT)} ({owner}) imports {', '.join(wrong)}: not allowed by "
                       "docs/architecture.md. Move the code to the layer that owns it, or change the table there "
                       "and here, saying why.")


def _listed() -> dict[str, set[str]]:
    text = PAGE.read_text(encoding="utf-8").split("<!-- public-names", 1)[1]
    listed: dict[str, set[str]] = {}
    package = None
    for line in text.splitlines():
        heading = re.match(r"^### `([\w.]+)`", line)
        if heading:
            package = heading.group(1)
            listed[package] = set()
        item = re.match(r"^- `(\w+)`", line)
        if item and package:
            listed[package].add(item.group(1))
    return listed


MAX_MODULE_LINES = 500


def test_no_module_is_longer_than_a_reader_can_hold():
    """A module over 500 lines has, in this code base, always held more than one concept (issue #23):
    split it by concept rather than raise the limit."""
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / "cfsal").rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_on_the_architecture_page(package):
    public = set(importlib.import_module(package).__all__)
    listed = _listed().get(package, set())
    assert public <= listed, (f"docs/architecture.md does not list {', '.join(sorted(public - listed))} of "
                              f"{package}: add a line '- `name` (kind): what it is for' under '### `{package}`'.")
    assert listed <= public, f"docs/architecture.md lists {', '.join(sorted(listed - public))}, gone from {package}"


FRONT_DOORS = ("_cfsal_pytestplugin.py", "_cfsal_cli.py")


@pytest.mark.parametrize("name", FRONT_DOORS)
def test_the_front_doors_import_no_cfsal_when_loaded(name):
    """pytest loads the plugin in every run, and `cfsal --help` should answer at once: their module
    level imports nothing of cfsal (whose import loads torch); cfsal comes in inside functions only."""
    tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in top if isinstance(node, ast.ImportFrom) and node.module}
    assert not {n for n in names if n == "cfsal" or n.startswith("cfsal.")}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=300)


def test_pytest_with_cfsal_installed_imports_no_torch_until_a_test_uses_cfsal(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n\ndef test_plain():\n    assert 'torch' not in sys.modules and 'cfsal' not in sys.modules\n")
    version = _run(["-X", "importtime", "-m", "pytest", "--version"], tmp_path)
    assert version.returncode == 0, version.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in version.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "cfsal" not in imported
    plain = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "test_plain.py"], tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "cfsal: seed" not in plain.stdout  # the session never started
    (tmp_path / "test_uses_cfsal.py").write_text(
        "import sys\nimport cfsal\n\n\ndef test_uses():\n    assert 'torch' in sys.modules\n")
    used = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "test_uses_cfsal.py"], tmp_path)
    assert used.returncode == 0, used.stdout + used.stderr
    assert "cfsal: seed 0" in used.stdout  # the session started once a test module imported cfsal


def test_importing_cfsal_registers_the_gymnasium_ids():
    done = _run(["-c", "import cfsal, gymnasium\nenv = gymnasium.make('cfsal/Breakout-v0')\n"
                       "print(env.reset(seed=0)[0].shape)"], ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(4, 84, 84)"
