"""Dagster Definitions, jobs, schedules and sensors, and the `hhlink` command line."""
