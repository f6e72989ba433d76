"""The whole graph materialised in-process on a real DuckDB file over generated deliveries."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ingest import db
from pipelines.definitions import all_assets, resource_from_env
from tests.conftest import AS_OF


def _materialize(landing: Path, warehouse: Path) -> dg.ExecuteInProcessResult:
    resource = resource_from_env(landing=str(landing), warehouse=str(warehouse), as_of=AS_OF.isoformat())
    return dg.materialize(all_assets(), resources={"hhlink": resource}, instance=dg.DagsterInstance.ephemeral())


def _tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    with db.connect(warehouse, read_only=True) as con:
        return {t: db.frame(con, f"SELECT * FROM {t} ORDER BY ALL")
                for t in ("deliveries", "source_freshness", "person_xref", "household_member", "findings")}


@pytest.fixture(scope="module")
def run_once(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("wh") / "hh.duckdb"
    assert _materialize(generated / "landing", warehouse).success
    return warehouse


def test_every_delivery_is_accounted_for(run_once: Path, generated: Path) -> None:
    t = _tables(run_once)["deliveries"]
    folders = {(p.parent.name, p.name) for p in (generated / "landing").glob("*/*") if p.is_dir()}
    assert {(r["source"], Path(r["folder"]).name) for r in t.iter_rows(named=True)} == folders
    accepted = t.filter(pl.col("status") == "accepted")
    assert accepted.height == t.height, t.filter(pl.col("status") != "accepted")
    assert (accepted["rows_delivered"] == accepted["rows_staged"] + accepted["rows_quarantined"]).all()
    with db.connect(run_once, read_only=True) as con:
        for r in accepted.iter_rows(named=True):
            staged = db.frame(con, f"SELECT count(*) AS n FROM staged.{r['source']} WHERE as_of = ?",
                              [r["as_of"]]).item()
            raw = db.frame(con, f"SELECT count(*) AS n FROM raw.{r['source']} WHERE _as_of = ?", [r["as_of"]]).item()
            assert staged == r["rows_staged"] and raw == r["rows_delivered"]


def test_contract_tables(run_once: Path) -> None:
    t = _tables(run_once)
    fresh = t["source_freshness"]
    assert set(fresh["source"]) == {"civil_affairs", "education", "health", "housing", "employment"}
    assert "stale" in fresh["status"].to_list()  # the generator makes one source months old
    with db.connect(run_once, read_only=True) as con:
        current = db.frame(con, " UNION ALL ".join(
            f"SELECT '{s}' AS source, record_id FROM staged.current_{s}" for s in fresh["source"]))
    xref = t["person_xref"]
    assert xref.height == current.height
    assert xref.select("source", "record_id").is_duplicated().sum() == 0
    members = t["household_member"]
    assert set(members["person_id"]) == set(xref["person_id"])
    assert members["person_id"].is_duplicated().sum() == 0
    assert t["findings"].columns[:6] == ["finding_type", "person_id", "household_id", "source", "record_id", "detail"]


def test_rerun_changes_nothing(run_once: Path, generated: Path, tmp_path: Path) -> None:
    before = _tables(run_once)
    copy = tmp_path / "again.duckdb"
    shutil.copy(run_once, copy)
    assert _materialize(generated / "landing", copy).success
    after = _tables(copy)
    for name, frame in before.items():
        assert frame.equals(after[name]), name
