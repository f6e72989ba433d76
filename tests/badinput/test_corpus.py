"""Every case of the bad-input corpus through the real ingest cores on a real DuckDB file.

For each case: no exception escapes, the outcome is the one the corpus table names,
the other source (education) is accepted, delivered = staged + quarantined, and when
the new health delivery is not accepted the older good one stays current.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ingest import db
from ingest.deliveries import deliveries_table, ingest_raw, stage_source
from ingest.sources import load_sources
from tests.badinput.corpus import CASES, GOOD_AS_OF, NEW_AS_OF, Case, base_zone, still_being_written

SOURCES = load_sources()


def ingest_all(landing: Path, warehouse: Path) -> pl.DataFrame:
    """What the raw, staged and deliveries assets do, without Dagster."""
    with db.connect(warehouse) as con:
        for cfg in SOURCES.values():
            ingest_raw(con, landing, cfg, lambda _m: None)
            stage_source(con, cfg, lambda _m: None)
        return deliveries_table(con, landing, SOURCES)


def _row(table: pl.DataFrame, source: str, folder: str) -> dict:
    rows = [r for r in table.iter_rows(named=True) if r["source"] == source and Path(r["folder"]).name == folder]
    assert len(rows) == 1, (source, folder, table)
    return rows[0]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    base_zone(landing)
    case.build(landing)
    table = ingest_all(landing, warehouse)  # must not raise, whatever the input

    row = _row(table, case.source, case.folder)
    assert _row(table, "education", NEW_AS_OF)["status"] == "accepted"  # the other sources go on
    assert _row(table, "health", GOOD_AS_OF)["status"] == "accepted"
    acc = table.filter(pl.col("status") == "accepted")
    assert (acc["rows_delivered"] == acc["rows_staged"] + acc["rows_quarantined"]).all()
    with db.connect(warehouse, read_only=True) as con:
        current = db.frame(con, "SELECT DISTINCT as_of FROM staged.current_health")["as_of"].to_list()
        staged = db.frame(con, "SELECT * FROM staged.health WHERE as_of = ?", [NEW_AS_OF])
        quarantine = db.frame(con, "SELECT * FROM quarantine.rows WHERE as_of = ?", [NEW_AS_OF]) \
            if db.table_exists(con, "quarantine.rows") else pl.DataFrame({"reason": []}, schema={"reason": pl.String})
    if case.outcome in ("rejected", "pending"):
        assert row["status"] == "rejected", row
        assert case.detail in row["reason"], row["reason"]
        assert "\n" not in row["reason"] and "Traceback" not in row["reason"]
        assert [d.isoformat() for d in current] == [GOOD_AS_OF]  # the last good delivery stays current
        assert staged.height == 0
        return
    assert row["status"] == "accepted", row
    assert [d.isoformat() for d in current] == [NEW_AS_OF]
    assert row["rows_quarantined"] == case.quarantined
    if case.quarantined:
        assert all(case.detail in r for r in quarantine["reason"]), quarantine
    if case.issue:
        issues = [i for lst in staged["issues"].to_list() for i in lst]
        assert any(case.issue in i for i in issues), issues


def test_corpus_covers_the_issue() -> None:
    assert len(CASES) >= 20
    assert {c.outcome for c in CASES} == {"rejected", "accepted", "pending"}


def test_specific_values_survive(tmp_path: Path) -> None:
    """Accepted-with-issues cases keep what they should: long cells whole, formula results, extra columns."""
    from tests.badinput import corpus

    for build in (corpus.long_cells, corpus.xlsx_formulas, corpus.extra_columns, corpus.date_forms,
                  corpus.excel_numeric_ids):
        zone = tmp_path / build.__name__
        base_zone(zone / "landing")
        build(zone / "landing")
        table = ingest_all(zone / "landing", zone / "w.duckdb")
        with db.connect(zone / "w.duckdb", read_only=True) as con:
            raw = db.frame(con, "SELECT * FROM raw.health WHERE _as_of = ?", [NEW_AS_OF])
            staged = db.frame(con, "SELECT * FROM staged.health WHERE as_of = ? ORDER BY row_number", [NEW_AS_OF])
        if build is corpus.long_cells:
            assert raw["常住地址"].str.len_chars().max() == 6 + 5 * 40_000
        if build is corpus.xlsx_formulas:
            assert raw["住院次数"].to_list() == ["2", "3", "4"]
        if build is corpus.extra_columns:
            assert raw["经办人"].to_list() == ["张三"] * 3
            assert _row(table, "health", NEW_AS_OF)["extra_columns"] == "备注, 经办人"
        if build is corpus.date_forms:
            got = dict(zip(staged["record_id"], staged["birth_date"], strict=True))
            assert {got[f"D{i}"].isoformat() for i in range(6)} == {"2019-03-05"}
            assert all(got[f"D{i}"] is None for i in range(6, len(corpus.DATE_FORMS)))
        if build is corpus.excel_numeric_ids:
            assert staged.filter(pl.col("record_id") == "H001")["id_number_status"].item() == "excel_damaged"


def test_still_being_written_is_read_once_complete(tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    base_zone(landing)
    still_being_written(landing)
    assert _row(ingest_all(landing, warehouse), "health", NEW_AS_OF)["status"] == "rejected"
    part = landing / "health" / NEW_AS_OF / "参保人员_2.csv.part"
    part.unlink()  # the transfer finished (here: the partial file is gone)
    row = _row(ingest_all(landing, warehouse), "health", NEW_AS_OF)
    assert row["status"] == "accepted" and row["rows_staged"] == 3


def test_recently_modified_files_wait_when_a_settle_time_is_set(tmp_path: Path, monkeypatch) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    base_zone(landing)
    corpus_good = landing / "health" / NEW_AS_OF
    from tests.badinput.corpus import gb18030_ok

    gb18030_ok(landing)
    monkeypatch.setenv("HHLINK_SETTLE_SECONDS", "3600")
    row = _row(ingest_all(landing, warehouse), "health", corpus_good.name)
    assert row["status"] == "rejected" and "still being written" in row["reason"]
