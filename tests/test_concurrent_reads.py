"""Analysts can query while a run writes: a reader sees the old or the new published state, never half of one.

A real `hhlink run` (a subprocess) replaces a published warehouse and its analyst
database with those of a newer landing zone. It is paused by the test hook in the middle
of linkage (`persons`, inside its transaction) and in the middle of publication
(`publish`: both new files written aside, not yet renamed). Meanwhile another process
opens both published files read-only in a loop and takes row counts and checksums of a
few tables, and a third keeps a connection it opened before the run. Every read must succeed
and show exactly the complete old state or the complete new one.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.runner import run_pipeline
from privacy.analyst import analyst_path
from tests.conftest import AS_OF

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("person_xref", "household_member", "findings", "deliveries", "source_freshness")

READER = """
import json, sys, time
from pathlib import Path
import duckdb

mode, paths, stop = sys.argv[1], [Path(p) for p in sys.argv[2:4]], Path(sys.argv[4])
TABLES = {tables!r}

def signature(con):
    return [list(con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {{t}} AS t")
                 .fetchall()[0]) for t in TABLES]

# "held": an analyst who opened the warehouse before the run and keeps it open (its own process: DuckDB
# shares one open database per file within a process, so it would hide the new file from the loop).
held = duckdb.connect(str(paths[0]), read_only=True) if mode == "held" else None
print(json.dumps({{"db": "ready"}}), flush=True)
while not stop.exists():
    for i, p in enumerate(paths if held is None else []):
        rec = {{"db": i, "publishing": any(p.parent.glob(p.name + ".tmp-*"))}}
        try:
            with duckdb.connect(str(p), read_only=True) as con:
                rec["sig"] = signature(con)
        except Exception as exc:
            rec["error"] = f"{{type(exc).__name__}}: {{exc}}"
        print(json.dumps(rec), flush=True)
    if held is not None:
        try:
            print(json.dumps({{"db": "held", "sig": signature(held)}}), flush=True)
        except Exception as exc:
            print(json.dumps({{"db": "held", "error": f"{{type(exc).__name__}}: {{exc}}"}}), flush=True)
    time.sleep(0.05)
"""


def signature(path: Path) -> list[list]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [list(con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {t} AS t")
                     .fetchall()[0]) for t in TABLES]


@pytest.fixture(scope="module")
def landing_b(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated zone plus a newer health delivery with 40 fewer rows: the tables change."""
    b = tmp_path_factory.mktemp("reads") / "landing_b"
    shutil.copytree(generated / "landing", b)
    newest = sorted((b / "health").iterdir())[-1]
    newer = b / "health" / "2026-11-15"
    shutil.copytree(newest, newer)
    (newer / "MANIFEST.json").unlink(missing_ok=True)
    data = next(p for p in newer.iterdir() if p.suffix == ".csv")
    data.write_bytes(b"".join(data.read_bytes().splitlines(keepends=True)[:-40]))
    return b


def test_a_reader_sees_the_old_or_the_new_state_never_half_and_is_never_locked_out(
        generated: Path, landing_b: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "wh.duckdb"
    analyst = analyst_path(wh)
    run_pipeline(generated / "landing", wh, AS_OF.isoformat())
    old = (signature(wh), signature(analyst))

    stop = tmp_path / "stop"
    script = tmp_path / "reader.py"
    script.write_text(READER.format(tables=TABLES), encoding="utf-8")
    logs = {mode: tmp_path / f"{mode}.jsonl" for mode in ("loop", "held")}  # files: a full pipe would block a reader
    outs = [log.open("w") for log in logs.values()]
    readers = [subprocess.Popen([sys.executable, str(script), mode, str(wh), str(analyst), str(stop)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
               for mode, out in zip(logs, outs, strict=True)]
    deadline = time.monotonic() + 120
    while not all('"ready"' in log.read_text() for log in logs.values()) and time.monotonic() < deadline:
        time.sleep(0.1)

    env = {k: v for k, v in os.environ.items() if k != "HHLINK_PSEUDONYM_KEY"}
    env.update(HHLINK_TEST_PAUSE_AT="p[eu][rb]*", HHLINK_TEST_PAUSE_SECONDS="3")  # persons, publish
    try:
        writer = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing_b),
                                 "--warehouse", str(wh), "--as-of", AS_OF.isoformat()],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        time.sleep(1.0)  # a few reads of the new state
    finally:
        stop.touch()
        for reader, out in zip(readers, outs, strict=True):
            reader.wait(timeout=120)
            out.close()
    assert writer.returncode == 0, writer.stderr[-2000:]
    for step in ("persons", "publish"):
        assert f"test hook: pausing at {step}" in writer.stderr
    assert "pseudonyms use the public demo key" in writer.stderr  # no key in the environment: the run warns
    for reader, log in zip(readers, logs.values(), strict=True):
        assert reader.returncode == 0, log.read_text()[-2000:]

    new = (signature(wh), signature(analyst))
    assert new[0] != old[0] and new[1] != old[1], "the run changed nothing: the test would prove nothing"
    reads = [r for log in logs.values() for line in log.read_text().splitlines()
             if (r := json.loads(line))["db"] != "ready"]
    errors = [r for r in reads if "error" in r]
    assert not errors, errors[:3]
    for db, name in ((0, "warehouse"), (1, "analyst database")):
        seen = [r["sig"] for r in reads if r["db"] == db]
        states = ["old" if s == old[db] else "new" if s == new[db] else "neither" for s in seen]
        assert "neither" not in states, f"{name}: a read saw a state that is neither the old nor the new one"
        assert states[0] == "old" and states[-1] == "new", f"{name}: {states[0]} … {states[-1]}"
        flips = sum(a != b for a, b in itertools.pairwise(states))
        assert flips == 1, f"{name}: went back to the old state after seeing the new one"
        during = [r for r in reads if r["db"] == db and r["publishing"]]
        # Read while the new file waited beside the published one (a read begun just before the rename may be new).
        assert any(r["sig"] == old[db] for r in during), f"{name}: no read while publishing"
        assert len(seen) >= 20
    held = [r["sig"] for r in reads if r["db"] == "held"]
    assert held and all(s == old[0] for s in held), "a connection opened before the run keeps its view"
