"""Reading deliveries: formats, encodings, manifests and whole-delivery rejections."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from ingest.landing import DeliveryRejected, discover, read_delivery
from ingest.sources import load_sources
from tests.conftest import AS_OF, HEALTH_HEADER, HEALTH_ROWS, write_csv, write_manifest

HEALTH = load_sources()["health"]


def _delivery(landing: Path, source: str = "health"):
    found = [d for d in discover(landing, load_sources()) if d.source == source]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    folder = tmp_path / "health" / AS_OF.isoformat()
    write_csv(folder / "a.csv", HEALTH_HEADER, HEALTH_ROWS, encoding=encoding)
    got = read_delivery(_delivery(tmp_path), HEALTH)
    assert got.encodings == [encoding]
    assert got.frame["姓名"].to_list() == ["王 小明", "買買提•艾力", "李四"]
    assert got.frame["_row"].to_list() == [2, 3, 4]


def test_xlsx_and_parquet_read_as_text(tmp_path: Path) -> None:
    import xlsxwriter

    folder = tmp_path / "health" / AS_OF.isoformat()
    folder.mkdir(parents=True)
    wb = xlsxwriter.Workbook(folder / "a.xlsx")
    ws = wb.add_worksheet()
    ws.write_row(0, 0, HEALTH_HEADER)
    ws.write_row(1, 0, HEALTH_ROWS[0])
    ws.write_number(1, 2, 110105194912310020.0)  # an ID typed into a numeric cell
    wb.close()
    got = read_delivery(_delivery(tmp_path), HEALTH)
    assert got.format == "xlsx"
    assert got.frame["证件号码"].to_list() == ["110105194912310000"]  # the damage is in the file

    pq = tmp_path / "p" / "health" / AS_OF.isoformat()
    pq.mkdir(parents=True)
    pl.DataFrame([HEALTH_ROWS[1]], schema=HEALTH_HEADER, orient="row").with_columns(
        pl.col("住院次数").cast(pl.Int64)).write_parquet(pq / "a.parquet")
    got = read_delivery(_delivery(tmp_path / "p"), HEALTH)
    assert got.frame.schema["住院次数"] == pl.String
    assert got.frame["住院次数"].to_list() == ["0"]


def test_unusable_folders_are_reported(tmp_path: Path) -> None:
    write_csv(tmp_path / "unknown_dept" / "2026-10-31" / "a.csv", ["x"], [["1"]])
    write_csv(tmp_path / "health" / "October" / "a.csv", HEALTH_HEADER, HEALTH_ROWS)
    (tmp_path / "health" / "2026-09-30").mkdir(parents=True)
    problems = {d.folder.name: d.problem for d in discover(tmp_path, load_sources())}
    assert "unknown source folder 'unknown_dept'" in problems["2026-10-31"]
    assert "not an as-of date" in problems["October"]
    assert problems["2026-09-30"] == "empty delivery folder"


def test_manifest_mismatches_reject_the_delivery(tmp_path: Path) -> None:
    folder = tmp_path / "health" / AS_OF.isoformat()
    write_csv(folder / "a.csv", HEALTH_HEADER, HEALTH_ROWS)
    write_manifest(folder, "health")
    assert read_delivery(_delivery(tmp_path), HEALTH).manifest == "verified"

    write_manifest(folder, "health", rows={"a.csv": 5})
    with pytest.raises(DeliveryRejected, match=r"'a.csv': 3 rows, MANIFEST.json says 5"):
        read_delivery(_delivery(tmp_path), HEALTH)

    write_manifest(folder, "health")
    write_csv(folder / "a.csv", HEALTH_HEADER, HEALTH_ROWS[:2])
    with pytest.raises(DeliveryRejected, match="checksum differs"):
        read_delivery(_delivery(tmp_path), HEALTH)

    write_manifest(folder, "health")
    (folder / "a.csv").unlink()
    write_csv(folder / "b.csv", HEALTH_HEADER, HEALTH_ROWS)
    with pytest.raises(DeliveryRejected, match=r"lists 'a\.csv' but the file is missing"):
        read_delivery(_delivery(tmp_path), HEALTH)


def test_missing_required_column_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "health" / AS_OF.isoformat()
    write_csv(folder / "a.csv", HEALTH_HEADER[1:], [r[1:] for r in HEALTH_ROWS])
    with pytest.raises(DeliveryRejected, match="required column '参保编号' is missing"):
        read_delivery(_delivery(tmp_path), HEALTH)


def test_repeated_header_and_garbage_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "health" / AS_OF.isoformat()
    write_csv(folder / "a.csv", [*HEALTH_HEADER, "姓名"], [[*r, "x"] for r in HEALTH_ROWS])
    with pytest.raises(DeliveryRejected, match="'姓名' appears twice"):
        read_delivery(_delivery(tmp_path), HEALTH)
    (folder / "a.csv").unlink()
    (folder / "b.xlsx").write_bytes(b"\x00\x01not a workbook" * 50)
    with pytest.raises(DeliveryRejected, match="not a readable XLSX"):
        read_delivery(_delivery(tmp_path), HEALTH)
