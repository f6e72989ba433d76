"""Synthetic population, department deliveries and their ground truth (``hhlink generate``).

``generate(persons, seed, out)`` writes ``<out>/landing/<source>/<as_of>/<file>`` in the
form CONTRACT §1 describes (messy values, three file formats, three CSV encodings,
split files, some manifests, two deliveries for the monthly sources, a stale housing
extract) and the truth beside it in ``<out>/truth/`` (records, persons, households,
findings, hardship). Same seed, same bytes. Modules:

- ``geography``: the prefecture (counties, townships, villages, addresses);
- ``names``: surnames, given names, minority and Latin names, typos, traditional forms;
- ``population`` and ``attributes``: households, people and what departments know;
- ``deliveries``: who appears in which source, injected problems, churn;
- ``messy`` and ``render``: clean values to delivered text, driven by the configs;
- ``findings``: the problems the newest deliveries show, by rule;
- ``writers``: CSV/XLSX/Parquet files and manifests;
- ``chunks``: large populations one chunk of households at a time (``docs/generator.md``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ingest.sources import load_sources
from synth import attributes, deliveries, findings, geography, messy, population, writers
from synth.chunks import Chunk, chunk_persons_from_env, chunk_sizes
from synth.deliveries import Arrays
from synth.profiles import PROFILES, Profile, get_profile, scaled
from synth.render import Style, render
from synth.rng import pick, stream

__all__ = ["PROFILES", "DeliverySummary", "GenerateSummary", "default_as_of", "generate"]

SOURCES = ("civil_affairs", "education", "health", "housing", "employment")
#: how careful each department's data entry is (multiplies the messy-value rates)
_CARE = {"civil_affairs": 1.3, "education": 1.0, "health": 0.7, "housing": 1.5, "employment": 0.8}
#: delivery dates as months before the reference date (0 = the reference date itself)
_MONTHS_BACK = {"civil_affairs": (0, 1), "employment": (0, 1), "health": (0,), "education": (1,), "housing": (7,)}


@dataclass(frozen=True)
class DeliverySummary:
    source: str
    as_of: date
    format: str
    encoding: str | None
    files: tuple[Path, ...]
    rows: int
    manifest: bool


@dataclass
class GenerateSummary:
    out: Path
    landing: Path
    truth: Path
    persons: int
    households: int
    seed: int
    profile: str
    as_of: date
    deliveries: list[DeliverySummary] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)        # newest delivery rows per source
    findings: dict[str, int] = field(default_factory=dict)
    hardship_households: int = 0

    @property
    def total_records(self) -> int:
        return sum(d.rows for d in self.deliveries)

    def describe(self) -> str:
        """A short human summary for the command line."""
        lines = [f"generated {self.persons:,} persons in {self.households:,} households "
                 f"({self.profile}, seed {self.seed}, as of {self.as_of})"]
        for d in sorted(self.deliveries, key=lambda d: (d.source, d.as_of)):
            enc = f" {d.encoding}" if d.encoding else ""
            man = " +manifest" if d.manifest else ""
            lines.append(f"  {d.source:<14} {d.as_of}  {d.rows:>9,} rows  {len(d.files)} {d.format}{enc}{man}")
        lines.append("  findings injected: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.findings.items())))
        lines.append(f"  hardship households without assistance: {self.hardship_households:,}")
        lines.append(f"landing zone: {self.landing}\ntruth:        {self.truth}")
        return "\n".join(lines)


def default_as_of(today: date | None = None) -> date:
    """The last day of the previous month."""
    t = today or date.today()
    return t.replace(day=1) - timedelta(days=1)


def _month_end(d: date, back: int) -> date:
    if back == 0:
        return d
    y, m = d.year, d.month - back
    while m <= 0:
        y, m = y - 1, m + 12
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return nxt - timedelta(days=1)


@dataclass(frozen=True)
class _Plan:
    dates: dict[str, tuple[date, ...]]          # newest first
    fmt: dict[str, str]
    encoding: dict[tuple[str, date], str | None]
    manifest: dict[tuple[str, date], bool]
    style: dict[str, Style]


def _plan(seed: int, as_of: date) -> _Plan:
    """Formats, encodings, manifests and each system's habits, chosen per seed.

    XLSX goes to a smaller source (civil affairs or housing: XLSX is slow to write),
    Parquet to one other, CSV to the rest, with UTF-8, UTF-8 with BOM and GB18030 each
    used at least once.
    """
    rng = stream(seed, "plan")
    xlsx = ("civil_affairs", "housing")[int(rng.integers(2))]
    rest = [s for s in SOURCES if s != xlsx]
    parquet = rest[int(rng.integers(len(rest)))]
    fmt = {s: "xlsx" if s == xlsx else "parquet" if s == parquet else "csv" for s in SOURCES}
    dates = {s: tuple(_month_end(as_of, k) for k in _MONTHS_BACK[s]) for s in SOURCES}
    keys = [(s, d) for s in SOURCES for d in dates[s]]
    csv_keys = [k for k in keys if fmt[k[0]] == "csv"]
    encs = ["utf-8", "utf-8-sig", "gb18030"]
    order = list(rng.permutation(len(encs)))
    chosen = [encs[order[i]] if i < 3 else encs[int(rng.integers(3))] for i in range(len(csv_keys))]
    encoding: dict[tuple[str, date], str | None] = dict.fromkeys(keys)
    encoding.update(dict(zip(csv_keys, chosen, strict=True)))
    man = {k: bool(rng.random() < 0.5) for k in keys}
    if all(man.values()):
        man[keys[0]] = False
    if not any(man.values()):
        man[keys[-1]] = True
    style = {}
    for s in SOURCES:
        dforms = list(messy.DATE_FORMATS) + (["cell"] if fmt[s] == "xlsx" else [])
        style[s] = Style(fmt=fmt[s], date=dforms[int(rng.integers(len(dforms)))],
                         sex=list(messy.SEX_FORMS)[int(rng.integers(3))],
                         money=messy.MONEY_FORMS[int(rng.integers(3))])
    return _Plan(dates=dates, fmt=fmt, encoding=encoding, manifest=man, style=style)


def _ensure_candidates(pop: population.Population, as_of: date) -> population.Population:
    """Make sure small runs still have a dead assisted person and a dead pensioner to find."""
    P, Hh = pop.persons, pop.households
    in_bao = Hh.select((pl.col("assisted") & (pl.col("assistance_status") == "在保")).alias("b"))["b"].to_numpy()
    hidx = P["hh_idx"].to_numpy()
    dead = P["is_deceased"].to_numpy().copy()
    death = P["death_date"].to_numpy().copy()
    age = P["age"].to_numpy()
    kill = []
    if not (dead & in_bao[hidx]).any() and in_bao.any():
        cand = np.flatnonzero(in_bao[hidx])
        kill.append(cand[np.argmax(age[cand])])
    retired = P.select(pl.col("in_employment_register") & (pl.col("employment_status") == "退休"))
    retired = retired.to_series().to_numpy()
    if not (dead & retired).any() and retired.any():
        cand = np.flatnonzero(retired & ~np.isin(np.arange(P.height), kill))
        if cand.size:
            kill.append(cand[np.argmax(age[cand])])
    for i in kill:
        dead[i] = True
        death[i] = np.datetime64(as_of - timedelta(days=75), "D")
    if not kill:
        return pop
    P = P.with_columns(pl.Series("is_deceased", dead), pl.Series("death_date", death).cast(pl.Date))
    return replace(pop, households=Hh, persons=P)


def _inject_conflicts(tables: dict[str, pl.DataFrame], rng: np.random.Generator, p: Profile) -> dict[str, pl.DataFrame]:
    """A few people get a wrong birth date or sex in one record of one source."""
    srcs = [s for s in sorted(tables) if "birth_date" in tables[s].columns and tables[s].height]
    recs = pl.concat([tables[s].select(pl.lit(s).alias("src"), pl.int_range(pl.len()).alias("row"), "_pidx")
                      for s in srcs])
    multi = recs.group_by("_pidx").len().filter(pl.col("len") >= 2).sort("_pidx")["_pidx"].to_numpy()
    chosen_b = multi[pick(rng, np.ones(multi.size, bool), p.conflict, at_least=1)]
    rest = multi[~np.isin(multi, chosen_b)]
    chosen_s = rest[pick(rng, np.ones(rest.size, bool), p.conflict, at_least=1)]
    recs = recs.sort("_pidx", "src", "row")
    out = {s: tables[s] for s in tables}
    for kind, chosen in (("birth", chosen_b), ("sex", chosen_s)):
        per_person = recs.filter(pl.col("_pidx").is_in(chosen.tolist())).group_by(
            "_pidx", maintain_order=True).agg(pl.col("src"), pl.col("row"))
        picks = [(srcl[int(rng.integers(len(srcl)))], rowl) for _, srcl, rowl in per_person.iter_rows()]
        which = {s: [] for s in srcs}
        for (src, _), (_, srcl, rowl) in zip(picks, per_person.iter_rows(), strict=True):
            which[src].append(rowl[srcl.index(src)])
        for s in srcs:
            rows = sorted(which[s])
            if not rows:
                continue
            df = out[s]
            if kind == "birth":
                births = df["birth_date"].to_list()
                for r in rows:
                    births[r] = _wrong_birth(births[r], rng)
                out[s] = df.with_columns(pl.Series("birth_date", births, dtype=pl.Date))
            else:
                sexes = df["sex"].to_numpy().astype(object)
                sexes[rows] = np.where(sexes[rows] == "M", "F", "M")
                out[s] = df.with_columns(pl.Series("sex", list(sexes), dtype=pl.String))
        for s in srcs:
            out[s] = out[s].with_columns(_protect=pl.col("_protect") | pl.col("_pidx").is_in(chosen.tolist()))
    return out


def _wrong_birth(b: date, rng: np.random.Generator) -> date:
    """A plausible wrong birth date: day and month swapped, the year off by one, or some days off."""
    k = int(rng.integers(3))
    if k == 0 and b.day <= 12 and b.day != b.month:
        return b.replace(month=b.day, day=b.month)
    if k == 1 and not (b.month == 2 and b.day == 29):
        return b.replace(year=b.year + (1 if rng.random() < 0.5 else -1))
    return b + timedelta(days=int(rng.integers(1, 40)) * (1 if rng.random() < 0.5 else -1))


def _clean_records(pop: population.Population, A: Arrays, rng_for: Callable[[str], np.random.Generator],
                   prof: Profile, plan: _Plan, ref: date) -> dict[tuple[str, date], pl.DataFrame]:
    """Every delivery's clean records for one chunk of the population, conflicts injected."""
    newest = {s: plan.dates[s][0] for s in SOURCES}
    clean: dict[tuple[str, date], pl.DataFrame] = {}
    clean[("health", newest["health"])] = deliveries.health(A, rng_for("d.health"), prof, newest["health"])
    for d, df in deliveries.civil_affairs(pop, A, rng_for("d.civil"), prof, *plan.dates["civil_affairs"]).items():
        clean[("civil_affairs", d)] = df
    for d, df in deliveries.employment(A, rng_for("d.employment"), prof, *plan.dates["employment"]).items():
        clean[("employment", d)] = df
    clean[("housing", newest["housing"])] = deliveries.housing(pop, A, rng_for("d.housing"), prof,
                                                               newest["housing"])
    seen = np.zeros(A.p["age"].shape[0], dtype=bool)
    for s in ("health", "civil_affairs", "employment", "housing"):
        seen[clean[(s, newest[s])]["_pidx"].to_numpy()] = True
    clean[("education", newest["education"])] = deliveries.education(A, rng_for("d.education"), prof,
                                                                     newest["education"], ref, seen)
    fixed = _inject_conflicts({s: clean[(s, newest[s])] for s in SOURCES if s != "housing"},
                              rng_for("conflicts"), prof)
    for s, df in fixed.items():
        clean[(s, newest[s])] = df
    return clean


@dataclass
class _Delivery:
    """One delivery as the chunks append to it."""

    folder: Path
    files: list[writers.WrittenFile] = field(default_factory=list)
    rows: int = 0


def _truth_tables(pop: population.Population) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """persons, households and hardship truth of one chunk."""
    P = pop.persons.with_columns(generation_label=pl.col("generation").replace_strict(
        {0: "grandparent", 1: "parent", 2: "child"}, return_dtype=pl.String)).drop(
        "hh_idx", "guardian_idx", "generation", "rank")
    Hh = pop.households.with_columns(
        receiving_assistance=pl.col("assisted") & (pl.col("assistance_status") == "在保"))
    hard = Hh.filter(pl.col("in_hardship") & ~pl.col("assisted")).select(
        "household_uid", "shape", "county_code", "township_code", "village_code", "address", "n_members",
        "income_per_capita", pl.col("hardship_reasons").alias("reasons"),
        pl.col("hardship_reasons").list.len().alias("n_reasons"))
    return P, Hh, hard


def _next_chunk(chunk: Chunk, pop: population.Population) -> Chunk:
    """Where the next chunk's numbering starts."""
    before = dict(chunk.village_households)
    for code, n in pop.households.group_by("village_code").len().iter_rows():
        before[code] = before.get(code, 0) + n
    return replace(chunk, index=chunk.index + 1, person_offset=chunk.person_offset + pop.persons.height,
                   household_offset=chunk.household_offset + pop.households.height, village_households=before)


def _check_unique_over_chunks(truth_dir: Path) -> None:
    """Record keys, uids, ID numbers and mobiles unique over the whole population (chunks are built apart)."""
    # distinct hashes prove distinct keys; only a repeated hash needs the keys themselves compared
    recs = pl.scan_parquet(truth_dir / "records.parquet")
    for keys in (pl.col("record_id").hash(), pl.col("record_id")):
        bad = recs.group_by("source", "as_of").agg(rows=pl.len(), keys=keys.n_unique()).filter(
            pl.col("rows") != pl.col("keys")).collect()
        if not bad.height:
            break
    if bad.height:
        raise RuntimeError(f"synth bug: repeated record keys across chunks in {bad['source'].to_list()}")
    people = pl.scan_parquet(truth_dir / "persons.parquet").select(
        *[(pl.col(c).drop_nulls().n_unique() == pl.col(c).drop_nulls().len()).alias(c)
          for c in ("person_uid", "id_number", "mobile")]).collect()
    homes = pl.scan_parquet(truth_dir / "households.parquet").select(
        pl.col("household_uid").n_unique() == pl.len()).collect()
    repeated = [c for c in people.columns if not people[c][0]] + ([] if homes.item() else ["household_uid"])
    if repeated:
        raise RuntimeError(f"synth bug: repeated {', '.join(repeated)} across chunks")


def generate(persons: int, seed: int, out: Path, profile: str = "typical", as_of: date | None = None, *,
             progress: Callable[[str], None] | None = None, max_rows_per_file: int = 200_000,
             chunk_persons: int | None = None) -> GenerateSummary:
    """Write a synthetic landing zone and its truth under ``out``; returns what was written.

    Delivery folders that this run writes are replaced; nothing else under ``out`` is touched
    except ``out/truth``, which is rewritten. More persons than ``chunk_persons`` (default
    ``synth.chunks.DEFAULT_CHUNK_PERSONS``, or ``HHLINK_SYNTH_CHUNK_PERSONS``) are generated in
    chunks of households, one at a time (see ``synth.chunks``).
    """
    if persons < 50:
        raise ValueError("persons must be at least 50")
    say = progress or (lambda _m: None)
    prof = get_profile(profile)
    ref = as_of or default_as_of()
    out = Path(out)
    landing, truth_dir = out / "landing", out / "truth"
    cfgs = load_sources()
    plan = _plan(seed, ref)
    sizes = chunk_sizes(persons, chunk_persons_from_env(chunk_persons))
    chunked = len(sizes) > 1
    geo = geography.build(persons, stream(seed, "geography"))
    newest = {s: plan.dates[s][0] for s in SOURCES}
    summary = GenerateSummary(out=out, landing=landing, truth=truth_dir, persons=persons, households=0,
                              seed=seed, profile=prof.name, as_of=ref)
    delivered = {(s, d): _Delivery(landing / s / d.isoformat()) for s in SOURCES for d in plan.dates[s]}
    for dl in delivered.values():
        if dl.folder.exists():
            shutil.rmtree(dl.folder)
    found: list[pl.DataFrame] = []
    truth = writers.TruthTables(truth_dir, append=chunked)
    chunk = Chunk(count=len(sizes))
    try:
        for size in sizes:
            part = f" (chunk {chunk.index + 1}/{chunk.count})" if chunked else ""

            def rng_for(name: str, c: Chunk = chunk) -> np.random.Generator:
                return stream(seed, c.stream_name(name))

            say(f"population: {size} persons{part}")
            pop = population.build(size, rng_for, ref, prof, geo, chunk)
            pop = attributes.add(pop, rng_for, ref)
            pop = _ensure_candidates(pop, ref)
            A = Arrays.of(pop)
            say(f"records per source{part}")
            clean = _clean_records(pop, A, rng_for, prof, plan, ref)
            truth_parts, shown_newest = [], {}
            for s in SOURCES:
                cfg = cfgs[s]
                p = scaled(prof, _CARE[s])
                if s == "housing":
                    p = replace(p, id_15=min(0.5, p.id_15 * 2))
                for d in plan.dates[s]:
                    say(f"render {s} {d}{part}")
                    df = clean.pop((s, d)).sort("record_id")
                    if df["record_id"].n_unique() != df.height:
                        raise RuntimeError(f"synth bug: duplicate record keys in {s} {d}")
                    r = render(df, cfg, plan.style[s], p, seed, A, d)
                    dl = delivered[(s, d)]
                    say(f"write {s} {d} ({df.height} rows, {plan.fmt[s]}){part}")
                    files = []
                    if df.height or not dl.files:
                        files = writers.write_delivery(
                            dl.folder, cfg.file_stem, d, plan.fmt[s], plan.encoding[(s, d)] or "", r.table,
                            max_rows_per_file, first_number=len(dl.files) + 1 if chunked else None)
                    dl.files += files
                    dl.rows += df.height
                    names = np.repeat(np.array([f.name for f in files], dtype=object), [f.rows for f in files])
                    truth_parts.append(r.truth.with_columns(file=pl.Series(names.astype(str))))
                    if d == newest[s]:
                        shown_newest[s] = r.shown
            say(f"truth{part}")
            truth.add("records", pl.concat(truth_parts).sort("source", "as_of", "record_id"))
            del truth_parts
            found.append(findings.compute(shown_newest, A, ref))
            P, Hh, hard = _truth_tables(pop)
            truth.add("persons", P)
            truth.add("households", Hh)
            truth.add("hardship", hard)
            summary.households += Hh.height
            summary.hardship_households += hard.height
            chunk = _next_chunk(chunk, pop)
            del pop, A, clean, shown_newest, P, Hh, hard
        truth.close()
    except BaseException:
        truth.abort()
        raise
    f = found[0] if len(found) == 1 else pl.concat(found, how="vertical_relaxed").sort(
        "finding_type", "source", "record_id", "person_uid", nulls_last=True, maintain_order=True)
    f.write_parquet(truth_dir / "findings.parquet", statistics=False)
    summary.findings = dict(sorted(f.group_by("finding_type").len().iter_rows()))
    for (s, d), dl in delivered.items():
        if plan.manifest[(s, d)]:
            writers.write_manifest(dl.folder, s, d, dl.files)
        summary.deliveries.append(DeliverySummary(
            source=s, as_of=d, format=plan.fmt[s], encoding=plan.encoding[(s, d)],
            files=tuple(dl.folder / f.name for f in dl.files), rows=dl.rows, manifest=plan.manifest[(s, d)]))
        if d == newest[s]:
            summary.records[s] = dl.rows
    if chunked:
        say("checking uniqueness over chunks")
        _check_unique_over_chunks(truth_dir)
    say("done")
    return summary
