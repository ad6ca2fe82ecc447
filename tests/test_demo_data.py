"""Tests of the bundled demo billing data and of its generator (scripts/generate_demo_data.py).

Checks that the generator is deterministic, that the committed files are exactly its output, and
that the files have the properties the demo README claims. The files are read with pandas/json
only: the connectors are not used here.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "generate_demo_data.py"
DEMO_DIR = REPO / "carbonledger" / "data" / "demo"
SHARED_HARDWARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hardware"

WINDOW_START = pd.Timestamp("2026-11-01T00:00:00Z")
WINDOW_END = pd.Timestamp("2026-11-08T00:00:00Z")

CUR_KEY_COLUMNS = [
    "identity/LineItemId", "identity/TimeInterval",
    "bill/InvoiceId", "bill/BillingEntity", "bill/BillType", "bill/PayerAccountId",
    "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId", "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
    "lineItem/ProductCode", "lineItem/UsageType", "lineItem/Operation", "lineItem/AvailabilityZone",
    "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedRate",
    "lineItem/UnblendedCost", "lineItem/BlendedCost", "lineItem/LineItemDescription",
    "product/ProductName", "product/instanceType", "product/instanceFamily", "product/vcpu", "product/memory",
    "product/gpu", "product/region", "product/regionCode", "product/location", "product/productFamily",
    "product/servicecode", "product/usagetype", "product/operatingSystem", "product/tenancy",
    "pricing/term", "pricing/unit", "pricing/publicOnDemandRate",
    "reservation/EffectiveCost", "savingsPlan/SavingsPlanEffectiveCost",
    "resourceTags/user:project", "resourceTags/user:team", "resourceTags/user:workload",
]
FOCUS_MANDATORY = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
]
FOCUS_12_ADDED = [
    "CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity", "CommitmentDiscountUnit",
    "ServiceSubcategory", "SkuMeter", "SkuPriceDetails", "BillingAccountType", "InvoiceId", "PricingCurrency",
    "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
    "SubAccountType",
]


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_demo_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def _payload(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def generator():
    return _load_generator()


@pytest.fixture(scope="module")
def fresh_runs(generator, tmp_path_factory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("run1"), tmp_path_factory.mktemp("run2")
    generator.generate(first)
    generator.generate(second)
    return first, second


@pytest.fixture(scope="module")
def manifest() -> tuple[Path, dict]:
    paths = sorted((DEMO_DIR / "aws-cur").rglob("*-Manifest.json"))
    assert len(paths) == 1, f"expected exactly one CUR manifest, found {paths}"
    return paths[0], json.loads(paths[0].read_text())


@pytest.fixture(scope="module")
def cur(manifest) -> pd.DataFrame:
    _, content = manifest
    return pd.concat([_read_csv(DEMO_DIR / "aws-cur" / key) for key in content["reportKeys"]], ignore_index=True)


@pytest.fixture(scope="module")
def focus() -> dict[str, pd.DataFrame]:
    paths = sorted((DEMO_DIR / "focus").glob("*.csv.gz"))
    assert paths, "no FOCUS files in the demo"
    return {p.name: _read_csv(p) for p in paths}


# --- determinism ---------------------------------------------------------------------------------


def test_generator_twice_gives_identical_bytes(fresh_runs):
    first, second = fresh_runs
    files_first, files_second = _files(first), _files(second)
    assert files_first.keys() == files_second.keys()
    assert len(files_first) >= 4
    for name, path in files_first.items():
        assert path.read_bytes() == files_second[name].read_bytes(), name


def test_committed_files_are_the_generator_output(fresh_runs):
    """Compared after decompression: gzip bytes could differ only with another zlib build."""
    fresh, committed = _files(fresh_runs[0]), _files(DEMO_DIR)
    assert committed.keys() == fresh.keys(), "demo folder differs from the generator's file set: regenerate"
    for name, path in fresh.items():
        assert _payload(committed[name]) == _payload(path), f"{name} is stale: run scripts/generate_demo_data.py"


def test_gzip_headers_carry_no_timestamp_or_name():
    for path in DEMO_DIR.rglob("*.gz"):
        header = path.read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        assert header[3] & 0x08 == 0, f"{path.name}: gzip header stores a file name"
        assert header[4:8] == b"\x00\x00\x00\x00", f"{path.name}: gzip header stores an mtime"


def test_demo_is_small():
    total_bytes = sum(p.stat().st_size for p in DEMO_DIR.rglob("*") if p.is_file())
    assert total_bytes < 3 * 1024 * 1024


# --- AWS legacy CUR -------------------------------------------------------------------------------


def test_manifest_follows_the_s3_layout(manifest):
    path, content = manifest
    for key in ("assemblyId", "account", "columns", "charset", "compression", "contentType", "reportId",
                "reportName", "billingPeriod", "bucket", "reportKeys"):
        assert key in content, key
    report = content["reportName"]
    assert path.name == f"{report}-Manifest.json"
    assert path.parent.name == "20261101-20261201"
    assert path.parent.parent.name == report
    assert content["billingPeriod"] == {"start": "20261101T000000.000Z", "end": "20261201T000000.000Z"}
    assert content["compression"] == "GZIP" and content["contentType"] == "text/csv"
    assert len(content["reportKeys"]) >= 1
    for key in content["reportKeys"]:
        part = DEMO_DIR / "aws-cur" / key
        assert part.is_file(), f"reportKey {key} does not exist"
        assert part.parent.name == content["assemblyId"]
        assert part.parent.parent == path.parent
        assert part.name.startswith(f"{report}-") and part.name.endswith(".csv.gz")


def test_manifest_columns_match_every_part_header(manifest):
    _, content = manifest
    expected = [f"{c['category']}/{c['name']}" for c in content["columns"]]
    for key in content["reportKeys"]:
        header = _read_csv(DEMO_DIR / "aws-cur" / key).columns.tolist()
        assert header == expected, key


def test_cur_header_has_key_columns(cur):
    missing = [c for c in CUR_KEY_COLUMNS if c not in cur.columns]
    assert not missing
    assert 60 <= len(cur.columns) <= 110
    assert all("/" in c for c in cur.columns)


def test_cur_line_item_ids_are_unique(cur):
    assert cur["identity/LineItemId"].is_unique
    assert (cur["identity/LineItemId"] != "").all()


def test_cur_accounts_payer_and_two_linked(cur, manifest):
    _, content = manifest
    assert set(cur["bill/PayerAccountId"]) == {content["account"]}
    linked = set(cur["lineItem/UsageAccountId"]) - {content["account"]}
    assert len(linked) == 2


def test_cur_usage_is_hourly_over_seven_days(cur):
    usage = cur[cur["lineItem/LineItemType"] == "Usage"]
    start = pd.to_datetime(usage["lineItem/UsageStartDate"], utc=True)
    end = pd.to_datetime(usage["lineItem/UsageEndDate"], utc=True)
    assert ((end - start) == pd.Timedelta(hours=1)).all()
    assert set(start) == set(pd.date_range(WINDOW_START, WINDOW_END, freq="h", inclusive="left"))
    interval = usage["lineItem/UsageStartDate"] + "/" + usage["lineItem/UsageEndDate"]
    assert (interval == usage["identity/TimeInterval"]).all()


def test_cur_has_the_line_item_types_of_a_real_bill(cur):
    types = set(cur["lineItem/LineItemType"])
    assert {"Usage", "SavingsPlanCoveredUsage", "SavingsPlanNegation", "SavingsPlanRecurringFee",
            "Tax", "Credit", "Fee"} <= types
    assert cur["lineItem/UsageType"].str.contains("SpotUsage:g5.2xlarge").any()
    assert cur["lineItem/UsageType"].str.endswith("EBS:VolumeUsage.gp3").any()
    assert (cur["lineItem/UsageType"] == "TimedStorage-ByteHrs").any()
    assert cur["lineItem/UsageType"].str.endswith("DataTransfer-Out-Bytes").any()
    assert (pd.to_numeric(cur.loc[cur["lineItem/LineItemType"] == "Credit", "lineItem/UnblendedCost"]) < 0).all()


def test_savings_plan_negation_cancels_covered_usage(cur):
    covered = cur[cur["lineItem/LineItemType"] == "SavingsPlanCoveredUsage"]
    negation = cur[cur["lineItem/LineItemType"] == "SavingsPlanNegation"]
    assert len(covered) == len(negation) > 0
    covered_cost = pd.to_numeric(covered["lineItem/UnblendedCost"])
    total = covered_cost.sum() + pd.to_numeric(negation["lineItem/UnblendedCost"]).sum()
    assert total == pytest.approx(0.0, abs=1e-6)
    effective = pd.to_numeric(covered["savingsPlan/SavingsPlanEffectiveCost"])
    assert (effective > 0).all() and (effective < covered_cost).all()


def test_cur_costs_equal_amount_times_rate(cur):
    on_demand = cur[(cur["lineItem/LineItemType"] == "Usage") & (cur["lineItem/UnblendedRate"] != "")]
    amount = pd.to_numeric(on_demand["lineItem/UsageAmount"])
    rate = pd.to_numeric(on_demand["lineItem/UnblendedRate"])
    cost = pd.to_numeric(on_demand["lineItem/UnblendedCost"])
    assert (cost - amount * rate).abs().max() < 1e-8
    assert (amount > 0).all() and (amount <= 1.0).where(on_demand["pricing/unit"] == "Hrs", True).all()


def test_cur_region_is_sometimes_missing_but_recoverable(cur):
    no_region = cur[(cur["product/regionCode"] == "") & (cur["product/region"] == "")]
    assert {"Usage", "Tax", "Fee", "Credit"} <= set(no_region["lineItem/LineItemType"])
    is_transfer_usage = (no_region["lineItem/ProductCode"] == "AWSDataTransfer") & (
        no_region["lineItem/LineItemType"] == "Usage"
    )
    transfer = no_region[is_transfer_usage]
    assert len(transfer) > 0 and (transfer["product/fromRegionCode"] != "").all()
    assert transfer["lineItem/UsageType"].str.match(r"^[A-Z0-9]+-DataTransfer").all()
    compute = cur[cur["product/productFamily"] == "Compute Instance"]
    assert (compute["product/regionCode"] != "").all()


def test_cur_has_tagged_and_untagged_usage(cur):
    usage = cur[cur["lineItem/LineItemType"].isin(["Usage", "SavingsPlanCoveredUsage"])]
    projects = set(usage["resourceTags/user:project"])
    assert {"llm-pretrain", "search-inference", "vision-research"} <= projects
    assert "" in projects
    assert set(usage["resourceTags/user:workload"]) >= {"training", "inference", "interactive"}


def test_cur_gpu_instances_with_sizes(cur):
    compute = cur[cur["product/productFamily"] == "Compute Instance"]
    types = set(compute["product/instanceType"])
    assert {"p4d.24xlarge", "p5.48xlarge", "g5.2xlarge", "g6.xlarge", "g4dn.xlarge", "p3.2xlarge",
            "m6i.4xlarge", "c6i.8xlarge"} <= types
    gpu = compute.drop_duplicates("product/instanceType").set_index("product/instanceType")["product/gpu"]
    assert gpu["p4d.24xlarge"] == "8" and gpu["p5.48xlarge"] == "8" and gpu["g5.2xlarge"] == "1"
    assert gpu["m6i.4xlarge"] == ""
    suffix = compute["lineItem/UsageType"].str.split(":").str[-1]
    assert (suffix == compute["product/instanceType"]).all()


# --- FOCUS 1.2 ------------------------------------------------------------------------------------


def test_focus_files_have_all_mandatory_and_12_columns(focus):
    for name, frame in focus.items():
        missing = [c for c in FOCUS_MANDATORY + FOCUS_12_ADDED if c not in frame.columns]
        assert not missing, f"{name}: {missing}"
        extensions = [c for c in frame.columns if c not in FOCUS_MANDATORY + FOCUS_12_ADDED]
        assert all(c.startswith("x_") or c[0].isupper() for c in extensions)
        for column in ("BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ProviderName",
                       "ServiceName", "BillingPeriodStart", "BillingAccountId"):
            assert (frame[column] != "").all(), f"{name}: empty {column}"


def test_focus_providers_and_currencies(focus):
    providers = {p for frame in focus.values() for p in frame["ProviderName"]}
    assert providers == {"Google Cloud", "Microsoft"}
    currencies = {c for frame in focus.values() for c in frame["BillingCurrency"]}
    assert currencies == {"USD", "EUR"}


def test_focus_charge_periods_are_iso_utc_and_cover_the_week(focus):
    covered_days: set[pd.Timestamp] = set()
    for name, frame in focus.items():
        for column in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
            assert frame[column].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all(), f"{name}: {column}"
        start = pd.to_datetime(frame["ChargePeriodStart"], utc=True)
        end = pd.to_datetime(frame["ChargePeriodEnd"], utc=True)
        assert (end > start).all()
        usage = frame["ChargeCategory"] == "Usage"
        assert (start[usage] >= WINDOW_START).all() and (end[usage] <= WINDOW_END).all()
        covered_days |= set(start[usage].dt.floor("D"))
    assert covered_days == set(pd.date_range(WINDOW_START, periods=7, freq="D"))


def test_focus_vm_rows_carry_instance_type_gpu_count_and_hours(focus):
    instance_types: set[str] = set()
    for name, frame in focus.items():
        vms = frame[frame["ServiceSubcategory"] == "Virtual Machines"]
        vms = vms[vms["ChargeCategory"] == "Usage"]
        assert len(vms) > 0, name
        assert (vms["ConsumedUnit"] == "Hours").all() and (vms["PricingUnit"] == "Hours").all()
        details = vms["SkuPriceDetails"].map(json.loads)
        assert details.map(lambda d: "InstanceType" in d and "GpuCount" in d).all(), name
        instance_types |= set(details.map(lambda d: d["InstanceType"]))
        hours = pd.to_numeric(vms["ConsumedQuantity"])
        period = pd.to_datetime(vms["ChargePeriodEnd"]) - pd.to_datetime(vms["ChargePeriodStart"])
        period_h = period.dt.total_seconds() / 3600
        assert ((hours > 0) & (hours <= period_h)).all()
    assert {"a3-highgpu-8g", "g2-standard-8", "Standard_ND96asr_v4", "Standard_D8s_v5"} <= instance_types


def test_focus_tags_are_json_with_project_team_workload(focus):
    projects = set()
    for frame in focus.values():
        tags = frame.loc[frame["Tags"] != "", "Tags"].map(json.loads)
        assert tags.map(lambda t: {"project", "team"} <= t.keys()).all()
        projects |= set(tags.map(lambda t: t["project"]))
    assert {"llm-pretrain", "search-inference", "vision-research"} <= projects


def test_focus_costs_equal_quantity_times_price(focus):
    for name, frame in focus.items():
        priced = frame[frame["PricingQuantity"] != ""]
        quantity = pd.to_numeric(priced["PricingQuantity"])
        cost = pd.to_numeric(priced["ListCost"])
        price = pd.to_numeric(priced["ListUnitPrice"])
        assert ((cost - quantity * price).abs() < 1e-6 * (1 + cost.abs())).all(), name


def test_focus_has_non_usage_charges(focus):
    categories = {c for frame in focus.values() for c in frame["ChargeCategory"]}
    assert {"Usage", "Credit", "Tax"} <= categories


# --- across all files -----------------------------------------------------------------------------


def test_totals_per_currency_are_positive_in_at_least_two_currencies(cur, focus):
    cost = [pd.to_numeric(cur["lineItem/UnblendedCost"]).groupby(cur["lineItem/CurrencyCode"]).sum()]
    cost += [pd.to_numeric(f["BilledCost"]).groupby(f["BillingCurrency"]).sum() for f in focus.values()]
    totals = pd.concat(cost).groupby(level=0).sum()
    assert len(totals) >= 2
    assert (totals > 0).all(), totals.to_dict()


@pytest.mark.skipif(not SHARED_HARDWARE.is_dir(), reason=f"checks demo prices against their source tables in {SHARED_HARDWARE}, absent here")
def test_on_demand_rates_match_the_reference_price_tables(generator, cur):
    us_east = pd.read_csv(SHARED_HARDWARE / "aws_us_east_1_ondemand_2026-07.csv")
    regional = pd.read_csv(SHARED_HARDWARE / "gpu_region_availability.csv")
    for (instance_type, region), (rate, source) in generator.ON_DEMAND_USD_PER_HOUR.items():
        if source == "KARPENTER":
            table = us_east[(us_east.instance_type == instance_type) & (us_east.region == region)]
        elif source in ("EC2INFO", "GCPPRICE", "SKYAZ"):
            table = regional[(regional.instance_type == instance_type) & (regional.region == region)]
        else:
            continue
        assert table.on_demand_usd_per_hour.tolist() == [pytest.approx(rate)], (instance_type, region)
    box = cur[cur["lineItem/UsageType"].str.contains("BoxUsage:p4d")]
    assert set(box["pricing/publicOnDemandRate"]) == {"21.957642"}
