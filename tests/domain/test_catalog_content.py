"""The packaged HCMC catalog content: `motcua/data/catalog/hcmc_procedures.yaml` and its e-forms.

Checks the files on their own (no database, no catalog code): every entry names a real national procedure and
agrees with its national record, every online procedure has a usable e-form, and every e-form is a strict,
titled draft 2020-12 schema whose own example is accepted while obviously wrong payloads are rejected.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import unicodedata
from collections.abc import Iterator
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

import motcua

DATA_DIR = Path(motcua.__file__).parent / "data"
CATALOG_DIR = DATA_DIR / "catalog"
LAYER_FILE = CATALOG_DIR / "hcmc_procedures.yaml"
FORMS_DIR = CATALOG_DIR / "forms"

UNIT_KINDS = {
    "thanh_pho",
    "so",
    "trung_tam",
    "phuong",
    "xa",
    "dac_khu",
    "cong_an_tp",
    "cong_an_xa",
    "ban_quan_ly",
}
COMMUNE_KINDS = {"phuong", "xa", "dac_khu"}
DEPARTMENTS = {
    "so-tu-phap",
    "so-xay-dung",
    "so-cong-thuong",
    "so-y-te",
    "so-tai-chinh",
    "so-noi-vu",
    "so-nong-nghiep-va-moi-truong",
    "so-giao-duc-va-dao-tao",
    "so-khoa-hoc-va-cong-nghe",
    "so-van-hoa-va-the-thao",
}
WORKFLOWS = {"tieu-chuan", "lien-thong-xa-tinh"}
TIME_UNITS = {"working_day", "calendar_day", "hour"}
ONLINE_LEVELS = {"toan_trinh", "mot_phan", "khong"}
CHANNELS = {"truc_tuyen", "truc_tiep", "buu_chinh"}
LIFE_EVENTS = {
    "sinh-con",
    "ket-hon",
    "qua-doi",
    "cu-tru",
    "nha-dat",
    "kinh-doanh",
    "viec-lam",
    "giay-to-ca-nhan",
}
ENTRY_KEYS = {
    "code",
    "name",
    "level",
    "receiving_kinds",
    "competent",
    "workflow",
    "time",
    "cutoff",
    "online",
    "channels",
    "fee",
    "form",
    "documents",
    "results",
    "life_events",
    "fields_vi",
    "legal_basis",
    "source_url",
}
# Letters that only Vietnamese (not plain ASCII) spelling uses: a title without any is not Vietnamese text.
VIETNAMESE_LETTER = re.compile(r"[ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ]", re.I)
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
ID_PATTERN = "^[0-9]{12}$"


# --- loading ----------------------------------------------------------------------------------------


def national_file() -> Path:
    """The packaged national catalog, wherever the package currently keeps it."""
    for candidate in (
        CATALOG_DIR / "national_procedures.jsonl.gz",
        DATA_DIR / "national_procedures.jsonl.gz",
    ):
        if candidate.exists():
            return candidate
    raise AssertionError("national_procedures.jsonl.gz is not in the package data")


@cache
def national_records() -> dict[str, dict[str, Any]]:
    with gzip.open(national_file(), "rt", encoding="utf-8") as lines:
        records = (json.loads(line) for line in lines if line.strip())
        return {record["code"]: record for record in records}


@cache
def layer() -> dict[str, Any]:
    data = yaml.safe_load(LAYER_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def procedures() -> list[dict[str, Any]]:
    entries = layer()["procedures"]
    assert isinstance(entries, list)
    return entries


@cache
def form_schema(slug: str) -> dict[str, Any]:
    schema = json.loads((FORMS_DIR / f"{slug}.schema.json").read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def form_slugs() -> list[str]:
    return sorted(path.name.removesuffix(".schema.json") for path in FORMS_DIR.glob("*.schema.json"))


def validator(slug: str) -> Draft202012Validator:
    return Draft202012Validator(form_schema(slug), format_checker=Draft202012Validator.FORMAT_CHECKER)


def example(slug: str) -> dict[str, Any]:
    examples = form_schema(slug)["examples"]
    assert isinstance(examples, list) and examples, f"{slug}: no example payload"
    return copy.deepcopy(examples[0])


def by_code(code: str) -> dict[str, Any]:
    return next(p for p in procedures() if p["code"] == code)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["code"] for entry in entries]


# --- schema walking ---------------------------------------------------------------------------------


def subschemas(schema: dict[str, Any], path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, schema) node: the root, each property and each array item schema."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from subschemas(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from subschemas(schema["items"], f"{path}[]")


def object_depth(schema: dict[str, Any]) -> int:
    """How many object levels sit below the root (root object = 0)."""
    children = list(schema.get("properties", {}).values())
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    deepest = max((object_depth(child) for child in children), default=0)
    return deepest + (1 if schema.get("type") == "object" else 0)


def id_field_paths(
    schema: dict[str, Any], payload: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Paths inside `payload` whose schema demands a 12-digit personal ID."""
    if schema.get("pattern") == ID_PATTERN and isinstance(payload, str):
        yield path
    if isinstance(payload, dict):
        for name, value in payload.items():
            sub = schema.get("properties", {}).get(name)
            if sub is not None:
                yield from id_field_paths(sub, value, (*path, name))
    if isinstance(payload, list) and isinstance(schema.get("items"), dict):
        for index, value in enumerate(payload):
            yield from id_field_paths(schema["items"], value, (*path, index))


def set_at(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    target = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


# --- the layer file -----------------------------------------------------------------------------------


def test_layer_header_and_size() -> None:
    data = layer()
    assert data["version"] == 1
    assert str(data["valid_from"]) == "2025-07-01"
    assert len(procedures()) >= 30


def test_codes_are_unique_and_exist_in_the_national_catalog() -> None:
    codes = ids(procedures())
    assert len(codes) == len(set(codes)), "duplicate procedure code"
    national = national_records()
    unknown = [code for code in codes if code not in national]
    assert not unknown, f"codes missing from the national catalog: {unknown}"


@pytest.mark.parametrize("entry", procedures(), ids=ids(procedures()))
def test_entry_is_complete_and_well_typed(entry: dict[str, Any]) -> None:
    code = entry["code"]
    assert set(entry) <= ENTRY_KEYS, f"{code}: unknown keys {set(entry) - ENTRY_KEYS}"
    assert isinstance(code, str) and re.fullmatch(r"\d\.\d{6}", code)
    assert entry["name"].strip() and unicodedata.is_normalized("NFC", entry["name"])
    assert entry["level"] in {"xa", "tinh"}
    assert entry["receiving_kinds"] and set(entry["receiving_kinds"]) <= UNIT_KINDS
    assert entry["workflow"] in WORKFLOWS
    competent = entry["competent"]
    assert (
        competent == "receiving"
        or competent in DEPARTMENTS
        or (competent.startswith("kind:") and competent.removeprefix("kind:") in UNIT_KINDS)
    ), f"{code}: competent {competent!r}"
    assert entry["fields_vi"].strip() and entry["results"] and entry["legal_basis"]
    assert set(entry.get("life_events", [])) <= LIFE_EVENTS


@pytest.mark.parametrize("entry", procedures(), ids=ids(procedures()))
def test_time_cutoff_and_fee(entry: dict[str, Any]) -> None:
    time = entry["time"]
    assert time["unit"] in TIME_UNITS
    assert Fraction(str(time["amount"])) > 0
    if "cutoff" in entry:
        assert isinstance(entry["cutoff"], str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", entry["cutoff"])
    fee = entry["fee"]
    assert fee["text"].strip()
    assert fee["amount_vnd"] is None or (isinstance(fee["amount_vnd"], int) and fee["amount_vnd"] >= 0)


@pytest.mark.parametrize("entry", procedures(), ids=ids(procedures()))
def test_documents_are_curated(entry: dict[str, Any]) -> None:
    documents = entry["documents"]
    assert any(doc["required"] for doc in documents), f"{entry['code']}: no required document"
    names = [doc["name"] for doc in documents]
    assert len(names) == len(set(names)), f"{entry['code']}: duplicate document"
    for doc in documents:
        # `satisfied_by` (optional): the registry data that replaces the paper (the data-sharing gateway)
        keys = set(doc)
        assert {"name", "required", "quantity"} <= keys <= {"name", "required", "quantity", "satisfied_by"}
        assert isinstance(doc["required"], bool) and doc["quantity"].strip()
        # Clean names: no list markers or leftover bullets copied from the portal tables.
        assert not re.match(r"^\s*([-+*•]|\(?\d+\)|[a-zđ]\))", doc["name"]), doc["name"]
        assert len(doc["name"]) <= 220, f"{entry['code']}: document name too long"


@pytest.mark.parametrize("entry", procedures(), ids=ids(procedures()))
def test_entry_agrees_with_its_national_record(entry: dict[str, Any]) -> None:
    record = national_records()[entry["code"]]
    assert entry["source_url"] == record["source_url"]
    stated = {
        channel["working_days"] for channel in record["channels"] if channel["working_days"] is not None
    }
    if stated:  # where the national record states a time, the city uses one of its values
        assert float(Fraction(str(entry["time"]["amount"]))) in stated, (entry["code"], sorted(stated))


@pytest.mark.parametrize("entry", procedures(), ids=ids(procedures()))
def test_online_level_matches_channels_and_form(entry: dict[str, Any]) -> None:
    channels = set(entry["channels"])
    assert channels and channels <= CHANNELS
    assert entry["online"] in ONLINE_LEVELS
    if entry["online"] == "khong":
        assert "truc_tuyen" not in channels
    else:
        assert "truc_tuyen" in channels
        assert (FORMS_DIR / f"{entry['form']}.schema.json").is_file(), f"{entry['code']}: form missing"


def test_every_form_file_is_used_by_a_procedure() -> None:
    used = {entry["form"] for entry in procedures() if "form" in entry}
    assert set(form_slugs()) == used


def test_routing_follows_the_two_level_model() -> None:
    for entry in procedures():
        code, kinds = entry["code"], set(entry["receiving_kinds"])
        if entry["fields_vi"] == "Cư trú":  # residence: commune police receives and decides
            assert kinds == {"cong_an_xa"} and entry["competent"] == "receiving", code
        if entry["workflow"] == "lien-thong-xa-tinh":  # commune receives, a city department decides
            assert entry["level"] == "tinh" and kinds <= COMMUNE_KINDS, code
            assert entry["competent"] in DEPARTMENTS, code
        if entry["level"] == "xa" and entry["fields_vi"] != "Cư trú":
            assert kinds <= COMMUNE_KINDS and entry["competent"] == "receiving", code
    assert sum(entry["workflow"] == "lien-thong-xa-tinh" for entry in procedures()) >= 2


def test_well_known_procedures_are_offered_as_expected() -> None:
    khai_sinh = by_code("1.001193")
    assert khai_sinh["online"] == "toan_trinh" and khai_sinh["cutoff"] == "15:00"
    assert khai_sinh["time"] == {"amount": 1, "unit": "working_day"}
    assert by_code("2.000884")["online"] == "khong"  # a signature is certified in person
    company = by_code("2.001583")
    assert company["receiving_kinds"] == ["trung_tam"] and company["competent"] == "so-tai-chinh"
    assert by_code("1.004194")["form"] == "tam-tru"


# --- the e-forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", form_slugs())
def test_form_is_a_valid_draft_2020_12_schema(slug: str) -> None:
    schema = form_schema(slug)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"motcua:form/{slug}"
    assert schema["type"] == "object" and schema["required"]
    assert "$ref" not in json.dumps(schema)


@pytest.mark.parametrize("slug", form_slugs())
def test_form_is_strict_and_titled_in_vietnamese(slug: str) -> None:
    schema = form_schema(slug)
    for path, node in subschemas(schema):
        title = node.get("title", "")
        assert VIETNAMESE_LETTER.search(title), f"{slug} {path}: title {title!r} is not Vietnamese"
        assert unicodedata.is_normalized("NFC", title)
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False, f"{slug} {path}: additionalProperties"
            assert set(node.get("required", [])) <= set(node["properties"]), f"{slug} {path}: required"
            for name in node["properties"]:
                assert PROPERTY_NAME.match(name), f"{slug} {path}.{name}: property name"
    assert object_depth(schema) <= 2, f"{slug}: objects nested deeper than two levels"


@pytest.mark.parametrize("slug", form_slugs())
def test_form_is_concise(slug: str) -> None:
    leaves = [
        path for path, node in subschemas(form_schema(slug)) if node.get("type") not in {"object", "array"}
    ]
    assert 8 <= len(leaves) <= 25, f"{slug}: {len(leaves)} fields"


@pytest.mark.parametrize("slug", form_slugs())
def test_example_payload_is_accepted(slug: str) -> None:
    errors = [error.message for error in validator(slug).iter_errors(example(slug))]
    assert not errors, f"{slug}: {errors}"


@pytest.mark.parametrize("slug", form_slugs())
def test_payload_missing_a_required_field_is_rejected(slug: str) -> None:
    for name in form_schema(slug)["required"]:
        payload = example(slug)
        del payload[name]
        assert not validator(slug).is_valid(payload), f"{slug}: accepted without {name}"


@pytest.mark.parametrize("slug", form_slugs())
def test_payload_with_a_bad_personal_id_is_rejected(slug: str) -> None:
    paths = list(id_field_paths(form_schema(slug), example(slug)))
    assert paths, f"{slug}: the example carries no personal ID"
    for bad in ("07909001234", "0790900123456", "07909001234A"):
        payload = example(slug)
        set_at(payload, paths[0], bad)
        assert not validator(slug).is_valid(payload), f"{slug}: accepted ID {bad!r}"


@pytest.mark.parametrize("slug", form_slugs())
def test_payload_with_an_unknown_field_is_rejected(slug: str) -> None:
    payload = example(slug)
    payload["truong_la"] = "không có trong mẫu"
    assert not validator(slug).is_valid(payload)


def test_dates_and_phone_numbers_are_checked() -> None:
    payload = example("khai-sinh")
    payload["tre"]["ngay_sinh"] = "2026-02-30"
    assert not validator("khai-sinh").is_valid(payload)
    payload = example("khai-sinh")
    payload["nguoi_yeu_cau"]["so_dien_thoai"] = "84903123456"
    assert not validator("khai-sinh").is_valid(payload)


def test_temporary_residence_form_limits_duration_and_requires_owner_consent() -> None:
    for months, accepted in ((1, True), (24, True), (0, False), (25, False)):
        payload = example("tam-tru")
        payload["thoi_han_thang"] = months
        assert validator("tam-tru").is_valid(payload) is accepted, months
    payload = example("tam-tru")
    payload["dong_y_cua_chu_so_huu"] = False
    assert not validator("tam-tru").is_valid(payload)


def test_judicial_record_form_limits_copies_and_record_type() -> None:
    payload = example("cap-phieu-ly-lich-tu-phap")
    payload["so_luong"] = 11
    assert not validator("cap-phieu-ly-lich-tu-phap").is_valid(payload)
    payload = example("cap-phieu-ly-lich-tu-phap")
    payload["loai_phieu"] = "Phiếu số 3"
    assert not validator("cap-phieu-ly-lich-tu-phap").is_valid(payload)
