"""Dates in every spelling the departments use, to ``pl.Date``.

One regex takes year, month and day out of ``2019-03-05``, ``2019/3/5``,
``2019.03.05``, ``2019年3月5日`` and Excel date cells as calamine prints them
(``2019-03-05 00:00:00``); a second one takes ``20190305``. The parts are zero-padded
and parsed with ``%Y-%m-%d`` so that impossible dates (2019-02-30) come out null
rather than rolled over.

Excel serial numbers (``43529`` → 2019-03-05) are accepted only with five digits and
at most 73050 (2099-12-31), i.e. from 1927-05-18 on: a four-digit number is far more
likely a bare year than a date in 1900-1927, and nothing later than 2099 is a date
of this domain. Serials count from 1899-12-30 (Excel's 1900 leap-year bug makes that
the right origin for every serial after February 1900).

Nulled with an issue: ``1900-01-01`` (the placeholder systems write for "unknown"),
anything earlier, and dates after the delivery's as-of date when it is given.
"""

from __future__ import annotations

from datetime import date as _date

import polars as pl

from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import clean_typed, issue_with_value

_SEPARATED = (
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"
_SERIAL = r"^(\d{5})(?:\.\d+)?$"

EXCEL_EPOCH = _date(1899, 12, 30)
SERIAL_MIN, SERIAL_MAX = 10000, 73050
PLACEHOLDER = _date(1900, 1, 1)
EARLIEST = _date(1900, 1, 1)


def _ymd(s: pl.Expr, pattern: str) -> pl.Expr:
    g = s.str.extract_groups(pattern)
    text = pl.concat_str(
        [g.struct.field("1"), g.struct.field("2").str.zfill(2), g.struct.field("3").str.zfill(2)],
        separator="-",
    )
    return text.str.to_date("%Y-%m-%d", strict=False)


def parse_date(s: pl.Expr) -> pl.Expr:
    """Date from already-cleaned text; null when no accepted form matches."""
    serial = s.str.extract(_SERIAL, 1).cast(pl.Int64, strict=False)
    serial = pl.when(serial.is_between(SERIAL_MIN, SERIAL_MAX)).then(serial)
    from_serial = pl.lit(EXCEL_EPOCH) + pl.duration(days=serial)
    return pl.coalesce(_ymd(s, _SEPARATED), _ymd(s, _COMPACT), from_serial.cast(pl.Date))


def stages(as_of: _date | None) -> list[Stage]:
    c = pl.col
    checks = (
        pl.when(c("s").is_null()).then(None)
        .when(c("d").is_null()).then(issue_with_value("unparseable date", c("s")))
        .when(c("d") == pl.lit(PLACEHOLDER)).then(pl.lit("placeholder date"))
        .when(c("d") < pl.lit(EARLIEST)).then(pl.lit("date before 1900"))
    )
    if as_of is not None:
        checks = checks.when(c("d") > pl.lit(as_of)).then(pl.lit("date after delivery as-of"))
    return [
        {"s": clean_typed(c("raw"))},
        {"d": parse_date(c("s"))},
        {"issue": checks.otherwise(None).cast(pl.String)},
        {"value": pl.when(c("issue").is_null()).then(c("d"))},
    ]


def date(raw: pl.Expr, field: str, *, as_of: _date | None = None, **_: object) -> Normalised:
    """``field`` as ``pl.Date``."""
    core = batched(raw, stages(as_of), {"value": pl.Date, "issue": pl.String}, distinct=True)
    return normalised(core, {"value": field})
