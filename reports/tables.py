"""The report's aggregated tables: the ledger grouped by day, project, region, provider, GPU model and basis.

Every table has the same measure columns (:data:`MEASURES`, then ``rows``) and one row per key and
billing currency, so costs are never added across currencies while the carbon columns still sum to
the ledger totals. All aggregation is a vectorised ``groupby``; nothing here formats or renders
(that is ``reports.builder`` and the template).
"""

from __future__ import annotations

import pandas as pd

#: Label of a missing key (untagged project, non-compute line without region or GPU model, ...).
NONE_LABEL = "(none)"

#: Output measure column -> ledger column it sums.
MEASURES: dict[str, str] = {
    "energy_kwh": "x_EnergyKwh",
    "co2e_kg": "x_Co2eKg",
    "co2e_kg_low": "x_Co2eKgLow",
    "co2e_kg_high": "x_Co2eKgHigh",
    "co2e_kg_market": "x_Co2eKgMarket",
    "embodied_co2e_kg": "x_EmbodiedCo2eKg",
    "cost": "BilledCost",
    "usage_hours": "x_UsageHours",
}

#: Breakdown name -> (output key column -> ledger column). ``date`` is derived from ChargePeriodStart.
KEYS: dict[str, dict[str, str]] = {
    "by_day": {"date": "ChargePeriodStart"},
    "by_project": {"project": "x_Project"},
    "by_team": {"team": "x_Team"},
    "by_account": {"account": "SubAccountId"},
    "by_service": {"provider": "ProviderName", "service": "ServiceName"},
    "by_region": {"provider": "ProviderName", "region": "RegionId", "grid_zone": "x_GridZone"},
    "by_provider": {"provider": "ProviderName"},
    "by_gpu_model": {"gpu_model": "x_GpuModel"},
    "by_basis": {"estimate_basis": "x_EstimateBasis", "intensity_basis": "x_IntensityBasis"},
}

# Weighted-mean helpers of by_region: numerator and weight columns, summed per group then divided.
_INTENSITY_X_ENERGY = "_intensity_x_energy"
_ENERGY_WITH_INTENSITY = "_energy_with_intensity"
_PUE_X_IT_ENERGY = "_pue_x_it_energy"
_IT_ENERGY_WITH_PUE = "_it_energy_with_pue"
_WEIGHTED_HELPERS = (_INTENSITY_X_ENERGY, _ENERGY_WITH_INTENSITY, _PUE_X_IT_ENERGY, _IT_ENERGY_WITH_PUE)


def breakdowns(ledger: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """All report tables of a ledger, keyed by name (``by_day``, ``by_project``, ...).

    Each has its key columns, ``currency``, the :data:`MEASURES` columns and ``rows``; sorted by
    ``co2e_kg`` descending (``by_day``: by date). ``by_region`` adds ``carbon_intensity_g_per_kwh``
    (mean weighted by facility energy) and ``pue`` (mean weighted by IT energy). A line counts on
    the UTC day its charge period starts.
    """
    narrow = _narrow(ledger)
    tables = {}
    for name, keys in KEYS.items():
        if name == "by_region":
            tables[name] = _with_weighted_means(_aggregate(narrow, list(keys), _WEIGHTED_HELPERS))
        else:
            tables[name] = _aggregate(narrow, list(keys))
    return tables


def _narrow(ledger: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the tables need: labelled keys, currency, measures and weighted-mean helpers."""
    frame = pd.DataFrame(index=ledger.index)
    for keys in KEYS.values():
        for out_name, column in keys.items():
            if out_name == "date":
                frame[out_name] = ledger[column].dt.floor("D")
            elif out_name not in frame:
                frame[out_name] = _labelled(ledger[column])
    frame["currency"] = _labelled(ledger["BillingCurrency"])
    for out_name, column in MEASURES.items():
        frame[out_name] = ledger[column].astype("float64").fillna(0.0)
    energy = ledger["x_EnergyKwh"].astype("float64")
    has_intensity = ledger["x_CarbonIntensity"].notna()
    frame[_INTENSITY_X_ENERGY] = (ledger["x_CarbonIntensity"] * energy).where(has_intensity, 0.0)
    frame[_ENERGY_WITH_INTENSITY] = energy.where(has_intensity, 0.0)
    it_energy = ledger["x_ItEnergyKwh"].astype("float64")
    has_pue = ledger["x_Pue"].notna()
    frame[_PUE_X_IT_ENERGY] = (ledger["x_Pue"] * it_energy).where(has_pue, 0.0)
    frame[_IT_ENERGY_WITH_PUE] = it_energy.where(has_pue, 0.0)
    return frame


def _labelled(values: pd.Series) -> pd.Series:
    """A key column as a categorical (factorised once, cheap to group by) with nulls labelled."""
    categorical = values.astype("string").astype("category")
    if NONE_LABEL not in categorical.cat.categories:
        categorical = categorical.cat.add_categories(NONE_LABEL)
    return categorical.fillna(NONE_LABEL)


def _aggregate(narrow: pd.DataFrame, keys: list[str], helpers: tuple[str, ...] = ()) -> pd.DataFrame:
    """Sum the measures (and any ``helpers``) per key and currency; count rows; sort."""
    group_keys = [*keys, "currency"]
    summed = [*MEASURES, *helpers]
    grouped = narrow.groupby(group_keys, sort=False, observed=True)
    table = grouped[summed].sum()
    table["rows"] = grouped.size().astype("int64")
    table = table.reset_index()
    for key in group_keys:
        if isinstance(table[key].dtype, pd.CategoricalDtype):
            table[key] = table[key].astype("string")
    if "date" in keys:
        table = table.sort_values(["date", "currency"], kind="stable")
        table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    else:
        table = table.sort_values(["co2e_kg", *group_keys], ascending=[False] + [True] * len(group_keys), kind="stable")
    return table.reset_index(drop=True)


def _with_weighted_means(table: pd.DataFrame) -> pd.DataFrame:
    """Turn the region table's summed helpers into weighted means, then drop the helpers."""
    energy = table[_ENERGY_WITH_INTENSITY]
    it_energy = table[_IT_ENERGY_WITH_PUE]
    out = table.drop(columns=list(_WEIGHTED_HELPERS))
    out["carbon_intensity_g_per_kwh"] = (table[_INTENSITY_X_ENERGY] / energy).where(energy > 0)
    out["pue"] = (table[_PUE_X_IT_ENERGY] / it_energy).where(it_energy > 0)
    return out
