"""Config interventions: edits of a game's *configuration* (colours, start lives, speeds), at episode start.

Toybox's ``write_config_json`` restarts the game, so these cannot be applied mid-episode:
:meth:`ConfigIntervention.apply_to_env` writes the config and then resets the environment. Use them
to build a variant of the game at episode start; use state interventions
(:mod:`cfsal.interventions.state`) at a step. :func:`compose` combines interventions of either
kind, so it lives here, above both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cfsal.errors import InterventionError
from cfsal.interventions.params import Composition, Parameterised, ParamSpec, flatten
from cfsal.interventions.state import Composite


class ConfigIntervention(Parameterised):
    """Base of interventions on the game configuration.

    Subclasses implement :meth:`_edit_config` (mutate the given copy of the config in place) and
    :meth:`changed_keys` (the config keys it sets, compared by :meth:`took_effect`). At least one
    key must be set.
    """

    kind: ClassVar[str] = "config"

    def _validate(self) -> None:
        if not self.changed_keys():
            raise self._error("give at least one setting to change.")

    def apply_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Return an edited deep copy of a Toybox config dict."""
        new = copy.deepcopy(config)
        self._edit_config(new)
        return new

    def _edit_config(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def apply_to_env(self, env: Any, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Write the edited config into ``env`` and reset it; returns ``env.reset(seed=seed)``."""
        if env.game != self.game:
            raise InterventionError(f"{self.name} configures {self.game}, but the environment plays {env.game}.")
        env.configure(self.apply_config(env.config))
        return env.reset(seed=seed)

    def took_effect(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Did the configured keys change between two config dicts?"""
        keys = self.changed_keys()
        return any(before.get(k) != after.get(k) for k in keys)

    def changed_keys(self) -> tuple[str, ...]:
        raise NotImplementedError

    def __add__(self, other: Any) -> Any:
        return compose(self, other)


class KeyedConfigure(ConfigIntervention):
    """A config intervention whose parameters are config keys of the same name.

    Every parameter defaults to ``None`` (leave the key as it is); a given one is written to its
    key as it is, an ``(r, g, b)`` colour as Toybox's RGBA dict. Parameters named in ``OWN_KEYS`` are not
    keys of their own name: the subclass writes them itself.
    """

    OWN_KEYS: ClassVar[tuple[str, ...]] = ()

    def _keyed(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params() if p.name not in self.OWN_KEYS and getattr(self, p.name) is not None)

    def changed_keys(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._keyed())

    def _edit_config(self, config: dict[str, Any]) -> None:
        for p in self._keyed():
            value = getattr(self, p.name)
            config[p.name] = rgb(value) if p.kind == "color" else value


def rgb(color: tuple[int, int, int]) -> dict[str, int]:
    """An (r, g, b) triple as Toybox's colour dict (opaque)."""
    return {"r": color[0], "g": color[1], "b": color[2], "a": 255}


@dataclass(frozen=True)
class ConfigComposite(Composition, ConfigIntervention):
    """Several config interventions of one game, applied in order."""

    name: ClassVar[str] = "compose_config"
    summary: ClassVar[str] = "apply several config interventions of one game in order"
    members: tuple[ConfigIntervention, ...] = ()

    def __post_init__(self) -> None:
        members = self._check_members(ConfigIntervention, "config intervention", lambda m: (
            f"{m!r} is not a config intervention; compose_config holds config interventions only (compose "
            "state interventions with compose, or a + b)."))
        object.__setattr__(self, "game", members[0].game)

    def _edit_config(self, config: dict[str, Any]) -> None:
        for m in self.members:
            m._edit_config(config)

    def changed_keys(self) -> tuple[str, ...]:
        return tuple(k for m in self.members for k in m.changed_keys())


def compose(*interventions: Any) -> Composite | ConfigComposite:
    """Compose interventions (flattening nested composites) into one :class:`Composite`.

    Config interventions compose with config interventions only (into a
    :class:`ConfigComposite`).
    """
    flat = flatten(interventions)
    if flat and all(isinstance(i, ConfigIntervention) for i in flat):
        return ConfigComposite(members=flat)
    return Composite(members=flat)
