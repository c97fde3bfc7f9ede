"""The benchmarks in benchmarks/ run, with tiny sizes, so they cannot rot between measurements."""

import sys
from pathlib import Path

import numpy as np
import pytest

from cfsal.agents.base import FORWARD_BLOCK
from cfsal.interventions import breakout
from cfsal.testing import tiny_agent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_calibration
import bench_clusters
import bench_rollouts


@pytest.fixture(scope="module")
def agent():
    return tiny_agent("breakout")


def test_rollout_benchmark_times_every_variant_on_identical_pairs(agent):
    result = bench_rollouts.measure(agent, branches=2, horizon=3, branch_every=10, repeats=1, process=False)
    assert result.branches == 2 and 0 < result.agent_steps <= 2 * 2 * 3
    assert result.forward_rows == result.agent_steps  # every step of every arm is one forwarded row
    assert result.identical_pairs
    assert min(result.batched_seconds, result.one_at_a_time_seconds, result.bare_forward_seconds) > 0
    parts = result.breakdown  # the clocks wrapped around the forward and the env step were reached
    assert min(parts["setup"], parts["forward"], parts["env"]) > 0
    assert parts["setup"] + parts["forward"] + parts["env"] + parts["results"] + parts["rest"] == pytest.approx(parts["total"])
    assert bench_rollouts.RolloutBenchmark.from_dict(result.to_dict()) == result
    machine = bench_rollouts.machine_description(1)
    text = bench_rollouts.to_markdown(result, machine, [0.0, 0.0, 0.0])
    assert "batched ≥ 4× one branch at a time" in text and machine["cpu"] in text


def test_live_rows_count_continuations_still_running_at_each_step(agent):
    points = bench_rollouts.collect_branch_points(agent, count=2, branch_every=10, seed=0)
    from cfsal._seeding import children

    pairs = bench_rollouts.run_batched(agent, points, breakout.SetScore(value=5), 4, children(1, 2))
    np.testing.assert_array_equal(bench_rollouts.live_rows_per_step(pairs, 4), [4, 4, 4, 4])


def test_null_agent_gives_exact_zeros_and_no_supported_effect():
    out = bench_calibration.null_hypotheses("breakout-constant", breakout.MoveBall(dx=40), seed=0, setting=0,
                                            horizon=2, branch_every=20, samples=8)
    assert set(out) == set(bench_calibration.BEHAVIOUR + bench_calibration.DYNAMICS)
    for name in bench_calibration.BEHAVIOUR:
        outcome, nonzero, took = out[name]
        assert outcome != "SUPPORTED" and nonzero == 0.0 and took == 1.0


def test_placebo_arms_differ_only_by_action_noise():
    differences = bench_calibration.placebo_differences("breakout-random", 0, horizon=20, branch_every=20,
                                                        samples=6)
    assert set(differences) == set(bench_calibration.PLACEBO_MEASURES)
    assert all(len(d) == 6 for d in differences.values())
    assert any(np.any(d != 0) for d in differences.values())  # independent noise: the arms really differ


def test_positive_control_and_report_run(agent):
    positive = bench_calibration.summarise("positive", "tiny", "breakout.move_ball(dx=40)", [
        bench_calibration.positive_hypotheses(agent, seed, horizon=2, branch_every=20, samples=6)
        for seed in (0, 1)])
    null = bench_calibration.run_null(2, horizon=2, branch_every=20, jobs=1,
                                      settings=bench_calibration.NULL_SETTINGS[1:2])
    assert [r.supported for r in null if r.measure in bench_calibration.BEHAVIOUR] == [0] * 6
    assert bench_calibration.Rate.from_dict(null[0].to_dict()) == null[0]
    text = bench_calibration.to_markdown(null, [], positive, machine=bench_rollouts.machine_description(1),
                                         load_at_end=[0.0] * 3, settings={}, expert="tiny", seconds=1.0)
    assert "Goal (SUPPORTED rate ≤ α + Monte-Carlo error): met" in text
    assert "SUPPORTED in ≥ 95% of seeds" in text
    rerun = bench_calibration.positive_section(positive, expert="another", run="Re-run alone.")
    updated = bench_calibration.replace_positive_section(text, rerun)
    assert updated.startswith(text[:text.index(bench_calibration.POSITIVE_HEADING)]) and updated.endswith(rerun)


def test_a_settings_verdicts_are_seeded_by_its_place_in_the_table_not_on_the_command_line():
    bc = bench_calibration
    assert [bc.setting_index(bc.NULL_SETTINGS, s, "NULL_SETTINGS") for s in bc.NULL_SETTINGS[::-1]] == [5, 4, 3, 2, 1, 0]
    assert bc.setting_index(bc.NULL_SETTINGS, ("breakout-random", breakout.MoveBall(dx=40)), "NULL_SETTINGS") == 2
    with pytest.raises(ValueError, match="add it there"):
        bc.setting_index(bc.NULL_SETTINGS, ("breakout-constant", breakout.SetScore(value=500)), "NULL_SETTINGS")


def test_null_rows_merge_into_the_results_file_and_keep_the_other_sections():
    bc = bench_calibration

    def rows(agent, intervention, supported):  # one setting's rows as run_null returns them
        return bc.summarise("null", agent, intervention, [
            {m: ("SUPPORTED" if seed < supported else "NOT_SUPPORTED", 0.25, 1.0) for m in bc.BEHAVIOUR + bc.DYNAMICS}
            for seed in range(20)])

    ball, bricks = "breakout.move_ball(dx=40.0)", "breakout.shift_bricks(columns=3)"
    placebo = bc.summarise("placebo", "breakout-random", "none (two factual arms)",
                           [{"return_difference": ("NOT_SUPPORTED", 0.5, 1.0)}] * 20)
    positive = bc.summarise("positive", "tiny", "breakout.move_ball(dx=40)",
                            [{"action_disagreement": ("SUPPORTED", 1.0, 0.5)}] * 20)
    text = bc.to_markdown(rows("breakout-random", ball, 0), placebo, positive,
                          machine=bench_rollouts.machine_description(1), load_at_end=[0.0] * 3, settings={},
                          expert="tiny", seconds=1.0)
    parsed = bc.parse_rows(text[text.index(bc.NULL_HEADING):text.index(bc.PLACEBO_HEADING)], "null")
    assert bc.null_sections(parsed) == bc.null_sections(rows("breakout-random", ball, 0))  # read back as rendered

    once = bc.replace_null_sections(text, rows("breakout-constant", bricks, 3), "run A")
    twice = bc.replace_null_sections(once, rows("breakout-constant", bricks, 1), "run B")
    head, tail = text.index(bc.NULL_HEADING), text.index(bc.PLACEBO_HEADING)
    for merged in (once, twice):  # the text before and the placebo and positive sections stay as they were
        assert merged.startswith(text[:head]) and merged.endswith(text[tail:])
    null = bc.parse_rows(twice[head:twice.index(bc.PLACEBO_HEADING)], "null")
    # NULL_SETTINGS' order (shift_bricks is index 1, move_ball index 2), each setting's measures once
    assert [(r.agent, r.measure) for r in null] == \
        [("breakout-constant", m) for m in bc.BEHAVIOUR] + [("breakout-random", m) for m in bc.BEHAVIOUR] + \
        [("breakout-constant", m) for m in bc.DYNAMICS] + [("breakout-random", m) for m in bc.DYNAMICS]
    assert {r.supported for r in null if r.agent == "breakout-constant"} == {1}  # run B replaced run A
    assert f"- breakout-constant × {bricks}: run B" in twice and "run A" not in twice
    assert f"- breakout-random × {ball}: the run described at the top" in twice
    assert "Pooled over all 12 rows: 6/240 SUPPORTED" in twice
    assert bc.replace_null_sections(twice, rows("breakout-constant", bricks, 1), "run B") == twice  # idempotent
    swapped = bc.replace_null_sections(bc.replace_null_sections(text, rows("breakout-constant", bricks, 1), "run B"),
                                       rows("breakout-random", ball, 0), "the run described at the top of this file")
    assert swapped == twice  # the same rows and notes in whichever order the runs came
    with pytest.raises(ValueError):
        bc.replace_null_sections("# no sections\n", [], "run")


def test_rates_carry_exact_binomial_intervals():
    rate, low, high = bench_calibration.rate_with_ci(0, 200)
    assert rate == 0 and low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 200))  # Clopper–Pearson at 0
    assert bench_calibration.monte_carlo_limit(200) == pytest.approx(0.05 + 1.96 * np.sqrt(0.05 * 0.95 / 200))


def test_cluster_benchmark_rows_count_every_trial_and_render():
    row = bench_clusters.synthetic_row((6, 5, 0.3), count=3, seed=0)
    assert row["count"] == 3 and all(0 <= v <= 3 for v in row["false"].values())
    coverage = bench_clusters.coverage_row((6, 5, 0.3, "normal"), count=3, seed=0)
    assert set(coverage["hits"]) == {"iid BCa", "episode BCa", "CR1 t", "union"}
    assert all(0 <= v <= 3 for v in coverage["hits"].values())
    assert coverage["hits"]["union"] >= max(coverage["hits"]["episode BCa"], coverage["hits"]["CR1 t"])
    assert any("|" in line for line in bench_clusters.synthetic_section([row]))
    assert any("|" in line for line in bench_clusters.coverage_section([coverage]))


def test_sequential_benchmark_judges_both_designs_and_renders():
    import bench_sequential

    rows = [bench_sequential.synthetic_row(i, 2, 100 + i) for i in (1, 5)]  # a naive effect row, a no-effect row
    for row in rows:
        assert row["count"] == 2 and 0 <= row["sequential"] <= 2 and row["naive"] is not None
        assert [(g["fixed_n"], g["looks"]) for g in row["group"]] == list(bench_sequential.GROUP_DESIGNS)
        assert all(0 <= g["supported"] <= 2 and g["mean_stop"] <= 200 for g in row["group"])
    text = "\n".join(bench_sequential.synthetic_section(rows, 2))
    assert "1b. The same nulls under the group-sequential design" in text
    assert "looks at 11, 22, 33" in text and "looks at 65, 130, 195" in text


def test_the_oracle_bound_stops_each_decided_claim_at_its_first_deciding_n_and_spends_nothing_on_the_rest():
    from types import SimpleNamespace

    import bench_sequential

    spec = SimpleNamespace(kind="effect", alternative="two-sided", margin=None, alpha=None)
    item = bench_sequential.Item("t::clear", spec, None, {})
    values = np.random.default_rng(0).uniform(0.2, 0.6, size=40)  # a clear positive effect on [-1, 1]

    def row(outcome: str) -> dict:  # the fixed design's verdict after Holm: only its outcome is read
        return {"fixed_adjusted": SimpleNamespace(outcome=outcome), "fixed_n": 30}

    rows = [row("SUPPORTED"), row("INCONCLUSIVE")]
    samples = [(item, values, None, (-1.0, 1.0), 7), (item, values, None, (-1.0, 1.0), 7)]
    bench_sequential.oracle_stops(rows, samples, family=3)
    level = 0.05 / (3 - 1 + 1)
    assert rows[0]["oracle_level"] == pytest.approx(level) and rows[1]["oracle_n"] == 0
    n = rows[0]["oracle_n"]
    assert 2 <= n < 30  # a clear effect is decided well before the fixed n ...

    def outcome(k: int) -> str:
        return bench_sequential._fixed_of(item, values[:k], None, (-1.0, 1.0), 7, alpha=level).outcome

    assert outcome(n) == "SUPPORTED"  # ... at the first n where the fixed-n test at that level decides
    assert all(outcome(k) != "SUPPORTED" for k in range(2, n))


def test_seed_benchmark_summarises_coverage_spread_and_verdicts(tmp_path, monkeypatch):
    import bench_seeds

    rows = [{"claim": "a2c-ball", "design": design, "k": k, "kind": "effect", "outcome": outcome, "effect": effect,
             "ci": [effect - 0.1, effect + 0.1], "confidence": 0.95, "episodes": 30, "cpu_s": 1.0}
            for design in ("old", "new") for k, (effect, outcome) in
            enumerate([(0.30, "SUPPORTED"), (0.35, "SUPPORTED"), (0.02, "REFUTED")])]
    summary = bench_seeds._summary([r for r in rows if r["design"] == "new"])
    assert summary["K"] == 3 and summary["covered"] == pytest.approx(1 / 3)  # only [0.2, 0.4] holds 0.223
    assert summary["supported"] == 2 and summary["refuted"] == 1
    assert bench_seeds._goal(summary) == (False, False, False)
    monkeypatch.setattr(bench_seeds, "RESULTS", tmp_path)
    text = bench_seeds.write_markdown(rows, bench_rollouts.machine_description(1), 3, [0.0] * 3).read_text()
    assert "| a2c-ball | old | 3 |" in text and "| a2c-ball | new | 3 |" in text and "✘✘✘" in text


def test_collect_benchmark_counts_steps_and_times_every_way(agent):
    import bench_collect

    seconds, steps, blocks, episodes = bench_collect.lockstep(agent, 3, seed=0)
    assert seconds > 0 and steps >= 3 * 40  # every state lies at step ≥ 40 of its own episode
    assert steps / FORWARD_BLOCK <= blocks <= steps
    probe_steps, probe_seconds, forwarding_cpu, stepping_cpu = bench_collect.two_core_probe(agent, episodes, seed=0)
    assert probe_steps == steps and min(probe_seconds, forwarding_cpu, stepping_cpu) > 0  # the same episodes
    assert bench_collect.serial(agent, 50, seed=0) > 0 and bench_collect.bare_forward(agent, 4, 2) > 0
    [(alone, beside_process, beside_thread)] = bench_collect.contention(agent, 1, blocks=3)
    assert min(alone, beside_process, beside_thread) > 0


def test_first_hour_benchmark_times_commands_and_renders_the_goals(tmp_path):
    import bench_first_hour
    from bench_rollouts import machine_description

    assert bench_first_hour.run_cli(bench_first_hour.ROOT, ["--help"], tmp_path) > 0
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "maps.npz").write_bytes(b"x" * 1000)
    assert bench_first_hour.folder_bytes(tmp_path) == 1000
    fake = {"this checkout": {"help": [0.2], "interventions": [0.6], "saliency": [10.0], "bytes": 10_000},
            "before": {"help": [4.0], "interventions": [2.0], "saliency": [35.0], "bytes": 69_000}}
    text = bench_first_hour.report(fake, "abc^", "def", machine_description(1), 1, 1)
    assert "< 1 s ✔" in text and "3.5× ✔" in text and "6.9× ✔" in text


def test_rollout_benchmark_puts_an_ale_game_beside_toybox(agent):
    def tiny_run(of):
        return bench_rollouts.measure(of, branches=2, horizon=3, branch_every=10, repeats=1, process=False)

    results = [tiny_run(agent), tiny_run(tiny_agent("ale_pong", name="tiny-pong"))]
    assert results[1].identical_pairs and results[1].breakdown["env"] > 0
    text = bench_rollouts.side_by_side(results, bench_rollouts.machine_description(1), [0.0, 0.0, 0.0])
    assert "| `tiny` | `breakout.move_ball` |" in text and "| `tiny-pong` | `ale_pong.move_ball` |" in text
