"""Small DuckDB helpers every layer shares: schemas, appends by column name, replacements.

Tables are written from polars frames through Arrow; a frame's columns may grow
between deliveries (an extra column in a newer extract), so appends add missing
columns instead of failing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from ingest.settings import positive_int

SCHEMAS = ("raw", "staged", "quarantine", "meta", "linked", "audit")

#: Frames of at least this many rows reach DuckDB through a Parquet spool file, not Arrow.
#: Every asset writes inside one transaction, and DuckDB keeps rows inserted from a
#: registered Arrow table in that transaction's memory until COMMIT (measured: inserting 2.25M
#: staged rows peaked at 1.4 GB under a 256 MB memory limit), while rows inserted from Parquet
#: are written out as they go (0.2 GB). Small frames keep the cheaper Arrow path.
SPOOL_ROWS_ENV, SPOOL_ROWS = "HHLINK_SPOOL_ROWS", 50_000
#: DuckDB's row group size. A spool file's Parquet row groups are a multiple of it: polars otherwise cuts them
#: at its frame's chunk boundaries, and DuckDB's insert leaves a part-filled row group at the end of each
#: (`person_link` at 1M persons: 18 row groups, 6 of them 5,747 rows). Part-filled row groups make the
#: checkpoint after a few deletes compact the table, rewriting it: 1.4 s against 0.4 s for 55k of its
#: 1.5M rows deleted (incremental linkage deletes such a share).
DUCKDB_ROW_GROUP = 122_880


@contextmanager
def _frame_source(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> Iterator[str]:
    """A FROM-clause source holding the frame: a Parquet spool file when large, else a registered Arrow view."""
    if frame.height >= positive_int(SPOOL_ROWS_ENV, SPOOL_ROWS):
        with tempfile.TemporaryDirectory(prefix="hhlink-frame-") as tmp:
            path = Path(tmp) / "frame.parquet"
            frame.write_parquet(path, compression="lz4", statistics=False, row_group_size=4 * DUCKDB_ROW_GROUP)
            yield f"read_parquet({literal(str(path))})"
        return
    con.register("_hh_frame", frame.to_arrow())
    try:
        yield "_hh_frame"
    finally:
        con.unregister("_hh_frame")


@contextmanager
def connect(path: str | Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, closed on exit (DuckDB has one writer)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # DuckDB's buffer pool defaults to 80% of RAM and keeps written pages cached; the
    # warehouse is written table by table, so a small pool (it spills) bounds memory.
    config = {"memory_limit": os.environ.get("HHLINK_DUCKDB_MEMORY", "1GB")}
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    con.execute("SET enable_progress_bar = false")
    try:
        yield con
    finally:
        con.close()


#: DuckDB's memory cap while a delivery is read and staged (``HHLINK_INGEST_MEMORY``). Those
#: steps stream; a larger buffer pool only keeps the pages they wrote cached, which grows
#: with the delivery (measured: 1 GB let a 2M-row delivery's staging climb by 100 MB).
INGEST_MEMORY = "256MB"


@contextmanager
def memory_limit(con: duckdb.DuckDBPyConnection, limit: str | None = None) -> Iterator[None]:
    """Run the block under another DuckDB memory cap (default: the ingestion cap), then restore it."""
    limit = limit or os.environ.get("HHLINK_INGEST_MEMORY", "") or INGEST_MEMORY
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    con.execute(f"SET memory_limit = {literal(limit)}")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = {literal(before)}")


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for s in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema or "main", name],
    ).fetchall()
    return row[0][0] > 0


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, _, name = table.rpartition(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema or "main", name]).fetchall()
    return [r[0] for r in rows]


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The table's column names in table order (to select them without a frame first)."""
    return _columns(con, table)


def _qualified(table: str) -> str:
    schema, _, name = table.rpartition(".")
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def append(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Insert a frame by column name, creating the table or adding new columns as needed."""
    q = _qualified(table)
    with _frame_source(con, frame) as source:
        if not table_exists(con, table):
            con.execute(f"CREATE TABLE {q} AS SELECT * FROM {source}")
            return
        have = set(_columns(con, table))
        for col in frame.columns:
            if col not in have:
                sql_type = con.execute(f"SELECT typeof({quote(col)}) FROM {source} LIMIT 1").fetchall()
                dtype = sql_type[0][0] if sql_type else "VARCHAR"
                con.execute(f"ALTER TABLE {q} ADD COLUMN {quote(col)} {dtype}")
        con.execute(f"INSERT INTO {q} BY NAME SELECT * FROM {source}")


def replace(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """The table becomes exactly this frame (for small derived tables written whole)."""
    with _frame_source(con, frame) as source:
        con.execute(f"CREATE OR REPLACE TABLE {_qualified(table)} AS SELECT * FROM {source}")


def copy_query(src: duckdb.DuckDBPyConnection, sql: str, dst: duckdb.DuckDBPyConnection, table: str,
               append: bool = False) -> None:
    """The table on `dst` becomes the result of `sql` on `src` (another DuckDB connection); with
    ``append``, the rows are added to the existing table by column name instead.

    Through a Parquet spool file that DuckDB writes and reads by itself: the rows never sit
    whole in Python memory, and `dst`'s transaction does not keep them in memory either (see
    `SPOOL_ROWS`).
    """
    with tempfile.TemporaryDirectory(prefix="hhlink-copy-") as tmp:
        path = literal(str(Path(tmp) / "rows.parquet"))
        src.execute(f"COPY ({sql}) TO {path} (FORMAT parquet, COMPRESSION lz4)")
        if append:
            dst.execute(f"INSERT INTO {_qualified(table)} BY NAME SELECT * FROM read_parquet({path})")
        else:
            dst.execute(f"CREATE OR REPLACE TABLE {_qualified(table)} AS SELECT * FROM read_parquet({path})")


def delete_where(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> None:
    if table_exists(con, table):
        con.execute(f"DELETE FROM {_qualified(table)} WHERE {where}", params)


def sync_rows(con: duckdb.DuckDBPyConnection, table: str, key: list[str], scope: str, rows: str) -> tuple[int, int]:
    """Make the rows of `table` that satisfy `scope` the rows of relation `rows`, writing only those that differ.

    For a caller that recomputes a region of a large table in which most rows come back the
    same (incremental linkage): deleting rows makes the commit's checkpoint compact the row
    groups they leave part-empty, rewriting them, while comparing costs a scan (a 5% delivery
    at 1M persons: commit 2.4 → 1.3 s). Rows are compared by ``key`` (unique in both) and a
    hash of the whole row, the new side cast to the table's column types.
    Returns (rows deleted, rows inserted); a changed row counts in both.
    """
    cols = [(name, typ) for name, typ, *_ in con.execute(f"DESCRIBE {_qualified(table)}").fetchall()]
    old_hash = f"hash(struct_pack({', '.join(quote(n) for n, _ in cols)}))"
    new_hash = f"hash(struct_pack({', '.join(f'{quote(n)} := CAST({quote(n)} AS {t})' for n, t in cols)}))"
    keys = ", ".join(quote(k) for k in key)
    on = " AND ".join(f"o.{quote(k)} = n.{quote(k)}" for k in key)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hh_sync AS  -- the keys whose row only one side has: old (gone) or new (added)
        SELECT {', '.join(f'coalesce(n.{quote(k)}, o.{quote(k)}) AS {quote(k)}' for k in key)},
               n.h IS NOT NULL AS added
        FROM (SELECT {keys}, {old_hash} AS h FROM {_qualified(table)} WHERE {scope}) o
        FULL JOIN (SELECT {keys}, {new_hash} AS h FROM {rows}) n ON {on} AND o.h = n.h
        WHERE o.h IS NULL OR n.h IS NULL""")
    try:
        gone, added = con.execute("SELECT count(*) FILTER (WHERE NOT added), count(*) FILTER (WHERE added) "
                                  "FROM _hh_sync").fetchall()[0]
        match = " AND ".join(f"{_qualified(table)}.{quote(k)} = s.{quote(k)}" for k in key)
        if gone:
            con.execute(f"DELETE FROM {_qualified(table)} USING _hh_sync s WHERE NOT s.added AND {match}")
        if added:
            con.execute(f"INSERT INTO {_qualified(table)} BY NAME SELECT r.* FROM {rows} r SEMI JOIN "
                        f"(SELECT {keys} FROM _hh_sync WHERE added) s ON "
                        + " AND ".join(f"r.{quote(k)} = s.{quote(k)}" for k in key))
    finally:
        con.execute("DROP TABLE IF EXISTS temp._hh_sync")
    return int(gone), int(added)


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame (DuckDB 2: through a relation, not execute())."""
    return con.sql(sql, params=params or None).pl()


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def append_parquet(con: duckdb.DuckDBPyConnection, table: str, path: str | Path,
                   constants: dict[str, tuple[str, object]] | None = None) -> int:
    """Insert a Parquet file by column name, streamed by DuckDB (never whole in Python memory).

    `constants` adds columns with one value for every row: name → (SQL type, value).
    Creates the table or adds new columns as needed, like `append`; returns the rows inserted.
    """
    constants = constants or {}
    extra = "".join(f", ?::{sql_type} AS {quote(name)}" for name, (sql_type, _) in constants.items())
    params = [v for _, v in constants.values()]
    select = f"SELECT *{extra} FROM read_parquet({literal(str(path))})"
    q = _qualified(table)
    if not table_exists(con, table):
        con.execute(f"CREATE TABLE {q} AS {select}", params)
    else:
        have = set(_columns(con, table))
        for name, dtype, *_ in con.execute(f"DESCRIBE {select}", params).fetchall():
            if name not in have:
                con.execute(f"ALTER TABLE {q} ADD COLUMN {quote(name)} {dtype}")
        con.execute(f"INSERT INTO {q} BY NAME {select}", params)
    return int(con.execute(f"SELECT count(*) FROM read_parquet({literal(str(path))})").fetchall()[0][0])
