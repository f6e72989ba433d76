"""Resolution end to end on a small generated landing zone, scored against its truth."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from resolution.evaluate import evaluate


@pytest.fixture(scope="module")
def linked(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.runner import run_pipeline

    wh = tmp_path_factory.mktemp("linked") / "wh.duckdb"
    run_pipeline(generated / "landing", wh, as_of="2026-10-31")
    return wh


def _tables(wh: Path) -> tuple[list, list]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return (con.sql("SELECT source, record_id, person_id FROM person_xref ORDER BY ALL").fetchall(),
                con.sql("SELECT household_id, person_id FROM household_member ORDER BY ALL").fetchall())
    finally:
        con.close()


def test_accuracy_on_generated_data(generated: Path, linked: Path) -> None:
    report = evaluate(generated / "truth", linked)
    assert report.person_pairwise.f1 >= 0.98, report.render()
    assert report.household_pairwise.f1 >= 0.85, report.render()


def test_rerun_gives_identical_tables(generated: Path, linked: Path) -> None:
    from pipelines.runner import run_pipeline

    before = _tables(linked)
    run_pipeline(generated / "landing", linked, as_of="2026-10-31")
    assert _tables(linked) == before
    xref, members = before
    persons = {p for _, _, p in xref}
    assert {p for _, p in members} == persons and len(members) == len(persons)


def test_a_large_zone_is_scored_in_smaller_chunks_with_more_linkage_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sizes the 5M-person zone (10.7M records) completed with are the defaults above 3M records;
    a county-sized zone is scored in one go under the smaller cap; the environment overrides both."""
    from resolution.link import link_memory, predict_chunks

    monkeypatch.delenv("HHLINK_PREDICT_CHUNK_RECORDS", raising=False)
    monkeypatch.delenv("HHLINK_LINK_MEMORY", raising=False)
    assert (predict_chunks(2_153_345), link_memory(2_153_345)) == (1, "3GB")  # 1M persons
    assert (predict_chunks(10_700_000), link_memory(10_700_000)) == (8, "6GB")  # 5M persons
    monkeypatch.setenv("HHLINK_PREDICT_CHUNK_RECORDS", "1000000")
    monkeypatch.setenv("HHLINK_LINK_MEMORY", "4GB")
    assert (predict_chunks(2_153_345), link_memory(2_153_345)) == (3, "4GB")


def test_chunked_scoring_gives_the_same_persons(generated: Path, linked: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Very large zones score their pairs in chunks (`link.predict_chunks`); the persons must not change."""
    from ingest import db
    from resolution.link import LinkConfig, predict_chunks
    from resolution.run import resolve

    monkeypatch.setenv("HHLINK_PREDICT_CHUNK_RECORDS", "2000")
    wh = tmp_path / "wh.duckdb"
    wh.write_bytes(linked.read_bytes())
    said: list[str] = []
    with db.connect(wh) as con:
        records = con.sql("SELECT count(*) FROM person_xref").fetchall()[0][0]
        assert predict_chunks(records) > 1
        con.execute("UPDATE linked.resolution_runs SET inputs_fingerprint = 'rerun'")  # else it is skipped
        resolve(con, LinkConfig(), progress=said.append, mode="full")
    assert any("chunks" in line for line in said)
    assert _tables(wh) == _tables(linked)
