"""UK Carbon Intensity API client (NESO, no key): Great Britain's national half-hourly intensity, as hourly means.

``GET /intensity/{from}/{to}`` returns half-hour periods ``{from, to, intensity: {forecast, actual,
index}}`` in gCO2/kWh (generation-based, direct: not life-cycle). A period's ``actual`` is used;
where it is null (recent or future periods) the ``forecast`` is used and the hour is flagged
``is_forecast``. Ranges are fetched in 14-day windows on a fixed grid, windows wholly in the past
cached on disk (``connectors.grid_http``). Data licence: CC BY 4.0, attribution "National Energy
System Operator (NESO), carbonintensity.org.uk". Covers the GB grid zone only (AWS ``eu-west-2``,
GCP ``europe-west2``, Azure ``uksouth`` / ``ukwest``).
What does not belong here: regional (DNO) data, fallbacks (``intensity.live``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.grid_http import GridSourceError, JsonHttpClient, fixed_windows, utc_hour

BASE_URL = "https://api.carbonintensity.org.uk"
WINDOW_DAYS = 14
ZONE = "GB"
ATTRIBUTION = "UK Carbon Intensity API (NESO, carbonintensity.org.uk), national actual gCO2/kWh; CC-BY-4.0"


class UkCarbonIntensityClient:
    """Hourly national intensity of Great Britain over any past range, cached, with retries."""

    configured = True  # no key needed

    def __init__(self, *, base_url: str = BASE_URL, cache_dir: Path | None = None,
                 now: Callable[[], pd.Timestamp] | None = None, **http_options: Any):
        self._http = JsonHttpClient("ukci", base_url, cache_dir, **http_options)
        self._now = now or (lambda: pd.Timestamp.now(tz="UTC"))

    def intensity(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Hourly ``g_per_kwh`` (mean of the two half hours) and ``is_forecast`` over [start, end)."""
        first, stop = utc_hour(start), utc_hour(end, ceil=True)
        now = utc_hour(self._now())
        frames = []
        for window_start, window_end in fixed_windows(first, stop, pd.Timedelta(days=WINDOW_DAYS)):
            path = f"/intensity/{window_start.strftime('%Y-%m-%dT%H:%MZ')}/{window_end.strftime('%Y-%m-%dT%H:%MZ')}"
            key = ("intensity", ZONE, window_start.isoformat(), window_end.isoformat())
            payload = self._http.get_json(path, cache_key=key if window_end <= now else None)
            frames.append(_half_hours(payload))
        if not frames:
            return pd.DataFrame({"g_per_kwh": [], "is_forecast": []}, index=pd.DatetimeIndex([], tz="UTC", name="datetime_utc"))
        half_hours = pd.concat(frames)
        half_hours = half_hours[~half_hours.index.duplicated(keep="first")]
        hourly = half_hours.groupby(half_hours.index.floor("h")).agg(g_per_kwh=("g_per_kwh", "mean"), is_forecast=("is_forecast", "any"))
        hourly.index.name = "datetime_utc"
        return hourly.loc[(hourly.index >= first) & (hourly.index < stop)]


def _half_hours(payload: object) -> pd.DataFrame:
    """``{data: [{from, intensity: {actual, forecast}}]}`` -> half-hourly frame (actual, else forecast flagged)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise GridSourceError("ukci /intensity: response has no 'data' list")
    try:
        starts = pd.to_datetime([row["from"] for row in payload["data"]], utc=True)
        actual = pd.to_numeric(pd.Series([row["intensity"].get("actual") for row in payload["data"]], dtype="object"))
        forecast = pd.to_numeric(pd.Series([row["intensity"].get("forecast") for row in payload["data"]], dtype="object"))
    except (KeyError, TypeError, AttributeError, ValueError):
        raise GridSourceError("ukci /intensity: periods without 'from' / 'intensity'") from None
    frame = pd.DataFrame({"g_per_kwh": actual.fillna(forecast).to_numpy(dtype="float64"),
                          "is_forecast": actual.isna().to_numpy()}, index=starts)
    return frame.dropna(subset=["g_per_kwh"])
