"""File names in a results JSON, relative to the JSON's own folder, so results and report can move.

The plugin renders each hypothesis's frames and movie beside the report and records where
(``media``). Absolute paths would tie a results file to the machine and folder that ran it; in the
file they are written relative to its folder, and readers (``cfsal report``, ``--cfsal-compare``)
resolve them against the folder they read it from. Absolute paths, as older files hold, stay as
they are. Pure functions over the results dict (``SessionState.to_dict()``); no file is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def relative_to(results: Mapping[str, Any], folder: str | os.PathLike) -> dict[str, Any]:
    """``results`` with every file it names written relative to ``folder`` (the JSON's folder)."""
    base = Path(folder).resolve()

    def relative(name: str) -> str:
        try:
            return Path(os.path.relpath(Path(name).resolve(), base)).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            return name

    return _map_files(results, relative)


def resolved_from(results: Mapping[str, Any], folder: str | os.PathLike) -> dict[str, Any]:
    """``results`` as read from a JSON in ``folder``: relative file names joined to it, absolute ones kept."""
    base = Path(folder).resolve()
    return _map_files(results, lambda name: str(base / name))  # joining an absolute name gives that name


def _map_files(results: Mapping[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """A copy with ``change`` applied to the file names: media images and movies, the states cache."""
    out = dict(results)
    settings = results.get("settings")
    if isinstance(settings, Mapping) and isinstance(settings.get("states_cache"), str):
        out["settings"] = {**settings, "states_cache": change(settings["states_cache"])}
    if isinstance(results.get("hypotheses"), list):
        out["hypotheses"] = [_record_files(record, change) for record in results["hypotheses"]]
    return out


def _record_files(record: Mapping[str, Any], change: Callable[[str], str]) -> Mapping[str, Any]:
    media = record.get("media") if isinstance(record, Mapping) else None
    if not isinstance(media, Mapping):
        return record
    branches = [{**branch, "image": change(branch["image"])} if isinstance(branch, Mapping)
                and isinstance(branch.get("image"), str) else branch for branch in media.get("branches") or []]
    movie = change(media["movie"]) if isinstance(media.get("movie"), str) else media.get("movie")
    return {**record, "media": {**media, "branches": branches, "movie": movie}}
