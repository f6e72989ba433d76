"""The Dagster UI is part of the product: `dg dev` over a generated zone, driven through its GraphQL API.

`dg dev` runs from the repo root on a free loopback port, with its instance in a
temporary DAGSTER_HOME (the repo's dagster.yaml, paths made absolute) and the landing
zone and warehouse of a temporary copy of the generated zone, after `hhlink run`'s
in-process pipeline filled both. Through GraphQL: the assets, their partitions and
checks, the sensors and the schedule are listed, and a run is launched and succeeds.
Then a new delivery folder is copied into the landing zone and, without anything
else, it is ingested, linked (incrementally) and published, and the report is
rewritten (bounded wait). Last, `dg dev` stops cleanly on an interrupt.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

from pipelines.runner import run_pipeline
from tests.conftest import AS_OF

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DG = Path(sys.executable).with_name("dg")
START_TIMEOUT, RUN_TIMEOUT, DELIVERY_TIMEOUT, STOP_TIMEOUT = 240, 300, 480, 90
NEW = ("employment", AS_OF.isoformat())  # the delivery that arrives while the UI runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _instance_yaml(home: Path) -> None:
    """The repo's dagster.yaml with every relative `base_dir` under `home` (they resolve against the cwd)."""
    doc = yaml.safe_load((ROOT / "dagster.yaml").read_text(encoding="utf-8"))

    def fix(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "base_dir" and isinstance(v, str) and not Path(v).is_absolute():
                    node[k] = str(home / Path(v).relative_to(".dagster") if v.startswith(".dagster") else home / v)
                else:
                    fix(v)

    fix(doc)
    (home / "dagster.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def _default_signals() -> None:  # a shell may start us with SIGINT ignored; dg dev must hear it
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Ui:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path, paths: dict[str, Path]) -> None:
        self.url, self.proc, self.log, self.paths = f"http://127.0.0.1:{port}", proc, log, paths

    def gql(self, query: str, variables: dict | None = None) -> dict:
        req = urllib.request.Request(f"{self.url}/graphql", json.dumps({"query": query, "variables": variables or {}})
                                     .encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            doc = json.loads(resp.read())
        assert "errors" not in doc, doc["errors"]
        return doc["data"]

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    def location(self) -> tuple[str, str]:
        nodes = self.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
                         )["repositoriesOrError"].get("nodes") or []
        assert nodes, self.tail()
        return nodes[0]["location"]["name"], nodes[0]["name"]

    def runs_in_flight(self) -> int:
        got = self.gql('{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) '
                       '{ ... on Runs { results { runId } } } }')
        return len(got["runsOrError"]["results"])


@pytest.fixture(scope="module")
def ui(generated: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ui")
    landing, held, home = root / "landing", root / "held", root / "home"
    shutil.copytree(generated / "landing", landing)
    shutil.move(str(landing / NEW[0] / NEW[1]), held)
    home.mkdir()
    _instance_yaml(home)
    warehouse = root / "wh" / "w.duckdb"
    # What a deployment has before the UI starts: `hhlink run` filled the warehouse and the instance's partitions.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        run_pipeline(landing, warehouse, AS_OF.isoformat(), instance=instance)
    env = {**os.environ, "DAGSTER_HOME": str(home), "HHLINK_LANDING": str(landing), "HHLINK_WAREHOUSE": str(warehouse),
           "HHLINK_AS_OF": AS_OF.isoformat(), "HHLINK_SENSOR_SECONDS": "3", "HHLINK_QUIET_SECONDS": "2"}
    port, log = _free_port(), root / "dg-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(DG), "dev", "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_default_signals)
    u = Ui(port, proc, log, {"landing": landing, "held": held, "warehouse": warehouse})
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, f"dg dev exited ({proc.returncode}):\n{u.tail()}"
            assert time.monotonic() < deadline, f"dg dev not up within {START_TIMEOUT} s:\n{u.tail()}"
            try:
                if u.gql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")[
                        "repositoriesOrError"].get("nodes"):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(1)
        yield u
    finally:
        if proc.poll() is None:  # the last test stops it; this only cleans up after a failure
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_assets_checks_sensors_and_schedule_are_listed(ui: Ui) -> None:
    location, repo = ui.location()
    nodes = ui.gql("{ assetNodes { assetKey { path } isPartitioned "
                   "assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }")["assetNodes"]
    assets = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for src in ("civil_affairs", "education", "employment", "health", "housing"):
        assert assets[f"raw/{src}"]["isPartitioned"] and assets[f"staged/{src}"]["isPartitioned"]
        assert [c["name"] for c in assets[f"staged/{src}"]["assetChecksOrError"]["checks"]] == ["expectations"]
    for name in ("deliveries", "source_freshness", "person_xref", "household_member", "findings", "report", "publish"):
        assert not assets[name]["isPartitioned"]
    assert assets["person_xref"]["assetChecksOrError"]["checks"][0]["blocking"]
    selector = {"repositoryLocationName": location, "repositoryName": repo}
    sensors = ui.gql("query($s: RepositorySelector!) { sensorsOrError(repositorySelector: $s) "
                     "{ ... on Sensors { results { name sensorState { status } } } } }", {"s": selector})
    states = {s["name"]: s["sensorState"]["status"] for s in sensors["sensorsOrError"]["results"]}
    assert states == {**{f"landing_{s}": "RUNNING" for s in ("civil_affairs", "education", "employment", "health",
                                                               "housing")}, "follow_deliveries": "RUNNING"}
    schedules = ui.gql("query($s: RepositorySelector!) { schedulesOrError(repositorySelector: $s) "
                       "{ ... on Schedules { results { name cronSchedule scheduleState { status } } } } }",
                       {"s": selector})["schedulesOrError"]["results"]
    assert [(s["name"], s["scheduleState"]["status"]) for s in schedules] == [("nightly_refresh", "RUNNING")]


def test_check_results_show_in_the_ui(ui: Ui) -> None:
    """The checks the deployment's first run evaluated show with their outcome, not only their names."""
    nodes = ui.gql("{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name "
                   "executionForLatestMaterialization { status } } } } } }")["assetNodes"]
    status = {("/".join(n["assetKey"]["path"]), c["name"]): (c["executionForLatestMaterialization"] or {}).get("status")
              for n in nodes for c in (n["assetChecksOrError"].get("checks") or [])}
    assert status, "no asset checks in the UI"
    for key in (("person_xref", "expectations"), ("household_member", "expectations"),
                ("staged/health", "expectations")):
        assert status[key] == "SUCCEEDED", (key, status.get(key))
    assert all(v in ("SUCCEEDED", "FAILED") for v in status.values()), status


def test_a_run_launched_through_graphql_succeeds(ui: Ui) -> None:
    location, repo = ui.location()
    launched = ui.gql(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
             ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"p": {"selector": {"repositoryLocationName": location, "repositoryName": repo, "jobName": "__ASSET_JOB",
                            "assetSelection": [{"path": ["source_freshness"]}]}, "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        status = ui.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                        {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", ui.tail()


def _published(wh: Path) -> tuple[object, str | None]:
    """The employment as-of in the published warehouse and how its last linkage ran (None while unreadable)."""
    try:
        with duckdb.connect(str(wh), read_only=True) as con:
            day = con.sql("SELECT max(as_of) FROM person_xref WHERE source = ?", params=[NEW[0]]).fetchall()[0][0]
            mode = con.sql("SELECT mode FROM linked.resolution_runs ORDER BY run DESC LIMIT 1").fetchall()[0][0]
            return day, mode
    except duckdb.Error:
        return None, None


def test_a_new_delivery_is_ingested_linked_and_published_without_manual_steps(ui: Ui) -> None:
    wh, report = ui.paths["warehouse"], ui.paths["warehouse"].parent / "reports" / "site" / "index.html"
    assert _published(wh)[0] < AS_OF  # before: the older employment delivery is current
    copied_at = time.time()
    shutil.copytree(ui.paths["held"], ui.paths["landing"] / NEW[0] / NEW[1])  # as a department's upload would
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        day, mode = _published(wh)
        if day == AS_OF and report.stat().st_mtime > copied_at and ui.runs_in_flight() == 0:
            break
        time.sleep(3)
    day, mode = _published(wh)
    assert day == AS_OF, f"the new delivery was not published within {DELIVERY_TIMEOUT} s:\n{ui.tail()}"
    assert mode == "incremental"
    assert report.stat().st_mtime > copied_at
    with duckdb.connect(str(wh), read_only=True) as con:
        status = con.sql("SELECT status FROM deliveries WHERE source = ? AND as_of = ?",
                         params=list(NEW)).fetchall()
    assert status == [("accepted",)]
    shown = ui.gql("""{ assetOrError(assetKey: {path: ["person_xref"]}) { ... on Asset {
                         assetMaterializations(limit: 1) { metadataEntries { label
                           ... on TextMetadataEntry { text } ... on PathMetadataEntry { path } } } } } }""")
    meta = {e["label"]: e.get("text") or e.get("path") for e in
            shown["assetOrError"]["assetMaterializations"][0]["metadataEntries"]}
    assert meta["mode"] == "incremental" and NEW[0] in meta["why"]  # the UI says how it linked, and why
    assert meta["linkage report"].endswith("linkage.html")


def test_dg_dev_stops_cleanly(ui: Ui) -> None:
    os.kill(ui.proc.pid, signal.SIGINT)
    try:
        ui.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"dg dev did not stop within {STOP_TIMEOUT} s of an interrupt:\n{ui.tail()}")
    deadline = time.monotonic() + 30  # its webserver, daemon and code servers go with it
    while time.monotonic() < deadline:
        try:
            os.killpg(ui.proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(1)
    else:
        pytest.fail(f"dg dev's child processes outlived it:\n{ui.tail()}")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{ui.url}/server_info", timeout=5)
