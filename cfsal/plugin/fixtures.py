"""Fixtures a hypothesis touches: ``agent``, ``env``, ``counterfactual``, ``hypothesis_seed``.

Torch and ctoybox are imported inside the fixtures, so a pytest run that uses no cfsal fixture
pays nothing for the plugin. A user's own ``agent`` fixture in a conftest overrides this one.
"""

from __future__ import annotations

from typing import Any

import pytest

from cfsal.errors import HypothesisDeclarationError
from cfsal.plugin.declare import HypothesisSpec
from cfsal.plugin.sequential import SequentialSession, StopRule
from cfsal.plugin.session import SessionState, states_seed
from cfsal.plugin.session import hypothesis_seed as _hypothesis_seed

SESSION_KEY = pytest.StashKey[SessionState]()
SEQUENTIAL_KEY = pytest.StashKey[SequentialSession]()
#: The stop rule of a hypothesis run sequentially (on its item), read back when it is judged.
STOP_RULE_KEY = pytest.StashKey[StopRule]()


def spec_of(item: pytest.Item) -> HypothesisSpec | None:
    marker = item.get_closest_marker("cfsal")
    return None if marker is None else marker.kwargs.get("spec")


def _progress_line(request: pytest.FixtureRequest):
    """A one-line progress display on an interactive terminal; None in CI logs and xdist workers."""
    import sys

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


def sequential_rule(config: pytest.Config, spec: HypothesisSpec, fixed_samples: int, seed: int) -> StopRule:
    """The stop rule (and so the design) of one sequential hypothesis in this session."""
    state = config.stash[SESSION_KEY]
    claim = spec.as_claim(state.settings.alpha)
    alpha = claim.alpha
    return StopRule(claim, config.stash[SEQUENTIAL_KEY].plan(spec, fixed_samples, alpha), alpha, seed=seed)


@pytest.fixture
def hypothesis_seed(request: pytest.FixtureRequest) -> int:
    """This hypothesis's seed, from ``--cfsal-seed`` and the hypothesis's identity (file name, function,
    parameters; not the directory, so it is the same however the file is named on the command line)."""
    return _hypothesis_seed(request.config.stash[SESSION_KEY].settings.seed, request.node.nodeid)


@pytest.fixture
def agent(request: pytest.FixtureRequest):
    """The agent the hypothesis names (``@cfsal.hypothesis(agent=…)``), or ``--cfsal-agent``."""
    from cfsal.agents.zoo import load_agent

    state = request.config.stash[SESSION_KEY]
    spec = spec_of(request.node)
    name = state.settings.agent_override or (spec.agent if spec else None)
    if name is None:
        raise HypothesisDeclarationError(
            f"{request.node.nodeid}: no agent named. Declare @cfsal.hypothesis(agent='breakout-expert'), "
            "pass --cfsal-agent NAME, or define an `agent` fixture in conftest.py."
        )
    if name not in state.agents:
        state.agents[name] = load_agent(name)
    return state.agents[name]


@pytest.fixture
def env(agent, hypothesis_seed: int):
    """A fresh environment of the agent's game, reset with the hypothesis seed."""
    from cfsal.envs import make

    return make(agent.spec.game, seed=hypothesis_seed)


@pytest.fixture
def counterfactual(request: pytest.FixtureRequest, agent, hypothesis_seed: int):
    """Run paired counterfactual rollouts on ``agent``: ``counterfactual(intervention, **settings)``.

    Settings are those of :func:`cfsal.rollout.counterfactual` (keywords, or ``design=`` a
    :class:`cfsal.rollout.Design`); ``samples`` defaults to the hypothesis's ``samples`` or
    ``--cfsal-samples``, ``seed`` to the hypothesis seed, and ``states_seed`` to the session's
    (:func:`cfsal.plugin.session.states_seed`: hypotheses on one agent and design read the same
    episodes). A ``design=`` fills in the same way: its fields left at ``Design``'s defaults take
    these, as keywords left out do. In
    sequential mode (``--cfsal-sequential`` or ``sequential=True``) the samples come in batches
    and the run stops as soon as the hypothesis's sequential test decides (docs/sequential.md).
    """
    from cfsal.rollout import counterfactual as run
    from cfsal.rollout.sampling import use_states_cache

    state = request.config.stash[SESSION_KEY]
    spec = spec_of(request.node)
    sequential = request.config.stash.get(SEQUENTIAL_KEY, None)

    def counterfactual(intervention: Any, **settings: Any):
        if settings.get("design") is not None:
            settings = _dissolve(settings)
        settings.setdefault("progress", _progress_line(request))
        fixed = spec.samples if spec and spec.samples else state.settings.samples
        if spec is not None and sequential is not None and sequential.applies_to(spec) and "samples" not in settings:
            rule = sequential_rule(request.config, spec, fixed, hypothesis_seed)
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
        return run(agent, intervention, **settings)

    return counterfactual


def _dissolve(settings: dict[str, Any]) -> dict[str, Any]:
    """``design=`` with any keywords, as keywords alone: the fields the design (or a keyword) sets,
    so that the ones it leaves at the defaults take the hypothesis's samples and seeds. A keyword
    that contradicts the design is the library's error (one place to declare each setting)."""
    from cfsal.rollout.design import KEYWORDS, PERIODIC_KEYWORDS, declare

    given = {name: settings.pop(name) for name in KEYWORDS if name in settings}
    design = declare(settings.pop("design"), **given)
    kept = {name: value for name, value in given.items() if value is not None and name not in PERIODIC_KEYWORDS}
    return {**settings, **design.changes(), **kept}
