"""Audit layer: the contract's `findings` table."""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets.resources import HhlinkResource
from ingest import db

FINDINGS_SCHEMA = {"finding_type": pl.String(), "person_id": pl.String(), "household_id": pl.String(),
                   "source": pl.String(), "record_id": pl.String(), "detail": pl.String()}


@dg.asset(group_name="audit", deps=["person_xref", "household_member", "source_freshness"], kinds={"duckdb"},
          description="One row per audit finding (contradictions, overdue reviews, missing enrolments).")
def findings(hhlink: HhlinkResource) -> dg.MaterializeResult:
    table = pl.DataFrame(schema=FINDINGS_SCHEMA)
    with hhlink.connect() as con:
        db.replace(con, "findings", table)
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height})
