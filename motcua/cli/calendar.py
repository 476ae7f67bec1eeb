"""`motcua calendar …`: compute legal deadlines and list the year's days off / make-up working days."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation

import click

from motcua.domain.calendar import BusinessCalendar, OpenEndedPause, load_government_days, weekday_name_vi
from motcua.domain.errors import InvalidInput

_FIRST_YEAR, _LAST_YEAR = 1980, 2200


@click.group(help="Lịch làm việc và thời hạn giải quyết hồ sơ.")
def calendar() -> None:
    pass


@calendar.command(help="Tính thời hạn giải quyết (in ra theo ISO 8601, giờ Việt Nam).")
@click.option(
    "--start", "start_text", required=True, help="Thời điểm tiếp nhận, ví dụ 2026-02-13T09:00+07:00."
)
@click.option("--working-days", "working_days_text", help="Số ngày làm việc (có thể lẻ, ví dụ 0.5).")
@click.option("--calendar-days", "calendar_days_text", help="Số ngày theo lịch (thủ tục tính bằng 'ngày').")
@click.option(
    "--pause",
    "pause_texts",
    multiple=True,
    help="Khoảng tạm dừng BẮT_ĐẦU/KẾT_THÚC (để trống KẾT_THÚC nếu đang tạm dừng); lặp lại được.",
)
@click.option("--cutoff", "cutoff_text", help="Giờ tiếp nhận cuối ngày, ví dụ 15:00.")
def due(
    start_text: str,
    working_days_text: str | None,
    calendar_days_text: str | None,
    pause_texts: tuple[str, ...],
    cutoff_text: str | None,
) -> None:
    if (working_days_text is None) == (calendar_days_text is None):
        raise InvalidInput(
            "calendar.cli.duration_required",
            "Cần đúng một trong hai tùy chọn --working-days hoặc --calendar-days.",
        )
    business_calendar = BusinessCalendar.vietnam()
    received = _parse_instant(start_text, "--start")
    pauses = [_parse_pause(text) for text in pause_texts]
    cutoff = _parse_cutoff(cutoff_text) if cutoff_text is not None else None
    start = business_calendar.start_instant(received, cutoff)
    if working_days_text is not None:
        deadline = business_calendar.due(start, _parse_working_days(working_days_text), pauses)
    else:
        deadline = business_calendar.due_calendar_days(
            start, _parse_calendar_days(calendar_days_text), pauses
        )
    if deadline is None:
        click.echo("Chưa xác định: hồ sơ đang tạm dừng (chờ bổ sung) trước khi đến hạn.")
    else:
        click.echo(deadline.isoformat())


@calendar.command(help="Liệt kê các ngày thường được nghỉ và các ngày làm việc bù trong năm.")
@click.option("--year", "year_text", required=True, help="Năm, ví dụ 2026.")
def days(year_text: str) -> None:
    year = _parse_year(year_text)
    business_calendar = BusinessCalendar.vietnam()
    sources = {entry.day: entry.source for entry in (load_government_days().by_date().values())}
    for special in business_calendar.special_days(year):
        status = "làm việc bù" if special.working else "nghỉ"
        line = f"{special.day.isoformat()}  {weekday_name_vi(special.day):<8}  {status:<11}  {special.name}"
        if special.day in sources:
            line += f" — {sources[special.day]}"
        click.echo(line)


def _parse_instant(text: str, option: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "calendar.cli.bad_datetime",
            f"{option}: '{text}' không phải thời điểm ISO 8601 hợp lệ (ví dụ 2026-02-13T09:00+07:00).",
        ) from None
    if instant.tzinfo is None:
        raise InvalidInput(
            "calendar.naive_datetime", f"{option}: thời điểm '{text}' phải kèm múi giờ (ví dụ +07:00)."
        )
    return instant


def _parse_pause(text: str) -> OpenEndedPause:
    start_text, separator, end_text = text.partition("/")
    if not separator:
        raise InvalidInput("calendar.cli.bad_pause", f"--pause: '{text}' phải có dạng BẮT_ĐẦU/KẾT_THÚC.")
    start = _parse_instant(start_text, "--pause")
    end = _parse_instant(end_text, "--pause") if end_text.strip() else None
    if end is not None and end < start:
        raise InvalidInput("calendar.pause_reversed", f"--pause: '{text}' kết thúc trước khi bắt đầu.")
    return start, end


def _parse_cutoff(text: str) -> time:
    try:
        cutoff = time.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "calendar.bad_cutoff", f"--cutoff: '{text}' không phải giờ hợp lệ (ví dụ 15:00)."
        ) from None
    if cutoff.tzinfo is not None:
        raise InvalidInput("calendar.bad_cutoff", "--cutoff: giờ địa phương, không kèm múi giờ.")
    return cutoff


def _parse_working_days(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput("calendar.bad_duration", f"--working-days: '{text}' không phải là số.") from None
    if not value.is_finite():
        raise InvalidInput("calendar.bad_duration", f"--working-days: '{text}' không phải là số hữu hạn.")
    if value < 0:
        raise InvalidInput("calendar.negative_duration", "--working-days: số ngày làm việc không được âm.")
    return value


def _parse_calendar_days(text: str | None) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InvalidInput(
            "calendar.bad_duration", f"--calendar-days: '{text}' không phải số nguyên."
        ) from None
    if value < 0:
        raise InvalidInput("calendar.negative_duration", "--calendar-days: số ngày không được âm.")
    return value


def _parse_year(text: str) -> int:
    try:
        year = int(text.strip())
    except ValueError:
        raise InvalidInput("calendar.cli.bad_year", f"--year: '{text}' không phải là năm hợp lệ.") from None
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise InvalidInput("calendar.cli.bad_year", f"--year: chỉ hỗ trợ các năm {_FIRST_YEAR}–{_LAST_YEAR}.")
    return year
