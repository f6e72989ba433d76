"""One delivered file → a Parquet spool file of text columns, with bounded memory.

A large extract must not be held in memory several times over (bytes, decoded text,
re-encoded bytes, a frame). CSV files are checked for their encoding by streaming
(UTF-8, UTF-8 with BOM, GB18030), GB18030 is transcoded in chunks into a temporary
UTF-8 file, and polars' streaming engine turns the UTF-8 file into Parquet, from
which DuckDB inserts in its own bounded batches. XLSX sheets are read whole (a sheet
holds at most about a million rows); Parquet is streamed.

Problems with a file become `DeliveryRejected` with a one-line reason naming it.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
from contextlib import nullcontext
from pathlib import Path

import polars as pl

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
#: Columns the reader adds to every raw row: where it came from.
FILE_COL, ROW_COL = "_file", "_row"


class DeliveryRejected(Exception):
    """The delivery cannot be accepted; the message is the one-line reason."""


def _clean_header(h: str) -> str:
    return unicodedata.normalize("NFKC", h).strip()


def check_headers(headers: list[str], name: str) -> None:
    """Every column named, no name twice (merged or blank header cells, copy-paste accidents)."""
    seen: set[str] = set()
    for h in headers:
        if not h or h.startswith("__UNNAMED__"):
            raise DeliveryRejected(f"'{name}': a column has an empty header (blank or merged header cells?)")
        if h in seen:
            raise DeliveryRejected(f"'{name}': column header '{h}' appears twice")
        seen.add(h)


def _stream_decode(path: Path, encoding: str, skip: int, out: Path | None = None) -> None:
    """Decode the file chunk by chunk, optionally writing it as UTF-8 to `out`.

    Raises UnicodeDecodeError whose `start` is the absolute offset of the first bad byte.
    """
    dec = codecs.getincrementaldecoder(encoding)()
    pos = skip
    with path.open("rb") as f, (out.open("wb") if out else nullcontext()) as w:
        f.seek(skip)
        while True:
            chunk = f.read(CHUNK)
            if b"\x00" in chunk:
                raise DeliveryRejected(f"'{path.name}': contains NUL bytes at byte {pos + chunk.index(0)}: "
                                       "not a text CSV (binary, or UTF-16 without a byte-order mark)")
            pending = len(dec.getstate()[0])
            try:
                text = dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                exc.start += pos - pending
                raise
            if w is not None:
                w.write(text.encode("utf-8"))
            if not chunk:
                return
            pos += len(chunk)


def sniff_encoding(path: Path, tmp_dir: Path) -> tuple[Path, str]:
    """(a UTF-8 file with the same text, the encoding the file arrived in)."""
    name = path.name
    with path.open("rb") as f:
        head = f.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DeliveryRejected(f"'{name}': UTF-16 text (byte-order mark {head[:2].hex().upper()}); "
                               "only UTF-8 or GB18030 CSV files are read")
    bom = head.startswith(BOM)
    try:
        _stream_decode(path, "utf-8", 3 if bom else 0)
        return path, "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if bom:
            raise DeliveryRejected(f"'{name}': has a UTF-8 BOM but invalid UTF-8 at byte {exc.start}") from exc
    out = tmp_dir / f"{len(list(tmp_dir.iterdir()))}.utf8.csv"
    try:
        _stream_decode(path, "gb18030", 0, out)
    except UnicodeDecodeError as exc:
        raise DeliveryRejected(f"'{name}': neither UTF-8 nor GB18030 (bad byte at {exc.start})") from exc
    return out, "gb18030"


def _csv_header(utf8: Path, name: str) -> list[str]:
    with utf8.open("rb") as f:
        head = f.read(CHUNK)
    if head.startswith(BOM):
        head = head[3:]
    if not head.strip():
        raise DeliveryRejected(f"'{name}': empty file")
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    headers = [_clean_header(h) for h in next(csv.reader([first]))]
    check_headers(headers, name)
    return headers


def _check_not_truncated(utf8: Path, name: str, n_cols: int) -> None:
    """A last line with no line end and fewer fields than the header: the transfer was cut off."""
    size = utf8.stat().st_size
    with utf8.open("rb") as f:
        f.seek(max(0, size - CHUNK))
        tail = f.read()
    if tail.endswith(b"\n"):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    fields = next(csv.reader([last]), [])
    if len(fields) < n_cols or last.count('"') % 2:
        raise DeliveryRejected(f"'{name}': truncated: the last line has {len(fields)} of {n_cols} fields "
                               "and no line end")


def _polars_reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _sink(frame: pl.LazyFrame, name: str, out: Path) -> int:
    """Write the text frame with `_file`/`_row` to Parquet (streaming); returns its row count."""
    frame.with_row_index(ROW_COL, offset=2).with_columns(  # spreadsheet row numbers: the header is row 1
        pl.col(ROW_COL).cast(pl.Int64), pl.lit(name).alias(FILE_COL)).sink_parquet(out)
    return pl.scan_parquet(out).select(pl.len()).collect().item()


def spool_csv(path: Path, tmp_dir: Path, out: Path) -> tuple[list[str], int, str]:
    """(headers, rows, encoding) of a CSV spooled to `out`."""
    utf8, enc = sniff_encoding(path, tmp_dir)
    headers = _csv_header(utf8, path.name)
    _check_not_truncated(utf8, path.name, len(headers))
    lazy = pl.scan_csv(utf8, infer_schema=False, new_columns=headers, raise_if_empty=False)
    try:
        rows = _sink(lazy, path.name, out)
    except pl.exceptions.PolarsError as exc:
        raise DeliveryRejected(f"'{path.name}': not a readable CSV ({_polars_reason(exc)})") from exc
    finally:
        if utf8 != path:
            utf8.unlink(missing_ok=True)
    return headers, rows, enc


def _as_text(frame: pl.LazyFrame | pl.DataFrame) -> list[pl.Expr]:
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    return [pl.col(c).cast(pl.String) if dt != pl.String else pl.col(c) for c, dt in schema.items()]


def spool_xlsx(path: Path, out: Path) -> tuple[list[str], int]:
    try:
        df = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    except Exception as exc:  # calamine raises its own types for every kind of damage
        raise DeliveryRejected(f"'{path.name}': not a readable XLSX workbook ({_polars_reason(exc)})") from exc
    headers = [_clean_header(str(c)) for c in df.columns]
    if any(h.endswith(tuple(f"_duplicated_{i}" for i in range(10))) for h in headers):
        raise DeliveryRejected(f"'{path.name}': a column header appears twice")
    check_headers(headers, path.name)
    df = df.rename(dict(zip(df.columns, headers, strict=True)))
    return headers, _sink(df.lazy().select(_as_text(df)), path.name, out)


def spool_parquet(path: Path, out: Path) -> tuple[list[str], int]:
    try:
        lazy = pl.scan_parquet(path)
        cols = lazy.collect_schema().names()
        headers = [_clean_header(c) for c in cols]
        check_headers(headers, path.name)
        lazy = lazy.select(_as_text(lazy)).rename(dict(zip(cols, headers, strict=True)))
        return headers, _sink(lazy, path.name, out)
    except pl.exceptions.PolarsError as exc:
        raise DeliveryRejected(f"'{path.name}': not a readable Parquet file ({_polars_reason(exc)})") from exc
    except OSError as exc:
        raise DeliveryRejected(f"'{path.name}': not a readable Parquet file ({exc})") from exc
