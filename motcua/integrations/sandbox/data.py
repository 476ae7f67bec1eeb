"""Synthetic but valid national data for the sandbox, deterministic from the identifiers.

* The **demo families** are fixed: Nguyễn Văn An (079090001234) and his wife Trần Thị Bình (079192004321)
  with their son (under 6), An's father (a pensioner) and An's mother, whose death the hospital has notified
  but nobody has registered yet (the death bundle's demo); the company 0300588569, represented by An.
* A **seeded world** of households (same seed → same people) gives couples, children and relatives.
* Any **other valid** personal ID or enterprise code gets a standalone record generated from the number
  itself, so typing any valid number auto-fills. Personal IDs follow DOMAIN.md §1.5 (province prefix,
  century/sex digit, birth year); enterprise codes carry a valid check digit (python-stdnum).
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from stdnum.vn import mst as stdnum_mst

from motcua.domain.clock import VN_TZ
from motcua.domain.errors import InvalidInput
from motcua.domain.identifiers import load_province_codes, parse_cccd, parse_mst, read_units_data

SEED = 2026
HOUSEHOLDS = 40
CITY = "Thành phố Hồ Chí Minh"
FUNERAL_ALLOWANCE_VND = 23_400_000  # 10 × the base salary of 2,340,000 đồng (Decree 73/2024)

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ")
MIDDLE = {"Nam": ("Văn", "Minh", "Đức", "Quốc", "Hữu", "Thanh"), "Nữ": ("Thị", "Ngọc", "Thu", "Mỹ", "Thanh")}
GIVEN = {
    "Nam": (
        "An",
        "Bảo",
        "Cường",
        "Dũng",
        "Hải",
        "Hùng",
        "Khang",
        "Long",
        "Nam",
        "Phúc",
        "Quang",
        "Sơn",
        "Tài",
    ),
    "Nữ": ("Anh", "Chi", "Dung", "Hà", "Hạnh", "Hoa", "Lan", "Linh", "Mai", "Nhung", "Phương", "Thảo", "Vy"),
}
STREETS = (
    "Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Pasteur", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Võ Văn Tần",
    "Nguyễn Thị Minh Khai", "Trần Hưng Đạo", "Lý Tự Trọng", "Nguyễn Trãi", "Phan Xích Long",
)  # fmt: skip
HOSPITALS = ("Bệnh viện Từ Dũ", "Bệnh viện Hùng Vương", "Bệnh viện Nhi Đồng 1", "Bệnh viện Chợ Rẫy")
BUSINESS_WORDS = ("Sao Mai", "Phương Nam", "Bến Nghé", "Thành Đạt", "Hưng Thịnh", "Tân Tiến", "Gia Định")


def today() -> date:
    return datetime.now(VN_TZ).date()


@dataclass
class Person:
    personal_id: str
    full_name: str
    date_of_birth: date
    sex: str  # "Nam" | "Nữ"
    household_id: str
    relation_to_head: str
    hometown: str = CITY
    father_id: str | None = None
    mother_id: str | None = None
    spouse_id: str | None = None
    married_on: date | None = None
    children_ids: list[str] = field(default_factory=list)
    died_on: date | None = None
    death_place: str | None = None
    death_registered_on: date | None = None
    employed: bool = False
    pensioner: bool = False
    birth_place: str = f"Bệnh viện Từ Dũ, {CITY}"


@dataclass
class Household:
    id: str
    address: str
    ward: str
    member_ids: list[str] = field(default_factory=list)

    @property
    def head_id(self) -> str:
        return self.member_ids[0]


@dataclass
class Enterprise:
    code: str
    name: str
    short_name: str | None
    legal_form: str
    address: str
    registered_on: date
    capital_vnd: int
    representative_id: str
    representative_title: str
    business_code: str = "4690"
    business_name: str = "Bán buôn tổng hợp"
    status: str = "Đang hoạt động"
    outstanding_tax_vnd: int = 0


def _wards() -> tuple[str, ...]:
    rows = csv.DictReader(read_units_data("hcmc_units_2025.tsv").splitlines(), delimiter="\t")
    return tuple(row["name"] for row in rows if row["type"] == "Phường")


def century_digit(year: int, sex: str) -> int:
    return 2 * ((year - 1900) // 100) + (1 if sex == "Nữ" else 0)


def make_personal_id(province: str, born: date, sex: str, serial: int) -> str:
    return f"{province}{century_digit(born.year, sex)}{born.year % 100:02d}{serial % 1_000_000:06d}"


def make_enterprise_code(rng: random.Random, prefix: str = "03") -> str:
    """A 10-digit code with a valid check digit (prefixes whose remainder would be 10 are skipped)."""
    while True:
        head = prefix + f"{rng.randrange(1, 10_000_000):07d}"
        check = stdnum_mst.calc_check_digit(head)
        if len(check) == 1 and stdnum_mst.is_valid(head + check):
            return head + check


def _place(ward: str) -> str:
    """ "Phường Sài Gòn" → "phường Sài Gòn" (inside an address)."""
    kind, _, name = ward.partition(" ")
    return f"{kind.lower()} {name}" if name else ward


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


class World:
    """Every person, household and enterprise the sandbox knows; anything else is generated on demand."""

    def __init__(self, *, seed: int = SEED, households: int = HOUSEHOLDS) -> None:
        self.seed = seed
        self.wards = _wards()
        self.people: dict[str, Person] = {}
        self.households: dict[str, Household] = {}
        self.enterprises: dict[str, Enterprise] = {}
        self._demo()
        for index in range(households):
            self._household(random.Random(f"{seed}:household:{index}"), index)

    # -------------------------------------------------------------- lookups

    def person(self, personal_id: str) -> Person | None:
        """A known person, or a standalone one generated from a valid number; None for an invalid number."""
        if personal_id in self.people:
            return self.people[personal_id]
        try:
            info = parse_cccd(personal_id, today=today())
        except InvalidInput:
            return None
        return self._standalone(personal_id, info.birth_year, "Nam" if info.sex == "nam" else "Nữ")

    def enterprise(self, code: str) -> Enterprise | None:
        try:
            normalized = parse_mst(code).normalized
        except InvalidInput:
            return None
        if normalized in self.enterprises:
            return self.enterprises[normalized]
        head = self.enterprises.get(normalized[:10]) or self._generated_enterprise(normalized[:10])
        if len(normalized) == 10:
            return head
        branch = normalized[11:]
        return Enterprise(
            code=normalized,
            name=f"Chi nhánh {int(branch)} - {head.name}",
            short_name=None,
            legal_form="Chi nhánh",
            address=head.address,
            registered_on=head.registered_on + timedelta(days=400),
            capital_vnd=0,
            representative_id=head.representative_id,
            representative_title="Giám đốc chi nhánh",
        )

    def household_of(self, person: Person) -> Household:
        return self.households[person.household_id]

    def stranger(self, not_id: str) -> Person:
        """Someone else's record (outside `not_id`'s household), for the "someone else's data" fault."""
        own = self.people.get(not_id)
        for household in self.households.values():
            if own is None or household.id != own.household_id:
                return self.people[household.head_id]
        raise AssertionError("the world has at least two households")

    # -------------------------------------------------------------- building

    def _add_household(self, household_id: str, ward: str, address: str) -> Household:
        household = Household(household_id, address, ward)
        self.households[household_id] = household
        return household

    def _add(self, person: Person) -> Person:
        self.people[person.personal_id] = person
        self.households[person.household_id].member_ids.append(person.personal_id)
        return person

    def _demo(self) -> None:
        home = self._add_household(
            "HK79-0000001", "Phường Sài Gòn", f"25 Lê Thánh Tôn, phường Sài Gòn, {CITY}"
        )
        hid = home.id
        an = self._add(Person("079090001234", "Nguyễn Văn An", date(1990, 5, 14), "Nam", hid, "Chủ hộ"))
        binh = self._add(Person("079192004321", "Trần Thị Bình", date(1992, 8, 21), "Nữ", hid, "Vợ"))
        khoi = self._add(Person("079222001357", "Nguyễn Minh Khôi", date(2022, 3, 10), "Nam", hid, "Con"))
        tam = self._add(Person("079060001122", "Nguyễn Văn Tâm", date(1960, 2, 3), "Nam", hid, "Cha"))
        hong = self._add(Person("079162003344", "Lê Thị Hồng", date(1962, 9, 30), "Nữ", hid, "Mẹ"))
        an.father_id, an.mother_id = tam.personal_id, hong.personal_id
        an.spouse_id, binh.spouse_id = binh.personal_id, an.personal_id
        an.married_on = binh.married_on = date(2019, 11, 9)
        tam.spouse_id, hong.spouse_id = hong.personal_id, tam.personal_id
        tam.married_on = hong.married_on = date(1988, 1, 20)
        tam.children_ids = [an.personal_id]
        hong.children_ids = [an.personal_id]
        khoi.father_id, khoi.mother_id = an.personal_id, binh.personal_id
        an.children_ids = binh.children_ids = [khoi.personal_id]
        an.employed = binh.employed = True
        tam.pensioner = hong.pensioner = True
        # The hospital's electronic death notice has reached the population database; the death is not
        # registered yet (no civil-status death record): the demo of the death bundle.
        hong.died_on, hong.death_place = date(2026, 2, 20), f"Bệnh viện Chợ Rẫy, phường Chợ Lớn, {CITY}"
        self.enterprises["0300588569"] = Enterprise(
            code="0300588569",
            name="Công ty TNHH Một Cửa Sài Gòn",
            short_name="MOT CUA SAI GON CO., LTD",
            legal_form="Công ty trách nhiệm hữu hạn một thành viên",
            address=f"86 Lê Thánh Tôn, phường Sài Gòn, {CITY}",
            registered_on=date(2008, 6, 2),
            capital_vnd=5_000_000_000,
            representative_id=an.personal_id,
            representative_title="Giám đốc",
            business_code="6201",
            business_name="Lập trình máy vi tính",
        )

    def _name(self, rng: random.Random, sex: str, surname: str | None = None) -> str:
        return f"{surname or rng.choice(SURNAMES)} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])}"

    def _new_id(self, rng: random.Random, born: date, sex: str, province: str = "079") -> str:
        while True:
            personal_id = make_personal_id(province, born, sex, rng.randrange(1, 1_000_000))
            if personal_id not in self.people:
                return personal_id

    def _born(self, rng: random.Random, first: int, last: int) -> date:
        year = rng.randint(first, last)
        return date(year, 1, 1) + timedelta(days=rng.randrange(365 if year < today().year else 30))

    def _household(self, rng: random.Random, index: int) -> None:
        ward = rng.choice(self.wards)
        address = f"{rng.randint(1, 399)} {rng.choice(STREETS)}, {_place(ward)}, {CITY}"
        home = self._add_household(f"HK79-{index + 2:07d}", ward, address)
        head_born = self._born(rng, 1958, 1996)
        head = Person("", "", head_born, "Nam", home.id, "Chủ hộ", employed=True)
        head.full_name = self._name(rng, "Nam")
        head.personal_id = self._new_id(
            rng, head_born, "Nam", rng.choice(("079", "079", "075", "080", "001"))
        )
        self._add(head)
        wife_born = self._born(rng, head_born.year - 2, min(head_born.year + 6, 2000))
        wife = Person(
            self._new_id(rng, wife_born, "Nữ"), self._name(rng, "Nữ"), wife_born, "Nữ", home.id, "Vợ"
        )
        wife.employed = rng.random() < 0.7
        self._add(wife)
        head.spouse_id, wife.spouse_id = wife.personal_id, head.personal_id
        head.married_on = wife.married_on = date(max(head_born.year, wife_born.year) + 24, 6, 1 + index % 28)
        surname = head.full_name.split()[0]
        for _ in range(rng.randint(0, 3)):
            first = max(wife_born.year + 20, head.married_on.year)
            if first > 2025:
                break
            sex = rng.choice(("Nam", "Nữ"))
            born = self._born(rng, first, 2025)
            child = Person(
                self._new_id(rng, born, sex), self._name(rng, sex, surname), born, sex, home.id, "Con"
            )
            child.father_id, child.mother_id = head.personal_id, wife.personal_id
            child.employed = born.year < 2000
            self._add(child)
            head.children_ids.append(child.personal_id)
            wife.children_ids.append(child.personal_id)
        if index % 4 == 0:  # the head's widowed mother lives with them; in some households she has died
            born = self._born(rng, 1930, 1950)
            mother = Person(self._new_id(rng, born, "Nữ"), self._name(rng, "Nữ"), born, "Nữ", home.id, "Mẹ")
            mother.pensioner = True
            mother.children_ids = [head.personal_id]
            head.mother_id = mother.personal_id
            if index % 8 == 0:
                mother.died_on = date(2025, 1 + index % 12, 10)
                mother.death_place = f"{rng.choice(HOSPITALS)}, {CITY}"
                mother.death_registered_on = mother.died_on + timedelta(days=3)
            self._add(mother)

    def _standalone(self, personal_id: str, birth_year: int, sex: str) -> Person:
        rng = random.Random(f"{self.seed}:person:{personal_id}")
        last_day = today() if birth_year == today().year else date(birth_year, 12, 31)
        born = date(birth_year, 1, 1) + timedelta(
            days=rng.randrange((last_day - date(birth_year, 1, 1)).days + 1)
        )
        household_id = f"HK79-9{_digest(personal_id) % 1_000_000:06d}"
        ward = rng.choice(self.wards)
        if household_id not in self.households:
            address = f"{rng.randint(1, 399)} {rng.choice(STREETS)}, {_place(ward)}, {CITY}"
            self.households[household_id] = Household(household_id, address, ward, [personal_id])
        age = today().year - birth_year
        province = load_province_codes().get(personal_id[:3], CITY)
        person = Person(
            personal_id,
            self._name(rng, sex),
            born,
            sex,
            household_id,
            "Chủ hộ",
            hometown=province,
            employed=18 <= age < 60 and rng.random() < 0.6,
            pensioner=age >= 60,
            birth_place=f"{rng.choice(HOSPITALS)}, {province}" if province == CITY else province,
        )
        self.people[personal_id] = person
        return person

    def _generated_enterprise(self, code: str) -> Enterprise:
        rng = random.Random(f"{self.seed}:enterprise:{code}")
        word = rng.choice(BUSINESS_WORDS)
        form = rng.choice(("Công ty TNHH", "Công ty Cổ phần"))
        born = self._born(rng, 1960, 1995)
        representative = self.person(make_personal_id("079", born, "Nam", rng.randrange(1, 1_000_000)))
        assert representative is not None
        enterprise = Enterprise(
            code=code,
            name=f"{form} {word} {rng.choice(('Thương mại', 'Dịch vụ', 'Xây dựng', 'Công nghệ'))}",
            short_name=None,
            legal_form=(
                "Công ty trách nhiệm hữu hạn hai thành viên trở lên"
                if form == "Công ty TNHH"
                else "Công ty cổ phần"
            ),
            address=f"{rng.randint(1, 399)} {rng.choice(STREETS)}, {_place(rng.choice(self.wards))}, {CITY}",
            registered_on=date(rng.randint(2000, 2024), rng.randint(1, 12), rng.randint(1, 28)),
            capital_vnd=rng.choice((1, 2, 5, 10, 50)) * 1_000_000_000,
            representative_id=representative.personal_id,
            representative_title=rng.choice(("Giám đốc", "Tổng Giám đốc", "Chủ tịch Hội đồng quản trị")),
        )
        self.enterprises[code] = enterprise
        return enterprise

    def newborn(self, body: dict[str, Any]) -> Person:
        """Assign a personal ID to a newborn whose birth is being registered (same data, same number)."""
        mother = self.people.get(str(body.get("mother_id") or ""))
        father = self.people.get(str(body.get("father_id") or ""))
        born = date.fromisoformat(str(body["date_of_birth"]))
        sex = "Nữ" if body.get("sex") == "Nữ" else "Nam"
        serial = _digest(body.get("mother_id"), body.get("father_id"), body.get("full_name"), born)
        personal_id = make_personal_id("079", born, sex, serial)
        if personal_id in self.people:
            return self.people[personal_id]
        parent = mother or father
        household_id = parent.household_id if parent else f"HK79-8{serial % 1_000_000:06d}"
        if household_id not in self.households:
            self.households[household_id] = Household(household_id, str(body.get("address") or CITY), "")
        child = Person(personal_id, str(body["full_name"]), born, sex, household_id, "Con")
        child.father_id = father.personal_id if father else None
        child.mother_id = mother.personal_id if mother else None
        child.birth_place = str(body.get("birth_place") or child.birth_place)
        self._add(child)
        for known in (mother, father):
            if known is not None:
                known.children_ids.append(personal_id)
        return child


# ------------------------------------------------------------------ replies (the registries' JSON)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _name_of(world: World, personal_id: str | None) -> str | None:
    person = world.people.get(personal_id or "")
    return person.full_name if person else None


def _age(person: Person, on: date) -> int:
    born = person.date_of_birth
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def citizen_reply(world: World, person: Person) -> dict[str, Any]:
    household = world.household_of(person)
    head = world.people.get(household.head_id)
    marital = "Đã kết hôn" if person.spouse_id else "Chưa kết hôn"
    return {
        "reference": f"CSDLQGDC-{person.personal_id}",
        "personal_id": person.personal_id,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat(),
        "sex": person.sex,
        "ethnicity": "Kinh",
        "nationality": "Việt Nam",
        "hometown": person.hometown,
        "birth_place": person.birth_place,
        "marital_status": marital,
        "father_id": person.father_id,
        "father_name": _name_of(world, person.father_id),
        "mother_id": person.mother_id,
        "mother_name": _name_of(world, person.mother_id),
        "spouse_id": person.spouse_id,
        "spouse_name": _name_of(world, person.spouse_id),
        "children_ids": list(person.children_ids),
        "alive": person.died_on is None,
        "permanent_address": household.address,
        "temporary_address": None,
        "household_id": household.id,
        "household_head_name": head.full_name if head else None,
        "household_head_id": household.head_id,
        "relation_to_head": person.relation_to_head,
        "household_member_ids": list(household.member_ids),
        "died_on": _iso(person.died_on),
        "death_place": person.death_place,
    }


def civil_status_reply(world: World, person: Person) -> dict[str, Any]:
    serial = _digest("birth", person.personal_id)
    registered_on = person.date_of_birth + timedelta(days=7 + serial % 20)
    ward = world.household_of(person).ward or "Phường Sài Gòn"
    death = person.died_on is not None and person.death_registered_on is not None
    return {
        "reference": f"HT-{person.personal_id}",
        "personal_id": person.personal_id,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat(),
        "sex": person.sex,
        "birth_place": person.birth_place,
        "birth_registration_number": f"{serial % 900 + 100}/{registered_on.year}",
        "birth_registered_on": registered_on.isoformat(),
        "birth_registered_at": f"Ủy ban nhân dân {_place(ward)}",
        "father_id": person.father_id,
        "father_name": _name_of(world, person.father_id),
        "mother_id": person.mother_id,
        "mother_name": _name_of(world, person.mother_id),
        "children_ids": list(person.children_ids),
        "marital_status": "Đã kết hôn" if person.spouse_id else "Chưa kết hôn",
        "spouse_id": person.spouse_id,
        "spouse_name": _name_of(world, person.spouse_id),
        "marriage_registration_number": (
            f"{_digest('marriage', person.married_on) % 300 + 1}/{person.married_on.year}"
            if person.married_on
            else None
        ),
        "marriage_registered_on": _iso(person.married_on),
        "death_registration_number": f"{serial % 400 + 1}/KT/{person.died_on.year}"
        if death and person.died_on
        else None,
        "died_on": _iso(person.died_on) if death else None,
        "death_place": person.death_place if death else None,
    }


def insurance_code(personal_id: str) -> str:
    return f"79{_digest('bhxh', personal_id) % 100_000_000:08d}"


def social_insurance_reply(world: World, person: Person, on: date) -> dict[str, Any]:
    age = _age(person, on)
    code = insurance_code(person.personal_id)
    if age < 6:
        prefix, status = "TE1", "Tham gia bảo hiểm y tế (trẻ em dưới 6 tuổi)"
        valid_to = date(person.date_of_birth.year + 6, person.date_of_birth.month, 1) - timedelta(days=1)
    elif person.pensioner:
        prefix, status, valid_to = "HT3", "Đang hưởng lương hưu", date(on.year, 12, 31)
    elif person.employed:
        prefix, status, valid_to = "DN4", "Đang tham gia bảo hiểm xã hội bắt buộc", date(on.year, 12, 31)
    elif age < 18:
        prefix, status, valid_to = "HS4", "Tham gia bảo hiểm y tế học sinh", date(on.year, 12, 31)
    else:
        prefix, status, valid_to = "GD4", "Tham gia bảo hiểm y tế hộ gia đình", date(on.year, 12, 31)
    return {
        "reference": f"BHXH-{code}",
        "personal_id": person.personal_id,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat(),
        "insurance_code": code,
        "participation_status": status,
        "health_card_number": f"{prefix}79{code}",
        "health_card_valid_to": valid_to.isoformat(),
        "initial_hospital": HOSPITALS[_digest("kcb", person.personal_id) % len(HOSPITALS)],
        "pension_receiving": person.pensioner,
        "funeral_allowance_eligible": person.pensioner or person.employed,
        "father_id": person.father_id,
        "mother_id": person.mother_id,
        "household_member_ids": list(world.household_of(person).member_ids),
        "alive": person.died_on is None,
    }


def enterprise_reply(world: World, enterprise: Enterprise) -> dict[str, Any]:
    representative = world.person(enterprise.representative_id)
    return {
        "reference": f"DKKD-{enterprise.code}",
        "enterprise_code": enterprise.code,
        "name": enterprise.name,
        "short_name": enterprise.short_name,
        "legal_form": enterprise.legal_form,
        "head_office_address": enterprise.address,
        "phone": f"028{_digest('phone', enterprise.code) % 100_000_000:08d}",
        "email": None,
        "registered_on": enterprise.registered_on.isoformat(),
        "status": enterprise.status,
        "charter_capital_vnd": enterprise.capital_vnd,
        "main_business_code": enterprise.business_code,
        "main_business_name": enterprise.business_name,
        "legal_representative_name": representative.full_name if representative else None,
        "legal_representative_id": enterprise.representative_id,
        "legal_representative_title": enterprise.representative_title,
    }


def tax_reply(world: World, code: str) -> dict[str, Any] | None:
    enterprise = world.enterprise(code) if not (len(code) == 12 and code.isdigit()) else None
    if enterprise is not None:
        return {
            "reference": f"MST-{enterprise.code}",
            "tax_code": enterprise.code,
            "taxpayer_name": enterprise.name,
            "taxpayer_kind": "Tổ chức kinh tế",
            "tax_office": "Thuế Thành phố Hồ Chí Minh",
            "status": "Đang hoạt động",
            "outstanding_tax_vnd": enterprise.outstanding_tax_vnd,
            "legal_representative_id": enterprise.representative_id,
        }
    person = world.person(code)
    if person is None:
        return None
    return {
        "reference": f"MST-{person.personal_id}",
        "tax_code": person.personal_id,
        "taxpayer_name": person.full_name,
        "taxpayer_kind": "Cá nhân",
        "tax_office": f"Thuế cơ sở {_digest('thue', code) % 20 + 1} {CITY}",
        "status": "Đang hoạt động",
        "outstanding_tax_vnd": 0,
        "legal_representative_id": None,
    }
