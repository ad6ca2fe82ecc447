"""WattTime API v3 client: historical marginal (MOER) or average (AOER) emissions rate of a WattTime region.

Credentials: environment variables ``WATTTIME_USERNAME`` and ``WATTTIME_PASSWORD``. ``GET /login``
with HTTP Basic gives a bearer token (about 30 minutes; a 401 logs in again once); neither the
password nor the token is ever logged or put in an error. ``/v3/historical`` is fetched in 30-day
windows on a fixed grid (multiples of 30 days since the Unix epoch), each window wholly in the past
cached on disk (``connectors.grid_http``). Points are 5-minute, ``point_time`` their start, in
lbs CO2/MWh: converted to gCO2/kWh (x 0.453592) and averaged to UTC hours.

**Marginal is not average.** ``co2_moer`` answers "what does shifting this load change"; it must
never stand in for the location-based average intensity of the ledger. The frame's column says
which: ``moer_g_per_kwh`` (marginal) or ``aoer_g_per_kwh`` (average).
What does not belong here: mapping cloud regions to WattTime regions, fallbacks (``intensity``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.grid_http import GridAuthError, GridSourceError, JsonHttpClient, fixed_windows, iso_z, utc_hour

BASE_URL = "https://api.watttime.org"
USERNAME_ENV = "WATTTIME_USERNAME"
PASSWORD_ENV = "WATTTIME_PASSWORD"
LBS_PER_MWH_TO_G_PER_KWH = 0.453592
WINDOW_DAYS = 30
COLUMN_OF_SIGNAL = {"co2_moer": "moer_g_per_kwh", "co2_aoer": "aoer_g_per_kwh"}


class WattTimeClient:
    """Hourly marginal or average emissions rate of a WattTime region (e.g. ``CAISO_NORTH``)."""

    def __init__(self, *, username: str | None = None, password: str | None = None, base_url: str = BASE_URL,
                 cache_dir: Path | None = None, now: Callable[[], pd.Timestamp] | None = None, **http_options: Any):
        self._username = username if username is not None else os.environ.get(USERNAME_ENV)
        self._password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self._http = JsonHttpClient("watttime", base_url, cache_dir, **http_options)
        self._now = now or (lambda: pd.Timestamp.now(tz="UTC"))
        self._token: str | None = None

    @property
    def configured(self) -> bool:
        """Whether credentials are available."""
        return bool(self._username and self._password)

    def historical(self, region: str, start: pd.Timestamp, end: pd.Timestamp, signal_type: str = "co2_moer") -> pd.DataFrame:
        """Hourly mean rate (gCO2/kWh) of ``region`` over [start, end), one column named after the signal."""
        if signal_type not in COLUMN_OF_SIGNAL:
            raise ValueError(f"signal_type must be one of {tuple(COLUMN_OF_SIGNAL)}, not {signal_type!r}")
        first, stop = utc_hour(start), utc_hour(end, ceil=True)
        now = utc_hour(self._now())
        points = []
        for window_start, window_end in fixed_windows(first, stop, pd.Timedelta(days=WINDOW_DAYS)):
            key = ("historical", region, signal_type, window_start.isoformat(), window_end.isoformat())
            params = {"region": region, "signal_type": signal_type, "start": iso_z(window_start), "end": iso_z(window_end)}
            points.append(self._get("/v3/historical", params, key if window_end <= now else None, f"watttime historical {region}"))
        column = COLUMN_OF_SIGNAL[signal_type]
        frame = pd.concat(points) if points else pd.Series(dtype="float64")
        hourly = (frame * LBS_PER_MWH_TO_G_PER_KWH).groupby(frame.index.floor("h")).mean() if len(frame) else frame
        hourly = hourly[(hourly.index >= first) & (hourly.index < stop)] if len(hourly) else hourly
        return pd.DataFrame({column: hourly.to_numpy(dtype="float64")},
                            index=pd.DatetimeIndex(hourly.index, name="datetime_utc"))

    def _get(self, path: str, params: dict[str, str], cache_key: tuple[str, ...] | None, where: str) -> pd.Series:
        def fetch() -> pd.Series:
            headers = {"Authorization": f"Bearer {self._login()}"}
            return _points(self._http.get_json(path, params, headers=headers, cache_key=cache_key), where)

        try:
            return fetch()
        except GridAuthError:
            self._token = None  # a token past its ~30-minute life: log in once more
            return fetch()

    def _login(self) -> str:
        if self._token:
            return self._token
        if not self.configured:
            raise GridAuthError(f"watttime: no credentials (set {USERNAME_ENV} and {PASSWORD_ENV})")
        basic = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
        payload = self._http.get_json("/login", headers={"Authorization": f"Basic {basic}"})
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise GridSourceError("watttime /login: response has no token")
        self._token = token
        return token


def _points(payload: object, where: str) -> pd.Series:
    """``{data: [{point_time, value}], meta: {units}}`` -> lbs/MWh series indexed by UTC point start."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise GridSourceError(f"{where}: response has no 'data' list")
    units = (payload.get("meta") or {}).get("units", "lbs_co2_per_mwh")
    if units != "lbs_co2_per_mwh":
        raise GridSourceError(f"{where}: unexpected units {units!r} (expected lbs_co2_per_mwh)")
    try:
        index = pd.to_datetime([row["point_time"] for row in payload["data"]], utc=True)
        values = [float(row["value"]) for row in payload["data"]]
    except (KeyError, TypeError, ValueError):
        raise GridSourceError(f"{where}: points without 'point_time' / numeric 'value'") from None
    return pd.Series(values, index=index, dtype="float64")

