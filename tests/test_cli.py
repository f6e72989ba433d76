"""The `hhlink` command end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import AS_OF


def hhlink(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=600)


def test_generate_then_run(tmp_path: Path) -> None:
    out = tmp_path / "zone"
    g = hhlink("generate", "--persons", "400", "--seed", "3", "--out", str(out), "--profile", "hard")
    assert g.returncode == 0, g.stderr
    assert (out / "truth" / "records.parquet").exists()
    r = hhlink("run", "--landing", str(out / "landing"), "--warehouse", str(tmp_path / "w.duckdb"),
               "--as-of", AS_OF.isoformat())
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "delivered =" in r.stdout and "staged" in r.stdout and "quarantined" in r.stdout
    assert "stale" in r.stdout
    assert str(tmp_path / "w.duckdb") in r.stdout


def test_errors_are_one_line(tmp_path: Path) -> None:
    r = hhlink("run", "--landing", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"hhlink: landing folder '{tmp_path / 'nowhere'}' does not exist"
    r = hhlink("run", "--landing", str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"), "--as-of", "31.10.2026")
    assert r.returncode == 2 and "is not a date" in r.stderr and "Traceback" not in r.stderr
