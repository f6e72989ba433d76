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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a spawned child
    would report its parent's peak (when the parent generated the data) instead of its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class RssSampler:
    """Samples this process's RSS in a background thread, so a run's memory can be put on its steps.

    VmHWM gives only the peak of the whole process; sampling (every `interval` s) gives the
    peak inside each step's time window, which is where to look when cutting the peak.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (time.time(), RSS MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        page_mb = resource.getpagesize() / 2**20
        statm = Path("/proc/self/statm")
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), int(statm.read_text().split()[1]) * page_mb))
            except (OSError, IndexError, ValueError):
                return  # not Linux: no per-step figures, the whole-run peak still comes from VmHWM
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float:
        inside = [mb for t, mb in self.samples if start <= t <= end]
        return max(inside, default=0.0)


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


def in_fresh_process(target: Callable[..., None], *args: object) -> dict:
    """Run `target(*args, queue)` in a spawned process and return the one dict it puts on the queue.

    A fresh process per measurement, so its peak RSS is its own; a child that reports
    ``{"error": ...}`` becomes a RuntimeError with that one line.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:
        try:
            out = queue.get(timeout=2)
            break
        except Empty:
            if not proc.is_alive():  # killed without a word: the kernel's OOM killer, most often
                code = proc.exitcode
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                raise RuntimeError(f"the measured process ended without a result ({how}; "
                                   "signal 9 is usually the out-of-memory killer)") from None
    proc.join()
    if "error" in out:
        raise RuntimeError(out["error"])
    return out


def _measure(landing: Path, warehouse: Path) -> dict[str, float]:
    return in_fresh_process(_child, str(landing), str(warehouse))


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


#: Which phase a Dagster step belongs to, by the first prefix of its key that matches.
PHASES = (("raw__", "ingest: read (landing → raw)"), ("staged__", "ingest: normalise (raw → staged)"),
          ("deliveries", "accounting"), ("source_freshness", "accounting"),
          ("persons", "link (persons, households, ids)"), ("findings", "audit: findings"),
          ("report", "audit: report site"), ("mart", "marts"),
          ("publish", "publish (warehouse + analyst db)"))
OTHER_PHASE = "checks and other steps"


CHECK_PHASE = "checks (GX suites)"
PEAK_PREFIX = "peak RSS: "


def _phase(step_key: str) -> str:
    if step_key.endswith("_expectations"):  # asset checks run as steps of their own, named after the asset
        return CHECK_PHASE
    return next((name for prefix, name in PHASES if step_key.startswith(prefix)), OTHER_PHASE)


def _run_once(landing: str, warehouse: str, as_of: str) -> dict[str, float]:
    import dagster as dg

    from pipelines.runner import run_pipeline

    t0 = time.perf_counter()
    with dg.DagsterInstance.ephemeral() as instance, RssSampler() as rss:
        run_pipeline(Path(landing), Path(warehouse), as_of=as_of, instance=instance)
        out: dict[str, float] = {"total": time.perf_counter() - t0}
        for run in instance.get_runs():
            for step in instance.get_run_step_stats(run.run_id):
                if step.start_time and step.end_time:
                    phase = _phase(step.step_key)
                    out[phase] = out.get(phase, 0.0) + step.end_time - step.start_time
                    peak = PEAK_PREFIX + phase
                    out[peak] = max(out.get(peak, 0.0), rss.peak_between(step.start_time, step.end_time))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _run_child(landing: str, warehouse: str, as_of: str, queue: mp.Queue) -> None:
    try:
        queue.put(_run_once(landing, warehouse, as_of))
    except Exception as exc:  # reported by the parent as one line
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def bench_run(persons: int, repeat: int = 3, seed: int = 7, profile: str = "typical", as_of: str = "2026-10-31",
              landing: Path | None = None, progress: Callable[[str], None] = print) -> str:
    """End to end, landing zone → published warehouse, analyst database and report (generation not timed).

    Each repetition is `hhlink run` in a fresh process on a fresh warehouse; phase times are
    the sums of the Dagster steps' durations, so they do not add up to the wall time exactly
    (run start-up and the hand-over between in-process runs are in the total only).
    """
    from datetime import date

    from synth import generate

    with tempfile.TemporaryDirectory(prefix="hhlink-bench-run-") as tmp:
        root = Path(tmp)
        if landing is None:
            progress(f"generating {persons:,} persons ({profile}, seed {seed}) in {root} — not timed")
            generate(persons, seed, root, profile, as_of=date.fromisoformat(as_of))
            landing = root / "landing"
        runs = []
        for i in range(repeat):
            wh = root / f"run-{i}" / "warehouse.duckdb"
            wh.parent.mkdir(parents=True)
            try:
                got = in_fresh_process(_run_child, str(landing), str(wh), as_of)
            except RuntimeError as exc:
                raise RuntimeError(f"run {i + 1} failed: {exc}") from None
            runs.append(got)
            progress(f"run {i + 1}/{repeat}: {got['total']:.1f} s, peak {got['peak_rss_mb']:,.0f} MB")
            for p in sorted(wh.parent.rglob("*"), reverse=True):  # keep the disk free between runs
                p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    phases = [name for name in dict.fromkeys([n for _, n in PHASES] + [CHECK_PHASE, OTHER_PHASE])
              if any(name in r for r in runs)]
    peaks = [PEAK_PREFIX + name for name in phases]
    med = {k: statistics.median(r.get(k, 0.0) for r in runs)
           for k in ["total", "cpu_s", "peak_rss_mb", *phases, *peaks]}
    worst = max(r["peak_rss_mb"] for r in runs)
    lines = [f"bench run: {persons:,} persons end to end ({landing}), {repeat} runs (median)"]
    lines += [f"  {name:<40} {med[name]:7.1f} s   peak {med[PEAK_PREFIX + name]:7,.0f} MB" for name in phases]
    lines += [f"  {'total (wall)':<40} {med['total']:7.1f} s",
              f"  {'CPU time (user + sys)':<40} {med['cpu_s']:7.1f} s",
              f"  {'peak memory (RSS)':<40} {med['peak_rss_mb']:7,.0f} MB   (max of runs {worst:,.0f} MB)"]
    return "\n".join(lines)
