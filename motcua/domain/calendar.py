"""Business calendar and legal deadlines (DOMAIN.md §2.4, §4).

The calendar is data: office periods, the working weekdays, public holidays and the government's yearly
overrides (extra days off, make-up working Saturdays) are all constructor parameters.

Rules, in the order they apply to a date:
1. a date in `extra_working_days` is a working day (even a Saturday or a holiday);
2. a date in `extra_days_off` is not;
3. a date in `holidays` is not;
4. otherwise it is a working day when its weekday is in `workweek`.

Time counting:
* One working day is one full day of office hours (8 h with the default 07:30–11:30, 13:00–17:00).
* Office periods are half-open for *starting* work (a dossier received at 11:30 starts at 13:00), but a
  deadline reached exactly at the end of a period *is* that end (e.g. 17:00, not the next 07:30).
* A pause `(start, end)` removes the time between a supplementation request and the supplement from the
  count. Pauses may overlap, start before the counting starts or lie outside office hours. An open pause
  (`end is None`, still waiting for the applicant) that begins before the deadline is reached makes the
  deadline undefined: the methods then return `None`. An open pause beginning after the deadline changes
  nothing (a dossier that is already late stays late).
* Every instant must be timezone-aware; results are expressed in the calendar's timezone
  (Asia/Ho_Chi_Minh by default). Arithmetic is done in UTC, durations are exact `timedelta`s.

Speed: the office periods of a contiguous range of years are kept as a table (`_Table`: period starts and
ends as local instants, and the working time elapsed before each), so "the working time up to an instant" is
a bisection and "add N of working time" a second bisection, instead of a day-by-day walk. The table is used
for years whose UTC offset is the same at every midnight and period boundary (Vietnam: every year since
1975) and when no run of more than a year of days off lies in it; anything else — and every computation with
pauses — takes the day-by-day walk (`_reference_*`), which is also what the property tests compare with.
"""

from __future__ import annotations

import functools
import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Final, overload

import holidays as holidays_lib
import yaml

from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput

Pause = tuple[datetime, datetime]
"""A closed pause: the clock stops at `start` and resumes at `end`."""
OpenEndedPause = tuple[datetime, datetime | None]
"""A pause whose `end` may be None: the dossier is still waiting for the supplement."""

WorkingDays = int | Fraction | Decimal | float

_WEEKDAY_NAMES_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_MAX_IDLE_DAYS = 366  # a sane calendar never has a longer run of non-working days
_MICROSECONDS_PER_SECOND = 1_000_000
_DATA_FILE = ("data", "calendar", "vn_government_days.yaml")
_LIBRARY_MAKE_UP_DAY_NAME = "Ngày làm việc bù"


def weekday_name_vi(d: date) -> str:
    """'Thứ Hai' … 'Chủ nhật'."""
    return _WEEKDAY_NAMES_VI[d.weekday()]


# --------------------------------------------------------------------------------------------------
# Office hours
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeHours:
    """The daily office periods, in local wall-clock time, sorted and non-overlapping."""

    periods: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))

    def __post_init__(self) -> None:
        if not self.periods:
            raise InvalidInput("calendar.no_office_hours", "Giờ làm việc phải có ít nhất một buổi.")
        previous_end: time | None = None
        for opening, closing in self.periods:
            if opening.tzinfo is not None or closing.tzinfo is not None:
                raise InvalidInput(
                    "calendar.bad_office_hours", "Giờ làm việc là giờ địa phương, không kèm múi giờ."
                )
            if not opening < closing or (previous_end is not None and opening < previous_end):
                raise InvalidInput(
                    "calendar.bad_office_hours",
                    "Các buổi làm việc phải có giờ bắt đầu trước giờ kết thúc, theo thứ tự và không chồng lấn.",
                    opening=opening.isoformat(),
                    closing=closing.isoformat(),
                )
            previous_end = closing

    @property
    def day_length(self) -> timedelta:
        """The working time of one full working day (8 h by default)."""
        return sum((_wall_span(opening, closing) for opening, closing in self.periods), timedelta())


def _wall_span(opening: time, closing: time) -> timedelta:
    anchor = date(2000, 1, 1)
    return datetime.combine(anchor, closing) - datetime.combine(anchor, opening)


# --------------------------------------------------------------------------------------------------
# Lazily computed per-year data
# --------------------------------------------------------------------------------------------------


class YearlyDays(Mapping[date, str]):
    """A date → name mapping computed one year at a time, on first use, and cached.

    Iteration and `len` cover only the years loaded so far (dossiers span year boundaries, so any year
    can be asked for; nobody can list all of them).
    """

    def __init__(self, load_year: Callable[[int], Mapping[date, str]]) -> None:
        self._load_year = load_year
        self._years: dict[int, dict[date, str]] = {}
        self._lock = threading.Lock()

    def for_year(self, year: int) -> Mapping[date, str]:
        loaded = self._years.get(year)
        if loaded is None:
            with self._lock:
                loaded = self._years.get(year)
                if loaded is None:
                    loaded = dict(self._load_year(year))
                    self._years[year] = loaded
        return loaded

    def __getitem__(self, key: date) -> str:
        if not isinstance(key, date):
            raise KeyError(key)
        return self.for_year(key.year)[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, date) and key in self.for_year(key.year)

    def __iter__(self) -> Iterator[date]:
        for year in sorted(self._years):
            yield from sorted(self._years[year])

    def __len__(self) -> int:
        return sum(len(days) for days in self._years.values())


# --------------------------------------------------------------------------------------------------
# The government data file
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GovernmentDay:
    day: date
    name: str
    source: str


@dataclass(frozen=True)
class GovernmentDays:
    """The contents of `vn_government_days.yaml`."""

    days_off: tuple[GovernmentDay, ...]
    working_days: tuple[GovernmentDay, ...]

    def by_date(self) -> dict[date, GovernmentDay]:
        return {entry.day: entry for entry in (*self.days_off, *self.working_days)}


def load_government_days(path: Path | None = None) -> GovernmentDays:
    """Read and validate the government's extra days off / make-up working days (the packaged file by default)."""
    if path is None:
        text = resources.files("motcua").joinpath(*_DATA_FILE).read_text(encoding="utf-8")
        origin = "/".join(_DATA_FILE)
    else:
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for dates like 2026-02-30
        raise _bad_data(origin, f"YAML không hợp lệ ({exc.__class__.__name__})") from exc
    if not isinstance(document, dict) or set(document) - {"days_off", "working_days"}:
        raise _bad_data(origin, "tệp chỉ được có hai danh sách 'days_off' và 'working_days'")
    days_off = _parse_entries(document.get("days_off") or [], origin)
    working_days = _parse_entries(document.get("working_days") or [], origin)
    seen: set[date] = set()
    for entry in (*days_off, *working_days):
        if entry.day in seen:
            raise _bad_data(origin, f"ngày {entry.day.isoformat()} xuất hiện hai lần")
        seen.add(entry.day)
    return GovernmentDays(days_off=days_off, working_days=working_days)


def _parse_entries(raw: object, origin: str) -> tuple[GovernmentDay, ...]:
    if not isinstance(raw, list):
        raise _bad_data(origin, "'days_off' và 'working_days' phải là danh sách")
    return tuple(_parse_entry(item, origin) for item in raw)


def _parse_entry(item: object, origin: str) -> GovernmentDay:
    if not isinstance(item, dict) or set(item) != {"date", "name", "source"}:
        raise _bad_data(origin, "mỗi mục phải có đúng các khóa 'date', 'name', 'source'")
    raw_day, name, source = item["date"], item["name"], item["source"]
    if isinstance(raw_day, str):
        try:
            raw_day = date.fromisoformat(raw_day)
        except ValueError:
            raise _bad_data(origin, f"ngày '{raw_day}' không đúng dạng YYYY-MM-DD") from None
    if not isinstance(raw_day, date) or isinstance(raw_day, datetime):
        raise _bad_data(origin, f"'{raw_day}' không phải là một ngày")
    for field_value in (name, source):
        if not isinstance(field_value, str) or not field_value.strip():
            raise _bad_data(
                origin, f"ngày {raw_day.isoformat()}: 'name' và 'source' phải là chuỗi không rỗng"
            )
    return GovernmentDay(day=raw_day, name=name.strip(), source=source.strip())


def _bad_data(origin: str, reason: str) -> InvalidInput:
    return InvalidInput("calendar.bad_data_file", f"Tệp lịch ngày nghỉ {origin}: {reason}.", file=origin)


# --------------------------------------------------------------------------------------------------
# The Vietnamese holidays library, one year at a time
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _vn_library_year(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """Public holidays (Vietnamese names) and make-up working weekend days the library knows for `year`."""
    library = holidays_lib.country_holidays("VN", years=year, language="vi")
    named = {day: str(name) for day, name in library.items() if day.year == year}
    make_up = frozenset(day for day in library.weekend_workdays if day.year == year)
    return named, make_up


def _vietnam_working_days(year: int, government: GovernmentDays) -> dict[date, str]:
    overridden_off = {entry.day for entry in government.days_off}
    result = {
        day: _LIBRARY_MAKE_UP_DAY_NAME for day in _vn_library_year(year)[1] if day not in overridden_off
    }
    result.update({entry.day: entry.name for entry in government.working_days if entry.day.year == year})
    return result


# --------------------------------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialDay:
    """A date whose status differs from the plain weekday rule: a weekday off or a make-up working day."""

    day: date
    working: bool
    name: str


_MergedPause = tuple[datetime, datetime | None]  # UTC, sorted, disjoint; only the last may be open


class BusinessCalendar:
    """Working days and office hours; computes starts, deadlines and elapsed working time."""

    def __init__(
        self,
        *,
        office_hours: OfficeHours = OfficeHours(),
        workweek: frozenset[int] = frozenset({0, 1, 2, 3, 4}),
        holidays: Mapping[date, str] | None = None,
        extra_days_off: Mapping[date, str] | None = None,
        extra_working_days: Mapping[date, str] | None = None,
        tz: tzinfo = VN_TZ,
    ) -> None:
        if not workweek or not workweek <= frozenset(range(7)):
            raise InvalidInput(
                "calendar.bad_workweek", "Tuần làm việc phải gồm các thứ từ 0 (Thứ Hai) đến 6."
            )
        self.office_hours = office_hours
        self.workweek = frozenset(workweek)
        self.tz = tz
        self._holidays: Mapping[date, str] = holidays if holidays is not None else {}
        self._days_off: Mapping[date, str] = extra_days_off if extra_days_off is not None else {}
        self._working_days: Mapping[date, str] = extra_working_days if extra_working_days is not None else {}
        clash = sorted(day for day in self._days_off if day in self._working_days)
        if clash:
            raise InvalidInput(
                "calendar.conflicting_days",
                f"Ngày {clash[0].isoformat()} vừa là ngày nghỉ vừa là ngày làm việc bù.",
                day=clash[0].isoformat(),
            )
        self._day_length = office_hours.day_length
        self._periods: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._table: _Table | None = None  # replaced whole (never mutated), so readers need no lock
        self._table_lock = threading.Lock()
        self._year_pieces: dict[int, _YearPiece | None] = {}
        self._table_off = False  # a run of more than `_MAX_IDLE_DAYS` days off: the walk decides

    @classmethod
    def vietnam(cls, years: range | None = None) -> BusinessCalendar:
        """The calendar of Vietnamese state agencies: `holidays` (VN) overridden by the packaged data file.

        Any year is computed on first use; `years` are computed eagerly. The result is cached.
        """
        return _vietnam_calendar(years)

    # ---- days -------------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        if d in self._working_days:
            return True
        if d in self._days_off or d in self._holidays:
            return False
        return d.weekday() in self.workweek

    def day_off_reason(self, d: date) -> str | None:
        """Vietnamese name of the holiday / day off / weekend day; None for a working day."""
        if self.is_working_day(d):
            return None
        return self._days_off.get(d) or self._holidays.get(d) or weekday_name_vi(d)

    def special_days(self, year: int) -> list[SpecialDay]:
        """Weekdays off and make-up working days of `year`, in date order."""
        result: list[SpecialDay] = []
        day = date(year, 1, 1)
        while day.year == year:
            working = self.is_working_day(day)
            if working != (day.weekday() in self.workweek):
                name = self._working_days.get(day, "") if working else self.day_off_reason(day) or ""
                result.append(SpecialDay(day=day, working=working, name=name))
            day += timedelta(days=1)
        return result

    def working_day_length(self) -> timedelta:
        return self._day_length

    # ---- instants ---------------------------------------------------------------------------------

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself if the office is open then, else the next opening (11:30 → 13:00, Fri 18:00 → Mon 07:30)."""
        local, table = self._local_and_table(instant, "instant")
        while table is not None:
            i = bisect_right(table.ends, local)
            if i < table.count:
                opening = table.starts[i]
                return opening if opening > local else local
            table = self._table_after(table)
        return self._reference_next_opening(instant)

    def _reference_next_opening(self, instant: datetime) -> datetime:
        """`next_opening` by the day-by-day walk."""
        for segment_start, _ in self._free_segments(_utc(instant, "instant"), ()):
            return segment_start.astimezone(self.tz)
        raise AssertionError("unreachable: a calendar always has another working day")  # pragma: no cover

    def start_instant(self, received: datetime, cutoff: time | None = None) -> datetime:
        """When processing time starts for a dossier received at `received`.

        With a same-day `cutoff` (e.g. 15:00), a dossier received at or after it on a working day starts
        at the opening of the next working day.
        """
        local = self._local(received, "received")
        if cutoff is not None:
            if cutoff.tzinfo is not None:
                raise InvalidInput(
                    "calendar.bad_cutoff", "Giờ tiếp nhận cuối ngày là giờ địa phương, không kèm múi giờ."
                )
            if self.is_working_day(local.date()) and local.time() >= cutoff:
                next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.tz)
                return self.next_opening(next_midnight)
        return self.next_opening(local)

    # ---- deadlines --------------------------------------------------------------------------------

    def working_days_to_time(self, working_days: WorkingDays) -> timedelta:
        """Exact working time of `working_days` (0.5 → 4 h). Must come to a whole number of seconds
        (a float: a whole number of minutes)."""
        if isinstance(working_days, bool) or not isinstance(working_days, int | Fraction | Decimal | float):
            raise InvalidInput("calendar.bad_duration", "Số ngày làm việc phải là một số.")
        if isinstance(working_days, Decimal | float) and not _is_finite(working_days):
            raise InvalidInput("calendar.bad_duration", "Số ngày làm việc phải là một số hữu hạn.")
        if working_days < 0:
            raise InvalidInput("calendar.negative_duration", "Số ngày làm việc không được âm.")
        if isinstance(working_days, float):
            minutes = working_days * (self._day_length / timedelta(minutes=1))
            if not minutes.is_integer():
                raise _inexact(working_days)
            return timedelta(minutes=int(minutes))
        microseconds = Fraction(working_days) * (self._day_length // timedelta(microseconds=1))
        if microseconds.denominator != 1 or microseconds.numerator % _MICROSECONDS_PER_SECOND:
            raise _inexact(working_days)
        return timedelta(microseconds=microseconds.numerator)

    @overload
    def add_working_time(
        self, start: datetime, amount: timedelta, pauses: Sequence[Pause] = ()
    ) -> datetime: ...
    @overload
    def add_working_time(
        self, start: datetime, amount: timedelta, pauses: Sequence[OpenEndedPause]
    ) -> datetime | None: ...
    def add_working_time(
        self, start: datetime, amount: timedelta, pauses: Sequence[OpenEndedPause] = ()
    ) -> datetime | None:
        """The instant when `amount` of unpaused office time has elapsed after `start`.

        A result exactly at the end of an office period is that end. None when an open pause stops the
        clock before `amount` is reached.
        """
        if amount < _ZERO:
            raise InvalidInput("calendar.negative_duration", "Thời gian xử lý không được âm.")
        if pauses:
            return self._reference_add_working_time(start, amount, pauses)
        table = self._table
        if (  # `_local_and_table`'s common case, inline: already local, inside the current table
            table is not None
            and type(start) is datetime
            and start.tzinfo is self.tz
            and table.lo <= start < table.hi
        ):
            local = start
        else:
            local, table = self._local_and_table(start, "start")
        while table is not None:
            i = bisect_right(table.ends, local)
            if not amount:  # the first instant the office is open
                if i < table.count:
                    opening = table.starts[i]
                    return opening if opening > local else local
            else:
                cum = table.cum
                if i < table.count and table.starts[i] < local:
                    target = cum[i] + (local - table.starts[i]) + amount
                else:
                    target = cum[i] + amount
                # A target at a period's end is that end. (Periods before `i` end at or before `local`: their
                # ends' working time is below a positive `target`, so the search starts at `i`.)
                j = bisect_left(table.cum_ends, target, i)
                if j < table.count:
                    return table.starts[j] + (target - cum[j])
            table = self._table_after(table)
        return self._reference_add_working_time(start, amount, pauses)

    def _reference_add_working_time(
        self, start: datetime, amount: timedelta, pauses: Sequence[OpenEndedPause] = ()
    ) -> datetime | None:
        """`add_working_time` by the day-by-day walk (also the only way with pauses)."""
        if amount < _ZERO:
            raise InvalidInput("calendar.negative_duration", "Thời gian xử lý không được âm.")
        remaining = amount
        for segment_start, segment_end in self._free_segments(_utc(start, "start"), _merge_pauses(pauses)):
            length = segment_end - segment_start
            if remaining <= length:
                return (segment_start + remaining).astimezone(self.tz)
            remaining -= length
        return None

    @overload
    def due(self, start: datetime, working_days: WorkingDays, pauses: Sequence[Pause] = ()) -> datetime: ...
    @overload
    def due(
        self, start: datetime, working_days: WorkingDays, pauses: Sequence[OpenEndedPause]
    ) -> datetime | None: ...
    def due(
        self, start: datetime, working_days: WorkingDays, pauses: Sequence[OpenEndedPause] = ()
    ) -> datetime | None:
        """Deadline of a procedure counted in working days, from `next_opening(start)`.

        Use `start_instant()` first to apply a same-day cut-off.
        """
        amount = self.working_days_to_time(working_days)
        return self.add_working_time(self.next_opening(start), amount, pauses)

    @overload
    def due_calendar_days(self, start: datetime, days: int, pauses: Sequence[Pause] = ()) -> datetime: ...
    @overload
    def due_calendar_days(
        self, start: datetime, days: int, pauses: Sequence[OpenEndedPause]
    ) -> datetime | None: ...
    def due_calendar_days(
        self, start: datetime, days: object, pauses: Sequence[OpenEndedPause] = ()
    ) -> datetime | None:
        """Deadline of a procedure counted in calendar days ("N ngày").

        From `next_opening(start)`, add `days` × 24 h plus the paused time that falls before the deadline;
        a deadline on a non-working day moves to the next working day at the same time of day, and is then
        brought into office hours (the end of a period counts as inside).
        """
        # (`days: object` in the implementation: the check below is the type check, also when compiled.)
        if isinstance(days, bool) or not isinstance(days, int):
            raise InvalidInput("calendar.bad_duration", "Số ngày phải là số nguyên.")
        if days < 0:
            raise InvalidInput("calendar.negative_duration", "Số ngày không được âm.")
        begin = _utc(self.next_opening(start), "start")
        deadline = begin + timedelta(days=days)
        for pause_start, pause_end in _merge_pauses(pauses):
            counted_from = max(pause_start, begin)
            if counted_from >= deadline:
                break
            if pause_end is None:
                return None
            if pause_end > counted_from:
                deadline += pause_end - counted_from
        local = deadline.astimezone(self.tz)
        while not self.is_working_day(local.date()):
            local = datetime.combine(local.date() + timedelta(days=1), local.time(), tzinfo=self.tz)
        return self._into_office_hours(local)

    def working_time_between(
        self, a: datetime, b: datetime, pauses: Sequence[OpenEndedPause] = ()
    ) -> timedelta:
        """Unpaused office time from `a` to `b`; negative when `b` is before `a`."""
        if pauses:
            return self._reference_working_time_between(a, b, pauses)
        start, end = self._local(a, "a"), self._local(b, "b")
        if end < start:
            start, end = end, start
            sign = -1
        else:
            sign = 1
        table = self._table_for(start)
        if table is not None and not end < table.hi:
            table = self._cover(table.first_year, end.year)
        if table is None:
            return self._reference_working_time_between(a, b, pauses)
        return sign * (table.elapsed(end) - table.elapsed(start))

    def _reference_working_time_between(
        self, a: datetime, b: datetime, pauses: Sequence[OpenEndedPause] = ()
    ) -> timedelta:
        """`working_time_between` by the day-by-day walk (also the only way with pauses)."""
        start, end = _utc(a, "a"), _utc(b, "b")
        if end < start:
            return -self._reference_working_time_between(b, a, pauses)
        total = timedelta(0)
        for segment_start, segment_end in self._free_segments(start, _merge_pauses(pauses)):
            if segment_start >= end:
                break
            total += min(segment_end, end) - segment_start
        return total

    # ---- the table of office periods ---------------------------------------------------------------

    def _local_and_table(self, instant: datetime, field: str) -> tuple[datetime, _Table | None]:
        """`instant` in local time and the table holding it; the common case (already local, inside the
        current table) without `_local` and `_table_for`."""
        table = self._table
        if (
            table is not None
            and type(instant) is datetime
            and instant.tzinfo is self.tz
            and table.lo <= instant < table.hi
        ):
            return instant, table
        local = self._local(instant, field)
        return local, self._table_for(local)

    def _local(self, instant: datetime, field: str) -> datetime:
        """`instant` in the calendar's timezone (itself when it already is); validated like `_utc`."""
        if type(instant) is datetime and instant.tzinfo is self.tz:
            return instant
        return _utc(instant, field).astimezone(self.tz)

    def _table_for(self, local: datetime) -> _Table | None:
        """A table whose years include `local` (a local instant), or None: use the walk."""
        table = self._table
        if table is not None and table.lo <= local < table.hi:
            return table
        return self._cover(local.year, local.year)

    def _table_after(self, table: _Table) -> _Table | None:
        """`table` with one more year at its end (when a search ran past it), or None: use the walk."""
        return self._cover(table.first_year, table.last_year + 1)

    def _cover(self, first_year: int, last_year: int) -> _Table | None:
        """The table extended to cover `first_year`…`last_year`, or None when it cannot be used for them."""
        table = self._table
        if table is not None and table.first_year <= first_year and last_year <= table.last_year:
            return table
        if self._table_off:
            return None
        with self._table_lock:
            table = self._table
            if table is not None:
                first_year, last_year = min(first_year, table.first_year), max(last_year, table.last_year)
            if first_year < _MIN_TABLE_YEAR or last_year > _MAX_TABLE_YEAR:
                return None
            if last_year - first_year >= _MAX_TABLE_YEARS:
                return None
            pieces = [self._year_piece(year) for year in range(first_year, last_year + 1)]
            offsets = {piece.offset if piece is not None else None for piece in pieces}
            if len(offsets) != 1 or None in offsets:
                return None
            built = _Table(first_year, last_year, [piece for piece in pieces if piece is not None], self.tz)
            if built.longest_idle_run > _MAX_IDLE_DAYS:
                self._table_off = True
                return None
            self._table = built
            return built

    def _year_piece(self, year: int) -> _YearPiece | None:
        """The office periods of `year` as local instants; None when its UTC offset is not constant."""
        if year in self._year_pieces:
            return self._year_pieces[year]
        if len(self._year_pieces) > 2 * _MAX_TABLE_YEARS:
            self._year_pieces.clear()
        tz = self.tz
        offset = datetime.combine(date(year, 1, 1), time(0), tzinfo=tz).utcoffset()
        piece: _YearPiece | None = _YearPiece(offset, [], [], [])
        day, one_day = date(year, 1, 1), timedelta(days=1)
        while piece is not None and day.year == year:
            if datetime.combine(day, time(0), tzinfo=tz).utcoffset() != offset:
                piece = None
                break
            if self.is_working_day(day):
                piece.working_days.append(day.toordinal())
                for opening, closing in self.office_hours.periods:
                    period_start = datetime.combine(day, opening, tzinfo=tz)
                    period_end = datetime.combine(day, closing, tzinfo=tz)
                    if period_start.utcoffset() != offset or period_end.utcoffset() != offset:
                        piece = None
                        break
                    piece.starts.append(period_start)
                    piece.ends.append(period_end)
            day += one_day
        if piece is not None and (
            offset is None or datetime.combine(day, time(0), tzinfo=tz).utcoffset() != offset
        ):
            piece = None
        self._year_pieces[year] = piece
        return piece

    # ---- internals --------------------------------------------------------------------------------

    def _office_periods(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The office periods of `d` in UTC; empty on a non-working day. Memoised per day: every deadline
        scans days, and building them (zone conversions) was most of a deadline's cost."""
        periods = self._periods.get(d)
        if periods is None:
            if len(self._periods) > _PERIODS_CACHE_DAYS:
                self._periods.clear()
            periods = self._periods[d] = (
                tuple(
                    (
                        datetime.combine(d, opening, tzinfo=self.tz).astimezone(UTC),
                        datetime.combine(d, closing, tzinfo=self.tz).astimezone(UTC),
                    )
                    for opening, closing in self.office_hours.periods
                )
                if self.is_working_day(d)
                else ()
            )
        return periods

    def _free_segments(
        self, begin: datetime, pauses: Sequence[_MergedPause]
    ) -> Iterator[tuple[datetime, datetime]]:
        """Positive-length stretches of unpaused office time from `begin` (UTC), in order, forever —
        or until an open pause begins."""
        day = begin.astimezone(self.tz).date()
        pause_index = 0
        idle_days = 0
        while True:
            periods = self._office_periods(day)
            idle_days = 0 if periods else idle_days + 1
            if idle_days > _MAX_IDLE_DAYS:
                raise InvalidInput("calendar.no_working_days", "Lịch không có ngày làm việc nào để tính hạn.")
            for period_start, period_end in periods:
                cursor = max(period_start, begin)
                while cursor < period_end:
                    while pause_index < len(pauses) and _ends_by(pauses[pause_index], cursor):
                        pause_index += 1
                    if pause_index < len(pauses) and pauses[pause_index][0] <= cursor:
                        resume = pauses[pause_index][1]
                        if resume is None:
                            return
                        cursor = resume
                        continue
                    segment_end = period_end
                    if pause_index < len(pauses):
                        segment_end = min(period_end, pauses[pause_index][0])
                    yield cursor, segment_end
                    cursor = segment_end
            day = self._next_day_to_scan(day, pauses, pause_index)

    def _next_day_to_scan(self, day: date, pauses: Sequence[_MergedPause], pause_index: int) -> date:
        """The next day, or — inside a long closed pause — the day the pause ends."""
        following = day + timedelta(days=1)
        if pause_index < len(pauses):
            pause_start, pause_end = pauses[pause_index]
            following_midnight = datetime.combine(following, time(0), tzinfo=self.tz).astimezone(UTC)
            if pause_end is not None and pause_start <= following_midnight < pause_end:
                return max(following, pause_end.astimezone(self.tz).date())
        return following

    def _into_office_hours(self, local: datetime) -> datetime:
        """`local` if it lies within an office period (its end included), else the next opening."""
        for opening, closing in self._office_periods(local.date()):
            if opening <= local <= closing:
                return local.astimezone(self.tz)
        return self.next_opening(local)


_ZERO: Final = timedelta(0)
_PERIODS_CACHE_DAYS = 20_000  # about 55 years of days: bounded memory, no eviction in practice
_MAX_TABLE_YEARS = 60  # a table spans at most 60 years (≈ 30,000 periods); instants beyond: the walk
_MIN_TABLE_YEAR, _MAX_TABLE_YEAR = 2, 9998


@dataclass
class _YearPiece:
    """One year's office periods (local instants, in order), its working days and its UTC offset."""

    offset: timedelta | None
    starts: list[datetime]
    ends: list[datetime]
    working_days: list[int]  # ordinals


class _Table:
    """The office periods of the years `first_year`…`last_year` (all with the same UTC offset), in order,
    with the working time before each period (`cum`, one entry more: the total) and up to its end
    (`cum_ends`). Local instants of one fixed offset compare and subtract exactly like UTC ones. Immutable
    once built; extended by building a new one (a handful of times per process)."""

    __slots__ = (
        "count",
        "cum",
        "cum_ends",
        "ends",
        "first_year",
        "hi",
        "last_year",
        "lo",
        "longest_idle_run",
        "starts",
    )

    def __init__(self, first_year: int, last_year: int, pieces: list[_YearPiece], tz: tzinfo) -> None:
        self.first_year, self.last_year = first_year, last_year
        self.lo = datetime(first_year, 1, 1, tzinfo=tz)
        self.hi = datetime(last_year + 1, 1, 1, tzinfo=tz)
        self.starts = [start for piece in pieces for start in piece.starts]
        self.ends = [end for piece in pieces for end in piece.ends]
        self.count = len(self.starts)
        self.cum: list[timedelta] = [timedelta(0)]
        for period_start, period_end in zip(self.starts, self.ends, strict=True):
            self.cum.append(self.cum[-1] + (period_end - period_start))
        self.cum_ends = self.cum[1:]
        # The longest run of consecutive days off inside the years (the walk refuses runs over a year).
        previous = date(first_year, 1, 1).toordinal() - 1
        longest = 0
        for ordinal in (day for piece in pieces for day in piece.working_days):
            longest = max(longest, ordinal - previous - 1)
            previous = ordinal
        self.longest_idle_run = max(longest, date(last_year, 12, 31).toordinal() - previous)

    def elapsed(self, local: datetime) -> timedelta:
        """Office time from the table's start to `local` (a local instant inside the table's years)."""
        i = bisect_right(self.ends, local)
        if i < self.count:
            period_start = self.starts[i]
            if period_start < local:
                return self.cum[i] + (local - period_start)
        return self.cum[i]


@functools.lru_cache(maxsize=8)
def _vietnam_calendar(years: range | None) -> BusinessCalendar:
    government = load_government_days()
    days_off = {entry.day: entry.name for entry in government.days_off}
    holidays = YearlyDays(lambda year: _vn_library_year(year)[0])
    working_days = YearlyDays(lambda year: _vietnam_working_days(year, government))
    for year in years or ():
        holidays.for_year(year)
        working_days.for_year(year)
    return BusinessCalendar(holidays=holidays, extra_days_off=days_off, extra_working_days=working_days)


def _utc(instant: datetime, field: str) -> datetime:
    if not isinstance(instant, datetime):
        raise InvalidInput(
            "calendar.not_datetime", f"'{field}' phải là một thời điểm (ngày giờ).", field=field
        )
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidInput(
            "calendar.naive_datetime",
            f"Thời điểm '{field}' phải kèm múi giờ (ví dụ +07:00).",
            field=field,
            value=instant.isoformat(),
        )
    return instant.astimezone(UTC)


def _merge_pauses(pauses: Sequence[OpenEndedPause]) -> list[_MergedPause]:
    """Validate pauses and merge them into sorted, disjoint UTC intervals; an open one absorbs the rest."""
    intervals: list[_MergedPause] = []
    for pause_start, pause_end in pauses:
        begin = _utc(pause_start, "pause.start")
        end = None if pause_end is None else _utc(pause_end, "pause.end")
        if end is not None and end < begin:
            raise InvalidInput(
                "calendar.pause_reversed",
                "Thời điểm kết thúc tạm dừng phải sau thời điểm bắt đầu.",
                start=pause_start.isoformat(),
                end=pause_end.isoformat() if pause_end else None,
            )
        if end is None or end > begin:
            intervals.append((begin, end))
    intervals.sort(key=lambda interval: interval[0])
    merged: list[_MergedPause] = []
    for begin, end in intervals:
        if merged and (merged[-1][1] is None or begin <= merged[-1][1]):
            last_begin, last_end = merged[-1]
            merged[-1] = (last_begin, None if last_end is None or end is None else max(last_end, end))
        else:
            merged.append((begin, end))
    return merged


def _ends_by(pause: _MergedPause, instant: datetime) -> bool:
    return pause[1] is not None and pause[1] <= instant


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _inexact(working_days: Any) -> InvalidInput:
    return InvalidInput(
        "calendar.inexact_duration",
        "Số ngày làm việc phải quy đổi được chính xác ra giây (với số thực: ra phút).",
        value=str(working_days),
    )


# --------------------------------------------------------------------------------------------------
# Timeliness
# --------------------------------------------------------------------------------------------------


class Timeliness(StrEnum):
    """Result-timeliness classes used in reporting (DOMAIN.md §2.1)."""

    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"
    WITHIN_TIME = "within_time"
    OVERDUE = "overdue"

    @property
    def label_vi(self) -> str:
        return _TIMELINESS_LABELS_VI[self]


_TIMELINESS_LABELS_VI = {
    Timeliness.EARLY: "Trước hạn",
    Timeliness.ON_TIME: "Đúng hạn",
    Timeliness.LATE: "Trễ hạn",
    Timeliness.WITHIN_TIME: "Trong hạn",
    Timeliness.OVERDUE: "Quá hạn",
}


def classify(
    calendar: BusinessCalendar, due: datetime, finished: datetime | None, now: datetime
) -> Timeliness:
    """Classify a dossier against its deadline `due`.

    Finished (`finished` given):
      * LATE when finished after `due`;
      * EARLY when finished on an earlier date than the due date (local dates in the calendar's timezone)
        — i.e. the result was ready before the appointment day;
      * ON_TIME otherwise (finished on the due date, at or before the due instant).
    Open (`finished` is None): OVERDUE when `now` is after `due`, else WITHIN_TIME.
    """
    due_utc = _utc(due, "due")
    if finished is None:
        return Timeliness.OVERDUE if _utc(now, "now") > due_utc else Timeliness.WITHIN_TIME
    finished_utc = _utc(finished, "finished")
    _utc(now, "now")
    if finished_utc > due_utc:
        return Timeliness.LATE
    if finished_utc.astimezone(calendar.tz).date() < due_utc.astimezone(calendar.tz).date():
        return Timeliness.EARLY
    return Timeliness.ON_TIME
