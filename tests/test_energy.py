"""Power model: linear per component, utilisation per workload class, overrides, NaN where unknown."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from carbonledger.errors import ConfigError
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue


def _bundled_csv(name: str) -> pd.DataFrame:
    with resources.files("footprint").joinpath("data", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


@pytest.fixture(scope="module")
def constants() -> pd.Series:
    return _bundled_csv("constants.csv").set_index("name")["value"]


def _hw(*pairs: tuple[str, str]) -> pd.DataFrame:
    providers, types = zip(*pairs)
    return HardwareCatalogue.bundled().lookup(pd.Series(providers, dtype="string"), pd.Series(types, dtype="string"))


def _by_hand(instance_type: str, u: float, memory_w_per_gb: float) -> float:
    """P = gpus x (idle + u (tdp - idle)) + vcpus x (min + u (max - min)) + GiB x W/GB, from the bundled CSVs."""
    inst = _bundled_csv("instances.csv").set_index("instance_type").loc[instance_type]
    gpu = _bundled_csv("gpus.csv").set_index("gpu_model").loc[inst["gpu_model"]]
    cpu = _bundled_csv("cpu_power.csv").set_index(["provider", "microarchitecture"]).loc[(inst["provider"], inst["cpu_microarch"])]
    gpu_w = inst["gpu_count"] * (gpu["idle_w"] + u * (gpu["tdp_w"] - gpu["idle_w"]))
    cpu_w = inst["vcpus"] * (cpu["min_w_per_vcpu"] + u * (cpu["max_w_per_vcpu"] - cpu["min_w_per_vcpu"]))
    return gpu_w + cpu_w + inst["memory_gib"] * memory_w_per_gb


def test_default_model_reads_the_bundled_constants(constants):
    model = PowerModel.default()
    assert model.memory_w_per_gb == constants["memory_w_per_gb"]
    assert model.utilisation["training"] == tuple(constants[f"utilisation_training_{lvl}"] for lvl in ("low", "central", "high"))
    assert set(model.utilisation) == {"training", "inference", "interactive", "idle", "default"}
    assert PowerModel.sources()["source"].notna().all()


@pytest.mark.parametrize(("instance_type", "workload"), [("p4d.24xlarge", "training"), ("g5.xlarge", "inference"), ("p3.2xlarge", None)])
def test_power_matches_hand_computation(constants, instance_type, workload):
    power = PowerModel.default().instance_power_w(_hw(("aws", instance_type)), pd.Series([workload], dtype="string"))
    level = workload or "default"
    for column, suffix in (("power_w_low", "low"), ("power_w", "central"), ("power_w_high", "high")):
        u = constants[f"utilisation_{level}_{suffix}"]
        assert power.loc[0, column] == pytest.approx(_by_hand(instance_type, u, constants["memory_w_per_gb"]))
    assert power.loc[0, "x_Utilisation"] == constants[f"utilisation_{level}_central"]


def test_low_central_high_are_ordered_for_every_catalogued_instance():
    instances = _bundled_csv("instances.csv")
    hw = HardwareCatalogue.bundled().lookup(instances["provider"], instances["instance_type"])
    model = PowerModel.default()
    for workload in ("training", "inference", "interactive", "idle", None):
        power = model.instance_power_w(hw, pd.Series(workload, index=hw.index, dtype="string"))
        known = power["power_w"].notna()
        assert known.sum() > 250
        assert (power.loc[known, "power_w_low"] <= power.loc[known, "power_w"]).all()
        assert (power.loc[known, "power_w"] <= power.loc[known, "power_w_high"]).all()
        assert (power.loc[known, "power_w_low"] >= 0).all()


def test_unknown_hardware_and_unpublished_accelerator_power_are_nan():
    hw = _hw(("aws", "nope.large"), ("aws", "trn1.2xlarge"), ("aws", "m5.large"))
    power = PowerModel.default().instance_power_w(hw, pd.Series([None, None, None], dtype="string"))
    assert np.isnan(power.loc[0, "power_w"]) and np.isnan(power.loc[0, "x_Utilisation"])
    assert np.isnan(power.loc[1, "power_w"])  # Trainium power is not published
    assert power.loc[2, "power_w"] > 0


def test_accelerator_override_fills_unpublished_power(constants):
    model = PowerModel.default().with_overrides({"accelerator_w": {"AWS Trainium": [40, 400]}})
    hw = _hw(("aws", "trn1.2xlarge"))
    power = model.instance_power_w(hw, pd.Series(["training"], dtype="string"))
    u = constants["utilisation_training_central"]
    cpu_w = hw.loc[0, "x_Vcpus"] * (hw.loc[0, "cpu_min_w_per_vcpu"] + u * (hw.loc[0, "cpu_max_w_per_vcpu"] - hw.loc[0, "cpu_min_w_per_vcpu"]))
    expected = 1 * (40 + u * 360) + cpu_w + hw.loc[0, "x_MemoryGib"] * constants["memory_w_per_gb"]
    assert power.loc[0, "power_w"] == pytest.approx(expected)


def test_unknown_or_missing_workload_class_uses_default():
    hw = _hw(("aws", "m5.large"), ("aws", "m5.large"), ("aws", "m5.large"))
    power = PowerModel.default().instance_power_w(hw, pd.Series(["default", None, "batch-job"], dtype="string"))
    assert power["power_w"].nunique() == 1


def test_idle_class_draws_idle_power_plus_memory(constants):
    hw = _hw(("aws", "p4d.24xlarge"))
    power = PowerModel.default().instance_power_w(hw, pd.Series(["idle"], dtype="string"))
    expected = _by_hand("p4d.24xlarge", 0.0, constants["memory_w_per_gb"])
    assert power.loc[0, "power_w"] == pytest.approx(expected)


def test_overrides_change_only_what_they_name():
    base = PowerModel.default()
    model = base.with_overrides({"utilisation": {"training": [0.6, 0.8, 0.95]}, "memory_w_per_gb": 0.39})
    assert model.utilisation["training"] == (0.6, 0.8, 0.95)
    assert model.utilisation["inference"] == base.utilisation["inference"]
    assert model.memory_w_per_gb == 0.39
    assert base.memory_w_per_gb != 0.39  # the original is untouched


@pytest.mark.parametrize("overrides", [
    {"utilisation": {"training": [0.9, 0.8, 0.95]}},
    {"utilisation": {"training": [0.6, 0.8]}},
    {"utilisation": {"gaming": [0.1, 0.2, 0.3]}},
    {"utilisation": {"training": [0.6, 0.8, 1.5]}},
    {"memory_w_per_gb": -1},
    {"memory_w_per_gb": "lots"},
    {"accelerator_w": {"AWS Trainium": [500, 400]}},
    {"pue": 1.2},
])
def test_invalid_overrides_raise_config_error(overrides):
    with pytest.raises(ConfigError) as err:
        PowerModel.default().with_overrides(overrides)
    assert "power_model" in str(err.value)
