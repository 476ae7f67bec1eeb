"""Registry plugins: one class per national database (the model is Open Forms' prefill plugins).

Each plugin declares the identity it needs, the fields it returns (type, Vietnamese label, record section),
fetches one subject's record in one call, and decides whether that record belongs to the applicant or to
someone they may act for (`check_ownership`). Adding a registry = adding a class to `PLUGINS`; nothing
else branches on the registry kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from motcua.domain.errors import InvalidInput
from motcua.domain.registry import (
    Applicant,
    FieldType,
    Identity,
    IdentityKind,
    Kinship,
    RecordSection,
    RegistryField,
    RegistryKind,
    RegistryRecord,
    may_read_person,
    not_owner,
    parse_values,
)
from motcua.integrations.http import GatewayError, HttpEndpoint, Trace, failure_message


def _fields(section: str, *specs: tuple[str, FieldType, str]) -> tuple[RegistryField, ...]:
    return tuple(RegistryField(name, kind, label, section) for name, kind, label in specs)


class RegistryPlugin(ABC):
    """The contract every registry adapter fulfils."""

    kind: ClassVar[RegistryKind]
    identity_kinds: ClassVar[frozenset[IdentityKind]]
    sections: ClassVar[tuple[RecordSection, ...]]
    fields: ClassVar[tuple[RegistryField, ...]]
    subject_field: ClassVar[str]  # the reply field that says whom the record is about

    def __init__(self, endpoint: HttpEndpoint | None) -> None:
        self.endpoint = endpoint

    @property
    def label_vi(self) -> str:
        return self.kind.label_vi

    @abstractmethod
    def path(self, identity: Identity) -> str:
        """The resource of one subject's record, relative to the registry's base URL."""

    @abstractmethod
    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        """Raise `Forbidden("registry.not_owner")` unless the record is the actor's own data or the data of
        someone they may act for."""

    def field(self, name: str) -> RegistryField | None:
        return next((spec for spec in self.fields if spec.name == name), None)

    def section(self, name: str) -> RecordSection | None:
        return next((section for section in self.sections if section.name == name), None)

    def fetch(self, identity: Identity, purpose: str, *, at: datetime) -> RegistryRecord:
        """One subject's record, reduced to the declared fields. Raises `GatewayError` when the registry
        cannot give usable data (including a reply about someone other than `identity`)."""
        if identity.kind not in self.identity_kinds:
            raise InvalidInput(
                "registry.wrong_identity",
                f"{self.label_vi} cần {' hoặc '.join(k.label_vi for k in self.identity_kinds)}.",
            )
        data, trace = self.call("GET", self.path(identity), purpose=purpose)
        try:
            values = parse_values(self.fields, data)
        except InvalidInput:
            raise self.error("registry.bad_reply", trace) from None
        if values.get(self.subject_field) != identity.value:
            raise GatewayError(
                "registry.foreign_data",
                f"{self.label_vi} trả về dữ liệu không phải của người được tra cứu; dữ liệu bị từ chối.",
                trace,
            )
        reference = data.get("reference")
        return RegistryRecord(
            source=self.kind,
            subject=identity,
            values=values,
            fetched_at=at,
            reference=reference if isinstance(reference, str) else None,
            trace=trace,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        purpose: str,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[dict[str, Any], Trace]:
        if self.endpoint is None:
            raise GatewayError(
                "registry.not_configured", failure_message("registry.not_configured", self.label_vi)
            )
        return self.endpoint.call(method, path, body=body, purpose=purpose, idempotency_key=idempotency_key)

    def error(self, code: str, trace: Trace | None) -> GatewayError:
        return GatewayError(code, failure_message(code, self.label_vi), trace)

    def describe(self) -> dict[str, Any]:
        """The contract as JSON (for the web forms and `GET /api/v1/registries`)."""
        return {
            "source": self.kind.value,
            "label": self.label_vi,
            "identity": [kind.value for kind in sorted(self.identity_kinds)],
            "sections": [{"name": s.name, "label": s.label_vi} for s in self.sections],
            "fields": [
                {"name": f.name, "type": f.type, "label": f.label_vi, "section": f.section}
                for f in self.fields
            ],
        }


def _date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _kinship(record: RegistryRecord, *, deceased: bool) -> Kinship:
    return Kinship(
        subject_id=record.subject.value,
        father_id=record.text("father_id"),
        mother_id=record.text("mother_id"),
        spouse_id=record.text("spouse_id"),
        children_ids=frozenset(record.texts("children_ids")),
        household_ids=frozenset(record.texts("household_member_ids")),
        born_on=_date(record.value("date_of_birth")),
        deceased=deceased,
    )


def _check_person(record: RegistryRecord, actor: Applicant, *, deceased: bool) -> None:
    on = record.fetched_at.date()
    if not may_read_person(actor, _kinship(record, deceased=deceased), on=on):
        raise not_owner(record)


def _personal_path(prefix: str, identity: Identity) -> str:
    return f"{prefix}/{quote(identity.value, safe='')}"


_PERSON = frozenset({IdentityKind.PERSONAL_ID})
_ENTERPRISE = frozenset({IdentityKind.ENTERPRISE_CODE})


class PopulationRegistry(RegistryPlugin):
    """Cơ sở dữ liệu quốc gia về dân cư (reached through VNeID / the LGSP)."""

    kind = RegistryKind.POPULATION
    identity_kinds = _PERSON
    subject_field = "personal_id"
    sections = (
        RecordSection("citizen", "Thông tin công dân (thay giấy tờ tùy thân)", "personal_id"),
        RecordSection(
            "residence", "Thông tin cư trú, hộ gia đình (thay giấy tờ về chỗ ở)", "permanent_address"
        ),
        RecordSection("death", "Thông tin báo tử điện tử (thay Giấy báo tử)", "died_on"),
    )
    fields = (
        *_fields(
            "citizen",
            ("personal_id", "string", "Số định danh cá nhân"),
            ("full_name", "string", "Họ, chữ đệm, tên"),
            ("date_of_birth", "date", "Ngày, tháng, năm sinh"),
            ("sex", "string", "Giới tính"),
            ("ethnicity", "string", "Dân tộc"),
            ("nationality", "string", "Quốc tịch"),
            ("hometown", "string", "Quê quán"),
            ("birth_place", "string", "Nơi đăng ký khai sinh"),
            ("marital_status", "string", "Tình trạng hôn nhân"),
            ("father_id", "string", "Số định danh cá nhân của cha"),
            ("father_name", "string", "Họ tên cha"),
            ("mother_id", "string", "Số định danh cá nhân của mẹ"),
            ("mother_name", "string", "Họ tên mẹ"),
            ("spouse_id", "string", "Số định danh cá nhân của vợ/chồng"),
            ("spouse_name", "string", "Họ tên vợ/chồng"),
            ("children_ids", "string_list", "Số định danh cá nhân của các con"),
            ("alive", "boolean", "Còn sống"),
        ),
        *_fields(
            "residence",
            ("permanent_address", "string", "Nơi thường trú"),
            ("temporary_address", "string", "Nơi tạm trú"),
            ("household_id", "string", "Mã hộ gia đình"),
            ("household_head_name", "string", "Họ tên chủ hộ"),
            ("household_head_id", "string", "Số định danh cá nhân của chủ hộ"),
            ("relation_to_head", "string", "Quan hệ với chủ hộ"),
            ("household_member_ids", "string_list", "Thành viên hộ gia đình"),
        ),
        *_fields(
            "death",
            ("died_on", "date", "Ngày chết"),
            ("death_place", "string", "Nơi chết"),
        ),
    )

    def path(self, identity: Identity) -> str:
        return _personal_path("/citizens", identity)

    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        _check_person(record, actor, deceased=record.value("alive") is False)

    def issue_newborn_id(self, child: Mapping[str, Any], *, purpose: str, key: str) -> tuple[str, Trace]:
        """The personal ID the population database assigns to a newborn whose birth is being registered."""
        data, trace = self.call("POST", "/newborns", body=child, purpose=purpose, idempotency_key=key)
        personal_id = data.get("personal_id")
        if not isinstance(personal_id, str) or len(personal_id) != 12 or not personal_id.isdigit():
            raise self.error("registry.bad_reply", trace)
        return personal_id, trace


class EnterpriseRegistry(RegistryPlugin):
    """Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp."""

    kind = RegistryKind.ENTERPRISE
    identity_kinds = _ENTERPRISE
    subject_field = "enterprise_code"
    sections = (RecordSection("enterprise", "Thông tin đăng ký doanh nghiệp", "enterprise_code"),)
    fields = _fields(
        "enterprise",
        ("enterprise_code", "string", "Mã số doanh nghiệp"),
        ("name", "string", "Tên doanh nghiệp"),
        ("short_name", "string", "Tên viết tắt"),
        ("legal_form", "string", "Loại hình doanh nghiệp"),
        ("head_office_address", "string", "Địa chỉ trụ sở chính"),
        ("phone", "string", "Điện thoại"),
        ("email", "string", "Thư điện tử"),
        ("registered_on", "date", "Ngày đăng ký lần đầu"),
        ("status", "string", "Tình trạng hoạt động"),
        ("charter_capital_vnd", "integer", "Vốn điều lệ (đồng)"),
        ("main_business_code", "string", "Mã ngành kinh doanh chính"),
        ("main_business_name", "string", "Ngành kinh doanh chính"),
        ("legal_representative_name", "string", "Họ tên người đại diện theo pháp luật"),
        ("legal_representative_id", "string", "Số định danh cá nhân của người đại diện theo pháp luật"),
        ("legal_representative_title", "string", "Chức danh người đại diện theo pháp luật"),
    )

    def path(self, identity: Identity) -> str:
        return _personal_path("/enterprises", identity)

    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        code = record.text("enterprise_code") or ""
        own_enterprise = bool(actor.tax_code) and code[:10] == (actor.tax_code or "")[:10]
        representative = (
            bool(actor.personal_id) and record.text("legal_representative_id") == actor.personal_id
        )
        if not (own_enterprise or representative):
            raise not_owner(record)


class CivilStatusRegistry(RegistryPlugin):
    """Cơ sở dữ liệu hộ tịch điện tử: birth, marriage and death records of one person."""

    kind = RegistryKind.CIVIL_STATUS
    identity_kinds = _PERSON
    subject_field = "personal_id"
    sections = (
        RecordSection(
            "birth", "Dữ liệu khai sinh (thay bản sao Giấy khai sinh)", "birth_registration_number"
        ),
        RecordSection(
            "marriage",
            "Dữ liệu tình trạng hôn nhân (thay Giấy xác nhận tình trạng hôn nhân)",
            "marital_status",
        ),
        RecordSection("death", "Dữ liệu khai tử (thay Trích lục khai tử)", "death_registration_number"),
    )
    fields = (
        *_fields(
            "birth",
            ("personal_id", "string", "Số định danh cá nhân"),
            ("full_name", "string", "Họ, chữ đệm, tên"),
            ("date_of_birth", "date", "Ngày, tháng, năm sinh"),
            ("sex", "string", "Giới tính"),
            ("birth_place", "string", "Nơi sinh"),
            ("birth_registration_number", "string", "Số đăng ký khai sinh"),
            ("birth_registered_on", "date", "Ngày đăng ký khai sinh"),
            ("birth_registered_at", "string", "Nơi đăng ký khai sinh"),
            ("father_id", "string", "Số định danh cá nhân của cha"),
            ("father_name", "string", "Họ tên cha"),
            ("mother_id", "string", "Số định danh cá nhân của mẹ"),
            ("mother_name", "string", "Họ tên mẹ"),
            ("children_ids", "string_list", "Số định danh cá nhân của các con"),
        ),
        *_fields(
            "marriage",
            ("marital_status", "string", "Tình trạng hôn nhân"),
            ("spouse_id", "string", "Số định danh cá nhân của vợ/chồng"),
            ("spouse_name", "string", "Họ tên vợ/chồng"),
            ("marriage_registration_number", "string", "Số đăng ký kết hôn"),
            ("marriage_registered_on", "date", "Ngày đăng ký kết hôn"),
        ),
        *_fields(
            "death",
            ("death_registration_number", "string", "Số đăng ký khai tử"),
            ("died_on", "date", "Ngày chết"),
            ("death_place", "string", "Nơi chết"),
        ),
    )

    def path(self, identity: Identity) -> str:
        return _personal_path("/people", identity)

    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        _check_person(record, actor, deceased=bool(record.text("death_registration_number")))


class TaxRegistry(RegistryPlugin):
    """Cơ sở dữ liệu quản lý thuế (the personal ID is the personal tax code since 01/07/2025)."""

    kind = RegistryKind.TAX
    identity_kinds = frozenset(IdentityKind)
    subject_field = "tax_code"
    sections = (RecordSection("tax_status", "Thông tin đăng ký và nghĩa vụ thuế", "tax_code"),)
    fields = _fields(
        "tax_status",
        ("tax_code", "string", "Mã số thuế"),
        ("taxpayer_name", "string", "Tên người nộp thuế"),
        ("taxpayer_kind", "string", "Loại người nộp thuế"),
        ("tax_office", "string", "Cơ quan thuế quản lý"),
        ("status", "string", "Trạng thái mã số thuế"),
        ("outstanding_tax_vnd", "integer", "Số thuế còn nợ (đồng)"),
        ("legal_representative_id", "string", "Số định danh cá nhân của người đại diện theo pháp luật"),
    )

    def path(self, identity: Identity) -> str:
        return _personal_path("/taxpayers", identity)

    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        own = actor.is_subject(record.subject)
        representative = (
            bool(actor.personal_id) and record.text("legal_representative_id") == actor.personal_id
        )
        if not (own or representative):
            raise not_owner(record)


class SocialInsuranceRegistry(RegistryPlugin):
    """Cơ sở dữ liệu quốc gia về bảo hiểm (Bảo hiểm xã hội Việt Nam): social and health insurance."""

    kind = RegistryKind.SOCIAL_INSURANCE
    identity_kinds = _PERSON
    subject_field = "personal_id"
    sections = (
        RecordSection("insurance", "Thông tin tham gia bảo hiểm xã hội, bảo hiểm y tế", "insurance_code"),
    )
    fields = _fields(
        "insurance",
        ("personal_id", "string", "Số định danh cá nhân"),
        ("full_name", "string", "Họ, chữ đệm, tên"),
        ("date_of_birth", "date", "Ngày, tháng, năm sinh"),
        ("insurance_code", "string", "Mã số bảo hiểm xã hội"),
        ("participation_status", "string", "Tình trạng tham gia bảo hiểm xã hội"),
        ("health_card_number", "string", "Số thẻ bảo hiểm y tế"),
        ("health_card_valid_to", "date", "Thẻ bảo hiểm y tế có giá trị đến"),
        ("initial_hospital", "string", "Nơi đăng ký khám chữa bệnh ban đầu"),
        ("pension_receiving", "boolean", "Đang hưởng lương hưu, trợ cấp hằng tháng"),
        ("funeral_allowance_eligible", "boolean", "Thân nhân đủ điều kiện hưởng trợ cấp mai táng"),
        ("father_id", "string", "Số định danh cá nhân của cha"),
        ("mother_id", "string", "Số định danh cá nhân của mẹ"),
        ("household_member_ids", "string_list", "Thành viên hộ gia đình"),
        ("alive", "boolean", "Còn sống"),
    )

    def path(self, identity: Identity) -> str:
        return _personal_path("/people", identity)

    def check_ownership(self, record: RegistryRecord, actor: Applicant) -> None:
        _check_person(record, actor, deceased=record.value("alive") is False)

    def request_health_card(
        self, body: Mapping[str, Any], *, purpose: str, key: str
    ) -> tuple[dict[str, Any], Trace]:
        """Ask Social Insurance to issue the health-insurance card of a child under 6 (Decree 63/2024)."""
        return self.call("POST", "/health-insurance-cards", body=body, purpose=purpose, idempotency_key=key)

    def claim_funeral_allowance(
        self, body: Mapping[str, Any], *, purpose: str, key: str
    ) -> tuple[dict[str, Any], Trace]:
        """File the funeral-allowance claim of a deceased insured person's relative (Decree 63/2024)."""
        return self.call("POST", "/funeral-allowances", body=body, purpose=purpose, idempotency_key=key)


PLUGINS: tuple[type[RegistryPlugin], ...] = (
    PopulationRegistry,
    EnterpriseRegistry,
    CivilStatusRegistry,
    TaxRegistry,
    SocialInsuranceRegistry,
)
