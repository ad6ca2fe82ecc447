"""Hardware catalogue: bundled profiles, Azure spellings, vectorised lookup, accelerator aliases."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from footprint.hardware import HardwareCatalogue, instance_key


def _bundled_csv(name: str) -> pd.DataFrame:
    with resources.files("footprint").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


@pytest.fixture(scope="module")
def catalogue() -> HardwareCatalogue:
    return HardwareCatalogue.bundled()


@pytest.fixture(scope="module")
def gpus() -> pd.DataFrame:
    return _bundled_csv("gpus.csv").set_index("gpu_model")


@pytest.fixture(scope="module")
def cpu_power() -> pd.DataFrame:
    return _bundled_csv("cpu_power.csv").set_index(["provider", "microarchitecture"])


def test_p4d_24xlarge_profile(catalogue, gpus, cpu_power):
    p = catalogue.profile("aws", "p4d.24xlarge")
    assert (p.gpu_model, p.gpu_count, p.vcpus, p.memory_gib) == ("NVIDIA A100 SXM4 40GB", 8.0, 96.0, 1152.0)
    assert p.gpu_tdp_w == gpus.loc["NVIDIA A100 SXM4 40GB", "tdp_w"]
    assert p.gpu_idle_w == gpus.loc["NVIDIA A100 SXM4 40GB", "idle_w"]
    assert p.cpu_microarch == "Cascade Lake"
    assert p.cpu_min_w_per_vcpu == cpu_power.loc[("aws", "Cascade Lake"), "min_w_per_vcpu"]
    assert p.cpu_max_w_per_vcpu == cpu_power.loc[("aws", "Cascade Lake"), "max_w_per_vcpu"]
    assert "gpu_instances.csv" in p.source and "cpu_power.csv" in p.source


def test_g5_xlarge_has_one_a10g(catalogue, gpus):
    p = catalogue.profile("aws", "G5.XLARGE")
    assert (p.gpu_model, p.gpu_count, p.vcpus, p.memory_gib) == ("NVIDIA A10G", 1.0, 4.0, 16.0)
    assert p.gpu_tdp_w == gpus.loc["NVIDIA A10G", "tdp_w"]


@pytest.mark.parametrize("spelling", ["Standard_ND96asr_v4", "ND96asr v4", "nd96asr_v4", " standard_nd96asr_v4 "])
def test_azure_spellings_resolve_to_one_profile(catalogue, spelling):
    p = catalogue.profile("azure", spelling)
    assert p is not None
    assert (p.instance_type, p.gpu_model, p.gpu_count, p.vcpus) == ("Standard_ND96asr_v4", "NVIDIA A100 SXM4 40GB", 8.0, 96.0)


@pytest.mark.parametrize(("provider", "instance_type"), [("aws", "p9z.48xlarge"), ("oracle", "p4d.24xlarge"), ("aws", ""), ("gcp", "p4d.24xlarge")])
def test_unknown_instance_type_is_none(catalogue, provider, instance_type):
    assert catalogue.profile(provider, instance_type) is None


def test_provider_spellings_of_billing_exports():
    assert instance_key("Amazon Web Services", "p4d.24xlarge") == instance_key("aws", "P4D.24xlarge") == "aws|p4d.24xlarge"
    assert instance_key("Microsoft", "ND96asr v4") == "azure|nd96asr_v4"
    assert instance_key("aws", None) is None


def test_cpu_group_takes_the_mean_with_aws_fill_in(catalogue, cpu_power):
    # n1 runs on Skylake/Broadwell/Haswell; GCP's table lacks Haswell, so AWS's Haswell row fills in.
    p = catalogue.profile("gcp", "n1-standard-4")
    rows = [("gcp", "Skylake"), ("gcp", "Broadwell"), ("aws", "Haswell")]
    assert p.cpu_min_w_per_vcpu == pytest.approx(np.mean([cpu_power.loc[r, "min_w_per_vcpu"] for r in rows]))
    assert p.cpu_max_w_per_vcpu == pytest.approx(np.mean([cpu_power.loc[r, "max_w_per_vcpu"] for r in rows]))


def test_cpu_families_are_catalogued(catalogue):
    for provider, instance_type, vcpus, memory_gib in [
        ("aws", "m5.large", 2, 8), ("aws", "m7g.medium", 1, 4), ("aws", "c5.9xlarge", 36, 72), ("aws", "r6i.32xlarge", 128, 1024),
        ("aws", "t3.nano", 2, 0.5), ("gcp", "n2-standard-80", 80, 320), ("gcp", "e2-standard-2", 2, 8),
        ("azure", "Standard_D4s_v5", 4, 16), ("azure", "E96s v5", 96, 672),
    ]:
        p = catalogue.profile(provider, instance_type)
        assert (p.vcpus, p.memory_gib, p.gpu_count, p.gpu_model) == (vcpus, memory_gib, 0.0, None), instance_type


def test_lookup_mixed_known_and_unknown_keeps_the_index(catalogue):
    index = pd.Index([10, 3, 7, 99, 4])
    provider = pd.Series(["aws", "azure", "aws", None, "gcp"], index=index, dtype="string")
    instance_type = pd.Series(["p4d.24xlarge", "ND96asr v4", "no.such", "m5.large", "n1-standard-4"], index=index, dtype="string")
    hw = catalogue.lookup(provider, instance_type)
    assert hw.index.equals(index)
    assert hw["hw_found"].tolist() == [True, True, False, False, True]
    assert hw["x_GpuCount"].tolist() == [8.0, 8.0, 0.0, 0.0, 0.0]
    assert hw.loc[10, "x_GpuModel"] == "NVIDIA A100 SXM4 40GB"
    assert pd.isna(hw.loc[7, "x_GpuModel"]) and np.isnan(hw.loc[7, "x_Vcpus"]) and np.isnan(hw.loc[7, "embodied_kg_per_hour"])
    assert hw.loc[4, "x_Vcpus"] == 4.0 and hw.loc[4, "x_MemoryGib"] == 15.0
    expected = {
        "hw_found": "bool", "x_GpuModel": "string", "x_GpuCount": "float64", "x_Vcpus": "float64", "x_MemoryGib": "float64",
        "gpu_tdp_w": "float64", "gpu_idle_w": "float64", "cpu_min_w_per_vcpu": "float64", "cpu_max_w_per_vcpu": "float64",
        "x_HardwareSource": "string", "embodied_kg_per_hour": "float64", "x_EmbodiedSource": "string",
    }
    assert {c: str(t) for c, t in hw.dtypes.items()} == expected


def test_lookup_agrees_with_profile_for_every_catalogued_type(catalogue):
    instances = _bundled_csv("instances.csv")
    hw = catalogue.lookup(instances["provider"], instances["instance_type"])
    assert hw["hw_found"].all()
    for i in (0, len(instances) // 2, len(instances) - 1):
        p = catalogue.profile(instances.loc[i, "provider"], instances.loc[i, "instance_type"])
        assert (hw.loc[i, "x_Vcpus"], hw.loc[i, "x_GpuCount"], hw.loc[i, "cpu_max_w_per_vcpu"]) == (p.vcpus, p.gpu_count, p.cpu_max_w_per_vcpu)
        assert hw.loc[i, "x_HardwareSource"] == p.source


def test_bundled_rows_have_sources_and_known_accelerators():
    instances, gpus, cpu_power, constants = (_bundled_csv(n) for n in ("instances.csv", "gpus.csv", "cpu_power.csv", "constants.csv"))
    for table in (instances, gpus, cpu_power, constants):
        assert table["source"].notna().all() and (table["source"].str.len() > 0).all()
    assert set(instances["gpu_model"].dropna()) <= set(gpus["gpu_model"])
    required = {"p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g5", "g6", "g6e", "m5", "m6i", "m6a", "m7i", "m7g", "c5", "c6i", "c7g", "r5", "r6i", "t3"}
    assert required <= set(instances.loc[instances["provider"] == "aws", "family"])
    assert (instances["platform_vcpus"] >= instances["vcpus"]).all()
    assert (instances["platform_gpu_count"] >= instances["gpu_count"]).all()


@pytest.mark.parametrize(("name", "model"), [
    ("TPU v3", "Google TPU v3 (chip)"), ("TPUv2", "Google TPU v2 (chip)"), ("T4", "NVIDIA T4"), ("L4", "NVIDIA L4"),
    ("A10G", "NVIDIA A10G"), ("nvidia-tesla-a100", "NVIDIA A100 SXM4 40GB"), ("NVIDIA H100 NVL 94GB", "NVIDIA H100 NVL 94GB"),
])
def test_accelerator_by_name_or_alias(catalogue, gpus, name, model):
    spec = catalogue.accelerator(name)
    assert spec.model == model
    assert spec.tdp_w == gpus.loc[model, "tdp_w"]


@pytest.mark.parametrize("short", ["V100", "A100", "H100"])
def test_short_names_resolve_to_the_highest_tdp_variant(catalogue, gpus, short):
    variants = gpus[gpus.index.str.contains(short)]
    spec = catalogue.accelerator(short)
    assert spec.model in variants.index
    assert spec.tdp_w == variants["tdp_w"].max()


def test_unknown_accelerator_is_none(catalogue):
    assert catalogue.accelerator("Quantum Banana 9000") is None
    assert catalogue.accelerator("") is None


def test_unpublished_idle_power_is_derived_from_tdp(catalogue, gpus):
    fraction = _bundled_csv("constants.csv").set_index("name").loc["gpu_idle_fraction_of_tdp", "value"]
    spec = catalogue.accelerator("TPU v3")
    assert np.isnan(gpus.loc[spec.model, "idle_w"])
    assert spec.idle_w == pytest.approx(spec.tdp_w * fraction)
    assert "idle derived" in spec.source


def test_profile_to_dict_is_json_ready(catalogue):
    data = catalogue.profile("gcp", "n1-standard-4").to_dict()
    assert {"provider", "instance_type", "vcpus", "memory_gib", "gpu_model", "gpu_count", "gpu_tdp_w", "source"} <= set(data)
    assert data["gpu_tdp_w"] is None
    assert json.loads(json.dumps(data)) == data
