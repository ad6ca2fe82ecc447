"""AWS legacy Cost and Usage Report (CUR 1.0) files → billing fields (FORMATS.md §1).

Reads the ``category/Name`` CSV header (CSV, CSV.gz) and the Athena/Parquet snake_case flavour
(``line_item_usage_start_date``, ``resource_tags_user_<key>``), whose columns are renamed to the
CSV names first; problem messages name each column as the file spells it. The field mapping
(charge category, amortised cost, region fallback, instance-hours) is shared with CUR 2.0 in
``aws_common``; this module adds the Tags JSON built from the ``resourceTags/*`` columns.

What does not belong here: CUR 2.0 (map columns: ``aws_cur2``), manifests (``discover``).
"""

from __future__ import annotations

from carbonledger.errors import InputFormatError
from connectors.aws_common import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, athena_name, cur_billing_fields
from connectors.converted import Converted
from connectors.rawfile import RawTable
from connectors.tags import tags_json_from_columns
from connectors.values import Problems, stripped

TAG_PREFIX = "resourceTags/"
_ATHENA_TAG_PREFIX = "resource_tags_"


def csv_names(columns: list[str]) -> dict[str, str]:
    """Rename map from Athena snake_case names to CUR CSV names (empty for a CSV-style header)."""
    if any("/" in c for c in columns):
        return {}
    known = {athena_name(c): c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    renames = {c: known[c] for c in columns if c in known}
    for c in columns:
        if c.startswith(_ATHENA_TAG_PREFIX):
            key = c[len(_ATHENA_TAG_PREFIX):]
            for namespace in ("user_", "aws_"):
                if key.startswith(namespace):
                    key = namespace[:-1] + ":" + key[len(namespace):]
                    break
            renames[c] = TAG_PREFIX + key
    return renames


def convert_aws_cur(raw_table: RawTable) -> Converted:
    """Billing fields and per-row problems of one legacy CUR file."""
    renames = csv_names(raw_table.columns)
    by_csv_name = {renames.get(c, c): c for c in raw_table.columns}
    missing = [c for c in REQUIRED_COLUMNS if c not in by_csv_name]
    if missing:
        raise InputFormatError(
            raw_table.path,
            f"missing required AWS CUR column(s) {', '.join(missing)}; a legacy CUR file needs "
            f"{', '.join(REQUIRED_COLUMNS)} (or their Athena snake_case names)",
        )
    tag_columns = [c for c in by_csv_name if c.startswith(TAG_PREFIX)]
    wanted = [by_csv_name[c] for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + tuple(tag_columns) if c in by_csv_name]
    raw = raw_table.coded_frame(wanted).rename(columns=renames)
    problems = Problems(raw.index)
    out = cur_billing_fields(raw, by_csv_name, problems)
    out["Tags"] = tags_json_from_columns(
        {name[len(TAG_PREFIX):]: stripped(raw[name]) for name in tag_columns}, raw.index
    )
    return Converted(out, problems)
