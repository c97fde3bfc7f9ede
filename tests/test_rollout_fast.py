"""The fast rollout paths give byte-identical continuations to the simple ones (issue #6 speed bar).

Fast: snapshots restored from Toybox's native clone (each state's JSON read and written once)
and groups of branches pipelined so that their environments are prepared and stepped while
others are forwarded, in the environment process (``overlap="process"``) or a thread
(``overlap="thread"``). Simple: snapshots without a native clone (restored by replay, every state
read back from Toybox) and one thread. Everything a pair records must be equal to the byte.
"""

import dataclasses
import functools
import json
import math
import os
import signal
import sys
import threading
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfsal._seeding import children
from cfsal.envs import make
from cfsal.errors import InterventionError
from cfsal.interventions import breakout, pong, registry, space_invaders
from cfsal.interventions.checks import check_edit, check_finite, check_playable, copy_state
from cfsal.interventions.state import Intervention
from cfsal.rollout import arms, collect_branch_points, envprocess, run_paired
from cfsal.rollout.branching import BranchPoint
from cfsal.rollout.executors import close_pools, run_with, session_pool
from cfsal.rollout.paired import applicable, overlap_groups, prepare_pair
from cfsal.testing import StateEdit, random_play_states, tiny_agent
from cfsal.testing.fakes import shift_ball

MOVE = breakout.MoveBall(dx=40)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def agent():
    return tiny_agent()


@pytest.fixture(scope="module")
def points(agent):
    # 19 pairs: 38 rows, so the overlapped run pipelines three groups of 8, 8 and 3 pairs.
    return collect_branch_points(agent, count=19, branch_every=10, seed=4, accept=lambda p: applicable(MOVE, p))


@pytest.fixture
def ways(monkeypatch):
    """Which pipelines ran: the environment process's (counted when it returned pairs) or the thread's."""
    from cfsal.rollout import overlapped

    ran = []
    in_process, in_thread = overlapped.run_in_env_process, overlapped.run_pipelined

    def process(*args, **kwargs):
        pairs = in_process(*args, **kwargs)
        ran.append("process" if pairs is not None else "process refused")
        return pairs

    def thread(*args, **kwargs):
        ran.append("thread")
        return in_thread(*args, **kwargs)

    monkeypatch.setattr(overlapped, "run_in_env_process", process)
    monkeypatch.setattr(overlapped, "run_pipelined", thread)
    return ran


def without_native(points):
    """The same branch points as a worker process receives them: no native clone, a replay recipe."""
    return [dataclasses.replace(p, snapshot=dataclasses.replace(p.snapshot, native=None)) for p in points]


def assert_same_pairs(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert (p.episode, p.step, p.took_effect) == (q.episode, q.step, q.took_effect)
        for arm in ("factual", "intervened"):
            x, y = getattr(p, arm), getattr(q, arm)
            for name in ("actions", "logits", "values", "rewards", "lives", "first_observation"):
                u, v = getattr(x, name), getattr(y, name)
                assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes(), (arm, name)
            assert x.ended == y.ended and x.first_state == y.first_state


@pytest.mark.parametrize("intervention,way", [(MOVE, "process"), (MOVE, "thread"),
                                              (StateEdit("breakout", shift_ball(-30, 10)), "thread")],
                         ids=["library-intervention-process", "library-intervention-thread", "plain-function-edit"])
def test_fast_paths_give_the_simple_paths_pairs_byte_for_byte(agent, points, intervention, way, ways):
    seeds = children(7, len(points))
    simple = run_paired(agent, without_native(points), intervention, horizon=6, seeds=seeds, overlap=False)
    fast = run_paired(agent, points, intervention, horizon=6, seeds=seeds, overlap=way)
    assert ways == [way]
    assert_same_pairs(fast, simple)
    assert all(pair.took_effect for pair in fast)
    assert any(not np.array_equal(p.factual.logits, p.intervened.logits) for p in fast)  # the edit mattered


@pytest.mark.parametrize("way", ["process", "thread"])
def test_settling_by_noop_steps_gives_the_same_pairs_on_both_paths(agent, points, way, ways):
    seeds = children(8, len(points))
    simple = run_paired(agent, without_native(points), MOVE, horizon=3, seeds=seeds, overlap=False, settle=2)
    fast = run_paired(agent, points, MOVE, horizon=3, seeds=seeds, overlap=way, settle=2)
    assert ways == [way]
    assert_same_pairs(fast, simple)
    # the first state is the settled one, not the snapshot's
    assert json.loads(fast[0].factual.first_state) != json.loads(points[0].snapshot.toybox_json)


def test_a_library_persistent_intervention_gives_the_same_pairs_in_the_environment_process(agent, points, ways):
    seeds, freeze = children(10, len(points)), breakout.FreezeScore(value=7)
    simple = run_paired(agent, without_native(points), freeze, horizon=8, seeds=seeds, overlap=False)
    fast = run_paired(agent, points, freeze, horizon=8, seeds=seeds, overlap="process")
    assert ways == ["process"]
    assert_same_pairs(fast, simple)
    assert all(json.loads(pair.intervened.first_state)["score"] == 7 for pair in fast)


def test_the_environment_process_refuses_what_it_cannot_run_byte_identically(agent, points):
    with pytest.raises(ValueError, match="edits the environment itself"):
        run_paired(agent, points, StateEdit("breakout", shift_ball(-30, 10)), horizon=2,
                   seeds=children(1, len(points)), overlap="process")
    with pytest.raises(ValueError, match="overlap='sometimes'"):
        run_paired(agent, points, MOVE, horizon=2, seeds=children(1, len(points)), overlap="sometimes")


def test_an_intervention_class_the_environment_process_cannot_import_runs_in_a_thread(agent, points, ways):
    # A class pickled by reference to a module that exists only in this process.
    module = types.ModuleType("cfsal_test_only_here")
    module.Moved = types.new_class("Moved", (breakout.MoveBall,), {"register": False},  # kept out of the registry
                                   lambda namespace: namespace.update(__module__=module.__name__))
    sys.modules[module.__name__] = module
    try:
        seeds = children(11, len(points))
        simple = run_paired(agent, points, MOVE, horizon=3, seeds=seeds, overlap=False)
        fallback = run_paired(agent, points, module.Moved(dx=40), horizon=3, seeds=seeds, overlap="process")
    finally:
        del sys.modules[module.__name__]
    assert ways == ["process refused", "thread"]
    assert_same_pairs(fallback, simple)


def test_no_room_for_the_shared_board_runs_the_pairs_in_a_thread(agent, points, ways, monkeypatch):
    def full(size):
        raise OSError("no room (a full /dev/shm)")

    process = envprocess.env_process(wait=True)
    monkeypatch.setattr(process, "board", None)  # the next run needs a new board
    monkeypatch.setattr(envprocess, "_board_file", full)
    seeds = children(15, len(points))
    fallback = run_paired(agent, points, MOVE, horizon=3, seeds=seeds, overlap="process")
    assert ways == ["process refused", "thread"]
    assert_same_pairs(fallback, run_paired(agent, points, MOVE, horizon=3, seeds=seeds, overlap=False))


def test_an_error_in_the_environment_process_reaches_the_caller_as_itself(agent, points):
    # The last point's edit is refused there (the ball would leave the court); earlier groups run.
    interventions = [MOVE] * (len(points) - 1) + [breakout.MoveBall(dx=216)]
    with pytest.raises(InterventionError, match="outside the court") as caught:
        run_paired(agent, points, interventions, horizon=2, seeds=children(1, len(points)), overlap="process")
    assert "raised in the environment process" in "".join(getattr(caught.value, "__notes__", ["raised in the "
                                                                                              "environment process"]))
    seeds = children(12, len(points))  # and the process serves the next run
    assert_same_pairs(run_paired(agent, points, MOVE, horizon=2, seeds=seeds, overlap="process"),
                      run_paired(agent, points, MOVE, horizon=2, seeds=seeds, overlap=False))


def test_a_dead_environment_process_is_a_clear_error_and_the_next_run_starts_a_new_one(agent, points):
    seeds = children(13, len(points))
    run_paired(agent, points, MOVE, horizon=1, seeds=seeds, overlap="process")
    dead = envprocess.env_process(wait=True)
    os.kill(dead.process.pid, signal.SIGKILL)
    dead.process.wait()
    with pytest.raises(envprocess.EnvProcessError, match="ended during a rollout.*overlap='thread'"):
        run_paired(agent, points, MOVE, horizon=2, seeds=seeds, overlap="process")
    again = run_paired(agent, points, MOVE, horizon=2, seeds=seeds, overlap="process")
    assert envprocess.env_process(wait=True) is not dead
    assert_same_pairs(again, run_paired(agent, points, MOVE, horizon=2, seeds=seeds, overlap=False))


def test_pairs_started_from_their_origins_are_the_pairs_started_from_the_points(agent, points):
    # What an executor's worker does with snapshots that lost their native clone: no replay.
    scratch, seeds = make("breakout"), children(14, len(points))
    origins = [arms.PairOrigin.read(scratch, point.snapshot) for point in points]
    simple = run_paired(agent, points, MOVE, horizon=4, seeds=seeds, overlap=False)
    replayed = []
    started_at = arms.start_pair_at

    def no_replay(game, origin, *args, **kwargs):
        replayed.append(origin.snapshot.native)
        return started_at(game, origin, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arms, "start_pair_at", no_replay)
        from_origins = run_paired(agent, without_native(points), MOVE, horizon=4, seeds=seeds, overlap=False,
                                  origins=origins)
    assert len(replayed) == len(points)
    assert_same_pairs(from_origins, simple)
    with pytest.raises(ValueError, match="library interventions only"):
        run_paired(agent, points, StateEdit("breakout", shift_ball(-30, 10)), horizon=1, seeds=seeds,
                   overlap=False, origins=origins)


def test_the_environment_side_uses_no_torch():
    """The environment process steps games and never forwards: its code (and what it imports of cfsal
    beyond the package's face) needs no torch. (The process still loads torch when it starts, through
    ``import cfsal``: about 2 s while the rollouts use the thread, docs/architecture.md.)"""
    import ast
    import importlib

    for name in ("cfsal.rollout.envprocess", "cfsal.rollout.arms"):
        tree = ast.parse(Path(importlib.import_module(name).__file__).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in imported if m.split(".")[0] == "torch" or m.startswith("cfsal.agents")}, name


class HoldScore(StateEdit):
    """A persistent fake: the score is set back to 0 after every step (every group re-applies it)."""

    persistent = True

    def reapply_to_env(self, env, rng=None):
        self.apply_to_env(env, rng)


def zero_score(state, rng):
    state["score"] = 0
    return state


def test_persistent_interventions_are_reapplied_in_every_group_of_an_overlapped_run(agent, points):
    seeds = children(9, len(points))
    simple = run_paired(agent, without_native(points), HoldScore("breakout", zero_score), horizon=8, seeds=seeds,
                        overlap=False)
    fast = run_paired(agent, points, HoldScore("breakout", zero_score), horizon=8, seeds=seeds, overlap=True)
    assert_same_pairs(fast, simple)
    assert all(json.loads(pair.intervened.first_state)["score"] == 0 for pair in fast)


def test_an_error_preparing_a_later_group_reaches_the_caller(agent, points):
    def refuse(state, rng):
        raise InterventionError("refused on purpose")

    interventions = [MOVE] * (len(points) - 1) + [StateEdit("breakout", refuse)]
    with pytest.raises(InterventionError, match="refused on purpose"):
        run_paired(agent, points, interventions, horizon=2, seeds=children(1, len(points)), overlap=True)
    assert not [thread for thread in threading.enumerate() if thread.name == "cfsal-envs"]


class FailsLater(StateEdit):
    """A persistent fake whose re-application fails at the third step: an error mid-run, in a step."""

    persistent = True

    def reapply_to_env(self, env, rng=None):
        if env.steps >= env_steps_at_start[id(env)] + 3:
            raise RuntimeError("failed while stepping")


env_steps_at_start = {}


def test_an_error_while_stepping_reaches_the_caller_and_the_worker_ends(agent, points, monkeypatch):
    started = arms.start_pair

    def remember(*args, **kwargs):
        pair = started(*args, **kwargs)
        env_steps_at_start.update({id(pair.factual): pair.factual.steps, id(pair.intervened): pair.intervened.steps})
        return pair

    monkeypatch.setattr(arms, "start_pair", remember)
    with pytest.raises(RuntimeError, match="failed while stepping"):
        run_paired(agent, points, FailsLater("breakout", shift_ball(-30, 10)), horizon=6,
                   seeds=children(2, len(points)), overlap=True)
    assert not [thread for thread in threading.enumerate() if thread.name == "cfsal-envs"]


def test_overlap_groups_are_whole_forward_blocks_covering_every_pair():
    for pairs in range(1, 70):
        groups = overlap_groups(pairs)
        assert [a for a, _ in groups] == list(range(0, pairs, 8)) and groups[-1][1] == pairs
        assert all(b - a == 8 for a, b in groups[:-1]) and 0 < groups[-1][1] - groups[-1][0] <= 8
        assert len(groups) == math.ceil(2 * pairs / 16)  # as many 16-row blocks as one batch of all rows


@pytest.mark.parametrize("game,edit", [("breakout", MOVE), ("pong", pong.MoveBall(dx=7.25, dy=-3.5))])
def test_writing_a_states_text_writes_what_writing_the_state_does(game, edit):
    source = make(game)
    source.reset(seed=2)
    for _ in range(12):
        source.step(0)
    edited = edit.apply(source.get_toybox_state(), rng=np.random.default_rng(0))
    by_dict, by_text = make(game), make(game)
    by_dict.set_toybox_state(edited)
    by_text.set_toybox_state_text(json.dumps(edited))
    assert by_text.toybox_state_text() == by_dict.toybox_state_text()
    assert json.loads(by_text.toybox_state_text()) == by_text.get_toybox_state()


def test_copy_state_copies_like_deepcopy():
    shared = [1.5, {"x": 2}]
    state = {"a": shared, "b": shared, "t": (1, [2]), "n": np.arange(3), "o": OrderedDict(k=[3]),
             "s": "text", "f": None, "flag": True}
    copied = copy_state(state)
    assert copied.keys() == state.keys() and copied["s"] == "text" and copied["flag"] is True
    assert copied["a"] is copied["b"] and copied["a"] is not shared and copied["a"][1] is not shared[1]
    assert copied["t"][1] is not state["t"][1] and isinstance(copied["o"], OrderedDict)
    assert np.array_equal(copied["n"], state["n"]) and copied["n"] is not state["n"]
    copied["a"][1]["x"] = 99
    assert shared[1]["x"] == 2


@pytest.mark.parametrize("bad", [{"a": [1.0, float("nan")]}, {"a": np.float64("inf")},
                                 OrderedDict(b=[2**64]), [{"x": -(2**63) - 1}], {"t": [[[float("-inf")]]]}])
def test_check_finite_still_refuses_what_it_refused(bad):
    with pytest.raises(InterventionError, match="non-finite|out-of-range"):
        check_finite(MOVE, bad)


def test_check_finite_accepts_plain_states():
    check_finite(MOVE, {"a": [True, None, "s", 1.5, 2**63, np.int64(4), np.float32(2)], "b": {}})
    check_finite(MOVE, make("breakout").get_toybox_state())


@pytest.mark.slow
def test_the_process_pool_is_kept_for_the_session_and_gives_the_inline_pairs(agent, points):
    close_pools(2)
    seeds = children(5, 4)
    inline = run_paired(agent, points[:4], MOVE, horizon=3, seeds=seeds)
    first = run_with("process", agent, points[:4], [MOVE] * 4, horizon=3, seeds=seeds, workers=2)
    pool = session_pool(2)
    second = run_with("process", agent, points[:4], [MOVE] * 4, horizon=3, seeds=seeds, workers=2)
    assert session_pool(2) is pool
    assert_same_pairs(first, inline)
    assert_same_pairs(second, inline)
    close_pools(2)


def test_overlap_is_the_default_only_with_a_free_cpu(monkeypatch):
    from cfsal.rollout import paired

    monkeypatch.setattr(paired.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(paired, "usable_cpus", lambda: 2)
    monkeypatch.setattr(paired.os, "getloadavg", lambda: (1.2, 1.0, 1.0))  # one busy core of two
    assert paired.overlap_pays()
    monkeypatch.setattr(paired.os, "getloadavg", lambda: (7.0, 7.0, 7.0))  # oversubscribed
    assert not paired.overlap_pays()
    monkeypatch.setattr(paired, "usable_cpus", lambda: 1)  # pinned to one CPU
    monkeypatch.setattr(paired.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not paired.overlap_pays()


# -- check_edit: the rollout path's check of only what an edit changed ------------------------------
GAMES = ("breakout", "pong", "amidar", "space_invaders")


@functools.cache
def core_states(game):
    """States read from the native core at a few points of a random-play episode."""
    return random_play_states(game, steps=90, every=30)


def leaf_paths(value, path=()):
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(leaf_paths(item, path + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            out.extend(leaf_paths(item, path + (index,)))
    return out


EDIT_VALUES = st.one_of(
    st.integers(-2**65, 2**65), st.floats(allow_nan=True, allow_infinity=True), st.floats(-400, 400),
    st.sampled_from([-1, 0, 1, 9, 10, 99, 100, 255, 256, 1000, 2**31, -2**31, 2**63, True, False, None, "x",
                     "Up", [], {}, [1], {"x": 1}, 1.5, -0.0]))


@dataclasses.dataclass(frozen=True)
class Named:
    name: str
    game: str


def refusal(check):
    try:
        check()
    except InterventionError as error:
        return str(error)
    return None


@pytest.mark.parametrize("game", GAMES)
@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_check_edit_refuses_exactly_what_the_whole_state_checks_refuse(game, data):
    before = data.draw(st.sampled_from(core_states(game)))
    after = copy_state(before)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(leaf_paths(after)))
        parent = after
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        kind = data.draw(st.sampled_from(["nudge", "nudge", "replace", "delete"]))
        if kind == "nudge" and type(old) in (int, float):
            parent[path[-1]] = type(old)(old + data.draw(st.sampled_from([-500, -50, -5, -1, 1, 3, 40, 300, 5000])))
        elif kind == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy_state(data.draw(EDIT_VALUES))
    who = Named("fuzz", game)
    whole = refusal(lambda: (check_finite(who, after), check_playable(who, after)))
    assert refusal(lambda: check_playable(who, before)) is None  # the core's states are playable
    fast = refusal(lambda: check_edit(who, before, after))
    assert (fast is None) == (whole is None), (fast, whole)  # colours: the whole check names the dict


@dataclasses.dataclass(frozen=True)
class SetBallX(Intervention, register=False):  # kept out of the registry other tests enumerate
    """An edit with no range check of its own: only the state checks stand between it and the core."""

    x: float = 0.0
    name = "testing.set_ball_x"
    game = "breakout"

    def _edit(self, state, rng):
        state["balls"][0]["position"]["x"] = self.x


def test_apply_from_core_is_apply_where_the_state_came_from_the_core(points):
    state = json.loads(points[0].snapshot.toybox_json)
    for intervention in (MOVE, breakout.MoveBall(dx=-30, dy=12) + breakout.MovePaddle(x=30), SetBallX(x=60.5)):
        assert intervention.apply_from_core(state, rng=np.random.default_rng(1)) == intervention.apply(
            state, rng=np.random.default_rng(1))
    for x in (1e6, float("nan"), -101.0):
        edit = SetBallX()
        object.__setattr__(edit, "x", x)  # past the parameter check: the state checks must catch it
        for apply in (edit.apply, edit.apply_from_core):
            with pytest.raises(InterventionError, match="balls/0/position/x|non-finite"):
                apply(state)
    assert "testing.set_ball_x" not in registry


def through_apply_to_env(intervention):
    """The same intervention, but prepared through its ApplyRecord (``apply_to_env``) path."""

    class ViaRecord(type(intervention), register=False):  # a test double: kept out of the registry
        def apply_to_env(self, env, rng=None, settle="refresh"):
            return Intervention.apply_to_env(self, env, rng, settle)

    return ViaRecord(**{spec.name: getattr(intervention, spec.name) for spec in intervention.params()})


@pytest.mark.parametrize("game,intervention", [
    ("pong", pong.MoveBall(dx=7.25, dy=-3.5)),
    ("space_invaders", space_invaders.MoveShip(dx=30)),
    ("amidar", None),  # the first amidar intervention that needs no parameters
], ids=["pong", "space_invaders", "amidar"])
def test_the_library_path_prepares_what_the_record_path_prepares(game, intervention):
    if intervention is None:
        intervention = next(item() for name, item in registry.items() if name.startswith("amidar.")
                            and all(not spec.required for spec in item.params()))
    env = make(game, seed=3)
    for _ in range(25):
        env.step(0)
    point = BranchPoint(0, 25, env.snapshot())
    fast = prepare_pair(game, point, intervention, np.random.SeedSequence(4))
    slow = prepare_pair(game, point, through_apply_to_env(intervention), np.random.SeedSequence(4))
    assert fast.took_effect == slow.took_effect
    for a, b in ((fast.factual_json, slow.factual_json), (fast.intervened_json, slow.intervened_json)):
        # (as JSON, not as text: one is Toybox's text, the other json.dumps of the parsed state; and
        # Amidar's junctions are a Rust HashSet, written in any order)
        assert canonical(json.loads(a)) == canonical(json.loads(b))
    assert canonical(fast.intervened_state) == canonical(slow.intervened_state)
    assert np.array_equal(fast.intervened.observation, slow.intervened.observation)


def canonical(state):
    """A state with Amidar's junction sets sorted (Toybox writes them in hash order)."""
    if "board" in state:
        state = {**state, "board": {**state["board"], **{key: sorted(state["board"][key])
                                                        for key in ("junctions", "chase_junctions")}}}
    return state
