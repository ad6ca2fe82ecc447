"""``GridData``: grid zone, carbon intensity and PUE for billing lines, with provenance on every value.

Intensity is location-based and life-cycle (Electricity Maps). For each line, in order of preference:

* ``hourly``: the time-weighted mean of the zone's hourly intensity over [start, end);
* ``hourly_proxy_year``: the same over the matching hours of the nearest data year, when the line's
  year is not in the data (see :mod:`intensity.proxy_year`); ``x_IntensityYear`` is the data year;
* ``annual_zone``: the zone's 2024 annual life-cycle average, when the zone has no hourly data (or
  the line has no start time);
* ``world_average``: when the region (or provider) is unknown or null.

Region strings are resolved once per unique (provider, region) pair; everything per line is numpy.
What does not belong here: reading billing files, energy or emissions (``connectors``, ``footprint``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from carbonledger.errors import UsageError
from intensity.hourly import NS_PER_HOUR, HourlyIntensity
from intensity.regions import RegionInfo, RegionTable

BASIS_HOURLY = "hourly"
BASIS_PROXY_YEAR = "hourly_proxy_year"
BASIS_ANNUAL_ZONE = "annual_zone"
BASIS_WORLD_AVERAGE = "world_average"
_BASES = (BASIS_HOURLY, BASIS_PROXY_YEAR, BASIS_ANNUAL_ZONE, BASIS_WORLD_AVERAGE)
_HOURLY, _PROXY, _ANNUAL, _WORLD = range(len(_BASES))  # basis codes, in the order of _BASES

HOURLY_FILE = "hourly_lifecycle_2022.parquet"

#: The columns of :meth:`GridData.annotate`, with their dtypes (as in ``carbonledger.schema``).
ANNOTATION_COLUMNS = {
    "x_GridZone": "string", "x_CarbonIntensity": "float64", "x_IntensityBasis": "string",
    "x_IntensityYear": "Int64", "x_IntensitySource": "string", "x_Pue": "float64",
    "x_PueSource": "string", "x_CfeFraction": "float64", "x_CfeSource": "string",
}


@dataclass(frozen=True)
class IntensityValue:
    """One mean intensity (gCO2e/kWh, life-cycle, location-based) with its provenance."""

    g_per_kwh: float
    basis: str
    data_year: int
    source: str
    grid_zone: str | None


class GridData:
    """Hourly intensity and region facts, ready to annotate billing lines."""

    def __init__(self, hourly: HourlyIntensity, regions: RegionTable):
        self._hourly = hourly
        self._regions = regions

    @classmethod
    @functools.cache
    def bundled(cls) -> "GridData":
        """The data shipped in ``intensity/data`` (loaded once per process)."""
        folder = Path(str(resources.files("intensity") / "data"))
        return cls(HourlyIntensity.from_parquet(folder / HOURLY_FILE), RegionTable.from_folder(folder))

    @property
    def hourly_zones(self) -> tuple[str, ...]:
        """Zones with hourly data."""
        return self._hourly.zones

    def region_info(self, provider: str, region: str) -> RegionInfo | None:
        """Facts about a region (id, alias or display name); None when unknown."""
        return self._regions.region_info(provider, region)

    def annotate(self, provider: pd.Series, region: pd.Series, start: pd.Series, end: pd.Series) -> pd.DataFrame:
        """Grid zone, intensity and PUE per line, aligned to ``provider.index`` (see the module doc)."""
        pair_codes, facts = self._pair_facts(provider, region)
        start_ns = _epoch_ns(start)
        end_ns = _epoch_ns(end)
        has_start = start_ns != _NAT
        end_ns = np.where(end_ns == _NAT, start_ns, end_ns)

        zone_of_pair = np.array([self._hourly.zone_index(z) for z in facts["grid_zone"]], dtype=np.int64)
        annual_of_pair = facts["annual_g_per_kwh"].to_numpy(np.float64)
        has_annual_of_pair = ~np.isnan(annual_of_pair)
        zone_index = zone_of_pair[pair_codes]
        has_annual = has_annual_of_pair[pair_codes]
        is_hourly = (zone_index >= 0) & has_start

        basis = np.where(has_annual, _ANNUAL, _WORLD)
        intensity = np.where(has_annual_of_pair, annual_of_pair, self._regions.world.g_per_kwh)[pair_codes]
        year_of_pair = facts["annual_year"].fillna(self._regions.world.data_year).to_numpy(np.int64)
        year = year_of_pair[pair_codes]
        if is_hourly.any():
            means = self._hourly.window_means(zone_index[is_hourly], start_ns[is_hourly], end_ns[is_hourly])
            intensity[is_hourly] = means.g_per_kwh
            year[is_hourly] = means.data_year
            basis[is_hourly] = np.where(means.is_proxy, _PROXY, _HOURLY)

        # sources: label 0 = hourly dataset, 1 = world average, 2 + pair = that pair's annual source
        source_labels = [self._hourly.source, self._regions.world.source, *facts["annual_source"]]
        source_codes = np.where(basis <= _PROXY, 0,
                                np.where(basis == _WORLD, 1, 2 + pair_codes))
        columns = {
            "x_GridZone": _strings(facts["grid_zone"], pair_codes),
            "x_CarbonIntensity": intensity,
            "x_IntensityBasis": _strings(_BASES, basis),
            "x_IntensityYear": pd.array(year, dtype="Int64"),
            "x_IntensitySource": _strings(source_labels, source_codes),
            "x_Pue": facts["pue"].to_numpy(np.float64)[pair_codes],
            "x_PueSource": _strings(facts["pue_source"], pair_codes),
            "x_CfeFraction": facts["cfe_fraction"].to_numpy(np.float64)[pair_codes],
            "x_CfeSource": _strings(facts["cfe_source"], pair_codes),
        }
        return pd.DataFrame(columns, index=provider.index, copy=False)

    def mean_intensity(self, provider: str, region: str, start: pd.Timestamp, hours: float) -> IntensityValue:
        """Mean intensity over ``hours`` from ``start`` (naive timestamps are taken as UTC)."""
        start_utc = _utc(start)
        end_utc = start_utc + pd.Timedelta(hours=hours)
        row = self.annotate(pd.Series([provider]), pd.Series([region]), pd.Series([start_utc]), pd.Series([end_utc])).iloc[0]
        zone = row["x_GridZone"]
        return IntensityValue(
            g_per_kwh=float(row["x_CarbonIntensity"]), basis=str(row["x_IntensityBasis"]),
            data_year=int(row["x_IntensityYear"]), source=str(row["x_IntensitySource"]),
            grid_zone=None if pd.isna(zone) else str(zone),
        )

    def hourly(self, zone: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
        """Intensity of ``zone`` for each UTC hour of [start, end), proxy-year mapped outside the data."""
        zone_index = self._hourly.zone_index(zone)
        if zone_index < 0:
            raise UsageError(f"grid zone {zone!r} has no hourly data; zones with hourly data: {', '.join(self._hourly.zones)}")
        first, stop = _utc(start).floor("h"), _utc(end).ceil("h")
        n_hours = max(int((stop - first) / pd.Timedelta(hours=1)), 0)
        hours = pd.date_range(first, periods=n_hours, freq="h", name="datetime_utc")
        hour_ns = hours.as_unit("ns").asi8
        means = self._hourly.window_means(np.full(len(hours), zone_index), hour_ns, hour_ns + NS_PER_HOUR)
        return pd.Series(means.g_per_kwh, index=hours, name=zone, dtype="float64")

    def _pair_facts(self, provider: pd.Series, region: pd.Series) -> tuple[np.ndarray, pd.DataFrame]:
        """Code of each line's (provider, region) pair (nulls included as values) and the facts per pair."""
        provider_codes, provider_values = pd.factorize(provider, use_na_sentinel=True)
        region_codes, region_values = pd.factorize(region, use_na_sentinel=True)
        combined = (provider_codes.astype(np.int64) + 1) * (len(region_values) + 1) + (region_codes + 1)
        pair_codes, pair_values = pd.factorize(combined)
        provider_of_pair = np.append(np.asarray(provider_values, dtype=object), None)[pair_values // (len(region_values) + 1) - 1]
        region_of_pair = np.append(np.asarray(region_values, dtype=object), None)[pair_values % (len(region_values) + 1) - 1]
        facts = self._regions.pair_facts(list(provider_of_pair), list(region_of_pair))
        return pair_codes, facts


_NAT = np.iinfo(np.int64).min


def _strings(labels: object, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A ``string`` column from a few labels (None → NA) and one label code per line."""
    return pd.array(list(labels), dtype="string").take(codes)


def _epoch_ns(timestamps: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a timestamp series (read-only); NaT → int64 min. Naive means UTC."""
    values = timestamps.array
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(timestamps, utc=True).array
    return values.as_unit("ns").asi8


def _utc(timestamp: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(timestamp)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
