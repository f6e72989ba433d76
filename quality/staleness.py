"""Record-level staleness, beyond `source_freshness` (which judges whole deliveries).

A delivery can be new while its records are old: a department re-exports the same
rows every month without re-checking them (更新滞后). Here the age of each record's
own update date (the config's `updated_field`: 更新日期, for civil affairs 核查日期)
is measured against the source's cadence, per source and per household facet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from ingest.sources import SourceConfig
from quality.frames import ENGINE

STALENESS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "updated_field": pl.String(), "expected_every_days": pl.Int64(), "records": pl.Int64(),
    "records_dated": pl.Int64(), "median_age_days": pl.Float64(), "p90_age_days": pl.Float64(),
    "max_age_days": pl.Int64(), "older_than_cadence": pl.Int64(), "share_older_than_cadence": pl.Float64(),
}


def _age(reference: date) -> pl.Expr:
    return (pl.lit(reference, dtype=pl.Date) - pl.col("updated")).dt.total_days()


def _cadence(sources: Mapping[str, SourceConfig]) -> pl.DataFrame:
    return pl.DataFrame([{"source": c.source, "updated_field": c.updated_field,
                          "expected_every_days": c.expected_every_days} for c in sources.values()],
                        schema={"source": pl.String(), "updated_field": pl.String(),
                                "expected_every_days": pl.Int64()})


def record_staleness(records: pl.DataFrame, sources: Mapping[str, SourceConfig], reference: date) -> pl.DataFrame:
    """Per source: how old the records' own update dates are, and how many are older than the cadence."""
    cad = _cadence(sources)
    aged = records.lazy().join(cad.lazy(), on="source").with_columns(_age(reference).alias("age"))
    stats = aged.group_by("source").agg(
        pl.len().cast(pl.Int64).alias("records"), pl.col("age").count().cast(pl.Int64).alias("records_dated"),
        pl.col("age").median().cast(pl.Float64).alias("median_age_days"),
        pl.col("age").quantile(0.9).cast(pl.Float64).alias("p90_age_days"),
        pl.col("age").max().cast(pl.Int64).alias("max_age_days"),
        (pl.col("age") > pl.col("expected_every_days")).sum().cast(pl.Int64).alias("older_than_cadence"),
    )
    return (cad.lazy().join(stats, on="source", how="left")
            .with_columns((pl.col("older_than_cadence") / pl.col("records_dated")).alias("share_older_than_cadence"))
            .select(list(STALENESS_SCHEMA)).cast(STALENESS_SCHEMA).sort("source").collect(engine=ENGINE))


def age_histogram(records: pl.DataFrame, reference: date, bin_days: int = 30) -> pl.DataFrame:
    """Records per source by age of their update date, in bins of `bin_days` (for the freshness plots)."""
    return (records.lazy().filter(pl.col("updated").is_not_null())
            .with_columns((_age(reference) // bin_days * bin_days).cast(pl.Int64).alias("age_from_days"))
            .group_by("source", "age_from_days").len().rename({"len": "records"})
            .with_columns(pl.col("records").cast(pl.Int64)).sort("source", "age_from_days").collect(engine=ENGINE))


def household_facet_staleness(records: pl.DataFrame, sources: Mapping[str, SourceConfig],
                              reference: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per household, which facets (sources with an update date) are older than their cadence.

    A facet's age is that of the household's most recently updated record of that
    source. Returns (one row per household × facet present, one row per facet with
    the share of households whose facet is stale).
    """
    cad = _cadence(sources).lazy().filter(pl.col("updated_field").is_not_null())
    facets = (records.lazy().filter(pl.col("household_id").is_not_null()).join(cad, on="source")
              .group_by("household_id", "source")
              .agg(pl.col("updated").max().alias("updated"), pl.col("expected_every_days").first())
              .with_columns(_age(reference).alias("age_days"))
              .with_columns((pl.col("age_days") > pl.col("expected_every_days")).alias("stale"))
              .sort("household_id", "source").collect(engine=ENGINE))
    summary = (facets.group_by("source").agg(
        pl.len().cast(pl.Int64).alias("households"), pl.col("stale").sum().cast(pl.Int64).alias("stale_households"))
        .with_columns((pl.col("stale_households") / pl.col("households")).alias("share_stale")).sort("source"))
    any_stale = facets.group_by("household_id").agg(pl.col("stale").any())
    total = pl.DataFrame({"source": ["(any facet)"], "households": [any_stale.height],
                          "stale_households": [int(any_stale["stale"].sum() or 0)]},
                         schema={"source": pl.String(), "households": pl.Int64(), "stale_households": pl.Int64()})
    total = total.with_columns((pl.col("stale_households") / pl.col("households")).alias("share_stale"))
    return facets, pl.concat([summary, total])
