"""Staging one delivery: every row staged or quarantined, issues per row, cross-field checks."""

from __future__ import annotations

import polars as pl

from ingest.sources import load_sources
from ingest.stage import PERSON_COLUMNS, stage
from tests.conftest import AS_OF, HEALTH_HEADER, HEALTH_ROWS


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
