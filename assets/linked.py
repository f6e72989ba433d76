"""Linked layer: persons and households over the current snapshot of every source.

One multi-asset, because one resolution run writes all of these tables together (the
ids in `person_xref`, `household_member` and `person_link` must come from the same
clustering). The work is `resolution.run.resolve`; this is only the Dagster wrapper.
Reviewer decisions are read from ``HHLINK_DECISIONS`` or ``decisions.csv`` beside the
warehouse. A new delivery of one source is linked incrementally when it can be
(`resolution.incremental`); ``HHLINK_FULL_RELINK=1`` re-links everything.
"""

import os
from pathlib import Path

import dagster as dg

from assets.operability import guarded
from assets.resources import HhlinkResource, reporter
from ingest.sources import SourceConfig
from resolution.link import LinkConfig
from resolution.run import default_decisions_path, resolve

LINKED_TABLES = {
    "person_xref": "One row per record of each source's newest accepted delivery, with its person.",
    "household_member": "One row per person: the household they belong to and the rule that placed them.",
    "person_link": "Scored record pairs (match weight, level of each comparison) and whether they were linked.",
    "review_queue": "Pairs for clerical review: weights between the review and link thresholds, and guarded pairs.",
    "id_events": "Merges, splits, new and retired person/household ids, per run.",
    "linkage_quality": "Link rate per source, cluster sizes, links without an ID match, weight histogram.",
    "model_parameters": "The m/u probabilities and match weight of every comparison level used this run.",
}


def link_config(warehouse: str) -> LinkConfig:
    decisions = os.environ.get("HHLINK_DECISIONS")
    cfg = LinkConfig(decisions=Path(decisions) if decisions else default_decisions_path(warehouse))
    if os.environ.get("HHLINK_TRAIN") == "1":
        cfg.train = True
    return cfg


def linked_assets(sources: dict[str, SourceConfig]) -> list[dg.AssetsDefinition]:
    staged_keys = [dg.AssetKey(["staged", s]) for s in sources]

    @dg.multi_asset(
        group_name="linked",
        specs=[dg.AssetSpec(name, kinds={"duckdb"}, description=desc, deps=staged_keys)
               for name, desc in LINKED_TABLES.items()],
    )
    def persons(context: dg.AssetExecutionContext, hhlink: HhlinkResource):
        with guarded(context), hhlink.connect() as con:
            summary = resolve(con, link_config(hhlink.warehouse), sources, progress=reporter(context))
        reporter(context)(summary.line())
        report = hhlink.reports_path / "site" / "linkage.html"
        meta = {
            "person_xref": {"dagster/row_count": summary.records, "persons": summary.persons,
                            "mode": summary.mode, "why": summary.why,
                            "seconds": round(sum(summary.timings.values()), 1),
                            "linkage report": dg.MetadataValue.path(str(report))},
            "household_member": {"dagster/row_count": summary.persons, "households": summary.households},
            "person_link": {"pairs_scored": summary.pairs_scored, "links": summary.links},
            "review_queue": {"dagster/row_count": summary.review},
            "id_events": {f"events {k}": v for k, v in summary.events.items()},
            "linkage_quality": {f"seconds {k}": round(v, 2) for k, v in summary.timings.items()},
            "model_parameters": {},
        }
        for name in LINKED_TABLES:
            yield dg.MaterializeResult(asset_key=name, metadata=meta[name])

    return [persons]
