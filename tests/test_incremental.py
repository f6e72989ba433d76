"""Incremental linkage against a full re-link of the same deliveries, on real generated zones and DuckDB files.

A month's deliveries (the generator's second civil-affairs and employment snapshots, with
their real churn: new records, leavers, changed values) and a delivery changing 5% of
health's records are linked incrementally from the previous run's state, and in full;
the persons and households must agree (differences are listed when they do not), people
already known keep their ids, and the run says which way it linked and why.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from itertools import combinations
from pathlib import Path

import pytest

from ingest import db
from ingest.checksum import differences, warehouse_checksums
from ingest.deliveries import ingest_raw, stage_source
from ingest.sources import load_sources
from resolution.link import LinkConfig
from resolution.run import ResolveSummary, resolve
from synth.churn import churned_delivery
from tests.conftest import AS_OF

SOURCES = load_sources()
HELD = ("civil_affairs", "employment")  # the sources the generator delivers twice
MAX_PAIR_DIFFERENCES = 2


def ingest(landing: Path, wh: Path) -> None:
    with db.connect(wh) as con:
        for cfg in SOURCES.values():
            ingest_raw(con, landing, cfg, lambda _m: None)
            stage_source(con, cfg, lambda _m: None)


def link(wh: Path, mode: str = "auto") -> ResolveSummary:
    with db.connect(wh) as con:
        return resolve(con, LinkConfig(decisions=wh.parent / "decisions.csv"), SOURCES, progress=lambda _m: None,
                       mode=mode)


def groups(wh: Path, sql: str) -> dict[str, str]:
    with db.connect(wh, read_only=True) as con:
        return dict(con.sql(sql).fetchall())


def persons(wh: Path) -> dict[str, str]:
    return groups(wh, "SELECT source || ':' || record_id, person_id FROM person_xref")


def households(wh: Path) -> dict[str, str]:
    return groups(wh, "SELECT person_id, household_id FROM household_member")


def same_group_pairs(member_of: dict[str, str]) -> set[tuple[str, str]]:
    by: dict[str, list[str]] = {}
    for m, g in member_of.items():
        by.setdefault(g, []).append(m)
    return {p for ms in by.values() for p in combinations(sorted(ms), 2)}


def agreement(a: dict[str, str], b: dict[str, str], what: str) -> None:
    """The same members, and the same pairs put together, but for a few decided differently at the margin.

    Pairs between unchanged records keep their old weights in an incremental run (term
    frequencies drift as records come and go), so a pair within a hair of the threshold
    may differ: at most `MAX_PAIR_DIFFERENCES` (or 0.1% of pairs), each listed.
    """
    assert set(a) == set(b), f"{what}: members differ: {sorted(set(a) ^ set(b))[:10]}"
    pa, pb = same_group_pairs(a), same_group_pairs(b)
    differ = sorted(pa ^ pb)
    allowed = max(MAX_PAIR_DIFFERENCES, len(pa) // 1000)
    assert len(differ) <= allowed, f"{what}: {len(differ)} of {len(pa)} pairs differ (full only / incremental only): " \
                                   f"{sorted(pa - pb)[:10]} / {sorted(pb - pa)[:10]}"


def kept_ids(before: dict[str, str], after: dict[str, str]) -> float:
    """Share of persons whose records are exactly the same before and after that kept their id."""
    def members(m: dict[str, str]) -> dict[str, frozenset[str]]:
        by: dict[str, set[str]] = {}
        for r, p in m.items():
            by.setdefault(p, set()).add(r)
        return {p: frozenset(rs) for p, rs in by.items()}

    old, new = members(before), members(after)
    unchanged = [p for p, rs in old.items() if rs in set(new.values())]
    return sum(1 for p in unchanged if new.get(p) == old[p]) / max(len(unchanged), 1)


@pytest.fixture(scope="module")
def month(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The zone without the newest civil-affairs and employment deliveries, ingested and linked in full."""
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    shutil.copytree(generated / "landing", landing)
    held = root / "held"
    for src in HELD:
        shutil.move(str(landing / src / AS_OF.isoformat()), held / src)
    wh = root / "before" / "w.duckdb"
    wh.parent.mkdir()
    ingest(landing, wh)
    first = link(wh)
    assert first.mode == "full" and "no linkage state" in first.why
    return {"landing": landing, "held": held, "before": wh, "root": root}


def _deliver(month: dict[str, Path], src: str, tmp: Path, start: Path) -> tuple[Path, Path]:
    """Copy the warehouse `start`, put `src`'s held delivery back, ingest it: two copies to link two ways."""
    landing = tmp / "landing"
    if not landing.exists():
        shutil.copytree(month["landing"], landing)
    shutil.copytree(month["held"] / src, landing / src / AS_OF.isoformat())
    inc, full = tmp / "inc" / "w.duckdb", tmp / "full" / "w.duckdb"
    for wh in (inc, full):
        wh.parent.mkdir(exist_ok=True)
        shutil.copy(start, wh)
        ingest(landing, wh)
    return inc, full


def test_a_month_of_deliveries_links_incrementally_as_in_full(month: dict[str, Path], tmp_path: Path) -> None:
    start = month["before"]
    for src in HELD:  # civil affairs (admin codes: place names shared) first, then employment, chained
        inc, full = _deliver(month, src, tmp_path, start)
        s_inc, s_full = link(inc), link(full, mode="full")
        assert s_inc.mode == "incremental", s_inc.why
        assert src in s_inc.why and "new or changed records" in s_inc.why
        assert s_full.mode == "full"
        assert s_inc.pairs_scored < s_full.pairs_scored / 2
        agreement(persons(full), persons(inc), f"persons after {src}")
        agreement(households(full), households(inc), f"households after {src}")
        assert kept_ids(persons(start), persons(inc)) == 1.0  # nobody unaffected got a new id
        with db.connect(inc, read_only=True) as con:  # every current record once; households cover everyone
            xref = con.sql("SELECT source, record_id, person_id, as_of FROM person_xref").pl()
            current = con.sql(" UNION ALL ".join(f"SELECT '{s}' AS source, record_id, as_of FROM staged.current_{s}"
                                                 for s in SOURCES)).pl()
            members = con.sql("SELECT person_id FROM household_member").pl()
        assert xref.select("source", "record_id").is_duplicated().sum() == 0
        assert xref.sort("source", "record_id").select("source", "record_id", "as_of").equals(
            current.sort("source", "record_id").select("source", "record_id", "as_of"))
        assert set(members["person_id"]) == set(xref["person_id"]) and not members["person_id"].is_duplicated().any()
        start = tmp_path / f"after-{src}.duckdb"
        shutil.copy(inc, start)
        shutil.rmtree(inc.parent)
        shutil.rmtree(full.parent)


def test_five_percent_of_health_changed(month: dict[str, Path], tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(month["landing"], landing)
    churn = churned_delivery(landing, "health", AS_OF + timedelta(days=30), share=0.05, seed=3)
    assert churn.changed and churn.gone and churn.new
    inc, full = tmp_path / "inc.duckdb", tmp_path / "full.duckdb"
    shutil.copy(month["before"], inc)
    ingest(landing, inc)
    shutil.copy(inc, full)
    s_inc, s_full = link(inc), link(full, mode="full")
    assert s_inc.mode == "incremental" and f"{churn.changed + churn.new:,} new or changed" in s_inc.why
    assert s_full.mode == "full"
    agreement(persons(full), persons(inc), "persons")
    agreement(households(full), households(inc), "households")
    assert kept_ids(persons(month["before"]), persons(inc)) == 1.0
    renewed = {r: p for r, p in persons(inc).items() if r.startswith("health:N")}
    assert len(renewed) == churn.new  # every re-registered record linked to the person it copies
    original = persons(inc)
    assert all(original[r.replace("health:N", "health:", 1)] == p for r, p in renewed.items())

    # Nothing new: nothing changes, not a row, not an id.
    before = warehouse_checksums(inc)
    again = link(inc)
    assert again.mode == "unchanged"
    assert differences(before, warehouse_checksums(inc)) == []


def test_full_relink_on_demand_and_when_too_much_changed(month: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(month["landing"], landing)
    churned_delivery(landing, "health", AS_OF + timedelta(days=30), share=0.05, seed=4)
    base = tmp_path / "w.duckdb"
    shutil.copy(month["before"], base)
    ingest(landing, base)

    def fresh(name: str) -> Path:
        (tmp_path / name).mkdir()
        return Path(shutil.copy(base, tmp_path / name / "w.duckdb"))

    monkeypatch.setenv("HHLINK_FULL_RELINK", "1")
    s = link(fresh("forced"))
    assert s.mode == "full" and "HHLINK_FULL_RELINK=1" in s.why
    monkeypatch.delenv("HHLINK_FULL_RELINK")

    monkeypatch.setenv("HHLINK_INCREMENTAL_MAX_SHARE", "0.001")
    s = link(fresh("share"))
    assert s.mode == "full" and "more than 0%" in s.why
    monkeypatch.delenv("HHLINK_INCREMENTAL_MAX_SHARE")

    wh = fresh("decided")
    (wh.parent / "decisions.csv").write_text("unique_id_l,unique_id_r,decision,reviewer,note\n"
                                            "health:X,health:Y,non_match,r1,\n", encoding="utf-8")
    s = link(wh)
    assert s.mode == "full" and "reviewer decisions" in s.why
    s = link(fresh("plain"))
    assert s.mode == "incremental"


def test_a_full_relink_updates_the_stored_state_to_what_writing_it_whole_gives(
        month: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full re-link replaces only the state rows that changed: the state is then row for row
    the one a run without a stored state writes whole."""
    from resolution import incremental

    landing = tmp_path / "landing"
    shutil.copytree(month["landing"], landing)
    churned_delivery(landing, "health", AS_OF + timedelta(days=30), share=0.05, seed=5)
    updated = tmp_path / "updated" / "w.duckdb"
    updated.parent.mkdir()
    shutil.copy(month["before"], updated)
    ingest(landing, updated)
    whole = tmp_path / "whole" / "w.duckdb"
    whole.parent.mkdir()
    shutil.copy(updated, whole)
    with db.connect(whole) as con:
        con.execute(f"DROP TABLE {incremental.STATE}")
    in_place: list[bool] = []
    real = incremental._update_state
    monkeypatch.setattr(incremental, "_update_state", lambda wh, con: in_place.append(real(wh, con)) or in_place[-1])
    assert link(whole, mode="full").mode == "full" and link(updated, mode="full").mode == "full"
    assert in_place == [False, True]  # written whole without a stored state, updated in place with one

    def rows(a: Path, b: Path) -> int:
        with db.connect(a, read_only=True) as con:
            con.execute(f"ATTACH '{b}' AS other (READ_ONLY)")
            return con.execute(f"SELECT count(*) FROM (SELECT * FROM {incremental.STATE} "
                               f"EXCEPT ALL SELECT * FROM other.{incremental.STATE})").fetchall()[0][0]

    assert rows(updated, month["before"]) > 0 and rows(month["before"], updated) > 0  # rows were replaced
    assert rows(updated, whole) == 0 and rows(whole, updated) == 0


def test_sync_rows_writes_only_the_rows_that_differ(tmp_path: Path) -> None:
    """The region's rows end up exactly the new ones, rows outside it untouched, unchanged rows not rewritten."""
    with db.connect(tmp_path / "w.duckdb") as con:
        con.execute("CREATE TABLE t (k1 VARCHAR, k2 INTEGER, v DOUBLE, d DATE)")
        con.execute("""INSERT INTO t VALUES ('a', 1, 1.0, DATE '2026-01-01'), ('a', 2, 2.0, NULL),
                       ('b', 1, 3.0, DATE '2026-01-03'), ('c', 1, 4.0, NULL)""")
        # the region: k1 in (a, b). ('a', 1) unchanged, ('a', 2) changed, ('b', 1) gone, ('b', 2) added.
        con.execute("""CREATE TABLE new_rows AS SELECT * FROM (VALUES ('a', 1::BIGINT, 1.0::FLOAT, '2026-01-01'),
                       ('a', 2, 2.5, NULL), ('b', 2, 5.0, '2026-01-05')) x(k1, k2, v, d)""")
        before = {r[0]: r[1] for r in con.execute("SELECT k1 || k2, rowid FROM t").fetchall()}
        gone, added = db.sync_rows(con, "t", ["k1", "k2"], "k1 IN ('a', 'b')", "new_rows")
        assert (gone, added) == (2, 2)
        rows = con.execute("SELECT k1, k2, v, d::VARCHAR FROM t ORDER BY 1, 2").fetchall()
        assert rows == [("a", 1, 1.0, "2026-01-01"), ("a", 2, 2.5, None), ("b", 2, 5.0, "2026-01-05"),
                        ("c", 1, 4.0, None)]
        after = {r[0]: r[1] for r in con.execute("SELECT k1 || k2, rowid FROM t").fetchall()}
        assert after["a1"] == before["a1"] and after["c1"] == before["c1"]  # not deleted and re-inserted
        assert db.sync_rows(con, "t", ["k1", "k2"], "k1 IN ('a', 'b')", "new_rows") == (0, 0)


def test_the_written_pairs_and_records_agree_with_each_other_and_keep_a_reviewers_match(
        month: dict[str, Path], tmp_path: Path) -> None:
    """An incremental run writes only the rows it knows changed (`incremental._write`): afterwards every
    record is in `person_xref` and the state once, with one person in all three tables, every pair names
    its ends' persons, and a reviewer's match in the re-clustered region is there once, as decided."""
    landing = tmp_path / "landing"
    shutil.copytree(month["landing"], landing)
    churned_delivery(landing, "health", AS_OF + timedelta(days=30), share=0.05, seed=6)
    scratch = tmp_path / "scratch" / "w.duckdb"  # where the delivery's changed records are found
    scratch.parent.mkdir()
    shutil.copy(month["before"], scratch)
    ingest(landing, scratch)
    with db.connect(scratch, read_only=True) as con:
        # a record the delivery leaves as it was, of a person one of whose records it changes: in the region
        con.execute(f"ATTACH '{month['before']}' AS old (READ_ONLY)")
        mate, person = con.sql("""
            WITH changed AS (SELECT 'health:' || n.record_id AS r FROM staged.current_health n
                             JOIN old.staged.current_health o USING (record_id)
                             WHERE n.phone IS DISTINCT FROM o.phone),
            x AS (SELECT source || ':' || record_id AS r, person_id FROM old.person_xref)
            SELECT x.r, x.person_id FROM x WHERE x.person_id IN (SELECT person_id FROM x JOIN changed USING (r))
              AND x.r NOT LIKE 'health:%' ORDER BY 1 LIMIT 1""").fetchall()[0]
        other = con.sql("SELECT source || ':' || record_id FROM old.person_xref WHERE source = 'employment' "
                        "AND person_id <> ? ORDER BY 1 LIMIT 1", params=[person]).fetchall()[0][0]
    left, right = sorted((mate, other))

    wh = tmp_path / "w" / "w.duckdb"
    wh.parent.mkdir()
    shutil.copy(month["before"], wh)
    (wh.parent / "decisions.csv").write_text("unique_id_l,unique_id_r,decision,reviewer,note\n"
                                            f"{left},{right},match,r1,\n", encoding="utf-8")
    assert link(wh, mode="full").mode == "full"  # the decision in the stored state
    ingest(landing, wh)
    s = link(wh)
    assert s.mode == "incremental", s.why

    with db.connect(wh, read_only=True) as con:
        rows = con.sql("SELECT source || ':' || record_id, person_id FROM person_xref").fetchall()
        xref = dict(rows)
        state = con.sql("SELECT unique_id, person_id FROM linked.input").fetchall()
        links = con.sql("SELECT unique_id_l, unique_id_r, person_id_l, person_id_r, reason, linked "
                        "FROM person_link").fetchall()
        members = con.sql("SELECT person_id FROM household_member").fetchall()
        current = {r[0] for r in con.sql(" UNION ALL ".join(
            f"SELECT '{src}:' || record_id FROM staged.current_{src}" for src in SOURCES)).fetchall()}
    assert set(xref) == current and len(rows) == len(state) == len(current) and dict(state) == xref
    assert len({(a, b) for a, b, *_ in links}) == len(links)  # each pair once
    assert all(xref[a] == pa and xref[b] == pb for a, b, pa, pb, *_ in links)
    assert {p for (p,) in members} == set(xref.values()) and len(members) == len(set(xref.values()))
    decided = [row for row in links if row[:2] == (left, right)]
    assert len(decided) == 1 and decided[0][4:] == ("decision: match", True)
    assert xref[left] == xref[right]
