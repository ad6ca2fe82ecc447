"""Cloud regions: name normalisation, grid zone, annual fallback factor, PUE and carbon-free-energy share.

Reads the bundled ``regions.csv``, ``region_aliases.csv``, ``geographies.csv``,
``country_factors.csv``, ``annual_regions.csv``, ``pue_defaults.csv`` and ``world_average.csv``.
A region string is resolved per unique (provider, region) pair: lower-cased, accents removed and
whitespace-collapsed, then matched as a region id, as an alias (Azure display names such as
'West Europe', AWS location names such as 'US East (N. Virginia)'), with a trailing
availability-zone suffix removed ('us-east-1a', 'us-central1-b'), and with spaces removed
('US North' -> 'usnorth').

The annual factor of a pair follows the fallback chain, and the step is recorded as its basis:

* ``annual_zone``: a known region's grid zone, Electricity Maps 2024 yearly life-cycle;
* ``annual_country``: a country or area name (GCP multi-region ``US``, AWS ``United States``,
  Azure ``uk``), or a region whose zone has no yearly value: the country's factor. Where the country
  is itself a grid zone (``GB``), the pair gets that zone, so its hourly data applies;
* ``annual_region``: a region id only Cloud Carbon Footprint's tables know (Azure canary and stage
  regions, area names such as ``asiapacific``): its eGRID / EEA / carbonfootprint.com factor;
* ``world_average``: anything else, or a null region.

PUE is the region's published value (region / campus, or the provider's geography value), else the
provider's fleet default, else the industry default.
What does not belong here: hourly data and the per-line arithmetic (``intensity.hourly``, ``intensity.grid``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ANY_PROVIDER = "*"
BASIS_ANNUAL_ZONE = "annual_zone"
BASIS_ANNUAL_COUNTRY = "annual_country"
BASIS_ANNUAL_REGION = "annual_region"
BASIS_WORLD_AVERAGE = "world_average"
_ZONE_SUFFIX = re.compile(r"(?<=\d)-?[a-z]$")


@dataclass(frozen=True)
class RegionInfo:
    """What carbonledger knows about one cloud region (intensities in gCO2e/kWh, life-cycle)."""

    provider: str
    region: str
    location: str
    country: str
    grid_zone: str
    pue: float
    pue_source: str
    annual_g_per_kwh: float
    annual_source: str
    cfe_fraction: float | None


@dataclass(frozen=True)
class WorldAverage:
    """The intensity used when a line has no grid zone."""

    g_per_kwh: float
    data_year: int
    source: str


@dataclass(frozen=True)
class PueDefault:
    """A provider's fleet PUE (or the industry default) and where it comes from."""

    pue: float
    source: str


@dataclass(frozen=True)
class AnnualFactor:
    """One annual intensity (gCO2e/kWh) of the fallback chain, with its step, year and source."""

    g_per_kwh: float
    data_year: int | None
    source: str
    basis: str


class RegionTable:
    """Region facts keyed by (provider, region id), with the alias and default tables beside them."""

    def __init__(self, regions: pd.DataFrame, aliases: pd.DataFrame, pue_defaults: pd.DataFrame, world: WorldAverage,
                 geographies: pd.DataFrame, country_factors: pd.DataFrame, annual_regions: pd.DataFrame):
        self._regions = regions.set_index(["provider", "region"], verify_integrity=True)
        self._aliases = {(p, _clean(a)): r for p, a, r in aliases[["provider", "alias", "region"]].itertuples(index=False)}
        self._geographies = dict(zip(geographies["alias"], geographies["country"]))
        self._countries = {
            c: AnnualFactor(float(v), int(y), str(s), BASIS_ANNUAL_COUNTRY)
            for c, v, y, s in country_factors[["country", "g_per_kwh", "data_year", "source"]].itertuples(index=False)
        }
        self._annual_regions = {
            (p, r): AnnualFactor(float(v), None if pd.isna(y) else int(y), str(s), BASIS_ANNUAL_REGION)
            for p, r, v, y, s in annual_regions[["provider", "region", "g_per_kwh", "data_year", "source"]].itertuples(index=False)
        }
        self._country_zones = set(country_factors.loc[country_factors["grid_zone"].notna(), "country"])
        self._pue_defaults = {
            p: PueDefault(float(v), str(s)) for p, v, s in pue_defaults[["provider", "pue", "pue_source"]].itertuples(index=False)
        }
        if ANY_PROVIDER not in self._pue_defaults:
            raise ValueError(f"pue_defaults has no row for provider {ANY_PROVIDER!r} (industry default)")
        self.world = world

    @classmethod
    def from_folder(cls, folder: Path) -> "RegionTable":
        """Load the bundled CSVs of ``folder`` (``intensity/data``)."""
        regions = pd.read_csv(folder / "regions.csv", dtype={"pue_year": "Int64", "cfe_year": "Int64"})
        aliases = pd.read_csv(folder / "region_aliases.csv", dtype=str)
        pue_defaults = pd.read_csv(folder / "pue_defaults.csv")
        world_row = pd.read_csv(folder / "world_average.csv").iloc[0]
        world = WorldAverage(float(world_row["g_per_kwh"]), int(world_row["data_year"]), str(world_row["source"]))
        geographies = pd.read_csv(folder / "geographies.csv", dtype=str, keep_default_na=False)
        country_factors = pd.read_csv(folder / "country_factors.csv")
        annual_regions = pd.read_csv(folder / "annual_regions.csv", dtype={"data_year": "Int64"})
        return cls(regions, aliases, pue_defaults, world, geographies, country_factors, annual_regions)

    def resolve(self, provider: object, region: object) -> tuple[str | None, str | None]:
        """Normalised provider and the canonical region id (None when unknown)."""
        provider_key = _clean(provider)
        region_key = _clean(region)
        if provider_key is None or region_key is None:
            return provider_key, None
        stripped = _ZONE_SUFFIX.sub("", region_key)
        for candidate in dict.fromkeys((region_key, stripped, region_key.replace(" ", ""))):
            if (provider_key, candidate) in self._regions.index:
                return provider_key, candidate
            aliased = self._aliases.get((provider_key, candidate))
            if aliased is not None:
                return provider_key, aliased
        return provider_key, None

    def pue_default(self, provider: str | None) -> PueDefault:
        """The provider's fleet PUE, or the industry default for any other provider."""
        return self._pue_defaults.get(provider or ANY_PROVIDER, self._pue_defaults[ANY_PROVIDER])

    def region_info(self, provider: object, region: object) -> RegionInfo | None:
        """Facts about a region given as id, alias or display name; None when it is not known."""
        provider_key, region_id = self.resolve(provider, region)
        if region_id is None or (provider_key, region_id) not in self._regions.index:
            return None
        row = self._regions.loc[(provider_key, region_id)]
        pue, pue_source = self._pue(provider_key, row)
        return RegionInfo(
            provider=provider_key, region=region_id, location=str(row["location"]), country=str(row["country"]),
            grid_zone=str(row["grid_zone"]), pue=pue, pue_source=pue_source,
            annual_g_per_kwh=float(row["annual_g_per_kwh"]), annual_source=str(row["annual_source"]),
            cfe_fraction=None if pd.isna(row["cfe_fraction"]) else float(row["cfe_fraction"]),
        )

    def pair_facts(self, providers: list[object], regions: list[object]) -> pd.DataFrame:
        """Per (provider, region) pair: grid zone, annual factor (with its chain step), PUE and CFE, with sources.

        Called once per unique pair of a billing frame, so plain Python is fine here.
        """
        rows = [self._facts(p, r) for p, r in zip(providers, regions)]
        columns = ["grid_zone", "annual_g_per_kwh", "annual_year", "annual_source", "annual_basis",
                   "pue", "pue_source", "cfe_fraction", "cfe_source"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.astype({"annual_g_per_kwh": "float64", "annual_year": "Int64", "pue": "float64", "cfe_fraction": "float64"})

    def annual_factor(self, provider: object, region: object) -> tuple[str | None, AnnualFactor]:
        """Grid zone (None when not known) and the annual factor of the fallback chain for one region string."""
        provider_key, region_id = self.resolve(provider, region)
        if region_id is not None and (provider_key, region_id) in self._regions.index:
            row = self._regions.loc[(provider_key, region_id)]
            if pd.notna(row["annual_g_per_kwh"]):
                return str(row["grid_zone"]), AnnualFactor(float(row["annual_g_per_kwh"]), int(row["annual_year"]),
                                                           str(row["annual_source"]), BASIS_ANNUAL_ZONE)
            return str(row["grid_zone"]), self._country_factor(str(row["country"]))
        region_key = _clean(region)
        country = self._geographies.get(region_key) if region_key is not None else None
        if country is not None:
            zone = country if country in self._country_zones else None
            factor = self._country_factor(country)
            basis = BASIS_ANNUAL_ZONE if zone is not None else factor.basis
            return zone, AnnualFactor(factor.g_per_kwh, factor.data_year, factor.source, basis)
        annual_region = self._annual_regions.get((provider_key, region_key)) if region_key is not None else None
        if annual_region is not None:
            return None, annual_region
        return None, self._world_factor()

    def _country_factor(self, country: str) -> AnnualFactor:
        return self._countries.get(country) or self._world_factor()

    def _world_factor(self) -> AnnualFactor:
        return AnnualFactor(self.world.g_per_kwh, self.world.data_year, self.world.source, BASIS_WORLD_AVERAGE)

    def _facts(self, provider: object, region: object) -> tuple:
        provider_key, region_id = self.resolve(provider, region)
        zone, factor = self.annual_factor(provider, region)
        annual = (zone, factor.g_per_kwh, factor.data_year, factor.source, factor.basis)
        if region_id is None or (provider_key, region_id) not in self._regions.index:
            default = self.pue_default(provider_key)
            return (*annual, default.pue, default.source, np.nan, None)
        row = self._regions.loc[(provider_key, region_id)]
        pue, pue_source = self._pue(provider_key, row)
        has_cfe = not pd.isna(row["cfe_fraction"])
        return (
            *annual, pue, pue_source,
            float(row["cfe_fraction"]) if has_cfe else np.nan, str(row["cfe_source"]) if has_cfe else None,
        )

    def _pue(self, provider: str, row: pd.Series) -> tuple[float, str]:
        if pd.isna(row["pue"]):
            default = self.pue_default(provider)
            return default.pue, default.source
        return float(row["pue"]), str(row["pue_source"])


def _clean(value: object) -> str | None:
    """Lower-cased, accent-free ('são' -> 'sao'), whitespace-collapsed string; None for nulls and blanks."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    decomposed = unicodedata.normalize("NFKD", str(value))
    text = " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().split())
    return text or None
