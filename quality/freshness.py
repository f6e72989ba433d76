"""Source freshness, judged from the deliveries' as-of dates (CONTRACT §5).

Dagster's own freshness policies measure when an asset was materialised; auditors
need how old the delivered data is, so this is computed from the deliveries table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from ingest.sources import SourceConfig

FRESHNESS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "department": pl.String(), "latest_as_of": pl.Date(),
    "expected_every_days": pl.Int64(), "age_days": pl.Int64(), "status": pl.String(),
    "reference_date": pl.Date(), "deliveries_accepted": pl.Int64(), "deliveries_rejected": pl.Int64(),
}


def source_freshness(deliveries: pl.DataFrame, sources: Mapping[str, SourceConfig], reference: date) -> pl.DataFrame:
    """One row per configured source: `fresh` ≤ cadence < `late` ≤ 2× cadence < `stale`; `missing` if none."""
    cfg = pl.DataFrame(
        [{"source": c.source, "department": c.department, "expected_every_days": c.expected_every_days}
         for c in sources.values()],
        schema={"source": pl.String(), "department": pl.String(), "expected_every_days": pl.Int64()},
    )
    per_source = deliveries.group_by("source").agg(
        pl.col("as_of").filter(pl.col("status") == "accepted").max().alias("latest_as_of"),
        (pl.col("status") == "accepted").sum().cast(pl.Int64).alias("deliveries_accepted"),
        (pl.col("status") == "rejected").sum().cast(pl.Int64).alias("deliveries_rejected"),
    )
    age = (pl.lit(reference) - pl.col("latest_as_of")).dt.total_days()
    every = pl.col("expected_every_days")
    return (
        cfg.join(per_source, on="source", how="left")
        .with_columns(age.cast(pl.Int64).alias("age_days"), pl.lit(reference).alias("reference_date"))
        .with_columns(
            pl.when(pl.col("latest_as_of").is_null()).then(pl.lit("missing"))
            .when(pl.col("age_days") <= every).then(pl.lit("fresh"))
            .when(pl.col("age_days") <= 2 * every).then(pl.lit("late"))
            .otherwise(pl.lit("stale")).alias("status"),
            pl.col("deliveries_accepted").fill_null(0), pl.col("deliveries_rejected").fill_null(0),
        )
        .select(list(FRESHNESS_SCHEMA))
        .cast(FRESHNESS_SCHEMA)
        .sort("source")
    )
