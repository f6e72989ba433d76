"""What the marts read: the current snapshot's records, each with its person and household.

The marts start from the audit layer's view of the current snapshot
(``quality.findings.audit_records``: the shared person columns of every source, the
linked ``person_id``/``household_id``, and whether a record carries someone else's
ID number), so a child's record holding a guardian's ID gives the child neither the
guardian's age nor a verified ID here either. Address and area columns the audit
frame does not carry are added from the same current views.

Department fields (保障状态, 就业状态, 残疾等级, …) are read per source by
``person_facts``: the rules that use them are that department's meaning, so a
source that has not delivered simply contributes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig
from quality.findings import stored_audit_records
from quality.frames import ENGINE
from quality.records import current_view, present_sources

#: Area columns added to the audit frame (address names are only trusted where the source's
#: address is where people live, not their 户籍 registration). The audit frame's own
#: `address_township` is the one used.
AREA_COLUMNS = ("address", "address_village", "admin_code_village")
#: The audit frame's columns the marts read (names and record keys' IDs are left in the warehouse).
AUDIT_COLUMNS = ("source", "record_id", "person_id", "household_id", "_foreign_id", "id_number", "id_number_status",
                 "id_number_birth_date", "id_number_sex", "sex", "birth_date", "admin_code_county",
                 "admin_code_township", "address_township", "updated")


def snapshot_records(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig]) -> pl.DataFrame:
    """Every current record: `AUDIT_COLUMNS` of the audit frame + area columns + `lives_here` (address is residence)."""
    records = stored_audit_records(con, sources, AUDIT_COLUMNS)
    parts = []
    for src in present_sources(con, sources):
        cols = ", ".join(db.quote(c) for c in AREA_COLUMNS)
        lives = "false" if sources[src].address_is_registered else "true"
        parts.append(f"SELECT source, record_id, {cols}, {lives} AS lives_here FROM {current_view(src)}")
    schema = {"source": pl.String(), "record_id": pl.String(), **{c: pl.String() for c in AREA_COLUMNS},
              "lives_here": pl.Boolean()}
    area = db.frame(con, " UNION ALL ".join(parts)).cast(schema) if parts else pl.DataFrame(schema=schema)
    return records.lazy().join(area.lazy(), on=["source", "record_id"], how="left").collect(engine=ENGINE)


def _frame(con: duckdb.DuckDBPyConnection, source: str, columns: list[str]) -> pl.DataFrame | None:
    """One source's current records with these fields and their person, or None if it has not delivered."""
    if not db.table_exists(con, current_view(source)):
        return None
    have = set(db.columns(con, current_view(source)))
    cols = ", ".join(f"s.{db.quote(c)}" if c in have else f"NULL AS {db.quote(c)}" for c in columns)
    return db.frame(con, f"""
        SELECT x.person_id, s.record_id, {cols}
        FROM {current_view(source)} s JOIN person_xref x ON x.source = s.source AND x.record_id = s.record_id""")


def _newest(frame: pl.DataFrame, order: list[pl.Expr], descending: list[bool]) -> pl.DataFrame:
    """One record per person: the first by `order` (then record_id, for a stable choice)."""
    return (frame.sort([*order, pl.col("record_id")], descending=[*descending, False], nulls_last=True)
            .group_by("person_id", maintain_order=True).first())


DISABILITY_RANK = {"一级": 1, "二级": 2, "三级": 3, "四级": 4}   # 一级 is the most severe
ENROLMENT_RANK = {"在读": 1, "休学": 2, "辍学": 3, "毕业": 4, "转出": 5}  # a 转出 record is the school left

PERSON_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "relation": pl.String(), "assistance_category": pl.String(), "assistance_status": pl.String(),
    "monthly_amount": pl.Float64(), "declared_income": pl.Float64(), "verified_on": pl.Date(),
    "employment_status": pl.String(), "unemployed_since": pl.Date(), "monthly_wage": pl.Float64(),
    "monthly_pension": pl.Float64(),
    "school_stage": pl.String(), "enrolment_status": pl.String(), "aided": pl.Boolean(),
    "chronic": pl.Boolean(), "major_illness": pl.String(), "disability_level": pl.String(),
    "oop_medical": pl.Float64(), "hospital_stays": pl.Int64(), "death_date": pl.Date(),
    "dwellings": pl.Int64(), "housing_type": pl.String(), "danger_rating": pl.String(), "floor_area": pl.Float64(),
}


def person_facts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per person with a record in a department that says something about their situation.

    Where a person has several records in one source (a duplicate, a transfer), the one
    that describes them now is used: civil affairs 在保 before 停保 then the newest
    review; employment the newest update; education the enrolment that is current
    (在读 before a 转出 record of the school left); health combines (any chronic
    illness, the most severe disability, the highest spending, the earliest death);
    housing keeps the worst-rated dwelling the person owns.
    """
    out = pl.DataFrame(schema={"person_id": pl.String()})
    civil = _frame(con, "civil_affairs", ["relation", "assistance_category", "assistance_status", "monthly_amount",
                                          "per_capita_income", "verified_on"])
    if civil is not None:
        pick = _newest(civil, [pl.col("assistance_status") != "在保", pl.col("verified_on")], [False, True])
        out = out.join(pick.select("person_id", "relation", "assistance_category", "assistance_status",
                                   "monthly_amount", pl.col("per_capita_income").alias("declared_income"),
                                   "verified_on"), on="person_id", how="full", coalesce=True)
    emp = _frame(con, "employment", ["employment_status", "unemployed_since", "monthly_wage", "monthly_pension",
                                     "updated_on"])
    if emp is not None:
        pick = _newest(emp, [pl.col("updated_on")], [True])
        out = out.join(pick.select("person_id", "employment_status", "unemployed_since", "monthly_wage",
                                   "monthly_pension"), on="person_id", how="full", coalesce=True)
    edu = _frame(con, "education", ["school_stage", "enrolment_status", "aid", "updated_on"])
    if edu is not None:
        rank = pl.col("enrolment_status").replace_strict(ENROLMENT_RANK, default=9, return_dtype=pl.Int64)
        pick = _newest(edu, [rank, pl.col("updated_on")], [False, True])
        out = out.join(pick.select("person_id", "school_stage", "enrolment_status",
                                   (pl.col("aid").is_not_null() & (pl.col("aid") != "无")).alias("aided")),
                       on="person_id", how="full", coalesce=True)
    health = _frame(con, "health", ["chronic", "major_illness", "disability_level", "oop_medical", "hospital_stays",
                                    "death_date"])
    if health is not None:
        rank = pl.col("disability_level").replace_strict(DISABILITY_RANK, default=None, return_dtype=pl.Int64)
        agg = health.with_columns(rank.alias("_rank")).group_by("person_id").agg(
            (pl.col("chronic") == "是").any().alias("chronic"),
            pl.col("major_illness").drop_nulls().sort().first(),
            pl.col("disability_level").sort_by("_rank", nulls_last=True).first(),
            pl.col("oop_medical").max(), pl.col("hospital_stays").max(), pl.col("death_date").min())
        out = out.join(agg, on="person_id", how="full", coalesce=True)
    house = _frame(con, "housing", ["housing_type", "danger_rating", "floor_area"])
    if house is not None:
        worst = _newest(house, [pl.col("danger_rating")], [True]).select(
            "person_id", "housing_type", "danger_rating", "floor_area")
        n = house.group_by("person_id").agg(pl.len().cast(pl.Int64).alias("dwellings"))
        out = out.join(n.join(worst, on="person_id"), on="person_id", how="full", coalesce=True)
    for name, dtype in PERSON_FACTS_SCHEMA.items():
        if name not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(name))
    return out.select(list(PERSON_FACTS_SCHEMA)).cast(PERSON_FACTS_SCHEMA)
