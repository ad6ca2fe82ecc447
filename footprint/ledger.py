"""The emissions ledger: every billing line with its energy, emissions and the basis of each number.

``build_ledger`` turns a canonical billing frame into the ledger (``schema.LEDGER_COLUMNS``): one
row per billing row, none added, none dropped. Each row gets exactly one ``x_EstimateBasis``:

* ``modelled``: compute usage whose instance type has a hardware profile (power model × hours ×
  PUE), or storage / data-transfer usage with a known unit (coefficient × quantity × replication ×
  PUE); ``x_UsageKind`` says which (compute, storage, network);
* ``unmapped``: compute usage whose instance type the catalogue does not know (cost reported);
* ``no_energy_model``: other usage (managed services, requests, IOPS, ...) not modelled;
* ``non_usage``: tax, credits, fees, purchases and adjustments, which consume no energy.

``summarise`` computes the run summary (``summary.json``) from the ledger, the quarantine and the
tie-out. What does not belong here: reading exports, the coefficients, report layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from carbonledger import schema
from carbonledger.controls import ZERO, TieOut, exact_total, format_decimal
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


def summarise(ledger: pd.DataFrame, quarantine: pd.DataFrame, tie_out: TieOut) -> dict[str, Any]:
    """The run summary written as ``summary.json`` (keys documented in README.md)."""
    currencies = tie_out.currencies
    single = currencies[0] if len(currencies) == 1 else None
    compute_like = ~ledger["x_UsageKind"].isin(["storage", "network"]).fillna(False)
    compute = ledger["x_EstimateBasis"].isin(["modelled", "unmapped", "measured", "calibrated"]) & compute_like
    estimated = ledger["x_EstimateBasis"].isin(["modelled", "measured", "calibrated"]) & compute_like
    coverage = {}
    for cur in currencies:
        in_cur = ledger["BillingCurrency"] == cur
        compute_cost = exact_total(ledger.loc[compute & in_cur, "BilledCost"])
        covered = exact_total(ledger.loc[estimated & in_cur, "BilledCost"])
        coverage[cur] = float(covered / compute_cost) if compute_cost else 1.0

    def money(totals: dict[str, Decimal]) -> float | None:
        return float(totals.get(single, ZERO)) if single else None

    unmapped = (
        ledger.loc[ledger["x_EstimateBasis"] == "unmapped"]
        .groupby(["ProviderName", "x_InstanceType", "BillingCurrency"], dropna=False, observed=True)
        .agg(cost=("BilledCost", "sum"), rows=("BilledCost", "size"), usage_hours=("x_UsageHours", "sum"))
        .reset_index()
        .sort_values("cost", ascending=False)
    )
    starts = ledger["ChargePeriodStart"]
    return {
        "rows_in": tie_out.rows_in,
        "rows_ledger": tie_out.rows_ledger,
        "rows_quarantined": tie_out.rows_quarantined,
        "cost_in": money(tie_out.cost_in),
        "cost_ledger": money(tie_out.cost_ledger),
        "cost_quarantined": money(tie_out.cost_quarantined),
        "currency": single or ("mixed" if currencies else None),
        "cost_by_currency": {
            cur: {
                "in": format_decimal(tie_out.cost_in.get(cur, ZERO)),
                "ledger": format_decimal(tie_out.cost_ledger.get(cur, ZERO)),
                "quarantined": format_decimal(tie_out.cost_quarantined.get(cur, ZERO)),
            }
            for cur in currencies
        },
        "tie_out_ok": tie_out.ok,
        "period_start": starts.min().date().isoformat() if len(ledger) else None,
        "period_end": starts.max().date().isoformat() if len(ledger) else None,
        "energy_kwh": float(ledger["x_EnergyKwh"].sum()),
        "energy_kwh_low": float(ledger["x_EnergyKwhLow"].sum()),
        "energy_kwh_high": float(ledger["x_EnergyKwhHigh"].sum()),
        "co2e_kg": float(ledger["x_Co2eKg"].sum()),
        "co2e_kg_low": float(ledger["x_Co2eKgLow"].sum()),
        "co2e_kg_high": float(ledger["x_Co2eKgHigh"].sum()),
        "co2e_kg_market": float(ledger["x_Co2eKgMarket"].sum()),
        "embodied_co2e_kg": float(ledger["x_EmbodiedCo2eKg"].sum()),
        "energy_kwh_by_kind": {
            str(k): float(v) for k, v in ledger.groupby("x_UsageKind", observed=True)["x_EnergyKwh"].sum().sort_index().items()
        },
        "coverage_cost_fraction": min(coverage.values()) if coverage else 1.0,
        "coverage_cost_fraction_by_currency": coverage,
        "rows_by_basis": {str(k): int(v) for k, v in ledger["x_EstimateBasis"].value_counts().sort_index().items()},
        "intensity_basis_rows": {str(k): int(v) for k, v in ledger["x_IntensityBasis"].value_counts().sort_index().items()},
        "unmapped": [
            {
                "provider": r.ProviderName, "instance_type": r.x_InstanceType, "currency": r.BillingCurrency,
                "cost": float(r.cost), "rows": int(r.rows), "usage_hours": float(r.usage_hours),
            }
            for r in unmapped.itertuples(index=False)
        ],
        "quarantine_reasons": _reason_counts(quarantine),
        "top_projects": _top(ledger, "x_Project"),
        "top_regions": _top(ledger, "RegionId", prefix="ProviderName"),
    }


def _top(ledger: pd.DataFrame, key: str, *, prefix: str | None = None, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` largest emitters by ``key`` (location-based kgCO2e), for the printed summary."""
    emitting = ledger.loc[ledger["x_Co2eKg"] > 0]
    names = emitting[key].fillna("(none)").astype("string")
    if prefix:
        names = emitting[prefix].astype("string") + ":" + names
    top = emitting["x_Co2eKg"].groupby(names).sum().sort_values(ascending=False).head(n)
    return [{"name": str(k), "co2e_kg": float(v)} for k, v in top.items()]


def _reason_counts(quarantine: pd.DataFrame) -> dict[str, int]:
    if quarantine.empty:
        return {}
    first_clause = quarantine["x_Reason"].astype("string").str.split(":", n=1).str[0]
    return {str(k): int(v) for k, v in first_clause.value_counts().items()}
