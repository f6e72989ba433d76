"""Raw text rows of one delivery → typed, normalised staged rows plus quarantine.

Every delivered row ends in exactly one of the two outputs, so a delivery's
accounting (delivered = staged + quarantined) holds by construction and is checked
before anything is written.

A large delivery is staged in row batches (`ingest.deliveries.stage_source`), so that
memory holds one batch and not the whole delivery. The one decision that needs the
whole delivery, whether a row's key was already seen earlier in it, is then made by
the caller over all rows first and passed in as `repeated`; `normalise_key` is the
key normaliser it must use so that its keys are exactly the staged `record_id`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from ingest.landing import FILE_COL, ROW_COL
from ingest.normalise import normalise
from ingest.normalise.ids import VERIFIED
from ingest.sources import PERSON_FIELDS, Column, SourceConfig

#: Derived columns each person-field type adds after the field itself, with their types:
#: every staged table carries all of them so that sources line up column for column.
PERSON_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "name": {"name": pl.String(), "name_pinyin": pl.String(), "name_kind": pl.String()},
    "id_number": {"id_number": pl.String(), "id_number_status": pl.String(),
                  "id_number_birth_date": pl.Date(), "id_number_sex": pl.String()},
    "sex": {"sex": pl.String()},
    "birth_date": {"birth_date": pl.Date()},
    "phone": {"phone": pl.String(), "phone_kind": pl.String()},
    "address": {"address": pl.String(), "address_township": pl.String(),
                "address_village": pl.String(), "address_group": pl.String()},
    "admin_code": {"admin_code": pl.String(), "admin_code_county": pl.String(),
                   "admin_code_township": pl.String(), "admin_code_village": pl.String()},
}
assert tuple(PERSON_COLUMNS) == PERSON_FIELDS

#: Quarantine reasons for keys; tests and users match on this text, so it does not change.
BLANK_KEY = "blank record key"
REPEATED_KEY = "repeated record key '{}' (first seen earlier in the delivery)"

QUARANTINE_SCHEMA = {"source": pl.String(), "as_of": pl.Date(), "file": pl.String(), "row_number": pl.Int64(),
                     "record_id": pl.String(), "reason": pl.String()}


@dataclass
class Staged:
    staged: pl.DataFrame
    quarantine: pl.DataFrame

    @property
    def rows(self) -> int:
        return self.staged.height + self.quarantine.height


def raw_header(columns: list[str], col: Column) -> str | None:
    """The raw column a config column is read from: its first header the raw rows have."""
    return next((h for h in col.headers if h in columns), None)


def _raw_column(raw: pl.DataFrame, col: Column) -> pl.Expr:
    header = raw_header(raw.columns, col)
    return pl.col(header) if header else pl.lit(None, dtype=pl.String)


def normalise_key(values: pl.Series, config: SourceConfig) -> pl.Series:
    """`record_id` of raw key values, by the very normaliser `stage` uses.

    For callers that find repeated keys outside `stage` (over a whole delivery, in
    SQL): their keys must be the staged ones exactly (e.g. polars strips Unicode
    whitespace such as U+3000, which SQL `trim` may not), or a row could be staged
    twice under one key.
    """
    key = config.key
    expr = normalise(key.type, pl.col("raw"), key.field, values=key.values).columns[0]
    return pl.DataFrame({"raw": values.cast(pl.String)}).lazy().select(expr).collect().to_series()


def _disagrees(given: str, from_id: str, n: int) -> pl.Expr:
    """A stated value that contradicts the one encoded in the ID: one of them is wrong (or the ID is not theirs)."""
    return (pl.when(pl.col(given).is_not_null() & pl.col(from_id).is_not_null() & (pl.col(given) != pl.col(from_id)))
            .then(pl.lit(f"{given}: differs from the ID number's")).alias(f"_issue_{n}"))


_REPEATED = "_hh_repeated"

#: The ID number a record key embeds (`SourceConfig.key_id_pattern`), staged as
#: `key_id_number` with the same status/birth date/sex columns as any ID field.
KEY_ID = "key_id_number"


def _other_id(n: int) -> pl.Expr:
    """The ID column holds a verified ID other than the verified one in the key: someone else's (a guardian's)."""
    both = (pl.col("id_number_status").is_in(VERIFIED) & pl.col(f"{KEY_ID}_status").is_in(VERIFIED)
            & (pl.col("id_number") != pl.col(KEY_ID)))
    return pl.when(both).then(pl.lit("id_number: differs from the ID number in the record key")).alias(f"_issue_{n}")


def stage(raw: pl.DataFrame, config: SourceConfig, as_of: date, *, repeated: pl.Series | None = None) -> Staged:
    """Normalise one delivery's raw frame (text columns named by header, plus `_file`/`_row`).

    A blank key quarantines its row. A repeated key keeps its first row by (`_file`,
    `_row`) and quarantines the others: found within `raw` when `raw` is the whole
    delivery; when it is one batch of a larger one, `repeated` (Boolean, one value per
    row of `raw`) says which rows' keys were seen earlier in the whole delivery.
    """
    if repeated is not None:
        if repeated.len() != raw.height:
            raise ValueError(f"repeated has {repeated.len()} values for {raw.height} rows")
        raw = raw.with_columns(repeated.cast(pl.Boolean).alias(_REPEATED))
    carried = [pl.col(_REPEATED)] if repeated is not None else []
    exprs: list[pl.Expr] = []
    issues: list[pl.Expr] = []  # computed in the select, from the normalisers
    cross: list[pl.Expr] = []  # computed after it, from output columns
    for col in config.columns:
        out = normalise(col.type, _raw_column(raw, col), col.field, values=col.values, as_of=as_of)
        exprs.extend(out.columns)
        issues.append(pl.concat_str(pl.lit(f"{col.field}: "), out.issue).alias(f"_issue_{len(issues) + len(cross)}"))
        if col.required and col.type != "key":
            # Read from the output column: one more reference to the normaliser's expression
            # would run it again (its memo serves as many reads as it has outputs,
            # `ingest.normalise.base`), and names, the costliest, are required.
            cross.append(pl.when(pl.col(col.field).is_null()).then(pl.lit(f"{col.field}: required value is blank"))
                         .alias(f"_issue_{len(issues) + len(cross)}"))
    fields = {c.field for c in config.columns}
    if config.key_id_pattern:
        key_id = _raw_column(raw, config.key).str.strip_chars().str.extract(config.key_id_pattern, 1)
        exprs.extend(normalise("id_number", key_id, KEY_ID).columns)
        if "id_number" in fields:
            cross.append(_other_id(len(issues) + len(cross)))
    if {"id_number", "birth_date"} <= fields:
        cross.append(_disagrees("birth_date", "id_number_birth_date", len(issues) + len(cross)))
    if {"id_number", "sex"} <= fields:
        cross.append(_disagrees("sex", "id_number_sex", len(issues) + len(cross)))
    # Numbered in the order they were made, which is the order of the row's issue list.
    issue_cols = [f"_issue_{n}" for n in range(len(issues) + len(cross))]
    selected = raw.lazy().select(pl.col(FILE_COL), pl.col(ROW_COL), *carried, *exprs, *issues).with_columns(
        *cross).collect().lazy()
    # Most rows have no issue: they get an empty list, and only the others go through
    # concat_list/drop_nulls, which costs as much as a fifth of staging when run on every row.
    has_issue = pl.any_horizontal(pl.col(issue_cols).is_not_null())
    frame = pl.concat([
        selected.filter(~has_issue).with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("issues")),
        selected.filter(has_issue).with_columns(pl.concat_list(issue_cols).list.drop_nulls().alias("issues")),
    ]).drop(issue_cols)
    present = {name for c in config.columns if c.field in PERSON_FIELDS for name in PERSON_COLUMNS[c.field]}
    missing = [pl.lit(None, dtype=dt).alias(name) for f in PERSON_FIELDS for name, dt in PERSON_COLUMNS[f].items()
               if name not in present]
    frame = frame.with_columns(missing) if missing else frame
    person_cols = [name for f in PERSON_FIELDS for name in PERSON_COLUMNS[f]]
    own = [c for c in frame.collect_schema().names()
           if c not in (*person_cols, "record_id", "issues", FILE_COL, ROW_COL, _REPEATED)]

    # A repeated key keeps its first row (by file and row) and quarantines the rest.
    later = pl.col(_REPEATED) if repeated is not None else ~pl.col("record_id").is_first_distinct()
    frame = frame.sort(FILE_COL, ROW_COL).with_columns(
        pl.when(pl.col("record_id").is_null()).then(pl.lit(BLANK_KEY))
        .when(later)
        .then(pl.format(REPEATED_KEY, pl.col("record_id")))
        .alias("_reason")
    ).collect()
    src, day = pl.lit(config.source), pl.lit(as_of, dtype=pl.Date)
    staged = frame.filter(pl.col("_reason").is_null()).select(
        src.alias("source"), day.alias("as_of"), "record_id", *person_cols, *own, "issues",
        pl.col(FILE_COL).alias("file"), pl.col(ROW_COL).alias("row_number"),
    )
    quarantine = frame.filter(pl.col("_reason").is_not_null()).select(
        src.alias("source"), day.alias("as_of"), pl.col(FILE_COL).alias("file"),
        pl.col(ROW_COL).alias("row_number"), "record_id", pl.col("_reason").alias("reason"),
    ).cast(QUARANTINE_SCHEMA)
    result = Staged(staged, quarantine)
    if result.rows != raw.height:  # cannot happen by construction; never publish if it does
        raise AssertionError(f"{config.source} {as_of}: {raw.height} rows read, {result.rows} accounted for")
    return result
