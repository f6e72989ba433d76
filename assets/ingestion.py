"""Raw and staged assets, two per configured source, partitioned by delivery.

Each source has its own dynamic partitions (`<source>_deliveries`), one per delivery
folder, keyed by its as-of date (`2026-10-31`). A partition is registered by the
source's landing-zone sensor (`pipelines.sensors`) or by `hhlink run`, then its raw
and staged partitions are materialised: one delivery read and normalised, nothing
else. Re-materialising an unchanged partition changes nothing (the delivery's files
are fingerprinted). Downstream assets depend on every partition and read each source's
newest accepted delivery (`staged.current_<source>`).

Metadata shown in the UI never holds personal data: counts, reasons (record keys
masked) and, for staged partitions, a profile of how full each column is.
"""

from datetime import date

import dagster as dg
import duckdb

from assets.operability import guarded, user_error
from assets.resources import HhlinkResource, reporter
from ingest import db
from ingest.deliveries import LOG, ingest_delivery, raw_table, stage_delivery, staged_table
from ingest.landing import change_token, discover
from ingest.sources import SourceConfig

#: Metadata key of the raw partition's change token: the sensors compare it with the folder to skip
#: deliveries already read (see `pipelines.sensors`).
TOKEN_KEY = "hhlink/files_token"


def partitions_name(source: str) -> str:
    return f"{source}_deliveries"


def delivery_partitions(source: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=partitions_name(source))


def _as_of(context: dg.AssetExecutionContext) -> date:
    key = context.partition_key
    try:
        return date.fromisoformat(key)
    except ValueError:
        raise user_error(f"partition '{key}' is not an as-of date (YYYY-MM-DD): delete it in the UI "
                         f"(Partitions tab) and let the sensor register the folder again") from None


def _log_row(con: duckdb.DuckDBPyConnection, source: str, as_of: date) -> dict:
    if not db.table_exists(con, LOG):
        return {}
    rows = db.frame(con, f"SELECT * FROM {LOG} WHERE source = ? AND as_of = ?", [source, as_of])
    return rows.row(0, named=True) if rows.height else {}


def _md_table(header: tuple[str, ...], rows: list[tuple]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines) if rows else "none")


def _staged_metadata(con: duckdb.DuckDBPyConnection, src: str, as_of: date) -> dict:
    """Issues by kind, quarantine reasons (keys masked) and a fill profile: what a delivery looks like,
    without a single value of it."""
    table = staged_table(src)
    out: dict = {}
    if not db.table_exists(con, table):
        return out
    issues = con.sql(f"SELECT i, count(*) AS n FROM (SELECT unnest(issues) AS i FROM {table} WHERE as_of = ?) "
                     "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 15", params=[as_of]).fetchall()
    out["issues"] = _md_table(("issue", "rows"), [(i, f"{n:,}") for i, n in issues])
    if db.table_exists(con, "quarantine.rows"):
        reasons = con.sql("SELECT regexp_replace(reason, '''[^'']*''', '''…''', 'g') AS r, count(*) "
                          "FROM quarantine.rows WHERE source = ? AND as_of = ? GROUP BY 1 ORDER BY 2 DESC, 1",
                          params=[src, as_of]).fetchall()
        out["quarantine reasons"] = _md_table(("reason", "rows"), [(r, f"{n:,}") for r, n in reasons])
    cols = [c for c in db.columns(con, table) if c not in ("source", "as_of", "issues", "file", "row_number")]
    if cols:
        sql = ", ".join(f"count({db.quote(c)})" for c in cols)
        got = con.sql(f"SELECT count(*), {sql} FROM {table} WHERE as_of = ?", params=[as_of]).fetchall()[0]
        n = got[0] or 0
        profile = [(c, f"{v:,}", f"{100 * v / n:.0f}%" if n else "-") for c, v in zip(cols, got[1:], strict=True)]
        out["preview (column fill, no values)"] = _md_table(("column", "filled", "share"), profile)
    return out


def source_assets(config: SourceConfig) -> list[dg.AssetsDefinition]:
    src = config.source
    parts = delivery_partitions(src)

    @dg.asset(
        key=["raw", src], group_name="raw", kinds={"duckdb"}, partitions_def=parts,
        description=f"{config.department} {config.title}: one delivery per partition (its as-of date), as "
                    "delivered, every column kept as text. Unchanged deliveries are not read again.",
        tags={"source": src},
    )
    def raw(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        as_of = _as_of(context)
        if not hhlink.landing_path.is_dir():
            raise user_error(f"landing folder '{hhlink.landing_path}' does not exist: set HHLINK_LANDING to the "
                             f"folder departments deliver into")
        with guarded(context), hhlink.connect() as con:
            outcome = ingest_delivery(con, hhlink.landing_path, config, as_of, reporter(context))
            entry = _log_row(con, src, as_of)
            rows = db.frame(con, f"SELECT count(*) AS n FROM {raw_table(src)} WHERE _as_of = ?", [as_of]).item() \
                if db.table_exists(con, raw_table(src)) else 0
        folder = [d for d in discover(hhlink.landing_path, [src])
                  if d.source == src and d.folder.name == context.partition_key]
        meta = {
            "status": outcome.status, "dagster/row_count": int(rows), "table": raw_table(src),
            "reason": outcome.reason or entry.get("reason") or "",
            "format": entry.get("format") or "", "encodings": entry.get("encodings") or "",
            "manifest": entry.get("manifest") or "", "files": entry.get("files") or "",
            "extra columns": entry.get("extra_columns") or "none",
            "fingerprint": (entry.get("fingerprint") or "")[:16],
            TOKEN_KEY: change_token(folder[0]) if folder else "",
        }
        return dg.MaterializeResult(metadata=meta)

    @dg.asset(
        key=["staged", src], group_name="staged", kinds={"duckdb", "polars"}, deps=[raw.key], partitions_def=parts,
        description=f"{config.department} {config.title}: the delivery's rows typed and normalised; rows without "
                    f"a usable key are quarantined with a reason. `staged.current_{src}` is the newest accepted "
                    "delivery.",
        tags={"source": src},
    )
    def staged(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        as_of = _as_of(context)
        with guarded(context), hhlink.connect() as con:
            outcome = stage_delivery(con, config, as_of, reporter(context))
            entry = _log_row(con, src, as_of)
            current = db.frame(con, f"SELECT max(as_of) AS d FROM {staged_table(src)}").item() \
                if db.table_exists(con, staged_table(src)) else None
            extra = _staged_metadata(con, src, as_of)
        delivered, staged_rows, quarantined = (int(entry.get(k) or 0) for k in
                                               ("rows_delivered", "rows_staged", "rows_quarantined"))
        return dg.MaterializeResult(metadata={
            "status": outcome.status, "reason": outcome.reason or "",
            "dagster/row_count": staged_rows, "rows_delivered": delivered, "rows_staged": staged_rows,
            "rows_quarantined": quarantined, "rows_with_issues": int(entry.get("rows_with_issues") or 0),
            "balanced (delivered = staged + quarantined)": entry.get("status") != "accepted"
            or delivered == staged_rows + quarantined,
            "table": staged_table(src), "current_view": f"staged.current_{src}",
            "current delivery": current.isoformat() if current else "none", **extra,
        })

    return [raw, staged]
