"""Person names: one spelling per person across departments, plus a pinyin key.

Departments type names through different systems: full-width letters, traditional
characters (Hong Kong/Taiwan input or old registers), four different dots between the
parts of Uyghur or Tibetan names, stray spaces. The linker compares the normalised
spelling for exact agreement and the pinyin for homophone typos (an input method
offers 张/章/彰 for the same syllable), so both must be deterministic.

Both character conversions are character tables built once per process from the
libraries themselves and applied with one ``str.replace_many`` (Aho-Corasick) over the
distinct names. Measured on 3M names: ~0.2 s (traditional → simplified) and ~0.4 s
(pinyin), against ~1.5 s for a Python ``str.translate`` over ~1M distinct names, and
more for ``zhconv.convert``/``lazy_pinyin`` per name. Building the tables takes ~0.6 s.

Choices (see the tests for examples):

* Traditional → simplified uses zhconv's own single-character tables (``zh2Hans``
  overridden by ``zh2CN``, the same precedence as ``zhconv.convert(s, "zh-cn")``). zhconv's
  phrase rules are skipped: they target running text (乾隆 vs 乾燥) and names are not
  words; the mapping only has to be the same on both sides of a comparison.
* Pinyin is pypinyin's default reading of each character on its own (``lazy_pinyin``
  of one character, ``Style.NORMAL``: toneless, ``ü`` written ``v``), not its phrase
  segmentation, which mis-reads given names as words. pypinyin has no surname mode,
  so the first character of a Han name is read with the surname reading from
  ``SURNAME_READINGS`` (曾 zeng, 单 shan, 解 xie, …) and a few compound surnames from
  ``COMPOUND_SURNAMES``; typists key the surname by its sound, so this is where a
  homophone typo must still agree.
* Parts of a name separated by spaces only are one Han name with stray spaces, unless
  there are two or more parts of at least two characters and five or more characters
  in all (``阿依古丽 买买提``): Han names have at most four characters (复姓 + 2), so
  longer ones are transliterated minority names whose separator was typed as a space.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from ingest.normalise.base import Normalised, Stage, batched, normalised
from ingest.normalise.text import clean, squash_spaces

#: Dots seen between the parts of minority names (after NFKC, which maps ``．`` to
#: ``.`` and half-width ``･`` to ``・``): middle dot, bullet, full stop, katakana middle
#: dot, hyphenation point, bullet operator, dot operator, ideographic full stop.
SEPARATORS = "·•.・‧∙⋅。"
_SEP = f"[{SEPARATORS}]"
_NON_DOT_SEP = "[" + SEPARATORS.replace(".", "") + "]"

#: Surname readings where pypinyin's default reading of the lone character differs
#: (百家姓 readings; 乐 and 盖 have two surname readings in use, the commoner is taken).
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "区": "ou", "仇": "qiu", "查": "zha",
    "朴": "piao", "缪": "miao", "翟": "zhai", "盖": "ge", "覃": "qin", "种": "chong",
    "隗": "wei", "乐": "yue", "召": "shao", "折": "she", "员": "yun", "秘": "bi",
    "句": "gou", "都": "du", "重": "chong", "薄": "bo", "卜": "bu", "藏": "zang",
    "洗": "xian", "乜": "nie", "阚": "kan",
}
#: Compound surnames whose per-character reading is wrong.
COMPOUND_SURNAMES = {"尉迟": "yu chi", "万俟": "mo qi", "澹台": "tan tai"}

#: Private-use code points (plane 16) that stand for "this surname" inside the pinyin
#: expression only; they never reach an output column.
_MARK_BASE = 0x10FE00


def _marks() -> tuple[dict[str, str], dict[str, str]]:
    keys = [*SURNAME_READINGS, *COMPOUND_SURNAMES]
    return {k: chr(_MARK_BASE + i) for i, k in enumerate(keys)}, {
        chr(_MARK_BASE + i): {**SURNAME_READINGS, **COMPOUND_SURNAMES}[k] for i, k in enumerate(keys)
    }


@cache
def trad_to_simp_table() -> dict[str, str]:
    """Single-character traditional → simplified pairs from zhconv's bundled tables."""
    from zhconv import zhconv as zc

    zc.loaddict()
    table = {k: v for k, v in zc.zhcdicts["zh2Hans"].items() if len(k) == 1 and k != v}
    table.update({k: v for k, v in zc.zhcdicts["zh2CN"].items() if len(k) == 1 and k != v})
    return table


@cache
def pinyin_table() -> dict[str, str]:
    """Character → ``"syllable "`` for every character pypinyin knows, plus surname marks.

    Built from ``lazy_pinyin`` itself (once per process, ~0.5 s for ~42k characters) so
    it agrees with pypinyin's default reading of a lone character.
    """
    from pypinyin import Style, lazy_pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    table = {}
    for cp in pinyin_dict:
        ch = chr(cp)
        table[ch] = lazy_pinyin(ch, style=Style.NORMAL)[0] + " "
    for mark, reading in _marks()[1].items():
        table[mark] = reading + " "
    return table


def to_simplified(s: pl.Expr) -> pl.Expr:
    table = trad_to_simp_table()
    return s.str.replace_many(list(table), list(table.values()))


def _mark_surname(s: pl.Expr) -> pl.Expr:
    to_mark = _marks()[0]
    compound = {k: v for k, v in to_mark.items() if len(k) == 2}
    single = {k: v for k, v in to_mark.items() if len(k) == 1}
    two, one = s.str.slice(0, 2), s.str.slice(0, 1)
    return (
        pl.when(two.is_in(list(compound)))
        .then(two.replace(compound) + s.str.slice(2))
        .when(one.is_in(list(single)))
        .then(one.replace(single) + s.str.slice(1))
        .otherwise(s)
    )


def _to_syllables(names: pl.Series) -> pl.Series:
    """Each character replaced by its table entry, with the table cut to the characters present.

    ``replace_many`` builds its automaton on every call; for the whole ~42k-character
    table that took 86 ms per batch of 50k names, against 17 ms for the ~600 characters
    a batch actually holds.
    """
    table = pinyin_table()
    present = names.str.split("").explode().drop_nulls().unique().to_list()
    used = {ch: table[ch] for ch in present if ch in table}
    if not used:
        return names
    return names.str.replace_many(list(used), list(used.values()))


def pinyin(name: pl.Expr, kind: pl.Expr) -> pl.Expr:
    """Toneless lower-case syllables separated by single spaces.

    ``name`` is an already normalised name. Latin names give their letters lower-cased
    (so ``ZHANG SAN`` and 张三 agree); separators, apostrophes and punctuation are dropped.
    """
    marked = pl.when(kind == "han").then(_mark_surname(name)).otherwise(name)
    return (
        marked.map_batches(_to_syllables, return_dtype=pl.String)
        .str.to_lowercase()
        .str.replace_all(r"['’]", "")
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )


def stages() -> list[Stage]:
    c = pl.col
    strip_set = " " + SEPARATORS
    return [
        {"clean": clean(c("raw"))},
        {"s": to_simplified(c("clean")).str.strip_chars(strip_set)},
        {"s": pl.when(c("s").str.len_bytes() > 0).then(c("s"))},
        {
            "han_like": c("s").str.contains(rf"^[\p{{Han}}\s{SEPARATORS}]+$"),
            "has_sep": c("s").str.contains(_SEP),
            "spaced_minority": c("s").str.contains(r"^\p{Han}{2,}(?:\s+\p{Han}{2,})+$")
            & (c("s").str.replace_all(r"\s+", "").str.len_chars() >= 5),
            "latin": c("s").str.contains(rf"^[\p{{Latin}}\s'\-{SEPARATORS}]+$"),
            "any_letter": c("s").str.contains(r"\p{L}"),
        },
        {
            "kind": pl.when(c("han_like") & (c("has_sep") | c("spaced_minority"))).then(pl.lit("minority"))
            .when(c("han_like")).then(pl.lit("han"))
            .when(c("latin") & c("any_letter")).then(pl.lit("latin"))
            .when(c("any_letter")).then(pl.lit("other"))
        },
        {
            "value": pl.when(c("kind") == "minority").then(c("s").str.replace_all(rf"[\s{SEPARATORS}]+", "·"))
            .when(c("kind") == "han").then(c("s").str.replace_all(r"\s+", ""))
            .when(c("kind") == "latin").then(
                squash_spaces(c("s").str.replace_all(_NON_DOT_SEP, " ")).str.strip_chars().str.to_uppercase()
            )
            .when(c("kind") == "other").then(squash_spaces(c("s")))
        },
        {
            "pinyin": pinyin(c("value"), c("kind")),
            "issue": pl.when(c("clean").is_null()).then(pl.lit("name blank"))
            .when(c("value").is_null()).then(pl.lit("name has no letters")),
        },
    ]


def name(raw: pl.Expr, field: str, **_: object) -> Normalised:
    """``field`` (normalised name), ``field_pinyin`` and ``field_kind``."""
    schema = {"value": pl.String, "pinyin": pl.String, "kind": pl.String, "issue": pl.String}
    core = batched(raw, stages(), schema, distinct=True)
    return normalised(core, {"value": field, "pinyin": f"{field}_pinyin", "kind": f"{field}_kind"})
