"""AWS CUR 2.0 (Data Exports table ``COST_AND_USAGE_REPORT``) files → billing fields (FORMATS.md §2.1).

CUR 2.0 has a fixed snake_case schema (``line_item_unblended_cost``, ``bill_payer_account_id``, ...)
in Parquet, CSV and CSV.gz. Its map columns arrive as JSON object text (``rawfile`` turns Parquet
``map<string, string>`` into the same text):

* ``product``: every product attribute without a top-level column. ProductName, region code,
  region, location and instance type are taken from the top-level ``product_*`` column where it
  has a value, else from the map (keys compared ignoring case and ``_``, so ``region_code`` and
  ``regionCode`` both match);
* ``resource_tags``: activated cost-allocation tags. Keys spelled ``user_team`` or ``user:team``
  both become ``user:team`` in Tags (``aws_`` likewise), as the legacy reader writes them.

A map value that is not a JSON object is a row problem naming the column. Everything else (charge
category, amortised cost, region fallback, instance-hours) is the legacy mapping of
``aws_common``, applied after renaming the columns to the legacy CSV names; messages keep the
CUR 2.0 names. ``line_item_usage_account_name`` names the account for untagged lines.

What does not belong here: legacy CUR (``aws_cur``), Data Exports manifests (``discover``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.aws_common import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, athena_name, cur_billing_fields
from connectors.converted import Converted
from connectors.rawfile import RawTable
from connectors.values import Problems, first_present, quoted, stripped

PRODUCT_MAP = "product"
TAG_MAP = "resource_tags"
ACCOUNT_NAME = "line_item_usage_account_name"
#: Canonical column → its key in the ``product`` map (lowercase, without ``_``).
PRODUCT_MAP_KEYS = {
    "product/ProductName": "productname",
    "product/regionCode": "regioncode",
    "product/region": "region",
    "product/location": "location",
    "product/instanceType": "instancetype",
}
_TAG_NAMESPACES = ("user", "aws")
_TEXT = pd.StringDtype("pyarrow")


def convert_aws_cur2(raw_table: RawTable) -> Converted:
    """Billing fields and per-row problems of one CUR 2.0 file."""
    names = {athena_name(c): c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    missing = [athena_name(c) for c in REQUIRED_COLUMNS if athena_name(c) not in raw_table.columns]
    if missing:
        raise InputFormatError(
            raw_table.path,
            f"missing required CUR 2.0 column(s) {', '.join(missing)}; a CUR 2.0 (Data Exports) file needs "
            f"{', '.join(athena_name(c) for c in REQUIRED_COLUMNS)}",
        )
    raw = raw_table.text_frame(list(names) + [PRODUCT_MAP, TAG_MAP, ACCOUNT_NAME])
    index = raw.index
    problems = Problems(index)
    canonical = raw[[c for c in raw.columns if c in names]].rename(columns=names)
    if PRODUCT_MAP in raw.columns:
        positions, maps = _json_maps(stripped(raw[PRODUCT_MAP]), PRODUCT_MAP, problems)
        for name, key in PRODUCT_MAP_KEYS.items():
            from_map = _from_maps(positions, [_keyed(m).get(key) for m in maps], index)
            top_level = stripped(canonical[name]) if name in canonical.columns else from_map
            canonical[name] = first_present(top_level, from_map)
    out = cur_billing_fields(canonical, {c: s for s, c in names.items()}, problems)
    out["Tags"] = _tags(raw, problems)
    if ACCOUNT_NAME in raw.columns:
        out["SubAccountName"] = stripped(raw[ACCOUNT_NAME])
    return Converted(out, problems)


def _tags(raw: pd.DataFrame, problems: Problems) -> pd.Series:
    """Tags JSON from the ``resource_tags`` map (null where there are none)."""
    if TAG_MAP not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype=_TEXT)
    positions, maps = _json_maps(stripped(raw[TAG_MAP]), TAG_MAP, problems)
    texts = [json.dumps({_tag_key(k): v for k, v in m.items()}, ensure_ascii=False) if m else None for m in maps]
    return _from_maps(positions, texts, raw.index)


def _json_maps(raw: pd.Series, column: str, problems: Problems) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Each row's position in the list of distinct maps, and those maps (parsed once per unique text).

    Entries with a null or blank value are left out. A value that is not a JSON object is a row
    problem and reads as an empty map; a null reads as an empty map.
    """
    codes, uniques = pd.factorize(raw)
    maps: list[dict[str, str]] = []
    invalid: list[bool] = []
    for text in uniques:
        parsed = _loads(str(text))
        invalid.append(not isinstance(parsed, dict))
        entries = parsed.items() if isinstance(parsed, dict) else ()
        maps.append({str(k): str(v).strip() for k, v in entries if v is not None and str(v).strip()})
    maps.append({})
    positions = np.where(codes < 0, len(uniques), codes)
    bad = pd.Series(np.array(invalid + [False])[positions], index=raw.index)
    problems.add(bad, lambda rows: f"{column}: " + quoted(raw[rows])
                 + " is not a JSON object (expected a map of names to values, e.g. {\"key\": \"value\"})")
    return positions, maps


def _from_maps(positions: np.ndarray, per_map: list[str | None], index: pd.Index) -> pd.Series:
    return pd.Series(np.array(per_map, dtype=object)[positions], index=index, dtype=_TEXT)


def _keyed(entries: dict[str, str]) -> dict[str, str]:
    """A map keyed by lowercase keys without ``_`` (the first spelling of a key wins)."""
    keyed: dict[str, str] = {}
    for key, value in entries.items():
        keyed.setdefault(key.lower().replace("_", ""), value)
    return keyed


def _tag_key(key: str) -> str:
    """``user_team`` → ``user:team`` (``aws_`` likewise); other spellings unchanged."""
    for namespace in _TAG_NAMESPACES:
        if key.startswith(namespace + "_"):
            return namespace + ":" + key[len(namespace) + 1:]
    return key


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
