"""AWS CUR 2.0 (Data Exports) connector: golden CSV / CSV.gz / Parquet samples, malformed rows, tie-out, CLI."""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_ties_out, decimal_total, raw_rows

from carbonledger.cli import main
from carbonledger.controls import ControlTotals
from carbonledger.errors import InputFormatError
from connectors import FORMATS, detect_format, read_billing

CUR2 = Path(__file__).resolve().parent / "fixtures" / "billing" / "aws_cur2"
HOURLY = CUR2 / "cur2_2024-05_hourly.csv"
DAILY_EUR = CUR2 / "cur2_2024-06_daily_eur.csv.gz"
MALFORMED = CUR2 / "cur2_malformed.csv"
NAN = float("nan")

#: Per data row of HOURLY: line item type, ChargeCategory, BilledCost, EffectiveCost, RegionId,
#: x_InstanceType, x_UsageHours ("" / NAN = null).
HOURLY_GOLDEN = [
    ("Usage", "Usage", 32.7726, 32.7726, "us-east-1", "p4d.24xlarge", 1.0),
    ("Usage", "Usage", 196.64, 196.64, "us-east-2", "p5.48xlarge", 2.0),        # region, type from the map
    ("Usage", "Usage", 0.4123, 0.4123, "eu-west-1", "g5.xlarge", 1.0),          # product_location only
    ("DiscountedUsage", "Usage", 0.0, 0.062, "us-west-2", "m5.large", 1.0),     # reservation effective cost
    ("SavingsPlanCoveredUsage", "Usage", 0.388, 0.2716, "eu-central-1", "c5.2xlarge", 1.0),
    ("SavingsPlanNegation", "Adjustment", -0.388, 0.0, "eu-central-1", "c5.2xlarge", NAN),
    ("SavingsPlanRecurringFee", "Purchase", 10.0, 2.7, "", "", NAN),           # 10 committed - 7.3 used
    ("SavingsPlanUpfrontFee", "Purchase", 8760.0, 0.0, "", "", NAN),
    ("RIFee", "Purchase", 30.504, 1.8, "us-west-2", "m5.large", NAN),           # 1.2 + 0.6 unused
    ("Fee", "Purchase", 500.0, 0.0, "us-west-2", "", NAN),                      # RI upfront fee
    ("Fee", "Purchase", 100.0, 100.0, "", "", NAN),                             # support fee
    ("Credit", "Credit", -25.0, -25.0, "us-east-1", "p4d.24xlarge", NAN),
    ("Refund", "Credit", -3.5, -3.5, "", "", NAN),
    ("Tax", "Tax", 12.34, 12.34, "", "", NAN),
    ("BundledDiscount", "Adjustment", -0.01, -0.01, "", "", NAN),
    ("EdpDiscount", "Adjustment", -1.2, -1.2, "", "", NAN),
    ("Usage", "Usage", 0.0115, 0.0115, "us-west-2", "", NAN),                  # S3: usage-type prefix, no hours
    ("Usage", "Usage", 41.7, 41.7, "ap-northeast-1", "p4de.24xlarge", 0.75),    # availability zone
]


def rows_of(path: Path) -> list[dict[str, str]]:
    """Data rows of a CSV or CSV.gz sample as raw text."""
    if not path.name.endswith(".gz"):
        return raw_rows(path)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def golden_frame(billing: pd.DataFrame) -> list[tuple]:
    rows = billing.sort_values("x_SourceRow")
    return list(zip(rows["ChargeCategory"], rows["BilledCost"], rows["EffectiveCost"], rows["RegionId"].fillna(""),
                    rows["x_InstanceType"].fillna(""), rows["x_UsageHours"]))


def assert_golden(billing: pd.DataFrame) -> None:
    expected = [g[1:] for g in HOURLY_GOLDEN]
    got = golden_frame(billing)
    assert len(got) == len(expected)
    for row, (have, want) in enumerate(zip(got, expected), start=1):
        assert have[:5] == want[:5], f"row {row}"
        assert have[5] == want[5] or (pd.isna(have[5]) and pd.isna(want[5])), f"row {row}"


@pytest.fixture(scope="module")
def hourly():
    return read_billing([HOURLY])


TIMESTAMP_COLUMNS = ("line_item_usage_start_date", "line_item_usage_end_date", "bill_billing_period_start_date",
                     "bill_billing_period_end_date")


def write_parquet(source: Path, path: Path) -> Path:
    """The CSV sample as a Data Exports Parquet part: typed columns, product/resource_tags as maps."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    arrays = {}
    for name in frame.columns:
        values = frame[name]
        if name in ("product", "resource_tags"):
            entries = [list(json.loads(v).items()) for v in values]
            arrays[name] = pa.array(entries, type=pa.map_(pa.string(), pa.string()))
        elif name in TIMESTAMP_COLUMNS:
            arrays[name] = pa.array(pd.to_datetime(values, utc=True), type=pa.timestamp("ms", tz="UTC"))
        elif name.endswith(("_cost", "_amount", "_rate", "_commitment", "_to_date", "_fee")) or "_fee_" in name:
            arrays[name] = pa.array(pd.to_numeric(values.replace("", None)), type=pa.float64())
        else:
            arrays[name] = pa.array(values.replace("", None), type=pa.string())
    pq.write_table(pa.table(arrays), path)
    return path


def test_cur2_is_readable_and_detected(tmp_path):
    assert "aws-cur2" in FORMATS
    parquet = write_parquet(HOURLY, tmp_path / "export-00001.snappy.parquet")
    for path in (HOURLY, DAILY_EUR, MALFORMED, parquet):
        assert detect_format(path) == "aws-cur2"


def test_hourly_golden_values(hourly):
    raw = rows_of(HOURLY)
    assert [r["line_item_line_item_type"] for r in raw] == [g[0] for g in HOURLY_GOLDEN]
    assert hourly.quarantine.empty and hourly.inputs.rows == len(raw) == 18
    assert_golden(hourly.billing)
    assert set(hourly.billing["ProviderName"]) == {"aws"} and set(hourly.billing["x_SourceFormat"]) == {"aws-cur2"}
    assert_ties_out(hourly)


def test_hourly_row_details(hourly):
    b = hourly.billing.set_index("x_SourceRow")
    first = b.loc[1]
    assert first["ChargePeriodStart"] == pd.Timestamp("2024-05-01 00:00", tz="UTC")
    assert first["ChargePeriodEnd"] == pd.Timestamp("2024-05-01 01:00", tz="UTC")
    assert first["BillingPeriodStart"] == pd.Timestamp("2024-05-01", tz="UTC")
    assert (first["BillingAccountId"], first["SubAccountId"]) == ("111122223333", "444455556666")
    assert first["AvailabilityZone"] == "us-east-1a" and first["ResourceId"] == "i-0a1b2c3d4e5f60001"
    assert first["ServiceName"] == "Amazon Elastic Compute Cloud"      # product map product_name
    assert (first["SkuId"], first["ConsumedQuantity"], first["ConsumedUnit"]) == ("BoxUsage:p4d.24xlarge", 1.0, "Hrs")
    assert first["ChargeDescription"] == "$32.7726 per On Demand Linux p4d.24xlarge Instance Hour"
    assert b.loc[2, "ServiceName"] == "Amazon Elastic Compute Cloud"   # productName spelling
    assert b.loc[17, "ServiceName"] == "Amazon Simple Storage Service"
    assert b.loc[11, "ServiceName"] == "AWS Support (Business)"


def test_hourly_tags_and_attribution(hourly):
    b = hourly.billing.set_index("x_SourceRow")
    # user_<key> and user:<key> map keys both become user:<key>; empty values are left out.
    assert json.loads(b.loc[1, "Tags"]) == {"user:project": "llm-train", "user:team": "research",
                                            "user:workload-class": "training"}
    assert json.loads(b.loc[2, "Tags"]) == {"user:project": "llm-serve", "aws:createdBy": "AssumedRole:AROAEXAMPLE:ci"}
    assert json.loads(b.loc[18, "Tags"]) == {"user:project": "llm-train"}
    assert pd.isna(b.loc[3, "Tags"])                                    # {} → no tags
    assert (b.loc[1, "x_Project"], b.loc[1, "x_Team"], b.loc[1, "x_WorkloadClass"]) == (
        "llm-train", "research", "training")
    assert b.loc[2, "x_Project"] == "llm-serve" and b.loc[4, "x_Project"] == "feature-store"
    # Untagged lines fall back to the usage account's name (line_item_usage_account_name).
    assert b.loc[3, "x_Project"] == "account:ml-research"
    assert hourly.billing["x_Project"].value_counts().to_dict() == {
        "account:ml-research": 11, "llm-train": 3, "etl": 2, "llm-serve": 1, "feature-store": 1}


def test_daily_eur_gzip():
    result = read_billing([DAILY_EUR])
    raw = rows_of(DAILY_EUR)
    assert result.quarantine.empty and len(result.billing) == len(raw) == 3
    b = result.billing
    assert list(b["BillingCurrency"]) == ["EUR"] * 3
    assert list(b["RegionId"].fillna("")) == ["eu-west-2", "eu-west-2", ""]   # map region_code
    assert list(b["x_InstanceType"].fillna("")) == ["ml.g5.2xlarge", "g5.12xlarge", ""]
    assert b["x_UsageHours"].tolist()[1] == 24.0 and b["x_UsageHours"].isna().tolist() == [True, False, True]
    assert list(b["x_WorkloadClass"].fillna("")) == ["", "inference", ""]
    assert b.loc[0, "ChargePeriodEnd"] - b.loc[0, "ChargePeriodStart"] == pd.Timedelta(days=1)
    assert result.inputs.cost_by_currency == {"EUR": Decimal("194.479")}
    assert_ties_out(result)


def test_parquet_with_map_columns_matches_csv(tmp_path, hourly):
    path = write_parquet(HOURLY, tmp_path / "cur2-00001.snappy.parquet")
    assert pq.read_schema(path).field("product").type == pa.map_(pa.string(), pa.string())
    result = read_billing([path])
    assert result.quarantine.empty
    assert result.inputs == hourly.inputs
    assert_golden(result.billing)
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "Tags", "x_Project", "x_Team",
                 "ServiceName", "SkuId", "ConsumedQuantity"):
        pd.testing.assert_series_equal(result.billing[name], hourly.billing[name])


def test_end_to_end_ties_out_per_currency():
    result = read_billing([HOURLY, DAILY_EUR, MALFORMED])
    raws = [rows_of(p) for p in (HOURLY, DAILY_EUR, MALFORMED)]
    assert result.inputs.rows == sum(map(len, raws)) == 31
    assert result.inputs.rows == len(result.billing) + len(result.quarantine)
    assert (len(result.billing), len(result.quarantine)) == (22, 9)
    usd = [r["line_item_unblended_cost"] for raw in raws for r in raw if r["line_item_currency_code"] == "USD"]
    readable_usd = [c for c in usd if c != "0,096"]                     # an unreadable cost adds nothing
    assert result.inputs.cost("USD") == decimal_total(readable_usd) == Decimal("9659.4464")
    assert result.inputs.cost("EUR") == Decimal("194.479")
    assert result.inputs.cost("?") == Decimal("0.096")                 # the row with no currency
    assert ControlTotals.of(result.billing).cost("USD") + ControlTotals.of(result.quarantine).cost("USD") \
        == result.inputs.cost("USD")
    assert_ties_out(result)


def test_malformed_rows_are_quarantined_with_reasons():
    result = read_billing([MALFORMED])
    assert result.inputs.rows == 10 and list(result.billing["x_SourceRow"]) == [1]
    assert result.billing.loc[0, "RegionId"] == "us-east-1"
    q = result.quarantine.set_index("x_SourceRow")
    reasons = q["x_Reason"].to_dict()
    assert reasons[2] == "line_item_unblended_cost: '0,096' is not a number"
    assert reasons[3] == ("line_item_usage_start_date: '2024-05-32T00:00:00.000Z' is not a timestamp "
                          "(expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS')")
    assert reasons[4].startswith("line_item_line_item_type: 'MarketplaceMystery' is not a known line item type "
                                 "(expected one of Usage, DiscountedUsage, SavingsPlanCoveredUsage,")
    assert reasons[5] == ("resource_tags: '{\"user_project\": \"llm\"' is not a JSON object "
                          "(expected a map of names to values, e.g. {\"key\": \"value\"})")
    assert reasons[6].startswith("product: 'region=us-east-1' is not a JSON object")
    assert reasons[7] == "line_item_currency_code: empty"
    assert reasons[8] == "reservation_effective_cost: 'n/a' is not a number"
    assert reasons[9] == "ChargePeriodEnd: before ChargePeriodStart"
    assert reasons[10].startswith("resource_tags: '[\"user_project\", \"llm\"]' is not a JSON object")
    assert pd.isna(q.loc[2, "BilledCost"]) and q.loc[4, "BilledCost"] == 4.2
    assert json.loads(q.loc[5, "x_RawRecord"])["resource_tags"] == '{"user_project": "llm"'
    assert_ties_out(result)


def test_missing_cur2_columns(tmp_path):
    path = tmp_path / "cur2.csv"
    path.write_text("line_item_usage_start_date,line_item_unblended_cost,resource_tags\n2024-05-01,1,{}\n")
    with pytest.raises(InputFormatError) as err:
        read_billing([path])
    message = str(err.value)
    assert str(path) in message
    assert ("missing required CUR 2.0 column(s) line_item_usage_end_date, line_item_currency_code, "
            "line_item_line_item_type") in message


def test_map_columns_absent_and_top_level_product_columns(tmp_path):
    # A minimal export with the account-name column (CUR 2.0 only) and no map columns.
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["line_item_usage_start_date", "line_item_usage_end_date", "line_item_unblended_cost",
                     "line_item_currency_code", "line_item_line_item_type", "line_item_usage_type",
                     "line_item_usage_amount", "pricing_unit", "product_region_code", "line_item_usage_account_id",
                     "line_item_usage_account_name"])
    writer.writerow(["2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z", "3.06", "USD", "Usage",
                     "BoxUsage:p3.2xlarge", "1", "Hrs", "US-WEST-2", "123", "Data Science"])
    path = tmp_path / "cur2.csv"
    path.write_text(text.getvalue())
    result = read_billing([path], "aws-cur2")
    row = result.billing.iloc[0]
    assert (row["RegionId"], row["x_InstanceType"], row["x_UsageHours"]) == ("us-west-2", "p3.2xlarge", 1.0)
    assert pd.isna(row["Tags"]) and row["x_Project"] == "account:Data Science"


def test_cli_estimate_on_cur2_ties_out(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["estimate", str(HOURLY), str(DAILY_EUR), str(MALFORMED), "--out", str(out)]) == 0
    assert "ties out" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows_in"], summary["rows_ledger"], summary["rows_quarantined"]) == (31, 22, 9)
    assert summary["tie_out_ok"] is True
    assert Decimal(summary["cost_by_currency"]["USD"]["in"]) == Decimal("9659.4464")
    assert Decimal(summary["cost_by_currency"]["EUR"]["in"]) == Decimal("194.479")
    ledger = pd.read_parquet(out / "ledger.parquet")
    assert set(ledger["x_SourceFormat"]) == {"aws-cur2"}
    assert ledger.loc[ledger["x_InstanceType"] == "p4d.24xlarge", "x_GpuCount"].max() == 8
