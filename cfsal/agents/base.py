"""The Agent protocol: what every agent cfsal tests must offer.

An agent maps a batch of stacked observations to action logits and a state value. Everything
else (greedy/sampled actions, saliency, counterfactual rollouts) is built on that one call, so
that a new kind of agent needs to implement only :meth:`Agent.logits_and_value`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from cfsal.envs.games import get_game
from cfsal.errors import ObservationShapeError


@dataclass(frozen=True)
class ObservationSpec:
    """The preprocessing an agent was trained with; observations must match it exactly."""

    shape: tuple[int, int, int] = (4, 84, 84)
    frame_skip: int = 4
    grayscale: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "frame_skip": self.frame_skip, "grayscale": self.grayscale}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservationSpec:
        return cls(shape=tuple(int(s) for s in data["shape"]), frame_skip=int(data["frame_skip"]),
                   grayscale=bool(data["grayscale"]))


@dataclass(frozen=True)
class AgentSpec:
    """Which game an agent plays, with which actions, on which observations."""

    game: str
    action_set: tuple[int, ...]
    observation: ObservationSpec = field(default_factory=ObservationSpec)

    @classmethod
    def for_game(cls, game: str, observation: ObservationSpec | None = None) -> AgentSpec:
        spec = get_game(game)
        return cls(spec.name, spec.action_set, observation or ObservationSpec())

    @property
    def n_actions(self) -> int:
        return len(self.action_set)

    def to_dict(self) -> dict[str, Any]:
        return {"game": self.game, "action_set": list(self.action_set),
                "observation": self.observation.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        return cls(game=data["game"], action_set=tuple(int(a) for a in data["action_set"]),
                   observation=ObservationSpec.from_dict(data["observation"]))


@contextmanager
def deterministic_forwards() -> Iterator[None]:
    """Run agent forwards on one torch thread inside this block.

    A convolution's float result depends on how many threads split its reductions, so two runs
    with different thread counts (a 2-thread main process vs. 1-thread workers) can pick
    different sampled actions. Rollouts therefore run their forwards on one thread, which makes
    every executor and every batch composition give byte-identical results; parallelism comes
    from the executors instead.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


#: Rows per forward in rollouts. A GEMM's float result for one row depends on how many rows
#: share the call, so rollouts always forward in blocks of exactly this many (zero-padded):
#: then a branch's numbers do not depend on which other branches ran beside it.
FORWARD_BLOCK = 16


@torch.no_grad()
def blocked_logits_and_value(agent: Agent, obs: np.ndarray | torch.Tensor,
                             block: int = FORWARD_BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and values computed in zero-padded blocks of ``block`` rows (see FORWARD_BLOCK)."""
    batch = as_float_batch(obs)
    agent.check_observation(batch)
    forward = inference_forward(agent, (block, *batch.shape[1:]))
    logits, values = [], []
    for start in range(0, len(batch), block):
        rows = batch[start:start + block]
        pad = block - len(rows)
        if pad:
            rows = torch.cat([rows, rows.new_zeros(pad, *rows.shape[1:])])
        block_logits, block_values = forward(rows)
        logits.append(block_logits[: block - pad])
        values.append(block_values[: block - pad])
    return torch.cat(logits), torch.cat(values)


class BlockForward:
    """One forward block kept for a loop that forwards up to :data:`FORWARD_BLOCK` observations per step.

    Computes what :func:`blocked_logits_and_value` computes for them (the same float32 rows, the same
    zero padding, the same traced forward, so the same floats), but writes each observation into a
    block allocated once instead of stacking, casting and padding a new batch per step: in the
    episode store that per-step work, and looking the trace up again, took ~10% of the main thread.
    Make one per loop (it keeps the trace of the agent's weights as they were when it was made).
    """

    def __init__(self, agent: Agent, observation_shape: tuple[int, ...]) -> None:
        self.agent = agent
        self.block = torch.zeros((FORWARD_BLOCK, *observation_shape), dtype=torch.float32)
        agent.check_observation(self.block)
        self.rows = self.block.numpy()  # the same memory: writing a uint8 frame here casts it to float32
        self.forward = inference_forward(agent, tuple(self.block.shape))
        self.filled = 0

    @torch.no_grad()
    def __call__(self, observations: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        count = len(observations)
        if not 0 < count <= FORWARD_BLOCK:
            raise ValueError(f"a forward block holds 1 to {FORWARD_BLOCK} observations, got {count}")
        for row, observation in enumerate(observations):
            if observation.shape != self.rows.shape[1:]:  # the agent's own error, which says what to do
                self.agent.check_observation(torch.as_tensor(observation).unsqueeze(0))
            self.rows[row] = observation
        if self.filled > count:
            self.rows[count:self.filled] = 0.0
        self.filled = count
        logits, values = self.forward(self.block)
        return logits[:count], values[:count]


Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

#: Per agent: the weights its trace was made from, and the trace (see inference_forward). Weak keys, so a
#: cached trace never keeps an agent alive, and not an attribute, so agents still pickle for process pools.
_TRACES: weakref.WeakKeyDictionary[Agent, tuple[tuple[int, ...], Forward]] = weakref.WeakKeyDictionary()


def _weights_key(agent: Agent) -> tuple[int, ...]:
    """Where the agent's tensors live: a trace shares them, so it is stale only when one is replaced."""
    return tuple(tensor.data_ptr() for tensor in itertools.chain(agent.parameters(), agent.buffers()))


def inference_forward(agent: Agent, example_shape: tuple[int, ...]) -> Forward:
    """The no-grad forward rollouts call: a TorchScript trace of the agent where its class allows it.

    Why: rollouts forward on one thread while a second thread steps the environments
    (``cfsal.rollout.paired.run_paired``'s overlap). An eager forward releases and re-takes the GIL
    around every op (about a dozen for the Nature CNN), and every re-take waits for the stepping
    thread's Python; a traced graph runs all its ops in C++ after one release. It runs the same
    kernels in the same order on the same (shared) weight tensors, so its floats are byte-identical
    to the eager forward's (tests/test_agents.py checks it). ``torch.jit.trace`` is deprecated in
    favour of ``torch.compile``/``torch.export``, but those either need a compiler at run time and
    change the kernels (so the floats) or run their graph op by op from Python again; if a future
    torch refuses to trace, the agent simply runs eagerly.

    Only classes that declare ``traceable = True`` in their own body (a fixed graph of tensor ops, no
    data-dependent Python; a subclass is not traced unless it declares it again) are traced, on zeros of ``example_shape``; any other agent, a user's included, runs as it is.
    """
    if not type(agent).__dict__.get("traceable", False):  # a subclass may change forward: it declares anew
        return agent
    key = _weights_key(agent)
    cached = _TRACES.get(agent)
    if cached is not None and cached[0] == key:
        return cached[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace's own notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            with torch.no_grad():
                forward: Forward = torch.jit.trace(agent, torch.zeros(example_shape), check_trace=False)
        except Exception:  # noqa: BLE001 - any failure to trace means: run eagerly, as before
            forward = agent
    _TRACES[agent] = (key, forward)
    return forward


def as_float_batch(obs: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Observations (uint8 or float, one or a batch) as a float32 batch in the 0–255 scale.

    Networks divide by 255 themselves, so saliency methods can perturb inputs in pixel units.
    """
    tensor = torch.as_tensor(obs)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    return tensor.to(torch.float32)


class Agent(nn.Module):
    """Base class of every agent: a torch module from observations to (logits, value).

    Subclasses implement :meth:`forward` on float32 batches ``[B, *observation.shape]`` in the
    0–255 scale and return ``(logits [B, n_actions], value [B])``. Being a module, any agent can
    be differentiated (Jacobian saliency) and batched (perturbation saliency, rollouts).
    A subclass whose forward is a fixed graph of tensor ops may set ``traceable = True`` so that
    rollouts run it as one TorchScript call (:func:`inference_forward`). One whose output does not
    depend on its input (a null control) may set ``ignores_observation = True``: then collecting
    states forwards one row per step instead of one per playing episode.
    """

    traceable: ClassVar[bool] = False
    ignores_observation: ClassVar[bool] = False

    def __init__(self, spec: AgentSpec, name: str = "agent") -> None:
        super().__init__()
        self.spec = spec
        self.name = name

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def check_observation(self, obs: torch.Tensor) -> None:
        expected = tuple(self.spec.observation.shape)
        if tuple(obs.shape[1:]) != expected:
            raise ObservationShapeError(
                f"agent {self.name!r} expects observations of shape [batch, {', '.join(map(str, expected))}]"
                f" (frame stack, height, width), got {list(obs.shape)}; make the environment "
                f"with cfsal.envs.make({self.spec.game!r}) and the agent's observation settings."
            )

    @torch.no_grad()
    def logits_and_value(self, obs: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched logits and values, without gradients."""
        batch = as_float_batch(obs)
        self.check_observation(batch)
        return self(batch)

    def act(self, obs: np.ndarray | torch.Tensor, *, greedy: bool = False,
            uniforms: np.ndarray | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for a batch of observations.

        Sampling uses inverse-CDF draws from ``uniforms`` (one per row) when given: two branches
        that share their uniforms make the same choice whenever their policies agree closely,
        which is how counterfactual rollouts get common random numbers.
        """
        logits, _ = self.logits_and_value(obs)
        return actions_from_logits(logits, greedy=greedy, uniforms=uniforms, rng=rng)


def actions_from_logits(logits: torch.Tensor, *, greedy: bool = False,
                        uniforms: np.ndarray | None = None,
                        rng: np.random.Generator | None = None) -> np.ndarray:
    """Greedy or inverse-CDF-sampled actions for a batch of logits."""
    if greedy:
        return logits.argmax(dim=-1).cpu().numpy()
    probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
    if uniforms is None:
        if rng is None:
            raise ValueError("sampling actions needs `uniforms` or an `rng` (np.random.Generator); "
                             "cfsal never uses the global RNG")
        uniforms = rng.random(len(probs))
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return (cdf < np.asarray(uniforms)[:, None]).sum(axis=1)


def agent_sha256(agent: Agent) -> str:
    """sha256 of what the agent computes: its class, its game and every parameter and buffer.

    Caches of the agent's played episodes and saliency maps are keyed by it.
    It works for every agent (checkpoints, SB3 imports, the parameter-free controls, whose constant
    action is part of their identity) without trusting a card that may lag a retraining.
    """
    digest = hashlib.sha256()
    digest.update(type(agent).__name__.encode())
    digest.update(json.dumps(agent.spec.to_dict(), sort_keys=True).encode())
    digest.update(repr(getattr(agent, "action", None)).encode())
    for name, tensor in sorted(agent.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(name.encode())
        digest.update(str(array.dtype).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
