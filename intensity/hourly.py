"""Hourly grid intensity per zone, and its time-weighted mean over any [start, end) window, vectorised.

The table is held as per-zone cumulative sums in integer centi-grams (the source has two decimals),
so a window's sum is two look-ups and exact; a whole-hour window's mean divides an exact integer, so
one hour returns exactly the source's value. The years of a table need not be contiguous, and each
has its own source (a user's data-portal file for 2024, the bundled data for 2022). Windows are
cyclic within their block of hours: a window starting in a data year runs on through that run of
consecutive data years (wrapping at its end); a window starting in a year outside the data is
placed by :mod:`intensity.proxy_year` and wraps within its proxy year.

Energy is taken as uniform over [start, end): partial first and last hours weigh by the fraction
covered; a window inside one hour (or empty) takes that hour's value.
What does not belong here: regions, zones of regions, fallbacks (``intensity.regions``, ``intensity.grid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from intensity.proxy_year import hours_in_years, locate_hours, year_start_hours

NS_PER_HOUR = 3_600_000_000_000
CENTI = 100
SIGNAL = "lifecycle"


@dataclass(frozen=True)
class WindowMeans:
    """Per window: mean intensity (gCO2e/kWh), data year used (and its index), and whether it is a proxy year."""

    g_per_kwh: np.ndarray
    data_year: np.ndarray
    year_index: np.ndarray
    is_proxy: np.ndarray


@dataclass(frozen=True)
class HourlyIntensity:
    """Hourly intensity of whole calendar years for a set of zones, with the source of each year."""

    zones: tuple[str, ...]
    years: np.ndarray  # ascending, whole calendar years (not necessarily consecutive)
    cumulative_centi: np.ndarray  # (hours + 1, zones) int64: running sum of intensity x 100
    sources: tuple[str, ...]  # one per year

    @classmethod
    def from_parquet(cls, path: Path) -> "HourlyIntensity":
        """Read the bundled wide table (index ``datetime_utc``, one float column per zone)."""
        table = pq.read_table(path)
        metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if metadata.get("signal") != SIGNAL:
            raise ValueError(f"{path}: signal {metadata.get('signal')!r}, expected {SIGNAL!r} (life-cycle intensity)")
        frame = table.to_pandas()
        source = f"{metadata['source']}; attribution: {metadata['attribution']}; {metadata['license']}"
        years = np.unique(frame.index.year.to_numpy(dtype=np.int64))
        return cls.from_frame(frame, {int(y): source for y in years}, str(path))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, sources: dict[int, str], label: str) -> "HourlyIntensity":
        """A wide table (UTC hourly index, one column per zone) of whole years without gaps or missing values."""
        index = pd.DatetimeIndex(frame.index)
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        hours = index.as_unit("ns").asi8 // NS_PER_HOUR
        years = np.unique(index.year.to_numpy(dtype=np.int64))
        expected = np.concatenate([np.arange(start, start + length) for start, length
                                   in zip(year_start_hours(years), hours_in_years(years))])
        if len(hours) != len(expected) or not np.array_equal(hours, expected):
            raise ValueError(f"{label}: hours are not whole calendar years {years.tolist()} without gaps")
        values = frame.to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            raise ValueError(f"{label}: missing values in the hourly table")
        missing_sources = sorted(set(years.tolist()) - set(sources))
        if missing_sources:
            raise ValueError(f"{label}: no source given for year(s) {missing_sources}")
        centi = np.rint(values * CENTI).astype(np.int64)
        cumulative = np.zeros((centi.shape[0] + 1, centi.shape[1]), dtype=np.int64)
        np.cumsum(centi, axis=0, out=cumulative[1:])
        return cls(
            zones=tuple(str(c) for c in frame.columns),
            years=years,
            cumulative_centi=cumulative,
            sources=tuple(sources[int(y)] for y in years),
        )

    def window_means(self, zone_index: np.ndarray, start_ns: np.ndarray, end_ns: np.ndarray) -> WindowMeans:
        """Mean intensity over [start, end) per window (epoch nanoseconds, UTC; zone_index >= 0)."""
        first_hour = start_ns // NS_PER_HOUR
        end_hour = -((-end_ns) // NS_PER_HOUR)
        n_hours = np.maximum(end_hour - first_hour, 1)
        inverse, unique_hours = pd.factorize(first_hour)
        located = locate_hours(unique_hours, self.years)
        year_index = located.year_index[inverse]
        is_proxy = located.is_proxy[inverse]

        year_lengths = hours_in_years(self.years)
        year_offsets = np.concatenate(([0], np.cumsum(year_lengths)))
        # a block is the span a window may wrap in: its run of consecutive data years, or its proxy year alone
        run = np.concatenate(([0], np.cumsum(np.diff(self.years) != 1)))
        run_first = np.searchsorted(run, run, side="left")
        run_stop = np.searchsorted(run, run, side="right")
        run_base = year_offsets[run_first]
        run_length = year_offsets[run_stop] - run_base
        base = np.where(is_proxy, year_offsets[year_index], run_base[year_index])
        length = np.where(is_proxy, year_lengths[year_index], run_length[year_index])
        position = located.hour_in_year[inverse] + np.where(is_proxy, 0, year_offsets[year_index] - run_base[year_index])

        total_centi = self._cyclic_sum(zone_index, base, length, position, n_hours)
        means = total_centi / (CENTI * n_hours)
        # partial first / last hours weigh by the fraction of the hour covered (one-hour windows need no weights)
        head_fraction = (start_ns - first_hour * NS_PER_HOUR) / NS_PER_HOUR
        tail_fraction = (end_hour * NS_PER_HOUR - end_ns) / NS_PER_HOUR
        partial = ((head_fraction > 0) | (tail_fraction > 0)) & (n_hours > 1)
        if partial.any():
            z, b, l, p, n = (a[partial] for a in (zone_index, base, length, position, n_hours))
            one = np.ones_like(n)
            first_centi = self._cyclic_sum(z, b, l, p, one)
            last_centi = self._cyclic_sum(z, b, l, (p + n - 1) % l, one)
            head, tail = head_fraction[partial], tail_fraction[partial]
            means[partial] = (total_centi[partial] - head * first_centi - tail * last_centi) / (CENTI * (n - head - tail))
        return WindowMeans(g_per_kwh=means, data_year=self.years[year_index], year_index=year_index, is_proxy=is_proxy)

    def _cyclic_sum(self, zone: np.ndarray, base: np.ndarray, length: np.ndarray, position: np.ndarray,
                    n_hours: np.ndarray) -> np.ndarray:
        """Sum (centi-grams) of ``n_hours`` hours from ``position`` in block [base, base + length), wrapping."""
        n_zones = self.cumulative_centi.shape[1]
        flat = self.cumulative_centi.ravel()

        def at(row: np.ndarray) -> np.ndarray:
            return flat.take(row * n_zones + zone)

        block_end = base + length
        full_cycles, rest = np.divmod(n_hours, length)
        start = base + position
        stop = start + rest
        wraps = stop > block_end
        head = at(np.minimum(stop, block_end)) - at(start)
        if wraps.any() or full_cycles.any():
            at_base = at(base)
            head += full_cycles * (at(block_end) - at_base) + at(np.where(wraps, stop - length, base)) - at_base
        return head
