import json
import unicodedata
from datetime import date

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from motcua.cli.main import cli
from motcua.domain.errors import InvalidInput
from motcua.domain.identifiers import (
    format_dossier_code,
    load_province_codes,
    parse_agency_code,
    parse_cccd,
    parse_dossier_code,
    parse_mst,
)

TODAY = date(2026, 11, 23)


def error_code(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return caught.value.code


# --- CCCD ---


def test_cccd_parts_of_a_man_born_2003_registered_in_hcmc() -> None:
    info = parse_cccd("079203012345", today=TODAY)
    assert (info.province_code, info.province_name) == ("079", "Thành phố Hồ Chí Minh")
    assert (info.sex, info.century, info.birth_year, info.serial) == ("nam", 21, 2003, "012345")


def test_cccd_parts_of_a_woman_born_1985_registered_in_ha_noi() -> None:
    info = parse_cccd("001185000001", today=TODAY)
    assert (info.province_name, info.sex, info.century, info.birth_year) == (
        "Thành phố Hà Nội",
        "nữ",
        20,
        1985,
    )


@pytest.mark.parametrize(
    ("digit", "sex", "year"),
    [("0", "nam", 1999), ("1", "nữ", 1999), ("2", "nam", 2026), ("3", "nữ", 2026)],
)
def test_cccd_fourth_digit_encodes_century_and_sex(digit: str, sex: str, year: int) -> None:
    info = parse_cccd(f"074{digit}{year % 100:02d}123456", today=TODAY)
    assert (info.sex, info.birth_year) == (sex, year)


def test_cccd_surrounding_spaces_are_ignored_but_nothing_else() -> None:
    assert parse_cccd(" 079203012345\n", today=TODAY).number == "079203012345"
    assert error_code(parse_cccd, "079 203 012345", today=TODAY) == "cccd.not_digits"
    assert error_code(parse_cccd, "07920301234a", today=TODAY) == "cccd.not_digits"
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "079203012345")
    assert error_code(parse_cccd, arabic_indic, today=TODAY) == "cccd.not_digits"


@pytest.mark.parametrize("number", ["", "07920301234", "0792030123456"])
def test_cccd_must_have_twelve_digits(number: str) -> None:
    assert error_code(parse_cccd, number, today=TODAY) == "cccd.bad_length"


@pytest.mark.parametrize("prefix", ["000", "003", "078", "097", "100", "999"])
def test_cccd_province_prefix_must_be_in_the_code_list(prefix: str) -> None:
    assert error_code(parse_cccd, f"{prefix}203012345", today=TODAY) == "cccd.unknown_province"


def test_cccd_birth_year_after_today_is_rejected_relative_to_the_given_day() -> None:
    assert parse_cccd("079226000001", today=TODAY).birth_year == 2026
    assert error_code(parse_cccd, "079227000001", today=TODAY) == "cccd.future_birth_year"
    assert parse_cccd("079227000001", today=date(2027, 1, 1)).birth_year == 2027
    assert error_code(parse_cccd, "079400000001", today=TODAY) == "cccd.future_birth_year"  # year 2100


def test_cccd_rejection_message_is_vietnamese() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cccd("0792030", today=TODAY)
    assert "12 chữ số" in caught.value.message


def test_province_code_table_is_the_63_old_provinces() -> None:
    codes = load_province_codes()
    assert len(codes) == 63
    assert all(len(code) == 3 and 1 <= int(code) <= 96 for code in codes)
    assert codes["001"] == "Thành phố Hà Nội"
    assert codes["031"] == "Thành phố Hải Phòng"
    assert codes["048"] == "Thành phố Đà Nẵng"
    assert codes["074"] == "Tỉnh Bình Dương"
    assert codes["077"] == "Tỉnh Bà Rịa - Vũng Tàu"
    assert codes["096"] == "Tỉnh Cà Mau"
    assert all(unicodedata.is_normalized("NFC", name) for name in codes.values())


@given(
    st.sampled_from(sorted(load_province_codes())),
    st.sampled_from("0123"),
    st.integers(0, 99),
    st.from_regex(r"[0-9]{6}", fullmatch=True),
)
def test_cccd_parts_rebuild_the_number(province: str, digit: str, yy: int, serial: str) -> None:
    number = f"{province}{digit}{yy:02d}{serial}"
    today = date(2099, 12, 31)
    info = parse_cccd(number, today=today)
    assert info.number == number
    assert info.birth_year % 100 == yy
    assert (info.century - 1) * 100 <= info.birth_year < info.century * 100
    assert info.serial == serial


# --- MST ---


@pytest.mark.parametrize(
    "number", ["0100109106", "0300588569", "0100112437", "0100233488", "0314409058-002", "0312687878-001"]
)
def test_known_real_tax_codes_are_valid(number: str) -> None:
    assert parse_mst(number).normalized == number


def test_mst_parts_and_branch_normalisation() -> None:
    info = parse_mst(" 0314409058002 ")
    assert info.normalized == "0314409058-002"
    assert (info.province_prefix, info.sequence, info.check_digit, info.branch) == (
        "03",
        "1440905",
        "8",
        "002",
    )
    assert info.head_office == "0314409058"
    assert parse_mst("0100109106").branch is None


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("0100109107", "mst.bad_checksum"),
        ("0314409059-002", "mst.bad_checksum"),
        ("0314409058-000", "mst.bad_branch"),
        ("010010910", "mst.bad_format"),
        ("01001091061", "mst.bad_format"),
        ("0314409058-02", "mst.bad_format"),
        ("0314409058 002", "mst.bad_format"),
        ("01.00.109.106", "mst.bad_format"),
        ("010010910X", "mst.bad_format"),
        ("", "mst.bad_format"),
    ],
)
def test_invalid_tax_codes_get_a_specific_reason(number: str, code: str) -> None:
    assert error_code(parse_mst, number) == code


def _domain_check_digit(first_nine: str) -> int | None:
    """DOMAIN §1.6: N10 = 10 - (sum Ni*Wi mod 11); remainder 0 means no valid number for that prefix."""
    weights = [31, 29, 23, 19, 17, 13, 7, 5, 3]
    remainder = sum(w * int(n) for w, n in zip(weights, first_nine, strict=True)) % 11
    return None if remainder == 0 else 10 - remainder


@given(st.from_regex(r"[0-9]{2}[1-9][0-9]{6}", fullmatch=True), st.integers(0, 9))
def test_mst_check_digit_follows_the_weighted_sum(first_nine: str, digit: int) -> None:
    expected = _domain_check_digit(first_nine)
    if digit == expected:
        assert parse_mst(f"{first_nine}{digit}").check_digit == str(digit)
    else:
        assert error_code(parse_mst, f"{first_nine}{digit}") == "mst.bad_checksum"


# --- dossier code ---


def test_dossier_code_format() -> None:
    assert format_dossier_code("000.00.00.H29", date(2026, 3, 10), 420) == "000.00.00.H29-260310-0420"
    assert format_dossier_code("000.00.00.H29", date(2026, 3, 10), 12345) == "000.00.00.H29-260310-12345"


def test_dossier_code_parse_accepts_a_legacy_agency_code() -> None:
    parts = parse_dossier_code("38.98.H29-210519-0013")
    assert (parts.agency_code, parts.day, parts.seq) == ("38.98.H29", date(2021, 5, 19), 13)


@pytest.mark.parametrize(
    "code",
    [
        "000.00.00.H29-260230-0001",  # 30 February
        "000.00.00.H29-261301-0001",
        "000.00.00.H29-260310-042",
        "000.00.00.h29-260310-0420",
        "000.00.00.H29-260310",
        "000.00.00.H29_260310_0420",
        "-260310-0420",
        "000.00.00.H29-260310-0420-1",
    ],
)
def test_malformed_dossier_codes_are_rejected(code: str) -> None:
    assert error_code(parse_dossier_code, code) == "dossier_code.invalid"


@pytest.mark.parametrize(
    ("agency", "day", "seq"),
    [
        ("000.00.00.h29", date(2026, 1, 5), 1),
        ("000.00.00.H29", date(2026, 1, 5), 0),
        ("X", date(1999, 12, 31), 1),
    ],
)
def test_format_refuses_what_parse_would_reject(agency: str, day: date, seq: int) -> None:
    assert error_code(format_dossier_code, agency, day, seq) == "dossier_code.invalid"


@given(
    st.from_regex(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}", fullmatch=True),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    st.integers(1, 10**7),
)
def test_dossier_code_round_trip(agency: str, day: date, seq: int) -> None:
    parts = parse_dossier_code(format_dossier_code(agency, day, seq))
    assert (parts.agency_code, parts.day, parts.seq) == (agency, day, seq)


# --- agency code ---


def test_agency_code_four_levels() -> None:
    code = parse_agency_code("000.00.15.H29")
    assert (code.level4, code.level3, code.level2, code.level1, code.legacy) == (
        "000",
        "00",
        "15",
        "H29",
        False,
    )
    assert parse_agency_code("068.00.29.G01").level1 == "G01"


def test_agency_code_legacy_three_levels_is_flagged() -> None:
    code = parse_agency_code("00.15.H29")
    assert (code.level4, code.level3, code.level2, code.level1, code.legacy) == (
        None,
        "00",
        "15",
        "H29",
        True,
    )


@pytest.mark.parametrize(
    "code", ["", "000.00.00.h29", "00.00.00.H29", "000.00.00.H2", "000-00-00-H29", "000.00.00.00.H29", "H29"]
)
def test_malformed_agency_codes_are_rejected(code: str) -> None:
    assert error_code(parse_agency_code, code) == "agency_code.invalid"


# --- CLI ---


def test_cli_validate_cccd_prints_parts_as_json() -> None:
    result = CliRunner().invoke(cli, ["validate", "cccd", "079185000123"])
    assert result.exit_code == 0
    assert "Thành phố Hồ Chí Minh" in result.stdout  # not \u-escaped
    assert json.loads(result.stdout)["sex"] == "nữ"


def test_cli_validate_mst_normalises_branch() -> None:
    result = CliRunner().invoke(cli, ["validate", "mst", "0314409058002"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["normalized"] == "0314409058-002"


@pytest.mark.parametrize(
    ("args", "code"),
    [(["cccd", "12345"], "cccd.bad_length"), (["mst", "0100109107"], "mst.bad_checksum")],
)
def test_cli_validate_rejects_with_one_vietnamese_line(args: list[str], code: str) -> None:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert code in result.stderr
    assert "không" in result.stderr.lower()
