"""Claims, verdicts and the rules that turn paired numbers into SUPPORTED / REFUTED / INCONCLUSIVE.

The rules are stated for users in ``docs/statistics.md``; this module implements them exactly.
In short, for a claim at level α:

* **effect** (the intervention changes the measure): SUPPORTED if the two-sided paired test
  (sign-flip permutation and bootstrap-t, larger p) gives p < α; REFUTED if a margin is declared
  and TOST shows the mean inside ±margin; else INCONCLUSIVE. Without a margin an effect claim
  cannot be REFUTED.
* **direction** (it moves the measure up / down): SUPPORTED if the one-sided test in the claimed
  direction gives p < α; REFUTED if the one-sided test in the opposite direction does, or if
  equivalence within the margin holds; else INCONCLUSIVE.
* **no_effect** (any change is within ±margin): SUPPORTED if TOST gives p < α (the 1 − 2α
  t-interval lies inside ±margin); REFUTED if that interval lies entirely outside ±margin (an
  effect significantly larger than the margin); else INCONCLUSIVE.
* **correlation**: like *direction* (or *effect*, when two-sided) on r, with a permutation test,
  a Fisher-z ∪ BCa bootstrap CI and a Fisher-scale equivalence test for refutation.

With ``clusters=`` (the episode of each sample), every test and interval treats episodes, not
samples, as the independent units (:mod:`cfsal.stats.clustered`), and fewer than
:data:`~cfsal.stats.clustered.MIN_CLUSTERS` episodes give INCONCLUSIVE.

SUPPORTED is always checked first. Multiple-testing correction (:func:`adjust`) applies to the
p-value of the claim, so it controls false SUPPORTED verdicts; refutations keep level α.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from cfsal.errors import HypothesisDeclarationError, StatisticsError
from cfsal.stats import power
from cfsal.stats._validation import check_resamples, finite_vector, paired_vectors
from cfsal.stats.bootstrap import bootstrap_ci, cluster_bootstrap_ci
from cfsal.stats.clustered import (
    MIN_CLUSTERS,
    Clusters,
    cluster_minimum_effect_test,
    cluster_paired_test,
    cluster_robust_se,
    cluster_t_interval,
    cluster_tost,
    group,
)
from cfsal.stats.correlation import (
    MIN_PAIRS,
    CorrelationMethod,
    correlation,
    correlation_equivalence,
    is_constant,
)
from cfsal.stats.multiple import Correction, adjust_p_values
from cfsal.stats.paired import (
    ALTERNATIVES,
    DEFAULT_RESAMPLES,
    Alternative,
    minimum_effect_test,
    paired_test,
    t_interval,
    tost,
)

SCHEMA_VERSION = 1

Kind = Literal["effect", "direction", "no_effect", "correlation"]
Outcome = Literal["SUPPORTED", "REFUTED", "INCONCLUSIVE"]
KINDS: tuple[str, ...] = ("effect", "direction", "no_effect", "correlation")
SUPPORTED, REFUTED, INCONCLUSIVE = "SUPPORTED", "REFUTED", "INCONCLUSIVE"

_OPPOSITE = {"greater": "less", "less": "greater"}


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


def _encode(value: float | None) -> float | str | None:
    """JSON-safe float: non-finite values as the strings 'nan', 'inf', '-inf' (strict JSON has none)."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode(value: float | str | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Verdict:
    """The outcome of testing one claim, with every number behind it."""

    outcome: Outcome
    claim: Claim
    effect: float                 # mean paired difference (intervened − factual), or r
    ci_low: float
    ci_high: float
    confidence: float             # 1 − α (effect, direction, correlation) or 1 − 2α (no_effect)
    p_value: float                # raw p of the test for the claim
    p_adjusted: float | None      # after multiple-testing correction (None before adjust())
    n: int
    test: str
    equivalence_p: float | None   # TOST p when a margin is declared
    explanation: str
    samples_needed: int | None    # INCONCLUSIVE only: rough n for 80% power
    clusters: int | None = None   # episodes behind the samples when inference was clustered by episode

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "outcome": self.outcome,
            "claim": self.claim.to_dict(),
            "effect": _encode(self.effect),
            "ci_low": _encode(self.ci_low),
            "ci_high": _encode(self.ci_high),
            "confidence": self.confidence,
            "p_value": _encode(self.p_value),
            "p_adjusted": _encode(self.p_adjusted),
            "n": self.n,
            "test": self.test,
            "equivalence_p": _encode(self.equivalence_p),
            "explanation": self.explanation,
            "samples_needed": self.samples_needed,
            "clusters": self.clusters,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StatisticsError(
                f"verdict schema_version={version!r}, but this cfsal reads version {SCHEMA_VERSION}. "
                "Re-run the hypotheses with this cfsal, or read the file with the cfsal that wrote it."
            )
        return cls(
            outcome=data["outcome"], claim=Claim.from_dict(data["claim"]), effect=_decode(data["effect"]),
            ci_low=_decode(data["ci_low"]), ci_high=_decode(data["ci_high"]),
            confidence=float(data["confidence"]),
            p_value=_decode(data["p_value"]), p_adjusted=_decode(data.get("p_adjusted")), n=int(data["n"]),
            test=data["test"], equivalence_p=_decode(data.get("equivalence_p")),
            explanation=data["explanation"],
            samples_needed=data.get("samples_needed"),
            clusters=data.get("clusters"),  # absent in files written before clustered inference
        )


# ----------------------------------------------------------------------------------------- explanations

def _num(x: float) -> str:
    return f"{x:.3g}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}".rstrip("0").rstrip(".") if p < 1 else "1"


def _p_text(v: Verdict, correction: str | None, one_sided: bool = False) -> str:
    side = "one-sided " if one_sided else ""
    if v.p_adjusted is None or correction is None:
        return f"{side}p = {_p(v.p_value)}"
    if correction == "none":
        return f"{side}p = {_p(v.p_value)} (no multiple-testing correction)"
    name = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[correction]
    return f"{name}-adjusted {side}p = {_p(v.p_adjusted)} (raw {_p(v.p_value)})"


def _ci(v: Verdict) -> str:
    return f"{v.confidence:.0%} CI [{_num(v.ci_low)}, {_num(v.ci_high)}]"


def _more_samples(v: Verdict, what: str) -> str:
    if v.samples_needed is not None and v.clusters:
        per = v.n / v.clusters
        episodes = math.ceil(v.samples_needed / per)
        return (f"; about {v.samples_needed} samples from about {episodes} episodes ({per:.3g} per episode) would "
                f"give 80% power if the observed {what} were the true one.")
    if v.samples_needed is not None:
        return (f"; about {v.samples_needed} samples would give 80% power if the observed {what} "
                "were the true one.")
    c = v.claim
    if c.kind == "no_effect":
        return (f"; the observed {what} already lies outside ±{c.margin:g}, so more samples would "
                "more likely refute the claim than support it.")
    if v.effect == 0:
        return f"; the observed {what} is exactly zero, so no number of samples would show it."
    if (c.alternative == "greater" and v.effect < 0) or (c.alternative == "less" and v.effect > 0):
        return (f"; the observed {what} points the other way, so more samples are unlikely to "
                "support the claim.")
    return "."


def _explain(v: Verdict, reason: str, correction: str | None = None, opposite_p: float | None = None,
             method: str = "Pearson") -> str:
    """One sentence a researcher reads: why this outcome (and, when clustered, how many episodes stood behind it)."""
    text = _explain_outcome(v, reason, correction, opposite_p, method)
    if v.clusters is None or reason == "few_clusters":
        return text
    return (f"{text} Episodes counted as the independent units: {v.n} samples from {v.clusters} episodes "
            f"({v.n / v.clusters:.3g} per episode).")


def _explain_outcome(v: Verdict, reason: str, correction: str | None, opposite_p: float | None,
                     method: str) -> str:
    c, a = v.claim, f"α = {v.claim.alpha:g}"
    one = c.alternative != "two-sided"
    if reason == "too_few":
        need = MIN_PAIRS if c.kind == "correlation" else 2
        return (f"Only {v.n} sample{'s' if v.n != 1 else ''}: a test needs at least {need}, so nothing "
                "can be concluded yet; collect more samples.")
    if reason == "few_clusters":
        return (f"The {v.n} samples come from only {v.clusters} episode{'s' if v.clusters != 1 else ''}: samples of "
                f"one episode share its game phase and are not independent, and fewer than {MIN_CLUSTERS} "
                f"episodes cannot carry a verdict (the mean difference {_num(v.effect)} has a {_ci(v)} with "
                f"episodes as the units). Sample more episodes: counterfactual(..., max_per_episode=5) takes at "
                "most 5 branch points from each.")
    if reason == "constant":
        return (f"One of the two measures is constant over all {v.n} samples, so their correlation is "
                "undefined: a measure that never varies cannot track the other one.")
    if c.kind == "correlation":
        sign = {"greater": "positive", "less": "negative", "two-sided": "non-zero"}[c.alternative]
        r = f"{method} r = {_num(v.effect)} ({_ci(v)})"
        if reason == "significant":
            return f"The correlation is {sign}: {r}, permutation {_p_text(v, correction, one)} < {a}."
        if reason == "opposite":
            return (f"The correlation has the opposite sign: {r}; one-sided p = {_p(opposite_p)} < {a} for a "
                    f"{'negative' if c.alternative == 'greater' else 'positive'} correlation.")
        if reason == "equivalent":
            return (f"No correlation worth the name: {r}, |ρ| < {c.margin:g} by an equivalence test on Fisher's scale "
                    f"(p = {_p(v.equivalence_p)} < {a}), while the test of the claim gave "
                    f"{_p_text(v, correction, one)} ≥ {a}.")
        refute = (f" and |ρ| < {c.margin:g} is not shown (equivalence p = {_p(v.equivalence_p)})" if c.margin
                  else ", and with no margin declared only an opposite-sign correlation could refute it"
                  if one else ", and with no margin declared this claim cannot be refuted")
        return f"Not enough evidence either way: {r}, {_p_text(v, correction, one)} ≥ {a}{refute}" + \
            _more_samples(v, "correlation")
    if c.kind == "no_effect":
        if reason == "significant":
            return (f"No effect beyond ±{c.margin:g}: the mean difference {_num(v.effect)} has a {_ci(v)} "
                    f"inside the margin (TOST {_p_text(v, correction)} < {a}).")
        if reason == "outside_margin":
            return (f"A real effect beyond the margin: the mean difference {_num(v.effect)} has a {_ci(v)} "
                    f"entirely outside ±{c.margin:g}, so it is significantly larger than the margin "
                    f"({a}, one-sided).")
        if -c.margin < v.ci_low and v.ci_high < c.margin:  # only the bounded-mean test held back
            return (f"Not shown yet: the {_ci(v)} of the mean difference {_num(v.effect)} lies inside "
                    f"±{c.margin:g}, but the bounded-mean test, valid for any distribution within the "
                    "measure's bounds, does not yet exclude a mean at the margin "
                    f"({_p_text(v, correction)} ≥ {a})"
                    + _more_samples(v, "difference"))
        return (f"Neither shown: the {_ci(v)} of the mean difference {_num(v.effect)} overlaps the margin "
                f"±{c.margin:g} (TOST {_p_text(v, correction)} ≥ {a})" + _more_samples(v, "difference"))
    moves = {"greater": "raises", "less": "lowers", "two-sided": "changes"}[c.alternative]
    diff = f"mean difference {_num(v.effect)} ({_ci(v)})"
    if reason == "significant":
        beyond = f" by more than ±{c.margin:g} (minimum-effect test)" if c.margin is not None else ""
        return f"The intervention {moves} the measure{beyond}: {diff}, {_p_text(v, correction, one)} < {a}."
    if reason == "opposite":
        return (f"The measure moves the other way: {diff}; one-sided p = {_p(opposite_p)} < {a} for "
                f"{'a decrease' if c.alternative == 'greater' else 'an increase'}.")
    if reason == "equivalent":
        return (f"No effect worth the name: the {diff} is within ±{c.margin:g} by TOST "
                f"(p = {_p(v.equivalence_p)} < {a}), while the test for an effect gave "
                f"{_p_text(v, correction, one)} ≥ {a}.")
    if c.margin is not None and abs(v.effect) < c.margin:
        inside = (f"the whole interval lies within ±{c.margin:g}, " if -c.margin < v.ci_low and v.ci_high < c.margin
                  else "")
        more = (f"; about {v.samples_needed} samples would refute it (equivalence within ±{c.margin:g}) with 80% "
                "power if the observed difference were the true one." if v.samples_needed is not None else ".")
        return (f"Smaller than the claim needs, not yet refuted: the {diff} is below the margin ±{c.margin:g} "
                f"({inside}{_p_text(v, correction, one)} ≥ {a} for an effect beyond it), but equivalence is not "
                f"shown yet (TOST p = {_p(v.equivalence_p)} ≥ {a}){more}")
    if c.margin is not None:
        refute = f", and equivalence within ±{c.margin:g} is not shown (TOST p = {_p(v.equivalence_p)})"
    elif c.kind == "direction":
        refute = ", no significant change the other way, and no margin was declared for an equivalence test"
    else:
        refute = ", and with no margin declared an effect claim cannot be refuted"
    return f"Not enough evidence either way: {diff}, {_p_text(v, correction, one)} ≥ {a}{refute}" + \
        _more_samples(v, "difference")


# ----------------------------------------------------------------------------------------------- assess

def _undecided(claim: Claim, n: int, effect: float, test: str, reason: str, confidence: float) -> Verdict:
    v = Verdict(INCONCLUSIVE, claim, effect, -math.inf, math.inf, confidence, 1.0, None, n, test, None, "",
                None)
    return dataclasses.replace(v, explanation=_explain(v, reason))


def _check_claim(claim: Any, function: str) -> Claim:
    if not isinstance(claim, Claim):
        raise HypothesisDeclarationError(
            f"{function}: expected a cfsal.stats.Claim as the first argument, got {type(claim).__name__}; "
            "e.g. Claim(kind='effect')."
        )
    return claim


def _check_bounds(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError) as error:
        raise StatisticsError(
            f"bounds={bounds!r}: give (low, high), the range the measure can take.") from error
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise StatisticsError(
            f"bounds={bounds!r}: need finite low < high, e.g. (0, 1) for action disagreement or (-1, 1) "
            "for a difference of two rates; leave bounds=None for an unbounded measure."
        )
    return low, high


def _equivalence_label(margin: float, bounds: tuple[float, float] | None,
                       groups: tuple[np.ndarray, Clusters] | None = None) -> str:
    if groups is not None:
        t = f"cluster-robust t (CR1, {groups[1].count} episodes, {groups[1].count - 1} df)"
        if bounds is None:
            return f"TOST, {t} (margin ±{margin:g})"
        return (f"TOST, {t} and bounded-mean betting test on the episode means in [{bounds[0]:g}, {bounds[1]:g}] "
                f"(margin ±{margin:g})")
    if bounds is None:
        return f"TOST, paired t (margin ±{margin:g})"
    low, high = bounds
    return f"TOST, paired t and bounded-mean betting test on [{low:g}, {high:g}] (margin ±{margin:g})"


def _equivalence(d: np.ndarray, margin: float, bounds: tuple[float, float] | None, alpha: float,
                 groups: tuple[np.ndarray, Clusters] | None):
    return tost(d, margin, bounds=bounds, alpha=alpha) if groups is None else \
        cluster_tost(d, groups[0], margin, bounds=bounds, alpha=alpha)


def _spread(d: np.ndarray, groups: tuple[np.ndarray, Clusters] | None) -> tuple[float, int]:
    """(sd of one independent unit, number of units): samples, or episodes when clustered.

    For episodes the unit sd is CR1 SE × √G, so that sd/√G is the clustered SE and the power
    formulas return a number of episodes (converted to samples at the current samples per episode).
    """
    if groups is None:
        return float(np.std(d, ddof=1)), int(d.size)
    return cluster_robust_se(d, groups[0]) * math.sqrt(groups[1].count), groups[1].count


def _as_samples(units: int | None, d: np.ndarray, groups: tuple[np.ndarray, Clusters] | None) -> int | None:
    if units is None or groups is None:
        return units
    return max(math.ceil(units * d.size / groups[1].count), int(d.size) + 1)


def _samples_to_decide(claim: Claim, d: np.ndarray, effect: float, bounds: tuple[float, float] | None,
                       groups: tuple[np.ndarray, Clusters] | None) -> int | None:
    """An undecided effect or direction claim: samples for 80% power towards the side the data point to.

    Beyond the margin (or with none declared), towards SUPPORTED; inside a declared margin, towards
    REFUTED by equivalence (an effect smaller than the claim needs is shown with more samples, exact
    zeros included). None when the data point the other way and no margin was declared.
    """
    sd, units = _spread(d, groups)
    pointing = effect if claim.alternative != "less" else -effect
    if claim.margin is not None and abs(effect) < claim.margin:
        needed = power.samples_for_equivalence(effect, sd, claim.margin, claim.alpha, current=units)
        if needed is not None and bounds is not None:
            needed = max(needed, power.samples_for_bounded_equivalence(effect, claim.margin, bounds, claim.alpha,
                                                                       current=units) or needed)
        return _as_samples(needed, d, groups)
    if claim.alternative != "two-sided" and pointing <= 0:
        return None
    beyond = abs(effect) - claim.margin if claim.margin is not None else effect
    return _as_samples(power.samples_for_mean(beyond, sd, claim.alpha, sided=claim.sided, current=units), d, groups)


def _assess_no_effect(claim: Claim, d: np.ndarray, bounds: tuple[float, float] | None,
                      groups: tuple[np.ndarray, Clusters] | None = None) -> Verdict:
    margin, alpha = float(claim.margin), claim.alpha
    effect = float(np.mean(d))
    equivalence = _equivalence(d, margin, bounds, alpha, groups)
    confidence = 1 - 2 * alpha
    low, high = t_interval(d, confidence) if groups is None else cluster_t_interval(d, groups[0], confidence)
    if equivalence.p_value < alpha:
        outcome, reason = SUPPORTED, "significant"
    elif low > margin or high < -margin:
        outcome, reason = REFUTED, "outside_margin"
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    needed = None
    if outcome == INCONCLUSIVE:
        sd, units = _spread(d, groups)
        needed = power.samples_for_equivalence(effect, sd, margin, alpha, current=units)
        if needed is not None and bounds is not None:
            needed = max(needed, power.samples_for_bounded_equivalence(effect, margin, bounds, alpha,
                                                                       current=units) or needed)
        needed = _as_samples(needed, d, groups)
    v = Verdict(outcome, claim, effect, low, high, confidence, equivalence.p_value, None, int(d.size),
                _equivalence_label(margin, bounds, groups), equivalence.p_value, "", needed,
                None if groups is None else groups[1].count)
    return dataclasses.replace(v, explanation=_explain(v, reason))


def _few_clusters(claim: Claim, d: np.ndarray, labels: np.ndarray, groups: Clusters) -> Verdict:
    """INCONCLUSIVE for want of episodes, with the effect and its (wide) episode-level t-interval."""
    confidence = 1 - 2 * claim.alpha if claim.kind == "no_effect" else 1 - claim.alpha
    low, high = cluster_t_interval(d, labels, confidence)
    v = Verdict(INCONCLUSIVE, claim, float(np.mean(d)), low, high, confidence, 1.0, None, int(d.size),
                f"none (samples from {groups.count} episodes, fewer than {MIN_CLUSTERS})", None, "", None,
                groups.count)
    return dataclasses.replace(v, explanation=_explain(v, "few_clusters"))


def assess(claim: Claim, differences: ArrayLike, *, rng: np.random.Generator,
           n_resamples: int = DEFAULT_RESAMPLES, bounds: tuple[float, float] | None = None,
           clusters: ArrayLike | None = None) -> Verdict:
    """Verdict on an effect, direction or no-effect claim from paired differences (intervened − factual).

    ``rng`` drives the permutation test and the bootstrap, so the same seed gives the same verdict.
    ``bounds`` is the range the measure can take (e.g. (0, 1) for action disagreement); when given,
    equivalence (no_effect claims, and refuting others by a margin) must also pass a test that is
    valid for every distribution on those bounds — declare them for rare-event and 0/1 measures,
    where the t-based TOST alone is badly over-confident (docs/statistics.md, Calibration).
    Fewer than 2 differences give INCONCLUSIVE; NaN or infinite ones raise :class:`StatisticsError`.

    ``clusters`` labels each difference with its episode (``result.episodes``), or with its game
    (``result.games``: episodes that meet in a situation merged, for agents that replay). Samples branched
    from one episode share its game phase and are correlated, so then every test and interval
    treats *episodes* as the independent units (:mod:`cfsal.stats.clustered`): the sign flip of
    episode sums and an episode bootstrap-t for effect and direction claims, whose CI is the union of
    the episode-bootstrap BCa interval and the CR1 t-interval (the bootstrap alone covered 85% instead
    of 95% with 5–6 episodes; docs/statistics.md), and a cluster-robust (CR1, G − 1 df) TOST and interval for no-effect claims (Cameron, Gelbach &
    Miller 2008; Canay, Romano & Shaikh 2017). Fewer than ``MIN_CLUSTERS`` (5) episodes give
    INCONCLUSIVE. The verdict records the number of episodes in ``clusters``.
    """
    claim = _check_claim(claim, "assess")
    if claim.kind == "correlation":
        raise HypothesisDeclarationError(
            "assess: a 'correlation' claim relates two measures; call assess_correlation(claim, x, y, rng=…) "
            "with one value of each per sample."
        )
    d = finite_vector(differences, "differences")
    n_resamples = check_resamples(n_resamples)
    bounds = _check_bounds(bounds)
    if d.size < 2:
        effect = float(d[0]) if d.size else math.nan
        confidence = 1 - 2 * claim.alpha if claim.kind == "no_effect" else 1 - claim.alpha
        return _undecided(claim, int(d.size), effect, "none (too few samples)", "too_few", confidence)
    groups = None
    if clusters is not None:
        labels = np.asarray(clusters)
        summary = group(d, labels)
        if summary.count < MIN_CLUSTERS:
            return _few_clusters(claim, d, labels, summary)
        groups = (labels, summary)
    if claim.kind == "no_effect":
        return _assess_no_effect(claim, d, bounds, groups)

    alpha, effect = claim.alpha, float(np.mean(d))
    if groups is None:
        def paired(values: np.ndarray, alternative: str) -> Any:
            return paired_test(values, rng=rng, alternative=alternative, n_resamples=n_resamples)
    else:
        def paired(values: np.ndarray, alternative: str) -> Any:
            return cluster_paired_test(values, groups[0], rng=rng, alternative=alternative, n_resamples=n_resamples)
    if claim.margin is None:
        test = paired(d, claim.alternative)
    elif groups is None:  # a stated margin is the smallest effect of interest: SUPPORTED means beyond it
        test = minimum_effect_test(d, claim.margin, rng=rng, alternative=claim.alternative,
                                   n_resamples=n_resamples)
    else:
        test = cluster_minimum_effect_test(d, groups[0], claim.margin, rng=rng, alternative=claim.alternative,
                                           n_resamples=n_resamples)
    opposite = paired(d, _OPPOSITE[claim.alternative]) if claim.kind == "direction" else None
    if groups is None:
        low, high = bootstrap_ci(d, rng, confidence=1 - alpha, n_resamples=n_resamples)
    else:  # the episode bootstrap under-covers with few episodes: report its union with the CR1 t-interval
        boot = cluster_bootstrap_ci(d, groups[0], rng, confidence=1 - alpha, n_resamples=n_resamples)
        t = cluster_t_interval(d, groups[0], 1 - alpha)
        low, high = min(boot[0], t[0]), max(boot[1], t[1])
    equivalence = (_equivalence(d, claim.margin, bounds, alpha, groups) if claim.margin is not None else None)

    if test.p_value < alpha:
        outcome, reason = SUPPORTED, "significant"
    elif equivalence is not None and equivalence.p_value < alpha:
        outcome, reason = REFUTED, "equivalent"
    elif opposite is not None and opposite.p_value < alpha:
        outcome, reason = REFUTED, "opposite"
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    needed = None
    if outcome == INCONCLUSIVE:
        needed = _samples_to_decide(claim, d, effect, bounds, groups)
    label = test.describe()
    if groups is not None:
        label = f"{label}; CI: episode bootstrap (BCa) ∪ cluster-robust t"
    if claim.margin is not None:
        label = f"{label}; {_equivalence_label(claim.margin, bounds, groups)}"
    v = Verdict(outcome, claim, effect, low, high, 1 - alpha, test.p_value, None, int(d.size), label,
                None if equivalence is None else equivalence.p_value, "", needed,
                None if groups is None else groups[1].count)
    return dataclasses.replace(
        v, explanation=_explain(v, reason, opposite_p=None if opposite is None else opposite.p_value))


def assess_correlation(claim: Claim, x: ArrayLike, y: ArrayLike, *, rng: np.random.Generator,
                       method: CorrelationMethod = "pearson",
                       n_resamples: int = DEFAULT_RESAMPLES) -> Verdict:
    """Verdict on a correlation claim between two measures over the same samples (e.g. saliency vs. reliance).

    ``effect`` is r (Pearson) or ρ (Spearman), with a Fisher-z ∪ BCa bootstrap CI at 1 − α (see
    :mod:`cfsal.stats.correlation`) and a permutation p-value.
    Fewer than 4 pairs, or a constant measure, give INCONCLUSIVE.
    """
    claim = _check_claim(claim, "assess_correlation")
    if claim.kind != "correlation":
        raise HypothesisDeclarationError(
            f"assess_correlation: got a {claim.kind!r} claim; use Claim(kind='correlation', alternative=…) "
            "here, or assess(claim, differences, rng=…) for paired differences."
        )
    a, b = paired_vectors(x, y)
    n_resamples = check_resamples(n_resamples)
    if method not in ("pearson", "spearman"):
        raise StatisticsError(f"assess_correlation: method={method!r} is not 'pearson' or 'spearman'.")
    name = method.capitalize()
    test_name = f"{name} correlation, permutation"
    if a.size < MIN_PAIRS:
        return _undecided(claim, int(a.size), math.nan, test_name, "too_few", 1 - claim.alpha)
    if is_constant(a) or is_constant(b):
        return _undecided(claim, int(a.size), math.nan, test_name, "constant", 1 - claim.alpha)

    alpha = claim.alpha
    result = correlation(a, b, rng=rng, method=method, alternative=claim.alternative, confidence=1 - alpha,
                         n_resamples=n_resamples)
    opposite = (correlation(a, b, rng=rng, method=method, alternative=_OPPOSITE[claim.alternative],
                            confidence=1 - alpha, n_resamples=n_resamples)
                if claim.alternative != "two-sided" else None)
    equivalence_p = (correlation_equivalence(result.r, result.n, claim.margin, method,
                                             bootstrap_se=result.bootstrap_se)
                     if claim.margin is not None else None)
    if result.p_value < alpha:
        outcome, reason = SUPPORTED, "significant"
    elif equivalence_p is not None and equivalence_p < alpha:
        outcome, reason = REFUTED, "equivalent"
    elif opposite is not None and opposite.p_value < alpha:
        outcome, reason = REFUTED, "opposite"
    else:
        outcome, reason = INCONCLUSIVE, "neither"
    needed = None
    if outcome == INCONCLUSIVE:
        pointing = result.r if claim.alternative != "less" else -result.r
        if claim.alternative == "two-sided" or pointing > 0:
            needed = power.samples_for_correlation(result.r, alpha, sided=claim.sided, current=result.n,
                                                   spearman=method == "spearman")
    how = f"exact, {result.n_resamples} orderings" if result.exact else f"{result.n_resamples} resamples"
    test = f"{name} correlation, permutation ({how}), Fisher-z ∪ BCa bootstrap CI"
    v = Verdict(outcome, claim, result.r, result.ci_low, result.ci_high, 1 - alpha, result.p_value, None,
                result.n, test, equivalence_p, "", needed)
    return dataclasses.replace(v, explanation=_explain(
        v, reason, opposite_p=None if opposite is None else opposite.p_value, method=name))


# ----------------------------------------------------------------------------------------------- adjust

def _sd_from_ci(v: Verdict) -> float:
    """Rough spread of one independent unit (a sample, or an episode when clustered) from a two-sided CI of the mean."""
    z = stats.norm.ppf(0.5 + v.confidence / 2)
    return (v.ci_high - v.ci_low) / (2 * z) * math.sqrt(v.clusters or v.n)


def _unsupported(v: Verdict, correction: str) -> Verdict:
    """A verdict SUPPORTED at the raw level whose adjusted p no longer is: REFUTED or INCONCLUSIVE.

    Only equivalence can refute it now (a significant opposite direction, or an interval outside
    the margin, cannot coexist with a significant claim), so the stored fields suffice.
    """
    c = v.claim
    if c.kind != "no_effect" and v.equivalence_p is not None and v.equivalence_p < c.alpha:
        out = dataclasses.replace(v, outcome=REFUTED, samples_needed=None)
        explanation = _explain(out, "equivalent", correction, method=_method(v))
        return dataclasses.replace(out, explanation=explanation)
    level = c.alpha * v.p_value / v.p_adjusted if v.p_adjusted else c.alpha  # the per-test level applied
    level = min(max(level, 1e-12), 0.499)
    units = v.clusters or v.n  # clustered verdicts: power in episodes, converted back to samples below
    if c.kind == "correlation":
        needed = power.samples_for_correlation(v.effect, level, sided=c.sided, current=v.n,
                                               spearman=_method(v) == "Spearman")
    elif c.kind == "no_effect":
        needed = power.samples_for_equivalence(v.effect, _sd_from_ci(v), float(c.margin), level, current=units)
    else:
        needed = power.samples_for_mean(v.effect, _sd_from_ci(v), level, sided=c.sided, current=units)
    if v.clusters and needed is not None:
        needed = max(math.ceil(needed * v.n / v.clusters), v.n + 1)
    out = dataclasses.replace(v, outcome=INCONCLUSIVE, samples_needed=needed)
    return dataclasses.replace(out, explanation=_explain(out, "neither", correction, method=_method(v)))


def _method(v: Verdict) -> str:
    return "Spearman" if v.test.startswith("Spearman") else "Pearson"


def adjust(verdicts: Sequence[Verdict], method: Correction = "holm") -> list[Verdict]:
    """Correct for testing many hypotheses: set ``p_adjusted`` and re-decide at the adjusted level.

    The family is all ``verdicts`` (one session). Each claim's raw p-value is adjusted (Holm by
    default, or Benjamini–Hochberg, or 'none'), and a verdict is SUPPORTED only if its adjusted p
    is below its α. Refutations keep level α: correction guards against false support. Adjusting
    already adjusted verdicts starts again from the raw p-values, so it is idempotent.
    """
    verdicts = list(verdicts)
    for v in verdicts:
        if not isinstance(v, Verdict):
            raise StatisticsError(f"adjust: expected Verdict objects, got {type(v).__name__}.")
    adjusted = adjust_p_values([v.p_value for v in verdicts], method)
    label = f" After {'Holm' if method == 'holm' else 'Benjamini–Hochberg' if method == 'bh' else 'no'} " \
            f"correction over {len(verdicts)} hypotheses: adjusted p = "
    out: list[Verdict] = []
    for v, p_adj in zip(verdicts, adjusted):
        v = dataclasses.replace(v, p_adjusted=float(p_adj))
        raw_supported = v.p_value < v.claim.alpha
        if raw_supported and p_adj < v.claim.alpha:
            v = dataclasses.replace(v, outcome=SUPPORTED, samples_needed=None)
            v = dataclasses.replace(v, explanation=_explain(v, "significant", method, method=_method(v)))
        elif raw_supported:
            v = _unsupported(v, method)
        else:
            base = v.explanation.split(" After ", 1)[0]
            v = dataclasses.replace(v, explanation=f"{base}{label}{_p(p_adj)}.")
        out.append(v)
    return out
