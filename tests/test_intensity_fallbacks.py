"""Fallback chain (zone -> country -> annual factor -> world), region coverage of the billing samples, and data-portal files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intensity import BASES, GridData
from intensity.data_portal import DataPortalError, read_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "intensity" / "data"
PORTAL_SAMPLES = REPO / "tests" / "fixtures" / "grid"


@pytest.fixture(scope="module")
def grid() -> GridData:
    return GridData.bundled()


def annotate(grid: GridData, rows: list[tuple[str | None, str | None, str | None, str | None]]) -> pd.DataFrame:
    provider, region, start, end = zip(*rows)
    return grid.annotate(pd.Series(provider, dtype="string"), pd.Series(region, dtype="string"),
                         pd.Series(pd.to_datetime(list(start), utc=True)), pd.Series(pd.to_datetime(list(end), utc=True)))


def one_hour(provider: str | None, region: str | None, hour: str = "2022-05-02T10:00Z") -> tuple:
    return provider, region, hour, str(pd.Timestamp(hour) + pd.Timedelta(hours=1))


def test_country_names_take_the_country_factor_and_single_zone_countries_their_hourly_zone(grid):
    countries = pd.read_csv(DATA / "country_factors.csv").set_index("country")
    out = annotate(grid, [one_hour("aws", "United States"), one_hour("gcp", "US"), one_hour("aws", "India"),
                          one_hour("azure", "uk")])
    assert out["x_IntensityBasis"].tolist() == ["annual_country", "annual_country", "annual_country", "hourly"]
    assert out["x_CarbonIntensity"].iloc[0] == countries.loc["US", "g_per_kwh"] == 423.94
    assert out["x_CarbonIntensity"].iloc[2] == countries.loc["IN", "g_per_kwh"]
    assert out["x_IntensityYear"].iloc[0] == 2021 and "Cloud Carbon Footprint" in out["x_IntensitySource"].iloc[0]
    assert out["x_GridZone"].iloc[:3].isna().all() and out["x_GridZone"].iloc[3] == "GB"
    source = pd.read_parquet(DATA / "hourly_lifecycle_2022.parquet")
    assert out["x_CarbonIntensity"].iloc[3] == round(float(source.loc[pd.Timestamp("2022-05-02T10:00Z"), "GB"]), 2)


def test_region_ids_only_ccf_knows_take_its_annual_region_factor(grid):
    out = annotate(grid, [one_hour("azure", "eastus2euap"), one_hour("azure", "asiapacific")])
    assert out["x_IntensityBasis"].tolist() == ["annual_region", "annual_region"]
    assert out["x_CarbonIntensity"].tolist() == [379.069, 564.7]
    assert out["x_IntensityYear"].iloc[0] == 2020 and "eGRID2020" in out["x_IntensitySource"].iloc[0]


def test_gcp_multi_region_sums_from_ccf_are_never_used(grid):
    annual_regions = pd.read_csv(DATA / "annual_regions.csv")
    assert not ((annual_regions["provider"] == "gcp") & annual_regions["region"].isin(["us", "europe", "asia", "nam4"])).any()
    assert annotate(grid, [one_hour("gcp", "nam4")])["x_IntensityBasis"].iloc[0] == "world_average"


def test_every_basis_is_documented_and_reachable(grid):
    out = annotate(grid, [one_hour("aws", "us-east-1"), one_hour("aws", "us-east-1", "2026-05-02T10:00Z"),
                          one_hour("aws", "me-south-1"), one_hour("aws", "Canada"), one_hour("azure", "eastus2euap"),
                          one_hour("aws", "Middle East")])
    assert out["x_IntensityBasis"].tolist() == list(BASES)
    assert out["x_IntensitySource"].notna().all() and out["x_CarbonIntensity"].notna().all()


@pytest.mark.parametrize("provider, spelling, region_id", [
    ("aws", "South America (Sao Paulo)", "sa-east-1"), ("azure", "US North", "northcentralus"),
    ("azure", "EastUS2", "eastus2"), ("azure", "europewest", "westeurope"),
])
def test_billing_sample_spellings_resolve(grid, provider, spelling, region_id):
    assert grid.region_info(provider, spelling).region == region_id


def _sample_regions() -> set[tuple[str, str]]:
    """(provider, region) of every AWS / GCP / Azure region column in the billing fixtures."""
    pairs = set()
    columns = {"product/region": "aws", "product_region_code": "aws", "location.region": "gcp",
               "resourcelocation": "azure", "meterregion": "azure", "resourcelocationnormalized": "azure"}
    for path in (REPO / "tests" / "fixtures" / "billing").rglob("*.csv*"):
        frame = pd.read_csv(path, dtype=str, on_bad_lines="skip", engine="python")
        for column in frame.columns:
            provider = columns.get(column.lower())
            if provider:
                pairs |= {(provider, v) for v in frame[column].dropna().unique() if v != "Unassigned"}
    focus = pd.read_csv(REPO / "tests" / "fixtures" / "billing" / "focus_1.0_sample_1000rows.csv", dtype=str)
    cloud = focus[focus["ProviderName"].isin(["AWS", "Microsoft"]) & focus["RegionId"].notna()]
    pairs |= {("aws" if p == "AWS" else "azure", r) for p, r in zip(cloud["ProviderName"], cloud["RegionId"]) if r != "global"}
    return pairs


def test_every_region_of_the_billing_samples_maps_to_a_zone_with_a_recorded_basis(grid):
    pairs = sorted(_sample_regions())
    assert len(pairs) >= 30
    out = annotate(grid, [one_hour(p, r) for p, r in pairs])
    unmapped = [pair for pair, zone in zip(pairs, out["x_GridZone"]) if pd.isna(zone)]
    assert unmapped == []
    assert set(out["x_IntensityBasis"]) <= {"hourly", "annual_zone"}


def test_every_bundled_region_has_location_country_zone_and_an_annual_factor():
    regions = pd.read_csv(DATA / "regions.csv")
    assert {p: int(n) for p, n in regions["provider"].value_counts().items()} == {"azure": 63, "gcp": 44, "aws": 38}
    for column in ("location", "country", "grid_zone", "annual_g_per_kwh", "annual_source"):
        assert regions[column].notna().all(), column


def test_data_portal_file_reads_the_lifecycle_column_with_its_zone_and_year():
    zone, year, series = read_file(PORTAL_SAMPLES / "US-CAL-CISO_2022_hourly.csv")
    assert (zone, year, len(series)) == ("US-CAL-CISO", 2022, 8760)
    assert series.iloc[0] == 274.07 and series.index[0] == pd.Timestamp("2022-01-01T00:00Z")


def _write_portal_year(folder: Path, zone: str, year: int, values: np.ndarray, release_2025: bool = True) -> None:
    hours = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left")
    life = "Carbon intensity gCO\u2082eq/kWh (Life cycle)" if release_2025 else "Carbon Intensity gCO\u2082eq/kWh (LCA)"
    pd.DataFrame({"Datetime (UTC)": hours.strftime("%Y-%m-%d %H:%M:%S"), "Country": "Spain", "Zone name": "Spain",
                  "Zone id": zone, "Carbon intensity gCO\u2082eq/kWh (direct)": values * 0.8, life: values}).to_csv(
        folder / f"{zone}_{year}_hourly.csv", index=False)


def test_data_portal_years_are_used_before_the_bundled_data_and_flagged(tmp_path, grid):
    shutil.copy(PORTAL_SAMPLES / "ES_2022_hourly.csv", tmp_path)
    values_2024 = np.round(np.linspace(50.0, 150.0, 8784), 2)
    _write_portal_year(tmp_path, "ES", 2024, values_2024)
    mixed = grid.with_data_portal(tmp_path)
    assert mixed.hourly_years("ES") == (2022, 2024) and mixed.hourly_years("NL") == (2022,)
    out = annotate(mixed, [
        one_hour("gcp", "europe-southwest1", "2024-03-01T05:00Z"),  # own year, user's file
        one_hour("gcp", "europe-southwest1", "2025-03-01T05:00Z"),  # nearest data year 2024: proxy
        one_hour("gcp", "europe-southwest1", "2022-03-01T05:00Z"),  # 2022 from the user's 2022 file
        one_hour("azure", "westeurope", "2024-03-01T05:00Z"),  # other zones: bundled, proxied
    ])
    hour_2024 = (pd.Timestamp("2024-03-01T05:00Z") - pd.Timestamp("2024-01-01T00:00Z")) // pd.Timedelta(hours=1)
    assert out["x_CarbonIntensity"].iloc[0] == values_2024[hour_2024]
    assert out["x_IntensityBasis"].tolist() == ["hourly", "hourly_proxy_year", "hourly", "hourly_proxy_year"]
    assert out["x_IntensityYear"].tolist() == [2024, 2024, 2022, 2022]
    assert "ES_2024_hourly.csv" in out["x_IntensitySource"].iloc[0] and "ODbL" in out["x_IntensitySource"].iloc[0]
    assert "ES_2022_hourly.csv" in out["x_IntensitySource"].iloc[2]
    assert "Sukprasert" in out["x_IntensitySource"].iloc[3]
    # the user's file is another release than the bundled table (values differ): its own value is used
    _, _, file_2022 = read_file(PORTAL_SAMPLES / "ES_2022_hourly.csv")
    bundled_es = annotate(grid, [one_hour("gcp", "europe-southwest1", "2022-03-01T05:00Z")])
    assert out["x_CarbonIntensity"].iloc[2] == file_2022[pd.Timestamp("2022-03-01T05:00Z")] == 293.45
    assert bundled_es["x_CarbonIntensity"].iloc[0] == 276.75


def test_data_portal_year_next_to_bundled_year_runs_on_and_bundled_years_fill_in(tmp_path, grid):
    values_2023 = np.full(8760, 100.0)
    _write_portal_year(tmp_path, "NL", 2023, values_2023, release_2025=False)
    mixed = grid.with_data_portal(tmp_path)
    assert mixed.hourly_years("NL") == (2022, 2023)
    last_2022 = float(grid.hourly("NL", pd.Timestamp("2022-12-31T23:00Z"), pd.Timestamp("2023-01-01T00:00Z")).iloc[0])
    out = annotate(mixed, [("azure", "westeurope", "2022-12-31T23:00Z", "2023-01-01T01:00Z")]).iloc[0]
    assert out["x_CarbonIntensity"] == pytest.approx((last_2022 + 100.0) / 2, rel=1e-12)


def test_data_portal_file_with_a_gap_is_refused_naming_the_file(tmp_path):
    values = np.full(8760, 100.0)
    _write_portal_year(tmp_path, "ES", 2023, values)
    path = tmp_path / "ES_2023_hourly.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:100] + lines[101:]) + "\n")
    with pytest.raises(DataPortalError, match="ES_2023_hourly.csv"):
        read_file(path)
