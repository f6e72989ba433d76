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


def unsalted_ids(prefix: str, seeds: list[str], key: str | None = None) -> list[str]:
    """`new_id` without salt for many seeds (the ids their groups take unless one collides): the keyed state
    is set up once and copied per seed."""
    base = hmac.new((key if key is not None else key_from_env()).encode("utf-8"), digestmod=hashlib.sha256)
    out = []
    for seed in seeds:
        h = base.copy()
        h.update(seed.encode("utf-8"))
        out.append(prefix + h.hexdigest()[:15].upper())
    return out


def new_id(prefix: str, seed: str, taken: set[str], key: str | None = None) -> str:
    """A deterministic id from a member key under the pseudonym key; salted on the rare collision."""
    salt = 0
    while True:
        cand = unsalted_ids(prefix, [seed if salt == 0 else f"{seed}#{salt}"], key)[0]
        if cand not in taken:
            return cand
        salt += 1


def _fresh_ids(prefix: str, firsts: pl.Series, taken: list[pl.Series], key: str | None) -> list[str]:
    """New ids for groups with these smallest members (in this order), none of them in ``taken``.

    Without a collision each is the unsalted `new_id` of its member. If any unsalted id is
    taken or two coincide, the ids are made one by one with `new_id` in this order, each
    new id taken for the ones after it: the rule the ids were always made by.
    """
    if firsts.is_empty():
        return []
    key = key if key is not None else key_from_env()
    cands = pl.Series(unsalted_ids(prefix, firsts.to_list(), key), dtype=pl.String)
    held_ids = pl.concat([t.cast(pl.String) for t in taken])
    if not (cands.is_in(held_ids).any() or cands.is_duplicated().any()):
        return cands.to_list()
    held = set(held_ids.to_list())
    ids = []
    for first in firsts.to_list():
        got = new_id(prefix, first, held, key)
        held.add(got)
        ids.append(got)
    return ids


def assign(groups: pl.DataFrame, previous: pl.DataFrame, registry: pl.DataFrame, kind: str,
           prefix: str, run: int, key: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Ids for ``groups`` (member, group) given ``previous`` (member, id).

    Returns (group → id), the events, and the updated registry of ids with first runs.
    """
    groups = groups.select("member", "group")
    reg = registry.filter(pl.col("kind") == kind)
    age = reg.select(pl.col("id").alias("old"), pl.col("first_run").alias("age")).unique(
        "old", keep="last", maintain_order=True)
    # These two aggregations run lazily: polars' lazy engine aggregates strings in about 60% of the eager
    # engine's time here (polars 2.1, 2.15M members); the steps after them are faster eager.
    first_member = (groups.lazy().group_by("group").agg(pl.col("member").min().alias("first"), pl.len().alias("size"))
                    .collect())
    votes = (groups.lazy().join(previous.lazy().select("member", pl.col("id").alias("old")), on="member")
             .group_by("group", "old").agg(pl.len().alias("n")).collect()).join(first_member, on="group")
    # Each old id goes to the cluster holding most of its members.
    owners = (votes.join(age, on="old", how="left").with_columns(pl.col("age").fill_null(0))
              .sort(["old", "n", "first"], descending=[False, True, False])
              .group_by("old", maintain_order=True).first())
    # Among the old ids a cluster owns: majority, then oldest, then the smaller string.
    winners = (owners.sort(["group", "n", "age", "old"], descending=[False, True, False, False])
               .group_by("group", maintain_order=True).first().select("group", pl.col("old").alias("id")))
    known = first_member.join(winners, on="group", how="inner")
    # A cluster without an old id gets a new one; they are made in the order of the clusters' smallest members.
    fresh = first_member.join(winners, on="group", how="anti").sort("first")
    taken = [previous["id"], reg["id"], known["id"]]
    fresh = fresh.with_columns(pl.Series("id", _fresh_ids(prefix, fresh["first"], taken, key), dtype=pl.String))
    out = pl.concat([known.select("group", "id", "size"), fresh.select("group", "id", "size")])

    gid = out.select("group", pl.col("id").alias("gid"))
    lost = owners.join(winners, on="group").filter(pl.col("old") != pl.col("id"))  # owned, but not the winner
    spread = votes.join(owners.select("old", pl.col("group").alias("owner")), on="old")
    gone = (previous.select(pl.col("id").cast(pl.String))
            .join(owners.select(pl.col("old").alias("id")), on="id", how="anti").unique().sort("id"))
    none = pl.lit(None, dtype=pl.String)
    events = pl.concat([
        fresh.select(pl.lit("new").alias("event"), "id", none.alias("other_id"),
                     pl.col("size").cast(pl.Int64).alias("members"), none.alias("detail")),
        lost.sort("old").select(  # merged into the cluster's winner
            pl.lit("merge").alias("event"), "id", pl.col("old").alias("other_id"),
            pl.col("n").cast(pl.Int64).alias("members"), pl.lit("old id retired into this one").alias("detail")),
        spread.filter(pl.col("group") != pl.col("owner")).sort("old", "first").join(
            gid, on="group", maintain_order="left").select(
            pl.lit("split").alias("event"), pl.col("old").alias("id"), pl.col("gid").alias("other_id"),
            pl.col("n").cast(pl.Int64).alias("members"), pl.lit("members moved to another id").alias("detail")),
        gone.select(pl.lit("retired").alias("event"), "id", none.alias("other_id"),
                    pl.lit(0, dtype=pl.Int64).alias("members"), pl.lit("no current member").alias("detail")),
    ]).select(pl.lit(kind).alias("kind"), pl.all()).cast(EVENT_SCHEMA)

    new_reg = (out.join(age, left_on="id", right_on="old", how="anti", maintain_order="left")
               .select(pl.lit(kind).alias("kind"), "id", pl.lit(run, dtype=pl.Int64).alias("first_run")))
    return out, events, _registered(registry, new_reg.cast(REGISTRY_SCHEMA), kind)


def _registered(registry: pl.DataFrame, new: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The registry with ``new`` rows of ``kind`` added: one row per (kind, id), sorted by both.

    The new ids are distinct and none is in the registry under ``kind`` (`assign` made them
    so). A registry already strictly in (kind, id) order, as `assign` leaves it, therefore
    takes them by a merge of sorted runs; sorting all of it again cost seconds at 1M ids.
    Any other registry is deduplicated (first row wins) and sorted whole.
    """
    ordered = registry.height < 2 or registry.select(
        ((pl.col("kind") > pl.col("kind").shift()) | ((pl.col("kind") == pl.col("kind").shift())
                                                       & (pl.col("id") > pl.col("id").shift())))
        .slice(1).fill_null(False).all()
    ).item()
    if not ordered:
        return pl.concat([registry, new]).unique(["kind", "id"], keep="first").sort("kind", "id")
    same = registry.filter(pl.col("kind") == kind).merge_sorted(new.sort("id"), key="id")
    return pl.concat([registry.filter(pl.col("kind") < kind), same, registry.filter(pl.col("kind") > kind)])
