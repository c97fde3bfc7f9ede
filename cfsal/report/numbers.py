"""Numbers as results files carry them.

cfsal writes strict JSON, which has no NaN or infinity: a CI bound of ±∞ or an undefined effect
(a correlation with a constant measure) is stored as the string ``"inf"``, ``"-inf"`` or ``"nan"``
(:mod:`cfsal.plugin.session`). Every formatter of the report reads numbers through
:func:`json_number` (the tables and the page through :func:`number_text`), so such a value is
shown as ∞ or — rather than breaking the page.
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


def number_text(value: Any, digits: int = 3, *, exponent_digits: int = 2) -> str:
    """A number as a reader wants it: ``digits`` decimals (significant digits from 1000 up), scientific
    with ``exponent_digits`` decimals when tiny, ``—`` or ``∞`` when absent or not finite; text that is
    not a number comes back as it is."""
    value = json_number(value)
    if isinstance(value, str):
        return value
    special = non_finite_text(value)
    if special is not None:
        return special
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.{exponent_digits}e}"
    return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
