"""Ingesting a source's deliveries: landing → raw → staged, with the accounting kept.

`ingest_delivery` and `stage_delivery` are the cores behind each source's two Dagster
assets, one delivery (partition) at a time; `ingest_raw` and `stage_source` do every
delivery of a source at once (benchmarks, the bad-input corpus). All skip deliveries
whose content they have already processed (by a fingerprint of the files), so
re-running over unchanged deliveries changes nothing.
The `meta.delivery_log` table is written only here; the contract's `deliveries`
table is built from it by `deliveries_table`.

Neither step holds a whole delivery in Python memory: `ingest_raw` spools it to
Parquet that DuckDB inserts, and `stage_source` normalises it in row batches
(`HHLINK_STAGE_BATCH_ROWS`, default 50,000), after finding its repeated keys over
all its rows in SQL. Each staged batch reaches DuckDB through a Parquet spool file
(`ingest.db.append`): inside the asset's transaction, rows inserted from Arrow stay in
memory until COMMIT. Staging a 410 MB delivery (2.25M rows) as one frame peaked at
4.0 GB; in 250k-row batches inserted from Arrow at 2.1 GB. Now a 359 MB delivery peaks at
0.75 GB, and memory grows by 0.37 MB per MB of delivery (`hhlink bench delivery`,
docs/reliability.md).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ingest import db
from ingest.landing import FILE_COL, ROW_COL, DeliveryRejected, discover, hash_files, snapshot, spool_delivery
from ingest.landing import fingerprint as fingerprint_of
from ingest.settings import positive_int
from ingest.sources import SourceConfig
from ingest.stage import Staged, normalise_key, raw_header, stage

log = logging.getLogger("hhlink.ingest")
Progress = Callable[[str], None]

LOG = "meta.delivery_log"
LOG_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "as_of": pl.Date(), "folder": pl.String(), "fingerprint": pl.String(),
    "status": pl.String(), "reason": pl.String(), "rows_delivered": pl.Int64(), "rows_staged": pl.Int64(),
    "rows_quarantined": pl.Int64(), "rows_with_issues": pl.Int64(), "format": pl.String(),
    "encodings": pl.String(), "manifest": pl.String(), "files": pl.String(), "extra_columns": pl.String(),
    "staged_fingerprint": pl.String(),
}
ACCEPTED, REJECTED = "accepted", "rejected"
BATCH_ROWS_ENV, BATCH_ROWS = "HHLINK_STAGE_BATCH_ROWS", 50_000
PENDING = "skipped for now"


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery in one step, for progress lines and asset metadata."""
    source: str
    as_of: date | None
    status: str  # accepted / rejected / unchanged
    rows: int = 0
    reason: str | None = None

    def line(self) -> str:
        day = self.as_of.isoformat() if self.as_of else "?"
        tail = f": {self.reason}" if self.reason else ""
        return f"{self.source} {day} {self.status} ({self.rows:,} rows){tail}"


def raw_table(source: str) -> str:
    return f"raw.{source}"


def staged_table(source: str) -> str:
    return f"staged.{source}"


def _log(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    if not db.table_exists(con, LOG):
        return pl.DataFrame(schema=LOG_SCHEMA)
    return db.frame(con, f"SELECT * FROM {LOG} WHERE source = ? ORDER BY as_of", [source])


def _write_log_row(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    db.delete_where(con, LOG, "source = ? AND as_of = ?", [row["source"], row["as_of"]])
    full = {k: row.get(k) for k in LOG_SCHEMA}
    db.append(con, LOG, pl.DataFrame([full], schema=LOG_SCHEMA))


def _extra_columns(columns: list[str], config: SourceConfig) -> list[str]:
    known = {h for c in config.columns for h in c.headers} | {FILE_COL, ROW_COL}
    return [c for c in columns if c not in known]


class _ChangedWhileReading(Exception):
    """A file changed between hashing and the end of reading: the delivery is still being written."""


def _load_raw(con: duckdb.DuckDBPyConnection, d, config: SourceConfig, hashes: dict[str, str],
              before: dict[str, tuple[int, int]]):
    """Spool the delivery's files to Parquet and insert them into `raw.<source>` in DuckDB's own batches."""
    with tempfile.TemporaryDirectory(prefix="hhlink-spool-") as tmp:
        got = spool_delivery(d, config, Path(tmp), hashes)
        if snapshot(d) != before:
            raise _ChangedWhileReading("still being written (a file changed while it was read): skipped for now")
        db.delete_where(con, raw_table(d.source), "_as_of = ?", [d.as_of])  # the previous version of it, if any
        for part in got.parts:
            db.append_parquet(con, raw_table(d.source), part, {"_as_of": ("DATE", d.as_of)})
    return got


def ingest_raw(con: duckdb.DuckDBPyConnection, landing: Path, config: SourceConfig,
               progress: Progress = log.info) -> list[Outcome]:
    """Load every new or changed delivery of one source into `raw.<source>`, keeping every column."""
    db.ensure_schemas(con)
    known = {r["as_of"]: r for r in _log(con, config.source).iter_rows(named=True)}
    outcomes = []
    for d in discover(landing, [config.source]):
        if d.source != config.source or d.as_of is None:
            continue  # other sources' folders and undated folders are the inventory's business
        outcomes.append(_ingest_one(con, d, config, known.get(d.as_of), progress))
    return outcomes


def ingest_delivery(con: duckdb.DuckDBPyConnection, landing: Path, config: SourceConfig, as_of: date,
                    progress: Progress = log.info) -> Outcome:
    """Load one delivery (a Dagster partition) into `raw.<source>` when it is new or changed.

    A folder that is gone from the landing zone keeps whatever was known of it (history).
    """
    db.ensure_schemas(con)
    found = [d for d in discover(landing, [config.source])
             if d.source == config.source and d.folder.name == as_of.isoformat()]
    prev = _log(con, config.source).filter(pl.col("as_of") == as_of)
    if not found:
        status = prev["status"][0] if prev.height else "missing"
        return Outcome(config.source, as_of, status, int(prev["rows_delivered"][0] or 0) if prev.height else 0,
                       f"folder {config.source}/{as_of} is no longer in the landing zone")
    return _ingest_one(con, found[0], config, prev.row(0, named=True) if prev.height else None, progress)


def _ingest_one(con: duckdb.DuckDBPyConnection, d, config: SourceConfig, prev: dict | None,
                progress: Progress) -> Outcome:
    if d.pending:  # still being written: not read, not logged; whatever was known of it stays
        outcome = Outcome(d.source, d.as_of, PENDING, 0, d.pending)
        progress(outcome.line())
        return outcome
    before = snapshot(d)
    hashes = hash_files(d)
    fp = fingerprint_of(hashes)
    if prev and prev["fingerprint"] == fp:
        return Outcome(d.source, d.as_of, "unchanged", prev["rows_delivered"] or 0)
    progress(f"{d.label}: reading {len(d.files)} file(s)")
    row = {"source": d.source, "as_of": d.as_of, "folder": str(d.folder), "fingerprint": fp,
           "files": ", ".join(p.name for p in d.files), "rows_delivered": 0}
    try:
        with db.memory_limit(con):
            got = _load_raw(con, d, config, hashes, before)
    except _ChangedWhileReading as exc:  # nothing written: whatever was known of this delivery stays
        outcome = Outcome(d.source, d.as_of, PENDING, 0, str(exc))
        progress(outcome.line())
        return outcome
    except DeliveryRejected as exc:
        reason = str(exc)
    except Exception as exc:  # a reader bug must not stop the other deliveries
        log.exception("unexpected error reading %s", d.label)
        reason = f"unexpected error while reading ({type(exc).__name__}: {str(exc)[:160]})"
    else:
        extra = _extra_columns(got.columns, config)
        row.update(status=ACCEPTED, rows_delivered=got.rows, format=got.format,
                   encodings=", ".join(sorted(set(got.encodings))) or None, manifest=got.manifest,
                   extra_columns=", ".join(extra) or None)
        _write_log_row(con, row)
        outcome = Outcome(d.source, d.as_of, ACCEPTED, got.rows)
        progress(outcome.line())
        return outcome
    db.delete_where(con, raw_table(d.source), "_as_of = ?", [d.as_of])
    row.update(status=REJECTED, reason=reason, rows_staged=0, rows_quarantined=0)
    _write_log_row(con, row)
    outcome = Outcome(d.source, d.as_of, REJECTED, 0, reason)
    progress(outcome.line())
    return outcome


def _batch_rows() -> int:
    return positive_int(BATCH_ROWS_ENV, BATCH_ROWS)


_KEY_UDF, _REPEATED_TABLE, _REPEATED_COL = "_hh_record_key", "_hh_repeated", "_hh_repeated"


def _find_repeated(con: duckdb.DuckDBPyConnection, config: SourceConfig, as_of: date, columns: list[str]) -> int:
    """Put the delivery's rows whose key was seen at an earlier (`_file`, `_row`) in a temp table.

    Done in SQL over the whole delivery so that batches can be staged one by one and a
    key repeated across two batches is still caught; only (`_file`, `_row`) of such rows
    is kept. The key is normalised by `ingest.stage.normalise_key` itself, called by
    DuckDB as an Arrow function, so that the SQL keys are exactly the staged ones.
    Returns how many rows are repeats.
    """
    header = raw_header(columns, config.key)
    key_sql = f"{_KEY_UDF}(CAST({db.quote(header)} AS VARCHAR))" if header else "NULL::VARCHAR"
    if header:
        con.create_function(_KEY_UDF, lambda values: normalise_key(pl.from_arrow(values), config).to_arrow(),
                            ["VARCHAR"], "VARCHAR", type="arrow", null_handling="special",
                            side_effects=False)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_REPEATED_TABLE} AS SELECT {FILE_COL}, {ROW_COL} FROM ("
            f"  SELECT {FILE_COL}, {ROW_COL}, k, row_number() OVER (PARTITION BY k ORDER BY {FILE_COL}, {ROW_COL}) AS n"
            f"  FROM (SELECT {FILE_COL}, {ROW_COL}, {key_sql} AS k FROM {raw_table(config.source)} WHERE _as_of = ?)"
            f") WHERE k IS NOT NULL AND n > 1", [as_of])
    finally:
        if header:
            con.remove_function(_KEY_UDF)
    return int(con.execute(f"SELECT count(*) FROM {_REPEATED_TABLE}").fetchall()[0][0])


def _batches(con: duckdb.DuckDBPyConnection, source: str, as_of: date, size: int) -> list[tuple[str, int, int]]:
    """The delivery's rows as (`_file`, first `_row`, `_row` past the end) ranges of at most `size` rows.

    In (`_file`, `_row`) order, so that batches appended one after another give the
    same table order as one sorted frame did. A range within one file is a filter that
    DuckDB's zone maps answer without reading the rest of the delivery; a small file
    is a small batch of its own (deliveries have a few files, not thousands).
    """
    starts = con.execute(
        f"SELECT {FILE_COL}, {ROW_COL} FROM (SELECT {FILE_COL}, {ROW_COL}, "
        f"row_number() OVER (PARTITION BY {FILE_COL} ORDER BY {ROW_COL}) AS n "
        f"FROM {raw_table(source)} WHERE _as_of = ?) WHERE (n - 1) % ? = 0 ORDER BY {FILE_COL}, {ROW_COL}",
        [as_of, size]).fetchall()
    out = []
    for i, (file, first) in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        out.append((file, first, nxt[1] if nxt and nxt[0] == file else 2**62))
    return out


@dataclass
class _Counts:
    staged: int = 0
    quarantined: int = 0
    with_issues: int = 0


def _stage_delivery(con: duckdb.DuckDBPyConnection, config: SourceConfig, as_of: date,
                    progress: Progress) -> _Counts:
    with db.memory_limit(con):
        return _stage_batches(con, config, as_of, progress)


def _stage_batches(con: duckdb.DuckDBPyConnection, config: SourceConfig, as_of: date,
                   progress: Progress) -> _Counts:
    """Stage one accepted delivery batch by batch, appending each batch's rows as it goes.

    Memory holds one batch (its raw rows, normalised rows and DuckDB's buffers), not
    the delivery. Every statement runs on the caller's connection, inside its
    transaction: batches are fetched whole, query by query, because DuckDB refuses a
    new statement on a connection whose streamed result is still open.
    """
    src, raw, table = config.source, raw_table(config.source), staged_table(config.source)
    columns = [c for c in db.columns(con, raw) if c != "_as_of"]
    _find_repeated(con, config, as_of, columns)
    batches = _batches(con, src, as_of, _batch_rows())
    db.delete_where(con, table, "as_of = ?", [as_of])
    db.delete_where(con, "quarantine.rows", "source = ? AND as_of = ?", [src, as_of])
    select = ", ".join(f"r.{db.quote(c)}" for c in columns)
    counts, read = _Counts(), 0
    for i, (file, first, end) in enumerate(batches, 1):
        if len(batches) > 1:
            progress(f"{src}/{as_of}: batch {i}/{len(batches)}")
        batch = db.frame(
            con, f"SELECT {select}, q.{ROW_COL} IS NOT NULL AS {_REPEATED_COL} FROM {raw} r "
                 f"LEFT JOIN {_REPEATED_TABLE} q ON q.{FILE_COL} = r.{FILE_COL} AND q.{ROW_COL} = r.{ROW_COL} "
                 f"WHERE r._as_of = ? AND r.{FILE_COL} = ? AND r.{ROW_COL} >= ? AND r.{ROW_COL} < ? "
                 f"ORDER BY r.{ROW_COL}", [as_of, file, first, end])
        read += batch.height
        repeated = batch.drop_in_place(_REPEATED_COL)
        result: Staged = stage(batch, config, as_of, repeated=repeated)
        del batch, repeated
        db.append(con, table, result.staged)
        if result.quarantine.height:
            db.append(con, "quarantine.rows", result.quarantine)
        counts.staged += result.staged.height
        counts.quarantined += result.quarantine.height
        counts.with_issues += int(result.staged.select(pl.col("issues").list.len().gt(0).sum()).item())
    con.execute(f"DROP TABLE IF EXISTS {_REPEATED_TABLE}")
    total = int(con.execute(f"SELECT count(*) FROM {raw} WHERE _as_of = ?", [as_of]).fetchall()[0][0])
    if read != total or counts.staged + counts.quarantined != total:  # never publish if batches missed rows
        raise AssertionError(f"{src} {as_of}: {total} rows delivered, {read} read in batches, "
                             f"{counts.staged + counts.quarantined} accounted for")
    return counts


def stage_source(con: duckdb.DuckDBPyConnection, config: SourceConfig,
                 progress: Progress = log.info) -> list[Outcome]:
    """Normalise every accepted delivery not yet staged into `staged.<source>` and quarantine.

    Each delivery is staged in row batches (see `_stage_delivery`); the caller's
    transaction makes its batches appear together or not at all.
    """
    db.ensure_schemas(con)
    src, table = config.source, staged_table(config.source)
    entries = _log(con, src)
    accepted = entries.filter(pl.col("status") == ACCEPTED)
    # Deliveries no longer accepted (their files changed into something unreadable) leave the staged layer.
    keep = accepted["as_of"].to_list()
    for t in (table, "quarantine.rows"):
        if db.table_exists(con, t):
            extra = "source = ? AND " if t == "quarantine.rows" else ""
            params = [src] if extra else []
            if keep:
                db.delete_where(con, t, f"{extra}as_of NOT IN ({', '.join('?' * len(keep))})", params + keep)
            else:
                db.delete_where(con, t, f"{extra}TRUE", params)
    outcomes = [_stage_logged(con, config, row, progress) for row in accepted.iter_rows(named=True)]
    _refresh_current(con, src)
    return outcomes


def stage_delivery(con: duckdb.DuckDBPyConnection, config: SourceConfig, as_of: date,
                   progress: Progress = log.info) -> Outcome:
    """Stage one delivery (a Dagster partition) as `ingest_delivery` left it in the log.

    Accepted and not yet staged (or changed since): normalised. Rejected: its staged and
    quarantined rows, if an earlier version of it had any, leave the staged layer.
    Not logged (still being written, or never read): nothing happens.
    """
    db.ensure_schemas(con)
    src = config.source
    entry = _log(con, src).filter(pl.col("as_of") == as_of)
    if not entry.height:
        outcome = Outcome(src, as_of, "not ingested", 0, "no accepted version of this delivery has been read")
    elif entry["status"][0] != ACCEPTED:
        for t, extra in ((staged_table(src), ""), ("quarantine.rows", "source = ? AND ")):
            if db.table_exists(con, t):
                db.delete_where(con, t, f"{extra}as_of = ?", ([src] if extra else []) + [as_of])
        outcome = Outcome(src, as_of, REJECTED, 0, entry["reason"][0])
    else:
        outcome = _stage_logged(con, config, entry.row(0, named=True), progress)
    _refresh_current(con, src)
    return outcome


def _stage_logged(con: duckdb.DuckDBPyConnection, config: SourceConfig, row: dict, progress: Progress) -> Outcome:
    """Stage one accepted delivery of the log unless its content was already staged."""
    src = config.source
    if row["staged_fingerprint"] == row["fingerprint"]:
        return Outcome(src, row["as_of"], "unchanged", row["rows_staged"] or 0)
    progress(f"{src}/{row['as_of']}: normalising {row['rows_delivered']:,} rows")
    counts = _stage_delivery(con, config, row["as_of"], progress)
    row.update(rows_staged=counts.staged, rows_quarantined=counts.quarantined,
               rows_with_issues=counts.with_issues, staged_fingerprint=row["fingerprint"])
    _write_log_row(con, row)
    outcome = Outcome(src, row["as_of"], "staged", counts.staged,
                      f"{counts.quarantined:,} quarantined, {counts.with_issues:,} with issues")
    progress(outcome.line())
    return outcome


def _refresh_current(con: duckdb.DuckDBPyConnection, src: str) -> None:
    """`staged.current_<source>`: the newest delivery still in the staged layer (rejected ones never are)."""
    table = staged_table(src)
    if db.table_exists(con, table):
        con.execute(f"CREATE OR REPLACE VIEW staged.current_{src} AS SELECT * FROM {table} "
                    f"WHERE as_of = (SELECT max(as_of) FROM {table})")


DELIVERIES_SCHEMA: dict[str, pl.DataType] = {
    k: v for k, v in LOG_SCHEMA.items() if k not in ("fingerprint", "staged_fingerprint")}


def deliveries_table(con: duckdb.DuckDBPyConnection, landing: Path, sources: Iterable[str]) -> pl.DataFrame:
    """The contract's `deliveries`: the log of known sources plus folders no source claims."""
    sources = list(sources)
    logged = (db.frame(con, f"SELECT * FROM {LOG}") if db.table_exists(con, LOG)
              else pl.DataFrame(schema=LOG_SCHEMA))
    logged = logged.filter(pl.col("source").is_in(sources)).select(list(DELIVERIES_SCHEMA))
    logged_keys = set(logged.select("source", "as_of").iter_rows())
    found = discover(landing, sources)
    unclaimed = [
        {"source": d.source, "as_of": d.as_of, "folder": str(d.folder), "status": REJECTED,
         "reason": d.problem or "not ingested", "rows_delivered": 0, "rows_staged": 0, "rows_quarantined": 0,
         "files": ", ".join(p.name for p in d.files)}
        for d in found if d.problem and (d.source not in sources or d.as_of is None)
    ] + [  # still being written and never read before: listed, so nobody wonders where it went
        {"source": d.source, "as_of": d.as_of, "folder": str(d.folder), "status": REJECTED, "reason": d.pending,
         "rows_delivered": 0, "rows_staged": 0, "rows_quarantined": 0, "files": ", ".join(p.name for p in d.files)}
        for d in found if d.pending and (d.source, d.as_of) not in logged_keys
    ]
    extra = pl.DataFrame([{k: r.get(k) for k in DELIVERIES_SCHEMA} for r in unclaimed], schema=DELIVERIES_SCHEMA)
    return pl.concat([logged, extra]).sort("source", "as_of", "folder", nulls_last=True)
