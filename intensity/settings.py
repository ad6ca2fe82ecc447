"""The ``grid:`` section of the config and the grid data it asks for (data-portal files, live source, instruments).

``GridSettings.from_mapping(raw, base)`` reads the section (paths relative to the config file):

.. code-block:: yaml

    grid:
      data_portal_dir: grid-data/        # Electricity Maps data-portal hourly CSVs, used before the bundled year
      cache_dir: .carbonledger-cache/    # on-disk cache of live API answers (part of a run's reproducibility)
      live: electricitymaps              # none (default) | electricitymaps | ukci
      emission_factor_type: lifecycle    # lifecycle (default) | direct (Electricity Maps only)
      contractual_instruments: ppas.csv  # PPAs / RECs for market-based figures (intensity.market)

Keys come from the environment only (``ELECTRICITYMAPS_API_TOKEN``; the UK API needs none), never
from the config file. :func:`grid_data` builds the :class:`~intensity.GridData` of a run;
:func:`with_live` adds live values for the zones and hours a run needs, falling back per zone.
What does not belong here: the rest of the config (``carbonledger.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from carbonledger.errors import ConfigError
from connectors.grid_electricitymaps import EMISSION_FACTOR_TYPES, ElectricityMapsClient
from connectors.grid_ukci import ZONE as UK_ZONE
from connectors.grid_ukci import UkCarbonIntensityClient
from intensity.grid import GridData
from intensity.live import LiveZone, fetch_zone
from intensity.market import load_instruments

LIVE_SOURCES = ("none", "electricitymaps", "ukci")
_KEYS = {"data_portal_dir", "cache_dir", "live", "emission_factor_type", "contractual_instruments"}


@dataclass(frozen=True)
class GridSettings:
    """Where a run's grid data comes from beyond the bundled tables."""

    data_portal_dir: Path | None = None
    cache_dir: Path | None = None
    live: str = "none"
    emission_factor_type: str = "lifecycle"
    contractual_instruments: Path | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, base: Path, where: str = "config") -> "GridSettings":
        """Settings from the ``grid:`` mapping of a config file at ``base`` (errors name ``where`` and the key)."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: grid must be a mapping of {', '.join(sorted(_KEYS))}")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown grid key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        live = str(raw.get("live", "none"))
        if live not in LIVE_SOURCES:
            raise ConfigError(f"{where}: grid.live {live!r} is not one of {', '.join(LIVE_SOURCES)}")
        factor = str(raw.get("emission_factor_type", "lifecycle"))
        if factor not in EMISSION_FACTOR_TYPES:
            raise ConfigError(f"{where}: grid.emission_factor_type {factor!r} is not one of {', '.join(EMISSION_FACTOR_TYPES)}")

        def path(key: str) -> Path | None:
            return base / str(raw[key]) if raw.get(key) else None

        return cls(path("data_portal_dir"), path("cache_dir"), live, factor, path("contractual_instruments"))


def grid_data(settings: GridSettings) -> GridData:
    """The bundled data plus the configured data-portal files."""
    grid = GridData.bundled()
    return grid.with_data_portal(settings.data_portal_dir) if settings.data_portal_dir else grid


def instruments(settings: GridSettings) -> pd.DataFrame | None:
    """The configured contractual instruments, or None."""
    return load_instruments(settings.contractual_instruments) if settings.contractual_instruments else None


def with_live(grid: GridData, settings: GridSettings, zones: list[str], start: pd.Timestamp, end: pd.Timestamp) -> GridData:
    """``grid`` plus live hourly values of ``zones`` over [start, end) from the configured source.

    A zone the source does not serve is left alone; a failed fetch (or a missing key) is recorded
    on that zone's lines, which keep the bundled values (see :mod:`intensity.live`).
    """
    if settings.live == "none":
        return grid
    fetched: list[LiveZone] = []
    if settings.live == "electricitymaps":
        em = ElectricityMapsClient(cache_dir=settings.cache_dir)
        label = em.source_label(settings.emission_factor_type)
        for zone in zones:
            fetched.append(fetch_zone(zone, lambda z=zone: em.past_range(z, start, end, settings.emission_factor_type)["g_per_kwh"], label))
    elif UK_ZONE in zones:
        uk = UkCarbonIntensityClient(cache_dir=settings.cache_dir)
        label = "UK Carbon Intensity API (NESO), national half-hourly actual (forecast where no actual yet), direct; CC-BY-4.0"
        fetched.append(fetch_zone(UK_ZONE, lambda: uk.intensity(start, end)["g_per_kwh"], label))
    return grid.with_live(fetched)
