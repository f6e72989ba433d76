"""Expectation suites as Dagster asset checks (GX run inside the check, dagster-ge is unusable).

One check per suite: blocking, failing with severity ERROR when an expectation
marked blocking fails (no rows, repeated or missing keys: downstream would be
meaningless), and with WARN when only other expectations fail, which does not
stop anything. Results go to ``<reports>/expectations/<suite>.json`` and to
``audit.expectation_results``.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import polars as pl

from assets.resources import HhlinkResource
from ingest.sources import SourceConfig
from quality.expectations import Suite, core_suites, run_suites, source_suite, store_results

CORE_ASSETS = {"person_xref": "person_xref", "household_member": "household_member", "deliveries": "deliveries",
               "source_freshness": "source_freshness", "findings": "findings"}


def _check(suite_of, asset_key: dg.AssetKey, name: str, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key, name=name, blocking=True, description=description)
    def _run(hhlink: HhlinkResource) -> dg.AssetCheckResult:
        suite: Suite = suite_of(hhlink)
        with hhlink.connect() as con:
            rows = run_suites(con, [suite], hhlink.reports_path / "expectations")
            store_results(con, rows)
        done = rows.filter(pl.col("success").is_not_null())
        failed = done.filter(~pl.col("success"))
        blocking = failed.filter(pl.col("blocking"))
        lines = [f"- {r['expectation']} {r['column'] or ''}: {r['observed'] or 'failed'}"
                 for r in failed.iter_rows(named=True)]
        skipped = rows.filter(pl.col("success").is_null())
        return dg.AssetCheckResult(
            passed=failed.height == 0,
            severity=dg.AssetCheckSeverity.ERROR if blocking.height else dg.AssetCheckSeverity.WARN,
            description=(f"{blocking.height} blocking expectation(s) failed" if blocking.height else None),
            metadata={"expectations": done.height, "failed": failed.height, "blocking_failed": blocking.height,
                      "note": skipped["observed"][0] if skipped.height else "",
                      "failures": dg.MetadataValue.md("\n".join(lines) or "none")})
    return _run


def expectation_checks(sources: Mapping[str, SourceConfig]) -> list[dg.AssetChecksDefinition]:
    """A check per source's staged table and per core table."""
    checks = []
    for cfg in sources.values():
        checks.append(_check(lambda h, c=cfg: source_suite(c, h.reference_date), dg.AssetKey(["staged", cfg.source]),
                             "expectations", f"GX suite staged_{cfg.source} on staged.current_{cfg.source}."))
    for suite in core_suites():
        checks.append(_check(lambda h, s=suite: s, dg.AssetKey(CORE_ASSETS[suite.name]), "expectations",
                             f"GX suite {suite.name}."))
    return checks
