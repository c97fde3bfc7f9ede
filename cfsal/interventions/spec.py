"""Interventions declared as data: dicts, lists of dicts, or YAML, so hypotheses and configs can name them.

``{"name": "breakout.move_ball", "dx": 10}`` is one intervention; a list is a composition applied
in order; ``{"name": "compose", "interventions": [...]}`` (what :meth:`Composite.to_dict` writes)
is one too. A string is parsed as YAML (``yaml.safe_load``) first.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from cfsal.errors import InterventionError
from cfsal.interventions.config import ConfigComposite, ConfigIntervention, compose
from cfsal.interventions.params import registry
from cfsal.interventions.state import Composite, Intervention


def from_spec(spec: Any) -> Intervention | ConfigIntervention:
    """Build an intervention from a dict, a list of dicts (composed), a YAML string, or pass one through."""
    if isinstance(spec, (Intervention, ConfigIntervention)):
        return spec
    if isinstance(spec, str):
        try:
            loaded = yaml.safe_load(spec)
        except yaml.YAMLError as error:
            raise InterventionError(f"intervention spec is not valid YAML: {error}") from None
        if isinstance(loaded, str):
            raise InterventionError(
                f"intervention spec {spec!r} is a bare string; write a mapping such as "
                f"'{{name: breakout.move_ball, dx: 10}}'."
            )
        return from_spec(loaded)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise InterventionError("an empty list is not an intervention; give at least one spec.")
        return compose(*(from_spec(item) for item in spec))
    if not isinstance(spec, dict):
        raise InterventionError(
            f"an intervention spec must be a mapping, a list of mappings or YAML text, got {type(spec).__name__}."
        )
    params = dict(spec)
    name = params.pop("name", None)
    if name is None:
        raise InterventionError(f"intervention spec {spec!r} has no 'name'; e.g. {{name: breakout.move_ball, dx: 10}}.")
    if name in (Composite.name, ConfigComposite.name):
        parts = params.pop("interventions", None)
        if not isinstance(parts, list) or params:
            raise InterventionError(f"a {name!r} spec takes exactly one key, 'interventions': a list of specs.")
        return from_spec(parts)
    cls = registry.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), list(registry), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Run `cfsal interventions list` to see them all."
        raise InterventionError(f"unknown intervention {name!r}.{hint}")
    known = {p.name for p in cls.params()}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InterventionError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; it takes {', '.join(sorted(known)) or 'none'}."
        )
    missing = [p.name for p in cls.params() if p.required and p.name not in params]
    if missing:
        raise InterventionError(f"{name}: missing required parameter(s) {', '.join(missing)}.")
    return cls(**params)


def list_interventions(game: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Every registered intervention as a dict: name, game, kind, summary, paper name, params, doc."""
    out = []
    for name in sorted(registry):
        cls = registry[name]
        if cls in (Composite, ConfigComposite):
            continue
        if (game is not None and cls.game != game) or (kind is not None and cls.kind != kind):
            continue
        out.append({"name": name, "game": cls.game, "kind": cls.kind,
                    "persistent": bool(getattr(cls, "persistent", False)), "summary": cls.summary,
                    "paper_name": cls.paper_name, "params": [p.to_dict() for p in cls.params()],
                    "doc": cls.describe()})
    return out
