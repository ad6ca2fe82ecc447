"""Live hourly intensity on top of the bundled data: fetch with fallback, and apply per line.

:func:`fetch_zone` asks a live source (a callable, usually a ``connectors.grid_*`` client method)
for a zone's hourly average intensity and, when the source fails (no key, refused credentials,
429 or 5xx past the retries, invalid JSON), keeps the failure reason so the zone's lines stay on
the bundled data and say why. :meth:`intensity.GridData.with_live` takes the results: a line whose
every hour is covered by live values gets their time-weighted mean (basis ``hourly``, source the
live API); a line of a zone whose fetch failed keeps the bundled value, its source suffixed with
``; live <source> failed: <reason>; bundled data used``.

Only average intensity belongs here; WattTime's marginal MOER is a planning signal, never a ledger
intensity. What does not belong here: HTTP, caching, retries (``connectors.grid_http``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.grid_http import GridSourceError

NS_PER_HOUR = 3_600_000_000_000


@dataclass(frozen=True)
class LiveZone:
    """A zone's live hourly values (gCO2e/kWh, UTC hour-start index), or why there are none."""

    zone: str
    g_per_kwh: pd.Series
    source: str
    problem: str | None = None


def fetch_zone(zone: str, fetch: Callable[[], pd.Series], source: str) -> LiveZone:
    """Call ``fetch`` (returning hourly g/kWh) and wrap the result; a source failure becomes ``problem``."""
    try:
        values = fetch()
    except GridSourceError as exc:
        return LiveZone(zone, pd.Series(dtype="float64"), source, problem=str(exc))
    return LiveZone(zone, values.astype("float64").sort_index(), source)


@dataclass(frozen=True)
class DenseHours:
    """One zone's live values as a dense hourly array from ``first_hour`` (hours since the epoch), NaN for gaps."""

    first_hour: int
    cumulative: np.ndarray  # running sum of values (gaps as 0), length hours + 1
    cumulative_gaps: np.ndarray  # running count of gaps, length hours + 1
    values: np.ndarray

    @classmethod
    def from_series(cls, series: pd.Series) -> "DenseHours":
        """Dense array of a series indexed by UTC hour starts."""
        index = pd.DatetimeIndex(series.index)
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        hours = index.as_unit("ns").asi8 // NS_PER_HOUR
        first = int(hours.min()) if len(hours) else 0
        values = np.full(int(hours.max()) - first + 1 if len(hours) else 0, np.nan)
        values[hours - first] = series.to_numpy(dtype="float64")
        gaps = np.isnan(values)
        return cls(first, np.concatenate(([0.0], np.cumsum(np.where(gaps, 0.0, values)))),
                   np.concatenate(([0], np.cumsum(gaps))), values)

    def window_means(self, start_ns: np.ndarray, end_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Time-weighted mean over [start, end) (partial end hours weighed as in ``intensity.hourly``) and
        whether every hour of the window has a value (NaN mean where not)."""
        if len(self.values) == 0:
            return np.full(len(start_ns), np.nan), np.zeros(len(start_ns), dtype=bool)
        first_hour = start_ns // NS_PER_HOUR
        end_hour = -((-end_ns) // NS_PER_HOUR)
        n_hours = np.maximum(end_hour - first_hour, 1)
        lo = first_hour - self.first_hour
        hi = lo + n_hours
        inside = (lo >= 0) & (hi <= len(self.values))
        lo, hi = np.where(inside, lo, 0), np.where(inside, hi, 1)
        covered = inside & ((self.cumulative_gaps[hi] - self.cumulative_gaps[lo]) == 0)
        total = self.cumulative[hi] - self.cumulative[lo]
        several = n_hours > 1
        head = np.where(several, (start_ns - first_hour * NS_PER_HOUR) / NS_PER_HOUR, 0.0)
        tail = np.where(several, (end_hour * NS_PER_HOUR - end_ns) / NS_PER_HOUR, 0.0)
        with np.errstate(invalid="ignore"):
            means = (total - head * self.values[lo] - tail * self.values[hi - 1]) / (n_hours - head - tail)
        return np.where(covered, means, np.nan), covered
