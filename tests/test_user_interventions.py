"""Interventions written by users (docs/writing-interventions.md): declared parameters, state-dependent
choices recorded per branch, and the same life as a built-in one (hypotheses, other processes)."""

from __future__ import annotations

import importlib
import json
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from cfsal.errors import InterventionError
from cfsal.interventions import params
from cfsal.report.html import write_html
from cfsal.testing import random_play_states

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-interventions.md"


def guide_block(containing: str) -> str:
    """The guide's ```python block that contains ``containing``."""
    blocks = re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    return next(block for block in blocks if containing in block)


HYPOTHESIS_BLOCK = guide_block("class BreakBricksAboveBall")
#: The guide's intervention alone (its hypothesis names a zoo agent; these tests use the tiny one).
INTERVENTION_SOURCE = HYPOTHESIS_BLOCK.split("@cfsal.hypothesis")[0]


@pytest.fixture
def guide_module(monkeypatch, tmp_path):
    """The guide's BreakBricksAboveBall in an importable module of its own (as a user's file is),
    registered in a copy of the registry that other tests enumerate."""
    monkeypatch.setattr(params, "registry", dict(params.registry))
    (tmp_path / "my_interventions.py").write_text(INTERVENTION_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("my_interventions")
    sys.modules.pop("my_interventions", None)


def test_parameters_are_declared_and_bad_ones_are_one_teaching_error(guide_module):
    cls = guide_module.BreakBricksAboveBall
    assert cls.name == "breakout.break_bricks_above_ball" and params.registry[cls.name] is cls
    assert [(p.name, p.low, p.high, p.default) for p in cls.params()] == [("count", 1, 6, 1)]
    with pytest.raises(InterventionError) as error:
        cls(count=9)
    assert str(error.value) == ("breakout.break_bricks_above_ball: count=9 is outside the valid range 1 ≤ count ≤ 6: "
                                "bricks to break, from the lowest up.")
    assert error.value.__context__ is None  # one message, not one "during handling of" another
    with pytest.raises(InterventionError, match="count='2' must be an integer"):
        cls(count="2")


def test_what_the_edit_chose_is_recorded_and_differs_by_state(guide_module):
    intervention = guide_module.BreakBricksAboveBall(count=2)
    chosen = []
    for state in random_play_states("breakout", steps=400, every=40):
        try:
            after, choice = intervention.apply_choosing(state, np.random.default_rng(0), from_core=True)
        except InterventionError as error:  # no ball in play: the sampler sets such states aside
            assert "no ball is in play" in str(error) or "no live brick" in str(error)
            continue
        broken = {(b["col"], b["row"]) for b, a in zip(state["bricks"], after["bricks"]) if b["alive"] and not a["alive"]}
        assert broken == {tuple(cell) for cell in choice["bricks"]} and 1 <= len(broken) <= 2
        assert intervention.took_effect(state, after) and intervention.apply(state) == after
        chosen.append(choice)
    assert len(chosen) >= 3 and len({json.dumps(c) for c in chosen}) > 1  # the choice follows the ball
    assert intervention.to_dict() == {"name": "breakout.break_bricks_above_ball", "count": 2}  # the asked-for spec


def test_apply_to_env_records_the_choice_in_the_apply_record(guide_module):
    from cfsal.envs import make

    env = make("breakout", seed=0)
    for _ in range(60):
        env.step(1)
    record = guide_module.BreakBricksAboveBall().apply_to_env(env)
    assert record.took_effect and record.chosen["bricks"] and json.loads(json.dumps(record.to_dict()))["chosen"] == record.chosen


def test_it_pickles_by_reference_to_the_users_module(guide_module):
    intervention = guide_module.BreakBricksAboveBall(count=3)
    text = pickle.dumps(intervention)
    assert b"my_interventions" in text and pickle.loads(text) == intervention


def test_a_module_imported_again_replaces_its_class_and_a_taken_name_says_whose(guide_module):
    del sys.modules["my_interventions"]
    again = importlib.import_module("my_interventions")
    assert params.registry["breakout.break_bricks_above_ball"] is again.BreakBricksAboveBall
    source = ("from dataclasses import dataclass\nfrom cfsal.interventions import Intervention\n"
              "@dataclass(frozen=True)\nclass MoveBall(Intervention):\n    game = 'breakout'\n")
    with pytest.raises(TypeError, match="'breakout.move_ball' is taken by cfsal.interventions.breakout.MoveBall"):
        exec(source, {"__name__": "mine"})  # noqa: S102 -- a user's module that names its class as a built-in


def test_a_class_that_is_not_a_dataclass_says_so(monkeypatch):
    from cfsal.interventions import Intervention

    monkeypatch.setattr(params, "registry", dict(params.registry))

    class Forgotten(Intervention):
        game = "breakout"

    with pytest.raises(TypeError, match=r"Forgotten is not a dataclass: decorate it with @dataclasses.dataclass\(frozen=True\)"):
        Forgotten()


def test_the_report_shows_what_was_chosen(tmp_path):
    verdict = {"outcome": "SUPPORTED", "effect": 0.2, "ci_low": 0.1, "ci_high": 0.3, "confidence": 0.95, "n": 3}
    record = {"nodeid": "t.py::test_x", "status": "SUPPORTED", "claim": "c", "spec": {}, "verdict": verdict,
              "result": {"intervention": {"name": "amidar.move_nearest_enemy", "steps": 4}, "n": 3,
                         "chosen": [{"enemy": 2}, {"enemy": 2}, {"enemy": 0}], "took_effect": [True] * 3}}
    page = write_html({"schema_version": 1, "hypotheses": [record], "settings": {}}, tmp_path / "r.html").read_text()
    assert "<dt>chosen</dt>" in page and "{&quot;enemy&quot;: 2}</code> ×2" in page


def test_the_guides_intervention_runs_in_hypotheses_and_its_choices_reach_results_json(tiny_project):
    """Through the plugin with the tiny agent: the default run (environment process when it can load the
    class) and the process pool (spawned workers import the hypothesis file), both recording per branch."""
    tiny_project.makepyfile(test_bricks=INTERVENTION_SOURCE + '''
from cfsal import States


@cfsal.hypothesis(kind="effect")
def test_breaking_bricks_above_the_ball(counterfactual):
    """Breaking the bricks above the ball changes the policy."""
    return counterfactual(BreakBricksAboveBall(count=2), states=States(window=(5, 60)), horizon=3,
                          measure=measures.policy_total_variation)


@cfsal.hypothesis(kind="effect")
def test_breaking_bricks_above_the_ball_in_worker_processes(counterfactual):
    """The same, with the pairs run by spawned worker processes."""
    return counterfactual(BreakBricksAboveBall(count=2), states=States(window=(5, 60)), horizon=3,
                          measure=measures.policy_total_variation, executor="process", workers=2)
''')
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "4", "--cfsal-json",
                                               "out.json", "--cfsal-html", "off", "--cfsal-fail-on", "never")
    output = "\n".join(result.outlines + result.errlines)
    records = {r["nodeid"].split("::")[1]: r for r in json.loads((tiny_project.path / "out.json").read_text())["hypotheses"]}
    assert set(records) == {"test_breaking_bricks_above_the_ball", "test_breaking_bricks_above_the_ball_in_worker_processes"}, output
    for record in records.values():
        assert record["status"] != "ERROR", (record.get("error"), output)
        data = record["result"]
        assert data["intervention"] == {"name": "breakout.break_bricks_above_ball", "count": 2}
        assert len(data["chosen"]) == data["n"] == 4
        assert all(1 <= len(choice["bricks"]) <= 2 for choice in data["chosen"]), data["chosen"]


def test_every_rollout_path_records_the_same_choices(guide_module, monkeypatch):
    """The simple path, the environment process (which imports the user's module from the path it is
    sent) and the process pool record what the edit chose, pair by pair, identically."""
    from cfsal.rollout import overlapped
    from cfsal.rollout.branching import collect_branch_points
    from cfsal.rollout.executors import PairedJob, ProcessPoolExecutorBackend, close_pools
    from cfsal.rollout.paired import applicable, run_paired
    from cfsal.testing import tiny_agent

    ran = []
    in_process = overlapped.run_in_env_process

    def process(*args, **kwargs):
        pairs = in_process(*args, **kwargs)
        ran.append("process" if pairs is not None else "process refused")
        return pairs

    monkeypatch.setattr(overlapped, "run_in_env_process", process)
    agent, intervention = tiny_agent(), guide_module.BreakBricksAboveBall(count=2)
    # 10 pairs: two groups, so the overlapped run pipelines them (one group runs without overlap)
    points = collect_branch_points(agent, count=10, branch_every=10, seed=4, accept=lambda p: applicable(intervention, p))
    seeds = [np.random.SeedSequence([3, i]) for i in range(len(points))]
    simple = run_paired(agent, points, intervention, horizon=2, seeds=seeds, overlap=False)
    in_env_process = run_paired(agent, points, intervention, horizon=2, seeds=seeds, overlap="process")
    assert ran == ["process"]
    job = PairedJob(agent=agent, points=tuple(points), interventions=(intervention,) * len(points), horizon=2,
                    seeds=tuple(seeds), greedy=False, settle="refresh")
    close_pools(2)  # a pool started by an earlier test would not have the user's module on its path
    try:
        in_workers = ProcessPoolExecutorBackend(workers=2).run(job)
    finally:
        close_pools(2)
    chosen = [pair.chosen for pair in simple]
    assert all(choice and choice["bricks"] for choice in chosen)
    assert [pair.chosen for pair in in_env_process] == chosen == [pair.chosen for pair in in_workers]


def test_a_choice_is_kept_as_json_data_or_refused_with_what_to_return(monkeypatch):
    from dataclasses import dataclass

    from cfsal.interventions import Intervention

    monkeypatch.setattr(params, "registry", dict(params.registry))

    @dataclass(frozen=True)
    class ChooseNumpy(Intervention):
        game = "breakout"

        def edit(self, state, rng):
            return {"column": np.int64(3), "cells": (np.array([1, 2]),)}

    @dataclass(frozen=True)
    class ChooseAnObject(Intervention):
        game = "breakout"

        def edit(self, state, rng):
            return {"rng": rng}

    state = random_play_states("breakout", steps=1, every=1)[0]
    _, chosen = ChooseNumpy().apply_choosing(state)
    assert chosen == {"column": 3, "cells": [[1, 2]]} and type(chosen["column"]) is int
    with pytest.raises(InterventionError, match=r"breakout.choose_an_object: edit\(\) returned .* cannot be recorded "
                                                r"\(Generator is not JSON data\); return what it chose as dicts"):
        ChooseAnObject().apply_choosing(state, np.random.default_rng(0))
