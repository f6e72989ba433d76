"""The one resource every asset uses: where the landing zone and the warehouse are.

Assets never write the published warehouse file: `connect()` opens the private working
database beside it (`ingest.publish.work_path`) and wraps the asset's writes in one
transaction, so an asset killed half-way leaves the working database at its previous
committed state. Only the `publish` asset replaces the published file, whole.
"""


import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from ingest import db
from ingest.publish import ensure_work
from ingest.testhook import pause_point
from privacy.analyst import analyst_path
from privacy.pseudonyms import DEMO_KEY

progress_log = logging.getLogger("hhlink.progress")


def _current_step() -> str:
    """The running op's name (e.g. `raw__health`, `persons`), for the test pause hook."""
    try:
        return dg.OpExecutionContext.get().op_def.name
    except Exception:  # outside a Dagster step (direct calls in tests)
        return ""


class HhlinkResource(dg.ConfigurableResource):
    """Paths and the run's reference date; set from the environment in pipelines.definitions."""

    landing: str
    warehouse: str  # the published file; readers open it read-only, the run only replaces it
    reports: str = ""
    as_of: str = ""  # reference date for freshness, YYYY-MM-DD; empty means today
    analyst: str = ""  # the analyst database (no personal data); empty means `<warehouse stem>.analyst.duckdb`
    # Secret for pseudonyms; set as dg.EnvVar("HHLINK_PSEUDONYM_KEY") (pipelines.definitions) so that Dagster
    # never stores or shows its value. The default is public, for demo data only (the publish step warns).
    pseudonym_key: str = DEMO_KEY

    @property
    def landing_path(self) -> Path:
        return Path(self.landing)

    @property
    def reports_path(self) -> Path:
        return Path(self.reports) if self.reports else Path(self.warehouse).parent / "reports"

    @property
    def analyst_path(self) -> Path:
        return analyst_path(self.warehouse, self.analyst)

    @property
    def reference_date(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else date.today()

    @property
    def database(self) -> Path:
        """The working database the assets read and write (created, or seeded from the published file)."""
        return ensure_work(self.warehouse)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The working database, the caller's writes committed together on a clean exit, rolled back otherwise."""
        with db.connect(self.database) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                db.ensure_schemas(con)
                yield con
                pause_point(_current_step())
            except BaseException:
                with suppress(duckdb.Error):  # the transaction may already be aborted by the error
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


def reporter(context: dg.AssetExecutionContext):
    """A progress callback that speaks both to the Dagster run log and to the CLI."""
    def say(msg: str) -> None:
        context.log.info(msg)
        progress_log.info(msg)
    return say
