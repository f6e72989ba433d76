"""`hhlink query`: one SQL statement against a published database, read-only.

The file is opened read-only (no statement can change it, and a run publishing a new
file at the same moment is not disturbed: it never opens the published file) and with
DuckDB's external access off, so a query cannot read other files, attach the restricted
warehouse from the analyst database, or write anywhere. Results are printed as a table
cut at a row limit, or streamed to CSV/Parquet by this process, batch by batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = (".csv", ".parquet")
BATCH_ROWS = 100_000


class QueryError(Exception):
    """The query could not run; the message is DuckDB's reason in one line."""


@dataclass
class Shown:
    frame: pl.DataFrame | None  # None: the statement returns no rows (e.g. SET)
    more: bool                  # rows beyond the limit were not shown


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    config = {"enable_external_access": False, "memory_limit": os.environ.get("HHLINK_DUCKDB_MEMORY", "1GB")}
    try:
        return duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from None


def _one_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _relation(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    try:
        return con.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from None


def show(path: Path, sql: str, limit: int) -> Shown:
    """The first `limit` rows of the query's result."""
    with _connect(path) as con:
        rel = _relation(con, sql)
        if rel is None:
            return Shown(None, False)
        try:
            frame = rel.limit(limit + 1).pl()
        except duckdb.Error as exc:
            raise QueryError(_one_line(exc)) from None
    return Shown(frame.head(limit), frame.height > limit)


def render(shown: Shown, limit: int) -> str:
    if shown.frame is None:
        return "(the statement returns no rows)"
    with pl.Config(tbl_rows=limit, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True):
        text = str(shown.frame)
    rows = shown.frame.height
    note = (f"first {rows:,} rows shown; more were returned (raise --limit, or --out FILE.csv|.parquet for all)"
            if shown.more else f"{rows:,} row{'s' if rows != 1 else ''}")
    return f"{text}\n{note}"


def export(path: Path, sql: str, out: Path) -> int:
    """Stream the whole result into `out` (.csv or .parquet), written aside and renamed; returns the rows."""
    if out.suffix.lower() not in FORMATS:
        raise QueryError(f"--out must end in {' or '.join(FORMATS)}, not '{out.suffix or out.name}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    rows = 0
    with _connect(path) as con:
        rel = _relation(con, sql)
        if rel is None:
            raise QueryError("the statement returns no rows to write")
        try:
            reader = rel.fetch_record_batch(BATCH_ROWS)
            writer = (pacsv.CSVWriter(str(tmp), reader.schema) if out.suffix.lower() == ".csv"
                      else pq.ParquetWriter(str(tmp), reader.schema))
            with writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        except duckdb.Error as exc:
            tmp.unlink(missing_ok=True)
            raise QueryError(_one_line(exc)) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, out)
    return rows
