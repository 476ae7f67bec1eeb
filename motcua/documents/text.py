"""Vietnamese formatting for documents: dates (dd/mm/yyyy HH:MM, Asia/Ho_Chi_Minh), dates in words, NFC."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from motcua.domain.clock import to_vn

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


def nfc(value: Any) -> Any:
    """NFC-normalise every string inside a structure of dicts, lists and tuples."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc(v) for v in value]
    return value


def _as_datetime(value: datetime | str) -> datetime:
    return to_vn(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return to_vn(value).date()
    if isinstance(value, str):
        return _as_datetime(value).date() if "T" in value else date.fromisoformat(value)
    return value


def vn_datetime(value: datetime | str | None) -> str:
    """`02/03/2026 09:00` in Ho Chi Minh City time; empty for None."""
    return "" if value is None or value == "" else _as_datetime(value).strftime("%d/%m/%Y %H:%M")


def vn_date(value: date | datetime | str | None) -> str:
    return "" if value is None or value == "" else _as_date(value).strftime("%d/%m/%Y")


def vn_long_date(value: date | datetime | str) -> str:
    """`ngày 02 tháng 03 năm 2026` (the place-and-date line of an administrative document)."""
    day = _as_date(value)
    return f"ngày {day:%d} tháng {day:%m} năm {day:%Y}"


def vn_time_and_date(value: datetime | str) -> str:
    """`09 giờ 00 phút, ngày 02/03/2026` (reception and appointment times on the one-stop forms)."""
    instant = _as_datetime(value)
    return f"{instant:%H} giờ {instant:%M} phút, ngày {instant:%d/%m/%Y}"


def _below_hundred(n: int, *, after_hundred: bool) -> str:
    tens, units = divmod(n, 10)
    if tens == 0:
        return (
            f"linh {_DIGITS[units]}" if after_hundred and units else ("" if after_hundred else _DIGITS[units])
        )
    head = "mười" if tens == 1 else f"{_DIGITS[tens]} mươi"
    if units == 0:
        return head
    if units == 1 and tens > 1:
        return f"{head} mốt"
    if units == 5:
        return f"{head} lăm"
    return f"{head} {_DIGITS[units]}"


def _below_thousand(n: int, *, full: bool) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0 and not full:
        return _below_hundred(rest, after_hundred=False)
    words = f"{_DIGITS[hundreds]} trăm"
    tail = _below_hundred(rest, after_hundred=True)
    return f"{words} {tail}" if tail else words


def number_in_words(n: int) -> str:
    """0 ≤ n ≤ 9999 in Vietnamese words: 2026 → «hai nghìn không trăm hai mươi sáu»."""
    if not 0 <= n <= 9999:
        raise ValueError("number_in_words covers 0..9999")
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _below_thousand(rest, full=False)
    words = f"{_DIGITS[thousands]} nghìn"
    return f"{words} {_below_thousand(rest, full=True)}" if rest else words


def date_in_words(value: date | datetime | str) -> str:
    """`Ngày ba mươi, tháng mười, năm hai nghìn không trăm hai mươi sáu` (dates of birth on civil records)."""
    day = _as_date(value)
    return (
        f"Ngày {number_in_words(day.day)}, tháng {number_in_words(day.month)}, "
        f"năm {number_in_words(day.year)}"
    )


def capitalize_first(value: str) -> str:
    """Upper-case the first letter only («ủy ban nhân dân phường …» → «Ủy ban nhân dân phường …»)."""
    return value[:1].upper() + value[1:]
