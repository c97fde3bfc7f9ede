"""Bad input everywhere: each mistake gets one clear error that names the bad value and the valid range.

Two levels. The library: every entry point a user types into (game, agent, intervention names and
parameters, specs, checkpoints, observations) raises a :class:`~cfsal.errors.CfsalError` subclass
whose message holds the offending value and what is allowed. The pytest session: one hypothesis
file holding a good claim beside each kind of mistake runs to the end; every mistake is reported
as an error of *its* hypothesis, in one line without a traceback, with a JSON record, and the good
claim still gets its verdict.
"""

from __future__ import annotations

import json
import math

import pytest

from cfsal.agents import AgentSpec, NatureActorCritic, ObservationSpec, load_checkpoint, save_checkpoint
from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.envs.validation import check_state
from cfsal.errors import (
    AgentNotFoundError,
    CfsalError,
    CheckpointError,
    GameStateError,
    HypothesisDeclarationError,
    InterventionError,
    ObservationShapeError,
    UnknownGameError,
)
from cfsal.interventions import amidar, breakout, from_spec
from cfsal.plugin.declare import HypothesisSpec
from cfsal.report.build import load_results
from cfsal.testing import tiny_agent


# -- the library ----------------------------------------------------------------------------------
def _saliency(method: str, **params):
    from cfsal.saliency import saliency

    return saliency(tiny_agent(), make("breakout", seed=0).observation, method=method, **params)


@pytest.mark.parametrize("call, error, fragments", [
    (lambda: make("tetris"), UnknownGameError, ["'tetris'", "breakout, amidar, space_invaders, pong"]),
    (lambda: make(42), UnknownGameError, ["42", "'breakout'"]),
    (lambda: load_agent("breakout-a2c-typo"), AgentNotFoundError, ["'breakout-a2c-typo'", "breakout-a2c"]),
    (lambda: _saliency(method="lime"), CfsalError, ["unknown saliency method 'lime'", "perturbation, "]),
    (lambda: _saliency(method="perturbation", colour=5), CfsalError, ["no parameter(s) colour", "its parameters are"]),
    (lambda: from_spec({"name": "breakout.teleport_ball"}), InterventionError, ["'breakout.teleport_ball'"]),
    (lambda: from_spec({"name": "breakout.move_ball", "x": 300}), InterventionError, ["x=300", "≤ x ≤"]),
    (lambda: breakout.MoveBall(x=-5), InterventionError, ["x=-5", "≤ x ≤"]),
    (lambda: breakout.MoveBall(dx=math.nan), InterventionError, ["dx=nan", "finite"]),
    (lambda: breakout.MoveBall(dx=math.inf), InterventionError, ["dx=inf", "finite"]),
    (lambda: breakout.MoveBall(dx="8"), InterventionError, ["dx='8'", "number"]),
    (lambda: amidar.SetEnemyCount(count=-1), InterventionError, ["count=-1", "0 ≤ count ≤"]),
    (lambda: amidar.SetEnemyCount(count=2.5), InterventionError, ["count=2.5", "whole number"]),
    (lambda: from_spec({"name": "breakout.move_ball", "speed": 3}), InterventionError, ["speed", "takes"]),
    (lambda: from_spec("{name: breakout.move_ball, dx: [}"), InterventionError, ["not valid YAML"]),
    (lambda: from_spec("breakout.move_ball"), InterventionError, ["bare string", "name:"]),
    (lambda: from_spec(json.loads('{"name": "breakout.move_ball", "dx": 1e400}')), InterventionError,
     ["dx=inf", "finite"]),
    (lambda: HypothesisSpec("x rises", kind="direction"), HypothesisDeclarationError, ["'greater' or 'less'"]),
    (lambda: HypothesisSpec("x", kind="no_effect"), HypothesisDeclarationError, ["margin > 0", "margin=None"]),
    (lambda: HypothesisSpec("x", kind="effect", alternative="greater"), HypothesisDeclarationError,
     ["kind='direction'"]),
    (lambda: HypothesisSpec("x", alpha=1.5), HypothesisDeclarationError, ["alpha", "(0, 0.5)", "1.5"]),
    (lambda: HypothesisSpec("x", samples=1), HypothesisDeclarationError, ["samples", "≥ 2", "1"]),
    (lambda: HypothesisSpec("x", kind="causal"), HypothesisDeclarationError, ["'causal'", "'no_effect'"]),
])
def test_every_mistake_is_one_error_naming_the_value_and_the_valid_range(call, error, fragments):
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, CfsalError)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_an_intervention_for_another_game_is_refused_before_touching_the_state():
    state = make("breakout", seed=0).get_toybox_state()
    with pytest.raises(InterventionError, match="amidar.set_enemy_count edits amidar states, but was given a breakout"):
        amidar.SetEnemyCount(count=2).apply(state)


def test_an_intervention_for_another_game_is_refused_by_the_experiment():
    from cfsal.rollout import counterfactual

    with pytest.raises(InterventionError, match="amidar intervention but agent 'tiny' plays breakout"):
        counterfactual(tiny_agent("breakout"), amidar.SetEnemyCount(count=2), samples=2)


def test_observations_of_another_shape_are_an_observation_shape_error():
    agent = NatureActorCritic(AgentSpec.for_game("breakout", ObservationSpec(shape=(4, 64, 64))), name="small")
    with pytest.raises(ObservationShapeError, match=r"\[batch, 4, 64, 64\].*got \[1, 4, 84, 84\]"):
        agent.logits_and_value(make("breakout", seed=0).observation)


@pytest.fixture
def checkpoints(tmp_path):
    paths = {game: save_checkpoint(tiny_agent(game), tmp_path / f"{game}.safetensors") for game in ("breakout", "amidar")}
    return tmp_path, paths


def test_a_checkpoint_for_another_game_names_both_games(checkpoints):
    _, paths = checkpoints
    with pytest.raises(CheckpointError, match="is an agent for 'amidar', but 'breakout' was asked for"):
        load_checkpoint(paths["amidar"], game="breakout")
    with pytest.raises(CheckpointError, match="'amidar', but 'breakout'"):
        load_agent(str(paths["amidar"]), game="breakout")


@pytest.mark.parametrize("damage", ["truncate_header", "truncate_weights", "garbage", "empty", "flip_json"])
def test_a_truncated_or_corrupt_checkpoint_is_a_checkpoint_error(checkpoints, damage):
    tmp_path, paths = checkpoints
    data = paths["breakout"].read_bytes()
    broken = {"truncate_header": data[:20], "truncate_weights": data[: len(data) // 2], "garbage": b"\x00\xff" * 999,
              "empty": b"", "flip_json": data.replace(b"cfsal-checkpoint", b"cfsal-checkpoinT")}[damage]
    path = tmp_path / "broken.safetensors"
    path.write_bytes(broken)
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        load_checkpoint(path)


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "no 'hypotheses' list"),
    ('{"hypotheses": [], "schema_version": 99}', "schema_version 99"),
    ("\udcff", "not valid JSON"),
])
def test_a_malformed_results_json_is_a_report_error(tmp_path, content, fragment):
    path = tmp_path / "results.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(CfsalError, match=fragment):
        load_results(path)


@pytest.mark.parametrize("edit, fragment", [
    (lambda s: s.update(score=-1), "score=-1 is outside 0 ≤ value ≤"),
    (lambda s: s.update(lives="3"), "lives='3' is string, expected integer"),
    (lambda s: s["balls"][0]["velocity"].update(x=math.nan), "is not a finite number"),
    (lambda s: s["balls"][0]["velocity"].update(x=1e9), "balls/0/velocity/x=1000000000.0 is outside -20 ≤ value ≤ 20"),
    (lambda s: s.pop("paddle"), "lacks paddle"),
    (lambda s: s.update(speed=3), "speed is not a field"),
])
def test_a_state_the_core_would_refuse_or_crash_on_is_a_game_state_error(edit, fragment):
    state = make("breakout", seed=0).get_toybox_state()
    edit(state)
    with pytest.raises(GameStateError, match="not a playable breakout state") as raised:
        check_state("breakout", state)
    assert fragment in str(raised.value)


def test_the_environment_refuses_a_bad_state_before_the_native_core_sees_it():
    env = make("pong", seed=0)
    state = env.get_toybox_state()
    state["p1_score"] = -1  # makes the Pong core abort the interpreter (found by test_fuzz.py)
    with pytest.raises(GameStateError):
        env.set_toybox_state(state)


@pytest.mark.parametrize("game, edit, fragments", [
    ("breakout", lambda c: c.update(paddle_discrete_segments=0),
     ["paddle_discrete_segments=0", "1 ≤ value ≤ 1000", "aborts the core", "null"]),
    ("breakout", lambda c: c.pop("start_lives"), ["lacks start_lives"]),
    ("breakout", lambda c: c.update(start_lives="5"), ["start_lives='5' is string, expected integer"]),
    ("breakout", lambda c: c.update(paddle_width=30), ["paddle_width is not a field this game knows"]),
    ("breakout", lambda c: c.update(ball_speed_slow=math.nan), ["ball_speed_slow=nan is not a finite number"]),
    ("breakout", lambda c: c.update(ball_start_positions=[]), ["ball_start_positions=[] is empty", "at least one"]),
    ("breakout", lambda c: c.update(row_scores=[7, 7, 4]), ["row_scores has 3 entries but row_colors has 6"]),
    ("amidar", lambda c: c.update(start_lives=2**31 - 1), ["start_lives=2147483647", "1 ≤ value ≤ 9"]),
    ("amidar", lambda c: c["board"].pop(), ["board is 30 × 32 tiles", "EnemyLookupAI"]),
    ("amidar", lambda c: c["board"].__setitem__(1, c["board"][1][:-1] + "#"), ["board holds '#'", "' =cp'"]),
    ("amidar", lambda c: c.update(player_start={"tx": 5, "ty": 5}), ["player_start=(5, 5) is not on a track"]),
    ("amidar", lambda c: c.update(player_start={"tx": 31, "ty": 30}), ["player_start=(31, 30)", "default_board_bugs"]),
    ("amidar", lambda c: c["enemies"][0]["EnemyLookupAI"].update(default_route_index=7),
     ["enemies/0/EnemyLookupAI/default_route_index=7", "0 ≤ route < 5"]),
    ("space_invaders", lambda c: c.update(shields=[[84, 1000]]), ["shields/0/1=1000", "0 ≤ value ≤ 192"]),
    ("pong", lambda c: c.update(game_points=0), ["game_points=0", "1 ≤ value ≤ 1000"]),
], ids=["paddle-segments-0", "missing-key", "wrong-type", "unknown-key", "nan", "no-ball-starts",
        "row-scores-short", "amidar-lives", "amidar-board-shape", "amidar-board-char", "amidar-start-off-track", "amidar-start-out-of-line",
        "amidar-route", "shield-off-screen", "pong-points-0"])
def test_a_config_the_core_would_refuse_or_crash_on_is_one_game_state_error(game, edit, fragments):
    """``env.configure`` refuses it in Python, names key, value and range, and leaves the game as it was."""
    env = make(game, seed=0)
    config = env.config
    edit(config)
    with pytest.raises(GameStateError, match=f"not a valid {game} configuration") as raised:
        env.configure(config)
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert "env.config" in str(raised.value) and "CONFIG_LIMITS" in str(raised.value)
    assert env.config == make(game, seed=0).config  # nothing reached the core
    env.reset(seed=0)
    env.step(0)


def test_an_edit_of_a_custom_intervention_that_breaks_the_state_is_refused(monkeypatch):
    from cfsal.interventions import params
    from cfsal.interventions.state import Intervention

    # a named subclass registers itself: keep it out of the registry other tests enumerate
    monkeypatch.setattr(params, "registry", dict(params.registry))

    class Unplayable(breakout.SetLives):
        name = "reliability.unplayable"

        def _edit(self, state, rng):
            state["balls"][0]["velocity"]["x"] = 1e9  # hangs the Breakout core (found by test_fuzz.py)

    env = make("breakout", seed=0)
    with pytest.raises(InterventionError):
        Unplayable(value=3).apply(env.get_toybox_state())
    assert issubclass(Unplayable, Intervention)


@pytest.mark.parametrize("settings, fragment", [
    ({"samples": 0}, "samples"), ({"branch_every": 0}, "branch_every"), ({"horizon": 0}, "horizon"),
    ({"horizon": -3}, "horizon"), ({"samples": 2.5}, "samples"),
])
def test_bad_experiment_settings_are_one_cfsal_error(settings, fragment):
    from cfsal.rollout import counterfactual

    with pytest.raises(CfsalError, match=fragment):
        counterfactual(tiny_agent(), breakout.MoveBall(dx=5), **{"samples": 2, "horizon": 2, **settings})


# -- the pytest session ---------------------------------------------------------------------------
#: The same tiny agent, but hypotheses that name an agent get that one loaded (as without a conftest).
CONFTEST_NAMED = '''
import pytest
from cfsal.agents.zoo import load_agent
from cfsal.plugin.fixtures import spec_of
from cfsal.testing import tiny_agent

@pytest.fixture
def agent(request):
    spec = spec_of(request.node)
    return load_agent(spec.agent) if spec is not None and spec.agent else tiny_agent(seed=0, name="tiny")
'''

MISTAKES = '''
import cfsal
from cfsal import measures
from cfsal.agents import AgentSpec, ObservationSpec, NatureActorCritic
from cfsal.interventions import amidar, breakout, from_spec
from cfsal.testing import StateEdit
from cfsal.testing.fakes import shift_ball

GOOD = dict(states=cfsal.States(window=(5, 60)), horizon=3, measure=measures.policy_total_variation)

@cfsal.hypothesis("moving the ball changes the policy")
def test_a_good_claim(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **GOOD)

@cfsal.hypothesis("contradictory", kind="direction")
def test_contradictory_declaration(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **GOOD)

@cfsal.hypothesis("no margin", kind="no_effect")
def test_no_effect_without_margin(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **GOOD)

@cfsal.hypothesis("ball outside the court")
def test_ball_outside_the_court(counterfactual):
    return counterfactual(breakout.MoveBall(x=300), **GOOD)

@cfsal.hypothesis("NaN move")
def test_nan_parameter(counterfactual):
    return counterfactual(breakout.MoveBall(dx=float("nan")), **GOOD)

@cfsal.hypothesis("string parameter")
def test_string_parameter(counterfactual):
    return counterfactual(from_spec({"name": "breakout.move_ball", "dx": "eight"}), **GOOD)

@cfsal.hypothesis("unknown intervention")
def test_unknown_intervention(counterfactual):
    return counterfactual(from_spec({"name": "breakout.teleport_ball", "x": 5}), **GOOD)

@cfsal.hypothesis("wrong game")
def test_intervention_for_another_game(counterfactual):
    return counterfactual(amidar.SetEnemyCount(count=2), **GOOD)

@cfsal.hypothesis("malformed yaml")
def test_malformed_yaml(counterfactual):
    return counterfactual(from_spec("{name: breakout.move_ball, dx: [}"), **GOOD)

@cfsal.hypothesis("negative enemy count")
def test_negative_enemy_count(counterfactual):
    return counterfactual(from_spec({"name": "amidar.set_enemy_count", "count": -1}), **GOOD)

@cfsal.hypothesis("unknown agent", agent="breakout-a2c-typo")
def test_unknown_agent(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **GOOD)

@cfsal.hypothesis("corrupt checkpoint", agent="corrupt.safetensors")
def test_corrupt_checkpoint(counterfactual):
    return counterfactual(StateEdit("breakout", shift_ball(60, 20)), **GOOD)

@cfsal.hypothesis("agent for 64x64 frames")
def test_observation_shape_mismatch(counterfactual, agent):
    small = NatureActorCritic(AgentSpec.for_game("breakout", ObservationSpec(shape=(4, 64, 64))), name="small")
    small.logits_and_value(__import__("cfsal").envs.make("breakout", seed=0).observation)
'''

#: nodeid suffix → fragments its one-line error must contain (the bad value and what is allowed).
EXPECTED = {
    "test_contradictory_declaration": ["'direction' claim", "'greater' or 'less'"],
    "test_no_effect_without_margin": ["margin > 0", "margin=None"],
    "test_ball_outside_the_court": ["x=300", "≤ x ≤"],
    "test_nan_parameter": ["dx=nan", "finite"],
    "test_string_parameter": ["dx='eight'", "number"],
    "test_unknown_intervention": ["'breakout.teleport_ball'"],
    "test_intervention_for_another_game": ["amidar intervention", "plays breakout"],
    "test_malformed_yaml": ["not valid YAML"],
    "test_negative_enemy_count": ["count=-1", "0 ≤ count ≤"],
    "test_unknown_agent": ["'breakout-a2c-typo'", "Zoo agents"],
    "test_corrupt_checkpoint": ["corrupt.safetensors", "not a readable cfsal checkpoint"],
    "test_observation_shape_mismatch": ["[batch, 4, 64, 64]", "got [1, 4, 84, 84]"],
}


@pytest.fixture
def session(pytester):
    pytester.makeconftest(CONFTEST_NAMED)
    pytester.makepyfile(test_mistakes=MISTAKES)
    (pytester.path / "corrupt.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}")
    return pytester


@pytest.mark.slow
def test_each_mistake_is_an_error_of_its_hypothesis_and_the_session_goes_on(session):
    result = session.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "6", "--cfsal-json", "out.json",
                                          "--cfsal-html", "off")
    out = result.stdout.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1, out  # the good claim still gets its verdict
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == len(EXPECTED), out
    records = {r["nodeid"].split("::")[-1]: r for r in json.loads((session.path / "out.json").read_text())["hypotheses"]}
    assert records["test_a_good_claim"]["status"] == "SUPPORTED"
    for name, fragments in EXPECTED.items():
        assert name in records, f"{name} left no record in the results JSON"
        assert records[name]["status"] == "ERROR", (name, records[name]["status"])
        for fragment in fragments:
            assert fragment in records[name]["error"], (name, fragment, records[name]["error"])
        line = next(line for line in out.splitlines() if line.startswith(("FAILED", "ERROR")) and name in line)
        assert "cfsal" in line, line  # one line, from cfsal, in the short summary


def test_a_bad_declaration_no_longer_drops_the_other_hypotheses_of_its_module(tiny_project):
    tiny_project.makepyfile(test_two='''
import cfsal
from cfsal import measures
from cfsal.testing import StateEdit
from cfsal.testing.fakes import unchanged

@cfsal.hypothesis("x goes up", kind="direction")
def test_declared_wrongly(counterfactual):
    pass

@cfsal.hypothesis(kind="no_effect", margin=0.05)
def test_declared_rightly(counterfactual):
    """An unchanged state changes no value."""
    return counterfactual(StateEdit("breakout", unchanged), states=cfsal.States(window=(5, 60)), horizon=2,
                          measure=measures.value_change)

def test_without_a_docstring_claim_is_reported_too():
    pass

test_without_a_docstring_claim_is_reported_too = cfsal.hypothesis()(test_without_a_docstring_claim_is_reported_too)
''')
    result = tiny_project.runpytest_subprocess("-p", "no:cacheprovider", "--cfsal-samples", "6",
                                               "--cfsal-json", "out.json", "--cfsal-html", "off")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*test_declared_wrongly*HypothesisDeclarationError*'greater' or 'less'*",
                                 "*test_without_a_docstring*state the claim*"])
    data = json.loads((tiny_project.path / "out.json").read_text())
    assert data["counts"] == {"ERROR": 2, "SUPPORTED": 1}
    assert "Traceback" not in result.stdout.str()


def test_a_declared_wrongly_hypothesis_loads_no_agent():
    import cfsal

    @cfsal.hypothesis("x", kind="direction", agent="breakout-a2c")
    def test_x(agent):
        raise AssertionError("never called")

    assert test_x.__name__ == "test_x"
    with pytest.raises(HypothesisDeclarationError, match="test_x was not run"):
        test_x()  # no `agent` argument: pytest will not set one up
