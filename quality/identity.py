"""Who a record is, for auditing: the linked person, joined up with exact identity evidence.

Findings about absence or multiplicity (a child with no school record, one person
on two households' rolls) turn a missed link into a false finding. Before judging
them, linked persons are joined when their records share exact evidence no auditor
would dispute: the same trusted ID number (valid check digit, and not a number the
record carries for someone else; a verified ID the record key embeds comes first);
the same name (by its pinyin, so a homophone typo still agrees), birth date and sex,
unless both hold different trusted IDs (namesakes born the same day are two people). The result
(`audit_pid`) is only used to group records; findings still report the contract's
`person_id` of the record. Components are found with a small union-find over the
(few) person pairs the linkage left apart.
"""

from __future__ import annotations

import polars as pl

from quality.frames import ENGINE
from quality.records import TRUSTED_ID


def _shared(keyed: pl.LazyFrame, key: str) -> pl.DataFrame:
    """Each value of `key` that two or more persons hold, with their person ids (sorted).

    The few such values are found first (distinct value and person pairs, counted per
    value), and the id lists gathered for those only: building a list for each of a
    million values took three times as long.
    """
    holders = keyed.filter(pl.col(key).is_not_null()).select(key, "person_id")
    several = holders.unique().group_by(key).len().filter(pl.col("len") > 1).select(key)
    return (holders.join(several, on=key, how="semi").group_by(key)
            .agg(pl.col("person_id").unique().sort()).collect(engine=ENGINE))


def _pairs(records: pl.DataFrame) -> list[tuple[str, str]]:
    keyed = records.lazy().filter(pl.col("person_id").is_not_null()).select(
        "person_id",
        pl.when(pl.col("key_id_number_status").is_in(TRUSTED_ID)).then(pl.col("key_id_number"))
        .when(pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id"))
        .then(pl.col("id_number")).alias("_k_id"),
        pl.concat_str("name_pinyin", pl.col("birth_date").cast(pl.String), "sex", separator="|").alias("_k_nbs"),
    ).collect(engine=ENGINE).lazy()
    groups = {key: _shared(keyed, key) for key in ("_k_id", "_k_nbs")}
    # Two persons who each hold a trusted ID, and not the same one, are two people whatever
    # their names say (namesakes born the same day exist): name evidence never joins them.
    # Except an ID that looks spreadsheet-damaged (a double holds it exactly, or its tail is
    # zeroed) whose tail happens to pass the check digit (1 in 11 of them): it proves nothing.
    # Only the persons of name groups are looked up.
    exact_double = pl.col("_k_id").cast(pl.Float64, strict=False).cast(pl.UInt64, strict=False).cast(pl.String)
    looks_damaged = (exact_double == pl.col("_k_id")) | pl.col("_k_id").str.ends_with("000")
    named = groups["_k_nbs"].lazy().select(pl.col("person_id").explode().unique())
    ids_of = dict(keyed.join(named, on="person_id", how="semi")
                  .filter(pl.col("_k_id").is_not_null() & ~looks_damaged)
                  .group_by("person_id").agg(pl.col("_k_id").unique()).collect(engine=ENGINE).iter_rows())
    pairs: set[tuple[str, str]] = set()
    for key, found in groups.items():
        for ids in found["person_id"].to_list():
            for other in ids[1:]:
                a, b = set(ids_of.get(ids[0], ())), set(ids_of.get(other, ()))
                if key == "_k_nbs" and a and b and not a & b:
                    continue
                pairs.add((ids[0], other))
    return sorted(pairs)


def audit_persons(records: pl.DataFrame) -> pl.DataFrame:
    """`records` (with a boolean `_foreign_id`) plus `audit_pid`: person_id joined by exact evidence."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            parent[a] = parent.get(parent[a], parent[a])
            a = parent[a]
        return a

    for a, b in _pairs(records):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    # A lookup of the few joined persons, not a join: the audit frame keeps its row order.
    joined = {p: find(p) for p in parent}
    return records.with_columns(pl.col("person_id").replace(list(joined), list(joined.values()))
                                .alias("audit_pid"))
