"""One exception hierarchy for cfsal.

Every error cfsal raises on purpose derives from :class:`CfsalError`, so the CLI and the pytest
plugin can turn it into a one-line message instead of a traceback from deep inside. Messages
name the offending value, say why it is wrong, and say what to do instead;
:func:`check_schema_version` says so for every record read back from JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class CfsalError(Exception):
    """Base class: an error whose message is meant for the user, not a traceback."""


class UnknownGameError(CfsalError, KeyError):
    """A game name or gym id that cfsal does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AgentNotFoundError(CfsalError, KeyError):
    """An agent name that is neither in the zoo nor an existing file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointError(CfsalError):
    """A checkpoint that is corrupt, untrusted, or made for another game or observation shape."""


class SnapshotError(CfsalError):
    """An environment snapshot that does not fit the environment it is restored into."""


class InterventionError(CfsalError, ValueError):
    """An intervention with bad parameters or applied to the wrong game."""


class MeasureError(CfsalError, TypeError):
    """A measure that is not a function of the two arms' traces (a name string, a number, a wrong signature)."""


class HypothesisDeclarationError(CfsalError):
    """A hypothesis declared with missing or contradictory settings."""


class TrainingError(CfsalError):
    """Training could not start or resume."""


class StatisticsError(CfsalError, ValueError):
    """Numbers handed to cfsal.stats that no test can use (NaN, infinity, mismatched lengths)."""


class ReportError(CfsalError):
    """A results file the report cannot read (missing, not JSON, another schema version)."""


class GameStateError(CfsalError, ValueError):
    """A Toybox state that the native core would refuse, loop on, or abort the process over."""


class ObservationShapeError(CfsalError, ValueError):
    """Observations whose shape is not the one the agent was trained on."""


def check_schema_version(data: Mapping[str, Any], expected: int, what: str, error: type[CfsalError],
                         hint: str) -> None:
    """Refuse a record written under another schema than this cfsal reads: raise ``error`` naming
    ``what`` the record is, the ``schema_version`` it has and ``expected``, and ``hint``, what to do
    instead (each reader knows best: re-record it, re-run it, …)."""
    version = data.get("schema_version")
    if version != expected:
        raise error(f"{what} schema_version={version!r} is not supported (this cfsal reads version {expected}); "
                    f"{hint}")
