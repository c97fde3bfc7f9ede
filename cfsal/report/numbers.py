"""Numbers as results files carry them.

cfsal writes strict JSON, which has no NaN or infinity: a CI bound of ±∞ or an undefined effect
(a correlation with a constant measure) is stored as the string ``"inf"``, ``"-inf"`` or ``"nan"``
(:mod:`cfsal.plugin.session`). Every formatter of the report reads numbers through
:func:`json_number`, so such a value is shown as ∞ or — rather than breaking the page.
"""

from __future__ import annotations

import math
from typing import Any


def json_number(value: Any) -> Any:
    """``value`` with strict JSON's non-finite strings turned back into floats (other values as they are)."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if not math.isfinite(number) else value
    return value


def non_finite_text(value: Any) -> str | None:
    """``—`` for a missing or NaN value, ``∞``/``−∞`` for an infinite one, ``None`` for a finite number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return None
