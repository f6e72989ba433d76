"""The contract's `deliveries` and `source_freshness` tables."""

from pathlib import Path

import dagster as dg
import polars as pl

from assets.operability import guarded
from assets.resources import HhlinkResource
from ingest import db
from ingest.deliveries import deliveries_table
from ingest.sources import SourceConfig
from quality.freshness import source_freshness


def accounting_assets(sources: dict[str, SourceConfig]) -> list[dg.AssetsDefinition]:
    staged_keys = [dg.AssetKey(["staged", s]) for s in sources]

    @dg.asset(group_name="accounting", deps=staged_keys, kinds={"duckdb"},
              description="One row per delivery seen in the landing zone: accepted or rejected, and where every "
                          "delivered row went (delivered = staged + quarantined).")
    def deliveries(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        with guarded(context), hhlink.connect() as con:
            table = deliveries_table(con, hhlink.landing_path, sources)
            db.replace(con, "deliveries", table)
        acc = table.filter(pl.col("status") == "accepted")
        unbalanced = acc.filter(pl.col("rows_delivered") != pl.col("rows_staged") + pl.col("rows_quarantined"))
        rejected = [f"- {r['source']}/{r['as_of'] or Path(r['folder']).name}: {r['reason']}"
                    for r in table.filter(pl.col("status") != "accepted").iter_rows(named=True)]
        return dg.MaterializeResult(metadata={
            "rejected reasons": dg.MetadataValue.md("\n".join(rejected) or "none"),
            "dagster/row_count": table.height,
            "accepted": acc.height, "rejected": table.height - acc.height,
            "rows_delivered": int(acc["rows_delivered"].sum()), "rows_staged": int(acc["rows_staged"].sum()),
            "rows_quarantined": int(acc["rows_quarantined"].sum()), "unbalanced_deliveries": unbalanced.height,
        })

    @dg.asset(key="source_freshness", group_name="accounting", deps=[deliveries], kinds={"duckdb"},
              description="One row per configured source: newest accepted as-of date, its age against the run's "
                          "reference date, and fresh / late / stale / missing by the source's cadence.")
    def freshness(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        with guarded(context), hhlink.connect() as con:
            table = source_freshness(db.frame(con, "SELECT * FROM deliveries"), sources, hhlink.reference_date)
            db.replace(con, "source_freshness", table)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": table.height, "reference_date": hhlink.reference_date.isoformat(),
            **{f"status/{r['source']}": r["status"] for r in table.iter_rows(named=True)},
            "freshness report": dg.MetadataValue.path(str(hhlink.reports_path / "site" / "index.html")),
        })

    return [deliveries, freshness]
