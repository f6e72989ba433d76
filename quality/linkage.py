"""Linkage quality for auditors, from the resolution tables (read only, no truth needed).

`linkage_quality` (written by resolution) holds the measures of the current run;
`linked.resolution_runs` keeps one row per run, which gives the change since the
last run; `review_queue` is the pairs waiting for a clerk.
"""

from __future__ import annotations

import duckdb
import polars as pl

from ingest import db

SUMMARY_SCHEMA = {"measure": pl.String(), "value": pl.Float64(), "previous": pl.Float64(), "change": pl.Float64()}


def _metric(lq: pl.DataFrame, name: str) -> float | None:
    hit = lq.filter((pl.col("metric") == name) & pl.col("key").is_null())
    return float(hit["value"][0]) if hit.height else None


def linkage_summary(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Headline measures with the previous run's value where resolution keeps one."""
    lq = (db.frame(con, "SELECT * FROM linkage_quality") if db.table_exists(con, "linkage_quality")
          else pl.DataFrame(schema={"metric": pl.String(), "key": pl.String(), "value": pl.Float64()}))
    runs = (db.frame(con, "SELECT * FROM linked.resolution_runs ORDER BY run")
            if db.table_exists(con, "linked.resolution_runs") else pl.DataFrame())
    review = db.frame(con, "SELECT count(*) AS n FROM review_queue").item() \
        if db.table_exists(con, "review_queue") else None
    records, persons = _metric(lq, "records"), _metric(lq, "persons")
    sizes = lq.filter(pl.col("metric") == "cluster_size")
    multi = sizes.filter(pl.col("key") != "01")["value"].sum() if sizes.height else None
    rows: dict[str, tuple[float | None, float | None]] = {
        "records": (records, None), "persons": (persons, None),
        "records per person": (records / persons if records and persons else None, None),
        "share of persons with more than one record": (multi / persons if multi is not None and persons else None,
                                                       None),
        "share of links without an ID match": (_metric(lq, "share_links_without_id_match"), None),
        "links": (_metric(lq, "links"), None), "review queue (pairs)": (review, None),
    }
    if runs.height:
        last = runs.row(-1, named=True)
        prev = runs.row(-2, named=True) if runs.height > 1 else {}
        for col in ("households", "pairs_scored"):
            rows[col.replace("_", " ")] = (last.get(col), prev.get(col))
        rows["persons"] = (persons if persons is not None else last.get("persons"), prev.get("persons"))
        rows["records"] = (records if records is not None else last.get("records"), prev.get("records"))
        rows["resolution runs"] = (float(runs.height), None)
    out = pl.DataFrame([{"measure": k, "value": v, "previous": p} for k, (v, p) in rows.items()],
                       schema={"measure": pl.String(), "value": pl.Float64(), "previous": pl.Float64()})
    return out.with_columns((pl.col("value") - pl.col("previous")).alias("change")).cast(SUMMARY_SCHEMA)


def linkage_detail(con: duckdb.DuckDBPyConnection, metric: str) -> pl.DataFrame:
    """One metric of `linkage_quality` by key (link_rate, cluster_size, weight_histogram)."""
    if not db.table_exists(con, "linkage_quality"):
        return pl.DataFrame(schema={"key": pl.String(), "value": pl.Float64()})
    return db.frame(con, "SELECT key, value FROM linkage_quality WHERE metric = ? ORDER BY key", [metric])
