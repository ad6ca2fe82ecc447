"""Hostile names from the outside world (issue 9, Security).

* File names from manifests (legacy CUR ``reportKeys``, Data Exports ``dataFiles``, S3 listings, Azure
  export ``blobName``) never escape the cache directory: ``..``, absolute paths, backslashes and
  percent-encoded traversal are refused with an error naming the manifest and the entry, and nothing
  is written outside the cache.
* BigQuery: the day goes in as query parameters; the table (an identifier, which cannot be a
  parameter) must match a strict pattern, so a hostile table name never reaches a query.
* A team's report bundle holds no other team's rows, in any file it writes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from test_reports import ledger_rows, non_energy

from carbonledger.cli import main
from carbonledger.errors import ConfigError, InputFormatError
from connectors import gcp_bigquery
from connectors.azure_remote import AzureRemoteError, _local_path
from connectors.discover import discover
from connectors.s3_delivery import RemoteObject, S3Location, _cached, fetch_deliveries
from connectors.safe_paths import UnsafePath, contained, unsafe_reason

HOSTILE_NAMES = ["../escape.csv.gz", "cur/../../escape.csv.gz", "/etc/cron.d/escape.csv", "cur\\..\\..\\escape.csv",
                 "cur/%2e%2e/%2e%2e/escape.csv", "cur/..%2f..%2fescape.csv", "cur/%252e%252e/escape.csv",
                 "C:/Windows/escape.csv", "cur/part\x00.csv", ""]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused(tmp_path, name):
    assert unsafe_reason(name) is not None
    with pytest.raises(UnsafePath):
        contained(tmp_path / "cache", name)


@pytest.mark.parametrize("name", ["cur/koku-local/20180601-20180701/a1b2/koku-local-1.csv.gz", "x/data/BILLING_PERIOD=2024-06/e/p.parquet",
                                  "report name with spaces/part.csv", "a/..b/c..d.csv"])
def test_ordinary_keys_are_kept(tmp_path, name):
    assert unsafe_reason(name) is None
    assert contained(tmp_path, name) == tmp_path / name


# --- S3 manifests --------------------------------------------------------------------------------------------


def files_outside(root: Path, cache: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and cache not in p.parents and p.name != "marker"]


@pytest.mark.parametrize("entry", ["../../../escape.csv.gz", "cur/rep/20240601-20240701/..\\..\\escape.csv.gz",
                                   "cur/rep/%2e%2e/%2e%2e/%2e%2e/escape.csv.gz"])
def test_legacy_report_keys_cannot_leave_the_cache(client, bucket, tmp_path, entry):
    manifest_key = "cur/rep/20240601-20240701/rep-Manifest.json"
    client.put_object(Bucket=bucket, Key=manifest_key,
                      Body=json.dumps({"assemblyId": "a1", "reportKeys": [entry]}).encode())
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(InputFormatError) as raised:
        fetch_deliveries(f"s3://{bucket}/cur", cache, client=client)
    message = str(raised.value)
    assert message.startswith(f"s3://{bucket}/{manifest_key}, column 'reportKeys': reportKeys entry {entry!r} ")
    assert "outside the cache directory" in message
    assert files_outside(tmp_path, cache) == []


@pytest.mark.parametrize("uri", ["s3://{b}/x/../../../../escape.csv.gz", "s3://{b}//etc/escape.csv.gz",
                                 "s3://{b}/x/data/..%2F..%2F..%2Fescape.csv.gz"])
def test_data_exports_data_files_cannot_leave_the_cache(client, bucket, tmp_path, uri):
    entry = uri.format(b=bucket)
    manifest_key = "x/metadata/BILLING_PERIOD=2024-06/x-Manifest.json"
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps({"executionId": "e1", "dataFiles": [entry]}).encode())
    cache = tmp_path / "cache"
    with pytest.raises(InputFormatError) as raised:
        fetch_deliveries(f"s3://{bucket}/x", cache, client=client)
    assert str(raised.value).startswith(f"s3://{bucket}/{manifest_key}, column 'dataFiles': dataFiles entry {entry!r} ")
    assert files_outside(tmp_path, cache) == []


def test_a_listed_key_that_would_leave_the_cache_is_refused_before_download(client, bucket, tmp_path):
    obj = RemoteObject("cur/../../escape.csv", 10, "0" * 32, dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(InputFormatError, match=r"object key has a '\.\.' segment: it would be written outside the cache"):
        _cached(client, S3Location(bucket, "cur"), obj, tmp_path / "cache", {}, [])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("uri", ["s3://../cur", "s3://bucket/../../elsewhere", "s3://bucket/a\\..\\b"])
def test_s3_locations_that_would_leave_the_cache_are_config_errors(uri):
    with pytest.raises(ConfigError, match="S3 location"):
        S3Location.parse(uri)


def test_local_manifest_keys_are_not_looked_up_above_the_report(tmp_path):
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n")
    period = tmp_path / "exports" / "rep" / "20240601-20240701"
    period.mkdir(parents=True)
    (period / "rep-Manifest.json").write_text(json.dumps({"assemblyId": "a", "reportName": "rep",
                                                          "reportKeys": ["../../../secret.csv"]}))
    with pytest.raises(InputFormatError, match=r"rep-Manifest\.json, column 'reportKeys': report key '\.\./\.\./\.\./secret\.csv' "
                                               r"has a '\.\.' segment"):
        discover([tmp_path / "exports"]).files


# --- Azure export manifests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("blob", ["../../escape.csv", "ea/%2e%2e/%2e%2e/escape.csv", "ea\\..\\..\\escape.csv",
                                  "https://acct.blob.core.windows.net/c/ea/../../../escape.csv?sig=PLANTED"])
def test_azure_blob_names_cannot_leave_the_download_folder(tmp_path, blob):
    manifest = "https://acct.blob.core.windows.net/cost-exports/ea/run-2/manifest.json?sig=PLANTED"
    with pytest.raises(AzureRemoteError) as raised:
        _local_path(tmp_path / "dest", blob, manifest)
    message = str(raised.value)
    assert message.startswith("export manifest https://acct.blob.core.windows.net/cost-exports/ea/run-2/manifest.json: "
                              "blob name ")
    assert "outside" in message and "PLANTED" not in message


def test_azure_ordinary_blob_names_stay_below_the_folder(tmp_path):
    assert _local_path(tmp_path, "/ea/monthly/part_1.csv", "m") == tmp_path / "ea" / "monthly" / "part_1.csv"


# --- BigQuery --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("table", [
    "proj.ds.t` WHERE TRUE; DROP TABLE proj.ds.t; --",
    "proj.ds.t` UNION ALL SELECT * FROM `other.secret.table",
    "proj.ds.`t`", "proj.ds.t --", "proj.ds.t\nSELECT 1", "proj.ds.t;", "proj.ds", "proj.ds.t'", 'proj.ds."t"',
])
def test_hostile_bigquery_table_names_never_reach_a_query(monkeypatch, table):
    def no_client(*args, **kwargs):
        raise AssertionError("a BigQuery client was created for a hostile table name")
    monkeypatch.setattr(gcp_bigquery.bigquery, "Client", no_client)
    with pytest.raises(ConfigError, match=r"BigQuery billing table .*: expected 'project\.dataset\.table'"):
        gcp_bigquery.read_billing_day(table, dt.date(2024, 3, 5), by="usage")


def test_bigquery_day_is_a_query_parameter_not_query_text(monkeypatch):
    asked: list[tuple[str, object]] = []

    class Client:
        def __init__(self, **kwargs):
            pass

        def query_and_wait(self, sql, job_config):
            asked.append((sql, job_config))
            raise gcp_bigquery.api_exceptions.NotFound("stop here")

    monkeypatch.setattr(gcp_bigquery.bigquery, "Client", Client)
    with pytest.raises(InputFormatError):
        gcp_bigquery.read_billing_day("billing-proj.billing_ds.gcp_billing_export_v1_X", dt.date(2024, 3, 5), by="usage")
    [(sql, config)] = asked
    assert sql == ("SELECT * FROM `billing-proj.billing_ds.gcp_billing_export_v1_X` "
                   "WHERE usage_start_time >= @start AND usage_start_time < @end")
    assert "2024" not in sql
    params = {p.name: (p.type_, p.value) for p in config.query_parameters}
    assert params == {"start": ("TIMESTAMP", dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)),
                      "end": ("TIMESTAMP", dt.datetime(2024, 3, 6, tzinfo=dt.timezone.utc))}


# --- per-team bundles ------------------------------------------------------------------------------------------

def test_a_team_bundle_holds_none_of_another_teams_rows(tmp_path, capsys):
    ledger = ledger_rows([
        {"ResourceId": "i-research-0001", "x_Project": "llm-train", "x_Team": "research"},
        {"ResourceId": "i-research-0002", "x_Project": "llm-train", "x_Team": "research", "x_InstanceType": "g5.xlarge",
         "x_GpuModel": "A10G", "x_GpuCount": 1.0, "x_ItEnergyKwh": 0.3},
        {"ResourceId": "i-vision-0003", "x_Project": "vision-secret-proj", "x_Team": "vision", "BilledCost": 777.77,
         "x_SubAccountName": "vision-acct-xyz"},
        {"ResourceId": "i-nobody-0004", "x_Project": "orphan-proj", "x_Team": None},
        non_energy(ResourceId="tax-line-0005", ChargeCategory="Tax", BilledCost=3.1, x_UsageHours=None, x_InstanceType=None,
                   x_EstimateBasis="non_usage", x_Project=None, x_Team=None),
    ])
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    ledger.to_parquet(ledger_dir / "ledger.parquet")
    bundle = tmp_path / "bundle"
    assert main(["-q", "report", "--ledger", str(ledger_dir), "--out", str(bundle), "--team", "research"]) == 0
    capsys.readouterr()
    written = sorted(p for p in bundle.rglob("*") if p.is_file())
    assert {"report.html", "by_project.csv", "by_team.csv", "recommendations.csv"} <= {p.name for p in written}
    foreign = ["i-vision-0003", "vision-secret-proj", "777.77", "i-nobody-0004", "orphan-proj", "tax-line-0005"]
    for path in written:
        if path.suffix in (".html", ".csv", ".json", ".md"):
            text = path.read_text(encoding="utf-8")
            assert [f for f in foreign if f in text] == [], path
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            assert [f for f in foreign if frame.astype(str).isin([f]).any().any()] == [], path
    by_team = pd.read_csv(bundle / "by_team.csv")
    assert set(by_team["team"].dropna()) == {"research"}
    research = ledger[ledger["x_Team"] == "research"]
    assert pd.read_csv(bundle / "by_project.csv")["cost"].sum() == pytest.approx(research["BilledCost"].sum())
