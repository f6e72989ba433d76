"""What the report may show of a finding's record: a keyed reference instead of the record key.

Record keys can embed ID numbers (employment keys are ID numbers; education keys are
``G`` + ID), so the report never shows them. It shows `record_ref`, the record's keyed
pseudonym (`privacy.pseudonyms.record_pseudonym`, the same value the analyst
database gives the record everywhere), which an authorised user can look up in the
warehouse's `findings` table (which keeps both), and person/household ids. Names,
ID numbers and phones are never selected for the report.
"""

from __future__ import annotations

import polars as pl

from privacy.pseudonyms import record_pseudonym

#: Columns a published table may carry; anything else is dropped before writing a page or CSV.
PUBLIC_FINDING_COLUMNS = ("finding_type", "person_id", "household_id", "source", "record_ref", "detail")


def record_ref(source: str | None, record_id: str | None, key: str) -> str | None:
    """The record's keyed pseudonym (None when there is no record)."""
    return record_pseudonym(source, record_id, key)


def with_record_ref(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Add `record_ref` computed from `source` and `record_id` with the pseudonym key."""
    refs = [record_ref(s, r, key) for s, r in zip(frame["source"].to_list(), frame["record_id"].to_list(),
                                                  strict=True)]
    return frame.with_columns(pl.Series("record_ref", refs, dtype=pl.String))


def public_findings(findings: pl.DataFrame) -> pl.DataFrame:
    """The findings as they may be published: masked record (computed with the findings), no record key."""
    if "record_ref" not in findings.columns:
        raise ValueError("findings carry no record_ref: rebuild them with `hhlink run`")
    return findings.select(list(PUBLIC_FINDING_COLUMNS))
