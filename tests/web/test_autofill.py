"""Auto-fill on the citizen filing page (issue #4): after ticking the consent box, "Lấy thông tin tự động"
fills the applicant's fields from the national population database (the sandbox registry over real HTTP),
shows them verified and read-only, keeps them whatever the browser posts, and degrades to manual entry when
the registry fails. Fast tests on SQLite and PostgreSQL (`web_client`); one phone browser test on SQLite."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from playwright.sync_api import Page

from motcua.integrations.gateway import Gateway
from motcua.integrations.sandbox.server import BackgroundServer
from motcua.services import dossiers as dossier_service
from motcua.services.gateway import install_gateway, registry_data
from tests.integrations.conftest import CONGDAN, Sandbox, make_gateway, sandbox_server  # noqa: F401 - fixture
from tests.web.conftest import LiveServer
from tests.web.helpers import assert_fits_width, screenshot
from tests.web.test_citizen_pages import (
    BIRTH,
    WARD,
    birth_schema,
    hidden,
    login,
    officer_actor,
    posted_fields,
    runtime,
    text_of,
)

NAME = "form-nguoi_yeu_cau-ho_ten"
PERSONAL_ID = "form-nguoi_yeu_cau-so_dinh_danh"
AN = "Nguyễn Văn An"  # the sandbox's record for CONGDAN
VERIFIED_NOTE = "Đã xác thực từ Cơ sở dữ liệu quốc gia về dân cư, lúc 09:00 02/03/2026"
CONSENT_ERROR = "Đánh dấu ô đồng ý để hệ thống lấy thông tin của bạn từ Cơ sở dữ liệu quốc gia."


@pytest.fixture
def registry(sandbox_server: BackgroundServer) -> Iterator[Sandbox]:  # noqa: F811 - the imported fixture
    """The sandbox registry (one per session, shared with the gateway tests), reset for this test."""
    handle = Sandbox(sandbox_server)
    handle.admin.post("/admin/reset").raise_for_status()
    yield handle
    handle.admin.close()


@pytest.fixture
def client(web_client: TestClient[Any], registry: Sandbox) -> Iterator[TestClient[Any]]:
    """The web app, its runtime talking to the sandbox registry."""
    gateway = make_gateway(registry.url)
    install_gateway(runtime(web_client), gateway)
    yield web_client
    gateway.close()


def _input(page: str, name: str) -> str:
    match = re.search(rf'<input [^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    return match[0]


def _value(page: str, name: str) -> str:
    match = re.search(r'value="([^"]*)"', _input(page, name))
    assert match
    return match[1]


def _autofill(
    client: TestClient[Any], token: str, *, consent: bool = True, typed: dict[str, str] | None = None
) -> Any:
    """Open the filing page and press "Lấy thông tin tự động" (with the consent box ticked or not)."""
    page = client.get(f"/nop-ho-so/{BIRTH}").text
    form = {"draft": hidden(page, "draft"), "_csrf_token": token, "_tu_dong_dien": "1", **(typed or {})}
    if consent:
        form["dong_y_lay_du_lieu"] = "on"
    return client.post(f"/nop-ho-so/{BIRTH}", data=form, files={})


def _file(client: TestClient[Any], token: str, draft: str, overrides: dict[str, str]) -> str:
    """Send the whole form (the example, with `overrides`), review it, submit; the dossier code."""
    schema = birth_schema(client)
    form = {**posted_fields(schema, schema["examples"][0]), **overrides}
    form.update({"unit_id": WARD, "draft": draft, "_csrf_token": token})
    review = client.post(f"/nop-ho-so/{BIRTH}", data=form, files={})
    assert review.status_code == 200 and "Kiểm tra lại hồ sơ" in review.text, text_of(review.text)
    confirm = {"draft": hidden(review.text, "draft"), "buoc": "nop", "_csrf_token": token}
    done = client.post(f"/nop-ho-so/{BIRTH}/xac-nhan", data=confirm, follow_redirects=False)
    assert done.status_code == 303, done.text
    match = re.fullmatch(r"/ho-so/(.+)/bien-nhan", done.headers["location"])
    assert match
    return match[1]


def test_the_filing_page_offers_auto_fill_behind_a_consent_box(client: TestClient[Any]) -> None:
    login(client, "congdan")
    page = client.get(f"/nop-ho-so/{BIRTH}").text
    assert "Tôi đồng ý để hệ thống lấy thông tin của tôi từ Cơ sở dữ liệu quốc gia" in text_of(page)
    assert re.search(r'<button [^>]*name="_tu_dong_dien"[^>]*>Lấy thông tin tự động</button>', page)
    assert "readonly" not in _input(page, NAME)


def test_consent_and_the_button_fill_the_applicant_verified_and_read_only(
    client: TestClient[Any],
    registry: Sandbox,
) -> None:
    token = login(client, "congdan")
    filled = _autofill(client, token, typed={"form-tre-ho_ten": "Nguyễn Minh Khang"})
    assert filled.status_code == 200, text_of(filled.text)
    page = filled.text
    assert _value(page, NAME) == AN and _value(page, PERSONAL_ID) == CONGDAN
    for name in (NAME, PERSONAL_ID):
        assert " readonly" in _input(page, name)
        assert f'id="f-{name}-verified"' in page and f"f-{name}-verified" in _input(page, name)
    assert text_of(page).count(VERIFIED_NOTE) == 2
    assert "Đã điền sẵn 2 mục từ Cơ sở dữ liệu quốc gia về dân cư" in text_of(page)
    # the rest stays to be typed, and what was typed before pressing the button is kept
    assert "readonly" not in _input(page, "form-tre-ho_ten")
    assert _value(page, "form-tre-ho_ten") == "Nguyễn Minh Khang"
    assert registry.requests("population") == 1


def test_a_tampered_post_of_a_verified_field_is_ignored(client: TestClient[Any]) -> None:
    token = login(client, "congdan")
    draft = hidden(_autofill(client, token).text, "draft")
    tampered = {NAME: "Kẻ Mạo Danh", PERSONAL_ID: "079090009999"}  # readonly removed in dev tools
    code = _file(client, token, draft, tampered)
    rt = runtime(client)
    congdan = officer_actor(rt, "congdan")
    dossier = dossier_service.get_dossier(rt, congdan, code)
    assert dossier["form_data"]["nguoi_yeu_cau"]["ho_ten"] == AN
    assert dossier["form_data"]["nguoi_yeu_cau"]["so_dinh_danh"] == CONGDAN
    recorded = {f["requirement"]: f["verified"] for f in registry_data(rt, congdan, code)["fields"]}
    assert recorded == {"nguoi_yeu_cau.ho_ten": True, "nguoi_yeu_cau.so_dinh_danh": True}


def test_going_back_from_the_review_keeps_the_fields_verified(client: TestClient[Any]) -> None:
    token = login(client, "congdan")
    draft = hidden(_autofill(client, token).text, "draft")
    schema = birth_schema(client)
    form = {**posted_fields(schema, schema["examples"][0]), NAME: "Kẻ Mạo Danh"}
    form.update({"unit_id": WARD, "draft": draft, "_csrf_token": token})
    review = client.post(f"/nop-ho-so/{BIRTH}", data=form, files={})
    assert AN in text_of(review.text) and "Kẻ Mạo Danh" not in review.text
    back = {"draft": hidden(review.text, "draft"), "buoc": "sua", "_csrf_token": token}
    page = client.post(f"/nop-ho-so/{BIRTH}/xac-nhan", data=back).text
    assert _value(page, NAME) == AN and " readonly" in _input(page, NAME)
    assert VERIFIED_NOTE in text_of(page)


@pytest.mark.parametrize("failure", ["down", "unreachable"])
def test_a_failing_registry_leaves_a_notice_and_filing_still_works(
    client: TestClient[Any],
    registry: Sandbox,
    failure: str,
) -> None:
    if failure == "down":
        registry.fault("registries", down=True)
    else:
        gateway: Gateway = make_gateway("http://127.0.0.1:9", retries=0)
        install_gateway(runtime(client), gateway)
    token = login(client, "congdan")
    response = _autofill(client, token)
    assert response.status_code == 200, text_of(response.text)
    page = response.text
    assert "tự nhập" in text_of(page)  # the gateway's Vietnamese message
    assert "Bạn vẫn có thể tự khai đầy đủ các mục" in text_of(page)
    assert "readonly" not in _input(page, NAME) and VERIFIED_NOTE not in text_of(page)
    code = _file(client, token, hidden(page, "draft"), {})
    schema = birth_schema(client)
    typed = schema["examples"][0]["nguoi_yeu_cau"]["ho_ten"]
    dossier = dossier_service.get_dossier(runtime(client), officer_actor(runtime(client), "congdan"), code)
    assert dossier["form_data"]["nguoi_yeu_cau"]["ho_ten"] == typed


def test_without_consent_nothing_is_fetched(
    client: TestClient[Any],
    registry: Sandbox,
) -> None:
    token = login(client, "congdan")
    response = _autofill(client, token, consent=False)
    assert response.status_code == 422
    assert CONSENT_ERROR in text_of(response.text)
    assert 'href="#f-dong_y_lay_du_lieu"' in response.text  # the error summary links to the box
    assert registry.requests("population") == 0
    assert "readonly" not in _input(response.text, NAME)


# ---------------------------------------------------------------- in a browser (phone, SQLite)


def test_auto_fill_by_clicking_on_a_phone(
    page_phone: Page,
    live_server: LiveServer,
    registry: Sandbox,
    login_as: Any,
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the click path is the same on PostgreSQL (covered by the fast tests)")
    gateway = make_gateway(registry.url)
    install_gateway(live_server.runtime, gateway)
    page = page_phone
    try:
        login_as(page, "congdan")
        page.goto(f"/nop-ho-so/{BIRTH}")
        page.fill("#f-form-tre-ho_ten", "Nguyễn Minh Khang")
        page.click("#f-dong_y_lay_du_lieu")  # the label covers the box: click where a thumb would
        with page.expect_navigation():
            page.click("button[name=_tu_dong_dien]")
        name = page.locator(f"#f-{NAME}")
        assert name.input_value() == AN
        assert name.get_attribute("readonly") is not None
        assert page.locator(f"#f-{PERSONAL_ID}").input_value() == CONGDAN
        assert page.locator(f"#f-{NAME}-verified").inner_text().endswith(VERIFIED_NOTE)
        assert page.locator("#f-form-tre-ho_ten").input_value() == "Nguyễn Minh Khang"
        name.click()
        page.keyboard.type("XYZ")  # a read-only field does not take typing
        assert name.input_value() == AN
        assert_fits_width(page)
        screenshot(page, "citizen-autofill-sqlite-phone")
    finally:
        gateway.close()
