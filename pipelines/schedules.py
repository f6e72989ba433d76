"""The nightly refresh: freshness, linkage, audit, report and publish, even when nothing arrived.

Sensors react to deliveries; staleness is the opposite, a delivery that does not
come. Freshness is judged against the run's reference date (today, unless
`HHLINK_AS_OF` pins it), so it has to be recomputed every day for a late source to be
reported late. Linkage skips itself when its inputs did not change, so the nightly run
costs the audit and the report, not a re-link.

`HHLINK_NIGHTLY_CRON` (default ``0 2 * * *``) and `HHLINK_TIMEZONE` (default
``Asia/Shanghai``) set when.
"""

import os
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

INGESTION_GROUPS = ("raw", "staged")


def refresh_job() -> "UnresolvedAssetJobDefinition":
    """Every asset downstream of the deliveries (a job cannot mix the sources' partitions)."""
    return dg.define_asset_job(
        "refresh_all", selection=dg.AssetSelection.all() - dg.AssetSelection.groups(*INGESTION_GROUPS),
        description="Accounting, freshness, linkage, audit, report and publish over each source's newest "
                    "accepted delivery (the deliveries themselves are ingested by the landing sensors).")


def nightly_refresh(job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_refresh", job=job, cron_schedule=os.environ.get("HHLINK_NIGHTLY_CRON", "0 2 * * *"),
        execution_timezone=os.environ.get("HHLINK_TIMEZONE", "Asia/Shanghai"),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Recomputes freshness against today (a source that stops delivering turns late, then "
                    "stale), the report and the published warehouse, whether or not anything arrived.")
