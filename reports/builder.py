"""The organisation report: computes the template context from a ledger and its summary, renders, writes.

``write_report`` writes ``report.html`` (one self-contained file: inline CSS and SVG, no scripts,
nothing fetched) and each breakdown table as CSV, Parquet and an XLSX sheet, each atomically. What belongs here: choosing what
the report shows and formatting table cells. Not here: aggregation (``reports.tables``), drawing
(``reports.svg``), number formats (``reports.units``), layout (``templates/report.html.j2``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from carbonledger import io, schema
from reports import svg, units
from reports.tables import KEYS, NONE_LABEL, breakdowns

#: Rows shown per table in the HTML (the CSV extracts hold every row).
TABLE_ROWS = 25
#: Bars per chart.
CHART_BARS = 15

ELECTRICITY_MAPS_ATTRIBUTION = "Grid carbon intensity: Electricity Maps (2022 hourly, lifecycle), ODbL"

INTENSITY_BASIS_LABELS = {
    "hourly": "hourly: the zone's intensity in the same hours",
    "hourly_proxy_year": "hourly, proxy year: the zone's hourly profile of another data year",
    "annual_zone": "annual zone average",
    "annual_country": "annual country average (region given only as a country or multi-region)",
    "annual_region": "annual factor of the region (Cloud Carbon Footprint; zone unknown)",
    "world_average": "world average (zone unknown)",
    NONE_LABEL: "none needed (no energy estimate on the line)",
}

ESTIMATE_BASIS_LABELS = {
    "modelled": "modelled: hardware power model × usage hours × PUE",
    "measured": "measured energy (on-node telemetry)",
    "calibrated": "modelled × a factor calibrated on measured lines of the same kind",
    "unmapped": "unmapped: compute without a hardware profile (no estimate)",
    "no_energy_model": "usage without an energy model (e.g. storage, network)",
    "non_usage": "not usage (tax, credit, purchase, adjustment)",
}

# Summary keys shown in the headline (missing keys show as a dash).
_HEADLINE_KEYS = (
    "period_start", "period_end", "rows_in", "rows_ledger", "rows_quarantined", "tie_out_ok",
    "energy_kwh", "energy_kwh_low", "energy_kwh_high", "co2e_kg", "co2e_kg_low", "co2e_kg_high",
    "co2e_kg_market", "embodied_co2e_kg", "coverage_cost_fraction",
)

# Ledger columns the report reads.
_REQUIRED = sorted(
    {c for keys in KEYS.values() for c in keys.values()}
    | {"BillingCurrency", "BilledCost", "x_UsageHours", "x_EnergyKwh", "x_ItEnergyKwh", "x_Co2eKg", "x_Co2eKgLow",
       "x_Co2eKgHigh", "x_Co2eKgMarket", "x_EmbodiedCo2eKg", "x_CarbonIntensity", "x_Pue", "x_PueSource",
       "x_IntensitySource", "x_IntensityYear", "x_MarketBasis", "x_EmbodiedSource"}
)


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written: the HTML file, each breakdown's CSV and Parquet (keyed by table
    name), and one XLSX workbook with a sheet per breakdown."""

    html: Path
    csvs: dict[str, Path]
    parquets: dict[str, Path]
    workbook: Path


def write_report(
    ledger: pd.DataFrame, summary: Mapping[str, Any], out_dir: Path, *, title: str = "carbonledger emissions report",
    recommendations: pd.DataFrame | None = None, audit: Mapping[str, pd.DataFrame] | None = None,
) -> ReportPaths:
    """Write ``out_dir/report.html`` and, for every breakdown, ``<table>.csv`` and ``<table>.parquet``,
    plus ``breakdowns.xlsx`` (a sheet per breakdown), each atomically."""
    _require_columns(ledger)
    out_dir = Path(out_dir)
    tables = breakdowns(ledger)
    csvs = {name: io.write_csv(out_dir / f"{name}.csv", table) for name, table in tables.items()}
    parquets = {name: io.write_parquet(out_dir / f"{name}.parquet", table) for name, table in tables.items()}
    workbook = io.write_atomic(out_dir / "breakdowns.xlsx", lambda tmp: _write_workbook(tmp, tables))
    html = io.write_text(out_dir / "report.html",
                         render_html(ledger, summary, tables, title=title, recommendations=recommendations, audit=audit))
    return ReportPaths(html=html, csvs=csvs, parquets=parquets, workbook=workbook)


def _write_workbook(path: Path, tables: Mapping[str, pd.DataFrame]) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in tables.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)


def render_html(ledger: pd.DataFrame, summary: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], *, title: str,
                recommendations: pd.DataFrame | None = None, audit: Mapping[str, pd.DataFrame] | None = None) -> str:
    """The report as one HTML string."""
    context = build_context(ledger, summary, tables, title=title, recommendations=recommendations, audit=audit)
    return environment().get_template("report.html.j2").render(**context)


def build_context(ledger: pd.DataFrame, summary: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], *, title: str,
                  recommendations: pd.DataFrame | None = None,
                  audit: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Everything the template shows, computed from the ledger's breakdown tables and the run summary."""
    return {
        "title": title,
        "headline": {key: summary.get(key) for key in _HEADLINE_KEYS},
        "coverage_by_currency": summary.get("coverage_cost_fraction_by_currency") or {},
        "costs": _cost_lines(summary, tables["by_provider"]),
        "daily": daily_section(tables["by_day"]),
        "sections": [
            _section("By project", "by_project", tables, ["project"], [_text("Project", "project")]),
            _section("By team", "by_team", tables, ["team"], [_text("Team", "team")]),
            _section("By account", "by_account", tables, ["account"], [_text("Account", "account")]),
            _section(
                "By region", "by_region", tables, ["provider", "region", "grid_zone"],
                [_text("Provider", "provider"), _text("Region", "region"), _text("Grid zone", "grid_zone"),
                 _num("Intensity gCO2e/kWh", lambda r: units.number(r["carbon_intensity_g_per_kwh"])),
                 _num("PUE", lambda r: units.number(r["pue"], 2))],
            ),
            _section("By provider", "by_provider", tables, ["provider"], [_text("Provider", "provider")]),
            _section("By service", "by_service", tables, ["provider", "service"],
                     [_text("Provider", "provider"), _text("Service", "service")]),
            _section("By GPU model", "by_gpu_model", tables, ["gpu_model"], [_text("GPU model", "gpu_model")]),
        ],
        "kpis": _kpis(ledger),
        "recommendations": _recommendations(recommendations),
        "reconciliation": _reconciliation(summary),
        "audit": _audit(audit),
        "unmapped": _unmapped(summary),
        "methodology": _methodology(ledger, tables["by_basis"]),
        "attribution": ELECTRICITY_MAPS_ATTRIBUTION,
    }


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=units.number, energy=units.energy, mass=units.mass, money=units.money, percent=units.percent)
    return env


def _require_columns(ledger: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in ledger.columns]
    if missing:
        raise schema.SchemaError(f"ledger given to the report lacks column(s) {', '.join(missing)}")


# --- tables ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[Mapping[str, Any]], str]
    numeric: bool


def _text(header: str, key: str) -> _Column:
    return _Column(header, lambda r: str(r[key]), numeric=False)


def _num(header: str, cell: Callable[[Mapping[str, Any]], str]) -> _Column:
    return _Column(header, cell, numeric=True)


_MEASURE_COLUMNS = [
    _num("Location-based CO2e", lambda r: units.mass(r["co2e_kg"])),
    _num("Range (low–high)", lambda r: f"{units.mass(r['co2e_kg_low'])} – {units.mass(r['co2e_kg_high'])}"),
    _num("Market-based CO2e", lambda r: units.mass(r["co2e_kg_market"])),
    _num("Embodied CO2e", lambda r: units.mass(r["embodied_co2e_kg"])),
    _num("Energy", lambda r: units.energy(r["energy_kwh"])),
    _num("Usage hours", lambda r: units.number(r["usage_hours"])),
    _num("Cost", lambda r: units.money(r["cost"], r["currency"])),
    _num("Rows", lambda r: units.number(r["rows"])),
]


def _display(table: pd.DataFrame, columns: list[_Column], csv_name: str, limit: int = TABLE_ROWS) -> dict[str, Any]:
    """A table as header cells and formatted rows, at most ``limit`` rows (the CSV has the rest)."""
    records = table.head(limit).to_dict("records")
    return {
        "headers": [(c.header, c.numeric) for c in columns],
        "rows": [[(c.cell(r), c.numeric) for c in columns] for r in records],
        "shown": len(records),
        "total": len(table),
        "csv": csv_name,
    }


def _chart_values(table: pd.DataFrame, keys: list[str]) -> tuple[list[str], pd.DataFrame]:
    """Location-based CO2e per key summed over currencies, largest first, at most CHART_BARS."""
    per_key = table.groupby(keys, sort=False)[["co2e_kg"]].sum()
    per_key = per_key.sort_values("co2e_kg", ascending=False).head(CHART_BARS)
    labels = [" · ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in per_key.index]
    return labels, per_key


def _mass_scale(values: pd.Series) -> tuple[float, str]:
    """Divisor and unit for charting CO2e masses: tonnes once the largest value reaches one."""
    return (1000.0, "t CO2e") if len(values) and values.max() >= 1000 else (1.0, "kg CO2e")


def _section(
    title: str, name: str, tables: Mapping[str, pd.DataFrame], keys: list[str], key_columns: list[_Column]
) -> dict[str, Any]:
    """A chart of location-based CO2e per key and the breakdown table ``name``."""
    table = tables[name]
    labels, per_key = _chart_values(table, keys)
    divisor, unit = _mass_scale(per_key["co2e_kg"])
    return {
        "title": title,
        "chart": svg.bar_chart(labels, list(per_key["co2e_kg"] / divisor), title=f"Location-based emissions {title.lower()}", unit=unit),
        "table": _display(table, key_columns + [_text("Currency", "currency"), *_MEASURE_COLUMNS], f"{name}.csv"),
    }


def daily_section(by_day: pd.DataFrame) -> dict[str, Any]:
    per_day = by_day.groupby("date", sort=True)[["co2e_kg", "co2e_kg_low", "co2e_kg_high"]].sum()
    divisor, unit = _mass_scale(per_day["co2e_kg"])
    chart = svg.column_chart(
        list(per_day.index), list(per_day["co2e_kg"] / divisor),
        low=list(per_day["co2e_kg_low"] / divisor), high=list(per_day["co2e_kg_high"] / divisor),
        title="Location-based emissions by day (bars) with low–high range", unit=unit,
    )
    columns = [_text("Date (UTC)", "date"), _text("Currency", "currency"), *_MEASURE_COLUMNS]
    return {"chart": chart, "table": _display(by_day, columns, "by_day.csv", limit=max(TABLE_ROWS, 62))}


# --- headline, unmapped, methodology -----------------------------------------------------------

def _cost_lines(summary: Mapping[str, Any], by_provider: pd.DataFrame) -> list[dict[str, Any]]:
    """Cost in / in ledger / quarantined per currency, from the summary's exact totals where given."""
    by_currency = summary.get("cost_by_currency")
    if by_currency:
        return [
            {"currency": cur, "in": float(v["in"]), "ledger": float(v["ledger"]), "quarantined": float(v["quarantined"])}
            for cur, v in by_currency.items()
        ]
    currency = summary.get("currency")
    if currency and currency != "mixed":
        return [{"currency": currency, "in": summary.get("cost_in"), "ledger": summary.get("cost_ledger"),
                 "quarantined": summary.get("cost_quarantined")}]
    ledger_cost = by_provider.groupby("currency", sort=True)["cost"].sum()
    return [{"currency": cur, "in": None, "ledger": float(cost), "quarantined": None} for cur, cost in ledger_cost.items()]


def _kpis(ledger: pd.DataFrame) -> list[dict[str, str]]:
    """Intensity KPIs: location-based kg CO2e per GPU-hour and per 1,000 of each billing currency."""
    co2e = ledger["x_Co2eKg"].astype("float64")
    gpu_hours = float((ledger["x_UsageHours"].fillna(0) * ledger["x_GpuCount"].fillna(0)).sum())
    gpu_lines = ledger["x_GpuCount"].fillna(0) > 0
    kpis = [{"label": "kg CO2e per GPU-hour",
             "value": units.number(float(co2e[gpu_lines].sum()) / gpu_hours, 3) if gpu_hours else "–",
             "detail": f"GPU instances only, over {units.number(gpu_hours)} GPU-hours"}]
    for currency, cost in ledger.groupby(ledger["BillingCurrency"].astype("string"), sort=True)["BilledCost"].sum().items():
        in_currency = co2e[ledger["BillingCurrency"] == currency].sum()
        kpis.append({"label": f"kg CO2e per 1,000 {currency}",
                     "value": units.number(1000 * float(in_currency) / float(cost), 2) if cost > 0 else "–",
                     "detail": f"all lines billed in {currency}, net of credits"})
    return kpis


def _recommendations(recommendations: pd.DataFrame | None) -> dict[str, Any] | None:
    """The largest savings (``footprint.recommend`` rows), formatted; None when none were computed."""
    if recommendations is None:
        return None
    top = recommendations.head(TABLE_ROWS // 2)
    return {"total": len(recommendations), "rows": [
        {"project": r.project, "kind": r.kind, "instance_type": r.instance_type,
         "move": f"{r.from_region} → {r.to_region}" if r.kind == "region" else r.caveats.split(" (")[0],
         "saving": f"{units.mass(r.co2e_saving_kg)} ({units.percent(r.saving_fraction, 0)})",
         "cost": "unknown" if pd.isna(r.cost_delta) else units.money(r.cost_delta, r.cost_currency),
         "caveats": r.caveats}
        for r in top.itertuples(index=False)]}


def _reconciliation(summary: Mapping[str, Any]) -> dict[str, str] | None:
    """Measured vs modelled energy, when the run reconciled telemetry."""
    if "telemetry_energy_kwh" not in summary:
        return None
    block = summary.get("reconciliation") or {}
    return {"measured": units.energy(summary["telemetry_energy_kwh"]),
            "matched": units.energy(summary["telemetry_matched_kwh"]),
            "unmatched": units.energy(summary["telemetry_unmatched_kwh"]),
            "problems": units.number(block.get("telemetry_problems"))}


def _audit(audit: Mapping[str, pd.DataFrame] | None) -> dict[str, Any] | None:
    """Tie-out per source, region mismatches and policy violations, as formatted rows."""
    if audit is None:
        return None
    sources = audit["tie_out_by_source"].groupby(["source_file", "currency"], as_index=False).agg(
        rows_ledger=("rows_ledger", "sum"), rows_quarantined=("rows_quarantined", "sum"),
        cost_ledger=("cost_ledger", "sum"), cost_quarantined=("cost_quarantined", "sum"))
    mismatches = audit["region_audit"][audit["region_audit"]["mismatch"]]
    violations = audit.get("policy_violations")
    return {
        "sources": [{"file": Path(str(r.source_file)).name, "rows": f"{units.number(r.rows_ledger)} + {units.number(r.rows_quarantined)}",
                     "cost": f"{units.money(r.cost_ledger, r.currency)} + {units.money(r.cost_quarantined, r.currency)}"}
                    for r in sources.head(TABLE_ROWS).itertuples(index=False)],
        "sources_total": len(sources),
        "mismatches": [{"resource": r.ResourceId, "project": r.x_Project, "detail": r.mismatch_detail,
                        "co2e": units.mass(r.x_Co2eKg)} for r in mismatches.head(TABLE_ROWS).itertuples(index=False)],
        "mismatches_total": len(mismatches),
        "violations": None if violations is None else [
            {"project": r.x_Project, "region": r.region, "rule": r.rule, "severity": r.severity,
             "detail": r.detail, "cost": units.money(r.BilledCost, r.BillingCurrency), "co2e": units.mass(r.x_Co2eKg)}
            for r in violations.head(TABLE_ROWS).itertuples(index=False)],
    }


def _unmapped(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's unmapped instance types (largest cost first, as given), at most TABLE_ROWS."""
    items = list(summary.get("unmapped") or [])
    single_currency = summary.get("currency") if summary.get("currency") != "mixed" else None
    rows = [
        {
            "provider": str(item.get("provider") or NONE_LABEL),
            "instance_type": str(item.get("instance_type") or NONE_LABEL),
            "cost": units.money(item.get("cost"), item.get("currency") or single_currency),
            "rows": units.number(item.get("rows")),
            "usage_hours": units.number(item.get("usage_hours")),
        }
        for item in items[:TABLE_ROWS]
    ]
    return {"rows": rows, "shown": len(rows), "total": len(items)}


def _methodology(ledger: pd.DataFrame, by_basis: pd.DataFrame) -> dict[str, Any]:
    """Which bases and sources the figures rest on, with the rows and energy behind each."""
    return {
        "intensity_bases": _basis_counts(by_basis, "intensity_basis", INTENSITY_BASIS_LABELS),
        "estimate_bases": _basis_counts(by_basis, "estimate_basis", ESTIMATE_BASIS_LABELS),
        "pue_sources": _source_counts(ledger, ["x_PueSource"]),
        "intensity_sources": _source_counts(ledger, ["x_IntensitySource", "x_IntensityYear"]),
        "market_bases": _source_counts(ledger, ["x_MarketBasis"]),
        "embodied_sources": _source_counts(ledger, ["x_EmbodiedSource"]),
    }


def _basis_counts(by_basis: pd.DataFrame, key: str, labels: Mapping[str, str]) -> list[dict[str, str]]:
    counts = by_basis.groupby(key, sort=False)[["rows", "energy_kwh", "co2e_kg"]].sum().sort_values("rows", ascending=False)
    return [
        {"label": labels.get(str(name), str(name)), "rows": units.number(r.rows),
         "energy": units.energy(r.energy_kwh), "co2e": units.mass(r.co2e_kg)}
        for name, r in counts.iterrows()
    ]


def _source_counts(ledger: pd.DataFrame, columns: list[str], limit: int = 20) -> list[dict[str, str]]:
    """Rows and facility energy per distinct source (lines without one carry no estimate and are left out)."""
    frame = ledger[columns].astype("string")
    frame["energy_kwh"] = ledger["x_EnergyKwh"]
    present = frame.dropna(subset=[columns[0]])
    grouped = present.groupby(columns, dropna=False, sort=False)["energy_kwh"]
    counts = pd.DataFrame({"rows": grouped.size(), "energy_kwh": grouped.sum()}).sort_values("energy_kwh", ascending=False)
    return [
        {"label": " · ".join(str(p) for p in (key if isinstance(key, tuple) else (key,)) if not pd.isna(p)),
         "rows": units.number(r.rows), "energy": units.energy(r.energy_kwh)}
        for key, r in counts.head(limit).iterrows()
    ]
