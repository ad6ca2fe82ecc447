"""Embodied emissions: server share by vCPUs plus whole accelerators, from the Teads/CCF components, per instance-hour."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from footprint.embodied import EmbodiedModel
from footprint.hardware import HardwareCatalogue


def _bundled_csv(name: str) -> pd.DataFrame:
    with resources.files("footprint").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


@pytest.fixture(scope="module")
def constants() -> pd.Series:
    return _bundled_csv("constants.csv").set_index("name")["value"]


@pytest.fixture(scope="module")
def instances() -> pd.DataFrame:
    return _bundled_csv("instances.csv").set_index(["provider", "instance_type"])


def _per_hour(provider: str, instance_type: str) -> float:
    return HardwareCatalogue.bundled().lookup(pd.Series([provider]), pd.Series([instance_type])).loc[0, "embodied_kg_per_hour"]


def _by_hand(constants: pd.Series, instances: pd.DataFrame, provider: str, instance_type: str) -> float:
    row = instances.loc[(provider, instance_type)]
    server_kg = constants["embodied_server_base_kg"] + max(row["platform_memory_gib"] - constants["embodied_base_memory_gb"], 0) * constants["embodied_memory_kg_per_gb"]
    share = row["vcpus"] / row["platform_vcpus"]
    return (server_kg * share + row["gpu_count"] * constants["embodied_gpu_kg"]) / constants["embodied_lifetime_hours"]


@pytest.mark.parametrize(("provider", "instance_type"), [
    ("aws", "p4d.24xlarge"), ("aws", "g5.xlarge"), ("aws", "m5.large"), ("aws", "t3.micro"),
    ("gcp", "a3-highgpu-1g"), ("azure", "Standard_NC24ads_A100_v4"), ("azure", "Standard_E16s_v5"),
    ("azure", "Standard_NV6ads_A10_v5"), ("aws", "inf2.24xlarge"), ("gcp", "ct5lp-hightpu-1t"),
])
def test_embodied_per_instance_hour_matches_hand_computation(constants, instances, provider, instance_type):
    assert _per_hour(provider, instance_type) == pytest.approx(_by_hand(constants, instances, provider, instance_type))


def test_whole_p4d_host_over_its_lifetime(constants):
    memory_kg = (1152 - constants["embodied_base_memory_gb"]) * constants["embodied_memory_kg_per_gb"]
    host_kg = constants["embodied_server_base_kg"] + memory_kg + 8 * constants["embodied_gpu_kg"]
    assert _per_hour("aws", "p4d.24xlarge") * constants["embodied_lifetime_hours"] == pytest.approx(host_kg)


def test_share_scales_with_instance_size_unlike_ccf_flaw_1():
    # CCF divides instance-hours by vCPUs, which makes embodied per instance-hour size-independent.
    assert _per_hour("aws", "m5.xlarge") == pytest.approx(2 * _per_hour("aws", "m5.large"))
    assert _per_hour("aws", "m5.24xlarge") == pytest.approx(48 * _per_hour("aws", "m5.large"))
    assert _per_hour("aws", "g5.48xlarge") == pytest.approx(2 * _per_hour("aws", "g5.24xlarge"))  # 2x the vCPUs and 2x the GPUs


def test_one_gpu_on_a_small_slice_carries_the_whole_gpu(constants):
    # g5.xlarge: 4 of 192 vCPUs but one whole A10G; sharing by GPUs (1/8 of host) would charge 1/8 of the server too.
    server_kg = constants["embodied_server_base_kg"] + (768 - constants["embodied_base_memory_gb"]) * constants["embodied_memory_kg_per_gb"]
    expected_kg = server_kg * 4 / 192 + constants["embodied_gpu_kg"]
    assert _per_hour("aws", "g5.xlarge") * constants["embodied_lifetime_hours"] == pytest.approx(expected_kg)


def test_burstable_shares_the_m5_host(instances):
    assert instances.loc[("aws", "t3.micro"), "platform_instance_type"] == "m5.metal"
    assert _per_hour("aws", "t3.2xlarge") == pytest.approx(_per_hour("aws", "m5.2xlarge"))


def test_gpu_sold_alone_has_no_server_term(constants):
    assert _per_hour("gcp", "nvidia-tesla-t4") == pytest.approx(constants["embodied_gpu_kg"] / constants["embodied_lifetime_hours"])


def test_source_names_coefficients_lifetime_and_share():
    hw = HardwareCatalogue.bundled().lookup(pd.Series(["aws", "aws"]), pd.Series(["p4d.24xlarge", "m5.large"]))
    assert "server share by vCPUs of host p4d.24xlarge + 8 accelerator(s) x 150 kg" in hw.loc[0, "x_EmbodiedSource"]
    assert hw.loc[1, "x_EmbodiedSource"].endswith("server share by vCPUs of host m5.24xlarge")
    assert "lifetime 35040 h" in hw.loc[1, "x_EmbodiedSource"]


def test_model_from_constants_keeps_sources():
    model = EmbodiedModel.from_constants(_bundled_csv("constants.csv"))
    assert model.lifetime_hours == 35040.0
    assert "Teads" in model.source and "SERVER_EXPECTED_LIFESPAN" in model.source
