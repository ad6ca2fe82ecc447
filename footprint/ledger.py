"""The emissions ledger: every billing line with its energy, emissions and the basis of each number.

``build_ledger`` turns a canonical billing frame into the ledger (``schema.LEDGER_COLUMNS``): one
row per billing row, none added, none dropped. Each row gets exactly one ``x_EstimateBasis``:

* ``modelled``: compute usage whose instance type has a hardware profile (power model × hours ×
  PUE), or storage / data-transfer usage with a known unit (coefficient × quantity × replication ×
  PUE); ``x_UsageKind`` says which (compute, storage, network);
* ``unmapped``: compute usage whose instance type the catalogue does not know (cost reported);
* ``no_energy_model``: other usage (managed services, requests, IOPS, ...) not modelled;
* ``non_usage``: tax, credits, fees, purchases and adjustments, which consume no energy.

What does not belong here: reading exports, the coefficients, the run summary (``summary``),
report layout.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from carbonledger import schema
from footprint.energy import PowerModel
from footprint.hardware import HardwareCatalogue
from intensity import GridData
from intensity.market import market_intensity



def build_ledger(
    billing: pd.DataFrame,
    *,
    catalogue: HardwareCatalogue,
    grid: GridData,
    model: PowerModel,
    pue_overrides: Mapping[str, float] | None = None,
    instruments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Estimate energy and emissions for every line of a canonical billing frame.

    ``instruments``: contractual instruments (PPAs, RECs; ``intensity.market.load_instruments``) for
    the market-based figure; without them it is the provider's carbon-free-energy share, else location-based.
    """
    schema.validate(billing, schema.BILLING_COLUMNS, "billing frame entering the ledger")
    ledger = billing.copy()
    n = len(ledger)

    is_usage = (ledger["ChargeCategory"] == "Usage").to_numpy(dtype=bool)
    is_compute = is_usage & ledger["x_UsageHours"].notna().to_numpy() & ledger["x_InstanceType"].notna().to_numpy()
    hw = catalogue.lookup(ledger["ProviderName"], ledger["x_InstanceType"])
    calibration = model.calibration_factors(ledger["ProviderName"], ledger["x_InstanceType"], ledger["x_Project"])
    workload = model.workload_classes(ledger["x_WorkloadClass"], ledger["x_Project"])
    power = model.instance_power_w(hw, workload, calibration["x_CalibrationFactor"])
    profiled = is_compute & hw["hw_found"].to_numpy(dtype=bool)
    modelled = profiled & power["power_w"].notna().to_numpy()
    usage = model.usage_energy_kwh(ledger, is_usage & ~is_compute)
    # storage and transfer lines need a region to meet a grid; without one they are not estimated
    regionless = usage["it_kwh"].notna().to_numpy() & ledger["RegionId"].isna().to_numpy()
    usage.loc[regionless, ["x_UsageKind", "it_kwh_low", "it_kwh", "it_kwh_high", "basis"]] = None
    by_usage = usage["it_kwh"].notna().to_numpy()
    energetic = modelled | by_usage

    for col in ("x_GpuModel", "x_HardwareSource"):
        ledger[col] = hw[col].where(is_compute)
    for col in ("x_Vcpus", "x_MemoryGib"):
        ledger[col] = hw[col].where(is_compute)
    ledger["x_GpuCount"] = hw["x_GpuCount"].where(is_compute, 0.0).fillna(0.0)

    hours = ledger["x_UsageHours"].fillna(0.0).to_numpy(dtype="float64")
    ledger["x_PowerW"] = np.where(modelled, power["power_w"], 0.0)
    ledger["x_Utilisation"] = power["x_Utilisation"].where(modelled)
    ledger["x_CalibrationFactor"] = calibration["x_CalibrationFactor"].where(modelled)
    ledger["x_CalibrationSource"] = calibration["x_CalibrationSource"].where(modelled)
    kind = usage["x_UsageKind"].copy()
    kind[modelled] = "compute"
    ledger["x_UsageKind"] = kind

    def it_kwh(power_w: pd.Series, usage_kwh: pd.Series) -> np.ndarray:
        compute_kwh = power_w.to_numpy(dtype="float64") * hours / 1000.0
        return np.select([modelled, by_usage], [compute_kwh, usage_kwh.to_numpy(dtype="float64")], 0.0)

    for component in ("cpu", "gpu", "memory"):
        ledger[f"x_{component.capitalize()}EnergyKwh"] = np.where(modelled, power[f"{component}_w"].to_numpy(dtype="float64") * hours / 1000.0, np.nan)

    grid_cols = _annotate_grid(ledger, energetic, grid, pue_overrides or {})
    for col in ("x_GridZone", "x_CarbonIntensity", "x_IntensityBasis", "x_IntensityYear", "x_IntensitySource", "x_Pue", "x_PueSource"):
        ledger[col] = grid_cols[col]
    pue = grid_cols["x_Pue"].fillna(0.0).to_numpy()
    intensity_g_per_kwh = grid_cols["x_CarbonIntensity"].fillna(0.0).to_numpy()

    ledger["x_ItEnergyKwh"] = it_kwh(power["power_w"], usage["it_kwh"])
    ledger["x_EnergyKwh"] = ledger["x_ItEnergyKwh"].to_numpy() * pue
    ledger["x_EnergyKwhLow"] = it_kwh(power["power_w_low"], usage["it_kwh_low"]) * pue
    ledger["x_EnergyKwhHigh"] = it_kwh(power["power_w_high"], usage["it_kwh_high"]) * pue
    for suffix in ("", "Low", "High"):
        ledger[f"x_Co2eKg{suffix}"] = ledger[f"x_EnergyKwh{suffix}"].to_numpy() * intensity_g_per_kwh / 1000.0

    market = market_intensity(grid, ledger["ProviderName"], ledger["RegionId"], ledger["ChargePeriodStart"],
                              grid_cols["x_CarbonIntensity"].fillna(0.0), grid_cols["x_CfeFraction"],
                              grid_cols["x_CfeSource"], instruments)
    ledger["x_Co2eKgMarket"] = np.where(energetic, ledger["x_EnergyKwh"].to_numpy() * market["market_g_per_kwh"].to_numpy() / 1000.0, 0.0)
    ledger["x_MarketBasis"] = market["x_MarketBasis"].where(energetic)

    ledger["x_EmbodiedCo2eKg"] = np.where(modelled, hw["embodied_kg_per_hour"].fillna(0.0).to_numpy() * hours, 0.0)
    ledger["x_EmbodiedSource"] = hw["x_EmbodiedSource"].where(modelled)

    basis, note = _estimate_basis(ledger, is_usage, is_compute, profiled, modelled, usage["basis"], regionless)
    ledger["x_EstimateBasis"] = basis
    ledger["x_EstimateNote"] = note
    assert len(ledger) == n
    out = schema.conform(ledger, schema.LEDGER_COLUMNS)
    schema.validate(out, schema.LEDGER_COLUMNS, "ledger")
    return out


def _annotate_grid(ledger: pd.DataFrame, has_energy: np.ndarray, grid: GridData, pue_overrides: Mapping[str, float]) -> pd.DataFrame:
    """Grid zone, hourly intensity and PUE for the lines with energy (null elsewhere)."""
    columns = {
        "x_GridZone": "string", "x_CarbonIntensity": "float64", "x_IntensityBasis": "string",
        "x_IntensityYear": "Int64", "x_IntensitySource": "string", "x_Pue": "float64",
        "x_PueSource": "string", "x_CfeFraction": "float64", "x_CfeSource": "string",
    }
    out = pd.DataFrame({c: pd.Series(None, index=ledger.index, dtype=d) for c, d in columns.items()})
    if not has_energy.any():
        return out
    sub = ledger.loc[has_energy]
    annotated = grid.annotate(sub["ProviderName"], sub["RegionId"], sub["ChargePeriodStart"], sub["ChargePeriodEnd"])
    for col, dtype in columns.items():
        out.loc[has_energy, col] = annotated[col].astype(dtype).to_numpy()
    for key, value in pue_overrides.items():
        provider, _, region = key.partition(":")
        hit = has_energy & (ledger["ProviderName"] == provider).to_numpy() & (ledger["RegionId"].fillna("") == region).to_numpy()
        out.loc[hit, "x_Pue"] = value
        out.loc[hit, "x_PueSource"] = f"configured override for {key}"
    return out


def _estimate_basis(
    ledger: pd.DataFrame, is_usage: np.ndarray, is_compute: np.ndarray, profiled: np.ndarray, modelled: np.ndarray,
    usage_basis: pd.Series, regionless: np.ndarray,
) -> tuple[pd.Series, pd.Series]:
    """One basis and a short reason per line, built per category (vectorised string ops)."""
    category = ledger["ChargeCategory"].astype("string")
    basis = pd.Series("no_energy_model", index=ledger.index, dtype="string")
    note = (
        "usage of " + ledger["ServiceName"].fillna("unknown service").astype("string")
        + " in " + ledger["ConsumedUnit"].fillna("unknown unit").astype("string")
        + ": no energy model for this usage yet"
    )
    non_usage = ~is_usage
    basis[non_usage] = "non_usage"
    note[non_usage] = category[non_usage] + " line: no energy consumed"
    unmapped = is_compute & ~modelled
    basis[unmapped] = "unmapped"
    note[unmapped] = (
        "instance type " + ledger["x_InstanceType"][unmapped].astype("string")
        + " (" + ledger["ProviderName"][unmapped].astype("string") + ") has no hardware profile"
    )
    no_power = profiled & ~modelled
    note[no_power] = (
        "accelerator " + ledger["x_GpuModel"][no_power].fillna("?").astype("string")
        + " has no published power figure; set power_model.accelerator_w to model it"
    )
    companion = is_usage & ~is_compute & ledger["x_InstanceType"].notna().to_numpy() & ledger["x_UsageHours"].isna().to_numpy()
    note[companion] = (
        "part of " + ledger["x_InstanceType"][companion].astype("string")
        + " usage billed without instance-hours (e.g. a GCP RAM or bundled-GPU SKU): "
          "its energy is counted once, on the line that carries the hours"
    )
    basis[modelled] = "modelled"
    calibrated = modelled & ledger["x_CalibrationFactor"].notna().to_numpy()
    note[modelled] = "power model x instance-hours x PUE; utilisation assumed, not measured"
    note[calibrated] = "power model x instance-hours x PUE; utilisation assumed x calibration factor"
    note[regionless] = "storage or data-transfer usage without a region: no grid to attribute its energy to"
    by_usage = usage_basis.notna().to_numpy()
    basis[by_usage] = "modelled"
    note[by_usage] = usage_basis[by_usage] + " x PUE"
    return basis, note.astype("string")
