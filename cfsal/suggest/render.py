"""Hypothesis files from claim plans: plain Python a researcher can read, run and edit.

One file per object, holding the claims about it (an effect claim or a no-effect control, and any
correlation claims), written with the public API only — ``import cfsal``, ``@cfsal.hypothesis``,
the ``counterfactual`` fixture, :mod:`cfsal.measures`, :mod:`cfsal.interventions` and, for
distances, :func:`cfsal.envs.objects.objects` — so that ``pytest FILE`` runs it unedited. The
evidence that suggested each claim (method, episodes, enrichment with its CI, the frames it came
from) is in the module docstring; how each sample size was chosen is in the test's docstring.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cfsal.interventions.targets import Target
from cfsal.saliency import method_defaults
from cfsal.suggest.audit import Audit
from cfsal.suggest.catalog import PLAYER, audit_objects
from cfsal.suggest.claims import HORIZON, MEASURE, ClaimPlan, display


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def file_name(agent: str, obj: str) -> str:
    """``test_<agent>_<object>.py``: unique across agents, so several agents' files can share a folder."""
    return f"test_{slug(Path(agent).stem if '/' in agent else agent)}_{slug(obj)}.py"


def intervention_code(target: Target, params: Mapping[str, Any] | None = None) -> str:
    """Python source that builds the intervention: ``breakout.MoveBall(dx=40)``."""
    params = target.params if params is None else params
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"{target.game}.{target.cls.__name__}({args})"


def _fmt(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2g}%"


def _method_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters that differ from the method's defaults (what a file must pass to reproduce)."""
    defaults = method_defaults(method)
    return {k: v for k, v in params.items() if k in defaults and defaults[k] != v}


def evidence(audit: Audit, obj: str) -> str:
    """The audit's findings on ``obj`` as prose: per method, share vs. screen, enrichment, rank."""
    lines = []
    n_objects = len(audit_objects(audit.game))
    for method, result in audit.methods.items():
        f = result.finding(obj)
        params = _method_params(method, result.params)
        setting = f"{method} saliency ({result.output} map" + (", " + ", ".join(f"{k}={v}" for k, v in params.items())
                                                               if params else "") + ")"
        lines.append(
            f"- {setting}: {_pct(f.saliency_share)} of the saliency on {_pct(f.screen_share)} of the screen, "
            f"enrichment {_fmt(f.enrichment)} (95% CI {_fmt(f.ci_low)}–{_fmt(f.ci_high)}), rank {f.rank} of "
            f"{n_objects}: {f.label}; over {f.frames} frames (blocks of {result.block}).")
        for c in f.correlations:
            if c.found:
                lines.append(f"  Its saliency share correlates with its {c.variable}: r = {c.r:+.2f} "
                             f"(95% CI {c.ci_low:+.2f} to {c.ci_high:+.2f}, {c.n} frames).")
        if result.zero_frames == result.frames:
            lines.append("  The map is zero on every frame: the agent's output does not change under this "
                         "method's perturbations, so nothing is salient.")
    return "\n".join(lines)


def _sizing_text(plan: ClaimPlan) -> str:
    s = plan.sizing
    k, alpha = s["claims"], s["alpha"]
    if plan.kind == "correlation":
        return (f"Sample size: 80% power for the one-sided test at r = {s['correlation_of_interest']} "
                f"(the smallest correlation of interest), α = 0.05/{k} claims = {alpha:.3g}: "
                f"n = ((z_(1−α) + z_0.8) / atanh {s['correlation_of_interest']})² + 3 = {plan.samples}.")
    pilot = (f"a pilot of {s['pilot_n']} pairs (seed {s['pilot_seed']}) gave mean {_fmt(s['pilot_mean'])}, "
             f"SD {_fmt(s['pilot_sd'])}, upper 80% limit σ = {_fmt(s['pilot_sd_upper'])}")
    if plan.kind == "effect":
        return (f"Sample size: {pilot}. 80% power at the smallest effect of interest, a mean of "
                f"{s['effect_of_interest']}, against the margin {plan.margin}, α = 0.05/{k} claims = {alpha:.3g}: "
                f"n = ((z_(1−α/2) + z_0.8)·σ / ({s['effect_of_interest']} − {plan.margin}))² = {plan.samples} "
                f"(kept within 20–400).")
    return (f"Sample size: {pilot}. 80% power to show equivalence within ±{plan.margin} when the true effect "
            f"is 0, α = 0.05/{k} claims = {alpha:.3g}: n = ((z_(1−α) + z_0.9)·σ / {plan.margin})², and at least "
            f"the exact zeros the bounded betting test needs: {plan.samples} (kept within 20–400).")


def _variable_function(audit: Audit, plan: ClaimPlan) -> tuple[str, str]:
    """(function name, source) of the per-trace quantity a correlation claim varies."""
    obj, game = plan.object, audit.game
    if plan.variable == "distance":
        player = PLAYER[game]
        name = f"{slug(obj)}_distance_to_{slug(player)}"
        source = f'''
def {name}(trace) -> float:
    """Distance between the centres of the {display(obj)} and the {display(player)}, in screen pixels."""
    boxes = objects("{game}", json.loads(trace.shown_state))
    (x0, y0), (x1, y1) = _centre(boxes, "{obj}"), _centre(boxes, "{player}")
    return math.hypot(x1 - x0, y1 - y0)


def _centre(boxes, pattern: str) -> tuple[float, float]:
    chosen = [box for box in boxes.values() if box.name == pattern or box.kind == pattern]
    x0, y0 = min(b.x0 for b in chosen), min(b.y0 for b in chosen)
    x1, y1 = max(b.x1 for b in chosen), max(b.y1 for b in chosen)
    return (x0 + x1) / 2, (y0 + y1) / 2
'''
    elif plan.variable == "speed":
        name = f"{slug(obj)}_speed"
        source = f'''
def {name}(trace) -> float:
    """The ball's speed in pixels per frame, from the Toybox state."""
    velocity = json.loads(trace.first_state)["balls"][0]["velocity"]
    return math.hypot(velocity["x"], velocity["y"])
'''
    else:
        name = f"{slug(obj)}_value"
        source = f'''
def {name}(trace) -> float:
    """The number the {display(obj)} shows, from the game state."""
    return displayed_value("{game}", "{obj}", json.loads(trace.shown_state))
'''
    return name, source


def render_file(audit: Audit, obj: str, plans: Sequence[ClaimPlan]) -> str:
    """The source of the hypothesis file about ``obj``."""
    game, agent = audit.game, audit.agent
    correlations = [p for p in plans if p.kind == "correlation"]
    kinds = {p.kind for p in plans}
    question = ("does {agent} use the {thing}?" if "effect" in kinds else
                "does {agent} ignore the {thing}?" if "no_effect" in kinds else
                "does saliency on the {thing} follow its state?").format(agent=agent, thing=display(obj))
    imports = ["import cfsal", "from cfsal import measures", f"from cfsal.interventions import {game}"]
    if correlations:
        imports = ["import json", "import math", "", *imports]
        if any(p.variable == "distance" for p in correlations):
            imports.insert(-1, "from cfsal.envs.objects import objects")
        if any(p.variable == "value" for p in correlations):
            imports.insert(-1, "from cfsal.envs.displayed import displayed_value")
    doc = [f"Suggested by `cfsal suggest`: {question}", "",
           (f"Saliency said (audit of {agent}, weights sha256 {audit.agent_sha256[:12]}…, {audit.frames} frames "
            f"of {len(audit.episodes)} episodes, seed {audit.seed}):"), "", evidence(audit, obj), "",
           "Frames: " + audit.frames_text() + ".",
           f"95% CIs: moving-block bootstrap over each episode's mapped frames ({audit.resamples} resamples).", "",
           ("The claims below test what that suggests on fresh branch points (not the audited frames). "
            "The full audit is in audit.json beside this file; docs/suggest.md explains every number.")]
    body = ['"""' + "\n".join(_wrap(line) for line in doc).rstrip() + '\n"""', "", "\n".join(imports), "",
            f'AGENT = "{agent}"']
    effect_like = [p for p in plans if p.kind in ("effect", "no_effect")]
    if effect_like:
        body.append(f"CHANGE = {intervention_code(effect_like[0].target)}")
    functions = []
    for plan in correlations:
        doses = "".join(f"    {intervention_code(plan.target, d)},\n" for d in plan.target.doses)
        dose_name = f"{slug(plan.variable).upper()}_DOSES"
        body.append(f"{dose_name} = [\n{doses}]")
        quantity, source = _variable_function(audit, plan)
        params = _method_params(plan.method, audit.methods[plan.method].params)
        extra = "".join(f", {k}={v!r}" for k, v in params.items())
        functions.append((plan, dose_name, quantity, source, extra))
    body.append("")
    for plan, dose_name, quantity, source, extra in functions:
        body.append(source.rstrip() + "\n\n")
        body.append(f'{slug(plan.variable).upper()}_CHANGE = measures.difference_of({quantity}, "{quantity}_change")')
        body.append(f'{slug(plan.variable).upper()}_SALIENCY_CHANGE = measures.saliency_mass_change('
                    f'"{plan.object}", method="{plan.method}"{extra}'
                    f'{", absent=" + repr("zero") if plan.settle else ""})')
        body.append("")
    for plan in plans:
        body.append("")
        args = ["agent=AGENT", f'kind="{plan.kind}"']
        if plan.kind == "correlation":
            args.append(f'alternative="{plan.alternative}"')
        if plan.margin is not None:
            args.append(f"margin={plan.margin}")
        args.append(f"samples={plan.samples}")
        body.append(f"@cfsal.hypothesis({', '.join(args)})")
        body.append(f"def {plan.test_name}(counterfactual):")
        body.append('    """' + _wrap(plan.claim, indent="    ") + "\n\n    " + _wrap(_sizing_text(plan), indent="    ")
                    + '\n    """')
        if plan.kind == "correlation":
            v = slug(plan.variable).upper()
            settle = "" if plan.settle is None else f" settle={plan.settle},"
            body.append(f"    return counterfactual({v}_DOSES, horizon={HORIZON},{settle}")
            body.append(f"                          measure=({v}_CHANGE, {v}_SALIENCY_CHANGE))")
        else:
            settle = "" if plan.settle is None else f"settle={plan.settle}, "
            body.append(f"    return counterfactual(CHANGE, horizon={HORIZON}, {settle}"
                        f"measure=measures.{MEASURE})")
        body.append("")
    return "\n".join(body).rstrip() + "\n"


def _wrap(text: str, indent: str = "", width: int = 100) -> str:
    if not text:
        return ""
    lines = []
    for paragraph in text.split("\n"):
        lead = re.match(r"\s*(- )?", paragraph).group(0)
        lines.extend(textwrap.wrap(paragraph, width=width - len(indent), subsequent_indent=" " * len(lead),
                                   break_on_hyphens=False) or [""])
    return ("\n" + indent).join(lines)


def write_files(audit: Audit, plans: Sequence[ClaimPlan], out: str | Path) -> dict[str, list[ClaimPlan]]:
    """Write one file per object with claims into ``out``; returns {file name: its plans}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    by_object: dict[str, list[ClaimPlan]] = {}
    for plan in plans:
        by_object.setdefault(plan.object, []).append(plan)
    written = {}
    for obj, items in by_object.items():
        name = file_name(audit.agent, obj)
        source = render_file(audit, obj, items)
        compile(source, name, "exec")  # a file that does not parse is a bug here, not the user's problem
        (out / name).write_text(source)
        written[name] = items
    return written
