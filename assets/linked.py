"""Linked layer: persons and households over the current snapshot of every source."""

from __future__ import annotations

import dagster as dg

from assets.resources import HhlinkResource
from ingest import db
from ingest.sources import SourceConfig
from resolution.singletons import write_singletons


def linked_assets(sources: dict[str, SourceConfig]) -> list[dg.AssetsDefinition]:
    staged_keys = [dg.AssetKey(["staged", s]) for s in sources]

    @dg.multi_asset(
        group_name="linked", deps=staged_keys,
        specs=[
            dg.AssetSpec("person_xref", kinds={"duckdb"},
                         description="One row per record of each source's newest accepted delivery, with its person."),
            dg.AssetSpec("household_member", kinds={"duckdb"},
                         description="One row per person: the household they belong to and the rule that placed them."),
        ],
    )
    def persons(hhlink: HhlinkResource):
        with hhlink.connect() as con:
            views = [f"staged.current_{s}" for s in sources if db.table_exists(con, f"staged.current_{s}")]
            write_singletons(con, views)
            n_records = db.frame(con, "SELECT count(*) AS n FROM person_xref").item()
            n_households = db.frame(con, "SELECT count(DISTINCT household_id) AS n FROM household_member").item()
        yield dg.MaterializeResult(asset_key="person_xref", metadata={"dagster/row_count": n_records})
        yield dg.MaterializeResult(asset_key="household_member", metadata={"households": n_households})

    return [persons]
