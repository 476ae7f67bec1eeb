"""Vietnamese formatting on documents: dates in Ho Chi Minh City time, numbers and dates in words, NFC."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from motcua.documents.text import (
    capitalize_first,
    date_in_words,
    nfc,
    number_in_words,
    vn_date,
    vn_datetime,
    vn_long_date,
    vn_time_and_date,
)
from motcua.domain.clock import VN_TZ


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "không"),
        (1, "một"),
        (10, "mười"),
        (11, "mười một"),
        (15, "mười lăm"),
        (21, "hai mươi mốt"),
        (24, "hai mươi bốn"),
        (25, "hai mươi lăm"),
        (30, "ba mươi"),
        (105, "một trăm linh năm"),
        (110, "một trăm mười"),
        (1990, "một nghìn chín trăm chín mươi"),
        (2000, "hai nghìn"),
        (2005, "hai nghìn không trăm linh năm"),
        (2026, "hai nghìn không trăm hai mươi sáu"),
        (2100, "hai nghìn một trăm"),
    ],
)
def test_numbers_are_written_the_vietnamese_way(number: int, words: str) -> None:
    assert number_in_words(number) == words


def test_a_birth_date_in_words_as_on_civil_status_records() -> None:
    assert date_in_words("2026-10-30") == ("Ngày ba mươi, tháng mười, năm hai nghìn không trăm hai mươi sáu")
    assert date_in_words(date(2025, 1, 1)) == "Ngày một, tháng một, năm hai nghìn không trăm hai mươi lăm"


@given(st.integers(min_value=0, max_value=9999))
def test_every_number_has_words_without_stray_spaces(number: int) -> None:
    words = number_in_words(number)
    assert words == " ".join(words.split()) and words
    assert not re.search(r"\d", words)


def test_out_of_range_numbers_are_refused() -> None:
    with pytest.raises(ValueError):
        number_in_words(10000)


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_instants_print_in_ho_chi_minh_city_time(instant: datetime) -> None:
    local = instant.astimezone(VN_TZ)
    assert vn_datetime(instant) == local.strftime("%d/%m/%Y %H:%M")
    assert vn_datetime(instant.isoformat()) == vn_datetime(instant)
    assert vn_date(instant) == local.strftime("%d/%m/%Y")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", vn_datetime(instant))


def test_document_date_lines() -> None:
    at = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)  # 09:30 in Ho Chi Minh City
    assert vn_long_date(at) == "ngày 02 tháng 03 năm 2026"
    assert vn_time_and_date(at) == "09 giờ 30 phút, ngày 02/03/2026"
    assert vn_datetime(None) == "" and vn_date("") == ""


def test_text_is_nfc_normalised_throughout_a_structure() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
    assert decomposed != "Nguyễn Thị Ánh"
    assert nfc({"a": [decomposed, {"b": (decomposed,)}], "n": 3}) == {
        "a": ["Nguyễn Thị Ánh", {"b": ["Nguyễn Thị Ánh"]}],
        "n": 3,
    }
    assert capitalize_first("ủy ban nhân dân phường Sài Gòn") == "Ủy ban nhân dân phường Sài Gòn"
