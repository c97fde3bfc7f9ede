"""Documented examples cannot rot: every ```python block in README.md and docs/*.md runs here.

A block that declares hypotheses (``@cfsal.hypothesis``) runs as a real pytest session (pytester,
in a subprocess, few samples, a counterexample of a search not shrunk) and every hypothesis in it must come back with a verdict. Any other block
is exec'd in a fresh namespace, in a temporary working directory. A block that is deliberately not
runnable says so on the line before its fence, invisibly to readers::

    <!-- not-run: only the signature -->

and is reported as skipped with that reason; an unmarked block that does not run fails. The
literal hypothesis block of cfsal's package docstring runs like a markdown one, and every ``>>>``
example in cfsal/ runs with :mod:`doctest`. Relative links in these pages must point at files that exist.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py", "python3"}
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")

#: Options of the pytest session a hypothesis block runs in: few samples, a small sequential
#: budget, verdicts reported rather than gated on (the test gates on their presence instead).
SESSION_OPTIONS = ("-p", "no:cacheprovider", "--cfsal-samples", "6", "--cfsal-budget", "10",
                   "--cfsal-fail-on", "never", "--cfsal-json", "results.json", "--cfsal-html", "off",
                   "--junitxml", "junit.xml")
#: The session's conftest: a @given search runs every example it generates, but a counterexample
#: is reported as found, not shrunk (each shrink step is another rollout: minutes, not seconds).
#: It must load before the block imports cfsal.claims, whose ROLLOUT_SEARCH takes its phases from
#: the profile loaded then; the session runs in a subprocess, so nothing has imported it yet.
SESSION_CONFTEST = """
import torch
from hypothesis import Phase, settings

torch.set_num_threads(1)  # as tests/conftest.py: CI runs tests two at a time on two cores

settings.register_profile("docs-examples", phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
settings.load_profile("docs-examples")
"""
VERDICTS = {"SUPPORTED", "REFUTED", "INCONCLUSIVE"}
SEARCH_OUTCOMES = {"HELD", "COUNTEREXAMPLE"}  # a @given search holds or finds a counterexample


@dataclass(frozen=True)
class Block:
    path: str   # relative to the repository root
    line: int   # of the opening fence (or of the docstring's literal block), 1-based
    source: str
    skip: str | None = None  # the not-run reason

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def declares_hypotheses(self) -> bool:
        return "@cfsal.hypothesis" in self.source


def markdown_blocks(path: Path) -> list[Block]:
    """The fenced python blocks of one markdown file, with the not-run mark each may carry."""
    lines = path.read_text(encoding="utf-8").splitlines()
    relative = path.relative_to(ROOT).as_posix()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            if NOT_RUN.match(lines[i]) and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
                raise ValueError(f"{relative}:{i + 1}: a not-run mark must be on the line just before a ```python fence")
            i += 1
            continue
        fence, start = opening["fence"], i
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            i += 1
        if i == len(lines):
            raise ValueError(f"{relative}:{start + 1}: the fence opened here is never closed")
        mark = NOT_RUN.match(lines[start - 1]) if start > 0 else None
        if opening["info"].lower() in PYTHON:
            blocks.append(Block(relative, start + 1, "\n".join(lines[start + 1:i]) + "\n",
                                mark["reason"] if mark else None))
        elif mark:
            raise ValueError(f"{relative}:{start + 1}: a not-run mark on a ```{opening['info']} block; "
                             "only python blocks run")
        i += 1
    return blocks


def docstring_blocks(path: Path) -> list[Block]:
    """The ``::`` literal blocks of a module's docstring (the package docstring's example)."""
    module = ast.parse(path.read_text(encoding="utf-8"))
    node = module.body[0]
    lines = ast.get_docstring(module, clean=False).splitlines()
    relative = path.relative_to(ROOT).as_posix()
    blocks = []
    for i, text in enumerate(lines):
        if not text.rstrip().endswith("::"):
            continue
        body = []
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" ")):
            body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            body.pop()
        first = next(k for k in range(i + 1, j) if lines[k].strip())
        indent = min(len(t) - len(t.lstrip()) for t in body if t.strip())
        source = "\n".join(t[indent:] for t in body).strip("\n") + "\n"
        blocks.append(Block(relative, node.lineno + first, source))
    return blocks


def collect() -> list[Block]:
    blocks = [block for document in DOCUMENTS for block in markdown_blocks(document)]
    return blocks + docstring_blocks(ROOT / "cfsal" / "__init__.py")


BLOCKS = collect()


def test_the_examples_are_found():
    """A collector that silently found nothing would pass everything."""
    ids = {block.id for block in BLOCKS}
    assert any(i.startswith("README.md:") for i in ids) and any(i.startswith("cfsal/__init__.py:") for i in ids)
    assert any(block.declares_hypotheses for block in BLOCKS) and not all(block.declares_hypotheses for block in BLOCKS)


def hypothesis_names(source: str) -> list[str]:
    """The test functions a block declares with @cfsal.hypothesis."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("cfsal.hypothesis", "hypothesis"):
                    names.append(node.name)
                    break
    return names


def run_hypotheses(block: Block, pytester: pytest.Pytester) -> None:
    names = hypothesis_names(block.source)
    assert names, f"{block.id} mentions @cfsal.hypothesis but declares no hypothesis function"
    for name in names:
        assert re.search(rf"def {name}\(\s*counterfactual\b", block.source), \
            f"{block.id}: {name} does not take the counterfactual fixture"
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(SESSION_CONFTEST)
    pytester.makepyfile(test_example=block.source)
    result = pytester.runpytest_subprocess(*SESSION_OPTIONS)
    output = "\n".join(result.outlines + result.errlines)
    results = pytester.path / "results.json"
    assert results.exists(), f"{block.id}: no hypothesis came back with a verdict (no results file)\n{output}"
    records = json.loads(results.read_text())["hypotheses"]
    for name in names:
        mine = [r for r in records if re.fullmatch(rf"test_example\.py::{name}(\[.*\])?", r["nodeid"])]
        assert mine, f"{block.id}: {name} produced no verdict\n{output}"
        for record in mine:
            outcome = (record.get("adjusted_verdict") or {}).get("outcome", record.get("status"))
            assert outcome in VERDICTS | SEARCH_OUTCOMES, \
                f"{block.id}: {record['nodeid']} ended {outcome}: {record.get('error')}\n{output}"
            if outcome == "COUNTEREXAMPLE":  # a claim that does not hold is a result; any other exception is a bug
                crash = failure_messages(pytester.path / "junit.xml").get(record["nodeid"], "")
                assert crash.startswith("cfsal.claims.ClaimNotSupported"), f"{block.id}: {crash}\n{output}"


def failure_messages(junit: Path) -> dict[str, str]:
    """nodeid → the failure's one-line message ("module.Exception: text") from a JUnit XML report."""
    messages = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            module = case.get("classname").replace(".", "/")
            messages[f"{module}.py::{case.get('name')}"] = failure.get("message", "")
    return messages


@pytest.mark.parametrize("block", [
    # a @given search runs rollouts for every example it generates
    pytest.param(block, id=block.id, marks=[pytest.mark.slow] if "@given" in block.source else [])
    for block in BLOCKS
])
def test_example_runs(block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    if block.skip is not None:
        pytest.skip(f"marked not-run: {block.skip}")
    if block.declares_hypotheses:
        run_hypotheses(block, pytester)
        return
    monkeypatch.chdir(pytester.path)  # a fresh temporary directory, for examples that write files
    from cfsal.interventions import params

    # an intervention an example defines registers itself: keep it out of the registry other tests enumerate
    monkeypatch.setattr(params, "registry", dict(params.registry))
    code = compile(block.source, block.id, "exec", dont_inherit=True)  # not this file's __future__ imports
    exec(code, {"__name__": "__doc_example__"})  # noqa: S102 -- the point: run the documented code


DOCTEST_MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "cfsal").rglob("*.py") if ">>>" in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_doctests(name: str):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no doctest was found in it"
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)\s]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(document):
    """A page moved or renamed leaves no dead link behind (relative links only; the web is not fetched)."""
    dead = [m["target"] for m in LINK.finditer(document.read_text(encoding="utf-8"))
            if "://" not in m["target"] and not m["target"].startswith("mailto:")
            and not (document.parent / m["target"]).exists()]
    assert not dead, f"{document.relative_to(ROOT)} links to missing files: {dead}"
