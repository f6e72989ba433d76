"""Raw and staged assets, two per configured source, built from the source configs."""


import dagster as dg

from assets.resources import HhlinkResource, reporter
from ingest import db
from ingest.deliveries import ingest_raw, raw_table, stage_source, staged_table
from ingest.sources import SourceConfig


def _summary(outcomes) -> dict:
    by = {}
    for o in outcomes:
        by[o.status] = by.get(o.status, 0) + 1
    return {f"deliveries_{k}": v for k, v in sorted(by.items())}


def source_assets(config: SourceConfig) -> list[dg.AssetsDefinition]:
    src = config.source

    @dg.asset(
        key=["raw", src], group_name="raw", kinds={"duckdb"},
        description=f"{config.department} {config.title}: every delivery as delivered, every column kept as text.",
        tags={"source": src},
    )
    def raw(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        with hhlink.connect() as con:
            outcomes = ingest_raw(con, hhlink.landing_path, config, reporter(context))
            rows = db.frame(con, f"SELECT count(*) AS n FROM {raw_table(src)}").item() \
                if db.table_exists(con, raw_table(src)) else 0
        rejected = [o.line() for o in outcomes if o.status == "rejected"]
        return dg.MaterializeResult(metadata={
            "table": raw_table(src), "dagster/row_count": rows, **_summary(outcomes),
            "rejected": dg.MetadataValue.md("\n".join(f"- {r}" for r in rejected) or "none"),
        })

    @dg.asset(
        key=["staged", src], group_name="staged", kinds={"duckdb", "polars"}, deps=[raw.key],
        description=f"{config.department} {config.title}: typed, normalised rows of every accepted delivery; "
                    "rows without a usable key are quarantined with a reason.",
        tags={"source": src},
    )
    def staged(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        with hhlink.connect() as con:
            outcomes = stage_source(con, config, reporter(context))
            counts = con.execute(
                "SELECT coalesce(sum(rows_delivered), 0), coalesce(sum(rows_staged), 0), "
                "coalesce(sum(rows_quarantined), 0) FROM meta.delivery_log "
                "WHERE source = ? AND status = 'accepted'", [src]).fetchall()[0]
        return dg.MaterializeResult(metadata={
            "table": staged_table(src), "current_view": f"staged.current_{src}",
            "rows_delivered": int(counts[0]), "rows_staged": int(counts[1]), "rows_quarantined": int(counts[2]),
            **_summary(outcomes),
        })

    return [raw, staged]
