"""A representative subset of the corpus through the real `hhlink run`, in a subprocess.

Bad health deliveries dated after the generated zone's good one, plus folders no source
claims: the run exits 0, stderr has no traceback, every bad delivery is rejected with its
reason in the published warehouse, and every source's last good delivery stays current.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from ingest import db
from tests.badinput import corpus
from tests.conftest import AS_OF

SUBSET = ["truncated CSV", "UTF-16 bytes", "binary garbage named .xlsx", "empty file", "header only",
          "missing required column", "XLSX merged header cells", "manifest: row count", "manifest: missing file",
          "delivery still being written", "empty delivery folder", "a row with too many fields"]


def test_cli_run_over_bad_deliveries(generated: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(generated / "landing", landing)
    good = {s.name: sorted(p.name for p in s.iterdir())[-1] for s in landing.iterdir()}
    cases = {c.name: c for c in corpus.CASES}
    expected = {}
    for i, name in enumerate(SUBSET, start=1):
        scratch = tmp_path / f"case{i}"
        cases[name].build(scratch)
        day = (AS_OF + timedelta(days=i)).isoformat()
        shutil.move(scratch / "health" / corpus.NEW_AS_OF, landing / "health" / day)
        manifest = landing / "health" / day / "MANIFEST.json"
        if manifest.exists():  # the case wrote it for its own date
            manifest.write_text(manifest.read_text(encoding="utf-8").replace(corpus.NEW_AS_OF, day), encoding="utf-8")
        expected[day] = cases[name].detail.replace(corpus.NEW_AS_OF, day)
    corpus.unknown_source(landing)
    corpus.folder_not_a_date(landing)
    wh = tmp_path / "w.duckdb"
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing), "--warehouse",
                        str(wh), "--as-of", (AS_OF + timedelta(days=20)).isoformat()],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    with db.connect(wh, read_only=True) as con:
        d = db.frame(con, "SELECT * FROM deliveries")
        current = {s: db.frame(con, f"SELECT max(as_of) AS d FROM staged.current_{s}").item() for s in good}
        linked = set(db.frame(con, "SELECT DISTINCT source FROM person_xref")["source"])
    health = {Path(f).name: (st, why) for f, st, why in d.filter(pl.col("source") == "health")
              .select("folder", "status", "reason").iter_rows()}
    for day, detail in expected.items():
        assert health[day][0] == "rejected" and detail in health[day][1], (day, health[day])
        assert f"health/{day}" in r.stdout  # the summary lists it
    assert health["latest"][0] == "rejected"
    assert ("tax_bureau", "rejected") in set(d.select("source", "status").iter_rows())
    assert {s: c.isoformat() for s, c in current.items()} == good  # the last good delivery of each stays current
    assert linked == set(good)  # and every source was linked
    assert date.fromisoformat(good["health"]) == AS_OF
