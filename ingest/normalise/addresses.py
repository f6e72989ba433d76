"""Addresses and administrative division codes.

Address text is only normalised (width, spaces, committee wording, group numerals)
and mined for its three lowest levels with plain regexes; it is evidence for
household linkage and blocking, not a geocoder. Known limits:

* A level is recognised by its suffix (镇/乡/街道, 村/社区, 组), so a name that itself
  contains a suffix character (东村镇, 新市镇, 乡宁…) cuts short or is missed, and
  苏木/嘎查 (Inner Mongolia), 农场 and 居委会-less estates (…小区) are not levels here.
* The township is the first ``…镇/乡/街道`` that starts the text or follows a
  province/city/county suffix (省市区县旗); when the county is written without its
  suffix (``长安郭杜街道``) the county name stays attached.
* The village is searched after the township when there is one, else after the
  county; the group is the first ``N组``/``N小组`` (Chinese numerals 一…九十九 are
  rewritten to digits in the text first, so ``三组`` and ``3组`` compare equal).
"""

from __future__ import annotations

from functools import cache

import polars as pl

from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import clean, clean_typed, issue_with_value, remove_spaces

_DIGITS = "一二三四五六七八九"
_LEVEL_STOP = "省市区县旗镇乡村组号"
_TOWNSHIP = rf"(?:^|[省市区县旗])([^{_LEVEL_STOP}]{{1,8}}?(?:镇|乡|街道))"
_AFTER_TOWNSHIP = rf"(?:^|[省市区县旗])[^{_LEVEL_STOP}]{{1,8}}?(?:镇|乡|街道)(.+)$"
_VILLAGE = rf"(?:^|[省市区县旗])([^{_LEVEL_STOP}]{{1,10}}?(?:村|社区))"
_GROUP = r"0*(\d{1,3})小?组"


def chinese_numeral(n: int) -> str:
    """1..99 in Chinese numerals as written in addresses (十一, 二十, 九十九)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens - 1] + "十")
    return head + ("" if ones == 0 else _DIGITS[ones - 1])


@cache
def _group_numerals() -> dict[str, str]:
    # Longest first so that 二十一组 is not read as 二 + 十一组.
    pairs = {chinese_numeral(n) + "组": f"{n}组" for n in range(1, 100)}
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def normalise_address(raw: pl.Expr) -> pl.Expr:
    s = remove_spaces(clean(raw))
    s = pl.when(s.str.len_bytes() > 0).then(s)
    s = s.str.replace_all(r"村?(?:村民委员会|村委会)", "村").str.replace_all(
        r"(?:社区)?(?:居民委员会|居委会)", "社区"
    )
    table = _group_numerals()
    return s.str.replace_many(list(table), list(table.values()), leftmost=True)


def address(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field`` (text), ``field_township``, ``field_village``, ``field_group`` (digits as text)."""
    c = pl.col
    stages: list[Stage] = [
        {"value": normalise_address(c("raw"))},
        {"township": c("value").str.extract(_TOWNSHIP, 1), "group": c("value").str.extract(_GROUP, 1)},
        {"rest": pl.when(c("township").is_not_null()).then(c("value").str.extract(_AFTER_TOWNSHIP, 1))
         .otherwise(c("value"))},
        {"village": c("rest").str.extract(_VILLAGE, 1), "issue": pl.lit(None, pl.String)},
    ]
    schema = {"value": pl.String, "township": pl.String, "village": pl.String, "group": pl.String,
              "issue": pl.String}
    core = batched(raw, stages, schema, distinct=True)
    return normalised(core, {"value": field, "township": f"{field}_township", "village": f"{field}_village",
                             "group": f"{field}_group"})


def admin_code(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field`` (12 digits), ``field_county`` (6), ``field_township`` (9), ``field_village`` (12).

    A 6- or 9-digit code is a county or township code; it is zero-padded to 12 digits
    as in the statistical division codes (``610116`` → ``610116000000``). A level whose
    own digits are all zero is null: ``610116000000`` names a county, not a township.
    """
    c = pl.col
    stages: list[Stage] = [
        {"s": remove_spaces(clean_typed(c("raw"))).str.replace(r"\.0+$", "")},
        {"s": pl.when(c("s").str.len_bytes() > 0).then(c("s"))},
        {"ok": c("s").str.contains(r"^[1-9]\d{5}(?:\d{3}){0,2}$")},
        {"value": pl.when(c("ok")).then(c("s").str.pad_end(12, "0")),
         "issue": pl.when(c("s").is_not_null() & ~c("ok")).then(issue_with_value("admin code malformed", c("s")))},
        {"county": c("value").str.slice(0, 6),
         "township": pl.when(c("value").str.slice(6, 3) != "000").then(c("value").str.slice(0, 9))},
        {"village": pl.when(c("township").is_not_null() & (c("value").str.slice(9, 3) != "000")).then(c("value"))},
    ]
    schema = {"value": pl.String, "county": pl.String, "township": pl.String, "village": pl.String,
              "issue": pl.String}
    core = batched(raw, stages, schema, distinct=True)
    return normalised(core, {"value": field, "county": f"{field}_county", "township": f"{field}_township",
                             "village": f"{field}_village"})
