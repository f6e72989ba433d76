"""Small HTML helpers for the static report: a page shell, tables, plotly figures.

Pages load plotly from a local ``plotly.min.js`` copied into the site once, so they
open from disk with no server and no internet (no CDN).
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import polars as pl

PLOTLY_JS = "plotly.min.js"
MAX_ROWS = 500

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;color:#222}
header{background:#24425e;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1em}
main{padding:1em 1.5em;max-width:1200px}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}th{background:#eef2f6}
.fresh{color:#1a7f37}.late{color:#b08800}.stale,.missing,.fail{color:#cf222e;font-weight:bold}
.note{color:#555;font-size:.9em}
"""


def esc(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return html.escape(str(value))


def table(frame: pl.DataFrame, max_rows: int = MAX_ROWS, status_col: str | None = None) -> str:
    """An HTML table of a frame (first `max_rows` rows, with a note when cut)."""
    if frame.width == 0 or frame.height == 0:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.head(max_rows).iter_rows(named=True):
        cells = []
        for c, v in row.items():
            cls = f" class='{esc(v)}'" if c == status_col else ""
            cells.append(f"<td{cls}>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p class='note'>showing {max_rows:,} of {frame.height:,} rows; the CSV has all of them</p>"
            if frame.height > max_rows else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def figure(fig) -> str:
    """A plotly figure as a div; the library itself comes from the page's local script.

    The div id derives from the figure's content (plotly's default is a random uuid), so
    the same data gives byte-identical pages.
    """
    fig.update_layout(margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white")
    div_id = "fig-" + hashlib.sha256(fig.to_json().encode()).hexdigest()[:16]
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def page(title: str, nav: list[tuple[str, str]], body: str) -> str:
    links = "".join(f"<a href='{esc(href)}'>{esc(text)}</a>" for text, href in nav)
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<link rel='icon' href='data:,'><style>{CSS}</style><script src='{PLOTLY_JS}'></script></head>"
            f"<body><header><strong>hhlink audit</strong> &nbsp; {links}</header><main><h1>{esc(title)}</h1>"
            f"{body}</main></body></html>")


def write_plotly(out_dir: Path) -> None:
    from plotly.offline import get_plotlyjs

    (out_dir / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
