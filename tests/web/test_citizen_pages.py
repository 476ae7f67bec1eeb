"""The citizen portal without a browser: search, the procedure page, the e-form (rendered from every catalog
schema and read back), filing with uploads and a review, the receipt's QR code, public tracking, "Hồ sơ của
tôi" (supplement, withdraw, rate), guards, CSRF and one citizen never seeing another's dossier.
HTTP tests use the real app in-process (`web_client`) over the seeded database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import select

from motcua.domain.clock import FixedClock
from motcua.domain.errors import Conflict, InvalidInput, NotFound
from motcua.domain.lifecycle import Action, Actor, Channel, Status
from motcua.services import dossiers as dossier_service
from motcua.services import life_events, ratings
from motcua.services.catalog import read_form_schemas
from motcua.services.forms import validate_form
from motcua.services.identity import actor_from_row, get_user
from motcua.services.runtime import Runtime
from motcua.services.seed import DEMO_PASSWORD
from motcua.store.db import Database
from motcua.store.schema.audit import audit_log
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.files import dossier_files
from motcua.store.schema.ratings import dossier_ratings
from motcua.web import citizen_eform as eform
from motcua.web import i18n
from motcua.web.app_config import WEB_DIR

BIRTH = "1.001193"  # Đăng ký khai sinh: fully online, received by wards, communes and the special zone
DESK_ONLY = "1.003583"  # Đăng ký khai sinh lưu động: the city offers it, not online
NOT_OFFERED = "2.000528"  # Đăng ký khai sinh có yếu tố nước ngoài: national catalog only
HOUSEHOLD_BUSINESS = "1.001612"  # Đăng ký hộ kinh doanh: a list of trades (rows)
WARD = "phuong-sai-gon"
PDF = b"%PDF-1.4\n% a scanned birth certificate\n"
PNG = b"\x89PNG\r\n\x1a\n scanned"
FORMS_DIR = Path(__file__).resolve().parents[2] / "motcua" / "data" / "catalog" / "forms"
SCHEMAS = read_form_schemas(FORMS_DIR)


# ---------------------------------------------------------------- helpers (the browser tests use some)


def officer_actor(rt: Runtime, username: str) -> Actor:
    """A demo account as the engine sees it (officers' ids are their usernames)."""
    with rt.db.read() as conn:
        row = get_user(conn, username)
        if row is None:
            from motcua.store.schema.identity import users

            user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
            row = get_user(conn, user_id)
    assert row is not None
    return actor_from_row(row)


def run_officer_steps(
    rt: Runtime, clock: FixedClock, code: str, *steps: tuple[str, Action, dict[str, Any]]
) -> None:
    """Officers act on the dossier through the service, five minutes apart."""
    for username, action, payload in steps:
        clock.advance(timedelta(minutes=5))
        dossier_service.act(rt, officer_actor(rt, username), code, action, payload)


ACCEPT_AND_ASK = (
    ("sg.tiepnhan", Action.ACCEPT, {}),
    (
        "sg.xuly",
        Action.REQUEST_SUPPLEMENT,
        {"missing": ["Bản sao Giấy chứng sinh rõ nét"], "reason": "Ảnh mờ"},
    ),
)
DECIDE = (
    ("sg.xuly", Action.FORWARD, {"note": "Đủ điều kiện"}),
    ("sg.pheduyet", Action.APPROVE, {}),
    ("sg.xuly", Action.ISSUE_RESULT, {"result": {"so": "123/2026"}}),
)


def decide_and_return(rt: Runtime, clock: FixedClock, code: str) -> None:
    """Officers decide, the processor attaches the signed result, the returner hands it over online."""
    run_officer_steps(rt, clock, code, *DECIDE)
    result = b"%PDF-1.7\n% Giay khai sinh (ban dien tu)\n"
    dossier_service.add_file(
        rt, officer_actor(rt, "sg.xuly"), code, data=result, filename="giay-khai-sinh.pdf",
        label="Giấy khai sinh (bản điện tử)", kind="result",
    )  # fmt: skip
    run_officer_steps(rt, clock, code, ("sg.traketqua", Action.RETURN_RESULT, {"method": "online"}))


def posted_fields(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The form fields a browser sends for `data` (ticked boxes as "on", unticked ones absent)."""
    return {
        name: "on" if value is True else value
        for name, value in eform.values_from_data(schema, data).items()
        if value is not False
    }


def runtime(client: TestClient[Any]) -> Runtime:
    rt: Runtime = client.app.state.runtime
    return rt


def csrf(client: TestClient[Any]) -> str:
    client.get("/tra-cuu-ho-so")
    token = client.cookies.get("motcua_csrf")
    assert token
    return token


def login(client: TestClient[Any], username: str) -> str:
    """Log in through the form (a fresh cookie jar); the CSRF token for the next forms."""
    client.cookies.clear()
    token = csrf(client)
    response = client.post(
        "/dang-nhap",
        data={"username": username, "password": DEMO_PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return token


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return unescape(match[1])


def text_of(page: str) -> str:
    """The visible text of the <main> element, tags removed, spaces collapsed."""
    main = page[page.index("<main") : page.index("</main>")]
    main = re.sub(r"(?s)<(select|script)\b.*?</\1>", " ", main)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", main)).split())


def birth_schema(client: TestClient[Any]) -> dict[str, Any]:
    from motcua.services.catalog import get_city_procedure

    with runtime(client).db.read() as conn:
        schema = get_city_procedure(conn, BIRTH).form_schema
    assert schema is not None
    return dict(schema)


def file_through_pages(
    client: TestClient[Any],
    token: str,
    *,
    files: dict[str, Any] | None = None,
    child: str = "Nguyễn Minh Khang",
) -> str:
    """Fill the birth registration e-form, review it and submit it; the new dossier's code."""
    schema = birth_schema(client)
    data = schema["examples"][0]
    data["tre"]["ho_ten"] = child
    draft = hidden(client.get(f"/nop-ho-so/{BIRTH}").text, "draft")
    form = {**posted_fields(schema, data), "unit_id": WARD, "draft": draft, "_csrf_token": token}
    review = client.post(f"/nop-ho-so/{BIRTH}", data=form, files=files or {})
    assert review.status_code == 200, text_of(review.text)
    assert "Kiểm tra lại hồ sơ" in review.text
    confirm = {"draft": hidden(review.text, "draft"), "buoc": "nop", "_csrf_token": token}
    done = client.post(f"/nop-ho-so/{BIRTH}/xac-nhan", data=confirm, follow_redirects=False)
    assert done.status_code == 303, done.text
    match = re.fullmatch(r"/ho-so/(.+)/bien-nhan", done.headers["location"])
    assert match
    return match[1]


# ---------------------------------------------------------------- the e-form, over every catalog schema


@pytest.mark.parametrize("slug", sorted(SCHEMAS))
def test_every_catalog_form_round_trips_through_its_controls(slug: str) -> None:
    """Each schema's published example, shown in the form and posted back, is read as the same JSON."""
    schema = SCHEMAS[slug]
    data = schema["examples"][0]
    controls = eform.build(schema, eform.values_from_data(schema, data))
    names = eform.names_in_order(controls)
    reading = eform.read(schema, posted_fields(schema, data), lambda key, **kw: key)
    assert reading.errors == {}
    assert reading.data == data
    validate_form(schema, reading.data)
    assert len(names) == len(set(names))  # one id per control
    assert all(re.fullmatch(r"form(-[a-z0-9_]+)+", name) for name in names)


@pytest.mark.parametrize("slug", sorted(SCHEMAS))
def test_every_required_field_left_empty_is_reported_on_its_control(slug: str) -> None:
    schema = SCHEMAS[slug]
    reading = eform.read(schema, {}, lambda key, **kw: key)
    with pytest.raises(InvalidInput) as refused:
        validate_form(schema, reading.data)
    errors = eform.errors_from_problems(refused.value.details["problems"])
    names = set(eform.names_in_order(eform.build(schema)))
    assert errors and set(errors) <= names, set(errors) - names
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if prop.get("type") == "boolean" and prop.get("const") is not True:
            continue  # an unticked box is a valid "no"
        assert f"form-{name}" in errors or any(key.startswith(f"form-{name}-") for key in errors)


def _jsonb_order(value: Any) -> Any:
    """Objects with their keys in PostgreSQL JSONB's order (shorter keys first, then bytewise)."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _jsonb_order(value[k]) for k in keys}
    return [_jsonb_order(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize("slug", sorted(SCHEMAS))
def test_fields_keep_the_published_order_after_a_trip_through_jsonb(slug: str) -> None:
    published = SCHEMAS[slug]
    restored = eform.in_order_of(_jsonb_order(published), published)
    assert eform.names_in_order(eform.build(restored)) == eform.names_in_order(eform.build(published))
    assert restored == published


def test_without_the_published_form_required_fields_come_first() -> None:
    stored = _jsonb_order(SCHEMAS["khai-sinh"])
    assert list(stored["properties"])[:2] == ["me", "cha"]
    assert list(eform.in_order_of(stored, None)["properties"])[:2] == ["nguoi_yeu_cau", "tre"]


def test_controls_carry_labels_hints_and_html_checks() -> None:
    schema = SCHEMAS["khai-sinh"]
    controls = {c.name: c for c in _flatten(eform.build(schema))}
    personal_id = controls["form-nguoi_yeu_cau-so_dinh_danh"]
    assert personal_id.label == "Số định danh cá nhân"
    assert personal_id.hint == "12 chữ số, ghi trên thẻ căn cước"
    assert personal_id.attrs == {
        "minlength": "12",
        "maxlength": "12",
        "pattern": "^[0-9]{12}$",
        "inputmode": "numeric",
    }
    assert personal_id.enforce
    assert controls["form-tre-gioi_tinh"].widget == "radios"
    assert controls["form-nguoi_yeu_cau-quan_he"].widget == "select"  # five choices
    assert controls["form-tre-ngay_sinh"].input_type == "date"
    assert controls["form-nguoi_yeu_cau-so_dien_thoai"].input_type == "tel"
    assert (
        controls["form-so_ban_sao"].attrs["min"] == "0" and controls["form-so_ban_sao"].attrs["max"] == "10"
    )
    # the father's name is required only once the (optional) father section is filled in: no HTML `required`
    father = controls["form-cha-ho_ten"]
    assert father.required and not father.enforce
    assert controls["form-cha"].widget == "group" and not controls["form-cha"].required


def _flatten(controls: list[eform.Control]) -> list[eform.Control]:
    return [c for control in controls for c in (control, *_flatten(control.children))]


def test_reading_converts_typed_values_and_drops_empty_optional_parts() -> None:
    schema = SCHEMAS["dang-ky-ho-kinh-doanh"]
    data = example_from(schema)
    posted = posted_fields(schema, data)
    posted["form-von_kinh_doanh_vnd"] = "500.000.000"  # typed with the Vietnamese thousands separator
    posted["form-nganh_nghe-5-ma_nganh"] = ""  # an empty extra row
    reading = eform.read(schema, posted, lambda key, **kw: key)
    assert reading.data["von_kinh_doanh_vnd"] == 500_000_000
    assert len(reading.data["nganh_nghe"]) == len(data["nganh_nghe"])
    bad = eform.read(schema, {**posted, "form-von_kinh_doanh_vnd": "năm trăm"}, lambda key, **kw: key)
    assert bad.errors == {"form-von_kinh_doanh_vnd": "citizen.eform.not_integer"}
    assert "von_kinh_doanh_vnd" not in bad.data


def test_rows_are_renumbered_when_an_earlier_row_is_left_empty() -> None:
    schema = SCHEMAS["dang-ky-ho-kinh-doanh"]
    posted = {
        "form-nganh_nghe-0-ma_nganh": "",
        "form-nganh_nghe-1-ma_nganh": "4711",
        "form-nganh_nghe-1-ten_nganh": "Bán lẻ",
    }
    reading = eform.read(schema, posted, lambda key, **kw: key)
    assert reading.data["nganh_nghe"] == [{"ma_nganh": "4711", "ten_nganh": "Bán lẻ", "nganh_chinh": False}]
    assert reading.values["form-nganh_nghe-0-ma_nganh"] == "4711"  # shown again where the errors point


def test_dates_typed_day_first_are_read_as_iso_dates() -> None:
    schema = SCHEMAS["khai-sinh"]
    reading = eform.read(schema, {"form-tre-ngay_sinh": "30/10/2025"}, lambda key, **kw: key)
    assert reading.data["tre"]["ngay_sinh"] == "2025-10-30"
    assert eform.read(schema, {"form-tre-ngay_sinh": "31/02/2025"}, lambda k, **kw: k).data["tre"][
        "ngay_sinh"
    ] == (
        "31/02/2025"  # not a date: left for the schema to refuse
    )


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_integers_read_back_whether_grouped_or_not(number: int) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "title": "Số"}}}
    grouped = f"{number:,}".replace(",", ".")
    for typed in (str(number), grouped):
        assert eform.read(schema, {"form-n": typed}, lambda k, **kw: k).data == {"n": number}


@given(st.decimals(min_value=-10000, max_value=10000, places=2, allow_nan=False))
def test_decimal_numbers_read_with_a_comma_or_a_point(value: Any) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number", "title": "Diện tích"}}}
    for typed in (str(value), str(value).replace(".", ",")):
        read = eform.read(schema, {"form-x": typed}, lambda k, **kw: k).data["x"]
        assert read == pytest.approx(float(value))


def example_from(schema: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(schema["examples"][0]))


def test_review_summary_shows_dates_money_and_ticks_as_people_read_them() -> None:
    schema = SCHEMAS["dang-ky-ho-kinh-doanh"]
    data = example_from(schema)
    _ = lambda key, **kw: i18n.translate("vi", key, **kw)  # noqa: E731
    items = {item.label: item for item in eform.summary(schema, data, _)}
    capital = next(label for label in items if "Vốn" in label)
    assert re.fullmatch(r"\d{1,3}(\.\d{3})+", items[capital].value or "")
    trades = next(item for item in items.values() if item.children and item.children[0].label.endswith(" 1"))
    assert {child.value for child in trades.children[0].children} & {"Có", "Không"}


# ---------------------------------------------------------------- finding a procedure


def test_search_without_diacritics_finds_the_procedure_first(web_client: TestClient[Any]) -> None:
    page = web_client.get("/thu-tuc", params={"q": "dang ky khai sinh"})
    assert page.status_code == 200
    titles = re.findall(r'<h3 class="cz-result__title"><a href="/thu-tuc/([0-9.]+)">([^<]+)</a>', page.text)
    assert titles[0] == (BIRTH, "Đăng ký khai sinh")
    assert "Trực tuyến toàn trình" in text_of(page.text)


def test_browsing_by_life_event_and_by_field(web_client: TestClient[Any]) -> None:
    births = web_client.get("/thu-tuc", params={"event": "sinh-con"})
    assert births.status_code == 200
    assert "Thủ tục khi Sinh con" in births.text
    codes = re.findall(r'href="/thu-tuc/([0-9.]+)"', births.text)
    assert BIRTH in codes and "1.000894" not in codes  # marriage is another life event
    civil = web_client.get("/thu-tuc", params={"field": "Hộ tịch", "online": "1"})
    titles = re.findall(r'<h3 class="cz-result__title"><a href="/thu-tuc/[0-9.]+">([^<]+)</a>', civil.text)
    assert titles and "Đăng ký khai sinh" in titles
    assert "Thành phố chưa cung cấp" not in text_of(civil.text)  # online only
    paged = web_client.get("/thu-tuc", params={"offset": 20})
    assert "Hiển thị 21–40" in paged.text


def test_life_events_service_lists_city_procedures_in_the_search_shape(seeded_db: Database) -> None:
    with seeded_db.read() as conn:
        counts = life_events.life_event_counts(conn)
        items, total = life_events.procedures_for_life_event(conn, "sinh-con", q="khai sinh")
        online, online_total = life_events.procedures_for_life_event(conn, "sinh-con", online_only=True)
    assert {"sinh-con", "ket-hon", "qua-doi", "cu-tru", "nha-dat", "kinh-doanh"} <= set(counts)
    assert total == len(items) and items[0]["code"] == BIRTH and items[0]["offered"]
    assert all("khai sinh" in item["name"].lower() for item in items)
    assert online_total < counts["sinh-con"] and all(item["online"] != "khong" for item in online)


def test_procedure_page_lists_what_is_needed_and_offers_online_filing(web_client: TestClient[Any]) -> None:
    page = web_client.get(f"/thu-tuc/{BIRTH}")
    text = text_of(page.text)
    assert page.status_code == 200
    for expected in ("Thành phần hồ sơ", "Giấy chứng sinh", "1 ngày làm việc", "Miễn lệ phí", "Trực tuyến",
                     "Ủy ban nhân dân phường", "Căn cứ pháp lý", "Luật Hộ tịch 2014"):  # fmt: skip
        assert expected in text, expected
    assert f'href="/nop-ho-so/{BIRTH}"' in page.text
    desk = web_client.get(f"/thu-tuc/{DESK_ONLY}")
    assert desk.status_code == 200 and "/nop-ho-so/" not in desk.text
    national = web_client.get(f"/thu-tuc/{NOT_OFFERED}")
    assert national.status_code == 200 and "Thành phố chưa cung cấp" in national.text
    assert web_client.get("/thu-tuc/9.999999").status_code == 404


def test_english_pages_keep_procedure_data_and_translate_the_frame(web_client: TestClient[Any]) -> None:
    page = web_client.get(f"/thu-tuc/{BIRTH}", params={"lang": "en"})
    assert '<html lang="en">' in page.text
    assert "File online" in page.text and "Documents" in page.text
    assert "Đăng ký khai sinh" in page.text  # the procedure's own name stays Vietnamese


# ---------------------------------------------------------------- guards, CSRF, scope


def test_filing_needs_a_citizen_or_business_login(web_client: TestClient[Any]) -> None:
    anonymous = web_client.get(f"/nop-ho-so/{BIRTH}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/dang-nhap?next=/nop-ho-so/{BIRTH}"
    assert web_client.get("/ho-so-cua-toi", follow_redirects=False).status_code == 303
    login(web_client, "sg.tiepnhan")
    assert web_client.get(f"/nop-ho-so/{BIRTH}").status_code == 403
    login(web_client, "buudien")
    assert web_client.get(f"/nop-ho-so/{BIRTH}").status_code == 403
    login(web_client, "congdan")
    assert web_client.get(f"/nop-ho-so/{BIRTH}").status_code == 200
    desk = web_client.get(f"/nop-ho-so/{DESK_ONLY}")
    assert desk.status_code == 400 and "chưa được cung cấp trực tuyến" in desk.text
    assert web_client.get(f"/nop-ho-so/{NOT_OFFERED}").status_code == 404


def test_forms_without_the_csrf_token_are_refused(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    for path in (f"/nop-ho-so/{BIRTH}", f"/nop-ho-so/{BIRTH}/xac-nhan", f"/ho-so-cua-toi/{code}/rut-ho-so",
                 f"/ho-so-cua-toi/{code}/danh-gia", f"/ho-so-cua-toi/{code}/bo-sung"):  # fmt: skip
        refused = web_client.post(path, data={"buoc": "nop", "muc": "3"})
        assert refused.status_code == 403, path
        assert "Biểu mẫu đã hết hạn hoặc không hợp lệ" in refused.text
    assert status_of(runtime(web_client), code) == Status.SUBMITTED


def test_a_citizen_cannot_open_another_citizens_dossier(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(
        web_client, token, files={"tep-1": ("giay-chung-sinh.pdf", PDF, "application/pdf")}
    )
    file_id = _file_ids(runtime(web_client), code)[0]
    other = login(web_client, "congdan2")
    for path in (f"/ho-so-cua-toi/{code}", f"/ho-so/{code}/bien-nhan", f"/ho-so-cua-toi/{code}/rut-ho-so",
                 f"/ho-so-cua-toi/{code}/tep/{file_id}"):  # fmt: skip
        page = web_client.get(path)
        assert page.status_code == 404, path
        assert "Không tìm thấy hồ sơ" in page.text and "Nguyễn Văn An" not in page.text
    refused = web_client.post(f"/ho-so-cua-toi/{code}/rut-ho-so", data={"_csrf_token": other})
    assert refused.status_code == 404
    assert status_of(runtime(web_client), code) == Status.SUBMITTED
    assert code not in web_client.get("/ho-so-cua-toi").text


# ---------------------------------------------------------------- filing


def test_invalid_input_is_shown_next_to_each_field(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    schema = birth_schema(web_client)
    data = schema["examples"][0]
    fields = posted_fields(schema, data)
    del fields["form-tre-ho_ten"]
    fields["form-nguoi_yeu_cau-so_dinh_danh"] = "0790900"
    fields["form-so_ban_sao"] = "hai"
    draft = hidden(web_client.get(f"/nop-ho-so/{BIRTH}").text, "draft")
    page = web_client.post(
        f"/nop-ho-so/{BIRTH}",
        data={**fields, "draft": draft, "_csrf_token": token, "unit_id": "khong-co"},
        files={"tep-2": ("ghi-chu.txt", b"not a scan", "text/plain")},
    )
    assert page.status_code == 422
    errors = {
        name: unescape(message)
        for name, message in re.findall(
            r'<p class="field__error" id="f-([^"]+)-error">([^<]+)</p>', page.text
        )
    }
    assert errors == {
        "unit_id": "Chọn cơ quan tiếp nhận hồ sơ trong danh sách.",
        "form-nguoi_yeu_cau-so_dinh_danh": "Số định danh cá nhân phải có ít nhất 12 ký tự.",
        "form-tre-ho_ten": "Họ, chữ đệm, tên là thông tin bắt buộc.",
        "form-so_ban_sao": "Số bản sao Giấy khai sinh đề nghị cấp phải là số nguyên (chỉ gồm chữ số).",
        "tep-2": "ghi-chu.txt: Chỉ nhận tệp PDF, JPEG hoặc PNG.",
    }
    assert 'id="f-form-tre-ho_ten"' in page.text and 'aria-invalid="true"' in page.text
    summary = re.findall(r'<a href="#f-([^"]+)">', page.text[page.text.index("error-summary") :])
    assert summary[:5] == [
        "unit_id",
        "form-nguoi_yeu_cau-so_dinh_danh",
        "form-tre-ho_ten",
        "form-so_ban_sao",
        "tep-2",
    ]
    assert 'value="Bệnh viện' in page.text or "Bệnh viện Từ Dũ" in page.text  # what was typed stays


def test_uploads_are_kept_while_the_form_is_corrected_and_attached_on_submission(
    web_client: TestClient[Any],
) -> None:
    token = login(web_client, "congdan")
    schema = birth_schema(web_client)
    fields = posted_fields(schema, schema["examples"][0])
    draft = hidden(web_client.get(f"/nop-ho-so/{BIRTH}").text, "draft")
    first = web_client.post(
        f"/nop-ho-so/{BIRTH}",
        data={**fields, "draft": draft, "_csrf_token": token, "unit_id": ""},
        files=[
            ("tep-1", ("chung-sinh.pdf", PDF, "application/pdf")),
            ("tep-1", ("anh.png", PNG, "image/png")),
        ],
    )
    assert first.status_code == 422 and "chung-sinh.pdf" in first.text and "anh.png" in first.text
    # the photo is removed, the unit chosen: the review lists the PDF only
    review = web_client.post(
        f"/nop-ho-so/{BIRTH}",
        data={
            **fields,
            "draft": hidden(first.text, "draft"),
            "_csrf_token": token,
            "unit_id": WARD,
            "bo_tep": "1",
        },
    )
    assert review.status_code == 200 and "chung-sinh.pdf" in review.text and "anh.png" not in review.text
    assert "Phường Sài Gòn" in text_of(review.text)
    edit = web_client.post(
        f"/nop-ho-so/{BIRTH}/xac-nhan",
        data={"draft": hidden(review.text, "draft"), "buoc": "sua", "_csrf_token": token},
    )
    assert (
        edit.status_code == 200 and 'value="Nguyễn Minh Khang"' in edit.text and "chung-sinh.pdf" in edit.text
    )
    done = web_client.post(
        f"/nop-ho-so/{BIRTH}/xac-nhan",
        data={"draft": hidden(review.text, "draft"), "buoc": "nop", "_csrf_token": token},
        follow_redirects=False,
    )
    code = done.headers["location"].split("/")[2]
    rt = runtime(web_client)
    with rt.db.read() as conn:
        row = conn.execute(
            select(dossiers.c.form_data, dossiers.c.channel).where(dossiers.c.code == code)
        ).one()
        attached = conn.execute(
            select(dossier_files.c.name, dossier_files.c.kind, dossier_files.c.label)
            .join(dossiers, dossiers.c.id == dossier_files.c.dossier_id)
            .where(dossiers.c.code == code)
        ).all()
    assert row.channel == "online" and row.form_data["tre"]["ho_ten"] == "Nguyễn Minh Khang"
    assert [(a.name, a.kind) for a in attached] == [("chung-sinh.pdf", "upload")]
    assert attached[0].label.startswith("Giấy chứng sinh")


def test_a_tampered_or_foreign_draft_is_not_accepted(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    schema = birth_schema(web_client)
    fields = posted_fields(schema, schema["examples"][0])
    draft = hidden(web_client.get(f"/nop-ho-so/{BIRTH}").text, "draft")
    review = web_client.post(
        f"/nop-ho-so/{BIRTH}", data={**fields, "draft": draft, "_csrf_token": token, "unit_id": WARD}
    )
    signed = hidden(review.text, "draft")
    body, mac = signed.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    refused = web_client.post(
        f"/nop-ho-so/{BIRTH}/xac-nhan",
        data={"draft": forged, "buoc": "nop", "_csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and refused.headers["location"] == f"/nop-ho-so/{BIRTH}"
    other = login(web_client, "congdan2")
    stolen = web_client.post(
        f"/nop-ho-so/{BIRTH}/xac-nhan",
        data={"draft": signed, "buoc": "nop", "_csrf_token": other},
        follow_redirects=False,
    )
    assert stolen.status_code == 303
    with runtime(web_client).db.read() as conn:
        assert conn.execute(select(dossiers.c.id)).first() is None


def test_lists_get_rows_added_without_javascript(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    page = web_client.get(f"/nop-ho-so/{HOUSEHOLD_BUSINESS}")
    assert page.status_code == 200
    assert 'name="form-nganh_nghe-0-ma_nganh"' in page.text and "form-nganh_nghe-1-ma_nganh" not in page.text
    more = web_client.post(
        f"/nop-ho-so/{HOUSEHOLD_BUSINESS}",
        data={
            "draft": hidden(page.text, "draft"),
            "_csrf_token": token,
            "_them_dong": "form-nganh_nghe",
            "form-nganh_nghe-0-ma_nganh": "4711",
            "form-nganh_nghe-0-ten_nganh": "Bán lẻ",
        },
    )
    assert more.status_code == 200 and "field__error" not in more.text
    assert 'name="form-nganh_nghe-1-ma_nganh"' in more.text and 'value="4711"' in more.text


def test_receipt_has_the_code_the_expected_date_and_a_qr_code_of_the_tracking_page(
    web_client: TestClient[Any],
) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    receipt = web_client.get(f"/ho-so/{code}/bien-nhan")
    assert receipt.status_code == 200
    text = text_of(receipt.text)
    assert code in text and "Đã nộp hồ sơ" in receipt.text
    # filed Monday 09:00, before the 15:00 cut-off: 1 working day → Tuesday 09:00 if accepted now
    assert "Ngày hẹn trả kết quả dự kiến 03/03/2026 09:00" in text
    url = f"http://testserver.local/tra-cuu-ho-so/{code}"
    assert url in receipt.text
    dark_modules = r'stroke="#000" d="([^"]+)"'  # the QR's dark modules as one SVG path
    shown = re.search(dark_modules, receipt.text)
    expected = re.search(dark_modules, segno.make(url, error="m").svg_inline(scale=4, border=4))
    assert shown and expected and shown[1] == expected[1]
    run_officer_steps(runtime(web_client), _clock(web_client), code, ("sg.tiepnhan", Action.ACCEPT, {}))
    accepted = text_of(web_client.get(f"/ho-so/{code}/bien-nhan").text)
    assert "Ngày hẹn trả kết quả 03/03/2026 09:05" in accepted and "dự kiến" not in accepted


def _clock(client: TestClient[Any]) -> FixedClock:
    clock = runtime(client).clock
    assert isinstance(clock, FixedClock)
    return clock


def test_tracking_shows_status_without_personal_data(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    web_client.cookies.clear()
    form = web_client.get("/tra-cuu-ho-so", params={"ma": f"  {code} "}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == f"/tra-cuu-ho-so/{code}"
    page = web_client.get(f"/tra-cuu-ho-so/{code}")
    text = text_of(page.text)
    assert page.status_code == 200 and "Mới đăng ký" in text and "Đăng ký khai sinh" in text
    for personal in ("Nguyễn Văn An", "079090012345", "0903123456", "Nguyễn Minh Khang", "Lê Thánh Tôn"):
        assert personal not in page.text
    bad = web_client.get("/tra-cuu-ho-so", params={"ma": "abc"})
    assert bad.status_code == 422 and 'id="f-ma-error"' in bad.text and "không đúng dạng" in bad.text
    missing = web_client.get(f"/tra-cuu-ho-so/{code[:-4]}9999")
    assert missing.status_code == 404 and "Không tìm thấy hồ sơ" in missing.text
    assert web_client.get("/tra-cuu-ho-so", params={"ma": ""}).status_code == 422


# ---------------------------------------------------------------- Hồ sơ của tôi


def test_my_dossiers_answer_a_supplement_request_then_rate_the_result(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    rt, clock = runtime(web_client), _clock(web_client)
    run_officer_steps(rt, clock, code, *ACCEPT_AND_ASK)
    listing = web_client.get("/ho-so-cua-toi")
    assert code in listing.text and "Yêu cầu bổ sung giấy tờ" in listing.text
    page = web_client.get(f"/ho-so-cua-toi/{code}")
    assert "Bản sao Giấy chứng sinh rõ nét" in page.text and 'action="/ho-so-cua-toi/' in page.text
    empty = web_client.post(f"/ho-so-cua-toi/{code}/bo-sung", data={"_csrf_token": token, "ghi_chu": " "})
    assert empty.status_code == 422 and 'id="f-tep-error"' in empty.text
    sent = web_client.post(
        f"/ho-so-cua-toi/{code}/bo-sung",
        data={"_csrf_token": token, "ghi_chu": "Gửi lại bản chụp rõ"},
        files={"tep": ("chung-sinh-ro.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert status_of(rt, code) == Status.ACCEPTED
    assert ("chung-sinh-ro.png", "supplement") in [(n, k) for n, k, _ in _files(rt, code)]
    assert (
        web_client.post(
            f"/ho-so-cua-toi/{code}/danh-gia", data={"_csrf_token": token, "muc": "3"}
        ).status_code
        == 409
    )
    decide_and_return(rt, clock, code)
    page = web_client.get(f"/ho-so-cua-toi/{code}")
    assert "Đã trả kết quả" in page.text and "Hài lòng" in page.text
    result = next(f for f in _files(rt, code) if f[1] == "result")
    result_link = re.search(
        rf'href="(/ho-so-cua-toi/{re.escape(code)}/tep/\d+)" download>',
        page.text[page.text.index('id="result"') :],
    )
    assert result_link and result[0]
    download = web_client.get(result_link[1])
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    assert download.headers["content-disposition"].startswith("attachment;")
    rated = web_client.post(
        f"/ho-so-cua-toi/{code}/danh-gia", data={"_csrf_token": token, "muc": "3"}, follow_redirects=False
    )
    assert rated.status_code == 303
    assert "Cảm ơn bạn đã đánh giá: Hài lòng." in web_client.get(f"/ho-so-cua-toi/{code}").text
    again = web_client.post(f"/ho-so-cua-toi/{code}/danh-gia", data={"_csrf_token": token, "muc": "1"})
    assert again.status_code == 409 and "mỗi hồ sơ chỉ đánh giá một lần" in again.text
    with rt.db.read() as conn:
        scores = conn.execute(select(dossier_ratings.c.score, dossier_ratings.c.rater_id)).all()
        audited = conn.execute(
            select(audit_log.c.actor_id).where(audit_log.c.action == "dossier.rated")
        ).all()
    assert [tuple(s) for s in scores] == [(3, "cd-079090001234")] and len(audited) == 1


def _files(rt: Runtime, code: str) -> list[tuple[str, str, int]]:
    with rt.db.read() as conn:
        rows = conn.execute(
            select(dossier_files.c.name, dossier_files.c.kind, dossier_files.c.id)
            .join(dossiers, dossiers.c.id == dossier_files.c.dossier_id)
            .where(dossiers.c.code == code)
            .order_by(dossier_files.c.id)
        ).all()
    return [(r.name, r.kind, r.id) for r in rows]


def _file_ids(rt: Runtime, code: str) -> list[int]:
    return [file_id for _name, _kind, file_id in _files(rt, code)]


def status_of(rt: Runtime, code: str) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(dossiers.c.status).where(dossiers.c.code == code)).scalar_one())


def test_withdrawal_asks_for_confirmation_first(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    confirm = web_client.get(f"/ho-so-cua-toi/{code}/rut-ho-so")
    assert confirm.status_code == 200 and "Xác nhận rút hồ sơ" in confirm.text
    assert status_of(runtime(web_client), code) == Status.SUBMITTED  # opening the page changes nothing
    done = web_client.post(
        f"/ho-so-cua-toi/{code}/rut-ho-so",
        data={"_csrf_token": token, "ly_do": "Nộp nhầm"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert status_of(runtime(web_client), code) == Status.WITHDRAWN
    page = web_client.get(f"/ho-so-cua-toi/{code}")
    assert (
        "Đã rút hồ sơ." in page.text and "Công dân yêu cầu rút hồ sơ" in page.text and "Nộp nhầm" in page.text
    )
    assert web_client.get(f"/ho-so-cua-toi/{code}/rut-ho-so").status_code == 409


def test_my_dossiers_filter_by_status(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    first = file_through_pages(web_client, token)
    second = file_through_pages(web_client, token, child="Nguyễn Minh Anh")
    run_officer_steps(runtime(web_client), _clock(web_client), second, ("sg.tiepnhan", Action.ACCEPT, {}))
    accepted = web_client.get("/ho-so-cua-toi", params={"trang_thai": 2}).text
    assert second in accepted and first not in accepted
    assert (
        "Không có hồ sơ ở trạng thái này." in web_client.get("/ho-so-cua-toi", params={"trang_thai": 10}).text
    )


# ---------------------------------------------------------------- ratings service


def test_ratings_are_once_per_applicant_after_the_result_and_summarised(web_client: TestClient[Any]) -> None:
    token = login(web_client, "congdan")
    code = file_through_pages(web_client, token)
    rt, clock = runtime(web_client), _clock(web_client)
    citizen = officer_actor(rt, "congdan")
    with pytest.raises(Conflict) as early:
        ratings.rate_dossier(rt, citizen, code, 3)
    assert early.value.code == "rating.not_returned"
    run_officer_steps(rt, clock, code, ("sg.tiepnhan", Action.ACCEPT, {}))
    decide_and_return(rt, clock, code)
    with pytest.raises(NotFound):
        ratings.rate_dossier(rt, officer_actor(rt, "congdan2"), code, 3)
    with pytest.raises(InvalidInput) as bad:
        ratings.rate_dossier(rt, citizen, code, 7)
    assert bad.value.code == "rating.bad_score"
    assert ratings.get_rating(rt, citizen, code) is None
    given_rating = ratings.rate_dossier(rt, citizen, code, "2")
    assert given_rating["label"] == "Bình thường" and ratings.get_rating(rt, citizen, code) == given_rating
    with pytest.raises(Conflict):
        ratings.rate_dossier(rt, citizen, code, 3)
    with rt.db.read() as conn:
        summary = ratings.satisfaction_summary(conn, unit_id=WARD)
        elsewhere = ratings.satisfaction_summary(conn, unit_id="phuong-ben-thanh")
    assert summary == {"total": 1, "counts": {1: 0, 2: 1, 3: 0}, "satisfied_rate": 0.0}
    assert elsewhere["total"] == 0 and elsewhere["satisfied_rate"] is None


# ---------------------------------------------------------------- messages


def test_every_citizen_message_key_exists_in_both_languages() -> None:
    used: set[str] = set()
    for path in [*(WEB_DIR / "templates" / "citizen").glob("*.html"), WEB_DIR / "routes" / "citizen.py",
                 WEB_DIR / "citizen_eform.py"]:  # fmt: skip
        used |= set(
            re.findall(
                r"""["'](citizen\.[a-z0-9_]+\.[a-z0-9_]*[a-z0-9])["']""", path.read_text(encoding="utf-8")
            )
        )
    assert len(used) > 150
    missing = sorted(key for key in used if not i18n.has_key(key) or key not in i18n.catalog("en"))
    assert missing == []
    vi = i18n.catalog("vi")
    assert all(vi[f"citizen.action.{a.value}"] == a.label_vi for a in Action)
    assert vi["citizen.rating.score_3"] == ratings.Satisfaction.SATISFIED.label_vi
    assert vi["citizen.action.request_supplement"] == Action.REQUEST_SUPPLEMENT.label_vi
    assert all(vi[f"citizen.dossier.channel_{c.value}"] == c.label_vi for c in Channel)
    assert all(f"citizen.result.outcome_{o}" in vi for o in ("approved", "refused"))
    assert all(f"citizen.rating.score_{int(s)}" in vi for s in ratings.Satisfaction)
