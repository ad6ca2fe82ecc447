"""Reconciliation: measured energy replaces modelled on matched lines, calibration, unmatched telemetry, totals kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import billing_rows

from carbonledger import schema
from carbonledger.controls import ControlTotals
from carbonledger.telemetry_step import modelled_gpu_it_kwh
from connectors.telemetry.frame import conform
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from footprint.ledger import build_ledger
from footprint.reconcile import reconcile
from intensity import GridData

ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc123def4567890"


def _ledger() -> pd.DataFrame:
    common = {"x_InstanceType": "p4d.24xlarge", "x_UsageHours": 1.0, "RegionId": "us-east-1", "x_Project": "llm",
              "ConsumedQuantity": 1.0, "ConsumedUnit": "Hrs", "BilledCost": 32.77}
    billing = billing_rows([
        {**common, "ResourceId": ARN, "Tags": '{"Name": "gpu-node-7"}',
         "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z"},
        {**common, "ResourceId": ARN, "Tags": '{"Name": "gpu-node-7"}',
         "ChargePeriodStart": "2026-11-01T11:00:00Z", "ChargePeriodEnd": "2026-11-01T12:00:00Z"},
        {**common, "ResourceId": "i-0other", "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z"},
        {"x_InstanceType": "g5.xlarge", "x_UsageHours": 1.0, "RegionId": "eu-north-1", "ResourceId": "i-0g5", "x_Project": "web",
         "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z", "BilledCost": 1.01},
        {"ChargeCategory": "Tax", "BilledCost": 4.1},
        {"ProviderName": "gcp", "x_InstanceType": "a2-highgpu-1g", "x_UsageHours": 1.0, "RegionId": "us-central1",
         "x_Project": "llm-train", "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z",
         "BilledCost": 3.67},
    ])
    return build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=PowerModel.default())


def _telemetry(start: str, minutes: int, *, gpus: int, watts: float, host: str | None = None, project: str | None = None,
               component: str = "gpu") -> pd.DataFrame:
    """One 60 s interval per minute and GPU at a constant power."""
    times = pd.date_range(start, periods=minutes, freq="min", tz="UTC")
    rows = [{"timestamp_utc": t, "interval_s": 60.0, "energy_kwh": watts * 60 / 3.6e6, "power_w": watts,
             "component": component, "host": host, "gpu_uuid": f"GPU-{g}" if gpus else None, "project": project,
             "source_format": "dcgm", "source_file": "t.prom", "source_row": i + 1}
            for g in range(max(gpus, 1)) for i, t in enumerate(times)]
    return conform(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def case():
    ledger = _ledger()
    telemetry = conform(pd.concat([
        _telemetry("2026-11-01T10:00Z", 60, gpus=8, watts=400.0, host="gpu-node-7.ec2.internal"),
        _telemetry("2026-11-01T11:00Z", 30, gpus=8, watts=400.0, host="gpu-node-7"),
        _telemetry("2026-11-01T13:00Z", 30, gpus=1, watts=100.0, host="gpu-node-7"),     # no billed line at 13:00
        _telemetry("2026-11-01T10:00Z", 60, gpus=1, watts=100.0, host="unknown-node"),   # no such resource
        _telemetry("2026-11-01T10:00Z", 60, gpus=0, watts=250.0, project="llm-train"),  # CodeCarbon-like, by project
    ]))
    gpu_kwh = modelled_gpu_it_kwh(ledger, PowerModel.default(), HardwareCatalogue.bundled())
    return ledger, gpu_kwh, reconcile(ledger, telemetry, modelled_gpu_it_kwh=gpu_kwh)


def test_rows_cost_and_schema_are_unchanged(case):
    ledger, _, rec = case
    schema.validate(rec.ledger, schema.LEDGER_COLUMNS, "reconciled")
    assert ControlTotals.of(rec.ledger) == ControlTotals.of(ledger)
    billing = [c.name for c in schema.BILLING_COLUMNS]
    pd.testing.assert_frame_equal(rec.ledger[billing], ledger[billing])


def test_bases(case):
    _, _, rec = case
    assert rec.ledger["x_EstimateBasis"].tolist() == ["measured", "measured", "calibrated", "modelled", "non_usage", "measured"]


def test_measured_gpu_energy_replaces_the_modelled_gpu_part_and_pue_applies_once(case):
    ledger, gpu_kwh, rec = case
    host_model = ledger.loc[0, "x_ItEnergyKwh"] - gpu_kwh[0]
    assert gpu_kwh[0] > 0 and host_model > 0
    new = rec.ledger.loc[0]
    assert new["x_ItEnergyKwh"] == pytest.approx(8 * 400 / 1000 + host_model)
    assert new["x_EnergyKwh"] == pytest.approx(new["x_ItEnergyKwh"] * ledger.loc[0, "x_Pue"])
    assert new["x_Co2eKg"] == pytest.approx(new["x_EnergyKwh"] * ledger.loc[0, "x_CarbonIntensity"] / 1000)
    # range: measured ±5 %, the modelled host part keeps the model's own range
    low_ratio = ledger.loc[0, "x_EnergyKwhLow"] / ledger.loc[0, "x_EnergyKwh"]
    assert new["x_EnergyKwhLow"] == pytest.approx((3.2 * 0.95 + host_model * low_ratio) * ledger.loc[0, "x_Pue"])
    assert new["x_PowerW"] == pytest.approx(new["x_ItEnergyKwh"] * 1000)
    if "x_GpuEnergyKwh" in rec.ledger.columns:  # the ledger's component split, where it has one, still adds up
        assert new["x_GpuEnergyKwh"] == pytest.approx(3.2)
        assert new["x_GpuEnergyKwh"] + new["x_CpuEnergyKwh"] + new["x_MemoryEnergyKwh"] == pytest.approx(new["x_ItEnergyKwh"])
    assert "gpu measured for 100% of the period" in new["x_EstimateNote"] and "matched by host" in new["x_EstimateNote"]


def test_half_covered_hour_keeps_the_model_for_the_rest(case):
    ledger, gpu_kwh, rec = case
    host_model = ledger.loc[1, "x_ItEnergyKwh"] - gpu_kwh[1]
    assert rec.ledger.loc[1, "x_ItEnergyKwh"] == pytest.approx(1.6 + gpu_kwh[1] * 0.5 + host_model)
    assert "gpu measured for 50% of the period" in rec.ledger.loc[1, "x_EstimateNote"]


def test_calibration_factor_applied_to_the_unmatched_line_of_the_same_kind(case):
    ledger, gpu_kwh, rec = case
    factor = (3.2 + 1.6) / (gpu_kwh[0] + gpu_kwh[1] * 0.5)
    cal = rec.calibration
    row = cal[(cal["component"] == "gpu") & (cal["level"] == "instance_type+project") & (cal["x_InstanceType"] == "p4d.24xlarge")].iloc[0]
    assert row["factor"] == pytest.approx(factor) and row["measured_hours"] == pytest.approx(1.5)
    host_model = ledger.loc[2, "x_ItEnergyKwh"] - gpu_kwh[2]
    assert rec.ledger.loc[2, "x_ItEnergyKwh"] == pytest.approx(gpu_kwh[2] * factor + host_model)
    assert f"gpu x {round(factor, 3)}" in rec.ledger.loc[2, "x_EstimateNote"]
    # a different instance type is not calibrated from p4d telemetry
    assert rec.ledger.loc[3, "x_ItEnergyKwh"] == ledger.loc[3, "x_ItEnergyKwh"]


def test_project_match_for_telemetry_without_host(case):
    ledger, gpu_kwh, rec = case
    host_model = ledger.loc[5, "x_ItEnergyKwh"] - gpu_kwh[5]
    assert rec.ledger.loc[5, "x_ItEnergyKwh"] == pytest.approx(0.25 + host_model)
    assert "matched by project" in rec.ledger.loc[5, "x_EstimateNote"]


def test_summary_and_unmatched_telemetry(case):
    _, _, rec = case
    s = rec.summary
    assert s["telemetry_energy_kwh"] == pytest.approx(3.2 + 1.6 + 0.05 + 0.1 + 0.25)
    assert s["telemetry_matched_kwh"] == pytest.approx(3.2 + 1.6 + 0.25)
    assert s["telemetry_unmatched_kwh"] == pytest.approx(0.15)
    un = rec.unmatched_telemetry.set_index("host")
    assert un.loc["unknown-node", "energy_kwh"] == pytest.approx(0.1)
    assert un.loc["unknown-node", "reason"].startswith("no billed resource")
    assert un.loc["gpu-node-7", "energy_kwh"] == pytest.approx(0.05)
    assert un.loc["gpu-node-7", "reason"] == "resource matched but no billed line covers this hour"
    assert s["lines_measured"] == 3 and s["lines_calibrated"] == 1


def test_comparison_per_resource_hour(case):
    _, gpu_kwh, rec = case
    c = rec.comparison.set_index(["key", "hour_utc", "component"])
    row = c.loc[("gpu-node-7", pd.Timestamp("2026-11-01T10:00Z"), "gpu")]
    assert row["measured_it_kwh"] == pytest.approx(3.2)
    assert row["modelled_it_kwh"] == pytest.approx(gpu_kwh[0])
    assert row["measured_over_modelled"] == pytest.approx(3.2 / gpu_kwh[0])
    half = c.loc[("gpu-node-7", pd.Timestamp("2026-11-01T11:00Z"), "gpu")]
    assert half["modelled_it_kwh"] == pytest.approx(gpu_kwh[1] / 2) and half["covered_s"] == 1800


def test_billed_gpu_hours_without_telemetry(case):
    _, _, rec = case
    un = rec.unmeasured_gpu.set_index("line")["unmeasured_gpu_hours"]
    assert un.to_dict() == pytest.approx({1: 4.0, 2: 8.0, 3: 1.0})
    assert rec.summary["unmeasured_gpu_hours"] == pytest.approx(13.0)


def test_gpus_seen_limit_coverage_and_instance_id_wins():
    ledger = _ledger()
    gpu_kwh = modelled_gpu_it_kwh(ledger, PowerModel.default(), HardwareCatalogue.bundled())
    telemetry = _telemetry("2026-11-01T10:00Z", 60, gpus=4, watts=400.0, host="elsewhere")
    telemetry["instance_id"] = "i-0abc123def4567890"
    rec = reconcile(ledger, conform(telemetry), modelled_gpu_it_kwh=gpu_kwh)
    # 4 of the 8 billed GPUs measured: half the modelled GPU energy stays
    host_model = ledger.loc[0, "x_ItEnergyKwh"] - gpu_kwh[0]
    assert rec.ledger.loc[0, "x_ItEnergyKwh"] == pytest.approx(1.6 + gpu_kwh[0] * 0.5 + host_model)
    assert "matched by instance_id" in rec.ledger.loc[0, "x_EstimateNote"]


def test_no_telemetry_leaves_the_ledger_as_it_was():
    ledger = _ledger()
    empty = conform(pd.DataFrame(columns=["timestamp_utc"]))
    rec = reconcile(ledger, empty, modelled_gpu_it_kwh=pd.Series(0.0, index=ledger.index))
    pd.testing.assert_frame_equal(rec.ledger, ledger)
    assert rec.summary["telemetry_energy_kwh"] == 0.0 and rec.summary["measured_over_modelled"] is None
    assert np.isclose(rec.summary["unmeasured_gpu_hours"], 8 + 8 + 8 + 1 + 1)


def test_project_telemetry_goes_to_the_gpu_lines_of_the_project_only():
    billing = billing_rows([
        {"ProviderName": "gcp", "x_InstanceType": "a2-highgpu-1g", "x_UsageHours": 1.0, "RegionId": "us-central1",
         "x_Project": "llm-train", "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z"},
        {"ProviderName": "gcp", "x_InstanceType": "n2-standard-4", "x_UsageHours": 1.0, "RegionId": "us-central1",
         "x_Project": "llm-train", "ChargePeriodStart": "2026-11-01T10:00:00Z", "ChargePeriodEnd": "2026-11-01T11:00:00Z"},
    ])
    ledger = build_ledger(billing, catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=PowerModel.default())
    gpu_kwh = modelled_gpu_it_kwh(ledger, PowerModel.default(), HardwareCatalogue.bundled())
    assert ledger["x_EstimateBasis"].tolist() == ["modelled", "modelled"] and gpu_kwh[1] == 0
    rec = reconcile(ledger, _telemetry("2026-11-01T10:00Z", 60, gpus=0, watts=250.0, project="llm-train"), modelled_gpu_it_kwh=gpu_kwh)
    assert rec.ledger["x_EstimateBasis"].tolist() == ["measured", "modelled"]
    assert rec.ledger.loc[0, "x_ItEnergyKwh"] == pytest.approx(0.25 + ledger.loc[0, "x_ItEnergyKwh"] - gpu_kwh[0])
    assert rec.ledger.loc[1, "x_ItEnergyKwh"] == ledger.loc[1, "x_ItEnergyKwh"]
