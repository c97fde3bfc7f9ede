"""One judge: the verdict on a claim from a counterfactual result, with the inference its design calls for.

The boundary between results and statistics. The plugin, :func:`cfsal.expect`, the sequential
designs, ``cfsal suggest`` and library users all judge through :func:`judge`, so one result gets
one verdict whoever asks:

* the claim's kind picks the test (paired differences; or, for a correlation claim, the two
  measures of every pair);
* the design picks the unit of inference: samples from independently seeded episodes (the
  default ``States`` design, one per episode) are independent; when a design takes several from
  one episode (``States(per_episode=k)``, or the ``Periodic`` design), the episode is the unit
  and the tests are clustered by episode (:mod:`cfsal.stats.clustered`);
* the measure's declared bounds make equivalence valid for any distribution on them.

The resampling seed derives from the result's own seed, so a result is judged the same every time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cfsal.errors import CfsalError
from cfsal.stats import Claim, Verdict, assess, assess_correlation


def verdict_rng(result: Any) -> np.random.Generator:
    """The generator behind a result's verdict (permutations, bootstraps): from the design's seed alone."""
    return np.random.default_rng(np.random.SeedSequence([int(result.design.seed), 1]))


def clusters_of(result: Any) -> np.ndarray | None:
    """The episode of every sample when samples share episodes, else None (independent samples)."""
    clusters = getattr(result, "clusters", None)
    return None if clusters is None else np.asarray(clusters)


def bounds_of(result: Any) -> tuple[float, float] | None:
    bounds = getattr(result, "bounds", None)
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


def judge(claim: Claim, result: Any, *, rng: np.random.Generator | None = None) -> Verdict:
    """The fixed-n verdict on ``claim`` from ``result`` (a :class:`cfsal.rollout.CounterfactualResult`).

    ``rng`` defaults to :func:`verdict_rng` of the result. Raises :class:`cfsal.errors.CfsalError`
    when the claim and the result do not fit (a correlation claim needs two measures per pair).
    """
    if not hasattr(result, "values"):
        raise CfsalError(f"judge: got {type(result).__name__}; pass the result of counterfactual(...) "
                         "(a CounterfactualResult).")
    rng = verdict_rng(result) if rng is None else rng
    covariate = getattr(result, "covariate", None)
    if claim.kind == "correlation":
        if covariate is None:
            raise CfsalError("a 'correlation' claim needs two measures: counterfactual(…, measure=(x, y)).")
        if clusters_of(result) is not None:
            raise CfsalError("a 'correlation' claim needs independent samples: use the default design (one state "
                             "per episode, States(per_episode=1)); clustered correlation is not offered.")
        return assess_correlation(claim, np.asarray(covariate, float), np.asarray(result.values, float), rng=rng)
    if covariate is not None:
        raise CfsalError(f"counterfactual(…, measure=(x, y)) gives pairs of measures, for kind='correlation' "
                         f"claims; this claim is kind={claim.kind!r}: pass one measure.")
    return assess(claim, np.asarray(result.values, dtype=float), rng=rng, bounds=bounds_of(result),
                  clusters=clusters_of(result))
