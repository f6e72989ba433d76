"""Coverage: which households each department's data reaches, and who falls through.

The seed paper's point is that information-poor people are missing from databases;
these tables show where: a households × sources matrix (and its shares by county
and township), people seen by one department only (thin files), and people a
department should know but does not (a school-age child with no education record,
an adult with no health record).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from quality.findings import SCHOOL_AGE, person_birth_dates
from quality.frames import ENGINE, most_frequent_known
from quality.records import TRUSTED_ID

ADULT_AGE = 18
UNKNOWN_AREA = "(unknown)"


def _age_at(reference: date) -> pl.Expr:
    ref = pl.lit(reference, dtype=pl.Date)
    before_birthday = (ref.dt.month() < pl.col("birth").dt.month()) | (
        (ref.dt.month() == pl.col("birth").dt.month()) & (ref.dt.day() < pl.col("birth").dt.day()))
    return ref.dt.year() - pl.col("birth").dt.year() - before_birthday.cast(pl.Int32)


def household_areas(records: pl.DataFrame) -> pl.DataFrame:
    """A county and township per household: the value its members' records give most often.

    Only some departments deliver a 行政区划代码; without one the county is the one
    that issued the members' trusted ID numbers (their first six digits) and the
    township is the one named in the address.
    """
    trusted = pl.col("id_number_status").is_in(TRUSTED_ID)
    places = records.lazy().filter(pl.col("household_id").is_not_null()).select(
        "household_id",
        pl.coalesce("admin_code_county", pl.when(trusted).then(pl.col("id_number").str.slice(0, 6))).alias("_county"),
        pl.coalesce("admin_code_township", "address_township").alias("_township")).collect(engine=ENGINE).lazy()
    out = most_frequent_known(places, "household_id", {"_county": "county", "_township": "township"})
    return out.with_columns(pl.col("county", "township").fill_null(UNKNOWN_AREA)).collect(engine=ENGINE)


def household_matrix(records: pl.DataFrame, sources: list[str]) -> pl.DataFrame:
    """One row per household: its area and, per source, how many of its members' records it holds."""
    counts = (records.lazy().filter(pl.col("household_id").is_not_null()).group_by("household_id")
              .agg((pl.col("source") == s).sum().cast(pl.Int64).alias(s) for s in sources))
    return (household_areas(records).lazy().join(counts, on="household_id", how="left")
            .select("household_id", "county", "township", *sources).sort("household_id").collect(engine=ENGINE))


def coverage_by_area(matrix: pl.DataFrame, sources: list[str], level: str) -> pl.DataFrame:
    """Long table (area, source, households, covered, share) at `level` (county or township)."""
    long = matrix.unpivot(index=["household_id", level], on=sources, variable_name="source", value_name="records")
    return (long.group_by(level, "source").agg(pl.len().cast(pl.Int64).alias("households"),
                                               (pl.col("records") > 0).sum().cast(pl.Int64).alias("covered"))
            .with_columns((pl.col("covered") / pl.col("households")).alias("share"))
            .rename({level: "area"}).with_columns(pl.lit(level).alias("level"))
            .select("level", "area", "source", "households", "covered", "share").sort("area", "source"))


def thin_file(records: pl.DataFrame) -> pl.DataFrame:
    """People seen in only one source (one row each, with that source)."""
    per = records.lazy().filter(pl.col("person_id").is_not_null()).group_by("person_id").agg(
        pl.col("source").n_unique().alias("sources"), pl.col("source").first(), pl.col("household_id").first())
    return (per.filter(pl.col("sources") == 1).select("person_id", "household_id", "source").sort("person_id")
            .collect(engine=ENGINE))


def expected_missing(records: pl.DataFrame, reference: date, dead: pl.DataFrame) -> pl.DataFrame:
    """School-age children without an education record and adults without a health record.

    `records` must carry `audit_pid` (quality.identity) so that a missed link does not
    look like a missing record; `dead` lists audit_pids with a death date. The people are
    picked by age and missing source first; only their records are then summarised.
    """
    people = (person_birth_dates(records).lazy().filter(pl.col("audit_pid").is_not_null())
              .with_columns(_age_at(reference).alias("age")).join(dead.lazy(), on="audit_pid", how="anti"))
    linked = records.lazy().filter(pl.col("audit_pid").is_not_null())
    rules = [("education", pl.col("age").is_between(*SCHOOL_AGE), f"school-age child ({SCHOOL_AGE[0]}-"
              f"{SCHOOL_AGE[1]}) with no education record"),
             ("health", pl.col("age") >= ADULT_AGE, "adult with no health record")]
    parts = []
    for source, who, why in rules:
        if not (records["source"] == source).any():
            continue  # a department that has not delivered is reported as missing, not per person
        known = linked.filter(pl.col("source") == source).select("audit_pid").unique()
        parts.append(people.filter(who).join(known, on="audit_pid", how="anti").select(
            "audit_pid", pl.lit(source).alias("missing_source"), "age", pl.lit(why).alias("reason")))
    schema = {"person_id": pl.String(), "household_id": pl.String(), "missing_source": pl.String(),
              "age": pl.Int64(), "seen_in": pl.String(), "reason": pl.String()}
    if not parts:
        return pl.DataFrame(schema=schema)
    hits = pl.concat(parts).collect(engine=ENGINE).lazy()
    per = (linked.join(hits.select(pl.col("audit_pid").unique()), on="audit_pid", how="semi").group_by("audit_pid")
           .agg(pl.col("person_id").min(), pl.col("household_id").sort_by("person_id").first(),
                pl.col("source").unique().sort().str.join(", ").alias("seen_in")))
    return (hits.join(per, on="audit_pid").select(list(schema)).cast(schema).sort("missing_source", "person_id")
            .collect(engine=ENGINE))
