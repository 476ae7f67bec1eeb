"""The catalog's pure rules: national records (validation, NFC, content hash) and the HCMC layer validation."""

from __future__ import annotations

import copy
import datetime as dt
import unicodedata
from fractions import Fraction
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from motcua.domain.catalog import (
    CityLevel,
    CityProcedure,
    OnlineLevel,
    SubmissionChannel,
    TimeUnit,
    form_schema_problem,
    parse_city_layer,
    parse_national_record,
    search_key,
)
from motcua.domain.errors import InvalidInput

# --- national records -----------------------------------------------------------------------------------


def national_record(**changes: Any) -> dict[str, Any]:
    """The real 1.001193 record, shortened (shape of the national export)."""
    record: dict[str, Any] = {
        "code": "1.001193",
        "name": "Thủ tục đăng ký khai sinh",
        "decision": "163/QĐ-BTP",
        "levels": ["Cấp xã"],
        "kind": "TTHC được giao luật quy định chi tiết",
        "field": "Hộ tịch",
        "ministry": "bo-tu-phap",
        "subjects": ["Công dân Việt Nam", "Người Việt Nam định cư ở nước ngoài"],
        "channels": [
            {
                "channel": "Trực tuyến",
                "time_text": "1",
                "time_unit": "unstated",
                "working_days": 1.0,
                "fee_text": "Miễn phí",
            },
            {
                "channel": "Trực tiếp",
                "time_text": "1",
                "time_unit": "unstated",
                "working_days": 1.0,
                "fee_text": "Miễn phí",
                "note": "Ngay trong ngày tiếp nhận",
            },
        ],
        "documents": [
            {"name": "Giấy chứng sinh", "quantity": "1 bản chính", "form": None, "group": "Giấy tờ phải nộp"},
            {"name": "Tờ khai đăng ký khai sinh", "quantity": "1 bản chính", "form": "TK.docx"},
        ],
        "results": ["Giấy khai sinh"],
        "legal_basis": [
            {"name": "Luật Hộ tịch", "number": "60/2014/QH13"},
            {"name": "Công văn", "number": None},
        ],
        "steps": "Bước 1: nộp hồ sơ. Bước 2: nhận kết quả.",
        "conditions": None,
        "agencies": {"competent": "UBND cấp xã", "implementing": "UBND cấp xã", "receiving": None},
        "related": None,
        "source_url": "https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.001193",
    }
    record.update(changes)
    return record


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_a_record_is_parsed_into_typed_fields() -> None:
    procedure = parse_national_record(national_record(), line=1)
    assert procedure.code == "1.001193"
    assert procedure.levels == ("Cấp xã",)
    assert procedure.channels[1].note == "Ngay trong ngày tiếp nhận"
    assert procedure.channels[0].working_days == 1.0
    assert procedure.documents[1].form == "TK.docx"
    assert procedure.documents[1].group is None
    assert procedure.legal_basis == (("Luật Hộ tịch", "60/2014/QH13"), ("Công văn", None))
    assert procedure.agencies["competent"] == "UBND cấp xã"


def test_decomposed_text_is_stored_composed_and_trimmed() -> None:
    procedure = parse_national_record(national_record(name="  " + nfd("Thủ tục đăng ký khai sinh") + " "))
    assert procedure.name == "Thủ tục đăng ký khai sinh"
    assert unicodedata.is_normalized("NFC", procedure.name)


@pytest.mark.parametrize("code", ["1.00119", "1001193", "10.001193", "1.001193a", "", "a.bcdefg"])
def test_a_bad_code_is_rejected_with_its_line(code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_national_record(national_record(code=code), line=7)
    assert err.value.code == "catalog.bad_record"
    assert err.value.details["line"] == 7
    assert err.value.details["field"] == "code"
    assert err.value.message.startswith("Dòng 7:")


@pytest.mark.parametrize("name", ["", "   ", None, 12])
def test_a_record_without_a_name_is_rejected(name: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_national_record(national_record(name=name), line=3)
    assert err.value.code == "catalog.bad_record"
    assert err.value.details["field"] == "name"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"levels": "Cấp xã"}, "levels"),
        ({"channels": [{"channel": "Trực tuyến", "working_days": "một"}]}, "channels.working_days"),
        ({"documents": ["Giấy chứng sinh"]}, "documents"),
        ({"agencies": ["UBND"]}, "agencies"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_national_record(national_record(**changes), line=2)
    assert err.value.details["field"] == field


def test_a_record_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_national_record(["1.001193"], line=4)
    assert err.value.code == "catalog.bad_record"
    assert "Dòng 4" in err.value.message


def test_content_hash_identifies_content_not_spelling() -> None:
    original = parse_national_record(national_record())
    decomposed = parse_national_record(national_record(name=nfd("Thủ tục đăng ký khai sinh")))
    reordered = parse_national_record(dict(reversed(list(national_record().items()))))
    renamed = parse_national_record(national_record(name="Thủ tục đăng ký khai sinh (sửa đổi)"))
    assert original.content_hash() == decomposed.content_hash() == reordered.content_hash()
    assert original.content_hash() != renamed.content_hash()
    assert len(original.content_hash()) == 64


@given(st.text(min_size=1).filter(lambda s: s.strip()), st.lists(st.text(), max_size=3))
def test_a_normalised_record_reparses_to_itself(name: str, subjects: list[str]) -> None:
    procedure = parse_national_record(national_record(name=name, subjects=[s or "x" for s in subjects]))
    again = parse_national_record(procedure.to_dict())
    assert again == procedure
    assert again.content_hash() == procedure.content_hash()


def test_search_key_folds_accents_and_drops_punctuation() -> None:
    assert search_key("Thủ tục ĐĂNG KÝ khai sinh (cấp xã)") == "thu tuc dang ky khai sinh cap xa"
    assert search_key("dang ky  khai sinh") == search_key("Đăng ký khai sinh")


# --- the HCMC layer -------------------------------------------------------------------------------------

WORKFLOWS = frozenset({"tieu-chuan", "lien-thong-xa-tinh"})
NATIONAL_NAMES = {
    "1.001193": "Thủ tục đăng ký khai sinh",
    "1.004194": "Đăng ký tạm trú",
    "2.000815": "Chứng thực bản sao từ bản chính",
    "1.000894": "Thủ tục đăng ký kết hôn",
}
KHAI_SINH_FORM: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Tờ khai đăng ký khai sinh",
    "type": "object",
    "required": ["ho_ten"],
    "properties": {"ho_ten": {"title": "Họ, chữ đệm, tên", "type": "string", "minLength": 2}},
    "additionalProperties": False,
}
LAYER_YAML = """
version: 1
valid_from: 2025-07-01
procedures:
  - code: "1.001193"
    name: "Đăng ký khai sinh"
    level: xa
    receiving_kinds: [phuong, xa, dac_khu]
    competent: receiving
    workflow: tieu-chuan
    time: {amount: 1, unit: working_day}
    cutoff: "15:00"
    online: toan_trinh
    channels: [truc_tuyen, truc_tiep, buu_chinh]
    fee: {amount_vnd: 0, text: "Miễn lệ phí"}
    form: khai-sinh
    documents:
      - {name: "Tờ khai đăng ký khai sinh theo mẫu", required: true, quantity: "1 bản chính"}
      - {name: "Giấy chứng sinh", quantity: "1 bản chính"}
    results: ["Giấy khai sinh (bản chính)"]
    life_events: [sinh-con]
    fields_vi: "Hộ tịch"
    legal_basis: ["Luật Hộ tịch 2014"]
    source_url: "https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.001193"
  - code: "2.000815"
    level: xa
    receiving_kinds: [phuong, xa]
    competent: so-tu-phap
    workflow: lien-thong-xa-tinh
    time: {amount: "1/2", unit: working_day}
    online: khong
    channels: [truc_tiep]
    fee: {amount_vnd: null, text: "2.000 đồng/trang"}
"""


def layer() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LAYER_YAML)
    return data


def parse(data: dict[str, Any], forms: dict[str, Any] | None = None) -> list[CityProcedure]:
    return parse_city_layer(
        data,
        national_codes=NATIONAL_NAMES.keys(),
        national_names=NATIONAL_NAMES,
        form_schemas={"khai-sinh": KHAI_SINH_FORM} if forms is None else forms,
        workflow_ids=WORKFLOWS,
    )


def problem_of(data: dict[str, Any], forms: dict[str, Any] | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        parse(data, forms)
    return err.value


def test_a_valid_layer_parses_with_exact_times_and_defaults() -> None:
    khai_sinh, chung_thuc = parse(layer())
    assert khai_sinh.level is CityLevel.COMMUNE
    assert khai_sinh.time.amount == 1 and khai_sinh.time.unit is TimeUnit.WORKING_DAY
    assert khai_sinh.cutoff == dt.time(15, 0)
    assert khai_sinh.online is OnlineLevel.FULL and khai_sinh.is_online
    assert khai_sinh.channels[0] is SubmissionChannel.ONLINE
    assert khai_sinh.form_schema == KHAI_SINH_FORM
    assert khai_sinh.documents[1].required is True  # required defaults to true
    assert khai_sinh.field_vi == "Hộ tịch"
    assert khai_sinh.valid_from == dt.date(2025, 7, 1)
    assert chung_thuc.time.amount == Fraction(1, 2)
    assert chung_thuc.name == "Chứng thực bản sao từ bản chính"  # the national name when omitted
    assert chung_thuc.fee_vnd is None and chung_thuc.form is None and not chung_thuc.is_online
    assert chung_thuc.time.text_vi() == "1/2 ngày làm việc"


def test_a_city_procedure_round_trips_through_its_stored_form() -> None:
    for procedure in parse(layer()):
        assert CityProcedure.from_dict(procedure.to_dict()) == procedure


def test_city_content_hash_ignores_the_effective_date_but_not_the_fee() -> None:
    later = layer()
    later["valid_from"] = "2026-01-01"
    dearer = layer()
    dearer["procedures"][1]["fee"]["amount_vnd"] = 3000
    base = parse(layer())[1]
    assert parse(later)[1].content_hash() == base.content_hash()
    assert parse(dearer)[1].content_hash() != base.content_hash()


def entry_with(index: int, **changes: Any) -> dict[str, Any]:
    data = layer()
    data["procedures"][index].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "code", "field", "words"),
    [
        (entry_with(0, code="1.999999"), "catalog.unknown_code", "code", "danh mục thủ tục quốc gia"),
        (entry_with(0, code="1.1193"), "catalog.bad_code", "code", "d.dddddd"),
        (entry_with(0, workflow="nhanh"), "catalog.unknown_workflow", "workflow", "tieu-chuan"),
        (entry_with(0, time={"amount": 1, "unit": "week"}), "catalog.bad_time_unit", "time.unit", "week"),
        (entry_with(0, time={"amount": -2, "unit": "hour"}), "catalog.bad_amount", "time.amount", "lớn hơn 0"),
        (entry_with(0, time={"amount": 0, "unit": "hour"}), "catalog.bad_amount", "time.amount", "lớn hơn 0"),
        (entry_with(0, time={"amount": "ba", "unit": "hour"}), "catalog.bad_field", "time.amount", "không phải"),
        (entry_with(0, fee={"amount_vnd": -1, "text": "x"}), "catalog.bad_amount", "fee.amount_vnd", "âm"),
        (entry_with(0, receiving_kinds=["phuong", "quan"]), "catalog.unknown_unit_kind", "receiving_kinds", "quan"),
        (entry_with(0, competent="kind:huyen"), "catalog.unknown_unit_kind", "competent", "kind:huyen"),
        (entry_with(0, competent="Sở Tư pháp"), "catalog.bad_field", "competent", "so-tu-phap"),
        (entry_with(0, cutoff="25:00"), "catalog.bad_cutoff", "cutoff", "HH:MM"),
        (entry_with(0, cutoff="3pm"), "catalog.bad_cutoff", "cutoff", "HH:MM"),
        (entry_with(0, level="huyen"), "catalog.bad_field", "level", "xa, tinh"),
        (entry_with(0, online="co"), "catalog.bad_field", "online", "toan_trinh"),
        (entry_with(1, channels=["truc_tiep", "truc_tuyen"]), "catalog.bad_field", "channels", "truc_tuyen"),
        (entry_with(0, channels=["truc_tiep"]), "catalog.bad_field", "channels", "truc_tuyen"),
        (entry_with(0, fields="Hộ tịch"), "catalog.bad_field", "fields", "không có trong định dạng"),
        (entry_with(0, source_url="dichvucong.gov.vn"), "catalog.bad_field", "source_url", "http"),
        (entry_with(0, documents=[{"name": "Giấy chứng sinh", "required": "có"}]), "catalog.bad_field",
         "documents[0].required", "true"),
    ],
)  # fmt: skip
def test_each_bad_entry_is_reported_with_its_code_and_field(
    data: dict[str, Any], code: str, field: str, words: str
) -> None:
    error = problem_of(data)
    assert error.code == code
    assert error.details["field"] == field
    assert error.details["procedure"] in error.message
    assert words in error.message


def test_a_duplicate_code_points_at_the_first_entry() -> None:
    data = layer()
    data["procedures"].append(copy.deepcopy(data["procedures"][1]))
    error = problem_of(data)
    assert error.code == "catalog.duplicate_code"
    assert "2.000815" in error.message and "mục #2" in error.message


def test_an_online_procedure_without_a_form_is_rejected() -> None:
    data = layer()
    del data["procedures"][0]["form"]
    error = problem_of(data)
    assert error.code == "catalog.form_missing"
    assert error.details["procedure"] == "1.001193"


def test_a_form_slug_without_a_schema_file_is_rejected() -> None:
    error = problem_of(layer(), forms={})
    assert error.code == "catalog.form_missing"
    assert "forms/khai-sinh.schema.json" in error.message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "objekt"},
        {"type": "object", "properties": {"ho_ten": {"type": "string", "minLength": -1}}},
        {"type": "object", "required": "ho_ten"},
        {"type": "string"},
        ["not", "a", "schema"],
    ],
)
def test_a_form_that_is_not_a_valid_json_schema_is_rejected(schema: Any) -> None:
    error = problem_of(layer(), forms={"khai-sinh": schema})
    assert error.code == "catalog.bad_form_schema"
    assert "khai-sinh" in error.message


def test_a_valid_form_schema_has_no_problem() -> None:
    assert form_schema_problem(KHAI_SINH_FORM) is None


def test_an_unquoted_yaml_cutoff_gets_a_quoting_hint() -> None:
    data = layer()
    data["procedures"][0]["cutoff"] = yaml.safe_load("cutoff: 15:00")["cutoff"]  # YAML 1.1 reads 900
    error = problem_of(data)
    assert error.code == "catalog.bad_cutoff"
    assert "dấu nháy" in error.message


def test_every_problem_is_reported_at_once() -> None:
    data = layer()
    data["procedures"][0].update(workflow="nhanh", cutoff="7h")
    data["procedures"][1].update(time={"amount": 1, "unit": "tuan"})
    error = problem_of(data)
    codes = [p["code"] for p in error.details["problems"]]
    assert codes == ["catalog.unknown_workflow", "catalog.bad_cutoff", "catalog.bad_time_unit"]
    assert "(và 2 lỗi khác)" in error.message


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ({"version": 2}, "version"),
        ({"valid_from": "1/7/2025"}, "valid_from"),
        ({"procedures": None}, "procedures"),
    ],
)
def test_a_bad_file_header_is_rejected(header: dict[str, Any], field: str) -> None:
    data = layer()
    data.update(header)
    error = problem_of(data)
    assert error.code == "catalog.bad_layer"
    assert error.details["field"] == field
