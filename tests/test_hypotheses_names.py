"""The shipped hypotheses use only names cfsal still has.

The suite does not run ``hypotheses/`` (the main job does, for minutes), so a refactor that drops a
public name they use would surface only there, as an ERROR in the results: read each file and check
that every ``module.name`` it takes from a cfsal module it imports exists.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

HYPOTHESES = sorted((Path(__file__).resolve().parents[1] / "hypotheses").glob("*.py"))


def _cfsal_modules(tree: ast.Module) -> dict[str, str]:
    """Local name → cfsal module, for ``import cfsal...`` and ``from cfsal... import module``."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "cfsal":
                    found[alias.asname or "cfsal"] = alias.name if alias.asname else "cfsal"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cfsal":
            for alias in node.names:
                if inspect.ismodule(getattr(importlib.import_module(node.module), alias.name, None)):
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


@pytest.mark.parametrize("path", HYPOTHESES, ids=lambda p: p.name)
def test_every_cfsal_name_a_hypothesis_uses_exists(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = _cfsal_modules(tree)
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            module = importlib.import_module(modules[node.value.id])
            if not hasattr(module, node.attr):
                missing.append(f"{modules[node.value.id]}.{node.attr} (line {node.lineno})")
    assert not missing, f"{path.name} uses names cfsal no longer has: {', '.join(missing)}"
