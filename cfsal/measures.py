"""Behaviour measures on a factual/intervened pair: plain functions, ``(factual, intervened) -> float``.

Every measure returns a *paired difference*: a number that is exactly 0 when the intervention
changes nothing the measure looks at. That makes "no effect" the null hypothesis of every
paired test in cfsal.stats, whatever the measure. A user's own measure is any function of this
shape; :func:`difference_of` turns a per-trace quantity into one.
"""

from __future__ import annotations

import difflib
import inspect
import json
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from scipy.stats import spearmanr

from cfsal.errors import CfsalError, MeasureError
from cfsal.saliency import saliency

if TYPE_CHECKING:
    from cfsal.rollout.traces import Trace

Measure = Callable[["Trace", "Trace"], float]


def _common(factual: Trace, intervened: Trace) -> int:
    return min(factual.length, intervened.length)


def action_disagreement(factual: Trace, intervened: Trace) -> float:
    """Fraction of the common steps on which the two continuations took different actions."""
    n = _common(factual, intervened)
    if n == 0:
        return 0.0
    return float(np.mean(factual.actions[:n] != intervened.actions[:n]))


def first_action_changed(factual: Trace, intervened: Trace) -> float:
    """1 if the agent's most likely action right after the intervention differs, else 0."""
    return float(factual.logits[0].argmax() != intervened.logits[0].argmax())


def policy_total_variation(factual: Trace, intervened: Trace) -> float:
    """Total-variation distance between the policies right after the intervention (0 to 1)."""
    return float(0.5 * np.abs(factual.policies[0] - intervened.policies[0]).sum())


def policy_kl(factual: Trace, intervened: Trace) -> float:
    """KL(π_factual ‖ π_intervened) right after the intervention, in nats."""
    p, q = factual.policies[0].astype(float), intervened.policies[0].astype(float)
    return float(np.sum(p * (np.log(np.clip(p, 1e-12, None)) - np.log(np.clip(q, 1e-12, None)))))


def value_change(factual: Trace, intervened: Trace) -> float:
    """V(intervened) − V(factual) right after the intervention."""
    return float(intervened.values[0] - factual.values[0])


def return_difference(factual: Trace, intervened: Trace) -> float:
    """Points earned over the horizon, intervened minus factual.

    Caution (seed paper): Toybox's reward is the change of the displayed score, so an
    intervention that rewrites the score itself moves this measure; prefer other measures there.
    """
    return float(intervened.rewards.sum() - factual.rewards.sum())


def steps_diverged(factual: Trace, intervened: Trace) -> float:
    """Steps from the first differing action to the end of the common horizon (0 if none differ).

    The trajectory divergence step is ``horizon − steps_diverged``; this form is 0 under no effect.
    """
    n = _common(factual, intervened)
    differ = np.flatnonzero(factual.actions[:n] != intervened.actions[:n])
    return float(n - differ[0]) if differ.size else 0.0


def difference_of(quantity: Callable[["Trace"], float], name: str | None = None) -> Measure:
    """Turn a per-trace quantity into a paired measure: ``quantity(intervened) − quantity(factual)``."""

    def measure(factual: Trace, intervened: Trace) -> float:
        return float(quantity(intervened) - quantity(factual))

    measure.__name__ = name or f"difference_of_{getattr(quantity, '__name__', 'quantity')}"
    measure.__doc__ = f"Paired difference of {getattr(quantity, '__name__', 'a quantity')} (intervened − factual)."
    return measure


def steps_survived(trace: Trace) -> float:
    """Steps until the first life was lost (the whole trace if none was)."""
    lost = np.flatnonzero(np.diff(np.concatenate([[trace.lives[0]], trace.lives])) < 0) if trace.length else []
    return float(lost[0]) if len(lost) else float(trace.length)


time_to_life_loss = difference_of(steps_survived, "time_to_life_loss")

def _first_maps(factual: "Trace", intervened: "Trace", agent, method: str, params: dict):
    frames = np.stack([factual.first_observation, intervened.first_observation])
    states = [json.loads(factual.shown_state), json.loads(intervened.shown_state)]  # where the frames have the objects
    return saliency(agent, frames, method=method, states=states, **params)


def saliency_mass_change(region: str, *, method: str = "perturbation", output: str = "actor",
                         normalised: bool = True, absent: str = "error", **params) -> Measure:
    """Saliency mass on ``region`` right after the intervention, intervened minus factual.

    The paper's core measure: if saliency on an object is *explanatory*, moving or changing the
    object should move the saliency with it. ``region`` is anything ``SaliencyMap.mass_on``
    takes (an object name such as ``"ball"``, a glob such as ``"enemy_*"``, a kind). The measure
    needs the agent; the engine passes it. ``absent`` says what a frame without the region means:
    ``"error"`` (default: the intervention should keep it on screen) or ``"zero"`` (no pixels, no
    saliency: for edits that may take the object off screen, e.g. a faster ball after a few frames).
    """
    if absent not in ("error", "zero"):
        raise CfsalError(f"saliency_mass_change: absent={absent!r}; use 'error' (a missing region is a "
                         "mistake) or 'zero' (a missing region carries no saliency).")

    def measure(factual: "Trace", intervened: "Trace", *, agent) -> float:
        masses = _first_maps(factual, intervened, agent, method, params).mass_on(region, output=output,
                                                                                 normalised=normalised)
        if absent == "zero":
            masses = np.nan_to_num(masses, nan=0.0)
        if not np.all(np.isfinite(masses)):
            raise CfsalError(f"saliency_mass_change: {region!r} is absent from a branch's frame; pick an "
                             "intervention that keeps it on screen, or another region.")
        return float(masses[1] - masses[0])

    measure.__name__ = f"saliency_mass_change[{region},{method},{output}]"
    measure.needs_agent = True
    if normalised:
        measure.bounds = (-1.0, 1.0)
    return measure


def saliency_rank_change(*, method: str = "perturbation", output: str = "actor", **params) -> Measure:
    """1 − Spearman rank correlation between the factual and the intervened map (0: same ranking)."""
    def measure(factual: "Trace", intervened: "Trace", *, agent) -> float:
        maps = getattr(_first_maps(factual, intervened, agent, method, params), output)
        if np.array_equal(maps[0], maps[1]):
            return 0.0   # the same map ranks the same: exactly 0, not scipy's 1 − ρ ≈ 1e-16
        if np.ptp(maps[0]) == 0 and np.ptp(maps[1]) == 0:
            return 1.0
        rho = spearmanr(maps[0].ravel(), maps[1].ravel()).statistic
        return float(1.0 - (0.0 if np.isnan(rho) else rho))

    measure.__name__ = f"saliency_rank_change[{method},{output}]"
    measure.needs_agent = True
    measure.bounds = (0.0, 2.0)
    return measure


def saliency_on_changed_pixels(*, method: str = "perturbation", output: str = "actor", **params) -> Measure:
    """Share of the *factual* map's saliency on the pixels the intervention changed (newest frame).

    Not a difference but a covariate: "how salient was what we changed?". Paired with a behaviour
    measure in a correlation claim it asks the paper's counterfactual-importance question — is
    saliency on a concept predictive of how much changing that concept changes behaviour? —
    for any mix of interventions, without naming the concept.
    """

    def measure(factual: "Trace", intervened: "Trace", *, agent) -> float:
        changed = (factual.first_observation[-1] != intervened.first_observation[-1]).astype(np.float64)
        maps = saliency(agent, factual.first_observation, method=method, **params)
        return float(maps.mass_on(changed, output=output)[0])

    measure.__name__ = f"saliency_on_changed_pixels[{method},{output}]"
    measure.needs_agent = True
    return measure


def evaluate(measure: Measure, factual: "Trace", intervened: "Trace", agent) -> float:
    """Apply a measure to a pair, giving it the agent if it asks for one (``needs_agent``)."""
    if getattr(measure, "needs_agent", False):
        return float(measure(factual, intervened, agent=agent))
    return float(measure(factual, intervened))


def bounded(low: float, high: float):
    """Declare the range a measure's paired difference can take (``measure.bounds``).

    The plugin passes it to :func:`cfsal.stats.assess`: equivalence ("no effect") claims on a
    bounded measure such as a 0/1 disagreement are only calibrated with a test that knows the
    bounds (see docs/statistics.md).
    """

    def mark(measure: Measure) -> Measure:
        measure.bounds = (float(low), float(high))
        return measure

    return mark


for _measure in (action_disagreement, first_action_changed, policy_total_variation):
    bounded(0.0, 1.0)(_measure)

BUILTIN: dict[str, Measure] = {m.__name__: m for m in (
    action_disagreement, first_action_changed, policy_total_variation, policy_kl, value_change,
    return_difference, steps_diverged, time_to_life_loss)}


def check(measure: Any) -> Measure:
    """``measure`` itself if it can be called as a measure, else a :class:`MeasureError` that says what to pass.

    :func:`cfsal.rollout.counterfactual` calls this before any rollout: a wrong measure would
    otherwise fail only after every pair had been played. Names are not accepted in place of the
    function (one call shape; a name cannot carry ``bounds`` or a saliency measure's region).
    """
    if isinstance(measure, str):
        close = difflib.get_close_matches(measure, _nicknames(), n=1, cutoff=0.5)
        use = (f"the function itself: measure=measures.{_nicknames()[close[0]]}" if close else
               "a function: " + ", ".join(f"measures.{name}" for name in BUILTIN) + ", or one of your own")
        raise MeasureError(f"measure={measure!r} is a name; pass {use} (from cfsal import measures).")
    if not callable(measure):
        raise MeasureError(f"measure={measure!r} (of type {type(measure).__name__}) is not a function: a measure is called "
                           "as measure(factual, intervened) with the two arms' traces and returns a number, "
                           "e.g. measures.action_disagreement. For a correlation claim pass a tuple of two.")
    try:
        signature = inspect.signature(measure)
    except (TypeError, ValueError):  # a builtin or C function: nothing to check before calling it
        return measure
    needs_agent = getattr(measure, "needs_agent", False)
    try:
        signature.bind(None, None, agent=None) if needs_agent else signature.bind(None, None)
    except TypeError:
        call = "measure(factual, intervened, agent=agent)" if needs_agent else "measure(factual, intervened)"
        raise MeasureError(f"measure {getattr(measure, '__name__', measure)}{signature} cannot be called as {call}: "
                           "a measure takes the factual and the intervened arm's traces and returns a number "
                           "(difference_of(quantity) turns a function of one trace into a measure).") from None
    return measure


def _nicknames() -> dict[str, str]:
    """Each built-in measure under its name and its initials after the first word (``policy_tv``)."""
    names = {name: name for name in BUILTIN}
    for name in BUILTIN:
        first, *rest = name.split("_")
        names.setdefault("_".join([first, "".join(word[0] for word in rest)]), name)
    return names
