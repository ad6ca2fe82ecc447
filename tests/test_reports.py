"""Tests of the organisation report: breakdown tables, CSV extracts and the self-contained HTML."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from carbonledger import schema
from reports import ReportPaths, breakdowns, write_report
from reports import svg, units
from reports.tables import MEASURES

HOSTILE = "<script>alert('x')</script>"


def ledger_rows(rows: list[dict]) -> pd.DataFrame:
    """A canonical ledger from hand-written rows: a modelled GPU hour unless a row says otherwise.

    Energy and emissions are derived the way the ledger defines them (energy = IT energy × PUE,
    CO2e = energy × intensity / 1000) so the frames are internally consistent.
    """
    defaults = {
        "ChargePeriodStart": "2022-06-01T10:00:00Z", "ChargePeriodEnd": "2022-06-01T11:00:00Z",
        "ProviderName": "aws", "RegionId": "us-east-1", "ChargeCategory": "Usage",
        "BilledCost": 32.77, "BillingCurrency": "USD", "x_SourceFormat": "test", "x_SourceFile": "test.csv",
        "x_InstanceType": "p4d.24xlarge", "x_UsageHours": 1.0, "x_Project": "llm-train", "x_Team": "research",
        "x_GpuModel": "A100-SXM4-40GB", "x_GpuCount": 8.0, "x_PowerW": 3000.0, "x_ItEnergyKwh": 3.0,
        "x_Pue": 1.15, "x_PueSource": "AWS us-east-1 CY2025", "x_GridZone": "US-MIDA-PJM",
        "x_CarbonIntensity": 400.0, "x_IntensityBasis": "hourly", "x_IntensityYear": 2022,
        "x_IntensitySource": "Electricity Maps 2022 hourly lifecycle", "x_MarketBasis": "no instruments",
        "x_EmbodiedCo2eKg": 0.5, "x_EmbodiedSource": "test coefficient", "x_EstimateBasis": "modelled",
    }
    full = []
    for i, row in enumerate(rows):
        r = {**defaults, "x_SourceRow": i + 1, **row}
        energy_kwh = r["x_ItEnergyKwh"] * (r["x_Pue"] if r["x_Pue"] is not None else 0.0)
        intensity = r["x_CarbonIntensity"] if r["x_CarbonIntensity"] is not None else 0.0
        derived = {
            "x_EnergyKwh": energy_kwh, "x_EnergyKwhLow": 0.8 * energy_kwh, "x_EnergyKwhHigh": 1.2 * energy_kwh,
            "x_Co2eKg": energy_kwh * intensity / 1000, "x_Co2eKgLow": 0.8 * energy_kwh * intensity / 1000,
            "x_Co2eKgHigh": 1.2 * energy_kwh * intensity / 1000, "x_Co2eKgMarket": 0.5 * energy_kwh * intensity / 1000,
        }
        full.append({**derived, **r})
    return schema.conform(pd.DataFrame(full), schema.LEDGER_COLUMNS)


def non_energy(**row) -> dict:
    """A line without an energy estimate (tax, storage, unmapped compute)."""
    return {"x_ItEnergyKwh": 0.0, "x_Pue": None, "x_PueSource": None, "x_CarbonIntensity": None, "x_GridZone": None,
            "x_IntensityBasis": None, "x_IntensityYear": None, "x_IntensitySource": None, "x_MarketBasis": None,
            "x_EmbodiedCo2eKg": 0.0, "x_EmbodiedSource": None, "x_GpuModel": None, "x_GpuCount": 0.0, "x_PowerW": 0.0,
            **row}


@pytest.fixture
def ledger() -> pd.DataFrame:
    return ledger_rows([
        {},
        {"ChargePeriodStart": "2022-06-02T03:00:00Z", "ChargePeriodEnd": "2022-06-02T04:00:00Z", "x_ItEnergyKwh": 6.0},
        {"x_Project": "vision", "RegionId": "eu-north-1", "x_GridZone": "SE-SE3", "x_CarbonIntensity": 40.0,
         "x_Pue": 1.09, "x_PueSource": "AWS eu-north-1 CY2025", "x_IntensityBasis": "hourly_proxy_year",
         "ChargePeriodStart": "2023-06-02T05:00:00Z", "ChargePeriodEnd": "2023-06-02T06:00:00Z"},
        {"ProviderName": "azure", "RegionId": "westeurope", "BillingCurrency": "EUR", "BilledCost": 27.2,
         "x_Project": HOSTILE, "x_GridZone": "NL", "x_CarbonIntensity": 300.0, "x_Pue": 1.18,
         "x_InstanceType": "Standard_ND96asr_v4", "x_IntensityBasis": "annual_zone", "x_PueSource": "Microsoft FY2025 EMEA"},
        non_energy(ChargeCategory="Tax", BilledCost=3.1, x_UsageHours=None, x_InstanceType=None, x_EstimateBasis="non_usage"),
        non_energy(x_InstanceType="x9.fantasy", BilledCost=12.5, x_EstimateBasis="unmapped", x_Project=None),
    ])


def summary_of(ledger: pd.DataFrame) -> dict:
    """The summary keys the report reads, computed from the test ledger (one quarantined USD row)."""
    costs = ledger.groupby("BillingCurrency")["BilledCost"].sum()
    unmapped = ledger.loc[ledger["x_EstimateBasis"] == "unmapped"]
    return {
        "rows_in": len(ledger) + 1, "rows_ledger": len(ledger), "rows_quarantined": 1,
        "cost_in": None, "cost_ledger": None, "cost_quarantined": None, "currency": "mixed",
        "cost_by_currency": {cur: {"in": str(v + (2.0 if cur == "USD" else 0.0)), "ledger": str(v),
                                   "quarantined": "2.0" if cur == "USD" else "0"} for cur, v in costs.items()},
        "tie_out_ok": True, "period_start": "2022-06-01", "period_end": "2023-06-02",
        "energy_kwh": ledger["x_EnergyKwh"].sum(), "energy_kwh_low": ledger["x_EnergyKwhLow"].sum(),
        "energy_kwh_high": ledger["x_EnergyKwhHigh"].sum(), "co2e_kg": ledger["x_Co2eKg"].sum(),
        "co2e_kg_low": ledger["x_Co2eKgLow"].sum(), "co2e_kg_high": ledger["x_Co2eKgHigh"].sum(),
        "co2e_kg_market": ledger["x_Co2eKgMarket"].sum(), "embodied_co2e_kg": ledger["x_EmbodiedCo2eKg"].sum(),
        "coverage_cost_fraction": 0.9,
        "unmapped": [{"provider": r.ProviderName, "instance_type": r.x_InstanceType, "currency": r.BillingCurrency,
                      "cost": r.BilledCost, "rows": 1} for r in unmapped.itertuples()],
    }


EXPECTED_TABLES = {"by_day", "by_project", "by_team", "by_account", "by_service", "by_region", "by_provider",
                   "by_gpu_model", "by_basis"}


def test_breakdowns_sum_to_ledger_totals(ledger):
    tables = breakdowns(ledger)
    assert set(tables) == EXPECTED_TABLES
    for name, table in tables.items():
        assert table["rows"].sum() == len(ledger), name
        for measure, column in MEASURES.items():
            assert table[measure].sum() == pytest.approx(ledger[column].fillna(0).sum()), (name, measure)
        for cur in ("USD", "EUR"):
            in_cur = ledger["BillingCurrency"] == cur
            assert table.loc[table["currency"] == cur, "cost"].sum() == pytest.approx(ledger.loc[in_cur, "BilledCost"].sum())


def test_breakdown_order_and_keys(ledger):
    tables = breakdowns(ledger)
    assert list(tables["by_day"]["date"]) == sorted(tables["by_day"]["date"])
    assert list(tables["by_day"]["date"].unique()) == ["2022-06-01", "2022-06-02", "2023-06-02"]
    for name in EXPECTED_TABLES - {"by_day"}:
        co2e = list(tables[name]["co2e_kg"])
        assert co2e == sorted(co2e, reverse=True), name
    projects = tables["by_project"]
    assert set(projects["project"]) == {"llm-train", "vision", HOSTILE, "(none)"}
    llm = projects.loc[projects["project"] == "llm-train"].iloc[0]
    assert llm["rows"] == 3 and llm["energy_kwh"] == pytest.approx((3 + 6) * 1.15)


def test_region_means_are_energy_weighted(ledger):
    region = breakdowns(ledger)["by_region"]
    pjm = region.query("region == 'us-east-1' and grid_zone == 'US-MIDA-PJM'").iloc[0]
    assert pjm["carbon_intensity_g_per_kwh"] == pytest.approx(400.0)
    assert pjm["pue"] == pytest.approx(1.15)
    assert region.query("region == 'eu-north-1'")["pue"].item() == pytest.approx(1.09)
    # Lines without energy have no mean intensity or PUE.
    no_zone = region.query("grid_zone == '(none)'")
    assert no_zone["carbon_intensity_g_per_kwh"].isna().all() and no_zone["pue"].isna().all()


def test_write_report_files(ledger, tmp_path):
    paths = write_report(ledger, summary_of(ledger), tmp_path / "out")
    assert isinstance(paths, ReportPaths)
    assert paths.html == tmp_path / "out" / "report.html" and paths.html.is_file()
    assert set(paths.csvs) == EXPECTED_TABLES
    for name, path in paths.csvs.items():
        assert path == tmp_path / "out" / f"{name}.csv"
        frame = pd.read_csv(path)
        assert frame["rows"].sum() == len(ledger)
        assert frame["co2e_kg"].sum() == pytest.approx(ledger["x_Co2eKg"].sum())
        pd.testing.assert_frame_equal(pd.read_parquet(paths.parquets[name]).reset_index(drop=True),
                                      breakdowns(ledger)[name].reset_index(drop=True), check_dtype=False)
    sheets = pd.read_excel(paths.workbook, sheet_name=None)
    assert set(sheets) == EXPECTED_TABLES
    assert sheets["by_project"]["co2e_kg"].sum() == pytest.approx(ledger["x_Co2eKg"].sum())
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_html_content(ledger, tmp_path):
    summary = summary_of(ledger)
    html = write_report(ledger, summary, tmp_path, title="Acme AI emissions").html.read_text(encoding="utf-8")
    assert "<title>Acme AI emissions</title>" in html
    assert units.mass(summary["co2e_kg"]) in html
    assert units.mass(summary["co2e_kg_market"]) in html
    assert units.mass(summary["embodied_co2e_kg"]) in html
    assert units.energy(summary["energy_kwh"]) in html
    assert f"range {units.mass(summary['co2e_kg_low'])} – {units.mass(summary['co2e_kg_high'])}" in html
    ledger_usd = ledger.loc[ledger["BillingCurrency"] == "USD", "BilledCost"].sum()
    assert units.money(ledger_usd, "USD") in html and "EUR" in html
    assert "90.0 %" in html
    assert f"{len(ledger) + 1:,} in = {len(ledger):,} in the ledger + 1 quarantined" in html
    for project in ("llm-train", "vision"):
        assert project in html
    for zone in ("US-MIDA-PJM", "SE-SE3", "NL"):
        assert zone in html
    assert "x9.fantasy" in html and units.money(12.5, "USD") in html
    assert html.count("<svg") >= 5
    assert "Grid carbon intensity: Electricity Maps (2022 hourly, lifecycle), ODbL" in html
    assert "Location-based is the primary figure; market-based is shown alongside." in html
    for basis in ("hourly: ", "hourly, proxy year", "annual zone average"):
        assert basis in html
    assert "AWS eu-north-1 CY2025" in html and "Microsoft FY2025 EMEA" in html
    assert "@media print" in html


def test_html_is_self_contained(ledger, tmp_path):
    html = write_report(ledger, summary_of(ledger), tmp_path).html.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script|<link|@import|url\(|src=", html, re.IGNORECASE)


def test_hostile_tag_text_is_escaped(ledger, tmp_path):
    html = write_report(ledger, summary_of(ledger), tmp_path, title="<b>t</b>").html.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>t</b>" not in html and "&lt;b&gt;t&lt;/b&gt;" in html


def test_empty_ledger(tmp_path):
    empty = schema.empty(schema.LEDGER_COLUMNS)
    tables = breakdowns(empty)
    assert set(tables) == EXPECTED_TABLES
    assert all(t.empty and {"co2e_kg", "cost", "currency", "rows"} <= set(t.columns) for t in tables.values())
    summary = {"rows_in": 0, "rows_ledger": 0, "rows_quarantined": 0, "cost_in": None, "cost_ledger": None,
               "cost_quarantined": None, "currency": None, "energy_kwh": 0.0, "co2e_kg": 0.0, "co2e_kg_market": 0.0,
               "embodied_co2e_kg": 0.0, "coverage_cost_fraction": 1.0, "unmapped": [], "period_start": None,
               "period_end": None, "tie_out_ok": True}
    paths = write_report(empty, summary, tmp_path)
    html = paths.html.read_text(encoding="utf-8")
    assert "no data" in html and "No rows." in html and "Ties out." in html
    assert pd.read_csv(paths.csvs["by_project"]).empty


def test_missing_ledger_column_is_named(ledger, tmp_path):
    with pytest.raises(schema.SchemaError, match="x_Co2eKg"):
        write_report(ledger.drop(columns=["x_Co2eKg"]), summary_of(ledger), tmp_path)


def test_units():
    assert units.energy(1234.5) == "1.23 MWh" and units.energy(12.0) == "12.0 kWh"
    assert units.mass(1_234_567.0) == "1.23 kt" and units.mass(2500.0) == "2.50 t" and units.mass(0.5) == "0.500 kg"
    assert units.money(1234567.891, "USD") == "1,234,567.89 USD"
    assert units.number(1234567) == "1,234,567" and units.number(math.nan) == units.MISSING
    assert units.percent(0.987) == "98.7 %"


def test_svg_helpers_escape_and_scale():
    chart = svg.bar_chart(["a & b", HOSTILE], [10.0, 5.0], title="t", unit="kg")
    assert "<script" not in chart and "a &amp; b" in chart
    widths = [float(w) for w in re.findall(r'class="bar"[^>]*width="([\d.]+)"', chart)]
    assert widths[0] == pytest.approx(2 * widths[1])
    columns = svg.column_chart(["2022-06-01", "2022-06-02"], [1.0, 2.0], low=[0.5, 1.5], high=[1.5, 2.5], title="t", unit="t")
    assert columns.count('class="bar"') == 2 and columns.count('class="range"') == 2
    assert "no data" in svg.bar_chart([], [], title="t", unit="kg")


def test_output_path_is_created(ledger, tmp_path: Path):
    target = tmp_path / "a" / "b"
    assert write_report(ledger, summary_of(ledger), target).html.parent == target
