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
from assets.marts import mart_assets
from assets.publish import publish_asset
from assets.resources import HhlinkResource
from ingest.sources import load_sources
from privacy.pseudonyms import DEMO_KEY, KEY_ENV

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
    out.extend(mart_assets(sources))
    upstream = [k for a in out if isinstance(a, dg.AssetsDefinition) for k in a.keys]
    out.append(publish_asset(upstream))  # last: replaces the published file only when all else succeeded
    return out


def resource_from_env(**overrides: str) -> HhlinkResource:
    values = {
        "landing": os.environ.get("HHLINK_LANDING", DEFAULT_LANDING),
        "warehouse": os.environ.get("HHLINK_WAREHOUSE", DEFAULT_WAREHOUSE),
        "reports": os.environ.get("HHLINK_REPORTS", ""),
        "as_of": os.environ.get("HHLINK_AS_OF", ""),
        "analyst": os.environ.get("HHLINK_ANALYST", ""),
        # EnvVar: Dagster reads the secret at run time and never shows or stores its value.
        "pseudonym_key": dg.EnvVar(KEY_ENV) if os.environ.get(KEY_ENV) else DEMO_KEY,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return HhlinkResource(**values)


def build_definitions() -> dg.Definitions:
    """Assets with automation, the landing-zone sensors, the nightly schedule; runs execute in-process."""
    from pipelines.schedules import nightly_refresh, refresh_job
    from pipelines.sensors import automate, automation_sensor, landing_sensors

    sources = load_sources()
    assets = automate(all_assets())
    refresh = refresh_job()
    return dg.Definitions(
        assets=assets,
        jobs=[refresh],
        sensors=[*landing_sensors(sources), automation_sensor()],
        schedules=[nightly_refresh(refresh)],
        resources={"hhlink": resource_from_env()},
        executor=dg.in_process_executor,  # STACK-NOTES: the multiprocess executor re-imports per step
    )


defs = build_definitions()
