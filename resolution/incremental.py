"""Incremental linkage: a new delivery's new and changed records linked against the known persons.

A full re-link scores every candidate pair of every current record. When one source
delivers a new snapshot, most of its records are the same as last time and every other
source is unchanged: only pairs that touch a new or changed record can be new. So an
incremental run

1. finds the new, changed and gone records. What linkage reads of each current record's
   staged row (person fields, household evidence) is hashed and compared with the hash the last
   run stored in ``linked.input`` (the last run's linkage input, with each record's
   person and component). Only records whose hash differs are prepared again
   (`prepare.prepare`, on a DuckDB holding just them), unless the delivering source
   carries admin codes, whose code → place-name table all coded sources share: then
   every record of those sources is prepared again and compared;
2. scores the new and changed records against every current record with Splink's
   ``predict_between`` (term frequencies of the whole current input, registered with
   ``compute_tf_table``; the versioned parameters and the prior of the last full run);
3. re-clusters only the affected region: the old components (before conflict
   splitting) of the changed and gone records and of every record that a new pair or a
   reviewer's forced match reaches, plus the changed records. Inside it, the full run's
   own decisions, guards, components and conflict splitting (`link.decide_and_cluster`)
   over the new pairs and the region's stored pairs; outside it nothing can have changed.
   Person ids come from `ids.assign` over the region: everyone else keeps theirs;
4. rebuilds households only for the people whose household can change: the closure,
   over household evidence (phones at most `MAX_PHONE_SHARERS` people share, dwelling
   addresses, civil-affairs household numbers, guardian links) and last run's
   households, of the people of the region and the sharers of every phone and address
   a changed or gone record had or has. `build_households` on that closure gives what a
   full run gives for those people;
5. replaces the region's rows of the linked tables, updates the delivering source's
   as-of date, appends id events and stores the new state.

Everything that reads all records (hashes, term frequencies, blocking, the closure) runs
as DuckDB scans inside the working database's own DuckDB, through a cursor with an
in-memory catalog attached for the intermediate tables: nothing of size N is copied
into Python or into another database (loading the whole state into a separate DuckDB
cost more than the rest of the run together).

When (`plan`): the last run left its state; the model parameters, reviewer decisions,
thresholds and linkage code are those of the last run; linkage runs on DuckDB; training
was not asked for; and at most `HHLINK_INCREMENTAL_MAX_SHARE` (default 0.25) of the
current records are new, changed or gone. Otherwise, or with ``HHLINK_FULL_RELINK=1``
(``hhlink run --full-relink``), everything is re-linked.

What can differ from a full re-link of the same deliveries: pairs between two unchanged
records keep the weights they were scored with (term frequencies of names and phones
move a little as records come and go, and the prior stays the last full run's), so a
pair within a hair of the threshold may be decided differently; a pair that was below
the review threshold last time is not scored again. `tests/test_incremental.py` counts
these differences on generated deliveries; a full re-link resets them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from ingest import db
from ingest.normalise.ids import VERIFIED
from ingest.sources import SourceConfig
from ingest.stage import PERSON_COLUMNS
from resolution import ids as idmod
from resolution.households import (
    EVIDENCE_SQL,
    HOUSEHOLD_INPUT,
    MAX_PHONE_SHARERS,
    build_households,
    evidence_queries,
)
from resolution.link import LinkConfig, decide_and_cluster, link_memory, pair_columns, read_decisions
from resolution.model import settings_for
from resolution.prepare import INPUT_COLUMNS, prepare
from resolution.quality import linkage_quality

if TYPE_CHECKING:
    from resolution.run import ResolveSummary

log = logging.getLogger("hhlink.resolution")

STATE = "linked.input"
STATE_VERSION = "3"
FULL_ENV = "HHLINK_FULL_RELINK"
MAX_SHARE_ENV, MAX_SHARE = "HHLINK_INCREMENTAL_MAX_SHARE", 0.25
#: The linkage code: a change to any of these re-links everything once.
_CODE = ("prepare.py", "link.py", "model.py", "households.py", "components.py", "ids.py", "incremental.py", "run.py")
_ATTACHED = itertools.count(1)
#: What an incremental run reads of the region's records: clustering (IDs), the households (`HOUSEHOLD_INPUT`)
#: and the rows it writes (source and record id).
REGION_COLUMNS = ("unique_id", "record_id", *HOUSEHOLD_INPUT, "id_status")


@dataclass
class Plan:
    """An incremental run: the sources whose snapshot changed since the last run, and the last run's row."""
    changed: list[str]
    last: dict
    hashes: dict[str, str]
    why: str


def model_fingerprint(cfg: LinkConfig) -> str:
    """Everything but the data that decides who links: parameters, decisions, thresholds, the code."""
    h = hashlib.sha256(STATE_VERSION.encode())
    for path in (cfg.params_path, cfg.decisions):
        h.update(Path(path).read_bytes() if path is not None and Path(path).exists() else b"-")
    h.update(repr((cfg.threshold, cfg.review_low, cfg.train, cfg.seed)).encode())
    here = Path(__file__).parent
    for name in _CODE:
        h.update((here / name).read_bytes() if (here / name).exists() else b"-")
    return h.hexdigest()[:24]


def run_columns(mode: str, model: str, hashes: dict[str, str], prior_records: int) -> dict:
    """The columns a run adds to `linked.resolution_runs` for the next run's `plan`."""
    return {"mode": mode, "model_fingerprint": model, "source_hashes": json.dumps(hashes, sort_keys=True),
            "prior_records": int(prior_records)}


def _last_run(wh: duckdb.DuckDBPyConnection) -> dict:
    from resolution.run import RUNS

    if not db.table_exists(wh, RUNS):
        return {}
    last = db.frame(wh, f"SELECT * FROM {RUNS} ORDER BY run DESC LIMIT 1")
    return last.row(0, named=True) if last.height else {}


def plan(wh: duckdb.DuckDBPyConnection, cfg: LinkConfig, hashes: dict[str, str], model: str,
         mode: str = "auto") -> Plan | str:
    """A `Plan` when this run can be incremental, else the reason it cannot (said in the run log)."""
    if mode == "full":
        return "asked for (full re-link)"
    if os.environ.get(FULL_ENV, "").strip() not in ("", "0"):
        return f"asked for ({FULL_ENV}={os.environ[FULL_ENV]})"
    if cfg.train:
        return "the model is trained on this run's data (HHLINK_TRAIN)"
    if getattr(cfg, "engine", "duckdb") != "duckdb":
        return f"linkage runs on {cfg.engine}; incremental linkage runs on DuckDB only"
    last = _last_run(wh)
    if not last or not all(db.table_exists(wh, t) for t in (STATE, "person_link", "review_queue")):
        return "no linkage state from an earlier run"
    if last.get("model_fingerprint") != model:
        return "the model parameters, reviewer decisions, thresholds or linkage code changed since the last run"
    before = json.loads(last.get("source_hashes") or "{}")
    changed = sorted(s for s in set(before) | set(hashes) if before.get(s) != hashes.get(s))
    if not changed:
        return "the last run's state does not match its inputs"
    return Plan(changed=changed, last=last, hashes=hashes, why=f"new delivery of {', '.join(changed)}")


# --- state ---------------------------------------------------------------------------------------------------------

def _linked_columns(columns: list[str]) -> list[str]:
    """The staged columns linkage reads: the person fields, the ID a record key embeds, household evidence.

    Not the rest: a department's own fields (amounts, statuses, an update date stamped on
    every record each month) change without the person changing.
    """
    person = {c for cols in PERSON_COLUMNS.values() for c in cols}
    evidence = {w for _, sql in EVIDENCE_SQL.values() for w in re.findall(r"\w+", sql)}
    return [c for c in columns if c == "record_id" or c in person or c.startswith("key_id_") or c in evidence]


def _staged_hash_sql(wh: duckdb.DuckDBPyConnection, source: str, catalog: str = "") -> str:
    """Each current record of a source and the hash of what linkage reads of its staged row."""
    view = f"staged.current_{source}"
    cols = ", ".join(db.quote(c) for c in _linked_columns(db.columns(wh, view)))
    where = f"{db.quote(catalog)}.{view}" if catalog else view
    return (f"SELECT '{source}' AS source, x.record_id, '{source}:' || x.record_id AS unique_id, "
            f"hash(x) AS staged_hash FROM (SELECT {cols} FROM {where}) x")


def _staged_hashes_sql(wh: duckdb.DuckDBPyConnection, sources: list[str], catalog: str = "") -> str:
    parts = [_staged_hash_sql(wh, s, catalog) for s in sources if db.table_exists(wh, f"staged.current_{s}")]
    return " UNION ALL ".join(parts) or ("SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, "
                                         "NULL::VARCHAR AS unique_id, NULL::UBIGINT AS staged_hash WHERE FALSE")


def save_state(wh: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection,
               sources: dict[str, SourceConfig]) -> None:
    """After a full run: every current record's linkage row, staged-row hash, person and component.

    ``con`` is the full run's linkage connection (``hh_input``, ``hh_cc``, ``hh_person``).
    """
    if not all(db.table_exists(con, t) for t in ("hh_input", "hh_cc", "hh_person")):
        wh.execute(f"DROP TABLE IF EXISTS {STATE}")  # nothing was linked: the next run links in full
        return
    db.copy_query(wh, _staged_hashes_sql(wh, list(sources)), con, "hh_staged_hash")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW hh_state AS
        SELECT {', '.join(f'i.{c}' for c in INPUT_COLUMNS)}, s.staged_hash, c.cluster_id AS component,
               p.person_key AS person_id
        FROM hh_input i JOIN hh_staged_hash s USING (unique_id) JOIN hh_cc c USING (unique_id)
        JOIN hh_person p USING (unique_id)""")
    try:
        if not _update_state(wh, con):
            db.copy_query(con, "SELECT * FROM hh_state", wh, STATE)
    finally:
        con.execute("DROP VIEW hh_state")
        for table in ("hh_staged_hash", "hh_state_old", "hh_state_diff"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


#: Above this share of changed rows, `save_state` writes the state whole instead of updating it.
STATE_UPDATE_MAX_SHARE = 0.5


def _update_state(wh: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection) -> bool:
    """Replace only the stored state rows that differ from ``hh_state`` on ``con``; False if it must be written whole.

    A full re-link of mostly unchanged deliveries (asked for, or after a change of code,
    parameters or decisions) gives mostly the same state rows. Writing all 2.15M rows of 1M
    persons costs about 17 CPU seconds, most of it DuckDB compressing their strings; finding
    the changed ones by a hash of every row, as the staged rows are compared
    (`_staged_hash_sql`), and replacing them cost about 8. Rows whose (unique_id, row hash)
    pair is in both are kept; the others are deleted or inserted, so the table ends up
    holding exactly the new rows. Written whole instead when there is no stored state,
    its columns differ, a unique_id repeats, or more than `STATE_UPDATE_MAX_SHARE` changed.
    """
    if not db.table_exists(wh, STATE):
        return False
    want = [r[:2] for r in con.execute("DESCRIBE hh_state").fetchall()]
    if [r[:2] for r in wh.execute(f"DESCRIBE {STATE}").fetchall()] != want:
        return False
    row_hash = f"hash(struct_pack({', '.join(db.quote(name) for name, _ in want)}))"
    db.copy_query(wh, f"SELECT unique_id, {row_hash} AS h FROM {STATE}", con, "hh_state_old")
    con.execute(f"""
        CREATE OR REPLACE TABLE hh_state_diff AS  -- the rows only one side has: gone (old) or added (new)
        SELECT coalesce(n.unique_id, o.unique_id) AS unique_id, n.unique_id IS NOT NULL AS added
        FROM (SELECT unique_id, {row_hash} AS h FROM hh_state) n
        FULL JOIN hh_state_old o ON o.unique_id = n.unique_id AND o.h = n.h
        WHERE n.unique_id IS NULL OR o.unique_id IS NULL""")
    old_rows, old_ids, changed, added = con.execute(
        "SELECT (SELECT count(*) FROM hh_state_old), (SELECT count(DISTINCT unique_id) FROM hh_state_old), "
        "(SELECT count(*) FROM hh_state_diff), (SELECT count(*) FROM hh_state_diff WHERE added)").fetchall()[0]
    if old_rows != old_ids or changed > STATE_UPDATE_MAX_SHARE * max(old_rows, 1):
        return False
    if changed > added:
        wh.register("_hh_state_gone", con.sql("SELECT unique_id FROM hh_state_diff WHERE NOT added").to_arrow_table())
        try:
            wh.execute(f"DELETE FROM {STATE} WHERE unique_id IN (SELECT unique_id FROM _hh_state_gone)")
        finally:
            wh.unregister("_hh_state_gone")
    if added:
        db.copy_query(con, "SELECT * FROM hh_state WHERE unique_id IN "
                           "(SELECT unique_id FROM hh_state_diff WHERE added)", wh, STATE, append=True)
    return True


# --- the incremental run -------------------------------------------------------------------------------------------

def _code_sources(wh: duckdb.DuckDBPyConnection, sources: list[str]) -> set[str]:
    """Sources whose records carry admin codes: their place names come from a table all of them share."""
    out = {r[0] for r in wh.execute(f"SELECT DISTINCT source_dataset FROM {STATE} WHERE county IS NOT NULL")
           .fetchall()}
    for s in sources:
        if db.table_exists(wh, f"staged.current_{s}") and wh.execute(
                f"SELECT count(admin_code_township) + count(admin_code_village) FROM staged.current_{s}"
        ).fetchall()[0][0]:
            out.add(s)
    return out


def _load(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table | pl.DataFrame) -> None:
    arrow = table.to_arrow() if isinstance(table, pl.DataFrame) else table
    con.register("_hh_tmp", arrow)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _hh_tmp")
    con.unregister("_hh_tmp")


def _prepare_candidates(wh: duckdb.DuckDBPyConnection, sources: dict[str, SourceConfig],
                        candidates: pa.Table) -> pa.Table:
    """The linkage rows of the candidate records, by the one `prepare` (on a DuckDB holding just them)."""
    mem = duckdb.connect()
    try:
        mem.execute("SET enable_progress_bar = false")
        mem.execute("CREATE SCHEMA staged")
        wh.register("_hh_cand", candidates)
        try:
            for src in sorted(set(candidates.column("source").to_pylist())):
                rows = wh.sql(f"SELECT s.* FROM staged.current_{src} s WHERE s.record_id IN "
                              "(SELECT record_id FROM _hh_cand WHERE source = ?)", params=[src]).to_arrow_table()
                _load(mem, f"staged.current_{src}", rows)
        finally:
            wh.unregister("_hh_cand")
        return prepare(mem, {s: sources[s] for s in sources if db.table_exists(mem, f"staged.current_{s}")})
    finally:
        mem.close()


def _score_new(lk: duckdb.DuckDBPyConnection, cfg: LinkConfig, prior_records: int) -> int:
    """``inc_pairs``: new and changed records (``hh_new``) scored against every current record (``hh_current``).

    Each pair once, the smaller unique_id on the left as in a full run (the comparisons
    are symmetric), no record paired with itself.
    """
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(lk)
    params = json.loads(Path(cfg.params_path).read_text(encoding="utf-8")) if Path(cfg.params_path).exists() else {}
    current = db_api.register("hh_current", dataset_display_name="current")
    new = db_api.register("hh_new", dataset_display_name="new")
    # The settings are the ones the full run validated: checking them again costs more than the scoring.
    linker = Linker([current], settings_for("duckdb", params, n_records=prior_records), log_level=logging.WARNING,
                    validate_settings=False)
    for col in linker._settings_obj._term_frequency_columns:  # predict_between needs them registered
        linker.table_management.compute_tf_table(col.input_name)
    pred = linker.inference.predict_between([new], [current], threshold_match_weight=cfg.review_low,
                                            warning_mode="never")
    keep = pair_columns({c.unquote().name for c in pred.columns})
    select = []
    for c in keep:
        if c.endswith(("_l", "_r")):
            other = c[:-2] + ("_r" if c.endswith("_l") else "_l")
            select.append(f"CASE WHEN unique_id_l > unique_id_r THEN {other} ELSE {c} END AS {c}")
        else:
            select.append(c)
    lk.execute(f"""
        CREATE OR REPLACE TABLE inc_pairs AS
        SELECT * FROM (SELECT {', '.join(select)} FROM {pred.physical_name} WHERE unique_id_l <> unique_id_r)
        QUALIFY row_number() OVER (PARTITION BY unique_id_l, unique_id_r ORDER BY match_weight DESC) = 1""")
    pred.drop_table_from_database_and_remove_from_cache()
    for name in [r[0] for r in lk.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                          "current_database() AND table_name LIKE '__splink__%'").fetchall()]:
        lk.execute(f"DROP TABLE IF EXISTS {db.quote(name)}")
    return lk.execute("SELECT count(*) FROM inc_pairs").fetchall()[0][0]


def _region(lk: duckdb.DuckDBPyConnection, state: str, scored: bool) -> None:
    """``inc_region``: the records whose person may change, a union of whole components; ``inc_prev``.

    The old components of the changed and gone records and of every record a new pair
    or a forced match reaches from a changed record, plus the changed records. Links
    between unchanged records are the old ones and stay inside old components, so
    nothing outside the region can be reached.
    """
    pairs = "UNION SELECT unique_id_r FROM inc_pairs UNION SELECT unique_id_l FROM inc_pairs" if scored else ""
    lk.execute(f"""
        CREATE OR REPLACE TABLE inc_reach AS
        SELECT unique_id FROM inc_touched
        {pairs}
        UNION SELECT d.unique_id_r FROM hh_decisions d WHERE d.decision = 'match'
              AND d.unique_id_l IN (SELECT unique_id FROM inc_touched)
        UNION SELECT d.unique_id_l FROM hh_decisions d WHERE d.decision = 'match'
              AND d.unique_id_r IN (SELECT unique_id FROM inc_touched)""")
    # The stored rows of those components (the touched records' among them): what later steps read of them,
    # read once.
    lk.execute(f"""
        CREATE OR REPLACE TABLE inc_prev AS
        SELECT unique_id, person_id, component, phone,
               CASE WHEN address_dwelling AND NOT address_registered THEN address_key END AS dwelling_address
        FROM {state}
        WHERE component IN (SELECT component FROM {state} WHERE unique_id IN (SELECT unique_id FROM inc_reach))""")
    lk.execute("""
        CREATE OR REPLACE TABLE inc_region AS
        SELECT unique_id FROM hh_new
        UNION SELECT unique_id FROM inc_prev WHERE unique_id NOT IN (SELECT unique_id FROM inc_touched)""")


def _household_people(lk: duckdb.DuckDBPyConnection, members: str) -> list[str]:
    """``inc_people``: everyone whose household may change, and ``inc_closure``: their records; returns the
    phones too widely shared to count.

    Starts from the people of the region, everyone of an old household of one of the
    region's old persons, and the sharers of every dwelling address and phone a changed
    or gone record had or has (but a phone too widely shared to count both before and
    after); then adds, until nothing is added, everyone sharing
    household evidence with someone just added (a phone at most `MAX_PHONE_SHARERS`
    people share, a dwelling address, a civil-affairs household number, the ID or name
    + phone a guardian link names) and everyone of an old household of someone just
    added. Needs ``inc_cur``: every current record with its person and the fields that
    household evidence uses, and ``inc_prev``.
    """
    touched_keys = """SELECT phone, dwelling_address AS a FROM inc_prev
                       WHERE unique_id IN (SELECT unique_id FROM inc_touched)
                       UNION ALL SELECT phone, CASE WHEN address_dwelling AND NOT address_registered
                                                    THEN address_key END FROM hh_new"""
    # A phone more than MAX_PHONE_SHARERS people share both before and after is no evidence either time:
    # its sharers need no new look. Any other touched phone's sharers do (the phone's group changed).
    lk.execute(f"""
        CREATE OR REPLACE TABLE inc_touched_phones AS
        WITH touched AS (SELECT DISTINCT phone FROM ({touched_keys}) WHERE phone IS NOT NULL),
        before AS (  -- the stored rows: the region's and touched records' as stored, the others' as they are
            SELECT phone, count(DISTINCT person) AS n FROM (
                SELECT phone, person_id AS person FROM inc_prev
                UNION ALL
                SELECT phone, person_key FROM inc_cur WHERE unique_id NOT IN (SELECT unique_id FROM inc_region))
            WHERE phone IN (SELECT phone FROM touched) GROUP BY 1),
        after AS (SELECT phone, count(DISTINCT person_key) AS n FROM inc_cur
                  WHERE phone IN (SELECT phone FROM touched) GROUP BY 1)
        SELECT t.phone FROM touched t LEFT JOIN before b USING (phone) LEFT JOIN after a USING (phone)
        WHERE coalesce(b.n, 0) <= {MAX_PHONE_SHARERS} OR coalesce(a.n, 0) <= {MAX_PHONE_SHARERS}""")
    lk.execute(f"""
        CREATE OR REPLACE TABLE inc_frontier AS
        SELECT person_key FROM inc_cur WHERE unique_id IN (SELECT unique_id FROM inc_region)
        UNION SELECT person_key FROM inc_cur
              WHERE phone IN (SELECT phone FROM inc_touched_phones)
                 OR (dwelling AND address_key IN (SELECT a FROM ({touched_keys})))
        UNION SELECT person_id FROM {members} WHERE household_id IN (
              SELECT household_id FROM {members} WHERE person_id IN (SELECT person_id FROM inc_prev))""")
    lk.execute("CREATE OR REPLACE TABLE inc_people AS SELECT DISTINCT person_key FROM inc_frontier "
               "WHERE person_key IN (SELECT person_key FROM inc_cur)")
    lk.execute("CREATE OR REPLACE TABLE inc_frontier AS SELECT * FROM inc_people")
    lk.execute("CREATE OR REPLACE TABLE inc_phone_width (phone VARCHAR, n BIGINT)")
    lk.execute("CREATE OR REPLACE TABLE inc_closure AS SELECT * FROM inc_cur WHERE FALSE")
    while lk.execute("SELECT count(*) FROM inc_frontier").fetchall()[0][0]:
        lk.execute("""
            CREATE OR REPLACE TABLE inc_recs AS
            SELECT * FROM inc_cur WHERE person_key IN (SELECT person_key FROM inc_frontier)""")
        lk.execute("INSERT INTO inc_closure SELECT * FROM inc_recs")
        lk.execute("""
            INSERT INTO inc_phone_width
            SELECT phone, count(DISTINCT person_key) FROM inc_cur
            WHERE phone IN (SELECT phone FROM inc_recs) AND phone NOT IN (SELECT phone FROM inc_phone_width)
            GROUP BY 1""")
        lk.execute(f"""
            CREATE OR REPLACE TABLE inc_frontier AS
            WITH guard AS (SELECT * FROM hh_ev_guardian_all WHERE unique_id IN (SELECT unique_id FROM inc_recs)),
            reached AS (
                SELECT person_key FROM inc_cur
                WHERE phone IN (SELECT r.phone FROM inc_recs r JOIN inc_phone_width w USING (phone)
                                WHERE w.n <= {MAX_PHONE_SHARERS})
                UNION SELECT person_key FROM inc_cur
                      WHERE dwelling AND address_key IN (SELECT address_key FROM inc_recs WHERE dwelling)
                UNION SELECT person_key FROM inc_cur
                      WHERE id IN (SELECT guardian_id_number FROM guard WHERE guardian_id_status IN {VERIFIED})
                UNION SELECT c.person_key FROM inc_cur c
                      SEMI JOIN guard g ON c.name = g.guardian_name AND c.phone = g.guardian_phone
                UNION SELECT person_key FROM inc_cur WHERE unique_id IN (
                      SELECT unique_id FROM hh_ev_civil_all WHERE household_no IN (
                          SELECT household_no FROM hh_ev_civil_all WHERE unique_id IN (SELECT unique_id FROM inc_recs)))
                UNION SELECT person_key FROM inc_cur WHERE unique_id IN (
                      SELECT unique_id FROM hh_ev_guardian_all
                      WHERE guardian_id_status IN {VERIFIED}
                        AND guardian_id_number IN (SELECT id FROM inc_recs WHERE id IS NOT NULL)
                      UNION SELECT g.unique_id FROM hh_ev_guardian_all g
                            SEMI JOIN inc_recs r ON g.guardian_name = r.name AND g.guardian_phone = r.phone)
                UNION SELECT person_id FROM {members} WHERE household_id IN (
                      SELECT household_id FROM {members} WHERE person_id IN (SELECT person_key FROM inc_frontier)))
            SELECT DISTINCT person_key FROM reached
            WHERE person_key IN (SELECT person_key FROM inc_cur)
              AND person_key NOT IN (SELECT person_key FROM inc_people)""")
        lk.execute("INSERT INTO inc_people SELECT person_key FROM inc_frontier")
        log.debug("household closure: %d people", lk.execute("SELECT count(*) FROM inc_people").fetchall()[0][0])
    return [r[0] for r in lk.execute(f"SELECT phone FROM inc_phone_width WHERE n > {MAX_PHONE_SHARERS}").fetchall()]


def _registry_subset(wh: duckdb.DuckDBPyConnection, kind: str, prefix: str, old_ids: list[str],
                     first_members: list[str]) -> pl.DataFrame:
    """The registry rows `ids.assign` can consult for these groups: their old ids and the ids new ones would take."""
    from resolution.run import REGISTRY

    if not db.table_exists(wh, REGISTRY):
        return pl.DataFrame(schema=idmod.REGISTRY_SCHEMA)
    fresh = idmod.unsalted_ids(prefix, first_members)  # the id each group would get if new
    wanted = pl.DataFrame({"id": list(old_ids) + fresh}, schema={"id": pl.String()})
    wh.register("_hh_ids", wanted.to_arrow())
    try:
        return db.frame(wh, f"SELECT * FROM {REGISTRY} WHERE kind = ? AND id IN (SELECT id FROM _hh_ids)", [kind])
    finally:
        wh.unregister("_hh_ids")


def resolve_incremental(wh: duckdb.DuckDBPyConnection, cfg: LinkConfig, sources: dict[str, SourceConfig],
                        p: Plan, fingerprint: str,
                        progress: Callable[[str], None] = log.info) -> ResolveSummary | str:
    """Link the changed records against the known persons; a reason instead when a full run is better."""
    catalog = wh.execute("SELECT current_database()").fetchall()[0][0]
    lk = wh.cursor()
    lk.execute("SET enable_progress_bar = false")  # a cursor has its own settings: no bars in the run log
    name = f"hh_link_{os.getpid()}_{next(_ATTACHED)}"
    lk.execute(f"ATTACH ':memory:' AS {name}")
    lk.execute(f"USE {name}")
    try:
        # Splink scores here, inside the warehouse's DuckDB: under the full run's linkage cap, not the warehouse's
        # smaller one (at 1M persons, 1 GB made Splink spill and the run ~1 s slower and twice as variable).
        with db.memory_limit(wh, link_memory(int(p.last.get("records") or 0))):
            return _incremental(wh, lk, catalog, cfg, sources, p, fingerprint, progress)
    finally:
        lk.close()
        with suppress(duckdb.Error):
            wh.execute(f"DETACH {name}")


class _Laps:
    """Sub-step times on the debug log (`hhlink.resolution`): where an incremental run spends its time."""

    def __init__(self) -> None:
        self.t = time.perf_counter()

    def __call__(self, what: str) -> None:
        now = time.perf_counter()
        log.debug("incremental: %-28s %6.2f s", what, now - self.t)
        self.t = now


def _incremental(wh: duckdb.DuckDBPyConnection, lk: duckdb.DuckDBPyConnection, catalog: str,
                 cfg: LinkConfig, sources: dict[str, SourceConfig], p: Plan, fingerprint: str,
                 progress: Callable[[str], None]) -> ResolveSummary | str:
    from resolution.run import RUNS, ResolveSummary

    def work(table: str) -> str:  # a working-database table, as the cursor names it
        return f"{db.quote(catalog)}.{table}"

    state, cols = work(STATE), ", ".join(INPUT_COLUMNS)
    timings: dict[str, float] = {}
    lap = _Laps()
    t0 = time.perf_counter()
    names = [s for s in sources if db.table_exists(wh, f"staged.current_{s}")]
    codes = _code_sources(wh, list(sources))
    whole = sorted(codes) if codes & set(p.changed) else []  # shared place names: every coded record again
    recompute = sorted(set(p.changed) | set(whole))
    lk.execute(f"CREATE TABLE inc_staged AS {_staged_hashes_sql(wh, [s for s in recompute if s in names], catalog)}")
    lap("staged hashes")
    # The recomputed sources' records, staged against stored: new, changed, gone (or prepared again: ``whole``).
    lk.execute(f"""
        CREATE TABLE inc_diff AS
        SELECT * FROM (
            SELECT coalesce(s.unique_id, o.unique_id) AS unique_id, s.source, s.record_id,
                   o.source_dataset AS old_source, o.record_id AS old_record_id,
                   CASE WHEN s.unique_id IS NULL THEN 'gone' WHEN o.unique_id IS NULL THEN 'new'
                        WHEN o.staged_hash <> s.staged_hash THEN 'changed' END AS kind
            FROM inc_staged s
            FULL JOIN (SELECT unique_id, source_dataset, record_id, staged_hash FROM {state}
                       WHERE source_dataset IN ({', '.join(f"'{s}'" for s in recompute)})) o USING (unique_id))
        WHERE kind IS NOT NULL OR source IN ({', '.join(f"'{s}'" for s in whole) or 'NULL'})""")
    candidates = lk.sql("SELECT source, record_id, unique_id FROM inc_diff WHERE source IS NOT NULL").to_arrow_table()
    _load(lk, "inc_new_rows", _prepare_candidates(wh, sources, candidates) if candidates.num_rows
          else lk.sql(f"SELECT {cols} FROM {state} WHERE FALSE").to_arrow_table())
    lap("prepare candidates")
    # A candidate is new or its staged row changed, unless it is there because its source's place names are
    # prepared again (``whole``): only then is its linkage row compared with the stored one.
    lk.execute(f"CREATE TABLE hh_new AS SELECT {cols} FROM inc_new_rows" if not whole else f"""
        CREATE TABLE hh_new AS
        SELECT {', '.join(f'n.{c}' for c in INPUT_COLUMNS)}
        FROM (SELECT *, hash(x) AS h FROM (SELECT {cols} FROM inc_new_rows) x) n
        JOIN inc_staged t USING (unique_id)
        LEFT JOIN (SELECT x.unique_id, x.staged_hash, hash(x.row) AS h FROM (
                   SELECT unique_id, staged_hash, struct_pack({cols}) AS row FROM {state}
                   WHERE unique_id IN (SELECT unique_id FROM inc_new_rows)) x) o USING (unique_id)
        WHERE o.unique_id IS NULL OR o.staged_hash <> t.staged_hash OR o.h <> n.h""")
    lap("new and changed")
    lk.execute("CREATE TABLE inc_touched AS SELECT unique_id FROM hh_new "
               "UNION ALL SELECT unique_id FROM inc_diff WHERE kind = 'gone'")
    lk.execute("CREATE TABLE inc_gone_rows AS SELECT old_source AS source_dataset, old_record_id AS record_id "
               "FROM inc_diff WHERE kind = 'gone'")
    lk.execute(f"""
        CREATE VIEW hh_current AS
        SELECT {cols} FROM {state} WHERE unique_id NOT IN (SELECT unique_id FROM inc_touched)
        UNION ALL SELECT {cols} FROM hh_new""")
    n_new, n_gone, n_added, n_stored = lk.execute(
        f"SELECT (SELECT count(*) FROM hh_new), (SELECT count(*) FROM inc_diff WHERE kind = 'gone'), "
        f"(SELECT count(*) FROM inc_diff WHERE kind = 'new'), (SELECT count(*) FROM {state})").fetchall()[0]
    n_touched, n_current = n_new + n_gone, n_stored + n_added - n_gone
    limit = float(os.environ.get(MAX_SHARE_ENV, "") or MAX_SHARE)
    if n_touched > limit * max(n_current, 1):
        return (f"{n_touched:,} of {n_current:,} records are new, changed or gone, more than {limit:.0%} "
                f"({MAX_SHARE_ENV})")
    why = f"{p.why}: {n_new:,} new or changed records, {n_gone:,} gone"
    progress(f"incremental linkage: {why}")
    timings["prepare"] = time.perf_counter() - t0

    # Score the new and changed records against everyone.
    t0 = time.perf_counter()
    prior_records = int(p.last.get("prior_records") or n_current)
    decisions = read_decisions(cfg.decisions)
    _load(lk, "hh_decisions", decisions)
    pairs_scored = _score_new(lk, cfg, prior_records) if n_new else 0
    lap("score")
    timings["predict"] = time.perf_counter() - t0

    # The affected region, decided and clustered by the full run's own code.
    t0 = time.perf_counter()
    _region(lk, state, scored=bool(n_new))
    lap("region")
    keep = [c for c in db.columns(wh, "person_link") if c not in ("reason", "linked", "person_id_l", "person_id_r")]
    lk.execute(f"""
        CREATE TABLE hh_pairs AS
        WITH o AS (  -- as stored, for the write to tell what changed; an end outside the region keeps its person
            SELECT {', '.join(keep)}, TRUE AS stored, reason AS stored_reason, linked AS stored_linked,
                   person_id_l AS stored_person_l, person_id_r AS stored_person_r
            FROM {work('person_link')}
            WHERE match_weight IS NOT NULL
              AND (unique_id_l IN (SELECT unique_id FROM inc_region)
                   OR unique_id_r IN (SELECT unique_id FROM inc_region))
              AND unique_id_l NOT IN (SELECT unique_id FROM inc_touched)
              AND unique_id_r NOT IN (SELECT unique_id FROM inc_touched)),
        ids AS (SELECT unique_id, id, id_head FROM {state}
                WHERE unique_id IN (SELECT unique_id_l FROM o UNION SELECT unique_id_r FROM o))
        SELECT o.*, a.id AS id_l, b.id AS id_r, a.id_head AS id_head_l, b.id_head AS id_head_r
        FROM o JOIN ids a ON a.unique_id = o.unique_id_l JOIN ids b ON b.unique_id = o.unique_id_r""")
    if n_new:
        lk.execute("INSERT INTO hh_pairs BY NAME SELECT * FROM inc_pairs")
    lap("region pairs")
    # Only what clustering, the households and the written rows read of the region's records: fetching
    # whole rows from the 2.15M-row state (at 1M persons) costs as much for 100k of them as for all.
    region_cols = ", ".join(REGION_COLUMNS)
    lk.execute(f"""
        CREATE TABLE hh_input AS
        SELECT {region_cols} FROM {state}
        WHERE unique_id IN (SELECT unique_id FROM inc_region) AND unique_id NOT IN (SELECT unique_id FROM inc_touched)
        UNION ALL SELECT {region_cols} FROM hh_new""")
    clusters, review = decide_and_cluster(lk, decisions, cfg)
    n_links = lk.execute("SELECT count(*) FROM hh_scored WHERE linked").fetchall()[0][0]
    lap("decide and cluster")
    timings["cluster"] = time.perf_counter() - t0

    # Person ids, for the region only.
    t0 = time.perf_counter()
    run = int(p.last.get("run") or 0) + 1
    prev_x = lk.sql("SELECT unique_id AS member, person_id AS id FROM inc_prev").pl()
    groups = clusters.rename({"unique_id": "member", "cluster_id": "group"})
    firsts = groups.group_by("group").agg(pl.col("member").min())["member"].to_list()
    registry = _registry_subset(wh, "person", "P", prev_x["id"].unique().to_list(), firsts)
    pmap, p_events, registry = idmod.assign(groups, prev_x, registry, "person", "P", run)
    lap("person ids")
    xref = groups.join(pmap.select("group", pl.col("id").alias("person_id")), on="group").select(
        "member", "person_id")
    _load(lk, "inc_xref", xref)
    # What the household closure and `build_households` read of each record, so that neither goes back to the
    # 2.15M-row state (at 1M persons) for it.
    fields = ("{t}phone, {t}address_key, coalesce({t}address_dwelling AND NOT {t}address_registered, FALSE) "
              "AS dwelling, {t}id, {t}name, {t}source_dataset, "
              "{t}address_dwelling, {t}address_registered")
    lk.execute(f"""
        CREATE TABLE inc_cur AS
        SELECT s.unique_id, s.person_id AS person_key, {fields.format(t='s.')} FROM {state} s
        WHERE s.unique_id NOT IN (SELECT unique_id FROM inc_touched)
          AND s.unique_id NOT IN (SELECT unique_id FROM inc_region)
        UNION ALL
        SELECT c.unique_id, x.person_id, {fields.format(t='c.')}
        FROM hh_input c JOIN inc_xref x ON x.member = c.unique_id""")
    timings["ids"] = time.perf_counter() - t0

    # Households of the people whose household can change.
    t0 = time.perf_counter()
    queries = evidence_queries(wh, catalog)
    empty = {"civil": {"unique_id": pl.String(), "household_no": pl.String(), "relation": pl.String(),
                       "verified_on": pl.Date()},
             "guardian": {"unique_id": pl.String(), "guardian_name": pl.String(),
                          "guardian_id_number": pl.String(), "guardian_id_status": pl.String(),
                          "guardian_phone": pl.String()}}
    for kind, schema in empty.items():
        if kind in queries:
            lk.execute(f"CREATE TABLE hh_ev_{kind}_all AS {queries[kind]}")
        else:
            _load(lk, f"hh_ev_{kind}_all", pl.DataFrame(schema=schema))
    lap("household evidence")
    wide = _household_people(lk, work("household_member"))
    lap("household closure")
    sub_person = lk.sql("SELECT unique_id, person_key FROM inc_closure").to_arrow_table()
    sub_input = lk.sql(f"SELECT unique_id, {', '.join(HOUSEHOLD_INPUT)} FROM inc_closure").to_arrow_table()
    evidence = {k: lk.sql(f"SELECT * FROM hh_ev_{k}_all WHERE unique_id IN (SELECT unique_id FROM inc_closure)").pl()
                for k in queries}
    lap("closure input")
    mem = duckdb.connect()
    try:
        mem.execute("SET enable_progress_bar = false")
        _load(mem, "hh_person", sub_person)
        _load(mem, "hh_input", sub_input)
        units = build_households(mem, evidence, shared_phones=wide)
    finally:
        mem.close()
    lap("build households")
    lk.execute(f"""
        CREATE TABLE inc_households AS
        SELECT DISTINCT household_id FROM {work('household_member')}
        WHERE person_id IN (SELECT person_key FROM inc_people)
           OR person_id IN (SELECT person_id FROM inc_prev)""")
    prev_h = lk.sql(f"SELECT person_id AS member, household_id AS id FROM {work('household_member')} "
                    "WHERE household_id IN (SELECT household_id FROM inc_households)").pl()
    hfirst = units.group_by("unit").agg(pl.col("person_key").min())["person_key"].to_list()
    hreg = _registry_subset(wh, "household", "H", prev_h["id"].unique().to_list(), hfirst)
    hmap, h_events, hreg = idmod.assign(units.rename({"person_key": "member", "unit": "group"}),
                                        prev_h, hreg, "household", "H", run)
    members = units.join(hmap.select(pl.col("group").alias("unit"), pl.col("id").alias("household_id")),
                         on="unit").select("household_id", pl.col("person_key").alias("person_id"), "rule")
    timings["households"] = time.perf_counter() - t0

    # Write: the region's rows replaced, everything else as the last run left it. The results cross to the
    # working database's transaction as Arrow (it cannot see tables the cursor created after it began).
    t0 = time.perf_counter()
    events = pl.concat([p_events, h_events]).with_columns(pl.lit(run, dtype=pl.Int64).alias("run"))
    new_ids = pl.concat([registry, hreg]).filter(pl.col("first_run") == run)
    out = {
        "gone": "SELECT unique_id FROM inc_region UNION SELECT unique_id FROM inc_touched",
        # person_xref: the new records' rows and those whose person moved; the gone records' rows go.
        "xref": """SELECT c.source_dataset AS source, c.record_id, x.person_id
                   FROM hh_input c JOIN inc_xref x ON x.member = c.unique_id LEFT JOIN inc_prev o USING (unique_id)
                   WHERE o.person_id IS DISTINCT FROM x.person_id""",
        "xref_gone": "SELECT source_dataset AS source, record_id FROM inc_gone_rows",
        # The pairs to write: new ones (scored now, or a reviewer's match), and stored ones whose decision or
        # persons changed.
        "links": """SELECT * EXCLUDE (stored, stored_reason, stored_linked, stored_person_l, stored_person_r) FROM (
                        SELECT s.* EXCLUDE (id_l, id_r, id_head_l, id_head_r),
                               coalesce(a.person_id, s.stored_person_l) AS person_id_l,
                               coalesce(b.person_id, s.stored_person_r) AS person_id_r
                        FROM hh_scored s LEFT JOIN inc_xref a ON a.member = s.unique_id_l
                        LEFT JOIN inc_xref b ON b.member = s.unique_id_r)
                    WHERE stored IS NULL OR reason IS DISTINCT FROM stored_reason
                       OR linked IS DISTINCT FROM stored_linked OR person_id_l IS DISTINCT FROM stored_person_l
                       OR person_id_r IS DISTINCT FROM stored_person_r
                    ORDER BY unique_id_l, unique_id_r""",
        "touched": "SELECT unique_id FROM inc_touched",
        "households": "SELECT household_id FROM inc_households",
        "state": f"""SELECT {', '.join(f'n.{c}' for c in INPUT_COLUMNS)}, s.staged_hash, k.cluster_id AS component,
                            x.person_id
                     FROM hh_new n JOIN inc_staged s USING (unique_id) JOIN hh_cc k USING (unique_id)
                     JOIN inc_xref x ON x.member = n.unique_id
                     UNION ALL
                     SELECT o.* REPLACE (m.component AS component, m.person_id AS person_id)
                     FROM {state} o JOIN inc_moved m USING (unique_id)""",
        "state_gone": "SELECT unique_id FROM inc_touched UNION ALL SELECT unique_id FROM inc_moved",
    }
    # The state rows that change: the new and changed records', and those of the region's other records whose
    # component or person moved (their linkage row is the stored one).
    lk.execute("""
        CREATE TABLE inc_moved AS
        SELECT o.unique_id, k.cluster_id AS component, x.person_id
        FROM inc_prev o JOIN hh_cc k USING (unique_id) JOIN inc_xref x ON x.member = o.unique_id
        WHERE o.unique_id NOT IN (SELECT unique_id FROM hh_new)
          AND (o.component IS DISTINCT FROM k.cluster_id OR o.person_id IS DISTINCT FROM x.person_id)""")
    results = {k: lk.sql(q).to_arrow_table() for k, q in out.items()}
    lap("results")
    for k, table in results.items():
        wh.register(f"_hh_{k}", table)
    try:
        _write(wh, p, names, members, review, events, new_ids)
        lap("write tables")
    finally:
        for k in results:
            wh.unregister(f"_hh_{k}")
    quality = _quality(wh, cfg)
    persons = int(quality.filter(pl.col("metric") == "persons")["value"].item())
    households = wh.execute("SELECT count(DISTINCT household_id) FROM household_member").fetchall()[0][0]
    lap("linkage quality")
    db.append(wh, RUNS, pl.DataFrame([{
        "run": run, "records": n_current, "persons": persons, "households": households,
        "pairs_scored": pairs_scored, "inputs_fingerprint": fingerprint,
        **run_columns("incremental", p.last["model_fingerprint"], p.hashes, prior_records)}]))
    timings["write"] = time.perf_counter() - t0
    ev = events.group_by("kind", "event").len().rows()
    return ResolveSummary(records=n_current, persons=persons, households=households, pairs_scored=pairs_scored,
                          links=n_links, review=review.height,
                          events={f"{k}:{e}": n for k, e, n in ev}, timings=timings, mode="incremental", why=why)


def _write(wh: duckdb.DuckDBPyConnection, p: Plan, names: list[str], members: pl.DataFrame,
           review: pl.DataFrame, events: pl.DataFrame, new_ids: pl.DataFrame) -> None:
    """Make the region's rows of the linked tables the new ones; the results are registered on ``wh`` as ``_hh_*``.

    Most of a region comes back as it was, so only the rows that differ are written: of
    ``person_xref``, the pairs and the state those `_incremental` knows to differ (finding them
    by comparing rows meant reading every row in scope), of the households those that compare
    unequal (`db.sync_rows`).
    """
    from resolution.run import REGISTRY

    for src in p.changed:  # the delivering sources' records are as of their new delivery
        if src in names:
            wh.execute(f"UPDATE person_xref SET as_of = (SELECT max(as_of) FROM staged.current_{src}) "
                       f"WHERE source = ? AND as_of IS DISTINCT FROM (SELECT max(as_of) FROM staged.current_{src})",
                       [src])
    as_of = " UNION ALL ".join(f"SELECT '{s}' AS source, max(as_of) AS as_of FROM staged.current_{s}" for s in names)
    wh.execute(f"""
        CREATE OR REPLACE TEMP VIEW _hh_xref_rows AS
        SELECT x.source, x.record_id, x.person_id, a.as_of FROM _hh_xref x
        LEFT JOIN ({as_of or 'SELECT NULL AS source, NULL::DATE AS as_of'}) a USING (source)""")
    gone = wh.execute("""
        DELETE FROM person_xref
        WHERE (source, record_id) IN (SELECT source, record_id FROM _hh_xref_gone
                                      UNION ALL SELECT source, record_id FROM _hh_xref)""").fetchall()[0][0]
    wh.execute("INSERT INTO person_xref BY NAME SELECT * FROM _hh_xref_rows")
    written = {
        "person_xref": (gone, wh.execute("SELECT count(*) FROM _hh_xref").fetchall()[0][0]),
        "person_link": _write_links(wh),
    }
    wh.execute("DROP VIEW temp._hh_xref_rows")
    wh.execute("DELETE FROM review_queue WHERE unique_id_l IN (SELECT unique_id FROM _hh_gone) "
               "OR unique_id_r IN (SELECT unique_id FROM _hh_gone)")
    if review.height:
        db.append(wh, "review_queue", review)
    wh.register("_hh_members", members.to_arrow())
    try:
        written["household_member"] = db.sync_rows(
            wh, "household_member", ["person_id"],
            "household_id IN (SELECT household_id FROM _hh_households) "
            "OR person_id IN (SELECT person_id FROM _hh_members)", "_hh_members")
    finally:
        wh.unregister("_hh_members")
    if events.height:
        db.append(wh, "id_events", events.select("run", *idmod.EVENT_SCHEMA))
    if new_ids.height:
        db.append(wh, REGISTRY, new_ids)
    # Unlike the tables above, the state rows that differ are known without comparing rows (`_incremental`).
    gone = wh.execute(f"DELETE FROM {STATE} WHERE unique_id IN (SELECT unique_id FROM _hh_state_gone)").fetchall()
    wh.execute(f"INSERT INTO {STATE} BY NAME SELECT * FROM _hh_state")
    written[STATE] = (gone[0][0], wh.execute("SELECT count(*) FROM _hh_state").fetchall()[0][0])
    log.debug("incremental: rows deleted, inserted: %s", written)


def _write_links(wh: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Replace the stored pairs the run re-decided: (deleted, inserted).

    Gone: every pair of a new, changed or gone record (scored again or no more) and every pair
    `_hh_links` writes: the region's stored pairs whose decision or persons changed and its
    reviewers' matches the model did not score (made again). The region's other stored pairs
    are as they were.
    """
    gone = wh.execute("""
        DELETE FROM person_link
        WHERE unique_id_l IN (SELECT unique_id FROM _hh_touched) OR unique_id_r IN (SELECT unique_id FROM _hh_touched)
           OR (unique_id_l, unique_id_r) IN (SELECT unique_id_l, unique_id_r FROM _hh_links)""").fetchall()[0][0]
    wh.execute("INSERT INTO person_link BY NAME SELECT * FROM _hh_links")
    return gone, wh.execute("SELECT count(*) FROM _hh_links").fetchall()[0][0]


def _quality(wh: duckdb.DuckDBPyConnection, cfg: LinkConfig) -> pl.DataFrame:
    """`linkage_quality` over everything, as a full run computes it, from the updated state and links.

    Its ``persons`` figure is the run's person count: the state holds every current record and its person.
    """
    quality = linkage_quality(wh, f"(SELECT source_dataset, person_id AS person_key FROM {STATE})", "person_link",
                              cfg.threshold)
    db.replace(wh, "linkage_quality", quality)
    return quality
