"""The audit findings the newest deliveries actually show, computed by rule.

Injection (``synth.deliveries``) makes each problem happen; this module states what
an auditor can see in the current snapshot (each source's newest delivery), using
only values a correct reader recovers (a blanked 死亡日期 or an ID with a broken
check digit shows nothing). That keeps ``truth/findings.parquet`` exact:

- ``deceased_receiving_assistance``: a civil-affairs record 在保 of a person whose
  health record shows a 死亡日期 on or before the civil-affairs as-of date;
- ``deceased_receiving_pension``: an employment record with 养老金月额 > 0 of such a person;
- ``duplicate_assistance``: a person's 在保 records under two or more 户编号 (each record);
- ``school_age_not_enrolled``: a living person aged 6-15 on the reference date, seen in
  some source, with no education record (record_id null);
- ``review_overdue``: a 在保 record whose 核查日期 is more than 12 months before its as-of;
- ``conflicting_birth_date`` / ``conflicting_sex``: a person whose records show two or
  more different values; each record whose value differs from the true one;
- ``shared_id_number``: a record showing a (valid) ID that belongs to another person.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from synth.deliveries import Arrays

COLUMNS = ("finding_type", "source", "record_id", "person_uid", "household_uid", "as_of", "detail")


def _add_people(df: pl.DataFrame, A: Arrays) -> pl.DataFrame:
    pidx = df["_pidx"].to_numpy()
    return df.with_columns(
        person_uid=pl.Series(A.p["person_uid"][pidx].astype(str), dtype=pl.String),
        household_uid=pl.Series(A.p["household_uid"][pidx].astype(str), dtype=pl.String),
    )


def compute(shown: dict[str, pl.DataFrame], A: Arrays, ref: date) -> pl.DataFrame:
    """Findings over the newest deliveries (``shown`` by source)."""
    s = {k: _add_people(v, A) for k, v in shown.items()}
    parts: list[pl.DataFrame] = []

    def emit(df: pl.DataFrame, kind: str, detail: pl.Expr | None = None) -> None:
        parts.append(df.select(
            finding_type=pl.lit(kind), source=pl.col("source"), record_id=pl.col("record_id"),
            person_uid=pl.col("person_uid"), household_uid=pl.col("household_uid"),
            as_of=pl.col("as_of").cast(pl.Date),
            detail=(detail if detail is not None else pl.lit(None)).cast(pl.String),
        ))

    deaths = (s["health"].filter(pl.col("death_date_shown").is_not_null())
              .group_by("person_uid").agg(pl.col("death_date_shown").min().alias("died")))
    ca = s["civil_affairs"]
    in_bao = ca.filter(pl.col("assistance_status") == "在保")
    emit(in_bao.join(deaths, on="person_uid").filter(pl.col("died") <= pl.col("as_of")),
         "deceased_receiving_assistance", pl.format("died {}", pl.col("died")))
    emp = s["employment"]
    emit(emp.join(deaths, on="person_uid").filter((pl.col("monthly_pension_shown") > 0)
                                                  & (pl.col("died") <= pl.col("as_of"))),
         "deceased_receiving_pension", pl.format("died {}", pl.col("died")))
    multi = in_bao.group_by("person_uid").agg(pl.col("household_no").n_unique().alias("k")).filter(pl.col("k") > 1)
    emit(in_bao.join(multi, on="person_uid", how="semi"), "duplicate_assistance",
         pl.col("household_no"))
    emit(in_bao.filter(pl.col("verified_on_shown") < pl.col("as_of").dt.offset_by("-12mo")),
         "review_overdue", pl.format("verified {}", pl.col("verified_on_shown")))

    persons = pl.DataFrame({
        "person_uid": A.p["person_uid"].astype(str), "household_uid": A.p["household_uid"].astype(str),
        "age": A.p["age"], "dead": A.p["is_deceased"],
    })
    seen = pl.concat([v.select("person_uid") for k, v in s.items() if k != "education"]).unique()
    enrolled = s["education"].select("person_uid").unique()
    missing = (persons.filter(pl.col("age").is_between(6, 15) & ~pl.col("dead"))
               .join(seen, on="person_uid", how="semi").join(enrolled, on="person_uid", how="anti"))
    emit(missing.with_columns(source=pl.lit("education"), record_id=pl.lit(None, pl.String),
                              as_of=pl.lit(shown["education"]["as_of"][0] if shown["education"].height else ref)),
         "school_age_not_enrolled", pl.format("age {}", pl.col("age")))

    truth = pl.DataFrame({"person_uid": A.p["person_uid"].astype(str),
                          "true_birth": pl.Series(A.p["birth_date"]).cast(pl.Date),
                          "true_sex": A.p["sex"].astype(str), "true_id": A.p["id_number"]},
                         schema_overrides={"true_id": pl.String})
    for field, col, true_col, kind in (("birth", "birth_date_shown", "true_birth", "conflicting_birth_date"),
                                       ("sex", "sex_shown", "true_sex", "conflicting_sex")):
        recs = pl.concat([v.select("source", "record_id", "person_uid", "household_uid", "as_of", col)
                          for v in s.values() if col in v.columns])
        recs = recs.filter(pl.col(col).is_not_null())
        conflicted = recs.group_by("person_uid").agg(pl.col(col).n_unique().alias("k")).filter(pl.col("k") > 1)
        bad = recs.join(conflicted, on="person_uid", how="semi").join(truth, on="person_uid").filter(
            pl.col(col) != pl.col(true_col))
        emit(bad, kind, pl.format("shows {}, true {}", pl.col(col), pl.col(true_col)))
        del field

    ids = pl.concat([v.select("source", "record_id", "person_uid", "household_uid", "as_of", "id_shown")
                     for v in s.values() if "id_shown" in v.columns])
    owner = truth.select(pl.col("true_id").alias("id_shown"), pl.col("person_uid").alias("owner")).drop_nulls()
    emit(ids.join(owner, on="id_shown").filter(pl.col("owner") != pl.col("person_uid")), "shared_id_number",
         pl.format("ID of {}", pl.col("owner")))

    out = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    return out.sort("finding_type", "source", "record_id", "person_uid", nulls_last=True)
