"""The thin-file list: households and people the data knows too little about to judge.

The seed's point is that information-poor households are the ones databases miss: a
household no rule flags may simply be one nobody records. These are listed for an
offline visit, with why, by the policy's `[thin_file]` rules: a household seen by too
few departments, with no or incomplete income evidence, or whose every facet is too
old; a living person whose identity no verified ID confirms, or whose age is unknown.
"""

from __future__ import annotations

import polars as pl

from marts.policy import Policy
from quality.frames import ENGINE

THIN_FILE_SCHEMA: dict[str, pl.DataType] = {
    "subject": pl.String(), "household_id": pl.String(), "person_id": pl.String(), "county_code": pl.String(),
    "township_code": pl.String(), "village_code": pl.String(), "reasons": pl.List(pl.String()),
    "has_warning": pl.Boolean(), "policy": pl.String(),
}


Rule = tuple[bool, pl.Expr, pl.Expr]  # (switched on by the policy, condition, reason text)


def _reasons(rules: list[Rule]) -> pl.Expr:
    """A list of the reason texts whose condition holds (rules switched off by the policy are left out)."""
    used = [pl.when(cond).then(text) for on, cond, text in rules if on]
    if not used:
        return pl.lit([], dtype=pl.List(pl.String))
    return pl.concat_list(used).list.drop_nulls()


def _listed(frame: pl.LazyFrame, rules: list[Rule]) -> pl.LazyFrame:
    """The rows with at least one reason, and their `reasons`. Rows no rule holds for are dropped before the
    texts are written: most households and people are not thin, and writing their texts took most of the time."""
    used = [cond for on, cond, _ in rules if on]
    if not used:
        return frame.head(0).with_columns(_reasons(rules).alias("reasons"))
    return (frame.filter(pl.any_horizontal(used)).with_columns(_reasons(rules).alias("reasons"))
            .filter(pl.col("reasons").list.len() > 0))


def thin_file(profile: pl.DataFrame, person: pl.DataFrame, warned: pl.Series, policy: Policy) -> pl.DataFrame:
    """THIN_FILE_SCHEMA rows: households first, then persons; `warned` holds households with any flag."""
    hh = profile.lazy().filter(pl.col("living_members") > 0)  # lazy: the rules read a few of its sixty columns
    facets_known = pl.col("facets").list.len() > 0
    household = _listed(hh, [
        (True, pl.col("n_sources") < policy.household_min_sources,
         pl.format("seen by {} department(s) ({}); the policy wants at least {}", pl.col("n_sources"),
                   pl.col("sources").list.join(", "), pl.lit(policy.household_min_sources))),
        (policy.income_unknown,
         (pl.col("members_in_employment_data") == 0) & pl.col("declared_income_per_capita").is_null(),
         pl.lit("no income evidence: no living member in employment data and no civil-affairs assessment")),
        (policy.income_unknown, pl.col("income_basis") == "incomplete",
         pl.format("income incomplete: {} member(s) in work or retired with no wage or pension amount",
                   pl.col("members_amount_missing"))),
        (policy.facet_max_age_days > 0,
         facets_known & (pl.col("facets").list.eval(pl.element().struct.field("age_days")).list.min()
                         > policy.facet_max_age_days),
         pl.format("every facet is older than {} days (the newest is {} days old)", pl.lit(policy.facet_max_age_days),
                   pl.col("facets").list.eval(pl.element().struct.field("age_days")).list.min())),
    ]).select(
        pl.lit("household").alias("subject"), "household_id", pl.lit(None, pl.String).alias("person_id"),
        "county_code", "township_code", "village_code", "reasons")
    areas = hh.select("household_id", "county_code", "township_code", "village_code")
    people = _listed(person.lazy().filter(~pl.col("deceased")), [
        (policy.person_no_verified_id, ~pl.col("id_verified"),
         pl.format("no verified ID number of their own (best status: {})", pl.col("id_status"))),
        (policy.person_age_unknown, pl.col("age").is_null(), pl.lit("age unknown (no birth date on any record)")),
    ]).join(areas, on="household_id", how="left", maintain_order="left").select(
        pl.lit("person").alias("subject"), "household_id", "person_id", "county_code", "township_code",
        "village_code", "reasons")
    out = pl.concat([household, people])
    return (out.with_columns(pl.col("household_id").is_in(warned.implode()).alias("has_warning"),
                             pl.lit(policy.name).alias("policy"))
            .select(list(THIN_FILE_SCHEMA)).cast(THIN_FILE_SCHEMA).collect(engine=ENGINE))
