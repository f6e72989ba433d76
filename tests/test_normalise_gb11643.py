"""GB 11643 routine cross-checked against python-stdnum, plus the 15 → 18 upgrade."""

from __future__ import annotations

import random
from datetime import date

import polars as pl
import pytest
from stdnum.cn import ric

from ingest.normalise import gb11643


def _bodies(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("0123456789") for _ in range(17)) for _ in range(n)]


def test_check_digit_agrees_with_stdnum_on_10k_random_bodies() -> None:
    bodies = _bodies(10_000, seed=11643)
    got = pl.DataFrame({"b": bodies}).select(gb11643.check_digit(pl.col("b")).alias("c"))["c"].to_list()
    # stdnum's calc_check_digit wants the full 18 characters and ignores the last one.
    want = [ric.calc_check_digit(b + "0") for b in bodies]
    assert got == want
    assert "X" in got and "0" in got  # every check character is exercised


def test_has_valid_check_agrees_with_stdnum_is_valid_on_checksums() -> None:
    rng = random.Random(7)
    ids = []
    for b in _bodies(2_000, seed=3):
        good = b + ric.calc_check_digit(b + "0")
        ids.append(good)
        ids.append(b + rng.choice([c for c in "0123456789X" if c != good[-1]]))
    got = pl.DataFrame({"i": ids}).select(gb11643.has_valid_check(pl.col("i")).alias("ok"))["ok"].to_list()
    assert got == [ric.calc_check_digit(i) == i[-1] for i in ids]
    assert got.count(True) == 2_000


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("130503670401001", "130503196704010016"),  # the textbook example of the upgrade
        ("110105710923582", "110105197109235829"),
        ("440524800101001", "440524198001010013"),
    ],
)
def test_upgrade_15_known_examples(id15: str, id18: str) -> None:
    got = pl.DataFrame({"i": [id15]}).select(gb11643.upgrade_15(pl.col("i")).alias("u"))["u"][0]
    assert got == id18
    assert ric.calc_check_digit(got) == got[-1]  # is_valid also wants a region stdnum knows


def test_check_digit_null_for_non_digits() -> None:
    got = pl.DataFrame({"b": ["1234567890123456", "12345678901234567X", None, "1234567890123456a"]}).select(
        gb11643.check_digit(pl.col("b")).alias("c")
    )["c"].to_list()
    assert got == [None, None, None, None]


def test_birth_date_and_sex_from_id() -> None:
    df = pl.DataFrame({"i": ["130503196704010016", "11010519710923582X", "110105199002300011"]}).select(
        gb11643.birth_date(pl.col("i")).alias("d"), gb11643.sex(pl.col("i")).alias("s")
    )
    assert df["d"].to_list() == [date(1967, 4, 1), date(1971, 9, 23), None]
    assert df["s"].to_list() == ["M", "F", "M"]
