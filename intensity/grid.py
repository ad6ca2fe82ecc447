"""``GridData``: grid zone, carbon intensity and PUE for billing lines, with provenance on every value.

Intensity is location-based and life-cycle (Electricity Maps). For each line, in order of preference
(the step is ``x_IntensityBasis``; ``x_IntensityYear`` and ``x_IntensitySource`` say which data):

* ``hourly``: the time-weighted mean of the zone's hourly intensity over [start, end);
* ``hourly_proxy_year``: the same over the matching hours of the nearest data year, when the line's
  year is not in the data (see :mod:`intensity.proxy_year`); ``x_IntensityYear`` is the data year;
* ``annual_zone``: the zone's 2024 annual life-cycle average, when the zone has no hourly data (or
  the line has no start time);
* ``annual_country``: the country's annual factor, when the region string is only a country or area
  (GCP multi-region ``US``, AWS ``United States``);
* ``annual_region``: an annual eGRID / EEA-style factor of a region id only those tables know;
* ``world_average``: when the region (or provider) is unknown or null.

Hourly data comes from the bundled 2022 table and, when :meth:`GridData.with_data_portal` is used,
from a user's Electricity Maps data-portal files, whose zone-years win over the bundled ones; with
:meth:`GridData.with_live`, live API values win for the lines whose every hour they cover
(:mod:`intensity.live`), and a failed live source is named in the source of its zone's lines.

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

from carbonledger.codes import text_codes
from carbonledger.errors import UsageError
from intensity import data_portal
from intensity.hourly import NS_PER_HOUR, HourlyIntensity
from intensity.live import DenseHours, LiveZone
from intensity.regions import (
    BASIS_ANNUAL_COUNTRY,
    BASIS_ANNUAL_REGION,
    BASIS_ANNUAL_ZONE,
    BASIS_WORLD_AVERAGE,
    RegionInfo,
    RegionTable,
)

BASIS_HOURLY = "hourly"
BASIS_PROXY_YEAR = "hourly_proxy_year"
#: Every ``x_IntensityBasis`` value, best first.
BASES = (BASIS_HOURLY, BASIS_PROXY_YEAR, BASIS_ANNUAL_ZONE, BASIS_ANNUAL_COUNTRY, BASIS_ANNUAL_REGION, BASIS_WORLD_AVERAGE)
_HOURLY, _PROXY = 0, 1  # basis codes: positions in BASES

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

    def __init__(self, tables: list[HourlyIntensity], regions: RegionTable, live: tuple[LiveZone, ...] = ()):
        """``tables``: hourly tables, earlier ones winning for a zone in several; ``live``: see :meth:`with_live`."""
        self._tables = tables
        self._regions = regions
        self._live = live
        self._live_hours = {z.zone: DenseHours.from_series(z.g_per_kwh) for z in live if z.problem is None}
        self._zone_at: dict[str, tuple[int, int]] = {}
        #: the facts of every (provider, region) pair seen so far (a row each), and each pair's row
        self._facts = regions.pair_facts([], [])
        self._facts_row: dict[tuple[object, object], int] = {}
        for t, table in reversed(list(enumerate(tables))):
            self._zone_at.update({zone: (t, column) for column, zone in enumerate(table.zones)})

    @classmethod
    @functools.cache
    def bundled(cls) -> "GridData":
        """The data shipped in ``intensity/data`` (loaded once per process)."""
        folder = Path(str(resources.files("intensity") / "data"))
        return cls([HourlyIntensity.from_parquet(folder / HOURLY_FILE)], RegionTable.from_folder(folder))

    def with_data_portal(self, folder: Path) -> "GridData":
        """This data plus the hourly Electricity Maps data-portal files of ``folder``, which win for their zone-years.

        A zone's table holds the years of its files and, for other years, those already known here.
        """
        tables = []
        for zone, (series, sources) in data_portal.read_folder(folder).items():
            frame = series.to_frame(zone)
            if zone in self._zone_at:
                t, column = self._zone_at[zone]
                known = self._tables[t]
                for position in np.flatnonzero(~np.isin(known.years, list(sources))):
                    year = int(known.years[position])
                    existing = self.hourly(zone, pd.Timestamp(f"{year}-01-01", tz="UTC"), pd.Timestamp(f"{year + 1}-01-01", tz="UTC"))
                    frame = pd.concat([frame, existing.to_frame(zone)])
                    sources = {**sources, year: known.sources[position]}
            tables.append(HourlyIntensity.from_frame(frame.sort_index(), sources, f"data-portal zone {zone}"))
        return GridData([*tables, *self._tables], self._regions, self._live)

    def with_live(self, zones: list[LiveZone]) -> "GridData":
        """This data plus live hourly values per zone (see :mod:`intensity.live`; later zones replace earlier)."""
        by_zone = {z.zone: z for z in (*self._live, *zones)}
        return GridData(self._tables, self._regions, tuple(by_zone.values()))

    @property
    def hourly_zones(self) -> tuple[str, ...]:
        """Zones with hourly data."""
        return tuple(sorted(self._zone_at))

    def hourly_years(self, zone: str) -> tuple[int, ...]:
        """Data years of a zone's hourly data (empty when it has none)."""
        if zone not in self._zone_at:
            return ()
        return tuple(int(y) for y in self._tables[self._zone_at[zone][0]].years)

    def hourly_source(self, zone: str, year: int) -> str:
        """Source of a zone's hourly data of one data year."""
        t, _ = self._zone_at[zone]
        table = self._tables[t]
        return table.sources[int(np.searchsorted(table.years, year))]

    def region_info(self, provider: str, region: str) -> RegionInfo | None:
        """Facts about a region (id, alias or display name); None when unknown."""
        return self._regions.region_info(provider, region)

    def annotate(self, provider: pd.Series, region: pd.Series, start: pd.Series, end: pd.Series) -> pd.DataFrame:
        """Grid zone, intensity and PUE per line, aligned to ``provider.index`` (see the module doc)."""
        return self.annotation(provider, region, start, end).frame(provider.index)

    def annotation(self, provider: pd.Series, region: pd.Series, start: pd.Series, end: pd.Series) -> "Annotation":
        """:meth:`annotate` as numbers and label codes (see :class:`Annotation`)."""
        pair_codes, providers, regions, facts = self._pair_facts(provider, region)
        start_ns = _epoch_ns(start)
        end_ns = _epoch_ns(end)
        has_start = start_ns != _NAT
        end_ns = np.where(end_ns == _NAT, start_ns, end_ns)

        located = [self._zone_at.get(z, (-1, -1)) if isinstance(z, str) else (-1, -1) for z in facts["grid_zone"]]
        table_of_pair = np.array([t for t, _ in located], dtype=np.int64).reshape(-1)
        column_of_pair = np.array([c for _, c in located], dtype=np.int64).reshape(-1)
        table = np.where(has_start, table_of_pair[pair_codes], -1)
        column = column_of_pair[pair_codes]

        basis_of_pair = np.array([BASES.index(b) for b in facts["annual_basis"]], dtype=np.int64)
        basis = basis_of_pair[pair_codes]
        intensity = facts["annual_g_per_kwh"].to_numpy(np.float64)[pair_codes]
        year = facts["annual_year"].array.take(pair_codes)
        # sources: one label per (table, year), one per live zone, then one per pair (its annual factor)
        hourly_labels = [label for t in self._tables for label in t.sources]
        live_labels = [z.source for z in self._live]
        table_offsets = np.cumsum([0, *(len(t.sources) for t in self._tables)])
        source_codes = len(hourly_labels) + len(live_labels) + pair_codes
        for t, hourly in enumerate(self._tables):
            lines = table == t
            if not lines.any():
                continue
            means = hourly.window_means(column[lines], start_ns[lines], end_ns[lines])
            intensity[lines] = means.g_per_kwh
            year[lines] = means.data_year
            basis[lines] = np.where(means.is_proxy, _PROXY, _HOURLY)
            source_codes[lines] = table_offsets[t] + means.year_index

        zone_of_pair = facts["grid_zone"].astype("string")
        failed = []
        for position, live in enumerate(self._live):
            lines = zone_of_pair.eq(live.zone).fillna(False).to_numpy(dtype=bool)[pair_codes] & has_start
            if live.problem is not None:
                failed.append((lines, f"; live {live.source} failed: {live.problem}; bundled data used"))
                continue
            means, covered = self._live_hours[live.zone].window_means(start_ns[lines], end_ns[lines])
            hit = np.flatnonzero(lines)[covered]
            intensity[hit] = means[covered]
            year[hit] = start_ns[hit].astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970
            basis[hit] = _HOURLY
            source_codes[hit] = len(hourly_labels) + position

        labels = [*hourly_labels, *live_labels, *facts["annual_source"]]
        sources = list(labels)
        # a failed live zone's lines name the failure: their labels again, with its note appended
        for copy, (lines, suffix) in enumerate(failed, start=1):
            source_codes[lines] += copy * len(labels)
            sources += [label if pd.isna(label) else label + suffix for label in labels]
        return Annotation(pair_codes, providers, regions, facts, intensity, year, basis, source_codes, sources)

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
        if zone not in self._zone_at:
            raise UsageError(f"grid zone {zone!r} has no hourly data; zones with hourly data: {', '.join(self.hourly_zones)}")
        t, column = self._zone_at[zone]
        first, stop = _utc(start).floor("h"), _utc(end).ceil("h")
        n_hours = max(int((stop - first) / pd.Timedelta(hours=1)), 0)
        hours = pd.date_range(first, periods=n_hours, freq="h", name="datetime_utc")
        hour_ns = hours.as_unit("ns").asi8
        means = self._tables[t].window_means(np.full(len(hours), column), hour_ns, hour_ns + NS_PER_HOUR)
        return pd.Series(means.g_per_kwh, index=hours, name=zone, dtype="float64")

    def hourly_table(self, zones: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Wide hourly table of [start, end) (index ``datetime_utc``, one column per zone): what an
        hourly-intensity asset stores and :func:`intensity.checks.check_intensity` checks."""
        return pd.concat([self.hourly(zone, start, end) for zone in zones], axis=1)

    def _pair_facts(self, provider: pd.Series, region: pd.Series) -> tuple[np.ndarray, list[object], list[object], pd.DataFrame]:
        """Code of each line's (provider, region) pair (nulls included as values), each pair's provider and
        region (None where missing) and the facts per pair."""
        provider_codes, provider_values = text_codes(provider)
        region_codes, region_values = text_codes(region)
        combined = (provider_codes.astype(np.int64) + 1) * (len(region_values) + 1) + (region_codes + 1)
        pair_codes, pair_values = pd.factorize(combined)
        provider_of_pair = np.append(np.asarray(provider_values, dtype=object), None)[pair_values // (len(region_values) + 1) - 1]
        region_of_pair = np.append(np.asarray(region_values, dtype=object), None)[pair_values % (len(region_values) + 1) - 1]
        pairs = list(zip(provider_of_pair, region_of_pair))
        new = [pair for pair in dict.fromkeys(pairs) if pair not in self._facts_row]
        if new:       # region strings are resolved once per GridData, not once per batch
            providers, regions = zip(*new)
            self._facts_row.update({pair: len(self._facts) + i for i, pair in enumerate(new)})
            self._facts = pd.concat([self._facts, self._regions.pair_facts(list(providers), list(regions))], ignore_index=True)
        facts = self._facts.take([self._facts_row[pair] for pair in pairs]).reset_index(drop=True)
        return pair_codes, list(provider_of_pair), list(region_of_pair), facts


@dataclass(frozen=True)
class Annotation:
    """:meth:`GridData.annotate` per line as numbers and codes: texts are labels of a pair or a source, never copied per line."""

    pair_codes: np.ndarray           # per line: its (provider, region) pair
    providers: list[object]          # per pair, as given (None where missing)
    regions: list[object]
    facts: pd.DataFrame              # per pair: ``RegionTable.pair_facts``
    g_per_kwh: np.ndarray            # per line
    year: pd.api.extensions.ExtensionArray   # per line, Int64
    basis: np.ndarray                # per line: position in ``BASES``
    source_codes: np.ndarray         # per line: position in ``sources``
    sources: list[object]

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The :data:`ANNOTATION_COLUMNS` per line."""
        facts, pairs = self.facts, self.pair_codes
        columns = {
            "x_GridZone": _strings(facts["grid_zone"], pairs),
            "x_CarbonIntensity": self.g_per_kwh,
            "x_IntensityBasis": _strings(BASES, self.basis),
            "x_IntensityYear": pd.array(self.year, dtype="Int64"),
            "x_IntensitySource": _strings(self.sources, self.source_codes),
            "x_Pue": facts["pue"].to_numpy(np.float64)[pairs],
            "x_PueSource": _strings(facts["pue_source"], pairs),
            "x_CfeFraction": facts["cfe_fraction"].to_numpy(np.float64)[pairs],
            "x_CfeSource": _strings(facts["cfe_source"], pairs),
        }
        return pd.DataFrame(columns, index=index, copy=False)


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
