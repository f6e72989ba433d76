"""Small value types: record keys, free text, sex, amounts, counts and code lists."""

from __future__ import annotations

import polars as pl

from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import BLANK_TOKENS, clean, clean_typed, issue_with_value, null_if_blank

_NO_ISSUE = pl.lit(None, pl.String)
_VALUE_ISSUE = {"issue": pl.String}


def key(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """Record key, stripped only: it is an identifier the department will quote back to us,
    so it is not width-folded. Blank → null without an issue; the caller quarantines it."""
    return Normalised(columns=[null_if_blank(raw.str.strip_chars()).alias(field)], issue=_NO_ISSUE)


def text(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """Free text, width-folded (``第１中学`` = ``第1中学``) and stripped; blank → null."""
    return Normalised(columns=[clean(raw).alias(field)], issue=_NO_ISSUE)


_MALE = ("男", "1", "M", "MALE", "男性")
_FEMALE = ("女", "2", "F", "FEMALE", "女性")
#: GB/T 2261.1 codes 0 "unknown" and 9 "not stated", and their words: an explicit
#: "not known" is recorded data, not a parse failure, so it is null without an issue.
_SEX_UNKNOWN = ("0", "9", "未知", "未说明", "不详")


def sex(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field`` in ``M``/``F``."""
    c = pl.col
    stages: list[Stage] = [
        {"s": clean_typed(c("raw")).str.to_uppercase()},
        {"value": pl.when(c("s").is_in(_MALE)).then(pl.lit("M")).when(c("s").is_in(_FEMALE)).then(pl.lit("F"))},
        {"issue": pl.when(c("s").is_not_null() & c("value").is_null() & ~c("s").is_in(_SEX_UNKNOWN))
         .then(issue_with_value("unknown sex", c("s")))},
    ]
    core = batched(raw, stages, {"value": pl.String, **_VALUE_ISSUE}, distinct=True)
    return normalised(core, {"value": field})


#: Units seen after quantities (after NFKC, which turns ㎡ and m² into m2).
_UNITS = "平方米|平米|平方|m2|米|元|次|人|个|间|岁|天|月|年|户|套|亩"
_NUMBER = r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))"


def _parse_number(s: pl.Expr, suffix: str) -> pl.Expr:
    """Float64 of ``<number><suffix>`` after dropping spaces and thousands separators,
    null otherwise (checked by regex first, so ``inf`` and ``1e5`` are not numbers here)."""
    t = s.str.replace_all(r"[\s,]", "")
    return t.str.extract(_NUMBER + f"(?:{suffix})?$", 1).cast(pl.Float64, strict=False)


def money(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """Float64 yuan. Accepts ``1,234.50``, ``1234.5元``, ``￥1234``, ``RMB 1234`` and
    ``1.2万(元)`` (×10000: incomes are often written in 万). Negative → null + issue."""
    c = pl.col
    stages: list[Stage] = [
        {"s": clean_typed(c("raw"))},
        {"t": c("s").str.replace_all(r"[\s,]", "").str.replace(r"^(?:¥|\$|RMB|CNY)", "")},
        {"wan": c("t").str.contains(r"万元?$"), "x": _parse_number(c("t").str.replace(r"万元?$", ""), "元")},
        {"x": pl.when(c("wan")).then(c("x") * 10000).otherwise(c("x"))},
        {"issue": pl.when(c("s").is_null()).then(None)
         .when(c("x").is_null()).then(issue_with_value("unparseable amount", c("s")))
         .when(c("x") < 0).then(pl.lit("negative amount"))
         .otherwise(None).cast(pl.String)},
        {"value": pl.when(c("issue").is_null()).then(c("x"))},
    ]
    core = batched(raw, stages, {"value": pl.Float64, **_VALUE_ISSUE}, distinct=True)
    return normalised(core, {"value": field})


def _quantity_stages(whole: bool) -> list[Stage]:
    c = pl.col
    checks = (
        pl.when(c("s").is_null()).then(None)
        .when(c("x").is_null()).then(issue_with_value("unparseable number", c("s")))
        .when(c("x") < 0).then(pl.lit("negative value"))
    )
    if whole:
        checks = checks.when(c("x") != c("x").floor()).then(issue_with_value("not a whole number", c("s")))
    return [
        {"s": clean_typed(c("raw"))},
        {"x": _parse_number(c("s"), _UNITS)},
        {"issue": checks.otherwise(None).cast(pl.String)},
        {"value": pl.when(c("issue").is_null()).then(c("x").cast(pl.Int64) if whole else c("x"))},
    ]


def number(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """Float64, a unit after the number tolerated (``85.5㎡``, ``85.5平方米``). Negative
    values are nulled with an issue: every configured quantity is a size or a count."""
    core = batched(raw, _quantity_stages(False), {"value": pl.Float64, **_VALUE_ISSUE}, distinct=True)
    return normalised(core, {"value": field})


def int_(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """Int64 from ``3``, ``3次``, ``3.0``; ``3.5`` is nulled with an issue."""
    core = batched(raw, _quantity_stages(True), {"value": pl.Int64, **_VALUE_ISSUE}, distinct=True)
    return normalised(core, {"value": field})


_CN_DIGITS = dict(zip("一二三四五六七八九", "123456789", strict=True))
_YES = ("Y", "YES", "TRUE", "T", "是的", "有")
_NO = ("N", "NO", "FALSE", "F", "没有", "无")


def enum_aliases(values: tuple[str, ...]) -> dict[str, str]:
    """Accepted spellings → config value, only where the variant cannot mean another value.

    * the value itself, and without spaces when no value contains a space;
    * upper case, when no two values differ only by case (``a`` → ``A``);
    * a value's Chinese numerals written as digits (``1级`` → ``一级``);
    * for a ``是``/``否`` list, ``Y``/``N``, ``yes``/``no``, ``true``/``false``, ``有``/``没有``/``无``
      (``慢性病: 无`` means none). ``1``/``0`` are not taken: some systems code 否 as 2.
    """
    out: dict[str, str] = {v: v for v in values}
    if len({v.upper() for v in values}) == len(values):
        out.update({v.upper(): v for v in values})
    for v in values:
        if any(ch in _CN_DIGITS for ch in v):
            out.setdefault("".join(_CN_DIGITS.get(ch, ch) for ch in v), v)
    if set(values) == {"是", "否"}:
        out.update({a: "是" for a in _YES})
        out.update({a: "否" for a in _NO})
    return out


def enum(raw: pl.Expr, field: str, *, values: tuple[str, ...] = (), **_: object) -> Normalised:
    """The config value or null; an unknown spelling gets ``unknown value 'x'``. Blank is
    null without an issue (most code lists allow blank; required columns are the
    caller's business)."""
    values = tuple(values)
    aliases = enum_aliases(values)
    blanks = [b for b in BLANK_TOKENS if b not in aliases]
    c = pl.col
    s = clean(c("raw"))
    if not any(any(ch.isspace() for ch in v) for v in values):
        s = s.str.replace_all(r"\s+", "")
    stages: list[Stage] = [
        {"s": s},
        {"s": pl.when(~c("s").str.to_lowercase().is_in(blanks)).then(c("s"))},
        {"value": pl.when(c("s").is_in(list(aliases))).then(c("s")).otherwise(c("s").str.to_uppercase())
         .replace_strict(list(aliases), list(aliases.values()), default=None, return_dtype=pl.String)},
        {"issue": pl.when(c("s").is_not_null() & c("value").is_null()).then(issue_with_value("unknown value", c("s")))},
    ]
    core = batched(raw, stages, {"value": pl.String, **_VALUE_ISSUE}, distinct=True)
    return normalised(core, {"value": field})
