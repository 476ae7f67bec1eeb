"""Auto-fill through the API, on SQLite and PostgreSQL, with the sandbox registry over real HTTP: consent,
verified read-only values, requirements met by registry data recorded on the dossier, degradation to manual
entry, data that is not the applicant's, officers' checks, and the citizen's data-access log."""

from __future__ import annotations

import copy
import json
from typing import Any

from sqlalchemy import select

from motcua.store.schema.integrations import registry_consents, registry_exchanges, registry_prefills
from tests.api.conftest import KHAI_SINH, WARD, DossierApi, assert_error, is_vietnamese
from tests.integrations.conftest import BUSINESS, CONGDAN, CONGDAN2, MOTHER, Sandbox

KHAI_TU = "1.000656"
GPXD_CONG_TRINH = "1.013236"
IDENTITY_PAPER = "Giấy tờ tùy thân của người yêu cầu (hoặc cung cấp số định danh cá nhân)"
NOW = "2026-03-02T09:00:00+07:00"


def _prefill(api: DossierApi, username: str, code: str, *, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"procedure_code": code, "consent": True, **extra}
    result: dict[str, Any] = api.call("POST", "/api/v1/prefill", username, json=body, expect=expect)
    return result


def _merged(base: dict[str, Any], filled: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in filled.items():
        if isinstance(value, dict):
            merged[key] = _merged(merged.get(key, {}), value)
        else:
            merged[key] = value
    return merged


def test_prefill_returns_verified_read_only_values_with_their_source(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    fields = {field["path"]: field for field in body["fields"]}
    assert set(fields) == {"nguoi_yeu_cau.ho_ten", "nguoi_yeu_cau.so_dinh_danh"}
    name = fields["nguoi_yeu_cau.ho_ten"]
    assert name["value"] == "Nguyễn Văn An"
    assert name["verified"] is True and name["read_only"] is True
    assert name["source"] == "population"
    assert name["source_label"] == "Cơ sở dữ liệu quốc gia về dân cư"
    assert name["fetched_at"] == NOW
    assert body["form_data"] == {"nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": CONGDAN}}
    assert body["documents"] == [
        {
            "name": IDENTITY_PAPER,
            "satisfied": True,
            "source": "population",
            "source_label": "Cơ sở dữ liệu quốc gia về dân cư",
            "record": "citizen",
            "record_label": "Thông tin công dân (thay giấy tờ tùy thân)",
            "fetched_at": NOW,
        }
    ]
    assert body["manual_entry"] is False and body["manual_fields"] == []
    assert body["sources"] == [
        {
            "source": "population",
            "label": "Cơ sở dữ liệu quốc gia về dân cư",
            "subject": "applicant",
            "status": "ok",
        }
    ]


def test_consent_is_required_and_stored_with_the_prefill(gw_api: DossierApi) -> None:
    refused = _prefill(gw_api, "congdan", KHAI_SINH, expect=400, consent=False)
    assert_error(refused, "prefill.consent_required")
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    with gw_api.db.read() as conn:
        consent = conn.execute(select(registry_consents)).mappings().one()
        stored = conn.execute(select(registry_prefills)).mappings().one()
    assert consent["user_id"] == "cd-" + CONGDAN and consent["prefill_id"] == body["prefill_id"]
    assert consent["registries"] == ["population"] and KHAI_SINH in consent["purpose"]
    assert "Nguyễn Văn An" not in json.dumps(dict(stored), default=str, ensure_ascii=False)  # digests only


def test_only_applicants_prefill_their_own_forms(gw_api: DossierApi) -> None:
    assert_error(_prefill(gw_api, "sg.tiepnhan", KHAI_SINH, expect=403), "prefill.applicants_only")
    gw_api.call(
        "POST", "/api/v1/prefill", None, json={"procedure_code": KHAI_SINH, "consent": True}, expect=401
    )


def test_the_submitted_dossier_records_which_requirement_registry_data_met(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    form = _merged(gw_api.example_form(KHAI_SINH), body["form_data"])
    code = gw_api.submit("congdan", form_data=form)["code"]
    seen = gw_api.call("GET", f"/api/v1/dossiers/{code}/registry-data", "sg.tiepnhan", expect=200)
    assert [d["requirement"] for d in seen["documents"]] == [IDENTITY_PAPER]
    document = seen["documents"][0]
    assert document["source"] == "population" and document["item"] == "citizen"
    assert document["fetched_at"] == NOW and document["label"] == "Thông tin công dân (thay giấy tờ tùy thân)"
    assert {(f["requirement"], f["verified"]) for f in seen["fields"]} == {
        ("nguoi_yeu_cau.ho_ten", True),
        ("nguoi_yeu_cau.so_dinh_danh", True),
    }
    again = gw_api.submit("congdan", form_data=form)["code"]  # the prefill was used once
    assert (
        gw_api.call("GET", f"/api/v1/dossiers/{again}/registry-data", "congdan", expect=200)["documents"]
        == []
    )
    gw_api.call("GET", f"/api/v1/dossiers/{code}/registry-data", "congdan2", expect=404)


def test_a_verified_value_changed_before_submitting_is_not_recorded_as_verified(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    form = _merged(gw_api.example_form(KHAI_SINH), body["form_data"])
    form["nguoi_yeu_cau"]["ho_ten"] = "Nguyễn Văn Ân"
    code = gw_api.submit("congdan", form_data=form)["code"]
    seen = gw_api.call("GET", f"/api/v1/dossiers/{code}/registry-data", "congdan", expect=200)
    verified = {f["requirement"]: f["verified"] for f in seen["fields"]}
    assert verified == {"nguoi_yeu_cau.ho_ten": False, "nguoi_yeu_cau.so_dinh_danh": True}


def test_a_registry_that_is_down_leaves_the_form_to_be_typed_and_submission_works(
    gw_api: DossierApi, sandbox: Sandbox
) -> None:
    sandbox.fault("registries", down=True)
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    assert body["fields"] == [] and body["documents"] == []
    assert body["manual_entry"] is True
    assert body["manual_fields"] == ["nguoi_yeu_cau.ho_ten", "nguoi_yeu_cau.so_dinh_danh"]
    [source] = body["sources"]
    assert source["status"] == "unavailable"
    assert is_vietnamese(source["message"]) and "tự nhập" in source["message"]
    filed = gw_api.submit("congdan", form_data=gw_api.example_form(KHAI_SINH))
    assert filed["status"]["code"] == 1


def test_data_of_a_deceased_parent_fills_the_death_registration(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "congdan", KHAI_TU, related_id=MOTHER)
    values = {field["path"]: field["value"] for field in body["fields"]}
    assert values["nguoi_yeu_cau.ho_ten"] == "Nguyễn Văn An"
    assert values["nguoi_chet.ho_ten"] == "Lê Thị Hồng"
    assert values["nguoi_chet.so_dinh_danh"] == MOTHER
    assert values["nguoi_chet.ngay_chet"] == "2026-02-20"
    assert values["nguoi_chet.gioi_tinh"] == "Nữ"
    met = {document["name"]: document["record"] for document in body["documents"]}
    assert met["Giấy báo tử hoặc giấy tờ thay Giấy báo tử do cơ quan có thẩm quyền cấp"] == "death"
    assert {(s["subject"], s["status"]) for s in body["sources"]} == {("applicant", "ok"), ("related", "ok")}


def test_data_of_someone_the_applicant_may_not_act_for_is_refused(
    gw_api: DossierApi, sandbox: Sandbox
) -> None:
    body = _prefill(gw_api, "congdan", KHAI_TU, related_id=CONGDAN2)  # his wife is alive and an adult
    assert {f["path"].split(".")[0] for f in body["fields"]} == {"nguoi_yeu_cau"}
    related = next(s for s in body["sources"] if s["subject"] == "related")
    assert related["status"] == "not_owner" and is_vietnamese(related["message"])
    with gw_api.db.read() as conn:
        outcomes = {(row.subject_id, row.outcome) for row in conn.execute(select(registry_exchanges))}
    assert ("cd-" + CONGDAN2, "not_owner") in outcomes  # the refused read is still accounted for


def test_a_registry_replying_with_someone_elses_record_is_refused(
    gw_api: DossierApi, sandbox: Sandbox
) -> None:
    sandbox.fault("population", foreign_data=True)
    body = _prefill(gw_api, "congdan", KHAI_SINH)
    assert body["fields"] == [] and body["form_data"] == {}
    assert body["sources"][0]["status"] == "foreign_data"


def test_the_related_person_is_asked_for_when_a_form_needs_one(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "congdan", KHAI_TU)
    assert any(s.get("subject") == "related" and "message" in s for s in body["sources"])
    assert "nguoi_chet.ho_ten" in body["manual_fields"]
    assert_error(_prefill(gw_api, "congdan", KHAI_TU, expect=400, related_id="12345"), "mst.bad_format")


def test_a_business_fills_its_enterprise_data(gw_api: DossierApi) -> None:
    body = _prefill(gw_api, "doanhnghiep", GPXD_CONG_TRINH)
    assert body["form_data"]["chu_dau_tu"] == {
        "ten_to_chuc": "Công ty TNHH Một Cửa Sài Gòn",
        "ma_so_doanh_nghiep": BUSINESS,
        "nguoi_dai_dien": "Nguyễn Văn An",
        "so_dinh_danh_nguoi_dai_dien": CONGDAN,
        "dia_chi": "86 Lê Thánh Tôn, phường Sài Gòn, Thành phố Hồ Chí Minh",
    }


# ---------------------------------------------------------------- officers, and who read my data


def test_an_officer_checks_the_applicant_and_the_citizen_sees_who_read_their_data(gw_api: DossierApi) -> None:
    code = gw_api.submit("congdan", form_data=gw_api.example_form(KHAI_SINH))["code"]
    checked = gw_api.call(
        "POST", f"/api/v1/dossiers/{code}/registry-checks", "sg.tiepnhan", json={}, expect=200
    )
    [record] = checked["records"]
    assert record["status"] == "ok"
    assert {"name": "full_name", "label": "Họ, chữ đệm, tên", "value": "Nguyễn Văn An"} in record["fields"]
    assert [d["name"] for d in checked["documents"]] == [IDENTITY_PAPER]
    seen = gw_api.call("GET", f"/api/v1/dossiers/{code}/registry-data", "congdan", expect=200)
    assert [(d["requirement"], d["recorded_by"]) for d in seen["documents"]] == [
        (IDENTITY_PAPER, "sg.tiepnhan")
    ]
    access = gw_api.call("GET", "/api/v1/me/data-access", "congdan", expect=200)["items"]
    [entry] = access
    assert entry["reader"] == {"kind": "officer", "name": "Phạm Thị Dung", "unit_id": WARD}
    assert entry["dossier_code"] == code and entry["registry"]["code"] == "population"
    assert entry["purpose"].startswith(f"Thẩm định hồ sơ {code}") and entry["outcome"] == "ok"
    assert gw_api.call("GET", "/api/v1/me/data-access", "congdan2", expect=200)["items"] == []


def test_registry_checks_are_for_officers_who_may_see_the_dossier(gw_api: DossierApi) -> None:
    code = gw_api.submit("congdan", form_data=gw_api.example_form(KHAI_SINH))["code"]
    gw_api.call("POST", f"/api/v1/dossiers/{code}/registry-checks", "congdan", json={}, expect=403)
    gw_api.call("POST", f"/api/v1/dossiers/{code}/registry-checks", "ca.saigon", json={}, expect=404)


def test_a_prefill_shows_in_the_citizens_data_access_log_as_their_own_read(gw_api: DossierApi) -> None:
    _prefill(gw_api, "congdan", KHAI_SINH)
    [entry] = gw_api.call("GET", "/api/v1/me/data-access", "congdan", expect=200)["items"]
    assert entry["reader"]["kind"] == "citizen" and "Bạn" in entry["reader"]["name"]
    assert entry["procedure_code"] == KHAI_SINH and "Điền sẵn tờ khai" in entry["purpose"]


def test_the_registries_contract_is_published_for_the_web_forms(gw_api: DossierApi) -> None:
    body = gw_api.call("GET", "/api/v1/registries", expect=200)
    population = next(item for item in body["items"] if item["source"] == "population")
    assert population["configured"] is True and population["breaker"] == "closed"
    assert {
        "name": "full_name",
        "type": "string",
        "label": "Họ, chữ đệm, tên",
        "section": "citizen",
    } in population["fields"]
    assert {b["kind"] for b in body["bundles"]} == {
        "khai-sinh-thuong-tru-bhyt",
        "khai-tu-xoa-thuong-tru-mai-tang",
    }
    schema = gw_api.call("GET", f"/api/v1/procedures/{KHAI_SINH}", expect=200)["city"]["form_schema"]
    name = schema["properties"]["nguoi_yeu_cau"]["properties"]["ho_ten"]
    assert name["x-registry"] == {"source": "population", "field": "full_name"}
