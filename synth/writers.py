"""Writing a delivery: CSV (UTF-8, UTF-8 with BOM, GB18030), XLSX, Parquet, manifests.

Byte-for-byte reproducible: rows arrive sorted, CSV and Parquet writers are
deterministic, and XLSX metadata carries a fixed creation time. Large deliveries are
split into numbered files (``参保人员_20261031_01.csv`` …), and an XLSX file never
holds more rows than a sheet can (1,048,576 including the header).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from synth.messy import CELL_DATE, CELL_NUMBER

XLSX_MAX_ROWS = 1_048_575
_FIXED_TIME = datetime(2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class WrittenFile:
    name: str
    rows: int
    sha256: str


def _strip_markers(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.all().str.replace(r"^\x01[nd]", ""))


def _blanks_as_null(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.when(pl.all() != "").then(pl.all()).name.keep())


def _csv_bytes(df: pl.DataFrame, encoding: str) -> bytes:
    """Blank fields are written empty and unquoted, as spreadsheet and database exports do."""
    buf = io.BytesIO()
    crlf = encoding == "gb18030"
    _blanks_as_null(_strip_markers(df)).write_csv(buf, line_terminator="\r\n" if crlf else "\n",
                                                  quote_style="necessary")
    raw = buf.getvalue()
    if encoding == "gb18030":
        return raw.decode("utf-8").encode("gb18030")
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + raw
    return raw


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    clean = _blanks_as_null(_strip_markers(df))
    clean.write_parquet(buf, compression="zstd", statistics=False)
    return buf.getvalue()


def _xlsx_bytes(df: pl.DataFrame, path: Path) -> bytes:
    """Write row by row in constant-memory mode (one Python loop per row: XLSX is kept for small sources)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": _FIXED_TIME, "author": "", "title": ""})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Sheet1")
    for j, h in enumerate(df.columns):
        ws.write_string(0, j, h)
    for i, row in enumerate(df.iter_rows(), start=1):
        for j, v in enumerate(row):
            if not v:
                continue
            if v[0] == "\x01":
                tag, body = v[:2], v[2:]
                if tag == CELL_NUMBER:
                    ws.write_number(i, j, float(body))
                elif tag == CELL_DATE:
                    ws.write_datetime(i, j, datetime.fromisoformat(body), date_fmt)
            else:
                ws.write_string(i, j, v)
    wb.close()
    return path.read_bytes()


def write_delivery(folder: Path, stem: str, as_of: date, fmt: str, encoding: str, table: pl.DataFrame,
                   max_rows: int) -> list[WrittenFile]:
    """Write ``table`` as one or more files of ``fmt`` into ``folder``; returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    limit = min(max_rows, XLSX_MAX_ROWS) if fmt == "xlsx" else max_rows
    parts = max(1, -(-table.height // limit))
    written = []
    for k in range(parts):
        chunk = table.slice(k * limit, limit)
        suffix = f"_{k + 1:02d}" if parts > 1 else ""
        name = f"{stem}_{as_of:%Y%m%d}{suffix}.{fmt}"
        if fmt == "csv":
            data = _csv_bytes(chunk, encoding)
        elif fmt == "parquet":
            data = _parquet_bytes(chunk)
        else:
            data = _xlsx_bytes(chunk, folder / name)
        if fmt != "xlsx":
            (folder / name).write_bytes(data)
        written.append(WrittenFile(name=name, rows=chunk.height, sha256=hashlib.sha256(data).hexdigest()))
    return written


def write_manifest(folder: Path, source: str, as_of: date, files: list[WrittenFile]) -> Path:
    doc = {"source": source, "as_of": as_of.isoformat(),
           "files": [{"name": f.name, "rows": f.rows, "sha256": f.sha256} for f in files]}
    path = folder / "MANIFEST.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
