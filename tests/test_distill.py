"""DAgger distillation: labels are the expert's, a tiny run goes end to end, and resumes exactly."""

import json
import shlex
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import cfsal.agents.distill as distill_module
from cfsal.agents.checkpoint import read_checkpoint_info
from cfsal.agents.checkpoint import load_checkpoint
from cfsal.agents.distill import (DAggerSettings, Shard, _new_student, class_weights, collect,
                                  discounted_returns, distill, soft_labels, training_dir)
from cfsal.agents.distill_cli import _flag, _reproducing_command
from cfsal.agents.expert import expert_action, expert_actions, expert_decision
from cfsal.cli import build_parser, main
from cfsal.errors import TrainingError

torch.set_num_threads(1)

TINY = DAggerSettings(iterations=2, expert_steps=96, student_steps=64, n_envs=4, epochs=1, first_epochs=1,
                      batch_size=32, rollout_max_steps=40)


def test_discounted_returns():
    np.testing.assert_allclose(discounted_returns(np.array([0.0, 1.0, 0.0, 1.0]), 0.5),
                               [0.5 + 0.125, 1.0 + 0.25, 0.5, 1.0])


def test_labels_are_the_experts_actions_even_where_the_student_acts():
    student = _new_student(0, "student")
    shard = collect(student, 80, 0.0, np.random.SeedSequence(1), TINY, record_states=True)
    assert shard.observations.shape == (80, 4, 84, 84) and shard.observations.dtype == np.uint8
    np.testing.assert_array_equal(shard.labels, expert_actions(shard.states))
    assert (shard.actions != shard.labels).any(), "with β = 0 the (untrained) student acts"


def test_expert_rollout_executes_the_labels():
    shard = collect(None, 48, 1.0, np.random.SeedSequence(2), TINY, record_states=True)
    np.testing.assert_array_equal(shard.actions, shard.labels)


def test_collection_is_reproducible_from_its_seed():
    student = _new_student(0, "student")
    a = collect(student, 40, 0.5, np.random.SeedSequence(3), TINY)
    b = collect(student, 40, 0.5, np.random.SeedSequence(3), TINY)
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)


def test_shard_round_trips_through_npz(tmp_path):
    shard = collect(None, 24, 1.0, np.random.SeedSequence(4), TINY)
    shard.save(tmp_path / "iter_0.npz")
    back = Shard.load(tmp_path / "iter_0.npz")
    np.testing.assert_array_equal(back.observations, shard.observations)
    np.testing.assert_array_equal(back.returns, shard.returns)


def test_tiny_run_end_to_end_and_a_killed_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    whole = distill(tmp_path / "whole.safetensors", seed=5, settings=TINY, progress=False)
    assert whole.dataset_size == 96 + 64
    info = read_checkpoint_info(whole.checkpoint)
    assert info.provenance["algorithm"] == "DAgger from scripted expert"
    assert info.provenance["iterations"] == 2 and info.provenance["dataset_size"] == 160
    directory = training_dir(whole.checkpoint)
    assert sorted(p.name for p in directory.iterdir()) == ["curve.csv", "iter_0.npz", "iter_1.npz", "run.json",
                                                           "student.safetensors"]
    assert len((directory / "curve.csv").read_text().splitlines()) == 3
    assert json.loads((directory / "run.json").read_text())["iterations_done"] == 2

    real_train_on = distill_module.train_on
    calls = []

    def dies_in_second_training(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train_on(*args, **kwargs)

    monkeypatch.setattr(distill_module, "train_on", dies_in_second_training)
    out = tmp_path / "killed.safetensors"
    with pytest.raises(KeyboardInterrupt):
        distill(out, seed=5, settings=TINY, progress=False)
    assert read_checkpoint_info(out).provenance["iterations"] == 1
    monkeypatch.setattr(distill_module, "train_on", real_train_on)
    distill(out, seed=5, settings=TINY, progress=False)
    resumed, reference = load_file(str(out)), load_file(str(whole.checkpoint))
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=0, atol=0)


def test_resuming_with_other_settings_is_refused_but_more_iterations_continue(tmp_path):
    settings = DAggerSettings(iterations=1, expert_steps=16, student_steps=8, n_envs=2, epochs=1, first_epochs=1,
                              batch_size=16, rollout_max_steps=20)
    distill(tmp_path / "a.safetensors", seed=0, settings=settings, progress=False)
    with pytest.raises(TrainingError, match="same --seed and settings"):
        distill(tmp_path / "a.safetensors", seed=1, settings=settings, progress=False)
    with pytest.raises(TrainingError, match="same --seed and settings"):
        distill(tmp_path / "a.safetensors", seed=0, settings=replace(settings, epochs=2), progress=False)
    more = distill(tmp_path / "a.safetensors", seed=0, settings=replace(settings, iterations=2),
                   progress=False)
    assert more.iterations == 2 and more.dataset_size == 24


def test_bad_settings_teach():
    with pytest.raises(TrainingError, match="epochs=0"):
        DAggerSettings(epochs=0)


def test_bad_settings_teach_their_bounds():
    with pytest.raises(TrainingError, match=r"gamma=1\.0 must be positive and < 1; the default is 0\.99"):
        DAggerSettings(gamma=1.0)
    with pytest.raises(TrainingError, match=r"class_balance=-0\.5 must be ≥ 0"):
        DAggerSettings(class_balance=-0.5)
    assert DAggerSettings(class_balance=0.0, soft_label_temperature=0.0).class_balance == 0.0


def test_every_setting_has_a_flag_and_the_reproducing_command_parses_back():
    """The flags, their help and the recorded command all come from DAggerSettings' declarations:
    a command written for a run with every setting changed parses back to exactly those settings."""
    changed = {f.name: type(f.default)(f.default * 2 if f.name not in ("beta_decay", "gamma") else f.default / 2)
               for f in fields(DAggerSettings)}
    changed["class_balance"] = 0.0
    flags = [arg for f in fields(DAggerSettings) for arg in (_flag(f), str(changed[f.name]))]
    args = build_parser().parse_args(["distill", "--out", "x.safetensors", *flags, "--seed", "3"])
    assert {f.name: getattr(args, f.name) for f in fields(DAggerSettings)} == changed
    assert "--lr" in flags and "--learning-rate" not in flags  # a declared flag keeps recorded commands valid
    command = _reproducing_command(args)
    again = build_parser().parse_args(shlex.split(command)[1:])
    assert again == args and DAggerSettings(**changed).learning_rate == 2 * DAggerSettings().learning_rate


def test_cli_distill_runs_and_refuses_other_games(tmp_path, capsys):
    args = build_parser().parse_args(["distill", "--out", "x.safetensors"])
    assert args.iterations == DAggerSettings().iterations
    assert main(["distill", "--game", "amidar", "--out", str(tmp_path / "a.safetensors")]) == 2
    assert "breakout only" in capsys.readouterr().err
    out = tmp_path / "cli.safetensors"
    assert main(["distill", "--out", str(out), "--iterations", "1", "--expert-steps", "16", "--n-envs", "2",
                 "--epochs", "1", "--first-epochs", "1", "--batch-size", "16", "--rollout-max-steps", "20", "--no-progress"]) == 0
    assert "1 DAgger iterations, 16 labelled frames" in capsys.readouterr().out
    assert read_checkpoint_info(out).provenance["command"].startswith("cfsal distill")


def test_class_weights_lift_rare_actions_and_stay_capped():
    settings = DAggerSettings(class_balance=0.5, max_class_weight=3.0)
    labels = np.array([0] * 80 + [2] * 10 + [3] * 10)
    weights = class_weights(labels, 4, settings)
    assert weights[0] < 1 < weights[2] == weights[3]
    assert weights[1] == 3.0  # FIRE never seen: the cap
    np.testing.assert_allclose(class_weights(labels, 4, DAggerSettings(class_balance=0.0)), [1, 1, 1, 1])


def test_a_new_stage_keeps_the_done_iterations_and_records_the_old_settings(tmp_path):
    settings = DAggerSettings(iterations=1, expert_steps=16, student_steps=8, n_envs=2, epochs=1, first_epochs=1,
                              batch_size=16, rollout_max_steps=20)
    out = tmp_path / "a.safetensors"
    distill(out, seed=0, settings=settings, progress=False, command="stage one")
    first = Shard.load(tmp_path / "a.safetensors.train" / "iter_0.npz")
    with pytest.raises(TrainingError, match="more --iterations"):
        distill(out, seed=0, settings=replace(settings, epochs=2), progress=False, new_stage=True)
    staged = replace(settings, iterations=2, epochs=2, soft_label_temperature=2.0)
    distill(out, seed=0, settings=staged, progress=False, new_stage=True, command="stage two")
    run = json.loads((tmp_path / "a.safetensors.train" / "run.json").read_text())
    assert run["iterations_done"] == 2 and run["settings"]["soft_label_temperature"] == 2.0
    assert run["earlier_stages"] == [{"iterations_done": 1, "settings": settings.to_dict(), "command": "stage one"}]
    np.testing.assert_array_equal(Shard.load(tmp_path / "a.safetensors.train" / "iter_0.npz").labels, first.labels)
    second = Shard.load(tmp_path / "a.safetensors.train" / "iter_1.npz")
    assert not first.soft and second.costs is not None and second.targets is None
    assert load_checkpoint(out, game="breakout").provenance["earlier_stages"][0]["command"] == "stage one"
    # resuming the second stage with its own settings is an ordinary resume, and keeps the record
    distill(out, seed=0, settings=replace(staged, iterations=3), progress=False, command="stage two")
    run = json.loads((tmp_path / "a.safetensors.train" / "run.json").read_text())
    assert run["iterations_done"] == 3 and run["earlier_stages"][0]["command"] == "stage one"
    assert load_checkpoint(out, game="breakout").provenance["earlier_stages"][0]["command"] == "stage one"


def test_soft_labels_put_the_experts_action_on_top_and_split_near_ties():
    costs = np.array([[0.0, 5.0, 0.01, np.inf], [3.0, 8.0, 0.0, 40.0]])
    targets = soft_labels(costs, temperature=2.0)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert targets[0, 3] == 0.0 and abs(targets[0, 0] - targets[0, 2]) < 0.01
    assert targets[1].argmax() == 2 and targets[1, 3] < 1e-8


def test_soft_labels_come_from_the_experts_plan_costs():
    settings = DAggerSettings(expert_steps=24, n_envs=2, rollout_max_steps=40, soft_label_temperature=2.0)
    shard = collect(None, 24, 1.0, np.random.SeedSequence(3), settings, record_states=True)
    np.testing.assert_array_equal(shard.labels, [expert_action(s) for s in shard.states])
    for state, label, stored, target in zip(shard.states, shard.labels, shard.costs, shard.soft_targets(4, 2.0)):
        action, costs = expert_decision(state)
        assert action == label and costs[label] == 0.0 and target[label] == target.max()
        np.testing.assert_array_equal(stored, costs.astype(np.float32))
        np.testing.assert_allclose(target, soft_labels(costs[None], 2.0)[0], rtol=1e-6)
    # a later stage may train the same costs at another temperature: flatter, same best action
    flatter = shard.soft_targets(4, 30.0)
    assert np.all(flatter.max(axis=1) <= shard.soft_targets(4, 2.0).max(axis=1) + 1e-6)


def test_the_exported_policy_is_the_student_sharpened_and_training_goes_on_from_the_student(tmp_path):
    settings = DAggerSettings(iterations=1, expert_steps=16, student_steps=8, n_envs=2, epochs=1, first_epochs=1,
                              batch_size=16, rollout_max_steps=20)
    plain, sharp = tmp_path / "plain.safetensors", tmp_path / "sharp.safetensors"
    distill(plain, seed=0, settings=settings, progress=False)
    distill(sharp, seed=0, settings=settings, progress=False, policy_temperature=0.25)
    student = load_checkpoint(training_dir(sharp) / "student.safetensors", game="breakout")
    deployed = load_checkpoint(sharp, game="breakout")
    assert deployed.provenance["policy_temperature"] == 0.25 and "divided by T = 0.25" in deployed.provenance["policy_export"]
    obs = torch.from_numpy(Shard.load(training_dir(sharp) / "iter_0.npz").observations[:8]).float()
    with torch.no_grad():
        (logits, value), (sharp_logits, sharp_value) = student(obs), deployed(obs)
    torch.testing.assert_close(sharp_logits, logits / 0.25)
    torch.testing.assert_close(sharp_value, value)
    assert torch.equal(sharp_logits.argmax(1), logits.argmax(1))
    # the student as trained is the same whatever the export temperature
    for key, tensor in load_file(str(plain)).items():
        torch.testing.assert_close(load_file(str(training_dir(sharp) / "student.safetensors"))[key], tensor, rtol=0, atol=0)

    # with every iteration done only the export changes; more iterations go on from the student
    before = load_file(str(training_dir(sharp) / "student.safetensors"))
    distill(sharp, seed=0, settings=settings, progress=False, policy_temperature=0.5, command="re-export")
    again = load_checkpoint(sharp, game="breakout")
    assert again.provenance["policy_temperature"] == 0.5 and again.provenance["command"] == "re-export"
    for key, tensor in load_file(str(training_dir(sharp) / "student.safetensors")).items():
        torch.testing.assert_close(tensor, before[key], rtol=0, atol=0)
    distill(plain, seed=0, settings=replace(settings, iterations=2), progress=False)
    distill(sharp, seed=0, settings=replace(settings, iterations=2), progress=False, policy_temperature=0.5)
    for key, tensor in load_file(str(plain)).items():
        torch.testing.assert_close(load_file(str(training_dir(sharp) / "student.safetensors"))[key], tensor,
                                   rtol=0, atol=0)


def test_a_sharpened_checkpoint_without_its_student_refuses_to_resume(tmp_path):
    settings = DAggerSettings(iterations=1, expert_steps=16, student_steps=8, n_envs=2, epochs=1, first_epochs=1,
                              batch_size=16, rollout_max_steps=20)
    out = tmp_path / "a.safetensors"
    distill(out, seed=0, settings=settings, progress=False, policy_temperature=0.5)
    (training_dir(out) / "student.safetensors").unlink()
    with pytest.raises(TrainingError, match="student as trained"):
        distill(out, seed=0, settings=replace(settings, iterations=2), progress=False, policy_temperature=0.5)
    with pytest.raises(TrainingError, match="finite T > 0"):
        distill(out, seed=0, settings=settings, progress=False, policy_temperature=0.0)
