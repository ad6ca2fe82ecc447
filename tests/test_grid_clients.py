"""Live grid clients against local fake HTTP servers: success, 429, 5xx, bad JSON, auth, cache, fallback to bundled data."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from connectors.grid_electricitymaps import TOKEN_ENV, ElectricityMapsClient
from connectors.grid_http import GridAuthError, GridSourceError, JsonHttpClient
from connectors.grid_ukci import UkCarbonIntensityClient
from connectors.grid_watttime import WattTimeClient
from intensity import GridData
from intensity.live import fetch_zone

TOKEN = "em-secret-token-123"
PASSWORD = "wt-secret-password-456"
NOW = pd.Timestamp("2026-11-20T12:00Z")


class FakeApi:
    """A local HTTP server answering from a script of (status, headers, body) per path prefix; records requests."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.default: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                parts = urlsplit(self.path)
                api.requests.append((parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}))
                prefix = next((p for p in sorted(api.script, key=len, reverse=True) if parts.path.startswith(p)), None)
                queue = api.script.get(prefix, []) if prefix else []
                status, headers, body = queue.pop(0) if queue else api.default.get(prefix, (404, {}, b"{}"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, prefix: str, *responses: tuple[int, dict[str, str], object]) -> None:
        self.script.setdefault(prefix, []).extend(
            (status, headers, body if isinstance(body, bytes) else json.dumps(body).encode()) for status, headers, body in responses)

    def calls(self, prefix: str) -> list[tuple[str, dict[str, list[str]], dict[str, str]]]:
        return [r for r in self.requests if r[0].startswith(prefix)]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def em_client(api: FakeApi, tmp_path, sleeps: list[float], **options) -> ElectricityMapsClient:
    return ElectricityMapsClient(token=TOKEN, base_url=api.url, cache_dir=tmp_path / "cache", now=lambda: NOW,
                                 sleep=sleeps.append, backoff_s=1.0, max_retries=3, timeout_s=5.0, **options)


def em_window(start: str, values: list[float], estimated: bool = False) -> dict:
    hours = pd.date_range(start, periods=len(values), freq="h")
    return {"zone": "DE", "temporalGranularity": "hourly", "data": [
        {"zone": "DE", "carbonIntensity": v, "datetime": h.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "isEstimated": estimated,
         "emissionFactorType": "lifecycle"} for h, v in zip(hours, values)]}


# The 240-hour window (fixed grid since the epoch) that holds 2026-11-01.
WINDOW_START = pd.Timestamp("1970-01-01", tz="UTC") + ((pd.Timestamp("2026-11-01T00:00Z") - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(hours=240)) * pd.Timedelta(hours=240)
WINDOW_VALUES = [float(300 + i % 50) for i in range(240)]


def offset(hour: str) -> int:
    return int((pd.Timestamp(hour) - WINDOW_START) / pd.Timedelta(hours=1))


def test_electricitymaps_past_range_returns_the_hours_asked_for_with_key_header_and_window_params(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    frame = em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T13:00Z"))
    assert list(frame.index) == list(pd.date_range("2026-11-01T10:00Z", periods=3, freq="h"))
    assert frame["g_per_kwh"].tolist() == [WINDOW_VALUES[offset("2026-11-01T10:00Z") + i] for i in range(3)]
    path, params, headers = api.calls("/carbon-intensity/past-range")[0]
    assert headers["auth-token"] == TOKEN
    assert params["zone"] == ["DE"] and params["emissionFactorType"] == ["lifecycle"]
    assert params["start"] == [WINDOW_START.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert pd.Timestamp(params["end"][0]) - pd.Timestamp(params["start"][0]) == pd.Timedelta(hours=240)
    assert sleeps == []


def test_electricitymaps_direct_signal_is_asked_for_by_name(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"), "direct")
    assert api.calls("/carbon-intensity/past-range")[0][1]["emissionFactorType"] == ["direct"]


def test_a_past_day_is_cached_and_rerun_offline_with_the_same_numbers(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    client = em_client(api, tmp_path, sleeps)
    first = client.past_range("DE", pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-02T00:00Z"))
    api.server.shutdown()
    again = em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-02T00:00Z"))
    pd.testing.assert_frame_equal(first, again)
    assert len(api.calls("/carbon-intensity/past-range")) == 1 and len(first) == 24
    assert len(list((tmp_path / "cache" / "electricitymaps").glob("*.json"))) == 1


def test_a_window_reaching_the_present_is_not_cached(api, tmp_path, sleeps):
    now_inside_the_window = pd.Timestamp("2026-11-01T05:00Z")
    window = em_window(str(WINDOW_START), WINDOW_VALUES)
    api.answer("/carbon-intensity/past-range", (200, {}, window), (200, {}, window))
    client = ElectricityMapsClient(token=TOKEN, base_url=api.url, cache_dir=tmp_path / "cache", now=lambda: now_inside_the_window)
    for _ in range(2):
        client.past_range("DE", pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-01T02:00Z"))
    assert len(api.calls("/carbon-intensity/past-range")) == 2


def test_429_waits_retry_after_then_succeeds(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (429, {"Retry-After": "7"}, {"error": "rate limited"}),
               (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    frame = em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert sleeps == [7.0] and frame["g_per_kwh"].iloc[0] == WINDOW_VALUES[offset("2026-11-01T10:00Z")]


def test_429_without_retry_after_backs_off_exponentially():
    sleeps: list[float] = []
    client = JsonHttpClient("x", "http://unused", backoff_s=0.5, max_backoff_s=3.0, sleep=sleeps.append)
    assert client.backoff_s * 2 ** 3 > client.max_backoff_s
    fake = FakeApi()
    fake.thread.start()
    try:
        client.base_url = fake.url
        client.max_retries = 4
        fake.answer("/p", *[(429, {}, {})] * 4, (200, {}, {"ok": 1}))
        assert client.get_json("/p") == {"ok": 1}
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    assert sleeps == [0.5, 1.0, 2.0, 3.0]


def test_5xx_exhaustion_is_a_clear_error_and_the_zone_falls_back_to_bundled_data(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", *[(503, {}, b"unavailable")] * 4)
    client = em_client(api, tmp_path, sleeps)
    start, end = pd.Timestamp("2022-06-01T10:00Z"), pd.Timestamp("2022-06-01T11:00Z")
    with pytest.raises(GridSourceError, match="gave up after 4 attempts .*HTTP 503"):
        client.past_range("DE", start, end)
    assert sleeps == [1.0, 2.0, 4.0] and len(api.calls("/carbon-intensity/past-range")) == 4

    api.answer("/carbon-intensity/past-range", *[(500, {}, b"")] * 4)
    live = fetch_zone("DE", lambda: client.past_range("DE", start, end)["g_per_kwh"], client.source_label("lifecycle"))
    assert live.problem is not None and "HTTP 500" in live.problem
    bundled = GridData.bundled()
    line = (pd.Series(["gcp"]), pd.Series(["europe-west3"]), pd.Series([start]), pd.Series([end]))
    out = bundled.with_live([live]).annotate(*line).iloc[0]
    expected = bundled.annotate(*line).iloc[0]
    assert out["x_CarbonIntensity"] == expected["x_CarbonIntensity"] and out["x_IntensityBasis"] == "hourly"
    assert out["x_IntensitySource"].startswith(expected["x_IntensitySource"])
    assert "live Electricity Maps API v3" in out["x_IntensitySource"] and "bundled data used" in out["x_IntensitySource"]


@pytest.mark.parametrize("body", [b'{"zone": "DE", "data": [{"carbonIntensity": 3', b"<html>Bad gateway</html>"])
def test_truncated_or_invalid_json_is_a_source_error(api, tmp_path, sleeps, body):
    api.answer("/carbon-intensity/past-range", (200, {}, body))
    with pytest.raises(GridSourceError, match="not valid JSON"):
        em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_valid_json_of_the_wrong_shape_is_a_source_error(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (200, {}, {"message": "zone not found"}))
    with pytest.raises(GridSourceError, match="no 'data' list"):
        em_client(api, tmp_path, sleeps).past_range("XX", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))


def test_auth_failure_is_not_retried_and_never_shows_the_key(api, tmp_path, sleeps, caplog):
    api.answer("/carbon-intensity/past-range", (401, {}, {"message": f"invalid token {TOKEN}"}))
    with pytest.raises(GridAuthError) as raised:
        em_client(api, tmp_path, sleeps).past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert len(api.calls("/carbon-intensity/past-range")) == 1 and sleeps == []
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value.__cause__) and TOKEN not in caplog.text
    assert "HTTP 401" in str(raised.value)


def test_missing_token_is_an_auth_error_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    client = ElectricityMapsClient(cache_dir=tmp_path)
    assert not client.configured
    with pytest.raises(GridAuthError, match=TOKEN_ENV):
        client.past_range("DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))


def test_token_is_read_from_the_environment(monkeypatch, api, tmp_path):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    api.answer("/carbon-intensity/past-range", (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    ElectricityMapsClient(base_url=api.url, cache_dir=tmp_path, now=lambda: NOW).past_range(
        "DE", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert api.calls("/carbon-intensity/past-range")[0][2]["auth-token"] == "from-env"


def test_live_values_are_used_for_fully_covered_lines_only(api, tmp_path, sleeps):
    api.answer("/carbon-intensity/past-range", (200, {}, em_window(str(WINDOW_START), WINDOW_VALUES)))
    client = em_client(api, tmp_path, sleeps)
    start, end = pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-02T00:00Z")
    live = fetch_zone("DE", lambda: client.past_range("DE", start, end)["g_per_kwh"], client.source_label("lifecycle"))
    grid = GridData.bundled().with_live([live])
    starts = pd.to_datetime(["2026-11-01T10:00Z", "2026-11-01T10:30Z", "2026-11-01T23:00Z", "2026-11-01T10:00Z"], utc=True)
    ends = pd.to_datetime(["2026-11-01T11:00Z", "2026-11-01T12:30Z", "2026-11-02T01:00Z", "2026-11-01T11:00Z"], utc=True)
    out = grid.annotate(pd.Series(["gcp", "gcp", "gcp", "azure"]), pd.Series(["europe-west3"] * 3 + ["westeurope"]),
                        pd.Series(starts), pd.Series(ends))
    v = WINDOW_VALUES
    h10 = offset("2026-11-01T10:00Z")
    assert out["x_CarbonIntensity"].iloc[0] == v[h10]
    assert out["x_CarbonIntensity"].iloc[1] == pytest.approx((0.5 * v[h10] + v[h10 + 1] + 0.5 * v[h10 + 2]) / 2, rel=1e-12)
    assert out["x_IntensityBasis"].tolist() == ["hourly", "hourly", "hourly_proxy_year", "hourly_proxy_year"]
    assert out["x_IntensityYear"].tolist() == [2026, 2026, 2022, 2022]
    assert out["x_IntensitySource"].iloc[0] == client.source_label("lifecycle")
    assert "Sukprasert" in out["x_IntensitySource"].iloc[2]  # runs past the fetched day: bundled data


def wt_points(start: str, values: list[float]) -> dict:
    times = pd.date_range(start, periods=len(values), freq="5min")
    return {"data": [{"point_time": t.isoformat(), "value": v} for t, v in zip(times, values)],
            "meta": {"region": "CAISO_NORTH", "signal_type": "co2_moer", "units": "lbs_co2_per_mwh",
                     "data_point_period_seconds": 300}}


def wt_client(api: FakeApi, tmp_path, sleeps: list[float]) -> WattTimeClient:
    return WattTimeClient(username="alice", password=PASSWORD, base_url=api.url, cache_dir=tmp_path / "cache",
                          now=lambda: NOW, sleep=sleeps.append, max_retries=2)


def test_watttime_logs_in_then_returns_hourly_marginal_in_g_per_kwh(api, tmp_path, sleeps):
    values = [float(800 + i) for i in range(24)]  # two hours of 5-minute points
    api.answer("/login", (200, {}, {"token": "tok-1"}))
    api.answer("/v3/historical", (200, {}, wt_points("2026-11-01T10:00Z", values)))
    frame = wt_client(api, tmp_path, sleeps).historical("CAISO_NORTH", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T12:00Z"))
    assert list(frame.columns) == ["moer_g_per_kwh"]
    np.testing.assert_allclose(frame["moer_g_per_kwh"].to_numpy(),
                               [np.mean(values[:12]) * 0.453592, np.mean(values[12:]) * 0.453592], rtol=1e-12)
    login_headers = api.calls("/login")[0][2]
    assert login_headers["authorization"].startswith("Basic ")
    historical = api.calls("/v3/historical")[0]
    assert historical[2]["authorization"] == "Bearer tok-1" and historical[1]["signal_type"] == ["co2_moer"]


def test_watttime_average_signal_is_a_separate_column(api, tmp_path, sleeps):
    api.answer("/login", (200, {}, {"token": "tok-1"}))
    api.answer("/v3/historical", (200, {}, wt_points("2026-11-01T10:00Z", [500.0] * 12)))
    frame = wt_client(api, tmp_path, sleeps).historical("CAISO_NORTH", pd.Timestamp("2026-11-01T10:00Z"),
                                                        pd.Timestamp("2026-11-01T11:00Z"), signal_type="co2_aoer")
    assert list(frame.columns) == ["aoer_g_per_kwh"] and frame.iloc[0, 0] == pytest.approx(500 * 0.453592)


def test_watttime_expired_token_logs_in_again_once(api, tmp_path, sleeps):
    api.answer("/login", (200, {}, {"token": "old"}), (200, {}, {"token": "new"}))
    api.answer("/v3/historical", (401, {}, {}), (200, {}, wt_points("2026-11-01T10:00Z", [100.0] * 12)))
    frame = wt_client(api, tmp_path, sleeps).historical("CAISO_NORTH", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert frame.iloc[0, 0] == pytest.approx(45.3592)
    assert [c[2]["authorization"] for c in api.calls("/v3/historical")] == ["Bearer old", "Bearer new"]


def test_watttime_refused_password_never_appears_in_the_error(api, tmp_path, sleeps):
    api.answer("/login", (403, {}, {"error": "bad"}), (403, {}, {"error": "bad"}))
    with pytest.raises(GridAuthError) as raised:
        wt_client(api, tmp_path, sleeps).historical("CAISO_NORTH", pd.Timestamp("2026-11-01T10:00Z"), pd.Timestamp("2026-11-01T11:00Z"))
    assert PASSWORD not in str(raised.value) and "alice" not in str(raised.value)


def uk_periods(start: str, actual: list[float | None], forecast: list[float]) -> dict:
    starts = pd.date_range(start, periods=len(actual), freq="30min")
    return {"data": [{"from": s.strftime("%Y-%m-%dT%H:%MZ"), "to": (s + pd.Timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%MZ"),
                      "intensity": {"forecast": f, "actual": a, "index": "moderate"}}
                     for s, a, f in zip(starts, actual, forecast)]}


def test_uk_intensity_averages_half_hours_uses_actual_and_flags_forecast(api, tmp_path, sleeps):
    window_start = pd.Timestamp("1970-01-01", tz="UTC") + ((pd.Timestamp("2026-11-01T00:00Z") - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(days=14)) * pd.Timedelta(days=14)
    n = int((pd.Timestamp("2026-11-01T12:00Z") - window_start) / pd.Timedelta(minutes=30))
    actual: list[float | None] = [200.0] * n + [180.0, 220.0, None, None]
    forecast = [999.0] * n + [170.0, 210.0, 150.0, 170.0]
    api.answer("/intensity/", (503, {}, b""), (200, {}, uk_periods(str(window_start), actual, forecast)))
    client = UkCarbonIntensityClient(base_url=api.url, cache_dir=tmp_path / "cache", now=lambda: NOW, sleep=sleeps.append)
    frame = client.intensity(pd.Timestamp("2026-11-01T12:00Z"), pd.Timestamp("2026-11-01T14:00Z"))
    assert frame["g_per_kwh"].tolist() == [200.0, 160.0] and frame["is_forecast"].tolist() == [False, True]
    assert sleeps == [1.0]
    path = api.calls("/intensity/")[0][0]
    assert path == f"/intensity/{window_start.strftime('%Y-%m-%dT%H:%MZ')}/{(window_start + pd.Timedelta(days=14)).strftime('%Y-%m-%dT%H:%MZ')}"
