"""What the fixtures a hypothesis touches hand it: its seed, its agent, an environment, ``counterfactual``.

The fixtures themselves are declared by the pytest plugin (``_cfsal_pytestplugin``), which calls
these through the session (:class:`cfsal.plugin.plugin.CfsalSession`).
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.errors import HypothesisDeclarationError
from cfsal.plugin.declare import HypothesisSpec
from cfsal.plugin.sequential import SequentialSession, StopRule
from cfsal.plugin.session import SessionState, states_seed
from cfsal.rollout import counterfactual as run_counterfactual
from cfsal.rollout.design import KEYWORDS, PERIODIC_KEYWORDS, declare
from cfsal.rollout.sampling import use_states_cache

#: The stop rule of a hypothesis run sequentially (on its item), read back when it is judged.
STOP_RULE_KEY = pytest.StashKey[StopRule]()


def spec_of(item: pytest.Item) -> HypothesisSpec | None:
    marker = item.get_closest_marker("cfsal")
    return None if marker is None else marker.kwargs.get("spec")


def agent_of(state: SessionState, node: pytest.Item):
    """The agent the hypothesis names (``@cfsal.hypothesis(agent=…)``), or ``--cfsal-agent``; loaded once a session."""
    spec = spec_of(node)
    name = state.settings.agent_override or (spec.agent if spec else None)
    if name is None:
        raise HypothesisDeclarationError(
            f"{node.nodeid}: no agent named. Declare @cfsal.hypothesis(agent='breakout-expert'), "
            "pass --cfsal-agent NAME, or define an `agent` fixture in conftest.py."
        )
    if name not in state.agents:
        state.agents[name] = load_agent(name)
    return state.agents[name]


def env_of(agent, seed: int):
    """A fresh environment of the agent's game, reset with the hypothesis seed."""
    return make(agent.spec.game, seed=seed)


def counterfactual_of(request: pytest.FixtureRequest, state: SessionState, sequential: SequentialSession | None,
                      agent, hypothesis_seed: int):
    """The ``counterfactual`` fixture's function: :func:`cfsal.rollout.counterfactual` on ``agent`` with the
    session's defaults (the ``counterfactual`` fixture's docstring says which)."""
    spec = spec_of(request.node)

    def counterfactual(intervention: Any, **settings: Any):
        if settings.get("design") is not None:
            settings = _dissolve(settings)
        settings.setdefault("progress", _progress_line(request))
        fixed = spec.samples if spec and spec.samples else state.settings.samples
        if spec is not None and sequential is not None and sequential.applies_to(spec) and "samples" not in settings:
            claim = spec.as_claim(state.settings.alpha)
            rule = StopRule(claim, sequential.plan(spec, fixed, claim.alpha), claim.alpha, seed=hypothesis_seed)
            request.node.stash[STOP_RULE_KEY] = rule
            settings.setdefault("batch", rule.plan.batch)
            settings.setdefault("stop", rule)
            settings["samples"] = rule.plan.limit
        settings.setdefault("samples", fixed)
        settings.setdefault("seed", hypothesis_seed)
        settings.setdefault("states_seed", states_seed(state.settings.seed))
        settings.setdefault("executor", state.settings.executor)
        settings.setdefault("workers", state.settings.workers)
        use_states_cache(state.settings.states_cache)
        return run_counterfactual(agent, intervention, **settings)

    return counterfactual


def _progress_line(request: pytest.FixtureRequest):
    """A one-line progress display on an interactive terminal; None in CI logs and xdist workers."""
    config = request.config
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or hasattr(config, "workerinput") or not sys.__stdout__.isatty():
        return None
    name = request.node.name

    def show(phase: str, done: int, total: int) -> None:
        with capture.global_and_fixture_disabled():
            reporter.write(f"\r  cfsal {name}: {phase} {done}/{total}\x1b[K", flush=True)
            if phase == "measured" and done == total:
                reporter.write("\r\x1b[K", flush=True)

    return show


def _dissolve(settings: dict[str, Any]) -> dict[str, Any]:
    """``design=`` with any keywords, as keywords alone: the fields the design (or a keyword) sets,
    so that the ones it leaves at the defaults take the hypothesis's samples and seeds. A keyword
    that contradicts the design is the library's error (one place to declare each setting)."""
    given = {name: settings.pop(name) for name in KEYWORDS if name in settings}
    design = declare(settings.pop("design"), **given)
    kept = {name: value for name, value in given.items() if value is not None and name not in PERIODIC_KEYWORDS}
    return {**settings, **design.changes(), **kept}
