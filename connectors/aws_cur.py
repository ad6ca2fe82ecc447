"""AWS legacy Cost and Usage Report (CUR 1.0) files → billing fields (FORMATS.md §1).

Reads the ``category/Name`` CSV header and the Athena/Parquet snake_case flavour
(``line_item_usage_start_date``, ``resource_tags_user_<key>``), renamed to the CSV names first.
Mapping: ChargePeriod = lineItem/UsageStartDate..UsageEndDate; BilledCost = lineItem/UnblendedCost;
EffectiveCost = reservation/EffectiveCost on DiscountedUsage lines,
savingsPlan/SavingsPlanEffectiveCost on SavingsPlanCoveredUsage lines, else UnblendedCost;
ChargeCategory from lineItem/LineItemType (:data:`CHARGE_CATEGORY_BY_LINE_ITEM_TYPE`); SkuId =
lineItem/UsageType; ServiceName = product/ProductName, else lineItem/ProductCode; region by the
fallback chain of ``aws_regions``; Tags from the ``resourceTags/*`` columns.

What does not belong here: CUR 2.0 (map columns), manifests (``discover``).
"""

from __future__ import annotations

from collections.abc import Callable

import re

import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.aws_regions import cur_region
from connectors.converted import Converted
from connectors.instances import ec2_instance_usage, is_hour_unit
from connectors.rawfile import RawTable
from connectors.tags import tags_json_from_columns
from connectors.values import Problems, first_present, parse_number, parse_timestamp, quoted, require, stripped

#: lineItem/LineItemType → FOCUS ChargeCategory.
CHARGE_CATEGORY_BY_LINE_ITEM_TYPE = {
    "Usage": "Usage", "DiscountedUsage": "Usage", "SavingsPlanCoveredUsage": "Usage",
    "Tax": "Tax",
    "Credit": "Credit", "Refund": "Credit",
    "Fee": "Purchase", "RIFee": "Purchase", "SavingsPlanUpfrontFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanNegation": "Adjustment", "BundledDiscount": "Adjustment", "EdpDiscount": "Adjustment",
    "PrivateRateDiscount": "Adjustment", "Discount": "Adjustment",
}
#: Columns a file must have to be read as legacy CUR.
REQUIRED_COLUMNS = ("lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/UnblendedCost",
                    "lineItem/CurrencyCode", "lineItem/LineItemType")
_OPTIONAL_COLUMNS = (
    "bill/BillingPeriodStartDate", "bill/PayerAccountId", "lineItem/UsageAccountId", "lineItem/AvailabilityZone",
    "lineItem/ResourceId", "lineItem/ProductCode", "lineItem/UsageType", "lineItem/UsageAmount",
    "lineItem/LineItemDescription", "product/ProductName", "product/instanceType", "product/regionCode",
    "product/region", "product/location", "pricing/unit", "reservation/EffectiveCost",
    "savingsPlan/SavingsPlanEffectiveCost",
)
TAG_PREFIX = "resourceTags/"
_ATHENA_TAG_PREFIX = "resource_tags_"
_TEXT = pd.StringDtype("pyarrow")


def athena_name(csv_name: str) -> str:
    """The Athena/Parquet snake_case name of a CUR CSV column (``lineItem/UsageType`` → ``line_item_usage_type``)."""
    return "_".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in csv_name.split("/"))


def csv_names(columns: list[str]) -> dict[str, str]:
    """Rename map from Athena snake_case names to CUR CSV names (empty for a CSV-style header)."""
    if any("/" in c for c in columns):
        return {}
    known = {athena_name(c): c for c in REQUIRED_COLUMNS + _OPTIONAL_COLUMNS}
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
    wanted = [by_csv_name[c] for c in REQUIRED_COLUMNS + _OPTIONAL_COLUMNS + tuple(tag_columns) if c in by_csv_name]
    raw = raw_table.text_frame(wanted).rename(columns=renames)
    index = raw.index

    def column(name: str) -> pd.Series:
        return stripped(raw[name]) if name in raw.columns else pd.Series(pd.NA, index=index, dtype=_TEXT)

    problems = Problems(index)
    for name in REQUIRED_COLUMNS:
        require(raw[name], name, problems)
    out = pd.DataFrame(index=index)
    out["ChargePeriodStart"] = parse_timestamp(raw["lineItem/UsageStartDate"], "lineItem/UsageStartDate", problems)
    out["ChargePeriodEnd"] = parse_timestamp(raw["lineItem/UsageEndDate"], "lineItem/UsageEndDate", problems)
    out["BillingPeriodStart"] = parse_timestamp(
        column("bill/BillingPeriodStartDate"), "bill/BillingPeriodStartDate", problems
    )
    out["ProviderName"] = pd.Series("aws", index=index, dtype=_TEXT)
    out["BillingAccountId"] = column("bill/PayerAccountId")
    out["SubAccountId"] = column("lineItem/UsageAccountId")
    out["RegionId"] = cur_region(raw)
    out["AvailabilityZone"] = column("lineItem/AvailabilityZone")
    out["ResourceId"] = column("lineItem/ResourceId")
    out["ServiceName"] = first_present(column("product/ProductName"), column("lineItem/ProductCode"))
    line_item_type = column("lineItem/LineItemType")
    out["ChargeCategory"] = line_item_type.map(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE).astype(_TEXT)
    problems.add(
        line_item_type.notna() & out["ChargeCategory"].isna(),
        lambda rows: "lineItem/LineItemType: " + quoted(line_item_type[rows])
        + f" is not a known line item type (expected one of {', '.join(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE)})",
    )
    out["ChargeDescription"] = column("lineItem/LineItemDescription")
    out["SkuId"] = column("lineItem/UsageType")
    out["ConsumedQuantity"] = parse_number(column("lineItem/UsageAmount"), "lineItem/UsageAmount", problems)
    out["ConsumedUnit"] = column("pricing/unit")
    out["BilledCost"] = parse_number(raw["lineItem/UnblendedCost"], "lineItem/UnblendedCost", problems)
    out["EffectiveCost"] = _effective_cost(column, line_item_type, out["BilledCost"], problems)
    out["BillingCurrency"] = column("lineItem/CurrencyCode")
    out["Tags"] = tags_json_from_columns(
        {name[len(TAG_PREFIX):]: column(name) for name in tag_columns}, index
    )
    is_instance_usage, type_in_usage_type = ec2_instance_usage(out["SkuId"])
    out["x_InstanceType"] = first_present(column("product/instanceType"), type_in_usage_type)
    hours = is_hour_unit(out["ConsumedUnit"]) & is_instance_usage & (out["ChargeCategory"] == "Usage")
    out["x_UsageHours"] = out["ConsumedQuantity"].where(hours.fillna(False).astype(bool))
    return Converted(out, problems)


def _effective_cost(
    column: Callable[[str], pd.Series], line_item_type: pd.Series, unblended: pd.Series, problems: Problems,
) -> pd.Series:
    """Amortised cost: the reservation / savings-plan effective cost on covered lines, else unblended."""
    reserved = (line_item_type == "DiscountedUsage").fillna(False).astype(bool)
    plan = (line_item_type == "SavingsPlanCoveredUsage").fillna(False).astype(bool)
    reservation_cost = parse_number(
        column("reservation/EffectiveCost").where(reserved), "reservation/EffectiveCost", problems
    )
    plan_cost = parse_number(
        column("savingsPlan/SavingsPlanEffectiveCost").where(plan), "savingsPlan/SavingsPlanEffectiveCost", problems
    )
    return reservation_cost.where(reserved, plan_cost.where(plan, unblended))
