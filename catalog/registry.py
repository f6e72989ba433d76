"""Every documented table in one place, written into the database as `COMMENT ON`.

The comments are the documentation: `catalog.dictionary` renders the data dictionary
from them, and `undocumented` lists what a database holds without one. Comments say
what happens to personal data: in the restricted warehouse a column is marked when
analysts do not get it or get a pseudonym; in the analyst database a pseudonym says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from catalog.model import Column, Table
from catalog.tables import fixed_tables, household_coverage, source_tables
from ingest import db
from ingest.sources import SourceConfig, load_sources

RESTRICTED_NOTE = {"drop": " [personal data: not in the analyst database]",
                   "pseudonymise": " [personal data: pseudonymised in the analyst database]"}
ANALYST_NOTE = " [pseudonym: keyed HMAC-SHA256 of the restricted value, see table pseudonymisation]"
TABLE_NOTE = " [restricted: not in the analyst database]"


def mart_tables() -> tuple[Table, ...]:
    """The marts' documentation (`marts.catalog.MART_TABLES`), when the marts package exists."""
    try:
        from marts.catalog import MART_TABLES
    except ModuleNotFoundError as exc:
        if exc.name in ("marts", "marts.catalog"):
            return ()
        raise
    return tuple(MART_TABLES)


def _raw_columns(con: duckdb.DuckDBPyConnection | None, source: str) -> list[str]:
    if con is None or not db.table_exists(con, f"raw.{source}"):
        return []
    return db.columns(con, f"raw.{source}")


def documented_tables(sources: Mapping[str, SourceConfig] | None = None,
                      con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Table]:
    """Every documented table by SQL name; with `con`, raw tables also document the extra columns found there."""
    sources = load_sources() if sources is None else sources
    tables = [*fixed_tables(), household_coverage(sources.values()), *mart_tables()]
    for cfg in sources.values():
        tables.extend(source_tables(cfg, _raw_columns(con, cfg.source)))
    out: dict[str, Table] = {}
    for t in tables:
        if t.name in out:
            raise ValueError(f"table {t.name} is documented twice")
        out[t.name] = t
    return out


def split(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return schema or "main", table


def _objects(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(schema, name) → (TABLE or VIEW, column names) of the connected database."""
    rows = con.execute(
        "SELECT t.table_schema, t.table_name, t.table_type, c.column_name FROM information_schema.tables t "
        "JOIN information_schema.columns c USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_catalog = current_database() ORDER BY t.table_schema, t.table_name, c.ordinal_position"
    ).fetchall()
    out: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for schema, table, kind, column in rows:
        out.setdefault((schema, table), ("VIEW" if kind == "VIEW" else "TABLE", []))[1].append(column)
    return out


def column_comment(col: Column, analyst: bool) -> str:
    if analyst:
        return col.doc + (ANALYST_NOTE if col.pii == "pseudonymise" else "")
    return col.doc + RESTRICTED_NOTE.get(col.pii, "")


def apply_comments(con: duckdb.DuckDBPyConnection, tables: Mapping[str, Table], *, analyst: bool = False) -> int:
    """`COMMENT ON` every documented table and column the connected database holds; returns the comments set."""
    present = _objects(con)
    n = 0
    for t in tables.values():
        schema, name = split(t.name)
        if (schema, name) not in present:
            continue
        kind, columns = present[(schema, name)]
        q = f"{db.quote(schema)}.{db.quote(name)}"
        note = TABLE_NOTE if not (analyst or t.analyst) else ""
        con.execute(f"COMMENT ON {kind} {q} IS {db.literal(t.doc + note)}")
        n += 1
        docs = {c.name: c for c in t.columns}
        for column in columns:
            if column in docs:
                con.execute(f"COMMENT ON COLUMN {q}.{db.quote(column)} IS "
                            f"{db.literal(column_comment(docs[column], analyst))}")
                n += 1
    return n


def undocumented(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] | None = None) -> list[str]:
    """Tables, views and columns of the connected database that carry no comment (`schema.table[.column]`)."""
    rows = con.execute("""
        SELECT schema_name, table_name, NULL AS column_name FROM duckdb_tables()
            WHERE database_name = current_database() AND coalesce(comment, '') = ''
        UNION ALL
        SELECT schema_name, view_name, NULL FROM duckdb_views()
            WHERE database_name = current_database() AND NOT internal AND coalesce(comment, '') = ''
        UNION ALL
        SELECT schema_name, table_name, column_name FROM duckdb_columns()
            WHERE database_name = current_database() AND NOT internal AND coalesce(comment, '') = ''
        ORDER BY 1, 2, 3 NULLS FIRST""").fetchall()
    return [".".join(p for p in (s, t, c) if p is not None) for s, t, c in rows if schemas is None or s in schemas]
