"""The ledger: one row per billing row, the accounting identity, and the basis of every number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import billing_rows

from carbonledger import schema
from carbonledger.controls import ControlTotals, TieOut
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from footprint.summary import summarise
from intensity import GridData

# The bundled table, read directly (test_intensity_data proves it equals the Electricity Maps source file).
BUNDLED_HOURLY = Path(__file__).resolve().parents[1] / "intensity/data/hourly_lifecycle_2022.parquet"


@pytest.fixture(scope="module")
def ledger() -> pd.DataFrame:
    billing = billing_rows([
        {"x_InstanceType": "p4d.24xlarge", "x_UsageHours": 1.0, "RegionId": "us-east-1", "x_Project": "llm",
         "x_WorkloadClass": "training", "BilledCost": 32.77, "ConsumedQuantity": 1.0, "ConsumedUnit": "Hrs"},
        {"x_InstanceType": "g5.xlarge", "x_UsageHours": 2.0, "RegionId": "eu-north-1",
         "ChargePeriodEnd": "2022-06-01T12:00:00Z", "BilledCost": 2.2, "ConsumedQuantity": 2.0, "ConsumedUnit": "Hrs"},
        {"ProviderName": "gcp", "x_InstanceType": "a2-highgpu-1g", "x_UsageHours": 1.0, "RegionId": "us-central1",
         "BilledCost": 3.67, "ConsumedQuantity": 1.0, "ConsumedUnit": "Hours"},
        {"x_InstanceType": "zz9.mega", "x_UsageHours": 1.0, "RegionId": "us-east-1", "BilledCost": 5.0},
        {"ServiceName": "Amazon Simple Storage Service", "ConsumedUnit": "GB-Mo", "ConsumedQuantity": 100.0, "BilledCost": 2.3},
        {"ChargeCategory": "Tax", "BilledCost": 4.1},
        {"ChargeCategory": "Credit", "BilledCost": -10.0},
    ])
    return build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=PowerModel.default())


def test_every_billing_row_is_in_the_ledger_with_the_schema(ledger):
    assert len(ledger) == 7
    schema.validate(ledger, schema.LEDGER_COLUMNS, "ledger")
    assert ledger["x_SourceRow"].tolist() == list(range(1, 8))


def test_each_row_has_the_right_basis(ledger):
    assert ledger["x_EstimateBasis"].tolist() == [
        "modelled", "modelled", "modelled", "unmapped", "no_energy_model", "non_usage", "non_usage",
    ]
    assert "zz9.mega" in ledger.loc[3, "x_EstimateNote"]
    assert ledger.loc[5, "x_EstimateNote"].startswith("Tax")


def test_accounting_identity_holds(ledger):
    hours = ledger["x_UsageHours"].fillna(0)
    it = ledger["x_PowerW"] * hours / 1000
    np.testing.assert_allclose(ledger["x_ItEnergyKwh"], it)
    np.testing.assert_allclose(ledger["x_EnergyKwh"], it * ledger["x_Pue"].fillna(0))
    np.testing.assert_allclose(ledger["x_Co2eKg"], ledger["x_EnergyKwh"] * ledger["x_CarbonIntensity"].fillna(0) / 1000)
    assert (ledger["x_EnergyKwhLow"] <= ledger["x_EnergyKwh"]).all()
    assert (ledger["x_EnergyKwh"] <= ledger["x_EnergyKwhHigh"]).all()
    assert (ledger.loc[3:, ["x_EnergyKwh", "x_Co2eKg", "x_EmbodiedCo2eKg", "x_Co2eKgMarket"]] == 0).all().all()


def test_gpu_line_uses_the_hourly_intensity_of_its_zone(ledger):
    row = ledger.loc[0]
    assert row["x_GpuModel"].startswith("NVIDIA A100")
    assert row["x_GpuCount"] == 8
    assert row["x_GridZone"] == "US-MIDA-PJM"
    assert row["x_IntensityBasis"] == "hourly"
    assert row["x_IntensityYear"] == 2022
    hourly = pd.read_parquet(BUNDLED_HOURLY)
    expected = hourly.loc[pd.Timestamp("2022-06-01 10:00", tz="UTC"), "US-MIDA-PJM"]
    assert row["x_CarbonIntensity"] == pytest.approx(expected, abs=0.01)
    assert row["x_EmbodiedCo2eKg"] > 0
    assert row["x_Pue"] > 1


def test_two_hour_line_takes_the_mean_of_its_hours(ledger):
    hourly = pd.read_parquet(BUNDLED_HOURLY)
    zone = ledger.loc[1, "x_GridZone"]
    expected = hourly.loc[[pd.Timestamp("2022-06-01 10:00", tz="UTC"), pd.Timestamp("2022-06-01 11:00", tz="UTC")], zone].mean()
    assert ledger.loc[1, "x_CarbonIntensity"] == pytest.approx(expected, abs=0.01)


def test_market_based_uses_google_cfe_for_gcp_and_equals_location_elsewhere(ledger):
    gcp = ledger.loc[2]
    assert gcp["x_Co2eKgMarket"] < gcp["x_Co2eKg"]
    assert "carbon-free" in gcp["x_MarketBasis"]
    assert ledger.loc[0, "x_Co2eKgMarket"] == ledger.loc[0, "x_Co2eKg"]
    assert "equals location-based" in ledger.loc[0, "x_MarketBasis"]


def test_pue_override_applies_to_its_region_only():
    billing = billing_rows([
        {"x_InstanceType": "g5.xlarge", "x_UsageHours": 1.0, "RegionId": "us-east-1"},
        {"x_InstanceType": "g5.xlarge", "x_UsageHours": 1.0, "RegionId": "us-west-2"},
    ])
    ledger = build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(),
                          model=PowerModel.default(), pue_overrides={"aws:us-east-1": 1.5})
    assert ledger.loc[0, "x_Pue"] == 1.5
    assert "override" in ledger.loc[0, "x_PueSource"]
    assert ledger.loc[1, "x_Pue"] != 1.5


def test_summary_ties_out_and_reports_unmapped_cost(ledger):
    quarantine = schema.empty(schema.QUARANTINE_COLUMNS)
    totals = ControlTotals.of(ledger)
    summary = summarise(ledger, quarantine, TieOut.of(totals, totals, ControlTotals.of(quarantine)))
    assert summary["rows_in"] == 7 and summary["rows_quarantined"] == 0
    assert summary["currency"] == "USD"
    assert summary["cost_in"] == pytest.approx(32.77 + 2.2 + 3.67 + 5.0 + 2.3 + 4.1 - 10.0)
    assert summary["unmapped"] == [{"provider": "aws", "instance_type": "zz9.mega", "currency": "USD",
                                    "cost": 5.0, "rows": 1, "usage_hours": 1.0}]
    compute_cost = 32.77 + 2.2 + 3.67 + 5.0
    assert summary["coverage_cost_fraction"] == pytest.approx((compute_cost - 5.0) / compute_cost)
    assert summary["co2e_kg"] == pytest.approx(ledger["x_Co2eKg"].sum())
    assert summary["top_projects"][0]["name"] == "llm"


def test_instance_line_without_hours_says_its_energy_is_on_the_line_with_hours():
    billing = billing_rows([
        {"ProviderName": "gcp", "x_InstanceType": "n2-standard-8", "RegionId": "us-central1",
         "ServiceName": "Compute Engine", "ConsumedUnit": "gibibyte hour", "ConsumedQuantity": 32.0},
    ])
    ledger = build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=PowerModel.default())
    assert ledger.loc[0, "x_EstimateBasis"] == "no_energy_model" and ledger.loc[0, "x_EnergyKwh"] == 0
    assert "counted once, on the line that carries the hours" in ledger.loc[0, "x_EstimateNote"]
