"""What is in the landing zone, and reading one delivery into text columns.

Every problem with a delivery as a whole (a folder name that is not a date, an
empty folder, mixed formats, a manifest that disagrees, an unreadable file, a
missing required column) becomes a one-line reason on a rejected delivery: the
other deliveries and sources go on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingest.sources import SourceConfig

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet"}
MANIFEST = "MANIFEST.json"
#: Columns the reader adds to every raw row: where it came from.
FILE_COL, ROW_COL = "_file", "_row"


class DeliveryRejected(Exception):
    """The delivery cannot be accepted; the message is the one-line reason."""


@dataclass(frozen=True)
class Delivery:
    source: str
    folder: Path
    as_of: date | None
    files: tuple[Path, ...]
    problem: str | None = None  # set when the folder itself is unusable

    @property
    def label(self) -> str:
        return f"{self.source}/{self.folder.name}"


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
                  and not p.name.startswith((".", "~$")))


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
            elif not files and not (folder / MANIFEST).exists():
                problem = "empty delivery folder"
            out.append(Delivery(src_dir.name, folder, as_of, files, problem))
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


def _decode_csv(raw: bytes, name: str) -> tuple[bytes, str]:
    """UTF-8 bytes of a CSV and the encoding it arrived in (UTF-8, UTF-8 with BOM or GB18030)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        enc, body = "utf-8-sig", raw[3:]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeliveryRejected(f"'{name}': has a UTF-8 BOM but invalid UTF-8 at byte {exc.start + 3}") from exc
        return body, enc
    try:
        raw.decode("utf-8")
        return raw, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DeliveryRejected(f"'{name}': neither UTF-8 nor GB18030 (bad byte at {exc.start})") from exc
    return text.encode("utf-8"), "gb18030"


def _clean_header(h: str) -> str:
    return unicodedata.normalize("NFKC", h).strip()


def _check_headers(headers: list[str], name: str) -> None:
    seen: set[str] = set()
    for h in headers:
        if not h:
            raise DeliveryRejected(f"'{name}': a column has an empty header")
        if h in seen:
            raise DeliveryRejected(f"'{name}': column header '{h}' appears twice")
        seen.add(h)


def _read_csv(path: Path) -> tuple[pl.DataFrame, str]:
    body, enc = _decode_csv(path.read_bytes(), path.name)
    if not body.strip():
        raise DeliveryRejected(f"'{path.name}': empty file")
    first = body.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    headers = [_clean_header(h) for h in next(csv.reader([first]))]
    _check_headers(headers, path.name)
    try:
        df = pl.read_csv(io.BytesIO(body), infer_schema=False, new_columns=headers,
                         raise_if_empty=False)
    except pl.exceptions.PolarsError as exc:
        msg = str(exc).strip().splitlines()[0][:160]
        raise DeliveryRejected(f"'{path.name}': not a readable CSV ({msg})") from exc
    return df, enc


def _read_xlsx(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # calamine raises its own types for every kind of damage
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DeliveryRejected(f"'{path.name}': not a readable XLSX workbook ({msg})") from exc
    headers = [_clean_header(str(c)) for c in df.columns]
    if any(h.endswith(tuple(f"_duplicated_{i}" for i in range(10))) for h in headers):
        raise DeliveryRejected(f"'{path.name}': a column header appears twice")
    _check_headers(headers, path.name)
    return df.rename(dict(zip(df.columns, headers, strict=True)))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_parquet(path)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:160]
        raise DeliveryRejected(f"'{path.name}': not a readable Parquet file ({msg})") from exc
    headers = [_clean_header(c) for c in df.columns]
    _check_headers(headers, path.name)
    return df.rename(dict(zip(df.columns, headers, strict=True)))


def _to_text(df: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: the raw layer keeps values exactly as delivered."""
    return df.with_columns(
        pl.col(c).cast(pl.String) if dt != pl.String else pl.col(c)
        for c, dt in df.schema.items()
    )


def read_delivery(delivery: Delivery, config: SourceConfig,
                  hashes: dict[str, str] | None = None) -> ReadDelivery:
    """All files of one delivery as one text frame with `_file` and `_row` added."""
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
    frames, encodings, rows = [], [], {}
    for p in delivery.files:
        if fmt == "csv":
            df, enc = _read_csv(p)
            encodings.append(enc)
        elif fmt == "xlsx":
            df = _read_xlsx(p)
        else:
            df = _read_parquet(p)
        df = _to_text(df)
        missing = [c.header for c in config.required if not any(h in df.columns for h in c.headers)]
        if missing:
            raise DeliveryRejected(f"'{p.name}': required column '{missing[0]}' is missing")
        rows[p.name] = df.height
        frames.append(df.with_columns(
            pl.lit(p.name).alias(FILE_COL),
            pl.int_range(2, df.height + 2, dtype=pl.Int64).alias(ROW_COL),  # spreadsheet row, header = 1
        ))
    manifest = verify_manifest(delivery, hashes, rows)
    frame = pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]
    return ReadDelivery(frame=frame, format=fmt, encodings=encodings,
                        fingerprint=fingerprint(hashes), manifest=manifest, rows_per_file=rows)
