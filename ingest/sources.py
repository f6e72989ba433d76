"""The one place that knows the source configs.

A department is described by a TOML file (``sources/<name>.toml``): its folder name,
cadence, record key and a column list mapping Chinese headers to field names and
value types. Adding a department is adding a file; nothing in Python names a source.
Extra config folders can be given through ``HHLINK_SOURCES`` (``os.pathsep``-separated),
which is how tests add a sixth source.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

#: Value types a column may declare; each has one normaliser in ``ingest.normalise``.
COLUMN_TYPES = frozenset(
    {"key", "text", "name", "id_number", "sex", "date", "phone", "address", "admin_code",
     "money", "int", "number", "enum"}
)

#: Person fields every staged table carries (null where a source lacks them), so that
#: linkage sees identical columns across sources.
PERSON_FIELDS = ("name", "id_number", "sex", "birth_date", "phone", "address", "admin_code")

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "sources"


class SourceConfigError(ValueError):
    """A source config file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)


@dataclass(frozen=True)
class SourceConfig:
    source: str
    title: str
    department: str
    expected_every_days: int
    columns: tuple[Column, ...]
    file_stem: str = ""
    updated_field: str | None = None
    address_is_registered: bool = False
    #: A regular expression whose first group is the person's ID number inside the record key
    #: (a 全国学籍号 is ``G`` + the student's ID). The key is assigned from the person's own
    #: documents, so it names them even where the ID column is blank or holds a guardian's ID.
    key_id_pattern: str | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> Column:
        return next(c for c in self.columns if c.type == "key")

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, field_name: str) -> Column | None:
        return next((c for c in self.columns if c.field == field_name), None)

    @property
    def own_fields(self) -> tuple[Column, ...]:
        """Columns beyond the shared person fields and the record key."""
        return tuple(c for c in self.columns if c.field not in PERSON_FIELDS and c.type != "key")


def _parse(path: Path) -> SourceConfig:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SourceConfigError(f"{path}: cannot read source config ({exc})") from exc
    where = f"{path.name}"
    for k in ("source", "expected_every_days", "columns"):
        if k not in doc:
            raise SourceConfigError(f"{where}: missing '{k}'")
    cols = []
    for i, c in enumerate(doc["columns"]):
        try:
            col = Column(
                header=c["header"], field=c["field"], type=c["type"],
                required=bool(c.get("required", False)),
                aliases=tuple(c.get("aliases", ())), values=tuple(c.get("values", ())),
            )
        except KeyError as exc:
            raise SourceConfigError(f"{where}: column {i + 1} lacks {exc}") from exc
        if col.type not in COLUMN_TYPES:
            raise SourceConfigError(f"{where}: column '{col.header}' has unknown type '{col.type}'")
        if col.field in PERSON_FIELDS and col.type not in ("name", "id_number", "sex", "date",
                                                            "phone", "address", "admin_code"):
            raise SourceConfigError(f"{where}: person field '{col.field}' cannot have type '{col.type}'")
        cols.append(col)
    keys = [c for c in cols if c.type == "key"]
    if len(keys) != 1 or keys[0].field != "record_id":
        raise SourceConfigError(f"{where}: exactly one column of type 'key' with field 'record_id' is needed")
    if not any(c.field == "name" for c in cols):
        raise SourceConfigError(f"{where}: a 'name' column is needed to link people")
    fields = [c.field for c in cols]
    if len(set(fields)) != len(fields):
        raise SourceConfigError(f"{where}: a field name is used twice")
    cfg = SourceConfig(
        source=str(doc["source"]), title=str(doc.get("title", doc["source"])),
        department=str(doc.get("department", "")),
        expected_every_days=int(doc["expected_every_days"]), columns=tuple(cols),
        file_stem=str(doc.get("file_stem", doc["source"])),
        updated_field=doc.get("updated_field"),
        address_is_registered=bool(doc.get("address_is_registered", False)),
        key_id_pattern=doc.get("key_id_pattern"), path=path,
    )
    if cfg.key_id_pattern is not None:
        try:
            groups = re.compile(cfg.key_id_pattern).groups
        except (re.error, TypeError) as exc:
            raise SourceConfigError(f"{where}: key_id_pattern is not a regular expression ({exc})") from exc
        if groups < 1:
            raise SourceConfigError(f"{where}: key_id_pattern needs a group around the ID number")
    if cfg.updated_field and cfg.updated_field not in fields:
        raise SourceConfigError(f"{where}: updated_field '{cfg.updated_field}' is not a column")
    if not cfg.source.isidentifier():
        raise SourceConfigError(f"{where}: source name '{cfg.source}' must be a plain identifier")
    return cfg


def config_dirs() -> tuple[Path, ...]:
    extra = [Path(p) for p in os.environ.get("HHLINK_SOURCES", "").split(os.pathsep) if p]
    return (BUILTIN_DIR, *extra)


@cache
def _load(dirs: tuple[Path, ...]) -> dict[str, SourceConfig]:
    out: dict[str, SourceConfig] = {}
    for d in dirs:
        for path in sorted(Path(d).glob("*.toml")):
            cfg = _parse(path)
            if cfg.source in out:
                raise SourceConfigError(f"{path}: source '{cfg.source}' is already defined in {out[cfg.source].path}")
            out[cfg.source] = cfg
    return out


def load_sources() -> dict[str, SourceConfig]:
    """All configured sources by name, built-in first, in a stable order."""
    return _load(config_dirs())
