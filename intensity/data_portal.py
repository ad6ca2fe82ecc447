"""Electricity Maps data-portal CSVs as a file source of hourly intensity (a user's newer years or zones).

A user downloads hourly files from the Electricity Maps data portal (one zone x one year per file,
e.g. ``ES_2024_hourly.csv``) into a folder named in the config; :func:`read_folder` turns them into
one wide hourly table per zone, each year labelled with its file as source. Headers differ between
releases ('Carbon Intensity gCO₂eq/kWh (LCA)' in 2024, 'Carbon intensity gCO₂eq/kWh (Life cycle)'
in 2025): they are matched case-insensitively with '₂' read as '2' and 'LCA' as 'life cycle'. Only
the life-cycle column is used (the signal of the bundled data). A file must hold one whole
calendar year of contiguous hours without a missing value; anything else is an error naming the
file, never filled. What does not belong here: choosing between sources per line (``intensity.grid``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from carbonledger.errors import EXIT_INPUT, CarbonLedgerError

LICENCE = "ODbL-1.0; attribution: Electricity Maps"
_DATETIME = "datetime (utc)"
_ZONE = "zone id"
_LIFECYCLE = "carbon intensity gco2eq/kwh (life cycle)"


class DataPortalError(CarbonLedgerError, ValueError):
    """A data-portal file that cannot be used as it is (the message names the file)."""

    exit_code = EXIT_INPUT


def _normalise_header(name: str) -> str:
    text = " ".join(name.replace("\u2082", "2").lower().split())
    return re.sub(r"\(lca\)", "(life cycle)", text)


def read_file(path: Path) -> tuple[str, int, pd.Series]:
    """Zone, year and the hourly life-cycle intensity (gCO2e/kWh, UTC hour-start index) of one file."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = [_normalise_header(c) for c in frame.columns]
    missing = [c for c in (_DATETIME, _ZONE, _LIFECYCLE) if c not in frame.columns]
    if missing:
        raise DataPortalError(f"{path}: not an Electricity Maps data-portal hourly file (no column(s) {', '.join(missing)})")
    zones = frame[_ZONE].unique()
    if len(zones) != 1:
        raise DataPortalError(f"{path}: expected one zone, found {sorted(zones)[:5]}")
    hours = pd.to_datetime(frame[_DATETIME], format="%Y-%m-%d %H:%M:%S", utc=True, errors="coerce")
    values = pd.to_numeric(frame[_LIFECYCLE].where(frame[_LIFECYCLE] != ""), errors="coerce")
    if hours.isna().any():
        raise DataPortalError(f"{path}: unreadable 'Datetime (UTC)' in row {int(hours.isna().to_numpy().argmax()) + 2}")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise DataPortalError(f"{path}: no life-cycle value at {hours.iloc[row]} (row {row + 2})")
    year = int(hours.iloc[0].year)
    expected = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left", tz="UTC")
    if len(hours) != len(expected) or not (pd.DatetimeIndex(hours) == expected).all():
        raise DataPortalError(f"{path}: expected the {len(expected)} hours of {year} in order, found {len(hours)} rows")
    return str(zones[0]), year, pd.Series(values.to_numpy(dtype="float64"), index=expected, name=str(zones[0]))


def source_label(path: Path, zone: str, year: int) -> str:
    """The ``x_IntensitySource`` text of one file's values."""
    return f"Electricity Maps data portal file {path.name} ({zone} {year} hourly, life-cycle; user-supplied); {LICENCE}"


def read_folder(folder: Path) -> dict[str, tuple[pd.Series, dict[int, str]]]:
    """Per zone: its hourly series over all its files' years and the source of each year.

    Reads every ``*.csv`` of ``folder`` (not recursive). Two files for the same zone and year are an error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataPortalError(f"{folder}: data-portal folder not found")
    parts: dict[str, list[pd.Series]] = {}
    sources: dict[str, dict[int, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        zone, year, series = read_file(path)
        if year in sources.get(zone, {}):
            raise DataPortalError(f"{path}: {zone} {year} is also in another file ({sources[zone][year]})")
        parts.setdefault(zone, []).append(series)
        sources.setdefault(zone, {})[year] = source_label(path, zone, year)
    return {zone: (pd.concat(series).sort_index(), sources[zone]) for zone, series in parts.items()}
