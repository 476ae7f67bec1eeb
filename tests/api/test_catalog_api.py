"""The public catalog through HTTP: accent-insensitive search, filters and pagination that fit together, and a
procedure's page with what a citizen needs to file (documents, fee, time, e-form)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import KHAI_SINH, DossierApi, assert_error


def _search(api: DossierApi, query: str) -> dict[str, Any]:
    result: dict[str, Any] = api.call("GET", f"/api/v1/procedures?{query}", expect=200)
    return result


@pytest.mark.parametrize(
    "words", ["dang ky khai sinh", "Đăng ký khai sinh", "ĐĂNG KÝ KHAI SINH", "  dang  ky khai sinh "]
)
def test_search_for_birth_registration_finds_it_first(api: DossierApi, words: str) -> None:
    found = _search(api, f"q={words}")
    first = found["items"][0]
    assert (first["code"], first["name"]) == (KHAI_SINH, "Đăng ký khai sinh")
    assert (first["offered"], first["online"]) == (True, "toan_trinh")
    assert first["time"]["text"] == "1 ngày làm việc"
    assert found["total"] >= len(found["items"]) > 1


def test_pages_fit_together_without_gaps_or_repeats(api: DossierApi) -> None:
    whole = _search(api, "field=Hộ tịch&limit=100")
    total = whole["total"]
    assert 20 < total == len(whole["items"])
    pages = [_search(api, f"field=Hộ tịch&limit=7&offset={offset}") for offset in range(0, total + 7, 7)]
    assert {page["total"] for page in pages} == {total}
    assert [(page["limit"], page["offset"]) for page in pages[:2]] == [(7, 0), (7, 7)]
    assert [item["code"] for page in pages for item in page["items"]] == [
        item["code"] for item in whole["items"]
    ]
    assert pages[-1]["items"] == []  # past the end: an empty page, same total


def test_filters_each_narrow_the_results_they_name(api: DossierApi) -> None:
    everything = _search(api, "limit=1")["total"]
    assert everything > 2000  # the national catalog
    by_field = _search(api, "field=Hộ tịch&limit=100")
    assert {item["field"] for item in by_field["items"]} == {"Hộ tịch"}
    by_ministry = _search(api, "ministry=bo-tu-phap&limit=100")
    assert {item["ministry"] for item in by_ministry["items"]} == {"bo-tu-phap"}
    online_commune = _search(api, "level=xa&online_only=true&limit=100")
    assert {item["level"] for item in online_commune["items"]} == {"xa"}
    assert {item["online"] for item in online_commune["items"]} <= {"toan_trinh", "mot_phan"}
    assert everything > by_ministry["total"] > by_field["total"] > 0
    birth_codes = {item["code"] for item in _search(api, "q=khai sinh&limit=100")["items"]}
    online_birth_codes = {
        item["code"] for item in _search(api, "q=khai sinh&online_only=true&limit=100")["items"]
    }
    assert "1.003583" in birth_codes - online_birth_codes  # khai sinh lưu động: not offered online
    assert KHAI_SINH in online_birth_codes
    assert_error(api.call("GET", "/api/v1/procedures?level=huyen", expect=400), "catalog.bad_level")


def test_the_documented_largest_page_is_accepted(api: DossierApi) -> None:
    parameters = api.call("GET", "/openapi.json", expect=200)["paths"]["/api/v1/procedures"]["get"][
        "parameters"
    ]
    largest = int(next(p for p in parameters if p["name"] == "limit")["schema"]["maximum"])
    page = _search(api, f"limit={largest}")
    assert len(page["items"]) == largest
    assert_error(api.call("GET", f"/api/v1/procedures?limit={largest + 1}", expect=400), "request.invalid")


def test_birth_registration_page_has_documents_fee_time_and_form(api: DossierApi) -> None:
    procedure = api.call("GET", f"/api/v1/procedures/{KHAI_SINH}", expect=200)
    assert procedure["offered"] is True
    assert procedure["national_name"] == "Thủ tục đăng ký khai sinh"
    city = procedure["city"]
    required = [doc["name"] for doc in city["documents"] if doc["required"]]
    assert any(name.startswith("Giấy chứng sinh") for name in required)
    assert all(doc["quantity"] for doc in city["documents"])
    assert city["fee"]["amount_vnd"] == 0
    assert city["fee"]["text"].startswith("Miễn lệ phí")
    assert city["time"] == {"amount": "1", "unit": "working_day", "text": "1 ngày làm việc"}
    assert city["cutoff"] == "15:00"
    assert set(city["receiving_kinds"]) == {"phuong", "xa", "dac_khu"}
    schema = city["form_schema"]
    assert schema["title"] == "Tờ khai đăng ký khai sinh"
    assert {"nguoi_yeu_cau", "tre"} <= set(schema["required"])
    assert schema["properties"]["tre"]["properties"]["ngay_sinh"]["title"] == "Ngày, tháng, năm sinh"
    assert schema["examples"]  # a sample a citizen's app can start from


def test_a_national_procedure_the_city_does_not_offer_has_no_city_page(api: DossierApi) -> None:
    not_offered = next(item for item in _search(api, "q=khai sinh&limit=100")["items"] if not item["offered"])
    procedure = api.call("GET", f"/api/v1/procedures/{not_offered['code']}", expect=200)
    assert (procedure["offered"], procedure["city"]) == (False, None)
    assert procedure["national"]["name"] == not_offered["national_name"]


@pytest.mark.parametrize("code", ["1.000001", "9.999999", "khai-sinh", "1.001193x"])
def test_an_unknown_procedure_is_404(api: DossierApi, code: str) -> None:
    assert_error(api.call("GET", f"/api/v1/procedures/{code}", expect=404), "procedure.not_found")


def test_fields_list_counts_what_the_city_offers(api: DossierApi) -> None:
    fields = {
        item["field"]: item for item in api.call("GET", "/api/v1/procedures/fields", expect=200)["items"]
    }
    assert fields["Hộ tịch"]["offered"] > 5
    assert fields["Hộ tịch"]["count"] == _search(api, "field=Hộ tịch&limit=1")["total"]
