"""Declaring a hypothesis: ``@cfsal.hypothesis(...)`` on a test function.

The decorator records *what is claimed* (text, kind, direction, margin), *about which agent*, and
the statistical settings, and marks the test for the plugin. The test body runs the experiment
and returns its result; the plugin turns that into a verdict. (Never a module named
``hypothesis``: it would shadow the Hypothesis package.)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from _cfsal_pytestplugin import DESIGNS
from cfsal.errors import HypothesisDeclarationError
from cfsal.stats.verdict import Claim


@dataclass(frozen=True)
class HypothesisSpec:
    """What a hypothesis claims and how it is to be tested."""

    claim: str
    agent: str | None = None
    kind: str = "effect"
    alternative: str = "two-sided"
    margin: float | None = None
    alpha: float | None = None
    samples: int | None = None
    sequential: bool | None = None      # None: follow --cfsal-sequential / the cfsal_sequential ini key
    batch: int | None = None            # sequential: samples per look
    max_samples: int | None = None      # sequential: the most samples before INCONCLUSIVE
    design: str | None = None           # sequential: "group" or "anytime"; None: follow --cfsal-design
    futility: float | bool | None = None  # sequential: γ of the futility rule, False/0: off; None: --cfsal-futility

    def __post_init__(self) -> None:
        where = "@cfsal.hypothesis"
        try:  # the claim's rules live in one place: cfsal.stats.Claim
            self.as_claim(0.05)
        except HypothesisDeclarationError as error:
            raise HypothesisDeclarationError(f"{where}: {str(error).removeprefix('cfsal.stats.Claim: ')}") from None
        if self.samples is not None and (not isinstance(self.samples, int) or self.samples < 2):
            raise HypothesisDeclarationError(f"{where}: samples must be an integer ≥ 2, got {self.samples!r}.")
        if self.sequential not in (None, True, False):
            raise HypothesisDeclarationError(
                f"{where}: sequential must be True, False or left out (then --cfsal-sequential decides), "
                f"got {self.sequential!r}.")
        for name in ("batch", "max_samples"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise HypothesisDeclarationError(
                    f"{where}: {name} must be an integer ≥ 2, got {value!r} (batch: samples per look of a "
                    "sequential test; max_samples: the most it may take before it says INCONCLUSIVE).")
        if self.design not in (None, *DESIGNS):
            raise HypothesisDeclarationError(
                f"{where}: design={self.design!r} is not one of {DESIGNS} (group: a few planned looks, the "
                "fixed-n test at each; anytime: a look after every batch; docs/sequential.md).")
        if self.futility is not None and not (self.futility is False or (
                not isinstance(self.futility, bool) and isinstance(self.futility, (int, float))
                and 0 <= self.futility < 1)):
            raise HypothesisDeclarationError(
                f"{where}: futility={self.futility!r} must be γ in (0, 1) (e.g. 0.1: stop undecided once no "
                "decision is in reach), False or 0 (never stop for futility), or left out (then "
                "--cfsal-futility decides).")
        if self.batch is not None and self.max_samples is not None and self.batch > self.max_samples:
            raise HypothesisDeclarationError(
                f"{where}: batch={self.batch} is larger than max_samples={self.max_samples}; a sequential test "
                "looks after every batch, so the batch must fit in the maximum.")

    def as_claim(self, default_alpha: float) -> Any:
        """The statistical claim (a :class:`cfsal.stats.Claim`): kind, direction, margin, and α (this
        hypothesis's, else ``default_alpha``). Imported here: loading the plugin must stay cheap."""
        alpha = self.alpha if self.alpha is not None else default_alpha
        return Claim(kind=self.kind, alternative=self.alternative, margin=self.margin, alpha=alpha)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hypothesis(claim: str | None = None, *, agent: str | None = None, kind: str = "effect",
               alternative: str = "two-sided", margin: float | None = None, alpha: float | None = None,
               samples: int | None = None, sequential: bool | None = None, batch: int | None = None,
               max_samples: int | None = None, design: str | None = None,
               futility: float | bool | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a test function as a hypothesis about an agent.

    ``claim`` defaults to the first paragraph of the function's docstring. The function returns a
    :class:`cfsal.rollout.CounterfactualResult` (e.g. from the ``counterfactual`` fixture).

    ``samples`` is the fixed-n design's sample size. ``sequential=True/False`` overrides
    ``--cfsal-sequential`` for this hypothesis, and ``design="group"|"anytime"`` overrides
    ``--cfsal-design``. A group-sequential test looks at a few planned sample counts up to
    ``max_samples`` (default: just above ``samples``) and stops at the first that decides; an
    anytime-valid one looks after every ``batch`` samples and says INCONCLUSIVE at ``max_samples``
    (docs/sequential.md). ``futility`` overrides ``--cfsal-futility`` for this hypothesis: γ, or
    False (or 0) to let it run to its maximum whatever the early looks say.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        text = claim or (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ").strip()
        if not text:
            return _declared_wrongly(function, function.__name__, agent, HypothesisDeclarationError(
                f"@cfsal.hypothesis on {function.__name__}: state the claim, as claim='…' or as the "
                "function's docstring."
            ))
        try:
            spec = HypothesisSpec(text, agent, kind, alternative, margin, alpha, samples, sequential, batch, max_samples,
                                  design, futility)
        except HypothesisDeclarationError as error:
            return _declared_wrongly(function, text, agent, error)
        return pytest.mark.cfsal(spec=spec)(function)

    return decorate


@dataclass(frozen=True)
class DeclarationProblem(HypothesisSpec):
    """The spec of a hypothesis declared wrongly: its claim and the error, unchecked by design.

    A declaration error raised at import would make pytest drop *every* hypothesis of the module
    as one collection error. Instead the hypothesis is collected as a test that fails with the
    error, so it is reported (terminal, JSON) as an error of that one hypothesis and the rest of
    the module and session run.
    """

    error: str = ""

    def __post_init__(self) -> None:
        """No checks: this spec exists to carry a failed check to the test run."""


def _declared_wrongly(function: Callable[..., Any], claim: str, agent: str | None,
                      error: HypothesisDeclarationError) -> Callable[..., Any]:
    """A test, in ``function``'s place, that raises the declaration error when pytest runs it.

    It takes no fixtures (no agent is loaded for a hypothesis that cannot run), and keeps the
    name, module and docstring pytest uses to collect and report it.
    """
    message = f"{function.__name__} was not run: {type(error).__name__}: {error}"

    def declared_wrongly() -> None:
        raise HypothesisDeclarationError(message)

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        setattr(declared_wrongly, attribute, getattr(function, attribute))
    spec = DeclarationProblem(claim=claim, agent=agent, error=message)
    return pytest.mark.cfsal(spec=spec)(declared_wrongly)
