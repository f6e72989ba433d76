"""Marts layer: the analysts' tables, built together from the linked current snapshot.

One multi-asset, because the six tables come from one pass (the early-warning flags,
the discovery list and the thin-file list are computed from the same household
profile, under one policy) and are written in one transaction. The work is
`marts.build.build_marts`; the policy is `marts/policy.toml` or the file named by
``HHLINK_POLICY``. Metadata holds counts only, never personal data.
"""

from collections.abc import Mapping

import dagster as dg
import polars as pl

from assets.operability import guarded, user_error
from assets.resources import HhlinkResource, reporter
from ingest.sources import SourceConfig
from marts.build import MART_NAMES, build_marts, write_marts
from marts.catalog import MART_TABLES
from marts.policy import FLAGS, PolicyError, load_policy


def _metadata(tables: Mapping[str, pl.DataFrame], policy_name: str) -> dict[str, dict]:
    meta: dict[str, dict] = {name: {"dagster/row_count": frame.height, "policy": policy_name}
                             for name, frame in tables.items()}
    flags = dict(tables["early_warning"].group_by("flag").len().iter_rows())
    meta["early_warning"].update({f"flag/{f}": int(flags.get(f, 0)) for f in FLAGS})
    listed = tables["proactive_discovery"].explode("rules_met").group_by("rules_met").len()
    meta["proactive_discovery"].update({f"rule/{r}": int(n) for r, n in listed.sort("rules_met").iter_rows()})
    thin = dict(tables["thin_file"].group_by("subject").len().iter_rows())
    meta["thin_file"].update({"households": int(thin.get("household", 0)), "persons": int(thin.get("person", 0))})
    meta["household"]["persons"] = int(tables["person"].height)
    return meta


def mart_assets(sources: Mapping[str, SourceConfig]) -> list[dg.AssetsDefinition]:
    upstream = [dg.AssetKey(["staged", s]) for s in sources] + [
        dg.AssetKey(k) for k in ("person_xref", "household_member", "source_freshness", "findings")]

    @dg.multi_asset(
        group_name="marts",
        specs=[dg.AssetSpec(t.name, kinds={"duckdb", "polars"}, description=t.doc, deps=upstream) for t in MART_TABLES],
    )
    def marts(context: dg.AssetExecutionContext, hhlink: HhlinkResource):
        try:
            policy = load_policy()
        except PolicyError as exc:
            raise user_error(str(exc)) from None
        with guarded(context), hhlink.connect() as con:
            tables = build_marts(con, sources, hhlink.reference_date, policy)
            write_marts(con, tables)
        meta = _metadata(tables, policy.name)
        reporter(context)(f"marts: {tables['household'].height:,} households, "
                          f"{tables['proactive_discovery'].height:,} on the discovery list, "
                          f"{tables['thin_file'].height:,} thin files")
        for name in MART_NAMES:
            yield dg.MaterializeResult(asset_key=name, metadata=meta[name])

    return [marts]
