"""Generate the bundled demo billing exports of a small AI organisation (deterministic, seeded).

The fictional organisation "Lumenwave AI" runs GPU training, GPU inference, interactive research
and a CPU data pipeline on AWS, Google Cloud and Azure. This script writes one week of its billing
exports (2026-11-01T00Z to 2026-11-08T00Z) in the formats the clouds deliver:

* an AWS legacy Cost and Usage Report (hourly, ``RESOURCES`` included), in the real S3 layout
  ``<prefix>/<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json`` plus gzipped CSV parts under
  ``<assemblyId>/`` named in the manifest's ``reportKeys``;
* FOCUS 1.2 CSV exports from Google Cloud (hourly) and from two Microsoft billing accounts (daily;
  one billed in USD, one in EUR).

Running it twice gives byte-identical files: one fixed seed, sorted rows, fixed formatting and
gzip headers without a timestamp or file name. Prices are real list prices (sources in
``PRICE_SOURCES`` and in the demo README); usage patterns are generated.

What does not belong here: reading these files (``connectors``) or anything about emissions.
Usage: ``python scripts/generate_demo_data.py [OUT_DIR]`` (default: the package's demo folder).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261101
WINDOW_START = pd.Timestamp("2026-11-01T00:00:00Z")
N_HOURS = 7 * 24
MONTH_START = pd.Timestamp("2026-11-01T00:00:00Z")
MONTH_END = pd.Timestamp("2026-12-01T00:00:00Z")
HOURS_IN_MONTH = 30 * 24
DEFAULT_OUT_DIR = Path(__file__).resolve().parents[1] / "carbonledger" / "data" / "demo"

# --- assumptions that are not list prices (stated in the README) ------------------------------
EUR_PER_USD = 0.86  # MCA billing-currency conversion assumed for the demo, not a quoted rate
US_SALES_TAX_RATE = 0.06  # illustrative sales-tax rate applied to AWS and Azure (USD) charges
SAVINGS_PLAN_DISCOUNT = 0.28  # Compute Savings Plan rate = on-demand rate x (1 - this)
SAVINGS_PLAN_COMMITMENT_USD_PER_HOUR = 1.20
SPOT_SHARE_OF_ON_DEMAND = 0.40  # mean spot price relative to the on-demand rate

PRICE_SOURCES = {
    "KARPENTER": "aws_us_east_1_ondemand_2026-07.csv: aws/karpenter-provider-aws generated pricing "
    "(Apache-2.0; AWS Price List API, Linux on-demand, 2026-07-20)",
    "EC2INFO": "gpu_region_availability.csv: instances.vantage.sh (ec2instances.info) export via "
    "github.com/tsaol/aws-gpu (MIT), Linux on-demand, snapshot 2026-01-21",
    "GCPPRICE": "gpu_region_availability.csv: Cyclenerd/google-cloud-pricing-cost-calculator "
    "(Apache-2.0; Cloud Billing Catalog API), price 2026-07-30",
    "SKYAZ": "gpu_region_availability.csv: skypilot-org/skypilot-catalog v6 azure/vms.csv "
    "(Azure Retail Prices API), East US",
    "LIST": "provider public list-price pages (AWS EC2/S3/EBS/data transfer, Azure Virtual Machines, "
    "Google Cloud Storage/BigQuery), US regions; not in the bundled reference data",
}


# ================================================================================================
# Catalogue: instance specifications and prices
# ================================================================================================


@dataclass(frozen=True)
class InstanceSpec:
    """Size facts of one instance type (from /work/shared/data/hardware/gpu_instances.csv)."""

    vcpu: int
    memory_gib: int
    gpu_count: int
    processor: str
    family: str  # AWS product/instanceFamily, or the series for GCP / Azure
    network: str = ""


SPECS: dict[str, InstanceSpec] = {
    "p4d.24xlarge": InstanceSpec(96, 1152, 8, "Intel Xeon Platinum 8275CL", "GPU instance", "400 Gigabit"),
    "p5.48xlarge": InstanceSpec(192, 2048, 8, "AMD EPYC 7R13", "GPU instance", "3200 Gigabit"),
    "g5.2xlarge": InstanceSpec(8, 32, 1, "AMD EPYC 7R32", "GPU instance", "Up to 10 Gigabit"),
    "g6.xlarge": InstanceSpec(4, 16, 1, "AMD EPYC 7R13", "GPU instance", "Up to 10 Gigabit"),
    "g4dn.xlarge": InstanceSpec(4, 16, 1, "Intel Xeon Platinum 8259CL", "GPU instance", "Up to 25 Gigabit"),
    "p3.2xlarge": InstanceSpec(8, 61, 1, "Intel Xeon E5-2686 v4", "GPU instance", "Up to 10 Gigabit"),
    "m6i.4xlarge": InstanceSpec(16, 64, 0, "Intel Xeon 8375C (Ice Lake)", "General purpose", "Up to 12500 Megabit"),
    "c6i.8xlarge": InstanceSpec(32, 64, 0, "Intel Xeon 8375C (Ice Lake)", "Compute optimized", "12500 Megabit"),
    "a3-highgpu-8g": InstanceSpec(208, 1872, 8, "Intel Xeon Platinum 8481C", "A3"),
    "g2-standard-8": InstanceSpec(8, 32, 1, "Intel Xeon (Cascade Lake)", "G2"),
    "Standard_ND96asr_v4": InstanceSpec(96, 900, 8, "AMD EPYC 7V12", "NDasr A100 v4 Series"),
    "Standard_D8s_v5": InstanceSpec(8, 32, 0, "Intel Xeon Platinum 8370C", "Dsv5 Series"),
}

#: (instance type, region) -> (on-demand USD per hour, source id in PRICE_SOURCES)
ON_DEMAND_USD_PER_HOUR: dict[tuple[str, str], tuple[float, str]] = {
    ("p4d.24xlarge", "us-east-1"): (21.957642, "KARPENTER"),
    ("p5.48xlarge", "us-east-1"): (55.04, "KARPENTER"),
    ("g5.2xlarge", "us-west-2"): (1.212, "EC2INFO"),
    ("g6.xlarge", "eu-north-1"): (0.8536, "EC2INFO"),
    ("g4dn.xlarge", "eu-north-1"): (0.558, "EC2INFO"),
    ("p3.2xlarge", "eu-west-1"): (3.305, "EC2INFO"),
    ("m6i.4xlarge", "us-east-1"): (0.768, "LIST"),
    ("c6i.8xlarge", "us-east-1"): (1.36, "LIST"),
    ("a3-highgpu-8g", "us-central1"): (88.49, "GCPPRICE"),
    ("a3-highgpu-8g", "europe-west4"): (112.5405, "GCPPRICE"),
    ("g2-standard-8", "europe-west1"): (0.9399, "GCPPRICE"),
    # Azure: the bundled catalogue has US regions only; the East US rate is applied everywhere.
    ("Standard_ND96asr_v4", "eastus"): (27.197, "SKYAZ"),
    ("Standard_D8s_v5", "eastus"): (0.384, "LIST"),
}

S3_STANDARD_USD_PER_GB_MONTH = 0.023  # first 50 TB / month, us-east-1 (LIST)
EBS_GP3_USD_PER_GB_MONTH = 0.08  # us-east-1 and us-west-2 (LIST)
DATA_TRANSFER_OUT_USD_PER_GB = 0.09  # first 10 TB / month to the internet (LIST)
GCS_STANDARD_USD_PER_GIB_MONTH = 0.020  # us-central1 regional Standard (LIST)
BIGQUERY_USD_PER_TIB = 6.25  # on-demand analysis (LIST)
AWS_BUSINESS_SUPPORT_TIERS = ((10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (float("inf"), 0.03))
AWS_BUSINESS_SUPPORT_MINIMUM_USD = 100.0


def on_demand_rate(instance_type: str, region: str) -> float:
    """On-demand USD per hour; Azure sizes fall back to their East US rate."""
    key = (instance_type, region)
    if key not in ON_DEMAND_USD_PER_HOUR and instance_type.startswith("Standard_"):
        key = (instance_type, "eastus")
    return ON_DEMAND_USD_PER_HOUR[key][0]


# ================================================================================================
# Time and usage schedules
# ================================================================================================

HOUR_STARTS = pd.date_range(WINDOW_START, periods=N_HOURS, freq="h")


def usage_per_hour(intervals: list[tuple[float, float]]) -> np.ndarray:
    """Hours of use in each hour of the window, for running intervals given in window hours."""
    if not intervals:
        return np.zeros(N_HOURS)
    starts = np.array([a for a, _ in intervals])[:, None]
    ends = np.array([b for _, b in intervals])[:, None]
    hour = np.arange(N_HOURS)[None, :]
    overlap = np.minimum(ends, hour + 1) - np.maximum(starts, hour)
    return np.clip(overlap, 0.0, 1.0).sum(axis=0).round(6)


def always_on() -> np.ndarray:
    return usage_per_hour([(0.0, float(N_HOURS))])


def with_gaps(rng: np.random.Generator, n_gaps: int, min_len: float, max_len: float) -> list[tuple[float, float]]:
    """Running intervals over the window with ``n_gaps`` outages (restarts after failures)."""
    gap_starts = np.sort(rng.uniform(6, N_HOURS - 12, n_gaps))
    gap_lengths = rng.uniform(min_len, max_len, n_gaps)
    intervals, cursor = [], 0.0
    for start, length in zip(gap_starts, gap_lengths):
        intervals.append((cursor, float(start)))
        cursor = float(start + length)
    intervals.append((cursor, float(N_HOURS)))
    return intervals


def office_hours(
    rng: np.random.Generator, open_utc: float, close_utc: float, jitter_h: float
) -> list[tuple[float, float]]:
    """Weekday running intervals (Mon-Fri) between ``open_utc`` and ``close_utc`` with jitter."""
    intervals = []
    for day in range(N_HOURS // 24):
        if (WINDOW_START + pd.Timedelta(days=day)).dayofweek >= 5:
            continue
        start = day * 24 + open_utc + rng.uniform(-jitter_h, jitter_h)
        end = day * 24 + close_utc + rng.uniform(-jitter_h, jitter_h)
        intervals.append((float(start), float(end)))
    return intervals


def diurnal(peak_utc: float) -> np.ndarray:
    """A day-shaped load factor in [0.35, 1] peaking at ``peak_utc`` (hour of day)."""
    hour_of_day = np.arange(N_HOURS) % 24
    return 0.675 + 0.325 * np.cos(2 * np.pi * (hour_of_day - peak_utc) / 24)


# ================================================================================================
# Formatting helpers (vectorised, deterministic)
# ================================================================================================


def decimal_strings(values: np.ndarray | pd.Series, decimals: int = 10) -> pd.Series:
    """Fixed-point strings with trailing zeros removed (``1.5``, ``0.0000123``, ``-3``)."""
    array = np.round(np.asarray(values, dtype="float64"), decimals) + 0.0  # + 0.0 drops -0.0
    text = pd.Series(np.char.mod(f"%.{decimals}f", array))
    return text.str.rstrip("0").str.rstrip(".")


def iso_z(timestamps: pd.DatetimeIndex | pd.Series) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(timestamps).strftime("%Y-%m-%dT%H:%M:%SZ"))


def hex_id(rng: np.random.Generator, n_chars: int) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), n_chars))


def stable_hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def tags_json(tags: dict[str, str]) -> str:
    return json.dumps(tags, sort_keys=True, separators=(",", ":")) if tags else ""


# ================================================================================================
# AWS legacy CUR
# ================================================================================================

AWS_PAYER = "401672903851"
AWS_ML_PROD = "588431720946"
AWS_RESEARCH = "273960481157"
CUR_BUCKET = "lumenwave-billing-reports"
CUR_PREFIX = "cur"
CUR_REPORT = "lumenwave-hourly"
LEGAL_ENTITY = "Amazon Web Services, Inc."
EC2_PRODUCT_NAME = "Amazon Elastic Compute Cloud"
TAG_KEYS = ("user:Name", "user:project", "user:team", "user:workload")

AWS_REGIONS = {  # region code -> (product/location, usage-type prefix)
    "us-east-1": ("US East (N. Virginia)", ""),
    "us-west-2": ("US West (Oregon)", "USW2-"),
    "eu-west-1": ("EU (Ireland)", "EU-"),
    "eu-north-1": ("EU (Stockholm)", "EUN1-"),
}

NORMALIZATION_FACTOR = {"xlarge": 8, "2xlarge": 16, "4xlarge": 32, "8xlarge": 64, "24xlarge": 192, "48xlarge": 384}

CUR_COLUMNS: tuple[str, ...] = (
    "identity/LineItemId", "identity/TimeInterval",
    "bill/InvoiceId", "bill/InvoicingEntity", "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId",
    "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId", "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
    "lineItem/ProductCode", "lineItem/UsageType", "lineItem/Operation", "lineItem/AvailabilityZone",
    "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/NormalizationFactor",
    "lineItem/NormalizedUsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedRate",
    "lineItem/UnblendedCost", "lineItem/BlendedRate", "lineItem/BlendedCost",
    "lineItem/LineItemDescription", "lineItem/TaxType", "lineItem/LegalEntity",
    "product/ProductName", "product/currentGeneration",
    "product/fromLocation", "product/fromLocationType",
    "product/fromRegionCode", "product/gpu", "product/instanceFamily", "product/instanceType",
    "product/instanceTypeFamily", "product/licenseModel", "product/location", "product/locationType",
    "product/marketoption", "product/memory", "product/networkPerformance",
    "product/normalizationSizeFactor", "product/operatingSystem", "product/operation",
    "product/physicalProcessor", "product/preInstalledSw", "product/processorArchitecture",
    "product/productFamily", "product/region", "product/regionCode", "product/servicecode",
    "product/servicename", "product/sku", "product/storage", "product/storageClass", "product/tenancy",
    "product/toLocation", "product/toLocationType", "product/toRegionCode", "product/transferType",
    "product/usagetype", "product/vcpu", "product/volumeApiName", "product/volumeType",
    "pricing/LeaseContractLength", "pricing/OfferingClass", "pricing/PurchaseOption", "pricing/RateCode",
    "pricing/currency", "pricing/publicOnDemandCost", "pricing/publicOnDemandRate",
    "pricing/term", "pricing/unit",
    "reservation/AmortizedUpfrontCostForUsage", "reservation/AmortizedUpfrontFeeForBillingPeriod",
    "reservation/EffectiveCost", "reservation/RecurringFeeForUsage", "reservation/ReservationARN",
    "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod", "savingsPlan/EndTime",
    "savingsPlan/InstanceTypeFamily", "savingsPlan/OfferingType", "savingsPlan/PaymentOption",
    "savingsPlan/PurchaseTerm", "savingsPlan/RecurringCommitmentForBillingPeriod", "savingsPlan/Region",
    "savingsPlan/SavingsPlanARN", "savingsPlan/SavingsPlanEffectiveCost", "savingsPlan/SavingsPlanRate",
    "savingsPlan/StartTime", "savingsPlan/TotalCommitmentToDate", "savingsPlan/UsedCommitment",
    *(f"resourceTags/{key}" for key in TAG_KEYS),
)


@dataclass
class Ec2Instance:
    """One EC2 instance of the demo organisation and its hourly usage."""

    name: str
    account: str
    instance_type: str
    region: str
    az: str
    usage_h: np.ndarray
    tags: dict[str, str] = field(default_factory=dict)
    market: str = "OnDemand"  # OnDemand | Spot | SavingsPlan
    resource_id: str = ""
    volume_gb: int = 0  # attached gp3 volume (0 = none billed in this report)


def sku_code(*parts: str) -> str:
    """A 16-character AWS-style SKU, stable for the same product."""
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return "".join(alphabet[np.frombuffer(digest[:16], dtype=np.uint8) % len(alphabet)])


def hourly_intervals(mask: np.ndarray) -> dict[str, pd.Series]:
    """UsageStartDate, UsageEndDate and TimeInterval strings of the hours selected by ``mask``."""
    starts = HOUR_STARTS[mask]
    start_text, end_text = iso_z(starts), iso_z(starts + pd.Timedelta(hours=1))
    return {
        "lineItem/UsageStartDate": start_text,
        "lineItem/UsageEndDate": end_text,
        "identity/TimeInterval": start_text + "/" + end_text,
    }


def monthly_interval() -> dict[str, str]:
    start, end = MONTH_START.strftime("%Y-%m-%dT%H:%M:%SZ"), MONTH_END.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"lineItem/UsageStartDate": start, "lineItem/UsageEndDate": end, "identity/TimeInterval": f"{start}/{end}"}


def tag_columns(name: str, tags: dict[str, str]) -> dict[str, str]:
    values = {"resourceTags/user:Name": name} if name else {}
    for key, value in tags.items():
        values[f"resourceTags/user:{key}"] = value
    return values


def ec2_product(instance: Ec2Instance) -> dict[str, str]:
    spec = SPECS[instance.instance_type]
    location, prefix = AWS_REGIONS[instance.region]
    family, size = instance.instance_type.split(".")
    usage_kind = "SpotUsage" if instance.market == "Spot" else "BoxUsage"
    usage_type = f"{prefix}{usage_kind}:{instance.instance_type}"
    product = {
        "product/ProductName": EC2_PRODUCT_NAME,
        "product/currentGeneration": "Yes",
        "product/instanceFamily": spec.family,
        "product/instanceType": instance.instance_type,
        "product/instanceTypeFamily": family,
        "product/licenseModel": "No License required",
        "product/location": location,
        "product/locationType": "AWS Region",
        "product/marketoption": instance.market if instance.market == "Spot" else "OnDemand",
        "product/memory": f"{spec.memory_gib} GiB",
        "product/networkPerformance": spec.network,
        "product/normalizationSizeFactor": str(NORMALIZATION_FACTOR[size]),
        "product/operatingSystem": "Linux",
        "product/operation": "RunInstances",
        "product/physicalProcessor": spec.processor,
        "product/preInstalledSw": "NA",
        "product/processorArchitecture": "64-bit",
        "product/productFamily": "Compute Instance",
        "product/region": instance.region,
        "product/regionCode": instance.region,
        "product/servicecode": "AmazonEC2",
        "product/servicename": EC2_PRODUCT_NAME,
        "product/sku": sku_code("ec2", usage_type, instance.region),
        "product/storage": "EBS only",
        "product/tenancy": "Shared",
        "product/usagetype": usage_type,
        "product/vcpu": str(spec.vcpu),
    }
    if spec.gpu_count:
        product["product/gpu"] = str(spec.gpu_count)
    return product


def ec2_usage_rows(instance: Ec2Instance, rng: np.random.Generator) -> list[pd.DataFrame]:
    """BoxUsage / SpotUsage / SavingsPlanCoveredUsage (+ negation) lines of one instance."""
    mask = instance.usage_h > 0
    usage = instance.usage_h[mask]
    product = ec2_product(instance)
    od_rate = on_demand_rate(instance.instance_type, instance.region)
    factor = NORMALIZATION_FACTOR[instance.instance_type.split(".")[1]]
    common = {
        **hourly_intervals(mask),
        **product,
        **tag_columns(instance.name, instance.tags),
        "lineItem/UsageAccountId": instance.account,
        "lineItem/ProductCode": "AmazonEC2",
        "lineItem/UsageType": product["product/usagetype"],
        "lineItem/AvailabilityZone": instance.az,
        "lineItem/ResourceId": instance.resource_id,
        "lineItem/UsageAmount": decimal_strings(usage),
        "lineItem/NormalizationFactor": str(factor),
        "lineItem/NormalizedUsageAmount": decimal_strings(usage * factor),
        "pricing/publicOnDemandCost": decimal_strings(usage * od_rate),
        "pricing/publicOnDemandRate": decimal_strings(np.full(usage.size, od_rate)),
        "pricing/unit": "Hrs",
        "pricing/RateCode": f"{product['product/sku']}.JRTCKXETXF.6YS6EN2CT7",
    }
    if instance.market == "Spot":
        # Spot price moves a few times a day around SPOT_SHARE_OF_ON_DEMAND of the on-demand rate.
        steps = rng.normal(1.0, 0.06, N_HOURS // 6 + 1).clip(0.8, 1.25)
        rate = np.round(od_rate * SPOT_SHARE_OF_ON_DEMAND * np.repeat(steps, 6)[:N_HOURS], 4)[mask]
        cost = usage * rate
        spot_text = f" per Linux/UNIX (Amazon VPC), {instance.instance_type} Spot Instance-hour"
        description = "$" + decimal_strings(rate, 4) + spot_text
        frame = pd.DataFrame({
            **common,
            "lineItem/LineItemType": "Usage",
            "lineItem/Operation": "RunInstances:SV001",
            "lineItem/UnblendedRate": decimal_strings(rate),
            "lineItem/UnblendedCost": decimal_strings(cost),
            "lineItem/BlendedRate": decimal_strings(rate),
            "lineItem/BlendedCost": decimal_strings(cost),
            "lineItem/LineItemDescription": description,
            "pricing/term": "",
        })
        return [frame]
    description = f"${decimal_strings([od_rate])[0]} per On Demand Linux {instance.instance_type} Instance Hour"
    od_cost = decimal_strings(usage * od_rate)
    usage_frame = pd.DataFrame({
        **common,
        "lineItem/LineItemType": "Usage",
        "lineItem/Operation": "RunInstances",
        "lineItem/UnblendedRate": decimal_strings(np.full(usage.size, od_rate)),
        "lineItem/UnblendedCost": od_cost,
        "lineItem/BlendedRate": decimal_strings(np.full(usage.size, od_rate)),
        "lineItem/BlendedCost": od_cost,
        "lineItem/LineItemDescription": description,
        "pricing/term": "OnDemand",
    })
    if instance.market != "SavingsPlan":
        return [usage_frame]
    sp_rate = round(od_rate * (1 - SAVINGS_PLAN_DISCOUNT), 4)
    covered = usage_frame.assign(**{
        "lineItem/LineItemType": "SavingsPlanCoveredUsage",
        "savingsPlan/SavingsPlanARN": savings_plan_arn(),
        "savingsPlan/SavingsPlanRate": decimal_strings(np.full(usage.size, sp_rate)),
        "savingsPlan/SavingsPlanEffectiveCost": decimal_strings(usage * sp_rate),
    })
    negation = covered.assign(**{
        "lineItem/LineItemType": "SavingsPlanNegation",
        "lineItem/UnblendedCost": decimal_strings(-usage * od_rate),
        "lineItem/BlendedCost": decimal_strings(-usage * od_rate),
        "lineItem/LineItemDescription": (
            f"SavingsPlanNegation used by AccountId : {instance.account} and UsageSku : {product['product/sku']}"
        ),
        "savingsPlan/SavingsPlanEffectiveCost": "0",
    })
    return [covered, negation]


def savings_plan_arn() -> str:
    return f"arn:aws:savingsplans::{AWS_ML_PROD}:savingsplan/{uuid.uuid5(uuid.NAMESPACE_URL, 'lumenwave-sp-2026')}"


def savings_plan_fee_rows(covered: list[Ec2Instance]) -> pd.DataFrame:
    """Hourly SavingsPlanRecurringFee lines of the 1-year No Upfront Compute Savings Plan."""
    used = sum(
        i.usage_h * round(on_demand_rate(i.instance_type, i.region) * (1 - SAVINGS_PLAN_DISCOUNT), 4) for i in covered
    )
    used = np.minimum(used, SAVINGS_PLAN_COMMITMENT_USD_PER_HOUR)
    mask = np.ones(N_HOURS, dtype=bool)
    commitment = SAVINGS_PLAN_COMMITMENT_USD_PER_HOUR
    return pd.DataFrame({
        **hourly_intervals(mask),
        "lineItem/UsageAccountId": AWS_ML_PROD,
        "lineItem/LineItemType": "SavingsPlanRecurringFee",
        "lineItem/ProductCode": "ComputeSavingsPlans",
        "lineItem/UsageType": "ComputeSP:1yrNoUpfront",
        "lineItem/Operation": "",
        "lineItem/UsageAmount": "1",
        "lineItem/UnblendedRate": decimal_strings(np.full(N_HOURS, commitment)),
        "lineItem/UnblendedCost": decimal_strings(np.full(N_HOURS, commitment)),
        "lineItem/BlendedRate": decimal_strings(np.full(N_HOURS, commitment)),
        "lineItem/BlendedCost": decimal_strings(np.full(N_HOURS, commitment)),
        "lineItem/LineItemDescription": "1 year No Upfront Compute Savings Plan",
        "product/ProductName": "Savings Plans for AWS Compute usage",
        "product/productFamily": "Savings Plans",
        "product/servicecode": "ComputeSavingsPlans",
        "product/usagetype": "ComputeSP:1yrNoUpfront",
        "savingsPlan/SavingsPlanARN": savings_plan_arn(),
        "savingsPlan/OfferingType": "ComputeSavingsPlans",
        "savingsPlan/PaymentOption": "No Upfront",
        "savingsPlan/PurchaseTerm": "1yr",
        "savingsPlan/StartTime": "2026-04-01T00:00:00.000Z",
        "savingsPlan/EndTime": "2027-03-31T23:59:59.000Z",
        "savingsPlan/RecurringCommitmentForBillingPeriod": str(round(commitment * HOURS_IN_MONTH, 2)),
        "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod": "0",
        "savingsPlan/TotalCommitmentToDate": decimal_strings(np.full(N_HOURS, commitment)),
        "savingsPlan/UsedCommitment": decimal_strings(used),
        "savingsPlan/SavingsPlanEffectiveCost": decimal_strings(commitment - used),
    })


def ebs_rows(instance: Ec2Instance, volume_id: str) -> pd.DataFrame:
    """Hourly gp3 volume lines (GB-Mo prorated per hour) of the instance's data volume."""
    location, prefix = AWS_REGIONS[instance.region]
    usage_type = f"{prefix}EBS:VolumeUsage.gp3"
    usage = np.full(N_HOURS, instance.volume_gb / HOURS_IN_MONTH)
    cost = decimal_strings(usage * EBS_GP3_USD_PER_GB_MONTH)
    sku = sku_code("ebs", usage_type)
    return pd.DataFrame({
        **hourly_intervals(np.ones(N_HOURS, dtype=bool)),
        **tag_columns(f"{instance.name}-data", instance.tags),
        "lineItem/UsageAccountId": instance.account,
        "lineItem/LineItemType": "Usage",
        "lineItem/ProductCode": "AmazonEC2",
        "lineItem/UsageType": usage_type,
        "lineItem/Operation": "CreateVolume-Gp3",
        "lineItem/AvailabilityZone": instance.az,
        "lineItem/ResourceId": volume_id,
        "lineItem/UsageAmount": decimal_strings(usage),
        "lineItem/UnblendedRate": str(EBS_GP3_USD_PER_GB_MONTH),
        "lineItem/UnblendedCost": cost,
        "lineItem/BlendedRate": str(EBS_GP3_USD_PER_GB_MONTH),
        "lineItem/BlendedCost": cost,
        "lineItem/LineItemDescription": (
            f"${EBS_GP3_USD_PER_GB_MONTH} per GB-month of General Purpose (gp3) provisioned storage - {location}"
        ),
        "product/ProductName": EC2_PRODUCT_NAME,
        "product/location": location,
        "product/locationType": "AWS Region",
        "product/productFamily": "Storage",
        "product/region": instance.region,
        "product/regionCode": instance.region,
        "product/servicecode": "AmazonEC2",
        "product/servicename": EC2_PRODUCT_NAME,
        "product/sku": sku,
        "product/usagetype": usage_type,
        "product/volumeApiName": "gp3",
        "product/volumeType": "General Purpose",
        "pricing/RateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
        "pricing/publicOnDemandCost": cost,
        "pricing/publicOnDemandRate": str(EBS_GP3_USD_PER_GB_MONTH),
        "pricing/term": "OnDemand",
        "pricing/unit": "GB-Mo",
    })


def s3_rows(account: str, bucket: str, start_gb: float, growth_gb_per_h: float, tags: dict[str, str]) -> pd.DataFrame:
    """Hourly S3 Standard TimedStorage-ByteHrs lines of one bucket in us-east-1."""
    stored_gb = start_gb + growth_gb_per_h * np.arange(N_HOURS)
    usage = stored_gb / HOURS_IN_MONTH
    cost = decimal_strings(usage * S3_STANDARD_USD_PER_GB_MONTH)
    location = AWS_REGIONS["us-east-1"][0]
    sku = sku_code("s3", "TimedStorage-ByteHrs", "us-east-1")
    return pd.DataFrame({
        **hourly_intervals(np.ones(N_HOURS, dtype=bool)),
        **tag_columns("", tags),
        "lineItem/UsageAccountId": account,
        "lineItem/LineItemType": "Usage",
        "lineItem/ProductCode": "AmazonS3",
        "lineItem/UsageType": "TimedStorage-ByteHrs",
        "lineItem/Operation": "StandardStorage",
        "lineItem/ResourceId": bucket,
        "lineItem/UsageAmount": decimal_strings(usage),
        "lineItem/UnblendedRate": str(S3_STANDARD_USD_PER_GB_MONTH),
        "lineItem/UnblendedCost": cost,
        "lineItem/BlendedRate": str(S3_STANDARD_USD_PER_GB_MONTH),
        "lineItem/BlendedCost": cost,
        "lineItem/LineItemDescription": f"${S3_STANDARD_USD_PER_GB_MONTH} per GB - first 50 TB / month of storage used",
        "product/ProductName": "Amazon Simple Storage Service",
        "product/location": location,
        "product/locationType": "AWS Region",
        "product/productFamily": "Storage",
        "product/region": "us-east-1",
        "product/regionCode": "us-east-1",
        "product/servicecode": "AmazonS3",
        "product/servicename": "Amazon Simple Storage Service",
        "product/sku": sku,
        "product/storageClass": "General Purpose",
        "product/usagetype": "TimedStorage-ByteHrs",
        "product/volumeType": "Standard",
        "pricing/RateCode": f"{sku}.JRTCKXETXF.PGHJ3S3EYE",
        "pricing/publicOnDemandCost": cost,
        "pricing/publicOnDemandRate": str(S3_STANDARD_USD_PER_GB_MONTH),
        "pricing/term": "OnDemand",
        "pricing/unit": "GB-Mo",
    })


def data_transfer_rows(instance: Ec2Instance, gb_per_running_hour: float, rng: np.random.Generator) -> pd.DataFrame:
    """Hourly internet egress of a serving instance. Like real transfer lines, these carry
    ``product/fromRegionCode`` but no ``product/region`` / ``product/regionCode``."""
    location, prefix = AWS_REGIONS[instance.region]
    usage_type = f"{prefix}DataTransfer-Out-Bytes"
    mask = instance.usage_h > 0
    gb = (gb_per_running_hour * diurnal(16.0) * rng.lognormal(0.0, 0.15, N_HOURS) * instance.usage_h)[mask]
    cost = decimal_strings(gb * DATA_TRANSFER_OUT_USD_PER_GB)
    sku = sku_code("dt", usage_type)
    return pd.DataFrame({
        **hourly_intervals(mask),
        **tag_columns(instance.name, instance.tags),
        "lineItem/UsageAccountId": instance.account,
        "lineItem/LineItemType": "Usage",
        "lineItem/ProductCode": "AWSDataTransfer",
        "lineItem/UsageType": usage_type,
        "lineItem/Operation": "RunInstances",
        "lineItem/ResourceId": instance.resource_id,
        "lineItem/UsageAmount": decimal_strings(gb),
        "lineItem/UnblendedRate": str(DATA_TRANSFER_OUT_USD_PER_GB),
        "lineItem/UnblendedCost": cost,
        "lineItem/BlendedRate": str(DATA_TRANSFER_OUT_USD_PER_GB),
        "lineItem/BlendedCost": cost,
        "lineItem/LineItemDescription": (
            f"${DATA_TRANSFER_OUT_USD_PER_GB} per GB - first 10 TB / month data transfer out"
            " beyond the global free tier"
        ),
        "product/ProductName": "AWS Data Transfer",
        "product/fromLocation": location,
        "product/fromLocationType": "AWS Region",
        "product/fromRegionCode": instance.region,
        "product/productFamily": "Data Transfer",
        "product/servicecode": "AWSDataTransfer",
        "product/servicename": "AWS Data Transfer",
        "product/sku": sku,
        "product/toLocation": "External",
        "product/toLocationType": "Other",
        "product/transferType": "AWS Outbound",
        "product/usagetype": usage_type,
        "pricing/RateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
        "pricing/publicOnDemandCost": cost,
        "pricing/publicOnDemandRate": str(DATA_TRANSFER_OUT_USD_PER_GB),
        "pricing/term": "OnDemand",
        "pricing/unit": "GB",
    })


def monthly_row(
    account: str, line_type: str, product_code: str, product_name: str, description: str, cost_usd: float, **extra: str
) -> dict[str, str]:
    """One billing-period line (tax, fee, credit): no product region, no resource."""
    cost = decimal_strings([cost_usd])[0]
    return {
        **monthly_interval(),
        "lineItem/UsageAccountId": account,
        "lineItem/LineItemType": line_type,
        "lineItem/ProductCode": product_code,
        "lineItem/UsageAmount": "1" if line_type != "Credit" else "0",
        "lineItem/UnblendedRate": cost if line_type == "Fee" else "",
        "lineItem/UnblendedCost": cost,
        "lineItem/BlendedRate": cost if line_type == "Fee" else "",
        "lineItem/BlendedCost": cost,
        "lineItem/LineItemDescription": description,
        "product/ProductName": product_name,
        **extra,
    }


def cost_of(frames: list[pd.DataFrame], account: str | None = None) -> dict[str, float]:
    """UnblendedCost per ProductCode of usage-type lines (for tax and the support fee)."""
    frame = pd.concat(frames, ignore_index=True)
    if account is not None:
        frame = frame[frame["lineItem/UsageAccountId"] == account]
    costs = pd.to_numeric(frame["lineItem/UnblendedCost"])
    return costs.groupby(frame["lineItem/ProductCode"]).sum().round(10).to_dict()


def business_support_fee(monthly_charges_usd: float) -> float:
    """AWS Business Support: tiered percentage of the month's charges, at least $100."""
    fee, lower = 0.0, 0.0
    for upper, share in AWS_BUSINESS_SUPPORT_TIERS:
        fee += max(0.0, min(monthly_charges_usd, upper) - lower) * share
        lower = upper
    return round(max(fee, AWS_BUSINESS_SUPPORT_MINIMUM_USD), 2)


def aws_instances(rng: np.random.Generator) -> list[Ec2Instance]:
    """The organisation's EC2 fleet for the week."""
    train_cluster = with_gaps(rng, 2, 2.5, 6.0)  # the two p4d nodes fail and restart together
    research = office_hours(rng, 7.0, 17.5, 0.75)  # Stockholm office hours (UTC+1 in November)
    spot_peak = [(d * 24 + 14.0 + rng.uniform(-0.5, 0.5), d * 24 + 22.0 + rng.uniform(-0.5, 0.5)) for d in range(7)]
    nightly = [(d * 24 + 1.0 + rng.uniform(0, 0.3), d * 24 + 4.5 + rng.uniform(0, 1.2)) for d in range(7)]
    pretrain = {"project": "llm-pretrain", "team": "foundation-models", "workload": "training"}
    search = {"project": "search-inference", "team": "search", "workload": "inference"}
    vision = {"project": "vision-research", "team": "vision", "workload": "interactive"}
    pipeline = {"project": "data-pipeline", "team": "data-eng"}
    p5_run = usage_per_hour(with_gaps(rng, 1, 3.0, 8.0))
    p3_run = usage_per_hour(office_hours(rng, 8.0, 16.0, 1.0))  # Dublin office hours (UTC+0)
    prod, lab = AWS_ML_PROD, AWS_RESEARCH
    fleet = [
        Ec2Instance("pretrain-p4d-0", prod, "p4d.24xlarge", "us-east-1", "us-east-1a", usage_per_hour(train_cluster),
                    pretrain, volume_gb=2000),
        Ec2Instance("pretrain-p4d-1", prod, "p4d.24xlarge", "us-east-1", "us-east-1a", usage_per_hour(train_cluster),
                    pretrain, volume_gb=2000),
        Ec2Instance("pretrain-p5-0", prod, "p5.48xlarge", "us-east-1", "us-east-1d", p5_run, pretrain, volume_gb=4000),
        *(
            Ec2Instance(f"search-g5-{i}", prod, "g5.2xlarge", "us-west-2", f"us-west-2{'abc'[i % 3]}", always_on(),
                        search, volume_gb=200)
            for i in range(4)
        ),
        *(
            Ec2Instance(f"search-spot-{i}", prod, "g5.2xlarge", "us-west-2", "us-west-2b", usage_per_hour(spot_peak),
                        search, market="Spot")
            for i in range(2)
        ),
        Ec2Instance("search-eu-g6-0", prod, "g6.xlarge", "eu-north-1", "eu-north-1a", always_on(), search),
        Ec2Instance("prep-m6i-0", prod, "m6i.4xlarge", "us-east-1", "us-east-1b", always_on(), pipeline,
                    market="SavingsPlan", volume_gb=1000),
        Ec2Instance("prep-m6i-1", prod, "m6i.4xlarge", "us-east-1", "us-east-1b", always_on(), {},
                    market="SavingsPlan", volume_gb=1000),
        Ec2Instance("prep-c6i-nightly", prod, "c6i.8xlarge", "us-east-1", "us-east-1b", usage_per_hour(nightly),
                    pipeline),
        *(
            Ec2Instance(f"vision-g4dn-{i}", lab, "g4dn.xlarge", "eu-north-1", "eu-north-1b", usage_per_hour(research),
                        vision)
            for i in range(2)
        ),
        Ec2Instance("vision-p3-0", lab, "p3.2xlarge", "eu-west-1", "eu-west-1a", p3_run, vision),
        Ec2Instance("", lab, "g4dn.xlarge", "eu-north-1", "eu-north-1c", always_on(), {}),  # forgotten, untagged
    ]
    for instance in fleet:
        instance.resource_id = f"i-0{hex_id(rng, 16)}"
    return fleet


def aws_cur_frame(rng: np.random.Generator) -> pd.DataFrame:
    """All CUR lines of the week, in CUR column order, sorted."""
    fleet = aws_instances(rng)
    frames: list[pd.DataFrame] = []
    for instance in fleet:
        frames.extend(ec2_usage_rows(instance, rng))
        if instance.volume_gb:
            frames.append(ebs_rows(instance, f"vol-0{hex_id(rng, 16)}"))
    frames.append(savings_plan_fee_rows([i for i in fleet if i.market == "SavingsPlan"]))
    for instance in fleet:
        if instance.instance_type.startswith(("g5", "g6")) and instance.tags.get("workload") == "inference":
            frames.append(data_transfer_rows(instance, 6.0, rng))
    pretrain_tags = {"project": "llm-pretrain", "team": "foundation-models", "workload": "training"}
    frames.append(s3_rows(AWS_ML_PROD, "lumenwave-training-corpus", 41_000.0, 0.0, pretrain_tags))
    frames.append(s3_rows(AWS_ML_PROD, "lumenwave-checkpoints", 12_000.0, 35.0, pretrain_tags))
    frames.append(s3_rows(AWS_PAYER, CUR_BUCKET, 3.2, 0.002, {}))

    monthly: list[dict[str, str]] = []
    for account in (AWS_PAYER, AWS_ML_PROD, AWS_RESEARCH):
        for product_code, cost in sorted(cost_of(frames, account).items()):
            tax_usd = round(cost * US_SALES_TAX_RATE, 2)
            if tax_usd <= 0:
                continue
            monthly.append(monthly_row(
                account, "Tax", product_code, "", f"Tax for product code {product_code}",
                tax_usd, **{"lineItem/TaxType": "USSalesTax", "lineItem/LegalEntity": LEGAL_ENTITY},
            ))
    total_charges = sum(cost_of(frames).values())
    monthly.append(monthly_row(
        AWS_PAYER, "Fee", "AWSSupportBusiness", "AWS Support (Business)", "AWS Support (Business)",
        business_support_fee(total_charges), **{"lineItem/UsageType": "Dollar", "lineItem/LegalEntity": LEGAL_ENTITY},
    ))
    monthly.append(monthly_row(
        AWS_ML_PROD, "Credit", "AmazonEC2", EC2_PRODUCT_NAME,
        f"AWS Activate Credits, credit from account: {AWS_PAYER}", -2500.0,
        **{"lineItem/LegalEntity": LEGAL_ENTITY},
    ))
    frames.append(pd.DataFrame(monthly))

    cur = pd.concat(frames, ignore_index=True)
    cur["lineItem/LegalEntity"] = LEGAL_ENTITY
    cur["lineItem/CurrencyCode"] = "USD"
    cur["pricing/currency"] = np.where(cur["pricing/unit"].notna(), "USD", "")
    cur["bill/InvoiceId"] = ""  # the month is still open: no invoice yet
    cur["bill/InvoicingEntity"] = LEGAL_ENTITY
    cur["bill/BillingEntity"] = "AWS"
    cur["bill/BillType"] = "Anniversary"
    cur["bill/PayerAccountId"] = AWS_PAYER
    cur["bill/BillingPeriodStartDate"] = MONTH_START.strftime("%Y-%m-%dT%H:%M:%SZ")
    cur["bill/BillingPeriodEndDate"] = MONTH_END.strftime("%Y-%m-%dT%H:%M:%SZ")
    cur = cur.reindex(columns=list(CUR_COLUMNS)).fillna("").astype(str)
    sort_keys = ["lineItem/UsageStartDate", "lineItem/UsageAccountId", "lineItem/LineItemType", "lineItem/ProductCode",
                 "lineItem/UsageType", "lineItem/ResourceId"]
    cur = cur.sort_values(sort_keys, kind="mergesort").reset_index(drop=True)
    cur["identity/LineItemId"] = [
        stable_hash(*row)[:52] for row in cur[sort_keys].itertuples(index=False, name=None)
    ]
    return cur


# ================================================================================================
# FOCUS 1.2
# ================================================================================================

FOCUS_12_COLUMNS: tuple[str, ...] = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId",
    "CapacityReservationStatus", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId",
    "SubAccountName", "SubAccountType", "Tags",
)
AZURE_EXTRA_COLUMNS = ("x_BilledCostInUsd", "x_PricingBlockSize", "x_PricingUnitDescription", "x_ResourceGroupName",
                       "x_SkuDetails", "x_SkuMeterCategory", "x_SkuMeterSubcategory")


@dataclass(frozen=True)
class FocusAccount:
    """Billing-account context shared by every line of one FOCUS export."""

    provider: str
    billing_account_id: str
    billing_account_name: str
    billing_account_type: str
    currency: str
    sub_account_type: str
    usd_to_billing: float = 1.0


GCP_ACCOUNT = FocusAccount("Google Cloud", "01A2B3-C4D5E6-F7A8B9", "Lumenwave AI", "Billing Account", "USD", "Project")
AZURE_USD_ACCOUNT = FocusAccount(
    "Microsoft", "/providers/Microsoft.Billing/billingAccounts/74120395", "Lumenwave AI Inc",
    "Billing Account", "USD", "Subscription",
)
AZURE_EUR_ACCOUNT = FocusAccount(
    "Microsoft",
    "/providers/Microsoft.Billing/billingAccounts/"
    "5b3c2e1a-8f4d-4c6b-9a7e-2d1f0c9b8a76:0e4f7a2c-3b1d-4e5f-8a9b-6c7d8e9f0a1b_2019-05-31",
    "Lumenwave AI Europe AB", "Billing Profile", "EUR", "Subscription", usd_to_billing=EUR_PER_USD,
)

GCP_REGION_NAMES = {
    "us-central1": "Iowa", "europe-west4": "Netherlands", "europe-west1": "Belgium", "us": "United States",
}
GCP_REGION_GEO = {"us-central1": "Americas", "europe-west4": "EMEA", "europe-west1": "EMEA", "us": "Americas"}
AZURE_REGION_NAMES = {"westeurope": "West Europe", "eastus": "East US"}


def focus_lines(
    account: FocusAccount,
    period_starts: pd.DatetimeIndex,
    period_hours: float,
    *,
    category: str,
    quantity: np.ndarray | None,
    unit: str,
    unit_price_usd: float | np.ndarray | None,
    cost_usd: np.ndarray,
    **constant: str,
) -> pd.DataFrame:
    """FOCUS rows for a series of charge periods: costs in billing currency, prices in USD."""
    rate = account.usd_to_billing
    cost_billing = np.round(np.asarray(cost_usd, dtype="float64") * rate, 10)
    columns: dict[str, object] = {
        "ChargePeriodStart": iso_z(period_starts),
        "ChargePeriodEnd": iso_z(period_starts + pd.Timedelta(hours=period_hours)),
        "ProviderName": account.provider,
        "PublisherName": account.provider,
        "InvoiceIssuerName": account.provider,
        "BillingAccountId": account.billing_account_id,
        "BillingAccountName": account.billing_account_name,
        "BillingAccountType": account.billing_account_type,
        "BillingCurrency": account.currency,
        "SubAccountType": account.sub_account_type,
        "ChargeCategory": category,
        "ChargeFrequency": "Usage-Based",
        "BilledCost": decimal_strings(cost_billing),
        "EffectiveCost": decimal_strings(cost_billing),
        "ListCost": decimal_strings(cost_billing),
        "ContractedCost": decimal_strings(cost_billing),
        "PricingCurrency": "USD",
        "PricingCurrencyEffectiveCost": decimal_strings(cost_usd),
        **constant,
    }
    if quantity is not None:
        prices = np.broadcast_to(np.asarray(unit_price_usd, dtype="float64"), quantity.shape)
        columns.update({
            "ConsumedQuantity": decimal_strings(quantity),
            "ConsumedUnit": unit,
            "PricingQuantity": decimal_strings(quantity),
            "PricingUnit": unit,
            "PricingCategory": "Standard",
            "ListUnitPrice": decimal_strings(prices * rate),
            "ContractedUnitPrice": decimal_strings(prices * rate),
            "PricingCurrencyListUnitPrice": decimal_strings(prices),
            "PricingCurrencyContractedUnitPrice": decimal_strings(prices),
        })
    return pd.DataFrame(columns)


def gcp_billing_period(charge_starts: pd.DatetimeIndex) -> tuple[pd.Series, pd.Series]:
    """GCP invoice months run on US Pacific time: BillingPeriodStart/End as UTC instants."""
    local_month = charge_starts.tz_convert("America/Los_Angeles").tz_localize(None).to_period("M")
    start = local_month.to_timestamp().tz_localize("America/Los_Angeles").tz_convert("UTC")
    end = (local_month + 1).to_timestamp().tz_localize("America/Los_Angeles").tz_convert("UTC")
    return iso_z(start), iso_z(end)


def sku_details(instance_type: str) -> str:
    spec = SPECS[instance_type]
    details = {"CoreCount": spec.vcpu, "GpuCount": spec.gpu_count, "InstanceSeries": spec.family,
               "InstanceType": instance_type, "MemorySize": spec.memory_gib, "OperatingSystem": "Linux"}
    return json.dumps(details, sort_keys=True, separators=(",", ":"))


def gcp_sku_id(*parts: str) -> str:
    digest = stable_hash("gcp", *parts).upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def gcp_vm_rows(
    name: str, project: str, instance_type: str, region: str, zone: str, usage_h: np.ndarray, tags: dict[str, str]
) -> pd.DataFrame:
    """Hourly VM lines of one Compute Engine instance (one line per instance-hour)."""
    mask = usage_h > 0
    usage = usage_h[mask]
    price = on_demand_rate(instance_type, region)
    spec = SPECS[instance_type]
    sku = gcp_sku_id(instance_type, region)
    description = f"{spec.family} instance {instance_type} running in {GCP_REGION_GEO[region]}"
    if spec.gpu_count:
        description += f" ({spec.gpu_count} GPU)" if spec.gpu_count == 1 else f" ({spec.gpu_count} GPUs)"
    return focus_lines(
        GCP_ACCOUNT, HOUR_STARTS[mask], 1, category="Usage", quantity=usage, unit="Hours",
        unit_price_usd=price, cost_usd=usage * price,
        ChargeDescription=description, ServiceName="Compute Engine", ServiceCategory="Compute",
        ServiceSubcategory="Virtual Machines", RegionId=region, RegionName=GCP_REGION_NAMES[region],
        AvailabilityZone=zone, ResourceId=f"//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{name}",
        ResourceName=name, ResourceType="Compute Engine instance", SkuId=sku, SkuPriceId=f"{sku}-OD",
        SkuMeter=f"{spec.family} Instance", SkuPriceDetails=sku_details(instance_type), SubAccountId=project,
        SubAccountName=project, Tags=tags_json(tags),
    )


def gcp_frame(rng: np.random.Generator) -> pd.DataFrame:
    pretrain = {"project": "llm-pretrain", "team": "foundation-models", "workload": "training"}
    search = {"project": "search-inference", "team": "search", "workload": "inference"}
    finetune_eu = [(30.0 + rng.uniform(0, 2), 92.0 + rng.uniform(0, 3))]  # a ~2.5-day fine-tuning run
    frames = [
        gcp_vm_rows("ft-a3-usc1-0", "lw-llm-pretrain", "a3-highgpu-8g", "us-central1", "us-central1-a",
                    usage_per_hour(with_gaps(rng, 2, 3.0, 10.0)), pretrain),
        gcp_vm_rows("ft-a3-euw4-0", "lw-llm-pretrain", "a3-highgpu-8g", "europe-west4", "europe-west4-b",
                    usage_per_hour(finetune_eu), pretrain),
        *(
            gcp_vm_rows(f"search-g2-euw1-{i}", "lw-search-inference", "g2-standard-8", "europe-west1",
                        f"europe-west1-{'bc'[i]}", always_on(), search)
            for i in range(2)
        ),
    ]
    stored_gib = 25_600.0 + 12.0 * np.arange(N_HOURS)
    storage_sku = gcp_sku_id("gcs-standard", "us-central1")
    frames.append(focus_lines(
        GCP_ACCOUNT, HOUR_STARTS, 1, category="Usage", quantity=stored_gib / HOURS_IN_MONTH, unit="GiB-Months",
        unit_price_usd=GCS_STANDARD_USD_PER_GIB_MONTH,
        cost_usd=stored_gib / HOURS_IN_MONTH * GCS_STANDARD_USD_PER_GIB_MONTH,
        ChargeDescription="Standard Storage US Regional", ServiceName="Cloud Storage", ServiceCategory="Storage",
        ServiceSubcategory="Object Storage", RegionId="us-central1", RegionName=GCP_REGION_NAMES["us-central1"],
        ResourceId="//storage.googleapis.com/projects/_/buckets/lw-finetune-datasets",
        ResourceName="lw-finetune-datasets",
        ResourceType="Storage bucket", SkuId=storage_sku, SkuPriceId=f"{storage_sku}-OD", SkuMeter="Storage",
        SkuPriceDetails=json.dumps({"StorageClass": "Standard"}, separators=(",", ":")),
        SubAccountId="lw-llm-pretrain", SubAccountName="lw-llm-pretrain", Tags=tags_json(pretrain),
    ))
    # Analysts query BigQuery (US multi-region) in working hours; the project carries no labels.
    query_hours = np.flatnonzero((rng.random(N_HOURS) < 0.35) & np.isin(np.arange(N_HOURS) % 24, np.arange(13, 23)))
    tib = np.round(rng.lognormal(-1.2, 0.9, query_hours.size), 6)
    bq_sku = gcp_sku_id("bigquery-analysis", "us")
    frames.append(focus_lines(
        GCP_ACCOUNT, HOUR_STARTS[query_hours], 1, category="Usage", quantity=tib, unit="Tebibytes",
        unit_price_usd=BIGQUERY_USD_PER_TIB, cost_usd=tib * BIGQUERY_USD_PER_TIB,
        ChargeDescription="Analysis (US multi-region)", ServiceName="BigQuery", ServiceCategory="Analytics",
        ServiceSubcategory="Data Processing", RegionId="us", RegionName=GCP_REGION_NAMES["us"],
        SkuId=bq_sku, SkuPriceId=f"{bq_sku}-OD", SkuMeter="Analysis", SubAccountId="lw-analytics",
        SubAccountName="lw-analytics", Tags="",
    ))
    day_starts = pd.date_range(WINDOW_START, periods=N_HOURS // 24, freq="D")
    frames.append(focus_lines(
        GCP_ACCOUNT, day_starts, 24, category="Credit", quantity=None, unit="", unit_price_usd=None,
        cost_usd=np.full(day_starts.size, -1500.0),
        ChargeDescription="Google for Startups Cloud Program credit", ChargeFrequency="Usage-Based",
        ServiceName="Compute Engine", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
        RegionId="us-central1", RegionName=GCP_REGION_NAMES["us-central1"], SubAccountId="lw-llm-pretrain",
        SubAccountName="lw-llm-pretrain", Tags=tags_json(pretrain),
    ))
    frame = pd.concat(frames, ignore_index=True)
    starts = pd.DatetimeIndex(pd.to_datetime(frame["ChargePeriodStart"], utc=True))
    frame["BillingPeriodStart"], frame["BillingPeriodEnd"] = gcp_billing_period(starts)
    return finish_focus(frame, FOCUS_12_COLUMNS)


def azure_vm_daily_rows(
    account: FocusAccount, subscription: str, subscription_name: str, resource_group: str,
    name: str, vm_size: str, region: str, usage_h: np.ndarray, tags: dict[str, str],
) -> pd.DataFrame:
    """Daily VM lines (Azure cost exports are daily): ConsumedQuantity = hours run that day."""
    daily_hours = usage_h.reshape(-1, 24).sum(axis=1).round(6)
    mask = daily_hours > 0
    hours = daily_hours[mask]
    price = on_demand_rate(vm_size, region)
    spec = SPECS[vm_size]
    meter = vm_size.removeprefix("Standard_").replace("_", " ")
    meter_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"azure-meter/{vm_size}/{region}"))
    x_sku = {"ImageType": "Canonical", "ServiceType": vm_size, "UsageType": "ComputeHR", "VCPUs": spec.vcpu}
    day_starts = pd.date_range(WINDOW_START, periods=N_HOURS // 24, freq="D")[mask]
    frame = focus_lines(
        account, day_starts, 24, category="Usage", quantity=hours, unit="Hours", unit_price_usd=price,
        cost_usd=hours * price,
        ChargeDescription=f"{spec.family} - {meter} - {AZURE_REGION_NAMES[region]}",
        ServiceName="Virtual Machines", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
        RegionId=region, RegionName=AZURE_REGION_NAMES[region],
        ResourceId=(
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Compute/virtualMachines/{name}"
        ),
        ResourceName=name, ResourceType="Virtual machine", SkuId=meter_id, SkuPriceId=meter_id, SkuMeter=meter,
        SkuPriceDetails=sku_details(vm_size), SubAccountId=f"/subscriptions/{subscription}",
        SubAccountName=subscription_name, Tags=tags_json(tags), x_ResourceGroupName=resource_group,
        x_SkuDetails=json.dumps(x_sku, sort_keys=True, separators=(",", ":")), x_SkuMeterCategory="Virtual Machines",
        x_SkuMeterSubcategory=spec.family, x_PricingBlockSize="1", x_PricingUnitDescription="1 Hour",
    )
    frame["x_BilledCostInUsd"] = decimal_strings(hours * price)
    return frame


def azure_tax_row(
    account: FocusAccount, subscription: str, subscription_name: str, usage: pd.DataFrame
) -> pd.DataFrame:
    """One month-to-date tax line on the subscription's usage."""
    tax_usd = round(float(pd.to_numeric(usage["x_BilledCostInUsd"]).sum()) * US_SALES_TAX_RATE, 2)
    frame = focus_lines(
        account, pd.DatetimeIndex([MONTH_START]), HOURS_IN_MONTH, category="Tax", quantity=None, unit="",
        unit_price_usd=None, cost_usd=np.array([tax_usd]), ChargeDescription="Sales tax",
        ChargeFrequency="Recurring", ServiceName="Azure", ServiceCategory="Other",
        ServiceSubcategory="Other (Other)", SubAccountId=f"/subscriptions/{subscription}",
        SubAccountName=subscription_name,
    )
    frame["x_BilledCostInUsd"] = decimal_strings([tax_usd])
    return frame


def azure_frames(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """FOCUS exports of the two Microsoft billing accounts (USD enrolment, EUR billing profile)."""
    platform_sub = "6f1d2c3b-4a59-4e8d-9c7b-1a2b3c4d5e6f"
    research_sub = "b7e8f9a0-1c2d-4e3f-8a5b-6c7d8e9f0a12"
    search = {"project": "search-inference", "team": "search", "workload": "inference"}
    vision = {"project": "vision-research", "team": "vision", "workload": "interactive"}
    usd_usage = pd.concat([
        *(
            azure_vm_daily_rows(AZURE_USD_ACCOUNT, platform_sub, "lw-platform-prod", "rg-search-features",
                                f"search-features-{i}", "Standard_D8s_v5", "eastus", always_on(), search)
            for i in range(2)
        ),
        azure_vm_daily_rows(AZURE_USD_ACCOUNT, platform_sub, "lw-platform-prod", "rg-ops", "ops-jumpbox",
                            "Standard_D8s_v5", "eastus", always_on(), {}),
    ], ignore_index=True)
    usd = pd.concat([usd_usage, azure_tax_row(AZURE_USD_ACCOUNT, platform_sub, "lw-platform-prod", usd_usage)],
                    ignore_index=True)
    eur = pd.concat([
        azure_vm_daily_rows(AZURE_EUR_ACCOUNT, research_sub, "lw-research-eu", "rg-vision", "vision-nd-01",
                            "Standard_ND96asr_v4", "westeurope", usage_per_hour(office_hours(rng, 7.0, 19.0, 1.0)),
                            vision),
        azure_vm_daily_rows(AZURE_EUR_ACCOUNT, research_sub, "lw-research-eu", "rg-vision", "vision-notebooks",
                            "Standard_D8s_v5", "westeurope", usage_per_hour(office_hours(rng, 7.0, 17.0, 0.5)), vision),
    ], ignore_index=True)
    columns = FOCUS_12_COLUMNS + AZURE_EXTRA_COLUMNS
    for frame in (usd, eur):
        frame["BillingPeriodStart"] = MONTH_START.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame["BillingPeriodEnd"] = MONTH_END.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"usd": finish_focus(usd, columns), "eur": finish_focus(eur, columns)}


def finish_focus(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = frame.reindex(columns=list(columns)).fillna("").astype(str)
    keys = ["ChargePeriodStart", "SubAccountId", "ChargeCategory", "ServiceName", "ResourceId", "ChargeDescription"]
    return out.sort_values(keys, kind="mergesort").reset_index(drop=True)


# ================================================================================================
# Writing
# ================================================================================================


def gzip_bytes(payload: bytes) -> bytes:
    """Gzip with no file name and mtime 0, so the bytes depend only on the payload."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as handle:
        handle.write(payload)
    return buffer.getvalue()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_bytes(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def write_cur(cur: pd.DataFrame, out_dir: Path, n_parts: int = 2) -> list[Path]:
    """CUR parts and the month's latest manifest in the S3 layout, under ``out_dir/aws-cur``."""
    root = out_dir / "aws-cur"
    period = f"{MONTH_START:%Y%m%d}-{MONTH_END:%Y%m%d}"
    assembly_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lumenwave/{CUR_REPORT}/{period}/{SEED}"))
    period_key = f"{CUR_PREFIX}/{CUR_REPORT}/{period}"
    bounds = np.linspace(0, len(cur), n_parts + 1).astype(int)
    keys, written = [], []
    for part, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        key = f"{period_key}/{assembly_id}/{CUR_REPORT}-{part}.csv.gz"
        written.append(write_bytes(root / key, gzip_bytes(csv_bytes(cur.iloc[lo:hi]))))
        keys.append(key)
    manifest = {
        "assemblyId": assembly_id,
        "account": AWS_PAYER,
        "columns": [{"category": c.split("/", 1)[0], "name": c.split("/", 1)[1]} for c in CUR_COLUMNS],
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": stable_hash("report", AWS_PAYER, CUR_REPORT),
        "reportName": CUR_REPORT,
        "billingPeriod": {"start": f"{MONTH_START:%Y%m%d}T000000.000Z", "end": f"{MONTH_END:%Y%m%d}T000000.000Z"},
        "bucket": CUR_BUCKET,
        "reportKeys": keys,
    }
    manifest_path = root / period_key / f"{CUR_REPORT}-Manifest.json"
    written.append(write_bytes(manifest_path, (json.dumps(manifest, indent=4) + "\n").encode("utf-8")))
    return written


def generate(out_dir: Path) -> list[Path]:
    """Write every demo export under ``out_dir``; returns the written paths (sorted)."""
    rng = np.random.default_rng(SEED)
    out_dir = Path(out_dir)
    written = write_cur(aws_cur_frame(rng), out_dir)
    period = f"{MONTH_START:%Y%m%d}-{MONTH_END:%Y%m%d}"
    focus_dir = out_dir / "focus"
    gcp_name = f"gcp_{GCP_ACCOUNT.billing_account_id}_focus-1.2_{period}.csv.gz"
    written.append(write_bytes(focus_dir / gcp_name, gzip_bytes(csv_bytes(gcp_frame(rng)))))
    azure = azure_frames(rng)
    for label, frame in (("74120395", azure["usd"]), ("lumenwave-europe", azure["eur"])):
        path = focus_dir / f"azure_{label}_focus-1.2_{period}.csv.gz"
        written.append(write_bytes(path, gzip_bytes(csv_bytes(frame))))
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    for path in generate(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
