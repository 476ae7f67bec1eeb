"""Contracts of the data-sharing gateway (pure): registries, their fields and records, e-form bindings,
the "only once" requirement references, who may read whose data, and the Decree 63/2024 bundles.

Nothing here talks to a registry: the HTTP adapters (`motcua.integrations`) fill `RegistryRecord`s and the
services decide with the functions below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from motcua.domain.errors import Forbidden, InvalidInput

ADULT_AGE = 18


class RegistryKind(StrEnum):
    """The national databases the city's data-sharing platform (LGSP) connects to."""

    POPULATION = "population"
    ENTERPRISE = "enterprise"
    CIVIL_STATUS = "civil_status"
    TAX = "tax"
    SOCIAL_INSURANCE = "social_insurance"

    @property
    def label_vi(self) -> str:
        return _REGISTRY_LABELS[self]


_REGISTRY_LABELS = {
    RegistryKind.POPULATION: "Cơ sở dữ liệu quốc gia về dân cư",
    RegistryKind.ENTERPRISE: "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp",
    RegistryKind.CIVIL_STATUS: "Cơ sở dữ liệu hộ tịch điện tử",
    RegistryKind.TAX: "Cơ sở dữ liệu quản lý thuế",
    RegistryKind.SOCIAL_INSURANCE: "Cơ sở dữ liệu quốc gia về bảo hiểm",
}


class IdentityKind(StrEnum):
    PERSONAL_ID = "personal_id"
    ENTERPRISE_CODE = "enterprise_code"

    @property
    def label_vi(self) -> str:
        return "Số định danh cá nhân" if self is IdentityKind.PERSONAL_ID else "Mã số doanh nghiệp"


FieldType = Literal["string", "date", "integer", "boolean", "string_list"]
FieldValue = str | int | bool | list[str] | None


@dataclass(frozen=True)
class RegistryField:
    """One field a registry returns: its name in the contract, type, Vietnamese label and record section."""

    name: str
    type: FieldType
    label_vi: str
    section: str


@dataclass(frozen=True)
class RecordSection:
    """A part of a registry's record that can stand for a document (e.g. the birth record for a certified
    copy of the birth certificate). It is present in a record when its key field has a value."""

    name: str
    label_vi: str
    key_field: str


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    value: str

    @property
    def account_id(self) -> str:
        """The account id motcua uses for this person or enterprise (see `services.identity`)."""
        return f"cd-{self.value}" if self.kind is IdentityKind.PERSONAL_ID else f"dn-{self.value}"


@dataclass(frozen=True)
class Applicant:
    """Who asks for data, as their account says (never as a request body says)."""

    user_id: str
    personal_id: str | None = None
    tax_code: str | None = None

    def identity(self) -> Identity | None:
        if self.personal_id:
            return Identity(IdentityKind.PERSONAL_ID, self.personal_id)
        if self.tax_code:
            return Identity(IdentityKind.ENTERPRISE_CODE, self.tax_code)
        return None

    def is_subject(self, subject: Identity) -> bool:
        own = {self.personal_id, self.tax_code} - {None}
        return subject.value in own


@dataclass(frozen=True)
class RegistryRecord:
    """What one registry said about one subject, reduced to the declared fields."""

    source: RegistryKind
    subject: Identity
    values: Mapping[str, FieldValue]
    fetched_at: datetime
    reference: str | None = None  # the registry's own record reference, if it gives one
    trace: object | None = field(default=None, compare=False)  # the adapter's record of the call

    def value(self, name: str) -> FieldValue:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) and value else None

    def texts(self, name: str) -> list[str]:
        value = self.values.get(name)
        return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []

    def has_section(self, section: RecordSection) -> bool:
        value = self.values.get(section.key_field)
        return value not in (None, "", [])


# ------------------------------------------------------------------ parsing a registry reply


def parse_values(fields: tuple[RegistryField, ...], raw: Mapping[str, Any]) -> dict[str, FieldValue]:
    """Keep only the declared fields of a reply and check their types; a wrong type is a bad reply."""
    values: dict[str, FieldValue] = {}
    for spec in fields:
        value = raw.get(spec.name)
        if value is None:
            values[spec.name] = None
            continue
        if not _has_type(value, spec.type):
            raise InvalidInput(
                "registry.bad_reply",
                f"Dữ liệu trả về không đúng kiểu ở trường «{spec.label_vi}».",
                field=spec.name,
            )
        values[spec.name] = list(value) if isinstance(value, list) else value
    return values


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _has_type(value: Any, kind: FieldType) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "date":
        return isinstance(value, str) and bool(_ISO_DATE.match(value)) and _is_date(value)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ who may read whose data


@dataclass(frozen=True)
class Kinship:
    """What a person's record says about the people close to them (all personal IDs)."""

    subject_id: str
    father_id: str | None = None
    mother_id: str | None = None
    spouse_id: str | None = None
    children_ids: frozenset[str] = frozenset()
    household_ids: frozenset[str] = frozenset()
    born_on: date | None = None
    deceased: bool = False

    def is_minor(self, on: date) -> bool:
        if self.born_on is None:
            return False
        had_birthday = (on.month, on.day) >= (self.born_on.month, self.born_on.day)
        age = on.year - self.born_on.year - (0 if had_birthday else 1)
        return age < ADULT_AGE


def may_read_person(applicant: Applicant, kin: Kinship, *, on: date) -> bool:
    """The data of a person belongs to the applicant or to someone they may act for: themselves; their minor
    child living in their household; a deceased parent, spouse, child or household member (to register the
    death and settle what follows)."""
    me = applicant.personal_id
    if not me:
        return False
    if me == kin.subject_id:
        return True
    parents = {kin.father_id, kin.mother_id} - {None}
    if me in parents and kin.is_minor(on) and (not kin.household_ids or me in kin.household_ids):
        return True
    relatives = parents | {kin.spouse_id} | kin.children_ids | kin.household_ids
    return kin.deceased and me in relatives


def not_owner(record: RegistryRecord) -> Forbidden:
    return Forbidden(
        "registry.not_owner",
        f"Dữ liệu từ {record.source.label_vi} không thuộc về người nộp hồ sơ hoặc người mà họ được làm thay; "
        "dữ liệu bị từ chối.",
        source=record.source.value,
    )


# ------------------------------------------------------------------ e-form bindings (x-registry)

BINDING_KEYWORD = "x-registry"
Subject = Literal["applicant", "related"]


@dataclass(frozen=True)
class FormBinding:
    """A field of an e-form filled from a registry: `{"x-registry": {"source", "field", "subject"?}}`.

    `subject` is `applicant` (default: the logged-in citizen or business) or `related` (the person named in
    the prefill request whom the applicant may act for: their child, a deceased relative)."""

    path: tuple[str, ...]
    source: RegistryKind
    field: str
    subject: Subject
    title: str

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def form_bindings(schema: Mapping[str, Any]) -> list[FormBinding]:
    """Every bound leaf of an e-form, in schema order (array items are never bound)."""
    return list(_walk_bindings(schema, ()))


def _walk_bindings(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[FormBinding]:
    raw = node.get(BINDING_KEYWORD)
    if raw is not None:
        yield parse_binding(raw, path, str(node.get("title") or ".".join(path)))
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        for name, child in properties.items():
            if isinstance(child, Mapping):
                yield from _walk_bindings(child, (*path, str(name)))


def parse_binding(raw: Any, path: tuple[str, ...], title: str) -> FormBinding:
    where = ".".join(path) or "(gốc)"
    if not isinstance(raw, Mapping) or not {"source", "field"} <= set(raw) <= {"source", "field", "subject"}:
        raise InvalidInput(
            "registry.bad_binding",
            f"Trường {where}: {BINDING_KEYWORD} phải có dạng {{source, field, subject?}}.",
            path=where,
        )
    try:
        source = RegistryKind(raw["source"])
    except ValueError:
        raise InvalidInput(
            "registry.bad_binding",
            f"Trường {where}: nguồn dữ liệu «{raw['source']}» không tồn tại.",
            path=where,
        ) from None
    subject = raw.get("subject", "applicant")
    if subject not in ("applicant", "related") or not isinstance(raw["field"], str):
        raise InvalidInput(
            "registry.bad_binding", f"Trường {where}: subject phải là applicant hoặc related.", path=where
        )
    return FormBinding(path, source, raw["field"], subject, title)


def set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Put `value` at `path` in nested dicts, creating the objects on the way."""
    target = data
    for step in path[:-1]:
        child = target.setdefault(step, {})
        if not isinstance(child, dict):
            return
        target = child
    target[path[-1]] = value


def get_path(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return None
        node = node[step]
    return node


# ------------------------------------------------------------------ requirements met by registry data

_REQUIREMENT = re.compile(r"^(?:(?P<related>related):)?(?P<source>[a-z_]+)\.(?P<section>[a-z_]+)$")


@dataclass(frozen=True)
class RequirementSource:
    """`satisfied_by` of a required document: the registry section that replaces the paper."""

    source: RegistryKind
    section: str
    subject: Subject

    def __str__(self) -> str:
        prefix = "related:" if self.subject == "related" else ""
        return f"{prefix}{self.source.value}.{self.section}"


def parse_requirement_source(text: str) -> RequirementSource:
    """`civil_status.birth` or `related:civil_status.birth` (the birth record of the related person)."""
    match = _REQUIREMENT.match(text)
    kinds = {kind.value for kind in RegistryKind}
    if match is None or match["source"] not in kinds:
        raise InvalidInput(
            "registry.bad_requirement",
            f"«{text}» phải có dạng <nguồn>.<phần hồ sơ>, ví dụ civil_status.birth.",
            value=text,
        )
    subject: Subject = "related" if match["related"] else "applicant"
    return RequirementSource(RegistryKind(match["source"]), match["section"], subject)


# ------------------------------------------------------------------ Decree 63/2024 bundles


class BundleKind(StrEnum):
    BIRTH = "khai-sinh-thuong-tru-bhyt"
    DEATH = "khai-tu-xoa-thuong-tru-mai-tang"

    @property
    def label_vi(self) -> str:
        return BUNDLES[self].name


@dataclass(frozen=True)
class BundlePart:
    """One procedure of a bundle: a dossier at a city unit, or a request sent to a national agency's system.

    `after` names the part that must be resolved first (the lead registration); `None` = created at once."""

    key: str
    name: str
    procedure_code: str | None  # the city catalog procedure, for a dossier part
    agency_selector: str | None  # where the dossier goes, relative to the receiving commune
    external: RegistryKind | None = None  # a request to this registry's agency instead of a dossier
    after: str | None = None


@dataclass(frozen=True)
class BundleDefinition:
    kind: str
    name: str
    national_code: str | None  # the national code of the bundle procedure itself, where one exists
    legal_basis: str
    parts: tuple[BundlePart, ...] = field(default_factory=tuple)

    def part(self, key: str) -> BundlePart:
        return next(part for part in self.parts if part.key == key)

    @property
    def lead(self) -> BundlePart:
        return next(part for part in self.parts if part.after is None)


BUNDLES: dict[BundleKind, BundleDefinition] = {
    BundleKind.BIRTH: BundleDefinition(
        kind=BundleKind.BIRTH.value,
        name="Liên thông đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
        national_code="2.000986",
        legal_basis="Nghị định 63/2024/NĐ-CP",
        parts=(
            BundlePart("khai_sinh", "Đăng ký khai sinh", "1.001193", "receiving"),
            BundlePart("thuong_tru", "Đăng ký thường trú", "1.004222", "kind:cong_an_xa", after="khai_sinh"),
            BundlePart(
                "the_bhyt",
                "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
                None,
                None,
                external=RegistryKind.SOCIAL_INSURANCE,
                after="khai_sinh",
            ),
        ),
    ),
    BundleKind.DEATH: BundleDefinition(
        kind=BundleKind.DEATH.value,
        name="Liên thông đăng ký khai tử, xóa đăng ký thường trú, hưởng trợ cấp mai táng",
        national_code=None,
        legal_basis="Nghị định 63/2024/NĐ-CP",
        parts=(
            BundlePart("khai_tu", "Đăng ký khai tử", "1.000656", "receiving"),
            BundlePart(
                "xoa_thuong_tru", "Xóa đăng ký thường trú", "1.003197", "kind:cong_an_xa", after="khai_tu"
            ),
            BundlePart(
                "mai_tang",
                "Giải quyết trợ cấp mai táng (chế độ tử tuất, mã 2.000821)",
                None,
                None,
                external=RegistryKind.SOCIAL_INSURANCE,
                after="khai_tu",
            ),
        ),
    ),
}
