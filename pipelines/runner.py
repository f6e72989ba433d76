"""Materialising every asset in-process for `hhlink run` and the tests.

STACK-NOTES: in-process `materialize()` is the reliable way to run the whole graph
(the multiprocess executor re-imports per step; `*` selections fail once assets are
partitioned, and a dynamic partition must be registered before a run targets it).
So a run is several in-process runs on one instance: every delivery folder found in
the landing zone is registered as a partition of its source, each partition's raw and
staged assets are materialised (one run per delivery, oldest first; unchanged
deliveries are skipped inside), then everything downstream in one run. If a delivery's
run fails, nothing downstream runs, as a blocking check would have it.

Dagster's own console logging is turned down; the `hhlink.progress` logger carries
short progress lines instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.ingestion import partitions_name
from ingest.landing import discover
from pipelines.definitions import all_assets, resource_from_env

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class RunFailed(RuntimeError):
    """The run could not complete; the message says which step and why, in one line."""


@dataclass
class RunResult:
    run_id: str
    warehouse: Path
    reports: Path


@dataclass
class PipelineResult:
    """The in-process runs of one pipeline run: each delivery's, then the downstream one (if reached)."""
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return bool(self.runs) and all(r.success for r in self.runs)

    @property
    def run_id(self) -> str:
        return self.runs[-1].run_id

    def get_asset_materialization_events(self) -> list:
        return [e for r in self.runs for e in r.get_asset_materialization_events()]

    def get_asset_check_evaluations(self) -> list:
        return [e for r in self.runs for e in r.get_asset_check_evaluations()]

    def get_step_failure_events(self) -> list:
        return [e for r in self.runs for e in r.get_step_failure_events()]


def _split(assets: Sequence) -> tuple[dict[str, list], list[dg.AssetKey]]:
    """Definitions per dynamic partitions name (with the checks on them), and the unpartitioned asset keys."""
    by_parts: dict[str, list] = {}
    owner: dict[dg.AssetKey, str] = {}
    rest: list[dg.AssetKey] = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and not isinstance(a, dg.AssetChecksDefinition):
            pd = a.partitions_def
            if isinstance(pd, dg.DynamicPartitionsDefinition) and pd.name:
                by_parts.setdefault(pd.name, []).append(a)
                owner.update(dict.fromkeys(a.keys, pd.name))
            elif pd is None:
                rest.extend(a.keys)
    for a in assets:  # checks go with the partitions of the asset they check
        if isinstance(a, dg.AssetChecksDefinition):
            targets = {k.asset_key for k in a.check_keys}
            names = {owner[t] for t in targets if t in owner}
            if len(names) == 1:
                by_parts[names.pop()].append(a)
    return by_parts, rest


def _partition_keys(landing: Path, partitions: str, sources: Sequence[str]) -> list[str]:
    """The delivery folders of the source behind a `<source>_deliveries` partitions definition, oldest first."""
    source = next((s for s in sources if partitions_name(s) == partitions), None)
    if source is None:
        return []
    return [d.folder.name for d in discover(landing, [source]) if d.source == source and d.as_of is not None]


def materialize_pipeline(assets: Sequence, resource, instance: dg.DagsterInstance,
                         run_config: Mapping | None = None, tags: Mapping[str, str] | None = None,
                         sources: Sequence[str] | None = None) -> PipelineResult:
    """Register the landing zone's deliveries as partitions, materialise each, then everything downstream."""
    from ingest.sources import load_sources

    sources = list(sources) if sources is not None else list(load_sources())
    landing = Path(resource.landing)
    by_parts, rest = _split(assets)
    out = PipelineResult()
    for name, defs in sorted(by_parts.items()):
        keys = _partition_keys(landing, name, sources)
        known = set(instance.get_dynamic_partitions(name))
        if new := [k for k in keys if k not in known]:
            instance.add_dynamic_partitions(name, new)
        for key in keys:
            out.runs.append(dg.materialize(defs, partition_key=key, resources={"hhlink": resource}, instance=instance,
                                           run_config=run_config, raise_on_error=False,
                                           tags={**(tags or {}), "hhlink/delivery": f"{name}/{key}"}))
    if out.runs and not out.success:
        return out  # a delivery failed (or its blocking check): nothing downstream runs on it
    if rest:
        out.runs.append(dg.materialize(assets, selection=dg.AssetSelection.assets(*rest),
                                       resources={"hhlink": resource}, instance=instance, run_config=run_config,
                                       raise_on_error=False, tags=dict(tags or {})))
    return out


def run_pipeline(landing: Path, warehouse: Path, as_of: str | None = None,
                 instance: dg.DagsterInstance | None = None, quiet: bool = True) -> RunResult:
    """Materialise every asset for this landing zone into this warehouse file."""
    resource = resource_from_env(landing=str(landing), warehouse=str(warehouse), as_of=as_of or "")
    with dg.DagsterInstance.ephemeral() if instance is None else nullcontext(instance) as inst:
        result = materialize_pipeline(all_assets(), resource, inst, run_config=QUIET if quiet else None,
                                      tags={"hhlink/landing": str(landing)})
        if not result.success:
            raise RunFailed(_failure_line(result))
        return RunResult(result.run_id, warehouse, resource.reports_path)


def _failure_line(result: PipelineResult | dg.ExecuteInProcessResult) -> str:
    """The first failed step and its reason: a `Failure`'s description (it says what to do), else the root cause."""
    for event in result.get_step_failure_events():
        err = event.step_failure_data.error
        chain = []
        while err is not None:
            chain.append(err)
            err = err.cause
        told = next((e for e in chain if e.cls_name == "Failure"), None)
        root = told or (chain[-1] if chain else None)
        msg = root.message.strip() if root else "unknown error"
        if told is None:
            msg = msg.splitlines()[-1] if msg else "unknown error"
        elif msg.startswith("dagster._core.definitions.events.Failure: "):
            msg = msg.split(": ", 1)[1]
        return f"step '{event.step_key}' failed: {msg.splitlines()[0] if msg else 'unknown error'}"
    checks = [e for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    if checks:
        c = checks[0]
        return (f"blocking check '{c.check_name}' on {c.asset_key.to_user_string()} failed "
                f"({c.description or 'see the report'}): nothing downstream ran; fix the delivery and run again")
    return "the run failed before any step ran (see the Dagster event log)"
