"""What the AWS CUR readers share: column names, line item types, amortised cost and instance-hours.

Both the legacy CUR (``aws_cur``) and CUR 2.0 (``aws_cur2``) readers first bring their columns to
the legacy CSV names (``lineItem/UnblendedCost``), the *canonical* names used here, and remember
each one's name in the file for messages. :func:`cur_billing_fields` then maps them to billing
fields (FORMATS.md §1.2):

* ChargePeriod = lineItem/UsageStartDate..UsageEndDate; BilledCost = lineItem/UnblendedCost;
* ChargeCategory from lineItem/LineItemType (:data:`CHARGE_CATEGORY_BY_LINE_ITEM_TYPE`; an unknown
  type is a row problem, never a guess);
* EffectiveCost is AWS's amortised cost (the Cost Explorer "amortized" definition): the
  reservation / savings-plan effective cost on covered usage, the unused commitment on
  ``RIFee`` and ``SavingsPlanRecurringFee`` lines, zero on ``SavingsPlanNegation``,
  ``SavingsPlanUpfrontFee`` and reservation upfront ``Fee`` lines (their cost is already spread
  over the covered usage), else the unblended cost. Null where a needed column is empty;
* region by the fallback chain of ``aws_regions``; x_UsageHours only on instance-hour usage
  (BoxUsage, SpotUsage, ... in an hour unit, on a Usage-category line).

What does not belong here: reading tags and product maps (format-specific: ``aws_cur``,
``aws_cur2``), manifests (``discover``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from connectors.aws_regions import cur_region
from connectors.rawfile import RawTable
from connectors.instances import ec2_instance_usage, is_hour_unit
from connectors.values import (
    Problems, constant_text, first_present, on_uniques, parse_number, parse_timestamp, quoted, require, stripped, where_text,
)

#: lineItem/LineItemType → FOCUS ChargeCategory.
CHARGE_CATEGORY_BY_LINE_ITEM_TYPE = {
    "Usage": "Usage", "DiscountedUsage": "Usage", "SavingsPlanCoveredUsage": "Usage",
    "Tax": "Tax",
    "Credit": "Credit", "Refund": "Credit",
    "Fee": "Purchase", "RIFee": "Purchase", "SavingsPlanUpfrontFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanNegation": "Adjustment", "BundledDiscount": "Adjustment", "EdpDiscount": "Adjustment",
    "PrivateRateDiscount": "Adjustment", "SppDiscount": "Adjustment", "RiVolumeDiscount": "Adjustment",
    "Discount": "Adjustment",
}
#: Canonical columns every CUR file must have (CUR 2.0 under their snake_case names).
REQUIRED_COLUMNS = ("lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/UnblendedCost",
                    "lineItem/CurrencyCode", "lineItem/LineItemType")
#: Canonical columns used where present.
OPTIONAL_COLUMNS = (
    "bill/BillingPeriodStartDate", "bill/PayerAccountId", "lineItem/UsageAccountId", "lineItem/AvailabilityZone",
    "lineItem/ResourceId", "lineItem/ProductCode", "lineItem/UsageType", "lineItem/UsageAmount",
    "lineItem/LineItemDescription", "product/ProductName", "product/instanceType", "product/regionCode",
    "product/region", "product/location", "pricing/unit",
    "reservation/EffectiveCost", "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee", "reservation/ReservationARN",
    "savingsPlan/SavingsPlanEffectiveCost", "savingsPlan/TotalCommitmentToDate", "savingsPlan/UsedCommitment",
)
#: Decimal places kept when amortised cost is a sum or difference of two CUR amounts (float noise).
_COST_DECIMALS = 10
_TEXT = pd.StringDtype("pyarrow")


def athena_name(csv_name: str) -> str:
    """The snake_case name of a CUR CSV column (``lineItem/UsageType`` → ``line_item_usage_type``).

    Used by the Athena/Parquet flavour of the legacy CUR and, for the same data, by CUR 2.0.
    """
    return "_".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in csv_name.split("/"))


#: A CUR file's usage start column: legacy CSV name, and the Athena / CUR 2.0 name.
USAGE_START_COLUMNS = ("lineItem/UsageStartDate", "line_item_usage_start_date")


def usage_starts(raw_table: RawTable) -> pd.Series | None:
    """Each line's usage start (ChargePeriodStart) exactly as both CUR converters read it, from that
    column alone; None where the file has no usage start column."""
    name = next((c for c in USAGE_START_COLUMNS if c in raw_table.columns), None)
    if name is None:
        return None
    start = raw_table.select([name]).coded_frame([name])[name]
    return parse_timestamp(stripped(start), name, Problems(start.index))


def cur_billing_fields(raw: pd.DataFrame, labels: Mapping[str, str], problems: Problems) -> pd.DataFrame:
    """Billing fields (all but Tags) of CUR lines whose columns carry canonical names.

    ``raw`` must have the :data:`REQUIRED_COLUMNS`; optional columns may be absent. ``labels``
    maps a canonical name to the column's name in the file, used in problem messages.
    """
    index = raw.index
    columns: dict[str, pd.Series] = {}

    def column(name: str) -> pd.Series:
        if name not in columns:
            columns[name] = stripped(raw[name]) if name in raw.columns else pd.Series(pd.NA, index=index, dtype=_TEXT)
        return columns[name]

    def label(name: str) -> str:
        return labels.get(name, name)

    for name in REQUIRED_COLUMNS:
        require(column(name), label(name), problems)
    out = pd.DataFrame(index=index)
    for field, name in (("ChargePeriodStart", "lineItem/UsageStartDate"), ("ChargePeriodEnd", "lineItem/UsageEndDate"),
                        ("BillingPeriodStart", "bill/BillingPeriodStartDate")):
        out[field] = parse_timestamp(column(name), label(name), problems)
    out["ProviderName"] = constant_text("aws", index)
    out["BillingAccountId"] = column("bill/PayerAccountId")
    out["SubAccountId"] = column("lineItem/UsageAccountId")
    out["RegionId"] = cur_region(column)
    out["AvailabilityZone"] = column("lineItem/AvailabilityZone")
    out["ResourceId"] = column("lineItem/ResourceId")
    out["ServiceName"] = first_present(column("product/ProductName"), column("lineItem/ProductCode"))
    line_item_type = column("lineItem/LineItemType")
    out["ChargeCategory"] = on_uniques(line_item_type, lambda t: t.map(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE).astype(_TEXT))
    problems.add(
        line_item_type.notna() & out["ChargeCategory"].isna(),
        lambda rows: f"{label('lineItem/LineItemType')}: " + quoted(line_item_type[rows])
        + f" is not a known line item type (expected one of {', '.join(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE)})",
    )
    out["ChargeDescription"] = column("lineItem/LineItemDescription")
    out["SkuId"] = column("lineItem/UsageType")
    out["ConsumedQuantity"] = parse_number(column("lineItem/UsageAmount"), label("lineItem/UsageAmount"), problems)
    out["ConsumedUnit"] = column("pricing/unit")
    out["BilledCost"] = parse_number(column("lineItem/UnblendedCost"), label("lineItem/UnblendedCost"), problems)
    out["EffectiveCost"] = _amortised_cost(column, label, line_item_type, out["BilledCost"], problems)
    out["BillingCurrency"] = column("lineItem/CurrencyCode")
    is_instance_usage, type_in_usage_type = ec2_instance_usage(out["SkuId"])
    out["x_InstanceType"] = first_present(column("product/instanceType"), type_in_usage_type)
    hours = is_hour_unit(out["ConsumedUnit"]) & is_instance_usage & (out["ChargeCategory"] == "Usage")
    out["x_UsageHours"] = out["ConsumedQuantity"].where(hours.fillna(False).astype(bool))
    return out


def _amortised_cost(
    column: Callable[[str], pd.Series], label: Callable[[str], str], line_item_type: pd.Series,
    unblended: pd.Series, problems: Problems,
) -> pd.Series:
    """EffectiveCost per line item type (see the module docstring); amounts are parsed only where used."""
    def of_type(*types: str) -> pd.Series:
        return line_item_type.isin(types).fillna(False).astype(bool)

    def amount(name: str, rows: pd.Series) -> pd.Series:
        text = column(name)
        if not (rows.any() and text.notna().any()):  # no line of the type, or no value: nothing to parse
            return pd.Series(np.nan, index=rows.index)
        return parse_number(where_text(text, rows), label(name), problems)

    reserved, covered = of_type("DiscountedUsage"), of_type("SavingsPlanCoveredUsage")
    ri_fee, plan_fee = of_type("RIFee"), of_type("SavingsPlanRecurringFee")
    spread_elsewhere = (of_type("SavingsPlanNegation", "SavingsPlanUpfrontFee")
                        | (of_type("Fee") & column("reservation/ReservationARN").notna()))
    unused_reservation = (amount("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod", ri_fee)
                          + amount("reservation/UnusedRecurringFee", ri_fee))
    unused_commitment = (amount("savingsPlan/TotalCommitmentToDate", plan_fee)
                         - amount("savingsPlan/UsedCommitment", plan_fee))
    cost = np.select(
        [reserved, covered, ri_fee, plan_fee, spread_elsewhere],
        [amount("reservation/EffectiveCost", reserved), amount("savingsPlan/SavingsPlanEffectiveCost", covered),
         unused_reservation.round(_COST_DECIMALS), unused_commitment.round(_COST_DECIMALS), 0.0],
        default=unblended,
    )
    return pd.Series(cost, index=unblended.index, dtype="float64")
