"""The current snapshot as the audit layer sees it: every record with its person and household.

Every audit measure (findings, coverage, staleness) starts from the same frame, so it
is read once here: the shared person columns of each source's current view
(``staged.current_<source>``), joined to ``person_xref`` and ``household_member``.
Sources come from the configs, so a sixth department shows up without code changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from ingest import db
from ingest.normalise.ids import VERIFIED
from ingest.sources import SourceConfig
from ingest.stage import KEY_ID
from ingest.stage import PERSON_COLUMNS as STAGED_PERSON_COLUMNS

#: The staged person columns (ingest.stage.PERSON_COLUMNS) that audits use.
PERSON_COLUMNS = ("name", "name_pinyin", "id_number", "id_number_status", "id_number_birth_date", "id_number_sex",
                  "sex", "birth_date", "admin_code_county", "admin_code_township", "address_township")
_STAGED_TYPES = {name: dtype for cols in STAGED_PERSON_COLUMNS.values() for name, dtype in cols.items()}
#: The ID a record key embeds (`SourceConfig.key_id_pattern`); null for sources whose keys embed none.
KEY_ID_COLUMNS = {KEY_ID: pl.String(), f"{KEY_ID}_status": pl.String()}

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "as_of": pl.Date(), "record_id": pl.String(),
    **{c: _STAGED_TYPES[c] for c in PERSON_COLUMNS}, **KEY_ID_COLUMNS,
    "updated": pl.Date(), "person_id": pl.String(), "household_id": pl.String(),
}

#: ID statuses whose number can be trusted as the person's own (a typo breaks the check digit).
TRUSTED_ID = VERIFIED


def current_view(source: str) -> str:
    return f"staged.current_{source}"


def present_sources(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig]) -> list[str]:
    """Configured sources that have a current snapshot in this warehouse."""
    return [s for s in sources if db.table_exists(con, current_view(s))]


def current_records(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig]) -> pl.DataFrame:
    """One row per current record of every source (RECORD_SCHEMA); `updated` is the source's update date."""
    parts = []
    for src in present_sources(con, sources):
        upd = sources[src].updated_field
        updated = db.quote(upd) if upd else "NULL::DATE"
        cols = ", ".join(f"s.{c}" for c in PERSON_COLUMNS)
        present = db.columns(con, current_view(src))  # rows staged before their config had a key_id_pattern: none
        key_cols = ", ".join(f"s.{c}" if c in present else f"NULL::VARCHAR AS {c}" for c in KEY_ID_COLUMNS)
        parts.append(f"""
            SELECT s.source, s.as_of, s.record_id, {cols}, {key_cols}, {updated}::DATE AS updated,
                   x.person_id, m.household_id
            FROM {current_view(src)} s
            LEFT JOIN person_xref x ON x.source = s.source AND x.record_id = s.record_id
            LEFT JOIN household_member m ON m.person_id = x.person_id""")
    if not parts or not db.table_exists(con, "person_xref") or not db.table_exists(con, "household_member"):
        return pl.DataFrame(schema=RECORD_SCHEMA)
    return db.frame(con, " UNION ALL ".join(parts)).cast(RECORD_SCHEMA).select(list(RECORD_SCHEMA))
