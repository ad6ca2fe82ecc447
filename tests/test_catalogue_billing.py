"""Billing lines of each kind per provider -> hardware-hours, energy by component, storage and network energy, ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import billing_rows

from carbonledger.errors import ConfigError
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue, bundled_constant
from footprint.ledger import build_ledger
from intensity import GridData

JUNE = {"ChargePeriodStart": "2022-06-01T10:00:00Z", "ChargePeriodEnd": "2022-06-01T11:00:00Z"}


def _ledger(rows: list[dict], model: PowerModel | None = None) -> pd.DataFrame:
    return build_ledger(
        billing_rows(rows), catalogue=HardwareCatalogue.bundled(), grid=GridData.bundled(), model=model or PowerModel.default()
    )


def _aws(usage_type: str, instance_type: str | None, hours: float | None, **extra) -> dict:
    return {"ProviderName": "aws", "RegionId": "us-east-1", "SkuId": usage_type, "x_InstanceType": instance_type,
            "x_UsageHours": hours, "ConsumedQuantity": hours, "ConsumedUnit": "Hrs", **extra}


@pytest.fixture(scope="module")
def compute() -> pd.DataFrame:
    return _ledger([
        _aws("USE1-BoxUsage:p4d.24xlarge", "p4d.24xlarge", 2.0),
        _aws("USE1-SpotUsage:g5.12xlarge", "g5.12xlarge", 3.0),
        _aws("USE1-DedicatedUsage:m5.large", "m5.large", 5.0),
        _aws("USE1-BoxUsage:p5.48xlarge", "p5.48xlarge", 1.0, ChargeDescription="SavingsPlanCoveredUsage"),
        # GCP N1 + attached GPUs: the core line carries VM-hours, the GPU SKU line GPU-hours (7200 GPU-seconds = 2 h)
        {"ProviderName": "gcp", "RegionId": "us-central1", "x_InstanceType": "n1-standard-8", "x_UsageHours": 2.0,
         "ChargeDescription": "N1 Predefined Instance Core running in Americas", "ConsumedQuantity": 57600.0, "ConsumedUnit": "seconds"},
        {"ProviderName": "gcp", "RegionId": "us-central1", "x_InstanceType": "nvidia-tesla-t4", "x_UsageHours": 4.0,
         "ChargeDescription": "Nvidia Tesla T4 GPU running in Americas", "ConsumedQuantity": 14400.0, "ConsumedUnit": "seconds"},
        # GCP a2 (GPU bundled): the machine_spec core line has VM-hours; its GPU SKU line carries no hours
        {"ProviderName": "gcp", "RegionId": "us-central1", "x_InstanceType": "a2-highgpu-2g", "x_UsageHours": 1.5,
         "ChargeDescription": "A2 Instance Core running in Americas", "ConsumedQuantity": 129600.0, "ConsumedUnit": "seconds"},
        {"ProviderName": "gcp", "RegionId": "us-central1", "x_InstanceType": "nvidia-tesla-a100", "x_UsageHours": None,
         "ServiceName": "Compute Engine", "ChargeDescription": "Nvidia Tesla A100 GPU running in Americas",
         "ConsumedQuantity": 10800.0, "ConsumedUnit": "seconds"},
        # Azure: AdditionalInfo.ServiceType, 10 hours after the block-unit multiplier
        {"ProviderName": "azure", "RegionId": "eastus", "x_InstanceType": "Standard_ND96asr_v4", "x_UsageHours": 10.0,
         "ConsumedQuantity": 10.0, "ConsumedUnit": "Hours"},
        {"ProviderName": "azure", "RegionId": "westeurope", "x_InstanceType": "standard_nc24ads_a100_v4", "x_UsageHours": 3.0,
         "ConsumedQuantity": 3.0, "ConsumedUnit": "Hours", "x_WorkloadClass": "training"},
    ])


@pytest.mark.parametrize(("row", "model", "gpus", "vcpus", "hours"), [
    (0, "NVIDIA A100 SXM4 40GB", 8, 96, 2.0), (1, "NVIDIA A10G", 4, 48, 3.0), (2, None, 0, 2, 5.0), (3, "NVIDIA H100 SXM5 80GB", 8, 192, 1.0),
    (4, None, 0, 8, 2.0), (5, "NVIDIA T4", 1, 0, 4.0), (6, "NVIDIA A100 SXM4 40GB", 2, 24, 1.5),
    (8, "NVIDIA A100 SXM4 40GB", 8, 96, 10.0), (9, "NVIDIA A100 PCIe 80GB", 1, 24, 3.0),
])
def test_each_line_kind_gets_its_hardware_hours(compute, row, model, gpus, vcpus, hours):
    line = compute.loc[row]
    assert line["x_EstimateBasis"] == "modelled" and line["x_UsageKind"] == "compute"
    assert (line["x_GpuModel"] if pd.notna(line["x_GpuModel"]) else None) == model
    assert line["x_GpuCount"] * line["x_UsageHours"] == pytest.approx(gpus * hours)  # accelerator-hours
    assert line["x_Vcpus"] * line["x_UsageHours"] == pytest.approx(vcpus * hours)  # vCPU-hours
    assert line["x_ItEnergyKwh"] == pytest.approx(line["x_PowerW"] * hours / 1000.0)


def test_bundled_gpu_sku_line_is_not_counted_twice(compute):
    assert compute.loc[7, "x_EstimateBasis"] == "no_energy_model" and compute.loc[7, "x_EnergyKwh"] == 0.0


def test_components_add_up_to_it_energy(compute):
    modelled = compute.loc[compute["x_UsageKind"] == "compute"]
    total = modelled[["x_CpuEnergyKwh", "x_GpuEnergyKwh", "x_MemoryEnergyKwh"]].sum(axis=1)
    assert np.allclose(total, modelled["x_ItEnergyKwh"])
    t4 = compute.loc[5]  # the GPU alone: no CPU, no memory
    assert (t4["x_CpuEnergyKwh"], t4["x_MemoryEnergyKwh"]) == (0.0, 0.0)
    assert t4["x_GpuEnergyKwh"] == pytest.approx(4.0 * (8.1 + 0.5 * (70.0 - 8.1)) / 1000.0)


def test_low_central_high_are_ordered_on_every_line(compute):
    for kind in ("EnergyKwh", "Co2eKg"):
        assert (compute[f"x_{kind}Low"] <= compute[f"x_{kind}"] + 1e-12).all()
        assert (compute[f"x_{kind}"] <= compute[f"x_{kind}High"] + 1e-12).all()
    assert (compute.loc[compute["x_UsageKind"] == "compute", "x_EnergyKwhHigh"] > compute.loc[compute["x_UsageKind"] == "compute", "x_EnergyKwhLow"]).all()


def test_workload_tag_sets_the_utilisation(compute):
    assert compute.loc[9, "x_Utilisation"] == bundled_constant("utilisation_training_central")
    assert compute.loc[8, "x_Utilisation"] == bundled_constant("utilisation_default_central")


def test_embodied_is_server_share_plus_whole_accelerators(compute):
    lifetime = bundled_constant("embodied_lifetime_hours")
    gpu_kg = bundled_constant("embodied_gpu_kg")
    assert compute.loc[5, "x_EmbodiedCo2eKg"] == pytest.approx(4.0 * gpu_kg / lifetime)  # GPU alone: no server term
    server_kg = bundled_constant("embodied_server_base_kg") + (768 - bundled_constant("embodied_base_memory_gb")) * bundled_constant("embodied_memory_kg_per_gb")
    g5 = (server_kg * 48 / 192 + 4 * gpu_kg) / lifetime  # g5.12xlarge on a g5.48xlarge host
    assert compute.loc[1, "x_EmbodiedCo2eKg"] == pytest.approx(3.0 * g5)


# --- storage and network lines ------------------------------------------------------------------

SSD = 1.2 / 1000.0 / 1000.0   # kWh per GB-hour
HDD = 0.65 / 1000.0 / 1000.0
JUNE_HOURS = 30 * 24


@pytest.fixture(scope="module")
def storage() -> pd.DataFrame:
    aws = {"ProviderName": "aws", "RegionId": "us-east-1", **JUNE}
    gcp = {"ProviderName": "gcp", "RegionId": "us-central1", **JUNE}
    azure = {"ProviderName": "azure", "RegionId": "eastus", **JUNE}
    return _ledger([
        {**aws, "ServiceName": "Amazon Elastic Compute Cloud", "SkuId": "USE1-EBS:VolumeUsage.gp3", "ConsumedQuantity": 100.0, "ConsumedUnit": "GB-Mo"},
        {**aws, "ServiceName": "Amazon Elastic Compute Cloud", "SkuId": "USE1-EBS:VolumeUsage.st1", "ConsumedQuantity": 100.0, "ConsumedUnit": "GB-Mo"},
        {**aws, "ServiceName": "Amazon Simple Storage Service", "SkuId": "USE1-TimedStorage-ByteHrs", "ConsumedQuantity": 100.0, "ConsumedUnit": "GB-Mo"},
        {**aws, "ServiceName": "Amazon Elastic Compute Cloud", "SkuId": "USE1-DataTransfer-Out-Bytes", "ConsumedQuantity": 50.0, "ConsumedUnit": "GB"},
        {**aws, "ServiceName": "Amazon CloudFront", "SkuId": "US-DataTransfer-Out-Bytes", "ConsumedQuantity": 50.0, "ConsumedUnit": "GB"},
        {**aws, "ServiceName": "Amazon Simple Storage Service", "SkuId": "USE1-Requests-Tier1", "ConsumedQuantity": 1e6, "ConsumedUnit": "Requests"},
        {**gcp, "ServiceName": "Compute Engine", "ChargeDescription": "Storage PD Capacity", "ConsumedQuantity": 100e9 * 3600, "ConsumedUnit": "byte-seconds"},
        {**gcp, "ServiceName": "Compute Engine", "ChargeDescription": "SSD backed PD Capacity", "ConsumedQuantity": 10.0, "ConsumedUnit": "gibibyte month"},
        {**gcp, "ServiceName": "Compute Engine", "ChargeDescription": "Network Inter Region Egress from Americas to EMEA", "ConsumedQuantity": 2e9, "ConsumedUnit": "bytes"},
        {**azure, "ServiceName": "Storage", "ChargeDescription": "Premium SSD Managed Disks - P10 LRS - US East", "ConsumedQuantity": 1.0, "ConsumedUnit": "/Month"},
        {**azure, "ServiceName": "Storage", "ChargeDescription": "Hot LRS Data Stored", "ConsumedQuantity": 10.0, "ConsumedUnit": "GB/Month"},
        {**azure, "ServiceName": "Bandwidth", "ChargeDescription": "Bandwidth - Data Transfer Out", "ConsumedQuantity": 7.0, "ConsumedUnit": "GB"},
    ])


@pytest.mark.parametrize(("row", "kind", "it_kwh"), [
    (0, "storage", 100 * JUNE_HOURS * SSD * 2),          # EBS gp3: SSD, replication 2
    (1, "storage", 100 * JUNE_HOURS * HDD * 2),          # EBS st1: HDD, replication 2
    (2, "storage", 100 * JUNE_HOURS * HDD * 6),          # S3: HDD, replication 6
    (3, "network", 50 * 0.001),
    (6, "storage", 100 * 1 * HDD),                       # 100 GB for one hour as byte-seconds
    (7, "storage", 10 * 1.073741824 * JUNE_HOURS * SSD),
    (8, "network", 2 * 0.001),
    (9, "storage", 128 * 1.073741824 * JUNE_HOURS * SSD * 3),  # one P10 disk-month (128 GiB), disks replication 3
    (10, "storage", 10 * JUNE_HOURS * HDD * 3),
    (11, "network", 7 * 0.001),
])
def test_storage_and_network_lines_get_energy_with_their_basis(storage, row, kind, it_kwh):
    line = storage.loc[row]
    assert (line["x_EstimateBasis"], line["x_UsageKind"]) == ("modelled", kind)
    assert line["x_ItEnergyKwh"] == pytest.approx(it_kwh)
    assert line["x_EnergyKwh"] == pytest.approx(it_kwh * line["x_Pue"])
    assert line["x_Co2eKg"] == pytest.approx(line["x_EnergyKwh"] * line["x_CarbonIntensity"] / 1000.0)
    assert line["x_EstimateNote"].startswith(kind) and "METHOD.md section 5" in line["x_EstimateNote"]
    assert line["x_EmbodiedCo2eKg"] == 0.0 and pd.isna(line["x_GpuEnergyKwh"])


def test_excluded_and_unknown_usage_stay_without_energy(storage):
    for row in (4, 5):  # CloudFront transfer (CCF excludes it); S3 requests (no unit model)
        assert storage.loc[row, "x_EstimateBasis"] == "no_energy_model" and storage.loc[row, "x_EnergyKwh"] == 0.0


def test_storage_ranges_are_ordered(storage):
    assert (storage["x_EnergyKwhLow"] <= storage["x_EnergyKwh"]).all() and (storage["x_EnergyKwh"] <= storage["x_EnergyKwhHigh"]).all()


def test_unknown_storage_medium_ranges_from_hdd_to_ssd():
    line = _ledger([{"ProviderName": "aws", "RegionId": "us-east-1", **JUNE, "ServiceName": "Amazon Neptune",
                     "SkuId": "USE1-StorageUsage", "ConsumedQuantity": 10.0, "ConsumedUnit": "GB-Mo"}]).loc[0]
    assert line["x_ItEnergyKwh"] == pytest.approx(10 * JUNE_HOURS * SSD)
    assert line["x_EnergyKwhLow"] == pytest.approx(10 * JUNE_HOURS * HDD * line["x_Pue"])
    assert "ssd (assumed)" in line["x_EstimateNote"]


# --- calibration hook and per-project workload class ------------------------------------------------

def test_calibration_scales_utilisation_and_is_flagged():
    model = PowerModel.default().with_overrides({"calibration": [
        {"provider": "aws", "instance_type": "p4d.24xlarge", "factor": 0.5, "source": "DCGM reconciliation 2022-05"},
        {"provider": "aws", "instance_type": "p4d.24xlarge", "project": "llm", "factor": 1.5, "source": "project llm telemetry"},
    ]})
    rows = [_aws("BoxUsage:p4d.24xlarge", "p4d.24xlarge", 1.0, x_Project=project) for project in ("web", "llm")]
    rows.append(_aws("BoxUsage:g5.xlarge", "g5.xlarge", 1.0, x_Project="llm"))
    ledger = _ledger(rows, model)
    default_u = bundled_constant("utilisation_default_central")
    assert ledger.loc[0, "x_Utilisation"] == pytest.approx(0.5 * default_u)
    assert ledger.loc[1, "x_Utilisation"] == pytest.approx(1.5 * default_u)  # type + project beats type alone
    assert (ledger.loc[0, "x_CalibrationFactor"], ledger.loc[1, "x_CalibrationFactor"]) == (0.5, 1.5)
    assert "DCGM reconciliation" in ledger.loc[0, "x_CalibrationSource"] and "calibration" in ledger.loc[0, "x_EstimateNote"]
    assert pd.isna(ledger.loc[2, "x_CalibrationFactor"]) and ledger.loc[2, "x_Utilisation"] == default_u
    uncalibrated = _ledger(rows[:1])
    assert ledger.loc[0, "x_PowerW"] < uncalibrated.loc[0, "x_PowerW"]


def test_calibrated_utilisation_is_capped_at_one():
    model = PowerModel.default().with_overrides({"calibration": [
        {"provider": "aws", "project": "hot", "factor": 10.0, "source": "test"}]})
    ledger = _ledger([_aws("BoxUsage:m5.large", "m5.large", 1.0, x_Project="hot")], model)
    assert ledger.loc[0, "x_Utilisation"] == 1.0 and ledger.loc[0, "x_EnergyKwhHigh"] == pytest.approx(ledger.loc[0, "x_EnergyKwh"])


def test_project_workload_class_applies_to_untagged_lines_only():
    model = PowerModel.default().with_overrides({"project_workload_class": {"research": "training"}})
    ledger = _ledger([
        _aws("BoxUsage:p3.2xlarge", "p3.2xlarge", 1.0, x_Project="research"),
        _aws("BoxUsage:p3.2xlarge", "p3.2xlarge", 1.0, x_Project="research", x_WorkloadClass="idle"),
        _aws("BoxUsage:p3.2xlarge", "p3.2xlarge", 1.0, x_Project="other"),
    ], model)
    assert list(ledger["x_Utilisation"]) == [
        bundled_constant("utilisation_training_central"), bundled_constant("utilisation_idle_central"), bundled_constant("utilisation_default_central"),
    ]


@pytest.mark.parametrize("overrides", [
    {"calibration": [{"provider": "aws", "factor": 0.5, "source": "x"}]},
    {"calibration": [{"provider": "aws", "instance_type": "m5.large", "factor": 0.5}]},
    {"calibration": [{"provider": "oracle", "instance_type": "m5.large", "factor": 0.5, "source": "x"}]},
    {"calibration": [{"provider": "aws", "instance_type": "m5.large", "factor": -1, "source": "x"}]},
    {"calibration": {"provider": "aws"}},
    {"project_workload_class": {"p": "batch"}},
    {"network_kwh_per_gb": "lots"},
])
def test_invalid_calibration_and_project_classes_raise(overrides):
    with pytest.raises(ConfigError):
        PowerModel.default().with_overrides(overrides)


def test_storage_and_network_coefficients_are_overridable():
    model = PowerModel.default().with_overrides({"network_kwh_per_gb": 0.06})
    line = _ledger([{"ProviderName": "aws", "RegionId": "us-east-1", "SkuId": "USE1-DataTransfer-Out-Bytes",
                     "ConsumedQuantity": 10.0, "ConsumedUnit": "GB"}], model).loc[0]
    assert line["x_ItEnergyKwh"] == pytest.approx(0.6)


def test_gcp_custom_machine_core_line_is_modelled():
    line = _ledger([{"ProviderName": "gcp", "RegionId": "us-central1", "x_InstanceType": "n2-custom-8-32768", "x_UsageHours": 3.0,
                     "ChargeDescription": "N2 Custom Instance Core running in Americas", "ConsumedQuantity": 86400.0,
                     "ConsumedUnit": "seconds"}]).loc[0]
    assert (line["x_EstimateBasis"], line["x_Vcpus"], line["x_MemoryGib"]) == ("modelled", 8.0, 32.0)
    assert line["x_MemoryEnergyKwh"] == pytest.approx(32.0 * bundled_constant("memory_w_per_gb") * 3.0 / 1000.0)


def test_storage_or_transfer_without_a_region_is_not_estimated():
    line = _ledger([{"ProviderName": "aws", "RegionId": None, "SkuId": "EUN1-DataTransfer-Out-Bytes",
                     "ConsumedQuantity": 10.0, "ConsumedUnit": "GB"}]).loc[0]
    assert (line["x_EstimateBasis"], line["x_EnergyKwh"]) == ("no_energy_model", 0.0)
    assert "without a region" in line["x_EstimateNote"] and pd.isna(line["x_UsageKind"])
