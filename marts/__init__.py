"""The analysts' marts: persons, households and their profile, early warning, the discovery and thin-file lists.

Built from the linked current snapshot (``person_xref``, ``household_member``, the
staged current views) and the audit tables; plain functions over DuckDB and polars,
wrapped by ``assets.marts``. The rules are policy, read from ``marts/policy.toml``.
"""
