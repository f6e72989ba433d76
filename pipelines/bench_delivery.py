"""`hhlink bench delivery`: memory of ingesting one delivery many times larger than usual.

The guarantee (issue 8): a source file several times larger than usual is ingested
(landing → raw → staged) without holding more than one copy of it in memory. Imports,
DuckDB's start-up and one staging batch's working set are paid by every delivery whatever
its size, so the figure is the *growth*: the peak RSS of the whole delivery minus the peak
of its first half, divided by the megabytes between them. A reader that held one copy of
the file would show 1.0 (plus its overheads); a streaming one shows less. Each measurement
is a fresh spawned process running both steps the way the Dagster assets do, one
transaction a step, on a fresh warehouse.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SOURCE = "health"  # the widest everyday source, and the one with the most rows per person


@dataclass(frozen=True)
class DeliveryMemory:
    file_mb: float
    rows: int
    peak_mb: float
    half_mb: float  # the first half of the file, as a delivery of its own
    half_peak_mb: float
    seconds: float

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.half_peak_mb

    @property
    def copies(self) -> float:
        """Memory per megabyte of delivery, between its half and the whole: copies of the file held."""
        return self.growth_mb / (self.file_mb - self.half_mb)


def build_delivery(template: Path, landing: Path, rows: int, as_of: str = "2026-10-31") -> Path:
    """A `SOURCE` delivery of `rows` rows made by repeating a generated file, keys kept unique.

    Repeats get a suffix on the record key (and nothing else), so no row is a repeated
    key and every row goes the whole way to the staged table, as in a real extract.
    """
    from ingest.readers import sniff_encoding
    from ingest.sources import load_sources

    key = load_sources()[SOURCE].key.header
    with tempfile.TemporaryDirectory(prefix="hhlink-bench-delivery-") as tmp:
        utf8, _ = sniff_encoding(template, Path(tmp))
        base = pl.read_csv(utf8, infer_schema=False, encoding="utf8-lossy")
    copies = -(-rows // base.height)
    frame = (pl.concat([base.lazy().with_columns(pl.col(key) + f"-{i}" if i else pl.col(key))
                        for i in range(copies)])
             .head(rows))
    folder = landing / SOURCE / as_of
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{load_sources()[SOURCE].file_stem or SOURCE}_{as_of.replace('-', '')}.csv"
    frame.sink_csv(out)
    return out


def _slice(big: Path, landing: Path, rows: int) -> Path:
    """The header and first `rows` data rows of the big file, as a delivery of their own."""
    out = landing / big.parent.relative_to(big.parent.parent.parent) / big.name
    out.parent.mkdir(parents=True, exist_ok=True)
    with big.open("rb") as src, out.open("wb") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return out


def _ingest_child(landing: str, warehouse: str, queue: mp.Queue) -> None:
    import time

    from ingest import db
    from ingest.deliveries import ingest_raw, stage_source
    from ingest.sources import load_sources
    from pipelines.bench import _peak_rss_mb

    cfg = load_sources()[SOURCE]
    t0 = time.perf_counter()
    try:
        with db.connect(warehouse) as con:
            for step in (ingest_raw, stage_source):
                con.execute("BEGIN TRANSACTION")  # as the assets do: one transaction a step
                outcome = (step(con, Path(landing), cfg, lambda _m: None) if step is ingest_raw
                           else step(con, cfg, lambda _m: None))
                con.execute("COMMIT")
        rows = outcome[-1].rows if outcome else 0
        queue.put({"peak_mb": _peak_rss_mb(), "rows": rows, "seconds": time.perf_counter() - t0})
    except Exception as exc:  # reported by the parent as one line
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _peak(landing: Path, warehouse: Path) -> dict:
    from pipelines.bench import in_fresh_process

    try:
        return in_fresh_process(_ingest_child, str(landing), str(warehouse))
    except RuntimeError as exc:
        raise RuntimeError(f"ingesting {landing} failed: {exc}") from None


def measure_delivery(big: Path, workdir: Path) -> DeliveryMemory:
    """Peak RSS of ingesting the delivery holding `big`, and of its first half, each in a fresh process."""
    with big.open("rb") as f:
        rows = sum(1 for _ in f) - 1
    half = _slice(big, workdir / "half-landing", rows // 2)
    base = _peak(half.parent.parent.parent, workdir / "half.duckdb")
    full = _peak(big.parent.parent.parent, workdir / "big.duckdb")
    for p in workdir.glob("*.duckdb*"):
        p.unlink()
    return DeliveryMemory(file_mb=big.stat().st_size / 2**20, rows=full["rows"], peak_mb=full["peak_mb"],
                          half_mb=half.stat().st_size / 2**20, half_peak_mb=base["peak_mb"],
                          seconds=full["seconds"])


def bench_delivery(rows: int, repeat: int = 3, seed: int = 7,
                   progress: Callable[[str], None] = print) -> str:
    """Build one large delivery from a small generated zone, then measure it `repeat` times."""
    from synth import generate

    with tempfile.TemporaryDirectory(prefix="hhlink-bench-delivery-") as tmp:
        root = Path(tmp)
        progress(f"generating a template zone (seed {seed}) and a {rows:,}-row {SOURCE} delivery — not timed")
        generate(20_000, seed, root / "zone", "typical")
        template = next((root / "zone" / "landing" / SOURCE).glob("*/*.csv"))
        big = build_delivery(template, root / "landing", rows)
        runs = []
        for i in range(repeat):
            runs.append(measure_delivery(big, root))
            r = runs[-1]
            progress(f"run {i + 1}/{repeat}: peak {r.peak_mb:,.0f} MB, first half {r.half_peak_mb:,.0f} MB, "
                     f"{r.copies:.2f} copies")
    med = {k: statistics.median(getattr(r, k) for r in runs)
           for k in ("peak_mb", "half_peak_mb", "growth_mb", "copies", "seconds")}
    r = runs[0]
    rows = [("landing → raw → staged, one transaction a step", f"{med['seconds']:7.1f} s"),
            ("peak RSS, whole delivery", f"{med['peak_mb']:7,.0f} MB"),
            (f"peak RSS, its first half ({r.half_mb:,.0f} MB)", f"{med['half_peak_mb']:7,.0f} MB"),
            (f"growth for the second half ({r.file_mb - r.half_mb:,.0f} MB)",
             f"{med['growth_mb']:7,.0f} MB   = {med['copies']:.2f} copies of the file (target < 1)")]
    return "\n".join([f"bench delivery: one {SOURCE} CSV of {r.file_mb:,.0f} MB ({r.rows:,} rows), "
                      f"{repeat} runs (median)", *(f"  {label:<50}{value}" for label, value in rows)])
