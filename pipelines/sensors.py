"""Watching the landing zone: one sensor per source, and the automation that carries a delivery downstream.

A source's sensor looks at its folders every `HHLINK_SENSOR_SECONDS` (default 30). A
delivery is picked up once it is complete (`ingest.landing.incomplete`: its manifest is
there, or its files have been quiet for `HHLINK_QUIET_SECONDS`), and once per content:
its files' names, sizes and times (`change_token`) are compared with what the raw
partition recorded when it last read the folder. A new or changed delivery is
registered as a partition of `<source>_deliveries` and its raw and staged partitions
are requested in one run (run key = source, date and token, so a delivery is never
requested twice for the same content).

There is one sensor per source because one sensor cannot target assets with different
partitions definitions (the code location fails to load; STACK-NOTES).

Downstream assets (accounting, linkage, audit, marts, publish) carry an automation
condition: run when any upstream asset or partition has been updated, once nothing
upstream is missing or in progress, and not while a blocking check upstream fails. The
automation-condition sensor that evaluates them is declared here RUNNING; Dagster's
built-in one starts STOPPED.
"""

import json
import os

import dagster as dg

from assets.ingestion import TOKEN_KEY, partitions_name
from assets.resources import HhlinkResource
from ingest.landing import change_token, discover, incomplete, quiet_seconds
from ingest.sources import SourceConfig

INTERVAL_ENV = "HHLINK_SENSOR_SECONDS"

#: What makes a downstream asset run by itself.
FOLLOW_UPSTREAM = (
    dg.AutomationCondition.eager()
    & ~dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.any_checks_match(dg.AutomationCondition.check_failed(), blocking_only=True))
).with_label("eager, unless a blocking check upstream failed")


def interval_seconds() -> int:
    value = os.environ.get(INTERVAL_ENV, "").strip()
    return max(1, int(value)) if value.isdigit() else 30


def _recorded_token(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> str | None:
    """The change token the raw partition stored when it last read this delivery."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    if not records:
        return None
    mat = records[0].asset_materialization
    value = mat.metadata.get(TOKEN_KEY) if mat else None
    return getattr(value, "value", value)


def landing_sensor(config: SourceConfig) -> dg.SensorDefinition:
    """The sensor of one source: register complete new or changed deliveries and ingest them."""
    src = config.source
    raw_key, staged_key = dg.AssetKey(["raw", src]), dg.AssetKey(["staged", src])
    parts = partitions_name(src)

    @dg.sensor(name=f"landing_{src}", target=[raw_key, staged_key], minimum_interval_seconds=interval_seconds(),
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Watches <landing>/{src}/ and ingests each complete new or changed delivery "
                           "(raw and staged partitions); downstream assets follow by automation.")
    def watch(context: dg.SensorEvaluationContext, hhlink: HhlinkResource) -> dg.SensorResult | dg.SkipReason:
        if not hhlink.landing_path.is_dir():
            return dg.SkipReason(f"landing folder '{hhlink.landing_path}' does not exist (HHLINK_LANDING)")
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        known = set(context.instance.get_dynamic_partitions(parts))
        quiet = quiet_seconds()
        requests, new_keys, waiting = [], [], []
        for d in discover(hhlink.landing_path, [src]):
            if d.source != src or d.as_of is None:
                continue  # undated or unclaimed folders: the deliveries table reports them
            key = d.folder.name
            if why := incomplete(d, quiet):
                waiting.append(f"{key}: {why}")
                continue
            token = change_token(d)
            if seen.get(key) == token:
                continue
            if key in known and _recorded_token(context.instance, raw_key, key) == token:
                seen[key] = token  # already read (by an earlier sensor tick or by `hhlink run`)
                continue
            if key not in known:
                new_keys.append(key)
            requests.append(dg.RunRequest(run_key=f"{src}:{key}:{token}", partition_key=key,
                                          asset_selection=[raw_key, staged_key],
                                          tags={"hhlink/delivery": f"{src}/{key}"}))
            seen[key] = token
        if not requests:
            return dg.SkipReason("; ".join(waiting) if waiting else "no new or changed complete delivery")
        context.log.info(f"{src}: requesting {', '.join(r.partition_key or '' for r in requests)}")
        return dg.SensorResult(
            run_requests=requests, cursor=json.dumps(seen, sort_keys=True),
            dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(parts, new_keys)] if new_keys else [])

    return watch


def landing_sensors(sources: dict[str, SourceConfig]) -> list[dg.SensorDefinition]:
    return [landing_sensor(cfg) for cfg in sources.values()]


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "follow_deliveries", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds(),
        description="Runs the assets downstream of a newly ingested delivery (linkage, audit, report, publish).")


def automate(defs: list) -> list:
    """The same definitions, every unpartitioned asset following its upstream by `FOLLOW_UPSTREAM`."""
    out = []
    for d in defs:
        if isinstance(d, dg.AssetsDefinition) and d.partitions_def is None and not isinstance(
                d, dg.AssetChecksDefinition):
            d = d.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=FOLLOW_UPSTREAM))
        out.append(d)
    return out
