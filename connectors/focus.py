"""FOCUS 1.0 / 1.1 / 1.2 billing files → billing fields (FORMATS.md §5).

FOCUS column names are already the canonical ones; this module parses their values: timestamps
to UTC (naive taken as UTC), costs and quantities to float, ``ProviderName`` to a short id,
``RegionId`` lowercased, ``ChargeCategory`` checked against the five FOCUS values, ``Tags``
checked to be a JSON object. Provider ``x_`` columns are ignored, except Azure's ``x_SkuDetails``
(its ``ServiceType`` is the VM size) and an ``x_InstanceType`` column where a provider has one.

What does not belong here: file reading (``rawfile``), attribution and provenance (``converted``).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from carbonledger.errors import InputFormatError
from carbonledger.schema import CHARGE_CATEGORIES
from connectors.converted import Converted
from connectors.instances import instance_from_description, instance_from_json, is_hour_unit
from connectors.rawfile import RawTable
from connectors.tags import invalid_tags
from connectors.values import (
    Problems, first_present, normalise_provider, on_uniques, parse_number, parse_timestamp, quoted, require, stripped,
    where_text,
)

#: Columns a file must have to be read as FOCUS.
REQUIRED_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "BillingCurrency",
                    "ChargeCategory", "ProviderName")
_TEXT_COLUMNS = ("BillingAccountId", "SubAccountId", "SubAccountName", "AvailabilityZone", "ResourceId",
                 "ServiceName", "ServiceCategory", "ChargeDescription", "SkuId", "ConsumedUnit")
_OPTIONAL_COLUMNS = _TEXT_COLUMNS + ("BillingPeriodStart", "RegionId", "ConsumedQuantity", "EffectiveCost",
                                     "Tags", "SkuPriceDetails", "x_SkuDetails", "x_InstanceType")
_TEXT = pd.StringDtype("pyarrow")


def convert_focus(raw_table: RawTable) -> Converted:
    """Billing fields and per-row problems of one FOCUS file."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw_table.columns]
    if missing:
        raise InputFormatError(
            raw_table.path,
            f"missing required FOCUS column(s) {', '.join(missing)}; a FOCUS 1.0-1.2 file needs "
            f"{', '.join(REQUIRED_COLUMNS)}",
        )
    raw = raw_table.text_frame(list(REQUIRED_COLUMNS + _OPTIONAL_COLUMNS))
    index = raw.index

    def column(name: str) -> pd.Series:
        return raw[name] if name in raw.columns else pd.Series(pd.NA, index=index, dtype=_TEXT)

    problems = Problems(index)
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "BillingCurrency",
                 "ChargeCategory", "ProviderName"):
        require(raw[name], name, problems)
    out = pd.DataFrame(index=index)
    out["ChargePeriodStart"] = parse_timestamp(raw["ChargePeriodStart"], "ChargePeriodStart", problems)
    out["ChargePeriodEnd"] = parse_timestamp(raw["ChargePeriodEnd"], "ChargePeriodEnd", problems)
    out["BillingPeriodStart"] = parse_timestamp(column("BillingPeriodStart"), "BillingPeriodStart", problems)
    out["BilledCost"] = parse_number(raw["BilledCost"], "BilledCost", problems)
    out["EffectiveCost"] = parse_number(column("EffectiveCost"), "EffectiveCost", problems)
    out["ConsumedQuantity"] = parse_number(column("ConsumedQuantity"), "ConsumedQuantity", problems)
    out["BillingCurrency"] = stripped(raw["BillingCurrency"])
    out["ProviderName"] = normalise_provider(raw["ProviderName"])
    out["RegionId"] = stripped(column("RegionId")).str.lower()
    for name in _TEXT_COLUMNS:
        out[name] = stripped(column(name))
    out["ChargeCategory"] = _charge_category(raw["ChargeCategory"], problems)
    out["Tags"] = stripped(column("Tags"))
    problems.add(invalid_tags(out["Tags"]), lambda rows: "Tags: " + quoted(out["Tags"][rows]) + " is not a JSON object")
    out["x_InstanceType"] = _instance_type(column, out["ChargeCategory"])
    hours = is_hour_unit(out["ConsumedUnit"]) & out["x_InstanceType"].notna() & (out["ChargeCategory"] == "Usage")
    out["x_UsageHours"] = out["ConsumedQuantity"].where(hours.fillna(False).astype(bool))
    return Converted(out, problems)


def _charge_category(raw: pd.Series, problems: Problems) -> pd.Series:
    """ChargeCategory matched case-insensitively to the FOCUS values; anything else is a problem."""
    canonical = {c.lower(): c for c in CHARGE_CATEGORIES}
    text = stripped(raw)
    category = on_uniques(text, lambda t: t.str.lower().map(canonical).astype(_TEXT))
    problems.add(
        text.notna() & category.isna(),
        lambda rows: "ChargeCategory: " + quoted(text[rows]) + f" is not one of {', '.join(CHARGE_CATEGORIES)}",
    )
    return category


def _instance_type(column: Callable[[str], pd.Series], category: pd.Series) -> pd.Series:
    """SkuPriceDetails.InstanceType, else x_InstanceType, else x_SkuDetails.ServiceType, else the description."""
    usage_description = where_text(stripped(column("ChargeDescription")), (category == "Usage").fillna(False))
    return first_present(
        instance_from_json(stripped(column("SkuPriceDetails")), "InstanceType"),
        stripped(column("x_InstanceType")),
        instance_from_json(stripped(column("x_SkuDetails")), "ServiceType"),
        instance_from_description(usage_description),
    )
