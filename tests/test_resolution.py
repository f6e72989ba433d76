"""Person and household resolution on hand-made staged records: the traps, decisions, stable ids.

Each scenario writes a few records straight into `staged.current_<source>` tables of
a fresh warehouse (the linker only reads those) and runs the real Splink model with
the versioned parameters.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingest.stage import PERSON_COLUMNS
from resolution.link import LinkConfig
from resolution.run import resolve

W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W, strict=True)) % 11]


def person(record_id: str, name: str, pinyin: str, born: date | None, sex: str | None, id_number: str | None = None,
           phone: str | None = None, township: str = "丈八街道", village: str = "东村", group: str | None = None,
           **own) -> dict:
    row = {c: None for f in PERSON_COLUMNS.values() for c in f}
    row.update(record_id=record_id, name=name, name_pinyin=pinyin, name_kind="han", sex=sex, birth_date=born,
               phone=phone, address=f"{township}{village}{group or ''}", address_township=township,
               address_village=village, address_group=group)
    if id_number:
        row.update(id_number=id_number, id_number_status="valid",
                   id_number_birth_date=date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
                   id_number_sex="M" if int(id_number[16]) % 2 else "F")
    else:
        row.update(id_number_status="blank")
    row.update(own)
    return row


OWN = {
    "civil_affairs": {"household_no": pl.String(), "relation": pl.String(), "verified_on": pl.Date()},
    "education": {"guardian_name": pl.String(), "guardian_id_number": pl.String(),
                  "guardian_id_number_status": pl.String(), "guardian_phone": pl.String(),
                  "key_id_number": pl.String(), "key_id_number_status": pl.String(),
                  "key_id_number_birth_date": pl.Date(), "key_id_number_sex": pl.String()},
}


def write_staged(path: Path, records: dict[str, list[dict]]) -> None:
    schema = {"as_of": pl.Date(), "record_id": pl.String()} | {
        c: t for f in PERSON_COLUMNS.values() for c, t in f.items()}
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS staged")
        for source, rows in records.items():
            full = schema | OWN.get(source, {})
            frame = pl.DataFrame([{k: r.get(k) for k in full} | {"as_of": date(2026, 10, 31)} for r in rows],
                                 schema=full)
            con.register("f", frame.to_arrow())
            con.execute(f"CREATE OR REPLACE TABLE staged.current_{source} AS SELECT * FROM f")
            con.unregister("f")
    finally:
        con.close()


def run(path: Path, **cfg) -> dict[str, str]:
    con = duckdb.connect(str(path))
    try:
        resolve(con, LinkConfig(**cfg), progress=lambda _m: None)
        rows = con.sql("SELECT source || ':' || record_id, person_id FROM person_xref").fetchall()
    finally:
        con.close()
    return dict(rows)


def base_records() -> dict[str, list[dict]]:
    """Ordinary people who must link, plus the traps that must not."""
    d1, d2 = date(1950, 3, 4), date(2012, 6, 1)
    old = make_id("610113", d1, 123)
    twin_a, twin_b = make_id("610113", d2, 451), make_id("610113", d2, 453)
    guardian = make_id("610113", date(1982, 9, 9), 222)
    rows: dict[str, list[dict]] = {"civil_affairs": [], "health": [], "education": [], "employment": []}
    rows["civil_affairs"] += [
        person("C1", "王秀英", "wang xiu ying", d1, "F", old, "13800000001", household_no="H1", relation="户主"),
        person("C2", "李建国", "li jian guo", date(1982, 9, 9), "M", guardian, "13800000002", household_no="H2",
               relation="户主"),
    ]
    rows["health"] += [
        person("H1", "王秀英", "wang xiu ying", d1, "F", None, "13800000001"),  # no ID: links on the rest
        person("H2", "李明", "li ming", d2, "M", twin_a, "13800000002"),
        person("H3", "李亮", "li liang", d2, "M", twin_b, "13800000002"),
        # namesakes born the same day, different valid IDs and villages
        person("H4", "张伟", "zhang wei", date(1990, 1, 1), "M", make_id("610113", date(1990, 1, 1), 11),
               "13900000004", village="西村"),
        person("H5", "张伟", "zhang wei", date(1990, 1, 1), "M", make_id("610112", date(1990, 1, 1), 57),
               "13900000005", township="鱼化寨街道", village="南村"),
    ]
    rows["education"] += [
        person("E1", "李明", "li ming", d2, "M", twin_a, "13800000002", guardian_name="李建国",
               guardian_id_number=guardian, guardian_id_number_status="valid", guardian_phone="13800000002"),
        person("E2", "李亮", "li liang", d2, "M", twin_b, "13800000002", guardian_name="李建国",
               guardian_id_number=guardian, guardian_id_number_status="valid", guardian_phone="13800000002"),
        # the guardian's ID typed in the child's field
        person("E3", "李小红", "li xiao hong", date(2015, 2, 2), "F", guardian, "13800000002",
               guardian_name="李建国", guardian_phone="13800000002"),
    ]
    rows["employment"] += [
        person("M1", "李建国", "li jian guo", date(1982, 9, 9), "M", guardian, "13800000002"),
    ]
    # background population so the model's prior and term frequencies are not degenerate
    for i in range(60):
        born = date(1960 + i % 40, 1 + i % 12, 1 + i % 28)
        pid = make_id("610113", born, 300 + i)
        rows["health"].append(person(f"HB{i}", f"赵{'一二三四五六七八九十'[i % 10]}{i}", f"zhao x{i}", born, "M",
                                     pid, f"1370000{i:04d}", village=f"{i % 7}村"))
        rows["employment"].append(person(f"MB{i}", f"赵{'一二三四五六七八九十'[i % 10]}{i}", f"zhao x{i}", born,
                                         "M", pid, f"1370000{i:04d}", village=f"{i % 7}村"))
    return rows


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    write_staged(path, base_records())
    return path


def test_people_link_and_traps_stay_apart(warehouse: Path) -> None:
    ids = run(warehouse)
    assert ids["civil_affairs:C1"] == ids["health:H1"], "same person without an ID must link"
    assert ids["health:H2"] == ids["education:E1"] and ids["health:H3"] == ids["education:E2"]
    assert ids["health:H2"] != ids["health:H3"], "twins merged"
    assert ids["health:H4"] != ids["health:H5"], "namesakes with the same birth date merged"
    assert ids["education:E3"] != ids["civil_affairs:C2"], "guardian's ID merged a child into the guardian"
    assert ids["civil_affairs:C2"] == ids["employment:M1"]
    assert ids["health:HB3"] == ids["employment:MB3"]


def test_every_person_in_exactly_one_household(warehouse: Path) -> None:
    run(warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        persons = {r[0] for r in con.sql("SELECT DISTINCT person_id FROM person_xref").fetchall()}
        members = con.sql("SELECT person_id, count(*) FROM household_member GROUP BY 1").fetchall()
        hh = dict(con.sql("SELECT person_id, household_id FROM household_member").fetchall())
        ids = dict(con.sql("SELECT source || ':' || record_id, person_id FROM person_xref").fetchall())
    finally:
        con.close()
    assert {m for m, _ in members} == persons and all(n == 1 for _, n in members)
    # the twins join their guardian's civil-affairs household through the education guardian link
    assert hh[ids["education:E1"]] == hh[ids["education:E2"]] == hh[ids["civil_affairs:C2"]]


def test_decisions_beat_the_model(warehouse: Path, tmp_path: Path) -> None:
    before = run(warehouse)
    assert before["civil_affairs:C1"] == before["health:H1"]
    decisions = tmp_path / "decisions.csv"
    with open(decisions, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unique_id_l", "unique_id_r", "decision", "reviewer", "note"])
        w.writerow(["health:H1", "civil_affairs:C1", "non_match", "r1", "different person, checked on site"])
        w.writerow(["health:H4", "health:H5", "match", "r1", "forced for the test"])
    after = run(warehouse, decisions=decisions)
    assert after["civil_affairs:C1"] != after["health:H1"]
    assert after["health:H4"] == after["health:H5"]


def test_ids_stable_across_reruns_and_a_new_delivery(warehouse: Path) -> None:
    first = run(warehouse)
    again = run(warehouse)
    assert first == again
    rows = base_records()
    rows["health"] = [r for r in rows["health"] if r["record_id"] != "HB5"]  # one record gone
    rows["health"].append(person("H9", "周新", "zhou xin", date(1999, 9, 9), "F", None, "13600000009"))
    write_staged(warehouse, rows)
    later = run(warehouse)
    kept = [k for k in first if k in later]
    assert all(first[k] == later[k] for k in kept)
    con = duckdb.connect(str(warehouse))
    try:
        events = con.sql("SELECT run, kind, event FROM id_events").fetchall()
    finally:
        con.close()
    last = max(r for r, _, _ in events)  # the unchanged rerun was skipped, so the new delivery is the next run
    assert last == 2
    assert ("person", "new") in {(k, e) for r, k, e in events if r == last}


def test_households_from_dwellings_not_from_village_groups(tmp_path: Path) -> None:
    """A shared dwelling (house number, room) makes a household; a shared …村5组 does not."""
    rows = base_records()
    born = date(1970, 5, 5)
    rows["health"] += [
        person("D1", "赵大山", "zhao da shan", born, "M", None, "13500000001", address="丈八街道东村3组12号"),
        person("D2", "钱二妹", "qian er mei", date(1972, 1, 1), "F", None, "13500000002",
               address="陕西省西安市雁塔区丈八街道东村3组12号"),
        person("G1", "孙三强", "sun san qiang", born, "M", None, "13500000003", group="5组"),
        person("G2", "李四芳", "li si fang", date(1971, 2, 2), "F", None, "13500000004", group="5组"),
    ]
    path = tmp_path / "wh.duckdb"
    write_staged(path, rows)
    ids = run(path)
    con = duckdb.connect(str(path))
    try:
        hh = dict(con.sql("SELECT person_id, household_id FROM household_member").fetchall())
        rule = dict(con.sql("SELECT person_id, rule FROM household_member").fetchall())
    finally:
        con.close()
    assert hh[ids["health:D1"]] == hh[ids["health:D2"]], "same dwelling, written with and without province"
    assert rule[ids["health:D1"]] == "address"
    assert hh[ids["health:G1"]] != hh[ids["health:G2"]], "a village group is no household"


def test_twins_without_ids_and_damaged_ids(tmp_path: Path) -> None:
    """No-ID twins (same birth date, phone, dwelling) stay two people; a spreadsheet-damaged
    ID (first 14 digits right, tail garbage, check digit wrong) still links its owner."""
    rows = base_records()
    born = date(2025, 3, 3)
    home = "丈八街道东村2组7号"
    rows["health"] += [
        person("T1", "周子轩", "zhou zi xuan", born, "M", None, "13600000001", address=home),
        person("T2", "周雨欣", "zhou yu xin", born, "F", None, "13600000001", address=home),
    ]
    rows["education"] += [
        person("T3", "周子轩", "zhou zi xuan", born, "M", None, "13600000001", address=home),
    ]
    owner = make_id("610113", date(1962, 3, 4), 793)
    rows["health"].append(person("O1", "马国强", "ma guo qiang", date(1962, 3, 4), "M", owner, "13600000009"))
    rows["housing"] = [person("O2", "马国强", "ma guo qiang", None, None, owner[:14] + "7936", "13600000009",
                              id_number_status="bad_check")]
    path = tmp_path / "wh.duckdb"
    write_staged(path, rows)
    ids = run(path)
    assert ids["health:T1"] != ids["health:T2"], "twins without IDs merged"
    assert ids["health:T1"] == ids["education:T3"]
    assert ids["health:O1"] == ids["housing:O2"], "spreadsheet-damaged ID did not link"


def test_versioned_parameters_are_trained_and_sane() -> None:
    """The JSON in the repo comes from generated data, and the trap levels weigh against a match."""
    import json

    from resolution.model import PARAMS_PATH

    params = json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
    assert "PLACEHOLDER" not in params["trained_on"] and "hhlink generate" in params["trained_on"]
    levels = params["levels"]
    assert levels["id|same region and birth date, other sequence (twins)"]["weight"] < 0
    assert levels["name|different name"]["weight"] < -5
    assert levels["id|same ID"]["weight"] > 10 and levels["place|same dwelling"]["weight"] > 5
    assert all(v["m"] is not None and v["u"] is not None for v in levels.values())


def test_forced_match_beside_a_guarded_pair(warehouse: Path, tmp_path: Path) -> None:
    """A reviewer's match that puts two valid IDs in one person is re-clustered without
    tripping over guarded pairs that lead out of that person (namesake H5 of H4)."""
    decisions = tmp_path / "decisions.csv"
    with open(decisions, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unique_id_l", "unique_id_r", "decision", "reviewer", "note"])
        w.writerow(["health:H4", "employment:MB1", "match", "r1", "forced for the test"])
    ids = run(warehouse, decisions=decisions)
    assert ids["health:H4"] == ids["employment:MB1"]
    assert ids["health:H4"] != ids["health:H5"]


def test_the_id_inside_a_student_number_names_the_student(tmp_path: Path) -> None:
    """学籍号 G + own ID: a record whose ID column holds the guardian's ID (and no birth date to
    expose it) or is blank still links to the student's other records, never to the guardian."""
    rows = base_records()
    kid_a, kid_b = date(2016, 4, 4), date(2014, 8, 8)
    id_a, id_b = make_id("610113", kid_a, 611), make_id("610113", kid_b, 622)
    guardian = rows["civil_affairs"][1]["id_number"]

    def key(own: str) -> dict:
        return {"key_id_number": own, "key_id_number_status": "valid", "key_id_number_sex": "F",
                "key_id_number_birth_date": date(int(own[6:10]), int(own[10:12]), int(own[12:14]))}

    rows["health"] += [
        person("K1", "李雨涵", "li yu han", kid_a, "F", id_a, "13800000002"),
        person("K2", "李思琪", "li si qi", kid_b, "F", id_b, "13800000002"),
    ]
    rows["education"] += [
        person(f"G{id_a}", "李雨涵", "li yu han", None, None, guardian, "13800000002", **key(id_a)),
        person(f"G{id_b}", "李思琪", "li si qi", None, "F", None, "13800000009", **key(id_b)),
    ]
    path = tmp_path / "wh.duckdb"
    write_staged(path, rows)
    ids = run(path)
    assert ids[f"education:G{id_a}"] == ids["health:K1"], "guardian's ID in the column hid the student"
    assert ids[f"education:G{id_a}"] != ids["civil_affairs:C2"], "student merged into the guardian"
    assert ids[f"education:G{id_b}"] == ids["health:K2"], "blank ID column, ID in the key: not linked"


def test_a_zero_tailed_id_that_passes_the_check_still_links_its_owner(tmp_path: Path) -> None:
    """Excel keeps 15 digits: ``…1234567`` becomes ``…1234000``, and 1 in 11 such tails pass the
    check digit. Such an ID and the owner's true one are one person, not two valid IDs."""
    from datetime import timedelta

    born = date(2013, 5, 4)
    while not make_id("610305", born, 100).endswith("000"):  # seq 100 with check digit 0
        born += timedelta(days=1)
    true_id, damaged = make_id("610305", born, 136), make_id("610305", born, 100)
    assert true_id[:15] == damaged[:15] and damaged.endswith("000")
    rows = base_records()
    rows["education"].append(person("Z1", "高梅", "gao mei", None, "F", true_id, None, group="4组"))
    rows["health"].append(person("Z2", "高梅", "gao mei", born, "F", damaged, "13647767352", group="4组"))
    path = tmp_path / "wh.duckdb"
    write_staged(path, rows)
    ids = run(path)
    assert ids["education:Z1"] == ids["health:Z2"], "a zero-tailed damaged ID kept its owner apart"
    assert ids["health:H2"] != ids["health:H3"], "twins merged"


def test_evidence_bridging_two_civil_households_never_fuses_them() -> None:
    """Two civil-affairs households bridged by a shared phone, and through a third person by a
    dwelling and another phone, stay two. The bridge person PC joins H1, whose dwelling
    evidence is stronger than the phone PC shares with H2's PB2 and with PD; PD joins H2
    through that phone. A household without civil affairs is named after its smallest
    person key; a person alone is single."""
    from resolution.households import build_households

    # person key: (phone, dwelling address); PA* and PB* are on the rolls of households H1 and H2
    people = {"PA1": (None, "丈八街道东村5号"), "PA2": ("13900000001", None),
              "PB1": ("13900000001", None), "PB2": ("13900000002", None),
              "PC": ("13900000002", "丈八街道东村5号"), "PD": ("13900000002", None),
              "PE": (None, "丈八街道西村7号"), "PF": (None, "丈八街道西村7号"), "PG": ("13900000009", None)}
    con = duckdb.connect()
    try:
        con.sql("CREATE TABLE hh_input AS SELECT * FROM (VALUES " + ", ".join(
            f"('health:{k}', 'health', {repr(v[0]) if v[0] else 'NULL'}, {repr(v[1]) if v[1] else 'NULL'})"
            for k, v in people.items()) + ") t(unique_id, source_dataset, phone, address_key)")
        con.execute("ALTER TABLE hh_input ADD COLUMN id VARCHAR")
        con.execute("ALTER TABLE hh_input ADD COLUMN name VARCHAR")
        con.execute("ALTER TABLE hh_input ADD COLUMN address_dwelling BOOLEAN DEFAULT TRUE")
        con.execute("ALTER TABLE hh_input ADD COLUMN address_registered BOOLEAN DEFAULT FALSE")
        con.execute("CREATE TABLE hh_person AS SELECT unique_id, split_part(unique_id, ':', 2) AS person_key "
                    "FROM hh_input")
        civil = pl.DataFrame({"unique_id": ["health:PA1", "health:PA2", "health:PB1", "health:PB2"],
                              "household_no": ["H1", "H1", "H2", "H2"], "relation": ["户主"] * 4,
                              "verified_on": [date(2026, 1, 1)] * 4})
        units = build_households(con, {"civil": civil})
    finally:
        con.close()
    got = {r["person_key"]: (r["unit"], r["rule"]) for r in units.iter_rows(named=True)}
    assert got == {"PA1": ("CA:H1", "civil_affairs"), "PA2": ("CA:H1", "civil_affairs"),
                   "PB1": ("CA:H2", "civil_affairs"), "PB2": ("CA:H2", "civil_affairs"),
                   "PC": ("CA:H1", "address"), "PD": ("CA:H2", "phone"),
                   "PE": ("A:PE", "address"), "PF": ("A:PE", "address"), "PG": ("S:PG", "single")}


def test_a_new_id_already_taken_is_salted_and_the_others_are_not() -> None:
    """New ids are the keyed hash of a cluster's smallest member, made in that members' order;
    one that an old id already holds is salted (``member#1``), exactly as `ids.new_id` does."""
    from resolution import ids

    key = "test-key"
    held = ids.new_id("P", "a:1", set(), key)  # the id the first cluster would get, held by a departed person
    groups = pl.DataFrame({"member": ["a:1", "a:2", "b:1"], "group": ["g1", "g1", "g2"]})
    previous = pl.DataFrame({"member": ["gone:1"], "id": [held]})
    out, events, registry = ids.assign(groups, previous, pl.DataFrame(schema=ids.REGISTRY_SCHEMA), "person", "P", 2,
                                       key=key)
    got = dict(zip(out["group"], out["id"], strict=True))
    assert got["g1"] == ids.new_id("P", "a:1", {held}, key) != held
    assert got["g2"] == ids.new_id("P", "b:1", set(), key)
    assert events.select("event", "id", "members").rows() == [("new", got["g1"], 2), ("new", got["g2"], 1),
                                                              ("retired", held, 0)]
    assert registry.rows() == sorted([("person", got["g1"], 2), ("person", got["g2"], 2)])


def test_a_new_record_bridging_two_persons_moves_their_stored_pairs_to_the_merged_person(tmp_path: Path) -> None:
    """Linked incrementally, a new record that is both persons merges them; the merged person keeps the id
    of the larger, and the smaller one's stored pair, decided as before, names that id (`incremental._write`
    rewrites stored pairs whose persons changed, not only those whose decision did)."""
    wh = tmp_path / "wh.duckdb"
    born, here, there = date(1975, 5, 5), {"village": "东村"}, {"township": "鱼化寨街道", "village": "西村"}
    q_id = make_id("610112", born, 88)
    rows = base_records()
    rows["employment"].append(person("PA", "王芳", "wang fang", born, "F", None, "13500000001", **here))
    rows["civil_affairs"].append(person("PB", "王芳", "wang fang", born, "F", None, "13500000001", **here))
    for source, rid in (("health", "QH"), ("employment", "QE"), ("civil_affairs", "QC"), ("education", "QD")):
        rows[source].append(person(rid, "王芳", "wang fang", born, "F", q_id, "13500000009", **there))
    write_staged(wh, rows)
    first = run(wh)
    assert first["employment:PA"] == first["civil_affairs:PB"] != first["health:QH"]
    rows["health"].append(person("HX", "王芳", "wang fang", born, "F", q_id, "13500000001", **here))
    write_staged(wh, rows)
    con = duckdb.connect(str(wh))
    try:
        s = resolve(con, LinkConfig(), progress=lambda _m: None)
        xref = dict(con.sql("SELECT source || ':' || record_id, person_id FROM person_xref").fetchall())
        links = con.sql("SELECT unique_id_l, unique_id_r, person_id_l, person_id_r, reason, linked "
                        "FROM person_link").fetchall()
    finally:
        con.close()
    assert s.mode == "incremental", s.why
    assert {xref[r] for r in ("employment:PA", "civil_affairs:PB", "health:HX", "health:QH")} == {first["health:QH"]}
    assert ("civil_affairs:PB", "employment:PA", first["health:QH"], first["health:QH"], "model", True) in links
    assert all(xref[a] == pa and xref[b] == pb for a, b, pa, pb, *_ in links)
