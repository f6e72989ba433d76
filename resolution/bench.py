"""`hhlink bench link`: median phase times of the resolution run, and peak memory.

Data generation and ingestion happen once, outside the measurement; each repetition
runs in a fresh spawned process on its own copy of the ingested warehouse, so its
peak RSS is its own.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PHASES = ("prepare", "train", "predict", "cluster", "ids", "households", "write")


def _child(warehouse: str, train: bool, queue: mp.Queue) -> None:
    import logging

    logging.getLogger("splink").setLevel(logging.ERROR)
    from ingest import db
    from pipelines.bench import _peak_rss_mb
    from resolution.link import LinkConfig
    from resolution.run import resolve

    t0 = time.perf_counter()
    with db.connect(warehouse) as con:
        s = resolve(con, LinkConfig(train=train), progress=lambda _m: None)
    out = {k: s.timings.get(k, 0.0) for k in PHASES}
    out["total"] = time.perf_counter() - t0
    out["records"] = s.records
    out["pairs"] = s.pairs_scored
    out["peak_rss_mb"] = _peak_rss_mb()
    queue.put(out)


def _measure(warehouse: Path, train: bool) -> dict[str, float]:
    from pipelines.bench import in_fresh_process

    return in_fresh_process(_child, str(warehouse), train)


def bench_link(persons: int, repeat: int = 3, seed: int = 7, profile: str = "typical",
               workdir: Path | None = None, train: bool = False,
               progress: Callable[[str], None] = print) -> str:
    """Generate + ingest once, then time `repeat` resolution runs; a printable summary."""
    from pipelines.bench import _ingest_once
    from synth import generate

    with tempfile.TemporaryDirectory(prefix="hhlink-bench-link-") as tmp:
        root = Path(workdir or tmp)
        landing = root / "landing"
        if not landing.exists():
            progress(f"generating {persons:,} persons ({profile}, seed {seed}) in {root} — not timed")
            generate(persons, seed, root, profile)
        base = root / "ingested.duckdb"
        if not base.exists():
            progress("ingesting — not timed")
            _ingest_once(str(landing), str(base))
        runs = []
        for i in range(repeat):
            wh = root / f"bench-link-{i}.duckdb"
            shutil.copy(base, wh)
            runs.append(_measure(wh, train))
            wh.unlink(missing_ok=True)
            progress(f"run {i + 1}/{repeat}: {runs[-1]['total']:.1f} s, peak {runs[-1]['peak_rss_mb']:,.0f} MB")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    linkage = sum(med[k] for k in PHASES)
    lines = [f"bench link: {persons:,} persons, {int(med['records']):,} records, {int(med['pairs']):,} pairs, "
             f"{repeat} runs (median){' — trained per run' if train else ''}"]
    lines += [f"  {k:<28}{med[k]:7.1f} s" for k in PHASES]
    lines += [f"  {'linkage phases together':<28}{linkage:7.1f} s",
              f"  {'peak memory (RSS)':<28}{med['peak_rss_mb']:7,.0f} MB   "
              f"(max of runs {max(r['peak_rss_mb'] for r in runs):,.0f} MB)"]
    return "\n".join(lines)
