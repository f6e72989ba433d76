"""The `hhlink` command line (CONTRACT §6).

Heavy imports (Dagster, Splink) happen inside the commands that need them, so
`hhlink --help` and `hhlink generate` start quickly. Every expected failure ends
as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import date
from pathlib import Path

DEMO_DIR = Path("data/demo")
DEMO_PERSONS, DEMO_SEED = 20_000, 20261129


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def _progress_to_stderr() -> None:
    start = time.monotonic()

    class Elapsed(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"[{time.monotonic() - start:6.1f}s] {record.getMessage()}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Elapsed())
    log = logging.getLogger("hhlink.progress")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def _say(msg: str) -> None:
    logging.getLogger("hhlink.progress").info(msg)


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


# --- generate -----------------------------------------------------------------------------------------------

def cmd_generate(args: argparse.Namespace) -> int:
    from synth import generate

    if args.persons < 1:
        raise UserError("--persons must be at least 1")
    summary = generate(args.persons, args.seed, Path(args.out), args.profile,
                       as_of=date.fromisoformat(args.as_of) if args.as_of else None, progress=_say)
    print(summary.describe())
    return 0


# --- run ----------------------------------------------------------------------------------------------------

def _summary(warehouse: Path) -> str:
    """Deliveries one per line with their accounting, then freshness, then the linked totals."""
    from ingest import db

    with db.connect(warehouse, read_only=True) as con:
        d = db.frame(con, "SELECT * FROM deliveries ORDER BY source, as_of")
        f = db.frame(con, "SELECT source, latest_as_of, age_days, expected_every_days, status FROM source_freshness")
        persons = db.frame(con, "SELECT count(DISTINCT person_id) AS n FROM person_xref").item()
        households = db.frame(con, "SELECT count(DISTINCT household_id) AS n FROM household_member").item()
        findings = db.frame(con, "SELECT finding_type, count(*) AS n FROM findings GROUP BY ALL ORDER BY ALL") \
            if db.table_exists(con, "findings") else None
    acc = d.filter(d["status"] == "accepted")
    lines = [f"{'delivery':<26} {'status':<9} {'delivered':>10} {'staged':>10} {'quarantined':>11} {'with issues':>11}"]
    for r in d.iter_rows(named=True):
        name = f"{r['source']}/{r['as_of'] or Path(r['folder']).name}"
        if r["status"] == "accepted":
            lines.append(f"{name:<26} {'accepted':<9} {r['rows_delivered']:>10,} {r['rows_staged'] or 0:>10,} "
                         f"{r['rows_quarantined'] or 0:>11,} {r['rows_with_issues'] or 0:>11,}")
        else:
            lines.append(f"{name:<26} {'rejected':<9} {r['reason']}")
    lines.append(
        f"total: {acc.height} accepted, {d.height - acc.height} rejected; rows "
        f"{int(acc['rows_delivered'].sum()):,} delivered = {int(acc['rows_staged'].sum()):,} staged"
        f" + {int(acc['rows_quarantined'].sum()):,} quarantined")
    lines.append("freshness:")
    for r in f.iter_rows(named=True):
        age = "never delivered" if r["latest_as_of"] is None else \
            f"as of {r['latest_as_of']}, {r['age_days']} days old, expected every {r['expected_every_days']}"
        lines.append(f"  {r['source']:<14} {r['status']:<8} {age}")
    lines.append(f"persons: {persons:,}  households: {households:,}")
    if findings is not None:
        counts = [f"{r['finding_type']} {r['n']:,}" for r in findings.iter_rows(named=True)]
        lines.append("findings: " + (", ".join(counts) or "none"))
    lines.append(f"warehouse: {warehouse}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    landing, warehouse = Path(args.landing), Path(args.warehouse)
    if not landing.is_dir():
        raise UserError(f"landing folder '{landing}' does not exist")
    from pipelines.runner import RunFailed, run_pipeline

    if getattr(args, "full_relink", False):
        os.environ["HHLINK_FULL_RELINK"] = "1"  # read by the linkage step (resolution/incremental.py)
    _say(f"running every asset for {landing} into {warehouse}")
    try:
        result = run_pipeline(landing, warehouse, args.as_of)
    except RunFailed as exc:
        raise UserError(str(exc)) from exc
    print(_summary(warehouse))
    index = result.reports / "site" / "index.html"
    if index.exists():
        print(f"report: {index}")
    return 0


# --- demo ---------------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    gen = argparse.Namespace(persons=args.persons, seed=DEMO_SEED, out=str(out), profile="typical", as_of=None)
    cmd_generate(gen)
    warehouse = out / "warehouse.duckdb"
    bindir = Path(sys.executable).parent
    cmd_run(argparse.Namespace(landing=str(out / "landing"), warehouse=str(warehouse), as_of=None))
    from privacy.analyst import analyst_path

    print(f"\nlanding zone: {out / 'landing'}\ntruth:        {out / 'truth'}\nwarehouse:    {warehouse} (restricted)\n"
          f"analysts:     {analyst_path(warehouse, os.environ.get('HHLINK_ANALYST', ''))} (no personal data)\n"
          f"query it:     {bindir / 'hhlink'} query \"SELECT * FROM source_freshness\" --warehouse {warehouse}\n"
          f"the UI:       {bindir / 'dg'} dev   (then open http://127.0.0.1:3000)")
    return 0


# --- bench --------------------------------------------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else None
    if args.what == "ingest":
        from pipelines.bench import bench_ingest

        print(bench_ingest(args.persons, repeat=args.repeat, seed=args.seed, profile=args.profile,
                           workdir=workdir, progress=_say))
    elif args.what == "run":
        from pipelines.bench import bench_run

        landing = Path(args.landing) if args.landing else None
        if landing is not None and not landing.is_dir():
            raise UserError(f"--landing {landing}: no such folder")
        print(bench_run(args.persons, repeat=args.repeat, seed=args.seed, profile=args.profile, landing=landing,
                        progress=_say))
    elif args.what == "delivery":
        from pipelines.bench_delivery import bench_delivery

        if args.rows < 1:
            raise UserError(f"--rows must be a positive number of rows, not {args.rows}")
        print(bench_delivery(args.rows, repeat=args.repeat, seed=args.seed, progress=_say))
    elif args.what == "incremental":
        from resolution.bench_incremental import bench_incremental

        print(bench_incremental(args.persons, repeat=args.repeat, seed=args.seed, profile=args.profile,
                                workdir=workdir, source=args.source, share=args.share, progress=_say))
    else:
        from resolution.bench import bench_link

        print(bench_link(args.persons, repeat=args.repeat, seed=args.seed, profile=args.profile,
                         workdir=workdir, progress=_say))
    return 0


# --- checksum ----------------------------------------------------------------------------------------------

def cmd_checksum(args: argparse.Namespace) -> int:
    from ingest.checksum import render, warehouse_checksums

    print(render(warehouse_checksums(_existing(args.warehouse, "warehouse"))))
    return 0


# --- evaluate / explain -------------------------------------------------------------------------------------

def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{what} '{p}' does not exist")
    return p


def cmd_evaluate(args: argparse.Namespace) -> int:
    from resolution.evaluate import evaluate

    truth = _existing(args.truth, "truth folder")
    if not (truth / "records.parquet").exists():
        raise UserError(f"'{truth}' has no records.parquet (point --truth at the generator's truth/ folder)")
    print(evaluate(truth, _existing(args.warehouse, "warehouse")).render())
    return 0


def cmd_discovery(args: argparse.Namespace) -> int:
    from marts.evaluate import evaluate_discovery, truth_household_marts
    from marts.policy import PolicyError, load_policy

    truth = _existing(args.truth, "truth folder")
    missing = [f for f in ("records.parquet", "households.parquet", "hardship.parquet") if not (truth / f).exists()]
    if missing:
        raise UserError(f"'{truth}' has no {missing[0]} (point --truth at the generator's truth/ folder)")
    warehouse = _existing(args.warehouse, "warehouse")
    try:
        print(evaluate_discovery(truth, warehouse).render("proactive-discovery list (linked households)"))
        if args.truth_households:
            print(truth_household_marts(truth, warehouse, load_policy()).render(
                "the same rules over the true households of the linked persons (diagnostic)"))
    except (LookupError, PolicyError) as exc:
        raise UserError(str(exc)) from exc
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ingest.publish import ensure_work
    from privacy.analyst import analyst_path
    from quality.report import write_data_dictionary, write_site

    warehouse = _existing(args.warehouse, "warehouse")
    out = Path(args.out) if args.out else warehouse.parent / "reports" / "site"
    # The report rebuilds its audit.* tables: in the working database, never in the published file.
    index = write_site(ensure_work(warehouse), out)
    write_data_dictionary(out, analyst_path(warehouse, os.environ.get("HHLINK_ANALYST", "")), warehouse)
    print(f"report: {index}  (opens from disk, no server needed)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from pipelines.query import QueryError, export, render, show
    from privacy.analyst import SUFFIX, analyst_path

    warehouse = Path(args.warehouse)
    restricted = args.restricted
    path = warehouse if restricted or warehouse.name.endswith(SUFFIX) else \
        analyst_path(warehouse, os.environ.get("HHLINK_ANALYST", ""))
    what = "warehouse" if restricted else "analyst database"
    if not path.exists():
        raise UserError(f"{what} '{path}' does not exist (run `hhlink run` first, or give --warehouse)")
    if args.limit < 1:
        raise UserError("--limit must be at least 1")
    try:
        if args.out:
            rows = export(path, args.sql, Path(args.out))
            print(f"wrote {rows:,} rows to {args.out}")
        else:
            print(render(show(path, args.sql, args.limit), args.limit))
    except QueryError as exc:
        raise UserError(f"query failed: {exc}") from exc
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from resolution.explain import explain

    print(explain(_existing(args.warehouse, "warehouse"), args.person_id))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hhlink", description="Link departments' extracts into persons and households.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic landing zone and its truth")
    g.add_argument("--persons", type=int, required=True)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True)
    g.add_argument("--profile", choices=["clean", "typical", "hard"], default="typical")
    g.add_argument("--as-of", type=_date, default=None, help="reference date of the newest deliveries")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="ingest, link and publish the warehouse (through Dagster, in-process)")
    r.add_argument("--landing", required=True)
    r.add_argument("--warehouse", required=True)
    r.add_argument("--as-of", type=_date, default=None, help="reference date for freshness (default today)")
    r.add_argument("--full-relink", action="store_true",
                   help="link every record again instead of only a new delivery's new and changed records")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate a sample, run it, and say where things are")
    d.add_argument("--persons", type=int, default=DEMO_PERSONS)
    d.add_argument("--out", default=str(DEMO_DIR))
    d.set_defaults(func=cmd_demo)

    e = sub.add_parser("evaluate", help="linkage accuracy against the generator's truth")
    e.add_argument("--truth", required=True, help="the truth/ folder written by hhlink generate")
    e.add_argument("--warehouse", required=True)
    e.set_defaults(func=cmd_evaluate)

    dv = sub.add_parser("discovery", help="precision and recall of the proactive-discovery list against truth")
    dv.add_argument("--truth", required=True, help="the truth/ folder written by hhlink generate")
    dv.add_argument("--warehouse", required=True)
    dv.add_argument("--truth-households", action="store_true",
                    help="also rebuild the list over the true households, to separate rule errors from linkage")
    dv.set_defaults(func=cmd_discovery)

    rp = sub.add_parser("report", help="write the auditors' static HTML site (freshness, coverage, findings)")
    rp.add_argument("--warehouse", default=str(DEMO_DIR / "warehouse.duckdb"))
    rp.add_argument("--out", default=None, help="site folder (default: reports/site beside the warehouse)")
    rp.set_defaults(func=cmd_report)

    x = sub.add_parser("explain", help="a person's records, links with their weights, and household rule")
    x.add_argument("person_id")
    x.add_argument("--warehouse", default=str(DEMO_DIR / "warehouse.duckdb"))
    x.set_defaults(func=cmd_explain)

    q = sub.add_parser("query", help="run SQL read-only on the analyst database (default) or the restricted warehouse")
    q.add_argument("sql")
    q.add_argument("--warehouse", default=str(DEMO_DIR / "warehouse.duckdb"),
                   help="the published warehouse; its analyst database is read unless --restricted")
    which = q.add_mutually_exclusive_group()
    which.add_argument("--analyst", action="store_true", help="read the analyst database (the default)")
    which.add_argument("--restricted", action="store_true", help="read the full, restricted warehouse")
    q.add_argument("--out", default=None, help="write every row to FILE.csv or FILE.parquet instead of printing")
    q.add_argument("--limit", type=int, default=50, help="rows printed (default 50)")
    q.set_defaults(func=cmd_query)

    c = sub.add_parser("checksum", help="row count and content checksum of every table (compare two runs)")
    c.add_argument("--warehouse", required=True)
    c.set_defaults(func=cmd_checksum)

    b = sub.add_parser("bench", help="measure a phase: median of repeated runs and peak memory")
    b.add_argument("what", choices=["ingest", "link", "incremental", "run", "delivery"],
                   help="run: end to end, landing zone → warehouse and report (generation not timed); "
                        "delivery: memory of one very large delivery, in copies of its file")
    b.add_argument("--persons", type=int, default=100_000)
    b.add_argument("--repeat", type=int, default=3)
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--profile", choices=["clean", "typical", "hard"], default="typical")
    b.add_argument("--workdir", default=None, help="where to generate the data (default: a temporary folder)")
    b.add_argument("--landing", default=None, help="run: an existing landing zone to use instead of generating")
    b.add_argument("--source", default="health", help="incremental: the source whose new delivery is linked")
    b.add_argument("--rows", type=int, default=2_250_000, help="delivery: rows of the large delivery")
    b.add_argument("--share", type=float, default=0.05, help="incremental: share of its records the delivery changes")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _progress_to_stderr()
    try:
        return args.func(args)
    except UserError as exc:
        print(f"hhlink: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hhlink: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from ingest.sources import SourceConfigError

        if isinstance(exc, SourceConfigError | OSError):
            print(f"hhlink: {exc}", file=sys.stderr)
            return 2
        if os.environ.get("HHLINK_DEBUG"):
            raise
        print(f"hhlink: unexpected error ({type(exc).__name__}: {exc}); set HHLINK_DEBUG=1 for the traceback",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
