"""Electricity Maps API v3 client: hourly carbon intensity history (``past-range``) and forecast per zone.

Key: environment variable ``ELECTRICITYMAPS_API_TOKEN`` (sent as the ``auth-token`` header, never
logged). ``past-range`` serves at most 240 hourly points per call, so a range is fetched in
240-hour windows on a fixed grid (multiples of 240 h since the Unix epoch): the same window is the
same cache entry whatever range asked for it. Windows wholly in the past are cached on disk
(``connectors.grid_http``), so a re-run reproduces its numbers offline; windows reaching into the
present are fetched every time. ``emission_factor_type`` is ``lifecycle`` (the bundled data's
signal) or ``direct`` (Scope 2 combustion only). Values are gCO2eq/kWh, ``datetime`` the period
start in UTC. Data: Electricity Maps, ODbL (attribution "Electricity Maps").
What does not belong here: fallback to bundled data and per-line use (``intensity.live``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.grid_http import GridAuthError, GridSourceError, JsonHttpClient, fixed_windows, iso_z, utc_hour

BASE_URL = "https://api.electricitymaps.com/v3"
TOKEN_ENV = "ELECTRICITYMAPS_API_TOKEN"
WINDOW_HOURS = 240
EMISSION_FACTOR_TYPES = ("lifecycle", "direct")
ATTRIBUTION = "Electricity Maps API v3; attribution: Electricity Maps; ODbL-1.0"


class ElectricityMapsClient:
    """Hourly intensity of Electricity Maps zones over any past range, cached, with retries."""

    def __init__(self, *, token: str | None = None, base_url: str = BASE_URL, cache_dir: Path | None = None,
                 now: Callable[[], pd.Timestamp] | None = None, **http_options: Any):
        self._token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._http = JsonHttpClient("electricitymaps", base_url, cache_dir, **http_options)
        self._now = now or (lambda: pd.Timestamp.now(tz="UTC"))

    @property
    def configured(self) -> bool:
        """Whether a token is available (the client is useless without one)."""
        return bool(self._token)

    def source_label(self, emission_factor_type: str) -> str:
        """The ``x_IntensitySource`` text of this client's values."""
        return f"{ATTRIBUTION}; past-range hourly, {emission_factor_type}"

    def past_range(self, zone: str, start: pd.Timestamp, end: pd.Timestamp,
                   emission_factor_type: str = "lifecycle") -> pd.DataFrame:
        """Hourly ``g_per_kwh`` and ``is_estimated`` of ``zone`` for [start, end) (UTC hour-start index)."""
        if emission_factor_type not in EMISSION_FACTOR_TYPES:
            raise ValueError(f"emission_factor_type must be one of {EMISSION_FACTOR_TYPES}, not {emission_factor_type!r}")
        if not self._token:
            raise GridAuthError(f"electricitymaps: no API token (set {TOKEN_ENV})")
        first, stop = utc_hour(start), utc_hour(end, ceil=True)
        now = utc_hour(self._now())
        frames = []
        for window_start, window_end in fixed_windows(first, stop, pd.Timedelta(hours=WINDOW_HOURS)):
            key = ("past-range", zone, emission_factor_type, window_start.isoformat(), window_end.isoformat())
            payload = self._http.get_json(
                "/carbon-intensity/past-range",
                {"zone": zone, "start": iso_z(window_start), "end": iso_z(window_end),
                 "emissionFactorType": emission_factor_type, "temporalGranularity": "hourly"},
                headers={"auth-token": self._token}, cache_key=key if window_end <= now else None,
            )
            frames.append(_points(payload, "data", f"electricitymaps past-range {zone}"))
        frame = pd.concat(frames) if frames else _points({"data": []}, "data", "")
        frame = frame[~frame.index.duplicated(keep="first")].sort_index()
        return frame.loc[(frame.index >= first) & (frame.index < stop)]

    def forecast(self, zone: str, horizon_hours: int = 24) -> pd.DataFrame:
        """Forecast hourly ``g_per_kwh`` of ``zone`` (never cached: it changes with every update)."""
        if not self._token:
            raise GridAuthError(f"electricitymaps: no API token (set {TOKEN_ENV})")
        payload = self._http.get_json("/carbon-intensity/forecast", {"zone": zone, "horizonHours": str(horizon_hours)},
                                      headers={"auth-token": self._token})
        return _points(payload, "forecast", f"electricitymaps forecast {zone}")


def _points(payload: object, key: str, where: str) -> pd.DataFrame:
    """``{key: [{datetime, carbonIntensity, isEstimated?}]}`` -> frame indexed by UTC hour start."""
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise GridSourceError(f"{where}: response has no '{key}' list")
    rows = payload[key]
    try:
        index = pd.to_datetime([row["datetime"] for row in rows], utc=True)
        values = pd.to_numeric(pd.Series([row["carbonIntensity"] for row in rows], dtype="object"), errors="coerce")
    except (KeyError, TypeError, ValueError):
        raise GridSourceError(f"{where}: points without 'datetime' / 'carbonIntensity'") from None
    estimated = [bool(row.get("isEstimated", False)) for row in rows]
    frame = pd.DataFrame({"g_per_kwh": values.to_numpy(dtype="float64"), "is_estimated": estimated},
                         index=pd.DatetimeIndex(index, name="datetime_utc"))
    return frame.dropna(subset=["g_per_kwh"])

