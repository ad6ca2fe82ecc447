"""AWS legacy CUR connector: koku samples, manifests, crafted rows (regions, line item types, tags), Athena Parquet."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import Counter
from decimal import Decimal, localcontext
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbonledger.controls import EXACT, ControlTotals, TieOut
from carbonledger.errors import InputFormatError
from connectors import read_billing
from connectors.aws_cur import CHARGE_CATEGORY_BY_LINE_ITEM_TYPE, athena_name

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
KOKU_2000 = FIXTURES / "aws_cur_legacy_koku-local-1_first2000rows.csv"
KOKU_201 = FIXTURES / "aws_cur_legacy_2023-06-01_koku.csv"
MANIFEST = FIXTURES / "aws_cur_legacy_Manifest_koku-local.json"
LOCATIONS = {"US East (N. Virginia)": "us-east-1", "US West (N. California)": "us-west-1",
             "US West (Oregon)": "us-west-2"}


def raw_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def decimal_total(values) -> Decimal:
    with localcontext(EXACT):
        return sum((Decimal(v) for v in values), Decimal(0))


def assert_ties_out(result) -> None:
    tie = TieOut.of(result.inputs, ControlTotals.of(result.billing), ControlTotals.of(result.quarantine))
    assert tie.problems() == []


@pytest.fixture(scope="module")
def koku():
    return read_billing([KOKU_2000])


def test_koku_sample_rows_and_exact_total(koku):
    raw = raw_rows(KOKU_2000)
    assert koku.inputs.rows == len(raw) == 2000
    assert len(koku.billing) == 2000 and koku.quarantine.empty
    assert koku.inputs.cost("USD") == decimal_total(r["lineItem/UnblendedCost"] for r in raw)
    assert_ties_out(koku)


def test_koku_regions_from_location_names(koku):
    # The 2018 report has no product/region or regionCode: the location display name decides.
    raw = raw_rows(KOKU_2000)
    expected = Counter(LOCATIONS[r["product/location"]] for r in raw)
    assert koku.billing["RegionId"].value_counts().to_dict() == dict(expected)


def test_koku_instance_row(koku):
    # Data row 1611: BoxUsage:c4.xlarge in us-east-1a, 1 Hrs, 0.199 USD.
    row = koku.billing.set_index("x_SourceRow").loc[1611]
    assert row["x_InstanceType"] == "c4.xlarge"
    assert row["x_UsageHours"] == 1.0
    assert row["RegionId"] == "us-east-1"
    assert row["AvailabilityZone"] == "us-east-1a"
    assert row["BilledCost"] == 0.199 and row["EffectiveCost"] == 0.199
    assert row["SkuId"] == "BoxUsage:c4.xlarge"
    assert row["ResourceId"] == "i-62480413"
    assert row["SubAccountId"] == "6433681849691" and row["x_Project"] == "account:6433681849691"
    assert row["ChargePeriodStart"] == pd.Timestamp("2018-06-20 00:00:00", tz="UTC")
    assert row["ServiceName"] == "Amazon Elastic Compute Cloud"
    assert row["ChargeCategory"] == "Usage" and row["ProviderName"] == "aws"


def test_koku_hours_only_on_box_usage(koku):
    raw = raw_rows(KOKU_2000)
    box = [r for r in raw if r["lineItem/UsageType"].startswith("BoxUsage:")]
    assert koku.billing["x_UsageHours"].notna().sum() == len(box) == 390
    assert koku.billing["x_UsageHours"].sum() == pytest.approx(sum(float(r["lineItem/UsageAmount"]) for r in box))
    storage = koku.billing[koku.billing["SkuId"].str.contains("EBS:VolumeUsage")]
    assert storage["x_UsageHours"].isna().all() and storage["x_InstanceType"].isna().all()


def test_201_column_savings_plan_sample():
    result = read_billing([KOKU_201])
    raw = raw_rows(KOKU_201)
    assert len(raw[0]) == 201
    b = result.billing
    assert len(b) == 3 and result.quarantine.empty
    assert list(b["ChargeCategory"]) == ["Usage"] * 3            # SavingsPlanCoveredUsage
    assert list(b["EffectiveCost"]) == [float(r["savingsPlan/SavingsPlanEffectiveCost"]) for r in raw]
    assert list(b["BilledCost"]) == [float(r["lineItem/UnblendedCost"]) for r in raw]
    assert set(b["RegionId"]) == {"us-west-1"}                   # product/region
    assert set(b["x_InstanceType"]) == {"m5.large"}
    assert result.inputs.cost("NOK") == decimal_total(r["lineItem/UnblendedCost"] for r in raw)
    assert_ties_out(result)


def cur_layout(root: Path, *, bucket: str = "", key_prefix: str = "") -> Path:
    """The S3 layout of the koku manifest, with the 2,000-row sample as its gzip part."""
    manifest = json.loads(MANIFEST.read_text())
    manifest["bucket"] = bucket
    key = manifest["reportKeys"][0]
    if key_prefix:
        manifest["reportKeys"] = [key_prefix + key]
    part = root.joinpath(*key.strip("/").split("/"))
    part.parent.mkdir(parents=True)
    with open(KOKU_2000, "rb") as src, gzip.open(part, "wb") as dst:
        shutil.copyfileobj(src, dst)
    period_dir = part.parent.parent
    manifest_path = period_dir / "koku-local-Manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    return manifest_path


def test_manifest_lists_the_gzip_part(tmp_path, koku):
    manifest = cur_layout(tmp_path)
    part = manifest.parent / "16e57707-f9e3-49be-8be6-b84e684b5194" / "koku-local-1.csv.gz"
    for given in (manifest, tmp_path):
        result = read_billing([given])
        assert result.files == [str(part)]
        assert result.inputs == koku.inputs
        assert len(result.billing) == 2000
    both = read_billing([tmp_path, manifest, part])              # listed files are never read twice
    assert both.files == [str(part)] and both.inputs.rows == 2000


def test_manifest_keys_with_bucket_prefix_and_older_deliveries(tmp_path):
    manifest = cur_layout(tmp_path, bucket="cur-bucket", key_prefix="cur-bucket")
    older = manifest.parent / "0ld-assembly"
    older.mkdir()
    shutil.copy(KOKU_201, older / "koku-local-1.csv")            # an older delivery of the same report
    (older / "koku-local-Manifest.json").write_text(json.dumps({**json.loads(manifest.read_text()),
                                                                "assemblyId": "old", "reportKeys": []}))
    result = read_billing([tmp_path])
    assert len(result.files) == 1 and result.files[0].endswith("koku-local-1.csv.gz")
    assert result.inputs.rows == 2000


def test_manifest_key_not_found(tmp_path):
    manifest = tmp_path / "r-Manifest.json"
    manifest.write_text(json.dumps({"reportName": "r", "reportKeys": ["r/20240101-20240201/x/r-1.csv.gz"]}))
    with pytest.raises(InputFormatError, match="r-1.csv.gz' not found"):
        read_billing([manifest])


CUR_HEADER = ["identity/LineItemId", "bill/PayerAccountId", "bill/BillingPeriodStartDate",
              "lineItem/UsageAccountId", "lineItem/LineItemType", "lineItem/UsageStartDate",
              "lineItem/UsageEndDate", "lineItem/ProductCode", "lineItem/UsageType", "lineItem/AvailabilityZone",
              "lineItem/ResourceId", "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedCost",
              "lineItem/LineItemDescription", "product/ProductName", "product/instanceType", "product/regionCode",
              "product/location", "pricing/unit", "reservation/EffectiveCost", "savingsPlan/SavingsPlanEffectiveCost",
              "resourceTags/user:Project", "resourceTags/user:team", "resourceTags/user:workload-class"]


def cur_row(**values: str) -> list[str]:
    base = {"identity/LineItemId": "x", "bill/PayerAccountId": "111", "bill/BillingPeriodStartDate": "2023-11-01T00:00:00.000Z",
            "lineItem/UsageAccountId": "222", "lineItem/LineItemType": "Usage",
            "lineItem/UsageStartDate": "2023-11-01T00:00:00.000Z", "lineItem/UsageEndDate": "2023-11-01T01:00:00.000Z",
            "lineItem/ProductCode": "AmazonEC2", "lineItem/UsageAmount": "1", "lineItem/CurrencyCode": "USD",
            "lineItem/UnblendedCost": "1.5", "pricing/unit": "Hrs"}
    base.update({k.replace("__", "/"): v for k, v in values.items()})
    return [base.get(name, "") for name in CUR_HEADER]


def write_cur(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CUR_HEADER)
        writer.writerows(rows)
    return path


def test_region_fallbacks_instance_types_and_tags(tmp_path):
    rows = [
        cur_row(**{"lineItem__UsageType": "USE2-BoxUsage:p4d.24xlarge", "product__regionCode": "US-EAST-2",
                   "resourceTags__user:Project": "llm", "resourceTags__user:team": "research",
                   "resourceTags__user:workload-class": "Training"}),
        cur_row(**{"lineItem__UsageType": "SpotUsage:g5.xlarge", "lineItem__AvailabilityZone": "eu-central-1b",
                   "resourceTags__user:team": "vision"}),
        cur_row(**{"lineItem__UsageType": "APN1-BoxUsage:p5.48xlarge", "lineItem__UsageAmount": "2.5"}),
        cur_row(**{"lineItem__UsageType": "EU-DataTransfer-Out-Bytes", "pricing__unit": "GB"}),
        cur_row(**{"lineItem__UsageType": "BoxUsage:m5.large", "product__location": "EU (Ireland)",
                   "lineItem__LineItemType": "SavingsPlanNegation", "lineItem__UnblendedCost": "-1.5"}),
        cur_row(**{"lineItem__UsageType": "BoxUsage:m5.large", "lineItem__LineItemType": "DiscountedUsage",
                   "reservation__EffectiveCost": "0.7", "lineItem__UnblendedCost": "0"}),
    ]
    result = read_billing([write_cur(tmp_path / "cur.csv", rows)])
    assert result.quarantine.empty
    b = result.billing.set_index("x_SourceRow")
    assert list(b["RegionId"].fillna("")) == ["us-east-2", "eu-central-1", "ap-northeast-1", "eu-west-1", "eu-west-1", ""]
    assert list(b["x_InstanceType"].fillna("")) == ["p4d.24xlarge", "g5.xlarge", "p5.48xlarge", "", "m5.large", "m5.large"]
    assert list(b["x_UsageHours"].fillna(-1)) == [1.0, 1.0, 2.5, -1, -1, 1.0]     # negation: no hours
    assert list(b["ChargeCategory"]) == ["Usage", "Usage", "Usage", "Usage", "Adjustment", "Usage"]
    assert b.loc[6, "EffectiveCost"] == 0.7 and b.loc[1, "EffectiveCost"] == 1.5
    assert json.loads(b.loc[1, "Tags"]) == {"user:Project": "llm", "user:team": "research",
                                            "user:workload-class": "Training"}
    assert (b.loc[1, "x_Project"], b.loc[1, "x_Team"], b.loc[1, "x_WorkloadClass"]) == ("llm", "research", "training")
    assert json.loads(b.loc[2, "Tags"]) == {"user:team": "vision"}
    assert b.loc[2, "x_Project"] == "account:222" and pd.isna(b.loc[3, "Tags"])
    assert b.loc[1, "ChargePeriodStart"] == pd.Timestamp("2023-11-01", tz="UTC")
    assert b.loc[1, "BillingAccountId"] == "111" and b.loc[1, "ServiceName"] == "AmazonEC2"


@pytest.mark.parametrize("line_item_type, category", sorted(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE.items()))
def test_line_item_type_mapping(tmp_path, line_item_type, category):
    path = write_cur(tmp_path / "cur.csv", [cur_row(lineItem__LineItemType=line_item_type)])
    assert read_billing([path]).billing["ChargeCategory"].tolist() == [category]


def test_bad_cur_rows_are_quarantined(tmp_path):
    path = write_cur(tmp_path / "cur.csv", [
        cur_row(),
        cur_row(lineItem__LineItemType="Mystery"),
        cur_row(lineItem__UsageStartDate="2023-11-31 00:00:00"),
        cur_row(lineItem__UnblendedCost="1.2.3"),
        cur_row(),
    ])
    with open(path, "a", encoding="utf-8") as handle:          # the koku quirk: one field too many
        handle.write(",".join(cur_row()) + ",extra\n")
    result = read_billing([path])
    assert result.inputs.rows == 6 and len(result.billing) == 2
    q = result.quarantine.set_index("x_SourceRow")["x_Reason"]
    assert q[2].startswith("lineItem/LineItemType: 'Mystery' is not a known line item type (expected one of Usage,")
    assert q[3] == ("lineItem/UsageStartDate: '2023-11-31 00:00:00' is not a timestamp "
                    "(expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS')")
    assert q[4] == "lineItem/UnblendedCost: '1.2.3' is not a number"
    assert q[6] == "row has 26 fields but the header has 25 (expected one field per header column)"
    assert result.inputs.cost("USD") == Decimal("1.5") * 4
    assert_ties_out(result)


def test_missing_cur_columns(tmp_path):
    path = tmp_path / "cur.csv"
    path.write_text("lineItem/UsageStartDate,lineItem/UnblendedCost\n2023-11-01,1\n")
    with pytest.raises(InputFormatError) as err:
        read_billing([path])
    assert str(path) in str(err.value)
    assert "lineItem/UsageEndDate, lineItem/CurrencyCode, lineItem/LineItemType" in str(err.value)


def test_athena_parquet_flavour(tmp_path, koku):
    frame = pd.read_csv(KOKU_2000, dtype=str, keep_default_na=False)
    frame.columns = [athena_name(c) for c in frame.columns]
    frame["line_item_usage_amount"] = frame["line_item_usage_amount"].astype(float)
    frame["line_item_unblended_cost"] = frame["line_item_unblended_cost"].astype(float)
    frame["line_item_usage_start_date"] = pd.to_datetime(frame["line_item_usage_start_date"])
    frame["line_item_usage_end_date"] = pd.to_datetime(frame["line_item_usage_end_date"])
    frame["resource_tags_user_project"] = "p-athena"
    frame = frame.loc[:, ~frame.columns.duplicated()]
    path = tmp_path / "cur.snappy.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    result = read_billing([path])
    assert result.inputs == koku.inputs
    for name in ("RegionId", "x_InstanceType", "x_UsageHours", "BilledCost", "ChargePeriodStart", "SkuId"):
        pd.testing.assert_series_equal(result.billing[name], koku.billing[name])
    assert set(result.billing["x_Project"]) == {"p-athena"}
    assert json.loads(result.billing["Tags"].iloc[0]) == {"user:project": "p-athena"}
