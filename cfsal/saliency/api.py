"""The one saliency verb: dispatch to a method, record its parameters, wrap the result."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from cfsal.agents.base import Agent
from cfsal.envs.objects import ObjectBox, objects as game_objects
from cfsal.saliency._utils import SaliencyError, as_frames, to_numpy_maps
from cfsal.saliency.gradient_x_input import gradient_x_input
from cfsal.saliency.integrated_gradients import integrated_gradients
from cfsal.saliency.jacobian import jacobian
from cfsal.saliency.object_removal import object_saliency
from cfsal.saliency.occlusion import occlusion
from cfsal.saliency.perturbation import perturbation
from cfsal.saliency.result import SaliencyMap
from cfsal.saliency.rise import rise
from cfsal.saliency.smoothgrad import smoothgrad

#: name → function(agent, frames [T, 4, 84, 84], **params) → (actor, critic, details)
METHODS: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor, dict]]] = {
    "perturbation": perturbation,
    "jacobian": jacobian,
    "object": object_saliency,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "gradient_x_input": gradient_x_input,
    "occlusion": occlusion,
    "rise": rise,
}

#: The maps the seed paper used.
PAPER_METHODS = ("perturbation", "jacobian", "object")


#: Methods whose maps changed since they were first written (caches of maps key on it): ``object``
#: removes a moving object from every stacked frame where it was since revision 2.
REVISIONS: dict[str, int] = {"object": 2}


def method_revision(method: str) -> int:
    """Which version of ``method``'s maps this cfsal computes (1 unless changed since)."""
    return REVISIONS.get(method, 1)


def method_defaults(method: str) -> dict[str, Any]:
    """Every tunable parameter of ``method`` with its default value."""
    function = _method(method)
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}


def _method(method: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor, dict]]:
    if method not in METHODS:
        raise SaliencyError(f"unknown saliency method {method!r}; cfsal has: {', '.join(METHODS)}")
    return METHODS[method]


def saliency(agent: Agent, frames: np.ndarray | torch.Tensor, method: str = "perturbation", *,
             states: Sequence[Mapping[str, Any]] | None = None, **params: Any) -> SaliencyMap:
    """Saliency of ``agent`` on ``frames`` (one observation [4, 84, 84] or a batch [T, 4, 84, 84]).

    ``states`` — the game state of each frame (``env.get_toybox_state()``) — gives the map the
    game objects' boxes, so it can answer ``mass_on("score")``; the ``object`` method needs them.
    An entry may also be the states of the frame's stacked frames, oldest first
    (:func:`~cfsal.saliency.object_removal.stacked` of an episode's states): then the ``object``
    method removes a moving object from each stacked frame where it was, not only where it is now.
    ``params`` are the method's own (see :func:`method_defaults`); unknown names are an error.
    """
    function = _method(method)
    defaults = method_defaults(method)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise SaliencyError(f"saliency method {method!r} has no parameter(s) {', '.join(unknown)}; "
                            f"its parameters are: {', '.join(defaults) or '(none)'}")
    batch = as_frames(agent, frames)
    per_frame: list[Mapping[str, ObjectBox] | list[Mapping[str, ObjectBox]]] = []
    if states is not None:
        states = list(states)
        if len(states) != len(batch):
            raise SaliencyError(f"states must hold one Toybox state per frame: {len(states)} states for "
                                f"{len(batch)} frames")
        per_frame = _object_boxes(agent.spec.game, states)
    boxes = tuple(entry if isinstance(entry, Mapping) else entry[-1] for entry in per_frame)
    call_params = dict(params)
    if method == "object":
        if not boxes:
            raise SaliencyError("object saliency removes game objects, so it needs the frames' Toybox states: "
                                "saliency(agent, frames, 'object', states=[env.get_toybox_state(), …])")
        call_params["objects"] = per_frame
    actor, critic, details = function(agent, batch, **call_params)
    recorded = {**defaults, **params}
    recorded = {k: (np.asarray(v).tolist() if isinstance(v, (np.ndarray, torch.Tensor)) else v)
                for k, v in recorded.items()}
    return SaliencyMap(to_numpy_maps(actor), to_numpy_maps(critic), method, recorded, getattr(agent, "name", "agent"),
                       agent.spec.game, boxes, details)


def _object_boxes(game: str, states: list) -> list:
    """Each frame's object boxes: one set for a state, a list of sets (oldest first) for a stack of
    states. A state shared by several stacks is read once."""
    read: dict[int, Mapping[str, ObjectBox]] = {}

    def boxes_of(state: Mapping[str, Any]) -> Mapping[str, ObjectBox]:
        if id(state) not in read:
            read[id(state)] = game_objects(game, state)
        return read[id(state)]

    out = []
    for entry in states:
        if isinstance(entry, Mapping):
            out.append(boxes_of(entry))
        elif isinstance(entry, Sequence) and entry and all(isinstance(s, Mapping) for s in entry):
            out.append([boxes_of(s) for s in entry])
        else:
            raise SaliencyError(f"each entry of states is a game state (a dict) or the states of the frame's stacked "
                                f"frames (a non-empty list of dicts, oldest first), got {type(entry).__name__}.")
    return out
