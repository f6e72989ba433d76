"""The last asset: replace the published warehouse file with the working database, whole.

It depends on every other asset (report included), so it runs only when everything
upstream succeeded; a failed or killed run leaves the published file untouched. The
copy-and-swap itself is `ingest.publish.publish`.
"""

from collections.abc import Sequence

import dagster as dg

from assets.resources import HhlinkResource, reporter
from ingest.publish import publish


def publish_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(key="publish", group_name="publish", deps=list(upstream), kinds={"duckdb"},
              description="Copies the working database into `<warehouse>.tmp-<run>` and atomically renames it onto "
                          "the published warehouse file: readers never see a half-built warehouse.")
    def publish_warehouse(context: dg.AssetExecutionContext, hhlink: HhlinkResource) -> dg.MaterializeResult:
        hhlink.database  # noqa: B018  (makes sure a working database exists, even on an empty run)
        done = publish(hhlink.warehouse, context.run_id)
        reporter(context)(f"published {done.path} ({done.bytes / 1e6:,.1f} MB in {done.seconds:.1f} s)")
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(done.path)),
                                              "bytes": done.bytes, "seconds": round(done.seconds, 2),
                                              "method": done.method})

    return publish_warehouse
