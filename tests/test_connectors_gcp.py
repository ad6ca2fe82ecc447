"""GCP billing export connector: koku sample, spec-built CSV/JSONL/Parquet samples, bad rows, BigQuery via a local fake."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import gzip
import json
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import google.auth
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import FIXTURES, assert_ties_out, decimal_total, raw_rows
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from carbonledger.cli import main
from carbonledger.errors import ConfigError, InputFormatError
from connectors import read_billing
from connectors.detect import detect_format
from connectors.gcp import convert_gcp
from connectors.gcp_bigquery import day_query, export_days, export_days_query, read_billing_day
from connectors.rawfile import RawTable, read_raw

BILLING = FIXTURES / "billing"
KOKU = BILLING / "gcp_billing_export_2022-08-01_koku.csv"
GCP = BILLING / "gcp"
JSONL = GCP / "gcp_billing_export_resource_v1_nested.jsonl"
PARQUET = GCP / "gcp_billing_export_resource_v1_nested.parquet"
CSV = GCP / "gcp_billing_export_resource_v1_flat.csv"
MALFORMED = GCP / "gcp_billing_export_v1_malformed_eur.csv"
SAMPLES = (JSONL, PARQUET, CSV)
TABLE = "billing-proj.billing_ds.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
# Columns that legitimately differ between the three forms of the same rows.
_SOURCE = ["x_SourceFile", "x_SourceFormat"]


def jsonl_records(path: Path = JSONL) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    result = read_billing([JSONL])
    assert result.quarantine.empty
    return result.billing.set_index("x_SourceRow")


# --- the bundled koku sample ----------------------------------------------------------------------------

def test_koku_sample_reads_every_row_and_ties_out():
    result = read_billing([KOKU])
    raw = raw_rows(KOKU)
    assert result.inputs.rows == len(raw) == 9 and len(result.billing) == 9 and result.quarantine.empty
    assert result.inputs.cost("USD") == decimal_total(r["cost"] for r in raw) == decimal_total(["0.000012"])
    assert_ties_out(result)
    row = result.billing.iloc[0]
    assert row["ProviderName"] == "gcp" and row["x_SourceFormat"] == "gcp"
    assert row["ChargeCategory"] == "Usage" and row["RegionId"] == "us-central1"
    assert row["SubAccountId"] == "cloud-billing-292519" and row["x_Project"] == "account:cm_example"
    assert row["ResourceId"] == "//example" and row["ServiceName"] == "Compute Engine"
    assert row["SkuId"] == "6B8F-E63D-832B" and row["ChargeDescription"] == "Network Internet Egress from Americas to APAC"
    assert row["ConsumedQuantity"] == 14871.0 and row["ConsumedUnit"] == "bytes"
    assert row["ChargePeriodStart"] == pd.Timestamp("2022-08-01 03:00", tz="UTC")
    assert row["ChargePeriodEnd"] == pd.Timestamp("2022-08-01 04:00", tz="UTC")
    # invoice.month 202208 starts at midnight Pacific (PDT, UTC-7).
    assert row["BillingPeriodStart"] == pd.Timestamp("2022-08-01 07:00", tz="UTC")
    assert row["x_CreditAmount"] == 0.0 and pd.isna(row["Tags"])
    assert result.billing["x_InstanceType"].isna().all() and result.billing["x_UsageHours"].isna().all()


# --- the spec-built samples: one set of rows, three file forms -------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.suffix)
def test_detected_as_gcp(path):
    assert detect_format(path) == "gcp"


def test_three_forms_give_the_same_billing_rows(sample):
    frames = [read_billing([p]).billing.drop(columns=_SOURCE) for p in SAMPLES]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])
    assert len(sample) == len(jsonl_records()) == 14


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.suffix)
def test_rows_and_cost_tie_out_exactly(path):
    result = read_billing([path])
    costs = [repr(r["cost"]) for r in jsonl_records()]
    assert result.inputs.rows == 14 and len(result.billing) == 14
    assert result.inputs.cost("USD") == decimal_total(costs) == decimal_total(["93.24909"])
    assert_ties_out(result)


def test_n1_vm_core_line_carries_the_vm_hours(sample):
    core = sample.loc[1]
    assert core["x_InstanceType"] == "n1-standard-4"
    assert core["x_UsageHours"] == 1.0  # 14400 core-seconds / 3600 / 4 vCPUs (cores system label)
    assert core["ConsumedQuantity"] == 14400.0 and core["ConsumedUnit"] == "seconds"
    assert core["BilledCost"] == 0.126308
    assert core["x_CreditAmount"] == -0.025262  # kept apart: BilledCost is the cost before credits
    assert core["EffectiveCost"] == pytest.approx(0.126308 - 0.025262, abs=1e-15)
    assert core["RegionId"] == "us-central1" and core["AvailabilityZone"] == "us-central1-a"
    assert core["ResourceId"] == "//compute.googleapis.com/projects/ml-research-4711/zones/us-central1-a/instances/8812345678901234567"
    assert core["SubAccountId"] == "ml-research-4711" and core["BillingAccountId"] == "01A2B3-C4D5E6-F7A8B9"
    assert core["ChargePeriodStart"] == pd.Timestamp("2024-03-05 10:00", tz="UTC")
    assert core["BillingPeriodStart"] == pd.Timestamp("2024-03-01 08:00", tz="UTC")  # PST, UTC-8


def test_ram_line_keeps_the_machine_type_but_no_hours(sample):
    ram = sample.loc[2]
    assert ram["x_InstanceType"] == "n1-standard-4" and pd.isna(ram["x_UsageHours"])
    assert ram["x_CreditAmount"] == -0.012705


def test_attached_gpu_line_carries_gpu_hours(sample):
    gpu = sample.loc[3]
    assert gpu["x_InstanceType"] == "nvidia-tesla-t4" and gpu["x_UsageHours"] == 2.0  # 7200 GPU-seconds
    assert gpu["x_CreditAmount"] == 0.0


def test_gpu_bundled_machines_count_their_gpus_once(sample):
    # a2-highgpu-1g: 12 vCPUs from the name (no cores label): 43200 core-seconds = 1 VM-hour.
    assert sample.loc[4, "x_InstanceType"] == "a2-highgpu-1g" and sample.loc[4, "x_UsageHours"] == 1.0
    assert sample.loc[5, "x_InstanceType"] == "a2-highgpu-1g" and pd.isna(sample.loc[5, "x_UsageHours"])
    # Its A100 SKU line names the accelerator but its hours are in the machine's profile.
    assert sample.loc[6, "x_InstanceType"] == "nvidia-tesla-a100" and pd.isna(sample.loc[6, "x_UsageHours"])
    assert sample.loc[7, "x_InstanceType"] == "g2-standard-8" and sample.loc[7, "x_UsageHours"] == 0.5
    assert sample.loc[8, "x_InstanceType"] == "nvidia-l4" and pd.isna(sample.loc[8, "x_UsageHours"])


def test_gpu_line_without_a_machine_spec_carries_gpu_hours(sample):
    h100 = sample.loc[9]
    assert h100["x_InstanceType"] == "nvidia-h100-80gb" and h100["x_UsageHours"] == 8.0
    assert h100["RegionId"] == "us-east4" and h100["x_Project"] == "llm-pretrain"


def test_credits_are_summed_per_line(sample):
    e2 = sample.loc[10]
    assert e2["x_InstanceType"] == "e2-standard-2" and e2["x_UsageHours"] == 0.5
    assert e2["x_CreditAmount"] == pytest.approx(-0.017, abs=1e-15) and e2["BilledCost"] == 0.021811
    assert sample["BilledCost"].sum() == pytest.approx(93.24909)
    assert sample["x_CreditAmount"].sum() == pytest.approx(-0.025262 - 0.012705 - 0.017 - 0.012345)


def test_labels_become_tags_with_resource_labels_winning(sample):
    tags = json.loads(sample.loc[1, "Tags"])
    assert tags == {"cost-center": "cc-42", "project": "resnet-train", "team": "perception",
                    "workload-class": "training"}  # project label team=vision overridden
    assert sample.loc[1, ["x_Project", "x_Team", "x_WorkloadClass"]].tolist() == ["resnet-train", "perception", "training"]
    # Only project labels: the project's team, and the project name as the fallback project.
    assert json.loads(sample.loc[7, "Tags"]) == {"cost-center": "cc-42", "team": "vision"}
    assert sample.loc[7, ["x_Project", "x_Team"]].tolist() == ["account:ML Research", "vision"]


def test_regions_multi_region_and_non_usage_lines(sample):
    storage = sample.loc[11]
    assert storage["RegionId"] == "us" and storage["ServiceName"] == "Cloud Storage"
    assert pd.isna(storage["x_InstanceType"]) and storage["x_CreditAmount"] == -0.012345
    assert sample.loc[12, ["ChargeCategory", "BilledCost"]].tolist() == ["Tax", 0.35]
    assert pd.isna(sample.loc[12, "RegionId"]) and pd.isna(sample.loc[12, "SubAccountId"])
    assert sample.loc[13, ["ChargeCategory", "BilledCost"]].tolist() == ["Adjustment", -0.05]
    assert sample.loc[14, ["ChargeCategory", "BilledCost"]].tolist() == ["Adjustment", 0.000001]
    assert sample.loc[[1, 2, 3, 4, 11], "ChargeCategory"].eq("Usage").all()
    assert sample.loc[[12, 13, 14], "x_UsageHours"].isna().all()


def one_line(description: str, seconds: float, system_labels: str = "[]") -> pd.Series:
    """x_InstanceType and x_UsageHours of a single regular line (converted from an in-memory table)."""
    table = pa.table({name: pa.array([value], pa.string()) for name, value in {
        "usage_start_time": "2024-03-05 10:00:00", "usage_end_time": "2024-03-05 11:00:00", "cost": "1.0",
        "currency": "USD", "cost_type": "regular", "sku.description": description, "usage.amount": str(seconds),
        "usage.unit": "seconds", "system_labels": system_labels}.items()})
    converted = convert_gcp(RawTable("line.csv", table, np.array([1])))
    assert not converted.problems.rows.any()
    return converted.frame.loc[0, ["x_InstanceType", "x_UsageHours"]]


@pytest.mark.parametrize(("description", "seconds", "spec", "expected"), [
    ("Spot Preemptible Nvidia Tesla T4 GPU running in Americas", 3600, None, ["nvidia-tesla-t4", 1.0]),
    ("Nvidia Tesla A100 80GB GPU running in Americas", 7200, None, ["nvidia-a100-80gb", 2.0]),
    ("Nvidia H100 80GB Mega GPU running in Americas", 3600, "a3-megagpu-8g", ["nvidia-h100-mega-80gb", None]),
    ("Vertex AI Custom Training A100 GPU running in Americas", 1800, None, ["nvidia-tesla-a100", 0.5]),
    ("Commitment v1: Nvidia Tesla A100 GPU running in Americas for 1 Year", 3600, None, [None, None]),
    ("Micro Instance with burstable CPU running in Americas", 1800, None, ["f1-micro", 0.5]),
    ("N1 Custom Instance Core running in Americas", 6 * 3600, "custom-6-23040", ["custom-6-23040", 1.0]),
    ("A2 Instance Core running in Americas", 96 * 1800, "a2-highgpu-8g", ["a2-highgpu-8g", 0.5]),
    ("A3 Instance Core running in Americas", 208 * 3600, "a3-megagpu-8g", ["a3-megagpu-8g", 1.0]),
    ("E2 Instance Core running in Americas", 900, "e2-micro", ["e2-micro", None]),  # shared core, no cores label
    ("Network Inter Zone Egress", 3600, None, [None, None]),
])
def test_instance_type_and_hours_of_single_lines(description, seconds, spec, expected):
    labels = "[]" if spec is None else json.dumps([{"key": "compute.googleapis.com/machine_spec", "value": spec}])
    instance, hours = one_line(description, seconds, labels)
    assert (None if pd.isna(instance) else instance, None if pd.isna(hours) else hours) == tuple(expected)


def test_gzipped_json_lines_and_directory_discovery(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    with open(JSONL, "rb") as src, gzip.open(folder / "part-000.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "notes.json").write_text("{}")  # plain .json is read only when named
    result = read_billing([folder])
    assert result.files == [str(folder / "part-000.jsonl.gz")]
    assert len(result.billing) == 14 and result.inputs.cost("USD") == decimal_total(["93.24909"])


def test_json_array_file_is_a_clear_error(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(jsonl_records()[:2]))
    with pytest.raises(InputFormatError, match=r"export\.json, row 1: .*not an array"):
        read_billing([path])


# --- malformed rows ----------------------------------------------------------------------------------------

def test_malformed_rows_are_quarantined_with_reasons():
    result = read_billing([MALFORMED])
    with open(MALFORMED, newline="") as handle:
        raw = list(csv.reader(handle))[1:]
    assert result.inputs.rows == len(raw) == 9
    assert result.billing["x_SourceRow"].tolist() == [1, 9]
    assert result.billing["ChargeCategory"].tolist() == ["Usage", "Tax"]
    reasons = result.quarantine.set_index("x_SourceRow")["x_Reason"].to_dict()
    assert reasons == {
        2: "cost: 'n/a' is not a number",
        3: "usage_start_time: 'yesterday' is not a timestamp (expected ISO 8601 / 'YYYY-MM-DD HH:MM:SS')",
        4: "cost_type: 'refund' is not a known cost type (expected one of regular, tax, adjustment, rounding_error)",
        5: "credits: '[{'name': 'SUD', 'type': 'SUSTAINED_USAGE_DISCOUNT'}]' is not a list of credit records with a "
           "numeric 'amount' (expected e.g. [{\"name\": ..., \"amount\": -0.5}])",
        6: "labels: 'team=vision' is not a list of {key, value} records "
           "(expected e.g. [{\"key\": \"env\", \"value\": \"prod\"}])",
        7: "currency: empty",
        8: "row has 31 fields but the header has 30 (expected one field per header column)",
    }
    # Quarantined rows keep their cost where it could be read, so each currency ties out to the last digit.
    cost = 18
    assert result.inputs.cost("EUR") == decimal_total(row[cost] for i, row in enumerate(raw, 1) if i not in (2, 7, 8))
    assert result.inputs.cost("?") == decimal_total([raw[6][cost]]) == decimal_total(["0.5"])
    assert_ties_out(result)
    raw_record = json.loads(result.quarantine.set_index("x_SourceRow").loc[2, "x_RawRecord"])
    assert raw_record["cost"] == "n/a" and raw_record["sku.id"] == "CF4E-A0C7-E3BF"


def test_two_currencies_tie_out_together():
    result = read_billing([JSONL, MALFORMED])
    assert set(result.inputs.cost_by_currency) == {"USD", "EUR", "?"}
    assert result.inputs.rows == 14 + 9
    assert_ties_out(result)


def test_missing_required_column_names_the_file(tmp_path):
    path = tmp_path / "no_cost.csv"
    path.write_text("billing_account_id,usage_start_time,usage_end_time,currency\nA,2024-03-05 10:00:00,2024-03-05 11:00:00,USD\n")
    with pytest.raises(InputFormatError, match=r"no_cost\.csv: missing required GCP billing export column\(s\) cost"):
        read_billing([path])


# --- BigQuery, against a local fake of the REST API ---------------------------------------------------------

_LABEL = {"type": "RECORD", "mode": "REPEATED", "fields": [{"name": "key", "type": "STRING"},
                                                          {"name": "value", "type": "STRING"}]}
BILLING_SCHEMA = [
    {"name": "billing_account_id", "type": "STRING"},
    {"name": "service", "type": "RECORD", "fields": [{"name": "id", "type": "STRING"},
                                                     {"name": "description", "type": "STRING"}]},
    {"name": "sku", "type": "RECORD", "fields": [{"name": "id", "type": "STRING"},
                                                 {"name": "description", "type": "STRING"}]},
    {"name": "usage_start_time", "type": "TIMESTAMP"},
    {"name": "usage_end_time", "type": "TIMESTAMP"},
    {"name": "project", "type": "RECORD", "fields": [
        {"name": "id", "type": "STRING"}, {"name": "number", "type": "STRING"}, {"name": "name", "type": "STRING"},
        {"name": "labels", **_LABEL}, {"name": "ancestry_numbers", "type": "STRING"}]},
    {"name": "labels", **_LABEL},
    {"name": "system_labels", **_LABEL},
    {"name": "location", "type": "RECORD", "fields": [
        {"name": n, "type": "STRING"} for n in ("location", "country", "region", "zone")]},
    {"name": "export_time", "type": "TIMESTAMP"},
    {"name": "cost", "type": "FLOAT"},
    {"name": "currency", "type": "STRING"},
    {"name": "currency_conversion_rate", "type": "FLOAT"},
    {"name": "usage", "type": "RECORD", "fields": [
        {"name": "amount", "type": "FLOAT"}, {"name": "unit", "type": "STRING"},
        {"name": "amount_in_pricing_units", "type": "FLOAT"}, {"name": "pricing_unit", "type": "STRING"}]},
    {"name": "credits", "type": "RECORD", "mode": "REPEATED", "fields": [
        {"name": "name", "type": "STRING"}, {"name": "amount", "type": "FLOAT"}, {"name": "full_name", "type": "STRING"},
        {"name": "id", "type": "STRING"}, {"name": "type", "type": "STRING"}]},
    {"name": "invoice", "type": "RECORD", "fields": [{"name": "month", "type": "STRING"}]},
    {"name": "cost_type", "type": "STRING"},
    {"name": "resource", "type": "RECORD", "fields": [{"name": "name", "type": "STRING"},
                                                      {"name": "global_name", "type": "STRING"}]},
]


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace(" UTC", "+00:00"))


def _cell(value, field: dict):
    """A value in the BigQuery REST row encoding (``{"f": [{"v": ...}]}``), timestamps as int64 microseconds."""
    if field.get("mode") == "REPEATED":
        return [{"v": _cell(item, {**field, "mode": "NULLABLE"})} for item in (value or [])]
    if value is None:
        return None
    if field["type"] == "RECORD":
        return {"f": [{"v": _cell(value.get(sub["name"]), sub)} for sub in field["fields"]]}
    if field["type"] == "TIMESTAMP":
        return str(int(_timestamp(value).timestamp() * 1_000_000))
    return str(value)


class FakeBigQuery:
    """BigQuery REST jobs.query + jobs.getQueryResults over in-memory tables, served on 127.0.0.1.

    Each table row is ``(partition day, record)``; the query must be ``day_query``'s SQL, and the
    fake filters rows on the named column exactly as BigQuery would for the @start/@end parameters;
    or ``export_days_query``'s aggregate, which the fake computes per UTC usage day (tables named
    in ``unpartitioned`` reject its ``_PARTITIONTIME`` filter, as a view would).
    Results are paged two rows at a time so the client's paging is exercised.
    """

    PAGE = 2

    def __init__(self, tables: dict[str, list[tuple[dt.date, dict]]], forbidden: tuple[str, ...] = (),
                 unpartitioned: tuple[str, ...] = ()):
        self.tables, self.forbidden, self.requests, self.results = tables, forbidden, [], {}
        self.unpartitioned = unpartitioned
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(("POST", self.path, body))
                self._reply(*fake.query(self.path, body))

            def do_GET(self):  # noqa: N802
                fake.requests.append(("GET", self.path, None))
                self._reply(*fake.page(self.path))

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"

    def query(self, path: str, body: dict) -> tuple[int, dict]:
        project = re.match(r"/bigquery/v2/projects/([^/]+)/queries", path)
        if project is None:
            return 404, _error(404, "notFound", f"Not found: {path}")
        found = re.fullmatch(r"SELECT \* FROM `([^`]+)` WHERE (\w+) >= @start AND \2 < @end", body["query"])
        if found is None:
            return self.aggregate(project.group(1), body)
        table, column = found.groups()
        if table in self.forbidden:
            return 403, _error(403, "accessDenied", f"Access Denied: Table {table}: User does not have permission")
        if table not in self.tables:
            return 404, _error(404, "notFound", f"Not found: Table {table} was not found in location US")
        params = {p["name"]: _timestamp(p["parameterValue"]["value"]) for p in body["queryParameters"]}
        rows = []
        for partition, record in self.tables[table]:
            when = (dt.datetime.combine(partition, dt.time(), tzinfo=dt.timezone.utc) if column == "_PARTITIONTIME"
                    else _timestamp(record[column]))
            if params["start"] <= when < params["end"]:
                rows.append({"f": [{"v": _cell(record.get(f["name"]), f)} for f in BILLING_SCHEMA]})
        return 200, self._store(project.group(1), rows, BILLING_SCHEMA)

    def aggregate(self, project: str, body: dict) -> tuple[int, dict]:
        """``export_days_query``: per UTC usage day, the latest export_time and the row count."""
        found = re.fullmatch(
            r"SELECT DATE\(usage_start_time\) AS usage_day, MAX\(export_time\) AS last_export_time, "
            r"COUNT\(\*\) AS row_count FROM `([^`]+)` WHERE usage_start_time >= @start AND usage_start_time < @end"
            r"( AND _PARTITIONTIME >= TIMESTAMP_SUB\(@start, INTERVAL 1 DAY\))? GROUP BY usage_day ORDER BY usage_day",
            body["query"])
        if found is None:
            return 400, _error(400, "invalidQuery", f"Syntax error: {body['query']}")
        table, pruned = found.group(1), found.group(2) is not None
        if table not in self.tables:
            return 404, _error(404, "notFound", f"Not found: Table {table} was not found in location US")
        if pruned and table in self.unpartitioned:
            return 400, _error(400, "invalidQuery", "Unrecognized name: _PARTITIONTIME at [1:200]")
        params = {p["name"]: _timestamp(p["parameterValue"]["value"]) for p in body["queryParameters"]}
        floor = params["start"] - dt.timedelta(days=1)
        days: dict[dt.date, list[dt.datetime]] = {}
        for partition, record in self.tables[table]:
            used = _timestamp(record["usage_start_time"])
            in_partition = dt.datetime.combine(partition, dt.time(), tzinfo=dt.timezone.utc) >= floor
            if params["start"] <= used < params["end"] and (in_partition or not pruned):
                days.setdefault(used.date(), []).append(_timestamp(record["export_time"]))
        fields = [{"name": "usage_day", "type": "DATE"}, {"name": "last_export_time", "type": "TIMESTAMP"},
                  {"name": "row_count", "type": "INTEGER"}]
        rows = [{"f": [{"v": day.isoformat()}, {"v": str(int(max(stamps).timestamp() * 1_000_000))},
                       {"v": str(len(stamps))}]} for day, stamps in sorted(days.items())]
        return 200, self._store(project, rows, fields)

    def _store(self, project: str, rows: list[dict], fields: list[dict]) -> dict:
        job_id = f"job_{len(self.results) + 1}"
        self.results[job_id] = (project, rows, fields)
        return self._response(job_id, 0)

    def page(self, path: str) -> tuple[int, dict]:
        job = re.match(r"/bigquery/v2/projects/([^/]+)/jobs/([^/?]+)", path)
        if job is not None and job.group(2) in self.results:  # jobs.get, before the client pages
            reference = {"projectId": job.group(1), "jobId": job.group(2), "location": "US"}
            return 200, {"kind": "bigquery#job", "id": f"{job.group(1)}:US.{job.group(2)}", "jobReference": reference,
                         "configuration": {"jobType": "QUERY", "query": {"query": "", "useLegacySql": False}},
                         "status": {"state": "DONE"}}
        found = re.match(r"/bigquery/v2/projects/[^/]+/queries/([^/?]+)", path)
        if found is None or found.group(1) not in self.results:
            return 404, _error(404, "notFound", f"Not found: {path}")
        token = re.search(r"[?&]pageToken=(\d+)", path)
        return 200, self._response(found.group(1), int(token.group(1)) if token else 0)

    def _response(self, job_id: str, start: int) -> dict:
        project, rows, fields = self.results[job_id]
        response = {
            "kind": "bigquery#queryResponse", "jobComplete": True, "totalRows": str(len(rows)),
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "schema": {"fields": fields}, "rows": rows[start:start + self.PAGE],
        }
        if start + self.PAGE < len(rows):
            response["pageToken"] = str(start + self.PAGE)
        return response

    def __enter__(self) -> "FakeBigQuery":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _error(code: int, reason: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": reason,
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}


@pytest.fixture()
def bigquery() -> Iterator[FakeBigQuery]:
    records = jsonl_records()
    late = copy.deepcopy(records[0])  # usage on 4 March, exported (partitioned) on 5 March
    late["usage_start_time"], late["usage_end_time"] = "2024-03-04 23:00:00 UTC", "2024-03-05 00:00:00 UTC"
    rows = [(dt.date(2024, 3, 5), late)] + [(dt.date(2024, 3, 6), r) for r in records]
    with FakeBigQuery({TABLE: rows}, forbidden=("billing-proj.billing_ds.secret",)) as fake:
        yield fake


def read_day(fake: FakeBigQuery, day: dt.date, **kwargs):
    return read_billing_day(kwargs.pop("table", TABLE), day, credentials=kwargs.pop("credentials", AnonymousCredentials()),
                            api_endpoint=fake.endpoint, **kwargs)


def test_bigquery_usage_day_converts_like_the_exported_file(bigquery):
    raw = read_day(bigquery, dt.date(2024, 3, 5), by="usage")
    assert raw.path == f"bigquery:{TABLE}/2024-03-05" and raw.rows_read == 14
    assert {"service.description", "usage.amount", "project.labels", "credits", "resource.global_name"} <= set(raw.columns)
    from_bigquery = convert_gcp(raw)
    from_file = convert_gcp(read_raw(JSONL))
    assert not from_bigquery.problems.rows.any()
    pd.testing.assert_frame_equal(from_bigquery.frame, from_file.frame)
    # The query is parameterised (no values spliced into the SQL) and paged two rows at a time.
    post = [r for r in bigquery.requests if r[0] == "POST"]
    assert len(post) == 1 and post[0][2]["query"] == day_query(TABLE, "usage")
    assert {p["name"]: p["parameterValue"]["value"] for p in post[0][2]["queryParameters"]} == {
        "start": "2024-03-05 00:00:00+00:00", "end": "2024-03-06 00:00:00+00:00"}
    tokens = [re.search(r"pageToken=(\d+)", r[1]) for r in bigquery.requests if "/queries/" in r[1]]
    assert [int(t.group(1)) for t in tokens] == [2, 4, 6, 8, 10, 12]  # 14 rows; the first page came with the query


def test_bigquery_partition_day_reads_what_was_exported_that_day(bigquery):
    exported_5th = convert_gcp(read_day(bigquery, dt.date(2024, 3, 5))).frame
    assert len(exported_5th) == 1
    assert exported_5th.loc[0, "ChargePeriodStart"] == pd.Timestamp("2024-03-04 23:00", tz="UTC")
    assert exported_5th.loc[0, "x_UsageHours"] == 1.0 and exported_5th.loc[0, "x_InstanceType"] == "n1-standard-4"
    assert len(convert_gcp(read_day(bigquery, dt.date(2024, 3, 6))).frame) == 14
    assert read_day(bigquery, dt.date(2024, 3, 7)).rows_read == 0


def test_bigquery_missing_table_is_an_input_error(bigquery):
    with pytest.raises(InputFormatError, match=r"bigquery:billing-proj\.billing_ds\.missing/2024-03-05: table or "
                                                r"dataset not found \(Not found: Table billing-proj\.billing_ds\.missing"):
        read_day(bigquery, dt.date(2024, 3, 5), table="billing-proj.billing_ds.missing")


def test_bigquery_access_denied_is_a_config_error(bigquery):
    with pytest.raises(ConfigError, match=r"access denied \(403\)"):
        read_day(bigquery, dt.date(2024, 3, 5), table="billing-proj.billing_ds.secret")


class RefusedCredentials(Credentials):
    """Credentials whose token refresh fails, with a secret in the error text."""

    def refresh(self, request) -> None:
        raise auth_exceptions.RefreshError("invalid_grant: refresh token 1//0gSECRET-TOKEN is revoked")


def test_bigquery_refused_credentials_are_a_config_error_without_the_secret(bigquery):
    with pytest.raises(ConfigError) as caught:
        read_day(bigquery, dt.date(2024, 3, 5), credentials=RefusedCredentials())
    assert "credentials were refused" in str(caught.value) and "SECRET" not in str(caught.value)
    assert not bigquery.requests


def test_bigquery_without_application_default_credentials(monkeypatch):
    def no_adc(*args, **kwargs):
        raise auth_exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(ConfigError, match="no Google credentials found; set up Application Default Credentials"):
        read_billing_day(TABLE, dt.date(2024, 3, 5), api_endpoint="http://127.0.0.1:9")


@pytest.mark.parametrize("table", ["billing_ds.table", "p.d.t` WHERE 1=1 --", "p.d.t; DROP TABLE x"])
def test_bigquery_table_id_is_validated(table):
    with pytest.raises(ConfigError, match="expected 'project.dataset.table'"):
        day_query(table)
    with pytest.raises(ConfigError, match="expected 'project.dataset.table'"):
        export_days_query(table)


def test_export_days_gives_last_export_and_rows_per_usage_day(bigquery):
    days = export_days(TABLE, dt.date(2024, 3, 1), dt.date(2024, 3, 6), credentials=AnonymousCredentials(),
                       api_endpoint=bigquery.endpoint)
    # the late row used on 4 March; the 14 rows used on 5 March, all exported on the 6th
    assert days == {dt.date(2024, 3, 4): ("2024-03-06T02:13:54.123000+00:00", 1),
                    dt.date(2024, 3, 5): ("2024-03-06T02:13:54.123000+00:00", 14)}
    [post] = [r for r in bigquery.requests if r[0] == "POST"]
    assert post[2]["query"] == export_days_query(TABLE)          # partition-pruned, parameterised
    assert {p["name"]: p["parameterValue"]["value"][:10] for p in post[2]["queryParameters"]} == \
        {"start": "2024-03-01", "end": "2024-03-07"}
    # a restatement appends rows with a later export_time: the day's pair changes, other days do not
    restated = copy.deepcopy(bigquery.tables[TABLE][1][1])
    restated["export_time"], restated["cost"] = "2024-03-09 07:00:00 UTC", -0.5
    bigquery.tables[TABLE].append((dt.date(2024, 3, 9), restated))
    again = export_days(TABLE, dt.date(2024, 3, 1), dt.date(2024, 3, 6), credentials=AnonymousCredentials(),
                        api_endpoint=bigquery.endpoint)
    assert again[dt.date(2024, 3, 5)] == ("2024-03-09T07:00:00.000000+00:00", 15)
    assert again[dt.date(2024, 3, 4)] == days[dt.date(2024, 3, 4)]
    assert export_days(TABLE, dt.date(2024, 3, 7), dt.date(2024, 3, 8), credentials=AnonymousCredentials(),
                       api_endpoint=bigquery.endpoint) == {}


def test_export_days_on_a_view_falls_back_to_an_unpruned_query(bigquery):
    bigquery.unpartitioned = (TABLE,)
    days = export_days(TABLE, dt.date(2024, 3, 5), dt.date(2024, 3, 5), credentials=AnonymousCredentials(),
                       api_endpoint=bigquery.endpoint)
    assert days == {dt.date(2024, 3, 5): ("2024-03-06T02:13:54.123000+00:00", 14)}
    queries = [r[2]["query"] for r in bigquery.requests if r[0] == "POST"]
    assert queries == [export_days_query(TABLE), export_days_query(TABLE, prune=False)]
    with pytest.raises(InputFormatError, match="table or dataset not found"):
        export_days("billing-proj.billing_ds.missing", dt.date(2024, 3, 5), dt.date(2024, 3, 5),
                    credentials=AnonymousCredentials(), api_endpoint=bigquery.endpoint)


# --- the CLI -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [JSONL, CSV], ids=lambda p: p.suffix)
def test_estimate_on_a_gcp_export(tmp_path, capsys, path):
    assert main(["estimate", str(path), "--out", str(tmp_path)]) == 0
    assert "ties out" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows_in"] == summary["rows_ledger"] == 14 and summary["tie_out_ok"] is True
    assert summary["cost_by_currency"]["USD"]["in"] == "93.24909"
    ledger = pd.read_parquet(tmp_path / "ledger.parquet").set_index("x_SourceRow")
    assert ledger.loc[1, "x_EstimateBasis"] == "modelled"  # n1-standard-4 VM-hours
    assert ledger.loc[3, "x_EstimateBasis"] == "modelled" and ledger.loc[3, "x_GpuModel"] == "NVIDIA T4"
    assert ledger.loc[12, "x_EstimateBasis"] == "non_usage"


def test_configured_bigquery_source_reads_one_day_into_its_cache(bigquery, tmp_path, monkeypatch):
    import google.auth

    from carbonledger.config import Config
    from carbonledger.engine import read_source_day
    from conftest import assert_ties_out

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "billing-proj"))
    (tmp_path / "carbonledger.yaml").write_text(
        f"sources:\n  - path: bigquery://{TABLE}\n    name: gcp_billing\n    api_endpoint: {bigquery.endpoint}\n")
    config = Config.load(tmp_path / "carbonledger.yaml")
    [source] = config.sources
    assert source.format == "gcp" and source.bigquery is not None and source.bigquery.table == TABLE
    day = read_source_day(source, dt.date(2024, 3, 5), config.project_tag_keys)
    assert len(day.billing) + len(day.quarantine) == day.inputs.rows == 14
    assert (day.billing["ChargePeriodStart"].dt.date == dt.date(2024, 3, 5)).all()
    assert_ties_out(day)
    assert (source.path / "2024-03-05.parquet").is_file()
    post = [r for r in bigquery.requests if r[0] == "POST"]
    assert post[-1][2]["query"] == day_query(TABLE, "usage")         # by usage: late exports land on their day
    empty = read_source_day(source, dt.date(2024, 3, 9), config.project_tag_keys)
    assert empty.inputs.rows == 0 and empty.billing.empty
