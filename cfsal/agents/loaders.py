"""Load agents made elsewhere: stable-baselines3 zips, CleanRL ``ppo_atari`` checkpoints, TorchScript.

SB3 and CleanRL keep their weights in a pickle (``policy.pth`` in an SB3 zip; the whole
``.cleanrl_model`` file). cfsal reads it with ``torch.load(weights_only=True)``, PyTorch's restricted
unpickler that builds tensors and plain containers and nothing else, and maps the tensors key for
key onto :class:`~cfsal.agents.networks.NatureActorCritic`, so saliency, rollouts and hypotheses
treat the agent like any other. Of an SB3 zip's ``data`` member only plain JSON is read; its
cloudpickled ``":serialized:"`` fields are never decoded. Game, action count and input frames are
checked from the weights' shapes against the ``game`` you name. A tensors-only unpickler is still
fed a file from elsewhere, so these load only with trust, and warn even then.

TorchScript modules are programs: loading one runs code from the file, so they too need ``trust=True``.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from cfsal.agents.base import Agent, AgentSpec, ObservationSpec
from cfsal.agents.networks import (
    NatureActorCritic,
    UnsharedNatureActorCritic,
    cleanrl_key_map,
    sb3_key_map,
    sb3_unshared_key_map,
)
from cfsal.envs.games import GameSpec, get_game
from cfsal.errors import CheckpointError

#: What every cfsal environment gives an agent: 4 stacked 84×84 grayscale frames, channel-first, newest last.
OBSERVATION_SHAPE = (4, 84, 84)
#: Inputs of the Nature CNN's first dense layer for an 84×84 screen (64 maps of 7×7).
_FLAT_FEATURES = 64 * 7 * 7

#: What a first convolution with this many input channels says about the frames it was trained on.
_CHANNEL_HINTS = {
    1: "single frames (no frame stack; SB3 stacks with VecFrameStack(n_stack=4), CleanRL with FrameStack(4))",
    3: "RGB frames, where cfsal gives grayscale ones",
    12: "4 stacked RGB frames, where cfsal gives grayscale ones",
    84: "channel-last frames that were never transposed (SB3 transposes them with VecTransposeImage)",
}

#: The kinds of file :func:`load_from_elsewhere` reads, as messages name them.
KINDS = {
    "sb3_zip": "a stable-baselines3 zip",
    "state_dict": "a torch.save state dict (the format of CleanRL's .cleanrl_model)",
    "torchscript": "a TorchScript module",
}


def file_format(path: str | os.PathLike) -> str | None:
    """Which of :data:`KINDS` ``path`` is, from its zip members (nothing is unpickled), or ``None``.

    ``torch.save`` and ``torch.jit.save`` both write zip archives: TorchScript's has a ``code/``
    folder, a state dict's only ``data.pkl`` and tensors; an SB3 model zip has ``policy.pth`` at
    its top. A file that is no zip is judged by its suffix (``.zip``: an SB3 zip, which its loader
    then reports as damaged; ``.cleanrl_model``/``.pt``/``.pth``: a state dict in torch's legacy format).
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        suffix = path.suffix.lower()
        return "sb3_zip" if suffix == ".zip" else "state_dict" if suffix in (".cleanrl_model", ".pt", ".pth") else None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if "policy.pth" in names:
        return "sb3_zip"
    if any("/code/" in name or name.endswith("/constants.pkl") for name in names):
        return "torchscript"
    if any(name.endswith("/data.pkl") for name in names):
        return "state_dict"
    return None


def load_from_elsewhere(path: str | os.PathLike, *, game: str | None, trust: bool = False,
                        name: str | None = None) -> Agent:
    """Load an agent file cfsal did not write, whichever of :data:`KINDS` it is (see :func:`file_format`)."""
    path = Path(path)
    kind = file_format(path)
    if kind is None:
        raise CheckpointError(
            f"{str(path)!r} is not an agent file cfsal can read. It loads .safetensors (cfsal checkpoints), "
            "stable-baselines3 A2C/PPO .zip files, CleanRL ppo_atari state dicts (.cleanrl_model, written by "
            "torch.save(agent.state_dict(), path)) and, with trust, TorchScript (.pt)."
        )
    if game is None:
        raise CheckpointError(f"{str(path)!r} is {KINDS[kind]}, which does not say which game it plays: "
                              "say it with game=… (CLI: --game), e.g. game='ale_pong'.")
    loader = {"sb3_zip": load_sb3_zip, "state_dict": load_cleanrl, "torchscript": load_torchscript}[kind]
    return loader(path, game=game, trust=trust, name=name)


def load_sb3_zip(path: str | os.PathLike, *, game: str, name: str | None = None,
                 trust: bool | None = None) -> NatureActorCritic | UnsharedNatureActorCritic:
    """Load an SB3 A2C/PPO ``CnnPolicy`` zip (``model.save(path)``) as a cfsal agent for ``game``.

    SB3's Atari conventions, and what cfsal gives the agent instead:

    * ``make_atari_env`` wraps the game in ``AtariWrapper`` (30 no-op starts, 4-frame action repeat
      with the max of the last two frames, cv2 gray then 84×84 ``INTER_AREA``, FIRE on reset
      where the game has FIRE, a life loss ending a training episode, clipped rewards);
      ``VecFrameStack(n_stack=4)`` stacks those frames channel-last, ``(84, 84, 4)``, oldest first
      and zeros before the first frame; the model wraps that in ``VecTransposeImage``, so the policy
      sees ``(4, 84, 84)`` uint8, and ``NatureCNN`` divides by 255 (``normalize_images``).
    * cfsal's environments give the same ``(4, 84, 84)``, newest frame last, zeros before the
      first, the same 30 no-ops, frame skip and max-pooling, so the weights apply as they are.
      ALE's grayscale is cv2's RGB→gray formula (identical on Pong's frames); cfsal takes the max
      after graying and resizes with PIL's box filter, so pixels may differ by rounding where the
      two pooled frames differ. cfsal does not FIRE on reset in Pong (SB3 does: it only shifts when play
      starts) and plays without sticky actions unless the environment is made with
      ``repeat_action_probability`` (a model trained on ``ALE/…-v5`` had them, 0.25).
    * Actions index the game's minimal action set, as ``gym.make("PongNoFrameskip-v4")`` gives it.

    Checked: the layout (``features_extractor.cnn.{0,2,4}``, ``features_extractor.linear.0``,
    ``action_net``, ``value_net``; with ``share_features_extractor=False`` the separate
    ``pi_features_extractor``/``vf_features_extractor``, loaded as
    :class:`~cfsal.agents.networks.UnsharedNatureActorCritic`), the action count against ``game``,
    4 input frames of 84×84, and from ``data``'s JSON the observation shape and ``normalize_images``.
    Not checkable from the file: which game it played and how its frames were made; name the ALE
    game (``ale_pong``, not Toybox ``pong``).

    ``policy.pth`` is a pickle. It is read with PyTorch's restricted unpickler, which builds
    tensors only, but that is still an unpickler fed a file from elsewhere: ``trust=False``
    refuses, ``trust=True`` loads with a warning. :func:`cfsal.agents.zoo.load_agent` (and the
    CLI's ``--trust-code``) pass ``trust`` explicitly; ``None`` (direct calls) loads and warns.
    """
    path = Path(path)
    _require_trust(path, trust, "a stable-baselines3 zip, whose policy.pth")
    spec_game = get_game(game)
    policy, data, version = _read_sb3_zip(path)
    where = f"policy.pth in {str(path)!r}"
    _check_sb3_data(data, repr(str(path)))
    state = _read_state_dict(policy, where)
    agent_class, weights = _sb3_weights(state, where)
    trunk = "policy_trunk" if agent_class is UnsharedNatureActorCritic else "trunk"
    agent = _build(agent_class, weights, _spec_for(weights, spec_game, where, trunk), name or path.stem, where)
    agent.provenance = {"source": "stable-baselines3 zip", "file": path.name,
                        "shared_features_extractor": agent_class is NatureActorCritic,
                        **({"sb3_version": version} if version else {})}
    return agent


def load_cleanrl(path: str | os.PathLike, *, game: str, name: str | None = None,
                 trust: bool | None = None) -> NatureActorCritic:
    """Load a CleanRL ``ppo_atari.py`` checkpoint (``torch.save(agent.state_dict(), path)``) for ``game``.

    CleanRL's conventions, and what cfsal gives the agent instead:

    * ``Agent.network`` is conv 32×8×8/4, ReLU, conv 64×4×4/2, ReLU, conv 64×3×3/1, ReLU, Flatten,
      Linear(3136, 512), ReLU; ``actor`` is Linear(512, actions), ``critic`` Linear(512, 1); the
      forward divides by 255. Keys: ``network.{0,2,4,7}``, ``actor``, ``critic`` (weight and bias
      each), exactly cfsal's ``trunk.{0,2,4,7}``, ``policy_head``, ``value_head``;
      ``ppo_atari_envpool.py``'s ``Agent`` is the same. The file is what CleanRL's ``--save-model``
      scripts write, ``torch.save(agent.state_dict(), f"runs/{run}/{exp}.cleanrl_model")`` (the
      published ``ppo_atari.py`` saves nothing: add that line).
    * ``make_env`` uses SB3's ``NoopResetEnv(30)``, ``MaxAndSkipEnv(4)``, ``EpisodicLifeEnv``,
      ``FireResetEnv`` and ``ClipRewardEnv``, then gymnasium's ``ResizeObservation((84, 84))``,
      ``GrayScaleObservation`` and ``FrameStack(4)``: observations ``(4, 84, 84)``, channel-first,
      oldest first, as cfsal's. Differences: CleanRL resizes before graying (gymnasium 0.29's
      wrappers, cv2's luma as ALE's; ports to gymnasium 1.x's ``GrayscaleObservation`` weigh RGB
      0.2125/0.7154/0.0721, a few gray levels off), and its frame stack starts filled with copies of
      the first frame where cfsal's (and SB3's) starts with zeros, so the first three observations
      of an episode differ.
    * Actions index the minimal action set of ``gym.make(env_id)`` (``BreakoutNoFrameskip-v4`` by
      default), as cfsal's games do.

    Checked: the keys (none missing, none extra: ``dqn_atari``'s Q-network and LSTM variants are
    refused by name), the action count against ``game``, 4 input frames of 84×84. The file is read
    with ``torch.load(weights_only=True)``: no code is unpickled. Like an SB3 zip it loads only with
    trust (``trust=False`` refuses, ``None`` loads and warns).
    """
    path = Path(path)
    _require_trust(path, trust, "a torch.save checkpoint (CleanRL's format), which")
    spec_game = get_game(game)
    where = repr(str(path))
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read {where} ({error.strerror}); check the path.") from None
    state = _read_state_dict(raw, where)
    weights = _mapped(state, cleanrl_key_map(), where, "a CleanRL ppo_atari Agent state dict", _cleanrl_hint(state))
    agent = _build(NatureActorCritic, weights, _spec_for(weights, spec_game, where), name or path.stem, where)
    agent.provenance = {"source": "CleanRL ppo_atari state dict", "file": path.name}
    return agent


# -- reading -------------------------------------------------------------------------------------
def _require_trust(path: Path, trust: bool | None, what: str) -> None:
    """Refuse a pickle from elsewhere without trust; warn with it. ``what`` ends where "is a pickle" goes on."""
    if trust is False:
        raise CheckpointError(
            f"{str(path)!r} is {what} is a pickle. cfsal reads it with PyTorch's tensors-only unpickler, but "
            "loads files from elsewhere only when asked: pass trust=True (CLI: --trust-code), or convert it "
            "once to a pickle-free cfsal checkpoint with cfsal.agents.save_checkpoint."
        )
    warnings.warn(f"loading {str(path)!r}: {what} is a pickle, read with torch.load(weights_only=True); "
                  "only load files from sources you trust", stacklevel=3)


def _read_sb3_zip(path: Path) -> tuple[bytes, dict[str, Any], str | None]:
    """``policy.pth``'s bytes, ``data`` as plain JSON ({} if unreadable) and the SB3 version of a model zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "policy.pth" not in names:
                raise CheckpointError(f"{str(path)!r} has no policy.pth: it is not a stable-baselines3 model zip "
                                      f"(it holds {_listing(names)}).")
            policy = archive.read("policy.pth")
            data = _json_object(archive.read("data")) if "data" in names else {}
            version = None
            if "_stable_baselines3_version" in names:
                version = archive.read("_stable_baselines3_version").decode("utf-8", "replace").strip()[:40]
    except zipfile.BadZipFile:
        raise CheckpointError(f"{str(path)!r} is not a valid zip file (corrupt or not an SB3 model).") from None
    return policy, data, version


def _json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from ``raw``, or {} if it is none: SB3's ``data`` is only a cross-check."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _read_state_dict(raw: bytes, where: str) -> dict[str, torch.Tensor]:
    """A ``{name: tensor}`` state dict from ``torch.save`` bytes, unpickling tensors and containers only."""
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for damaged or code-carrying files
        raise CheckpointError(f"{where} could not be read safely ({error}); it is damaged or contains more "
                              "than tensors.") from None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{where} holds {type(state).__name__}, not a state dict; save the network's "
                              "weights with torch.save(agent.state_dict(), path).")
    others = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise CheckpointError(f"{where} is a dict with entries that are not tensors ({_listing(others)}), not a "
                              "state dict; save the weights alone with torch.save(agent.state_dict(), path).")
    return state


# -- layouts -------------------------------------------------------------------------------------
def _sb3_weights(state: dict[str, torch.Tensor],
                 where: str) -> tuple[type[NatureActorCritic | UnsharedNatureActorCritic], dict[str, torch.Tensor]]:
    """The agent class and its weights for an SB3 ``ActorCriticCnnPolicy`` state dict."""
    if any(key.startswith("q_net.") for key in state):
        raise CheckpointError(f"{where} is a DQN-family policy (keys q_net.*): cfsal tests actor-critic agents, "
                              "whose network gives action logits and a state value; load an A2C or PPO model.")
    layout = "an SB3 ActorCriticCnnPolicy (A2C/PPO with policy='CnnPolicy')"
    hidden = [key for key in state if key.startswith("mlp_extractor.")]
    if hidden:
        raise CheckpointError(
            f"{where} has layers between the CNN and the heads ({_listing(_modules(hidden))}: net_arch was set); "
            "cfsal's Nature CNN feeds the features straight to action_net and value_net, as CnnPolicy's default "
            "(net_arch=[]) does."
        )
    if _unshared(state):
        mapping = sb3_unshared_key_map()
        return UnsharedNatureActorCritic, _mapped(state, mapping, where, layout, ignore=("features_extractor.",))
    aliases = ("pi_features_extractor.", "vf_features_extractor.")  # the shared extractor under its other names
    return NatureActorCritic, _mapped(state, sb3_key_map(), where, layout, ignore=aliases)


def _unshared(state: dict[str, torch.Tensor]) -> bool:
    """Whether the value net has its own extractor (``share_features_extractor=False``).

    SB3 ≥ 1.8 saves ``pi_features_extractor``/``vf_features_extractor`` either way: with a shared
    extractor they are the same tensors as ``features_extractor`` under other names.
    """
    value_keys = [key for key in state if key.startswith("vf_features_extractor.")]
    return any(key.replace("vf_", "", 1) not in state or not torch.equal(state[key], state[key.replace("vf_", "", 1)])
               for key in value_keys)


def _cleanrl_hint(state: dict[str, torch.Tensor]) -> str:
    """What a state dict that is not ppo_atari's looks like instead, if cfsal recognises it."""
    if "network.9.weight" in state and "actor.weight" not in state:
        return " network.9 is the Q-value layer of CleanRL's dqn_atari QNetwork: cfsal tests actor-critic agents."
    if any(key.startswith("lstm.") for key in state):
        return " The lstm layer is ppo_atari_lstm's: cfsal's agents see 4 stacked frames and have no memory."
    if any(key.startswith("features_extractor.") for key in state):
        return " These are stable-baselines3 policy keys: load the model's .zip (model.save) instead."
    return ""


def _mapped(state: dict[str, torch.Tensor], mapping: dict[str, str], where: str, layout: str, hint: str = "",
            ignore: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``state`` renamed by ``mapping``; every expected key present and no unexpected one, else a listing of both."""
    missing = [key for key in mapping if key not in state]
    extra = [key for key in state if key not in mapping and not key.startswith(ignore)]
    if missing or extra:
        problem = (f"it lacks {_listing(_modules(missing))}" if missing
                   else f"it has layers cfsal's Nature CNN does not ({_listing(_modules(extra))})")
        raise CheckpointError(
            f"{where} is not {layout}: {problem}. Expected the modules {_listing(_modules(mapping), limit=12)} "
            f"(weight and bias each); found {_listing(_modules(state), limit=12)}.{hint}"
        )
    return {ours: state[theirs] for theirs, ours in mapping.items()}


def _spec_for(weights: dict[str, torch.Tensor], game: GameSpec, where: str, trunk: str = "trunk") -> AgentSpec:
    """The agent's spec for ``game``, after checking the weights' shapes against what cfsal gives the agent."""
    n_actions = weights["policy_head.weight"].shape[0]
    if n_actions != game.n_actions:
        why = ("18 outputs are ALE's full action set (full_action_space=True), or a game whose minimal set has "
               "18 actions; cfsal plays each game's minimal set, as make_atari_env and gym.make do by default"
               if n_actions == 18
               else "it was trained for another game; name the game it played with game=… (CLI: --game)")
        raise CheckpointError(
            f"{where} has {n_actions} actions (its policy layer has {n_actions} outputs) but {game.name} has "
            f"{game.n_actions} ({', '.join(game.action_meanings)}): {why}."
        )
    channels = weights[f"{trunk}.0.weight"].shape[1]
    if channels != OBSERVATION_SHAPE[0]:
        seen = _CHANNEL_HINTS.get(channels, f"{channels}-channel inputs")
        raise CheckpointError(
            f"the first convolution in {where} takes {channels} input channels: it was trained on {seen}. cfsal "
            f"gives agents {OBSERVATION_SHAPE[0]} stacked 84×84 grayscale frames, channel-first {OBSERVATION_SHAPE}."
        )
    if weights[f"{trunk}.7.weight"].shape[1] != _FLAT_FEATURES:
        raise CheckpointError(f"{where} was trained on observations that are not 84×84 (its first dense layer "
                              f"takes {weights[f'{trunk}.7.weight'].shape[1]} inputs, not {_FLAT_FEATURES}).")
    return AgentSpec(game.name, game.action_set, ObservationSpec(shape=OBSERVATION_SHAPE))


def _check_sb3_data(data: dict[str, Any], where: str) -> None:
    """Cross-check what SB3's ``data`` JSON says about the policy's inputs (its plain fields only)."""
    space = data.get("observation_space")
    shape = space.get("_shape") if isinstance(space, dict) else None
    if isinstance(shape, list) and shape != list(OBSERVATION_SHAPE):
        raise CheckpointError(
            f"{where}: its data says the policy saw observations of shape {shape}; cfsal gives "
            f"{list(OBSERVATION_SHAPE)}, 4 stacked 84×84 grayscale frames as make_atari_env + "
            "VecFrameStack(n_stack=4) make them (channel-first after SB3's VecTransposeImage)."
        )
    kwargs = data.get("policy_kwargs")
    if isinstance(kwargs, dict) and kwargs.get("normalize_images") is False:
        raise CheckpointError(
            f"{where} was trained with normalize_images=False: its policy expected inputs scaled before it "
            "(e.g. by VecNormalize), which cfsal does not reproduce; cfsal gives 0–255 pixels and divides "
            "by 255 inside the network, as SB3 does by default."
        )


def _build(agent_class: type[NatureActorCritic | UnsharedNatureActorCritic], weights: dict[str, torch.Tensor],
           spec: AgentSpec, name: str, where: str) -> NatureActorCritic | UnsharedNatureActorCritic:
    agent = agent_class(spec, name=name)
    try:
        agent.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        raise CheckpointError(f"the weights in {where} do not fit cfsal's {agent_class.architecture}: {detail}") from None
    return agent.eval()


def _modules(keys: Iterable[str]) -> list[str]:
    """Module names of state-dict keys, in order, each once (``network.0.weight`` → ``network.0``)."""
    return list(dict.fromkeys(key.rsplit(".", 1)[0] if key.endswith((".weight", ".bias")) else key for key in keys))


def _listing(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return f"{shown}, … ({len(names)} in all)" if len(names) > limit else shown


# -- TorchScript ---------------------------------------------------------------------------------
class TorchScriptAgent(Agent):
    """Wraps a TorchScript module whose forward maps [B, 4, 84, 84] 0–255 floats to (logits, value)."""

    architecture = "torchscript"

    def __init__(self, spec: AgentSpec, module: torch.jit.ScriptModule, name: str) -> None:
        super().__init__(spec, name)
        self.module = module

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = self.module(obs)
        return logits, value.reshape(-1)


def load_torchscript(path: str | os.PathLike, *, game: str, trust: bool = False,
                     name: str | None = None) -> TorchScriptAgent:
    """Load a TorchScript agent. Refuses unless ``trust=True``: TorchScript runs code from the file."""
    path = Path(path)
    if not trust:
        raise CheckpointError(
            f"{str(path)!r} is a TorchScript module, which executes code when loaded. Load it only "
            "if you trust its source: pass trust=True (CLI: --trust-code)."
        )
    warnings.warn(f"loading TorchScript from {str(path)!r}: it can run arbitrary code", stacklevel=2)
    spec_game = get_game(game)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001 - torch.jit raises many types for files it cannot read
        raise CheckpointError(f"{str(path)!r} is not a loadable TorchScript module ({error}).") from None
    agent = TorchScriptAgent(AgentSpec(spec_game.name, spec_game.action_set), module, name or path.stem)
    with torch.no_grad():
        logits, value = agent(torch.zeros(1, 4, 84, 84))
    if logits.shape != (1, spec_game.n_actions) or value.shape != (1,):
        raise CheckpointError(
            f"{str(path)!r} returns logits of shape {tuple(logits.shape)} and value {tuple(value.shape)}; "
            f"{spec_game.name} needs (1, {spec_game.n_actions}) and (1,)."
        )
    agent.provenance = {"source": "torchscript", "file": path.name}
    return agent.eval()
