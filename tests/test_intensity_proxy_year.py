"""Proxy-year mapping: same ISO week (53 -> 52), weekday and hour of the nearest data year, checked against the stdlib calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from intensity.proxy_year import hours_in_years, locate_hours, year_start_hours

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _hours_since_epoch(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() // 3600)


def _expected_offset(moment: datetime, data_year: int) -> int:
    """Independent statement of the rule with datetime.date.fromisocalendar."""
    if moment.year == data_year:
        target = moment
    else:
        iso = moment.isocalendar()
        day = date.fromisocalendar(data_year, min(iso.week, 52), iso.weekday)
        if day.year > data_year:
            day -= timedelta(days=7)
        if day.year < data_year:
            day += timedelta(days=7)
        target = datetime(day.year, day.month, day.day, moment.hour, tzinfo=timezone.utc)
    return _hours_since_epoch(target) - _hours_since_epoch(datetime(data_year, 1, 1, tzinfo=timezone.utc))


def test_every_hour_of_several_years_maps_like_the_stdlib_calendar():
    for year in (2019, 2020, 2022, 2024, 2026, 2027):
        first = datetime(year, 1, 1, tzinfo=timezone.utc)
        n = 8784 if year % 4 == 0 else 8760
        moments = [first + timedelta(hours=h) for h in range(n)]
        located = locate_hours(np.array([_hours_since_epoch(m) for m in moments]), np.array([2022]))
        expected = np.array([_expected_offset(m, 2022) for m in moments])
        np.testing.assert_array_equal(located.hour_in_year, expected, err_msg=str(year))
        assert (located.is_proxy == (year != 2022)).all() and (located.year_index == 0).all()


def test_week_53_maps_to_week_52_same_weekday_and_hour():
    moment = datetime(2026, 12, 31, 5, tzinfo=timezone.utc)  # Thursday of ISO week 53 of 2026
    assert moment.isocalendar().week == 53
    located = locate_hours(np.array([_hours_since_epoch(moment)]), np.array([2022]))
    mapped = datetime(2022, 1, 1, tzinfo=timezone.utc) + timedelta(hours=int(located.hour_in_year[0]))
    assert mapped == datetime(2022, 12, 29, 5, tzinfo=timezone.utc)
    assert mapped.isocalendar().week == 52 and mapped.isoweekday() == 4


def test_nearest_data_year_prefers_the_later_on_a_tie():
    years = np.array([2020, 2022])
    hours = np.array([_hours_since_epoch(datetime(y, 6, 1, tzinfo=timezone.utc)) for y in (2019, 2021, 2025)])
    located = locate_hours(hours, years)
    assert years[located.year_index].tolist() == [2020, 2022, 2022]


def test_year_lengths_and_starts():
    assert hours_in_years(np.array([2022, 2024])).tolist() == [8760, 8784]
    assert year_start_hours(np.array([1970, 2022])).tolist() == [0, _hours_since_epoch(datetime(2022, 1, 1, tzinfo=timezone.utc))]


@given(st.integers(min_value=-200_000, max_value=600_000))
def test_any_hour_lands_inside_its_data_year(hour):
    located = locate_hours(np.array([hour]), np.array([2021, 2022]))
    length = hours_in_years(np.array([2021, 2022]))[located.year_index]
    assert 0 <= located.hour_in_year[0] < length[0]
