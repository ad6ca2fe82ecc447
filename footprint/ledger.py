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

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from carbonledger import schema
from carbonledger.codes import text_codes
from footprint.energy import PowerModel, UsageEnergy
from footprint.hardware import HardwareCatalogue
from intensity import GridData
from intensity.grid import BASES
from intensity.market import market_intensity

_BASES = ("no_energy_model", "non_usage", "unmapped", "modelled")
_NO_MODEL, _NON_USAGE, _UNMAPPED, _MODELLED = range(len(_BASES))
_MODELLED_NOTE = "power model x instance-hours x PUE; utilisation assumed, not measured"
_CALIBRATED_NOTE = "power model x instance-hours x PUE; utilisation assumed x calibration factor"
_REGIONLESS_NOTE = "storage or data-transfer usage without a region: no grid to attribute its energy to"


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

    Texts (sources, notes, bases) are made once per distinct value and taken by code, so lines share
    them; the ledger is assembled once from its columns, in schema order.
    """
    schema.validate(billing, schema.BILLING_COLUMNS, "billing frame entering the ledger")
    category_codes, categories = _codes(billing["ChargeCategory"])
    is_usage = np.array([c == "Usage" for c in categories] + [False], dtype=bool)[category_codes]
    has_type = billing["x_InstanceType"].notna().to_numpy()
    has_hours = billing["x_UsageHours"].notna().to_numpy()
    is_compute = is_usage & has_hours & has_type
    # hardware of compute lines only: the others get the catalogue's "not found" row
    hw = catalogue.lookup_rows(np.where(is_compute, catalogue.rows(billing["ProviderName"], billing["x_InstanceType"]),
                                        catalogue.not_found), billing.index)
    calibration = model.calibration_factors(billing["ProviderName"], billing["x_InstanceType"], billing["x_Project"])
    factor = calibration["x_CalibrationFactor"].to_numpy()
    workload = model.workload_classes(billing["x_WorkloadClass"], billing["x_Project"])
    power = model.instance_power_w(hw, workload, calibration["x_CalibrationFactor"])
    profiled = hw["hw_found"].to_numpy(dtype=bool)
    modelled = profiled & power["power_w"].notna().to_numpy()
    usage = model.usage_energy_kwh(billing, is_usage & ~is_compute)
    # storage and transfer lines need a region to meet a grid; without one they are not estimated
    regionless = ~np.isnan(usage.kwh) & billing["RegionId"].isna().to_numpy()
    for values in (usage.kwh_low, usage.kwh, usage.kwh_high):
        values[regionless] = np.nan
    usage.shape[regionless] = -1
    by_usage = ~np.isnan(usage.kwh)
    energetic = modelled | by_usage

    hours = billing["x_UsageHours"].fillna(0.0).to_numpy(dtype="float64")
    power_w = power["power_w"].to_numpy(dtype="float64")

    def it_kwh(power_w: np.ndarray, usage_kwh: np.ndarray) -> np.ndarray:
        compute_kwh = power_w * hours / 1000.0
        return np.select([modelled, by_usage], [compute_kwh, usage_kwh], 0.0)

    grid_columns = _grid_columns(billing, energetic, grid, pue_overrides or {})
    pue = np.nan_to_num(grid_columns["x_Pue"], nan=0.0)
    intensity = np.nan_to_num(grid_columns["x_CarbonIntensity"], nan=0.0)
    it_energy = it_kwh(power_w, usage.kwh)
    energy = {"": it_energy * pue,
              "Low": it_kwh(power["power_w_low"].to_numpy(dtype="float64"), usage.kwh_low) * pue,
              "High": it_kwh(power["power_w_high"].to_numpy(dtype="float64"), usage.kwh_high) * pue}
    market = market_intensity(grid, billing["ProviderName"], billing["RegionId"], billing["ChargePeriodStart"],
                              pd.Series(intensity, index=billing.index), pd.Series(grid_columns.pop("x_CfeFraction"), index=billing.index),
                              pd.Series(grid_columns.pop("x_CfeSource"), index=billing.index), instruments)

    kind_codes = np.where(modelled, len(usage.kinds), usage.shape)
    basis, note = _estimate_basis(billing, category_codes, categories, is_usage, is_compute, has_type, has_hours,
                                  hw, modelled, ~np.isnan(factor), regionless, by_usage, usage)
    extra = {
        "x_GpuModel": hw["x_GpuModel"].array,
        "x_GpuCount": np.nan_to_num(hw["x_GpuCount"].to_numpy(), nan=0.0),
        "x_Vcpus": hw["x_Vcpus"].to_numpy(),
        "x_MemoryGib": hw["x_MemoryGib"].to_numpy(),
        "x_PowerW": np.where(modelled, power_w, 0.0),
        "x_ItEnergyKwh": it_energy,
        **{f"x_EnergyKwh{suffix}": values for suffix, values in energy.items()},
        **grid_columns,
        **{f"x_Co2eKg{suffix}": values * intensity / 1000.0 for suffix, values in energy.items()},
        "x_Co2eKgMarket": np.where(energetic, energy[""] * market["market_g_per_kwh"].to_numpy() / 1000.0, 0.0),
        "x_MarketBasis": market["x_MarketBasis"].where(energetic).array,
        "x_EmbodiedCo2eKg": np.where(modelled, hw["embodied_kg_per_hour"].fillna(0.0).to_numpy() * hours, 0.0),
        "x_EmbodiedSource": hw["x_EmbodiedSource"].where(modelled).array,
        "x_EstimateBasis": basis,
        "x_EstimateNote": note,
        "x_HardwareSource": hw["x_HardwareSource"].array,
        "x_Utilisation": np.where(modelled, power["x_Utilisation"].to_numpy(), np.nan),
        "x_UsageKind": _text([*usage.kinds, "compute"], kind_codes),
        **{f"x_{component.capitalize()}EnergyKwh": np.where(modelled, power[f"{component}_w"].to_numpy(dtype="float64") * hours / 1000.0, np.nan)
           for component in ("cpu", "gpu", "memory")},
        "x_CalibrationFactor": np.where(modelled, factor, np.nan),
        "x_CalibrationSource": calibration["x_CalibrationSource"].where(modelled).array,
    }
    # copy=False: the new columns are fresh arrays, and the billing columns are shared with the billing
    # frame rather than copied (as Copy-on-Write pandas would); nothing writes into either in place
    out = pd.DataFrame({c.name: billing[c.name].array if c.name in billing.columns else extra[c.name] for c in schema.LEDGER_COLUMNS},
                       index=billing.index, copy=False)
    schema.validate(out, schema.LEDGER_COLUMNS, "ledger")
    return out


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Code of each value (-1 where missing) and the distinct values, in order of appearance."""
    return text_codes(values)


def _text(labels: Sequence[object], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A string column of a label per line, by code (-1 = null): the lines share the label objects."""
    return pd.array([*labels, None], dtype="string").take(codes)


def _grid_columns(billing: pd.DataFrame, has_energy: np.ndarray, grid: GridData,
                  pue_overrides: Mapping[str, float]) -> dict[str, np.ndarray | pd.api.extensions.ExtensionArray]:
    """Grid zone, hourly intensity, PUE (configured overrides win) and CFE for the lines with energy (null elsewhere)."""
    lines = np.flatnonzero(has_energy)
    at = grid.annotation(*(billing[c].take(lines) for c in ("ProviderName", "RegionId", "ChargePeriodStart", "ChargePeriodEnd")))
    pue, pue_source = at.facts["pue"].to_numpy(np.float64).copy(), list(at.facts["pue_source"])
    for key, value in pue_overrides.items():
        provider, _, region = key.partition(":")
        for pair, (pair_provider, pair_region) in enumerate(zip(at.providers, at.regions)):
            if pair_provider == provider and ("" if pair_region is None else pair_region) == region:
                pue[pair], pue_source[pair] = value, f"configured override for {key}"

    def spread(codes: np.ndarray) -> np.ndarray:
        full = np.full(len(billing), -1, dtype=np.int64)
        full[lines] = codes
        return full

    def per_pair(values: np.ndarray) -> np.ndarray:
        return np.append(values, np.nan)[pair]

    pair = spread(at.pair_codes)
    intensity = np.full(len(billing), np.nan)
    intensity[lines] = at.g_per_kwh
    year = np.zeros(len(billing), dtype=np.int64)
    year_missing = np.ones(len(billing), dtype=bool)
    year[lines] = at.year.to_numpy(dtype=np.int64, na_value=0)
    year_missing[lines] = at.year.isna()
    return {
        "x_Pue": per_pair(pue),
        "x_PueSource": _text(pue_source, pair),
        "x_GridZone": _text(list(at.facts["grid_zone"]), pair),
        "x_CarbonIntensity": intensity,
        "x_IntensityBasis": _text(BASES, spread(at.basis)),
        "x_IntensityYear": pd.arrays.IntegerArray(year, year_missing),
        "x_IntensitySource": _text(at.sources, spread(at.source_codes)),
        "x_CfeFraction": per_pair(at.facts["cfe_fraction"].to_numpy(np.float64)),
        "x_CfeSource": _text(list(at.facts["cfe_source"]), pair),
    }


def _estimate_basis(
    billing: pd.DataFrame, category_codes: np.ndarray, categories: np.ndarray, is_usage: np.ndarray, is_compute: np.ndarray,
    has_type: np.ndarray, has_hours: np.ndarray, hw: pd.DataFrame, modelled: np.ndarray, calibrated: np.ndarray,
    regionless: np.ndarray, by_usage: np.ndarray, usage: UsageEnergy,
) -> tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray]:
    """One basis and a short reason per line; each reason text is made once per distinct value it names."""
    basis = np.full(len(billing), _NO_MODEL, dtype=np.int64)
    basis[~is_usage] = _NON_USAGE
    basis[is_compute & ~modelled] = _UNMAPPED
    basis[modelled | by_usage] = _MODELLED

    def column(name: str) -> np.ndarray:
        return np.asarray(billing[name].array, dtype=object)

    # the reasons, weakest first: a line takes the last one that applies to it
    reasons: list[tuple[np.ndarray, Callable[[np.ndarray], tuple[np.ndarray, list[str]]]]] = [
        (np.ones(len(billing), dtype=bool), lambda rows: labels_by_combination(
            lambda service, unit: f"usage of {'unknown service' if service is None else service} in "
                                  f"{'unknown unit' if unit is None else unit}: no energy model for this usage yet",
            column("ServiceName")[rows], column("ConsumedUnit")[rows])),
        (~is_usage, lambda rows: (category_codes[rows], [f"{c} line: no energy consumed" for c in categories])),
        (is_compute & ~modelled, lambda rows: labels_by_combination(
            lambda instance_type, provider: f"instance type {instance_type} ({provider}) has no hardware profile",
            column("x_InstanceType")[rows], column("ProviderName")[rows])),
        (hw["hw_found"].to_numpy(dtype=bool) & ~modelled, lambda rows: labels_by_combination(
            lambda gpu: f"accelerator {'?' if gpu is None else gpu} has no published power figure; "
                        "set power_model.accelerator_w to model it",
            np.asarray(hw["x_GpuModel"].array, dtype=object)[rows])),
        (is_usage & ~is_compute & has_type & ~has_hours, lambda rows: labels_by_combination(
            lambda instance_type: f"part of {instance_type} usage billed without instance-hours (e.g. a GCP RAM or "
                                  "bundled-GPU SKU): its energy is counted once, on the line that carries the hours",
            column("x_InstanceType")[rows])),
        (modelled, lambda rows: (np.zeros(len(rows), dtype=np.int64), [_MODELLED_NOTE])),
        (modelled & calibrated, lambda rows: (np.zeros(len(rows), dtype=np.int64), [_CALIBRATED_NOTE])),
        (regionless, lambda rows: (np.zeros(len(rows), dtype=np.int64), [_REGIONLESS_NOTE])),
        (by_usage, lambda rows: (usage.shape[rows], [None if text is None else text + " x PUE" for text in usage.bases])),
    ]
    reason = np.zeros(len(billing), dtype=np.int64)
    for number, (applies, _) in enumerate(reasons):
        reason[applies] = number
    notes: list[str] = []
    note = np.zeros(len(billing), dtype=np.int64)
    for number, (_, labelled) in enumerate(reasons):
        rows = np.flatnonzero(reason == number)
        if rows.size:
            codes, labels = labelled(rows)
            note[rows] = len(notes) + codes
            notes += labels
    return pd.array(_BASES, dtype="string").take(basis), pd.array(notes, dtype="string").take(note)


def labels_by_combination(make: Callable[..., str | None], *values: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Code of each row's combination of ``values`` (missing values passed as None) and the text ``make``
    gives each combination: texts are made once per distinct combination, not per row."""
    combined = np.zeros(len(values[0]), dtype=np.int64)
    distinct = []
    for column in values:
        codes, uniques = text_codes(column)
        combined = combined * (len(uniques) + 1) + codes + 1
        distinct.append([None, *uniques])
    codes, keys = pd.factorize(combined)
    texts = []
    for key in keys:
        parts = []
        for uniques in reversed(distinct):
            key, position = divmod(int(key), len(uniques))
            parts.append(uniques[position])
        texts.append(make(*reversed(parts)))
    return codes, texts
