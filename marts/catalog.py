"""The documentation of every mart table and column (gathered by `catalog.registry` for COMMENT ON,
the data dictionary and the analyst database).

The marts carry no ID numbers, names, phones or addresses below the village, so every
column goes to the analyst database as it is (`pii="none"`); `tests/test_marts.py`
checks that this catalogue and the built tables have exactly the same columns.
"""

from __future__ import annotations

from catalog.model import Column, Table

C = Column

PERSON_ID = C("person_id", "Stable person id (`P` + 15 hex digits), as in person_xref.")
HOUSEHOLD_ID = C("household_id", "Stable household id (`H` + 15 hex digits), as in household_member.")
POLICY = C("policy", "Name of the policy file (`name` in marts/policy.toml or HHLINK_POLICY) whose rules made the row.")

AREA = (
    C("county_code", "County (区/县) code, 6 digits: from 行政区划代码 where a member's record has one, else from the "
                     "address via codes seen with the same names, else the county of the members' verified IDs."),
    C("county_name", "County name as addresses write it (e.g. 陈仓区)."),
    C("township_code", "Township (街道/镇/乡) code, 9 digits; null when only the county is known."),
    C("township_name", "Township name as addresses write it."),
    C("village_code", "Village or community (村/社区) code, 12 digits; null when not known."),
    C("village_name", "Village or community name as addresses write it."),
    C("urban_rural", "`urban` or `rural`: by the village code (001-199 社区, 200-399 村, GB/T 10114), else the "
                     "place name's suffix; null when unknown."),
)
HOUSEHOLD_CORE = (
    HOUSEHOLD_ID, *AREA,
    C("members", "Persons in the household, deceased included."),
    C("living_members", "Persons in the household not recorded as dead on the reference date."),
    C("head_person_id", "Head of household: the civil-affairs 户主, else an owner of the dwelling, else the oldest "
                        "living adult."),
    C("formed_by", "Strongest evidence that holds the household together (household_member.rule: civil_affairs, "
                   "guardian, housing, address, phone, single)."),
    C("sources", "Departments (sources) with a current record of any member, sorted."),
    C("n_sources", "Number of departments with a current record of any member."),
)

PERSON = Table(
    "person",
    "One row per linked person (every person of household_member): their household, age group, how well their "
    "identity is established, and what each department says about them now. No ID numbers, names or phones.",
    (PERSON_ID, HOUSEHOLD_ID,
     C("household_rule", "Evidence that placed the person in the household (household_member.rule)."),
     C("is_head", "True for the household's head (see household.head_person_id)."),
     C("relation", "与户主关系 on the person's civil-affairs record; null when civil affairs does not list them."),
     C("sex", "M or F: from the person's own verified ID numbers, else what most of their records state."),
     C("birth_year", "Year of birth (the full date stays in the restricted warehouse)."),
     C("age", "Age in whole years on the run's reference date; null when no birth date is known."),
     C("age_group", "0-5, 6-15 (compulsory school age), 16-17, 18-59 or 60+; null when the age is unknown."),
     C("deceased", "True when health records a death on or before the reference date."),
     C("death_date", "死亡日期 from health (the earliest when records disagree)."),
     C("id_status", "Best status of the ID numbers on the person's own records: valid, upgraded_15, bad_check, "
                    "excel_damaged, malformed, blank, or none (no record carries one). Never the number."),
     C("id_verified", "True when id_status is valid or upgraded_15 (a check-digit-valid ID of their own)."),
     C("sources", "Departments with a current record of the person, sorted."),
     C("n_sources", "Number of departments with a current record of the person."),
     C("n_records", "Current records linked to the person (a person may appear twice in one source)."),
     C("assistance_category", "救助类别 on the person's civil-affairs record (a 在保 record first)."),
     C("assistance_status", "保障状态 (在保 or 停保) on that record."),
     C("monthly_amount", "月保障金额 on that record, yuan."),
     C("employment_status", "就业状态 on the person's newest employment record."),
     C("unemployed_since", "失业登记日期 on that record."),
     C("monthly_wage", "月工资 on that record, yuan; null when blank."),
     C("monthly_pension", "养老金月额 on that record, yuan; null when blank."),
     C("school_stage", "学段 of the person's current enrolment (an 在读 record before the record of a school left)."),
     C("enrolment_status", "在校状态 of that enrolment."),
     C("aided", "True when that enrolment's 受资助情况 names some aid (not blank or 无)."),
     C("school_age_not_enrolled", "True when the findings list the person as a school-age child with no "
                                  "education record."),
     C("chronic", "True when a health record says 慢性病 是."),
     C("major_illness", "重大疾病 named on the person's health record (null if none)."),
     C("disability_level", "Most severe 残疾等级 on the person's health records (一级 is the most severe)."),
     C("oop_medical", "年度自付医疗费用: yearly out-of-pocket medical spending, yuan (the highest when records "
                      "disagree)."),
     C("hospital_stays", "住院次数 in the year (the highest when records disagree)."),
     C("dwellings", "Housing records with the person as owner (产权人)."),
     C("housing_type", "房屋类型 of the worst-rated dwelling the person owns."),
     C("danger_rating", "危房等级 (A-D, D the most dangerous) of that dwelling."),
     C("floor_area", "建筑面积 of that dwelling, m²."),
     ),
    examples=(
        "-- persons by age group and how many departments know them\nSELECT age_group, n_sources, count(*) AS "
        "persons FROM person WHERE NOT deceased GROUP BY ALL ORDER BY ALL",
        "-- identity quality: persons without a verified ID of their own, by county\nSELECT h.county_name, "
        "count(*) FILTER (WHERE NOT p.id_verified) AS unverified, count(*) AS persons FROM person p JOIN household h "
        "USING (household_id) GROUP BY ALL ORDER BY unverified DESC",
        "-- living persons with a disability, by level and age group\nSELECT disability_level, age_group, count(*) AS "
        "persons FROM person WHERE disability_level IS NOT NULL AND NOT deceased GROUP BY ALL ORDER BY ALL",
    ),
)

HOUSEHOLD = Table(
    "household",
    "One row per household of household_member: where it lives (county, township, village: code and name, urban "
    "or rural), its size, head, the evidence that formed it and the departments that know it.",
    HOUSEHOLD_CORE,
    examples=(
        "-- households and people per county\nSELECT county_code, county_name, count(*) AS households, "
        "sum(living_members) AS people FROM household GROUP BY ALL ORDER BY county_code",
        "-- households by the evidence that formed them\nSELECT formed_by, count(*) AS households, "
        "avg(members) AS mean_size FROM household GROUP BY ALL ORDER BY households DESC",
    ),
)

FACETS_DOC = ("Per department that knows the household: struct(source, updated = newest update date of its members' "
              "records there, age_days on the reference date, expected_every_days = the source's cadence, stale = "
              "age_days > cadence, delivery_status = the source's status in source_freshness).")

PROFILE = Table(
    "household_profile",
    "One wide row per household: area and size, members by age group, assistance, employment and income, "
    "education, health, housing, which departments know it and how fresh each of those facets is. Counts are of "
    "living members.",
    (*HOUSEHOLD_CORE,
     C("members_0_5", "Living members aged 0-5."),
     C("members_6_15", "Living members aged 6-15 (compulsory school age)."),
     C("members_16_17", "Living members aged 16-17."),
     C("members_18_59", "Living members aged 18-59."),
     C("members_60_plus", "Living members aged 60 or more."),
     C("members_age_unknown", "Living members whose age is unknown."),
     C("receiving_assistance", "True when a living member is in one of the policy's receiving statuses (在保) in "
                               "civil affairs."),
     C("assistance_category", "救助类别 most members receiving assistance have (else of any civil-affairs record)."),
     C("assistance_status", "在保 when any member's record is 在保, else 停保; null when civil affairs lists none."),
     C("assisted_members", "Living members in a receiving status."),
     C("monthly_assistance", "Sum of 月保障金额 of living members in a receiving status, yuan a month."),
     C("declared_income_per_capita", "家庭年人均收入 civil affairs recorded (newest review), yuan a person a year."),
     C("last_verified_on", "Newest 核查日期 of the members' civil-affairs records."),
     C("employed", "Living members 在职."),
     C("flexible_employed", "Living members 灵活就业."),
     C("registered_unemployed", "Living members 失业登记."),
     C("retired", "Living members 退休."),
     C("not_working", "Living members 无业."),
     C("members_in_employment_data", "Living members with an employment record."),
     C("members_amount_missing", "Living members 在职/灵活就业 with a blank wage or 退休 with a blank pension (their "
                                 "income is unknown, not zero)."),
     C("adults_without_employment_record", "Living members of the policy's employment ages, not students, with no "
                                           "employment record."),
     C("monthly_wages", "Sum of living members' 月工资, yuan a month."),
     C("monthly_pensions", "Sum of living members' 养老金月额, yuan a month."),
     C("imputed_income", "Yearly farm income imputed by the policy (per rural member of working age who is not a "
                         "student or severely disabled), yuan."),
     C("estimated_income_per_capita", "(12 × (wages + pensions) + imputed income) / living members, yuan a year."),
     C("income_per_capita", "Declared income per capita where civil affairs assessed the household, else the "
                            "estimate."),
     C("income_basis", "`declared`, `estimated`, or `incomplete` (an estimate that misses amounts the data does not "
                       "show; no low-income flag is raised on it); null when no member is alive."),
     C("students", "Living members enrolled (在读)."),
     C("dropouts", "Living members whose enrolment says 辍学."),
     C("suspended", "Living members whose enrolment says 休学."),
     C("aided_students", "Enrolled members receiving some student aid."),
     C("school_age_not_enrolled", "Living members the findings list as school-age with no education record."),
     C("chronic_ill", "Living members with a chronic illness."),
     C("major_ill", "Living members with a named major illness."),
     C("disabled", "Living members with any 残疾等级."),
     C("severely_disabled", "Living members with a 残疾等级 the policy counts as severe (一级, 二级)."),
     C("most_severe_disability", "Most severe 残疾等级 among living members."),
     C("oop_medical", "Sum of living members' yearly out-of-pocket medical spending, yuan."),
     C("max_member_oop_major_illness", "Highest yearly out-of-pocket spending of a living member with a major "
                                       "illness, yuan."),
     C("hospital_stays", "Sum of living members' 住院次数."),
     C("deceased_members", "Members recorded as dead."),
     C("dwellings", "Housing records with a member as owner."),
     C("housing_type", "房屋类型 of the household's worst-rated dwelling."),
     C("danger_rating", "Worst 危房等级 (A-D) of the members' dwellings."),
     C("floor_area", "建筑面积 of that dwelling, m²."),
     C("facets", FACETS_DOC),
     C("stale_facets", "Sources whose facet is older than the source's cadence."),
     C("oldest_facet_days", "Age in days of the household's oldest facet."),
     ),
    examples=(
        "-- low income and receiving nothing, by county\nSELECT county_name, count(*) AS households FROM "
        "household_profile WHERE NOT receiving_assistance AND income_basis <> 'incomplete' AND income_per_capita < "
        "5040 GROUP BY ALL ORDER BY households DESC",
        "-- assisted households and what they receive\nSELECT assistance_category, count(*) AS households, "
        "avg(monthly_assistance) AS mean_monthly FROM household_profile WHERE receiving_assistance GROUP BY ALL",
        "-- how fresh each facet is\nSELECT f.source, avg(f.age_days) AS mean_age_days, avg(f.stale::INT) AS "
        "share_stale FROM (SELECT unnest(facets) AS f FROM household_profile) GROUP BY ALL ORDER BY 1",
    ),
)

EARLY_WARNING = Table(
    "early_warning",
    "One row per household × early-warning flag raised (low_income, illness, schooling, disability, unemployment, "
    "dangerous_house), with the reason in words; the thresholds are the policy file's.",
    (HOUSEHOLD_ID,
     C("flag", "low_income, illness, schooling, disability, unemployment or dangerous_house."),
     C("reason", "Why the flag is raised: the figures, dates or ratings and the threshold they meet."),
     C("members_affected", "Living members the flag concerns (all living members for income and housing)."),
     C("counts_for_discovery", "True when the policy counts this flag towards the proactive-discovery list."),
     POLICY),
    examples=(
        "-- flags raised, by county\nSELECT h.county_name, w.flag, count(*) AS households FROM early_warning w "
        "JOIN household h USING (household_id) GROUP BY ALL ORDER BY ALL",
        "-- households with two or more flags that count for discovery\nSELECT household_id, list(flag) AS flags "
        "FROM early_warning WHERE counts_for_discovery GROUP BY household_id HAVING count(*) >= 2",
    ),
)

DISCOVERY = Table(
    "proactive_discovery",
    "The proactive-discovery list (政策找人): households receiving no assistance whose early-warning flags meet the "
    "policy's discovery rule, with the reasons and what to assess. A list of visits for caseworkers, never a "
    "decision.",
    (HOUSEHOLD_ID,
     C("priority", "Visit order: more rules met first, then lower income."),
     *AREA,
     C("living_members", "Living members."),
     C("head_person_id", "Head of household (person id)."),
     C("rules_met", "Discovery flags raised, in the policy's order."),
     C("n_rules_met", "Number of discovery flags raised."),
     C("reasons", "The reason of each flag in rules_met, in the same order."),
     C("suggested_action", "What the visit should assess, from the policy's action per flag."),
     C("previously_assisted", "True when civil affairs lists the household as 停保 (assistance stopped)."),
     C("thin_file", "True when the household is also on the thin-file list (verify its facts at the visit)."),
     C("income_per_capita", "Income per living member a year (see household_profile)."),
     C("income_basis", "declared or estimated (see household_profile)."),
     POLICY),
    examples=(
        "-- the visit list of one township (here the first by code), in order\nSELECT priority, village_name, "
        "living_members, rules_met, suggested_action FROM proactive_discovery WHERE township_code = "
        "(SELECT min(township_code) FROM proactive_discovery) ORDER BY priority",
        "-- households listed per county and rule\nSELECT county_name, rule, count(*) AS households FROM "
        "(SELECT county_name, unnest(rules_met) AS rule FROM proactive_discovery) GROUP BY ALL ORDER BY ALL",
    ),
)

THIN_FILE = Table(
    "thin_file",
    "Households and people the data knows too little about to judge, for an offline visit: households seen by too "
    "few departments, with no or incomplete income evidence, or only out-of-date facets; living people with no "
    "verified ID of their own or no known age.",
    (C("subject", "`household` or `person`."),
     HOUSEHOLD_ID,
     C("person_id", "The person (subject person); null for a household."),
     C("county_code", "County code of the household."),
     C("township_code", "Township code of the household."),
     C("village_code", "Village code of the household."),
     C("reasons", "Why the file is thin, one text per rule met."),
     C("has_warning", "True when the household has an early-warning flag."),
     POLICY),
    examples=(
        "-- thin files by reason\nSELECT subject, reason, count(*) AS n FROM (SELECT subject, unnest(reasons) AS "
        "reason FROM thin_file) GROUP BY ALL ORDER BY n DESC",
        "-- thin households with a warning sign, by village (visit first)\nSELECT village_code, count(*) AS "
        "households FROM thin_file WHERE subject = 'household' AND has_warning GROUP BY ALL ORDER BY 2 DESC",
    ),
)

MART_TABLES: tuple[Table, ...] = (PERSON, HOUSEHOLD, PROFILE, EARLY_WARNING, DISCOVERY, THIN_FILE)
