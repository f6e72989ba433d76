"""The last asset: document the working database, build the analyst database, publish both whole.

It depends on every other asset (report included), so it runs only when everything
upstream succeeded; a failed or killed run leaves the published files untouched. In
order: `COMMENT ON` every documented table (`catalog.registry`; tables rebuilt this run
lost their comments), the analyst database built aside from the working database
(`privacy.analyst`), then one copy-and-swap that renames the warehouse and the analyst
database together (`ingest.publish.publish`), and the data-dictionary page of the
report, read from the published files' comments.
"""

from collections.abc import Sequence

import dagster as dg

from assets.resources import HhlinkResource, progress_log, reporter
from catalog.registry import apply_comments, documented_tables, undocumented
from ingest import db
from ingest.publish import publish
from ingest.sources import load_sources
from privacy import analyst
from privacy.pseudonyms import KEY_ENV, is_demo
from quality.report import write_data_dictionary


def publish_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key="publish", group_name="publish", deps=list(upstream), kinds={"duckdb"},
              description="Comments every table, builds the analyst database (no personal data: pseudonymised "
                          "record keys) and atomically replaces the published warehouse and analyst database: "
                          "readers never see a half-built file.")
    def publish_warehouse(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        say = reporter(context)
        work = hhlink.database
        with db.connect(work) as con:
            con.execute("BEGIN TRANSACTION")
            tables = documented_tables(load_sources(), con)
            comments = apply_comments(con, tables)
            con.execute("COMMIT")
            missing = undocumented(con)
        if missing:
            context.log.warning(f"{len(missing)} tables or columns have no documentation (catalog/): "
                                + ", ".join(missing[:20]))
        key = hhlink.pseudonym_key
        if is_demo(key):
            warning = f"pseudonyms use the public demo key: set {KEY_ENV} to a secret for real data"
            context.log.warning(warning)
            progress_log.warning("warning: " + warning)
        built = analyst.prepare(work, hhlink.analyst_path, context.run_id, tables, key)
        done = publish(hhlink.warehouse, context.run_id, companions=[(built.tmp, built.path)])
        page = write_data_dictionary(hhlink.reports_path / "site", built.path, done.path)
        say(f"published {done.path} ({done.bytes / 1e6:,.1f} MB in {done.seconds:.1f} s) and the analyst database "
            f"{built.path} ({built.tables} tables, {built.pseudonymised} columns pseudonymised, {built.dropped} "
            f"dropped; built in {built.seconds:.1f} s)")
        if built.withheld:
            context.log.warning(f"{len(built.withheld)} undocumented columns left out of the analyst database: "
                                + ", ".join(built.withheld[:20]))
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(str(done.path)), "bytes": done.bytes, "seconds": round(done.seconds, 2),
            "method": done.method, "comments": comments, "undocumented": len(missing),
            "analyst_path": dg.MetadataValue.path(str(built.path)), "analyst_tables": built.tables,
            "analyst_rows": built.rows, "columns_pseudonymised": built.pseudonymised,
            "columns_dropped": built.dropped, "columns_withheld": len(built.withheld),
            "analyst_seconds": round(built.seconds, 2),
            "pseudonym_key_id": built.key_id, "demo_key": built.demo_key,
            "data_dictionary": dg.MetadataValue.path(str(page)),
        })

    return publish_warehouse
