"""What may leave the restricted warehouse: masked record references instead of record keys.

Record keys can embed ID numbers (employment keys are ID numbers; education keys are
``G`` + ID), so the report never shows them. It shows `record_ref`, a short keyed
digest of source and key that an authorised user can look up in the warehouse's
`findings` table (which keeps both), and person/household ids, which carry no
personal data. Names, ID numbers and phones are never selected for the report.
"""

from __future__ import annotations

import hashlib

import polars as pl

#: Columns a published table may carry; anything else is dropped before writing a page or CSV.
PUBLIC_FINDING_COLUMNS = ("finding_type", "person_id", "household_id", "source", "record_ref", "detail")


def record_ref(source: str | None, record_id: str | None) -> str | None:
    """``R-`` + 12 hex digits of SHA-256 over ``source:record_id`` (None when there is no record)."""
    if record_id is None:
        return None
    return "R-" + hashlib.sha256(f"{source}:{record_id}".encode()).hexdigest()[:12]


def with_record_ref(frame: pl.DataFrame) -> pl.DataFrame:
    """Add `record_ref` computed from `source` and `record_id`."""
    refs = [record_ref(s, r) for s, r in zip(frame["source"].to_list(), frame["record_id"].to_list(), strict=True)]
    return frame.with_columns(pl.Series("record_ref", refs, dtype=pl.String))


def public_findings(findings: pl.DataFrame) -> pl.DataFrame:
    """The findings as they may be published: masked record, no record key."""
    frame = findings if "record_ref" in findings.columns else with_record_ref(findings)
    return frame.select(list(PUBLIC_FINDING_COLUMNS))
