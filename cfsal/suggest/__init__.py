"""From saliency to hypotheses: audit what an agent's saliency maps point at, then write the
counterfactual tests those maps imply.

    from cfsal.suggest import suggest, Audit
    audit = suggest(load_agent("breakout-expert"), "hypotheses/suggested/", episodes=5)
    audit.methods["perturbation"].finding("ball").enrichment

Pieces: :mod:`~cfsal.suggest.audit` (object attribution, enrichment, correlations, block
bootstrap, cached maps), :mod:`~cfsal.suggest.claims` (which claims, sample sizes from a pilot),
:mod:`~cfsal.suggest.render` (the hypothesis files), :mod:`~cfsal.suggest.cli` (``cfsal suggest``);
the HTML section is :func:`cfsal.report.audit.render_audit_section`.
"""

from cfsal.suggest.api import AUDIT_FILE, suggest
from cfsal.suggest.audit import (
                                 AUDIT_SCHEMA_VERSION,
                                 Audit,
                                 Correlation,
                                 MethodAudit,
                                 ObjectFinding,
                                 attribute,
                                 run_audit,
)
from cfsal.suggest.claims import ClaimPlan, plan_claims, size_claims
from cfsal.suggest.render import render_file, write_files

__all__ = ["AUDIT_FILE", "AUDIT_SCHEMA_VERSION", "Audit", "ClaimPlan", "Correlation", "MethodAudit",
           "ObjectFinding", "attribute", "plan_claims", "render_file", "run_audit", "size_claims", "suggest",
           "write_files"]
