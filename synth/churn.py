"""A later delivery of one source, derived from its newest one with a known share of records changed.

For incremental linkage (its tests and `hhlink bench incremental`): the generator's own
second deliveries churn as a month does; this makes a delivery whose changes are a set
size. Of the records picked, 60% get another phone number (another address where the
source has no phone), 20% leave, and 20% are delivered a second time under a new key
(a re-registration, which should link to the same person). Written as Parquet, every
column text, the same headers as the source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ingest.landing import FILE_COL, ROW_COL, discover, read_delivery
from ingest.sources import load_sources


@dataclass(frozen=True)
class Churn:
    source: str
    based_on: date
    as_of: date
    rows: int
    changed: int
    gone: int
    new: int
    folder: Path


def churned_delivery(landing: Path, source: str, as_of: date, share: float = 0.05, seed: int = 1) -> Churn:
    """Write `<landing>/<source>/<as_of>/` from the source's newest delivery with `share` of its records changed."""
    cfg = load_sources()[source]
    dated = [d for d in discover(landing, [source]) if d.source == source and d.as_of and d.as_of < as_of]
    if not dated:
        raise ValueError(f"no delivery of {source} older than {as_of} in {landing}")
    base = dated[-1]
    frame = read_delivery(base, cfg).frame.drop(FILE_COL, ROW_COL)
    rng = np.random.default_rng(seed)
    n = frame.height
    picked = rng.permutation(n)[: max(3, round(share * n))]
    n_changed, n_gone = round(0.6 * len(picked)), round(0.2 * len(picked))
    changed, gone, renewed = picked[:n_changed], picked[n_changed:n_changed + n_gone], picked[n_changed + n_gone:]
    key = cfg.key.header
    target = cfg.column("phone") or cfg.column("address")
    col = target.header if target else None
    out = frame.with_row_index("_i")
    if col and col in frame.columns:
        fresh = pl.Series("_v", [f"1{rng.integers(3, 10)}{rng.integers(0, 10**9):09d}" if target.field == "phone"
                                 else f"{i}号附{rng.integers(1, 99)}室" for i in range(len(changed))])
        values = pl.DataFrame({"_i": pl.Series(changed, dtype=pl.UInt32), "_v": fresh})
        out = out.join(values, on="_i", how="left").with_columns(
            pl.coalesce("_v", pl.col(col)).alias(col)).drop("_v")
    again = out.filter(pl.col("_i").is_in(pl.Series(renewed, dtype=pl.UInt32).implode())).with_columns(
        ("N" + pl.col(key)).alias(key))
    out = pl.concat([out.filter(~pl.col("_i").is_in(pl.Series(gone, dtype=pl.UInt32).implode())), again])
    out = out.sort("_i").drop("_i")
    folder = landing / source / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    out.write_parquet(folder / f"{cfg.file_stem}_{as_of:%Y%m%d}.parquet", statistics=False)
    return Churn(source, base.as_of, as_of, out.height, len(changed), len(gone), len(renewed), folder)
