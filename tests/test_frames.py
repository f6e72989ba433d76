"""The shared per-group summaries of the audit and mart steps give what counting every value gives.

`most_frequent` and `person_birth_dates` take the value of groups that agree directly and
count only the groups that disagree; these tests hold them to the plain definition (count
every value of every group, most rows first, ties to the smallest, a null first) on random
frames full of ties, nulls and one-row groups.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest

from quality.findings import person_birth_dates
from quality.frames import most_frequent, most_frequent_known
from quality.records import TRUSTED_ID


def _by_counting(frame: pl.DataFrame, by: list[str], value: str, alias: str) -> pl.DataFrame:
    """The definition: count every (group, value), most rows first, ties to the smallest value (a null first)."""
    return (frame.group_by(*by, value).len().sort("len", value, descending=[True, False])
            .group_by(by, maintain_order=True).first().select(*by, pl.col(value).alias(alias)))


def _random_frame(seed: int, rows: int = 3000) -> pl.DataFrame:
    rnd = random.Random(seed)
    groups = [f"P{i:04d}" for i in range(rows // 3)] + [None]
    values = ["a", "b", "c", "d", None]
    return pl.DataFrame({
        "g": [rnd.choice(groups) for _ in range(rows)],
        "h": [rnd.choice(["x", "y", None]) for _ in range(rows)],
        "v": [rnd.choice(values) for _ in range(rows)],
        "w": [rnd.choice([*values[:2], None]) for _ in range(rows)],
    })


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_most_frequent_is_the_counted_mode(seed: int) -> None:
    frame = _random_frame(seed)
    for by in (["g"], ["g", "h"]):
        got = most_frequent(frame.lazy(), by, "v", "mode").collect()
        assert _sorted(got).equals(_sorted(_by_counting(frame, by, "v", "mode")))


@pytest.mark.parametrize("seed", [4, 5])
def test_most_frequent_known_ignores_nulls_and_takes_several_columns(seed: int) -> None:
    frame = _random_frame(seed)
    got = most_frequent_known(frame.lazy(), "g", {"v": "mv", "w": "mw"}).collect()
    groups = frame.filter(pl.col("g").is_not_null()).select("g").unique()
    want = groups
    for value, alias in (("v", "mv"), ("w", "mw")):
        known = frame.filter(pl.col("g").is_not_null() & pl.col(value).is_not_null())
        want = want.join(_by_counting(known, ["g"], value, alias), on="g", how="left")
    assert _sorted(got).equals(_sorted(want.select("g", "mv", "mw")))


def test_ties_go_to_the_smallest_value_and_a_null_comes_first() -> None:
    frame = pl.DataFrame({"g": ["p", "p", "q", "q", "q", "q"], "v": ["b", "a", None, "a", "a", None]})
    got = dict(most_frequent(frame.lazy(), ["g"], "v", "m").collect().iter_rows())
    assert got == {"p": "a", "q": None}
    known = dict(most_frequent_known(frame.lazy(), "g", {"v": "m"}).collect().iter_rows())
    assert known == {"p": "a", "q": "a"}


@pytest.mark.parametrize("seed", [6, 7])
def test_person_birth_dates_follow_the_definition(seed: int) -> None:
    rnd = random.Random(seed)
    days = [date(1950, 1, 1) + timedelta(days=rnd.randrange(3)) for _ in range(4)] + [None]
    n = 4000
    records = pl.DataFrame({
        "audit_pid": [rnd.choice([f"P{i:04d}" for i in range(n // 3)] + [None]) for _ in range(n)],
        "id_number_status": [rnd.choice([*TRUSTED_ID, "bad_check", None]) for _ in range(n)],
        "_foreign_id": [rnd.random() < 0.1 for _ in range(n)],
        "id_number_birth_date": [rnd.choice(days) for _ in range(n)],
        "birth_date": [rnd.choice(days) for _ in range(n)],
    })
    trusted = pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id")
    by_id = _by_counting(records.filter(trusted), ["audit_pid"], "id_number_birth_date", "ref")
    stated = _by_counting(records.filter(pl.col("birth_date").is_not_null()), ["audit_pid"], "birth_date", "st")
    want = (records.select("audit_pid").unique().join(by_id, on="audit_pid", how="left")
            .join(stated, on="audit_pid", how="left").select("audit_pid", pl.coalesce("ref", "st").alias("birth")))
    assert _sorted(person_birth_dates(records)).equals(_sorted(want))
