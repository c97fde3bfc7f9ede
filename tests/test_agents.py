"""Agents: checkpoint round trip, wrong-game and corrupt-file errors, SB3 and TorchScript loaders."""

import numpy as np
import pytest
import torch

from cfsal.agents import (
    AgentSpec,
    ConstantAgent,
    NatureActorCritic,
    UniformRandomAgent,
    actions_from_logits,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
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


def test_rollout_forwards_of_a_nature_cnn_are_traced_and_byte_identical_to_eager(observations):
    """Rollouts run the Nature CNN as one TorchScript call (fewer GIL hand-overs beside the env thread);
    the floats must not change, on a full block, a padded one and several blocks, in one thread."""
    from cfsal.agents.base import (
        FORWARD_BLOCK,
        blocked_logits_and_value,
        deterministic_forwards,
        inference_forward,
    )

    agent = load_agent("breakout-a2c")
    forward = inference_forward(agent, (FORWARD_BLOCK, 4, 84, 84))
    assert isinstance(forward, torch.jit.ScriptModule)
    assert inference_forward(agent, (FORWARD_BLOCK, 4, 84, 84)) is forward  # traced once per agent
    rng = np.random.default_rng(0)
    batches = [observations, rng.integers(0, 256, (FORWARD_BLOCK, 4, 84, 84), dtype=np.uint8),
               rng.integers(0, 256, (37, 4, 84, 84), dtype=np.uint8)]
    with deterministic_forwards():
        for batch in batches:
            logits, values = blocked_logits_and_value(agent, batch)
            padded = torch.zeros((-(-len(batch) // FORWARD_BLOCK)) * FORWARD_BLOCK, 4, 84, 84)
            padded[: len(batch)] = torch.as_tensor(batch, dtype=torch.float32)
            with torch.no_grad():
                eager = [agent(padded[s:s + FORWARD_BLOCK]) for s in range(0, len(padded), FORWARD_BLOCK)]
            assert torch.equal(logits, torch.cat([e[0] for e in eager])[: len(batch)])
            assert torch.equal(values, torch.cat([e[1] for e in eager])[: len(batch)])


def test_a_kept_forward_block_gives_the_floats_of_a_blocked_forward_and_teaches_on_a_wrong_shape():
    """The episode store's BlockForward writes rows into one block instead of stacking a batch per step:
    same floats for full, part-filled and shrinking blocks; a frame of another shape gets the agent's error."""
    from cfsal.agents.base import FORWARD_BLOCK, BlockForward, blocked_logits_and_value, deterministic_forwards
    from cfsal.errors import ObservationShapeError

    agent = load_agent("breakout-a2c")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (FORWARD_BLOCK, 4, 84, 84), dtype=np.uint8)
    with deterministic_forwards():
        kept = BlockForward(agent, (4, 84, 84))
        for count in (FORWARD_BLOCK, 5, 11, 1, FORWARD_BLOCK):  # part-filled after fuller steps, then full
            logits, values = kept(list(frames[:count]))
            expected_logits, expected_values = blocked_logits_and_value(agent, frames[:count])
            assert torch.equal(logits, expected_logits) and torch.equal(values, expected_values)
            assert not kept.rows[count:].any()  # zero padding, as blocked_logits_and_value pads
        with pytest.raises(ObservationShapeError, match="expects observations of shape"):
            kept([np.zeros((4, 64, 64), np.uint8)])
        with pytest.raises(ValueError, match="1 to 16 observations"):
            kept(list(np.zeros((FORWARD_BLOCK + 1, 4, 84, 84), np.uint8)))


def test_a_trace_follows_replaced_weights_and_user_agents_are_never_traced(observations):
    from cfsal.agents.base import FORWARD_BLOCK, blocked_logits_and_value, inference_forward

    agent = tiny_agent(seed=1)
    before = inference_forward(agent, (FORWARD_BLOCK, 4, 84, 84))
    agent.load_state_dict(tiny_agent(seed=2).state_dict())  # copied in place: the trace sees it
    assert inference_forward(agent, (FORWARD_BLOCK, 4, 84, 84)) is before
    assert torch.allclose(blocked_logits_and_value(agent, observations)[0],
                          tiny_agent(seed=2).logits_and_value(observations)[0], atol=1e-6)
    agent.policy_head.weight = torch.nn.Parameter(torch.zeros_like(agent.policy_head.weight))  # replaced
    assert inference_forward(agent, (FORWARD_BLOCK, 4, 84, 84)) is not before
    assert torch.equal(blocked_logits_and_value(agent, observations)[0],
                       agent.policy_head.bias.detach().expand(len(observations), -1))

    class Branchy(NatureActorCritic):  # data-dependent Python: a trace would freeze one branch
        traceable = False

        def forward(self, obs):
            logits, value = super().forward(obs)
            return (logits if float(obs.mean()) > 50 else -logits), value

    user = Branchy(AgentSpec.for_game("breakout"))
    assert inference_forward(user, (FORWARD_BLOCK, 4, 84, 84)) is user

    class Undeclared(NatureActorCritic):  # a user's subclass that changes forward and says nothing
        def forward(self, obs):
            logits, value = super().forward(obs)
            return (logits if float(obs.mean()) > 50 else -logits), value

    undeclared = Undeclared(AgentSpec.for_game("breakout"))
    assert inference_forward(undeclared, (FORWARD_BLOCK, 4, 84, 84)) is undeclared
    assert inference_forward(ConstantAgent(AgentSpec.for_game("breakout"), action=1), (16, 4, 84, 84)).__class__ is ConstantAgent
