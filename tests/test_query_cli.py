"""`hhlink query`: read-only SQL on the analyst database (default) or the restricted warehouse.

Real DuckDB files stand for a published warehouse and its analyst database; the
command runs in-process through `pipelines.cli.main` and once as a real subprocess.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.cli import main as hhlink

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """`wh.duckdb` holding names (restricted) and `wh.analyst.duckdb` holding 120 pseudonymised rows."""
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE TABLE person_xref AS SELECT 'health' AS source, 'H' || i AS record_id, "
                    "'P' || lpad(i::VARCHAR, 15, '0') AS person_id FROM range(120) t(i)")
        con.execute("CREATE SCHEMA staged; CREATE TABLE staged.health AS SELECT '王小明' AS name")
    with duckdb.connect(str(tmp_path / "wh.analyst.duckdb")) as con:
        con.execute("CREATE TABLE person_xref AS SELECT 'health' AS source, 'R-' || md5(i::VARCHAR) AS record_id, "
                    "'P' || lpad(i::VARCHAR, 15, '0') AS person_id, i AS n FROM range(120) t(i)")
    return wh


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = hhlink(["query", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reads_the_analyst_database_by_default(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["SELECT count(*) AS n, min(record_id) LIKE 'R-%' AS masked FROM person_xref",
                         "--warehouse", str(warehouse)], capsys)
    assert code == 0 and "120" in out and "true" in out and "1 row" in out
    code, _, err = _run(["SELECT name FROM staged.health", "--warehouse", str(warehouse)], capsys)
    assert code == 2 and err.startswith("hhlink: query failed: Catalog Error") and err.count("\n") == 1
    code, out, _ = _run(["SELECT name FROM staged.health", "--warehouse", str(warehouse), "--restricted"], capsys)
    assert code == 0 and "王小明" in out
    code, out, _ = _run(["SELECT count(*) FROM person_xref", "--warehouse",
                         str(warehouse.with_name("wh.analyst.duckdb"))], capsys)
    assert code == 0 and "120" in out  # the analyst file itself may be given


def test_prints_at_most_the_limit_with_a_note(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["SELECT n FROM person_xref ORDER BY n", "--warehouse", str(warehouse)], capsys)
    assert code == 0 and "│ 49 " in out and "│ 50 " not in out and "first 50 rows shown; more were returned" in out
    code, out, _ = _run(["SELECT n FROM person_xref ORDER BY n", "--warehouse", str(warehouse), "--limit", "5"],
                        capsys)
    assert "│ 4 " in out and "│ 5 " not in out and "first 5 rows" in out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writes_every_row_to_a_file(warehouse: Path, tmp_path: Path, suffix: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "out" / f"x{suffix}"
    code, out, _ = _run(["SELECT * FROM person_xref ORDER BY n", "--warehouse", str(warehouse),
                         "--out", str(out_file)], capsys)
    assert code == 0 and out.strip() == f"wrote 120 rows to {out_file}"
    frame = pl.read_csv(out_file) if suffix == ".csv" else pl.read_parquet(out_file)
    with duckdb.connect(str(warehouse.with_name("wh.analyst.duckdb")), read_only=True) as con:
        expected = con.sql("SELECT * FROM person_xref ORDER BY n").pl()
    assert frame.equals(expected)
    assert not list(out_file.parent.glob(".*.part"))


def test_cannot_change_the_database_or_reach_other_files(warehouse: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    analyst = warehouse.with_name("wh.analyst.duckdb")
    before = (_sha(warehouse), _sha(analyst))
    for sql in ("DROP TABLE person_xref", "UPDATE person_xref SET n = 0", "CREATE TABLE x AS SELECT 1",
                f"ATTACH '{warehouse}' AS restricted", f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')",
                f"COPY person_xref TO '{tmp_path / 'copy.csv'}'"):
        code, _, err = _run([sql, "--warehouse", str(warehouse)], capsys)
        assert code == 2 and err.startswith("hhlink: query failed:") and err.count("\n") == 1, sql
    assert (_sha(warehouse), _sha(analyst)) == before and not (tmp_path / "copy.csv").exists()


def test_user_errors_are_one_line(warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["SELEC 1", "--warehouse", str(warehouse)], "hhlink: query failed: Parser Error"),
        (["SELECT 1", "--warehouse", str(tmp_path / "none.duckdb")], "hhlink: analyst database"),
        (["SELECT 1", "--warehouse", str(tmp_path / "none.duckdb"), "--restricted"], "hhlink: warehouse"),
        (["SELECT 1", "--warehouse", str(warehouse), "--out", str(tmp_path / "x.xlsx")], "hhlink: query failed: --out"),
        (["SELECT 1", "--warehouse", str(warehouse), "--limit", "0"], "hhlink: --limit"),
    ]
    for args, start in cases:
        code, _, err = _run(args, capsys)
        assert code == 2 and err.startswith(start) and err.count("\n") == 1, (args, err)
        assert "Traceback" not in err


def test_as_a_command(warehouse: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "pipelines.cli", "query", "SELECT count(*) AS n FROM person_xref",
                         "--warehouse", str(warehouse)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "120" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "pipelines.cli", "query", "SELECT * FROM nowhere",
                          "--warehouse", str(warehouse)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("hhlink: query failed: Catalog Error")
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
