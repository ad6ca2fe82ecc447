"""Recommendations: where and when a project's workload would have emitted less, with what it costs.

* **Greener region** (``kind = "region"``): each workload (project, provider, instance type, region)
  is re-run, hour by hour, in every other region of the same provider that offers the instance type
  (bundled availability and on-demand list prices, ``footprint/data/region_availability.csv``), at
  that region's PUE and hourly grid intensity; candidates are ranked by the emissions saved.
  ``cost_delta`` compares on-demand list prices (to − from) × the hours, so discounts on the bill do
  not distort it; it is null when a price is unknown. A ``policy`` can restrict candidates.
* **Greener hours** (``kind = "time"``): for workloads tagged deferrable (tag ``deferrable`` or
  ``interruptible`` = true/yes/1), the saving from starting the same hours later within a window
  (*flexible start*) and from running the same number of hours in the window's cleanest hours
  (*pause and resume*), after Dodge et al. 2022; the window is stated on each recommendation.

Every recommendation carries the grid bases used (hourly / proxy year / annual) and its caveats.
Pure pandas/numpy: no Dagster, no I/O beyond the bundled table. Not here: the ledger itself
(``footprint.ledger``), region facts (``intensity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from intensity import GridData

#: Columns of every recommendation (the JSON of ``carbonledger recommend`` has these keys).
COLUMNS = ("kind", "project", "provider", "instance_type", "from_region", "to_region", "usage_hours",
           "co2e_kg_current", "co2e_kg_moved", "co2e_saving_kg", "saving_fraction", "cost_delta",
           "cost_currency", "cost_basis", "window_hours", "intensity_basis", "caveats")

#: Lines whose energy the recommendations move: estimated from hardware or measured.
_ENERGY_BASES = ("modelled", "measured", "calibrated")
_DEFERRABLE_KEYS = ("deferrable", "interruptible")
_TRUE = ("true", "yes", "1", "y")
#: Regions that need a separate account or partition (GovCloud, China, sovereign clouds): never suggested.
_RESTRICTED = r"^(?:us-gov-|cn-|usgov|usdod|china)"
#: Region candidates kept per workload, best first.
REGION_CANDIDATES = 3
#: Default window of a time shift, hours.
DEFAULT_WINDOW_HOURS = 24

#: ``policy(project, provider, region) -> bool``: may the project run there?
Policy = Callable[[str, str, str], bool]


@dataclass(frozen=True)
class Availability:
    """Which region offers which instance type, at which on-demand list price (USD per hour)."""

    table: pd.DataFrame

    @classmethod
    def bundled(cls) -> "Availability":
        with resources.files("footprint").joinpath("data", "region_availability.csv").open("r", encoding="utf-8") as fh:
            return cls(pd.read_csv(fh, dtype={"provider": str, "instance_type": str, "region": str}))


def recommend(
    ledger: pd.DataFrame,
    grid: GridData,
    *,
    availability: Availability | None = None,
    policy: Policy | None = None,
    project: str | None = None,
    window_hours: int = DEFAULT_WINDOW_HOURS,
) -> pd.DataFrame:
    """Region and time recommendations for every project (or one), largest saving first."""
    lines = _energy_lines(ledger, project)
    frames = [
        region_moves(lines, grid, availability or Availability.bundled(), policy),
        time_shifts(lines, grid, window_hours),
    ]
    out = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else _empty()
    return out.sort_values(["co2e_saving_kg", "project"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _energy_lines(ledger: pd.DataFrame, project: str | None) -> pd.DataFrame:
    keep = ledger["x_EstimateBasis"].isin(_ENERGY_BASES) & (ledger["x_ItEnergyKwh"] > 0) & ledger["RegionId"].notna()
    if project is not None:
        keep &= ledger["x_Project"] == project
    lines = ledger.loc[keep, ["x_Project", "ProviderName", "x_InstanceType", "RegionId", "ChargePeriodStart",
                              "ChargePeriodEnd", "x_ItEnergyKwh", "x_Co2eKg", "x_UsageHours", "x_IntensityBasis", "Tags"]]
    return lines.assign(x_Project=lines["x_Project"].fillna("(unattributed)"),
                        x_InstanceType=lines["x_InstanceType"].fillna("(unknown)"))


_WORKLOAD = ["x_Project", "ProviderName", "x_InstanceType", "RegionId"]


def region_moves(lines: pd.DataFrame, grid: GridData, availability: Availability, policy: Policy | None) -> pd.DataFrame:
    """The same hours in each other region offering the instance type, best ``REGION_CANDIDATES`` per workload."""
    if lines.empty:
        return _empty()
    # one row per workload and charge window: the hours to replay elsewhere
    windows = lines.groupby([*_WORKLOAD, "ChargePeriodStart", "ChargePeriodEnd"], observed=True, sort=False).agg(
        it_kwh=("x_ItEnergyKwh", "sum"), co2e_kg=("x_Co2eKg", "sum"), hours=("x_UsageHours", "sum")).reset_index()
    offers = availability.table.rename(columns={"provider": "ProviderName", "instance_type": "x_InstanceType",
                                                "region": "to_region", "on_demand_usd_per_hour": "to_price"})
    moved = windows.merge(offers[["ProviderName", "x_InstanceType", "to_region", "to_price"]],
                          on=["ProviderName", "x_InstanceType"])
    moved = moved[(moved["to_region"] != moved["RegionId"]) & ~moved["to_region"].str.contains(_RESTRICTED)]
    if policy is not None and len(moved):
        pairs = moved[["x_Project", "ProviderName", "to_region"]].drop_duplicates()
        allowed = pairs[[policy(p, pr, r) for p, pr, r in pairs.itertuples(index=False)]]
        moved = moved.merge(allowed, on=["x_Project", "ProviderName", "to_region"])
    if moved.empty:
        return _empty()
    there = grid.annotate(moved["ProviderName"], moved["to_region"], moved["ChargePeriodStart"], moved["ChargePeriodEnd"])
    moved["co2e_moved"] = moved["it_kwh"] * there["x_Pue"].to_numpy() * there["x_CarbonIntensity"].to_numpy() / 1000.0
    moved["to_basis"] = there["x_IntensityBasis"].to_numpy()
    current = windows.groupby(_WORKLOAD, observed=True, sort=False).agg(
        co2e_kg_current=("co2e_kg", "sum"), usage_hours=("hours", "sum")).reset_index()
    per_candidate = moved.groupby([*_WORKLOAD, "to_region"], observed=True, sort=False).agg(
        co2e_kg_moved=("co2e_moved", "sum"), to_price=("to_price", "first"),
        intensity_basis=("to_basis", lambda b: ", ".join(sorted(set(b))))).reset_index()
    table = per_candidate.merge(current, on=_WORKLOAD)
    from_price = availability.table.rename(columns={"provider": "ProviderName", "instance_type": "x_InstanceType",
                                                    "region": "RegionId", "on_demand_usd_per_hour": "from_price"})
    table = table.merge(from_price[["ProviderName", "x_InstanceType", "RegionId", "from_price"]],
                        on=["ProviderName", "x_InstanceType", "RegionId"], how="left")
    table["co2e_saving_kg"] = table["co2e_kg_current"] - table["co2e_kg_moved"]
    table = table[table["co2e_saving_kg"] > 0]
    table = table.sort_values("co2e_saving_kg", ascending=False, kind="stable").groupby(_WORKLOAD, sort=False).head(REGION_CANDIDATES)
    out = pd.DataFrame({
        "kind": "region",
        "project": table["x_Project"], "provider": table["ProviderName"], "instance_type": table["x_InstanceType"],
        "from_region": table["RegionId"], "to_region": table["to_region"], "usage_hours": table["usage_hours"],
        "co2e_kg_current": table["co2e_kg_current"], "co2e_kg_moved": table["co2e_kg_moved"],
        "co2e_saving_kg": table["co2e_saving_kg"],
        "saving_fraction": table["co2e_saving_kg"] / table["co2e_kg_current"],
        "cost_delta": ((table["to_price"] - table["from_price"]) * table["usage_hours"]).round(2) + 0.0,  # no -0.0
        "cost_currency": "USD", "cost_basis": "on-demand list price difference × usage hours (bundled price table)",
        "window_hours": np.nan, "intensity_basis": table["intensity_basis"],
        "caveats": [_region_caveats(grid, *row) for row in
                    zip(table["ProviderName"], table["RegionId"], table["to_region"], table["from_price"], table["to_price"])],
    })
    return out.reset_index(drop=True)


def _region_caveats(grid: GridData, provider: str, from_region: str, to_region: str, from_price: float,
                    to_price: float) -> str:
    notes = ["data egress and storage moves not included", "capacity in the target region not guaranteed"]
    here, there = grid.region_info(provider, from_region), grid.region_info(provider, to_region)
    if here is not None and there is not None and here.country != there.country:
        notes.append(f"different country ({here.country} → {there.country}): check latency and data residency")
    if pd.isna(from_price):
        notes.append(f"no on-demand list price for {from_region}: cost delta unknown")
    if pd.isna(to_price):
        notes.append(f"no on-demand list price for {to_region} (reservation or capacity blocks only): cost delta unknown")
    return "; ".join(notes)


def deferrable(tags: pd.Series) -> pd.Series:
    """True where the line's tags mark it deferrable/interruptible (parsed once per distinct Tags value)."""
    codes, uniques = pd.factorize(tags)
    flags = np.array([_is_deferrable(t) for t in uniques] + [False])
    return pd.Series(flags[np.where(codes < 0, len(uniques), codes)], index=tags.index)


def _is_deferrable(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    normalised = {str(k).lower().removeprefix("user:").replace("_", "-"): str(v).strip().lower() for k, v in parsed.items()}
    return any(normalised.get(key) in _TRUE for key in _DEFERRABLE_KEYS)


def time_shifts(lines: pd.DataFrame, grid: GridData, window_hours: int) -> pd.DataFrame:
    """Flexible-start and pause-and-resume savings of deferrable workloads within ``window_hours``."""
    lines = lines[deferrable(lines["Tags"])] if len(lines) else lines
    if lines.empty:
        return _empty()
    rows = []
    for key, group in lines.groupby(_WORKLOAD, observed=True, sort=True):
        rows.extend(_shift_workload(key, group, grid, window_hours))
    return pd.DataFrame(rows, columns=list(COLUMNS)) if rows else _empty()


def _shift_workload(key: tuple, group: pd.DataFrame, grid: GridData, window_hours: int) -> list[dict]:
    project, provider, instance_type, region = key
    info = grid.region_info(provider, region)
    if info is None or info.grid_zone not in grid.hourly_zones:
        return []
    hour = group["ChargePeriodStart"].dt.floor("h")
    profile = group.groupby(hour)["x_ItEnergyKwh"].sum()
    first, last = profile.index.min(), profile.index.max()
    energy = profile.reindex(pd.date_range(first, last, freq="h"), fill_value=0.0).to_numpy()
    intensity = grid.hourly(info.grid_zone, first, last + pd.Timedelta(hours=window_hours + 1)).to_numpy()
    current = float(np.dot(energy, intensity[: len(energy)]))
    shifted = np.array([np.dot(energy, intensity[s: s + len(energy)]) for s in range(window_hours + 1)])
    best_shift = int(shifted.argmin())
    running = energy > 0
    cleanest = np.sort(intensity[: len(energy) + window_hours])[: int(running.sum())]
    paused = float(cleanest.sum() * energy[running].mean()) if running.any() else current
    scale = float(group["x_Co2eKg"].sum()) / current if current > 0 else 0.0     # PUE and units, as on the ledger
    hours = float(group["x_UsageHours"].sum())
    common = {"kind": "time", "project": project, "provider": provider, "instance_type": instance_type,
              "from_region": region, "to_region": region, "usage_hours": hours, "co2e_kg_current": current * scale,
              "cost_delta": 0.0, "cost_currency": "USD", "cost_basis": "same region and hours: no price change",
              "window_hours": float(window_hours), "intensity_basis": ", ".join(sorted(set(group["x_IntensityBasis"].dropna())))}
    out = []
    for label, emissions in ((f"flexible start: begin {best_shift} h later", shifted[best_shift]),
                             ("pause and resume in the window's cleanest hours", paused)):
        saving = (current - emissions) * scale
        if saving > 0:
            out.append({**common, "co2e_kg_moved": emissions * scale, "co2e_saving_kg": saving,
                        "saving_fraction": saving / (current * scale),
                        "caveats": f"{label} (window {window_hours} h after each run's start, Dodge et al. 2022); "
                                   "assumes the job tolerates the delay or checkpoints cheaply"})
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in _NUMERIC else "object") for c in COLUMNS})


_NUMERIC = {"usage_hours", "co2e_kg_current", "co2e_kg_moved", "co2e_saving_kg", "saving_fraction", "cost_delta", "window_hours"}


def to_records(recommendations: pd.DataFrame) -> list[dict]:
    """JSON-ready dicts (NaN → None), in the order given."""
    frame = recommendations.astype(object).where(recommendations.notna(), None)
    return frame.to_dict("records")


def policy_from_allowed(allowed: Mapping[str, Sequence[str]]) -> Policy:
    """A policy from ``project -> allowed regions`` (``"*"`` applies to every project not listed)."""
    def check(project: str, provider: str, region: str) -> bool:
        regions = allowed.get(project, allowed.get("*"))
        return regions is None or region in regions or f"{provider}:{region}" in regions
    return check
