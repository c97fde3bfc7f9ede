"""Agents: the protocol, networks, checkpoints, loaders, control agents, and the zoo.

Public face: :class:`Agent`, :class:`AgentSpec`, :func:`load_agent`, :func:`save_checkpoint`.
"""

from cfsal.agents.base import Agent, AgentSpec, ObservationSpec, actions_from_logits
from cfsal.agents.checkpoint import load_checkpoint, read_checkpoint_info, save_checkpoint
from cfsal.agents.networks import ConstantAgent, NatureActorCritic, UniformRandomAgent

__all__ = ["Agent", "AgentSpec", "ConstantAgent", "NatureActorCritic", "ObservationSpec",
           "UniformRandomAgent", "actions_from_logits", "load_checkpoint", "read_checkpoint_info",
           "save_checkpoint"]
