"""Asserting a claim on a counterfactual result in plain code: ``cfsal.expect``.

``@cfsal.hypothesis`` tests one claim at one intervention. Falsification asks the converse
question — *is there* an intervention under which the claim breaks? — and is what Hypothesis
(the property-based testing library) does well: ``@given`` draws intervention parameters,
``cfsal.expect`` asserts the claim for each, and on failure Hypothesis shrinks the parameters
to a minimal counterexample::

    @cfsal.hypothesis("The expert reacts to any large ball move", agent="breakout-expert")
    @given(dx=st.integers(-100, 100).filter(lambda d: abs(d) >= 20))
    @cfsal.ROLLOUT_SEARCH
    def test_no_ball_move_is_ignored(counterfactual, dx):
        result = counterfactual(breakout.MoveBall(dx=dx), samples=10, horizon=5,
                                measure=cfsal.measures.policy_total_variation)
        cfsal.expect(result, "effect")

Each example runs real rollouts, so :data:`ROLLOUT_SEARCH` keeps the example count small, drops
the deadline, and derandomises the search (the same test gives the same examples every run). Its
budget is stated in experiments: at most 12 examples and no shrinking (each shrink step is one
more experiment: shrinking one counterexample took 434 s of the main job), so a search costs at
most 12 × one experiment and reports the first counterexample it finds, unshrunk.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings

from cfsal.judge import judge
from cfsal.stats import Claim, Verdict

#: Hypothesis settings for searches whose every example runs counterfactual rollouts.
ROLLOUT_SEARCH = settings(
    max_examples=12,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.filter_too_much],
)


class ClaimNotSupported(AssertionError):
    """A claim asserted with :func:`expect` that the data do not support."""

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


def expect(result: Any, kind: str = "effect", *, alternative: str = "two-sided", margin: float | None = None,
           alpha: float = 0.05) -> Verdict:
    """Assess ``kind`` on a :class:`~cfsal.rollout.CounterfactualResult`; raise unless SUPPORTED.

    Judged by :func:`cfsal.judge.judge` (the inference the result's design calls for); the resampling
    seed derives from the result's own seed, so it is reproducible.
    """
    verdict = judge(Claim(kind=kind, alternative=alternative, margin=margin, alpha=alpha), result)
    if verdict.outcome != "SUPPORTED":
        raise ClaimNotSupported(
            f"{verdict.outcome} under {result.intervention}: {kind} on {result.measure}, effect "
            f"{verdict.effect:.4g} [{verdict.ci_low:.4g}, {verdict.ci_high:.4g}], p={verdict.p_value:.3g}, "
            f"n={verdict.n}. {verdict.explanation}",
            verdict,
        )
    return verdict
