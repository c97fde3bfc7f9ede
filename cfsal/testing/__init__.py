"""Fakes for cfsal's own tests and for users' tests: small, exact, no training needed."""

from cfsal.testing.fakes import StateEdit, tiny_agent

__all__ = ["StateEdit", "tiny_agent"]
