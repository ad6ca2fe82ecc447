"""Planning signals: typical intensity by zone x hour of day and x month, and a forecast with a labelled fallback.

Profiles average a zone's hourly data of its latest data year (bundled 2022, or a newer year from a
user's data-portal files), hours in UTC, and say which year and source they come from; they feed
recommendations ("run at 02:00 UTC", "prefer this region"). :func:`forecast` asks a live source
(anything with ``forecast(zone, horizon_hours)``, e.g. ``connectors.grid_electricitymaps``) when
one is given and answers; otherwise, or when it fails, it returns the historical profile of the
same month and UTC hour, labelled ``historical_profile`` so it is never mistaken for a forecast.
What does not belong here: per-line accounting (``intensity.grid``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from carbonledger.errors import UsageError
from connectors.grid_http import GridSourceError, utc_hour
from intensity.grid import GridData

BASIS_FORECAST_LIVE = "forecast_live"
BASIS_HISTORICAL_PROFILE = "historical_profile"


class ForecastSource(Protocol):
    """A live forecast: hourly ``g_per_kwh`` indexed by UTC hour start."""

    def forecast(self, zone: str, horizon_hours: int) -> pd.DataFrame: ...


def _latest_year(grid: GridData, zone: str) -> tuple[pd.Series, int, str]:
    """The zone's hourly series of its latest data year, the year and its source."""
    years = grid.hourly_years(zone)
    if not years:
        raise UsageError(f"grid zone {zone!r} has no hourly data for a profile")
    year = years[-1]
    series = grid.hourly(zone, pd.Timestamp(f"{year}-01-01", tz="UTC"), pd.Timestamp(f"{year + 1}-01-01", tz="UTC"))
    return series, year, grid.hourly_source(zone, year)


def profiles(grid: GridData, zones: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean intensity (gCO2e/kWh) per zone x UTC hour of day, and per zone x month, of each zone's latest data year.

    Long frames: ``zone, hour_of_day_utc | month, g_per_kwh_mean, data_year, source``.
    """
    by_hour, by_month = [], []
    for zone in zones or list(grid.hourly_zones):
        series, year, source = _latest_year(grid, zone)
        for frame, key, name in ((by_hour, series.index.hour, "hour_of_day_utc"), (by_month, series.index.month, "month")):
            means = series.groupby(key).mean()
            frame.append(pd.DataFrame({"zone": zone, name: means.index.to_numpy(), "g_per_kwh_mean": means.to_numpy(),
                                       "data_year": year, "source": source}))
    return pd.concat(by_hour, ignore_index=True), pd.concat(by_month, ignore_index=True)


def forecast(grid: GridData, zone: str, start: pd.Timestamp, hours: int, live: ForecastSource | None = None) -> pd.DataFrame:
    """Hourly ``g_per_kwh``, ``basis`` and ``source`` for ``hours`` hours from ``start`` (UTC hour starts)."""
    first = utc_hour(start)
    index = pd.date_range(first, periods=hours, freq="h", name="datetime_utc")
    problem = ""
    if live is not None:
        try:
            values = live.forecast(zone, hours)["g_per_kwh"].reindex(index)
        except GridSourceError as exc:
            problem = f"; live forecast failed: {exc}"
        else:
            if values.notna().all():
                label = f"live forecast ({type(live).__name__})"
                return pd.DataFrame({"g_per_kwh": values.to_numpy(dtype="float64"), "basis": BASIS_FORECAST_LIVE,
                                     "source": label}, index=index)
            problem = "; live forecast did not cover every requested hour"
    series, year, source = _latest_year(grid, zone)
    typical = series.groupby([series.index.month, series.index.hour]).mean()
    keys = pd.MultiIndex.from_arrays([index.month, index.hour])
    values = typical.reindex(keys).to_numpy(dtype="float64")
    label = (f"historical profile, not a forecast: mean of {zone} in the same month and UTC hour of {year} "
             f"({source}){problem}")
    return pd.DataFrame({"g_per_kwh": values, "basis": BASIS_HISTORICAL_PROFILE, "source": label}, index=index)


def best_hours(profile_by_hour: pd.DataFrame, zone: str, n: int = 3) -> list[int]:
    """The ``n`` UTC hours of day with the lowest mean intensity in ``zone``'s profile."""
    rows = profile_by_hour[profile_by_hour["zone"] == zone].sort_values(["g_per_kwh_mean", "hour_of_day_utc"])
    return [int(h) for h in np.asarray(rows["hour_of_day_utc"])[:n]]
