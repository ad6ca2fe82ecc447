"""Google Cloud Billing export (standard and detailed / resource-level) → billing fields (FORMATS.md §3).

Reads the export with its dotted field names (``service.description``, ``usage.amount``, ...), as in
flattened CSV files and as ``rawfile.text_table`` names the fields of nested JSON lines, Parquet
and BigQuery results. ``labels``, ``project.labels``, ``system_labels`` and ``credits`` arrive as
text: JSON or Python-repr lists of ``{key, value}`` / ``{name, amount, ...}`` records, parsed
once per unique value.

Mapping: ChargePeriod = ``usage_start_time``..``usage_end_time``; BillingPeriodStart =
``invoice.month`` at midnight US Pacific time; BilledCost = ``cost`` (before credits);
``x_CreditAmount`` = the sum of ``credits[].amount`` (0 for an empty list; never subtracted from
BilledCost); EffectiveCost = cost + credits (the net cost); ChargeCategory from ``cost_type``
(:data:`CHARGE_CATEGORY_BY_COST_TYPE`); SubAccountId/Name = ``project.id``/``project.name``;
RegionId = ``location.region``, else ``location.location`` (multi-regions such as ``us`` and
``global`` stay as given), lowercased; ResourceId = ``resource.global_name``, else
``resource.name``; ServiceName = ``service.description``; SkuId = ``sku.id``; ChargeDescription =
``sku.description``; ConsumedQuantity/Unit = ``usage.amount``/``usage.unit``; Tags = the JSON
object of ``project.labels`` overlaid by ``labels`` (resource labels win on the same key).

Instance type and hours, so that every VM and every GPU is counted once:

* **vCPU core lines** (``... Core running in <region>``) carry the VM: ``x_InstanceType`` = the
  ``compute.googleapis.com/machine_spec`` system label and ``x_UsageHours`` = **VM-hours** =
  core-seconds / 3600 / vCPUs, the vCPUs taken from the ``compute.googleapis.com/cores`` system
  label, else from the machine type name (``n2-standard-8`` → 8, ``custom-4-16384`` → 4,
  ``a2-highgpu-2g`` → 24, :data:`VCPUS_OF_GPU_MACHINE`). When the vCPU count is unknown (e.g.
  shared-core ``e2-micro`` without a cores label) the line carries no hours.
* **RAM lines** (``... Ram running in <region>``) keep the machine type (for cost breakdowns) but
  carry no hours: the VM's energy, memory included, is on its core line.
* **Whole-instance SKUs** (``Micro Instance with burstable CPU``, ``Small Instance with 1 VCPU``)
  carry instance-hours themselves (``f1-micro``, ``g1-small`` unless a machine_spec says otherwise).
* **GPU SKUs** (``Nvidia Tesla T4 GPU running in Americas``, A100, A100 80GB, L4, H100 ...) set
  ``x_InstanceType`` to Google's accelerator type name (:data:`ACCELERATOR_TYPES`, e.g.
  ``nvidia-tesla-t4``, ``nvidia-tesla-a100``, ``nvidia-a100-80gb``, ``nvidia-l4``,
  ``nvidia-h100-80gb``) and ``x_UsageHours`` = **GPU-hours** (GPU-seconds / 3600). The hardware
  catalogue keys accelerator-only profiles by that name. This is the N1 + attached GPU case: the
  core line carries the host's CPU, the GPU line its GPUs.
* **GPU bundled machines** (machine_spec family in :data:`GPU_BUNDLED_FAMILIES`: a2, a3, a4, g2):
  the machine type's profile already includes its GPUs, so their GPU SKU lines keep the
  accelerator name but carry no hours.
* Other usage lines get an instance type only when the SKU description names a machine type, and
  no hours. Committed-use fees (``Commitment v1: Nvidia Tesla A100 GPU ...``) get neither: the
  resource's own usage lines carry it.

What does not belong here: file reading and flattening (``rawfile``), BigQuery (``gcp_bigquery``),
what a machine type or accelerator is made of (``footprint``).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from carbonledger.errors import InputFormatError
from connectors.converted import Converted
from connectors.instances import instance_from_description, is_hour_unit
from connectors.rawfile import RawTable
from connectors.values import (
    Problems, first_present, on_uniques, parse_number, parse_timestamp, quoted, require, stripped, text_per_unique, where_text,
)

#: ``cost_type`` → FOCUS ChargeCategory.
CHARGE_CATEGORY_BY_COST_TYPE = {
    "regular": "Usage", "tax": "Tax", "adjustment": "Adjustment", "rounding_error": "Adjustment",
}
#: Columns a file must have to be read as a GCP billing export.
REQUIRED_COLUMNS = ("usage_start_time", "usage_end_time", "cost", "currency")
_OPTIONAL_COLUMNS = (
    "billing_account_id", "service.description", "sku.id", "sku.description", "project.id", "project.name",
    "project.labels", "labels", "system_labels", "location.location", "location.region", "location.zone",
    "usage.amount", "usage.unit", "usage.amount_in_pricing_units", "usage.pricing_unit", "credits",
    "invoice.month", "cost_type", "resource.name", "resource.global_name",
)
MACHINE_SPEC_LABEL = "compute.googleapis.com/machine_spec"
CORES_LABEL = "compute.googleapis.com/cores"
#: Machine families whose machine type includes its GPUs (the GPU SKU lines then carry no hours).
GPU_BUNDLED_FAMILIES = ("a2", "a3", "a4", "g2")
#: GPU model as named in SKU descriptions (lowercase, single spaces) → Google accelerator type name.
ACCELERATOR_TYPES = {
    "tesla k80": "nvidia-tesla-k80", "tesla p4": "nvidia-tesla-p4", "tesla p100": "nvidia-tesla-p100",
    "tesla v100": "nvidia-tesla-v100", "tesla t4": "nvidia-tesla-t4", "tesla a100": "nvidia-tesla-a100",
    "a100": "nvidia-tesla-a100", "tesla a100 80gb": "nvidia-a100-80gb", "a100 80gb": "nvidia-a100-80gb",
    "l4": "nvidia-l4", "h100 80gb": "nvidia-h100-80gb", "h100": "nvidia-h100-80gb",
    "h100 80gb mega": "nvidia-h100-mega-80gb", "h100 mega 80gb": "nvidia-h100-mega-80gb",
    "h200 141gb": "nvidia-h200-141gb", "h200": "nvidia-h200-141gb", "b200": "nvidia-b200",
}
#: vCPUs of GPU machine types whose name does not state them: (pattern, vCPUs per GPU or per machine).
VCPUS_OF_GPU_MACHINE: tuple[tuple[re.Pattern, int, bool], ...] = (
    # (name pattern with the GPU count as group 1, vCPUs, True = per GPU / False = per machine)
    (re.compile(r"^a2-(?:highgpu|ultragpu)-(\d+)g$"), 12, True),
    (re.compile(r"^a2-megagpu-(\d+)g$"), 96, False),
    (re.compile(r"^a3-highgpu-(\d+)g$"), 26, True),
    (re.compile(r"^a3-(?:megagpu|edgegpu)-(\d+)g$"), 208, False),
    (re.compile(r"^a3-ultragpu-(\d+)g$"), 224, False),
    (re.compile(r"^a4-highgpu-(\d+)g$"), 224, False),
)
_WHOLE_INSTANCE_SKUS = {"micro instance with burstable cpu": "f1-micro", "small instance with 1 vcpu": "g1-small"}
_CORE_SKU = r"(?i)\bcore running in\b"
# Committed-use fees name the resource committed to, but bill a commitment, not its use.
_COMMITMENT_SKU = r"(?i)^\s*commitment\b"
_GPU_SKU = re.compile(r"\bnvidia\s+(?P<model>.+?)\s+gpu\b|\b(?P<vertex>a100(?:\s+80gb)?|h100(?:\s+80gb)?|l4|t4|v100|"
                      r"p100|p4|k80)\s+gpu\b", re.IGNORECASE)
_SECONDS_UNITS = ("seconds", "second", "s")
_TEXT = pd.StringDtype("pyarrow")


def convert_gcp(raw_table: RawTable) -> Converted:
    """Billing fields and per-row problems of one GCP billing export file or query result."""
    missing = [c for c in REQUIRED_COLUMNS if c not in raw_table.columns]
    if missing:
        raise InputFormatError(
            raw_table.path,
            f"missing required GCP billing export column(s) {', '.join(missing)}; a GCP export needs "
            f"{', '.join(REQUIRED_COLUMNS)} (RECORD fields dotted, e.g. usage.amount)",
        )
    raw = raw_table.text_frame(list(REQUIRED_COLUMNS + _OPTIONAL_COLUMNS))
    index = raw.index

    def column(name: str) -> pd.Series:
        return stripped(raw[name]) if name in raw.columns else pd.Series(pd.NA, index=index, dtype=_TEXT)

    problems = Problems(index)
    for name in REQUIRED_COLUMNS:
        require(column(name), name, problems)
    out = pd.DataFrame(index=index)
    out["ChargePeriodStart"] = parse_timestamp(_utc_suffix(column("usage_start_time")), "usage_start_time", problems)
    out["ChargePeriodEnd"] = parse_timestamp(_utc_suffix(column("usage_end_time")), "usage_end_time", problems)
    out["BillingPeriodStart"] = _invoice_month(column("invoice.month"), problems)
    out["ProviderName"] = pd.Series("gcp", index=index, dtype=_TEXT)
    out["BillingAccountId"] = column("billing_account_id")
    out["SubAccountId"] = column("project.id")
    out["SubAccountName"] = column("project.name")
    out["RegionId"] = first_present(column("location.region"), column("location.location")).str.lower()
    out["AvailabilityZone"] = column("location.zone").str.lower()
    out["ResourceId"] = first_present(column("resource.global_name"), column("resource.name"))
    out["ServiceName"] = column("service.description")
    out["ChargeCategory"] = _charge_category(column("cost_type"), "cost_type" in raw.columns, problems)
    out["ChargeDescription"] = column("sku.description")
    out["SkuId"] = column("sku.id")
    out["ConsumedQuantity"] = parse_number(column("usage.amount"), "usage.amount", problems)
    out["ConsumedUnit"] = column("usage.unit")
    out["BilledCost"] = parse_number(column("cost"), "cost", problems)
    out["BillingCurrency"] = column("currency")
    out["x_CreditAmount"] = _credit_amount(column("credits"), problems)
    out["EffectiveCost"] = out["BilledCost"] + out["x_CreditAmount"].fillna(0.0)
    out["Tags"] = _tags(column("project.labels"), column("labels"), problems)
    system = column("system_labels")
    _check_labels(system, "system_labels", problems)
    machine = _label_value(system, MACHINE_SPEC_LABEL).str.lower()
    cores = pd.to_numeric(_label_value(system, CORES_LABEL), errors="coerce").astype("float64")
    in_pricing_units = parse_number(column("usage.amount_in_pricing_units"), "usage.amount_in_pricing_units", problems)
    hours = _usage_hours(out["ConsumedQuantity"], out["ConsumedUnit"], in_pricing_units, column("usage.pricing_unit"))
    out["x_InstanceType"], out["x_UsageHours"] = _instance_and_hours(
        out["ChargeDescription"], out["ChargeCategory"], machine, cores, hours
    )
    return Converted(out, problems)


def _utc_suffix(text: pd.Series) -> pd.Series:
    """BigQuery's JSON export writes ``2024-01-01 00:00:00 UTC``: rewrite the zone as ``+00:00``."""
    return text.str.replace(r"\s*UTC$", "+00:00", regex=True)


def _invoice_month(text: pd.Series, problems: Problems) -> pd.Series:
    """``YYYYMM`` → the month's first midnight in US Pacific time (GCP's billing day), as UTC."""
    month = pd.to_datetime(text.where(text.str.fullmatch(r"\d{6}").fillna(False).astype(bool)),
                           format="%Y%m", errors="coerce")
    start = month.dt.tz_localize("America/Los_Angeles").dt.tz_convert("UTC")
    problems.add(
        text.notna() & start.isna(),
        lambda rows: "invoice.month: " + quoted(text[rows]) + " is not a month (expected YYYYMM)",
    )
    return start


def _charge_category(cost_type: pd.Series, present: bool, problems: Problems) -> pd.Series:
    """cost_type → ChargeCategory; a file without the column (old exports) is all regular usage."""
    if not present:
        return pd.Series("Usage", index=cost_type.index, dtype=_TEXT)
    category = cost_type.str.lower().map(CHARGE_CATEGORY_BY_COST_TYPE).astype(_TEXT)
    require(cost_type, "cost_type", problems)
    problems.add(
        cost_type.notna() & category.isna(),
        lambda rows: "cost_type: " + quoted(cost_type[rows])
        + f" is not a known cost type (expected one of {', '.join(CHARGE_CATEGORY_BY_COST_TYPE)})",
    )
    return category


def _credit_amount(text: pd.Series, problems: Problems) -> pd.Series:
    """Sum of the credits' amounts per row (0 for ``[]``, null where there is no credits field)."""
    amounts = _per_unique(text, _credits_total, float("nan")).astype("float64")
    problems.add(
        text.notna() & amounts.isna(),
        lambda rows: "credits: " + quoted(text[rows])
        + " is not a list of credit records with a numeric 'amount' (expected e.g. [{\"name\": ..., \"amount\": -0.5}])",
    )
    return amounts


def _credits_total(text: str) -> float:
    parsed = _parse_listish(text)
    if not isinstance(parsed, list) or not all(isinstance(c, dict) for c in parsed):
        return float("nan")
    try:
        return math.fsum(float(c["amount"]) for c in parsed)
    except (KeyError, TypeError, ValueError):
        return float("nan")


def _check_labels(text: pd.Series, name: str, problems: Problems) -> None:
    """Record a problem for label values that are not a list of {key, value} records."""
    bad = _per_unique(text, lambda t: _labels_dict(t) is None, False).astype(bool)
    problems.add(
        bad,
        lambda rows: f"{name}: " + quoted(text[rows])
        + " is not a list of {key, value} records (expected e.g. [{\"key\": \"env\", \"value\": \"prod\"}])",
    )


def _labels_dict(text: str) -> dict[str, str] | None:
    parsed = _parse_listish(text)
    if isinstance(parsed, dict):
        return {str(k): "" if v is None else str(v) for k, v in parsed.items()}
    if not isinstance(parsed, list) or not all(isinstance(e, dict) and "key" in e for e in parsed):
        return None
    return {str(e["key"]): "" if e.get("value") is None else str(e.get("value")) for e in parsed}


def _parse_listish(text: str) -> object:
    """JSON, else a Python literal (flattened exports write both, FORMATS.md §3.2); None if neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _label_value(text: pd.Series, key: str) -> pd.Series:
    """The value of label ``key`` per row (null where absent), parsed once per unique label list."""
    return text_per_unique(text, lambda t: (_labels_dict(t) or {}).get(key) or None)


def _tags(project_text: pd.Series, resource_text: pd.Series, problems: Problems) -> pd.Series:
    """Tags JSON: project labels overlaid by resource labels; null when neither has any."""
    _check_labels(project_text, "project.labels", problems)
    _check_labels(resource_text, "labels", problems)
    project_codes, projects = pd.factorize(project_text)
    resource_codes, resources = pd.factorize(resource_text)
    width = len(resources) + 1
    pair_codes, pairs = pd.factorize(np.where(project_codes < 0, len(projects), project_codes) * width
                                     + np.where(resource_codes < 0, len(resources), resource_codes))
    texts = []
    for pair in pairs:
        project, resource = divmod(int(pair), width)
        merged = {**_labels_of(projects, project), **_labels_of(resources, resource)}
        texts.append(json.dumps(merged, ensure_ascii=False, sort_keys=True) if merged else None)
    return pd.Series(pd.arrays.ArrowStringArray(pa.array(texts, type=pa.large_string()).take(pair_codes)),
                     index=project_text.index)


def _labels_of(uniques: pd.Index, position: int) -> dict[str, str]:
    return (_labels_dict(str(uniques[position])) or {}) if position < len(uniques) else {}


def _usage_hours(amount: pd.Series, unit: pd.Series, in_pricing_units: pd.Series, pricing_unit: pd.Series) -> pd.Series:
    """Usage in hours: ``usage.amount`` in seconds / 3600 (or in hours), else the amount in an hour pricing unit."""
    in_seconds = unit.str.lower().isin(_SECONDS_UNITS).fillna(False).astype(bool)
    in_hours = is_hour_unit(unit)
    priced_in_hours = is_hour_unit(pricing_unit)
    from_usage = (amount / 3600.0).where(in_seconds, amount.where(in_hours))
    return from_usage.fillna(in_pricing_units.where(priced_in_hours))


def _instance_and_hours(
    description: pd.Series, category: pd.Series, machine: pd.Series, cores: pd.Series, hours: pd.Series,
) -> tuple[pd.Series, pd.Series]:
    """x_InstanceType and x_UsageHours per the rules in the module docstring."""
    def matches(text: pd.Series, pattern: str) -> pd.Series:
        return on_uniques(text, lambda t: t.str.contains(pattern).fillna(False).astype(bool), fill=False)

    commitment = matches(description, _COMMITMENT_SKU)
    usage = (category == "Usage").fillna(False).astype(bool) & ~commitment
    description = where_text(description, ~commitment)
    accelerator = text_per_unique(description, _accelerator_type)
    is_gpu = accelerator.notna()
    is_core = matches(description, _CORE_SKU) & ~is_gpu
    whole = text_per_unique(description, _whole_instance_type)
    is_whole = whole.notna() & ~is_gpu
    bundled = on_uniques(
        machine, lambda m: m.str.split("-").str[0].isin(GPU_BUNDLED_FAMILIES).fillna(False).astype(bool), fill=False
    )
    vcpus = cores.where(cores > 0).fillna(_per_unique(machine, _vcpus_of_machine, float("nan")).astype("float64"))
    usage_description = where_text(description, usage)
    instance = first_present(accelerator, machine, whole, instance_from_description(usage_description))
    usage_hours = pd.Series(np.nan, index=description.index, dtype="float64")
    usage_hours = usage_hours.mask(is_core & machine.notna(), hours / vcpus)
    usage_hours = usage_hours.mask(is_whole, hours)
    usage_hours = usage_hours.mask(is_gpu & ~bundled, hours)
    return instance, usage_hours.where(usage)


def _accelerator_type(description: str) -> str | None:
    """Google accelerator type name of a GPU SKU description (``Nvidia Tesla T4 GPU ...`` → ``nvidia-tesla-t4``)."""
    found = _GPU_SKU.search(description)
    if found is None:
        return None
    model = " ".join((found.group("model") or found.group("vertex")).lower().split())
    return ACCELERATOR_TYPES.get(model, "nvidia-" + model.replace(" ", "-"))


def _whole_instance_type(description: str) -> str | None:
    lowered = " ".join(description.lower().split())
    return next((kind for sku, kind in _WHOLE_INSTANCE_SKUS.items() if sku in lowered), None)


def _vcpus_of_machine(machine: str) -> float:
    """vCPUs of a machine type from its name; NaN when the name does not say (shared-core types)."""
    custom = re.search(r"(?:^|-)custom-(\d+)-\d+", machine)
    if custom:
        return float(custom.group(1))
    for pattern, vcpus, per_gpu in VCPUS_OF_GPU_MACHINE:
        found = pattern.match(machine)
        if found:
            return float(vcpus * int(found.group(1)) if per_gpu else vcpus)
    sized = re.match(r"^[a-z0-9]+-[a-z]+-(\d+)(?:-lssd|-metal)?$", machine)
    return float(sized.group(1)) if sized else float("nan")


def _per_unique(values: pd.Series, derive: Callable[[str], object], missing: object) -> pd.Series:
    """``derive`` applied once per unique non-null text value; ``missing`` for nulls."""
    codes, uniques = pd.factorize(values)
    derived = np.array([derive(str(u)) for u in uniques] + [missing], dtype=object)
    return pd.Series(derived[np.where(codes < 0, len(uniques), codes)], index=values.index)
