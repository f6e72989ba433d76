"""Counts from the environment: defaults when unset, one clear line when wrong."""

from __future__ import annotations

import pytest

from ingest.settings import positive_int


def test_unset_or_blank_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HHLINK_TEST_ROWS", raising=False)
    assert positive_int("HHLINK_TEST_ROWS", 7) == 7
    monkeypatch.setenv("HHLINK_TEST_ROWS", "  ")
    assert positive_int("HHLINK_TEST_ROWS", 7) == 7
    monkeypatch.setenv("HHLINK_TEST_ROWS", "120")
    assert positive_int("HHLINK_TEST_ROWS", 7) == 120


@pytest.mark.parametrize("bad", ["0", "-5", "lots", "1.5"])
def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("HHLINK_TEST_ROWS", bad)
    with pytest.raises(ValueError, match=f"HHLINK_TEST_ROWS must be a positive whole number, not '{bad}'"):
        positive_int("HHLINK_TEST_ROWS", 7)
