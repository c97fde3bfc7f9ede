"""The numbers a game shows on screen (scores, lives, a clock), read from its state.

A HUD object's box says where a number is drawn; this says which number. The saliency audit
correlates saliency on the score with the score shown, and the hypotheses ``cfsal suggest`` writes
read it back from a branch's first state, for Toybox states (JSON keys) and ALE states (RAM bytes,
decoded as each game's RAM module decodes them: BCD scores, Boxing's clock in seconds left)
alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cfsal.envs import ale_boxing_ram as boxing_ram
from cfsal.envs import ale_breakout_ram as breakout_ram
from cfsal.envs import ale_freeway_ram as freeway_ram
from cfsal.envs import ale_pong_ram as pong_ram
from cfsal.envs import ale_space_invaders_ram as invaders_ram
from cfsal.envs.bcd import from_bcd
from cfsal.errors import CfsalError

Reader = Callable[[Mapping[str, Any]], float]


def _key(name: str) -> Reader:
    return lambda state: float(state[name])


def _ram(address: int) -> Reader:
    return lambda state: float(state["ram"][address])


def _bcd(address: int) -> Reader:
    return lambda state: float(from_bcd(state["ram"][address]))


def _decoded(read: Callable[[Any], int]) -> Reader:
    """A number the game keeps in several RAM bytes, decoded by its RAM module (``read(ram)``)."""
    return lambda state: float(read(state["ram"]))


#: Per game, the objects that show a number and how to read it from the state.
READERS: dict[str, dict[str, Reader]] = {
    "breakout": {"score": _key("score"), "lives": _key("lives")},
    "amidar": {"score": _key("score"), "lives": _key("lives")},
    "pong": {"score": _key("p1_score"), "opponent_score": _key("p2_score")},
    "space_invaders": {"score": _key("score"), "lives": _key("lives")},
    "ale_pong": {"score": _ram(pong_ram.PLAYER_SCORE), "opponent_score": _ram(pong_ram.ENEMY_SCORE)},
    "ale_breakout": {"score": _decoded(breakout_ram.score), "lives": _ram(breakout_ram.LIVES)},
    "ale_freeway": {"score": _bcd(freeway_ram.SCORE), "opponent_score": _bcd(freeway_ram.OTHER_SCORE)},
    "ale_boxing": {"score": _bcd(boxing_ram.PLAYER_SCORE), "enemy_score": _bcd(boxing_ram.ENEMY_SCORE),
                   "clock": _decoded(boxing_ram.seconds_left)},
    "ale_space_invaders": {"score": _decoded(invaders_ram.score)},
}


def shows_value(game: str, name: str) -> bool:
    """Whether object ``name`` of ``game`` displays a number cfsal can read from the state."""
    return name in READERS.get(game, {})


def displayed_value(game: str, name: str, state: Mapping[str, Any]) -> float:
    """The number object ``name`` shows in ``state`` (e.g. the score)."""
    if not shows_value(game, name):
        shown = ", ".join(READERS.get(game, {})) or "none"
        raise CfsalError(f"{game!r} object {name!r} shows no number cfsal reads; those that do: {shown}.")
    return READERS[game][name](state)
