"""Atomic publication: the published warehouse file is only ever replaced whole.

Every asset writes to a private working database beside the published file,
``<dir>/.<name>.work/work.duckdb``; it persists between runs (raw history, the
delivery log and the id registry live there). The last step copies it into
``<name>.tmp-<run>``, fsyncs it and ``os.replace``s it onto the published name, so a
reader of the published file (opened read-only) sees the previous warehouse or the
new one, never a half-written one, and is never locked out: the writer never opens
the published file. A run killed at any point leaves the published file as it was;
the working database is at its last committed transaction (one per asset).

Two ways to make the copy, measured in docs/reliability.md: ``"file"`` (CHECKPOINT the
working database, then copy its bytes; the default, faster) and ``"attach"``
(``ATTACH`` + ``COPY FROM DATABASE``: rewrites a compact file, slower).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.testhook import pause_point

WORK_DIR_SUFFIX = ".work"
WORK_NAME = "work.duckdb"
METHODS = ("file", "attach")


@dataclass(frozen=True)
class Published:
    path: Path
    bytes: int
    seconds: float
    method: str


def work_path(published: str | Path) -> Path:
    """Where the working database of this published warehouse lives (a hidden folder beside it)."""
    p = Path(published)
    return p.parent / f".{p.name}{WORK_DIR_SUFFIX}" / WORK_NAME


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(src: Path, dst: Path) -> None:
    """fsync src, rename it onto dst, fsync the folder: the rename survives a power cut."""
    _fsync(src)
    os.replace(src, dst)
    _fsync(dst.parent)


def ensure_work(published: str | Path) -> Path:
    """The working database path, seeded from the published file when there is no working copy yet.

    A warehouse published before working databases existed (or whose hidden folder was
    deleted) keeps its raw history and ids: the first run starts from a copy of it.
    """
    published = Path(published)
    work = work_path(published)
    if work.exists():
        return work
    work.parent.mkdir(parents=True, exist_ok=True)
    if published.exists():
        tmp = work.with_name(WORK_NAME + ".seed")
        shutil.copyfile(published, tmp)
        _replace(tmp, work)
    return work


def _stale_tmps(published: Path) -> list[Path]:
    return sorted(published.parent.glob(f"{published.name}.tmp-*"))


def _copy_file(work: Path, tmp: Path) -> None:
    con = duckdb.connect(str(work))
    try:
        con.execute("CHECKPOINT")  # everything committed is in the main file; no WAL left to copy
    finally:
        con.close()
    shutil.copyfile(work, tmp)


def _copy_attach(work: Path, tmp: Path) -> None:
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{work}' AS hh_src (READ_ONLY)")
        con.execute(f"ATTACH '{tmp}' AS hh_pub")
        con.execute("COPY FROM DATABASE hh_src TO hh_pub")
        con.execute("DETACH hh_pub")
        con.execute("DETACH hh_src")
    finally:
        con.close()


def publish(published: str | Path, run_id: str, method: str = "file",
            companions: Sequence[tuple[Path, Path]] = ()) -> Published:
    """Copy the working database into `<published>.tmp-<run_id>` and swap it onto `published`.

    `companions` are (ready file, published name) pairs built from the same working
    database (the analyst database): they are renamed right after the warehouse, so a
    run killed before the swap leaves all of them as they were.
    """
    if method not in METHODS:
        raise ValueError(f"unknown publish method {method!r}; one of {METHODS}")
    published = Path(published)
    work = work_path(published)
    if not work.exists():
        raise FileNotFoundError(f"no working database at {work}: nothing to publish")
    t0 = time.perf_counter()
    for old in _stale_tmps(published):  # left by a run killed while publishing; one writer at a time
        old.unlink(missing_ok=True)
    tmp = published.with_name(f"{published.name}.tmp-{run_id}")
    (_copy_file if method == "file" else _copy_attach)(work, tmp)
    pause_point("publish")
    for ready, _ in companions:  # on disk before any rename: the renames then follow each other at once
        _fsync(ready)
    # A WAL beside the published name would be replayed into the new file by the next read-write open.
    for name in (published, *(name for _, name in companions)):
        name.with_name(name.name + ".wal").unlink(missing_ok=True)
    _replace(tmp, published)
    for ready, name in companions:
        os.replace(ready, name)
        _fsync(name.parent)
    return Published(published, published.stat().st_size, time.perf_counter() - t0, method)
