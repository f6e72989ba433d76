"""Dagster assets, by layer: thin wrappers around the cores in ingest/, resolution/, quality/."""
