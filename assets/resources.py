"""The one resource every asset uses: where the landing zone and the warehouse are."""


import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from ingest import db

progress_log = logging.getLogger("hhlink.progress")


class HhlinkResource(dg.ConfigurableResource):
    """Paths and the run's reference date; set from the environment in pipelines.definitions."""

    landing: str
    warehouse: str
    reports: str = ""
    as_of: str = ""  # reference date for freshness, YYYY-MM-DD; empty means today

    @property
    def landing_path(self) -> Path:
        return Path(self.landing)

    @property
    def reports_path(self) -> Path:
        return Path(self.reports) if self.reports else Path(self.warehouse).parent / "reports"

    @property
    def reference_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else date.today()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with db.connect(self.warehouse) as con:
            db.ensure_schemas(con)
            yield con


def reporter(context: dg.AssetExecutionContext):
    """A progress callback that speaks both to the Dagster run log and to the CLI."""
    def say(msg: str) -> None:
        context.log.info(msg)
        progress_log.info(msg)
    return say
