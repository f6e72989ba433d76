"""The Dagster code location: every asset, built from the source configs.

Paths come from the environment with defaults that point at the demo
(`data/demo/`), so `dg dev` from the repo root shows a working graph at once.
"""

from __future__ import annotations

import os

import dagster as dg

from assets.accounting import accounting_assets
from assets.audit import audit_assets
from assets.ingestion import source_assets
from assets.linked import linked_assets
from assets.publish import publish_asset
from assets.resources import HhlinkResource
from ingest.sources import load_sources

DEFAULT_LANDING = "data/demo/landing"
DEFAULT_WAREHOUSE = "data/demo/warehouse.duckdb"


def all_assets() -> list[dg.AssetsDefinition | dg.AssetChecksDefinition]:
    sources = load_sources()
    out: list[dg.AssetsDefinition] = []
    for cfg in sources.values():
        out.extend(source_assets(cfg))
    out.extend(accounting_assets(sources))
    out.extend(linked_assets(sources))
    out.extend(audit_assets())
    upstream = [k for a in out if isinstance(a, dg.AssetsDefinition) for k in a.keys]
    out.append(publish_asset(upstream))  # last: replaces the published file only when all else succeeded
    return out


def resource_from_env(**overrides: str) -> HhlinkResource:
    values = {
        "landing": os.environ.get("HHLINK_LANDING", DEFAULT_LANDING),
        "warehouse": os.environ.get("HHLINK_WAREHOUSE", DEFAULT_WAREHOUSE),
        "reports": os.environ.get("HHLINK_REPORTS", ""),
        "as_of": os.environ.get("HHLINK_AS_OF", ""),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return HhlinkResource(**values)


def build_definitions() -> dg.Definitions:
    assets = all_assets()
    return dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(),
                                  description="Ingest every delivery, link, and rebuild the warehouse tables.")],
        resources={"hhlink": resource_from_env()},
    )


defs = build_definitions()
