"""Expectation suites (real GX on real DuckDB files) and blocking asset checks (real `materialize()`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from ingest import db
from ingest.publish import work_path
from pipelines.definitions import resource_from_env
from pipelines.runner import materialize_pipeline
from quality.expectations import Expect, Suite, validate
from tests.conftest import AS_OF, HEALTH_HEADER, HEALTH_ROWS, write_csv
from tests.test_quality import QUIET, pipeline_assets


def test_expectations_fail_on_repeated_keys_and_bad_values(tmp_path: Path) -> None:
    with db.connect(tmp_path / "w.duckdb") as con:
        db.replace(con, "t", pl.DataFrame({"record_id": ["a", "a", "b"], "status": ["在保", "停保", "??"]}))
        suite = Suite("t", "t", [
            Expect("ExpectColumnValuesToBeUnique", {"column": "record_id"}, blocking=True),
            Expect("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": ["在保", "停保"]}),
            Expect("ExpectTableRowCountToBeBetween", {"min_value": 1}, blocking=True),
        ])
        rows, doc = validate(con, suite)
    got = {r["expectation"]: r["success"] for r in rows.iter_rows(named=True)}
    assert got == {"expect_column_values_to_be_unique": False, "expect_column_values_to_be_in_set": False,
                   "expect_table_row_count_to_be_between": True}
    assert doc["success"] is False


def test_failing_blocking_check_stops_downstream(tmp_path: Path) -> None:
    """A health delivery whose every record key is blank stages no rows: linking must not run on it."""
    landing = tmp_path / "landing"
    rows = [["", *r[1:]] for r in HEALTH_ROWS]
    write_csv(landing / "health" / AS_OF.isoformat() / "参保人员_20261031.csv", HEALTH_HEADER, rows)
    wh = tmp_path / "w.duckdb"
    res = resource_from_env(landing=str(landing), warehouse=str(wh), as_of=AS_OF.isoformat())
    result = materialize_pipeline(pipeline_assets(), res, dg.DagsterInstance.ephemeral(), run_config=QUIET)
    assert not result.success
    health = [e for e in result.get_asset_check_evaluations() if e.asset_key == dg.AssetKey(["staged", "health"])]
    assert len(health) == 1 and not health[0].passed
    assert health[0].severity == dg.AssetCheckSeverity.ERROR
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "staged/health" in done
    assert not done & {"person_xref", "household_member", "findings", "report"}
    assert not wh.exists()  # a failed run publishes nothing; what it did is in the working database
    with duckdb.connect(str(work_path(wh)), read_only=True) as con:
        assert not db.table_exists(con, "person_xref")
        assert con.sql("SELECT count(*) FROM quarantine.rows").fetchall()[0][0] == len(HEALTH_ROWS)
