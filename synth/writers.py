"""Writing a delivery: CSV (UTF-8, UTF-8 with BOM, GB18030), XLSX, Parquet, manifests.

Byte-for-byte reproducible: rows arrive sorted, CSV and Parquet writers are
deterministic, and XLSX metadata carries a fixed creation time. Large deliveries are
split into numbered files (``参保人员_20261031_01.csv`` …), and an XLSX file never
holds more rows than a sheet can (1,048,576 including the header). A population
generated in chunks appends each chunk's files to the delivery, numbering on.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

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
                   max_rows: int, *, first_number: int | None = None) -> list[WrittenFile]:
    """Write ``table`` as one or more files of ``fmt`` into ``folder``; returns what was written.

    ``first_number`` continues a delivery written in several calls (one per chunk of the
    population): every file is then numbered, from that number on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    limit = min(max_rows, XLSX_MAX_ROWS) if fmt == "xlsx" else max_rows
    parts = max(1, -(-table.height // limit))
    numbered = parts > 1 or first_number is not None
    written = []
    for k in range(parts):
        chunk = table.slice(k * limit, limit)
        suffix = f"_{(first_number or 1) + k:02d}" if numbered else ""
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


class TruthTables:
    """The truth's parquet files (``<name>.parquet``), written whole or appended to chunk by chunk.

    Written whole (one chunk), polars writes each table once, as the generator always has.
    Appended to (several chunks), a pyarrow writer per table adds each chunk's rows, cast to
    the first chunk's schema, so only one chunk is ever in memory; a file appears under its
    name only when complete (``close``).
    """

    def __init__(self, folder: Path, append: bool) -> None:
        self.folder = folder
        self.append = append
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._written: set[str] = set()
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.parquet"

    def add(self, name: str, df: pl.DataFrame) -> None:
        if not self.append:
            if name in self._written:
                raise RuntimeError(f"synth bug: truth table {name} written twice")
            df.write_parquet(self.path(name), statistics=False)
            self._written.add(name)
            return
        table = df.to_arrow()
        writer = self._writers.get(name)
        if writer is None:
            writer = pq.ParquetWriter(self._partial(name), table.schema, compression="zstd",
                                      write_statistics=False)
            self._writers[name] = writer
        writer.write_table(table.cast(writer.schema))

    def _partial(self, name: str) -> Path:
        return self.folder / f".{name}.parquet.part"

    def close(self) -> None:
        """Finish every appended file and put it in place."""
        for name, writer in self._writers.items():
            writer.close()
            self._partial(name).replace(self.path(name))
        self._writers.clear()

    def abort(self) -> None:
        """Drop unfinished appended files (a failed run leaves no truncated truth behind)."""
        for name, writer in self._writers.items():
            writer.close()
            self._partial(name).unlink(missing_ok=True)
        self._writers.clear()
