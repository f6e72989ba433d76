"""Checks, freshness, coverage, findings and the auditors' report."""
