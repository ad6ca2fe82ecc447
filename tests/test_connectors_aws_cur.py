"""AWS legacy CUR connector: koku samples, manifests, crafted rows (regions, line item types, tags), Athena Parquet."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_ties_out, decimal_total, raw_rows

from carbonledger.errors import InputFormatError
from connectors import read_billing
from connectors.aws_common import CHARGE_CATEGORY_BY_LINE_ITEM_TYPE, athena_name

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
KOKU_2000 = FIXTURES / "aws_cur_legacy_koku-local-1_first2000rows.csv"
KOKU_201 = FIXTURES / "aws_cur_legacy_2023-06-01_koku.csv"
MANIFEST = FIXTURES / "aws_cur_legacy_Manifest_koku-local.json"
LOCATIONS = {"US East (N. Virginia)": "us-east-1", "US West (N. California)": "us-west-1",
             "US West (Oregon)": "us-west-2"}


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
              "resourceTags/user:Project", "resourceTags/user:team", "resourceTags/user:workload-class",
              "reservation/ReservationARN", "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
              "reservation/UnusedRecurringFee", "savingsPlan/TotalCommitmentToDate", "savingsPlan/UsedCommitment"]


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


#: Line item type → (ChargeCategory, EffectiveCost) for a line with UnblendedCost 1.5 and the
#: amortisation columns of AMORTISATION (AWS's amortised cost; FORMATS.md §1.2).
LINE_ITEM_TYPES = {
    "Usage": ("Usage", 1.5), "DiscountedUsage": ("Usage", 0.7), "SavingsPlanCoveredUsage": ("Usage", 0.9),
    "Tax": ("Tax", 1.5), "Credit": ("Credit", 1.5), "Refund": ("Credit", 1.5),
    "Fee": ("Purchase", 1.5),                                    # no reservation ARN: e.g. a support fee
    "RIFee": ("Purchase", 0.3),                                  # unused upfront 0.2 + unused recurring 0.1
    "SavingsPlanUpfrontFee": ("Purchase", 0.0),                  # spread over the covered usage
    "SavingsPlanRecurringFee": ("Purchase", 0.75),               # commitment 2 - used 1.25
    "SavingsPlanNegation": ("Adjustment", 0.0),
    "BundledDiscount": ("Adjustment", 1.5), "EdpDiscount": ("Adjustment", 1.5),
    "PrivateRateDiscount": ("Adjustment", 1.5), "SppDiscount": ("Adjustment", 1.5),
    "RiVolumeDiscount": ("Adjustment", 1.5), "Discount": ("Adjustment", 1.5),
}
AMORTISATION = {"reservation__EffectiveCost": "0.7", "reservation__UnusedAmortizedUpfrontFeeForBillingPeriod": "0.2",
                "reservation__UnusedRecurringFee": "0.1", "savingsPlan__SavingsPlanEffectiveCost": "0.9",
                "savingsPlan__TotalCommitmentToDate": "2", "savingsPlan__UsedCommitment": "1.25"}


def test_every_line_item_type_is_mapped():
    assert set(LINE_ITEM_TYPES) == set(CHARGE_CATEGORY_BY_LINE_ITEM_TYPE)


@pytest.mark.parametrize("line_item_type", sorted(LINE_ITEM_TYPES))
def test_line_item_type_category_effective_cost_and_hours(tmp_path, line_item_type):
    row = cur_row(lineItem__LineItemType=line_item_type, lineItem__UsageType="BoxUsage:m5.large", **AMORTISATION)
    result = read_billing([write_cur(tmp_path / "cur.csv", [row])])
    assert result.quarantine.empty
    line = result.billing.iloc[0]
    assert (line["ChargeCategory"], line["EffectiveCost"]) == LINE_ITEM_TYPES[line_item_type]
    assert line["BilledCost"] == 1.5
    # Instance-hours only on usage lines: negations, fees and credits would count the hour twice.
    if line["ChargeCategory"] == "Usage":
        assert line["x_UsageHours"] == 1.0
    else:
        assert pd.isna(line["x_UsageHours"])


def test_reservation_upfront_fee_is_amortised_away(tmp_path):
    rows = [cur_row(lineItem__LineItemType="Fee", lineItem__UnblendedCost="500",
                    reservation__ReservationARN="arn:aws:ec2:us-east-1:111:reserved-instances/abc"),
            cur_row(lineItem__LineItemType="RIFee", lineItem__UnblendedCost="30",
                    reservation__UnusedAmortizedUpfrontFeeForBillingPeriod="0.1",
                    reservation__UnusedRecurringFee="0.2"),                        # 0.1 + 0.2, not 0.30000000000000004
            cur_row(lineItem__LineItemType="DiscountedUsage", lineItem__UnblendedCost="0")]   # no effective cost given
    b = read_billing([write_cur(tmp_path / "cur.csv", rows)]).billing
    assert b["EffectiveCost"].tolist()[:2] == [0.0, 0.3]
    assert pd.isna(b["EffectiveCost"].iloc[2]) and b["BilledCost"].tolist() == [500.0, 30.0, 0.0]


@pytest.mark.parametrize("usage_type, unit, hours", [
    ("BoxUsage:m5.large", "Hrs", 1.0), ("USE2-SpotUsage:g5.xlarge", "Hrs", 1.0),
    ("EUC1-DedicatedUsage:p4d.24xlarge", "Hrs", 1.0), ("HostUsage:mac1.metal", "Hrs", 1.0),
    ("BoxUsage:m5.large", "GB", None), ("EBS:VolumeUsage.gp3", "Hrs", None),
    ("USE1-HeavyUsage:m5.large", "Hrs", None), ("DataTransfer-Out-Bytes", "GB", None),
])
def test_hours_only_for_instance_hour_usage(tmp_path, usage_type, unit, hours):
    row = cur_row(lineItem__UsageType=usage_type, pricing__unit=unit)
    got = read_billing([write_cur(tmp_path / "cur.csv", [row])]).billing["x_UsageHours"].iloc[0]
    assert got == hours if hours is not None else pd.isna(got)


def test_gzip_csv_reads_like_the_csv(tmp_path):
    rows = [cur_row(lineItem__UsageType="USE2-BoxUsage:p4d.24xlarge", **{"resourceTags__user:Project": "llm"}),
            cur_row(lineItem__LineItemType="Tax", lineItem__UnblendedCost="0.12"),
            cur_row(lineItem__LineItemType="Bogus")]
    plain = write_cur(tmp_path / "cur.csv", rows)
    packed = tmp_path / "cur-00001.csv.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    from_csv, from_gz = read_billing([plain]), read_billing([packed])
    assert from_gz.inputs == from_csv.inputs and from_gz.inputs.cost("USD") == Decimal("3.12")
    for name in ("RegionId", "x_InstanceType", "x_UsageHours", "BilledCost", "Tags", "x_Project"):
        pd.testing.assert_series_equal(from_gz.billing[name], from_csv.billing[name])
    assert from_gz.quarantine["x_Reason"].str.startswith("lineItem/LineItemType: 'Bogus'").tolist() == [True]
    assert_ties_out(from_gz)


def test_athena_parquet_line_item_types_and_messages(tmp_path):
    rows = [cur_row(lineItem__LineItemType=t, lineItem__UsageType="BoxUsage:m5.large", **AMORTISATION)
            for t in ("DiscountedUsage", "SavingsPlanRecurringFee", "RIFee", "SavingsPlanNegation", "Bogus")]
    frame = pd.DataFrame(rows, columns=[athena_name(c) for c in CUR_HEADER])
    frame = frame.loc[:, [not c.startswith("resource_tags") for c in frame.columns]]       # tags: another test
    frame["line_item_unblended_cost"] = frame["line_item_unblended_cost"].astype(float)
    frame["line_item_usage_start_date"] = pd.to_datetime(frame["line_item_usage_start_date"])
    path = tmp_path / "athena.snappy.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    result = read_billing([path], "aws-cur")
    assert result.billing["EffectiveCost"].tolist() == [0.7, 0.75, 0.3, 0.0]
    assert result.billing["ChargeCategory"].tolist() == ["Usage", "Purchase", "Purchase", "Adjustment"]
    assert result.billing["x_UsageHours"].fillna(-1).tolist() == [1.0, -1, -1, -1]
    # Messages name the column as the file spells it.
    assert result.quarantine["x_Reason"].iloc[0].startswith("line_item_line_item_type: 'Bogus' is not a known")
    assert_ties_out(result)


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
    assert q[6] == (f"row has {len(CUR_HEADER) + 1} fields but the header has {len(CUR_HEADER)} "
                    "(expected one field per header column)")
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


@pytest.mark.parametrize("prefix, region", [("EUN1", "eu-north-1"), ("EUS2", "eu-south-2"), ("MES1", "me-south-1"),
                                            ("ILC1", "il-central-1"), ("UGE1", "us-gov-east-1")])
def test_newer_region_billing_codes_give_transfer_lines_their_region(tmp_path, prefix, region):
    rows = [cur_row(**{"lineItem__UsageType": f"{prefix}-DataTransfer-Out-Bytes", "pricing__unit": "GB"})]
    result = read_billing([write_cur(tmp_path / "cur.csv", rows)])
    assert result.billing["RegionId"].tolist() == [region]
