"""Messy value forms: every form CONTRACT §1 says the readers must accept.

Each renderer turns clean typed values into the text a department's system exports,
at the rates of a ``Profile``, and reports what a correct reader can still recover
(``shown``), so that the truth's findings are exactly what the data shows.

The random draws are hashed from (seed, source, field, record key): the same record
is rendered the same way in every delivery (a typo typed once into a register stays
there month after month), while a different record of the same person (a within-source
duplicate) gets its own forms.

XLSX-only forms (a number cell, a date cell, an Excel serial date) are returned as
strings starting with ``CELL_NUMBER``/``CELL_DATE``; ``synth.writers`` writes them as
typed cells. They are only produced when the delivery's format is ``xlsx``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synth import names
from synth.profiles import Profile

CELL_NUMBER = "\x01n"
CELL_DATE = "\x01d"
_FW = str.maketrans("0123456789Xx ABCDEFGHIJKLMNOPQRSTUVWYZabcdefghijklmnopqrstuvwyz",
                    "０１２３４５６７８９Ｘｘ　ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＹＺ"
                    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｙｚ")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%-m/%-d", "%Y.%m.%d", "%Y年%-m月%-d日")
SEX_FORMS = {"hanzi": ("男", "女"), "digit": ("1", "2"), "letter": ("M", "F")}
MONEY_FORMS = ("plain", "comma", "yuan")
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


class Draws:
    """Uniform draws per record, hashed from the record key (stable across deliveries)."""

    def __init__(self, keys: pl.Series, seed: int, source: str) -> None:
        self.keys = keys
        self.base = (seed * 1_000_003 + sum(map(ord, source)) * 7919) & 0x7FFFFFFF

    def u(self, field: str, k: int = 1) -> np.ndarray:
        tag = (self.base + sum((i + 1) * ord(c) for i, c in enumerate(field)) * 104729) & 0x7FFFFFFF
        cols = [(self.keys.hash(seed=tag * 16 + j).to_numpy() >> np.uint64(11))
                .astype(np.float64) / float(1 << 53) for j in range(k)]
        return np.stack(cols, axis=1) if k > 1 else cols[0]


def _blank(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = ""
    return out


def render_id(clean: np.ndarray, guardian: np.ndarray, birth_year: np.ndarray, vulnerable: np.ndarray,
              d: Draws, field: str, p: Profile, fmt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ID text, its form label, and the 18-char ID a correct reader recovers (or None)."""
    n = clean.shape[0]
    u = d.u(field, 4)
    text = _blank(n)
    form = np.full(n, "valid", dtype=object)
    shown = np.empty(n, dtype=object)
    has = np.array([isinstance(x, str) for x in clean], dtype=bool)
    form[~has] = "no_id"
    x = u[:, 0]
    b_blank = np.where(vulnerable, p.id_blank_vulnerable, p.id_blank)
    b_typo = b_blank + p.id_typo
    b_15 = b_typo + np.where(birth_year < 1980, p.id_15, 0.0)
    b_excel = b_15 + p.id_excel
    b_fw = b_excel + p.id_fullwidth
    b_sp = b_fw + p.id_spaces
    ends_x = np.array([isinstance(c, str) and c.endswith("X") for c in clean], dtype=bool)
    sel = {
        "blank": has & (x < b_blank),
        "typo": has & (x >= b_blank) & (x < b_typo),
        "upgraded_15": has & (x >= b_typo) & (x < b_15),
        "excel_damaged": has & (x >= b_15) & (x < b_excel) & ~ends_x,
        "fullwidth": has & (x >= b_excel) & (x < b_fw),
        "spaces": has & (x >= b_fw) & (x < b_sp),
    }
    sel["guardian_id"] = has & guardian
    for k in sel:
        if k != "guardian_id":
            sel[k] &= ~guardian
    text[has] = clean[has]
    shown[has] = clean[has]
    form[sel["guardian_id"]] = "guardian_id"
    lower = has & ends_x & (u[:, 1] < p.id_lower_x)
    for i in np.flatnonzero(lower):
        text[i] = clean[i][:17] + "x"
    form[lower & (form == "valid")] = "lower_x"
    for i in np.flatnonzero(sel["blank"]):
        text[i], shown[i], form[i] = "", None, "blank"
    for i in np.flatnonzero(sel["typo"]):
        s = clean[i]
        if u[i, 2] < 0.5:
            j = int(u[i, 3] * 17)
            a, b = s[j], s[j + 1]
            if a != b and b.isdigit():
                text[i], shown[i], form[i] = s[:j] + b + a + s[j + 2:], None, "transposed"
                continue
        j = int(u[i, 3] * 18)
        old = s[j]
        new = str((int(old) + 1 + int(u[i, 2] * 8)) % 10) if old.isdigit() else "7"
        text[i], shown[i], form[i] = s[:j] + new + s[j + 1:], None, "invalid_check"
    for i in np.flatnonzero(sel["upgraded_15"]):
        text[i], form[i] = clean[i][:6] + clean[i][8:17], "upgraded_15"
    for i in np.flatnonzero(sel["excel_damaged"]):
        s = clean[i]
        if fmt == "xlsx":
            # Excel keeps 15 significant digits: the last three come back as zeros
            text[i] = CELL_NUMBER + s[:15] + "000"
        elif u[i, 2] < 0.5:
            text[i] = f"{float(s):.5E}"
        else:
            text[i] = s[:15] + "000"
        shown[i], form[i] = None, "excel_damaged"
    for i in np.flatnonzero(sel["fullwidth"]):
        text[i], form[i] = text[i].translate(_FW), "fullwidth"
    for i in np.flatnonzero(sel["spaces"]):
        s = text[i]
        text[i] = (f"{s[:6]} {s[6:14]} {s[14:]}" if u[i, 2] < 0.5 else f" {s} ")
        form[i] = "spaces"
    return text, form, shown


def render_name(clean: np.ndarray, minority: np.ndarray, latin: np.ndarray, d: Draws, field: str,
                p: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Name text, form label, and whether a one-character typo was made."""
    n = clean.shape[0]
    u = d.u(field, 4)
    text = clean.copy()
    form = np.full(n, "clean", dtype=object)
    x = u[:, 0]
    b_sp = p.name_spaces
    b_fw = b_sp + p.name_fullwidth
    b_tr = b_fw + p.name_traditional
    b_ty = b_tr + p.name_typo
    typo_sel = (x >= b_tr) & (x < b_ty) & ~latin
    typo_flag = np.zeros(n, dtype=bool)
    if typo_sel.any():
        new, changed = names.typo(clean[typo_sel], u[typo_sel][:, 1:3])
        text[typo_sel] = new
        typo_flag[np.flatnonzero(typo_sel)[changed]] = True
        form[typo_flag] = "typo"
    tr_sel = (x >= b_fw) & (x < b_tr) & ~latin
    if tr_sel.any():
        new, changed = names.traditional(clean[tr_sel])
        text[tr_sel] = new
        form[np.flatnonzero(tr_sel)[changed]] = "traditional"
    sep = minority & (u[:, 1] < p.name_sep_variant)
    for i in np.flatnonzero(sep):
        text[i] = text[i].replace("·", "•" if u[i, 2] < 0.5 else ".")
        if form[i] == "clean":
            form[i] = "separator"
    for i in np.flatnonzero(x < b_sp):
        s = text[i]
        if latin[i]:
            text[i] = "  ".join(s.split()) + " "
        elif len(s) >= 2:
            text[i] = s[0] + " " + s[1:] if u[i, 3] < 0.6 else " " + s + " "
        form[i] = "spaces"
    for i in np.flatnonzero((x >= b_sp) & (x < b_fw)):
        s = text[i]
        text[i] = s.translate(_FW) if latin[i] else (s[0] + "\u3000" + s[1:] if len(s) >= 2 else s)
        form[i] = "fullwidth"
    up = latin & (u[:, 3] < 0.5)
    text[up] = np.array([s.upper() for s in text[up]], dtype=object)
    return text, form, typo_flag


def render_sex(clean: np.ndarray, d: Draws, field: str, p: Profile, primary: str,
               protect: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = clean.shape[0]
    u = d.u(field, 2)
    other = [k for k in SEX_FORMS if k != primary]
    m_txt = np.full(n, SEX_FORMS[primary][0], dtype=object)
    f_txt = np.full(n, SEX_FORMS[primary][1], dtype=object)
    alt = u[:, 0] < p.other_form
    pick = np.where(u[:, 1] < 0.5, 0, 1)
    for j, k in enumerate(other):
        m = alt & (pick == j)
        m_txt[m], f_txt[m] = SEX_FORMS[k]
    text = np.where(clean == "M", m_txt, np.where(clean == "F", f_txt, ""))
    blank = (u[:, 0] > 1 - p.blank) & ~protect
    text[blank] = ""
    shown = np.where(blank | (text == ""), None, clean)
    return text, shown


def render_date(clean: pl.Series, d: Draws, field: str, p: Profile, primary: str, fmt: str,
                protect: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Date text in the source's primary form, some in other forms, some blank."""
    n = clean.len()
    u = d.u(field, 2)
    forms = [primary] + [f for f in DATE_FORMATS if f != primary]
    if fmt == "xlsx":
        forms += ["cell", "serial"]
    which = np.where(u[:, 0] < p.other_form, 1 + (u[:, 1] * (len(forms) - 1)).astype(int), 0)
    if fmt == "xlsx" and primary == "cell":
        which = np.where(u[:, 0] < p.other_form, (u[:, 1] * len(DATE_FORMATS)).astype(int) + 1, 0)
        forms = ["cell", *DATE_FORMATS, "serial"]
    text = _blank(n)
    valid = clean.is_not_null().to_numpy()
    days = clean.cast(pl.Int32).to_numpy()
    for j, f in enumerate(forms):
        m = (which == j) & valid
        if not m.any():
            continue
        sub = clean.filter(pl.Series(m))
        if f == "cell":
            text[m] = CELL_DATE + sub.dt.strftime("%Y-%m-%d").to_numpy().astype(object)
        elif f == "serial":
            ser = days[m].astype(np.int64) - int((_EXCEL_EPOCH - np.datetime64("1970-01-01", "D")).astype(int))
            text[m] = np.array([CELL_NUMBER + str(v) for v in ser], dtype=object)
        else:
            text[m] = sub.dt.strftime(f).to_numpy().astype(object)
    blank = (u[:, 0] > 1 - p.blank) & ~protect
    text[blank] = ""
    shown = np.where(valid & ~blank, clean.to_numpy(), np.datetime64("NaT"))
    return text, shown


def render_phone(clean: np.ndarray, d: Draws, field: str, p: Profile, fmt: str) -> np.ndarray:
    n = clean.shape[0]
    u = d.u(field, 2)
    text = _blank(n)
    has = np.array([isinstance(x, str) for x in clean], dtype=bool)
    alt = u[:, 0] < p.other_form * 2
    text[has] = clean[has]
    num = (u[:, 1] < 0.05) if fmt == "xlsx" else np.zeros(n, dtype=bool)
    for i in np.flatnonzero(has & (alt | num)):
        s = clean[i]
        if alt[i]:
            k = int(u[i, 1] * 5)
            if "-" in s:   # landline
                s = s.replace("-", "") if k < 3 else f"({s[:4]}){s[5:]}"
            else:
                s = (f"+86 {s[:3]} {s[3:7]} {s[7:]}", f"86-{s}", f"{s[:3]}-{s[3:7]}-{s[7:]}",
                     f"{s[:3]} {s[3:7]} {s[7:]}", f"+86{s}")[k]
        elif fmt == "xlsx" and "-" not in s and u[i, 1] < 0.05:
            s = CELL_NUMBER + s
        text[i] = s
    text[u[:, 0] > 1 - p.blank] = ""
    return text


def render_address(clean: np.ndarray, d: Draws, field: str, p: Profile, province: str, city: str) -> np.ndarray:
    u = d.u(field, 3)
    text = clean.copy()
    var = u[:, 0] < p.address_variant
    for i in np.flatnonzero(var):
        s = text[i]
        if not isinstance(s, str):
            continue
        if u[i, 1] < 0.55:
            s = s.removeprefix(province)
        elif u[i, 1] < 0.85:
            s = s.removeprefix(province).removeprefix(city)
        if u[i, 2] < 0.3 and "村" in s and "村委会" not in s:
            s = s.replace("村", "村委会", 1)
        elif u[i, 2] > 0.9:
            s = s.replace("组", " 组", 1).replace("号楼", "栋", 1)
        text[i] = s
    text[(u[:, 0] > 1 - p.blank) | np.array([not isinstance(x, str) for x in clean])] = ""
    return text


def render_admin(clean: np.ndarray, d: Draws, field: str, p: Profile) -> np.ndarray:
    u = d.u(field)
    text = np.where(np.array([isinstance(x, str) for x in clean]), clean, "").astype(object)
    text[u < p.admin_blank] = ""
    return text


def _money_text(v: float, form: str) -> str:
    plain = f"{v:.2f}".rstrip("0").rstrip(".")
    if form == "comma":
        return f"{v:,.2f}"
    if form == "yuan":
        return plain + "元"
    return plain


def render_money(clean: np.ndarray, d: Draws, field: str, p: Profile, primary: str, fmt: str,
                 protect: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = clean.shape[0]
    u = d.u(field, 2)
    text = _blank(n)
    has = ~np.isnan(clean)
    others = [f for f in MONEY_FORMS if f != primary]
    for i in np.flatnonzero(has):
        f = others[int(u[i, 1] * 2)] if u[i, 0] < p.other_form else primary
        if fmt == "xlsx" and f == "plain":
            text[i] = CELL_NUMBER + _money_text(clean[i], "plain")
        else:
            text[i] = _money_text(clean[i], f)
    blank = (u[:, 0] > 1 - p.blank) & ~protect
    text[blank] = ""
    shown = np.where(has & ~blank, clean, np.nan)
    return text, shown


def render_plain(clean: np.ndarray, fmt: str, numeric: bool = False) -> np.ndarray:
    """Enums, text, keys, counts and areas: written as they are (numbers as number cells in xlsx)."""
    out = _blank(clean.shape[0])
    for i, v in enumerate(clean):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        s = (f"{v:.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))
        out[i] = CELL_NUMBER + s if numeric and fmt == "xlsx" else s
    return out
