"""What is in the landing zone, and reading one delivery into text columns.

Every problem with a delivery as a whole (a folder name that is not a date, an
empty folder, mixed formats, a manifest that disagrees, an unreadable file, a
missing required column) becomes a one-line reason on a rejected delivery: the
other deliveries and sources go on.

A delivery still being written is neither read nor rejected: it is skipped for now
(`Delivery.pending` says why) and read on a later run once it is complete. The rule:
a file with a transfer suffix (`.part`, `.tmp`, `.partial`, `.filepart`,
`.crdownload`, `.download`, `.uploading`) is in the folder, a file was modified less
than `HHLINK_SETTLE_SECONDS` ago (default 0: off), or a file's size or modification
time changed while the delivery was being read (`snapshot` before and after).

The landing-zone sensors wait longer before they even ask for a delivery to be read
(`incomplete`): its MANIFEST.json must be there, or its files must have been quiet for
`HHLINK_QUIET_SECONDS` (default 60).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingest.readers import FILE_COL, ROW_COL, DeliveryRejected, check_headers, spool_csv, spool_parquet, spool_xlsx
from ingest.sources import SourceConfig

__all__ = ["FILE_COL", "ROW_COL", "Delivery", "DeliveryRejected", "ReadDelivery", "SpooledDelivery", "change_token",
           "discover", "fingerprint", "hash_files", "incomplete", "quiet_seconds", "read_delivery", "snapshot",
           "spool_delivery", "verify_manifest"]

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
MANIFEST = "MANIFEST.json"
IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".filepart", ".crdownload", ".download", ".uploading")
_check_headers = check_headers  # older name


@dataclass(frozen=True)
class Delivery:
    source: str
    folder: Path
    as_of: date | None
    files: tuple[Path, ...]
    problem: str | None = None  # set when the folder itself is unusable
    pending: str | None = None  # set when the delivery is still being written: skip for now, not a rejection

    @property
    def label(self) -> str:
        return f"{self.source}/{self.folder.name}"


@dataclass
class SpooledDelivery:
    """A delivery's files as Parquet spool files of text columns (plus `_file`, `_row`), not in memory."""
    parts: list[Path]
    columns: list[str]
    format: str
    encodings: list[str]
    fingerprint: str
    manifest: str
    rows_per_file: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_per_file.values())


@dataclass
class ReadDelivery:
    frame: pl.DataFrame
    format: str
    encodings: list[str]
    fingerprint: str
    manifest: str  # "verified" or "absent"
    rows_per_file: dict[str, int] = field(default_factory=dict)


def _as_of(name: str) -> date | None:
    try:
        d = date.fromisoformat(name)
    except ValueError:
        return None
    return d if d.isoformat() == name else None


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST
                  and not p.name.startswith((".", "~$")) and not p.name.lower().endswith(IN_PROGRESS_SUFFIXES))


def _still_written(folder: Path) -> str | None:
    """Why the delivery looks unfinished, or None (see the module docstring for the rule)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    partial = [p.name for p in files if p.name.lower().endswith(IN_PROGRESS_SUFFIXES)]
    if partial:
        return f"still being written ('{partial[0]}' is an unfinished transfer): skipped for now"
    settle = float(os.environ.get("HHLINK_SETTLE_SECONDS", "0") or 0)
    if settle > 0 and files:
        newest = max(files, key=lambda p: p.stat().st_mtime)
        age = time.time() - newest.stat().st_mtime
        if age < settle:
            return f"still being written ('{newest.name}' changed {age:.0f} s ago): skipped for now"
    return None


def snapshot(delivery: Delivery) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file: compared before and after reading."""
    out = {}
    for p in sorted(delivery.folder.iterdir()) if delivery.folder.is_dir() else []:
        if p.is_file():
            st = p.stat()
            out[p.name] = (st.st_size, st.st_mtime_ns)
    return out


QUIET_ENV, QUIET_SECONDS = "HHLINK_QUIET_SECONDS", 60.0


def quiet_seconds() -> float:
    """How long a delivery without a manifest must stay unchanged before it counts as complete."""
    value = os.environ.get(QUIET_ENV, "").strip()
    try:
        seconds = float(value) if value else QUIET_SECONDS
    except ValueError:
        raise ValueError(f"{QUIET_ENV} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{QUIET_ENV} must not be negative, not {value!r}")
    return seconds


def incomplete(delivery: Delivery, quiet: float, now: float | None = None) -> str | None:
    """Why a watcher should not pick this delivery up yet, or None when it is complete.

    Complete means: no unfinished transfer in the folder, and either its MANIFEST.json is
    there (senders write it last) or no file has changed for `quiet` seconds.
    """
    if delivery.pending and "unfinished transfer" in delivery.pending:
        return delivery.pending
    if (delivery.folder / MANIFEST).exists():
        return None
    times = [p.stat().st_mtime for p in delivery.folder.iterdir() if p.is_file()] if delivery.folder.is_dir() else []
    if not times:
        return "no files yet"
    age = (time.time() if now is None else now) - max(times)
    return None if age >= quiet else f"no manifest and a file changed {age:.0f} s ago (quiet period {quiet:.0f} s)"


def change_token(delivery: Delivery) -> str:
    """Names, sizes and modification times of the delivery's files, hashed: cheap to watch, unlike checksums."""
    return hashlib.sha256(repr(sorted(snapshot(delivery).items())).encode()).hexdigest()[:16]


def discover(landing: Path, sources: Iterable[str]) -> list[Delivery]:
    """Every delivery folder under the landing zone, known source or not, oldest first."""
    known = set(sources)
    out: list[Delivery] = []
    if not landing.is_dir():
        return out
    for src_dir in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder in sorted(p for p in src_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            as_of = _as_of(folder.name)
            files = tuple(_data_files(folder))
            problem = None
            if src_dir.name not in known:
                problem = f"unknown source folder '{src_dir.name}' (no config in sources/)"
            elif as_of is None:
                problem = f"folder name '{folder.name}' is not an as-of date (YYYY-MM-DD)"
            elif not files and not (folder / MANIFEST).exists() and not _still_written(folder):
                problem = "empty delivery folder"
            pending = None if problem else _still_written(folder)
            out.append(Delivery(src_dir.name, folder, as_of, files, problem, pending))
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_files(delivery: Delivery) -> dict[str, str]:
    """sha256 of every file of the delivery (manifest included), hashed once per run."""
    paths = [*delivery.files, delivery.folder / MANIFEST]
    return {p.name: sha256(p) for p in paths if p.exists()}


def fingerprint(hashes: dict[str, str]) -> str:
    """Identity of a delivery's content: re-ingesting an unchanged delivery is skipped."""
    h = hashlib.sha256()
    for name, digest in sorted(hashes.items()):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def verify_manifest(delivery: Delivery, hashes: dict[str, str],
                    rows_per_file: dict[str, int] | None = None) -> str:
    """'absent' or 'verified'; raises DeliveryRejected naming the file and what differs."""
    path = delivery.folder / MANIFEST
    if not path.exists():
        return "absent"
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        entries = {e["name"]: e for e in doc["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryRejected(f"MANIFEST.json is not valid ({type(exc).__name__}: {exc})") from exc
    if doc.get("source") not in (None, delivery.source):
        raise DeliveryRejected(f"MANIFEST.json names source '{doc.get('source')}', folder is '{delivery.source}'")
    if doc.get("as_of") not in (None, delivery.folder.name):
        raise DeliveryRejected(f"MANIFEST.json names as_of '{doc.get('as_of')}', folder is '{delivery.folder.name}'")
    present = {p.name for p in delivery.files}
    for name, entry in sorted(entries.items()):
        if name not in present:
            raise DeliveryRejected(f"MANIFEST.json lists '{name}' but the file is missing")
        want = entry.get("sha256")
        if want and hashes.get(name) != str(want).lower():
            raise DeliveryRejected(f"'{name}': checksum differs from MANIFEST.json")
        if rows_per_file is not None and "rows" in entry and rows_per_file.get(name) != int(entry["rows"]):
            raise DeliveryRejected(
                f"'{name}': {rows_per_file.get(name)} rows, MANIFEST.json says {entry['rows']}")
    extra = sorted(present - set(entries))
    if extra:
        raise DeliveryRejected(f"'{extra[0]}' is not listed in MANIFEST.json")
    return "verified"


def _spool_file(p: Path, fmt: str, tmp_dir: Path, out: Path) -> tuple[list[str], int, str | None]:
    if fmt == "csv":
        return spool_csv(p, tmp_dir, out)
    if fmt == "xlsx":
        return (*spool_xlsx(p, out), None)
    return (*spool_parquet(p, out), None)


def spool_delivery(delivery: Delivery, config: SourceConfig, tmp_dir: Path,
                   hashes: dict[str, str] | None = None) -> SpooledDelivery:
    """Every file of one delivery spooled to Parquet in `tmp_dir`, checked (formats, headers, required
    columns, rows, manifest) without holding the data in memory."""
    hashes = hash_files(delivery) if hashes is None else hashes
    if delivery.problem:
        raise DeliveryRejected(delivery.problem)
    if not delivery.files:
        raise DeliveryRejected("no data files besides MANIFEST.json")
    verify_manifest(delivery, hashes)  # files present and checksums, before spending time reading
    kinds = {FORMATS.get(p.suffix.lower()) for p in delivery.files}
    if None in kinds:
        odd = next(p.name for p in delivery.files if p.suffix.lower() not in FORMATS)
        raise DeliveryRejected(f"'{odd}': not a .csv, .xlsx or .parquet file")
    if len(kinds) > 1:
        raise DeliveryRejected(f"mixed file formats in one delivery: {', '.join(sorted(kinds))}")
    fmt = kinds.pop()
    parts, encodings, rows, columns = [], [], {}, []
    for i, p in enumerate(delivery.files):
        out = tmp_dir / f"part-{i}.parquet"
        headers, n, enc = _spool_file(p, fmt, tmp_dir, out)
        if enc:
            encodings.append(enc)
        missing = [c.header for c in config.required if not any(h in headers for h in c.headers)]
        if missing:
            seen = ", ".join(headers[:6]) + (", ..." if len(headers) > 6 else "")
            how = f", read as {enc.upper()}" if enc else ""
            raise DeliveryRejected(
                f"'{p.name}': required column '{missing[0]}' is missing (headers found{how}: {seen})")
        if n == 0:
            raise DeliveryRejected(f"'{p.name}': header only, no data rows (a full snapshot cannot be empty)")
        rows[p.name] = n
        parts.append(out)
        columns.extend(h for h in headers if h not in columns)
    manifest = verify_manifest(delivery, hashes, rows)
    return SpooledDelivery(parts=parts, columns=[*columns, FILE_COL, ROW_COL], format=fmt, encodings=encodings,
                           fingerprint=fingerprint(hashes), manifest=manifest, rows_per_file=rows)


def read_delivery(delivery: Delivery, config: SourceConfig,
                  hashes: dict[str, str] | None = None) -> ReadDelivery:
    """All files of one delivery as one text frame with `_file` and `_row` added (for small deliveries and
    tests; the pipeline streams through `spool_delivery`)."""
    with tempfile.TemporaryDirectory(prefix="hhlink-read-") as tmp:
        got = spool_delivery(delivery, config, Path(tmp), hashes)
        frames = [pl.read_parquet(p) for p in got.parts]
    cols = [c for c in got.columns if c not in (FILE_COL, ROW_COL)]
    frame = pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]
    frame = frame.select(*[c for c in cols if c in frame.columns], FILE_COL, ROW_COL)
    return ReadDelivery(frame=frame, format=got.format, encodings=got.encodings, fingerprint=got.fingerprint,
                        manifest=got.manifest, rows_per_file=got.rows_per_file)
