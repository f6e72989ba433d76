"""`hhlink report`: the auditors' static site, drawn from the warehouse's `audit` tables.

One index page, a page per source, a page per finding type, a coverage page and a
linkage page, with plotly figures; finding lists and coverage gaps are also written
as CSV. The site opens from disk (plotly is a local file, no CDN) and publishes no
personal data: record keys are masked (`quality.privacy`), names, ID numbers and
phones are never selected.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from ingest import db
from ingest.sources import load_sources
from quality import audit_tables
from quality.findings import FINDING_TYPES
from quality.html import esc, figure, page, table, write_plotly

Tables = dict[str, pl.DataFrame]
#: Written by the publish step from the published databases' comments (`write_data_dictionary`).
DICTIONARY_PAGE = "data-dictionary.html"


def _nav(sources: list[str]) -> list[tuple[str, str]]:
    return [("overview", "index.html"), ("coverage", "coverage.html"), ("linkage", "linkage.html"),
            *[(s, f"source-{s}.html") for s in sources], ("data dictionary", DICTIONARY_PAGE)]


def freshness_figure(t: Tables, source: str | None = None):
    tl = t["freshness_timeline"].filter(pl.col("as_of").is_not_null())
    if source:
        tl = tl.filter(pl.col("source") == source)
    fig = px.scatter(tl.to_pandas(), x="as_of", y="source", color="status", size_max=12,
                     hover_data=["rows_delivered", "expected_every_days"],
                     title="Deliveries by as-of date (freshness timeline)")
    ref = t["source_freshness"]["reference_date"].max() if t["source_freshness"].height else None
    if ref is not None:
        fig.add_vline(x=ref.isoformat(), line_dash="dash", line_color="gray")
    fig.update_traces(marker={"size": 12})
    return fig


def coverage_figure(t: Tables, level: str = "county"):
    cov = t["coverage_by_area"].filter(pl.col("level") == level)
    wide = cov.pivot(on="source", index="area", values="share").sort("area")
    srcs = [c for c in wide.columns if c != "area"]
    fig = go.Figure(go.Heatmap(z=wide.select(srcs).to_numpy(), x=srcs, y=wide["area"].to_list(),
                               colorscale="Blues", zmin=0, zmax=1, colorbar={"title": "share"}))
    fig.update_layout(title=f"Share of households with a record, by {level} × source",
                      height=max(350, 18 * wide.height + 150))
    return fig


def pass_rate_figure(t: Tables):
    pr = t["check_pass_rates"]
    return px.bar(pr.to_pandas(), x="suite", y="pass_rate", range_y=[0, 1], hover_data=["expectations", "passed"],
                  title="Expectation pass rate per suite")


def findings_figure(t: Tables):
    return px.bar(t["finding_counts"].to_pandas(), x="finding_type", y="findings", title="Findings by type")


def linkage_figures(t: Tables) -> list:
    figs = [px.bar(t["linkage_link_rate"].to_pandas(), x="key", y="value", range_y=[0, 1],
                   labels={"key": "source", "value": "share of records linked to another"},
                   title="Link rate by source"),
            px.bar(t["linkage_cluster_sizes"].to_pandas(), x="key", y="value",
                   labels={"key": "records per person", "value": "persons"}, title="Cluster sizes"),
            px.bar(t["linkage_weight_histogram"].to_pandas(), x="key", y="value",
                   labels={"key": "match weight", "value": "pairs"}, title="Match weights of scored pairs")]
    return figs


def staleness_figure(t: Tables, source: str):
    h = t["record_age_histogram"].filter(pl.col("source") == source)
    return px.bar(h.to_pandas(), x="age_from_days", y="records",
                  title=f"{source}: age of records' update date (days, 30-day bins)")


def _index(t: Tables) -> str:
    fresh = t["source_freshness"].select("source", "department", "latest_as_of", "expected_every_days", "age_days",
                                         "status") if t["source_freshness"].height else pl.DataFrame()
    rows = "".join(f"<tr><td><a href='finding-{esc(r['finding_type'])}.html'>{esc(r['finding_type'])}</a></td>"
                   f"<td>{esc(r['findings'])}</td><td>{esc(r['description'])}</td></tr>"
                   for r in t["finding_counts"].iter_rows(named=True))
    return (
        "<h2>Freshness</h2>" + table(fresh, status_col="status") + figure(freshness_figure(t))
        + "<h2>Findings</h2><table><tr><th>type</th><th>findings</th><th>meaning</th></tr>" + rows + "</table>"
        + "<p><a href='findings/all.csv'>all findings (CSV)</a></p>" + figure(findings_figure(t))
        + "<h2>Coverage</h2>" + figure(coverage_figure(t, "county"))
        + "<h2>Checks</h2>" + table(t["check_pass_rates"]) + figure(pass_rate_figure(t))
        + "<h2>Linkage</h2>" + table(t["linkage_summary"]) + "<p><a href='linkage.html'>more</a></p>"
    )


def _source_page(t: Tables, s: str) -> str:
    fresh = t["source_freshness"].filter(pl.col("source") == s) if t["source_freshness"].height else pl.DataFrame()
    checks = t["check_results"].filter(pl.col("suite") == f"staged_{s}").drop("table")
    stale = t["record_staleness"].filter(pl.col("source") == s)
    facet = t["household_facet_staleness"].filter(pl.col("source") == s)
    cov = t["coverage_by_area"].filter((pl.col("source") == s) & (pl.col("level") == "county")).drop("source")
    found = (t["finding_counts"].join(t["public_findings"].filter(pl.col("source") == s).group_by("finding_type")
                                     .len(), on="finding_type", maintain_order="left")
             .select("finding_type", pl.col("len").alias("here")))
    return ("<h2>Freshness</h2>" + table(fresh, status_col="status") + figure(freshness_figure(t, s))
            + "<h2>Record staleness</h2>" + table(stale) + figure(staleness_figure(t, s))
            + "<h3>Households whose facet is older than the cadence</h3>" + table(facet)
            + "<h2>Expectations</h2>" + table(checks) + "<h2>Coverage by county</h2>" + table(cov)
            + "<h2>Findings on this source's records</h2>" + table(found))


def _finding_page(t: Tables, kind: str) -> str:
    rows = t["public_findings"].filter(pl.col("finding_type") == kind)
    return (f"<p>{esc(FINDING_TYPES.get(kind, ''))}</p><p>{rows.height:,} findings. "
            f"<a href='findings/{esc(kind)}.csv'>CSV</a>. Records are shown by a masked reference (record_ref); "
            "authorised users find the record in the warehouse's findings table.</p>"
            + table(rows.drop("finding_type")))


def _coverage_page(t: Tables) -> str:
    missing = t["expected_missing"]
    return (figure(coverage_figure(t, "county")) + figure(coverage_figure(t, "township"))
            + "<h2>Thin files (people seen by one department only)</h2>"
            + table(t["thin_file"].group_by("source").len().sort("source"))
            + "<p><a href='coverage/thin_file.csv'>list (CSV)</a></p>"
            + "<h2>Expected but missing</h2>" + table(missing.group_by("missing_source", "reason").len()
                                                       .sort("missing_source", "reason"))
            + "<p><a href='coverage/expected_missing.csv'>list (CSV)</a></p>" + table(missing, max_rows=200))


def _linkage_page(t: Tables) -> str:
    return table(t["linkage_summary"]) + "".join(figure(f) for f in linkage_figures(t))


def write_site(warehouse: Path, out_dir: Path) -> Path:
    """Build the audit tables in `warehouse` and write the static site into `out_dir`; returns index.html."""
    sources_cfg = load_sources()
    out_dir = Path(out_dir)
    with db.connect(warehouse) as con:
        db.ensure_schemas(con)
        t = audit_tables.build(con, sources_cfg, json_dir=out_dir.parent / "expectations")
    sources = list(sources_cfg)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "findings").mkdir(parents=True)
    (out_dir / "coverage").mkdir()
    write_plotly(out_dir)
    nav = _nav(sources)
    pages = {"index.html": ("Data quality, freshness and coverage", _index(t)),
             "coverage.html": ("Coverage", _coverage_page(t)),
             "linkage.html": ("Linkage quality", _linkage_page(t))}
    for s in sources:
        pages[f"source-{s}.html"] = (f"Source: {s}", _source_page(t, s))
    for kind in t["finding_counts"]["finding_type"].to_list():
        pages[f"finding-{kind}.html"] = (f"Finding: {kind}", _finding_page(t, kind))
        t["public_findings"].filter(pl.col("finding_type") == kind).write_csv(out_dir / "findings" / f"{kind}.csv")
    t["public_findings"].write_csv(out_dir / "findings" / "all.csv")
    t["thin_file"].write_csv(out_dir / "coverage" / "thin_file.csv")
    t["expected_missing"].write_csv(out_dir / "coverage" / "expected_missing.csv")
    for name, (title, body) in pages.items():
        (out_dir / name).write_text(page(title, nav, body), encoding="utf-8")
    return out_dir / "index.html"


def write_data_dictionary(out_dir: Path, analyst: Path | None, restricted: Path | None) -> Path:
    """The site's data-dictionary page, from the comments stored in the published databases."""
    from catalog.dictionary import html_body, sections

    body = html_body(sections(analyst, restricted))
    path = Path(out_dir) / DICTIONARY_PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page("Data dictionary", _nav(list(load_sources())), body), encoding="utf-8")
    return path
