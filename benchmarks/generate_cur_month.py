"""Generate a synthetic month of hourly legacy AWS CUR (CUR 1.0) for a large organisation.

The file has the CUR CSV column names (``lineItem/UsageStartDate``, ``lineItem/UnblendedCost``,
``resourceTags/user:project`` ...) and looks like one month (October 2026) of an organisation
running many EC2 instances: about one resource per 100 rows (10,000 at the default 1M rows,
100,000 at 10M), GPU and CPU instance types taken from ``footprint/data/instances.csv``, 24 AWS
regions from ``intensity/data/regions.csv`` (only those with an hourly grid zone, so every
baseline can price every row), project/team tags, and the line item types a real bill carries:
on-demand Usage, DiscountedUsage (reserved), SavingsPlanCoveredUsage with its SavingsPlanNegation,
Fee, RIFee, Tax and Credit lines. Generation is vectorised NumPy/Arrow (seconds per million rows);
the output is deterministic for a given ``--seed``.

Run::

    .venv/bin/python benchmarks/generate_cur_month.py --rows 1000000 --out /tmp/cur --format parquet
    .venv/bin/python benchmarks/generate_cur_month.py --rows 10000000 --out /tmp/cur --format csv.gz

and read it with ``carbonledger estimate /tmp/cur/cur-1000000.parquet --format aws-cur --out OUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _synthetic import (  # noqa: E402  (run as a script from any directory)
    HOURS_IN_MONTH, MONTH_START, PROJECTS, ROOT, TEAMS, dictionary, hourly_grid_zones, line_ids, main, write_csv_gz,
    write_parquet,
)

#: AWS region → the usage type prefix AWS bills it under (``USE1-BoxUsage:...``).
REGION_PREFIX: dict[str, str] = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "ca-central-1": "CAN1", "sa-east-1": "SAE1", "eu-west-1": "EU", "eu-west-2": "EUW2",
    "eu-west-3": "EUW3", "eu-central-1": "EUC1", "eu-central-2": "EUC2", "eu-north-1": "EUN1",
    "eu-south-1": "EUS1", "eu-south-2": "EUS2", "ap-northeast-1": "APN1", "ap-northeast-2": "APN2",
    "ap-northeast-3": "APN3", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-south-1": "APS3",
    "ap-south-2": "APS5", "ap-east-1": "APE1", "me-south-1": "MES1", "me-central-1": "MEC1",
    "af-south-1": "AFS1", "il-central-1": "ILC1", "ca-west-1": "CAW1", "ap-southeast-3": "APS4",
}
#: Usage-line types and their share of all rows; the remainder are fee/tax/credit lines.
USAGE_MIX: dict[str, float] = {"Usage": 0.78, "DiscountedUsage": 0.08, "SavingsPlanCoveredUsage": 0.06}
SP_NEGATION_SHARE = 0.05   # one negation per covered-usage line is typical; keep fewer for size
OTHER_MIX: dict[str, float] = {"Fee": 0.01, "RIFee": 0.005, "Tax": 0.01, "Credit": 0.005}
GPU_SHARE = 0.15


def hardware_choices() -> tuple[pd.DataFrame, pd.DataFrame]:
    """AWS GPU and CPU instance types that the bundled catalogue fully describes."""
    inst = pd.read_csv(ROOT / "footprint/data/instances.csv")
    cpu_power = pd.read_csv(ROOT / "footprint/data/cpu_power.csv")
    gpus = pd.read_csv(ROOT / "footprint/data/gpus.csv")
    aws = inst[(inst["provider"] == "aws") & inst["cpu_microarch"].isin(cpu_power["microarchitecture"])]
    nvidia = aws["instance_type"].str.match(r"^(p|g)\d")   # not Inferentia/Trainium/Gaudi: no GPU power model
    gpu = aws[(aws["gpu_count"] > 0) & aws["gpu_model"].isin(gpus["gpu_model"]) & nvidia]
    cpu = aws[aws["gpu_count"].fillna(0) == 0]
    price_gpu = gpu["gpu_count"] * 3.0 + gpu["vcpus"] * 0.02
    price_cpu = cpu["vcpus"] * 0.048
    return (gpu.assign(price=price_gpu)[["instance_type", "price"]].reset_index(drop=True),
            cpu.assign(price=price_cpu)[["instance_type", "price"]].reset_index(drop=True))


def region_choices() -> list[str]:
    """AWS regions with a usage-type prefix and an hourly grid zone in the bundled data (24+)."""
    regions = pd.read_csv(ROOT / "intensity/data/regions.csv")
    zones = hourly_grid_zones()
    aws = regions[(regions["provider"] == "aws") & regions["region"].isin(REGION_PREFIX)
                  & regions["grid_zone"].isin(zones)]
    return sorted(aws["region"])


def generate(rows: int, seed: int = 42) -> pa.Table:
    """The synthetic month as an Arrow table with dictionary-encoded text columns."""
    rng = np.random.default_rng(seed)
    gpu, cpu = hardware_choices()
    regions = region_choices()

    # Resources: instance type, region, account, project, team per resource.
    n_res = max(50, rows // 100)
    is_gpu = rng.random(n_res) < GPU_SHARE
    types = pd.concat([gpu, cpu], ignore_index=True)
    type_idx = np.where(is_gpu, rng.integers(0, len(gpu), n_res), len(gpu) + rng.integers(0, len(cpu), n_res))
    region_weights = rng.dirichlet(np.full(len(regions), 0.8))
    res_region = rng.choice(len(regions), n_res, p=region_weights)
    n_accounts = max(5, n_res // 200)
    accounts = np.array([f"{100000000000 + 7919 * i:012d}" for i in range(n_accounts)])
    res_account = rng.integers(0, n_accounts, n_res)
    res_project = rng.integers(0, len(PROJECTS), n_res)
    res_team = res_project % len(TEAMS)
    untagged = rng.random(n_res) < 0.05
    res_ids = np.array([f"i-{x:017x}" for x in rng.integers(0, 2**62, n_res)])

    # Line item type per row.
    kinds = list(USAGE_MIX) + ["SavingsPlanNegation"] + list(OTHER_MIX)
    shares = np.array(list(USAGE_MIX.values()) + [SP_NEGATION_SHARE] + list(OTHER_MIX.values()))
    kind = rng.choice(len(kinds), rows, p=shares / shares.sum())
    name = np.array(kinds)[kind]
    usage_like = np.isin(name, ["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation"])
    other = ~usage_like

    res = rng.integers(0, n_res, rows)
    hour = rng.integers(0, HOURS_IN_MONTH, rows)
    hour[other] = 0
    amount = np.where(rng.random(rows) < 0.9, 1.0, rng.choice([0.25, 0.5, 0.75], rows))
    rate = types["price"].to_numpy()[type_idx[res]]
    cost = np.round(rate * amount, 8)
    cost[name == "DiscountedUsage"] = 0.0
    cost[name == "SavingsPlanNegation"] *= -1
    fee_cost = np.round(rng.uniform(5, 5000, rows), 2)
    cost = np.where(name == "Credit", -fee_cost, np.where(other, fee_cost, cost))

    starts = MONTH_START + pd.to_timedelta(np.arange(HOURS_IN_MONTH + 1), unit="h")
    stamps = starts.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    end_hour = np.where(other, HOURS_IN_MONTH, hour + 1)

    # Usage type: region prefix + BoxUsage:type for usage lines; fixed strings for the others.
    n_types = len(types)
    box = [f"{REGION_PREFIX[r]}-BoxUsage:{t}" for r in regions for t in types["instance_type"]]
    other_usage = {"Fee": "Dollar", "RIFee": "HeavyUsage:m5.xlarge", "Tax": "", "Credit": ""}
    usage_values = box + list(other_usage.values())
    usage_idx = res_region[res] * n_types + type_idx[res]
    for i, k in enumerate(other_usage):
        usage_idx[name == k] = len(box) + i
    usage_null = np.isin(name, ["Tax", "Credit"])

    description = {"Usage": "On Demand", "DiscountedUsage": "Reserved instance usage",
                   "SavingsPlanCoveredUsage": "Compute Savings Plan covered usage",
                   "SavingsPlanNegation": "SavingsPlanNegation used by AccountId", "Fee": "AWS Support (Business)",
                   "RIFee": "Reserved instance monthly fee", "Tax": "Tax for product code AmazonEC2",
                   "Credit": "AWS Credits"}
    kind_names = kinds
    desc_values = [description[k] for k in kinds]

    res_row = np.where(other, 0, res)
    no_resource = other
    no_tags = other | untagged[res]
    region_row = res_region[res]
    eff_cost = np.where(np.isin(name, ["DiscountedUsage", "SavingsPlanCoveredUsage"]), np.round(rate * amount * 0.6, 8), 0.0)

    columns: dict[str, pa.Array] = {
        "identity/LineItemId": _line_ids(rows),
        "bill/PayerAccountId": dictionary(np.zeros(rows), ["999999999999"]),
        "bill/BillingPeriodStartDate": dictionary(np.zeros(rows), [stamps[0]]),
        "lineItem/UsageAccountId": dictionary(res_account[res], accounts),
        "lineItem/LineItemType": dictionary(kind, kind_names),
        "lineItem/UsageStartDate": dictionary(hour, stamps),
        "lineItem/UsageEndDate": dictionary(end_hour, stamps),
        "lineItem/ProductCode": dictionary(np.where(name == "Fee", 1, 0), ["AmazonEC2", "AWSSupportBusiness"]),
        "lineItem/UsageType": dictionary(usage_idx, usage_values, usage_null),
        "lineItem/ResourceId": dictionary(res_row, res_ids, no_resource),
        "lineItem/UsageAmount": pa.array(np.where(other, 1.0, amount)),
        "lineItem/CurrencyCode": dictionary(np.zeros(rows), ["USD"]),
        "lineItem/UnblendedCost": pa.array(cost),
        "lineItem/LineItemDescription": dictionary(kind, desc_values),
        "product/ProductName": dictionary(np.where(name == "Fee", 1, 0), ["Amazon Elastic Compute Cloud", "AWS Support (Business)"]),
        "product/instanceType": dictionary(type_idx[res], types["instance_type"].tolist(), other),
        "product/region": dictionary(region_row, regions, np.isin(name, ["Fee", "Tax", "Credit"])),
        "pricing/unit": dictionary(np.zeros(rows), ["Hrs"], other),
        "reservation/EffectiveCost": pa.array(np.where(name == "DiscountedUsage", eff_cost, 0.0)),
        "savingsPlan/SavingsPlanEffectiveCost": pa.array(np.where(name == "SavingsPlanCoveredUsage", eff_cost, 0.0)),
        "resourceTags/user:project": dictionary(res_project[res], PROJECTS, no_tags),
        "resourceTags/user:team": dictionary(res_team[res], TEAMS, no_tags),
    }
    return pa.table(columns)


def _line_ids(rows: int) -> pa.Array:
    """Unique line item ids (``li-<n>``) built in Arrow, not Python."""
    return line_ids(rows, "li-")


def write(table: pa.Table, out_dir: Path, fmt: str) -> Path:
    """Write the table as ``cur-<rows>.parquet`` or ``cur-<rows>.csv.gz`` under ``out_dir``."""
    if fmt == "parquet":
        return write_parquet(table, out_dir / f"cur-{table.num_rows}.parquet")
    return write_csv_gz(table, out_dir / f"cur-{table.num_rows}.csv.gz")


if __name__ == "__main__":
    main(__doc__.splitlines()[0], generate, write, ["parquet", "csv.gz"])
