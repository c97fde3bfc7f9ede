"""The explanation of a verdict: why it has its outcome, in the words a researcher reads.

A pure function of the :class:`~cfsal.stats.verdict.Verdict` — its outcome and numbers, its
``reason`` and ``method``, how a sequential design stopped, and the multiple-testing correction it
was adjusted under — called whenever a verdict is printed or written (terminal, JSON, HTML report).
It decides nothing: the rules are in :mod:`cfsal.stats.fixed_n`, :mod:`cfsal.stats.sequential`,
:mod:`cfsal.stats.group_sequential` and :mod:`cfsal.stats.adjustment`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from cfsal.stats.claim import REFUTED, SUPPORTED
from cfsal.stats.clustered import MIN_CLUSTERS
from cfsal.stats.correlation import MIN_PAIRS

if TYPE_CHECKING:  # the verdict module renders through this one, so only type checkers import it here
    from cfsal.stats.verdict import GroupFutility, Verdict

CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


def number(x: float) -> str:
    """An effect, a bound or an r as the explanations write it: three significant digits."""
    return f"{x:.3g}"


def p_value(p: float) -> str:
    """A p-value as the explanations write it: three decimals, two significant digits below 0.001."""
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}".rstrip("0").rstrip(".") if p < 1 else "1"


def explain(v: Verdict) -> str:
    """Why ``v`` has its outcome.

    Multiple-testing correction re-decides only verdicts whose raw p is below α
    (:func:`cfsal.stats.adjust`): a fixed-n one is told at the adjusted level, a sequential one as
    its design decided and then what the correction made of it. Any other adjusted verdict is told
    as before, followed by its adjusted p.
    """
    if v.correction is not None and v.p_value < v.claim.alpha:
        return _fixed_n(v, v.correction.method) if v.sequential is None else _sequential_corrected(v)
    if v.sequential is None:
        text = _fixed_n(v, None)
    elif v.sequential.design == "anytime":
        text = _anytime(v)
    else:
        text = _group(v)
    if v.sequential is not None and v.clusters is not None:
        text = (f"{text} Episodes are the units: each of the {v.n} values is one episode's mean over its states "
                "(several states of one episode are not independent; their means are).")
    if v.correction is None:
        return text
    name = CORRECTION_NAMES.get(v.correction.method, "no")
    return (f"{text} After {name} correction over {v.correction.hypotheses} hypotheses: adjusted p = "
            f"{p_value(v.p_adjusted)}.")


def _sequential_corrected(v: Verdict) -> str:
    """A sequential verdict that supported its claim at the raw level, then re-decided by the correction."""
    as_decided = explain(dataclasses.replace(v, outcome=SUPPORTED, reason="significant", correction=None,
                                             p_adjusted=None))
    after = (f"After {CORRECTION_NAMES.get(v.correction.method, 'no')} correction over "
             f"{v.correction.hypotheses} hypotheses the adjusted p = {p_value(v.p_adjusted)}")
    if v.outcome == SUPPORTED:
        return f"{as_decided} {after} < α = {v.claim.alpha:g}: still supported."
    if v.outcome == REFUTED:
        return (f"{as_decided} {after} ≥ α = {v.claim.alpha:g}, and the equivalence test within "
                f"±{v.claim.margin:g} refutes the claim (p = {p_value(v.equivalence_p)}).")
    return (f"{as_decided} {after} ≥ α = {v.claim.alpha:g}: not shown once the session's other hypotheses are "
            "counted" + _more_samples(v, "correlation" if v.claim.kind == "correlation" else "difference"))


# ------------------------------------------------------------------------------------------- fixed n

def _p_text(v: Verdict, correction: str | None, one_sided: bool = False) -> str:
    side = "one-sided " if one_sided else ""
    if v.p_adjusted is None or correction is None:
        return f"{side}p = {p_value(v.p_value)}"
    if correction == "none":
        return f"{side}p = {p_value(v.p_value)} (no multiple-testing correction)"
    return f"{CORRECTION_NAMES[correction]}-adjusted {side}p = {p_value(v.p_adjusted)} (raw {p_value(v.p_value)})"


def _ci(v: Verdict) -> str:
    return f"{100 * v.confidence:.4g}% CI [{number(v.ci_low)}, {number(v.ci_high)}]"


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


def _fixed_n(v: Verdict, correction: str | None) -> str:
    """A fixed-n verdict (and, when clustered, how many episodes stood behind it)."""
    text = _fixed_n_outcome(v, correction)
    if v.clusters is None or v.reason == "few_clusters":
        return text
    return (f"{text} Episodes counted as the independent units: {v.n} samples from {v.clusters} episodes "
            f"({v.n / v.clusters:.3g} per episode).")


def _fixed_n_outcome(v: Verdict, correction: str | None) -> str:
    c, a, reason = v.claim, f"α = {v.claim.alpha:g}", v.reason
    one = c.alternative != "two-sided"
    if reason == "too_few":
        need = MIN_PAIRS if c.kind == "correlation" else 2
        return (f"Only {v.n} sample{'s' if v.n != 1 else ''}: a test needs at least {need}, so nothing "
                "can be concluded yet; collect more samples.")
    if reason == "few_clusters":
        return (f"The {v.n} samples come from only {v.clusters} episode{'s' if v.clusters != 1 else ''}: samples of "
                f"one episode share its game phase and are not independent, and fewer than {MIN_CLUSTERS} "
                f"episodes cannot carry a verdict (the mean difference {number(v.effect)} has a {_ci(v)} with "
                f"episodes as the units). Sample more episodes: counterfactual(..., max_per_episode=5) takes at "
                "most 5 branch points from each.")
    if reason == "constant":
        return (f"One of the two measures is constant over all {v.n} samples, so their correlation is "
                "undefined: a measure that never varies cannot track the other one.")
    if c.kind == "correlation":
        return _correlation(v, correction, a, one)
    if c.kind == "no_effect":
        return _no_effect(v, correction, a)
    moves = {"greater": "raises", "less": "lowers", "two-sided": "changes"}[c.alternative]
    diff = f"mean difference {number(v.effect)} ({_ci(v)})"
    if reason == "significant":
        beyond = f" by more than ±{c.margin:g} (minimum-effect test)" if c.margin is not None else ""
        return f"The intervention {moves} the measure{beyond}: {diff}, {_p_text(v, correction, one)} < {a}."
    if reason == "opposite":
        return (f"The measure moves the other way: {diff}; one-sided p = {p_value(v.opposite_p)} < {a} for "
                f"{'a decrease' if c.alternative == 'greater' else 'an increase'}.")
    if reason == "equivalent":
        return (f"No effect worth the name: the {diff} is within ±{c.margin:g} by TOST "
                f"(p = {p_value(v.equivalence_p)} < {a}), while the test for an effect gave "
                f"{_p_text(v, correction, one)} ≥ {a}.")
    if c.margin is not None and abs(v.effect) < c.margin:
        inside = (f"the whole interval lies within ±{c.margin:g}, " if -c.margin < v.ci_low and v.ci_high < c.margin
                  else "")
        more = (f"; about {v.samples_needed} samples would refute it (equivalence within ±{c.margin:g}) with 80% "
                "power if the observed difference were the true one." if v.samples_needed is not None else ".")
        return (f"Smaller than the claim needs, not yet refuted: the {diff} is below the margin ±{c.margin:g} "
                f"({inside}{_p_text(v, correction, one)} ≥ {a} for an effect beyond it), but equivalence is not "
                f"shown yet (TOST p = {p_value(v.equivalence_p)} ≥ {a}){more}")
    if _interval_beyond(v):
        return _interval_beyond_text(v, correction, diff, a, one)
    if c.margin is not None:
        refute = f", and equivalence within ±{c.margin:g} is not shown (TOST p = {p_value(v.equivalence_p)})"
    elif c.kind == "direction":
        refute = ", no significant change the other way, and no margin was declared for an equivalence test"
    else:
        refute = ", and with no margin declared an effect claim cannot be refuted"
    return f"Not enough evidence either way: {diff}, {_p_text(v, correction, one)} ≥ {a}{refute}" + \
        _more_samples(v, "difference")


def _interval_beyond(v: Verdict) -> bool:
    """Whether an undecided effect or direction claim's interval lies wholly where the claim says
    (beyond its margin, or beyond 0 without one): the interval and the test then disagree."""
    c, m = v.claim, v.claim.margin or 0.0
    up, down = v.ci_low > m, v.ci_high < -m
    return {"greater": up, "less": down, "two-sided": up or down}[c.alternative]


def _interval_beyond_text(v: Verdict, correction: str | None, diff: str, a: str, one: bool) -> str:
    """Why a claim whose interval lies beyond its margin is still undecided, in the words of its procedures."""
    where = f"beyond ±{v.claim.margin:g}" if v.claim.margin is not None else "on one side of 0"
    if v.p_adjusted is not None and correction not in (None, "none") and v.p_value < v.claim.alpha:
        why = (f"the interval is not adjusted for the session's other hypotheses and the p-value is: "
               f"{_p_text(v, correction, one)} ≥ {a}")
    else:
        why = (f"the test is stricter than the interval: it takes the larger of a sign-flip permutation p and a "
               f"bootstrap-t p (the interval is a BCa bootstrap), and gives {_p_text(v, correction, one)} ≥ {a}; "
               "the verdict follows the test")
    return f"Suggestive, not yet shown: the {diff} lies wholly {where}, but {why}" + _more_samples(v, "difference")


def _correlation(v: Verdict, correction: str | None, a: str, one: bool) -> str:
    c, reason = v.claim, v.reason
    sign = {"greater": "positive", "less": "negative", "two-sided": "non-zero"}[c.alternative]
    r = f"{'Spearman' if v.method == 'spearman' else 'Pearson'} r = {number(v.effect)} ({_ci(v)})"
    if reason == "significant":
        return f"The correlation is {sign}: {r}, permutation {_p_text(v, correction, one)} < {a}."
    if reason == "opposite":
        return (f"The correlation has the opposite sign: {r}; one-sided p = {p_value(v.opposite_p)} < {a} for a "
                f"{'negative' if c.alternative == 'greater' else 'positive'} correlation.")
    if reason == "equivalent":
        return (f"No correlation worth the name: {r}, |ρ| < {c.margin:g} by an equivalence test on Fisher's scale "
                f"(p = {p_value(v.equivalence_p)} < {a}), while the test of the claim gave "
                f"{_p_text(v, correction, one)} ≥ {a}.")
    refute = (f" and |ρ| < {c.margin:g} is not shown (equivalence p = {p_value(v.equivalence_p)})" if c.margin
              else ", and with no margin declared only an opposite-sign correlation could refute it"
              if one else ", and with no margin declared this claim cannot be refuted")
    return f"Not enough evidence either way: {r}, {_p_text(v, correction, one)} ≥ {a}{refute}" + \
        _more_samples(v, "correlation")


def _no_effect(v: Verdict, correction: str | None, a: str) -> str:
    c = v.claim
    if v.reason == "significant":
        return (f"No effect beyond ±{c.margin:g}: the mean difference {number(v.effect)} has a {_ci(v)} "
                f"inside the margin (TOST {_p_text(v, correction)} < {a}).")
    if v.reason == "outside_margin":
        return (f"A real effect beyond the margin: the mean difference {number(v.effect)} has a {_ci(v)} "
                f"entirely outside ±{c.margin:g}, so it is significantly larger than the margin "
                f"({a}, one-sided).")
    if -c.margin < v.ci_low and v.ci_high < c.margin:  # only the bounded-mean test held back
        return (f"Not shown yet: the {_ci(v)} of the mean difference {number(v.effect)} lies inside "
                f"±{c.margin:g}, but the bounded-mean test, valid for any distribution within the "
                "measure's bounds, does not yet exclude a mean at the margin "
                f"({_p_text(v, correction)} ≥ {a})"
                + _more_samples(v, "difference"))
    return (f"Neither shown: the {_ci(v)} of the mean difference {number(v.effect)} overlaps the margin "
            f"±{c.margin:g} (TOST {_p_text(v, correction)} ≥ {a})" + _more_samples(v, "difference"))


# ------------------------------------------------------------------------------------------ anytime

def _anytime(v: Verdict) -> str:
    """An anytime-valid sequential verdict (:func:`cfsal.stats.sequential_assess`)."""
    c, stop, margin = v.claim, v.sequential, v.claim.margin
    what = "correlation" if v.method == "correlation-mixture" else "mean difference"
    cs = f"{100 * v.confidence:.4g}% confidence sequence [{number(v.ci_low)}, {number(v.ci_high)}]"
    at = f"after {v.n} {_units(v)} ({stop.looks} look{'s' if stop.looks != 1 else ''})"
    estimate = number(v.effect)
    if v.reason == "significant":
        if c.kind == "no_effect":
            return (f"No effect beyond ±{margin:g}, {at}: the {what} {estimate} has a {cs} inside the margin "
                    f"(anytime-valid p = {p_value(v.p_value)}).")
        beyond = f" beyond ±{margin:g}" if margin is not None and c.kind != "correlation" else ""
        moves = {"greater": "raises", "less": "lowers", "two-sided": "changes"}[c.alternative]
        subject = "The correlation is " + {"greater": "positive", "less": "negative", "two-sided": "non-zero"}[
            c.alternative] if c.kind == "correlation" else f"The intervention {moves} the measure{beyond}"
        return f"{subject}, {at}: {what} {estimate}, {cs}, anytime-valid p = {p_value(v.p_value)}."
    if v.reason == "outside_margin":
        return f"A real effect beyond ±{margin:g}, {at}: the {cs} of the {what} {estimate} lies outside the margin."
    if v.reason == "opposite":
        return f"The measure moves the other way, {at}: {what} {estimate}, {cs}."
    if v.reason == "equivalent":
        return (f"No effect worth the name, {at}: the {cs} of the {what} {estimate} lies within ±{margin:g} "
                f"(anytime-valid equivalence p = {p_value(v.equivalence_p)}).")
    if stop.stopped == "futility":
        return (f"Stopped for futility {at}: the {1 - stop.futility:.0%} confidence sequence of the {what} {estimate} "
                f"excludes every value at which the claim or its refutation could be expected to be decided by the "
                f"maximum of {stop.maximum} {_units(v)}, so more samples would very likely end undecided too (anytime-valid "
                f"p = {p_value(v.p_value)}). A futility stop never supports anything; raise max_samples, or declare a "
                "margin, if a smaller effect matters.")
    why = {"max_samples": "the hypothesis's maximum number of samples was reached",
           "budget": "the session's budget ran out",
           "decided": "the data ran out"}[stop.stopped]
    return (f"Not decided {at}: {why} while the {cs} of the {what} {estimate} still allowed both the claim "
            f"and its refutation (anytime-valid p = {p_value(v.p_value)}); raise max_samples or the budget, or "
            "declare a margin so that 'no effect' can end the test.")


# -------------------------------------------------------------------------------------------- group

def _units(v: Verdict) -> str:
    """What a sequential verdict's n counts: samples, or episodes when it tests episode means."""
    return "episodes" if v.sequential is not None and v.clusters is not None else "samples"


def _chances(check: GroupFutility, units: str) -> str:
    parts = []
    for name, p in check.chances.items():
        why = (f" (out of reach with {check.maximum} {units} for a test valid on the bounds)"
               if name in check.unreachable else "")
        parts.append(f"{name} {p:.1%}{why}")
    return ", ".join(parts)


def _group(v: Verdict) -> str:
    """A group-sequential verdict (:func:`cfsal.stats.group_sequential_assess`), quoting its last look's own."""
    stop, units = v.sequential, _units(v)
    look = stop.look_verdict
    if stop.end == "short":
        why = {"budget": "the session's budget ran out", "max_samples": "the data ran out",
               "decided": "the data ran out", "futility": "the run stopped"}[stop.final_reason]
        text = (f"Not decided after {v.n} {units} ({stop.look} of {stop.looks} planned looks): {why} "
                f"before the last look (group-sequential p = {p_value(v.p_value)}).")
    elif stop.end == "futility":
        check = stop.futility
        text = (f"Stopped for futility at look {stop.look} of {stop.looks} ({v.n} of at most {stop.maximum} {units}): "
                f"even with the true mean at the optimistic end of its one-sided {1 - check.gamma:.0%} bound, the "
                f"chance that the last look decides is below {check.gamma:.0%} for every decision ({_chances(check, units)}), "
                f"so more samples would very likely end undecided too (group-sequential p = {p_value(v.p_value)}). A "
                "futility stop never supports or refutes anything; plan more samples, or declare a margin, if a "
                f"smaller effect matters. This look: {explain(look)}")
    elif stop.end == "early":
        at = f"Decided at look {stop.look} of {stop.looks} ({v.n} of at most {stop.maximum} {units})"
        if v.outcome == SUPPORTED:
            text = (f"{at}: its test gives p = {p_value(look.p_value)}, below this look's share of α "
                    f"({stop.weight:.3g} × {stop.alpha_stop:.3g}), so sampling stopped; group-sequential p = "
                    f"{p_value(v.p_value)}. {explain(look)}")
        else:
            text = (f"{at}: its test refutes the claim at this look's level {stop.weight * v.claim.alpha:.3g}. "
                    f"{explain(look)}")
    else:
        base = explain(look)
        if v.outcome == SUPPORTED and look.outcome != SUPPORTED:
            base = (f"The claim is supported by the early looks' evidence: group-sequential p = {p_value(v.p_value)} "
                    f"< α = {v.claim.alpha:g} (the last look alone: {base})")
        text = (f"{base} (Last of {stop.looks} planned looks, n = {look.n}: its test ran at level {stop.weight:.3g} × α "
                "and the group-sequential p = min over looks of p / weight.)")
    if stop.planned_maximum is not None:
        text = (f"{text} The session's sample budget set this test's maximum to its share, {stop.maximum} {units} "
                f"(of the {stop.planned_maximum} it would have planned).")
    return text
