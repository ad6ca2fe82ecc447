"""S3 billing deliveries against a local moto server (legacy CUR, Data Exports, restatements, errors), and
duplicate deliveries among local paths (``discover``)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from conftest import assert_ties_out, decimal_total, raw_rows

from carbonledger.errors import ConfigError, InputFormatError
from connectors import read_billing
from connectors.discover import billing_files, discover
from connectors.s3_delivery import (
    DATA_EXPORTS,
    LEGACY_CUR,
    S3DeliveryError,
    S3Location,
    changed_periods,
    discover_deliveries,
    fetch_deliveries,
    load_state,
    s3_client,
)

pytestmark = pytest.mark.usefixtures("aws_env")   # conftest: test credentials, no profile or config file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
KOKU_2000 = FIXTURES / "aws_cur_legacy_koku-local-1_first2000rows.csv"
KOKU_NOK = FIXTURES / "aws_cur_legacy_2023-06-01_koku.csv"
KOKU_MANIFEST = FIXTURES / "aws_cur_legacy_Manifest_koku-local.json"
FOCUS_1000 = FIXTURES / "focus_1.0_sample_1000rows.csv"
REPORT = "koku-local"
JUNE, JULY = "20180601-20180701", "20180701-20180801"
OLD_JULY, NEW_JULY = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
JUNE_ASSEMBLY = "16e57707-f9e3-49be-8be6-b84e684b5194"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"



def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def csv_rows(path: Path, start: int, stop: int) -> bytes:
    """The header and data rows [start, stop) of a CSV fixture, as bytes."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0], *rows[1 + start:1 + stop]])
    return out.getvalue().encode("utf-8")


def put_legacy(client, bucket: str, period: str, assembly: str, parts: list[bytes], *, prefix: str = "cur",
               relative_keys: bool = False) -> list[str]:
    """A legacy CUR delivery: gzip parts in the assembly folder, its manifest, and the period-level manifest.

    ``relative_keys`` writes ``reportKeys`` as the koku sample does (``/report/...``, relative to the prefix).
    """
    manifest = json.loads(KOKU_MANIFEST.read_text())
    start, end = period.split("-")
    keys = [f"{prefix}/{REPORT}/{period}/{assembly}/{REPORT}-{n}.csv.gz" for n in range(1, len(parts) + 1)]
    for key, body in zip(keys, parts):
        client.put_object(Bucket=bucket, Key=key, Body=gz(body))
    manifest.update(assemblyId=assembly, bucket=bucket,
                    billingPeriod={"start": f"{start}T000000.000Z", "end": f"{end}T000000.000Z"},
                    reportKeys=["/" + k.removeprefix(f"{prefix}/") for k in keys] if relative_keys else keys)
    body = json.dumps(manifest).encode()
    client.put_object(Bucket=bucket, Key=f"{prefix}/{REPORT}/{period}/{assembly}/{REPORT}-Manifest.json", Body=body)
    client.put_object(Bucket=bucket, Key=f"{prefix}/{REPORT}/{period}/{REPORT}-Manifest.json", Body=body)
    return keys


def legacy_two_months(client, bucket: str) -> None:
    put_legacy(client, bucket, JUNE, JUNE_ASSEMBLY, [KOKU_2000.read_bytes()], relative_keys=True)
    put_legacy(client, bucket, JULY, OLD_JULY, [KOKU_NOK.read_bytes()])


def raw_total(path: Path, start: int = 0, stop: int | None = None, column: str = "lineItem/UnblendedCost") -> Decimal:
    return decimal_total(r[column] for r in raw_rows(path)[start:stop])


def test_legacy_two_billing_periods(client, bucket, tmp_path):
    legacy_two_months(client, bucket)
    client.put_object(Bucket=bucket, Key="cur/koku-local/koku-local/year=2018/month=6/x.snappy.parquet", Body=b"athena")
    fetched = fetch_deliveries(f"s3://{bucket}/cur", tmp_path / "cache", client=client)

    assert [(d.layout, d.period_key, d.assembly_id) for d in fetched.deliveries] == [
        (LEGACY_CUR, "cur/koku-local/2018-06", JUNE_ASSEMBLY), (LEGACY_CUR, "cur/koku-local/2018-07", OLD_JULY)]
    june, july = fetched.deliveries
    assert june.data_keys == (f"cur/koku-local/{JUNE}/{JUNE_ASSEMBLY}/koku-local-1.csv.gz",)
    assert june.files == (tmp_path / "cache" / bucket / june.data_keys[0],)
    assert gzip.decompress(june.files[0].read_bytes()) == KOKU_2000.read_bytes()
    assert july.manifest["reportName"] == REPORT and july.manifest["billingPeriod"]["start"] == "20180701T000000.000Z"
    assert july.manifest_key == f"cur/koku-local/{JULY}/koku-local-Manifest.json"
    assert sorted(fetched.downloaded) == sorted([june.manifest_key, *june.data_keys, july.manifest_key, *july.data_keys])
    assert fetched.changed == ["cur/koku-local/2018-06", "cur/koku-local/2018-07"]

    state = json.loads(fetched.state_path.read_text())
    assert fetched.state_path == tmp_path / "cache" / "_state" / bucket / "cur" / "deliveries.json"
    assert state["periods"]["cur/koku-local/2018-07"]["assembly_id"] == OLD_JULY
    assert state["periods"]["cur/koku-local/2018-07"]["manifest_etag"] == july.manifest_etag
    assert state["periods"]["cur/koku-local/2018-07"]["delivered_at"] == july.delivered_at
    assert load_state(tmp_path / "cache", f"s3://{bucket}/cur") == fetched.state


def test_end_to_end_read_ties_out(client, bucket, tmp_path):
    legacy_two_months(client, bucket)
    fetched = fetch_deliveries(S3Location(bucket, "cur"), tmp_path, client=client)
    result = read_billing(fetched.files)
    assert result.files == [str(f) for f in fetched.files]
    assert result.inputs.rows == 2000 + 3 and len(result.billing) == 2003 and result.quarantine.empty
    assert result.inputs.cost_by_currency == {"USD": raw_total(KOKU_2000), "NOK": raw_total(KOKU_NOK)}
    assert result.inputs.cost("NOK") == Decimal(30)
    assert_ties_out(result)


def test_restatement_replaces_the_month(client, bucket, tmp_path):
    legacy_two_months(client, bucket)
    cache = tmp_path / "cache"
    first = fetch_deliveries(f"s3://{bucket}/cur", cache, client=client)
    old_july_file = first.deliveries[1].files[0]
    before = load_state(cache, f"s3://{bucket}/cur")

    # July is re-delivered (create-new mode: the old assembly's objects stay in the bucket).
    put_legacy(client, bucket, JULY, NEW_JULY, [csv_rows(KOKU_2000, 0, 60), csv_rows(KOKU_2000, 60, 100)])
    assert changed_periods(before, discover_deliveries(f"s3://{bucket}/cur", client=client)) == ["cur/koku-local/2018-07"]

    second = fetch_deliveries(f"s3://{bucket}/cur", cache, client=client)
    assert second.changed == ["cur/koku-local/2018-07"]
    june, july = second.deliveries
    assert july.assembly_id == NEW_JULY and [f.name for f in july.files] == ["koku-local-1.csv.gz", "koku-local-2.csv.gz"]
    assert all(NEW_JULY in str(f) for f in july.files)
    assert june.files == first.deliveries[0].files
    assert sorted(second.downloaded) == sorted([july.manifest_key, *july.data_keys])   # June is not fetched again
    assert second.removed == (old_july_file,) and not old_july_file.exists()
    assert load_state(cache, f"s3://{bucket}/cur")["cur/koku-local/2018-07"]["assembly_id"] == NEW_JULY
    assert load_state(cache, f"s3://{bucket}/cur")["cur/koku-local/2018-06"] == before["cur/koku-local/2018-06"]

    result = read_billing(second.files)
    assert result.inputs.rows == 2000 + 100
    assert result.inputs.cost_by_currency == {"USD": raw_total(KOKU_2000) + raw_total(KOKU_2000, 0, 100)}
    assert_ties_out(result)
    # The cache read as a directory (local discovery through the cached period-level manifests) agrees.
    assert read_billing([cache / bucket]).inputs == result.inputs


def test_same_delivery_twice_changes_nothing(client, bucket, tmp_path):
    legacy_two_months(client, bucket)
    first = fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    stamps = {f: f.stat().st_mtime_ns for f in first.files}
    state_text = first.state_path.read_text()

    again = fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    assert again.downloaded == () and again.removed == () and again.changed == []
    assert again.files == first.files and again.deliveries == first.deliveries
    assert {f: f.stat().st_mtime_ns for f in again.files} == stamps
    assert again.state_path.read_text() == state_text

    # A lost state record: the cache is still trusted where the simple ETag is the file's MD5.
    first.state_path.unlink()
    rebuilt = fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    assert rebuilt.downloaded == () and rebuilt.changed == ["cur/koku-local/2018-06", "cur/koku-local/2018-07"]


def test_changed_cached_object_is_downloaded_again(client, bucket, tmp_path):
    legacy_two_months(client, bucket)
    first = fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    june_file = first.deliveries[0].files[0]
    june_file.write_bytes(b"x" * june_file.stat().st_size)           # same size, other bytes
    first.state_path.unlink()
    again = fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    assert again.downloaded == (first.deliveries[0].data_keys[0],)
    assert gzip.decompress(june_file.read_bytes()) == KOKU_2000.read_bytes()


def put_export(client, bucket: str, name: str, period: str, execution: str, parts: list[bytes]) -> list[str]:
    keys = [f"exports/{name}/data/BILLING_PERIOD={period}/{name}-{n:05d}.csv.gz" for n in range(1, len(parts) + 1)]
    for key, body in zip(keys, parts):
        client.put_object(Bucket=bucket, Key=key, Body=gz(body))
    manifest = {"executionId": execution, "exportArn": f"arn:aws:bcm-data-exports:us-east-1:111122223333:export/{name}",
                "columns": [{"name": "BilledCost", "type": "decimal"}],
                "dataFiles": [f"s3://{bucket}/{k}" for k in keys]}
    client.put_object(Bucket=bucket, Key=f"exports/{name}/metadata/BILLING_PERIOD={period}/{name}-Manifest.json",
                      Body=json.dumps(manifest).encode())
    return keys


def test_data_exports_layout(client, bucket, tmp_path):
    # An earlier execution's part (overwrite mode leaves a stale higher-numbered part) is not listed: not read.
    client.put_object(Bucket=bucket, Key="exports/focus/data/BILLING_PERIOD=2024-05/focus-00003.csv.gz",
                      Body=gz(csv_rows(FOCUS_1000, 0, 10)))
    keys = put_export(client, bucket, "focus", "2024-05", "exec-2",
                      [csv_rows(FOCUS_1000, 0, 600), csv_rows(FOCUS_1000, 600, 1000)])
    fetched = fetch_deliveries(f"s3://{bucket}/exports", tmp_path, client=client)

    (delivery,) = fetched.deliveries
    assert (delivery.layout, delivery.period_key, delivery.assembly_id) == (DATA_EXPORTS, "exports/focus/2024-05", "exec-2")
    assert delivery.data_keys == tuple(keys)
    assert delivery.manifest["exportArn"].endswith(":export/focus")
    result = read_billing(fetched.files, "focus")
    assert result.inputs.rows == 1000 and len(result.billing) == 1000
    assert result.inputs.cost_by_currency == {"USD": raw_total(FOCUS_1000, column="BilledCost")}
    assert result.inputs.cost("USD") == Decimal("20.52022672899")
    assert_ties_out(result)

    # A local copy of the bucket, stale part included, reads the same through the Data Exports manifest.
    mirror = tmp_path / "mirror"
    shutil.copytree(tmp_path / bucket, mirror / bucket)
    stale = mirror / bucket / "exports/focus/data/BILLING_PERIOD=2024-05/focus-00003.csv.gz"
    stale.write_bytes(gz(csv_rows(FOCUS_1000, 0, 10)))
    found = discover([mirror])
    assert found.files == [mirror / bucket / k for k in keys]
    assert [s.path for s in found.skipped] == [stale]
    assert read_billing([mirror], "focus").inputs == result.inputs

    put_export(client, bucket, "focus", "2024-05", "exec-3", [csv_rows(FOCUS_1000, 0, 1000)])
    restated = fetch_deliveries(f"s3://{bucket}/exports", tmp_path, client=client)
    assert restated.changed == ["exports/focus/2024-05"] and restated.deliveries[0].assembly_id == "exec-3"
    assert [f.name for f in restated.files] == ["focus-00001.csv.gz"]
    assert restated.removed == (tmp_path / bucket / keys[1],)
    assert read_billing(restated.files, "focus").inputs == result.inputs


def test_create_new_exports_take_the_latest_execution(client, bucket):
    for execution in ("exec-a", "exec-b"):
        key = f"x/cur2/data/BILLING_PERIOD=2024-06/{execution}/cur2-00001.csv.gz"
        client.put_object(Bucket=bucket, Key=key, Body=gz(csv_rows(FOCUS_1000, 0, 5)))
        manifest = {"executionId": execution, "dataFiles": [f"s3://{bucket}/{key}"]}
        client.put_object(Bucket=bucket, Key=f"x/cur2/metadata/BILLING_PERIOD=2024-06/{execution}/cur2-Manifest.json",
                          Body=json.dumps(manifest).encode())
    (delivery,) = discover_deliveries(f"s3://{bucket}/x", client=client)
    assert delivery.assembly_id == "exec-b" and delivery.data_keys == ("x/cur2/data/BILLING_PERIOD=2024-06/exec-b/cur2-00001.csv.gz",)


def test_manifest_with_missing_objects(client, bucket, tmp_path):
    keys = put_legacy(client, bucket, JUNE, JUNE_ASSEMBLY, [KOKU_NOK.read_bytes(), KOKU_NOK.read_bytes()])
    client.delete_object(Bucket=bucket, Key=keys[1])
    with pytest.raises(InputFormatError) as err:
        fetch_deliveries(f"s3://{bucket}/cur", tmp_path, client=client)
    message = str(err.value)
    assert message.startswith(f"s3://{bucket}/cur/koku-local/{JUNE}/koku-local-Manifest.json, column 'reportKeys': ")
    assert f"lists 1 object(s) missing from bucket {bucket!r}: {keys[1]};" in message
    assert keys[0] not in message


def test_export_manifest_naming_another_bucket(client, bucket):
    manifest = {"executionId": "e", "dataFiles": ["s3://elsewhere/f/data/BILLING_PERIOD=2024-05/f-00001.csv.gz"]}
    client.put_object(Bucket=bucket, Key="f/metadata/BILLING_PERIOD=2024-05/f-Manifest.json", Body=json.dumps(manifest))
    with pytest.raises(InputFormatError, match=f"is not an object of bucket '{bucket}'"):
        discover_deliveries(f"s3://{bucket}", client=client)


def test_missing_bucket(client):
    with pytest.raises(InputFormatError) as err:
        discover_deliveries("s3://no-such-billing-bucket/cur", client=client)
    assert str(err.value) == ("s3://no-such-billing-bucket/cur: no such bucket 'no-such-billing-bucket' (check the "
                              "bucket name and that it belongs to the account of the credentials)")


@contextmanager
def moto_auth_enabled(endpoint: str) -> Iterator[None]:
    """The moto server enforces IAM authentication and authorisation while inside."""
    def post(value: str) -> None:
        request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=value.encode(), method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request).read()
    post("0")
    try:
        yield
    finally:
        post("inf")


def test_access_denied_names_bucket_not_secrets(endpoint, bucket):
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    denied = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                   region_name="us-east-1").client("s3", endpoint_url=endpoint)
    unknown = boto3.session.Session(aws_access_key_id="AKIAUNKNOWNUNKNOWN00", aws_secret_access_key=SECRET,
                                    region_name="us-east-1").client("s3", endpoint_url=endpoint)
    with moto_auth_enabled(endpoint):
        with pytest.raises(ConfigError) as refused:
            discover_deliveries(f"s3://{bucket}/cur", client=denied)
        with pytest.raises(ConfigError) as invalid:
            discover_deliveries(f"s3://{bucket}/cur", client=unknown)
    assert str(refused.value).startswith(f"s3://{bucket}/cur: access denied (AccessDenied) while listing objects; "
                                         f"the identity needs s3:ListBucket on bucket {bucket!r}")
    assert str(invalid.value).startswith(f"s3://{bucket}/cur: AWS refused the credentials (InvalidAccessKeyId)")
    for message in (str(refused.value), str(invalid.value)):
        for secret in (key["AccessKeyId"], key["SecretAccessKey"], "AKIAUNKNOWNUNKNOWN00", SECRET):
            assert secret not in message


def test_expired_credentials_message():
    client = s3_client(endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", service_error_code="ExpiredToken", http_status_code=400,
                              service_message=f"The provided token has expired. {SECRET}")
        with pytest.raises(ConfigError) as err:
            discover_deliveries("s3://billing/cur", client=client)
    assert str(err.value) == ("s3://billing/cur: AWS refused the credentials (ExpiredToken) while listing objects; "
                              "refresh them (new session token, 'aws sso login') or check the profile")


def test_client_retries_in_standard_mode_then_fails_clearly():
    assert s3_client().meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    with socket.socket() as sock:                                   # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = s3_client(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2)
    with pytest.raises(S3DeliveryError, match=r"^s3://billing/cur: S3 could not be reached while listing objects, "
                                              r"retries exhausted \(EndpointConnectionError\)$"):
        discover_deliveries("s3://billing/cur", client=client)


def test_location_parsing():
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    assert str(S3Location.parse("s3://bucket")) == "s3://bucket"
    with pytest.raises(ConfigError, match="expected s3://bucket/prefix"):
        S3Location.parse("/local/path")


# Duplicate deliveries among local paths (discover).

def test_same_file_twice_and_byte_identical_copies(tmp_path):
    original = tmp_path / "a" / "export.csv"
    original.parent.mkdir()
    shutil.copy(KOKU_NOK, original)
    copy = tmp_path / "b" / "renamed.csv"
    copy.parent.mkdir()
    shutil.copy(KOKU_NOK, copy)
    text = KOKU_NOK.read_text()
    same_size = tmp_path / "b" / "other.csv"                         # same length, one digit different
    same_size.write_text(text.replace("10,", "11,", 1))
    assert same_size.stat().st_size == original.stat().st_size and same_size.read_text() != text

    found = discover([original, original, tmp_path / "b"])
    assert found.files == [original, same_size]
    assert [(s.path, s.reason) for s in found.skipped] == [
        (original, f"given more than once (as {original})"),
        (copy, f"byte-identical to {original} (a duplicate delivery)"),
    ]
    assert billing_files([original, copy]) == [original]
    result = read_billing([original, copy, original])
    assert result.inputs.rows == 3 and result.inputs.cost("NOK") == Decimal(30)


def local_delivery(root: Path, assembly: str, body: Path) -> Path:
    """A legacy CUR period folder with one assembly; returns that assembly's own manifest."""
    folder = root / REPORT / JUNE / assembly
    folder.mkdir(parents=True)
    shutil.copy(body, folder / f"{REPORT}-1.csv")
    manifest = {"assemblyId": assembly, "reportName": REPORT, "billingPeriod": {"start": "20180601T000000.000Z"},
                "reportKeys": [f"{REPORT}/{JUNE}/{assembly}/{REPORT}-1.csv"]}
    (folder / f"{REPORT}-Manifest.json").write_text(json.dumps(manifest))
    (root / REPORT / JUNE / f"{REPORT}-Manifest.json").write_text(json.dumps(manifest))   # the period-level "latest"
    return folder / f"{REPORT}-Manifest.json"


def test_older_assembly_beside_newer_manifest(tmp_path):
    old_manifest = local_delivery(tmp_path, "old", KOKU_2000)
    new_manifest = local_delivery(tmp_path, "new", KOKU_NOK)       # rewrites the period-level manifest
    latest = tmp_path / REPORT / JUNE / f"{REPORT}-Manifest.json"
    old_part, new_part = old_manifest.with_name(f"{REPORT}-1.csv"), new_manifest.with_name(f"{REPORT}-1.csv")

    found = discover([tmp_path, old_manifest, old_part])
    assert found.files == [new_part]
    assert [(s.path, s.reason) for s in found.skipped] == [
        (old_manifest, f"assembly old of report 'koku-local' is superseded by the latest manifest {latest} (assembly new)"),
        (old_part, f"part of an older delivery of report 'koku-local': not listed by the latest manifest {latest} "
                   "(assembly new)"),
        (old_part, f"part of an older delivery of report 'koku-local': not listed by the latest manifest {latest} "
                   "(assembly new)"),
    ]
    assert read_billing([tmp_path, old_manifest]).inputs.cost_by_currency == {"NOK": Decimal(30)}
    # Alone, an assembly's own manifest is read: it is the delivery asked for.
    assert billing_files([old_manifest]) == [old_part]


def test_two_assemblies_without_a_latest_manifest_is_an_error(tmp_path):
    old_manifest = local_delivery(tmp_path, "old", KOKU_2000)
    new_manifest = local_delivery(tmp_path, "new", KOKU_NOK)
    with pytest.raises(InputFormatError, match=r"2 deliveries \(assemblyIds new, old\) of report 'koku-local'"):
        discover([old_manifest, new_manifest])


def test_missing_credentials_and_profile(monkeypatch, endpoint):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")             # no instance-role lookup over the network
    with pytest.raises(ConfigError, match=r"^s3://billing/cur: no AWS credentials found while listing objects"):
        discover_deliveries("s3://billing/cur", client=s3_client(endpoint_url=endpoint))
    with pytest.raises(ConfigError, match=r"^AWS profile 'finance' not found"):
        s3_client(profile="finance")


def test_configured_s3_source_is_fetched_into_its_cache_and_read(endpoint, client, bucket, tmp_path):
    from carbonledger.config import Config
    from carbonledger.engine import read_sources

    legacy_two_months(client, bucket)
    (tmp_path / "carbonledger.yaml").write_text(
        f"sources:\n  - path: s3://{bucket}/cur\n    format: aws-cur\n    endpoint_url: {endpoint}\n")
    config = Config.load(tmp_path / "carbonledger.yaml")
    [source] = config.sources
    assert source.name == "cur" and source.s3 is not None and source.path == tmp_path / ".carbonledger-cache/s3/cur"
    batch = read_sources(config.sources, config.project_tag_keys)
    assert batch.inputs.rows == len(raw_rows(KOKU_2000)) + len(raw_rows(KOKU_NOK))
    assert batch.inputs.cost("USD") == raw_total(KOKU_2000)
    assert all(Path(f).is_relative_to(source.path) for f in batch.files)
    again = read_sources(config.sources, config.project_tag_keys)            # cached: same rows, nothing new
    assert again.inputs == batch.inputs


def test_s3_only_keys_on_a_local_source_are_a_config_error(tmp_path):
    from carbonledger.config import Config
    from carbonledger.errors import ConfigError

    (tmp_path / "carbonledger.yaml").write_text("sources:\n  - path: exports\n    endpoint_url: http://x\n")
    with pytest.raises(ConfigError, match=r"sources\[0\] has endpoint_url, which only s3://, bigquery:// or azure:// sources take"):
        Config.load(tmp_path / "carbonledger.yaml")
