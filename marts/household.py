"""The `household` mart (who lives together, where) and `household_profile` (what every department says).

One row per household of ``household_member``. The profile sums its living members'
facts department by department, adds the household's dwelling and assistance, an
income per living member (declared by civil affairs where it assessed the household,
else estimated from wages, pensions and the policy's imputed farm income), and how
fresh each facet is (``quality.staleness.household_facet_staleness``, against each
source's cadence, beside its delivery's status in ``source_freshness``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from ingest.sources import SourceConfig
from marts.area import AREA_SCHEMA
from marts.person import AGE_GROUPS
from marts.policy import Policy
from quality.frames import ENGINE
from quality.staleness import household_facet_staleness

#: Household rules (resolution.households), strongest evidence first.
RULE_ORDER = ("civil_affairs", "guardian", "housing", "address", "phone", "single")

FACET = pl.Struct({"source": pl.String(), "updated": pl.Date(), "age_days": pl.Int64(),
                   "expected_every_days": pl.Int64(), "stale": pl.Boolean(), "delivery_status": pl.String()})

HOUSEHOLD_SCHEMA: dict[str, pl.DataType] = {
    "household_id": pl.String(), **{k: v for k, v in AREA_SCHEMA.items() if k != "household_id"},
    "members": pl.Int32(), "living_members": pl.Int32(), "head_person_id": pl.String(),
    "formed_by": pl.String(), "sources": pl.List(pl.String()), "n_sources": pl.Int32(),
}

_AGE_COLS = {label: f"members_{label.replace('-', '_').replace('+', '_plus')}" for label, _, _ in AGE_GROUPS}

PROFILE_SCHEMA: dict[str, pl.DataType] = {
    **HOUSEHOLD_SCHEMA,
    **{c: pl.Int32() for c in _AGE_COLS.values()}, "members_age_unknown": pl.Int32(),
    # assistance (民政)
    "receiving_assistance": pl.Boolean(), "assistance_category": pl.String(), "assistance_status": pl.String(),
    "assisted_members": pl.Int32(), "monthly_assistance": pl.Float64(), "declared_income_per_capita": pl.Float64(),
    "last_verified_on": pl.Date(),
    # employment and income (人社)
    "employed": pl.Int32(), "flexible_employed": pl.Int32(), "registered_unemployed": pl.Int32(),
    "retired": pl.Int32(), "not_working": pl.Int32(), "members_in_employment_data": pl.Int32(),
    "members_amount_missing": pl.Int32(), "adults_without_employment_record": pl.Int32(),
    "monthly_wages": pl.Float64(), "monthly_pensions": pl.Float64(), "imputed_income": pl.Float64(),
    "estimated_income_per_capita": pl.Float64(), "income_per_capita": pl.Float64(), "income_basis": pl.String(),
    # education (教育)
    "students": pl.Int32(), "dropouts": pl.Int32(), "suspended": pl.Int32(), "aided_students": pl.Int32(),
    "school_age_not_enrolled": pl.Int32(),
    # health (卫健/医保)
    "chronic_ill": pl.Int32(), "major_ill": pl.Int32(), "disabled": pl.Int32(), "severely_disabled": pl.Int32(),
    "most_severe_disability": pl.String(), "oop_medical": pl.Float64(), "max_member_oop_major_illness": pl.Float64(),
    "hospital_stays": pl.Int64(), "deceased_members": pl.Int32(),
    # housing (住建)
    "dwellings": pl.Int32(), "housing_type": pl.String(), "danger_rating": pl.String(), "floor_area": pl.Float64(),
    # sources and freshness
    "facets": pl.List(FACET), "stale_facets": pl.List(pl.String()), "oldest_facet_days": pl.Int64(),
}

_DISABILITY_ORDER = ("一级", "二级", "三级", "四级")
#: 就业状态 values that come with a wage (a blank 月工资 then means the amount is unknown, not zero).
EARNING = ("在职", "灵活就业")


def _count(cond: pl.Expr) -> pl.Expr:
    return cond.fill_null(False).sum().cast(pl.Int32)


def household_table(person: pl.DataFrame, areas: pl.DataFrame) -> pl.DataFrame:
    """One row per household: area, size, head, the strongest rule that formed it, the sources that know it."""
    rule_rank = pl.col("household_rule").replace_strict({r: i for i, r in enumerate(RULE_ORDER)}, default=99)
    core = person.lazy().group_by("household_id").agg(
        pl.len().cast(pl.Int32).alias("members"), _count(~pl.col("deceased")).alias("living_members"),
        pl.col("person_id").filter(pl.col("is_head")).first().alias("head_person_id"),
        pl.col("household_rule").sort_by(rule_rank).first().alias("formed_by"),
        pl.col("sources").list.explode(keep_nulls=False, empty_as_null=False).unique().sort()
        .alias("sources"))
    out = (core.join(areas.lazy(), on="household_id", how="left")
           .with_columns(pl.col("sources").list.drop_nulls(), pl.col("sources").list.drop_nulls().list.len()
                         .cast(pl.Int32).alias("n_sources")))
    return out.select(list(HOUSEHOLD_SCHEMA)).cast(HOUSEHOLD_SCHEMA).sort("household_id").collect(engine=ENGINE)


def _facets(records: pl.DataFrame, sources: Mapping[str, SourceConfig], reference: date,
            freshness: pl.DataFrame) -> pl.LazyFrame:
    facets, _ = household_facet_staleness(records, sources, reference)
    status = freshness.lazy().select("source", pl.col("status").alias("delivery_status"))
    return (facets.lazy().join(status, on="source", how="left").sort("household_id", "source")
            .group_by("household_id", maintain_order=True).agg(
                pl.struct("source", "updated", pl.col("age_days").cast(pl.Int64),
                          pl.col("expected_every_days").cast(pl.Int64), "stale", "delivery_status").alias("facets"),
                pl.col("source").filter(pl.col("stale")).alias("stale_facets"),
                pl.col("age_days").max().cast(pl.Int64).alias("oldest_facet_days")))


def _income(policy: Policy) -> list[pl.Expr]:
    """Parts of the estimated income: rural workers to impute for, wages, pensions, amounts the data lacks."""
    alive = ~pl.col("deceased")
    not_student = (pl.col("enrolment_status") != "在读").fill_null(True)
    severe = pl.col("disability_level").is_in(list(policy.disability_levels)).fill_null(False)
    worker = alive & pl.col("_rural") & pl.col("age").is_between(*policy.worker_age) & not_student & ~severe
    status = pl.col("employment_status")
    blank = ((status.is_in(list(EARNING)) & pl.col("monthly_wage").is_null())
             | ((status == "退休") & pl.col("monthly_pension").is_null()))
    absent = alive & pl.col("age").is_between(*policy.employment_age) & status.is_null() & not_student
    return [
        worker.fill_null(False).sum().alias("_workers"),
        pl.col("monthly_wage").filter(alive).sum().alias("monthly_wages"),
        pl.col("monthly_pension").filter(alive).sum().alias("monthly_pensions"),
        _count(alive & blank).alias("members_amount_missing"),
        _count(absent).alias("adults_without_employment_record"),
    ]


def household_profile(person: pl.DataFrame, household: pl.DataFrame, facts: pl.DataFrame, records: pl.DataFrame,
                      sources: Mapping[str, SourceConfig], freshness: pl.DataFrame, policy: Policy,
                      reference: date) -> pl.DataFrame:
    """One wide row per household (PROFILE_SCHEMA); `facts` gives civil affairs' declared income per person."""
    alive = ~pl.col("deceased")
    declared = facts.lazy().select("person_id", "declared_income", "verified_on")
    rural = household.lazy().select("household_id", (pl.col("urban_rural") == "rural").fill_null(False).alias("_rural"))
    # Members in person order: some figures below take a household's first member that has one.
    p = (person.lazy().join(declared, on="person_id", how="left", maintain_order="left")
         .join(rural, on="household_id", how="left", maintain_order="left")
         .with_columns(pl.col("_rural").fill_null(False)))
    dis_rank = pl.when(alive).then(pl.col("disability_level")).replace_strict(
        {d: i for i, d in enumerate(_DISABILITY_ORDER)}, default=None)
    in_bao = pl.col("assistance_status").is_in(list(policy.receiving_statuses))
    agg = p.group_by("household_id").agg(
        *[_count(alive & (pl.col("age_group") == label)).alias(col) for label, col in _AGE_COLS.items()],
        _count(alive & pl.col("age").is_null()).alias("members_age_unknown"),
        (alive & in_bao).fill_null(False).any().alias("receiving_assistance"),
        pl.col("assistance_category").filter(in_bao).mode().sort().first().alias("_cat_in"),
        pl.col("assistance_category").drop_nulls().mode().sort().first().alias("_cat_any"),
        pl.when((pl.col("assistance_status") == "在保").any()).then(pl.lit("在保"))
        .otherwise(pl.col("assistance_status").drop_nulls().first()).alias("assistance_status"),
        _count(alive & in_bao).alias("assisted_members"),
        pl.col("monthly_amount").filter(alive & in_bao).sum().alias("monthly_assistance"),
        pl.col("declared_income").sort_by("verified_on", descending=True, nulls_last=True).drop_nulls().first()
        .alias("declared_income_per_capita"),
        pl.col("verified_on").max().alias("last_verified_on"),
        _count(alive & (pl.col("employment_status") == "在职")).alias("employed"),
        _count(alive & (pl.col("employment_status") == "灵活就业")).alias("flexible_employed"),
        _count(alive & (pl.col("employment_status") == "失业登记")).alias("registered_unemployed"),
        _count(alive & (pl.col("employment_status") == "退休")).alias("retired"),
        _count(alive & (pl.col("employment_status") == "无业")).alias("not_working"),
        _count(alive & pl.col("sources").list.contains("employment")).alias("members_in_employment_data"),
        *_income(policy),
        _count(alive & (pl.col("enrolment_status") == "在读")).alias("students"),
        _count(alive & (pl.col("enrolment_status") == "辍学")).alias("dropouts"),
        _count(alive & (pl.col("enrolment_status") == "休学")).alias("suspended"),
        _count(alive & (pl.col("enrolment_status") == "在读") & pl.col("aided")).alias("aided_students"),
        _count(alive & pl.col("school_age_not_enrolled")).alias("school_age_not_enrolled"),
        _count(alive & pl.col("chronic")).alias("chronic_ill"),
        _count(alive & pl.col("major_illness").is_not_null()).alias("major_ill"),
        _count(alive & pl.col("disability_level").is_not_null()).alias("disabled"),
        _count(alive & pl.col("disability_level").is_in(list(policy.disability_levels))).alias("severely_disabled"),
        pl.when(alive).then(pl.col("disability_level")).sort_by(dis_rank, nulls_last=True).first()
        .alias("most_severe_disability"),
        pl.col("oop_medical").filter(alive).sum().alias("oop_medical"),
        pl.col("oop_medical").filter(alive & pl.col("major_illness").is_not_null()).max()
        .alias("max_member_oop_major_illness"),
        pl.col("hospital_stays").filter(alive).sum().alias("hospital_stays"),
        _count(pl.col("deceased")).alias("deceased_members"),
        pl.col("dwellings").sum().cast(pl.Int32).alias("dwellings"),
        pl.col("housing_type").sort_by("danger_rating", descending=True, nulls_last=True).first(),
        pl.col("danger_rating").drop_nulls().max().alias("danger_rating"),
        pl.col("floor_area").sort_by("danger_rating", descending=True, nulls_last=True).first(),
    )
    living = pl.col("living_members").cast(pl.Float64)
    incomplete = (pl.col("members_amount_missing") > 0) | (
        pl.lit(policy.absent_adults_unknown) & (pl.col("adults_without_employment_record") > 0))
    estimated = ((pl.col("monthly_wages") + pl.col("monthly_pensions")) * 12 + pl.col("imputed_income")) / living
    out = (household.lazy().join(agg, on="household_id", how="left")
           .join(_facets(records, sources, reference, freshness), on="household_id", how="left")
           .with_columns(pl.coalesce("_cat_in", "_cat_any").alias("assistance_category"),
                         (pl.col("_workers") * policy.imputed_rural_income_per_worker).cast(pl.Float64)
                         .alias("imputed_income"))
           .with_columns(pl.when(living > 0).then(estimated).alias("estimated_income_per_capita"))
           .with_columns(pl.coalesce("declared_income_per_capita", "estimated_income_per_capita")
                         .alias("income_per_capita"),
                         pl.when(pl.col("declared_income_per_capita").is_not_null()).then(pl.lit("declared"))
                         .when(incomplete).then(pl.lit("incomplete"))
                         .when(living > 0).then(pl.lit("estimated")).alias("income_basis"),
                         pl.col("facets").fill_null(pl.lit([], dtype=pl.List(FACET))),
                         pl.col("stale_facets").fill_null(pl.lit([], dtype=pl.List(pl.String)))))
    return out.select(list(PROFILE_SCHEMA)).cast(PROFILE_SCHEMA).sort("household_id").collect(engine=ENGINE)
