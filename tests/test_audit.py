"""Region audit: bill vs telemetry vs tags; the YAML policy and its violations; the billing tie-out report."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import FIXTURES, billing_rows

from carbonledger import schema
from carbonledger.errors import ConfigError
from connectors.telemetry.frame import conform
from footprint.audit import Policy, Rules, load_policy, policy_violations, region_audit, tie_out_report
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from intensity import GridData

POLICY = FIXTURES / "telemetry" / "scenario" / "policy.yaml"


@pytest.fixture(scope="module")
def ledger() -> pd.DataFrame:
    gpu = {"x_InstanceType": "p4d.24xlarge", "x_UsageHours": 1.0, "ConsumedQuantity": 1.0, "ConsumedUnit": "Hrs"}
    billing = billing_rows([
        {**gpu, "ResourceId": "arn:aws:ec2:us-east-1:1:instance/i-1", "RegionId": "us-east-1", "x_Project": "llm",
         "Tags": '{"project": "llm", "Name": "node-1"}', "BilledCost": 30.0},
        {**gpu, "ResourceId": "arn:aws:ec2:us-east-1:1:instance/i-2", "RegionId": "us-east-1", "x_Project": "llm",
         "Tags": '{"project": "llm", "Data-Region": "eu-west-1"}', "BilledCost": 20.0},
        {"ProviderName": "azure", "x_InstanceType": "Standard_NC24ads_A100_v4", "x_UsageHours": 1.0, "RegionId": "West Europe",
         "ResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/VM-Eu",
         "x_Project": "vision", "BilledCost": 3.0, "BillingCurrency": "EUR"},
        {"ProviderName": "gcp", "x_InstanceType": "a2-highgpu-1g", "x_UsageHours": 1.0, "RegionId": "us-central1",
         "ResourceId": "trainer-9", "x_Project": "vision", "BilledCost": 4.0},
        {"ChargeCategory": "Tax", "BilledCost": 1.5},
    ])
    return build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=PowerModel.default())


def test_region_audit_lists_each_resource_and_its_mismatches(ledger):
    telemetry = conform(pd.DataFrame([
        {"timestamp_utc": "2022-06-01T10:00Z", "interval_s": 60.0, "energy_kwh": 0.01, "host": "node-1",
         "cloud_provider": "aws", "cloud_region": "us-east-1"},
        {"timestamp_utc": "2022-06-01T10:00Z", "interval_s": 60.0, "energy_kwh": 0.01, "project": "vision",
         "cloud_provider": "azure", "cloud_region": "westeurope"},
    ]).assign(source_format="test", source_file="t.csv", source_row=[1, 2]))
    audit = region_audit(ledger, telemetry).set_index("resource_key")
    assert list(audit.index) == ["i-1", "i-2", "trainer-9", "vm-eu"]
    assert audit.loc["i-1", "bill_regions"] == "aws:us-east-1" and audit.loc["i-1", "telemetry_regions"] == "aws:us-east-1"
    assert not audit.loc["i-1", "mismatch"]
    # tag key spelled Data-Region is found; the tag disagrees with the bill
    assert audit.loc["i-2", "tag_regions"] == "aws:eu-west-1"
    assert audit.loc["i-2", "mismatch_detail"] == "tags says aws:eu-west-1 (bill: aws:us-east-1)"
    # the Azure display name 'West Europe' is the same region as telemetry's 'westeurope'
    assert audit.loc["vm-eu", "bill_regions"] == "azure:westeurope" and not audit.loc["vm-eu", "mismatch"]
    # project-level telemetry says Azure westeurope; the GCP resource of the same project ran in us-central1
    assert audit.loc["trainer-9", "mismatch_detail"] == "telemetry says azure:westeurope (bill: gcp:us-central1)"
    assert audit.loc["i-1", "BilledCost"] == 30.0


def test_policy_file_is_read_with_project_overrides():
    policy = load_policy(POLICY)
    assert policy.organisation.preferred_regions == ("aws:eu-north-1", "gcp:europe-west1")
    assert policy.rules_for("vision").residency == ("eu",)
    assert policy.rules_for("vision").preferred_regions == policy.organisation.preferred_regions
    assert policy.rules_for("llm").allowed_regions == ("aws:us-east-1", "aws:us-west-2")
    assert policy.groups["nordics"] == ("SE", "NO", "FI", "DK", "IS")


def test_policy_violations_with_cost_and_emissions_at_stake(ledger):
    v = policy_violations(ledger, load_policy(POLICY))
    residency = v[v["rule"] == "residency"].iloc[0]
    assert (residency["x_Project"], residency["region"], residency["country"]) == ("vision", "gcp:us-central1", "US")
    assert residency["BilledCost"] == 4.0 and residency["severity"] == "violation"
    assert residency["x_Co2eKg"] == pytest.approx(ledger.loc[3, "x_Co2eKg"])
    # West Europe (NL) is inside the EU, but not among the organisation's allowed regions
    azure = v[v["region"] == "azure:westeurope"]
    assert azure["rule"].tolist() == ["not_allowed"] and azure["BillingCurrency"].tolist() == ["EUR"]
    advice = v[v["severity"] == "advice"].iloc[0]
    assert (advice["x_Project"], advice["rule"], advice["lines"], advice["BilledCost"]) == ("llm", "not_preferred", 2, 50.0)


def test_custom_residency_group_and_region_members(ledger):
    policy = Policy(organisation=Rules(residency=("nordics",)), groups={"nordics": ("SE", "NO", "us-central1")})
    v = policy_violations(ledger, policy)
    assert sorted(v["region"]) == ["aws:us-east-1", "azure:westeurope"]  # us-central1 is a listed member


@pytest.mark.parametrize("text, message", [
    ("organisation: {allowed: [x]}", "expected a mapping with keys among"),
    ("projects: {a: {residency: [mars]}}", "unknown residency group 'mars'"),
    ("residency_groups: {n: [SE, NO]}", "quote country codes"),
    ("regions: []", "expected a mapping with keys"),
])
def test_bad_policy_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(path)


def test_tie_out_report_per_source_account_day(ledger):
    quarantine = schema.conform(pd.DataFrame([{
        "x_SourceFormat": "test", "x_SourceFile": "test.csv", "x_SourceRow": 9, "x_Reason": "bad",
        "BilledCost": 2.0, "BillingCurrency": "USD", "ChargePeriodStart": pd.Timestamp("2022-06-01T10:00Z"), "x_RawRecord": "{}",
    }]), schema.QUARANTINE_COLUMNS)
    report = tie_out_report(ledger, quarantine)
    usd = report[report["currency"] == "USD"].iloc[0]
    assert (usd["day"], usd["rows_ledger"], usd["cost_ledger"], usd["rows_quarantined"], usd["cost_quarantined"]) == \
        ("2022-06-01", 4, 55.5, 1, 2.0)
    assert usd["cost_non_usage"] == 1.5
    assert usd["compute_cost_covered_fraction"] == pytest.approx((54.0 - usd.get("cost_unmapped", 0.0)) / 54.0)
    assert report["rows_ledger"].sum() == len(ledger)
