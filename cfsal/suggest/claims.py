"""From audit findings to claims, and each claim's sample size from a pilot.

Which claims (Atrey et al. 2020: a saliency observation becomes a falsifiable claim about the
agent, tested by intervening on the object the map highlights):

* an object the audit finds **salient** (enrichment CI above 1 under some method) gets an
  *effect* claim: changing it (the default target of :mod:`cfsal.interventions.targets`) changes
  the agent's policy by more than a margin;
* a **correlation** the audit found between an object's saliency and one of its state variables
  (distance to the player, speed, value) gets a *correlation-under-intervention* claim: changing
  that variable by several doses moves the saliency on the object the same way (the paper's
  Amidar enemy-distance design);
* an object with **low** saliency (enrichment CI below 1 under every method) gets a *no_effect*
  control: changing it changes the policy by less than the margin.

An object no intervention changes (no row in the target table) gets no claim; the audit's summary
names it. Where the game draws an edit a frame late, both arms play the target's ``settle`` steps
before the measure.

Sample sizes (documented in docs/suggest.md). For each effect and no-effect claim a pilot of a few
paired samples (its own seed, not the file's) estimates the spread σ of the measure; σ is replaced
by its upper 80% confidence limit σ·√((m−1)/χ²_{0.2, m−1}) (Browne 1995), because a pilot of m
pairs underestimates σ half the time. With k claims tested together at family level 0.05 each is
sized at α = 0.05/k (the first step of Holm's correction, which the plugin applies):

* effect, margin m, smallest effect of interest δ (a mean total variation of 0.15, three times the margin):
  n = ((z_{1−α/2} + z_{0.8}) · σ / (δ − m))²  (the minimum-effect test against |μ| ≤ m);
* no effect, margin m, true effect 0: n = ((z_{1−α} + z_{0.9}) · σ / m)² (TOST), and at least the
  number of exact zeros the bounded-mean betting test needs (:mod:`cfsal.stats.power`);
* correlation, smallest correlation of interest ρ = 0.3, one-sided:
  n = ((z_{1−α} + z_{0.8}) / atanh ρ)² + 3 (Fisher z; no pilot needed).

Each n is kept within [MIN_SAMPLES, MAX_SAMPLES].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from cfsal import measures
from cfsal._seeding import child
from cfsal.errors import CfsalError
from cfsal.interventions.targets import Target, targets_for
from cfsal.rollout import counterfactual
from cfsal.stats import power
from cfsal.suggest.audit import Audit
from cfsal.suggest.catalog import PLAYER, audit_objects

ALPHA = 0.05
POWER = 0.8
#: Total variation of the policy right after the intervention: the behaviour measure of every
#: effect and no-effect claim (0–1; it sees the decision the changed frame informs).
MEASURE = "policy_total_variation"
MEASURE_BOUNDS = (0.0, 1.0)
EFFECT_MARGIN = 0.05
EFFECT_OF_INTEREST = 0.15
NO_EFFECT_MARGIN = 0.05
CORRELATION_OF_INTEREST = 0.3
PILOT_SAMPLES = 8
PILOT_SD_LEVEL = 0.8
MIN_SAMPLES, MAX_SAMPLES = 20, 400
HORIZON = 1
#: Agent steps both arms play before a speed claim is measured. A velocity edit leaves the current
#: frame as it is (the ball is where it was), so saliency right after it is identical in both arms
#: and a Δspeed-vs-Δsaliency correlation is undefined; one step (4 frames) later the newest frame
#: shows the new motion. A fast ball may leave the screen meanwhile: its saliency then counts as 0
#: (``saliency_mass_change(..., absent="zero")``) rather than failing the claim (4 steps did).
SPEED_SETTLE = 1
#: Correlation variables an intervention can set, and the target variable that changes them.
CHANGES_FOR = {"distance": "position", "speed": "speed", "value": "value"}
#: State readers for a speed under intervention (the audit's speed is box motion between frames,
#: which a single edited state does not have): only where the state holds a velocity.
SPEED_FROM_STATE = {("breakout", "ball")}

Progress = Callable[[str, int, int], None]


def display(name: str) -> str:
    """An object's name as prose: ``brick`` → ``bricks``, ``enemy_0`` → ``enemy 0``."""
    plural = {"brick": "bricks", "painted_box": "painted boxes", "alien": "aliens", "shield": "shields",
              "laser": "lasers"}
    return plural.get(name, name.replace("_", " "))


@dataclass(frozen=True)
class ClaimPlan:
    """One claim to write: what, about which object, tested how, with how many samples and why."""

    object: str
    kind: str
    test_name: str
    claim: str
    target: Target
    methods: tuple[str, ...]
    variable: str | None = None
    method: str | None = None
    alternative: str = "two-sided"
    margin: float | None = None
    samples: int | None = None
    sizing: Mapping[str, Any] = field(default_factory=dict)
    settle: int | None = None  # agent steps both arms play before measuring (None: measure right after the edit)

    @property
    def uses_doses(self) -> bool:
        return self.kind == "correlation"

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "kind": self.kind, "test": self.test_name, "claim": self.claim,
                "target": self.target.to_dict(), "methods": list(self.methods), "variable": self.variable,
                "method": self.method, "alternative": self.alternative, "margin": self.margin,
                "samples": self.samples, "sizing": dict(self.sizing), "measure": self.measure_name,
                "settle": self.settle}

    @property
    def measure_name(self) -> str:
        if self.kind == "correlation":
            return f"({self.variable}_change, saliency_mass_change[{self.object},{self.method}])"
        return MEASURE


def _policy_plan(game: str, name: str, methods: tuple[str, ...], kind: str) -> ClaimPlan | None:
    """An ``effect`` claim (the agent uses the object) or a ``no_effect`` control (it ignores it),
    both on the policy's total variation under the object's first fitting intervention."""
    targets = targets_for(game, name)
    if not targets:
        return None
    target = targets[0]
    change = f"{target.action[0].upper()}{target.action[1:]} changes the agent's policy by"
    if kind == "effect":
        return ClaimPlan(name, "effect", f"test_the_agent_uses_the_{name}",
                         f"{change} more than {EFFECT_MARGIN} in total variation.", target, methods,
                         margin=EFFECT_MARGIN, settle=target.settle)
    return ClaimPlan(name, "no_effect", f"test_the_agent_ignores_the_{name}",
                     f"{change} less than {NO_EFFECT_MARGIN} in total variation (a control: saliency finds "
                     f"little on the {display(name)}).", target, methods, margin=NO_EFFECT_MARGIN,
                     settle=target.settle)


def _correlation_plan(game: str, name: str, method: str, variable: str, r: float) -> ClaimPlan | None:
    if variable == "speed" and (game, name) not in SPEED_FROM_STATE:
        return None
    candidates = [t for t in targets_for(game, name, changes=CHANGES_FOR[variable]) if len(t.doses) >= 3]
    if not candidates:
        return None
    target = candidates[0]
    sign = "r > 0" if r > 0 else "r < 0"
    thing = display(name)
    if variable == "distance":
        direction = "raises" if r < 0 else "lowers"
        claim = (f"Moving the {thing} closer to the {display(PLAYER[game])} {direction} the {method} saliency on it "
                 f"(Δdistance vs Δsaliency, {sign}).")
    elif variable == "speed":
        direction = "raises" if r > 0 else "lowers"
        claim = f"Speeding the {thing} up {direction} the {method} saliency on it (Δspeed vs Δsaliency, {sign})."
    else:
        direction = "raises" if r > 0 else "lowers"
        claim = (f"Raising the number the {thing} shows {direction} the {method} saliency on it "
                 f"(Δvalue vs Δsaliency, {sign}).")
    suffix = "" if method == "perturbation" else f"_{method}"
    return ClaimPlan(name, "correlation", f"test_{name}_saliency_follows_its_{variable}{suffix}", claim, target,
                     (method,), variable=variable, method=method, alternative="greater" if r > 0 else "less",
                     settle=_later(target.settle, SPEED_SETTLE if variable == "speed" else None))


def _later(*settles: int | None) -> int | None:
    """The longest of several settles (None: none asked for)."""
    given = [s for s in settles if s is not None]
    return max(given) if given else None


def plan_claims(audit: Audit, *, mode: str = "salient") -> list[ClaimPlan]:
    """The claims an audit suggests (``mode="salient"``: effects for salient objects, correlations
    where found, controls for low objects), or an effect claim for every object (``mode="all"``:
    test every story a map could tell, salient or not)."""
    if mode not in ("salient", "all"):
        raise CfsalError(f"claims mode {mode!r}: use 'salient' (what the audit suggests) or 'all' (an effect "
                         "claim for every object).")
    plans: list[ClaimPlan] = []
    for obj in audit_objects(audit.game):
        labels = {m: a.finding(obj.name).label for m, a in audit.methods.items()}
        salient = tuple(m for m, label in labels.items() if label == "salient")
        if mode == "all" or salient:
            plan = _policy_plan(audit.game, obj.name, salient or tuple(audit.methods), "effect")
        elif all(label == "low" for label in labels.values()):
            plan = _policy_plan(audit.game, obj.name, tuple(audit.methods), "no_effect")
        else:
            plan = None
        if plan is not None:
            plans.append(plan)
        if mode == "salient":
            for method, method_audit in audit.methods.items():
                for correlation in method_audit.finding(obj.name).correlations:
                    if correlation.found:
                        corr = _correlation_plan(audit.game, obj.name, method, correlation.variable, correlation.r)
                        if corr is not None:
                            plans.append(corr)
    return plans


# -- sample sizes ---------------------------------------------------------------------------
def sd_upper_limit(values: np.ndarray, level: float = PILOT_SD_LEVEL) -> float:
    """Upper ``level`` confidence limit of σ from a pilot: s·√((m−1)/χ²_{1−level, m−1})."""
    values = np.asarray(values, dtype=float)
    m = len(values)
    if m < 2:
        return float("nan")
    return float(np.std(values, ddof=1) * math.sqrt((m - 1) / stats.chi2.ppf(1 - level, m - 1)))


def _clamp(n: int | None) -> int:
    return MAX_SAMPLES if n is None else int(min(max(n, MIN_SAMPLES), MAX_SAMPLES))


def effect_samples(sd: float, alpha: float) -> int:
    """n for 80% power of the two-sided minimum-effect test (margin m) at mean δ (see module doc)."""
    return _clamp(power.samples_for_mean(EFFECT_OF_INTEREST - EFFECT_MARGIN, sd, alpha, sided=2, current=1))


def no_effect_samples(sd: float, alpha: float) -> int:
    """n for 80% power of TOST at true effect 0, and at least what the bounded betting test needs."""
    normal = power.samples_for_equivalence(0.0, sd, NO_EFFECT_MARGIN, alpha, current=1)
    bounded = power.samples_for_bounded_equivalence(0.0, NO_EFFECT_MARGIN, MEASURE_BOUNDS, alpha, current=1)
    return _clamp(max(normal or 0, bounded or 0))


def correlation_samples(alpha: float) -> int:
    """n for 80% power of the one-sided test of r at ρ = CORRELATION_OF_INTEREST (Fisher z)."""
    return _clamp(power.samples_for_correlation(CORRELATION_OF_INTEREST, alpha, sided=1, current=1))


def size_claims(agent: Any, plans: Sequence[ClaimPlan], *, seed: int, pilot: int = PILOT_SAMPLES,
                progress: Progress | None = None) -> list[ClaimPlan]:
    """Give every plan its sample size: a pilot of ``pilot`` pairs for effects and controls
    (seeded from ``seed``, apart from any seed the files will use), the Fisher-z formula for
    correlations."""
    k = max(1, len(plans))
    alpha = ALPHA / k
    sized = []
    for i, plan in enumerate(plans):
        base = {"alpha": alpha, "family_alpha": ALPHA, "claims": k, "power": POWER}
        if plan.kind == "correlation":
            n = correlation_samples(alpha)
            sizing = {**base, "rule": "fisher_z", "correlation_of_interest": CORRELATION_OF_INTEREST}
        else:
            pilot_seed = int(child(seed, 2, i).generate_state(1)[0])
            result = counterfactual(agent, plan.target.build(), samples=pilot, horizon=HORIZON, settle=plan.settle,
                                    measure=measures.policy_total_variation, seed=pilot_seed)
            values = np.asarray(result.values, dtype=float)
            sd = sd_upper_limit(values)
            pilot_info = {"pilot_n": len(values), "pilot_seed": pilot_seed, "pilot_mean": float(values.mean()),
                          "pilot_sd": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
                          "pilot_sd_upper": sd}
            if plan.kind == "effect":
                n = effect_samples(sd, alpha)
                sizing = {**base, **pilot_info, "rule": "minimum_effect", "effect_of_interest": EFFECT_OF_INTEREST}
            else:
                n = no_effect_samples(sd, alpha)
                sizing = {**base, **pilot_info, "rule": "equivalence"}
        sized.append(replace(plan, samples=n, sizing=sizing))
        if progress is not None:
            progress("pilots", i + 1, len(plans))
    return sized
