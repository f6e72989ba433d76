"""Normalisers: one per value type of the source configs, as polars expressions.

Every normaliser takes the raw text column (``pl.String``, nulls allowed) and the field
name, and returns :class:`Normalised`: aliased output expressions (the first named
after the field) and one issue expression (a short English reason, or null). All of
them are meant to be evaluated together in one *lazy* select over the raw frame::

    exprs = [*n.columns, n.issue.alias(...)] for each column ...
    staged = raw_frame.lazy().select(exprs).collect()

Lazy matters: each normaliser computes all its outputs in one pass (see
``ingest.normalise.base``) and shares it between its output expressions only when
polars evaluates them one after another, which the lazy engine does; an eager
``DataFrame.select`` gives the same frame but recomputes once per output column.
Issues name the problem, not the field; the caller prefixes the field if it wants.

Outputs by type (field ``f``):

=============  ===========================================================================
key, text      ``f``
name           ``f``, ``f_pinyin``, ``f_kind`` (han/minority/latin/other)
id_number      ``f``, ``f_status``, ``f_birth_date`` (Date), ``f_sex`` (M/F)
sex            ``f`` (M/F)
date           ``f`` (Date)
phone          ``f``, ``f_kind`` (mobile/landline)
address        ``f``, ``f_township``, ``f_village``, ``f_group``
admin_code     ``f``, ``f_county``, ``f_township``, ``f_village``
money, number  ``f`` (Float64)
int            ``f`` (Int64)
enum           ``f`` (one of the config's ``values``)
=============  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date as _date

import polars as pl

from ingest.normalise.addresses import address, admin_code
from ingest.normalise.base import Normalised
from ingest.normalise.dates import date
from ingest.normalise.ids import id_number
from ingest.normalise.names import name
from ingest.normalise.phones import phone
from ingest.normalise.values import enum, int_, key, money, number, sex, text

__all__ = ["NORMALISERS", "Normalised", "normalise"]

#: By config value type (``ingest.sources.COLUMN_TYPES``). Each is called as
#: ``fn(raw, field, **opts)`` and ignores options it has no use for.
NORMALISERS: dict[str, Callable[..., Normalised]] = {
    "key": key,
    "text": text,
    "name": name,
    "id_number": id_number,
    "sex": sex,
    "date": date,
    "phone": phone,
    "address": address,
    "admin_code": admin_code,
    "money": money,
    "int": int_,
    "number": number,
    "enum": enum,
}


def normalise(
    type_: str,
    raw: pl.Expr,
    field: str,
    *,
    values: tuple[str, ...] = (),
    as_of: _date | None = None,
) -> Normalised:
    """Normalise one raw column of config type ``type_``.

    ``values`` is the code list of an ``enum`` column; ``as_of`` is the delivery's as-of
    date, after which a ``date`` value cannot be true and is nulled with an issue.
    """
    try:
        fn = NORMALISERS[type_]
    except KeyError:
        raise ValueError(f"no normaliser for value type '{type_}'") from None
    return fn(raw, field, values=tuple(values), as_of=as_of)
