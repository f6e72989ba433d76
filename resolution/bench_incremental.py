"""`hhlink bench incremental`: a new delivery changing a share of one source, linked in full and incrementally.

Not timed: generating the zone, ingesting it, the full run that leaves the linkage
state a deployment has before the delivery, writing the churned delivery
(`synth.churn`) and ingesting it. Timed, `repeat` times each, in a fresh spawned process
on its own copy of that warehouse (written to disk before the clock starts), inside one
transaction whose commit is timed too (as the linkage asset runs it): `resolve` forced to
re-link everything, and `resolve` left to choose (it links incrementally). Medians of wall
time per phase, and peak RSS.
The two results are compared record by record (same person? same person id?).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pipelines.bench import _peak_rss_mb  # one VmHWM reader for every bench

FULL_PHASES = ("prepare", "train", "predict", "cluster", "ids", "households", "write", "commit")
INC_PHASES = ("prepare", "predict", "cluster", "ids", "households", "write", "commit")


def _child(warehouse: str, mode: str, queue: mp.Queue) -> None:
    import logging

    logging.getLogger("splink").setLevel(logging.ERROR)
    from ingest import db
    from resolution.link import LinkConfig
    from resolution.run import resolve

    t0 = time.perf_counter()
    with db.connect(warehouse) as con:
        con.execute("BEGIN TRANSACTION")  # as the linkage asset runs it: one transaction, its commit timed
        s = resolve(con, LinkConfig(), progress=lambda _m: None, mode=mode)
        t1 = time.perf_counter()
        con.execute("COMMIT")
    out = dict(s.timings)
    out["commit"] = time.perf_counter() - t1
    out["total"] = time.perf_counter() - t0
    out["mode"] = s.mode
    out["records"] = s.records
    out["pairs"] = s.pairs_scored
    out["why"] = s.why
    out["peak_rss_mb"] = _peak_rss_mb()
    queue.put(out)


def _measure(warehouse: Path, mode: str) -> dict:
    from pipelines.bench import in_fresh_process

    return in_fresh_process(_child, str(warehouse), mode)


def _flush(path: Path) -> None:
    """Write the copied warehouse to disk before timing: else the kernel writes the copy's 1 GB back while the
    timed run works, and the run's commit, which syncs the file, waits for it (0.4-0.5 s at 1M persons)."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _ingest(landing: Path, warehouse: Path) -> None:
    from pipelines.bench import _ingest_once

    _ingest_once(str(landing), str(warehouse))


def _agreement(a: Path, b: Path) -> tuple[int, int, int]:
    """(records, records whose fellow records differ between the two runs, records with another person id)."""
    import duckdb

    q = ("SELECT source || ':' || record_id AS r, person_id AS p, "
         "list_sort(list(source || ':' || record_id) OVER (PARTITION BY person_id)) AS mates FROM person_xref")
    with duckdb.connect(str(a), read_only=True) as x, duckdb.connect(str(b), read_only=True) as y:
        left, right = x.sql(q).pl(), y.sql(q).pl()
    both = left.join(right, on="r", how="full", coalesce=True)
    differ = both.filter(both["mates"].is_null() | both["mates_right"].is_null()
                         | (both["mates"] != both["mates_right"])).height
    other_id = both.filter(both["p"] != both["p_right"]).height
    return both.height, differ, other_id


def bench_incremental(persons: int, repeat: int = 3, seed: int = 7, profile: str = "typical",
                      workdir: Path | None = None, source: str = "health", share: float = 0.05,
                      progress: Callable[[str], None] = print) -> str:
    """Generate, ingest and link once; churn `share` of `source`; time full and incremental linkage."""
    from ingest import db
    from ingest.landing import discover
    from resolution.link import LinkConfig
    from resolution.run import resolve
    from synth import generate
    from synth.churn import churned_delivery

    with tempfile.TemporaryDirectory(prefix="hhlink-bench-inc-") as tmp:
        root = Path(workdir or tmp)
        landing = root / "landing"
        if not landing.exists():
            progress(f"generating {persons:,} persons ({profile}, seed {seed}) in {root} — not timed")
            generate(persons, seed, root, profile)
        ready = root / f"ready-{source}-{share}.duckdb"
        if not ready.exists():
            base = root / "before.duckdb"
            if not base.exists():
                progress("ingesting and linking in full (the state before the new delivery) — not timed")
                _ingest(landing, base)
                with db.connect(base) as con:
                    resolve(con, LinkConfig(), progress=lambda _m: None, mode="full")
            newest = [d for d in discover(landing, [source]) if d.source == source and d.as_of][-1].as_of
            churn = churned_delivery(landing, source, newest + timedelta(days=30), share, seed)
            progress(f"new delivery {source}/{churn.as_of}: {churn.changed:,} changed, {churn.gone:,} gone, "
                     f"{churn.new:,} new of {churn.rows - churn.new + churn.gone:,} — ingesting, not timed")
            shutil.copy(base, ready)
            _ingest(landing, ready)
        runs: dict[str, list[dict]] = {"full": [], "auto": []}
        kept = {}
        for i in range(repeat):
            for mode in ("full", "auto"):
                wh = root / f"bench-inc-{mode}.duckdb"
                shutil.copy(ready, wh)
                _flush(wh)
                runs[mode].append(_measure(wh, mode))
                if i == repeat - 1:
                    kept[mode] = wh
                else:
                    wh.unlink(missing_ok=True)
                r = runs[mode][-1]
                progress(f"run {i + 1}/{repeat} {r['mode']}: {r['total']:.1f} s, peak {r['peak_rss_mb']:,.0f} MB")
        records, differ, other_id = _agreement(kept["full"], kept["auto"])
        for wh in kept.values():
            wh.unlink(missing_ok=True)
    full, inc = runs["full"], runs["auto"]
    if odd := [r for r in inc if r["mode"] != "incremental"]:
        return f"bench incremental: a run did not link incrementally ({odd[0]['mode']}: {odd[0]['why']})"

    def med(rs: list[dict], k: str) -> float:
        return statistics.median(r.get(k, 0.0) for r in rs)

    lines = [f"bench incremental: {persons:,} persons, {int(med(inc, 'records')):,} current records; new delivery of "
             f"{source} changing {share:.0%} of its records; {repeat} runs each (median)",
             f"  {inc[0]['why']}",
             f"  {'phase':<14}{'full':>9}{'incremental':>14}"]
    for k in FULL_PHASES:
        inc_k = f"{med(inc, k):13.2f}s" if k in INC_PHASES else " " * 14
        lines.append(f"  {k:<14}{med(full, k):8.2f}s{inc_k}")
    ft, it = med(full, "total"), med(inc, "total")
    lines += [f"  {'total':<14}{ft:8.2f}s{it:13.2f}s   incremental = {100 * it / ft:.0f}% of full",
              f"  {'pairs scored':<14}{int(med(full, 'pairs')):>9,}{int(med(inc, 'pairs')):>14,}",
              f"  {'peak RSS':<14}{med(full, 'peak_rss_mb'):7,.0f}MB{med(inc, 'peak_rss_mb'):12,.0f}MB",
              f"  agreement: {records - differ:,} of {records:,} records have the same fellow records in both runs "
              f"({differ:,} differ); {other_id:,} have another person id"]
    return "\n".join(lines)
