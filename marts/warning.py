"""Early warning (one row per household × flag raised) and the proactive-discovery list (政策找人).

The flags are the seed's 病学残失业 indicators (illness, schooling, disability,
unemployment; there is no disaster source) plus dangerous housing and low income,
each raised by a rule of the policy file and carrying its reason in words (figures,
dates, ratings; never names or ID numbers). The discovery list is the households
that receive no assistance while enough of the policy's discovery flags are raised:
a list of visits for caseworkers, with what to assess, never a decision.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from marts.policy import FLAGS, Policy
from quality.frames import ENGINE

EARLY_WARNING_SCHEMA: dict[str, pl.DataType] = {
    "household_id": pl.String(), "flag": pl.String(), "reason": pl.String(), "members_affected": pl.Int32(),
    "counts_for_discovery": pl.Boolean(), "policy": pl.String(),
}

DISCOVERY_SCHEMA: dict[str, pl.DataType] = {
    "household_id": pl.String(), "priority": pl.Int32(), "county_code": pl.String(), "county_name": pl.String(),
    "township_code": pl.String(), "township_name": pl.String(), "village_code": pl.String(),
    "village_name": pl.String(), "urban_rural": pl.String(), "living_members": pl.Int32(),
    "head_person_id": pl.String(), "rules_met": pl.List(pl.String()), "n_rules_met": pl.Int32(),
    "reasons": pl.List(pl.String()), "suggested_action": pl.String(), "previously_assisted": pl.Boolean(),
    "thin_file": pl.Boolean(), "income_per_capita": pl.Float64(), "income_basis": pl.String(),
    "policy": pl.String(),
}


def _money(col: str | pl.Expr) -> pl.Expr:
    c = pl.col(col) if isinstance(col, str) else col
    return c.round(0).cast(pl.Int64).cast(pl.String)


def _standards(policy: Policy) -> pl.DataFrame:
    rows = [{"county_code": c, "_urban": s.urban, "_rural": s.rural} for c, s in policy.county_standards.items()]
    return pl.DataFrame(rows, schema={"county_code": pl.String(), "_urban": pl.Float64(), "_rural": pl.Float64()})


def _low_income(profile: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    area = pl.col("urban_rural").fill_null(policy.unknown_area)
    standard = pl.when(area == "rural").then(pl.coalesce("_rural", pl.lit(policy.default_standard.rural))) \
        .otherwise(pl.coalesce("_urban", pl.lit(policy.default_standard.urban)))
    how = (pl.when(pl.col("income_basis") == "declared").then(pl.lit("declared to civil affairs"))
           .otherwise(pl.format("estimated from wages {} and pensions {} a month and imputed farm income {} a year, "
                                "over {} living members", _money("monthly_wages"), _money("monthly_pensions"),
                                _money("imputed_income"), pl.col("living_members"))))
    return (profile.join(_standards(policy).lazy(), on="county_code", how="left")
            .with_columns(standard.alias("_std"), area.alias("_area"))
            .filter((pl.col("income_per_capita") < pl.col("_std") * 12) & (pl.col("income_basis") != "incomplete"))
            .select("household_id", pl.lit("low_income").alias("flag"), pl.format(
                "income {} a person a year ({}) is below 12 × {}, the {} 低保 standard of {}",
                _money("income_per_capita"), how, _money("_std"), pl.col("_area"),
                pl.col("county_code").fill_null("the default county")).alias("reason"),
                pl.col("living_members").alias("members_affected")))


def _illness(profile: pl.LazyFrame, person: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    heavy = (person.filter(~pl.col("deceased") & pl.col("major_illness").is_not_null()
                           & (pl.col("oop_medical") >= policy.major_illness_min_oop))
             .group_by("household_id").agg(pl.len().cast(pl.Int32).alias("_n"),
                                           pl.col("major_illness").unique().sort().str.join("、").alias("_what")))
    income = pl.col("income_per_capita") * pl.col("living_members")
    oop = pl.col("oop_medical")
    share = (pl.lit(policy.oop_share_of_income > 0) & (pl.col("income_basis") != "incomplete")
             & (oop >= policy.min_oop) & (oop >= policy.oop_share_of_income * income))
    p = profile.join(heavy, on="household_id", how="left")
    reason_major = pl.format("{} member(s) with a major illness ({}) paying at least {} a year out of pocket",
                             pl.col("_n"), pl.col("_what"), pl.lit(int(policy.major_illness_min_oop)))
    reason_share = pl.format("out-of-pocket medical spending {} a year is at least {}% of household income {}",
                             _money("oop_medical"), pl.lit(round(policy.oop_share_of_income * 100)), _money(income))
    return (p.filter(pl.col("_n").is_not_null() | share.fill_null(False))
            .select("household_id", pl.lit("illness").alias("flag"),
                    pl.when(pl.col("_n").is_not_null() & share.fill_null(False))
                    .then(pl.format("{}; {}", reason_major, reason_share))
                    .when(pl.col("_n").is_not_null()).then(reason_major).otherwise(reason_share).alias("reason"),
                    pl.coalesce("_n", "major_ill").alias("members_affected")))


def _disability(profile: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    return profile.filter(pl.col("severely_disabled") > 0).select(
        "household_id", pl.lit("disability").alias("flag"),
        pl.format("{} member(s) with a {} disability (most severe {})", pl.col("severely_disabled"),
                  pl.lit("/".join(policy.disability_levels)), pl.col("most_severe_disability")).alias("reason"),
        pl.col("severely_disabled").alias("members_affected"))


def _unemployment(person: pl.LazyFrame, policy: Policy, reference: date) -> pl.LazyFrame:
    days = (pl.lit(reference, dtype=pl.Date) - pl.col("unemployed_since")).dt.total_days()
    hit = person.filter(~pl.col("deceased") & pl.col("employment_status").is_in(list(policy.unemployment_statuses))
                        & (days.is_null() | (days >= policy.unemployment_min_days)))
    return hit.group_by("household_id").agg(pl.len().cast(pl.Int32).alias("members_affected"),
                                            pl.col("unemployed_since").min().alias("_since"),
                                            pl.col("employment_status").unique().sort().str.join("/").alias("_st")
                                            ).select(
        "household_id", pl.lit("unemployment").alias("flag"),
        pl.format("{} member(s) {}{}", pl.col("members_affected"), pl.col("_st"),
                  pl.when(pl.col("_since").is_not_null()).then(pl.format(" (the longest since {})", pl.col("_since")))
                  .otherwise(pl.lit(""))).alias("reason"), "members_affected")


def _dangerous_house(profile: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    return profile.filter(pl.col("danger_rating").is_in(list(policy.danger_ratings))).select(
        "household_id", pl.lit("dangerous_house").alias("flag"),
        pl.format("dwelling rated {} ({})", pl.col("danger_rating"), pl.col("housing_type").fill_null("type unknown"))
        .alias("reason"), pl.col("living_members").alias("members_affected"))


def _schooling(person: pl.LazyFrame, policy: Policy) -> pl.LazyFrame:
    status = pl.col("enrolment_status").is_in(list(policy.schooling_statuses)).fill_null(False)
    missing = pl.col("school_age_not_enrolled") & pl.lit(policy.school_age_not_enrolled)
    hit = person.filter(~pl.col("deceased") & (status | missing))
    parts = hit.group_by("household_id").agg(
        status.sum().cast(pl.Int32).alias("_s"), missing.sum().cast(pl.Int32).alias("_m"),
        pl.col("enrolment_status").filter(status).unique().sort().str.join("/").alias("_st"), pl.len().alias("_n"))
    said_status = pl.when(pl.col("_s") > 0).then(pl.format("{} member(s) {}", pl.col("_s"), pl.col("_st")))
    said_missing = pl.when(pl.col("_m") > 0).then(pl.format("{} school-age child(ren) with no enrolment",
                                                            pl.col("_m")))
    return parts.select("household_id", pl.lit("schooling").alias("flag"),
                        pl.concat_str(said_status, said_missing, separator="; ", ignore_nulls=True).alias("reason"),
                        pl.col("_n").cast(pl.Int32).alias("members_affected"))


def early_warning(profile: pl.DataFrame, person: pl.DataFrame, policy: Policy, reference: date) -> pl.DataFrame:
    """One row per household × raised flag (EARLY_WARNING_SCHEMA), in FLAGS order per household."""
    # Lazy: each rule reads a few of the profile's sixty columns, and only those are carried.
    living = profile.lazy().filter(pl.col("living_members") > 0)
    person = person.lazy().filter(pl.col("household_id").is_in(
        profile.filter(pl.col("living_members") > 0)["household_id"].implode()))
    parts = [_low_income(living, policy), _illness(living, person, policy), _schooling(person, policy),
             _disability(living, policy), _unemployment(person, policy, reference), _dangerous_house(living, policy)]
    order = {f: i for i, f in enumerate(FLAGS)}
    out = pl.concat([p.with_columns(pl.col("members_affected").cast(pl.Int32)) for p in parts])
    return (out.with_columns(pl.col("flag").is_in(list(policy.discovery_flags)).alias("counts_for_discovery"),
                             pl.lit(policy.name).alias("policy"))
            .sort("household_id", pl.col("flag").replace_strict(order, return_dtype=pl.Int32))
            .select(list(EARLY_WARNING_SCHEMA)).cast(EARLY_WARNING_SCHEMA).collect(engine=ENGINE))


def proactive_discovery(profile: pl.DataFrame, warnings: pl.DataFrame, thin_households: pl.Series,
                        policy: Policy) -> pl.DataFrame:
    """Households receiving no assistance with at least `min_flags` discovery flags, most flags first."""
    order = {f: i for i, f in enumerate(policy.discovery_flags)}
    met = (warnings.filter(pl.col("counts_for_discovery"))
           .sort("household_id", pl.col("flag").replace_strict(order, return_dtype=pl.Int32))
           .group_by("household_id", maintain_order=True)
           .agg(pl.col("flag").alias("rules_met"), pl.col("reason").alias("reasons"))
           .with_columns(pl.col("rules_met").list.len().cast(pl.Int32).alias("n_rules_met"))
           .filter(pl.col("n_rules_met") >= policy.min_flags))
    actions = pl.col("rules_met").list.eval(pl.element().replace_strict(policy.actions, return_dtype=pl.String))
    out = (profile.lazy().filter(~pl.col("receiving_assistance").fill_null(False) & (pl.col("living_members") > 0))
           .join(met.lazy(), on="household_id")
           .with_columns(pl.concat_str(pl.lit("visit and "), actions.list.join("; ")).alias("suggested_action"),
                         (pl.col("assistance_status") == "停保").fill_null(False).alias("previously_assisted"),
                         pl.col("household_id").is_in(thin_households.implode()).alias("thin_file"),
                         pl.lit(policy.name).alias("policy"))
           .sort(["n_rules_met", "income_per_capita", "household_id"], descending=[True, False, False],
                 nulls_last=True)
           .with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int32).alias("priority")))
    return out.select(list(DISCOVERY_SCHEMA)).cast(DISCOVERY_SCHEMA).collect(engine=ENGINE)
