"""Every figure of the report as a table in the warehouse's `audit` schema.

The report's pictures are drawn from these tables and nothing else, so an analyst
can query exactly what an auditor saw. Tables hold ids, codes, dates and counts,
never names, ID numbers or phones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig
from quality import coverage, linkage, staleness
from quality.expectations import RESULT_SCHEMA, all_suites, run_suites, store_results
from quality.findings import FINDING_TYPES, deaths, stored_audit_records
from quality.privacy import public_findings

#: The audit frame's columns the report reads (names and record keys' IDs stay in the warehouse).
REPORT_COLUMNS = ("source", "as_of", "record_id", "id_number", "id_number_status", "id_number_birth_date", "birth_date",
                  "admin_code_county", "admin_code_township", "address_township", "updated", "person_id",
                  "household_id", "_foreign_id", "audit_pid")


def reference_date(con: duckdb.DuckDBPyConnection) -> date:
    """The run's reference date, as `source_freshness` recorded it (today if absent)."""
    if db.table_exists(con, "source_freshness"):
        ref = db.frame(con, "SELECT max(reference_date) AS d FROM source_freshness").item()
        if ref is not None:
            return ref
    return date.today()


def check_results(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig], reference: date,
                  json_dir=None) -> pl.DataFrame:
    """The stored expectation results; the suites are run now if no check has stored any."""
    table = "audit.expectation_results"
    if db.table_exists(con, table):
        rows = db.frame(con, f"SELECT * FROM {table}")
        if rows.height:
            return rows
    rows = run_suites(con, all_suites(sources, reference), json_dir)
    store_results(con, rows)
    return rows.cast(RESULT_SCHEMA)


def pass_rates(results: pl.DataFrame) -> pl.DataFrame:
    done = results.filter(pl.col("success").is_not_null())
    return (done.group_by("suite").agg(
        pl.len().cast(pl.Int64).alias("expectations"), pl.col("success").sum().cast(pl.Int64).alias("passed"),
        (pl.col("blocking") & ~pl.col("success")).sum().cast(pl.Int64).alias("blocking_failed"))
        .with_columns((pl.col("passed") / pl.col("expectations")).alias("pass_rate")).sort("suite"))


def freshness_timeline(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig]) -> pl.DataFrame:
    """Every delivery per configured source, with the source's cadence (the freshness plot)."""
    cad = pl.DataFrame([{"source": c.source, "expected_every_days": c.expected_every_days} for c in sources.values()],
                       schema={"source": pl.String(), "expected_every_days": pl.Int64()})
    if not db.table_exists(con, "deliveries"):
        return cad.with_columns(pl.lit(None, pl.Date).alias("as_of"), pl.lit(None, pl.String).alias("status"),
                                pl.lit(None, pl.Int64).alias("rows_delivered"))
    d = db.frame(con, "SELECT source, as_of, status, rows_delivered FROM deliveries WHERE as_of IS NOT NULL")
    return cad.join(d, on="source", how="left").select(
        "source", "as_of", "status", "rows_delivered", "expected_every_days").sort("source", "as_of")


def build(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig],
          json_dir=None) -> dict[str, pl.DataFrame]:
    """Compute every audit table (name without schema → frame) and write them to `audit.*`."""
    ref = reference_date(con)
    records = stored_audit_records(con, sources, REPORT_COLUMNS)
    names = list(sources)
    matrix = coverage.household_matrix(records, names)
    facets, facet_summary = staleness.household_facet_staleness(records, sources, ref)
    findings = (db.frame(con, "SELECT * FROM findings") if db.table_exists(con, "findings")
                else pl.DataFrame(schema={"finding_type": pl.String()}))
    counts = pl.DataFrame({"finding_type": list(FINDING_TYPES), "description": list(FINDING_TYPES.values())})
    counts = counts.join(findings.group_by("finding_type").len(), on="finding_type", how="full", coalesce=True,
                         maintain_order="left_right")
    results = check_results(con, sources, ref, json_dir)
    tables = {
        "freshness_timeline": freshness_timeline(con, sources),
        "source_freshness": (db.frame(con, "SELECT * FROM source_freshness")
                             if db.table_exists(con, "source_freshness") else pl.DataFrame()),
        "record_staleness": staleness.record_staleness(records, sources, ref),
        "record_age_histogram": staleness.age_histogram(records, ref),
        "household_facet_staleness": facet_summary,
        "household_facets": facets,
        "household_coverage": matrix,
        "coverage_by_area": pl.concat([coverage.coverage_by_area(matrix, names, lvl)
                                       for lvl in ("county", "township")]),
        "thin_file": coverage.thin_file(records),
        "expected_missing": coverage.expected_missing(records, ref, deaths(con, records).select("audit_pid")),
        "finding_counts": counts.with_columns(pl.col("len").fill_null(0).cast(pl.Int64).alias("findings"))
                                .drop("len").sort("finding_type"),
        "public_findings": public_findings(findings) if findings.height else
        pl.DataFrame(schema={c: pl.String() for c in ("finding_type", "person_id", "household_id", "source",
                                                       "record_ref", "detail")}),
        "check_results": results,
        "check_pass_rates": pass_rates(results),
        "linkage_summary": linkage.linkage_summary(con),
        "linkage_link_rate": linkage.linkage_detail(con, "link_rate"),
        "linkage_cluster_sizes": linkage.linkage_detail(con, "cluster_size"),
        "linkage_weight_histogram": linkage.linkage_detail(con, "weight_histogram"),
    }
    for name, frame in tables.items():
        if frame.width:
            db.replace(con, f"audit.{name}", frame)
    return tables
