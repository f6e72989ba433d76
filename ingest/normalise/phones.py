"""Phone numbers as bare digits, so the same line compares equal however it was typed.

Accepted: mainland mobiles ``1[3-9]`` + 9 digits, with or without ``+86``/``86``/``0086``,
spaces, dashes, dots or brackets (and the long-distance ``0`` some clerks prefix);
landlines with their area code (``029-88886666``, ``(029)88886666``, ``02988886666``,
and ``+86 29 88886666``, where the trunk ``0`` is dropped after the country code). A
cell holding several numbers (``139…/138…``, ``139…，029-…``) yields the first. A
landline without area code (``88886666``) cannot be told apart from other local
numbers and is nulled with an issue. Extensions
(``029-88886666-123``) are not recognised. Issues do not echo the value (personal data).
"""

from __future__ import annotations

import polars as pl

from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import clean_typed

#: The first of several numbers in one cell (after NFKC, full-width ，；／ are ASCII).
_FIRST = r"^[/,;、|\s]*([^/,;、|]+)"
_MOBILE = r"^(?:\+?86|0086|0)?(1[3-9]\d{9})$"
_LANDLINE = r"^(0[1-9]\d{8,10})$"
_LANDLINE_INTL = r"^(?:\+86|0086)([1-9]\d{8,10})$"


def stages() -> list[Stage]:
    c = pl.col
    return [
        {"s": clean_typed(c("raw"))},
        {"digits": c("s").str.extract(_FIRST, 1).str.replace(r"\.0+$", "").str.replace_all(r"[\s\-()\[\].]", "")},
        {"mobile": c("digits").str.extract(_MOBILE, 1),
         "landline": pl.coalesce(c("digits").str.extract(_LANDLINE, 1),
                                 pl.lit("0") + c("digits").str.extract(_LANDLINE_INTL, 1))},
        {"value": pl.coalesce(c("mobile"), c("landline")),
         "kind": pl.when(c("mobile").is_not_null()).then(pl.lit("mobile"))
         .when(c("landline").is_not_null()).then(pl.lit("landline"))},
        {"issue": pl.when(c("s").is_not_null() & c("value").is_null()).then(pl.lit("phone not recognised"))},
    ]


def phone(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field`` (digits) and ``field_kind`` (``mobile``/``landline``)."""
    schema = {"value": pl.String, "kind": pl.String, "issue": pl.String}
    core = batched(raw, stages(), schema, distinct=True)
    return normalised(core, {"value": field, "kind": f"{field}_kind"})
