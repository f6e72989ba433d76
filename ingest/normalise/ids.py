"""Citizen ID numbers (GB 11643): an 18-character key plus how far it can be trusted.

The ID is the strongest linkage evidence, so the status column matters as much as
the value: a ``valid`` ID is near-proof, a ``bad_check`` one is a typo worth a fuzzy
comparison, an ``excel_damaged`` one only has its first 15 or so digits right.

Excel damage. A spreadsheet stores a typed-in ID as a double; by the time it reaches
us the tail is gone. Two shapes arrive:

* 18 plain digits. From an XLSX number cell calamine prints the exact integer the double
  holds (``610102199001047936`` → ``…047936``); a CSV saved by Excel keeps its 15
  significant digits (``…047000``). Rule: 18 digits, check digit wrong, and either the
  number survives a round trip through a double unchanged or it ends ``00`` →
  ``excel_damaged``. Doubles near 10^17 are 16–128 apart, so 1 in 16 to 1 in 128
  genuine typos (plus 1 in 100 ending ``00``) are labelled damaged instead of
  ``bad_check``; the value is kept either way. A damaged ID whose tail happens to pass
  the check digit (1 in 11) cannot be told from a valid one here.
* Float text: scientific notation (``1.10101E+17``, ``1.10101199001012e17``) or a
  trailing ``.0``. The digits are rebuilt from mantissa and exponent and zero-padded;
  if that gives 18 digits the value is kept (status ``excel_damaged``: only the
  mantissa's digits are real, so ``1.10101E+17`` keeps just the region code). If it
  gives anything else the value is null (still ``excel_damaged`` when it was written
  in scientific notation, since a number was clearly typed). A 15-digit pre-1999 ID
  written as float text with all 15 digits present (``110101900101123.0``) is exact
  in a double and is upgraded like any other 15-digit ID.

For damaged IDs ``f_sex`` is null (the 17th digit is lost) and ``f_birth_date`` is read
only when the 14 leading digits survived. A birth date that is not a real calendar
date gives a null ``f_birth_date`` (and the issue "ID birth date not a real date" when
the ID has no other). Issues never echo the ID itself: it is personal data.
"""

from __future__ import annotations

import polars as pl

from ingest.normalise import gb11643
from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import clean_typed, remove_spaces

STATUSES = ("valid", "upgraded_15", "bad_check", "excel_damaged", "malformed", "blank")
#: Statuses whose number passed the GB 11643 check digit: the ID can be taken as written.
VERIFIED = ("valid", "upgraded_15")

_FLOAT = r"^(\d+)(?:\.(\d*))?(?:E\+?(\d{1,2}))?$"


def stages() -> list[Stage]:
    c = pl.col
    return [
        {"s": remove_spaces(clean_typed(c("raw"))).str.to_uppercase()},
        {"s": pl.when(c("s").str.len_bytes() > 0).then(c("s"))},
        # Float text (Excel damage): mantissa digits, fraction length, exponent.
        {"fl": c("s").str.contains(_FLOAT) & c("s").str.contains(r"[.E]"), "sci": c("s").str.contains("E"),
         "g": c("s").str.extract_groups(_FLOAT)},
        {"frac": c("g").struct.field("2").fill_null("").str.strip_chars_end("0"),
         "exp": c("g").struct.field("3").cast(pl.Int32, strict=False).fill_null(0)},
        {"mant": (c("g").struct.field("1") + c("frac")).str.strip_chars_start("0"),
         "shift": c("exp") - c("frac").str.len_chars().cast(pl.Int32)},
        {"width": c("mant").str.len_chars().cast(pl.Int32) + c("shift")},
        {"fdigits": pl.when(c("fl") & (c("shift") >= 0) & c("width").is_between(1, 20))
         .then(c("mant").str.pad_end(c("width").clip(0, 20).cast(pl.UInt32), "0")),
         # Digits that are real: all of them when nothing was padded; else the
         # mantissa's, at most 15 (Excel's precision; a double's 16th-17th are noise).
         "freal": pl.when(c("shift") == 0).then(c("width"))
         .otherwise(pl.min_horizontal(c("mant").str.len_chars().cast(pl.Int32), pl.lit(15, pl.Int32)))},
        {"float_text": c("fl") & (c("fdigits").is_not_null() | c("sci"))},
        {"body": pl.when(c("float_text")).then(c("fdigits")).otherwise(c("s"))},
        {"is15": c("body").str.contains(r"^\d{15}$"), "is18": c("body").str.contains(r"^\d{17}[\dX]$"),
         "check_ok": gb11643.has_valid_check(c("body")),
         # An 18-digit number a double can hold exactly is what a spreadsheet's number cell gives back.
         "as_double": c("body").str.contains(r"^\d{18}$")
         & (c("body").cast(pl.Float64, strict=False).cast(pl.UInt64, strict=False).cast(pl.String) == c("body"))},
        {"status": pl.when(c("s").is_null()).then(pl.lit("blank"))
         .when(c("is15") & (~c("float_text") | (c("freal") >= 15))).then(pl.lit("upgraded_15"))
         .when(c("float_text") & (c("is18") | c("sci"))).then(pl.lit("excel_damaged"))
         .when(c("float_text")).then(pl.lit("malformed"))
         .when(c("is18") & c("check_ok")).then(pl.lit("valid"))
         .when(c("as_double") | c("body").str.ends_with("00")).then(pl.lit("excel_damaged"))
         .when(c("is18")).then(pl.lit("bad_check"))
         .otherwise(pl.lit("malformed"))},
        {"value": pl.when(c("status") == "upgraded_15").then(gb11643.upgrade_15(c("body")))
         .when(c("status").is_in(["valid", "bad_check"]) | ((c("status") == "excel_damaged") & c("is18")))
         .then(c("body")),
         "damaged": c("status") == "excel_damaged",
         "real": pl.when(c("float_text")).then(c("freal")).otherwise(pl.lit(15, pl.Int32))},
        {"birth_date": pl.when(~c("damaged") | (c("real") >= 14)).then(gb11643.birth_date(c("value"))),
         "sex": pl.when(~c("damaged")).then(gb11643.sex(c("value")))},
        {"issue": pl.when(c("status") == "bad_check").then(pl.lit("ID check digit wrong"))
         .when(c("damaged")).then(pl.lit("ID damaged by number format"))
         .when(c("status") == "malformed").then(pl.lit("ID malformed"))
         .when(c("value").is_not_null() & c("birth_date").is_null())
         .then(pl.lit("ID birth date not a real date"))},
    ]


def id_number(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field``, ``field_status``, ``field_birth_date`` (Date), ``field_sex`` (M/F)."""
    schema = {"value": pl.String, "status": pl.String, "birth_date": pl.Date, "sex": pl.String,
              "issue": pl.String}
    core = batched(raw, stages(), schema, distinct=False)
    return normalised(core, {"value": field, "status": f"{field}_status", "birth_date": f"{field}_birth_date",
                             "sex": f"{field}_sex"})
