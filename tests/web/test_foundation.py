"""The pages' foundation in a real browser (Chromium), on a phone and a desktop, over SQLite and PostgreSQL:
the layout in Vietnamese and English, login and logout, the login guard, CSRF, keyboard use, accessibility."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from motcua.store.schema.identity import api_tokens
from tests.web.conftest import LiveServer
from tests.web.helpers import (
    assert_accessible_basics,
    assert_fits_width,
    click_logout,
    login_as,
    main_text,
    open_menu,
    screenshot,
    session_cookie,
    tab_sequence,
)

SITE_NAME = "Cổng dịch vụ công — Thành phố Hồ Chí Minh"


def _device(page: Page) -> str:
    viewport = page.viewport_size
    return "phone" if viewport and viewport["width"] < 500 else "desktop"


def test_home_speaks_vietnamese_and_switches_to_english(device_page: Page, live_server: LiveServer) -> None:
    page = device_page
    page.goto("/")
    assert page.get_attribute("html", "lang") == "vi"
    assert page.inner_text(".site-name") == SITE_NAME
    assert page.inner_text("h1") == "Dịch vụ công trực tuyến Thành phố Hồ Chí Minh"
    assert page.get_attribute("form[role=search]", "action") == "/thu-tuc"
    assert page.locator("main a.tile", has_text="Đăng ký khai sinh").count() == 1
    assert_accessible_basics(page, "vi")
    assert_fits_width(page)
    screenshot(page, f"home-{live_server.backend}-{_device(page)}")

    open_menu(page)
    with page.expect_navigation():
        page.click(".lang-switch a[hreflang=en]")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1") == "Ho Chi Minh City online public services"
    assert_accessible_basics(page, "en")
    page.goto("/dang-nhap")  # the choice is remembered (cookie `lang`)
    assert page.inner_text("h1") == "Log in"
    open_menu(page)
    with page.expect_navigation():
        page.click(".lang-switch a[hreflang=vi]")
    assert page.inner_text("h1") == "Đăng nhập"


def test_login_then_logout(device_page: Page, live_server: LiveServer) -> None:
    page = device_page
    tokens_before = live_server.count(api_tokens)
    page.goto("/dang-nhap")
    page.fill("#f-username", "congdan")
    page.fill("#f-password", "sai-mat-khau")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in page.inner_text(".error-summary")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.input_value("#f-username") == "congdan"
    assert page.input_value("#f-password") == ""
    assert session_cookie(page) is None
    assert live_server.count(api_tokens) == tokens_before
    assert_accessible_basics(page, "vi")
    assert_fits_width(page)

    login_as(page, "congdan")
    assert page.url == f"{live_server.url}/"
    assert "Bạn đã đăng nhập." in page.inner_text(".flash")
    cookie: dict[str, Any] = session_cookie(page) or {}
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # MOTCUA_SECURE_COOKIES is off: plain http on 127.0.0.1 works
    assert live_server.count(api_tokens) == tokens_before + 1
    open_menu(page)
    assert page.inner_text(".site-tools__account") == "Nguyễn Văn An"
    nav = page.inner_text("nav[aria-label='Điều hướng chính']")
    assert "Hồ sơ của tôi" in nav and "Tra cứu thủ tục" in nav

    page.reload()  # the flash message is shown once
    assert page.locator(".flash").count() == 0

    click_logout(page)
    assert "Bạn đã đăng xuất." in page.inner_text(".flash")
    assert session_cookie(page) is None
    page.context.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": live_server.url}])
    page.goto("/tai-khoan")
    assert "/dang-nhap" in page.url, "a revoked session must not open the account page"


def test_officer_sees_the_workspace_navigation(page_desktop: Page, live_server: LiveServer) -> None:
    login_as(page_desktop, "sg.tiepnhan")
    nav = page_desktop.inner_text("nav[aria-label='Điều hướng chính']")
    for label in ("Hồ sơ mới", "Chờ tôi xử lý", "Hồ sơ của đơn vị", "Tiếp nhận tại quầy"):
        assert label in nav
    assert "Hồ sơ của tôi" not in nav


def test_protected_page_sends_to_login_and_back(device_page: Page, live_server: LiveServer) -> None:
    page = device_page
    page.goto("/tai-khoan")
    assert page.url == f"{live_server.url}/dang-nhap?next=/tai-khoan"
    assert "Hãy đăng nhập để tiếp tục." in page.inner_text(".flash")
    page.fill("#f-username", "sg.tiepnhan")
    page.fill("#f-password", "motcua-demo-2026")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url == f"{live_server.url}/tai-khoan"
    text = main_text(page)
    assert "Phạm Thị Dung" in text
    assert "Phường Sài Gòn" in text
    assert "Cán bộ tiếp nhận" in text
    assert_accessible_basics(page, "vi")
    assert_fits_width(page)


def test_post_without_csrf_token_is_refused_and_changes_nothing(
    device_page: Page, live_server: LiveServer
) -> None:
    page = device_page
    login_as(page, "congdan2")
    tokens = live_server.count(api_tokens)
    revoked = live_server.count(api_tokens, api_tokens.c.revoked_at.is_not(None))

    logout = page.request.post("/dang-xuat", form={"x": "1"}, max_redirects=0)
    assert logout.status == 403
    assert "Biểu mẫu đã hết hạn hoặc không hợp lệ" in logout.text()
    forged = page.request.post(
        "/dang-nhap", form={"username": "congdan", "password": "motcua-demo-2026", "_csrf_token": "x" * 128}
    )
    assert forged.status == 403

    assert live_server.count(api_tokens) == tokens
    assert live_server.count(api_tokens, api_tokens.c.revoked_at.is_not(None)) == revoked
    page.goto("/tai-khoan")
    assert "Trần Thị Bình" in main_text(page), "the session survives the forged logout"

    # The JSON API keeps its JSON errors (its CSRF exemption is checked in test_pages.py).
    missing = page.request.get("/api/v1/khong-co")
    assert missing.status == 404
    assert missing.json()["error"]["code"] == "route.not_found"


def test_keyboard_reaches_skip_link_first_then_login_fields_in_order(device_page: Page) -> None:
    page = device_page
    page.goto("/dang-nhap")
    focus = tab_sequence(page, 20)
    assert focus[0].startswith("a.skip-link") and "Bỏ qua, đến nội dung chính" in focus[0]
    username = next(i for i, element in enumerate(focus) if element.startswith("input#f-username"))
    assert focus[username + 1].startswith("input#f-password")
    assert focus[username + 2].startswith("button.button") and '"Đăng nhập"' in focus[username + 2]

    page.goto("/dang-nhap")  # the skip link jumps over the header
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert tab_sequence(page, 1)[0].startswith("input#f-username")


def test_unknown_page_is_a_vietnamese_404_page(device_page: Page) -> None:
    page = device_page
    response = page.goto("/khong-ton-tai")
    assert response is not None and response.status == 404
    assert page.inner_text("h1") == "Không tìm thấy trang"
    assert "Traceback" not in page.content()
    assert_accessible_basics(page, "vi")
    assert_fits_width(page)


def test_accessibility_check_catches_problems(browser: Browser) -> None:
    """The checker itself: a page breaking each rule is reported, rule by rule."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_content(
        '<html lang="en"><head><title>x</title><style>.pale{color:#aaa}</style></head><body><main>'
        '<h1>Một</h1><h1>Hai</h1><input name="q"><p class="pale">nhạt</p><button>OK</button>'
        '<img src="data:,"><a href="/"></a><span id="d"></span><span id="d"></span></main></body></html>'
    )
    with pytest.raises(AssertionError) as failure:
        assert_accessible_basics(page, "vi")
    context.close()
    report = str(failure.value)
    for problem in (
        '<html lang="en">',
        "2 <h1>",
        "no label",
        "contrast",
        "target",
        "no alt",
        "no name",
        '"d" used 2',
    ):
        assert problem in report, problem
