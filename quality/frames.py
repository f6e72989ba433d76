"""How the audit and mart steps run their polars plans: lazily, on polars' in-memory engine; and
the one summary they all take per person or household (`most_frequent`).

Lazily, because their inputs are wide (the audit frame has twenty columns, the household
profile sixty) and an eager filter or sort copies every column, while a lazy plan carries
only the columns it reads (at 1M persons a person's birth date took 6.8 s eager, 3.0 s as
the same plan collected lazily).

On the in-memory engine, the one eager code always uses: polars 2.1 lets ``collect()``
pick its streaming engine for many plans, and at 1M persons that engine panicked inside
``pl.format`` ("assertion failed: i < self.len()", as in pola-rs/polars#25525) in each of
three mart builds once the early-warning rules ran lazily.
"""

from collections.abc import Mapping

import polars as pl

#: The engine every plan of the audit and mart steps is collected with (see the module docstring).
ENGINE = "in-memory"


def _counted(frame: pl.LazyFrame, by: list[str], value: str, alias: str) -> pl.LazyFrame:
    """The most frequent `value` per `by` by counting each value (ties: the smallest; a null sorts first)."""
    return (frame.group_by(*by, value).len().sort("len", value, descending=[True, False])
            .group_by(by, maintain_order=True).first().select(*by, pl.col(value).alias(alias)))


def most_frequent(frame: pl.LazyFrame, by: list[str], value: str, alias: str) -> pl.LazyFrame:
    """Per group of `by`, the `value` most of its rows hold (ties: the smallest; a null counts as a value and
    sorts first). One row per group: `by` and `alias`.

    Most groups hold one value only (a person's records agree on their sex): one pass takes
    that value and finds the groups that hold several, and only those are counted value by
    value and sorted (sorting every group's counts took most of the time).
    """
    per = (frame.group_by(by).agg(pl.col(value).n_unique().alias("_values"), pl.col(value).first().alias(alias))
           .collect(engine=ENGINE).lazy())
    mixed = frame.join(per.filter(pl.col("_values") > 1).select(by), on=by, how="semi", nulls_equal=True)
    return pl.concat([per.filter(pl.col("_values") == 1).select(*by, alias), _counted(mixed, by, value, alias)])


def most_frequent_known(frame: pl.LazyFrame, by: str, values: Mapping[str, str]) -> pl.LazyFrame:
    """Per non-null `by`, the most frequent non-null value of each column of `values` (column -> alias; ties:
    the smallest; null where the group has none): `most_frequent` of several columns in one pass."""
    frame = frame.filter(pl.col(by).is_not_null())
    named = list(values.items())
    per = frame.group_by(by).agg(
        *(pl.col(v).drop_nulls().n_unique().alias(f"_values{i}") for i, (v, _) in enumerate(named)),
        *(pl.col(v).drop_nulls().first().alias(a) for v, a in named)).collect(engine=ENGINE).lazy()
    out = per
    for i, (value, alias) in enumerate(named):
        several = pl.col(f"_values{i}") > 1
        mixed = frame.filter(pl.col(value).is_not_null()).join(per.filter(several).select(by), on=by, how="semi")
        out = (out.join(_counted(mixed, [by], value, "_counted"), on=by, how="left")
               .with_columns(pl.when(several).then(pl.col("_counted")).otherwise(pl.col(alias)).alias(alias))
               .drop("_counted"))
    return out.select(by, *values.values())
