"""Agents: checkpoint round trip, wrong-game and corrupt-file errors, SB3 and TorchScript loaders."""

import numpy as np
import pytest
import torch

from cfsal.agents import AgentSpec, ConstantAgent, NatureActorCritic, UniformRandomAgent, actions_from_logits
from cfsal.agents import load_checkpoint, read_checkpoint_info, save_checkpoint
from cfsal.agents.loaders import load_sb3_zip, load_torchscript
from cfsal.agents.zoo import load_agent
from cfsal.envs import make
from cfsal.errors import AgentNotFoundError, CheckpointError
from cfsal.testing import tiny_agent


@pytest.fixture
def observations():
    env = make("breakout", seed=0)
    return np.stack([env.step(i % 4)[0] for i in range(8)])


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, observations):
    agent = tiny_agent(seed=3)
    path = save_checkpoint(agent, tmp_path / "a.safetensors", provenance={"note": "test"})
    loaded = load_checkpoint(path, game="breakout")
    for a, b in zip(agent.logits_and_value(observations), loaded.logits_and_value(observations)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    info = read_checkpoint_info(path)
    assert info.spec.game == "breakout" and info.provenance == {"note": "test"}


def test_checkpoint_for_another_game_is_refused(tmp_path):
    path = save_checkpoint(tiny_agent("amidar"), tmp_path / "amidar.safetensors")
    with pytest.raises(CheckpointError, match="is an agent for 'amidar', but 'breakout' was asked for"):
        load_checkpoint(path, game="breakout")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, damage):
    path = save_checkpoint(tiny_agent(), tmp_path / "a.safetensors")
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 100, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="not a readable cfsal checkpoint"):
        load_checkpoint(path)


def test_safetensors_without_cfsal_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="not a cfsal checkpoint"):
        load_checkpoint(tmp_path / "x.safetensors")


def test_observation_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="expects observations of shape"):
        tiny_agent().logits_and_value(np.zeros((2, 3, 84, 84), dtype=np.uint8))


def test_unknown_agent_lists_the_zoo():
    with pytest.raises(AgentNotFoundError, match="neither a zoo name nor an existing file"):
        load_agent("no-such-agent")


def _sb3_model(game):
    from stable_baselines3 import A2C

    return A2C("CnnPolicy", make(game), n_steps=5, seed=0, device="cpu")


def test_sb3_zip_loads_without_unpickling_and_matches_sb3(tmp_path, observations):
    model = _sb3_model("breakout")
    model.save(tmp_path / "model.zip")
    agent = load_sb3_zip(tmp_path / "model.zip", game="breakout")
    obs = torch.as_tensor(observations)
    with torch.no_grad():
        sb3_logits = model.policy.get_distribution(obs).distribution.logits
        sb3_values = model.policy.predict_values(obs).squeeze(-1)
    logits, values = agent.logits_and_value(observations)
    torch.testing.assert_close(torch.log_softmax(logits, -1), sb3_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(values, sb3_values, rtol=1e-5, atol=1e-5)
    assert load_agent(tmp_path / "model.zip", game="breakout", trust=True).spec.game == "breakout"


def test_sb3_zip_for_another_game_is_refused(tmp_path):
    _sb3_model("amidar").save(tmp_path / "amidar.zip")
    with pytest.raises(CheckpointError, match="trained for another game"):
        load_sb3_zip(tmp_path / "amidar.zip", game="breakout")


def test_not_a_zip_is_refused(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a valid zip"):
        load_sb3_zip(tmp_path / "x.zip", game="breakout")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_needs_trust_and_then_loads(tmp_path, observations):
    agent = tiny_agent()
    scripted = torch.jit.trace(agent, torch.zeros(1, 4, 84, 84))
    scripted.save(str(tmp_path / "agent.pt"))
    with pytest.raises(CheckpointError, match="executes code when loaded"):
        load_torchscript(tmp_path / "agent.pt", game="breakout")
    with pytest.warns(UserWarning, match="arbitrary code"):
        loaded = load_torchscript(tmp_path / "agent.pt", game="breakout", trust=True)
    torch.testing.assert_close(loaded.logits_and_value(observations)[0], agent.logits_and_value(observations)[0])


def test_null_controls_ignore_their_input(observations):
    spec = AgentSpec.for_game("breakout")
    for control in (ConstantAgent(spec, action=1), UniformRandomAgent(spec)):
        obs = torch.as_tensor(observations, dtype=torch.float32).requires_grad_()
        logits, value = control(obs)
        (grad,) = torch.autograd.grad(logits.sum() + value.sum(), obs)
        assert torch.count_nonzero(grad) == 0
        assert torch.equal(logits[0], logits[-1])
    assert (ConstantAgent(spec, action=1).act(observations, greedy=True) == 1).all()


def test_common_random_numbers_give_identical_samples_for_identical_policies():
    logits = torch.randn(1, 4).repeat(64, 1)
    uniforms = np.random.default_rng(0).random(64)
    a = actions_from_logits(logits, uniforms=uniforms)
    b = actions_from_logits(logits.clone(), uniforms=uniforms)
    assert np.array_equal(a, b) and len(set(a.tolist())) > 1


def test_sampling_without_an_rng_is_refused():
    with pytest.raises(ValueError, match="never uses the global RNG"):
        actions_from_logits(torch.zeros(2, 4))


def test_nature_cnn_matches_the_paper_architecture():
    agent = NatureActorCritic(AgentSpec.for_game("amidar"))
    shapes = [tuple(p.shape) for p in agent.parameters()]
    assert shapes[:2] == [(32, 4, 8, 8), (32,)] and (512, 3136) in shapes and (10, 512) in shapes
