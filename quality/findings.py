"""Contradictions between departments: the contract's `findings` table (CONTRACT §5).

Each rule states what an auditor can see in the current snapshot, joined through the
linked persons (`person_xref`) and households (`household_member`). A finding names
the record that shows the problem (`record_id`, null when the problem is a record
that does not exist) and carries its evidence in `detail`, in words, never with
names, phone or ID numbers, so the detail can be published in the report as is.

Rules that need a department's own fields (death dates, 保障状态, pensions) name
that source: the rule is the department's meaning, not a generic check. A rule
whose source is absent yields nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig
from quality.frames import ENGINE, most_frequent
from quality.identity import audit_persons
from quality.privacy import with_record_ref
from quality.records import TRUSTED_ID, current_records, current_view

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "finding_type": pl.String(), "person_id": pl.String(), "household_id": pl.String(),
    "source": pl.String(), "record_id": pl.String(), "detail": pl.String(),
}

FINDING_TYPES: dict[str, str] = {
    "deceased_receiving_assistance": "Dead in health (死亡日期) but still 在保 in civil affairs.",
    "deceased_receiving_pension": "Dead in health but still paid a pension (养老金月额 > 0) in employment.",
    "duplicate_assistance": "One person 在保 under two or more civil-affairs households (户编号).",
    "school_age_not_enrolled": "A living child aged 6-15, known to another department, with no education record.",
    "conflicting_birth_date": "A person's records state different birth dates; the record that disagrees.",
    "conflicting_sex": "A person's records state different sexes; the record that disagrees.",
    "shared_id_number": "A record carries an ID number that belongs to another person.",
    "review_overdue": "A 在保 civil-affairs record whose 核查日期 is more than 12 months before the delivery.",
}

SCHOOL_AGE = (6, 15)
REVIEW_MONTHS = 12


def _out(df: pl.DataFrame, kind: str, detail: pl.Expr) -> pl.DataFrame:
    return df.select(
        pl.lit(kind).alias("finding_type"), "person_id", "household_id", "source", "record_id",
        detail.cast(pl.String).alias("detail"),
    ).cast(FINDINGS_SCHEMA)


def _source_rows(con: duckdb.DuckDBPyConnection, records: pl.DataFrame, source: str, columns: list[str],
                 where: str = "") -> pl.LazyFrame | None:
    """A source's current records (those matching the SQL `where`) with some of its own fields, and each
    record's `as_of`, `person_id`, `household_id` and `audit_pid` from the audit frame; None if absent.

    Only the department's own fields are read from its view: the ids come from `records`,
    which already holds every current record joined to its person and household, so the
    view is not joined to `person_xref` again and a filter on the department's fields
    (``where``) keeps the rows read to those a rule looks at.
    """
    if not db.table_exists(con, current_view(source)):
        return None
    cols = "".join(f", {db.quote(c)}" for c in columns)
    own = db.frame(con, f"SELECT record_id{cols} FROM {current_view(source)}" + (f" WHERE {where}" if where else ""))
    ids = (records.lazy().filter(pl.col("source") == source)
           .select("source", "as_of", "record_id", "person_id", "household_id", "audit_pid"))
    return own.lazy().join(ids, on="record_id", how="inner")


def deaths(con: duckdb.DuckDBPyConnection, records: pl.DataFrame) -> pl.DataFrame:
    """Earliest 死亡日期 per person, from health."""
    health = _source_rows(con, records, "health", ["death_date"], "death_date IS NOT NULL")
    if health is None:
        return pl.DataFrame(schema={"audit_pid": pl.String(), "died": pl.Date()})
    return (health.filter(pl.col("audit_pid").is_not_null())
            .group_by("audit_pid").agg(pl.col("death_date").min().alias("died")).collect(engine=ENGINE))


def deceased(con: duckdb.DuckDBPyConnection, records: pl.DataFrame, died: pl.DataFrame) -> list[pl.DataFrame]:
    """Dead people still 在保 (civil affairs) or still paid a pension (employment); `died` is `deaths`."""
    out = []
    civil = _source_rows(con, records, "civil_affairs", ["assistance_status"], "assistance_status = '在保'")
    if civil is not None:
        hit = civil.join(died.lazy(), on="audit_pid").filter(pl.col("died") <= pl.col("as_of")).collect(engine=ENGINE)
        out.append(_out(hit, "deceased_receiving_assistance",
                        pl.format("health records death on {}; civil affairs still 在保 as of {}",
                                  pl.col("died"), pl.col("as_of"))))
    emp = _source_rows(con, records, "employment", ["monthly_pension"], "monthly_pension IS NOT NULL")
    if emp is not None:
        hit = (emp.filter(pl.col("monthly_pension") > 0).join(died.lazy(), on="audit_pid")
               .filter(pl.col("died") <= pl.col("as_of")).collect(engine=ENGINE))
        out.append(_out(hit, "deceased_receiving_pension",
                        pl.format("health records death on {}; employment pays a pension of {} a month as of {}",
                                  pl.col("died"), pl.col("monthly_pension").round(1), pl.col("as_of"))))
    return out


def duplicate_assistance(con: duckdb.DuckDBPyConnection, records: pl.DataFrame) -> list[pl.DataFrame]:
    """Each 在保 record of a person who is 在保 under two or more 户编号."""
    civil = _source_rows(con, records, "civil_affairs", ["household_no"], "assistance_status = '在保'")
    if civil is None:
        return []
    in_bao = civil.filter(pl.col("audit_pid").is_not_null())
    multi = in_bao.group_by("audit_pid").agg(
        pl.col("household_no").n_unique().alias("k"),
        pl.col("household_no").unique().sort().str.join(", ").alias("households"))
    hit = in_bao.join(multi.filter(pl.col("k") > 1), on="audit_pid").collect(engine=ENGINE)
    return [_out(hit, "duplicate_assistance",
                 pl.format("在保 under {} civil-affairs households ({}); this record is under {}",
                           pl.col("k"), pl.col("households"), pl.col("household_no")))]


def review_overdue(con: duckdb.DuckDBPyConnection, records: pl.DataFrame) -> list[pl.DataFrame]:
    """在保 records whose 核查日期 is more than 12 months before the delivery's as-of date."""
    civil = _source_rows(con, records, "civil_affairs", ["verified_on"], "assistance_status = '在保'")
    if civil is None:
        return []
    overdue = pl.col("verified_on") < pl.col("as_of").dt.offset_by(f"-{REVIEW_MONTHS}mo")
    hit = civil.filter(overdue).collect(engine=ENGINE)
    return [_out(hit, "review_overdue",
                 pl.format("last verified {}, {} days before the delivery of {}", pl.col("verified_on"),
                           (pl.col("as_of") - pl.col("verified_on")).dt.total_days(), pl.col("as_of")))]


def person_birth_dates(records: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """A birth date per person: from their own trusted IDs if they agree, else the stated value most seen.

    "Most seen" as `quality.frames.most_frequent` has it. Most persons' records agree (one
    value each): one pass over the records takes both values and finds the few persons
    whose records disagree, and only those are counted value by value.
    """
    records = records.lazy()
    trusted = pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id")
    by_id, stated = pl.col("id_number_birth_date").filter(trusted), pl.col("birth_date").drop_nulls()
    per = records.group_by("audit_pid").agg(
        by_id.n_unique().alias("_ids"), by_id.first().alias("ref_birth"),
        stated.n_unique().alias("_stated"), stated.first().alias("stated_birth")).collect(engine=ENGINE).lazy()
    several = (pl.col("_ids") > 1) | (pl.col("_stated") > 1)
    disagree = records.join(per.filter(several).select("audit_pid"), on="audit_pid", how="semi")
    counted = (per.filter(several).select("audit_pid")
               .join(most_frequent(disagree.filter(trusted), ["audit_pid"], "id_number_birth_date", "ref_birth"),
                     on="audit_pid", how="left")
               .join(most_frequent(disagree.filter(pl.col("birth_date").is_not_null()), ["audit_pid"], "birth_date",
                                   "stated_birth"), on="audit_pid", how="left"))
    return (pl.concat([per.filter(~several).select("audit_pid", "ref_birth", "stated_birth"), counted])
            .select("audit_pid", pl.when(pl.col("audit_pid").is_not_null())  # a null person joins nothing
                    .then(pl.coalesce("ref_birth", "stated_birth")).alias("birth")).collect(engine=ENGINE))


def _foreign_ids(records: pl.DataFrame) -> pl.DataFrame:
    """Records whose trusted ID also appears under a differently named person whose stated facts fit it,
    or differs from the verified ID their record key embeds (a 学籍号 holding the student's own ID).

    The record that carries someone else's ID is the one whose stated birth date (or,
    without one, sex) contradicts what the ID encodes while another record with that ID
    agrees with it, or while the record's own person holds another ID that fits them:
    typically a child's record holding a guardian's ID.

    Only a record whose ID does not fit it, or whose key embeds another ID, can be such a
    record (a few thousand of two million): the facts about other records (who else holds
    the ID, under which names; which IDs the person's other records hold) are gathered for
    those candidates' IDs and persons only.
    """
    ided = records.lazy().filter(pl.col("id_number_status").is_in(TRUSTED_ID) & pl.col("id_number").is_not_null())
    fits = (pl.when(pl.col("birth_date").is_not_null()).then(pl.col("birth_date") == pl.col("id_number_birth_date"))
            .when(pl.col("sex").is_not_null()).then(pl.col("sex") == pl.col("id_number_sex")))
    ided = ided.with_columns(fits.alias("fits"), pl.col("name_pinyin").fill_null(pl.col("name")).alias("_nm"))
    # A verified ID in the record key whose region and birth date differ from those of the
    # verified ID in the ID column: the column holds someone else's number whatever the
    # stated facts say. (Same head, other tail: the person's own ID, spreadsheet-damaged.)
    keyed_other = (pl.col("key_id_number_status").is_in(TRUSTED_ID)
                   & (pl.col("key_id_number").str.head(14) != pl.col("id_number").str.head(14))).fill_null(False)
    candidates = ided.filter((pl.col("fits") == False).fill_null(False) | keyed_other).collect(engine=ENGINE)  # noqa: E712
    same_id = (ided.join(candidates.lazy().select(pl.col("id_number").unique()), on="id_number", how="semi")
               .select("id_number", "_nm", "fits", "person_id").collect(engine=ENGINE).lazy())
    groups = same_id.group_by("id_number").agg(
        pl.col("_nm").n_unique().alias("names"), pl.col("fits").any().alias("owner_seen"),
        pl.col("person_id").n_unique().alias("persons"))
    # A record whose ID does not fit it, linked to a person whose own records carry another
    # trusted ID that does: the ID is someone else's even if its owner is seen nowhere.
    own_heads = (ided.filter(pl.col("fits") & pl.col("person_id").is_not_null())
                 .join(candidates.lazy().select(pl.col("person_id").drop_nulls().unique()), on="person_id", how="semi")
                 .group_by("person_id").agg(pl.col("id_number").str.head(14).unique().alias("_own_heads")))
    owned_other = ((pl.col("fits") == False)  # noqa: E712
                   & ~pl.col("id_number").str.head(14).is_in(pl.col("_own_heads"))).fill_null(False)
    # ...but a record under the very name of the records the ID fits is the owner's, with a typo.
    owner_names = (same_id.filter(pl.col("fits")).group_by("id_number")
                   .agg(pl.col("_nm").unique().alias("_owner_names")))
    owners_name = pl.col("_nm").is_in(pl.col("_owner_names")).fill_null(False)
    shared = (candidates.lazy().join(groups, on="id_number").join(own_heads, on="person_id", how="left")
              .join(owner_names, on="id_number", how="left")
              .filter(((pl.col("names") > 1) & pl.col("owner_seen") & (pl.col("fits") == False)  # noqa: E712
                       & ~owners_name) | keyed_other | owned_other)
              .drop("_own_heads", "_owner_names"))
    owners = (same_id.filter(pl.col("fits")).group_by("id_number")
              .agg(pl.col("person_id").drop_nulls().unique().sort().str.join(", ").alias("owner")))
    return shared.join(owners, on="id_number", how="left").collect(engine=ENGINE)


def shared_id_number(records: pl.DataFrame, foreign: pl.DataFrame) -> list[pl.DataFrame]:
    return [_out(foreign, "shared_id_number", pl.format(
        "the ID number on this record encodes birth {} / sex {}, this record states birth {} / sex {} under "
        "another name; records that fit the ID belong to {}",
        pl.col("id_number_birth_date"), pl.col("id_number_sex"), pl.col("birth_date"), pl.col("sex"),
        pl.col("owner").fill_null("?")))]


def conflicting(records: pl.DataFrame, births: pl.DataFrame) -> list[pl.DataFrame]:
    """Per person, stated birth dates / sexes that differ; the records that disagree with the person's value.

    The person's value comes from their own trusted ID numbers when present (what a
    civil registry would say), else from the value most of their records state
    (`births` is `person_birth_dates`; sexes are worked out here for the persons whose
    records disagree, the only ones that need one).
    """
    out = []
    # A record holding someone else's ID may sit with the wrong person, unless its key names its own.
    own_key = pl.col("key_id_number_status").is_in(TRUSTED_ID).fill_null(False)
    recs = records.lazy().filter((~pl.col("_foreign_id") | own_key) & pl.col("audit_pid").is_not_null())
    for col, ref, kind in (("birth_date", "birth", "conflicting_birth_date"), ("sex", "sex_ref", "conflicting_sex")):
        stated = recs.filter(pl.col(col).is_not_null()).select("audit_pid", "person_id", "household_id", "source",
                                                                "record_id", col)
        multi = (stated.group_by("audit_pid").agg(pl.col(col).n_unique().alias("k")).filter(pl.col("k") > 1)
                 .collect(engine=ENGINE))
        if col == "birth_date":
            ref_frame = births.lazy()
        else:
            mine = records.lazy().join(multi.lazy().select("audit_pid"), on="audit_pid", how="semi")
            by_id = most_frequent(mine.filter(pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id")),
                                  ["audit_pid"], "id_number_sex", "ref")
            said = most_frequent(mine.filter(pl.col("sex").is_not_null()), ["audit_pid"], "sex", "st")
            ref_frame = (mine.select("audit_pid").unique().join(by_id, on="audit_pid", how="left")
                         .join(said, on="audit_pid", how="left")
                         .select("audit_pid", pl.coalesce("ref", "st").alias("sex_ref")))
        hit = (stated.join(multi.lazy(), on="audit_pid").join(ref_frame, on="audit_pid")
               .filter(pl.col(col) != pl.col(ref)).collect(engine=ENGINE))
        out.append(_out(hit, kind, pl.format("this record states {}; the person's other records and ID say {}",
                                             pl.col(col), pl.col(ref))))
    return out


def school_age_not_enrolled(con: duckdb.DuckDBPyConnection, records: pl.DataFrame, reference: date,
                            births: pl.DataFrame, died: pl.DataFrame) -> list[pl.DataFrame]:
    """Living children aged 6-15 on the reference date, seen by another department, with no education record.

    `births` is `person_birth_dates`, `died` is `deaths`. The children are picked from the
    birth dates first; only their records are then summarised.
    """
    if not db.table_exists(con, current_view("education")):
        return []
    enrolled = records.lazy().filter(pl.col("source") == "education").select("audit_pid").unique()
    ref = pl.lit(reference, dtype=pl.Date)
    age = (ref.dt.year() - pl.col("birth").dt.year()
           - pl.when((ref.dt.month() < pl.col("birth").dt.month())
                     | ((ref.dt.month() == pl.col("birth").dt.month()) & (ref.dt.day() < pl.col("birth").dt.day())))
           .then(1).otherwise(0))
    kids = (births.lazy().with_columns(age.alias("age")).filter(pl.col("age").is_between(*SCHOOL_AGE))
            .join(died.lazy().select("audit_pid"), on="audit_pid", how="anti")
            .join(enrolled, on="audit_pid", how="anti"))
    people = (records.lazy().filter((pl.col("source") != "education") & pl.col("audit_pid").is_not_null())
              .join(kids.select("audit_pid"), on="audit_pid", how="semi"))
    seen = people.group_by("audit_pid").agg(pl.col("person_id").min(),
                                            pl.col("household_id").sort_by("person_id").first(),
                                            pl.col("source").unique().sort().str.join(", ").alias("seen_in"))
    found = (seen.join(kids, on="audit_pid")
             .with_columns(pl.lit("education").alias("source"), pl.lit(None, pl.String).alias("record_id"))
             .collect(engine=ENGINE))
    return [_out(found, "school_age_not_enrolled",
                 pl.format("aged {} on {}, known to {}, no education record", pl.col("age"), ref, pl.col("seen_in")))]


def audit_records(con: duckdb.DuckDBPyConnection,
                  sources: Mapping[str, SourceConfig]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Current records with `_foreign_id` (carries someone else's ID) and `audit_pid`; and the foreign ones."""
    records = current_records(con, sources)
    foreign = _foreign_ids(records)
    key = pl.concat_str("source", "record_id", separator=":")
    records = records.with_columns(key.is_in(foreign.select(key).to_series().implode()).alias("_foreign_id"))
    return audit_persons(records), foreign


#: The audit frame as the findings step built it, read again by the report and the marts: at 1M
#: persons building it takes 12 s, reading it back 2 s. Valid while the linkage inputs are
#: unchanged (`LINKAGE_BASIS`: the last resolution run's inputs fingerprint, stored on every row).
RECORDS_TABLE, BASIS_COLUMN = "audit.records", "linkage_basis"
LINKAGE_BASIS = "SELECT inputs_fingerprint FROM linked.resolution_runs ORDER BY run DESC LIMIT 1"


def _linkage_basis(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute(LINKAGE_BASIS).fetchall()
    except duckdb.CatalogException:  # nothing linked yet
        return None
    return row[0][0] if row else None


def store_audit_records(con: duckdb.DuckDBPyConnection, records: pl.DataFrame) -> None:
    """Keep the audit frame for the steps after findings (see `RECORDS_TABLE`)."""
    # One chunk: a frame of many chunks reaches DuckDB as many small row groups, which the next
    # checkpoint then rewrites (measured at 1M persons: 4.7 s of checkpoint, none after rechunk).
    db.replace(con, RECORDS_TABLE, records.with_columns(pl.lit(_linkage_basis(con), pl.String).alias(BASIS_COLUMN))
               .rechunk())


def stored_audit_records(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig],
                         columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The audit frame the findings step stored, if the linkage has not changed since; else built now.

    `columns`: only these (reading fewer of the twenty columns is faster); default all.
    """
    basis = _linkage_basis(con)
    if basis is not None:
        try:
            stale, rows = con.execute(f"SELECT count(*) FILTER ({BASIS_COLUMN} IS DISTINCT FROM ?), count(*) "
                                      f"FROM {RECORDS_TABLE}", [basis]).fetchall()[0]
        except duckdb.CatalogException:  # the findings step has not run on this warehouse
            stale, rows = 0, 0
        if stale == 0 and rows > 0:
            select = ", ".join(db.quote(c) for c in columns) if columns else f"* EXCLUDE ({BASIS_COLUMN})"
            return db.frame(con, f"SELECT {select} FROM {RECORDS_TABLE}")
    records = audit_records(con, sources)[0]
    return records.select(columns) if columns else records


def compute_findings(con: duckdb.DuckDBPyConnection, sources: Mapping[str, SourceConfig],
                     reference: date, key: str,
                     audit: tuple[pl.DataFrame, pl.DataFrame] | None = None) -> pl.DataFrame:
    """Every finding of every rule over the current snapshot, sorted, with a publishable `record_ref`.

    `key` is the pseudonym key (`privacy.pseudonyms`) that makes record_ref; `audit` is
    `audit_records`' result when the caller already has it.
    """
    records, foreign = audit or audit_records(con, sources)
    births, died = person_birth_dates(records), deaths(con, records)  # each used by two rules
    rules: list[Callable[[], list[pl.DataFrame]]] = [
        lambda: deceased(con, records, died), lambda: duplicate_assistance(con, records),
        lambda: review_overdue(con, records), lambda: shared_id_number(records, foreign),
        lambda: conflicting(records, births), lambda: school_age_not_enrolled(con, records, reference, births, died),
    ]
    parts = [p for rule in rules for p in rule()]
    found = pl.concat(parts) if parts else pl.DataFrame(schema=FINDINGS_SCHEMA)
    return with_record_ref(found.sort("finding_type", "source", "record_id", "person_id", nulls_last=True), key)
