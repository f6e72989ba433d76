"""Normalisers: one per value type of the source configs, as polars expressions."""
