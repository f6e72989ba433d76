"""Build every mart from the linked warehouse, in dependency order, and write them to its main schema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig
from marts.area import household_areas
from marts.household import household_profile, household_table
from marts.person import person_table
from marts.policy import Policy
from marts.records import person_facts, snapshot_records
from marts.thin import thin_file
from marts.warning import early_warning, proactive_discovery

#: The mart tables, in the order they are built (main schema).
MART_NAMES = ("person", "household", "household_profile", "early_warning", "proactive_discovery", "thin_file")


def _not_enrolled(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not db.table_exists(con, "findings"):
        return pl.DataFrame(schema={"person_id": pl.String()})
    return db.frame(con, "SELECT DISTINCT person_id FROM findings "
                         "WHERE finding_type = 'school_age_not_enrolled' AND person_id IS NOT NULL")


def _freshness(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not db.table_exists(con, "source_freshness"):
        return pl.DataFrame(schema={"source": pl.String(), "status": pl.String()})
    return db.frame(con, "SELECT source, status FROM source_freshness")


def build_marts(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig], reference: date,
                policy: Policy) -> dict[str, pl.DataFrame]:
    """Every mart as a frame (MART_NAMES order); reads the warehouse, writes nothing."""
    records = snapshot_records(con, sources)
    facts = person_facts(con)
    members = db.frame(con, "SELECT household_id, person_id, rule FROM household_member")
    person = person_table(members, records, facts, _not_enrolled(con), reference)
    household = household_table(person, household_areas(records))
    profile = household_profile(person, household, facts, records, sources, _freshness(con), policy, reference)
    warnings = early_warning(profile, person, policy, reference)
    thin = thin_file(profile, person, warnings["household_id"].unique(), policy)
    thin_households = thin.filter(pl.col("subject") == "household")["household_id"]
    discovery = proactive_discovery(profile, warnings, thin_households, policy)
    return {"person": person, "household": household, "household_profile": profile, "early_warning": warnings,
            "proactive_discovery": discovery, "thin_file": thin}


def write_marts(con: duckdb.DuckDBPyConnection, tables: Mapping[str, pl.DataFrame]) -> None:
    # One chunk each: a frame of many chunks reaches DuckDB as many small row groups, which the
    # next checkpoint then rewrites (quality.findings.store_audit_records).
    for name in MART_NAMES:
        db.replace(con, name, tables[name].rechunk())
