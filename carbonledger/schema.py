"""The one canonical schema of carbonledger's frames, and the checks that guard stage boundaries.

Three frames cross stage boundaries:

* the **billing frame** (connectors → footprint): FOCUS 1.2 column names for billing fields, plus
  ``x_``-prefixed fields carbonledger derives while reading (instance type, project, provenance);
* the **ledger** (footprint → reports): the billing frame plus the carbon fields;
* the **quarantine**: input rows that could not enter the ledger, with a reason.

Every column is declared here once, with its dtype and meaning; nothing else defines columns.
What does *not* belong here: parsing (``connectors``), estimation (``footprint``, ``intensity``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from carbonledger.codes import missing_text

#: ChargeCategory values of FOCUS 1.x (``Usage``, ``Purchase``, ``Tax``, ``Credit``, ``Adjustment``).
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")


@dataclass(frozen=True)
class Column:
    """A column of a canonical frame: name, pandas dtype, whether nulls are allowed, meaning."""

    name: str
    dtype: str
    nullable: bool
    doc: str


_TS = "datetime64[ns, UTC]"
_ARROW_TEXT = pd.StringDtype("pyarrow")

BILLING_COLUMNS: tuple[Column, ...] = (
    # --- FOCUS 1.2 billing fields ------------------------------------------------------------
    Column("ChargePeriodStart", _TS, False, "Start of the charge period, UTC, inclusive."),
    Column("ChargePeriodEnd", _TS, False, "End of the charge period, UTC, exclusive."),
    Column("BillingPeriodStart", _TS, True, "Start of the billing period (month), UTC."),
    Column("ProviderName", "string", False, "Cloud provider, normalised: 'aws', 'gcp', 'azure' or as given."),
    Column("BillingAccountId", "string", True, "Payer / billing account."),
    Column("SubAccountId", "string", True, "Linked account, project or subscription that used the resource."),
    Column("RegionId", "string", True, "Provider region code, normalised (e.g. 'us-east-1', 'westeurope')."),
    Column("AvailabilityZone", "string", True, "Availability zone, where given."),
    Column("ResourceId", "string", True, "Instance / VM / resource id or ARN."),
    Column("ServiceName", "string", True, "Service as billed (e.g. 'Amazon Elastic Compute Cloud')."),
    Column("ServiceCategory", "string", True, "FOCUS ServiceCategory (Compute, Storage, ...)."),
    Column("ChargeCategory", "string", False, "FOCUS ChargeCategory: Usage, Purchase, Tax, Credit, Adjustment."),
    Column("ChargeDescription", "string", True, "Human-readable line description."),
    Column("SkuId", "string", True, "Provider SKU / usage type."),
    Column("ConsumedQuantity", "float64", True, "Usage quantity, in ConsumedUnit."),
    Column("ConsumedUnit", "string", True, "Unit of ConsumedQuantity as billed ('Hours', 'Hrs', 'GB-Mo', ...)."),
    Column("BilledCost", "float64", False, "Billed cost in BillingCurrency (the export's billed-cost column)."),
    Column("EffectiveCost", "float64", True, "Amortised cost in BillingCurrency, where given."),
    Column("BillingCurrency", "string", False, "ISO 4217 currency of BilledCost."),
    Column("Tags", "string", True, "Resource tags as a JSON object string."),
    # --- carbonledger billing extensions --------------------------------------------------------
    Column("x_InstanceType", "string", True, "Instance / machine / VM size as billed (e.g. 'p4d.24xlarge')."),
    Column("x_UsageHours", "float64", True, "Instance-hours of the line when it is compute usage, else null."),
    Column("x_CreditAmount", "float64", True,
           "Credits applied to the line (e.g. GCP's credits array, summed; negative), in BillingCurrency. "
           "Kept apart from BilledCost, which is the cost before these credits."),
    Column("x_Project", "string", True, "Project the line is attributed to (tag, else 'account:<sub-account>')."),
    Column("x_Team", "string", True, "Team / business unit tag, where present."),
    Column("x_WorkloadClass", "string", True, "training | inference | interactive | idle, from tags; null = default."),
    Column("x_SourceFormat", "string", False, "Connector that read the line: focus, aws-cur, ..."),
    Column("x_SourceFile", "string", False, "File (or object key) the line came from."),
    Column("x_SourceRow", "int64", False, "1-based data row number in x_SourceFile."),
)

LEDGER_EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("x_GpuModel", "string", True, "Accelerator model of the instance, null for CPU-only or non-compute lines."),
    Column("x_GpuCount", "float64", False, "Accelerators per instance (0 if none)."),
    Column("x_Vcpus", "float64", True, "vCPUs per instance."),
    Column("x_MemoryGib", "float64", True, "Memory per instance, GiB."),
    Column("x_PowerW", "float64", False, "Modelled IT power of one instance at the assumed utilisation, W."),
    Column("x_ItEnergyKwh", "float64", False, "IT energy of the line (before PUE), kWh."),
    Column("x_Pue", "float64", True, "PUE applied to the line."),
    Column("x_PueSource", "string", True, "Where the PUE comes from (publication and year)."),
    Column("x_EnergyKwh", "float64", False, "Facility energy of the line, PUE included, kWh (central)."),
    Column("x_EnergyKwhLow", "float64", False, "Low end of facility energy, kWh."),
    Column("x_EnergyKwhHigh", "float64", False, "High end of facility energy, kWh."),
    Column("x_GridZone", "string", True, "Electricity Maps zone key the line's region draws from."),
    Column("x_CarbonIntensity", "float64", True, "Location-based grid intensity over the line's hours, gCO2e/kWh."),
    Column("x_IntensityBasis", "string", True, "hourly | hourly_proxy_year | annual_zone | annual_country | annual_region | world_average."),
    Column("x_IntensityYear", "Int64", True, "Data year of the intensity used (differs from the line's year for proxies)."),
    Column("x_IntensitySource", "string", True, "Dataset the intensity comes from."),
    Column("x_Co2eKg", "float64", False, "Location-based operational emissions: x_EnergyKwh * x_CarbonIntensity / 1000, kgCO2e."),
    Column("x_Co2eKgLow", "float64", False, "Low end of location-based emissions, kgCO2e."),
    Column("x_Co2eKgHigh", "float64", False, "High end of location-based emissions, kgCO2e."),
    Column("x_Co2eKgMarket", "float64", False, "Market-based operational emissions (GHG Protocol Scope 2), kgCO2e."),
    Column("x_MarketBasis", "string", True, "How the market-based figure was derived."),
    Column("x_EmbodiedCo2eKg", "float64", False, "Amortised manufacturing emissions of the hardware share, kgCO2e."),
    Column("x_EmbodiedSource", "string", True, "Embodied-emissions coefficient and lifetime used."),
    Column("x_EstimateBasis", "string", False, "modelled | measured | calibrated (modelled x a telemetry-derived factor) | unmapped | no_energy_model | non_usage."),
    Column("x_EstimateNote", "string", True, "Why the basis is what it is (e.g. 'Tax line: no energy')."),
    Column("x_HardwareSource", "string", True, "Catalogue source ids of the hardware profile."),
    Column("x_Utilisation", "float64", True, "Utilisation assumed for the power model (0..1)."),
    Column("x_UsageKind", "string", True, "What the energy models: compute (instance or accelerator hours), storage or network; null where none."),
    Column("x_CpuEnergyKwh", "float64", True, "CPU share of x_ItEnergyKwh (central, before PUE), kWh; compute lines only."),
    Column("x_GpuEnergyKwh", "float64", True, "Accelerator share of x_ItEnergyKwh (central, before PUE), kWh; compute lines only."),
    Column("x_MemoryEnergyKwh", "float64", True, "Memory share of x_ItEnergyKwh (central, before PUE), kWh; compute lines only."),
    Column("x_CalibrationFactor", "float64", True, "Utilisation factor applied from the calibration table (null = uncalibrated)."),
    Column("x_CalibrationSource", "string", True, "Where the calibration factor comes from (e.g. a telemetry reconciliation)."),
)

LEDGER_COLUMNS: tuple[Column, ...] = BILLING_COLUMNS + LEDGER_EXTRA_COLUMNS

QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column("x_SourceFormat", "string", False, "Connector that read the row."),
    Column("x_SourceFile", "string", False, "File the row came from."),
    Column("x_SourceRow", "int64", False, "1-based data row number in the file."),
    Column("x_Reason", "string", False, "Why the row could not enter the ledger (names column and expectation)."),
    Column("BilledCost", "float64", True, "The row's billed cost where it could be read (null if unreadable)."),
    Column("BillingCurrency", "string", True, "The row's currency where it could be read."),
    Column("ConsumedQuantity", "float64", True, "The row's usage quantity where it could be read (for usage tie-out)."),
    Column("ConsumedUnit", "string", True, "The row's usage unit where it could be read."),
    Column("ChargePeriodStart", _TS, True, "The row's charge period start where it could be read."),
    Column("x_RawRecord", "string", False, "The raw row as JSON, so nothing is lost."),
)

#: Text columns the ledger is filtered by (provider, account, region, project, team, basis, ...): its
#: Parquet files keep row-group min/max statistics for these, as for every non-text column.
FILTER_TEXT_COLUMNS = ("ProviderName", "BillingAccountId", "SubAccountId", "RegionId", "ChargeCategory",
                       "BillingCurrency", "x_InstanceType", "x_Project", "x_Team", "x_GridZone", "x_EstimateBasis")

#: The estimate bases a ledger row may carry.
ESTIMATE_BASES = ("modelled", "measured", "calibrated", "unmapped", "no_energy_model", "non_usage")


class SchemaError(ValueError):
    """A frame does not match its canonical schema at a stage boundary."""


def names(columns: tuple[Column, ...]) -> list[str]:
    """Column names of a schema, in order."""
    return [c.name for c in columns]


def empty(columns: tuple[Column, ...]) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in columns})


def conform(frame: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns, in order and cast to their dtypes.

    Missing nullable columns are added as nulls; extra columns are dropped. Missing non-nullable
    columns raise :class:`SchemaError`.
    """
    out = {}
    for col in columns:
        if col.name in frame.columns:
            out[col.name] = _cast(frame[col.name], col)
        elif col.nullable:
            out[col.name] = _nulls(col, frame.index)
        else:
            raise SchemaError(f"missing required column {col.name!r} ({col.doc})")
    return pd.DataFrame(out, index=frame.index)


def _cast(series: pd.Series, col: Column) -> pd.Series:
    if col.dtype == _TS:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            return series.dt.tz_convert("UTC").astype(_TS)
        return pd.to_datetime(series, utc=True).astype(_TS)
    if col.dtype == "float64":
        return series.copy() if series.dtype == "float64" else pd.to_numeric(series, errors="raise").astype("float64")
    if col.dtype == "string" and series.dtype == _ARROW_TEXT:
        return _python_text(series)
    if col.dtype == "string" and isinstance(series.dtype, pd.CategoricalDtype):
        return _python_text_of_codes(series)
    return series.astype(col.dtype)


def _nulls(col: Column, index: pd.Index) -> pd.Series:
    """An all-null column of ``col``'s dtype."""
    if col.dtype == "float64":
        return pd.Series(np.full(len(index), np.nan), index=index)
    if col.dtype == "string":
        return _canonical_text(np.full(len(index), pd.NA, dtype=object), index)
    if col.dtype == _TS:
        return pd.Series(np.full(len(index), np.datetime64("NaT", "ns")), index=index).dt.tz_localize("UTC")
    return pd.Series(pd.NA, index=index).astype(col.dtype)


def _python_text(series: pd.Series) -> pd.Series:
    """Arrow-backed text as the canonical ``string`` dtype, one Python object per distinct value.

    Billing columns repeat heavily: Arrow dictionary-encodes the column (hashing bytes), each
    distinct string is built once and the lines take it by code, several times cheaper than
    casting row by row.
    """
    encoded = pa.chunked_array(pa.array(series.array)).combine_chunks().dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return _taken(encoded.dictionary.to_numpy(zero_copy_only=False), codes, series.index)


def _python_text_of_codes(series: pd.Series) -> pd.Series:
    """Coded text (a categorical of distinct texts) as the canonical ``string`` dtype: each line
    takes its category's Python object, so equal values share one object; nulls are ``pd.NA``."""
    categories = series.cat.categories
    if pd.api.types.infer_dtype(categories, skipna=False) not in ("string", "empty"):
        return series.astype("string")
    return _taken(categories.to_numpy(dtype=object), series.cat.codes.to_numpy(), series.index)


def _taken(texts: np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Line ``i`` holds ``texts[codes[i]]`` (distinct ``str`` objects; code -1: ``pd.NA``)."""
    return _canonical_text(np.append(texts.astype(object), pd.NA)[codes], index)


def _canonical_text(objects: np.ndarray, index: pd.Index) -> pd.Series:
    """``str`` and ``pd.NA`` objects as a canonical ``string`` column, without pandas checking each again."""
    return pd.Series(pd.arrays.StringArray._simple_new(objects, pd.StringDtype("python")), index=index)


def validate(frame: pd.DataFrame, columns: tuple[Column, ...], stage: str) -> None:
    """Check ``frame`` against its schema: every column present, dtype exact, no nulls where not allowed.

    ``stage`` names the boundary in the error message (e.g. ``"billing frame from focus.csv"``).
    """
    problems: list[str] = []
    for col in columns:
        if col.name not in frame.columns:
            problems.append(f"missing column {col.name}")
            continue
        actual = str(frame[col.name].dtype)
        if actual != col.dtype:
            problems.append(f"{col.name}: dtype {actual}, expected {col.dtype}")
        if not col.nullable:
            nulls = int(missing_text(frame[col.name]).sum())
            if nulls:
                problems.append(f"{col.name}: {nulls} null value(s), column may not be null")
    extra = sorted(set(frame.columns) - {c.name for c in columns})
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    if problems:
        raise SchemaError(f"{stage} does not match the canonical schema: " + "; ".join(problems))
