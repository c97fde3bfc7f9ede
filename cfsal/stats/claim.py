"""What a hypothesis claims, at which level it is tested, and the outcomes a verdict on it can have.

The rules that decide the outcome are stated for users in ``docs/statistics.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from cfsal.errors import HypothesisDeclarationError
from cfsal.stats.paired import ALTERNATIVES, Alternative

Kind = Literal["effect", "direction", "no_effect", "correlation"]
Outcome = Literal["SUPPORTED", "REFUTED", "INCONCLUSIVE"]
KINDS: tuple[str, ...] = ("effect", "direction", "no_effect", "correlation")
SUPPORTED, REFUTED, INCONCLUSIVE = "SUPPORTED", "REFUTED", "INCONCLUSIVE"


def _declaration(message: str) -> HypothesisDeclarationError:
    return HypothesisDeclarationError(f"cfsal.stats.Claim: {message}")


@dataclass(frozen=True)
class Claim:
    """What a hypothesis claims, and at which level it is tested.

    ``margin`` is the largest change still called "no effect", in the units of the measure (or of
    r for correlations). It is required for ``no_effect`` and optional elsewhere, where it is what
    makes a REFUTED verdict possible by equivalence.
    """

    kind: Kind
    alternative: Alternative = "two-sided"
    margin: float | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise _declaration(f"kind={self.kind!r} is not one of {KINDS}.")
        if self.alternative not in ALTERNATIVES:
            raise _declaration(f"alternative={self.alternative!r} is not one of {ALTERNATIVES}.")
        alpha = self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
            raise _declaration(
                f"alpha={self.alpha!r} must be a number in (0, 0.5): it is the chance of a false SUPPORTED "
                "you accept (0.05 is usual), and equivalence tests use a 1 − 2α interval."
            )
        if self.margin is not None:
            if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) \
                    or not math.isfinite(self.margin) or self.margin <= 0:
                raise _declaration(
                    f"margin={self.margin!r} must be a finite number > 0: the largest change of the measure "
                    "you would still call 'no effect' (e.g. 0.05 for action disagreement)."
                )
            if self.kind == "correlation" and self.margin >= 1:
                raise _declaration(
                    f"margin={self.margin!r} for a correlation must be below 1 (|r| ≤ 1); e.g. margin=0.1 "
                    "means 'any correlation weaker than 0.1 counts as none'."
                )
        if self.kind == "no_effect":
            if self.margin is None:
                raise _declaration(
                    "a 'no_effect' claim needs margin > 0, the largest change you would still call no effect "
                    f"(got margin={self.margin!r}): 'exactly zero' can never be shown from data, only 'smaller "
                    "than the margin'; e.g. margin=0.05 for action disagreement."
                )
            if self.alternative != "two-sided":
                raise _declaration(
                    "a 'no_effect' claim is two-sided (within ±margin), got "
                    f"alternative={self.alternative!r}; "
                    "drop alternative. (A one-sided 'it does not go up by more than the margin' is a "
                    "non-inferiority claim, which cfsal does not offer.)"
                )
        if self.kind == "direction" and self.alternative == "two-sided":
            raise _declaration(
                "a 'direction' claim needs alternative='greater' or 'less' (which way the intervention "
                "moves the measure); for 'it changes, either way' use kind='effect'."
            )
        if self.kind == "effect" and self.alternative != "two-sided":
            raise _declaration(
                f"kind='effect' is two-sided; for a one-sided claim use kind='direction' with "
                f"alternative={self.alternative!r}."
            )

    @property
    def sided(self) -> int:
        return 2 if self.alternative == "two-sided" else 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alternative": self.alternative, "margin": self.margin,
                "alpha": self.alpha}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        return cls(kind=data["kind"], alternative=data.get("alternative", "two-sided"),
                   margin=data.get("margin"), alpha=data.get("alpha", 0.05))
