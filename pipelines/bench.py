"""`hhlink bench`: phase times as medians of repeated runs, and peak memory.

Each repetition runs in a fresh child process on a fresh warehouse, so its peak RSS
is its own and no cache carries over; data generation happens once, outside the
measurement.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _ingest_once(landing: str, warehouse: str) -> dict[str, float]:
    from ingest import db
    from ingest.deliveries import ingest_raw, stage_source
    from ingest.sources import load_sources

    quiet = lambda _msg: None  # noqa: E731
    times = {"read": 0.0, "normalise": 0.0}
    rows = 0
    with db.connect(warehouse) as con:
        for cfg in load_sources().values():
            t0 = time.perf_counter()
            ingest_raw(con, Path(landing), cfg, quiet)
            t1 = time.perf_counter()
            rows += sum(o.rows for o in stage_source(con, cfg, quiet))
            times["read"] += t1 - t0
            times["normalise"] += time.perf_counter() - t1
    times["total"] = times["read"] + times["normalise"]
    times["rows"] = rows
    times["peak_rss_mb"] = _peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    times["cpu_s"] = usage.ru_utime + usage.ru_stime
    return times


def _child(landing: str, warehouse: str, queue: mp.Queue) -> None:
    queue.put(_ingest_once(landing, warehouse))


def _measure(landing: Path, warehouse: Path) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(str(landing), str(warehouse), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def bench_ingest(persons: int, repeat: int = 3, seed: int = 7, profile: str = "typical",
                 workdir: Path | None = None, progress: Callable[[str], None] = print) -> str:
    from synth import generate

    with tempfile.TemporaryDirectory(prefix="hhlink-bench-") as tmp:
        root = workdir or Path(tmp)
        landing = root / "landing"
        if not landing.exists():
            progress(f"generating {persons:,} persons ({profile}, seed {seed}) in {root} — not timed")
            generate(persons, seed, root, profile)
        runs = []
        for i in range(repeat):
            wh = root / f"bench-{i}.duckdb"
            wh.unlink(missing_ok=True)
            runs.append(_measure(landing, wh))
            wh.unlink(missing_ok=True)
            progress(f"run {i + 1}/{repeat}: {runs[-1]['total']:.1f} s, peak {runs[-1]['peak_rss_mb']:,.0f} MB")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    worst = max(r["peak_rss_mb"] for r in runs)
    return "\n".join([
        f"bench ingest: {persons:,} persons, {int(med['rows']):,} records, {repeat} runs (median)",
        f"  read (landing → raw)        {med['read']:7.1f} s",
        f"  normalise (raw → staged)    {med['normalise']:7.1f} s",
        f"  total                       {med['total']:7.1f} s   ({med['rows'] / med['total']:,.0f} records/s)",
        f"  CPU time (user + sys)       {med['cpu_s']:7.1f} s   (steadier than wall time on a shared machine)",
        f"  peak memory (RSS)           {med['peak_rss_mb']:7,.0f} MB   (max of runs {worst:,.0f} MB)",
    ])
