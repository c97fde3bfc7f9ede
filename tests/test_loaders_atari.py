"""Atari agents users already have: SB3 zips and CleanRL ppo_atari checkpoints on ALE Pong.

Every checkpoint here is made by the test: an SB3-layout zip written by hand (``policy.pth`` with
SB3's key names, ``data`` as SB3's JSON) from a reimplementation of SB3's ``ActorCriticCnnPolicy``,
and a CleanRL state dict from a reimplementation of ``ppo_atari.py``'s ``Agent``. The loaded agent
must give the reference network's logits and values on observations from cfsal's ``ale_pong``,
converted to each framework's layout as that framework would have built them.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cfsal import measures
from cfsal.agents import load_checkpoint, save_checkpoint
from cfsal.agents.loaders import file_format, load_cleanrl, load_sb3_zip
from cfsal.agents.networks import NatureActorCritic, UnsharedNatureActorCritic
from cfsal.agents.zoo import load_agent
from cfsal.cli import main
from cfsal.envs import ALE_GAMES, make
from cfsal.errors import CheckpointError
from cfsal.interventions import ale_pong
from cfsal.rollout import States, counterfactual
from cfsal.saliency import saliency

PONG_ACTIONS = 6  # ALE's minimal action set for Pong: NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE


# -- reference networks, as the source frameworks define them -------------------------------------
def nature_cnn_layers(in_channels: int = 4) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten()]


class SB3NatureCNN(nn.Module):
    """stable_baselines3.common.torch_layers.NatureCNN: ``cnn`` then ``linear``."""

    def __init__(self, in_channels: int = 4) -> None:
        super().__init__()
        self.cnn = nn.Sequential(*nature_cnn_layers(in_channels))
        self.linear = nn.Sequential(nn.Linear(3136, 512), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(obs))


class SB3CnnPolicy(nn.Module):
    """SB3's ActorCriticCnnPolicy for discrete actions (net_arch=[]), with its attribute names.

    SB3 ≥ 1.8 registers the extractor three times: ``features_extractor``, ``pi_features_extractor``
    and ``vf_features_extractor``, all one module unless ``share_features_extractor=False``.
    """

    def __init__(self, n_actions: int = PONG_ACTIONS, share: bool = True, in_channels: int = 4) -> None:
        super().__init__()
        self.features_extractor = SB3NatureCNN(in_channels)
        self.pi_features_extractor = self.features_extractor
        self.vf_features_extractor = self.features_extractor if share else SB3NatureCNN(in_channels)
        self.action_net = nn.Linear(512, n_actions)
        self.value_net = nn.Linear(512, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = obs.float() / 255.0  # preprocess_obs with normalize_images=True
        return (self.action_net(self.pi_features_extractor(scaled)),
                self.value_net(self.vf_features_extractor(scaled)).flatten())


class CleanRLAgent(nn.Module):
    """cleanrl/ppo_atari.py's Agent (layer_init's orthogonal init aside)."""

    def __init__(self, n_actions: int = PONG_ACTIONS, in_channels: int = 4) -> None:
        super().__init__()
        self.network = nn.Sequential(*nature_cnn_layers(in_channels), nn.Linear(64 * 7 * 7, 512), nn.ReLU())
        self.actor = nn.Linear(512, n_actions)
        self.critic = nn.Linear(512, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.network(x / 255.0)
        return self.actor(hidden), self.critic(hidden).flatten()


def randomised(module: nn.Module, seed: int) -> nn.Module:
    """Distinct, non-trivial weights from one generator (the global RNG untouched)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return module.eval()


# -- checkpoints written as the frameworks write them ---------------------------------------------
def sb3_zip(path: Path, policy: nn.Module | dict[str, torch.Tensor], *, shape: list[int] | None = None,
            policy_kwargs: dict | None = None) -> Path:
    """A model zip as SB3's save_to_zip_file lays it out; ``data`` is JSON whose cloudpickled fields are dummies."""
    state = policy.state_dict() if isinstance(policy, nn.Module) else policy
    buffer = io.BytesIO()
    torch.save(state, buffer)
    n_actions = next((v.shape[0] for k, v in state.items() if k.startswith("action_net.")), PONG_ACTIONS)
    opaque = base64.b64encode(b"cloudpickle bytes cfsal never decodes").decode()
    data = {
        "policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": opaque,
                         "__module__": "stable_baselines3.common.policies"},
        "policy_kwargs": policy_kwargs or {},
        "observation_space": {":type:": "<class 'gymnasium.spaces.box.Box'>", ":serialized:": opaque,
                              "dtype": "uint8", "_shape": shape or [4, 84, 84]},
        "action_space": {":type:": "<class 'gymnasium.spaces.discrete.Discrete'>", ":serialized:": opaque,
                         "n": str(n_actions), "start": "0", "_shape": []},
        "n_envs": 16,
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data, indent=4))
        archive.writestr("policy.pth", buffer.getvalue())
        archive.writestr("pytorch_variables.pth", b"")
        archive.writestr("_stable_baselines3_version", "2.3.2")
    return path


def cleanrl_checkpoint(path: Path, state: nn.Module | dict) -> Path:
    """As ppo_atari.py's --save-model: torch.save(agent.state_dict(), f"runs/{run}/{exp}.cleanrl_model")."""
    torch.save(state.state_dict() if isinstance(state, nn.Module) else state, path)
    return path


def load(path: Path, game: str = "ale_pong"):
    """load_agent as a user calls it, with trust (these files are pickles) and the warning it gives."""
    with pytest.warns(UserWarning, match="is a pickle, read with torch.load"):
        return load_agent(path, game=game, trust=True)


# -- observations ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pong_observations() -> np.ndarray:
    """cfsal's ale_pong observations [T, 4, 84, 84] (newest frame last): the first ones of an episode,
    whose stack still holds zeros, and later ones."""
    env = make("ale_pong", seed=3)
    rng = np.random.default_rng(3)
    frames = [env.observation]
    for _ in range(60):
        frames.append(env.step(int(rng.integers(PONG_ACTIONS)))[0])
    return np.stack(frames[:3] + frames[40::5])


def as_sb3_policy_input(stack: np.ndarray) -> torch.Tensor:
    """What SB3's policy receives for the same frames: VecFrameStack(n_stack=4) stacks channel-last,
    (84, 84, 4) oldest first; VecTransposeImage turns that into (4, 84, 84)."""
    vec_frame_stack = np.moveaxis(stack, -3, -1)
    return torch.as_tensor(np.transpose(vec_frame_stack, (0, 3, 1, 2)).copy())


def as_cleanrl_input(stack: np.ndarray) -> torch.Tensor:
    """What CleanRL's Agent receives: gymnasium's FrameStack(4) of (84, 84) frames is (4, 84, 84),
    oldest first, as cfsal's (it pads an episode's start with the first frame where cfsal has zeros)."""
    return torch.Tensor(stack)


# -- SB3 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [True, False], ids=["shared-extractor", "separate-extractors"])
def test_an_sb3_atari_zip_gives_the_reference_policys_logits_and_values(tmp_path, pong_observations, share):
    policy = randomised(SB3CnnPolicy(share=share), seed=1)
    agent = load(sb3_zip(tmp_path / "ppo_pong.zip", policy, policy_kwargs={"share_features_extractor": share}))
    assert isinstance(agent, NatureActorCritic if share else UnsharedNatureActorCritic)
    assert agent.spec.game == "ale_pong" and agent.spec.n_actions == PONG_ACTIONS
    with torch.no_grad():
        expected_logits, expected_values = policy(as_sb3_policy_input(pong_observations))
    logits, values = agent.logits_and_value(pong_observations)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(values, expected_values, rtol=1e-6, atol=1e-6)
    assert agent.provenance["shared_features_extractor"] is share and agent.provenance["sb3_version"] == "2.3.2"


@pytest.mark.parametrize("game", sorted(ALE_GAMES))
def test_both_formats_load_for_every_ale_game(tmp_path, game):
    n_actions = ALE_GAMES[game].n_actions
    env = make(game, seed=0)
    observations = np.stack([env.step(step % n_actions)[0] for step in range(8)])
    for reference, path, as_input in (
            (randomised(SB3CnnPolicy(n_actions), seed=6), tmp_path / "sb3.zip", as_sb3_policy_input),
            (randomised(CleanRLAgent(n_actions), seed=7), tmp_path / "agent.cleanrl_model", as_cleanrl_input)):
        if path.suffix == ".zip":
            sb3_zip(path, reference)
        else:
            cleanrl_checkpoint(path, reference)
        agent = load(path, game=game)
        assert agent.spec.action_set == ALE_GAMES[game].action_set
        with torch.no_grad():
            expected_logits, _ = reference(as_input(observations))
        torch.testing.assert_close(agent.logits_and_value(observations)[0], expected_logits, rtol=1e-6, atol=1e-6)


def _channel_last_pong_frames():
    """cfsal's ale_pong one 84×84 frame at a time, channel-last (84, 84, 1), as SB3's WarpFrame gives them."""
    import gymnasium as gym

    class SingleFrames(gym.ObservationWrapper):
        def __init__(self) -> None:
            super().__init__(make("ale_pong", frame_stack=1))
            self.observation_space = gym.spaces.Box(0, 255, (84, 84, 1), np.uint8)

        def observation(self, observation: np.ndarray) -> np.ndarray:
            return np.moveaxis(observation, 0, -1)

    return SingleFrames()


def test_sb3_frame_stacking_gives_the_observations_cfsal_gives(tmp_path):
    """SB3's own VecFrameStack + VecTransposeImage over single frames build cfsal's stack exactly."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

    venv = VecTransposeImage(VecFrameStack(DummyVecEnv([_channel_last_pong_frames]), n_stack=4))
    venv.seed(5)
    stacked = venv.reset()
    env = make("ale_pong", seed=5)
    observation = env.observation
    for action in np.random.default_rng(5).integers(PONG_ACTIONS, size=80).tolist():  # the ball is served by ~60
        np.testing.assert_array_equal(stacked[0], observation)
        stacked = venv.step(np.array([action]))[0]
        observation = env.step(action)[0]


@pytest.mark.filterwarnings("ignore:You have specified a mini-batch size")
def test_a_zip_saved_by_sb3_itself_loads_and_matches_its_policy(tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    venv = VecFrameStack(DummyVecEnv([_channel_last_pong_frames]), n_stack=4)
    model = PPO("CnnPolicy", venv, n_steps=8, seed=0, device="cpu")
    model.save(tmp_path / "ppo_pong.zip")
    agent = load(tmp_path / "ppo_pong.zip")
    env = make("ale_pong", seed=2)
    observations = np.stack([env.step(a)[0] for a in [2, 3, 3, 2, 0, 1, 4, 5]])
    with torch.no_grad():
        batch = torch.as_tensor(observations)
        sb3_logits = model.policy.get_distribution(batch).distribution.logits
        sb3_values = model.policy.predict_values(batch).flatten()
    logits, values = agent.logits_and_value(observations)
    torch.testing.assert_close(torch.log_softmax(logits, -1), sb3_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(values, sb3_values, rtol=1e-5, atol=1e-5)


def _sb3_state(**changes) -> dict[str, torch.Tensor]:
    state = SB3CnnPolicy().state_dict()
    for key, value in changes.items():
        if value is None:
            state = {k: v for k, v in state.items() if not k.startswith(key)}
        else:
            state[key] = value
    return state


@pytest.mark.parametrize(("make_zip", "says"), [
    (lambda p: sb3_zip(p, SB3CnnPolicy(n_actions=4)), (r"has 4 actions .* ale_pong has 6 \(NOOP, FIRE, RIGHT, LEFT, "
                                                      r"RIGHTFIRE, LEFTFIRE\): it was trained for another game; "
                                                      r"name the game it played with game=…")),
    (lambda p: sb3_zip(p, SB3CnnPolicy(n_actions=18)), "18 outputs are ALE's full action set"),
    (lambda p: sb3_zip(p, SB3CnnPolicy(in_channels=1), shape=None),
     "takes 1 input channels: it was trained on single frames"),
    (lambda p: sb3_zip(p, SB3CnnPolicy(), shape=[1, 84, 84]), r"saw observations of shape \[1, 84, 84\]"),
    (lambda p: sb3_zip(p, SB3CnnPolicy(), policy_kwargs={"normalize_images": False}), "normalize_images=False"),
    (lambda p: sb3_zip(p, _sb3_state(**{"mlp_extractor.policy_net.0.weight": torch.zeros(64, 512)})),
     "mlp_extractor.policy_net.0: net_arch was set"),
    (lambda p: sb3_zip(p, {"q_net.features_extractor.cnn.0.weight": torch.zeros(32, 4, 8, 8)}), "DQN-family"),
    (lambda p: sb3_zip(p, _sb3_state(action_net=None)),
     (r"not an SB3 ActorCriticCnnPolicy .*: it lacks action_net\. Expected the modules features_extractor\.cnn\.0, "
     r".*action_net, value_net \(weight and bias each\); found features_extractor\.cnn\.0")),
], ids=["other-game", "full-action-set", "single-frames", "data-shape", "normalize-images", "net-arch", "dqn",
        "missing-keys"])
def test_an_sb3_zip_that_does_not_fit_is_refused_with_what_to_do(tmp_path, make_zip, says):
    path = make_zip(tmp_path / "model.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CheckpointError, match=says):
            load_sb3_zip(path, game="ale_pong", trust=True)


# -- CleanRL ---------------------------------------------------------------------------------------------
def test_a_cleanrl_checkpoint_gives_the_reference_agents_logits_and_values(tmp_path, pong_observations):
    reference = randomised(CleanRLAgent(), seed=2)
    agent = load(cleanrl_checkpoint(tmp_path / "ppo_atari.cleanrl_model", reference))
    assert isinstance(agent, NatureActorCritic) and agent.name == "ppo_atari"
    with torch.no_grad():
        expected_logits, expected_values = reference(as_cleanrl_input(pong_observations))
    logits, values = agent.logits_and_value(pong_observations)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(values, expected_values, rtol=1e-6, atol=1e-6)


def test_a_loaded_atari_agent_runs_paired_rollouts_and_saliency_and_converts_to_a_cfsal_checkpoint(tmp_path):
    agent = load(cleanrl_checkpoint(tmp_path / "ppo_atari.cleanrl_model", randomised(CleanRLAgent(), seed=4)))
    result = counterfactual(agent, ale_pong.MoveBall(dx=-20), samples=2, horizon=3, seed=0,
                            states=States(window=(40, 60)), measure=measures.policy_total_variation)
    assert result.game == "ale_pong" and len(result.values) == 2 and np.all(np.isfinite(result.values))
    env = make("ale_pong", seed=1)
    for _ in range(50):
        observation = env.step(0)[0]
    smap = saliency(agent, observation, "jacobian", states=[env.get_toybox_state()])
    assert smap.actor.shape == (1, 84, 84) and smap.actor.sum() > 0 and np.isfinite(smap.mass_on("ball")).all()
    converted = load_checkpoint(save_checkpoint(agent, tmp_path / "ppo_atari.safetensors"), game="ale_pong")
    np.testing.assert_array_equal(converted.logits_and_value(observation)[0], agent.logits_and_value(observation)[0])


def _payload_state(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    return pickle.dumps({"network.0.weight": Payload()})


@pytest.mark.parametrize(("state", "says"), [
    (lambda: CleanRLAgent(n_actions=4), r"has 4 actions .* ale_pong has 6"),
    (lambda: CleanRLAgent(in_channels=3), "takes 3 input channels: it was trained on RGB frames"),
    (lambda: {f"network.{i}.{kind}": torch.zeros(1) for i in (0, 2, 4, 7, 9) for kind in ("weight", "bias")},
     (r"lacks actor, critic\. .* found network\.0, network\.2, network\.4, network\.7, network\.9\. network\.9 is the "
     r"Q-value layer of CleanRL's dqn_atari")),
    (lambda: {**CleanRLAgent().state_dict(), "lstm.weight_ih_l0": torch.zeros(2048, 512)},
     r"has layers cfsal's Nature CNN does not \(lstm\.weight_ih_l0\).*ppo_atari_lstm"),
    (lambda: {"conv1.weight": torch.zeros(1), "fc.weight": torch.zeros(1)},
     (r"Expected the modules network\.0, network\.2, network\.4, network\.7, actor, critic \(weight and bias each\); "
     r"found conv1, fc\.$")),
    (lambda: {"model_weights": CleanRLAgent().state_dict(), "args": {"env_id": "PongNoFrameskip-v4"}},
     r"entries that are not tensors \(model_weights, args\)"),
    (lambda: SB3CnnPolicy().state_dict(), "stable-baselines3 policy keys: load the model's .zip"),
], ids=["other-game", "rgb", "dqn-atari", "lstm", "other-layout", "wrapped", "sb3-keys"])
def test_a_cleanrl_checkpoint_that_does_not_fit_is_refused_with_what_to_do(tmp_path, state, says):
    path = cleanrl_checkpoint(tmp_path / "agent.cleanrl_model", state())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CheckpointError, match=says):
            load_cleanrl(path, game="ale_pong", trust=True)


def test_a_cleanrl_checkpoint_needs_trust_and_one_carrying_code_never_runs_it(tmp_path):
    path = cleanrl_checkpoint(tmp_path / "ppo_atari.cleanrl_model", CleanRLAgent())
    with pytest.raises(CheckpointError, match=r"is a pickle\. .*trust=True \(CLI: --trust-code\)"):
        load_agent(path, game="ale_pong")
    marker = tmp_path / "code-ran"
    carrying = tmp_path / "evil.cleanrl_model"
    carrying.write_bytes(_payload_state(marker))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CheckpointError, match="could not be read safely"):
            load_agent(carrying, game="ale_pong", trust=True)
    assert not marker.exists(), "loading a CleanRL checkpoint ran code from it"


# -- finding the loader ------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_the_loader_is_chosen_by_what_the_file_holds_not_its_suffix(tmp_path):
    assert file_format(sb3_zip(tmp_path / "model.zip", SB3CnnPolicy())) == "sb3_zip"
    assert file_format(cleanrl_checkpoint(tmp_path / "agent.pt", CleanRLAgent())) == "state_dict"
    scripted = torch.jit.script(nn.Linear(2, 2))
    scripted.save(str(tmp_path / "weights.pth"))
    assert file_format(tmp_path / "weights.pth") == "torchscript"
    assert load(tmp_path / "agent.pt").spec.game == "ale_pong"  # a CleanRL state dict named .pt is not TorchScript


def test_a_file_from_elsewhere_without_a_game_or_of_no_known_kind_is_explained(tmp_path):
    path = cleanrl_checkpoint(tmp_path / "ppo_atari.cleanrl_model", CleanRLAgent())
    with pytest.raises(CheckpointError, match=r"is a torch.save state dict .* does not say which game it plays: "
                                              r"say it with game=… \(CLI: --game\)"):
        load_agent(path, trust=True)
    (tmp_path / "agent.bin").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not an agent file cfsal can read.*CleanRL ppo_atari state dicts"):
        load_agent(tmp_path / "agent.bin", game="ale_pong", trust=True)


def test_cfsal_eval_takes_a_cleanrl_checkpoint_with_game_and_trust(tmp_path, capsys):
    path = cleanrl_checkpoint(tmp_path / "ppo_atari.cleanrl_model", randomised(CleanRLAgent(), seed=5))
    assert main(["eval", str(path), "--game", "ale_pong", "--episodes", "1", "--max-steps", "5", "--json"]) == 2
    assert "--trust-code" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="is a pickle"):
        assert main(["eval", str(path), "--game", "ale_pong", "--trust-code", "--episodes", "1",
                     "--max-steps", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["game"] == "ale_pong" and result["agent"] == "ppo_atari"
