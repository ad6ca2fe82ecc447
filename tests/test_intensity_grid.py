"""GridData: hourly means, proxy years, fallbacks, aliases, PUE and CFE, checked against the bundled data read independently."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonledger import schema
from carbonledger.errors import UsageError
from intensity import ANNOTATION_COLUMNS, GridData, IntensityValue, RegionInfo

DATA = Path(__file__).resolve().parents[1] / "intensity" / "data"


@pytest.fixture(scope="module")
def grid() -> GridData:
    return GridData.bundled()


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """The hourly table as published (two decimals), read straight from the Parquet file."""
    return pd.read_parquet(DATA / "hourly_lifecycle_2022.parquet").astype("float64").round(2)


@pytest.fixture(scope="module")
def regions() -> pd.DataFrame:
    return pd.read_csv(DATA / "regions.csv").set_index(["provider", "region"])


@pytest.fixture(scope="module")
def pue_defaults() -> pd.DataFrame:
    return pd.read_csv(DATA / "pue_defaults.csv").set_index("provider")


def annotate(grid: GridData, rows: list[tuple[str | None, str | None, str | None, str | None]]) -> pd.DataFrame:
    provider, region, start, end = zip(*rows)
    return grid.annotate(
        pd.Series(provider, dtype="string"), pd.Series(region, dtype="string"),
        pd.Series(pd.to_datetime(list(start), utc=True)), pd.Series(pd.to_datetime(list(end), utc=True)),
    )


def at(source: pd.DataFrame, zone: str, hour: str) -> float:
    return float(source.loc[pd.Timestamp(hour), zone])


def test_one_hour_line_returns_exactly_the_source_value(grid, source, regions):
    zone = regions.loc[("aws", "us-east-1"), "grid_zone"]
    out = annotate(grid, [("aws", "us-east-1", "2022-07-14T13:00Z", "2022-07-14T14:00Z")]).iloc[0]
    assert out["x_GridZone"] == zone
    assert out["x_CarbonIntensity"] == at(source, zone, "2022-07-14T13:00Z")
    assert out["x_IntensityBasis"] == "hourly" and out["x_IntensityYear"] == 2022
    assert "Electricity Maps" in out["x_IntensitySource"] and "ODbL" in out["x_IntensitySource"]


def test_every_hour_of_a_zone_round_trips_exactly(grid, source):
    hours = source.index
    out = grid.annotate(pd.Series(["azure"] * len(hours)), pd.Series(["westeurope"] * len(hours)),
                        pd.Series(hours), pd.Series(hours + pd.Timedelta(hours=1)))
    np.testing.assert_array_equal(out["x_CarbonIntensity"].to_numpy(), source["NL"].to_numpy())


def test_two_hour_line_is_the_mean_of_its_two_hours(grid, source):
    out = annotate(grid, [("azure", "westeurope", "2022-03-05T10:00Z", "2022-03-05T12:00Z")]).iloc[0]
    expected = (at(source, "NL", "2022-03-05T10:00Z") + at(source, "NL", "2022-03-05T11:00Z")) / 2
    assert out["x_CarbonIntensity"] == pytest.approx(expected, rel=1e-12)


def test_partial_hours_weigh_by_the_time_covered_and_sub_hour_takes_its_hour(grid, source):
    out = annotate(grid, [
        ("azure", "westeurope", "2022-03-05T10:30Z", "2022-03-05T12:30Z"),
        ("azure", "westeurope", "2022-03-05T10:15Z", "2022-03-05T10:45Z"),
    ])
    x10, x11, x12 = (at(source, "NL", f"2022-03-05T{h}:00Z") for h in (10, 11, 12))
    assert out["x_CarbonIntensity"].iloc[0] == pytest.approx((0.5 * x10 + x11 + 0.5 * x12) / 2, rel=1e-12)
    assert out["x_CarbonIntensity"].iloc[1] == x10


def test_line_running_past_the_end_of_the_data_wraps_to_its_start(grid, source):
    out = annotate(grid, [("azure", "westeurope", "2022-12-31T22:00Z", "2023-01-01T02:00Z")]).iloc[0]
    hours = ["2022-12-31T22:00Z", "2022-12-31T23:00Z", "2022-01-01T00:00Z", "2022-01-01T01:00Z"]
    assert out["x_CarbonIntensity"] == pytest.approx(np.mean([at(source, "NL", h) for h in hours]), rel=1e-12)
    assert out["x_IntensityBasis"] == "hourly"


def _proxy_hour(moment: pd.Timestamp) -> pd.Timestamp:
    """Same ISO week (53 -> 52), weekday and hour in 2022, computed with the stdlib."""
    iso = moment.isocalendar()
    day = date.fromisocalendar(2022, min(iso.week, 52), iso.weekday)
    return pd.Timestamp(day.isoformat(), tz="UTC") + pd.Timedelta(hours=moment.hour)


@pytest.mark.parametrize("start", ["2026-03-04T15:00Z", "2026-12-31T05:00Z", "2030-07-01T00:00Z", "2019-05-20T23:00Z"])
def test_line_outside_the_data_year_uses_the_matching_hour_of_2022(grid, source, start):
    moment = pd.Timestamp(start)
    out = annotate(grid, [("gcp", "europe-west4", start, str(moment + pd.Timedelta(hours=1)))]).iloc[0]
    mapped = _proxy_hour(moment)
    assert mapped.isoweekday() == moment.isoweekday() and mapped.hour == moment.hour
    assert out["x_CarbonIntensity"] == at(source, "NL", str(mapped))
    assert out["x_IntensityBasis"] == "hourly_proxy_year" and out["x_IntensityYear"] == 2022


def test_proxy_line_continues_consecutively_and_wraps_within_the_proxy_year(grid, source):
    # Saturday of ISO week 52 of 2026 -> Saturday 2022-12-31; four hours run into 2022-01-01
    start = pd.Timestamp("2026-12-26T22:00Z")
    assert _proxy_hour(start) == pd.Timestamp("2022-12-31T22:00Z")
    out = annotate(grid, [("gcp", "europe-west4", str(start), str(start + pd.Timedelta(hours=4)))]).iloc[0]
    hours = ["2022-12-31T22:00Z", "2022-12-31T23:00Z", "2022-01-01T00:00Z", "2022-01-01T01:00Z"]
    assert out["x_CarbonIntensity"] == pytest.approx(np.mean([at(source, "NL", h) for h in hours]), rel=1e-12)


def test_hourly_series_is_indexed_by_the_requested_hours(grid, source):
    series = grid.hourly("NL", pd.Timestamp("2026-03-04T15:00Z"), pd.Timestamp("2026-03-04T18:00Z"))
    assert list(series.index) == list(pd.date_range("2026-03-04T15:00Z", periods=3, freq="h"))
    expected = [at(source, "NL", str(_proxy_hour(h))) for h in series.index]
    assert series.tolist() == expected


def test_hourly_of_an_unknown_zone_is_a_usage_error(grid):
    with pytest.raises(UsageError, match="XX-NOWHERE"):
        grid.hourly("XX-NOWHERE", pd.Timestamp("2022-01-01T00:00Z"), pd.Timestamp("2022-01-02T00:00Z"))


def test_unknown_or_null_region_gets_world_average_and_provider_default_pue(grid, pue_defaults):
    world = pd.read_csv(DATA / "world_average.csv").iloc[0]
    out = annotate(grid, [
        ("aws", "mars-north-1", "2022-01-01T00:00Z", "2022-01-01T01:00Z"),
        ("azure", None, "2022-01-01T00:00Z", "2022-01-01T01:00Z"),
        ("oracle", "us-ashburn-1", "2022-01-01T00:00Z", "2022-01-01T01:00Z"),
        (None, None, "2022-01-01T00:00Z", "2022-01-01T01:00Z"),
    ])
    assert out["x_GridZone"].isna().all()
    assert (out["x_IntensityBasis"] == "world_average").all()
    assert (out["x_CarbonIntensity"] == world["g_per_kwh"]).all() and (out["x_IntensityYear"] == world["data_year"]).all()
    assert out["x_Pue"].tolist() == pue_defaults.loc[["aws", "azure", "*", "*"], "pue"].tolist()
    assert out["x_PueSource"].tolist() == pue_defaults.loc[["aws", "azure", "*", "*"], "pue_source"].tolist()


@pytest.mark.parametrize("provider, spelling, region_id", [
    ("azure", "West Europe", "westeurope"), ("azure", "west europe", "westeurope"), ("azure", "EU West", "westeurope"),
    ("azure", "westeurope", "westeurope"), ("aws", "US East (N. Virginia)", "us-east-1"),
    ("aws", "us-east-1a", "us-east-1"), ("gcp", "us-central1-b", "us-central1"), ("AWS", " EU (Ireland) ", "eu-west-1"),
])
def test_region_spellings_resolve_to_the_region_and_its_zone(grid, regions, provider, spelling, region_id):
    zone = regions.loc[(provider.lower(), region_id), "grid_zone"]
    out = annotate(grid, [(provider, spelling, "2022-02-01T00:00Z", "2022-02-01T01:00Z")]).iloc[0]
    assert out["x_GridZone"] == zone
    info = grid.region_info(provider, spelling)
    assert isinstance(info, RegionInfo) and info.region == region_id and info.grid_zone == zone


def test_west_europe_is_the_netherlands(grid):
    assert grid.region_info("azure", "West Europe").grid_zone == "NL"


def test_published_regional_pue_wins_over_the_provider_default(grid, regions, pue_defaults):
    published = regions.loc[("aws", "us-east-2")]
    unpublished = regions.loc[("aws", "il-central-1")]
    assert pd.notna(published["pue"]) and pd.isna(unpublished["pue"])
    out = annotate(grid, [("aws", "us-east-2", "2022-02-01T00:00Z", "2022-02-01T01:00Z"),
                          ("aws", "il-central-1", "2022-02-01T00:00Z", "2022-02-01T01:00Z")])
    assert out["x_Pue"].tolist() == [published["pue"], pue_defaults.loc["aws", "pue"]]
    assert out["x_PueSource"].tolist() == [published["pue_source"], pue_defaults.loc["aws", "pue_source"]]


@pytest.mark.parametrize("provider, region, pue, words", [
    ("aws", "eu-west-2", 1.11, "Europe"), ("aws", "ap-northeast-2", 1.25, "Asia Pacific"),
    ("aws", "us-gov-west-1", 1.14, "North America"), ("azure", "uksouth", 1.16, "EMEA"),
    ("azure", "japaneast", 1.28, "APAC"), ("azure", "canadacentral", 1.16, "Americas"),
])
def test_region_without_its_own_pue_takes_the_providers_geography_pue(grid, regions, provider, region, pue, words):
    row = regions.loc[(provider, region)]
    assert row["pue_scope"].startswith("geography") and row["pue_year"] == 2025
    out = annotate(grid, [(provider, region, "2022-02-01T00:00Z", "2022-02-01T01:00Z")]).iloc[0]
    assert out["x_Pue"] == pue and words in out["x_PueSource"] and "2025" in out["x_PueSource"]


def test_campus_pue_of_google_and_regional_pue_of_azure_are_kept(grid):
    out = annotate(grid, [("gcp", "europe-west4", "2022-02-01T00:00Z", "2022-02-01T01:00Z"),
                          ("azure", "westeurope", "2022-02-01T00:00Z", "2022-02-01T01:00Z")])
    assert out["x_Pue"].tolist() == [1.07, 1.14]
    assert "campus" in out["x_PueSource"].iloc[0] and "fact sheet" in out["x_PueSource"].iloc[1]


def test_gcp_regions_carry_google_cfe_and_others_do_not(grid, regions):
    out = annotate(grid, [("gcp", "us-central1", "2022-02-01T00:00Z", "2022-02-01T01:00Z"),
                          ("aws", "us-east-1", "2022-02-01T00:00Z", "2022-02-01T01:00Z")])
    assert out["x_CfeFraction"].iloc[0] == regions.loc[("gcp", "us-central1"), "cfe_fraction"]
    assert "region-carbon-info" in out["x_CfeSource"].iloc[0]
    assert np.isnan(out["x_CfeFraction"].iloc[1]) and pd.isna(out["x_CfeSource"].iloc[1])


def test_zone_without_hourly_data_uses_its_2024_annual_lifecycle_factor(grid, regions):
    row = regions.loc[("aws", "me-south-1")]
    assert row["grid_zone"] not in grid.hourly_zones
    out = annotate(grid, [("aws", "me-south-1", "2022-02-01T00:00Z", "2022-02-01T03:00Z")]).iloc[0]
    assert out["x_IntensityBasis"] == "annual_zone" and out["x_IntensityYear"] == 2024
    assert out["x_CarbonIntensity"] == row["annual_g_per_kwh"] and out["x_IntensitySource"] == row["annual_source"]


def test_line_without_start_time_uses_the_annual_factor_of_its_zone(grid, regions):
    out = annotate(grid, [("azure", "westeurope", None, None)]).iloc[0]
    assert out["x_IntensityBasis"] == "annual_zone"
    assert out["x_CarbonIntensity"] == regions.loc[("azure", "westeurope"), "annual_g_per_kwh"]


def test_mean_intensity_matches_annotate(grid, source):
    value = grid.mean_intensity("azure", "West Europe", pd.Timestamp("2022-03-05T10:00"), 2)
    assert isinstance(value, IntensityValue)
    assert value.grid_zone == "NL" and value.basis == "hourly" and value.data_year == 2022
    expected = (at(source, "NL", "2022-03-05T10:00Z") + at(source, "NL", "2022-03-05T11:00Z")) / 2
    assert value.g_per_kwh == pytest.approx(expected, rel=1e-12)


def test_region_info_of_an_unknown_region_is_none(grid):
    assert grid.region_info("aws", "mars-north-1") is None


def test_annotate_100k_rows_is_aligned_typed_and_agrees_with_single_lines(grid):
    n = 100_000
    rng = np.random.default_rng(7)
    choices = [("aws", "us-east-1"), ("azure", "West Europe"), ("gcp", "us-central1"), ("aws", "me-south-1"),
               ("aws", "nowhere"), ("azure", None)]
    pick = rng.integers(0, len(choices), n)
    start = pd.Timestamp("2022-12-20T00:00Z") + pd.to_timedelta(rng.integers(0, 5 * 365 * 24, n), unit="h")
    end = start + pd.to_timedelta(rng.choice([30, 60, 120, 1440], n), unit="min")
    index = pd.RangeIndex(10, 10 + n * 3, 3)
    out = grid.annotate(pd.Series([choices[i][0] for i in pick], index=index, dtype="string"),
                        pd.Series([choices[i][1] for i in pick], index=index, dtype="string"),
                        pd.Series(start, index=index), pd.Series(end, index=index))
    assert out.index.equals(index) and list(out.columns) == list(ANNOTATION_COLUMNS)
    assert {c: str(out[c].dtype) for c in out.columns} == ANNOTATION_COLUMNS
    in_ledger = {c.name: c.dtype for c in schema.LEDGER_COLUMNS if c.name in ANNOTATION_COLUMNS}
    assert len(in_ledger) >= 7 and all(ANNOTATION_COLUMNS[name] == dtype for name, dtype in in_ledger.items())
    assert out["x_CarbonIntensity"].notna().all() and out["x_Pue"].notna().all()
    assert set(out["x_IntensityBasis"].unique()) == {"hourly", "hourly_proxy_year", "annual_zone", "world_average"}
    for position in rng.integers(0, n, 25):
        provider, region = choices[pick[position]]
        single = grid.mean_intensity(provider, region, start[position], (end[position] - start[position]) / pd.Timedelta(hours=1))
        assert out["x_CarbonIntensity"].iloc[position] == pytest.approx(single.g_per_kwh, rel=1e-12)
        assert out["x_IntensityBasis"].iloc[position] == single.basis


def test_annotate_of_no_rows_is_an_empty_typed_frame(grid):
    empty_ts = pd.Series(pd.to_datetime([], utc=True))
    out = grid.annotate(pd.Series([], dtype="string"), pd.Series([], dtype="string"), empty_ts, empty_ts)
    assert len(out) == 0 and {c: str(out[c].dtype) for c in out.columns} == ANNOTATION_COLUMNS


def test_hourly_of_an_empty_window_is_empty(grid):
    moment = pd.Timestamp("2026-01-01T10:00Z")
    assert grid.hourly("NL", moment, moment).empty
