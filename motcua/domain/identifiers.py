"""Vietnamese identifiers: personal ID (CCCD), enterprise/tax code (MST), dossier code, agency code.

Rules and sources: DOMAIN.md §1.1, §1.2, §1.5, §1.6.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Literal

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.vn import mst as stdnum_mst

from motcua.domain.errors import InvalidInput

Sex = Literal["nam", "nữ"]

_DIGITS = re.compile(r"[0-9]*")


def read_units_data(filename: str) -> str:
    """The text of a file shipped in the package folder `motcua/data/units/`."""
    return (files("motcua.data") / "units" / filename).read_text(encoding="utf-8")


@cache
def load_province_codes() -> Mapping[str, str]:
    """The 63 old province codes (001–096) used as the first three CCCD digits, with Vietnamese names."""
    text = read_units_data("province_codes.tsv")
    return {row["code"]: row["name"] for row in csv.DictReader(text.splitlines(), delimiter="\t")}


# --- CCCD / số định danh cá nhân (12 digits, no check digit) ---


@dataclass(frozen=True)
class CccdInfo:
    number: str
    province_code: str
    province_name: str
    sex: Sex
    century: int  # 20 = 1900–1999, 21 = 2000–2099, … (the law's "thế kỷ")
    birth_year: int
    serial: str


def parse_cccd(number: str, *, today: date) -> CccdInfo:
    """Split a 12-digit personal ID into its parts, rejecting what cannot be a real number.

    Digits 1–3: province of birth registration; digit 4: century and sex (even = nam, odd = nữ,
    0/1 = 1900s … 8/9 = 2300s); digits 5–6: birth year within the century; 7–12: serial.
    There is no check digit, so a well-formed number can still be unissued.
    """
    value = number.strip()
    if not _DIGITS.fullmatch(value):
        raise InvalidInput("cccd.not_digits", "Số định danh cá nhân chỉ được gồm chữ số.", number=number)
    if len(value) != 12:
        raise InvalidInput(
            "cccd.bad_length",
            f"Số định danh cá nhân phải có đúng 12 chữ số (đã nhập {len(value)} chữ số).",
            length=len(value),
        )
    province_code = value[:3]
    province_name = load_province_codes().get(province_code)
    if province_name is None:
        raise InvalidInput(
            "cccd.unknown_province",
            f"Mã tỉnh nơi đăng ký khai sinh {province_code} không có trong danh mục mã tỉnh (001–096).",
            province_code=province_code,
        )
    century_digit = int(value[3])
    birth_year = 1900 + 100 * (century_digit // 2) + int(value[4:6])
    if birth_year > today.year:
        raise InvalidInput(
            "cccd.future_birth_year",
            f"Năm sinh {birth_year} suy ra từ số định danh cá nhân lớn hơn năm hiện tại ({today.year}).",
            birth_year=birth_year,
        )
    return CccdInfo(
        number=value,
        province_code=province_code,
        province_name=province_name,
        sex="nam" if century_digit % 2 == 0 else "nữ",
        century=20 + century_digit // 2,
        birth_year=birth_year,
        serial=value[6:],
    )


# --- MST / mã số doanh nghiệp (10 digits + check digit, branches -NNN) ---


@dataclass(frozen=True)
class MstInfo:
    normalized: str  # "0314409058-002" or "0100109106"
    province_prefix: str  # N1–N2: province of first registration (tax-authority numbering)
    sequence: str  # N3–N9
    check_digit: str  # N10
    branch: str | None  # NNN of a dependent unit, else None

    @property
    def head_office(self) -> str:
        """The 10-digit code of the enterprise itself (for a branch: its parent)."""
        return self.normalized[:10]


_MST = re.compile(r"(?P<head>[0-9]{10})(?:-?(?P<branch>[0-9]{3}))?")


def parse_mst(number: str) -> MstInfo:
    """Validate an enterprise/tax code: 10 digits, or 13 as `XXXXXXXXXX-NNN` (dash optional on input)."""
    match = _MST.fullmatch(number.strip())
    if match is None:
        raise InvalidInput(
            "mst.bad_format",
            "Mã số doanh nghiệp phải gồm 10 chữ số, hoặc 13 chữ số dạng XXXXXXXXXX-NNN với đơn vị phụ thuộc.",
            number=number,
        )
    head, branch = match["head"], match["branch"]
    if branch == "000":
        raise InvalidInput("mst.bad_branch", "Số thứ tự đơn vị phụ thuộc phải từ 001 đến 999.", branch=branch)
    try:
        stdnum_mst.validate(head + (branch or ""))
    except InvalidChecksum:
        raise InvalidInput(
            "mst.bad_checksum",
            "Chữ số kiểm tra (chữ số thứ 10) của mã số doanh nghiệp không đúng.",
            number=head,
        ) from None
    except (InvalidComponent, InvalidFormat, InvalidLength):
        raise InvalidInput(
            "mst.bad_format",
            "Mã số doanh nghiệp không hợp lệ: số thứ tự (chữ số 3–9) không được là 0000000.",
            number=head,
        ) from None
    return MstInfo(
        normalized=head if branch is None else f"{head}-{branch}",
        province_prefix=head[:2],
        sequence=head[2:9],
        check_digit=head[9],
        branch=branch,
    )


# --- Agency electronic identifier (mã định danh điện tử cơ quan) ---


@dataclass(frozen=True)
class AgencyCode:
    code: str
    level1: str  # "H29" (province) or "G01" (central/vertical)
    level2: str
    level3: str
    level4: str | None  # None for the legacy three-level form
    legacy: bool  # True for the pre-2020 QCVN 102:2016 form `LL.LL.Xnn`


_AGENCY_4 = re.compile(r"(?P<l4>[0-9]{3})\.(?P<l3>[0-9]{2})\.(?P<l2>[0-9]{2})\.(?P<l1>[A-Z][0-9]{2})")
_AGENCY_3 = re.compile(r"(?P<l3>[0-9]{2})\.(?P<l2>[0-9]{2})\.(?P<l1>[A-Z][0-9]{2})")


def parse_agency_code(code: str) -> AgencyCode:
    """Parse `LLL.LL.LL.Xnn` (cấp 4.cấp 3.cấp 2.cấp 1, e.g. `000.00.00.H29`) or the legacy `LL.LL.Xnn`."""
    value = code.strip()
    if match := _AGENCY_4.fullmatch(value):
        return AgencyCode(value, match["l1"], match["l2"], match["l3"], match["l4"], legacy=False)
    if match := _AGENCY_3.fullmatch(value):
        return AgencyCode(value, match["l1"], match["l2"], match["l3"], None, legacy=True)
    raise InvalidInput(
        "agency_code.invalid",
        f"Mã định danh cơ quan «{code}» không đúng dạng LLL.LL.LL.Xnn (ví dụ 000.00.00.H29).",
        value=code,
    )


# --- Dossier code (mã hồ sơ): <agency code>-<yymmdd>-<daily sequence> ---


@dataclass(frozen=True)
class DossierCodeParts:
    agency_code: str
    day: date
    seq: int


_DOSSIER = re.compile(r"^(?P<agency>[0-9A-Z.]+)-(?P<yymmdd>\d{6})-(?P<seq>\d{4,})$", re.ASCII)
_DOSSIER_AGENCY = re.compile(r"[0-9A-Z.]+")


def format_dossier_code(agency_code: str, day: date, seq: int) -> str:
    """`<agency code>-<yymmdd>-<seq>`, the sequence zero-padded to at least 4 digits (2000–2099 only)."""
    if not _DOSSIER_AGENCY.fullmatch(agency_code):
        raise InvalidInput(
            "dossier_code.invalid",
            f"Mã cơ quan «{agency_code}» không dùng được trong mã hồ sơ.",
            value=agency_code,
        )
    if seq < 1:
        raise InvalidInput("dossier_code.invalid", "Số thứ tự hồ sơ trong ngày phải từ 1 trở lên.", seq=seq)
    if not 2000 <= day.year <= 2099:
        raise InvalidInput("dossier_code.invalid", "Mã hồ sơ chỉ hỗ trợ ngày từ năm 2000 đến 2099.", day=day)
    return f"{agency_code}-{day:%y%m%d}-{seq:04d}"


def parse_dossier_code(code: str) -> DossierCodeParts:
    """Split a dossier code into agency code, receipt date (20yy) and daily sequence."""
    match = _DOSSIER.fullmatch(code.strip())
    if match is None:
        raise _invalid_dossier_code(code)
    yymmdd = match["yymmdd"]
    try:
        day = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        raise _invalid_dossier_code(code) from None
    return DossierCodeParts(agency_code=match["agency"], day=day, seq=int(match["seq"]))


def _invalid_dossier_code(code: str) -> InvalidInput:
    return InvalidInput(
        "dossier_code.invalid",
        f"Mã hồ sơ «{code}» không đúng dạng <mã cơ quan>-<yymmdd>-<số thứ tự 4 chữ số>.",
        value=code,
    )
