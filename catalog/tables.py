"""The documentation of every table the warehouse holds, except the marts (`marts.catalog`).

Fixed tables are written out here; the per-source tables (`raw.<source>`,
`staged.<source>`, `staged.current_<source>`) and the per-source columns of
`audit.household_coverage` are derived from the source configs, so a new department
is documented by its config file like everything else about it.

Personal-data classes (`catalog.model.Pii`) decide what the analyst database gets:
names, ID numbers, phones, birth dates and street addresses are dropped; record keys
(which can embed ID numbers: employment keys are ID numbers, a 学籍号 is ``G`` + ID)
are pseudonymised; person and household ids, codes, dates of events, amounts and
counts go as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog.model import Column, Pii, Table
from ingest.sources import PERSON_FIELDS, SourceConfig

C = Column

# --- shared column docs -------------------------------------------------------------------------------------------

SOURCE = C("source", "Source (department) name as in its config file, e.g. `health`.")
AS_OF = C("as_of", "As-of date of the delivery the row comes from (the delivery folder's name).")
RECORD_ID = C("record_id", "The department's record key (first column of its extract); can embed an ID number.",
              "pseudonymise")
PERSON_ID = C("person_id", "Stable person id (`P` + 15 hex digits): all records linked to one person share it.")
HOUSEHOLD_ID = C("household_id", "Stable household id (`H` + 15 hex digits).")
RUN = C("run", "Resolution run number (1 for the first linkage run of this warehouse).")

KEY_NOTE = ("Record key of the source's newest accepted delivery; in the analyst database a keyed pseudonym of "
            "`source:record_id`, the same value as the report's record_ref.")


def _person_link_columns(side_doc: str, with_link: bool) -> tuple[Column, ...]:
    comparisons = {"id": "ID number", "name": "name", "dob": "birth date", "sex": "sex", "phone": "phone",
                   "place": "address / admin area"}
    cols = [
        C("unique_id_l", f"Left record of the pair as `source:record_id` {side_doc}", "pseudonymise"),
        C("unique_id_r", f"Right record of the pair as `source:record_id` {side_doc}", "pseudonymise"),
    ]
    if with_link:
        cols += [C("source_dataset_l", "Source of the left record."),
                 C("source_dataset_r", "Source of the right record.")]
    cols += [C("match_weight", "Splink match weight of the pair (log2 Bayes factor, prior included)."),
             C("match_probability", "Match probability from the match weight.")]
    cols += [C(f"gamma_{k}", f"Comparison level reached on {v} (-1 null, 0 else level, higher is closer; levels in "
                             "model_parameters).") for k, v in comparisons.items()]
    if with_link:
        cols += [C(f"mw_{k}", f"Match weight contributed by the {v} comparison.") for k, v in comparisons.items()]
    cols += [C("id_status_l", "ID number status of the left record (valid, upgraded_15, bad_check, excel_damaged, "
                              "malformed, blank)."),
             C("id_status_r", "ID number status of the right record."),
             C("name_l", "Normalised name on the left record.", "drop"),
             C("name_r", "Normalised name on the right record.", "drop"),
             C("dob_l", "Birth date on the left record.", "drop"),
             C("dob_r", "Birth date on the right record.", "drop"),
             C("reason", "Why the pair ended as it did: `model` (scored over the link threshold), `below threshold`, "
                         "or a guard that kept two records apart (`guard: …`).")]
    if with_link:
        cols += [C("linked", "True when the pair was linked (same person)."),
                 C("person_id_l", "Person id of the left record."), C("person_id_r", "Person id of the right record.")]
    return tuple(cols)


# --- the contract's and the linked tables (main schema) -----------------------------------------------------------

MAIN: tuple[Table, ...] = (
    Table("person_xref", "One row per record of each source's newest accepted delivery, with the person it belongs "
                         "to (CONTRACT §5): every current record appears exactly once.",
          (SOURCE, C("record_id", KEY_NOTE, "pseudonymise"), PERSON_ID,
           C("as_of", "As-of date of the delivery the record comes from.")),
          examples=("-- records and persons per source\nSELECT source, count(*) AS records, "
                    "count(DISTINCT person_id) AS persons FROM person_xref GROUP BY source ORDER BY source",
                    "-- persons known to how many departments\nSELECT sources, count(*) AS persons FROM "
                    "(SELECT person_id, count(DISTINCT source) AS sources FROM person_xref GROUP BY person_id) "
                    "GROUP BY sources ORDER BY sources")),
    Table("household_member", "One row per person: the household they belong to and the rule that placed them "
                              "there (a household of one when nothing links them to others).",
          (HOUSEHOLD_ID, PERSON_ID,
           C("rule", "Evidence that placed the person in the household: `civil_affairs` (same 户编号), `housing` "
                     "(same dwelling), `guardian`, `address`, `phone`, or `single` (a household of one).")),
          examples=("-- household sizes\nSELECT size, count(*) AS households FROM (SELECT household_id, count(*) "
                    "AS size FROM household_member GROUP BY household_id) GROUP BY size ORDER BY size",)),
    Table("deliveries", "One row per delivery seen in the landing zone, accepted or rejected, with its accounting: "
                        "rows delivered = rows staged + rows quarantined.",
          (SOURCE, C("as_of", "As-of date of the delivery (folder name); null when the folder name is not a date."),
           C("folder", "Landing-zone folder of the delivery."),
           C("status", "`accepted` or `rejected`."),
           C("reason", "Why the delivery was rejected (one line naming the file and the problem); null if accepted."),
           C("rows_delivered", "Data rows in the delivery's files."),
           C("rows_staged", "Rows staged (typed and normalised)."),
           C("rows_quarantined", "Rows set aside in quarantine (blank or repeated record key)."),
           C("rows_with_issues", "Staged rows with at least one per-row issue (a value that could not be parsed)."),
           C("format", "File format: csv, xlsx or parquet."),
           C("encodings", "Text encoding(s) detected (utf-8, utf-8-sig, gb18030)."),
           C("manifest", "MANIFEST.json: `verified`, `absent`, or why it did not match."),
           C("files", "The delivery's data files."),
           C("extra_columns", "Columns delivered that the source config does not know (kept in raw).")),
          examples=("-- what arrived, and what was turned away\nSELECT source, as_of, status, rows_delivered, "
                    "rows_staged, rows_quarantined, reason FROM deliveries ORDER BY source, as_of",)),
    Table("source_freshness", "One row per configured source: how old its newest accepted delivery is against "
                              "the run's reference date (fresh, late, stale or missing).",
          (SOURCE, C("department", "Department that delivers the source (from its config)."),
           C("latest_as_of", "As-of date of the newest accepted delivery; null when none."),
           C("expected_every_days", "Expected delivery cadence in days (from the config)."),
           C("age_days", "Days from latest_as_of to the reference date."),
           C("status", "`fresh` (age <= cadence), `late` (up to twice the cadence), `stale` (beyond) or `missing` "
                       "(never delivered)."),
           C("reference_date", "The run's reference date (`--as-of`, default the day of the run)."),
           C("deliveries_accepted", "Accepted deliveries of the source so far."),
           C("deliveries_rejected", "Rejected deliveries of the source so far.")),
          examples=("-- sources that are not fresh\nSELECT source, latest_as_of, age_days, expected_every_days, "
                    "status FROM source_freshness WHERE status <> 'fresh'",)),
    Table("findings", "One row per audit finding: contradictions between departments, overdue reviews, missing "
                      "enrolments, shared ID numbers; with the record that shows it and readable evidence.",
          (C("finding_type", "Kind of finding, e.g. deceased_receiving_assistance, duplicate_assistance, "
                             "school_age_not_enrolled, shared_id_number, review_overdue (audit.finding_counts "
                             "describes each)."),
           C("person_id", "Person the finding is about (or null)."), C("household_id", "Their household (or null)."),
           C("source", "Source of the record that shows the problem."),
           C("record_id", "Record that shows the problem (null when the finding is an absence); in the analyst "
                          "database its pseudonym, equal to record_ref.", "pseudonymise"),
           C("detail", "Readable evidence: dates, amounts, ids; never names, ID numbers or phones."),
           C("record_ref", "Keyed pseudonym of `source:record_id` (`R-` + 20 letters), as shown in the report.")),
          examples=("-- findings by type\nSELECT finding_type, count(*) AS findings FROM findings GROUP BY "
                    "finding_type ORDER BY findings DESC",
                    "-- the records behind the findings, with their persons\nSELECT f.finding_type, f.source, "
                    "f.record_ref, x.person_id FROM findings f JOIN person_xref x USING (source, record_id) "
                    "ORDER BY 1, 2, 3")),
    Table("person_link", "Scored record pairs of the last linkage run: match weight, the level of each comparison, "
                         "and whether the pair was linked.",
          _person_link_columns("(pseudonymised in the analyst database).", with_link=True),
          examples=("-- how strong the links are, per pair of sources\nSELECT source_dataset_l, source_dataset_r, "
                    "count(*) FILTER (WHERE linked) AS links, round(median(match_weight), 1) AS median_weight "
                    "FROM person_link GROUP BY ALL ORDER BY ALL",)),
    Table("review_queue", "Pairs for clerical review: weights between the review and link thresholds, and pairs a "
                          "guard kept apart. Shows names side by side, so it stays in the restricted warehouse.",
          _person_link_columns("", with_link=False), analyst=False),
    Table("id_events", "What happened to person and household ids in each linkage run: new, merge, split, retired.",
          (RUN, C("kind", "`person` or `household`."), C("event", "`new`, `merge`, `split` or `retired`."),
           C("id", "The id the event is about."),
           C("other_id", "The other id involved (the retired id of a merge, the new id of a split)."),
           C("members", "Records (persons for households) involved."),
           C("detail", "Short explanation of the event."))),
    Table("linkage_quality", "Linkage measures of the last run with no truth needed, as one long table: link rate "
                             "per source, cluster sizes, links without an ID match, the weight histogram.",
          (C("metric", "Measure: link_rate, cluster_size, weight_histogram, share_links_without_id_match, links, "
                       "persons, records, link_threshold."),
           C("key", "Breakdown of the measure (a source, a cluster size, a weight bin) or null."),
           C("value", "Value of the measure.")),
          examples=("SELECT key AS source, round(value, 3) AS link_rate FROM linkage_quality "
                    "WHERE metric = 'link_rate' ORDER BY key",)),
    Table("model_parameters", "The m and u probabilities and the match weight of every comparison level the "
                              "linkage model used in the last run.",
          (C("comparison", "Comparison: id, name, dob, sex, phone, place."),
           C("level", "Comparison level, in words."),
           C("m_probability", "P(level | same person)."), C("u_probability", "P(level | different persons)."),
           C("match_weight", "log2(m / u): the weight the level adds."),
           C("m_trained", "True when m was estimated from this data (else the versioned default)."),
           C("u_trained", "True when u was estimated from this data."),
           C("prior", "Prior probability that two compared records match."),
           C("link_threshold", "Match weight at or above which a pair is linked."),
           C("review_threshold", "Match weight from which a pair below the link threshold goes to review."),
           C("source", "Where the parameters came from (the versioned parameter file or a training run)."))),
)

#: Tables only the analyst database has (written by `privacy.analyst`).
ANALYST_ONLY: tuple[Table, ...] = (
    Table("pseudonymisation", "How this analyst database was pseudonymised: which key (by its public id) made the "
                              "pseudonyms. Pseudonyms join across databases only when key_id is the same.",
          (C("key_id", "Public fingerprint of the pseudonym key (8 hex digits); changes when the key is rotated."),
           C("demo_key", "True when the public demo key was used: the pseudonyms then protect nothing."),
           C("method", "How pseudonyms are made."))),
    Table("example_queries", "Example queries over this database, one row each (also in the data dictionary).",
          (C("table_name", "Table the example is about."), C("title", "What the example shows."),
           C("sql", "The query."))),
)

# --- internal schemas -------------------------------------------------------------------------------------------

LINKED: tuple[Table, ...] = (
    Table("linked.id_registry", "Every person and household id ever issued, with the run that first issued it "
                                "(ids are never reused).",
          (C("kind", "`person` or `household`."), C("id", "The id."), C("first_run", "Run that first issued it.")),
          analyst=False),
    Table("linked.resolution_runs", "One row per linkage run: sizes and the fingerprint of its inputs (a rerun "
                                    "with the same fingerprint is skipped).",
          (RUN, C("records", "Current records linked."), C("persons", "Persons found."),
           C("households", "Households found."), C("pairs_scored", "Record pairs scored."),
           C("inputs_fingerprint", "SHA-256 over current staged rows, model, decisions and thresholds."),
           C("mode", "How the run linked: `full`, `incremental` (only changed sources re-linked) or `unchanged`."),
           C("model_fingerprint", "Fingerprint of the parameters, decisions, thresholds and linkage code."),
           C("source_hashes", "Per source, a hash of its current snapshot (JSON): what an incremental run compares."),
           C("prior_records", "Record count the last full re-link set the model's prior from.")),
          analyst=False),
    Table("linked.input", "The last linkage run's input: every current record as one row with the columns Splink "
                          "compares, with its person; what an incremental run starts from. Holds names, ID numbers "
                          "and phones.",
          (C("unique_id", "`source:record_id`.", "pseudonymise"), C("source_dataset", "Source of the record."),
           C("record_id", "The record key.", "pseudonymise"), C("name", "Normalised name.", "drop"),
           C("name_pinyin", "Name in toneless pinyin.", "drop"), C("name_kind", "han, minority, latin or other."),
           C("surname_py", "Surname in pinyin.", "drop"), C("given_py", "Given name in pinyin.", "drop"),
           C("id", "Trusted ID number (its birth date agrees with the stated one), else null.", "drop"),
           C("id_status", "Status of the record's ID number."),
           C("id_head", "First 14 characters of the ID (region and birth date), for damaged-ID comparisons.", "drop"),
           C("id_given", "The ID number as given, trusted or not.", "drop"),
           C("id_trusted", "Whether the ID number is trusted."), C("dob", "Birth date (stated, else from the ID).",
                                                                  "drop"),
           C("dob_year", "Birth year."), C("sex", "M or F."), C("phone", "Phone, digits only.", "drop"),
           C("county", "County code (6 digits) from the admin code."), C("town", "Township name."),
           C("village", "`township/village`."), C("vgroup", "`township/village/group`.", "drop"),
           C("address", "Normalised address.", "drop"),
           C("address_key", "Address from the township on (one key per dwelling).", "drop"),
           C("address_dwelling", "Whether the address names a dwelling (house number or room)."),
           C("address_registered", "Whether the address is a registered (户籍) address rather than a residence."),
           C("staged_hash", "Hash of the record's staged row: tells an incremental run what changed."),
           C("component", "The record's linkage component in the last run: linked pairs before conflicts were split."),
           C("person_id", "Person the record was linked to.")),
          analyst=False),
)

_DELIVERY_LOG_COLUMNS = (
    *MAIN[2].columns,
    C("fingerprint", "SHA-256 over the delivery's file hashes: an unchanged delivery is not read again."),
    C("staged_fingerprint", "Fingerprint of the delivery when it was last staged."),
)

META: tuple[Table, ...] = (
    Table("meta.delivery_log", "Every delivery ever seen, with the fingerprint that lets reruns skip unchanged "
                               "deliveries; the source of the `deliveries` table.", _DELIVERY_LOG_COLUMNS,
          analyst=False),
    Table("quarantine.rows", "Rows that could not be staged, with the reason: a blank record key, or a key "
                             "repeated within the delivery (the first row is staged).",
          (SOURCE, AS_OF, C("file", "File the row came from."),
           C("row_number", "Row number in the file (spreadsheet numbering: the header is row 1)."),
           C("record_id", "The row's record key (null when blank).", "pseudonymise"),
           C("reason", "Why the row was quarantined; quotes the record key.", "drop")),
          analyst=False),
)

_SHARE = "Share (0–1)"
_AUDIT_EXAMPLES = {
    "coverage_by_area": ("-- the counties where a department reaches fewest households\nSELECT area AS county, source, "
                         "households, round(share, 2) AS share FROM audit.coverage_by_area WHERE level = 'county' "
                         "ORDER BY share, area, source LIMIT 20",),
    "expected_missing": ("-- people a department should know but does not, by department and reason\n"
                         "SELECT missing_source, reason, count(*) AS persons FROM audit.expected_missing "
                         "GROUP BY ALL ORDER BY persons DESC",),
}
AUDIT: tuple[Table, ...] = tuple(Table(f"audit.{name}", doc, cols, examples=_AUDIT_EXAMPLES.get(name, ()))
                                 for name, doc, cols in (
    ("check_results", "Result of every expectation (Great Expectations) run on the warehouse tables this run.",
     (C("suite", "Expectation suite (one per checked table)."), C("table", "Table checked."),
      C("expectation", "Expectation type."), C("column", "Column(s) checked, or null for table-level expectations."),
      C("blocking", "True when a failure stops the assets downstream."), C("success", "Whether it held."),
      C("observed", "What was observed (a count or the share of unexpected values), never the values."),
      C("rows", "Rows checked."))),
    ("expectation_results", "The stored expectation results the checks wrote (the source of check_results).",
     (C("suite", "Expectation suite."), C("table", "Table checked."), C("expectation", "Expectation type."),
      C("column", "Column(s) checked."), C("blocking", "True when a failure blocks downstream assets."),
      C("success", "Whether it held."), C("observed", "What was observed (counts, shares)."),
      C("rows", "Rows checked."))),
    ("check_pass_rates", "Pass rate of the expectations per suite.",
     (C("suite", "Expectation suite."), C("expectations", "Expectations run."), C("passed", "Expectations that held."),
      C("blocking_failed", "Blocking expectations that failed."), C("pass_rate", f"{_SHARE} of expectations held."))),
    ("coverage_by_area", "Share of households that have a record in each source, by county or township.",
     (C("level", "`county` or `township`."), C("area", "Admin code of the area, or `(unknown)`."),
      C("source", "Source."), C("households", "Households in the area."),
      C("covered", "Of them, households with at least one record in the source."),
      C("share", f"{_SHARE} covered / households."))),
    ("expected_missing", "People a department should know but does not: school-age children with no education "
                         "record, adults with no health record (the dead excluded).",
     (PERSON_ID, HOUSEHOLD_ID, C("missing_source", "The source expected to hold a record."),
      C("age", "Age in years on the reference date."), C("seen_in", "Sources that do hold the person."),
      C("reason", "The rule that expects the record."))),
    ("finding_counts", "Findings per type, with what each type means.",
     (C("finding_type", "Kind of finding."), C("description", "What the finding means."),
      C("findings", "How many this run."))),
    ("freshness_timeline", "Every delivery per configured source with its cadence (the freshness plot).",
     (SOURCE, C("as_of", "As-of date of the delivery."), C("status", "`accepted` or `rejected`."),
      C("rows_delivered", "Rows delivered."), C("expected_every_days", "Cadence of the source in days."))),
    ("household_facet_staleness", "Per source, how many households' newest record there is older than the "
                                  "source's cadence; `(any facet)` for households with any stale facet.",
     (C("source", "Source, or `(any facet)`."), C("households", "Households with a dated record in the source."),
      C("stale_households", "Of them, households whose newest record is older than the cadence."),
      C("share_stale", f"{_SHARE} stale."))),
    ("household_facets", "Per household and source, the date of the household's newest record there and whether "
                         "it is older than the cadence.",
     (HOUSEHOLD_ID, SOURCE, C("updated", "Newest update date among the household's records in the source."),
      C("expected_every_days", "Cadence of the source."), C("age_days", "Days from updated to the reference date."),
      C("stale", "True when age_days exceeds the cadence."))),
    ("linkage_summary", "Headline linkage measures with the previous run's value where one is kept.",
     (C("measure", "Measure, in words."), C("value", "This run's value."),
      C("previous", "The previous run's value, or null."), C("change", "value - previous."))),
    ("linkage_cluster_sizes", "Persons by number of records (the cluster-size plot).",
     (C("key", "Records per person (zero-padded)."), C("value", "Persons."))),
    ("linkage_link_rate", "Share of each source's records linked to another record (the link-rate plot).",
     (C("key", "Source."), C("value", f"{_SHARE} of its records linked."))),
    ("linkage_weight_histogram", "Scored pairs by match weight (the weight plot).",
     (C("key", "Match-weight bin."), C("value", "Pairs."))),
    ("public_findings", "The findings as the report shows them: the record masked by record_ref, no record key.",
     (C("finding_type", "Kind of finding."), PERSON_ID, HOUSEHOLD_ID, SOURCE,
      C("record_ref", "Keyed pseudonym of the record (`R-` + 20 letters)."), C("detail", "Readable evidence."))),
    ("record_age_histogram", "Records per source by the age of their own update date, in 30-day bins.",
     (SOURCE, C("age_from_days", "Lower bound of the bin, in days."), C("records", "Records in the bin."))),
    ("record_staleness", "Per source, how old the records' own update dates are against the cadence (a delivery "
                         "can be new while its records are old).",
     (SOURCE, C("updated_field", "The config field holding the record's update date."),
      C("expected_every_days", "Cadence of the source."), C("records", "Current records."),
      C("records_dated", "Of them, with an update date."), C("median_age_days", "Median age of the update date."),
      C("p90_age_days", "90th percentile of the age."), C("max_age_days", "Oldest update date's age."),
      C("older_than_cadence", "Records older than the cadence."),
      C("share_older_than_cadence", f"{_SHARE} of dated records older than the cadence."))),
    ("source_freshness", "Copy of `source_freshness` as the report drew it.",
     tuple(MAIN[3].columns)),
    ("thin_file", "People seen by one department only (one row each, with that source).",
     (PERSON_ID, HOUSEHOLD_ID, C("source", "The one source that knows them."))),
))

# --- per-source tables, derived from the configs -----------------------------------------------------------------

#: Columns a normaliser writes for a value type, after the field itself: (suffix, doc, pii).
DERIVED: dict[str, tuple[tuple[str, str, Pii], ...]] = {
    "name": (("_pinyin", "{label} in toneless pinyin, space-separated syllables (for linkage).", "drop"),
             ("_kind", "Kind of name in {label}: han, minority, latin or other.", "none")),
    "id_number": (("_status", "Status of {label}: valid, upgraded_15, bad_check, excel_damaged, malformed or blank.",
                   "none"),
                  ("_birth_date", "Birth date encoded in {label}.", "drop"),
                  ("_sex", "Sex encoded in {label} (M/F).", "none")),
    "phone": (("_kind", "Kind of number in {label}: mobile or landline.", "none"),),
    "address": (("_township", "Township (…镇/乡/街道) found in {label}.", "none"),
                ("_village", "Village or community (…村/社区) found in {label}.", "none"),
                ("_group", "Village group (…组) found in {label}.", "drop")),
    "admin_code": (("_county", "County part (6 digits) of {label}.", "none"),
                   ("_township", "Township part (9 digits) of {label}.", "none"),
                   ("_village", "Village part (12 digits) of {label}.", "none")),
}

_MAIN_DOC = {
    "key": "{label}: the record key.",
    "text": "{label}, trimmed.",
    "name": "{label}, normalised (width folded, traditional → simplified, minority separators as ·, stray spaces "
            "removed; Latin names upper-case).",
    "id_number": "{label}: 18-character ID number (15-digit IDs upgraded per GB 11643; kept with a bad check digit "
                 "or spreadsheet damage; null when blank or malformed).",
    "sex": "{label}: M, F or null.",
    "date": "{label} as a date (null, with an issue, when unparseable or after the delivery's as-of date).",
    "phone": "{label}: digits only (mobile 11 digits, landline area code + number).",
    "address": "{label}, normalised text.",
    "admin_code": "{label}: 12-digit admin code (county 6 + township 3 + village 3), or null.",
    "money": "{label}: amount in yuan.",
    "int": "{label}: whole number.",
    "number": "{label}: number.",
    "enum": "{label}: one of {values}, or null.",
}

_TYPE_PII: dict[str, Pii] = {"key": "pseudonymise", "name": "drop", "id_number": "drop", "phone": "drop",
                             "address": "drop"}

#: Staged person fields each type of source column maps to when the source lacks that column.
_PERSON_FIELD_TYPES = {"name": "name", "id_number": "id_number", "sex": "sex", "birth_date": "date", "phone": "phone",
                       "address": "address", "admin_code": "admin_code"}
KEY_ID = "key_id_number"


def _pii(type_: str, field: str) -> Pii:
    if field == "birth_date":
        return "drop"
    return _TYPE_PII.get(type_, "none")


def _field_columns(field: str, type_: str, label: str, values: tuple[str, ...] = ()) -> list[Column]:
    doc = _MAIN_DOC[type_].format(label=label, values=", ".join(values) or "the config's values")
    cols = [C(field, doc, _pii(type_, field))]
    cols += [C(field + suffix, text.format(label=label), pii) for suffix, text, pii in DERIVED.get(type_, ())]
    return cols


def _staged_columns(cfg: SourceConfig) -> tuple[Column, ...]:
    cols = [SOURCE, AS_OF, C("record_id", f"{cfg.key.header}: the record key (can embed an ID number).",
                             "pseudonymise")]
    for f in PERSON_FIELDS:
        col = cfg.column(f)
        if col is not None:
            cols += _field_columns(f, col.type, col.header, col.values)
        else:
            absent = [c.name for c in _field_columns(f, _PERSON_FIELD_TYPES[f], f)]
            cols += [C(n, f"Always null: {cfg.source} delivers no {f} (present so that every source's staged "
                          "table has the same person columns).", _pii(_PERSON_FIELD_TYPES[f], n)) for n in absent]
    for col in cfg.own_fields:
        cols += _field_columns(col.field, col.type, col.header, col.values)
    if getattr(cfg, "key_id_pattern", None):
        cols += _field_columns(KEY_ID, "id_number", f"the ID number inside {cfg.key.header}")
    cols += [C("issues", "Per-row issues: short reasons why a value could not be used (field: reason)."),
             C("file", "File the row came from."),
             C("row_number", "Row number in the file (spreadsheet numbering: the header is row 1).")]
    return tuple(cols)


def raw_table(cfg: SourceConfig, extra_columns: Iterable[str] = ()) -> Table:
    """`raw.<source>`: every delivered column as text; `extra_columns` are headers the config does not know."""
    cols = [C("_row", "Row number in the file (spreadsheet numbering: the header is row 1).")]
    for col in cfg.columns:
        for header in col.headers:
            pii = _pii(col.type, col.field)
            cols.append(C(header, f"{header} as delivered (text), staged as `{col.field}` ({col.type}).", pii))
    cols += [C("_file", "File the row came from."), C("_as_of", "As-of date of the delivery.")]
    known = {c.name for c in cols}
    cols += [C(h, f"{h}: a column delivered that the {cfg.source} config does not know (kept as delivered, "
                  "reported in deliveries.extra_columns).", "drop") for h in extra_columns if h not in known]
    return Table(f"raw.{cfg.source}", f"{cfg.title} ({cfg.department}): every row of every delivery of "
                                      f"{cfg.source} exactly as delivered, every column as text.",
                 tuple(cols), analyst=False)


def source_tables(cfg: SourceConfig, raw_extra: Iterable[str] = ()) -> tuple[Table, ...]:
    """The raw table, the staged table and the current-snapshot view of one source."""
    staged = _staged_columns(cfg)
    return (
        raw_table(cfg, raw_extra),
        Table(f"staged.{cfg.source}", f"{cfg.title} ({cfg.department}): every staged record of every accepted "
                                      "delivery, typed and normalised (one row per record per delivery).",
              staged, analyst=False),
        Table(f"staged.current_{cfg.source}", f"View: the records of {cfg.source}'s newest accepted delivery (the "
                                              "current snapshot linkage and audit read).", staged, analyst=False),
    )


def household_coverage(sources: Iterable[SourceConfig]) -> Table:
    """`audit.household_coverage`, whose columns are the configured sources."""
    return Table("audit.household_coverage", "One row per household: its area and, per source, how many of its "
                                              "members' records that source holds.",
                 (HOUSEHOLD_ID, C("county", "County code of the household (the value its records give most often)."),
                  C("township", "Township code of the household."),
                  *(C(s.source, f"Records of the household's members in {s.source}.") for s in sources)))


#: The audit frame the findings step keeps for the report and the marts (`quality.findings.RECORDS_TABLE`).
AUDIT_RECORDS = Table(
    "audit.records", "Every current record with the person columns the audit rules read, its person and household, "
    "as the findings step built it; the report and the marts read it instead of building it again. Holds names "
    "and ID numbers.",
    (SOURCE, AS_OF, C("record_id", "The record key.", "pseudonymise"), C("name", "Normalised name.", "drop"),
     C("name_pinyin", "Name in toneless pinyin.", "drop"), C("id_number", "Normalised ID number.", "drop"),
     C("id_number_status", "Status of the ID number (valid, invalid checksum, blank, …)."),
     C("id_number_birth_date", "Birth date the ID number encodes.", "drop"),
     C("id_number_sex", "Sex the ID number encodes."), C("sex", "Stated sex."),
     C("birth_date", "Stated birth date.", "drop"), C("admin_code_county", "County code from the admin code."),
     C("admin_code_township", "Township code from the admin code."),
     C("address_township", "Township from the address."),
     C("key_id_number", "ID number inside the record key (a 学籍号), when the source's key embeds one.", "drop"),
     C("key_id_number_status", "Status of that ID number."), C("updated", "When the department last updated it."),
     C("person_id", "Person the record is linked to."), C("household_id", "Household of that person."),
     C("_foreign_id", "True when the record carries someone else's ID number (`findings`: shared_id_number)."),
     C("audit_pid", "The person the audit rules count the record under (its person, or the record itself if "
                    "unlinked)."),
     C("linkage_basis", "The linkage run's inputs fingerprint the frame was built on; a later run makes it stale.")),
    analyst=False)


def fixed_tables() -> tuple[Table, ...]:
    """Every table whose columns do not depend on the source configs."""
    return (*MAIN, *ANALYST_ONLY, *LINKED, *META, *AUDIT, AUDIT_RECORDS)
