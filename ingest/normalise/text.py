"""Text clean-up shared by every normaliser.

Extracts mix full-width and half-width forms (Chinese input methods produce ``１２３``,
``ＡＢ``, ``（）`` and the ideographic space), carry invisible characters pasted from
web forms, and spell "nothing here" in many ways. Folding all of that once, as polars
expressions, keeps each type's own rules small.
"""

from __future__ import annotations

import polars as pl

#: Characters that render as nothing but defeat equality (zero-width space/joiners,
#: word joiner, a BOM that survived into a cell, soft hyphen).
_INVISIBLE = r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]"

#: Spellings of "no value" that typed fields see from exports (pandas writes ``nan``,
#: databases ``NULL``, clerks ``-``, ``/`` or ``无``). Compared after folding and
#: lower-casing. Not used for names or free text, where ``无`` can be a real value.
BLANK_TOKENS = ("", "null", "none", "nan", "nat", "n/a", "na", "-", "--", "/", "\\", "无", "空")


def fold(raw: pl.Expr) -> pl.Expr:
    """NFKC width folding with invisible characters removed and ends stripped.

    NFKC turns full-width digits, letters, punctuation and the ideographic space into
    their ASCII forms (``１２３`` → ``123``, ``（`` → ``(``, ``㎡`` → ``m2``), which is
    exactly the variation that input methods introduce; it leaves Han characters alone.
    """
    return raw.str.normalize("NFKC").str.replace_all(_INVISIBLE, "").str.strip_chars()


def null_if_blank(s: pl.Expr) -> pl.Expr:
    """Null for an empty string; the expression must already be stripped."""
    return pl.when(s.str.len_bytes() > 0).then(s)


def clean(raw: pl.Expr) -> pl.Expr:
    """Folded, stripped text, null when nothing is left."""
    return null_if_blank(fold(raw))


def clean_typed(raw: pl.Expr) -> pl.Expr:
    """Like :func:`clean`, but the placeholder spellings in ``BLANK_TOKENS`` also count as blank.

    Used by typed fields (IDs, dates, phones, amounts), where ``nan`` or ``-`` can only
    mean "not recorded" and should not be reported as a parse failure.
    """
    s = fold(raw)
    return pl.when(~s.str.to_lowercase().is_in(BLANK_TOKENS)).then(s)


def squash_spaces(s: pl.Expr) -> pl.Expr:
    """Runs of whitespace to one ASCII space."""
    return s.str.replace_all(r"\s+", " ")


def remove_spaces(s: pl.Expr) -> pl.Expr:
    return s.str.replace_all(r"\s+", "")


def echo(s: pl.Expr, limit: int = 20) -> pl.Expr:
    """A raw value shortened for an issue message, so one bad cell cannot flood a report."""
    return pl.when(s.str.len_chars() > limit).then(s.str.slice(0, limit) + pl.lit("…")).otherwise(s)


def issue_with_value(prefix: str, s: pl.Expr, limit: int = 20) -> pl.Expr:
    """``prefix 'value'`` with the value truncated to ``limit`` characters."""
    return pl.concat_str([pl.lit(prefix + " '"), echo(s, limit), pl.lit("'")])
