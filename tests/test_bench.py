"""The benchmark harness: a measured child that dies without reporting is an error, not a hang."""

from __future__ import annotations

import os

import pytest

from pipelines.bench import in_fresh_process


def _dies(queue) -> None:
    os._exit(3)


def _reports(value: str, queue) -> None:
    queue.put({"value": value})


def test_a_child_that_dies_without_a_result_is_reported() -> None:
    with pytest.raises(RuntimeError, match="exit code 3"):
        in_fresh_process(_dies)


def test_a_child_result_comes_back() -> None:
    assert in_fresh_process(_reports, "x") == {"value": "x"}
