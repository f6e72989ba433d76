"""The Dagster side without a server: definitions, delivery partitions, landing sensors, the nightly schedule,
retries on a locked working database and the failure message that says what to do.

Real instances, real materialisations, a real lock held by another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.ingestion import TOKEN_KEY
from ingest.checksum import differences, warehouse_checksums
from ingest.publish import ensure_work, work_path
from ingest.sources import load_sources
from pipelines.definitions import all_assets, defs, resource_from_env
from pipelines.runner import _failure_line
from pipelines.sensors import FOLLOW_UPSTREAM, landing_sensor
from tests.conftest import AS_OF, HEALTH_HEADER, HEALTH_ROWS, write_csv, write_manifest

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def health_defs() -> list:
    keys = {dg.AssetKey(["raw", "health"]), dg.AssetKey(["staged", "health"])}
    return [a for a in all_assets() if isinstance(a, dg.AssetsDefinition)
            and not isinstance(a, dg.AssetChecksDefinition) and set(a.keys) <= keys]


def deliver(landing: Path, day: str, manifest: bool = True, rows: list[list[str]] | None = None) -> Path:
    folder = landing / "health" / day
    write_csv(folder / f"参保人员_{day.replace('-', '')}.csv", HEALTH_HEADER, rows or HEALTH_ROWS)
    if manifest:
        write_manifest(folder, "health")
    return folder


def test_definitions_partition_ingestion_and_automate_the_rest() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] in ("raw", "staged"):
            assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
            assert node.partitions_def.name == f"{key.path[1]}_deliveries"
            assert node.automation_condition is None  # the landing sensors ingest deliveries
        else:
            assert node.partitions_def is None
            assert node.automation_condition == FOLLOW_UPSTREAM, key
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {f"landing_{s}" for s in load_sources()} | {"follow_deliveries"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING and schedule.job_name == "refresh_all"
    refresh = {k.to_user_string() for k in defs.resolve_job_def("refresh_all").asset_layer.selected_asset_keys}
    assert {"deliveries", "source_freshness", "person_xref", "findings", "report", "publish"} <= refresh
    assert not any(k.startswith(("raw/", "staged/")) for k in refresh)
    assert defs.executor is dg.in_process_executor


def test_landing_sensor_requests_complete_deliveries_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HHLINK_QUIET_SECONDS", "60")
    landing = tmp_path / "landing"
    deliver(landing, AS_OF.isoformat())                                   # manifest: complete
    quiet = deliver(landing, (AS_OF + timedelta(days=15)).isoformat(), manifest=False)  # just written
    partial = deliver(landing, (AS_OF + timedelta(days=20)).isoformat(), manifest=False)
    (partial / "more.csv.part").write_bytes(b"half")                      # a transfer in progress
    resource = resource_from_env(landing=str(landing), warehouse=str(tmp_path / "w.duckdb"), as_of=AS_OF.isoformat())
    sensor = landing_sensor(load_sources()["health"])
    with dg.DagsterInstance.ephemeral() as instance:
        def tick(cursor: str | None):
            return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"hhlink": resource}))

        first = tick(None)
        assert [r.partition_key for r in first.run_requests] == [AS_OF.isoformat()]
        assert first.dynamic_partitions_requests[0].partition_keys == [AS_OF.isoformat()]
        assert first.run_requests[0].asset_selection == [dg.AssetKey(["raw", "health"]),
                                                         dg.AssetKey(["staged", "health"])]
        assert isinstance(tick(first.cursor), dg.SkipReason)  # nothing new: nothing asked twice

        old = time.time() - 120  # the quiet period passes for the folder without a manifest
        for p in quiet.iterdir():
            os.utime(p, (old, old))
        second = tick(first.cursor)
        assert [r.partition_key for r in second.run_requests] == [quiet.name]

        # What `hhlink run` (or an earlier sensor) already read is not asked for again, even with no cursor.
        instance.add_dynamic_partitions("health_deliveries", [AS_OF.isoformat()])
        done = dg.materialize(health_defs(), partition_key=AS_OF.isoformat(), resources={"hhlink": resource},
                              instance=instance, run_config=QUIET)
        assert done.success
        mats = [e.materialization for e in done.get_asset_materialization_events()]
        assert mats[0].metadata[TOKEN_KEY].value
        assert [r.partition_key for r in tick(None).run_requests] == [quiet.name]

        # A delivery replaced in place is asked for again, under a new run key.
        deliver(landing, AS_OF.isoformat(), rows=HEALTH_ROWS[:2])
        os.utime(landing / "health" / AS_OF.isoformat() / "MANIFEST.json")
        again = tick(second.cursor)
        assert [r.partition_key for r in again.run_requests] == [AS_OF.isoformat()]
        assert again.run_requests[0].run_key != first.run_requests[0].run_key


def test_rematerialising_an_unchanged_partition_changes_nothing(health_delivery: Path, tmp_path: Path) -> None:
    wh = tmp_path / "w.duckdb"
    resource = resource_from_env(landing=str(health_delivery), warehouse=str(wh), as_of=AS_OF.isoformat())
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("health_deliveries", [AS_OF.isoformat()])

        def once() -> dg.ExecuteInProcessResult:
            r = dg.materialize(health_defs(), partition_key=AS_OF.isoformat(), resources={"hhlink": resource},
                               instance=instance, run_config=QUIET)
            assert r.success
            return r

        first = once()
        before = warehouse_checksums(work_path(wh))
        second = once()
        assert differences(before, warehouse_checksums(work_path(wh))) == []
    status = {e.asset_key.to_user_string(): e.materialization.metadata["status"].value
              for e in second.get_asset_materialization_events()}
    assert status == {"raw/health": "unchanged", "staged/health": "unchanged"}
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in first.get_asset_materialization_events()}
    staged = meta["staged/health"]
    assert staged["rows_delivered"].value == 3 and staged["balanced (delivered = staged + quarantined)"].value
    preview = staged["preview (column fill, no values)"].value
    assert "| name |" in preview and "王" not in preview and "1949" not in preview  # counts, never values


def test_nightly_schedule_runs_the_refresh_even_when_nothing_arrived() -> None:
    schedule = defs.resolve_schedule_def("nightly_refresh")
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_schedule_context(instance=instance)
        requests = schedule.evaluate_tick(ctx).run_requests
    assert len(requests) == 1 and schedule.cron_schedule == "0 2 * * *"


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                             "print('locked', flush=True); time.sleep(float(sys.argv[2]))", str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_working_database_is_retried_then_explained(health_delivery: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HHLINK_IO_RETRY_SECONDS", "0.5")
    wh = tmp_path / "w.duckdb"
    resource = resource_from_env(landing=str(health_delivery), warehouse=str(wh), as_of=AS_OF.isoformat())
    work = ensure_work(wh)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("health_deliveries", [AS_OF.isoformat()])

        def run() -> dg.ExecuteInProcessResult:
            return dg.materialize(health_defs(), partition_key=AS_OF.isoformat(), resources={"hhlink": resource},
                                  instance=instance, run_config=QUIET, raise_on_error=False)

        holder = _hold_lock(work, 2.0)  # another process holds the lock for 2 s: retries ride it out
        try:
            result = run()
        finally:
            holder.wait(timeout=30)
        assert result.success
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retries, "the locked database should have been retried"

        monkeypatch.setenv("HHLINK_IO_RETRIES", "1")
        holder = _hold_lock(work, 60.0)  # held for longer than the retries last: the run fails, and says why
        try:
            result = run()
        finally:
            holder.kill()
            holder.wait(timeout=30)
    assert not result.success
    line = _failure_line(result)
    assert "in use by another process" in line and "wait for it to finish" in line, line
    assert "Traceback" not in line and "\n" not in line


def test_a_full_disk_under_duckdb_spill_files_is_one_line_of_advice(tmp_path: Path) -> None:
    """DuckDB's temp files filling the disk reach the operator as what to do, even wrapped in another error."""
    import duckdb

    from assets.operability import advice

    try:
        try:
            raise duckdb.IOException(f'Could not write file "{tmp_path}/duckdb_temp_1.tmp": No space left on device')
        except duckdb.IOException as inner:
            raise RuntimeError("Error executing the following sql for table `__splink__df_predict`") from inner
    except RuntimeError as exc:
        line = advice(exc)
    assert "\n" not in line and "disk filled up" in line and "TMPDIR" in line
    assert "unexpected" in advice(RuntimeError("something else"))
