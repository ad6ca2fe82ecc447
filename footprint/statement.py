"""Carbon statements: one project's footprint as a Markdown paragraph and table, ready for a paper.

Everything is summed from the project's ledger rows over the chosen days: hardware and
accelerator-hours, IT and facility energy, the energy-weighted PUE and grid intensity with their
sources and bases, location- and market-based emissions, embodied emissions, and the low–high
range. The method paragraph cites the sources the numbers rest on (Lacoste et al. 2019,
Patterson et al. 2021, GHG Protocol Scope 2). Not here: building the ledger, formatting HTML.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from carbonledger.errors import UsageError

METHOD = (
    "Energy is modelled per billed instance-hour from the hardware's power (accelerators, CPU and memory at an "
    "assumed utilisation, or measured where telemetry exists) and multiplied by the data centre's PUE; emissions "
    "are energy × the grid's life-cycle carbon intensity in the hours the work ran, location-based, with the "
    "market-based figure alongside (GHG Protocol Scope 2 Guidance, 2015). The approach follows Lacoste et al. "
    "(2019, arXiv:1910.09700) and Patterson et al. (2021, arXiv:2104.10350); embodied emissions of the hardware are "
    "amortised over its lifetime and reported separately. Computed with carbonledger from the cloud bill."
)


def carbon_statement(ledger: pd.DataFrame, project: str, *, start: dt.date | None = None, end: dt.date | None = None) -> str:
    """The Markdown carbon statement of ``project`` over [start, end] (UTC days, inclusive)."""
    rows = ledger[ledger["x_Project"] == project]
    if rows.empty:
        known = sorted(ledger["x_Project"].dropna().unique())
        raise UsageError(f"no ledger lines of project {project!r}; projects: {', '.join(known[:20]) or 'none'}")
    days = rows["ChargePeriodStart"].dt.tz_convert("UTC").dt.date
    if start is not None:
        rows, days = rows[days >= start], days[days >= start]
    if end is not None:
        rows, days = rows[days <= end], days[days <= end]
    if rows.empty:
        raise UsageError(f"project {project!r} has no ledger lines between {start or 'the start'} and {end or 'the end'}")
    energy = rows[rows["x_EnergyKwh"] > 0]
    facility_kwh = float(energy["x_EnergyKwh"].sum())
    it_kwh = float(energy["x_ItEnergyKwh"].sum())
    co2e = float(rows["x_Co2eKg"].sum())
    low, high = float(rows["x_Co2eKgLow"].sum()), float(rows["x_Co2eKgHigh"].sum())
    market = float(rows["x_Co2eKgMarket"].sum())
    embodied = float(rows["x_EmbodiedCo2eKg"].sum())
    pue = facility_kwh / it_kwh if it_kwh else float("nan")
    intensity = co2e * 1000 / facility_kwh if facility_kwh else float("nan")
    hardware = _hardware(energy[energy["x_UsageHours"] > 0])     # compute lines; storage and network have no hours
    regions = _regions(energy)
    accelerator_hours = float((energy["x_UsageHours"].fillna(0) * energy["x_GpuCount"].fillna(0)).sum())
    period = f"{days.min().isoformat()} to {days.max().isoformat()}"
    lines = [
        f"## Carbon statement: {project}",
        "",
        f"From {period} (UTC), {project} used {_hardware_sentence(hardware, accelerator_hours)}, "
        f"drawing an estimated **{facility_kwh:,.0f} kWh** of facility energy ({it_kwh:,.0f} kWh at the servers, "
        f"PUE {pue:.2f}). At an average grid intensity of {intensity:,.0f} gCO2e/kWh this corresponds to "
        f"**{_t(co2e)} CO2e** (location-based; range {_t(low)}–{_t(high)}), {_t(market)} CO2e market-based, "
        f"plus {_t(embodied)} CO2e of embodied hardware emissions "
        f"({_share(embodied, co2e + embodied)} of the total including embodied).{_proxy_note(energy, days)}",
        "",
        "| Quantity | Value |",
        "|---|---|",
        f"| Hardware (instance-hours) | {'; '.join(f'{name}: {h:,.0f} h' for name, h in hardware) or 'none with an energy estimate'} |",
        f"| Accelerator-hours | {accelerator_hours:,.0f} |",
        f"| IT energy | {it_kwh:,.1f} kWh |",
        f"| PUE (energy-weighted) | {pue:.2f} ({'; '.join(sorted(energy['x_PueSource'].dropna().unique()))}) |",
        f"| Facility energy | {facility_kwh:,.1f} kWh |",
        f"| Regions (grid zone, mean gCO2e/kWh) | {'; '.join(regions)} |",
        f"| Grid intensity sources | {'; '.join(_sources(energy))} |",
        f"| Location-based emissions | {_t(co2e)} CO2e (range {_t(low)}–{_t(high)}) |",
        f"| Market-based emissions | {_t(market)} CO2e ({'; '.join(sorted(energy['x_MarketBasis'].dropna().unique()))}) |",
        f"| Embodied emissions | {_t(embodied)} CO2e |",
        f"| Estimate bases (rows) | {', '.join(f'{b}: {n:,}' for b, n in rows['x_EstimateBasis'].value_counts().items())} |",
        "",
        f"*Method.* {METHOD}",
        "",
    ]
    return "\n".join(lines)


def _hardware(energy: pd.DataFrame) -> list[tuple[str, float]]:
    """(instance type with its accelerators, instance-hours), most hours first (labels built per group)."""
    keys = [energy["x_InstanceType"].astype("string").fillna("?"), energy["x_GpuCount"].fillna(0.0),
            energy["x_GpuModel"].astype("string").fillna("")]
    hours: dict[str, float] = {}
    for (instance, gpus, model), total in energy.groupby(keys, sort=False)["x_UsageHours"].sum().items():
        label = f"{instance} ({gpus:g} × {model})" if model else str(instance)
        hours[label] = hours.get(label, 0.0) + float(total)
    return sorted(hours.items(), key=lambda item: -item[1])


def _hardware_sentence(hardware: list[tuple[str, float]], accelerator_hours: float) -> str:
    hours = sum(h for _, h in hardware)
    kinds = ", ".join(name for name, _ in hardware[:3]) + (" and others" if len(hardware) > 3 else "")
    accel = f", {accelerator_hours:,.0f} accelerator-hours" if accelerator_hours else ""
    return f"{hours:,.0f} instance-hours of {kinds}{accel}"


def _regions(energy: pd.DataFrame) -> list[str]:
    weighted = energy.assign(w=energy["x_CarbonIntensity"] * energy["x_EnergyKwh"])
    grouped = weighted.groupby([energy["ProviderName"], energy["RegionId"], energy["x_GridZone"].fillna("?")]).agg(
        w=("w", "sum"), kwh=("x_EnergyKwh", "sum")).sort_values("kwh", ascending=False)
    return [f"{p}:{r} ({z}, {row.w / row.kwh:,.0f})" for (p, r, z), row in grouped.iterrows()]


def _sources(energy: pd.DataFrame) -> list[str]:
    pairs = energy[["x_IntensitySource", "x_IntensityBasis", "x_IntensityYear"]].drop_duplicates().dropna(subset=["x_IntensitySource"])
    return [f"{s} ({b}, data year {y})" for s, b, y in pairs.itertuples(index=False)]


def _proxy_note(energy: pd.DataFrame, days: pd.Series) -> str:
    proxied = energy.loc[energy["x_IntensityBasis"] == "hourly_proxy_year", "x_IntensityYear"].dropna().unique()
    if not len(proxied):
        return ""
    years = ", ".join(str(int(y)) for y in sorted(proxied))
    return (f" Grid intensity for {days.min().year} comes from the same hours of {years} (the latest hourly data "
            "available), matched by week of year, weekday and hour.")


def _t(kg: float) -> str:
    return f"{kg / 1000:,.3f} t" if abs(kg) >= 1000 else f"{kg:,.1f} kg"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"
