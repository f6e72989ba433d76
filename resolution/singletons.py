"""Persons and households before linkage: one person, one household per record.

This keeps the contract's `person_xref` and `household_member` tables real (every
current record appears once, every person in exactly one household, ids stable as
they derive from the record key by md5) until the Splink linkage replaces it.
"""

from __future__ import annotations

import duckdb


def write_singletons(con: duckdb.DuckDBPyConnection, current_tables: list[str]) -> None:
    """(Re)build `person_xref` and `household_member` from the current staged views given."""
    union = " UNION ALL ".join(f"SELECT source, record_id, as_of FROM {t}" for t in current_tables) or (
        "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, NULL::DATE AS as_of WHERE false")
    con.execute(f"""
        CREATE OR REPLACE TABLE person_xref AS
        SELECT source, record_id, as_of, 'P' || substr(md5(source || ':' || record_id), 1, 16) AS person_id
        FROM ({union}) ORDER BY source, record_id""")
    con.execute("""
        CREATE OR REPLACE TABLE household_member AS
        SELECT 'H' || substr(person_id, 2) AS household_id, person_id, 'singleton' AS rule
        FROM person_xref ORDER BY household_id""")
