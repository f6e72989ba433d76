"""Ingesting a source's deliveries: landing → raw → staged, with the accounting kept.

`ingest_raw` and `stage_source` are the cores behind each source's two Dagster
assets. Both skip deliveries whose content they have already processed (by a
fingerprint of the files), so re-running over unchanged deliveries changes nothing.
The `meta.delivery_log` table is written only here; the contract's `deliveries`
table is built from it by `deliveries_table`.
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
from ingest.sources import SourceConfig
from ingest.stage import stage

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
        if d.pending:  # still being written: not read, not logged; whatever was known of it stays
            outcomes.append(Outcome(d.source, d.as_of, PENDING, 0, d.pending))
            progress(outcomes[-1].line())
            continue
        before = snapshot(d)
        hashes = hash_files(d)
        fp = fingerprint_of(hashes)
        prev = known.get(d.as_of)
        if prev and prev["fingerprint"] == fp:
            outcomes.append(Outcome(d.source, d.as_of, "unchanged", prev["rows_delivered"] or 0))
            continue
        progress(f"{d.label}: reading {len(d.files)} file(s)")
        row = {"source": d.source, "as_of": d.as_of, "folder": str(d.folder), "fingerprint": fp,
               "files": ", ".join(p.name for p in d.files), "rows_delivered": 0}
        try:
            got = _load_raw(con, d, config, hashes, before)
        except _ChangedWhileReading as exc:  # nothing written: whatever was known of this delivery stays
            outcomes.append(Outcome(d.source, d.as_of, PENDING, 0, str(exc)))
            progress(outcomes[-1].line())
            continue
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
            outcomes.append(Outcome(d.source, d.as_of, ACCEPTED, got.rows))
            progress(outcomes[-1].line())
            continue
        db.delete_where(con, raw_table(d.source), "_as_of = ?", [d.as_of])
        row.update(status=REJECTED, reason=reason, rows_staged=0, rows_quarantined=0)
        _write_log_row(con, row)
        outcomes.append(Outcome(d.source, d.as_of, REJECTED, 0, reason))
        progress(outcomes[-1].line())
    return outcomes


def stage_source(con: duckdb.DuckDBPyConnection, config: SourceConfig,
                 progress: Progress = log.info) -> list[Outcome]:
    """Normalise every accepted delivery not yet staged into `staged.<source>` and quarantine."""
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
    outcomes = []
    for row in accepted.iter_rows(named=True):
        if row["staged_fingerprint"] == row["fingerprint"]:
            outcomes.append(Outcome(src, row["as_of"], "unchanged", row["rows_staged"] or 0))
            continue
        progress(f"{src}/{row['as_of']}: normalising {row['rows_delivered']:,} rows")
        raw = db.frame(con, f"SELECT * EXCLUDE (_as_of) FROM {raw_table(src)} WHERE _as_of = ?", [row["as_of"]])
        result = stage(raw, config, row["as_of"])
        db.delete_where(con, table, "as_of = ?", [row["as_of"]])
        db.delete_where(con, "quarantine.rows", "source = ? AND as_of = ?", [src, row["as_of"]])
        db.append(con, table, result.staged)
        if result.quarantine.height:
            db.append(con, "quarantine.rows", result.quarantine)
        with_issues = int(result.staged.select(pl.col("issues").list.len().gt(0).sum()).item())
        row.update(rows_staged=result.staged.height, rows_quarantined=result.quarantine.height,
                   rows_with_issues=with_issues, staged_fingerprint=row["fingerprint"])
        _write_log_row(con, row)
        outcomes.append(Outcome(src, row["as_of"], "staged", result.staged.height,
                                f"{result.quarantine.height:,} quarantined, {with_issues:,} with issues"))
        progress(outcomes[-1].line())
    if db.table_exists(con, table):
        con.execute(f"CREATE OR REPLACE VIEW staged.current_{src} AS SELECT * FROM {table} "
                    f"WHERE as_of = (SELECT max(as_of) FROM {table})")
    return outcomes


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
