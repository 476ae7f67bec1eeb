"""The procedure catalog: national records as published, and the HCMC layer that says how the city runs them.

* A **national record** comes from the National Public Service Portal export (one JSON object per line). It
  is kept as published, only NFC-normalised and trimmed; `content_hash()` identifies a version of it.
* The **city layer** (`hcmc_procedures.yaml` + JSON Schema e-forms, format in the package's catalog README)
  is curated data: where a procedure is received, who decides, which workflow, the legal time, cut-off, fee,
  e-form and documents. `parse_city_layer` validates all of it and reports every problem with the procedure
  code and the field, in Vietnamese.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from motcua.domain.errors import InvalidInput
from motcua.domain.text import fold

CODE_PATTERN = re.compile(r"^\d\.\d{6}$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CUTOFF = re.compile(r"^(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)$")

LAYER_FORMAT_VERSION = 1

# UnitKind values a procedure may be received at (the registry's kinds; see motcua.domain.units).
UNIT_KINDS = frozenset(
    {"thanh_pho", "so", "trung_tam", "phuong", "xa", "dac_khu", "cong_an_tp", "cong_an_xa", "ban_quan_ly"}
)


def canonical_json(value: Any) -> str:
    """Sorted-key, compact, non-ASCII-preserving JSON: the form that content hashes are taken over."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


# --------------------------------------------------------------------------------------------------------
# National records
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One row of the portal's submission-method table (time and fee differ per channel)."""

    channel: str
    time_text: str | None
    time_unit: str | None
    working_days: float | None
    fee_text: str | None
    note: str | None
    time_source: str | None = None


@dataclass(frozen=True)
class RequiredDocument:
    name: str
    quantity: str | None
    form: str | None
    group: str | None


@dataclass(frozen=True)
class NationalProcedure:
    """A procedure as published on the National Public Service Portal (texts NFC-normalised)."""

    code: str
    name: str
    decision: str | None
    levels: tuple[str, ...]
    kind: str | None
    field: str | None
    ministry: str | None
    subjects: tuple[str, ...]
    channels: tuple[Channel, ...]
    documents: tuple[RequiredDocument, ...]
    results: tuple[str, ...]
    legal_basis: tuple[tuple[str, str | None], ...]
    steps: str | None
    conditions: str | None
    agencies: Mapping[str, str | None] = dc_field(hash=False)
    related: str | None
    source_url: str | None

    def to_dict(self) -> dict[str, Any]:
        """The normalised record in the export's own shape (what the store keeps as `data`)."""
        return {
            "code": self.code,
            "name": self.name,
            "decision": self.decision,
            "levels": list(self.levels),
            "kind": self.kind,
            "field": self.field,
            "ministry": self.ministry,
            "subjects": list(self.subjects),
            "channels": [_channel_dict(c) for c in self.channels],
            "documents": [
                {"name": d.name, "quantity": d.quantity, "form": d.form, "group": d.group}
                for d in self.documents
            ],
            "results": list(self.results),
            "legal_basis": [{"name": name, "number": number} for name, number in self.legal_basis],
            "steps": self.steps,
            "conditions": self.conditions,
            "agencies": dict(self.agencies),
            "related": self.related,
            "source_url": self.source_url,
        }

    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the normalised record: equal content, equal hash."""
        return _sha256(self.to_dict())


def _channel_dict(channel: Channel) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": channel.channel,
        "time_text": channel.time_text,
        "time_unit": channel.time_unit,
        "working_days": channel.working_days,
        "fee_text": channel.fee_text,
        "note": channel.note,
    }
    if channel.time_source is not None:
        data["time_source"] = channel.time_source
    return data


class _RecordReader:
    """Typed access to one raw export record; every failure names the line and the field."""

    def __init__(self, obj: Mapping[str, Any], line: int | None) -> None:
        self.obj = obj
        self.line = line

    def fail(self, field_name: str, message: str) -> InvalidInput:
        where = f"Dòng {self.line}: " if self.line is not None else ""
        code = self.obj.get("code")
        return InvalidInput(
            "catalog.bad_record",
            f"{where}{message}",
            line=self.line,
            field=field_name,
            procedure=code if isinstance(code, str) else None,
        )

    def text(self, value: Any, field_name: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field_name, f"trường '{field_name}' phải là chuỗi văn bản.")
        return _nfc(value)

    def required_text(self, value: Any, field_name: str) -> str:
        text = self.text(value, field_name)
        if not text:
            raise self.fail(field_name, f"thiếu trường '{field_name}'.")
        return text

    def items(self, field_name: str) -> list[Any]:
        value = self.obj.get(field_name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(field_name, f"trường '{field_name}' phải là danh sách.")
        return value

    def mapping(self, value: Any, field_name: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(field_name, f"mỗi phần tử của '{field_name}' phải là đối tượng JSON.")
        return value

    def texts(self, field_name: str) -> tuple[str, ...]:
        """A list of texts; blank entries are dropped."""
        texts = (self.text(v, field_name) for v in self.items(field_name))
        return tuple(t for t in texts if t)

    def number(self, value: Any, field_name: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field_name, f"trường '{field_name}' phải là số.")
        return float(value)


def parse_national_record(obj: Any, *, line: int | None = None) -> NationalProcedure:
    """Validate and normalise one export record; `InvalidInput("catalog.bad_record")` names the line."""
    if not isinstance(obj, Mapping):
        raise InvalidInput(
            "catalog.bad_record",
            f"Dòng {line}: bản ghi phải là một đối tượng JSON."
            if line
            else "Bản ghi phải là một đối tượng JSON.",
            line=line,
            field=None,
        )
    r = _RecordReader(obj, line)
    code = r.required_text(obj.get("code"), "code")
    if not CODE_PATTERN.match(code):
        raise r.fail("code", f"mã thủ tục '{code}' không đúng định dạng d.dddddd (ví dụ 1.001193).")
    return NationalProcedure(
        code=code,
        name=r.required_text(obj.get("name"), "name"),
        decision=r.text(obj.get("decision"), "decision"),
        levels=r.texts("levels"),
        kind=r.text(obj.get("kind"), "kind"),
        field=r.text(obj.get("field"), "field"),
        ministry=r.text(obj.get("ministry"), "ministry"),
        subjects=r.texts("subjects"),
        channels=tuple(_parse_channel(r, r.mapping(c, "channels")) for c in r.items("channels")),
        documents=tuple(_parse_document(r, r.mapping(d, "documents")) for d in r.items("documents")),
        results=r.texts("results"),
        legal_basis=tuple(_parse_legal_basis(r, r.mapping(b, "legal_basis")) for b in r.items("legal_basis")),
        steps=r.text(obj.get("steps"), "steps"),
        conditions=r.text(obj.get("conditions"), "conditions"),
        agencies=_parse_agencies(r),
        related=r.text(obj.get("related"), "related"),
        source_url=r.text(obj.get("source_url"), "source_url"),
    )


def _parse_channel(r: _RecordReader, raw: Mapping[str, Any]) -> Channel:
    return Channel(
        channel=r.required_text(raw.get("channel"), "channels.channel"),
        time_text=r.text(raw.get("time_text"), "channels.time_text"),
        time_unit=r.text(raw.get("time_unit"), "channels.time_unit"),
        working_days=r.number(raw.get("working_days"), "channels.working_days"),
        fee_text=r.text(raw.get("fee_text"), "channels.fee_text"),
        note=r.text(raw.get("note"), "channels.note"),
        time_source=r.text(raw.get("time_source"), "channels.time_source"),
    )


def _parse_document(r: _RecordReader, raw: Mapping[str, Any]) -> RequiredDocument:
    return RequiredDocument(
        name=r.required_text(raw.get("name"), "documents.name"),
        quantity=r.text(raw.get("quantity"), "documents.quantity"),
        form=r.text(raw.get("form"), "documents.form"),
        group=r.text(raw.get("group"), "documents.group"),
    )


def _parse_legal_basis(r: _RecordReader, raw: Mapping[str, Any]) -> tuple[str, str | None]:
    return (
        r.required_text(raw.get("name"), "legal_basis.name"),
        r.text(raw.get("number"), "legal_basis.number"),
    )


def _parse_agencies(r: _RecordReader) -> dict[str, str | None]:
    raw = r.obj.get("agencies")
    if raw is None:
        return {}
    agencies = r.mapping(raw, "agencies")
    return {str(key): r.text(value, f"agencies.{key}") for key, value in agencies.items()}


# --------------------------------------------------------------------------------------------------------
# The HCMC layer
# --------------------------------------------------------------------------------------------------------


class CityLevel(StrEnum):
    COMMUNE = "xa"
    CITY = "tinh"


class TimeUnit(StrEnum):
    WORKING_DAY = "working_day"
    CALENDAR_DAY = "calendar_day"
    HOUR = "hour"

    @property
    def label_vi(self) -> str:
        return {"working_day": "ngày làm việc", "calendar_day": "ngày", "hour": "giờ"}[self.value]


class OnlineLevel(StrEnum):
    FULL = "toan_trinh"
    PARTIAL = "mot_phan"
    NONE = "khong"


class SubmissionChannel(StrEnum):
    ONLINE = "truc_tuyen"
    DESK = "truc_tiep"
    POST = "buu_chinh"


@dataclass(frozen=True)
class ProcessingTime:
    """Legal processing time: an exact amount (e.g. 1/2) of a unit."""

    amount: Fraction
    unit: TimeUnit

    def text_vi(self) -> str:
        """Vietnamese display, e.g. "3 ngày làm việc", "1/2 ngày làm việc"."""
        return f"{self.amount} {self.unit.label_vi}"

    def to_dict(self) -> dict[str, str]:
        return {"amount": str(self.amount), "unit": self.unit.value, "text": self.text_vi()}


@dataclass(frozen=True)
class CityDocument:
    name: str
    required: bool
    quantity: str | None
    # registry data that can replace the paper ("only once"), e.g. "civil_status.birth"; see domain.registry
    satisfied_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "required": self.required, "quantity": self.quantity}
        if self.satisfied_by is not None:  # only when set: unchanged entries keep their content hash
            data["satisfied_by"] = self.satisfied_by
        return data


@dataclass(frozen=True)
class CityProcedure:
    """How Ho Chi Minh City runs one national procedure (one version of the city layer entry)."""

    code: str
    name: str
    level: CityLevel
    receiving_kinds: tuple[str, ...]
    competent: str
    workflow: str
    time: ProcessingTime
    cutoff: dt.time | None
    online: OnlineLevel
    channels: tuple[SubmissionChannel, ...]
    fee_vnd: int | None
    fee_text: str
    form: str | None
    form_schema: Mapping[str, Any] | None = dc_field(hash=False)
    documents: tuple[CityDocument, ...]
    results: tuple[str, ...]
    life_events: tuple[str, ...]
    field_vi: str | None
    legal_basis: tuple[str, ...]
    source_url: str | None
    valid_from: dt.date
    version: int | None = None  # set by the store; None for an entry parsed but not yet stored

    @property
    def is_online(self) -> bool:
        return self.online is not OnlineLevel.NONE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the layer file's shape, with the form schema embedded (without `version`)."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level.value,
            "receiving_kinds": list(self.receiving_kinds),
            "competent": self.competent,
            "workflow": self.workflow,
            "time": {"amount": str(self.time.amount), "unit": self.time.unit.value},
            "cutoff": self.cutoff.strftime("%H:%M") if self.cutoff else None,
            "online": self.online.value,
            "channels": [c.value for c in self.channels],
            "fee": {"amount_vnd": self.fee_vnd, "text": self.fee_text},
            "form": self.form,
            "form_schema": self.form_schema,
            "documents": [d.to_dict() for d in self.documents],
            "results": list(self.results),
            "life_events": list(self.life_events),
            "field_vi": self.field_vi,
            "legal_basis": list(self.legal_basis),
            "source_url": self.source_url,
            "valid_from": self.valid_from.isoformat(),
        }

    def content_hash(self) -> str:
        """Hash of the content only: the same entry re-published with a later `valid_from` is unchanged."""
        data = self.to_dict()
        del data["valid_from"]
        return _sha256(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, version: int | None = None) -> CityProcedure:
        """Rebuild from `to_dict()` output (stored data, already validated when it was loaded)."""
        return cls(
            code=data["code"],
            name=data["name"],
            level=CityLevel(data["level"]),
            receiving_kinds=tuple(data["receiving_kinds"]),
            competent=data["competent"],
            workflow=data["workflow"],
            time=ProcessingTime(Fraction(data["time"]["amount"]), TimeUnit(data["time"]["unit"])),
            cutoff=dt.time.fromisoformat(data["cutoff"]) if data["cutoff"] else None,
            online=OnlineLevel(data["online"]),
            channels=tuple(SubmissionChannel(c) for c in data["channels"]),
            fee_vnd=data["fee"]["amount_vnd"],
            fee_text=data["fee"]["text"],
            form=data["form"],
            form_schema=data["form_schema"],
            documents=tuple(
                CityDocument(d["name"], bool(d["required"]), d["quantity"], d.get("satisfied_by"))
                for d in data["documents"]
            ),
            results=tuple(data["results"]),
            life_events=tuple(data["life_events"]),
            field_vi=data["field_vi"],
            legal_basis=tuple(data["legal_basis"]),
            source_url=data["source_url"],
            valid_from=dt.date.fromisoformat(data["valid_from"]),
            version=version,
        )


@dataclass(frozen=True)
class CityLayerProblem:
    """One validation problem in the city layer: stable code, procedure, field and Vietnamese message."""

    code: str
    procedure: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "procedure": self.procedure, "field": self.field, "message": self.message}


_E = TypeVar("_E", bound=StrEnum)

_ENTRY_KEYS = frozenset(
    {
        "code", "name", "level", "receiving_kinds", "competent", "workflow", "time", "cutoff", "online",
        "channels", "fee", "form", "documents", "results", "life_events", "fields_vi", "field_vi",
        "legal_basis", "source_url",
    }
)  # fmt: skip
_REQUIRED_KEYS = ("level", "receiving_kinds", "competent", "workflow", "time", "online", "channels", "fee")


@dataclass(frozen=True)
class _LayerContext:
    national_codes: AbstractSet[str]
    national_names: Mapping[str, str]
    form_schemas: Mapping[str, Mapping[str, Any]]
    workflow_ids: AbstractSet[str]
    valid_from: dt.date


class _EntryReader:
    """Validates one city-layer entry, recording every problem instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, Any], label: str, problems: list[CityLayerProblem]) -> None:
        self.raw = raw
        self.label = label
        self.problems = problems
        self.failed = False

    def fail(self, code: str, field_name: str, message: str) -> None:
        self.failed = True
        self.problems.append(
            CityLayerProblem(
                code, self.label, field_name, f"Thủ tục {self.label}, trường '{field_name}': {message}"
            )
        )

    def choice(
        self, field_name: str, value: Any, enum: type[_E], code: str = "catalog.bad_field"
    ) -> _E | None:
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            self.fail(code, field_name, f"giá trị {value!r} không hợp lệ (chấp nhận: {allowed}).")
            return None

    def text(self, field_name: str, value: Any, *, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail("catalog.bad_field", field_name, "phải là một chuỗi văn bản không rỗng.")
            return None
        return _nfc(value)

    def texts(self, field_name: str, *, required: bool = False) -> list[str]:
        value = self.raw.get(field_name)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            self.fail("catalog.bad_field", field_name, "phải là một danh sách không rỗng.")
            return []
        return [t for i, item in enumerate(value) if (t := self.text(f"{field_name}[{i}]", item)) is not None]


def parse_city_layer(
    data: Any,
    *,
    national_codes: AbstractSet[str],
    form_schemas: Mapping[str, Mapping[str, Any]],
    workflow_ids: AbstractSet[str],
    national_names: Mapping[str, str] | None = None,
) -> list[CityProcedure]:
    """Validate the whole HCMC layer (the parsed YAML document) against the national catalog, the available
    e-form schemas (slug → schema) and the workflow ids. Raises one `InvalidInput` carrying every problem
    (`details["problems"]`); its code and message are those of the first problem."""
    valid_from = _parse_layer_header(data)
    context = _LayerContext(national_codes, national_names or {}, form_schemas, workflow_ids, valid_from)
    problems: list[CityLayerProblem] = []
    procedures: list[CityProcedure] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(data["procedures"], start=1):
        procedure = _parse_entry(raw, index, context, first_index, problems)
        if procedure is not None:
            procedures.append(procedure)
    if problems:
        first = problems[0]
        more = f" (và {len(problems) - 1} lỗi khác)" if len(problems) > 1 else ""
        raise InvalidInput(
            first.code,
            first.message + more,
            procedure=first.procedure,
            field=first.field,
            problems=[p.as_dict() for p in problems],
        )
    return procedures


def _parse_layer_header(data: Any) -> dt.date:
    if not isinstance(data, Mapping):
        raise InvalidInput("catalog.bad_layer", "Tệp danh mục Thành phố phải là một đối tượng YAML.")
    if data.get("version") != LAYER_FORMAT_VERSION:
        raise InvalidInput(
            "catalog.bad_layer",
            f"Phiên bản định dạng danh mục {data.get('version')!r} không được hỗ trợ (cần {LAYER_FORMAT_VERSION}).",
            field="version",
        )
    valid_from = _as_date(data.get("valid_from"))
    if valid_from is None:
        raise InvalidInput(
            "catalog.bad_layer", "Trường 'valid_from' phải là một ngày dạng YYYY-MM-DD.", field="valid_from"
        )
    if not isinstance(data.get("procedures"), list):
        raise InvalidInput(
            "catalog.bad_layer", "Trường 'procedures' phải là danh sách thủ tục.", field="procedures"
        )
    return valid_from


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _parse_entry(
    raw: Any,
    index: int,
    ctx: _LayerContext,
    first_index: dict[str, int],
    problems: list[CityLayerProblem],
) -> CityProcedure | None:
    if not isinstance(raw, Mapping):
        problems.append(
            CityLayerProblem(
                "catalog.bad_field", f"mục #{index}", "", f"Mục #{index}: mỗi thủ tục phải là một đối tượng."
            )
        )
        return None
    code = raw.get("code")
    label = code if isinstance(code, str) and code else f"mục #{index}"
    r = _EntryReader(raw, label, problems)
    _check_code(r, code, index, ctx, first_index)
    _check_keys(r)
    name = _name(r, code, ctx)
    level = r.choice("level", raw.get("level"), CityLevel)
    receiving_kinds = _receiving_kinds(r)
    competent = _competent(r)
    workflow = _workflow(r, ctx)
    time = _time(r)
    cutoff = _cutoff(r)
    online = r.choice("online", raw.get("online"), OnlineLevel)
    channels = _channels(r, online)
    fee_vnd, fee_text = _fee(r)
    form, form_schema = _form(r, online, ctx)
    documents = _documents(r)
    results = r.texts("results")
    life_events = _life_events(r)
    field_vi = _field_vi(r)
    legal_basis = r.texts("legal_basis")
    source_url = _source_url(r)
    if (
        r.failed
        or name is None
        or level is None
        or competent is None
        or workflow is None
        or time is None
        or online is None
        or fee_text is None
    ):
        return None
    return CityProcedure(
        code=str(code),
        name=name,
        level=level,
        receiving_kinds=receiving_kinds,
        competent=competent,
        workflow=workflow,
        time=time,
        cutoff=cutoff,
        online=online,
        channels=channels,
        fee_vnd=fee_vnd,
        fee_text=fee_text,
        form=form,
        form_schema=form_schema,
        documents=documents,
        results=tuple(results),
        life_events=life_events,
        field_vi=field_vi,
        legal_basis=tuple(legal_basis),
        source_url=source_url,
        valid_from=ctx.valid_from,
    )


def _check_code(
    r: _EntryReader, code: Any, index: int, ctx: _LayerContext, first_index: dict[str, int]
) -> None:
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        r.fail(
            "catalog.bad_code", "code", f"mã thủ tục {code!r} không đúng định dạng d.dddddd (ví dụ 1.001193)."
        )
        return
    if code not in ctx.national_codes:
        r.fail("catalog.unknown_code", "code", f"mã {code} không có trong danh mục thủ tục quốc gia.")
    if code in first_index:
        r.fail("catalog.duplicate_code", "code", f"mã {code} đã được khai báo ở mục #{first_index[code]}.")
    else:
        first_index[code] = index


def _check_keys(r: _EntryReader) -> None:
    for key in r.raw:
        if key not in _ENTRY_KEYS:
            r.fail("catalog.bad_field", str(key), "trường này không có trong định dạng danh mục.")
    for key in _REQUIRED_KEYS:
        if key not in r.raw:
            r.fail("catalog.bad_field", key, "thiếu trường bắt buộc.")


def _name(r: _EntryReader, code: Any, ctx: _LayerContext) -> str | None:
    if r.raw.get("name") is None and isinstance(code, str) and code in ctx.national_names:
        return ctx.national_names[code]
    return r.text("name", r.raw.get("name"))


def _receiving_kinds(r: _EntryReader) -> tuple[str, ...]:
    kinds = r.texts("receiving_kinds", required=True)
    for kind in kinds:
        if kind not in UNIT_KINDS:
            r.fail(
                "catalog.unknown_unit_kind",
                "receiving_kinds",
                f"loại đơn vị '{kind}' không tồn tại (chấp nhận: {', '.join(sorted(UNIT_KINDS))}).",
            )
    return tuple(kinds)


def _competent(r: _EntryReader) -> str | None:
    """`receiving` | `kind:<UnitKind>` | a unit id slug (e.g. `so-tu-phap`)."""
    value = r.text("competent", r.raw.get("competent"))
    if value is None:
        return None
    if value.startswith("kind:"):
        if value.removeprefix("kind:") not in UNIT_KINDS:
            r.fail("catalog.unknown_unit_kind", "competent", f"loại đơn vị trong '{value}' không tồn tại.")
            return None
        return value
    if not _SLUG.match(value):
        r.fail(
            "catalog.bad_field",
            "competent",
            f"'{value}' không hợp lệ (dùng 'receiving', 'kind:<loại đơn vị>' hoặc mã đơn vị như 'so-tu-phap').",
        )
        return None
    return value


def _workflow(r: _EntryReader, ctx: _LayerContext) -> str | None:
    value = r.raw.get("workflow")
    if not isinstance(value, str) or value not in ctx.workflow_ids:
        known = ", ".join(sorted(ctx.workflow_ids)) or "(chưa có quy trình nào)"
        r.fail("catalog.unknown_workflow", "workflow", f"quy trình {value!r} không tồn tại (có: {known}).")
        return None
    return value


def _amount(value: Any) -> Fraction | None:
    """An exact amount from an int, a decimal or fraction string ("1/2", "0.5") or a float."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            return Fraction(value)
        if isinstance(value, float):
            return Fraction(repr(value))
        if isinstance(value, str):
            return Fraction(value.strip())
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _time(r: _EntryReader) -> ProcessingTime | None:
    raw = r.raw.get("time")
    if not isinstance(raw, Mapping):
        r.fail("catalog.bad_field", "time", "phải có dạng {amount: <số>, unit: <đơn vị>}.")
        return None
    unit = r.choice("time.unit", raw.get("unit"), TimeUnit, "catalog.bad_time_unit")
    amount = _amount(raw.get("amount"))
    if amount is None:
        r.fail(
            "catalog.bad_field",
            "time.amount",
            f'{raw.get("amount")!r} không phải là một số (ví dụ 3, "1/2").',
        )
    elif amount <= 0:
        r.fail("catalog.bad_amount", "time.amount", f"thời hạn giải quyết phải lớn hơn 0 (đang là {amount}).")
    if unit is None or amount is None or amount <= 0:
        return None
    return ProcessingTime(amount, unit)


def _cutoff(r: _EntryReader) -> dt.time | None:
    value = r.raw.get("cutoff")
    if value is None:
        return None
    match = _CUTOFF.match(value) if isinstance(value, str) else None
    if match is None:
        hint = ' (trong YAML hãy đặt trong dấu nháy, ví dụ "15:00")' if isinstance(value, int) else ""
        r.fail("catalog.bad_cutoff", "cutoff", f'giờ chốt {value!r} phải có dạng HH:MM, ví dụ "15:00"{hint}.')
        return None
    return dt.time(int(match["h"]), int(match["m"]))


def _channels(r: _EntryReader, online: OnlineLevel | None) -> tuple[SubmissionChannel, ...]:
    channels: list[SubmissionChannel] = []
    for value in r.texts("channels", required=True):
        try:
            channels.append(SubmissionChannel(value))
        except ValueError:
            allowed = ", ".join(c.value for c in SubmissionChannel)
            r.fail("catalog.bad_field", "channels", f"kênh '{value}' không hợp lệ (chấp nhận: {allowed}).")
    has_online_channel = SubmissionChannel.ONLINE in channels
    if online is OnlineLevel.NONE and has_online_channel:
        r.fail(
            "catalog.bad_field",
            "channels",
            "thủ tục không trực tuyến (online: khong) không thể có kênh truc_tuyen.",
        )
    if online in (OnlineLevel.FULL, OnlineLevel.PARTIAL) and channels and not has_online_channel:
        r.fail(
            "catalog.bad_field", "channels", f"thủ tục trực tuyến (online: {online}) phải có kênh truc_tuyen."
        )
    return tuple(channels)


def _fee(r: _EntryReader) -> tuple[int | None, str | None]:
    raw = r.raw.get("fee")
    if not isinstance(raw, Mapping):
        r.fail("catalog.bad_field", "fee", "phải có dạng {amount_vnd: <số nguyên hoặc null>, text: <mô tả>}.")
        return None, None
    amount = raw.get("amount_vnd")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        r.fail("catalog.bad_field", "fee.amount_vnd", f"{amount!r} phải là số nguyên (đồng) hoặc null.")
        amount = None
    elif isinstance(amount, int) and amount < 0:
        r.fail("catalog.bad_amount", "fee.amount_vnd", f"lệ phí không được âm (đang là {amount}).")
        amount = None
    return amount, r.text("fee.text", raw.get("text"))


def _form(
    r: _EntryReader, online: OnlineLevel | None, ctx: _LayerContext
) -> tuple[str | None, Mapping[str, Any] | None]:
    slug = r.raw.get("form")
    if slug is None:
        if online in (OnlineLevel.FULL, OnlineLevel.PARTIAL):
            r.fail(
                "catalog.form_missing",
                "form",
                f"thủ tục trực tuyến (online: {online}) phải có biểu mẫu điện tử.",
            )
        return None, None
    if not isinstance(slug, str) or not _SLUG.match(slug):
        r.fail("catalog.bad_field", "form", f"tên biểu mẫu {slug!r} phải là slug, ví dụ 'khai-sinh'.")
        return None, None
    schema = ctx.form_schemas.get(slug)
    if schema is None:
        r.fail("catalog.form_missing", "form", f"không tìm thấy biểu mẫu 'forms/{slug}.schema.json'.")
        return None, None
    problem = form_schema_problem(schema)
    if problem is not None:
        r.fail(
            "catalog.bad_form_schema", "form", f"biểu mẫu '{slug}' không phải JSON Schema hợp lệ: {problem}"
        )
        return None, None
    return slug, schema


def form_schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a usable e-form (a draft 2020-12 JSON Schema of an object), or None."""
    if not isinstance(schema, Mapping):
        return "biểu mẫu phải là một đối tượng JSON."
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(gốc)"
        return f"tại {path}: {exc.message}"
    if schema.get("type") != "object":
        return 'biểu mẫu phải có "type": "object".'
    return None


def _documents(r: _EntryReader) -> tuple[CityDocument, ...]:
    raw = r.raw.get("documents")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        r.fail("catalog.bad_field", "documents", "phải là danh sách giấy tờ.")
        return ()
    documents = []
    for i, item in enumerate(raw):
        document = _document(r, f"documents[{i}]", item)
        if document is not None:
            documents.append(document)
    return tuple(documents)


_SATISFIED_BY = re.compile(r"^(?:related:)?[a-z_]+\.[a-z_]+$")


def _document(r: _EntryReader, where: str, item: Any) -> CityDocument | None:
    if not isinstance(item, Mapping) or set(item) - {"name", "required", "quantity", "satisfied_by"}:
        r.fail("catalog.bad_field", where, "phải có dạng {name, required, quantity, satisfied_by?}.")
        return None
    required = item.get("required", True)
    if not isinstance(required, bool):
        r.fail("catalog.bad_field", f"{where}.required", "phải là true hoặc false.")
        return None
    name = r.text(f"{where}.name", item.get("name"))
    quantity = r.text(f"{where}.quantity", item.get("quantity"), required=False)
    satisfied_by = item.get("satisfied_by")
    if satisfied_by is not None and not (isinstance(satisfied_by, str) and _SATISFIED_BY.match(satisfied_by)):
        r.fail(
            "catalog.bad_field",
            f"{where}.satisfied_by",
            f"{satisfied_by!r} phải có dạng <nguồn>.<phần hồ sơ>, ví dụ civil_status.birth.",
        )
        return None
    return CityDocument(name, required, quantity, satisfied_by) if name is not None else None


def _life_events(r: _EntryReader) -> tuple[str, ...]:
    events = r.texts("life_events")
    for event in events:
        if not _SLUG.match(event):
            r.fail("catalog.bad_field", "life_events", f"'{event}' phải là slug, ví dụ 'sinh-con'.")
    return tuple(events)


def _field_vi(r: _EntryReader) -> str | None:
    key = "fields_vi" if "fields_vi" in r.raw else "field_vi"
    return r.text(key, r.raw.get(key), required=False)


def _source_url(r: _EntryReader) -> str | None:
    url = r.text("source_url", r.raw.get("source_url"), required=False)
    if url is not None and not url.startswith(("https://", "http://")):
        r.fail("catalog.bad_field", "source_url", f"'{url}' phải là một địa chỉ http(s).")
        return None
    return url


_WORD = re.compile(r"\w+")


def search_key(text: str) -> str:
    """The accent-folded words of `text` joined by single spaces, punctuation dropped.

    "Thủ tục đăng ký khai sinh (cấp xã)" → "thu tuc dang ky khai sinh cap xa". Names are stored in this form
    and every query word must start a word of it, so "dang ky khai sinh" finds "Đăng ký khai sinh".
    """
    return " ".join(_WORD.findall(fold(text)))
