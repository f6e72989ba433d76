"""The `person` mart: one row per linked person, what the departments say about them, no identifiers.

A person's age and sex come from their own verified ID numbers when they have one
(``quality.findings.person_birth_dates``: a record that carries a guardian's ID
does not lend the child the guardian's age), else from what their records state.
ID numbers, names, phones and addresses stay in the restricted warehouse; the mart
says only how well the person's identity is established (`id_status`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from ingest.normalise.ids import STATUSES
from quality.findings import person_birth_dates
from quality.frames import ENGINE, most_frequent
from quality.records import TRUSTED_ID

#: Age groups of the household profile: under school age, compulsory school age (as the
#: `school_age_not_enrolled` finding), older minors, working age, elderly.
AGE_GROUPS = (("0-5", 0, 5), ("6-15", 6, 15), ("16-17", 16, 17), ("18-59", 18, 59), ("60+", 60, 200))

PERSON_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(), "household_id": pl.String(), "household_rule": pl.String(), "is_head": pl.Boolean(),
    "relation": pl.String(), "sex": pl.String(), "birth_year": pl.Int32(), "age": pl.Int32(),
    "age_group": pl.String(), "deceased": pl.Boolean(), "death_date": pl.Date(), "id_status": pl.String(),
    "id_verified": pl.Boolean(), "sources": pl.List(pl.String()), "n_sources": pl.Int32(), "n_records": pl.Int32(),
    "assistance_category": pl.String(), "assistance_status": pl.String(), "monthly_amount": pl.Float64(),
    "employment_status": pl.String(), "unemployed_since": pl.Date(), "monthly_wage": pl.Float64(),
    "monthly_pension": pl.Float64(), "school_stage": pl.String(), "enrolment_status": pl.String(),
    "aided": pl.Boolean(), "school_age_not_enrolled": pl.Boolean(), "chronic": pl.Boolean(),
    "major_illness": pl.String(), "disability_level": pl.String(), "oop_medical": pl.Float64(),
    "hospital_stays": pl.Int64(), "dwellings": pl.Int64(), "housing_type": pl.String(),
    "danger_rating": pl.String(), "floor_area": pl.Float64(),
}


def age_at(birth: pl.Expr, reference: date) -> pl.Expr:
    ref = pl.lit(reference, dtype=pl.Date)
    month, day = birth.dt.month(), birth.dt.day()
    before = (ref.dt.month() < month) | ((ref.dt.month() == month) & (ref.dt.day() < day))
    return (ref.dt.year() - birth.dt.year() - before.cast(pl.Int32)).cast(pl.Int32)


def age_group(age: pl.Expr) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    for label, lo, hi in reversed(AGE_GROUPS):
        expr = pl.when(age.is_between(lo, hi)).then(pl.lit(label)).otherwise(expr)
    return expr


def _identity(records: pl.DataFrame) -> pl.LazyFrame:
    """Per person: birth date, sex, best ID status of their own records, sources and record counts."""
    own = records.lazy().filter(pl.col("person_id").is_not_null()).with_columns(
        pl.col("person_id").alias("audit_pid"), pl.col("_foreign_id").fill_null(False))
    births = person_birth_dates(own).lazy().rename({"audit_pid": "person_id"})
    # Sex: the one their own trusted IDs give most often, else the one their records state most often.
    by_id = most_frequent(own.filter(pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id")
                                     & pl.col("id_number_sex").is_not_null()), ["person_id"], "id_number_sex", "_by_id")
    stated = most_frequent(own.filter(pl.col("sex").is_not_null()), ["person_id"], "sex", "_stated")
    rank = {s: i for i, s in enumerate(STATUSES)}
    status = (own.filter(~pl.col("_foreign_id") & pl.col("id_number_status").is_not_null())
              .with_columns(pl.col("id_number_status").replace_strict(rank, default=len(rank)).alias("_r"))
              .group_by("person_id").agg(pl.col("id_number_status").sort_by("_r").first().alias("id_status")))
    seen = own.group_by("person_id").agg(pl.col("source").unique().sort().alias("sources"),
                                         pl.len().cast(pl.Int32).alias("n_records"))
    return (seen.join(births, on="person_id", how="left")
            .join(by_id, on="person_id", how="left").join(stated, on="person_id", how="left")
            .with_columns(pl.coalesce("_by_id", "_stated").alias("sex")).drop("_by_id", "_stated")
            .join(status, on="person_id", how="left"))


def _heads(person: pl.LazyFrame) -> pl.LazyFrame:
    """One head per household: the 户主 of civil affairs, else an owner of the dwelling, else the oldest adult."""
    rank = (pl.when(pl.col("relation") == "户主").then(0).when(pl.col("dwellings").fill_null(0) > 0).then(1)
            .when(pl.col("age") >= 18).then(2).otherwise(3))
    return (person.select("household_id", "person_id", "age", rank.alias("_r"),
                          pl.col("deceased").cast(pl.Int8).alias("_d"))
            .sort(["household_id", "_d", "_r", "age", "person_id"], descending=[False, False, False, True, False],
                  nulls_last=True)
            .group_by("household_id", maintain_order=True).first().select("household_id", "person_id"))


def person_table(members: pl.DataFrame, records: pl.DataFrame, facts: pl.DataFrame, not_enrolled: pl.DataFrame,
                 reference: date) -> pl.DataFrame:
    """`members`: household_member (household_id, person_id, rule); `not_enrolled`: person_id of that finding."""
    ident = _identity(records)
    out = (members.lazy().select("person_id", "household_id", pl.col("rule").alias("household_rule"))
           .join(ident, on="person_id", how="left").join(facts.lazy(), on="person_id", how="left")
           .with_columns(
               pl.col("birth").dt.year().cast(pl.Int32).alias("birth_year"),
               age_at(pl.col("birth"), reference).alias("age"),
               (pl.col("death_date").is_not_null() & (pl.col("death_date") <= reference)).alias("deceased"),
               pl.coalesce("id_status", pl.lit("none")).alias("id_status"),
               pl.col("person_id").is_in(not_enrolled["person_id"].implode()).alias("school_age_not_enrolled"),
               pl.col("sources").fill_null(pl.lit([], dtype=pl.List(pl.String))),
               pl.col("n_records").fill_null(0))
           .with_columns(age_group(pl.col("age")).alias("age_group"),
                         pl.col("id_status").is_in(TRUSTED_ID).alias("id_verified"),
                         pl.col("sources").list.len().cast(pl.Int32).alias("n_sources"))).collect(engine=ENGINE).lazy()
    heads = _heads(out).with_columns(pl.lit(True).alias("is_head"))
    out = out.join(heads, on=["household_id", "person_id"], how="left").with_columns(pl.col("is_head").fill_null(False))
    return out.select(list(PERSON_SCHEMA)).cast(PERSON_SCHEMA).sort("household_id", "person_id").collect(engine=ENGINE)
