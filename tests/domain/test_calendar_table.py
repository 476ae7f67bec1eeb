"""The calendar's table of office periods (bisection) gives exactly what the day-by-day walk gives.

`BusinessCalendar._reference_*` are the straightforward walks (day by day over the office periods); the public
methods answer from the table. Compared over random instants and durations across several years, on the real
Vietnamese calendar and on random calendars with weekdays off, make-up working Saturdays, other office hours
and other time zones — including one with daylight saving time, where the table is not used.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motcua.domain.calendar import BusinessCalendar, OfficeHours
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput

VIETNAM = BusinessCalendar.vietnam()
SETTINGS = settings(max_examples=300, deadline=None)

naive_instants = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2028, 6, 30))
instants = st.builds(
    lambda moment, zone, whole: (moment.replace(microsecond=0) if whole else moment).replace(tzinfo=zone),
    naive_instants,
    st.sampled_from([VN_TZ, VN_TZ, UTC, timezone(timedelta(hours=-5))]),
    st.booleans(),
)
durations = st.one_of(
    st.just(timedelta(0)),
    st.integers(1, 16).map(lambda halves: timedelta(hours=4 * halves)),  # whole and half working days
    st.integers(0, 60 * 480).map(lambda minutes: timedelta(minutes=minutes)),  # up to 60 working days
    st.integers(0, 10**6 * 3600 * 8 * 400).map(lambda us: timedelta(microseconds=us)),  # across years
)


def same(fast: datetime | timedelta | None, walk: datetime | timedelta | None) -> bool:
    """Equal values, and for instants the same wall clock and offset (what `isoformat` stores)."""
    if isinstance(fast, datetime) and isinstance(walk, datetime):
        return fast == walk and fast.isoformat() == walk.isoformat()
    return fast == walk


def check(cal: BusinessCalendar, start: datetime, amount: timedelta, other: datetime) -> None:
    assert same(cal.add_working_time(start, amount), cal._reference_add_working_time(start, amount))
    assert same(cal.next_opening(start), cal._reference_next_opening(start))
    assert same(cal.working_time_between(start, other), cal._reference_working_time_between(start, other))
    assert same(cal.working_time_between(other, start), cal._reference_working_time_between(other, start))


@SETTINGS
@given(start=instants, amount=durations, other=instants)
def test_vietnam_table_equals_the_walk(start: datetime, amount: timedelta, other: datetime) -> None:
    check(VIETNAM, start, amount, other)


@SETTINGS
@given(start=instants, amount=durations)
def test_vietnam_table_at_office_boundaries(start: datetime, amount: timedelta) -> None:
    """Starts exactly at an opening, a closing, midnight; durations landing exactly on a period's end."""
    local = start.astimezone(VN_TZ)
    for clock in (time(0), time(7, 30), time(11, 30), time(13), time(17)):
        boundary = datetime.combine(local.date(), clock, tzinfo=VN_TZ)
        check(VIETNAM, boundary, amount, start)
        check(VIETNAM, boundary, timedelta(hours=4), start)


office_hours = st.sampled_from(
    [
        OfficeHours(),
        OfficeHours(((time(8), time(16, 30)),)),
        OfficeHours(((time(0), time(6)), (time(7, 15), time(12)), (time(12, 30), time(23, 59, 59)))),
    ]
)
zones = st.sampled_from([VN_TZ, UTC, timezone(timedelta(hours=10, minutes=30)), ZoneInfo("Europe/Berlin")])
days_2025_2027 = st.dates(min_value=date(2024, 12, 20), max_value=date(2028, 1, 10))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random holidays, extra days off (a long Tết-like break) and make-up working days (Saturdays)."""
    holidays = {day: "Lễ" for day in draw(st.sets(days_2025_2027, max_size=25))}
    off_start = draw(days_2025_2027)
    days_off = {off_start + timedelta(days=n): "Nghỉ" for n in range(draw(st.integers(0, 12)))}
    saturdays = draw(st.sets(days_2025_2027.map(lambda d: d + timedelta(days=(5 - d.weekday()) % 7))))
    working = {day: "Làm bù" for day in saturdays if day not in days_off}
    workweek = draw(st.sampled_from([frozenset(range(5)), frozenset(range(6)), frozenset({1, 3})]))
    return BusinessCalendar(
        office_hours=draw(office_hours),
        workweek=workweek,
        holidays=holidays,
        extra_days_off=days_off,
        extra_working_days=working,
        tz=draw(zones),
    )


@settings(max_examples=150, deadline=None)
@given(cal=calendars(), cases=st.lists(st.tuples(instants, durations, instants), min_size=1, max_size=5))
def test_random_calendar_table_equals_the_walk(
    cal: BusinessCalendar, cases: list[tuple[datetime, timedelta, datetime]]
) -> None:
    for start, amount, other in cases:
        check(cal, start, amount, other)


def test_the_table_is_used_for_vietnam_and_not_across_daylight_saving() -> None:
    vietnam = BusinessCalendar(holidays={date(2026, 1, 1): "Tết Dương lịch"})
    start = datetime(2026, 3, 2, 9, tzinfo=VN_TZ)
    assert vietnam.add_working_time(start, timedelta(hours=8)) == datetime(2026, 3, 3, 9, tzinfo=VN_TZ)
    assert vietnam._table is not None and vietnam._table.first_year == 2026
    berlin_tz: tzinfo = ZoneInfo("Europe/Berlin")
    berlin = BusinessCalendar(tz=berlin_tz)
    # Sunday 29 March 2026 is the switch to summer time: Friday 16:00 + 2 h of office time is Monday 08:30.
    friday = datetime(2026, 3, 27, 16, tzinfo=berlin_tz)
    assert berlin.add_working_time(friday, timedelta(hours=2)) == datetime(
        2026, 3, 30, 8, 30, tzinfo=berlin_tz
    )
    assert berlin._table is None


def test_a_long_break_is_crossed_like_the_walk_and_a_longer_one_refused() -> None:
    """366 days off in a row are crossed; 367 are refused (`calendar.no_working_days`), by both."""
    start = datetime(2026, 12, 31, 16, tzinfo=VN_TZ)
    two_hours = timedelta(hours=2)
    for run, expected in ((366, datetime(2028, 1, 2, 8, 30, tzinfo=VN_TZ)), (367, None)):
        cal = BusinessCalendar(
            workweek=frozenset(range(7)),
            extra_days_off={date(2027, 1, 1) + timedelta(days=n): "Nghỉ" for n in range(run)},
        )
        if expected is not None:
            assert cal.add_working_time(start, two_hours) == expected
            assert cal._reference_add_working_time(start, two_hours) == expected
            continue
        for compute in (cal.add_working_time, cal._reference_add_working_time):
            with pytest.raises(InvalidInput) as caught:
                compute(start, two_hours)
            assert caught.value.code == "calendar.no_working_days"
