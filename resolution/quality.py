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

from ingest import db

SCHEMA = {"metric": pl.String(), "key": pl.String(), "value": pl.Float64()}


def linkage_quality(con: duckdb.DuckDBPyConnection, records: str, links: str, threshold: float) -> pl.DataFrame:
    """The metrics, from two relations on ``con``.

    ``records``: one row per linked record, with ``source_dataset`` and ``person_key``;
    ``links``: the scored pairs, with ``linked``, ``gamma_id`` and ``match_weight``. In SQL
    on the connection that holds them: an incremental run computes this over the whole
    warehouse (2.15M records and 1.5M pairs at 1M persons), where pulling them into frames
    cost more than the aggregates.
    """
    sources = [r[0] for r in con.sql(f"SELECT DISTINCT source_dataset FROM {records} ORDER BY 1").fetchall()]
    # One pass over the records: each person's size and records per source (a window over the records and a
    # second grouping cost twice as much at 1M persons).
    per_source = [f"count_if(source_dataset = {db.literal(s)}) AS s{i}" for i, s in enumerate(sources)]
    link_rate = [f"SELECT 'link_rate', {db.literal(s)}, sum(CASE WHEN n > 1 THEN s{i} ELSE 0 END) / sum(s{i}) FROM p"
                 for i, s in enumerate(sources)]
    frame = con.sql(f"""
        WITH p AS MATERIALIZED (SELECT count(*) AS n{''.join(', ' + c for c in per_source)}
                                FROM {records} GROUP BY person_key),
        linked AS (SELECT gamma_id FROM {links} WHERE linked)
        SELECT 'cluster_size' AS metric, CASE WHEN n >= 10 THEN '10+' ELSE lpad(n::VARCHAR, 2, '0') END AS key,
               count(*)::DOUBLE AS value
        FROM p GROUP BY 2
        {''.join(' UNION ALL ' + q for q in link_rate)}
        UNION ALL SELECT 'records', NULL, coalesce(sum(n), 0)::DOUBLE FROM p
        UNION ALL SELECT 'persons', NULL, count(*)::DOUBLE FROM p
        UNION ALL  -- the links made without an agreeing ID: the linkage doing real work
        SELECT 'share_links_without_id_match', NULL, avg((coalesce(gamma_id, -1) <> 4)::DOUBLE) FROM linked
        HAVING count(*) > 0
        UNION ALL SELECT 'links', NULL, count(*)::DOUBLE FROM linked HAVING count(*) > 0
        UNION ALL
        SELECT 'weight_histogram', format('[{{}}, {{}})', bin, bin + 2), count(*)::DOUBLE
        FROM (SELECT CAST(floor(match_weight / 2) * 2 AS BIGINT) AS bin FROM {links} WHERE match_weight IS NOT NULL)
        GROUP BY bin""").pl()
    threshold_row = pl.DataFrame({"metric": ["link_threshold"], "key": [None], "value": [threshold]}, schema=SCHEMA)
    return pl.concat([frame.cast(SCHEMA), threshold_row]).sort("metric", "key", nulls_last=True)
