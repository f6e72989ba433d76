"""Stable person and household ids, carried forward between runs.

A run's clusters are new objects; the ids analysts hold are old. Each cluster takes
the old id most of its members carried (record keys such as 人员编号 persist between
deliveries); an old id goes to the one cluster holding most of its members (ties: the
cluster whose smallest member sorts first), and among a cluster's candidates the
majority wins, then the oldest id (first seen in the earliest run), then the smaller
string. A cluster with no old id gets a new one derived from its smallest member, so
the same deliveries always give the same ids, with or without a previous run. The
derivation is keyed (HMAC with the pseudonym key, `privacy.pseudonyms`): a member key
can embed an ID number (``education:G<ID>``), and an unkeyed hash would let anyone who
knows a person's ID number compute their ``person_id``.

What changed is logged as events: ``new``, ``merge`` (two old ids now one person; the
loser is retired), ``split`` (an old id's members now in several clusters; the others
got other ids) and ``retired`` (an id none of whose members is current any more).
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from privacy.pseudonyms import key_from_env

EVENT_SCHEMA = {"kind": pl.String(), "event": pl.String(), "id": pl.String(), "other_id": pl.String(),
                "members": pl.Int64(), "detail": pl.String()}
REGISTRY_SCHEMA = {"kind": pl.String(), "id": pl.String(), "first_run": pl.Int64()}


def new_id(prefix: str, seed: str, taken: set[str], key: str | None = None) -> str:
    """A deterministic id from a member key under the pseudonym key; salted on the rare collision."""
    secret = (key if key is not None else key_from_env()).encode("utf-8")
    salt = 0
    while True:
        raw = seed if salt == 0 else f"{seed}#{salt}"
        cand = prefix + hmac.new(secret, raw.encode("utf-8"), hashlib.sha256).hexdigest()[:15].upper()
        if cand not in taken:
            return cand
        salt += 1


def assign(groups: pl.DataFrame, previous: pl.DataFrame, registry: pl.DataFrame, kind: str,
           prefix: str, run: int, key: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Ids for ``groups`` (member, group) given ``previous`` (member, id).

    Returns (group → id), the events, and the updated registry of ids with first runs.
    """
    groups = groups.select("member", "group")
    reg = registry.filter(pl.col("kind") == kind)
    age = dict(zip(reg["id"], reg["first_run"], strict=True))
    votes = (groups.join(previous.select("member", pl.col("id").alias("old")), on="member", how="inner")
             .group_by("group", "old").agg(pl.len().alias("n")))
    first_member = groups.group_by("group").agg(pl.col("member").min().alias("first"),
                                                 pl.len().alias("size"))
    votes = votes.join(first_member, on="group")
    # Each old id goes to the cluster holding most of its members.
    owners = (votes.with_columns(pl.col("old").map_elements(lambda x: age.get(x, 0), return_dtype=pl.Int64)
                                 .alias("age"))
              .sort(["old", "n", "first"], descending=[False, True, False])
              .group_by("old", maintain_order=True).first())
    # Among the old ids a cluster owns: majority, then oldest, then the smaller string.
    winners = (owners.sort(["group", "n", "age", "old"], descending=[False, True, False, False])
               .group_by("group", maintain_order=True).first().select("group", pl.col("old").alias("id")))
    out = first_member.join(winners, on="group", how="left").sort("first")
    taken = set(previous["id"].unique().to_list()) | set(reg["id"].to_list()) | set(
        out["id"].drop_nulls().to_list())
    ids, events = [], []
    key = key if key is not None else key_from_env()
    for first, got, size in zip(out["first"], out["id"], out["size"], strict=True):
        if got is None:
            got = new_id(prefix, first, taken, key)
            taken.add(got)
            events.append((kind, "new", got, None, size, None))
        ids.append(got)
    out = out.with_columns(pl.Series("id", ids, dtype=pl.String)).select("group", "id", "size")

    won = owners.join(winners, left_on=["group", "old"], right_on=["group", "id"], how="inner")
    lost = owners.join(won.select("old"), on="old", how="anti")
    gid = dict(zip(out["group"], out["id"], strict=True))
    for row in lost.sort("old").iter_rows(named=True):  # merged into the cluster's winner
        events.append((kind, "merge", gid[row["group"]], row["old"], row["n"], "old id retired into this one"))
    spread = votes.join(owners.select("old", pl.col("group").alias("owner")), on="old")
    for row in spread.filter(pl.col("group") != pl.col("owner")).sort("old", "first").iter_rows(named=True):
        events.append((kind, "split", row["old"], gid[row["group"]], row["n"], "members moved to another id"))
    gone = set(previous["id"].unique().to_list()) - set(votes["old"].unique().to_list())
    for old in sorted(gone):
        events.append((kind, "retired", old, None, 0, "no current member"))

    new_reg = pl.DataFrame([{"kind": kind, "id": i, "first_run": run} for i in ids if i not in age],
                           schema=REGISTRY_SCHEMA)
    registry = pl.concat([registry, new_reg]).unique(["kind", "id"], keep="first").sort("kind", "id")
    return out, pl.DataFrame(events, schema=EVENT_SCHEMA, orient="row"), registry
