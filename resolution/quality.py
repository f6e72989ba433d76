"""`linkage_quality`: what a run's linkage looks like, with no truth needed.

One long table (``metric``, ``key``, ``value``) so that new measures need no schema
change: link rate per source (a source whose rate drops between runs has changed its
format), cluster sizes (giant clusters are over-merging), the share of links made
without an agreeing ID (the linkage doing real work, and the links most worth
sampling for review), and the weight histogram (a healthy model is bimodal).
"""

from __future__ import annotations

import duckdb
import polars as pl

SCHEMA = {"metric": pl.String(), "key": pl.String(), "value": pl.Float64()}


def linkage_quality(con: duckdb.DuckDBPyConnection, links: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Needs ``hh_input`` and ``hh_person`` (unique_id, person_key) on ``con``."""
    parts = [con.sql("""
        WITH sizes AS (SELECT person_key, count(*) AS n FROM hh_person GROUP BY 1)
        SELECT 'link_rate' AS metric, i.source_dataset AS key, avg((s.n > 1)::INT)::DOUBLE AS value
        FROM hh_input i JOIN hh_person p USING (unique_id) JOIN sizes s USING (person_key)
        GROUP BY 2
        UNION ALL
        SELECT 'cluster_size', CASE WHEN n >= 10 THEN '10+' ELSE lpad(n::VARCHAR, 2, '0') END, count(*)::DOUBLE
        FROM sizes GROUP BY 2
        UNION ALL
        SELECT 'records', NULL, count(*)::DOUBLE FROM hh_input
        UNION ALL
        SELECT 'persons', NULL, count(DISTINCT person_key)::DOUBLE FROM hh_person""").pl()]
    linked = links.filter(pl.col("linked"))
    if linked.height:
        no_id = linked.select((pl.col("gamma_id").fill_null(-1) != 4).mean()).item()
        parts.append(pl.DataFrame({"metric": ["share_links_without_id_match", "links"], "key": [None, None],
                                   "value": [float(no_id), float(linked.height)]}, schema=SCHEMA))
    scored = links.filter(pl.col("match_weight").is_not_null())
    if scored.height:
        hist = (scored.with_columns((pl.col("match_weight") // 2 * 2).cast(pl.Int64).alias("bin"))
                .group_by("bin").len().sort("bin")
                .select(pl.lit("weight_histogram").alias("metric"),
                        pl.format("[{}, {})", pl.col("bin"), pl.col("bin") + 2).alias("key"),
                        pl.col("len").cast(pl.Float64).alias("value")))
        parts.append(hist)
    parts.append(pl.DataFrame({"metric": ["link_threshold"], "key": [None], "value": [threshold]}, schema=SCHEMA))
    return pl.concat([p.cast(SCHEMA) for p in parts]).sort("metric", "key", nulls_last=True)
