"""Telling which billing format a file is, from its column names alone.

Formats are recognised by columns that only that format has (FORMATS.md §1–5): FOCUS by
``ChargePeriodStart`` + ``BilledCost``; legacy AWS CUR by ``lineItem/…`` names or their Athena
snake_case flavour; CUR 2.0 by its ``product``/``resource_tags`` map columns or account-name
columns; GCP by ``billing_account_id`` + ``usage_start_time``; Azure cost details by meter columns.

What does not belong here: reading the data (``rawfile``), converting it (``focus``, ``aws_cur``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from carbonledger.errors import InputFormatError
from connectors.rawfile import read_header

_CUR2_ONLY = {"product", "resource_tags", "bill_payer_account_name", "line_item_usage_account_name"}
_AZURE_MARKERS = {"metercategory", "costinbillingcurrency", "pretaxcost", "metersubcategory"}


def format_of_columns(columns: Iterable[str]) -> str | None:
    """The billing format a set of column names belongs to, or None if none matches."""
    names = set(columns)
    lowered = {n.lower() for n in names}
    if {"ChargePeriodStart", "BilledCost"} <= names:
        return "focus"
    if any(n.startswith("lineItem/") for n in names):
        return "aws-cur"
    if "line_item_usage_start_date" in names:
        return "aws-cur2" if names & _CUR2_ONLY else "aws-cur"
    if {"billing_account_id", "usage_start_time"} <= names:
        return "gcp"
    if lowered & _AZURE_MARKERS:
        return "azure"
    return None


#: Per format, the columns that identify it, and other columns of that format that make a near miss.
_MARKERS: dict[str, tuple[set[str], set[str]]] = {
    "FOCUS": ({"ChargePeriodStart", "BilledCost"},
              {"ChargePeriodEnd", "BillingCurrency", "ChargeCategory", "EffectiveCost", "ListCost", "ServiceName",
               "BillingAccountId", "BillingPeriodStart", "ProviderName", "ResourceId", "RegionId"}),
    "GCP billing export": ({"billing_account_id", "usage_start_time"},
                           {"usage_end_time", "cost", "currency", "sku.id", "service.description", "project.id"}),
}


def near_miss(columns: Iterable[str]) -> str | None:
    """For a header that matches no format but clearly resembles one (three or more of its other
    columns, some identifying column missing), which format and which columns are missing."""
    names = set(columns)
    for label, (required, typical) in _MARKERS.items():
        missing = required - names
        if missing and len((required | typical) & names) >= 3:
            return f"looks like {label} but lacks the required column(s) {', '.join(sorted(missing))}"
    return None


def detect_format(path: str | Path) -> str:
    """The format of a billing file (CSV, CSV.gz or Parquet) judged by its header.

    Raises :class:`InputFormatError` naming the file when the columns match no known format.
    """
    path = Path(path)
    header = read_header(path)
    fmt = format_of_columns(header)
    if fmt is None:
        miss = near_miss(header)
        if miss:
            raise InputFormatError(path, miss)
        shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise InputFormatError(
            path,
            f"columns ({shown}) match no known billing format; expected FOCUS (ChargePeriodStart, "
            "BilledCost, ...), AWS CUR (lineItem/UsageStartDate, ...), GCP (billing_account_id, "
            "usage_start_time, ...) or Azure cost details (MeterCategory, ...)",
        )
    return fmt
