"""FOCUS connector: the FOCUS 1.0 sample, generated FOCUS 1.2 rows, bad rows, file formats, detection."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbonledger import schema
from carbonledger.errors import InputFormatError, UsageError
from conftest import assert_ties_out, decimal_total, raw_rows
from connectors import FORMATS, detect_format, read_billing

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
FOCUS_SAMPLE = FIXTURES / "focus_1.0_sample_1000rows.csv"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def sample():
    return read_billing([FOCUS_SAMPLE])


def test_sample_reads_every_row_with_the_exact_cost_total(sample):
    raw = raw_rows(FOCUS_SAMPLE)
    assert len(raw) == 1000
    assert sample.inputs.rows == 1000
    assert len(sample.billing) == 1000 and len(sample.quarantine) == 0
    assert sample.inputs.cost("USD") == decimal_total(r["BilledCost"] for r in raw)
    assert sample.inputs.cost("USD") == Decimal("20.520226728990")
    assert sample.files == [str(FOCUS_SAMPLE)]
    assert_ties_out(sample)


def test_sample_frame_matches_the_canonical_schema(sample):
    schema.validate(sample.billing, schema.BILLING_COLUMNS, "test")
    schema.validate(sample.quarantine, schema.QUARANTINE_COLUMNS, "test")
    assert list(sample.billing["x_SourceRow"]) == list(range(1, 1001))
    assert set(sample.billing["x_SourceFormat"]) == {"focus"}


def test_sample_gpu_row(sample):
    # Row 418 of the sample: '$1.624 per On Demand Linux g5.4xlarge Instance Hour', 0.296111 Hours.
    row = sample.billing.set_index("x_SourceRow").loc[418]
    assert row["x_InstanceType"] == "g5.4xlarge"
    assert row["x_UsageHours"] == pytest.approx(0.296111)
    assert row["RegionId"] == "us-east-1"
    assert row["BilledCost"] == pytest.approx(0.480884264)
    assert row["ChargePeriodStart"] == pd.Timestamp("2024-09-21 01:00:00", tz="UTC")
    assert row["ChargePeriodEnd"] == pd.Timestamp("2024-09-21 02:00:00", tz="UTC")
    assert row["ProviderName"] == "aws"
    assert row["x_Project"] == "BrightPathMatrix"      # tag 'application'
    assert row["x_Team"] == "PeoriaData"               # tag 'business_unit'
    assert json.loads(row["Tags"])["environment"] == "dev"


def test_sample_instance_hours_only_on_instance_usage(sample):
    raw = raw_rows(FOCUS_SAMPLE)
    expected = {
        i + 1 for i, r in enumerate(raw)
        if r["ChargeDescription"].endswith(" Instance Hour") and r["ConsumedUnit"] == "Hours"
        and r["ChargeCategory"] == "Usage"
    }
    with_hours = set(sample.billing.loc[sample.billing["x_UsageHours"].notna(), "x_SourceRow"])
    # Row 710 is an RDS instance: 'USD 0.023 per db.t3.micro Single-AZ instance hour ...'.
    assert with_hours == expected | {710}
    by_row = sample.billing.set_index("x_SourceRow")["x_InstanceType"]
    assert by_row[710] == "db.t3.micro"
    # EBS-optimised bandwidth and Marketplace software lines name an instance but are not it.
    assert pd.isna(by_row[858]) and pd.isna(by_row[839]) and pd.isna(by_row[444])
    g5 = sample.billing[sample.billing["x_InstanceType"] == "g5.4xlarge"]
    assert len(g5) == 8
    assert g5["x_UsageHours"].sum() == pytest.approx(
        sum(float(r["ConsumedQuantity"]) for r in raw if "g5.4xlarge" in r["ChargeDescription"])
    )


def test_sample_providers_nulls_and_fallback_project(sample):
    assert sample.billing["ProviderName"].value_counts().to_dict() == {"aws": 942, "azure": 51, "oracle": 7}
    first = sample.billing.iloc[0]
    assert pd.isna(first["Tags"]) and pd.isna(first["AvailabilityZone"])      # 'NULL' literals
    assert first["x_Project"] == "account:Atlas Nimbus"                                # SubAccountName
    assert sample.billing["RegionId"].isna().sum() == 7                        # Oracle rows: RegionId NULL


def test_gzip_and_csv_read_the_same(sample, tmp_path):
    gz = tmp_path / "focus.csv.gz"
    with open(FOCUS_SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_format(gz) == "focus"
    result = read_billing([gz])
    assert result.inputs == sample.inputs
    pd.testing.assert_frame_equal(result.billing.drop(columns="x_SourceFile"),
                                  sample.billing.drop(columns="x_SourceFile"))
    assert set(result.billing["x_SourceFile"]) == {str(gz)}


def test_parquet_round_trip_typed_columns_and_map_tags(sample, tmp_path):
    frame = pd.read_csv(FOCUS_SAMPLE, na_values=["NULL"], keep_default_na=False)
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
        frame[name] = pd.to_datetime(frame[name]).dt.tz_localize("UTC")
    tags = [None if pd.isna(t) else list(json.loads(t).items()) for t in frame.pop("Tags")]
    table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
        "Tags", pa.array(tags, type=pa.map_(pa.string(), pa.string()))
    )
    path = tmp_path / "focus.parquet"
    pq.write_table(table, path)
    assert detect_format(path) == "focus"
    result = read_billing([path])
    assert_ties_out(result)
    assert result.inputs.cost("USD") == sample.inputs.cost("USD")
    got, want = result.billing.drop(columns="x_SourceFile"), sample.billing.drop(columns="x_SourceFile")
    for name in ("BilledCost", "x_UsageHours", "ChargePeriodStart", "x_InstanceType", "x_Project", "x_Team", "RegionId"):
        pd.testing.assert_series_equal(got[name], want[name])
    assert [json.loads(t) if isinstance(t, str) else None for t in got["Tags"]] == \
        [json.loads(t) if isinstance(t, str) else None for t in want["Tags"]]


FOCUS12_HEADER = ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart", "ChargeCategory",
                  "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit",
                  "EffectiveCost", "ProviderName", "RegionId", "ServiceCategory", "ServiceName", "SkuPriceDetails",
                  "SubAccountId", "SubAccountName", "SubAccountType", "Tags", "x_SkuDetails"]


def test_focus_12_instance_type_from_sku_price_details_and_other_sources(tmp_path):
    rows = [
        ["98.32", "111", "USD", "2025-06-01T00:00:00Z", "Usage", "p5 usage", "2025-06-03T11:00:00Z",
         "2025-06-03T10:00:00Z", "1", "Hours", "98.32", "Amazon Web Services", " US-East-1 ", "Compute",
         "Amazon Elastic Compute Cloud", json.dumps({"InstanceType": "p5.48xlarge", "GpuCount": 8}),
         "222", "research", "Account", json.dumps({"user:Project": "llm-pretrain", "Team": "ml",
                                                   "workload": "Training"}), ""],
        ["27.2", "sub-1", "EUR", "2025-06-01T00:00:00Z", "Usage", "ND96asr v4 VM", "2025-06-03T11:00:00Z",
         "2025-06-03T10:00:00Z", "1", "Hour", "27.2", "Microsoft", "westeurope", "Compute", "Virtual Machines",
         "", "sub-2", "ml-sub", "Subscription", "", json.dumps({"ServiceType": "Standard_ND96asr_v4"})],
        ["29.4", "gcp-1", "USD", "2025-06-01 00:00:00", "Usage", "a2-highgpu-8g running in Americas",
         "2025-06-03 11:00:00", "2025-06-03 10:00:00", "1", "h", "29.4", "Google Cloud", "us-central1",
         "Compute", "Compute Engine", "", "proj-9", "", "Project",
         json.dumps({"project": "vision", "workload-class": "batch"}), ""],
        ["5.0", "111", "USD", "2025-06-01T00:00:00Z", "Tax", "tax on p5.48xlarge", "2025-06-03T11:00:00Z",
         "2025-06-03T10:00:00Z", "", "", "5.0", "AWS", "", "Other", "Tax", "", "222", "research", "Account",
         "", ""],
    ]
    path = write_csv(tmp_path / "focus12.csv", FOCUS12_HEADER, rows)
    result = read_billing([path])
    assert_ties_out(result)
    assert len(result.quarantine) == 0
    b = result.billing.set_index("x_SourceRow")
    assert b.loc[1, "x_InstanceType"] == "p5.48xlarge" and b.loc[1, "x_UsageHours"] == 1.0
    assert b.loc[1, "RegionId"] == "us-east-1" and b.loc[1, "ProviderName"] == "aws"
    assert (b.loc[1, "x_Project"], b.loc[1, "x_Team"], b.loc[1, "x_WorkloadClass"]) == ("llm-pretrain", "ml", "training")
    assert b.loc[2, "x_InstanceType"] == "Standard_ND96asr_v4" and b.loc[2, "ProviderName"] == "azure"
    assert b.loc[2, "x_Project"] == "account:ml-sub"
    assert b.loc[3, "x_InstanceType"] == "a2-highgpu-8g" and b.loc[3, "ProviderName"] == "gcp"
    assert b.loc[3, "x_UsageHours"] == 1.0
    assert b.loc[3, "x_Project"] == "vision" and pd.isna(b.loc[3, "x_WorkloadClass"])   # 'batch' is no class
    assert b.loc[4, "ChargeCategory"] == "Tax" and pd.isna(b.loc[4, "x_InstanceType"])  # descriptions: Usage only
    assert b.loc[3, "ChargePeriodStart"] == pd.Timestamp("2025-06-03 10:00", tz="UTC")
    assert result.inputs.cost("EUR") == Decimal("27.2")


def sample_lines(count: int) -> tuple[str, list[str]]:
    lines = FOCUS_SAMPLE.read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:count + 1]


def test_bad_rows_are_quarantined_with_reasons(tmp_path):
    header, lines = sample_lines(8)
    names = next(csv.reader([header]))
    rows = [next(csv.reader([line])) for line in lines]
    col = {name: i for i, name in enumerate(names)}
    rows[1][col["ChargePeriodStart"]] = "2024-13-01 00:00:00"
    rows[2][col["BilledCost"]] = "abc"
    rows[3][col["BillingCurrency"]] = ""
    rows[4][col["ChargeCategory"]] = "Usagee"
    rows[5][col["Tags"]] = "not json"
    rows[6] = rows[6][:-3]                                    # ragged: 3 fields short
    path = write_csv(tmp_path / "bad.csv", names, rows)
    result = read_billing([path])

    assert result.inputs.rows == 8
    assert len(result.billing) == 2 and list(result.billing["x_SourceRow"]) == [1, 8]
    q = result.quarantine.set_index("x_SourceRow")
    assert list(q.index) == [2, 3, 4, 5, 6, 7]
    assert q.loc[2, "x_Reason"] == ("ChargePeriodStart: '2024-13-01 00:00:00' is not a timestamp "
                                    "(expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS')")
    assert q.loc[3, "x_Reason"] == "BilledCost: 'abc' is not a number"
    assert pd.isna(q.loc[3, "BilledCost"])
    assert q.loc[4, "x_Reason"] == "BillingCurrency: empty"
    assert q.loc[5, "x_Reason"].startswith("ChargeCategory: 'Usagee' is not one of Usage, Purchase")
    assert q.loc[6, "x_Reason"] == "Tags: 'not json' is not a JSON object"
    assert q.loc[7, "x_Reason"] == ("row has 41 fields but the header has 44 "
                                    "(expected one field per header column)")
    assert json.loads(q.loc[3, "x_RawRecord"])["BilledCost"] == "abc"
    assert json.loads(q.loc[2, "x_RawRecord"])["ChargePeriodStart"] == "2024-13-01 00:00:00"
    assert "raw_line" in json.loads(q.loc[7, "x_RawRecord"])
    assert q.loc[2, "BilledCost"] == float(rows[1][col["BilledCost"]])
    assert set(q["x_SourceFile"]) == {str(path)}
    # cost_in: every readable cost; 'abc' and the ragged row add none.
    readable = [r[col["BilledCost"]] for i, r in enumerate(rows) if i not in (2, 6)]
    currencies = {r[col["BillingCurrency"]] or "?" for i, r in enumerate(rows) if i not in (2, 6)}
    assert sum(result.inputs.cost(c) for c in currencies) == decimal_total(readable)
    assert_ties_out(result)


def test_missing_required_columns_name_file_and_columns(tmp_path):
    path = write_csv(tmp_path / "short.csv", ["ChargePeriodStart", "BilledCost", "ProviderName"],
                     [["2024-09-01 00:00:00", "1.0", "AWS"]])
    with pytest.raises(InputFormatError) as err:
        read_billing([path])
    message = str(err.value)
    assert str(path) in message
    assert "ChargePeriodEnd, BillingCurrency, ChargeCategory" in message


def test_empty_and_non_csv_files_are_input_format_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    for path in (empty, binary):
        with pytest.raises(InputFormatError, match=str(path.name)):
            read_billing([path])
    with pytest.raises(InputFormatError, match="empty file"):
        detect_format(empty)


def test_header_only_file_reads_zero_rows(tmp_path):
    path = write_csv(tmp_path / "header.csv", FOCUS12_HEADER, [])
    result = read_billing([path])
    assert result.inputs.rows == 0 and result.billing.empty and result.quarantine.empty
    schema.validate(result.billing, schema.BILLING_COLUMNS, "test")


@pytest.mark.parametrize("name, fmt", [
    ("focus_1.0_sample_1000rows.csv", "focus"),
    ("aws_cur_legacy_koku-local-1_first2000rows.csv", "aws-cur"),
    ("aws_cur_legacy_2023-06-01_koku.csv", "aws-cur"),
    ("gcp_billing_export_2022-08-01_koku.csv", "gcp"),
    ("azure_cost_details_v2_PascalCase_koku.csv", "azure"),
])
def test_detect_format_of_each_sample(name, fmt):
    assert detect_format(FIXTURES / name) == fmt


def test_unknown_columns_wrong_format_and_unknown_format_name(tmp_path):
    path = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(InputFormatError, match="match no known billing format"):
        detect_format(path)
    with pytest.raises(InputFormatError, match=r"focus_1\.0_sample_1000rows\.csv.*missing required"):
        read_billing([FOCUS_SAMPLE], "aws-cur")
    with pytest.raises(UsageError, match="unknown billing format 'cur3'"):
        read_billing([FOCUS_SAMPLE], "cur3")
    assert {"focus", "aws-cur"} <= set(FORMATS)


def test_multiline_quoted_value_is_one_row(tmp_path):
    header, lines = sample_lines(3)
    text = header + "\n" + lines[0] + "\n" + lines[1].replace('"Usage",NULL,"$', '"Usage",NULL,"line one\nline two $', 1) + "\n" + lines[2] + "\n"
    path = tmp_path / "multiline.csv"
    path.write_text(text, encoding="utf-8")
    result = read_billing([path])
    assert len(result.billing) == 3 and len(result.quarantine) == 0
    assert result.billing.loc[1, "ChargeDescription"].startswith("line one\nline two $")
    assert list(result.billing["x_SourceRow"]) == [1, 2, 3]


def test_directory_reads_every_billing_file_once(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(FOCUS_SAMPLE, tmp_path / "a.csv")
    shutil.copy(FIXTURES / "aws_cur_legacy_2023-06-01_koku.csv", tmp_path / "sub" / "cur.csv")
    (tmp_path / "notes.txt").write_text("not billing")
    result = read_billing([tmp_path])
    assert result.files == [str(tmp_path / "a.csv"), str(tmp_path / "sub" / "cur.csv")]
    assert result.inputs.rows == 1003
    assert set(result.billing["x_SourceFormat"]) == {"focus", "aws-cur"}
    assert result.inputs.cost("NOK") == Decimal("30")
    assert_ties_out(result)


def test_a_header_that_resembles_a_format_names_its_missing_columns(tmp_path):
    gcp_like = write_csv(tmp_path / "gcp.csv", ["usage_start_time", "usage_end_time", "cost", "currency"],
                         [["2024-03-05T00:00:00Z", "2024-03-05T01:00:00Z", "1.0", "USD"]])
    with pytest.raises(InputFormatError, match=r"gcp\.csv: looks like GCP billing export but lacks the required "
                                               r"column\(s\) billing_account_id"):
        detect_format(gcp_like)
    with pytest.raises(InputFormatError, match="lacks the required column"):
        read_billing([gcp_like])
