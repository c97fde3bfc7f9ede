"""Independent action draws per arm (``common_random_numbers=False``): a placebo baseline and real nulls.

With common random numbers (the default) the arms of a pair sample each action from the same
uniform, so an intervention that leaves the policy alone gives exact zeros. With independent draws
the intervened arm samples from its own stream: a placebo (no-op) intervention then measures how
much two runs differ by chance, and an agent that ignores its input gives random, mean-zero
differences — a null on which the statistics, not only the engine, are exercised.
"""

import numpy as np
import pytest

from cfsal import measures
from cfsal._seeding import children
from cfsal.interventions import breakout
from cfsal.rollout import collect_branch_points, counterfactual, run_paired
from cfsal.rollout.executors import close_pools, run_with
from cfsal.rollout.paired import applicable, arm_uniforms
from cfsal.testing import StateEdit, tiny_agent
from cfsal.testing.fakes import unchanged

PLACEBO = StateEdit("breakout", unchanged)
MOVE = breakout.MoveBall(dx=40)
SETTINGS = {"branch_every": 10, "horizon": 6, "measure": measures.action_disagreement, "seed": 3}


@pytest.fixture(scope="module")
def agent():
    return tiny_agent()


def test_arm_uniforms_share_the_factual_stream_and_differ_only_in_the_intervened_arm():
    seeds = children(1, 3)
    common, independent = arm_uniforms(seeds, 5), arm_uniforms(seeds, 5, common=False)
    assert common.shape == independent.shape == (6, 5)
    np.testing.assert_array_equal(common[0::2], common[1::2])
    np.testing.assert_array_equal(independent[0::2], common[0::2])
    assert not np.any(independent[1::2] == common[1::2])


def test_a_placebo_gives_exact_zeros_with_common_random_numbers_and_chance_differences_without(agent):
    common = counterfactual(agent, PLACEBO, samples=8, **SETTINGS)
    independent = counterfactual(agent, PLACEBO, samples=8, common_random_numbers=False, **SETTINGS)
    np.testing.assert_array_equal(common.values, 0.0)
    assert independent.values.mean() > 0.2  # a near-uniform policy: independent draws disagree often
    # the factual arms are the same runs; only the intervened arms draw their own actions
    for a, b in zip(common.pairs, independent.pairs):
        np.testing.assert_array_equal(a.factual.actions, b.factual.actions)
        np.testing.assert_array_equal(a.intervened.logits[:1], b.intervened.logits[:1])  # same first state
    assert any(not np.array_equal(a.intervened.actions, b.intervened.actions)
               for a, b in zip(common.pairs, independent.pairs))
    assert common.to_dict()["design"]["common_random_numbers"] is True
    assert independent.to_dict()["design"]["common_random_numbers"] is False


def test_independent_draws_are_reproducible_and_a_sequential_run_is_a_prefix(agent):
    first = counterfactual(agent, MOVE, samples=6, common_random_numbers=False, **SETTINGS)
    again = counterfactual(agent, MOVE, samples=6, common_random_numbers=False, **SETTINGS)
    assert first.to_dict() == again.to_dict()
    stopped = counterfactual(agent, MOVE, samples=6, common_random_numbers=False, batch=2,
                             stop=lambda result: result.n >= 4, **SETTINGS)
    np.testing.assert_array_equal(stopped.values, first.values[:4])


def test_greedy_runs_draw_no_uniforms_so_the_setting_changes_nothing(agent):
    # (a paddle move: greedy play may never launch a ball, so a ball move might find no branch point)
    paddle, settings = breakout.MovePaddle(dx=30), {**SETTINGS, "measure": measures.value_change}
    common = counterfactual(agent, paddle, samples=4, greedy=True, **settings)
    independent = counterfactual(agent, paddle, samples=4, greedy=True, common_random_numbers=False, **settings)
    np.testing.assert_array_equal(common.values, independent.values)
    assert np.any(common.values != 0)


@pytest.mark.parametrize("way", ["process", "thread"])
def test_every_way_of_running_gives_the_same_independent_pairs(agent, way):
    # 19 pairs: the overlapped run pipelines groups of 8, 8 and 3
    points = collect_branch_points(agent, count=19, branch_every=10, seed=4, accept=lambda p: applicable(MOVE, p))
    seeds = children(7, len(points))
    simple = run_paired(agent, points, MOVE, horizon=4, seeds=seeds, overlap=False, common_random_numbers=False)
    fast = run_paired(agent, points, MOVE, horizon=4, seeds=seeds, overlap=way, common_random_numbers=False)
    for p, q in zip(simple, fast):
        for arm in ("factual", "intervened"):
            assert getattr(p, arm).actions.tobytes() == getattr(q, arm).actions.tobytes()
            assert getattr(p, arm).logits.tobytes() == getattr(q, arm).logits.tobytes()
    if way == "process":  # and a worker pool, which receives the setting with its job
        close_pools(2)
        pooled = run_with("process", agent, points[:4], [MOVE] * 4, horizon=4, seeds=seeds[:4], workers=2,
                          common_random_numbers=False)
        close_pools(2)
        for p, q in zip(simple[:4], pooled):
            assert p.intervened.actions.tobytes() == q.intervened.actions.tobytes()
