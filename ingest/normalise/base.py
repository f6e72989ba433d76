"""The result type every normaliser returns (re-exported by ``ingest.normalise``)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Normalised:
    """Output expressions of one config column.

    Kept as expressions, not values, so that the staging step can put every column of
    a delivery into a single ``select`` and let polars share the work between them.
    """

    columns: list[pl.Expr]  # aliased; the first one is named after the field
    issue: pl.Expr  # pl.String: a short English reason for this row, or null

    @property
    def names(self) -> list[str]:
        return [c.meta.output_name() for c in self.columns]
