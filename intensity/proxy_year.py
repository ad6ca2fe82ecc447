"""Where an hour of any year falls in the hourly data: its own year, or the matching hour of a proxy year.

An hour whose calendar year (UTC) is in the data maps to itself. Any other hour maps to the nearest
data year (the later one on a tie), to the hour with the same ISO week number, ISO weekday and hour of
day (ISO week 53 becomes week 52). The ISO week grid does not line up with the calendar year, so a
few matched hours fall just outside the proxy year (e.g. the Sunday of ISO week 52 can be 1 January
of the next year); those move by one week, inwards, keeping weekday and hour.

Works on numpy arrays of whole hours since the Unix epoch (UTC), fully vectorised. What does not
belong here: reading the data or averaging it (``intensity.hourly``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
_EPOCH_ISO_WEEKDAY = 4  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class HourPositions:
    """Per input hour: index into the data years, hour offset inside that year, and whether proxied."""

    year_index: np.ndarray  # int64, index into the data's ``years``
    hour_in_year: np.ndarray  # int64, 0 = 1 January 00:00 UTC of that year
    is_proxy: np.ndarray  # bool


def year_start_hours(years: np.ndarray) -> np.ndarray:
    """Hours since the epoch of 1 January 00:00 UTC of each year."""
    return _first_day_of_year(np.asarray(years, dtype=np.int64)) * HOURS_PER_DAY


def hours_in_years(years: np.ndarray) -> np.ndarray:
    """Number of hours in each calendar year (8760 or 8784)."""
    years = np.asarray(years, dtype=np.int64)
    return (_first_day_of_year(years + 1) - _first_day_of_year(years)) * HOURS_PER_DAY


def locate_hours(hours_since_epoch: np.ndarray, data_years: np.ndarray) -> HourPositions:
    """Map each hour (int64 hours since the epoch, UTC) to an hour of one of ``data_years`` (ascending)."""
    hours = np.asarray(hours_since_epoch, dtype=np.int64)
    data_years = np.asarray(data_years, dtype=np.int64)
    starts = year_start_hours(data_years)
    lengths = hours_in_years(data_years)

    days = hours // HOURS_PER_DAY
    calendar_year = _year_of_day(days)
    in_data = np.isin(calendar_year, data_years)
    own_index = np.clip(np.searchsorted(data_years, calendar_year), 0, len(data_years) - 1)

    # nearest data year, the later one on a tie: search the reversed list, take the first minimum
    distance = np.abs(calendar_year[:, None] - data_years[::-1][None, :])
    proxy_index = len(data_years) - 1 - np.argmin(distance, axis=1)
    year_index = np.where(in_data, own_index, proxy_index)

    proxy_hour = _matching_hour(hours, data_years[year_index])
    offset = np.where(in_data, hours, proxy_hour) - starts[year_index]
    length = lengths[year_index]
    offset = np.where(offset < 0, offset + HOURS_PER_WEEK, offset)
    offset = np.where(offset >= length, offset - HOURS_PER_WEEK, offset)
    return HourPositions(year_index=year_index, hour_in_year=offset, is_proxy=~in_data)


def _matching_hour(hours: np.ndarray, target_years: np.ndarray) -> np.ndarray:
    """Hour of ``target_years`` with the same ISO week (53 -> 52), ISO weekday and hour of day."""
    days = hours // HOURS_PER_DAY
    hour_of_day = hours - days * HOURS_PER_DAY
    weekday = _iso_weekday(days)
    thursday = days + (4 - weekday)  # the ISO year of a week is the year of its Thursday
    week = (thursday - _first_day_of_year(_year_of_day(thursday))) // 7 + 1
    week = np.minimum(week, 52)
    monday_of_week_1 = _monday_of_iso_week_1(target_years)
    target_day = monday_of_week_1 + (week - 1) * 7 + (weekday - 1)
    return target_day * HOURS_PER_DAY + hour_of_day


def _monday_of_iso_week_1(years: np.ndarray) -> np.ndarray:
    """Day number (since the epoch) of the Monday of ISO week 1: the week holding 4 January."""
    january_4 = _first_day_of_year(years) + 3
    return january_4 - (_iso_weekday(january_4) - 1)


def _iso_weekday(days: np.ndarray) -> np.ndarray:
    """ISO weekday (1 = Monday .. 7 = Sunday) of day numbers since the epoch."""
    return (days + (_EPOCH_ISO_WEEKDAY - 1)) % 7 + 1


def _year_of_day(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _first_day_of_year(years: np.ndarray) -> np.ndarray:
    return (np.asarray(years, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
