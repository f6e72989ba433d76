"""Keyed pseudonyms: the same record gets the same pseudonym in every table and every run with one key.

A pseudonym is ``R-`` + the first 20 hex digits (80 bits) of HMAC-SHA256(key, value),
written with the letters ``a``–``p`` instead of ``0-9a-f``. Without the key nobody can
recompute a pseudonym from a guessed record key or ID number (a plain hash of an
18-digit ID could be brute-forced); with letters only, a pseudonym can never look like
an ID number or phone to a scanner or a reader.

A record key is pseudonymised together with its source, as ``source:record_id`` (the
form Splink's pair ids take), so `person_xref.record_id`, `findings.record_id`, the
report's `record_ref` and `person_link.unique_id_l` agree for one record.

The key comes from ``HHLINK_PSEUDONYM_KEY`` (through a Dagster ``EnvVar`` on the
resource). Without it, the public `DEMO_KEY` is used and the run log warns: fine for
generated data, useless as protection for real data, since anyone can read the key
here. Rotating the key changes every pseudonym (docs/privacy.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import duckdb

KEY_ENV = "HHLINK_PSEUDONYM_KEY"
#: Public, so it protects nothing: for generated demo data only. Runs using it warn.
DEMO_KEY = "hhlink-demo-pseudonym-key (public: set HHLINK_PSEUDONYM_KEY for real data)"
PREFIX = "R-"
DIGITS = 20
_HEX, _LETTERS = "0123456789abcdef", "abcdefghijklmnop"
_TO_LETTERS = str.maketrans(_HEX, _LETTERS)
#: The SQL macro `install_sql_pseudonym` defines on a connection.
SQL_MACRO = "hh_pseudonym"


def key_from_env() -> str:
    """The configured key, or the demo key (callers outside Dagster: tests, scripts)."""
    return os.environ.get(KEY_ENV) or DEMO_KEY


def is_demo(key: str) -> bool:
    return key == DEMO_KEY


def _key_bytes(key: str) -> bytes:
    if not key:
        raise ValueError(f"the pseudonym key is empty: set {KEY_ENV} to a long random secret")
    return key.encode("utf-8")


def key_id(key: str) -> str:
    """A short public fingerprint of the key: tells whether two databases' pseudonyms can be joined."""
    return hmac.new(_key_bytes(key), b"hhlink pseudonym key id", hashlib.sha256).hexdigest()[:8]


def pseudonym(value: str | None, key: str) -> str | None:
    """The pseudonym of one value (None stays None)."""
    if value is None:
        return None
    digest = hmac.new(_key_bytes(key), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS].translate(_TO_LETTERS)


def record_pseudonym(source: str | None, record_id: str | None, key: str) -> str | None:
    """The pseudonym of a department record: of ``source:record_id``."""
    return None if record_id is None else pseudonym(f"{source}:{record_id}", key)


def _pads(key: str) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104), for computing HMAC in SQL from sha256."""
    k = _key_bytes(key)
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def install_sql_pseudonym(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Define the temporary macro ``hh_pseudonym(text)`` on this connection, equal to `pseudonym`.

    HMAC is computed from DuckDB's sha256 over BLOBs, so millions of values are
    pseudonymised inside DuckDB without a Python round trip. The padded keys live in
    session variables, never in SQL text (which could reach an error message or log).
    """
    inner, outer = _pads(key)
    con.execute("SET VARIABLE hh_ipad = unhex(?)", [inner.hex()])
    con.execute("SET VARIABLE hh_opad = unhex(?)", [outer.hex()])
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO {SQL_MACRO}(v) AS CASE WHEN v IS NULL THEN NULL ELSE "
        f"'{PREFIX}' || translate(left(sha256(getvariable('hh_opad') || unhex(sha256(getvariable('hh_ipad') "
        f"|| encode(v::VARCHAR)))), {DIGITS}), '{_HEX}', '{_LETTERS}') END")
