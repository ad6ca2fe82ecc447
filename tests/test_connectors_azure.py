"""Azure cost details connector: koku sample, EA/MCA/legacy fixtures, quarantine, locations, remote fetch, CLI."""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from azure.core.credentials import AccessToken

from carbonledger.cli import main
from carbonledger.controls import EXACT, ControlTotals, TieOut
from carbonledger.errors import InputFormatError
from connectors import detect_format, read_billing
from connectors.azure import CHARGE_CATEGORY_BY_CHARGE_TYPE
from connectors.azure_regions import location_regions, region_of_location
from connectors.azure_remote import AzureRemoteError, Connection, daily_costs, fetch_cost_details, fetch_export_files

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "billing"
AZURE = FIXTURES / "azure"
KOKU = FIXTURES / "azure_cost_details_v2_PascalCase_koku.csv"
EA_ACTUAL = AZURE / "ea_actual_2024-08-01.csv"
EA_AMORTIZED = AZURE / "ea_amortized_2024-08-01.csv"
MCA = AZURE / "mca_actual_camelCase.csv"
LEGACY = AZURE / "legacy_usage_schema.csv"
MALFORMED = AZURE / "ea_malformed.csv"
#: Fixture → (cost column, currency column) of its schema variant.
COST_COLUMNS = {
    KOKU: ("CostInBillingCurrency", "BillingCurrencyCode"), EA_ACTUAL: ("CostInBillingCurrency", "BillingCurrencyCode"),
    EA_AMORTIZED: ("CostInBillingCurrency", "BillingCurrencyCode"), MCA: ("costInBillingCurrency", "billingCurrency"),
    LEGACY: ("PreTaxCost", "Currency"),
}
FINOPS_REGIONS = FIXTURES / "azure_region_name_mapping_finops-toolkit_Regions.csv"


def raw_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def exact_costs(path: Path) -> dict[str, Decimal]:
    cost, currency = COST_COLUMNS[path]
    totals: dict[str, Decimal] = {}
    with localcontext(EXACT):
        for row in raw_rows(path):
            totals[row[currency]] = totals.get(row[currency], Decimal(0)) + Decimal(row[cost])
    return {k: v.normalize(EXACT) for k, v in totals.items()}


def assert_ties_out(result) -> None:
    tie = TieOut.of(result.inputs, ControlTotals.of(result.billing), ControlTotals.of(result.quarantine))
    assert tie.problems() == []


def by_row(result) -> pd.DataFrame:
    return result.billing.set_index("x_SourceRow")


# --- files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", list(COST_COLUMNS), ids=lambda p: p.name)
def test_every_sample_is_detected_read_whole_and_ties_out_exactly(path):
    assert detect_format(path) == "azure"
    result = read_billing([path])
    rows = raw_rows(path)
    assert result.inputs.rows == len(result.billing) == len(rows)
    assert result.quarantine.empty
    assert {k: v.normalize(EXACT) for k, v in result.inputs.cost_by_currency.items()} == exact_costs(path)
    assert (result.billing["ProviderName"] == "azure").all()
    assert (result.billing["x_SourceFormat"] == "azure").all()
    assert_ties_out(result)


def test_koku_sample_vm_row_and_locations():
    result = read_billing([KOKU])
    rows = by_row(result)
    vm = rows.loc[3]
    assert vm["x_InstanceType"] == "Standard_D4s_v3"  # AdditionalInfo.ServiceType
    assert vm["ConsumedQuantity"] == 220.0 and vm["ConsumedUnit"] == "Hours"  # 22 × '10 Hours'
    assert vm["x_UsageHours"] == 220.0
    assert vm["RegionId"] == "northcentralus"  # 'usnorth'
    assert vm["BilledCost"] == 3.455664 and vm["BillingCurrency"] == "MC"
    assert vm["ChargePeriodStart"] == pd.Timestamp("2020-09-11", tz="UTC")
    assert vm["ChargePeriodEnd"] == pd.Timestamp("2020-09-12", tz="UTC")
    assert vm["BillingPeriodStart"] == pd.Timestamp("2020-09-01", tz="UTC")
    assert vm["SubAccountId"] == "7269128e-efae-4646-a2d7-8b3fec4751fb"
    assert vm["x_Project"] == "account:Openshift"
    assert vm["ServiceName"] == "Virtual Machines" and vm["SkuId"] == "f48cba03-db89-4cec-9536-67f7f4e5515f"
    assert rows.loc[2, "ChargeCategory"] == "Purchase" and rows.loc[2, "RegionId"] == "global"  # 'Unassigned'
    # Disk operations: a bare block '100000000' multiplies the quantity and leaves no unit.
    assert rows.loc[4, "ConsumedQuantity"] == pytest.approx(574_800_000.0)
    assert pd.isna(rows.loc[4, "ConsumedUnit"]) and pd.isna(rows.loc[4, "x_InstanceType"])
    # 'Virtual Machines Licenses' is not VM usage, even in hours.
    assert pd.isna(rows.loc[5, "x_InstanceType"]) and pd.isna(rows.loc[5, "x_UsageHours"])


def test_ea_actual_golden():
    rows = by_row(read_billing([EA_ACTUAL]))
    expected = {
        # row: (category, region, instance, usage hours, billed, effective, project, workload)
        1: ("Usage", "westeurope", "Standard_ND96asr_v4", 24.0, 765.6, 765.6, "llm-pretrain", "training"),
        2: ("Usage", "eastus2", "Standard_NC24ads_A100_v4", 24.0, 0.0, 0.0, "chat-serving", "inference"),
        3: ("Purchase", None, "Standard_NC24ads_A100_v4", None, 19800.0, 0.0, "account:ml-research-prod", None),
        4: ("Credit", None, "Standard_D8s_v5", None, -1234.56, -1234.56, "account:ml-research-prod", None),
        5: ("Usage", "westeurope", "Standard_D4_v3", 24.0, 4.608, 4.608, "account:ml-research-prod", None),
        6: ("Usage", "westeurope", None, None, 4.501161, 4.501161, "llm-pretrain", None),
        7: ("Usage", "westeurope", "Standard_ND96isr_H100_v5", 5.0, 110.0, 110.0, "llm-pretrain", "training"),
        8: ("Adjustment", None, None, None, 0.01, 0.01, "account:ml-research-prod", None),
    }
    assert sorted(rows.index) == sorted(expected)
    for row, (category, region, instance, hours, billed, effective, project, workload) in expected.items():
        got = rows.loc[row]
        assert got["ChargeCategory"] == category, row
        assert (None if pd.isna(got["RegionId"]) else got["RegionId"]) == region, row
        assert (None if pd.isna(got["x_InstanceType"]) else got["x_InstanceType"]) == instance, row
        assert (None if pd.isna(got["x_UsageHours"]) else got["x_UsageHours"]) == hours, row
        assert got["BilledCost"] == billed and got["EffectiveCost"] == effective, row
        assert got["x_Project"] == project, row
        assert (None if pd.isna(got["x_WorkloadClass"]) else got["x_WorkloadClass"]) == workload, row
        assert got["BillingCurrency"] == "EUR" and got["SubAccountId"] == "3f2c9a10-5b7e-4d21-9c8a-1e0f6a2b7c44"
    # Tags without braces become a JSON object; M/D/YYYY dates parse; '1/Month' is a block of 1.
    assert json.loads(rows.loc[1, "Tags"]) == {"project": "llm-pretrain", "team": "research", "workload-class": "training"}
    assert rows.loc[1, "x_Team"] == "research"
    assert rows.loc[5, "ChargePeriodStart"] == pd.Timestamp("2026-11-04", tz="UTC")
    assert rows.loc[5, "ConsumedQuantity"] == 24.0 and rows.loc[5, "ConsumedUnit"] == "Hours"  # 2.4 × '10 Hours'
    assert rows.loc[6, "ConsumedUnit"] == "Month"
    assert rows.loc[7, "ConsumedQuantity"] == 5.0  # 0.05 × '100 Hours', Spot suffix dropped from the size
    assert rows.loc[1, "ResourceId"].endswith("/virtualMachines/trainer-0")
    assert rows.loc[1, "BillingAccountId"] == "81234567"
    assert rows.loc[1, "BillingPeriodStart"] == pd.Timestamp("2026-11-01", tz="UTC")


def test_ea_amortized_unused_commitments_are_usage_without_hours():
    rows = by_row(read_billing([EA_AMORTIZED]))
    assert rows.loc[1, "BilledCost"] == 54.24 and rows.loc[1, "x_UsageHours"] == 24.0  # amortised reservation usage
    unused_ri, unused_sp = rows.loc[2], rows.loc[3]
    assert unused_ri["ChargeCategory"] == "Usage" and pd.isna(unused_ri["x_UsageHours"])
    assert unused_ri["x_InstanceType"] == "Standard_NC24ads_A100_v4"
    assert unused_sp["ChargeCategory"] == "Usage" and unused_sp["BilledCost"] == 4.5 and pd.isna(unused_sp["x_UsageHours"])
    assert rows.loc[4, "EffectiveCost"] == 3.1104 and rows.loc[4, "x_UsageHours"] == 24.0  # savings-plan usage
    assert rows["x_UsageHours"].sum() == 72.0


def test_mca_camel_case():
    rows = by_row(read_billing([MCA]))
    vm = rows.loc[1]
    assert vm["x_InstanceType"] == "Standard_NC4as_T4_v3" and vm["x_UsageHours"] == 24.0  # '1/Hour'
    assert vm["RegionId"] == "eastus2"  # 'EastUS2'
    assert vm["ChargePeriodStart"] == pd.Timestamp("2026-11-02", tz="UTC")
    assert vm["BilledCost"] == 12.624 and vm["BillingCurrency"] == "USD"
    assert vm["x_Project"] == "search-ranking" and vm["x_WorkloadClass"] == "inference"
    assert vm["ResourceId"].endswith("/virtualMachines/t4-serve-0")  # InstanceName
    assert vm["ChargeDescription"] == "Virtual Machines NCasT4 v3 Series - NC4as T4 v3 - US East 2"
    assert rows.loc[2, "ConsumedUnit"] == "GB" and pd.isna(rows.loc[2, "x_UsageHours"])
    assert rows.loc[3, "ChargeCategory"] == "Tax" and rows.loc[3, "x_Project"] == "account:inference-us"


def test_legacy_usage_schema():
    rows = by_row(read_billing([LEGACY]))
    vm = rows.loc[1]
    assert vm["ChargeCategory"] == "Usage" and vm["RegionId"] == "eastus"
    assert vm["x_InstanceType"] == "Standard_NC6s_v3" and vm["x_UsageHours"] == 12.0
    assert vm["BilledCost"] == 36.72 and vm["BillingCurrency"] == "USD"
    assert vm["SubAccountId"] == "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f"
    assert vm["ResourceId"].endswith("/virtualMachines/v100-0")  # InstanceId
    assert vm["x_Project"] == "vision-v1"
    assert rows.loc[2, "ConsumedUnit"] == "GB/Month" and pd.isna(rows.loc[2, "Tags"])


def test_malformed_rows_are_quarantined_with_reasons_and_tie_out():
    result = read_billing([MALFORMED])
    assert result.inputs.rows == 8
    assert sorted(result.billing["x_SourceRow"]) == [1, 8]
    reasons = result.quarantine.set_index("x_SourceRow")["x_Reason"].to_dict()
    assert reasons == {
        2: "Date: '31/11/2026' is not a date (expected MM/DD/YYYY or YYYY-MM-DD, optionally with a time)",
        3: "CostInBillingCurrency: '4,608' is not a number",
        4: "ChargeType: 'Discount' is not a known charge type (expected one of "
           + ", ".join(CHARGE_CATEGORY_BY_CHARGE_TYPE) + ")",
        5: "Tags: '\"project\": \"llm-pretrain\", \"team\"' is not a JSON object (expected '{\"key\": \"value\"}', braces optional)",
        6: "BillingCurrencyCode: empty",
        7: "row has 4 fields but the header has 57 (expected one field per header column)",
    }
    raw = json.loads(result.quarantine.set_index("x_SourceRow").loc[4, "x_RawRecord"])
    assert raw["ChargeType"] == "Discount" and raw["CostInBillingCurrency"] == "4.608"
    assert result.inputs.cost("EUR") == Decimal("23.04")  # rows 1, 2, 4, 5, 8; row 3 unreadable
    assert result.inputs.cost("?") == Decimal("4.608")  # row 6 has no currency
    assert_ties_out(result)


def test_hourly_export_rows_last_one_hour(tmp_path):
    path = tmp_path / "hourly.csv"
    path.write_text(
        "Date,CostInBillingCurrency,BillingCurrencyCode,ChargeType,MeterCategory,MeterName,UnitOfMeasure,Quantity\n"
        "2026-11-03 00:00:00,3.1,USD,Usage,Virtual Machines,ND96isr H100 v5,1 Hour,1\n"
        "2026-11-03 01:00:00,3.1,USD,Usage,Virtual Machines,ND96isr H100 v5,1 Hour,1\n",
        encoding="utf-8-sig",  # with a BOM, as some exports are
    )
    rows = by_row(read_billing([path]))
    assert rows.loc[2, "ChargePeriodStart"] == pd.Timestamp("2026-11-03 01:00", tz="UTC")
    assert rows.loc[2, "ChargePeriodEnd"] == pd.Timestamp("2026-11-03 02:00", tz="UTC")
    assert (rows["x_InstanceType"] == "Standard_ND96isr_H100_v5").all() and rows["x_UsageHours"].sum() == 2.0


def test_meter_name_trap_and_size_casing(tmp_path):
    path = tmp_path / "meters.csv"
    path.write_text(
        "Date,Cost,BillingCurrency,ChargeType,MeterCategory,MeterName,UnitOfMeasure,Quantity,AdditionalInfo\n"
        "09/21/2023,1,USD,Usage,Virtual Machines,ND96asr A100 v4,1 Hour,2,\n"
        "9/2/2023,1,USD,Usage,Virtual Machines,NC6 Low Priority,1 Hour,3,\n"
        '9/2/2023,1,USD,Usage,Virtual Machines,x,1 Hour,4,"""ServiceType"": ""standard_nd96isr_mi300x_v5"""\n'
    )
    rows = by_row(read_billing([path]))
    assert rows["x_InstanceType"].tolist() == ["Standard_ND96asr_v4", "Standard_NC6", "Standard_ND96isr_MI300X_v5"]
    assert rows["x_UsageHours"].tolist() == [2.0, 3.0, 4.0]
    assert rows.loc[2, "ChargePeriodStart"] == pd.Timestamp("2023-09-02", tz="UTC")


def test_missing_required_column_names_file_and_aliases(tmp_path):
    path = tmp_path / "no_cost.csv"
    path.write_text("Date,MeterCategory,BillingCurrency\n2026-11-01,Storage,USD\n")
    with pytest.raises(InputFormatError) as error:
        read_billing([path])
    assert "no_cost.csv" in str(error.value)
    assert "Cost: one of CostInBillingCurrency, Cost, PreTaxCost" in str(error.value)


# --- locations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling, region", [
    ("West Europe", "westeurope"), ("westeurope", "westeurope"), ("EU West", "westeurope"),
    ("europewest", "westeurope"), ("West_Europe", "westeurope"), ("US East 2", "eastus2"), ("EastUS2", "eastus2"),
    ("  east   us ", "eastus"), ("usnorth", "northcentralus"), ("JA East", "japaneast"),
    ("CH North", "switzerlandnorth"), ("North Central US", "northcentralus"),
    ("Mars Base 1", "marsbase1"),  # unknown: kept, lowercased without spaces
])
def test_location_spellings(spelling, region):
    assert region_of_location(spelling) == region


def test_location_table_has_sources_and_covers_intensity_regions():
    table = pd.read_csv(Path(__file__).resolve().parents[1] / "connectors" / "data" / "azure_locations.csv", dtype=str)
    assert list(table.columns) == ["location", "region", "source"]
    assert table["source"].str.contains("finops-toolkit").all() and table["location"].is_unique
    intensity = pd.read_csv(Path(__file__).resolve().parents[1] / "intensity" / "data" / "regions.csv", dtype=str)
    azure_ids = set(intensity.loc[intensity["provider"] == "azure", "region"])
    assert azure_ids <= set(location_regions().values())


def test_bundled_location_table_is_what_the_script_builds():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_azure_locations.py"
    spec = importlib.util.spec_from_file_location("build_azure_locations", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(FINOPS_REGIONS)
    bundled = pd.read_csv(module.OUT, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(built.reset_index(drop=True), bundled)


# --- remote: a local fake of Cost Management and Blob Storage ---------------------------------

TOKEN = "FAKE-ARM-TOKEN-do-not-log"
SAS = "sv=2023-11-03&sr=b&sig=FAKE-SAS-SIGNATURE"
SCOPE = "/subscriptions/3f2c9a10-5b7e-4d21-9c8a-1e0f6a2b7c44"


class FakeCredential:
    """A TokenCredential handing out a fixed token, recording the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN + "-" + scopes[0].split("/")[2], int(time.time()) + 3600)


@dataclass
class FakeAzure:
    """Scripted responses per (method, path): each call takes the next one, the last one repeats."""

    url: str = ""
    routes: dict[tuple[str, str], list[tuple[int, dict, bytes]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def add(self, method: str, path: str, *responses: tuple[int, dict, bytes | dict | str]) -> None:
        encoded = []
        for status, headers, body in responses:
            if isinstance(body, dict):
                body, headers = json.dumps(body).encode(), {"Content-Type": "application/json", **headers}
            elif isinstance(body, str):
                body = body.encode()
            encoded.append((status, headers, body))
        self.routes[(method, path)] = encoded

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, handler.path, dict(handler.headers)))
        if handler.command == "POST":
            self.bodies.append(handler.rfile.read(int(handler.headers.get("Content-Length", 0))))
        queue = self.routes.get((handler.command, path))
        if not queue:
            status, headers, body = 404, {"Content-Type": "application/json"}, b'{"error": {"code": "NotFound"}}'
        else:
            status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def fake_azure():
    fake = FakeAzure()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fake.respond(self)

        def do_POST(self):
            fake.respond(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def connection(fake: FakeAzure, **kwargs) -> Connection:
    return Connection(credential=FakeCredential(), base_url=fake.url, poll_interval_s=0.01, timeout_s=30, **kwargs)


REPORT_PATH = SCOPE + "/providers/Microsoft.CostManagement/generateCostDetailsReport"
OPERATION_PATH = SCOPE + "/providers/Microsoft.CostManagement/costDetailsOperationResults/6f1c2d3e-op"


def script_report(fake: FakeAzure, parts: list[Path], *, status: str = "Completed") -> None:
    location = {"Location": fake.url + OPERATION_PATH + "?api-version=2025-03-01", "Retry-After": "0"}
    fake.add("POST", REPORT_PATH,
             (429, {"Retry-After": "0"}, {"error": {"code": "429", "message": "Too many requests"}}),
             (202, location, b""))
    blobs = []
    for n, part in enumerate(parts, start=1):
        blob_path = f"/ccmreportstorage/armreports/20261101/part{n}.csv"
        fake.add("GET", blob_path, (200, {"Content-Type": "text/csv"}, part.read_bytes()))
        blobs.append({"blobLink": f"{fake.url}{blob_path}?{SAS}", "byteCount": part.stat().st_size})
    done = {
        "id": OPERATION_PATH.lstrip("/"), "name": "6f1c2d3e-op", "status": status,
        "manifest": {"manifestVersion": "2022-05-01", "dataFormat": "Csv", "byteCount": sum(b["byteCount"] for b in blobs),
                     "blobCount": len(blobs), "compressData": False,
                     "requestContext": {"requestScope": SCOPE, "requestBody": {"metric": "ActualCost"}},
                     "blobs": blobs},
        "validTill": "2026-11-29T08:08:46.1973252Z",
    }
    fake.add("GET", OPERATION_PATH, (202, location, {"status": "InProgress"}), (200, {}, done))


def test_cost_details_report_polls_downloads_and_reads(fake_azure, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    parts = [EA_ACTUAL, MALFORMED]
    script_report(fake_azure, parts)
    files = fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path, connection=connection(fake_azure))
    assert [f.read_bytes() for f in files] == [p.read_bytes() for p in parts]
    assert files[0].name == "subscriptions_3f2c9a10-5b7e-4d21-9c8a-1e0f6a2b7c44_ActualCost_20261101-20261130_part1.csv"
    calls = [(method, urlsplit(path).path) for method, path, _ in fake_azure.requests]
    assert calls == [("POST", REPORT_PATH), ("POST", REPORT_PATH), ("GET", OPERATION_PATH), ("GET", OPERATION_PATH),
                     ("GET", "/ccmreportstorage/armreports/20261101/part1.csv"),
                     ("GET", "/ccmreportstorage/armreports/20261101/part2.csv")]
    for method, path, headers in fake_azure.requests:
        arm = not path.startswith("/ccmreportstorage")
        assert (headers.get("Authorization") == f"Bearer {TOKEN}-management.azure.com") == arm, path
    post_query = fake_azure.requests[0][1]
    assert "api-version=2025-03-01" in post_query
    result = read_billing(files)
    assert result.inputs.rows == 16 and len(result.quarantine) == 6
    assert_ties_out(result)
    logged = caplog.text
    assert TOKEN not in logged and "FAKE-SAS-SIGNATURE" not in logged


def test_cost_details_no_data_returns_no_files(fake_azure, tmp_path):
    script_report(fake_azure, [], status="NoDataFound")
    assert fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path,
                              metric="AmortizedCost", connection=connection(fake_azure)) == []


@pytest.mark.parametrize("status, words", [
    (401, "credential was not accepted"), (403, "Cost Management Reader"), (404, "check the scope"),
])
def test_cost_details_http_errors_are_clear(fake_azure, tmp_path, status, words):
    fake_azure.add("POST", REPORT_PATH, (status, {}, {"error": {"code": str(status), "message": "nope"}}))
    with pytest.raises(AzureRemoteError) as error:
        fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path, connection=connection(fake_azure))
    assert error.value.status == status
    assert f"cost details report for {SCOPE}" in str(error.value) and words in str(error.value)
    assert TOKEN not in str(error.value)


def test_throttling_is_retried_a_bounded_number_of_times_and_waits(fake_azure, tmp_path):
    fake_azure.add("POST", REPORT_PATH, (429, {"Retry-After": "3600"}, {"error": {"code": "429"}}))
    began = time.monotonic()
    with pytest.raises(AzureRemoteError, match="HTTP 429: still throttled"):
        fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path,
                           connection=connection(fake_azure, max_retries=2, max_wait_s=0.2))
    assert len(fake_azure.requests) == 3
    assert 0.4 <= time.monotonic() - began < 30  # two waits of Retry-After, capped at 0.2 s


def test_blob_download_errors_hide_the_sas_signature(fake_azure, tmp_path):
    script_report(fake_azure, [EA_ACTUAL])
    fake_azure.add("GET", "/ccmreportstorage/armreports/20261101/part1.csv", (403, {}, b"AuthorizationFailure"))
    with pytest.raises(AzureRemoteError) as error:
        fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path, connection=connection(fake_azure))
    assert "/ccmreportstorage/armreports/20261101/part1.csv: HTTP 403" in str(error.value)
    assert "sig=" not in str(error.value)


def test_tokens_never_go_to_a_plain_http_endpoint_that_is_not_loopback(tmp_path):
    remote = Connection(credential=FakeCredential(), base_url="http://cost.example.invalid", max_retries=0)
    with pytest.raises(AzureRemoteError, match="non-TLS"):
        fetch_cost_details(SCOPE, date(2026, 11, 1), date(2026, 11, 30), tmp_path, connection=remote)


QUERY_PATH = SCOPE + "/providers/Microsoft.CostManagement/query"


def query_result(rows: list[list]) -> dict:
    """A Cost Management Query response: daily PreTaxCost per currency, as the API returns it."""
    return {"id": "q1", "name": "q1", "type": "Microsoft.CostManagement/query", "properties": {
        "nextLink": None,
        "columns": [{"name": "PreTaxCost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
                    {"name": "Currency", "type": "String"}],
        "rows": rows}}


def script_daily_costs(fake: FakeAzure, *results: list[list]) -> None:
    fake.add("POST", QUERY_PATH, *[(200, {}, query_result(rows)) for rows in results])


def test_daily_costs_are_one_query_per_window(fake_azure):
    script_daily_costs(fake_azure, [[12.5, 20261102, "EUR"], [3.25, 20261102, "USD"], [7.0, 20261103, "EUR"]])
    totals = daily_costs(SCOPE, date(2026, 11, 1), date(2026, 11, 5), metric="AmortizedCost",
                         connection=connection(fake_azure))
    assert totals == {date(2026, 11, 2): [["EUR", "12.5"], ["USD", "3.25"]], date(2026, 11, 3): [["EUR", "7.0"]]}
    [(method, path, _)] = fake_azure.requests
    assert method == "POST" and urlsplit(path).path == QUERY_PATH
    body = json.loads(fake_azure.bodies[0])
    assert body["type"] == "AmortizedCost" and body["timeframe"] == "Custom"
    assert body["dataset"]["granularity"] == "Daily"
    assert body["timePeriod"]["from"].startswith("2026-11-01") and body["timePeriod"]["to"].startswith("2026-11-05")


def test_daily_costs_errors_are_clear(fake_azure):
    fake_azure.add("POST", QUERY_PATH, (403, {}, {"error": {"code": "RBACAccessDenied", "message": "no"}}))
    with pytest.raises(AzureRemoteError, match=r"daily cost query for /subscriptions/.*HTTP 403: access denied"):
        daily_costs(SCOPE, date(2026, 11, 1), date(2026, 11, 5), connection=connection(fake_azure))
    with pytest.raises(AzureRemoteError, match="unknown cost details metric"):
        daily_costs(SCOPE, date(2026, 11, 1), date(2026, 11, 5), metric="Usage", connection=connection(fake_azure))


def test_export_latest_run_files_are_downloaded(fake_azure, tmp_path):
    export_path = SCOPE + "/providers/Microsoft.CostManagement/exports/monthly-actual"
    fake_azure.add("GET", export_path, (200, {}, {
        "id": export_path, "name": "monthly-actual", "type": "Microsoft.CostManagement/exports",
        "properties": {
            "format": "Csv",
            "deliveryInfo": {"destination": {
                "resourceId": SCOPE + "/resourceGroups/finops/providers/Microsoft.Storage/storageAccounts/finopsexports",
                "container": "cost-exports", "rootFolderPath": "ea"}},
            "definition": {"type": "ActualCost", "timeframe": "MonthToDate",
                           "dataSet": {"granularity": "Daily"}},
        },
    }))
    old_run = "ea/monthly-actual/20261101-20261130/run-1/manifest.json"
    new_run = "ea/monthly-actual/20261101-20261130/run-2/manifest.json"
    fake_azure.add("GET", export_path + "/runHistory", (200, {}, {"value": [
        {"id": "run-1", "properties": {"status": "Completed", "executionType": "Scheduled", "manifestFile": old_run,
                                       "processingEndTime": "2026-11-27T03:00:00Z"}},
        {"id": "run-2", "properties": {"status": "Completed", "executionType": "Scheduled", "manifestFile": new_run,
                                       "processingEndTime": "2026-11-28T03:00:00Z"}},
        {"id": "run-3", "properties": {"status": "Failed", "executionType": "Scheduled",
                                       "processingEndTime": "2026-11-29T03:00:00Z"}},
    ]}))
    part = "ea/monthly-actual/20261101-20261130/run-2/part_0_0001.csv"
    fake_azure.add("GET", "/cost-exports/" + new_run, (200, {}, {
        "manifestVersion": "2024-04-01", "blobCount": 1, "byteCount": EA_ACTUAL.stat().st_size,
        "blobs": [{"blobName": part, "byteCount": EA_ACTUAL.stat().st_size, "dataRowCount": 8}]}))
    fake_azure.add("GET", "/cost-exports/" + part, (200, {}, EA_ACTUAL.read_bytes()))
    conn = connection(fake_azure)
    files = fetch_export_files(SCOPE, "monthly-actual", tmp_path, blob_endpoint=fake_azure.url, connection=conn)
    assert files == [tmp_path / part]
    assert files[0].read_bytes() == EA_ACTUAL.read_bytes()
    blob_headers = [h for _, p, h in fake_azure.requests if p.startswith("/cost-exports/")]
    assert [h["Authorization"] for h in blob_headers] == [f"Bearer {TOKEN}-storage.azure.com"] * 2
    assert all(h["x-ms-version"] for h in blob_headers)
    assert len(read_billing(files).billing) == 8


def test_export_without_completed_run_is_a_clear_error(fake_azure, tmp_path):
    export_path = SCOPE + "/providers/Microsoft.CostManagement/exports/new-export"
    fake_azure.add("GET", export_path, (200, {}, {"name": "new-export", "properties": {
        "deliveryInfo": {"destination": {"resourceId": "/x/storageAccounts/acct", "container": "c"}},
        "definition": {"type": "ActualCost", "timeframe": "MonthToDate"}}}))
    fake_azure.add("GET", export_path + "/runHistory", (200, {}, {"value": []}))
    with pytest.raises(AzureRemoteError, match="export 'new-export' .* no completed run"):
        fetch_export_files(SCOPE, "new-export", tmp_path, blob_endpoint=fake_azure.url, connection=connection(fake_azure))


# --- CLI ---------------------------------------------------------------------------------------

def test_estimate_on_an_azure_sample_ties_out(tmp_path, capsys):
    assert main(["estimate", str(EA_ACTUAL), "--out", str(tmp_path)]) == 0
    assert "ties out" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows_in"] == 8 and summary["rows_quarantined"] == 0
    ledger = pd.read_parquet(tmp_path / "ledger.parquet")
    modelled = ledger[ledger["x_InstanceType"] == "Standard_ND96asr_v4"]
    assert len(modelled) == 1 and modelled["x_EnergyKwh"].iloc[0] > 0


def test_configured_azure_source_generates_one_days_report_and_reads_it(fake_azure, tmp_path, monkeypatch):
    import connectors.azure_remote as azure_remote
    from carbonledger.config import Config
    from carbonledger.engine import read_source_day

    monkeypatch.setattr(azure_remote, "DefaultAzureCredential", FakeCredential)
    script_report(fake_azure, [EA_ACTUAL])
    (tmp_path / "carbonledger.yaml").write_text(
        f"sources:\n  - path: azure://{SCOPE}\n    base_url: {fake_azure.url}\n")
    config = Config.load(tmp_path / "carbonledger.yaml")
    [source] = config.sources
    assert source.format == "azure" and source.azure.scope == SCOPE and source.name == "source_3f2c9a10_5b7e_4d21_9c8a_1e0f6a2b7c44"
    day = read_source_day(source, date(2026, 11, 3), config.project_tag_keys)
    posted = [headers for method, path, headers in fake_azure.requests if method == "POST"]
    assert posted and (source.path / "2026-11-03").is_dir()
    assert day.inputs.rows == len(day.billing) + len(day.quarantine) > 0
    assert (day.billing["ChargePeriodStart"].dt.date == date(2026, 11, 3)).all()
    assert_ties_out(day)
