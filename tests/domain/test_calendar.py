"""Business calendar and legal deadlines: examples from the 2025–2026 official schedules plus properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motcua.domain.calendar import (
    BusinessCalendar,
    OfficeHours,
    Timeliness,
    classify,
    load_government_days,
)
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput

CAL = BusinessCalendar.vietnam(range(2025, 2028))
H = timedelta(hours=1)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


# --------------------------------------------------------------------------------------------------
# Working days: holidays library + the government data file
# --------------------------------------------------------------------------------------------------


def test_make_up_saturday_22_08_2026_is_a_working_day_and_31_08_is_not() -> None:
    assert CAL.is_working_day(date(2026, 8, 22))
    assert CAL.day_off_reason(date(2026, 8, 22)) is None
    assert not CAL.is_working_day(date(2026, 8, 31))
    assert "Quốc khánh" in (CAL.day_off_reason(date(2026, 8, 31)) or "")


def test_2025_swap_of_26_04_and_02_05() -> None:
    assert CAL.is_working_day(date(2025, 4, 26))
    assert not CAL.is_working_day(date(2025, 5, 2))


def test_vietnam_cultural_day_24_11_2026_is_off() -> None:
    assert not CAL.is_working_day(date(2026, 11, 24))
    assert CAL.day_off_reason(date(2026, 11, 24)) == "Ngày Văn hóa Việt Nam"


def test_tet_2026_weekdays_are_off_with_vietnamese_names() -> None:
    for day in range(16, 21):
        assert not CAL.is_working_day(date(2026, 2, day))
    assert CAL.day_off_reason(date(2026, 2, 17)) == "Tết Nguyên Đán"
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))


def test_weekend_reason_is_the_vietnamese_weekday_name() -> None:
    assert CAL.day_off_reason(date(2026, 3, 7)) == "Thứ Bảy"
    assert CAL.day_off_reason(date(2026, 3, 8)) == "Chủ nhật"
    assert CAL.day_off_reason(date(2026, 3, 9)) is None


def test_special_days_of_2026_lists_weekdays_off_and_the_make_up_saturday() -> None:
    special = {entry.day: entry for entry in CAL.special_days(2026)}
    assert special[date(2026, 8, 22)].working
    assert not special[date(2026, 8, 31)].working
    assert not special[date(2026, 11, 24)].working
    assert date(2026, 4, 26) not in special  # Hùng Kings falls on a Sunday: not a *weekday* off
    assert not special[date(2026, 4, 27)].working  # … its compensatory Monday is
    assert date(2026, 3, 7) not in special  # an ordinary Saturday is not special


def test_government_data_file_has_the_official_swaps_with_sources() -> None:
    government = load_government_days()
    by_date = government.by_date()
    assert "9441/TB-BNV" in by_date[date(2026, 8, 22)].source
    assert {entry.day for entry in government.working_days} >= {date(2026, 8, 22), date(2025, 4, 26)}
    assert {entry.day for entry in government.days_off} >= {date(2026, 8, 31), date(2025, 5, 2)}


def test_data_file_overrides_the_library(tmp_path: Path) -> None:
    """A make-up Saturday the library does not know yet, and a weekday off it does not know."""
    cal = BusinessCalendar(
        holidays={date(2030, 1, 1): "Tết Dương lịch"},
        extra_days_off={date(2030, 1, 2): "Nghỉ thêm"},
        extra_working_days={date(2030, 1, 1): "Làm bù", date(2030, 1, 5): "Làm bù thứ Bảy"},
    )
    assert cal.is_working_day(date(2030, 1, 1))  # working_days beat a holiday
    assert not cal.is_working_day(date(2030, 1, 2))
    assert cal.day_off_reason(date(2030, 1, 2)) == "Nghỉ thêm"
    assert cal.is_working_day(date(2030, 1, 5))  # a Saturday


@pytest.mark.parametrize(
    "content",
    [
        "days_off: [{date: 2026-08-31, name: Nghỉ}]\n",  # no source
        "days_off: [{date: 2026-02-30, name: Nghỉ, source: TB}]\n",  # impossible date
        "days_off: [{date: 2026-08-31, name: A, source: B}]\nworking_days: [{date: 2026-08-31, name: C, source: D}]\n",
        "holidays: []\n",  # unknown key
        "days_off: {date: 2026-08-31}\n",  # not a list
    ],
)
def test_invalid_data_file_is_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "days.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_government_days(path)
    assert caught.value.code == "calendar.bad_data_file"


def test_conflicting_overrides_are_rejected() -> None:
    with pytest.raises(InvalidInput):
        BusinessCalendar(extra_days_off={date(2030, 1, 2): "a"}, extra_working_days={date(2030, 1, 2): "b"})


def test_holidays_of_any_year_are_computed_on_demand() -> None:
    assert not CAL.is_working_day(date(2031, 9, 2))  # Quốc khánh, a year nobody preloaded
    assert not CAL.is_working_day(date(2019, 1, 1))
    assert CAL.is_working_day(date(2019, 1, 5))  # a make-up Saturday the library knows


# --------------------------------------------------------------------------------------------------
# Start of processing: out-of-hours reception and the same-day cut-off
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (vn(2026, 3, 6, 18), vn(2026, 3, 9, 7, 30)),  # Friday evening → Monday opening
        (vn(2026, 3, 3, 12), vn(2026, 3, 3, 13)),  # lunch break → afternoon opening
        (vn(2026, 3, 3, 11, 30), vn(2026, 3, 3, 13)),  # closing instant → afternoon opening
        (vn(2026, 3, 3, 6), vn(2026, 3, 3, 7, 30)),  # early morning → same-day opening
        (vn(2026, 3, 3, 17), vn(2026, 3, 4, 7, 30)),
        (vn(2026, 3, 7, 9), vn(2026, 3, 9, 7, 30)),  # Saturday
        (vn(2026, 9, 2, 8), vn(2026, 9, 3, 7, 30)),  # National Day morning
        (vn(2026, 2, 16, 9), vn(2026, 2, 23, 7, 30)),  # Tết
        (vn(2026, 8, 22, 8), vn(2026, 8, 22, 8)),  # make-up Saturday, inside office hours
        (vn(2026, 3, 3, 9, 15), vn(2026, 3, 3, 9, 15)),  # inside office hours: unchanged
    ],
)
def test_next_opening(received: datetime, expected: datetime) -> None:
    assert CAL.next_opening(received) == expected
    assert CAL.start_instant(received) == expected


def test_results_are_in_vietnam_time_whatever_the_input_offset() -> None:
    opening = CAL.next_opening(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))  # 08:00 in Hồ Chí Minh City
    assert opening == vn(2026, 3, 3, 8)
    assert opening.utcoffset() == timedelta(hours=7)
    paris = timezone(timedelta(hours=1))
    assert CAL.next_opening(datetime(2026, 3, 3, 12, 0, tzinfo=paris)) == vn(2026, 3, 4, 7, 30)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (vn(2026, 3, 3, 15), vn(2026, 3, 4, 7, 30)),  # at the cut-off → next working day
        (vn(2026, 3, 3, 16, 30), vn(2026, 3, 4, 7, 30)),
        (vn(2026, 3, 6, 15, 30), vn(2026, 3, 9, 7, 30)),  # Friday after cut-off → Monday
        (vn(2026, 2, 13, 15, 1), vn(2026, 2, 23, 7, 30)),  # before Tết → after Tết
        (vn(2026, 3, 3, 14, 59), vn(2026, 3, 3, 14, 59)),  # before the cut-off: same day
        (vn(2026, 3, 7, 16), vn(2026, 3, 9, 7, 30)),  # Saturday: next opening anyway
    ],
)
def test_same_day_cutoff(received: datetime, expected: datetime) -> None:
    assert CAL.start_instant(received, cutoff=time(15, 0)) == expected


def test_without_cutoff_late_afternoon_counts_the_same_day() -> None:
    start = CAL.start_instant(vn(2026, 3, 3, 15, 30))
    assert start == vn(2026, 3, 3, 15, 30)
    assert CAL.due(start, Fraction(1, 8)) == vn(2026, 3, 3, 16, 30)


# --------------------------------------------------------------------------------------------------
# Deadlines in working days
# --------------------------------------------------------------------------------------------------


def test_tet_2026_three_working_days_from_friday_13_02() -> None:
    assert CAL.due(vn(2026, 2, 13, 9), 3) == vn(2026, 2, 25, 9)


def test_due_across_22_08_2026_uses_the_make_up_saturday() -> None:
    assert CAL.due(vn(2026, 8, 21, 9), 1) == vn(2026, 8, 22, 9)
    # 28/08 Fri → (Sat, Sun, 31/08, 01/09, 02/09 off) → Thu 03/09 → Fri 04/09
    assert CAL.due(vn(2026, 8, 28, 9), 2) == vn(2026, 9, 4, 9)


def test_due_across_the_year_boundary() -> None:
    assert CAL.due(vn(2025, 12, 31, 9), 2) == vn(2026, 1, 5, 9)


@pytest.mark.parametrize(
    ("start", "working_days", "expected"),
    [
        (vn(2026, 3, 2, 13), Fraction(1, 2), vn(2026, 3, 2, 17)),  # end of period: 17:00, not next 07:30
        (vn(2026, 3, 2, 7, 30), Decimal("0.5"), vn(2026, 3, 2, 11, 30)),  # morning end is 11:30, not 13:00
        (vn(2026, 3, 2, 7, 30), 1, vn(2026, 3, 2, 17)),
        (vn(2026, 3, 6, 7, 30), 1, vn(2026, 3, 6, 17)),  # Friday: not Monday 07:30
        (vn(2026, 3, 2, 9), Decimal("0.25"), vn(2026, 3, 2, 11)),
        (vn(2026, 3, 2, 10), Decimal("0.25"), vn(2026, 3, 2, 13, 30)),  # skips lunch
        (vn(2026, 3, 2, 7, 30), Fraction(1, 3), vn(2026, 3, 2, 10, 10)),  # 160 minutes
        (vn(2026, 3, 2, 7, 30), 0.5, vn(2026, 3, 2, 11, 30)),  # an exact float is fine
        (vn(2026, 3, 2, 7, 30), 5, vn(2026, 3, 6, 17)),
        (vn(2026, 3, 2, 18), 0, vn(2026, 3, 3, 7, 30)),  # zero days: the start itself, normalised
    ],
)
def test_due_in_working_days(
    start: datetime, working_days: int | Fraction | Decimal, expected: datetime
) -> None:
    assert CAL.due(start, working_days) == expected


def test_due_counts_from_the_next_opening() -> None:
    assert CAL.due(vn(2026, 3, 6, 18), 1) == vn(2026, 3, 9, 17)  # received Friday evening
    assert CAL.due(vn(2026, 3, 3, 12), Fraction(1, 2)) == vn(2026, 3, 3, 17)  # received at lunch


@pytest.mark.parametrize(
    "bad", [-1, Decimal("-0.5"), Fraction(1, 7), 1 / 7, True, Decimal("NaN"), float("inf")]
)
def test_bad_working_days_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidInput):
        CAL.due(vn(2026, 3, 2, 9), bad)  # type: ignore[arg-type]


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(InvalidInput) as caught:
        CAL.due(naive, 1)
    assert caught.value.code == "calendar.naive_datetime"
    with pytest.raises(InvalidInput):
        CAL.next_opening(naive)
    with pytest.raises(InvalidInput):
        CAL.due(vn(2026, 3, 2, 9), 1, [(naive, vn(2026, 3, 3))])
    with pytest.raises(InvalidInput):
        classify(CAL, vn(2026, 3, 2, 9), None, naive)


# --------------------------------------------------------------------------------------------------
# Pauses (supplementation requests)
# --------------------------------------------------------------------------------------------------

MONDAY = vn(2026, 3, 2, 7, 30)  # 5 working days → Friday 06/03 17:00 without pauses


def test_pause_spanning_a_weekend_only_removes_its_working_time() -> None:
    pause = (vn(2026, 3, 5, 7, 30), vn(2026, 3, 9, 7, 30))  # Thu + Fri lost, weekend irrelevant
    assert CAL.due(MONDAY, 5, [pause]) == vn(2026, 3, 10, 17)


def test_overlapping_pauses_count_once() -> None:
    pauses = [(vn(2026, 3, 5, 7, 30), vn(2026, 3, 5, 17)), (vn(2026, 3, 5, 13), vn(2026, 3, 6, 17))]
    assert CAL.due(MONDAY, 5, pauses) == vn(2026, 3, 10, 17)
    assert CAL.due(MONDAY, 5, list(reversed(pauses))) == vn(2026, 3, 10, 17)


def test_pause_partly_before_the_start() -> None:
    pause = (vn(2026, 2, 27, 9), vn(2026, 3, 2, 9, 30))  # counting really starts at 09:30
    assert CAL.due(MONDAY, 5, [pause]) == vn(2026, 3, 9, 9, 30)


def test_pause_outside_office_hours_changes_nothing() -> None:
    pauses = [(vn(2026, 3, 3, 17, 30), vn(2026, 3, 3, 22)), (vn(2026, 3, 4, 11, 30), vn(2026, 3, 4, 13))]
    assert CAL.due(MONDAY, 5, pauses) == vn(2026, 3, 6, 17)


def test_short_pause_shifts_by_its_working_time() -> None:
    pause = (vn(2026, 3, 4, 16), vn(2026, 3, 5, 8, 30))  # 1 h on Wed + 1 h on Thu
    assert CAL.due(MONDAY, 5, [pause]) == vn(2026, 3, 9, 9, 30)


def test_open_pause_makes_the_deadline_undefined_only_if_it_starts_before_it() -> None:
    assert CAL.due(MONDAY, 5, [(vn(2026, 3, 4, 9), None)]) is None
    assert CAL.due(MONDAY, 5, [(vn(2026, 3, 9, 9), None)]) == vn(2026, 3, 6, 17)


def test_reversed_pause_is_rejected() -> None:
    with pytest.raises(InvalidInput) as caught:
        CAL.due(MONDAY, 5, [(vn(2026, 3, 4, 9), vn(2026, 3, 3, 9))])
    assert caught.value.code == "calendar.pause_reversed"


def test_working_time_between() -> None:
    assert CAL.working_time_between(vn(2026, 2, 13, 9), vn(2026, 2, 25, 9)) == 24 * H
    assert CAL.working_time_between(vn(2026, 2, 25, 9), vn(2026, 2, 13, 9)) == -24 * H
    assert CAL.working_time_between(vn(2026, 3, 7, 9), vn(2026, 3, 8, 17)) == timedelta(0)
    pause = (vn(2026, 3, 2, 9), vn(2026, 3, 2, 10))
    assert CAL.working_time_between(vn(2026, 3, 2, 7, 30), vn(2026, 3, 2, 17), [pause]) == 7 * H


# --------------------------------------------------------------------------------------------------
# Deadlines in calendar days
# --------------------------------------------------------------------------------------------------


def test_calendar_days_landing_on_a_working_day() -> None:
    assert CAL.due_calendar_days(vn(2026, 3, 2, 9), 7) == vn(2026, 3, 9, 9)


def test_calendar_days_landing_in_tet_move_to_the_next_working_day() -> None:
    assert CAL.due_calendar_days(vn(2026, 2, 10, 9), 5) == vn(2026, 2, 23, 9)  # Sunday 15/02 → Monday 23/02


def test_calendar_days_from_an_evening_reception() -> None:
    assert CAL.due_calendar_days(vn(2026, 3, 6, 18), 2) == vn(2026, 3, 11, 7, 30)


def test_calendar_days_pause_extends_the_deadline() -> None:
    pause = (vn(2026, 3, 3, 9), vn(2026, 3, 4, 9))  # one calendar day
    assert CAL.due_calendar_days(vn(2026, 3, 2, 9), 7, [pause]) == vn(2026, 3, 10, 9)
    assert CAL.due_calendar_days(vn(2026, 3, 2, 9), 7, [(vn(2026, 3, 3, 9), None)]) is None


def test_calendar_days_pause_before_the_start_only_counts_its_remainder() -> None:
    pause = (vn(2026, 2, 27, 9), vn(2026, 3, 2, 10))  # only 1 h of it lies after the start
    assert CAL.due_calendar_days(vn(2026, 3, 2, 9), 7, [pause]) == vn(2026, 3, 9, 10)


def test_calendar_days_extension_ending_at_closing_time_stays_there() -> None:
    pause = (vn(2026, 3, 2, 10), vn(2026, 3, 2, 18))  # +8 h: 09:00 → 17:00
    assert CAL.due_calendar_days(vn(2026, 3, 2, 9), 7, [pause]) == vn(2026, 3, 9, 17)


def test_calendar_days_must_be_a_non_negative_integer() -> None:
    with pytest.raises(InvalidInput):
        CAL.due_calendar_days(vn(2026, 3, 2, 9), -1)
    with pytest.raises(InvalidInput):
        CAL.due_calendar_days(vn(2026, 3, 2, 9), Decimal("1.5"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# The calendar is data
# --------------------------------------------------------------------------------------------------


def test_custom_office_hours_and_workweek() -> None:
    morning_only = OfficeHours(periods=((time(8, 0), time(12, 0)),))
    cal = BusinessCalendar(office_hours=morning_only, workweek=frozenset(range(6)))
    assert cal.working_day_length() == 4 * H
    assert cal.due(vn(2026, 3, 6, 8), 2) == vn(2026, 3, 7, 12)  # Friday + Saturday mornings
    assert cal.next_opening(vn(2026, 3, 6, 13)) == vn(2026, 3, 7, 8)
    assert cal.is_working_day(date(2026, 2, 17))  # no holidays given: Tết is not known


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((time(11, 0), time(8, 0)),),
        ((time(8, 0), time(12, 0)), (time(11, 0), time(17, 0))),
    ],
)
def test_invalid_office_hours_are_rejected(periods: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(InvalidInput):
        OfficeHours(periods=periods)


def test_calendar_without_any_working_day_fails_cleanly() -> None:
    cal = BusinessCalendar(extra_days_off={date(2026, 1, 1) + timedelta(days=n): "x" for n in range(800)})
    with pytest.raises(InvalidInput) as caught:
        cal.next_opening(vn(2026, 1, 1))
    assert caught.value.code == "calendar.no_working_days"


def test_vietnam_calendar_is_cached() -> None:
    assert BusinessCalendar.vietnam() is BusinessCalendar.vietnam()


# --------------------------------------------------------------------------------------------------
# Timeliness
# --------------------------------------------------------------------------------------------------

DUE = vn(2026, 3, 5, 16)  # Thursday


@pytest.mark.parametrize(
    ("finished", "expected"),
    [
        (vn(2026, 3, 4, 16, 59), Timeliness.EARLY),  # the working day before
        (vn(2026, 3, 1, 10), Timeliness.EARLY),
        (vn(2026, 3, 5, 7, 30), Timeliness.ON_TIME),  # same date, before the due instant
        (DUE, Timeliness.ON_TIME),
        (DUE + timedelta(minutes=1), Timeliness.LATE),
        (vn(2026, 3, 9, 8), Timeliness.LATE),
    ],
)
def test_classify_finished(finished: datetime, expected: Timeliness) -> None:
    assert classify(CAL, DUE, finished, now=vn(2026, 3, 20)) is expected


def test_classify_open() -> None:
    assert classify(CAL, DUE, None, now=DUE) is Timeliness.WITHIN_TIME
    assert classify(CAL, DUE, None, now=vn(2026, 3, 1)) is Timeliness.WITHIN_TIME
    assert classify(CAL, DUE, None, now=DUE + timedelta(seconds=1)) is Timeliness.OVERDUE


def test_timeliness_vietnamese_labels() -> None:
    assert [t.label_vi for t in Timeliness] == ["Trước hạn", "Đúng hạn", "Trễ hạn", "Trong hạn", "Quá hạn"]
    assert Timeliness.ON_TIME == "on_time"


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(VN_TZ)
).map(lambda instant: instant.replace(microsecond=0))
working_days = st.integers(min_value=0, max_value=160).map(lambda eighths: Fraction(eighths, 8))
pause_lists = st.lists(
    st.tuples(instants, st.integers(min_value=0, max_value=7 * 24 * 60)).map(
        lambda pair: (pair[0], pair[0] + timedelta(minutes=pair[1]))
    ),
    max_size=3,
)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


def in_office_hours(instant: datetime) -> bool:
    local = instant.astimezone(VN_TZ)
    if not CAL.is_working_day(local.date()):
        return False
    return any(opening <= local.time() <= closing for opening, closing in CAL.office_hours.periods)


@PROPERTY_SETTINGS
@given(start=instants, days_a=working_days, days_b=working_days)
def test_due_is_monotone_in_working_days(start: datetime, days_a: Fraction, days_b: Fraction) -> None:
    low, high = sorted((days_a, days_b))
    assert CAL.due(start, low) <= CAL.due(start, high)


@PROPERTY_SETTINGS
@given(start=instants, days=working_days, pauses=pause_lists)
def test_due_lies_after_start_inside_office_hours(
    start: datetime, days: Fraction, pauses: list[tuple[datetime, datetime]]
) -> None:
    due = CAL.due(start, days, pauses)
    assert due >= start
    assert in_office_hours(due)
    assert due.utcoffset() == timedelta(hours=7)


@PROPERTY_SETTINGS
@given(start=instants, days=working_days, pauses=pause_lists)
def test_working_time_to_due_is_exactly_the_allowed_time(
    start: datetime, days: Fraction, pauses: list[tuple[datetime, datetime]]
) -> None:
    due = CAL.due(start, days, pauses)
    assert CAL.working_time_between(start, due, pauses) == timedelta(minutes=int(days * 480))


@PROPERTY_SETTINGS
@given(start=instants, days=working_days, pauses=pause_lists, extra=pause_lists)
def test_adding_a_pause_never_makes_the_deadline_earlier(
    start: datetime,
    days: Fraction,
    pauses: list[tuple[datetime, datetime]],
    extra: list[tuple[datetime, datetime]],
) -> None:
    assert CAL.due(start, days, pauses + extra) >= CAL.due(start, days, pauses)


@PROPERTY_SETTINGS
@given(a=instants, b=instants, c=instants, pauses=pause_lists)
def test_working_time_is_additive(
    a: datetime, b: datetime, c: datetime, pauses: list[tuple[datetime, datetime]]
) -> None:
    assert CAL.working_time_between(a, b, pauses) + CAL.working_time_between(
        b, c, pauses
    ) == CAL.working_time_between(a, c, pauses)


@PROPERTY_SETTINGS
@given(start=instants, days=st.integers(min_value=0, max_value=60))
def test_calendar_day_deadline_is_a_working_instant_at_least_n_days_later(start: datetime, days: int) -> None:
    due = CAL.due_calendar_days(start, days)
    assert due >= start + timedelta(days=days)
    assert in_office_hours(due)


@PROPERTY_SETTINGS
@given(due=instants, finished=instants, now=instants)
def test_classification_is_consistent(due: datetime, finished: datetime, now: datetime) -> None:
    result = classify(CAL, due, finished, now)
    assert (result is Timeliness.LATE) == (finished > due)
    if result is Timeliness.EARLY:
        assert finished.date() < due.date()
    if finished <= due and finished.date() == due.date():
        assert result is Timeliness.ON_TIME
    later = classify(CAL, due, finished + timedelta(days=1), now)
    order = [Timeliness.EARLY, Timeliness.ON_TIME, Timeliness.LATE]
    assert order.index(later) >= order.index(result)
    open_result = classify(CAL, due, None, now)
    assert open_result is (Timeliness.OVERDUE if now > due else Timeliness.WITHIN_TIME)
