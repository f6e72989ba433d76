"""Staging one delivery: every row staged or quarantined, issues per row, cross-field checks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ingest import db
from ingest.deliveries import BATCH_ROWS_ENV, ingest_raw, stage_source
from ingest.sources import load_sources
from ingest.stage import PERSON_COLUMNS, stage
from tests.conftest import AS_OF, HEALTH_HEADER, HEALTH_ROWS, write_csv


def _raw(rows: list[list[str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HEALTH_HEADER, orient="row").with_columns(
        pl.lit("a.csv").alias("_file"), pl.int_range(2, len(rows) + 2, dtype=pl.Int64).alias("_row"))


def test_blank_and_repeated_keys_are_quarantined_with_reasons() -> None:
    rows = [*HEALTH_ROWS, HEALTH_ROWS[0], ["", *HEALTH_ROWS[1][1:]]]
    out = stage(_raw(rows), load_sources()["health"], AS_OF)
    assert out.staged["record_id"].to_list() == ["H001", "H002", "H003"]
    assert out.staged["row_number"].to_list() == [2, 3, 4]
    q = {(r["row_number"], r["reason"]) for r in out.quarantine.iter_rows(named=True)}
    assert q == {(5, "repeated record key 'H001' (first seen earlier in the delivery)"), (6, "blank record key")}
    assert out.staged.height + out.quarantine.height == len(rows)


def test_person_columns_line_up_and_values_are_normalised() -> None:
    out = stage(_raw(HEALTH_ROWS), load_sources()["health"], AS_OF).staged
    for names in PERSON_COLUMNS.values():
        assert set(names) <= set(out.columns)
    first = out.row(0, named=True)
    assert (first["name"], first["id_number"], first["id_number_status"], first["sex"]) == (
        "王小明", "11010519491231002X", "valid", "F")
    assert first["phone"] == "13800138000" and first["oop_medical"] == 1234.5
    second = out.row(1, named=True)
    assert second["name"] == "买买提·艾力" and second["id_number_status"] == "upgraded_15"
    assert out["admin_code"].null_count() == out.height  # health has no admin code column


def test_birth_date_and_sex_are_compared_with_the_id() -> None:
    row = list(HEALTH_ROWS[0])
    row[4], row[3] = "1950-01-01", "男"  # the ID says 1949-12-31 and female (even 17th digit)
    out = stage(_raw([row]), load_sources()["health"], AS_OF).staged
    assert set(out["issues"][0]) >= {"birth_date: differs from the ID number's", "sex: differs from the ID number's"}
    clean = stage(_raw([HEALTH_ROWS[0]]), load_sources()["health"], AS_OF).staged
    assert not any("differs" in i for i in clean["issues"][0])


def _stage_warehouse(landing: Path, warehouse: Path) -> dict[str, pl.DataFrame]:
    cfg = load_sources()["health"]
    with db.connect(warehouse) as con:
        ingest_raw(con, landing, cfg, lambda _m: None)
        stage_source(con, cfg, lambda _m: None)
        return {
            "staged": db.frame(con, "SELECT * FROM staged.health"),  # table order, as stored
            "quarantine": db.frame(con, "SELECT * FROM quarantine.rows"),
            "log": db.frame(con, "SELECT rows_delivered, rows_staged, rows_quarantined, rows_with_issues "
                                 "FROM meta.delivery_log"),
            "raw": db.frame(con, "SELECT * EXCLUDE (_as_of) FROM raw.health"),
        }


def test_batches_of_three_rows_stage_like_one_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated keys across batches and files, blank keys, a key padded with U+3000: same result in batches."""
    folder = tmp_path / "landing" / "health" / AS_OF.isoformat()
    h1, h2, h3 = HEALTH_ROWS
    pad = ["\u3000H002 ", *h2[1:]]  # the key normaliser strips U+3000: a repeat of H002
    write_csv(folder / "a.csv", HEALTH_HEADER, [h1, h2, h3, ["H004", *h1[1:]], ["", *h3[1:]], ["H005", *h3[1:]],
                                                 ["H001", *h3[1:]], pad])
    write_csv(folder / "b.csv", HEALTH_HEADER, [["H006", *h2[1:]], h3, ["  ", *h1[1:]], ["H007", *h1[1:]]])
    monkeypatch.setenv(BATCH_ROWS_ENV, "3")
    small = _stage_warehouse(tmp_path / "landing", tmp_path / "small.duckdb")
    monkeypatch.setenv(BATCH_ROWS_ENV, "1000000")
    whole = _stage_warehouse(tmp_path / "landing", tmp_path / "whole.duckdb")
    for name in ("staged", "quarantine", "log"):
        assert small[name].equals(whole[name]), name
    assert small["log"].row(0) == (12, 7, 5, whole["log"]["rows_with_issues"][0])
    assert small["staged"]["record_id"].to_list() == ["H001", "H002", "H003", "H004", "H005", "H006", "H007"]
    assert [(r["file"], r["row_number"], r["reason"]) for r in small["quarantine"].iter_rows(named=True)] == [
        ("a.csv", 6, "blank record key"),
        ("a.csv", 8, "repeated record key 'H001' (first seen earlier in the delivery)"),
        ("a.csv", 9, "repeated record key 'H002' (first seen earlier in the delivery)"),
        ("b.csv", 3, "repeated record key 'H003' (first seen earlier in the delivery)"),
        ("b.csv", 4, "blank record key"),
    ]
    # And the same as `stage` over the whole delivery as one frame (the callers that pass one).
    one = stage(small["raw"], load_sources()["health"], AS_OF)
    assert one.staged.select("record_id", "file", "row_number", "issues").equals(
        small["staged"].select("record_id", "file", "row_number", "issues"))
    assert one.quarantine.select("file", "row_number", "reason").equals(
        small["quarantine"].select("file", "row_number", "reason"))


def test_an_id_inside_the_record_key_is_staged_beside_the_id_column() -> None:
    """A 学籍号 of G + the student's ID names the student even when the ID column holds a guardian's."""
    from datetime import date

    from tests.test_resolution import make_id

    child, guardian = make_id("110105", date(2019, 3, 5), 1), "11010519491231002X"
    raw = pl.DataFrame({"学籍号": [f" G{child}", f"G{guardian[:-1]}x", "L6103020001"], "姓名": ["甲", "乙", "丙"],
                        "身份证件号": [guardian, "", ""]}).with_columns(
        pl.lit("a.csv").alias("_file"), pl.int_range(2, 5, dtype=pl.Int64).alias("_row"))
    out = stage(raw, load_sources()["education"], AS_OF).staged.sort("row_number")
    assert out["key_id_number"].to_list() == [child, guardian, None]
    assert out["key_id_number_status"].to_list() == ["valid", "valid", "blank"]
    assert str(out["key_id_number_birth_date"][0]) == "2019-03-05"
    assert "id_number: differs from the ID number in the record key" in out["issues"][0].to_list()
    assert not any("record key" in i for i in out["issues"][1].to_list())
