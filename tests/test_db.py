"""The warehouse's storage helpers, on a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ingest import db


def test_a_large_frame_is_stored_in_whole_row_groups(tmp_path: Path) -> None:
    """A frame assembled from pieces (as joins leave it) fills DuckDB's row groups, none left part-empty
    but the last: part-filled ones make a later checkpoint rewrite the table after a few deletes."""
    pieces = [pl.DataFrame({"k": range(i, i + 100_000), "v": ["x" * (i % 7)] * 100_000})
              for i in range(0, 600_000, 100_000)]
    frame = pl.concat(pieces, rechunk=False)
    assert frame.height >= db.SPOOL_ROWS and frame.n_chunks() == 6  # the spool path, with chunk boundaries
    with db.connect(tmp_path / "w.duckdb") as con:
        con.execute("BEGIN TRANSACTION")  # as the assets write
        db.replace(con, "t", frame)
        con.execute("COMMIT")
        sizes = [n for (n,) in con.execute(
            "SELECT sum(count) FROM pragma_storage_info('t') WHERE column_id = 0 AND segment_type <> 'VALIDITY' "
            "GROUP BY row_group_id ORDER BY row_group_id").fetchall()]
        assert con.execute("SELECT count(*), sum(k) FROM t").fetchall() == [(600_000, sum(range(600_000)))]
    assert sum(sizes) == 600_000
    assert all(n == db.DUCKDB_ROW_GROUP for n in sizes[:-1]), sizes
