"""Workload estimate: reproduces Patterson et al. 2021 Table 4; TDP fallback; input checks."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from carbonledger.errors import UsageError
from footprint.workload import default_pue, estimate_workload

# Patterson et al. 2021, arXiv:2104.10350 v3, Table 4 (METHOD.md section 14), as published:
# accelerator, chips, days, avg system power per chip (W), PUE, gross / net kgCO2e/kWh,
# energy (MWh), gross / net tCO2e.
TABLE_4 = {
    "Evolved Transformer NAS": ("TPU v2", 200, 6.8, 208, 1.10, 0.431, 0.431, 7.5, 3.2, 3.2),
    "T5": ("TPU v3", 512, 20, 310, 1.12, 0.545, 0.545, 85.7, 46.7, 46.7),
    "Meena": ("TPU v3", 1024, 30, 289, 1.09, 0.415, 0.415, 232, 96.4, 96.4),
    "GShard-600B": ("TPU v3", 1024, 3.1, 288, 1.09, 0.201, 0.177, 24.1, 4.8, 4.3),
    "Switch Transformer": ("TPU v3", 1024, 27, 245, 1.10, 0.403, 0.330, 179, 72.2, 59.1),
    "GPT-3": ("V100", 10000, 14.8, 330, 1.10, 0.429, 0.429, 1287, 552.1, 552.1),
}


@pytest.mark.parametrize("model", list(TABLE_4))
def test_reproduces_patterson_table_4(model):
    accelerator, chips, days, watts, pue, gross, net, paper_mwh, paper_gross_t, paper_net_t = TABLE_4[model]
    for factor_kg_per_kwh, paper_t in ((gross, paper_gross_t), (net, paper_net_t)):
        est = estimate_workload(
            accelerator=accelerator, count=chips, hours=days * 24, avg_power_w=watts, pue=pue,
            intensity_g_per_kwh=factor_kg_per_kwh * 1000,
        )
        assert est.energy_kwh / 1000 == pytest.approx(paper_mwh, rel=0.01)
        assert est.co2e_kg / 1000 == pytest.approx(paper_t, abs=max(0.01 * paper_t, 0.1))
        assert (est.power_basis, est.pue_basis) == ("given", "given")


def test_tdp_from_the_catalogue_when_no_power_is_given():
    with resources.files("footprint").joinpath("data", "gpus.csv").open("r", encoding="utf-8") as handle:
        tdp_w = pd.read_csv(handle).set_index("gpu_model").loc["NVIDIA T4", "tdp_w"]
    est = estimate_workload(accelerator="T4", count=8, hours=10, intensity_g_per_kwh=400, pue=1.1)
    assert est.power_basis == "tdp" and est.power_w_per_accelerator == tdp_w
    assert est.energy_kwh == pytest.approx(10 * 8 * tdp_w * 1.1 / 1000)
    assert est.co2e_kg == pytest.approx(est.energy_kwh * 400 / 1000)
    assert "NVIDIA T4" in est.power_source


def test_default_pue_is_documented_and_applied():
    pue, basis = default_pue()
    assert pue >= 1.0 and basis.startswith("default:") and "Uptime" in basis
    est = estimate_workload(accelerator="V100", count=1, hours=100, intensity_g_per_kwh=566.3, avg_power_w=300)
    assert est.pue == pue and est.pue_basis == basis
    assert est.energy_kwh == pytest.approx(100 * 300 * pue / 1000)


def test_to_dict_has_the_reported_keys():
    data = estimate_workload(accelerator="A100", count=8, hours=24, intensity_g_per_kwh=300, pue=1.1).to_dict()
    assert {"energy_kwh", "co2e_kg", "pue", "intensity_g_per_kwh", "power_basis", "method"} <= set(data)
    assert "Patterson" in data["method"] and "2.5" in data["method"]


def test_unknown_accelerator_needs_avg_power():
    with pytest.raises(UsageError, match="avg_power_w"):
        estimate_workload(accelerator="Quantum Banana 9000", count=1, hours=1, intensity_g_per_kwh=100)
    est = estimate_workload(accelerator="Quantum Banana 9000", count=2, hours=1, intensity_g_per_kwh=100, avg_power_w=500, pue=1.0)
    assert est.energy_kwh == pytest.approx(1.0)


def test_accelerator_without_published_tdp_needs_avg_power():
    with pytest.raises(UsageError, match="no published TDP"):
        estimate_workload(accelerator="TPU v5e", count=1, hours=1, intensity_g_per_kwh=100)


@pytest.mark.parametrize("bad", [
    {"count": 0}, {"count": 1.5}, {"hours": -1}, {"intensity_g_per_kwh": float("nan")}, {"pue": 0.9}, {"avg_power_w": 0},
])
def test_invalid_inputs_raise_usage_error(bad):
    kwargs = {"accelerator": "V100", "count": 1, "hours": 1.0, "intensity_g_per_kwh": 100.0, **bad}
    with pytest.raises(UsageError):
        estimate_workload(**kwargs)
