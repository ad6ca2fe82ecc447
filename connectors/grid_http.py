"""Shared HTTP client of the grid-intensity APIs: JSON GETs with an on-disk cache and bounded retries.

Every live grid source (``connectors.grid_electricitymaps``, ``grid_watttime``, ``grid_ukci``) goes
through :class:`JsonHttpClient`:

* **cache**: a response asked for with a ``cache_key`` (zone, signal and hour range; callers pass one
  only for ranges wholly in the past) is written to ``<cache_dir>/<source>/<sha256 of the key>.json``
  and read back on every later call, so re-running a past day gives the same numbers offline;
* **retries**: HTTP 429 waits ``Retry-After`` (seconds or an HTTP date) when the server sends it,
  else exponential backoff; 5xx, timeouts, refused connections and bodies cut off before their
  ``Content-Length`` back off exponentially
  (``backoff_s`` x 2^attempt, capped at ``max_backoff_s``); at most ``max_retries`` retries;
* **errors**: :class:`GridAuthError` (401/403, never retried), :class:`GridSourceError` (anything
  else: other 4xx, retries exhausted, invalid or truncated JSON). Messages name the source and the
  path, never a header, a key or a token: secrets stay out of logs and errors.

Standard library only (``urllib``). What does not belong here: any one API's endpoints or shapes.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_TIMEOUT_S = 30.0


class GridSourceError(RuntimeError):
    """A live grid source gave no usable answer (the message is safe to log: no secrets)."""


class GridAuthError(GridSourceError):
    """The source refused the credentials (HTTP 401/403)."""


@dataclass
class JsonHttpClient:
    """GET JSON from one API with cache and retries (see the module doc)."""

    source: str
    base_url: str
    cache_dir: Path | None = None
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = field(default=0, init=False)

    def get_json(self, path: str, params: Mapping[str, str] | None = None, *, headers: Mapping[str, str] | None = None,
                 cache_key: tuple[str, ...] | None = None) -> Any:
        """The decoded JSON of ``GET base_url + path``; from the cache when ``cache_key`` was fetched before."""
        cached = self._cache_path(cache_key)
        if cached is not None and cached.is_file():
            return json.loads(cached.read_text(encoding="utf-8"))
        payload = self._fetch(path, params or {}, headers or {})
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            temporary = cached.with_suffix(".tmp")
            temporary.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
            temporary.replace(cached)
        return payload

    def _cache_path(self, cache_key: tuple[str, ...] | None) -> Path | None:
        if cache_key is None or self.cache_dir is None:
            return None
        digest = hashlib.sha256("\x1f".join((self.base_url, *cache_key)).encode()).hexdigest()
        return Path(self.cache_dir) / self.source / f"{digest}.json"

    def _fetch(self, path: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        url = self.base_url.rstrip("/") + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        where = f"{self.source} {path}"
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            wait = min(self.backoff_s * 2 ** attempt, self.max_backoff_s)
            try:
                self.requests_made += 1
                request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    body = response.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                if status in (401, 403):
                    raise GridAuthError(f"{where}: HTTP {status}: credentials refused (check the API key in the environment)") from None
                if status != 429 and status < 500:
                    raise GridSourceError(f"{where}: HTTP {status}") from None
                last_problem = f"HTTP {status}"
                if status == 429:
                    wait = min(_retry_after_s(exc.headers.get("Retry-After")) or wait, self.max_backoff_s)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            except http.client.HTTPException as exc:     # IncompleteRead: the body was cut off; a bad status line
                last_problem = f"response cut off or malformed ({type(exc).__name__})"
            else:
                try:
                    return json.loads(body)
                except ValueError:
                    raise GridSourceError(f"{where}: response is not valid JSON ({len(body)} bytes; truncated?)") from None
            if attempt < self.max_retries:
                self.sleep(wait)
        raise GridSourceError(f"{where}: gave up after {self.max_retries + 1} attempts (last: {last_problem})")


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def utc_hour(moment: pd.Timestamp, ceil: bool = False) -> pd.Timestamp:
    """``moment`` in UTC (naive means UTC), floored (or ceiled) to the hour."""
    ts = pd.Timestamp(moment)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.ceil("h") if ceil else ts.floor("h")


def iso_z(moment: pd.Timestamp) -> str:
    """ISO-8601 UTC with a ``Z``, to the second."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fixed_windows(first: pd.Timestamp, stop: pd.Timestamp, window: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The windows of a fixed grid (multiples of ``window`` since the Unix epoch) that cover [first, stop)."""
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    start = epoch + ((first - epoch) // window) * window
    windows = []
    while start < stop:
        windows.append((start, start + window))
        start += window
    return windows
