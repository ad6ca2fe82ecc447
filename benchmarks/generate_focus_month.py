"""Generate a synthetic month of FOCUS 1.2 billing data for a large multi-cloud organisation.

The scaled FOCUS variant of ``generate_cur_month.py`` (same options, same month, same spirit): the
57 FOCUS 1.2 columns plus provider ``x_`` columns (AWS ``x_ServiceCode`` / ``x_UsageType`` /
``x_Operation``; Azure ``x_SkuDetails`` with the VM size as ``ServiceType``, ``x_ResourceGroupName``,
``x_SkuMeterCategory``, ``x_BilledCostInUsd``), one resource per ~100 rows spread over AWS (50 %),
Azure (30 %) and Google Cloud (20 %). Instance types come from each provider's rows of
``footprint/data/instances.csv`` (15 % of resources GPU machines with a GPU power profile), regions
from ``intensity/data/regions.csv`` (those with an hourly grid zone); ``SkuPriceDetails`` carries
``InstanceType``, ``CoreCount``, ``MemorySize`` and ``GpuCount``; ``Tags`` is a JSON object of
project/team/workload (5 % of resources untagged). The lines a real bill carries: on-demand usage,
commitment-covered usage (BilledCost 0, EffectiveCost amortised) and unused commitment, storage,
commitment purchases, tax, credits and corrections (``ChargeClass = Correction``); ListCost,
ContractedCost and the 1.2 pricing-currency columns are filled. The Azure billing account bills in
EUR, the others in USD.

Formats: ``parquet`` (timestamps typed, UTC) and ``csv.gz`` (ISO 8601 ``...Z`` text).

Run::

    .venv/bin/python benchmarks/generate_focus_month.py --rows 1000000 --out /tmp/focus --format parquet

and read it with ``carbonledger estimate /tmp/focus/focus-1000000.parquet --format focus --out OUT``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synthetic import (  # noqa: E402  (run as a script from any directory)
    HOURS_IN_MONTH, PROJECTS, TEAMS, WORKLOADS, catalogue, dictionary, flattened, grid_regions, hour_timestamps,
    known_gpus, main, write_parquet, write_text_csv_gz,
)

#: Provider → (share of resources, ProviderName, billing account id, name, currency, rate to USD).
PROVIDERS = {
    "aws": (0.5, "AWS", "999999999999", "Example Org AWS", "USD", 1.0),
    "azure": (0.3, "Microsoft", "8611537", "Example Org EA", "EUR", 1.087),
    "gcp": (0.2, "Google Cloud", "01A2B3-C4D5E6-F7A8B9", "Example Org GCP", "USD", 1.0),
}
#: Row kinds and their share of all rows.
KIND_MIX: dict[str, float] = {
    "ondemand": 0.70, "committed": 0.14, "storage": 0.06, "unused": 0.02, "purchase": 0.03,
    "tax": 0.02, "credit": 0.02, "correction": 0.01,
}
GPU_SHARE = 0.15
SERVICE = {"aws": ("Amazon Elastic Compute Cloud", "AmazonEC2"), "azure": ("Virtual Machines", "Microsoft.Compute"),
           "gcp": ("Compute Engine", "6F81-5844-456A")}
STORAGE = {"aws": "Amazon Simple Storage Service", "azure": "Storage", "gcp": "Cloud Storage"}


def instance_types(provider: str) -> pd.DataFrame:
    """A provider's GPU and CPU instance types with a power profile, GPU ones first, with an hourly list price."""
    types = catalogue(provider)
    gpus = known_gpus()
    name = types["instance_type"]
    if provider == "aws":
        nvidia = name.str.match(r"^(p|g)\d")
    elif provider == "azure":
        nvidia = types["gpu_model"].fillna("").str.startswith("NVIDIA")
    else:
        nvidia = name.str.match(r"^(a2|a3|a4|g2)-")
    gpu = types[(types["gpu_count"] > 0) & types["gpu_model"].isin(gpus) & nvidia]
    cpu = types[(types["gpu_count"] == 0) & (types["vcpus"] >= 1)]
    chosen = pd.concat([gpu, cpu], ignore_index=True)
    chosen["is_gpu"] = np.arange(len(chosen)) < len(gpu)
    chosen["price"] = chosen["gpu_count"] * 3.0 + chosen["vcpus"] * 0.045 + chosen["memory_gib"] * 0.004
    return chosen


def _price_details(types: pd.DataFrame, provider: str) -> list[str]:
    """SkuPriceDetails JSON per instance type (FOCUS-defined keys)."""
    out = []
    for t in types.itertuples():
        name = t.instance_type.removeprefix("Standard_") if provider == "azure" else t.instance_type
        details = {"InstanceType": name, "CoreCount": int(t.vcpus), "MemorySize": float(t.memory_gib)}
        if t.gpu_count:
            details["GpuCount"] = int(t.gpu_count)
        out.append(json.dumps(details))
    return out


def generate(rows: int, seed: int = 42) -> pa.Table:
    """The synthetic month as an Arrow table of FOCUS 1.2 columns plus provider x_ columns."""
    rng = np.random.default_rng(seed)
    providers = list(PROVIDERS)
    catalogues = {p: instance_types(p) for p in providers}
    regions = {p: grid_regions(p) for p in providers}

    # One global list of instance types and of regions, with per-provider offsets.
    types = pd.concat([catalogues[p].assign(provider=p) for p in providers], ignore_index=True)
    type_base = np.cumsum([0] + [len(catalogues[p]) for p in providers])
    n_gpu = np.array([int(catalogues[p]["is_gpu"].sum()) for p in providers])
    region_table = pd.concat([regions[p].assign(provider=p) for p in providers], ignore_index=True)
    region_base = np.cumsum([0] + [len(regions[p]) for p in providers])

    # Resources: provider, instance type, region, account, tags.
    n_res = max(60, rows // 100)
    res_provider = rng.choice(len(providers), n_res, p=[PROVIDERS[p][0] for p in providers])
    n_types = np.array([len(catalogues[p]) for p in providers])[res_provider]
    gpu_count_of = n_gpu[res_provider]
    is_gpu = rng.random(n_res) < GPU_SHARE
    local_type = np.where(is_gpu, (rng.random(n_res) * gpu_count_of).astype(int),
                          gpu_count_of + (rng.random(n_res) * (n_types - gpu_count_of)).astype(int))
    res_type = type_base[res_provider] + local_type
    n_regions = np.array([len(regions[p]) for p in providers])[res_provider]
    res_region = region_base[res_provider] + (rng.beta(0.7, 1.4, n_res) * n_regions).astype(int)
    n_sub = max(5, n_res // 200)
    res_sub = rng.integers(0, n_sub, n_res)
    res_project = rng.integers(0, len(PROJECTS), n_res)
    res_workload = rng.integers(0, len(WORKLOADS), n_res)
    untagged = rng.random(n_res) < 0.05
    res_numbers = rng.integers(0, 2**62, n_res)

    # Row kind, resource and hour per row.
    kinds = list(KIND_MIX)
    shares = np.array(list(KIND_MIX.values()))
    kind = rng.choice(len(kinds), rows, p=shares / shares.sum())
    name = np.array(kinds)[kind]
    res = rng.integers(0, n_res, rows)
    compute = np.isin(name, ["ondemand", "committed"])
    usage = compute | (name == "storage") | (name == "unused")
    resourced = compute | (name == "storage")
    provider = res_provider[res]
    rtype = res_type[res]
    hour = rng.integers(0, HOURS_IN_MONTH, rows)
    hour[~compute] = 0
    end_hour = np.where(compute, hour + 1, HOURS_IN_MONTH)
    quantity = np.where(rng.random(rows) < 0.9, 1.0, rng.choice([0.25, 0.5, 0.75], rows))
    storage_gib = np.round(rng.lognormal(5.0, 1.2, rows), 3)

    # Money: list → contracted (5 % negotiated) → billed / effective by kind, in the account's currency.
    rate_to_usd = np.array([PROVIDERS[p][5] for p in providers])[provider]
    hourly = types["price"].to_numpy()[rtype] / rate_to_usd
    list_cost = np.select([compute, name == "storage"], [hourly * quantity, storage_gib * 0.023 / HOURS_IN_MONTH], 0.0)
    list_cost = np.round(list_cost, 8)
    contracted = np.round(list_cost * 0.95, 8)
    fee = np.round(rng.uniform(5, 5000, rows), 2)
    billed = np.select(
        [name == "ondemand", name == "storage", name == "committed", name == "unused", name == "credit",
         name == "correction"],
        [contracted, contracted, 0.0, 0.0, -fee, np.round(rng.uniform(-200, 200, rows), 2)], fee)
    effective = np.select(
        [name == "committed", name == "unused", name == "purchase"],
        [np.round(list_cost * 0.6, 8), np.round(fee * 0.1, 2), 0.0], billed)
    list_cost = np.where(usage & ~(name == "unused"), list_cost, np.where(name == "purchase", fee, billed))
    contracted = np.where(usage & ~(name == "unused"), contracted, list_cost)

    category = np.select([name == "purchase", name == "tax", name == "credit", name == "correction"],
                         [1, 2, 3, 4], 0)
    categories = ["Usage", "Purchase", "Tax", "Credit", "Adjustment"]
    stamps_start = hour_timestamps(hour)
    stamps_end = hour_timestamps(end_hour)
    commitment = np.isin(name, ["committed", "unused", "purchase"])

    # Text per instance type / region / resource (built per catalogue entry or resource, not per row).
    price_details = sum((_price_details(catalogues[p], p) for p in providers), [])
    descriptions = []
    for t in types.itertuples():
        if t.provider == "aws":
            descriptions.append(f"$ per On Demand Linux {t.instance_type} Instance Hour")
        elif t.provider == "azure":
            descriptions.append(f"{t.instance_type.removeprefix('Standard_').replace('_', ' ')} - Linux")
        else:
            descriptions.append(f"{t.instance_type} running in {t.provider}")
    sku_details = [json.dumps({"ServiceType": t.instance_type, "VCPUs": int(t.vcpus)}) if t.provider == "azure"
                   else "" for t in types.itertuples()]
    is_azure = provider == providers.index("azure")
    is_aws = provider == providers.index("aws")
    region_names = region_table["region"].tolist()
    res_ids = [_resource_id(providers[p], n, region_names[r]) for p, n, r in zip(res_provider, res_numbers, res_region)]
    res_names = [f"node-{n:x}"[:18] for n in res_numbers]
    tags = [json.dumps({"project": PROJECTS[p], "team": TEAMS[p % len(TEAMS)], "workload": WORKLOADS[w]})
            for p, w in zip(res_project, res_workload)]
    sub_ids = [f"sub-{i:04d}" for i in range(n_sub)]
    service_idx = np.where(name == "storage", len(providers) + provider, provider)
    service_names = [SERVICE[p][0] for p in providers] + [STORAGE[p] for p in providers]
    no_instance = ~compute
    tax_credit = np.isin(name, ["tax", "credit", "correction"])
    no_region = tax_credit | (name == "purchase")

    def per_provider(values: list[str], null: np.ndarray | None = None) -> pa.Array:
        return dictionary(provider, values, null)

    columns: dict[str, pa.Array] = {
        "BilledCost": pa.array(billed),
        "BillingAccountId": per_provider([PROVIDERS[p][2] for p in providers]),
        "BillingAccountName": per_provider([PROVIDERS[p][3] for p in providers]),
        "BillingAccountType": per_provider(["Billing Account", "Enrollment", "Billing Account"]),
        "BillingCurrency": per_provider([PROVIDERS[p][4] for p in providers]),
        "BillingPeriodEnd": hour_timestamps(np.full(rows, HOURS_IN_MONTH)),
        "BillingPeriodStart": hour_timestamps(np.zeros(rows, dtype=np.int64)),
        "CapacityReservationId": pa.nulls(rows, pa.string()),
        "CapacityReservationStatus": pa.nulls(rows, pa.string()),
        "ChargeCategory": dictionary(category, categories),
        "ChargeClass": dictionary(np.zeros(rows), ["Correction"], name != "correction"),
        "ChargeDescription": dictionary(np.select([compute, name == "storage", name == "purchase", name == "tax",
                                                   name == "credit", name == "unused"],
                                                  [rtype, len(types), len(types) + 1, len(types) + 2,
                                                   len(types) + 3, len(types) + 5], len(types) + 4),
                                        descriptions + ["Storage capacity", "Savings plan monthly fee", "Tax",
                                                        "Promotional credit", "Billing correction",
                                                        "Unused commitment"]),
        "ChargeFrequency": dictionary(np.select([compute | (name == "storage") | (name == "unused"),
                                                 name == "purchase"], [0, 1], 2),
                                      ["Usage-Based", "Recurring", "One-Time"]),
        "ChargePeriodEnd": stamps_end,
        "ChargePeriodStart": stamps_start,
        "CommitmentDiscountCategory": dictionary(np.zeros(rows), ["Spend"], ~commitment),
        "CommitmentDiscountId": dictionary(provider, [f"commitment-{p}-2026" for p in providers], ~commitment),
        "CommitmentDiscountName": dictionary(provider, [f"{p} 3-year savings plan" for p in providers], ~commitment),
        "CommitmentDiscountQuantity": pa.array(np.where(commitment, effective, np.nan), mask=~commitment),
        "CommitmentDiscountStatus": dictionary(np.where(name == "unused", 1, 0), ["Used", "Unused"],
                                               ~np.isin(name, ["committed", "unused"])),
        "CommitmentDiscountType": dictionary(np.zeros(rows), ["Savings Plan"], ~commitment),
        "CommitmentDiscountUnit": dictionary(np.zeros(rows), ["USD"], ~commitment),
        "ConsumedQuantity": pa.array(np.where(name == "storage", storage_gib, quantity),
                                     mask=~(compute | (name == "storage"))),
        "ConsumedUnit": dictionary(np.where(name == "storage", 1, 0), ["Hours", "GB-Month"],
                                   ~(compute | (name == "storage"))),
        "ContractedCost": pa.array(contracted),
        "ContractedUnitPrice": pa.array(np.round(hourly * 0.95, 8), mask=~compute),
        "EffectiveCost": pa.array(effective),
        "InvoiceId": per_provider([f"INV-{p.upper()}-202610" for p in providers]),
        "InvoiceIssuerName": per_provider(["Amazon Web Services, Inc.", "Microsoft", "Google Cloud"]),
        "ListCost": pa.array(list_cost),
        "ListUnitPrice": pa.array(np.round(hourly, 8), mask=~compute),
        "PricingCategory": dictionary(np.where(name == "committed", 1, 0), ["Standard", "Committed"], ~usage),
        "PricingCurrency": per_provider([PROVIDERS[p][4] for p in providers]),
        "PricingCurrencyContractedUnitPrice": pa.array(np.round(hourly * 0.95, 8), mask=~compute),
        "PricingCurrencyEffectiveCost": pa.array(effective),
        "PricingCurrencyListUnitPrice": pa.array(np.round(hourly, 8), mask=~compute),
        "PricingQuantity": pa.array(np.where(name == "storage", storage_gib, quantity), mask=~resourced),
        "PricingUnit": dictionary(np.where(name == "storage", 1, 0), ["Hours", "GB-Month"], ~resourced),
        "ProviderName": per_provider([PROVIDERS[p][1] for p in providers]),
        "PublisherName": per_provider([PROVIDERS[p][1] for p in providers]),
        "RegionId": dictionary(res_region[res], region_names, no_region),
        "RegionName": dictionary(res_region[res], region_table["location"].fillna(region_table["region"]).tolist(),
                                 no_region),
        "AvailabilityZone": dictionary(res_region[res], [f"{r}a" for r in region_names], ~(compute & is_aws)),
        "ResourceId": dictionary(res, res_ids, ~resourced),
        "ResourceName": dictionary(res, res_names, ~resourced),
        "ResourceType": dictionary(np.where(name == "storage", 1, 0), ["Virtual Machine", "Storage Bucket"],
                                   ~resourced),
        "ServiceCategory": dictionary(np.select([compute | (name == "unused"), name == "storage"], [0, 1], 2),
                                      ["Compute", "Storage", "Other"]),
        "ServiceName": dictionary(service_idx, service_names),
        "ServiceSubcategory": dictionary(np.select([compute, name == "storage"], [0, 1], 2),
                                         ["Virtual Machines", "Object Storage", "Other (Other)"]),
        "SkuId": dictionary(rtype, [f"SKU{i:06d}" for i in range(len(types))], no_instance),
        "SkuMeter": dictionary(np.zeros(rows), ["Compute Usage"], no_instance),
        "SkuPriceDetails": dictionary(rtype, price_details, no_instance),
        "SkuPriceId": dictionary(rtype, [f"PRICE{i:06d}" for i in range(len(types))], no_instance),
        "SubAccountId": dictionary(res_sub[res], sub_ids, tax_credit),
        "SubAccountName": dictionary(res_sub[res], [f"workloads-{i:04d}" for i in range(n_sub)], tax_credit),
        "SubAccountType": per_provider(["Account", "Subscription", "Project"], tax_credit),
        "Tags": dictionary(res, tags, ~resourced | untagged[res]),
        "x_ServiceCode": dictionary(np.where(name == "storage", 1, 0), ["AmazonEC2", "AmazonS3"], ~is_aws),
        "x_UsageType": dictionary(rtype, [f"BoxUsage:{t}" for t in types["instance_type"]], ~(is_aws & compute)),
        "x_Operation": dictionary(np.zeros(rows), ["RunInstances"], ~(is_aws & compute)),
        "x_SkuDetails": dictionary(rtype, sku_details, ~(is_azure & compute)),
        "x_ResourceGroupName": dictionary(res_sub[res], [f"rg-ml-{i:04d}" for i in range(n_sub)],
                                          ~(is_azure & resourced)),
        "x_SkuMeterCategory": dictionary(np.where(name == "storage", 1, 0), ["Virtual Machines", "Storage"],
                                         ~(is_azure & resourced)),
        "x_BilledCostInUsd": pa.array(np.round(billed * rate_to_usd, 8), mask=~is_azure),
    }
    return pa.table(columns)


def _resource_id(provider: str, number: int, region: str) -> str:
    if provider == "aws":
        return f"arn:aws:ec2:{region}:999999999999:instance/i-{number:017x}"[:80]
    if provider == "azure":
        return (f"/subscriptions/3f2c9a10-5b7e-4d21-9c8a-1e0f6a2b7c44/resourceGroups/rg-ml/providers/"
                f"Microsoft.Compute/virtualMachines/vm-{number:x}")
    return f"//compute.googleapis.com/projects/ml-org/zones/{region}-a/instances/{number}"


def write(table: pa.Table, out_dir: Path, fmt: str) -> Path:
    """Write ``focus-<rows>.parquet`` or ``focus-<rows>.csv.gz`` (timestamps as ISO 8601 text)."""
    if fmt == "parquet":
        return write_parquet(table, out_dir / f"focus-{table.num_rows}.parquet")
    return write_text_csv_gz(table, out_dir / f"focus-{table.num_rows}.csv.gz",
                             lambda batch: flattened(batch, "%Y-%m-%dT%H:%M:%SZ"))


if __name__ == "__main__":
    main(__doc__.splitlines()[0], generate, write, ["parquet", "csv.gz"])
