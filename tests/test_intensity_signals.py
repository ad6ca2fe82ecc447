"""Planning signals (profiles by hour of day and month, forecast with a labelled fallback) and intensity checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connectors.grid_http import GridSourceError
from intensity import GridData
from intensity.checks import check_intensity
from intensity.signals import BASIS_FORECAST_LIVE, BASIS_HISTORICAL_PROFILE, best_hours, forecast, profiles

DATA = Path(__file__).resolve().parents[1] / "intensity" / "data"


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return pd.read_parquet(DATA / "hourly_lifecycle_2022.parquet").astype("float64").round(2)


@pytest.fixture(scope="module")
def grid() -> GridData:
    return GridData.bundled()


def test_profiles_are_the_means_of_the_data_year_by_utc_hour_and_month(grid, source):
    by_hour, by_month = profiles(grid, ["NL", "FR"])
    nl = source["NL"]
    hour_14 = by_hour[(by_hour["zone"] == "NL") & (by_hour["hour_of_day_utc"] == 14)].iloc[0]
    assert hour_14["g_per_kwh_mean"] == pytest.approx(nl[nl.index.hour == 14].mean(), rel=1e-12)
    march = by_month[(by_month["zone"] == "FR") & (by_month["month"] == 3)].iloc[0]
    assert march["g_per_kwh_mean"] == pytest.approx(source["FR"][source.index.month == 3].mean(), rel=1e-12)
    assert len(by_hour) == 48 and len(by_month) == 24
    assert (by_hour["data_year"] == 2022).all() and by_hour["source"].str.contains("Electricity Maps").all()
    assert best_hours(by_hour, "NL", 1) == [int(nl.groupby(nl.index.hour).mean().idxmin())]


def test_forecast_without_live_source_is_the_labelled_historical_profile(grid, source):
    out = forecast(grid, "NL", pd.Timestamp("2026-03-10T22:00Z"), 3)
    nl = source["NL"]
    expected = [nl[(nl.index.month == 3) & (nl.index.hour == h)].mean() for h in (22, 23)]
    assert out["g_per_kwh"].iloc[:2].tolist() == pytest.approx(expected, rel=1e-12)
    assert out["g_per_kwh"].iloc[2] == pytest.approx(nl[(nl.index.month == 3) & (nl.index.hour == 0)].mean(), rel=1e-12)
    assert (out["basis"] == BASIS_HISTORICAL_PROFILE).all() and out["source"].iloc[0].startswith("historical profile, not a forecast")


class FakeForecast:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def forecast(self, zone: str, horizon_hours: int) -> pd.DataFrame:
        if self.fail:
            raise GridSourceError("electricitymaps /carbon-intensity/forecast: HTTP 503")
        index = pd.date_range("2026-03-10T22:00Z", periods=horizon_hours, freq="h")
        return pd.DataFrame({"g_per_kwh": np.arange(horizon_hours, dtype=float) + 100}, index=index)


def test_forecast_uses_the_live_source_and_falls_back_when_it_fails(grid):
    live = forecast(grid, "NL", pd.Timestamp("2026-03-10T22:00Z"), 3, FakeForecast(fail=False))
    assert live["g_per_kwh"].tolist() == [100.0, 101.0, 102.0] and (live["basis"] == BASIS_FORECAST_LIVE).all()
    failed = forecast(grid, "NL", pd.Timestamp("2026-03-10T22:00Z"), 3, FakeForecast(fail=True))
    assert (failed["basis"] == BASIS_HISTORICAL_PROFILE).all() and "live forecast failed: electricitymaps" in failed["source"].iloc[0]


def test_clean_hourly_table_passes_and_the_bundled_year_has_only_its_known_spikes(source):
    assert check_intensity(source[["NL", "FR", "DE"]]) == []
    problems = check_intensity(source)
    assert len(problems) == 3 and all("one-hour spike" in p for p in problems)
    assert problems[1].startswith("zone DK-DK2: 2 one-hour spike(s)")


def test_gaps_missing_values_impossible_values_spikes_and_staleness_are_reported(source):
    frame = source[["NL"]].iloc[:48].copy()
    frame = frame.drop(frame.index[10])
    frame.iloc[5, 0] = np.nan
    frame.iloc[20, 0] = -3.0
    frame.iloc[30, 0] = frame.iloc[29, 0] + 900.0
    problems = check_intensity(frame, now=pd.Timestamp("2022-01-10T00:00Z"))
    assert any(p.startswith("gap: 1 missing hour(s)") and "2022-01-01 10:00:00+00:00" in p for p in problems)
    assert any(p.startswith("zone NL: 1 missing value(s), first at 2022-01-01 05:00") for p in problems)
    assert any(p.startswith("zone NL: 1 value(s) outside 0..2000") for p in problems)
    assert any(p.startswith("zone NL: 1 one-hour spike(s)") for p in problems)
    assert any(p.startswith("stale: latest hour 2022-01-02 23:00:00+00:00") for p in problems)
    assert check_intensity(frame.iloc[:0]) == ["no hourly intensity at all"]


def test_hourly_table_of_a_day_has_one_column_per_zone_and_passes_the_checks(grid, source):
    day = pd.Timestamp("2022-06-01T00:00Z")
    table = grid.hourly_table(["NL", "DE"], day, day + pd.Timedelta(days=1))
    assert list(table.columns) == ["NL", "DE"] and len(table) == 24
    assert table["DE"].tolist() == source.loc[day:day + pd.Timedelta(hours=23), "DE"].tolist()
    assert check_intensity(table, now=day + pd.Timedelta(days=1)) == []
