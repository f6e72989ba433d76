"""A delivery several times larger than usual is ingested holding less than one copy of it in memory.

Real processes, real files: each measurement is a fresh spawned process running landing →
raw → staged inside one transaction per step, as the assets do (`pipelines.bench_delivery`).
The figure is memory that grows with the file: the peak RSS of the whole delivery minus
that of its first half, per megabyte between them, so imports and one batch's working set,
paid by every delivery, are not counted against it. Reading a delivery whole, staging it as
one frame, or letting the transaction keep every inserted row in memory each make it
several copies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.bench_delivery import build_delivery, measure_delivery
from synth import generate

ROWS = 2_000_000  # about 330 MB of CSV: 8 times a 100k-person zone's health delivery


@pytest.fixture(scope="module")
def large_delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large-delivery")
    generate(5_000, 3, root / "zone", "typical")
    template = next((root / "zone" / "landing" / "health").glob("*/*.csv"))
    return build_delivery(template, root / "landing", ROWS)


def test_large_delivery_is_built_with_unique_keys(large_delivery: Path) -> None:
    import polars as pl

    frame = pl.read_csv(large_delivery, infer_schema=False, columns=["参保编号"])
    assert frame.height == ROWS
    assert frame["参保编号"].n_unique() == ROWS


def test_large_delivery_needs_less_than_one_copy_of_memory(large_delivery: Path, tmp_path: Path) -> None:
    got = measure_delivery(large_delivery, tmp_path)
    assert got.rows == ROWS  # every row went the whole way to staged
    assert got.copies < 1.0, (f"{got.file_mb:.0f} MB delivery: peak {got.peak_mb:.0f} MB, its first half "
                              f"{got.half_peak_mb:.0f} MB → {got.growth_mb:.0f} MB for "
                              f"{got.file_mb - got.half_mb:.0f} MB more = {got.copies:.2f} copies")
