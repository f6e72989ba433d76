"""Materialising every asset in-process for `hhlink run` and the tests.

STACK-NOTES: in-process `materialize()` is the reliable way to run the whole graph
(the multiprocess executor re-imports per step; `*` selections fail once assets are
partitioned). Dagster's own console logging is turned down; the `hhlink.progress`
logger carries short progress lines instead.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.definitions import all_assets, resource_from_env

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class RunFailed(RuntimeError):
    """The run could not complete; the message says which step and why, in one line."""


@dataclass
class RunResult:
    run_id: str
    warehouse: Path
    reports: Path


def run_pipeline(landing: Path, warehouse: Path, as_of: str | None = None,
                 instance: dg.DagsterInstance | None = None, quiet: bool = True) -> RunResult:
    """Materialise every asset for this landing zone into this warehouse file."""
    resource = resource_from_env(landing=str(landing), warehouse=str(warehouse), as_of=as_of or "")
    with dg.DagsterInstance.ephemeral() if instance is None else nullcontext(instance) as inst:
        result = dg.materialize(all_assets(), resources={"hhlink": resource}, instance=inst,
                                run_config=QUIET if quiet else None, raise_on_error=False,
                                tags={"hhlink/landing": str(landing)})
        if not result.success:
            raise RunFailed(_failure_line(result))
        return RunResult(result.run_id, warehouse, resource.reports_path)


def _failure_line(result: dg.ExecuteInProcessResult) -> str:
    for event in result.get_step_failure_events():
        err = event.step_failure_data.error
        cause = err
        while cause is not None and cause.cause is not None:
            cause = cause.cause
        msg = (cause or err).message.strip().splitlines()[-1] if err else "unknown error"
        return f"step '{event.step_key}' failed: {msg}"
    return "the run failed before any step ran (see the Dagster event log)"
