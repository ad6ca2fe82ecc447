"""Grid carbon intensity and PUE for cloud regions: the public face of the ``intensity`` package.

``GridData.bundled()`` loads the data shipped in ``intensity/data`` (Electricity Maps 2022 hourly
life-cycle intensity, ODbL; region table with 2024 annual intensity, PUE and Google CFE; aliases;
defaults) and annotates billing lines with grid zone, intensity, PUE and their provenance.
Signal: life-cycle, location-based averages. Beside it: ``data_portal`` (user's Electricity Maps
CSVs), ``live`` (live API values with fallback), ``settings`` (the config's ``grid:`` section),
``market`` (market-based Scope 2 factors), ``signals`` (profiles, forecast), ``checks`` (quality
checks of an hourly table). What does not belong here: energy and emissions arithmetic
(``footprint``), reading billing exports and HTTP (``connectors``).
"""

from intensity.grid import (
    ANNOTATION_COLUMNS,
    BASES,
    BASIS_HOURLY,
    BASIS_PROXY_YEAR,
    GridData,
    IntensityValue,
)
from intensity.regions import (
    BASIS_ANNUAL_COUNTRY,
    BASIS_ANNUAL_REGION,
    BASIS_ANNUAL_ZONE,
    BASIS_WORLD_AVERAGE,
    RegionInfo,
)

__all__ = [
    "ANNOTATION_COLUMNS",
    "BASES",
    "BASIS_ANNUAL_COUNTRY",
    "BASIS_ANNUAL_REGION",
    "BASIS_ANNUAL_ZONE",
    "BASIS_HOURLY",
    "BASIS_PROXY_YEAR",
    "BASIS_WORLD_AVERAGE",
    "GridData",
    "IntensityValue",
    "RegionInfo",
]
