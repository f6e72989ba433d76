"""Counts read from the environment (batch sizes, thresholds), with one clear error for a bad value."""

from __future__ import annotations

import os


def positive_int(name: str, default: int) -> int:
    """`name` from the environment as a positive whole number; `default` when unset or blank."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{name} must be a positive whole number, not {value!r}: fix or unset it")
    return number
