"""docs/architecture.md stays true: packages import only what its table allows, and every public
name is listed on the page."""

from __future__ import annotations

import ast
import importlib
import re
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
    "cli": {"agents", "envs", "report"},
}
BELOW_ADAPTERS = {"envs", "interventions", "agents", "saliency", "testing", "measures", "rollout", "stats", "judge",
                  "claims", "report", "cfsal"}
ALLOWED["suggest"] = BELOW_ADAPTERS
ALLOWED["plugin"] = BELOW_ADAPTERS
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


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_on_the_architecture_page(package):
    public = set(importlib.import_module(package).__all__)
    listed = _listed().get(package, set())
    assert public <= listed, (f"docs/architecture.md does not list {', '.join(sorted(public - listed))} of "
                              f"{package}: add a line '- `name` (kind): what it is for' under '### `{package}`'.")
    assert listed <= public, f"docs/architecture.md lists {', '.join(sorted(listed - public))}, gone from {package}"
