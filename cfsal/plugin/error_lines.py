"""One line about an error a hypothesis raised: what happened, where in the user's code, what to do."""

from __future__ import annotations

import os
import sysconfig
import traceback
from pathlib import Path

import pytest

import _cfsal_pytestplugin
from cfsal.errors import CfsalError


def error_line(error: BaseException, name: str, root: Path) -> str:
    """One line about an error a hypothesis raised, saying what to do.

    A cfsal error (and ``pytest.fail``) already says it; for any other exception the line names it
    and the deepest place in the user's own code it passed through (not cfsal, not a library), where
    the fix usually is; without such a place it was raised inside cfsal or a library.
    """
    if isinstance(error, (CfsalError, pytest.fail.Exception)):
        return str(error)
    if isinstance(error, pytest.FixtureLookupError):
        return f"{name} asks for a fixture {error.argname!r} that does not exist (pytest --fixtures lists them)."
    text = (str(error).strip().splitlines() or [""])[0][:300]
    what = f"{name} raised {type(error).__name__}" + (f": {text}" if text else "")
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not _library_file(frame.filename)]
    if own:
        where = own[-1]
        return (f"{what} (at {shown(where.filename, root)}:{where.lineno}, in {where.name}). Fix it there; "
                "the hypothesis is recorded as ERROR. pytest --tb=long shows the whole traceback.")
    where = frames[-1] if frames else None
    place = f" (inside {shown(where.filename, root)}:{where.lineno}, in {where.name})" if where else ""
    return (f"{what}{place}. Check the arguments the hypothesis gives counterfactual() and its intervention; "
            "if they are right this is a cfsal bug: please report it with the output of pytest --tb=long.")


def _library_file(filename: str) -> bool:
    """Whether a traceback frame belongs to cfsal (its plugin too), pytest or an installed library rather
    than the user's code."""
    path = Path(filename).resolve()
    return path == _PLUGIN_FILE or path.is_relative_to(_CFSAL_DIR) or any(path.is_relative_to(p) for p in _LIBRARY_DIRS)


_CFSAL_DIR = Path(__file__).resolve().parents[1]
_PLUGIN_FILE = Path(_cfsal_pytestplugin.__file__).resolve()
_LIBRARY_DIRS = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib")})


def shown(path: str | os.PathLike, root: Path) -> str:
    """A path as the user would type it: relative to ``root`` when it lies inside, else whole."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


