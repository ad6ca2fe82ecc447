"""Azure cost details files (EA, MCA, legacy usage schema; actual and amortised) → billing fields (FORMATS.md §4).

Headers are matched case-insensitively through :data:`COLUMN_ALIASES`, so one mapping reads EA
(PascalCase: ``Date``, ``CostInBillingCurrency``, ``BillingCurrencyCode``), the older EA names
(``Cost``, ``BillingCurrency``, ``Product``), MCA (camelCase: ``date``, ``costInBillingCurrency``,
``billingCurrency``) and the legacy usage schema (``UsageDateTime``, ``PreTaxCost``, ``Currency``,
``UsageQuantity``, ``InstanceId``, ``SubscriptionGuid``).

Mapping:

* ChargePeriodStart = ``Date`` (``MM/DD/YYYY``, ``M/D/YYYY``, ISO dates with or without a time;
  no zone, taken as UTC). A row is one day, so ChargePeriodEnd = start + 1 day, unless the file is
  hourly (some row's date carries a time of day other than midnight): then start + 1 hour.
* BilledCost = the cost column as the file states it: actual cost in an ActualCost file, amortised
  cost in an AmortizedCost file (the control totals tie out to it either way). EffectiveCost = the
  same, except commitment purchases (ChargeType ``Purchase`` with PricingModel ``Reservation`` or
  ``SavingsPlan``), whose effective cost is 0 as in FOCUS: it is spread over the usage the
  commitment covers (in an amortised file, that usage carries it).
* ChargeCategory from ChargeType (:data:`CHARGE_CATEGORY_BY_CHARGE_TYPE`; unused reservation or
  savings-plan hours are Usage, as in Microsoft's FOCUS export); files without a ChargeType column
  (legacy schema) are all Usage; any other value quarantines the row.
* RegionId = ``ResourceLocationNormalized``, else ``ResourceLocation``, normalised by
  ``azure_regions``.
* ConsumedQuantity = ``Quantity`` × the block size of ``UnitOfMeasure`` (``10 Hours`` → ×10,
  ``100000000`` → ×1e8, ``10K /Month`` → ×1e4); ConsumedUnit = the unit without its block.
* x_InstanceType = ``AdditionalInfo.ServiceType`` (the exact VM size), else, on ``Virtual
  Machines`` meters, a ``Standard_…`` name in the meter fields or the first size in ``MeterName``
  (``D4 v3/D4s v3`` → ``Standard_D4_v3``); sizes are normalised to ``Standard_ND96asr_v4`` form.
  x_UsageHours = ConsumedQuantity on ChargeType ``Usage`` lines of a VM size billed in hours.
* Tags: Azure writes the JSON object with or without its outer braces; braces are added where
  missing, and a value that still is no JSON object quarantines the row. ``AdditionalInfo`` is
  read the same way but never quarantines (it only informs the VM size).

What does not belong here: location spellings (``azure_regions``), fetching files from Azure
(``azure_remote``), attribution and provenance (``converted``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from carbonledger.errors import InputFormatError
from connectors.azure_regions import azure_region
from connectors.converted import Converted
from connectors.instances import is_hour_unit
from connectors.rawfile import RawTable
from connectors.tags import invalid_tags
from connectors.values import Problems, first_present, parse_number, quoted, require, stripped, text_per_unique

#: Canonical column → the header names that carry it (matched case-insensitively, first present wins).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "Date": ("Date", "UsageDateTime", "UsageDate"),
    "Cost": ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    "Currency": ("BillingCurrencyCode", "BillingCurrency", "Currency"),
    "ChargeType": ("ChargeType",),
    "PricingModel": ("PricingModel",),
    "Quantity": ("Quantity", "UsageQuantity"),
    "UnitOfMeasure": ("UnitOfMeasure",),
    "ResourceLocationNormalized": ("ResourceLocationNormalized",),
    "ResourceLocation": ("ResourceLocation", "Location"),
    "AvailabilityZone": ("AvailabilityZone",),
    "BillingAccountId": ("BillingAccountId",),
    "BillingPeriodStartDate": ("BillingPeriodStartDate",),
    "SubscriptionId": ("SubscriptionId", "SubscriptionGuid"),
    "SubscriptionName": ("SubscriptionName",),
    "ResourceId": ("ResourceId", "InstanceId", "InstanceName"),
    "MeterCategory": ("MeterCategory",),
    "MeterSubCategory": ("MeterSubCategory",),
    "MeterName": ("MeterName",),
    "MeterId": ("MeterId",),
    "ProductName": ("ProductName", "Product"),
    "AdditionalInfo": ("AdditionalInfo",),
    "Tags": ("Tags",),
}
#: Canonical columns a file must have to be read as Azure cost details.
REQUIRED_COLUMNS = ("Date", "Cost", "Currency")
#: ChargeType (compared case-insensitively) → FOCUS ChargeCategory.
CHARGE_CATEGORY_BY_CHARGE_TYPE = {
    "Usage": "Usage", "UnusedReservation": "Usage", "UnusedSavingsPlan": "Usage",
    "Purchase": "Purchase", "Refund": "Credit", "Tax": "Tax",
    "Adjustment": "Adjustment", "RoundingAdjustment": "Adjustment",
}
#: Date formats tried in order (Azure dates carry no zone; they are taken as UTC).
DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "ISO8601")
_COMMITMENT_MODELS = ("reservation", "savingsplan")
_TEXT = pd.StringDtype("pyarrow")
_BLOCK_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)(?:\s*([KkMm])(?=[\s/]|$))?\s*/?\s*(.*?)\s*$")
_BLOCK_SCALE = {"k": 1e3, "m": 1e6}
_STANDARD_NAME = re.compile(r"\b((?:Standard|Basic)_[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*)")
_METER_SIZE = re.compile(r"^[A-Z]+\d+[A-Za-z0-9 -]*$")
_METER_NOT_SIZE = re.compile(r"\s+(?:Spot|Low Priority|Windows|Linux|VM)$", re.IGNORECASE)
_VM_SIZE = re.compile(r"^(?:Standard|Basic)_[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$")
_SIZE_HEAD = re.compile(r"^([A-Za-z]+)(\d[A-Za-z0-9-]*)$")
_VERSION = re.compile(r"^[vV]\d+$")
#: VM meter names whose size name differs from the meter's words (Azure retail prices: meter
#: ``ND96asr A100 v4`` has armSkuName ``Standard_ND96asr_v4``).
METER_SIZE_NAMES = {"Standard_ND96asr_A100_v4": "Standard_ND96asr_v4"}


def convert_azure(raw_table: RawTable) -> Converted:
    """Billing fields and per-row problems of one Azure cost details file."""
    headers = _resolve_headers(raw_table.columns)
    missing = [name for name in REQUIRED_COLUMNS if name not in headers]
    if missing:
        expected = "; ".join(f"{name}: one of {', '.join(COLUMN_ALIASES[name])}" for name in missing)
        raise InputFormatError(raw_table.path, f"missing required Azure cost details column(s) ({expected})")
    raw = raw_table.text_frame(list(headers.values()))
    index = raw.index

    def column(name: str) -> pd.Series:
        if name in headers:
            return stripped(raw[headers[name]])
        return pd.Series(pd.NA, index=index, dtype=_TEXT)

    problems = Problems(index)
    for name in REQUIRED_COLUMNS:
        require(column(name), headers[name], problems)
    out = pd.DataFrame(index=index)
    start = _parse_dates(column("Date"), headers["Date"], problems)
    hourly = bool((start.dropna() != start.dropna().dt.normalize()).any())
    out["ChargePeriodStart"] = start
    out["ChargePeriodEnd"] = start + pd.Timedelta(hours=1 if hourly else 24)
    out["BillingPeriodStart"] = _parse_dates(
        column("BillingPeriodStartDate"), headers.get("BillingPeriodStartDate", "BillingPeriodStartDate"), problems
    )
    out["ProviderName"] = pd.Series("azure", index=index, dtype=_TEXT)
    out["BillingAccountId"] = column("BillingAccountId")
    out["SubAccountId"] = column("SubscriptionId")
    out["SubAccountName"] = column("SubscriptionName")
    out["RegionId"] = azure_region(first_present(column("ResourceLocationNormalized"), column("ResourceLocation")))
    out["AvailabilityZone"] = column("AvailabilityZone")
    out["ResourceId"] = column("ResourceId")
    out["ServiceName"] = column("MeterCategory")
    out["ChargeDescription"] = first_present(column("ProductName"), column("MeterName"))
    out["SkuId"] = column("MeterId")
    charge_type = _charge_type(column("ChargeType"), headers.get("ChargeType"), problems)
    out["ChargeCategory"] = charge_type.str.lower().map(
        {k.lower(): v for k, v in CHARGE_CATEGORY_BY_CHARGE_TYPE.items()}
    ).astype(_TEXT)
    block, unit = _block_units(column("UnitOfMeasure"))
    quantity = parse_number(column("Quantity"), headers.get("Quantity", "Quantity"), problems)
    out["ConsumedQuantity"] = quantity * block
    out["ConsumedUnit"] = unit
    out["BilledCost"] = parse_number(column("Cost"), headers["Cost"], problems)
    commitment_purchase = (charge_type.str.lower() == "purchase") & _normalised_words(
        column("PricingModel")).isin(_COMMITMENT_MODELS)
    out["EffectiveCost"] = out["BilledCost"].mask(commitment_purchase.fillna(False).astype(bool), 0.0)
    out["BillingCurrency"] = column("Currency")
    out["Tags"] = _json_object_text(column("Tags"))
    problems.add(
        invalid_tags(out["Tags"]),
        lambda rows: headers["Tags"] + ": " + quoted(column("Tags")[rows])
        + " is not a JSON object (expected '{\"key\": \"value\"}', braces optional)",
    )
    out["x_InstanceType"] = _vm_size(column)
    hours = (
        (charge_type.str.lower() == "usage") & out["x_InstanceType"].notna()
    ).fillna(False).astype(bool) & is_hour_unit(unit)
    out["x_UsageHours"] = out["ConsumedQuantity"].where(hours)
    return Converted(out, problems)


def _resolve_headers(columns: list[str]) -> dict[str, str]:
    """Canonical column → the file's header name, for the canonical columns the file has."""
    by_lower: dict[str, str] = {}
    for name in columns:
        by_lower.setdefault(name.strip().lower(), name)
    found = {}
    for canonical, aliases in COLUMN_ALIASES.items():
        header = next((by_lower[a.lower()] for a in aliases if a.lower() in by_lower), None)
        if header is not None:
            found[canonical] = header
    return found


def _parse_dates(raw: pd.Series, column: str, problems: Problems) -> pd.Series:
    """Azure dates → UTC timestamps, each unique value parsed once; unparseable → NaT + problem."""
    codes, uniques = pd.factorize(raw)
    values = np.asarray(uniques, dtype=object)
    parsed = pd.DatetimeIndex([pd.NaT] * len(values), tz="UTC")
    for fmt in DATE_FORMATS:
        parsed = parsed.where(~parsed.isna(), pd.to_datetime(values, format=fmt, utc=True, errors="coerce"))
    lookup = parsed.append(pd.DatetimeIndex([pd.NaT], tz="UTC"))
    result = pd.Series(lookup[np.where(codes < 0, len(values), codes)], index=raw.index).astype("datetime64[ns, UTC]")
    problems.add(
        raw.notna() & result.isna(),
        lambda rows: f"{column}: " + quoted(raw[rows]) + " is not a date (expected MM/DD/YYYY or YYYY-MM-DD, "
        "optionally with a time)",
    )
    return result


def _charge_type(raw: pd.Series, column: str | None, problems: Problems) -> pd.Series:
    """ChargeType per row; 'Usage' throughout when the file has no such column (``column`` None: legacy schema)."""
    if column is None:
        return pd.Series("Usage", index=raw.index, dtype=_TEXT)
    require(raw, column, problems)
    known = raw.str.lower().isin([k.lower() for k in CHARGE_CATEGORY_BY_CHARGE_TYPE])
    problems.add(
        raw.notna() & ~known.fillna(False).astype(bool),
        lambda rows: f"{column}: " + quoted(raw[rows])
        + f" is not a known charge type (expected one of {', '.join(CHARGE_CATEGORY_BY_CHARGE_TYPE)})",
    )
    return raw


def _normalised_words(raw: pd.Series) -> pd.Series:
    """Lowercase text without white space (``Savings Plan`` → ``savingsplan``)."""
    return raw.str.lower().str.replace(r"\s+", "", regex=True)


def _block_units(unit_of_measure: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(block size, unit without the block) per row: ``10 Hours`` → (10, ``Hours``); no unit → (1, null)."""
    codes, uniques = pd.factorize(unit_of_measure)
    parts = [_block_unit(str(u)) for u in uniques]
    blocks = np.array([p[0] for p in parts] + [1.0], dtype="float64")
    units = np.array([p[1] for p in parts] + [None], dtype=object)
    positions = np.where(codes < 0, len(uniques), codes)
    index = unit_of_measure.index
    return pd.Series(blocks[positions], index=index), pd.Series(units[positions], index=index, dtype=_TEXT)


def _block_unit(text: str) -> tuple[float, str | None]:
    found = _BLOCK_UNIT.match(text)
    if found is None:
        return 1.0, text.strip() or None
    number, scale, unit = found.groups()
    block = float(number) * _BLOCK_SCALE.get((scale or "").lower(), 1.0)
    # A block of 0 ('0 Unassigned') states no block at all.
    return (block if block > 0 else 1.0), unit or None


def _json_object_text(raw: pd.Series) -> pd.Series:
    """Azure JSON object text with its outer braces added where the export left them out."""
    text = raw.str.strip()
    return text.where(text.str.startswith("{"), "{" + text + "}")


def _vm_size(column: Callable[[str], pd.Series]) -> pd.Series:
    """AdditionalInfo.ServiceType, else the size named by a Virtual Machines meter; normalised."""
    service_type = text_per_unique(_json_object_text(column("AdditionalInfo")), _service_type)
    is_vm = (column("MeterCategory").str.lower() == "virtual machines").fillna(False).astype(bool)
    meters = [column(name).where(is_vm) for name in ("MeterName", "MeterSubCategory", "ProductName")]
    named = first_present(*(text_per_unique(m, _standard_name) for m in meters))
    from_meter = first_present(named, text_per_unique(meters[0], _size_in_meter_name), text_per_unique(meters[1], _size_in_meter_name))
    return first_present(service_type, from_meter)


def _service_type(text: str) -> str | None:
    try:
        info = json.loads(text)
    except ValueError:
        return None
    value = info.get("ServiceType") if isinstance(info, dict) else None
    return normalise_vm_size(str(value)) if value is not None else None


def normalise_vm_size(size: str) -> str | None:
    """``standard_nd96asr_v4``/``ND96asr v4`` → ``Standard_ND96asr_v4``; None if it is no VM size.

    Casing follows Azure's size names: the series letters upper case and the feature letters
    after the vCPU count lower case (``ND96asr``), accelerator parts upper case (``A100``, ``T4``),
    the version lower case (``v4``), word parts capitalised (``Promo``).
    """
    parts = "_".join(size.split()).split("_")
    tier = parts[0].capitalize() if parts[0].lower() in ("standard", "basic") else None
    body = parts[1:] if tier else parts
    if not body or not body[0] or not _SIZE_HEAD.match(body[0]):
        return None
    head = _SIZE_HEAD.match(body[0])
    cased = [head.group(1).upper() + head.group(2).lower()] + [_part_case(p) for p in body[1:]]
    name = "_".join([tier or "Standard", *cased])
    return name if _VM_SIZE.match(name) else None


def _part_case(part: str) -> str:
    if _VERSION.match(part):
        return part.lower()
    return part.capitalize() if part.isalpha() else part.upper()


def _standard_name(text: str) -> str | None:
    found = _STANDARD_NAME.search(text)
    return normalise_vm_size(found.group(1)) if found else None


def _size_in_meter_name(text: str) -> str | None:
    """First size of a VM meter name: ``D4 v3/D4s v3`` → ``Standard_D4_v3``; ``ND96asr v4 Spot`` → ``Standard_ND96asr_v4``."""
    first = _METER_NOT_SIZE.sub("", text.split("/")[0].strip()).strip()
    size = normalise_vm_size(first) if _METER_SIZE.match(first) else None
    return METER_SIZE_NAMES.get(size, size) if size else None

