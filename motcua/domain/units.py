"""The organisation registry: the city, its departments and bodies, 168 commune-level units, their police.

Every unit is effective-dated. A `Unit` is one *version*, valid on the days `valid_from <= day < valid_to`
(`valid_to` None = still valid); a reorganisation closes a version and adds a new one, so old agency codes
stay resolvable on old dates. `UnitDirectory` is the immutable view of the versions valid on one day, and
answers the workflow's "which unit handles this step" questions (`resolve`).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import yaml

from motcua.domain.errors import InvalidInput, NotFound
from motcua.domain.identifiers import parse_agency_code, read_units_data
from motcua.domain.text import clean

REGISTRY_FILE = "hcmc_units.yaml"


class UnitKind(StrEnum):
    CITY = "thanh_pho"
    DEPARTMENT = "so"
    CENTER = "trung_tam"  # Trung tâm Phục vụ hành chính công
    WARD = "phuong"
    COMMUNE = "xa"
    SPECIAL_ZONE = "dac_khu"
    CITY_POLICE = "cong_an_tp"
    COMMUNE_POLICE = "cong_an_xa"
    BOARD = "ban_quan_ly"
    OTHER = "khac"


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_GSO_CODE = re.compile(r"[0-9]{5}")


def _bad_data(message: str, **details: Any) -> InvalidInput:
    return InvalidInput("unit.bad_data", message, **details)


@dataclass(frozen=True)
class Unit:
    id: str  # stable slug, e.g. "phuong-sai-gon"; never reused for another unit
    agency_code: str  # mã định danh điện tử, e.g. "000.00.00.H29"
    name: str  # NFC, single spaces
    kind: UnitKind
    parent_id: str | None
    area_id: str | None  # for vertical bodies (commune police): the commune they serve
    gso_code: str | None  # 5-digit commune code of the national statistics office
    valid_from: date
    valid_to: date | None  # exclusive; None = open
    predecessors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _SLUG.fullmatch(self.id):
            raise _bad_data(
                f"Mã đơn vị «{self.id}» phải là chuỗi chữ thường không dấu nối bằng «-».", id=self.id
            )
        if not self.name or self.name != clean(self.name):
            raise _bad_data(f"Tên đơn vị «{self.name}» phải ở dạng NFC, không thừa khoảng trắng.", id=self.id)
        if not isinstance(self.kind, UnitKind):
            raise _bad_data(f"Loại đơn vị «{self.kind}» không hợp lệ.", id=self.id)
        parse_agency_code(self.agency_code)
        if self.gso_code is not None and not _GSO_CODE.fullmatch(self.gso_code):
            raise _bad_data(f"Mã đơn vị hành chính «{self.gso_code}» phải gồm 5 chữ số.", id=self.id)
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise _bad_data("Ngày hết hiệu lực phải sau ngày bắt đầu hiệu lực.", id=self.id)
        if self.parent_id == self.id:
            raise _bad_data("Đơn vị không thể là cấp trên của chính nó.", id=self.id)

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


# --- workflow step selectors ---

SelectorKind = Literal["receiving", "competent", "parent", "unit", "kind"]


@dataclass(frozen=True)
class Selector:
    """A parsed step selector: `receiving`, `competent`, `parent`, `unit:<id>` or `kind:<kind>`."""

    kind: SelectorKind
    argument: str | None = None  # the unit id for `unit:`, the UnitKind value for `kind:`


_PLAIN_SELECTORS: dict[str, SelectorKind] = {
    "receiving": "receiving",
    "competent": "competent",
    "parent": "parent",
}
_KIND_VALUES = frozenset(kind.value for kind in UnitKind)


def parse_selector(text: str) -> Selector:
    """Check a selector's syntax at load time (workflow definitions), before any dossier uses it."""
    if text in _PLAIN_SELECTORS:
        return Selector(_PLAIN_SELECTORS[text])
    prefix, _, argument = text.partition(":")
    if prefix == "unit" and _SLUG.fullmatch(argument):
        return Selector("unit", argument)
    if prefix == "kind" and argument in _KIND_VALUES:
        return Selector("kind", argument)
    raise InvalidInput(
        "workflow.bad_selector",
        f"Bộ chọn đơn vị «{text}» không hợp lệ; dùng receiving, competent, parent, unit:<mã> hoặc kind:<loại>.",
        selector=text,
    )


class UnitDirectory:
    """The units valid on one day, indexed by id, agency code, parent and area. Immutable."""

    def __init__(self, units: Iterable[Unit], on: date) -> None:
        self.on = on
        self._by_id: dict[str, Unit] = {}
        self._by_code: dict[str, Unit] = {}
        for unit in units:
            if not unit.valid_on(on):
                continue
            if unit.id in self._by_id:
                raise _bad_data(f"Đơn vị «{unit.id}» có hai phiên bản cùng hiệu lực ngày {on}.", id=unit.id)
            if unit.agency_code in self._by_code:
                other = self._by_code[unit.agency_code].id
                raise _bad_data(
                    f"Mã định danh {unit.agency_code} trùng giữa «{other}» và «{unit.id}».", id=unit.id
                )
            self._by_id[unit.id] = unit
            self._by_code[unit.agency_code] = unit
        by_area: defaultdict[str, list[Unit]] = defaultdict(list)
        for unit in self._by_id.values():
            if unit.area_id is not None:
                by_area[unit.area_id].append(unit)
        self._by_area = dict(by_area)
        self._check_references()

    def _check_references(self) -> None:
        for unit in self._by_id.values():
            for ref in (unit.parent_id, unit.area_id):
                if ref is not None and ref not in self._by_id:
                    raise _bad_data(
                        f"Đơn vị «{unit.id}» tham chiếu «{ref}» không có hiệu lực ngày {self.on}.", id=unit.id
                    )
            self.ancestors(unit.id)  # raises on a cycle

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._by_id.values())

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._by_id

    def get(self, unit_id: str) -> Unit:
        unit = self._by_id.get(unit_id)
        if unit is None:
            raise NotFound(
                "unit.not_found", f"Không có đơn vị «{unit_id}» hiệu lực ngày {self.on}.", id=unit_id
            )
        return unit

    def by_agency_code(self, code: str) -> Unit:
        unit = self._by_code.get(code.strip())
        if unit is None:
            raise NotFound(
                "unit.not_found",
                f"Không có đơn vị mang mã định danh {code} hiệu lực ngày {self.on}.",
                agency_code=code,
            )
        return unit

    def parent(self, unit_id: str) -> Unit | None:
        parent_id = self.get(unit_id).parent_id
        return None if parent_id is None else self._by_id[parent_id]

    def ancestors(self, unit_id: str) -> list[Unit]:
        """Parent, grandparent, … up to the root (the unit itself excluded)."""
        chain: list[Unit] = []
        current = self.parent(unit_id)
        while current is not None:
            if current.id == unit_id or len(chain) > len(self._by_id):
                raise _bad_data(f"Quan hệ cấp trên của «{unit_id}» tạo thành vòng lặp.", id=unit_id)
            chain.append(current)
            current = self.parent(current.id)
        return chain

    def resolve(self, selector: str, *, receiving_id: str, competent_id: str | None) -> Unit:
        """The unit a workflow step selector designates for a dossier (see `parse_selector`)."""
        parsed = parse_selector(selector)
        receiving = self.get(receiving_id)
        if parsed.kind == "receiving":
            return receiving
        if parsed.kind == "competent":
            if competent_id is None:
                raise _unresolved(selector, "thủ tục chưa có cơ quan có thẩm quyền")
            return self.get(competent_id)
        if parsed.kind == "parent":
            parent = self.parent(receiving.id)
            if parent is None:
                raise _unresolved(selector, f"«{receiving.name}» không có đơn vị cấp trên")
            return parent
        assert parsed.argument is not None
        if parsed.kind == "unit":
            return self.get(parsed.argument)
        return self._serving(UnitKind(parsed.argument), receiving, selector)

    def _serving(self, kind: UnitKind, receiving: Unit, selector: str) -> Unit:
        """A unit of `kind` serving `receiving`: one whose area is it, else itself or its nearest ancestor
        of that kind, else the only city-wide (area-less) unit of that kind."""
        in_area = [unit for unit in self._by_area.get(receiving.id, []) if unit.kind == kind]
        if len(in_area) > 1:
            raise _unresolved(selector, f"nhiều đơn vị loại {kind} cùng phục vụ «{receiving.name}»")
        if in_area:
            return in_area[0]
        for unit in [receiving, *self.ancestors(receiving.id)]:
            if unit.kind == kind:
                return unit
        city_wide = [unit for unit in self._by_id.values() if unit.kind == kind and unit.area_id is None]
        if len(city_wide) == 1:
            return city_wide[0]
        reason = "không có" if not city_wide else "có nhiều"
        raise _unresolved(selector, f"{reason} đơn vị loại {kind} phục vụ «{receiving.name}»")


def _unresolved(selector: str, reason: str) -> InvalidInput:
    return InvalidInput(
        "unit.selector_unresolved",
        f"Không xác định được đơn vị cho «{selector}»: {reason}.",
        selector=selector,
    )


# --- loading the registry shipped as data (motcua/data/units/) ---

_COMMUNE_KINDS = {"Phường": UnitKind.WARD, "Xã": UnitKind.COMMUNE, "Đặc khu": UnitKind.SPECIAL_ZONE}


def load_registry(read: Callable[[str], str] = read_units_data) -> tuple[Unit, ...]:
    """Read and validate the registry data files (`hcmc_units.yaml` and the TSV files it names).

    `read` returns a data file's text by file name; the default reads the package's `data/units/` folder.
    """
    try:
        spec = yaml.safe_load(read(REGISTRY_FILE))
        valid_from = spec["valid_from"]
        if not isinstance(valid_from, date):
            raise _bad_data(f"{REGISTRY_FILE}: valid_from phải là một ngày YYYY-MM-DD.")
        city = _body(spec["city"], valid_from, default_parent=None)
        bodies = [_body(entry, valid_from, default_parent=city.id) for entry in spec.get("bodies", [])]
        units = [city, *bodies, *_communes(spec["communes"], valid_from, read)]
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise _bad_data(f"Tệp dữ liệu đơn vị thiếu mục hoặc sai cấu trúc ({exc!r}).") from None
    UnitDirectory(units, valid_from)  # unique ids and codes, existing parents and areas, no cycles
    return tuple(units)


def _body(entry: Mapping[str, Any], valid_from: date, *, default_parent: str | None) -> Unit:
    try:
        return Unit(
            id=str(entry["id"]),
            agency_code=str(entry["agency_code"]),
            name=clean(str(entry["name"])),
            kind=UnitKind(entry["kind"]),
            parent_id=entry.get("parent", default_parent),
            area_id=entry.get("area"),
            gso_code=None,
            valid_from=valid_from,
            valid_to=None,
            predecessors=tuple(_slugs(entry.get("predecessors", []))),
        )
    except (KeyError, ValueError) as exc:
        raise _bad_data(f"{REGISTRY_FILE}: mục đơn vị không hợp lệ ({exc}).", entry=dict(entry)) from None


def _slugs(value: object) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and _SLUG.fullmatch(item) for item in value
    ):
        raise ValueError(f"predecessors phải là danh sách mã đơn vị: {value!r}")
    return value


def _tsv_rows(text: str) -> list[dict[str, str]]:
    """Rows of a tab-separated file with a header line; lines starting with # are comments."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def _communes(section: Mapping[str, Any], valid_from: date, read: Callable[[str], str]) -> list[Unit]:
    """The commune-level units (names and types from the national list) and one police unit for each."""
    sources = {row["code"]: row for row in _tsv_rows(read(section["source"]))}
    codes = {row["gso_code"]: row for row in _tsv_rows(read(section["codes"]))}
    if sources.keys() != codes.keys():
        missing = sorted(sources.keys() ^ codes.keys())
        raise _bad_data(f"{section['codes']} và {section['source']} không khớp mã đơn vị: {missing}.")
    communes: list[Unit] = []
    police: list[Unit] = []
    for gso_code in sorted(sources):
        source, code = sources[gso_code], codes[gso_code]
        name, type_name = clean(source["name"]), clean(source["type"])
        if type_name not in _COMMUNE_KINDS or not name.startswith(type_name + " "):
            raise _bad_data(f"{section['source']}: loại «{type_name}» của «{name}» không hợp lệ.")
        communes.append(
            Unit(
                id=code["unit_id"],
                agency_code=code["agency_code"],
                name=name,
                kind=_COMMUNE_KINDS[type_name],
                parent_id=section["parent"],
                area_id=None,
                gso_code=gso_code,
                valid_from=valid_from,
                valid_to=None,
            )
        )
        police.append(
            Unit(
                id=code["police_id"],
                agency_code=code["police_agency_code"],
                name=f"Công an {type_name.lower()}{name[len(type_name) :]}",
                kind=UnitKind.COMMUNE_POLICE,
                parent_id=section["police_parent"],
                area_id=code["unit_id"],
                gso_code=None,
                valid_from=valid_from,
                valid_to=None,
            )
        )
    return communes + police
