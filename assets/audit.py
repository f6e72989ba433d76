"""Audit layer: the contract's `findings` table and the auditors' report site.

Thin wrappers over `quality.findings.compute_findings` and `quality.report.write_site`.
The expectation checks live in `assets.checks`.
"""

from __future__ import annotations

import dagster as dg

from assets.resources import HhlinkResource
from ingest import db
from ingest.sources import load_sources
from quality.findings import FINDINGS_SCHEMA, audit_records, compute_findings, store_audit_records

__all__ = ["FINDINGS_SCHEMA", "audit_assets", "findings", "report"]


@dg.asset(group_name="audit", deps=["person_xref", "household_member", "source_freshness"], kinds={"duckdb"},
          description="One row per audit finding (contradictions, overdue reviews, missing enrolments), with the "
                      "record that shows it and readable evidence.")
def findings(hhlink: HhlinkResource) -> dg.MaterializeResult:
    with hhlink.connect() as con:
        sources = load_sources()
        audit = audit_records(con, sources)
        table = compute_findings(con, sources, hhlink.reference_date, hhlink.pseudonym_key, audit)
        db.replace(con, "findings", table)
        store_audit_records(con, audit[0])
    counts = table.group_by("finding_type").len().sort("finding_type")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height,
        **{f"count/{k}": int(n) for k, n in counts.iter_rows()},
    })


@dg.asset(group_name="audit", deps=[findings, "linkage_quality", "source_freshness"], kinds={"duckdb", "html"},
          description="The auditors' static site (freshness, coverage, findings, checks, linkage) and every "
                      "figure as a table in the warehouse's `audit` schema.")
def report(hhlink: HhlinkResource) -> dg.MaterializeResult:
    from quality.report import write_site

    index = write_site(hhlink.database, hhlink.reports_path / "site")
    with hhlink.connect() as con:
        tables = db.frame(con, "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'audit'")
    return dg.MaterializeResult(metadata={"index": dg.MetadataValue.path(str(index)),
                                          "audit_tables": int(tables.item())})


def audit_assets() -> list[dg.AssetsDefinition]:
    """The audit assets and every expectation check, for `pipelines.definitions.all_assets()`."""
    from assets.checks import expectation_checks

    return [findings, report, *expectation_checks(load_sources())]



