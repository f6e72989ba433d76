"""The whole graph materialised in-process on a real DuckDB file over generated deliveries."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ingest import db
from ingest.checksum import differences, warehouse_checksums
from pipelines.definitions import all_assets, resource_from_env
from pipelines.runner import PipelineResult, materialize_pipeline
from tests.conftest import AS_OF


def _materialize(landing: Path, warehouse: Path) -> PipelineResult:
    resource = resource_from_env(landing=str(landing), warehouse=str(warehouse), as_of=AS_OF.isoformat())
    return materialize_pipeline(all_assets(), resource, dg.DagsterInstance.ephemeral())


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
    # Not only the contract tables: no row of any table changes (linkage is skipped, not redone).
    assert differences(warehouse_checksums(run_once), warehouse_checksums(copy)) == []


def test_bad_deliveries_are_rejected_and_the_last_good_one_stays_current(generated: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(generated / "landing", landing)
    good = sorted((landing / "health").iterdir())[-1]
    newer = landing / "health" / "2026-11-15"  # a newer health delivery whose manifest disagrees
    shutil.copytree(good, newer)
    first = sorted(p for p in newer.iterdir() if p.suffix != ".json")[0]
    (newer / "MANIFEST.json").write_text(
        f'{{"source": "health", "as_of": "2026-11-15", "files": [{{"name": "{first.name}", "rows": 1}}]}}',
        encoding="utf-8")
    (landing / "tax_bureau" / "2026-10-31").mkdir(parents=True)
    (landing / "tax_bureau" / "2026-10-31" / "x.csv").write_text("a\n1\n", encoding="utf-8")
    (landing / "education" / "latest").mkdir()
    warehouse = tmp_path / "w.duckdb"
    assert _materialize(landing, warehouse).success
    t = _tables(warehouse)["deliveries"]
    reasons = {(r["source"], Path(r["folder"]).name): r["reason"] for r in t.filter(pl.col("status") == "rejected")
               .iter_rows(named=True)}
    assert reasons[("health", "2026-11-15")].startswith(f"'{first.name}': ")
    assert "MANIFEST.json says 1" in reasons[("health", "2026-11-15")]
    assert "unknown source folder 'tax_bureau'" in reasons[("tax_bureau", "2026-10-31")]
    assert "not an as-of date" in reasons[("education", "latest")]
    with db.connect(warehouse, read_only=True) as con:
        current = db.frame(con, "SELECT DISTINCT as_of FROM staged.current_health")["as_of"].to_list()
        n_health = db.frame(con, "SELECT count(*) AS n FROM person_xref WHERE source = 'health'").item()
        fresh = db.frame(con, "SELECT source, latest_as_of FROM source_freshness WHERE source = 'health'")
    assert [d.isoformat() for d in current] == [good.name]
    assert fresh["latest_as_of"][0].isoformat() == good.name
    assert n_health > 0
