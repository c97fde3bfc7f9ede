"""Fakes for cfsal's own tests and for users' tests: small, exact, no training needed."""

from cfsal.testing.fakes import StateEdit, random_play_states, shift_ball, tiny_agent, unchanged

__all__ = ["StateEdit", "random_play_states", "shift_ball", "tiny_agent", "unchanged"]
