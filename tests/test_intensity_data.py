"""The bundled intensity data equals its sources in shared/data, carries its provenance, and rebuilds identically."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "intensity" / "data"
SHARED_GRID = REPO.parent / "shared" / "data" / "grid"
HOURLY_GZ = SHARED_GRID / "electricitymaps_2022_hourly_lca_123zones.csv.gz"

needs_shared = pytest.mark.skipif(not SHARED_GRID.is_dir(), reason=f"shared reference data not at {SHARED_GRID}")


@pytest.fixture(scope="module")
def parquet_frame() -> pd.DataFrame:
    return pd.read_parquet(DATA / "hourly_lifecycle_2022.parquet")


@needs_shared
def test_parquet_equals_the_source_csv_to_two_decimals_in_every_cell(parquet_frame):
    source = pd.read_csv(HOURLY_GZ, index_col="datetime_utc")
    assert list(parquet_frame.columns) == list(source.columns) and parquet_frame.shape == (8760, 123)
    assert (parquet_frame.index == pd.to_datetime(source.index, utc=True)).all()
    np.testing.assert_array_equal(np.round(parquet_frame.to_numpy(np.float64), 2), source.to_numpy(np.float64))


def test_parquet_is_complete_hourly_2022(parquet_frame):
    expected = pd.date_range("2022-01-01T00:00Z", "2022-12-31T23:00Z", freq="h")
    assert (parquet_frame.index == expected).all()
    assert not parquet_frame.isna().any().any()


def test_parquet_metadata_names_source_licence_year_and_signal():
    metadata = {k.decode(): v.decode() for k, v in pq.read_schema(DATA / "hourly_lifecycle_2022.parquet").metadata.items()}
    assert metadata["attribution"] == "Electricity Maps"
    assert metadata["license"].startswith("ODbL-1.0")
    assert metadata["data_year"] == "2022" and metadata["signal"] == "lifecycle"
    assert "Sukprasert" in metadata["source"] and "EuroSys 2024" in metadata["source"]


def test_notice_keeps_the_odbl_attribution():
    notice = (DATA / "NOTICE.md").read_text()
    assert "Electricity Maps" in notice and "ODbL" in notice and "Sukprasert" in notice


@needs_shared
def test_regions_annual_intensity_is_the_2024_lifecycle_value_of_its_zone():
    regions = pd.read_csv(DATA / "regions.csv")
    zones = pd.read_csv(SHARED_GRID / "grid_zones_2024.csv").set_index("zone_id")
    expected = zones.loc[regions["grid_zone"], "g_co2e_per_kwh_lifecycle_2024"].to_numpy()
    np.testing.assert_array_equal(regions["annual_g_per_kwh"].to_numpy(), expected)
    assert (regions["annual_year"] == 2024).all()
    assert regions["annual_source"].str.contains("Electricity Maps").all()
    assert regions["annual_source"].str.contains("life-cycle").all()


def test_regions_every_published_pue_has_source_and_year():
    regions = pd.read_csv(DATA / "regions.csv")
    published = regions[regions["pue"].notna()]
    assert len(published) > 0
    assert published["pue_source"].notna().all() and published["pue_year"].notna().all()
    assert regions.loc[regions["pue"].isna(), "pue_source"].isna().all()


@needs_shared
def test_regions_cfe_is_google_cfe_2024_for_gcp_only():
    regions = pd.read_csv(DATA / "regions.csv")
    google = pd.read_csv(SHARED_GRID / "google_region_carbon" / "2024.csv").set_index("Google Cloud Region")["Google CFE"]
    with_cfe = regions[regions["cfe_fraction"].notna()]
    assert set(with_cfe["provider"]) == {"gcp"}
    np.testing.assert_array_equal(with_cfe["cfe_fraction"].to_numpy(), google.loc[with_cfe["region"]].to_numpy())
    assert with_cfe["cfe_source"].str.contains("region-carbon-info").all()


def test_pue_defaults_cover_the_three_providers_and_the_industry_default():
    defaults = pd.read_csv(DATA / "pue_defaults.csv").set_index("provider")
    assert defaults.loc[["aws", "gcp", "azure", "*"], "pue"].tolist() == [1.15, 1.09, 1.18, 1.58]
    assert defaults["pue_source"].notna().all() and defaults["pue_year"].notna().all()


def test_world_average_carries_source_and_year():
    world = pd.read_csv(DATA / "world_average.csv").iloc[0]
    assert 300 < world["g_per_kwh"] < 600 and world["signal"] == "lifecycle"
    assert "Ember" in world["source"] and int(world["data_year"]) == 2023


def test_aliases_are_lowercase_and_unambiguous():
    aliases = pd.read_csv(DATA / "region_aliases.csv")
    assert (aliases["alias"] == aliases["alias"].str.lower()).all()
    assert not aliases.duplicated(["provider", "alias"]).any()
    assert aliases["source"].notna().all()


@needs_shared
def test_build_script_regenerates_the_bundled_files_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location("build_intensity_data", REPO / "scripts" / "build_intensity_data.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.main(["--shared", str(SHARED_GRID.parent), "--out", str(tmp_path)]) == 0
    for name in ("hourly_lifecycle_2022.parquet", "regions.csv", "region_aliases.csv", "pue_defaults.csv", "world_average.csv",
                 "geographies.csv", "country_factors.csv", "annual_regions.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_country_and_annual_region_factors_carry_source_year_and_licence():
    countries = pd.read_csv(DATA / "country_factors.csv")
    assert not countries["country"].duplicated().any() and countries["source"].notna().all()
    em = countries[countries["grid_zone"].notna()]
    assert (em["data_year"] == 2024).all() and em["source"].str.contains("ODbL").all() and (em["signal"] == "lifecycle").all()
    other = countries[countries["grid_zone"].isna()]
    assert set(other["country"]) == {"AU", "CA", "IN", "IT", "MY", "RO", "SE", "US"}
    assert other["source"].str.contains("Apache-2.0").all() and (other["data_year"] == 2021).all()
    annual = pd.read_csv(DATA / "annual_regions.csv")
    assert annual["source"].str.contains("Cloud Carbon Footprint").all()
    assert annual.loc[annual["region"] == "eastus2euap", "g_per_kwh"].item() == 379.069


def test_geographies_point_at_countries_with_a_factor_or_the_world_average():
    geographies = pd.read_csv(DATA / "geographies.csv", keep_default_na=False)
    assert (geographies["alias"] == geographies["alias"].str.lower()).all()
    assert geographies["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert {"us", "united states", "canada", "india", "uk"} <= set(geographies["alias"])
