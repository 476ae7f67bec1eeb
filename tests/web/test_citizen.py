"""The citizen portal in a real browser (Chromium), on a phone and a desktop, over SQLite and PostgreSQL.

The issue's story, citizen side: find a procedure without typing diacritics, open it, file a dossier with an
upload through the e-form and its review, get the code and the receipt with a QR code, track it without
logging in; then (officers act through the services, their pages being built alongside) the dossier is
accepted and a supplement requested, the citizen answers it with an upload on "Hồ sơ của tôi", the officers
decide and return the result, and the citizen downloads it and rates the service with one click.
Screenshots of every page go to tests/artifacts/.
"""

from __future__ import annotations

import re

import segno
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from motcua.domain.lifecycle import Status
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.ratings import dossier_ratings
from tests.web.conftest import DEVICES, LiveServer
from tests.web.helpers import assert_accessible_basics, assert_fits_width, main_text, screenshot
from tests.web.test_citizen_pages import ACCEPT_AND_ASK, decide_and_return, run_officer_steps

PDF = b"%PDF-1.4\n% a scanned birth certificate\n"
PNG = b"\x89PNG\r\n\x1a\n a clearer scan"


def _device(page: Page) -> str:
    viewport = page.viewport_size
    return "phone" if viewport and viewport["width"] < 500 else "desktop"


def _check(page: Page, name: str, live_server: LiveServer, lang: str = "vi") -> None:
    """Accessibility basics, no horizontal scrolling, and a screenshot for the record."""
    assert_accessible_basics(page, lang)
    assert_fits_width(page)
    screenshot(page, f"citizen-{name}-{live_server.backend}-{_device(page)}")


def _status(live_server: LiveServer, code: str) -> int:
    with live_server.db.read() as conn:
        return int(conn.execute(select(dossiers.c.status).where(dossiers.c.code == code)).scalar_one())


def test_a_citizen_files_tracks_supplements_and_rates_a_birth_registration(
    device_page: Page, live_server: LiveServer, browser: Browser
) -> None:
    page = device_page
    rt, clock = live_server.runtime, live_server.clock

    # 1. Find the procedure without typing diacritics.
    page.goto("/")
    page.fill("#home-q", "dang ky khai sinh")
    with page.expect_navigation():
        page.click("form[role=search] button[type=submit]")
    first = page.locator(".cz-result__title a").first
    assert first.inner_text() == "Đăng ký khai sinh"
    assert "Trực tuyến toàn trình" in page.locator(".cz-result").first.inner_text()
    _check(page, "1-search", live_server)

    # 2. Open it: documents, fees, time, where to go, and the online button (which asks to log in first).
    with page.expect_navigation():
        first.click()
    assert page.inner_text("h1") == "Đăng ký khai sinh"
    text = main_text(page)
    assert "Giấy chứng sinh" in text and "1 ngày làm việc" in text and "Ủy ban nhân dân phường" in text
    _check(page, "2-procedure", live_server)
    with page.expect_navigation():
        page.locator(".cz-cta a").first.click()
    assert "/dang-nhap?next=/nop-ho-so/1.001193" in page.url
    page.fill("#f-username", "congdan")
    page.fill("#f-password", "motcua-demo-2026")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.endswith("/nop-ho-so/1.001193")

    # 3. The e-form: the receiving unit found by typing without diacritics, fields, inline checks, an upload.
    assert page.inner_text("h1") == "Đăng ký khai sinh"
    page.fill("#f-unit_filter", "sai gon")
    shown = page.eval_on_selector(
        "#f-unit_id", "s => [...s.options].filter(o => o.value && !o.hidden).map(o => o.value)"
    )
    assert "phuong-sai-gon" in shown and len(shown) < 5
    page.select_option("#f-unit_id", "phuong-sai-gon")
    page.fill("#f-form-nguoi_yeu_cau-ho_ten", "Nguyễn Văn An")
    page.fill("#f-form-nguoi_yeu_cau-so_dinh_danh", "0790900")
    page.press("#f-form-nguoi_yeu_cau-so_dinh_danh", "Tab")
    error = page.locator("#f-form-nguoi_yeu_cau-so_dinh_danh-error")
    assert error.inner_text() == "Giá trị chưa đúng định dạng."  # said at once, in Vietnamese
    assert page.get_attribute("#f-form-nguoi_yeu_cau-so_dinh_danh", "aria-invalid") == "true"
    page.fill("#f-form-nguoi_yeu_cau-so_dinh_danh", "079090001234")
    page.press("#f-form-nguoi_yeu_cau-so_dinh_danh", "Tab")
    assert error.count() == 0
    page.select_option("#f-form-nguoi_yeu_cau-quan_he", "Cha")
    page.fill("#f-form-nguoi_yeu_cau-so_dien_thoai", "0903123456")
    page.fill("#f-form-tre-ho_ten", "Nguyễn Minh Khang")
    page.check("#f-form-tre-gioi_tinh-0")
    page.fill("#f-form-tre-ngay_sinh", "2026-02-20")
    page.fill("#f-form-tre-noi_sinh", "Bệnh viện Từ Dũ, Thành phố Hồ Chí Minh")
    page.fill("#f-form-tre-dan_toc", "Kinh")
    page.fill("#f-form-tre-quoc_tich", "Việt Nam")
    page.set_input_files(
        "#f-tep-1", files=[{"name": "giay-chung-sinh.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    _check(page, "3-form", live_server)

    # 4. Review, then submit.
    with page.expect_navigation():
        page.get_by_role("button", name="Tiếp tục: kiểm tra lại").click()
    assert page.inner_text("h1") == "Kiểm tra lại hồ sơ"
    review = main_text(page)
    for expected in (
        "Phường Sài Gòn",
        "Nguyễn Minh Khang",
        "20/02/2026",
        "giay-chung-sinh.pdf",
        "079090001234",
    ):
        assert expected in review, expected
    _check(page, "4-review", live_server)
    with page.expect_navigation():
        page.get_by_role("button", name="Nộp hồ sơ").click()

    # 5. The receipt: the code, the expected date, a QR code that opens the public tracking page.
    assert page.inner_text("h1") == "Biên nhận hồ sơ"
    code = page.inner_text("#dossier-code")
    assert re.fullmatch(r"068\.00\.70\.H29-260302-\d{4}", code)
    assert "Ngày hẹn trả kết quả dự kiến" in main_text(page) and "03/03/2026" in main_text(page)
    tracking = f"{live_server.url}/tra-cuu-ho-so/{code}"
    dark = page.get_attribute(".cz-receipt__qr svg path[stroke]", "d")
    expected = re.search(r'stroke="#000" d="([^"]+)"', segno.make(tracking, error="m").svg_inline(scale=4))
    assert expected and dark == expected[1]
    assert page.get_attribute(".cz-receipt__qr figcaption a", "href") == tracking
    _check(page, "5-receipt", live_server)
    assert _status(live_server, code) == Status.SUBMITTED

    # 6. Anyone holding the code (or the QR code) tracks it without logging in: no personal data.
    device = DEVICES[_device(page)]
    anonymous = browser.new_context(
        base_url=live_server.url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **device
    )
    try:
        visitor = anonymous.new_page()
        visitor.goto("/tra-cuu-ho-so")
        visitor.fill("#f-ma", code)
        with visitor.expect_navigation():
            visitor.get_by_role("button", name="Tra cứu").click()
        assert visitor.url == tracking
        public = main_text(visitor)
        assert "Mới đăng ký" in public and "Đăng ký khai sinh" in public
        assert "Nguyễn" not in public and "079090001234" not in public
        _check(visitor, "6-tracking", live_server)
    finally:
        anonymous.close()

    # 7. The ward accepts it and asks for a clearer birth certificate.
    run_officer_steps(rt, clock, code, *ACCEPT_AND_ASK)
    page.goto("/ho-so-cua-toi")
    card = page.locator(".cz-dossier-card", has=page.locator(f"text={code}"))
    assert "Yêu cầu bổ sung giấy tờ" in card.inner_text()
    _check(page, "7-my-dossiers", live_server)
    with page.expect_navigation():
        card.locator("a").first.click()
    assert page.inner_text("h1") == f"Hồ sơ {code}"
    assert "Bản sao Giấy chứng sinh rõ nét" in page.inner_text("#supplement")
    _check(page, "8-supplement-request", live_server)

    # 8. The citizen supplements with an upload and a note.
    page.set_input_files(
        "#f-tep", files=[{"name": "chung-sinh-ro.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.fill("#f-ghi_chu", "Gửi lại bản chụp rõ nét")
    with page.expect_navigation():
        page.get_by_role("button", name="Gửi bổ sung").click()
    assert "Đã gửi bổ sung hồ sơ." in page.inner_text(".flash")
    assert _status(live_server, code) == Status.ACCEPTED
    assert "chung-sinh-ro.png" in main_text(page)

    # 9. The officers decide and return the result; the citizen downloads it and rates the service.
    decide_and_return(rt, clock, code)
    page.reload()
    assert "Đã trả kết quả" in page.inner_text(".summary-list")
    with page.expect_download() as download:
        page.locator("#result a").first.click()
    assert download.value.suggested_filename == "giay-khai-sinh.pdf"
    _check(page, "9-result", live_server)
    with page.expect_navigation():
        page.get_by_role("button", name="Hài lòng", exact=True).click()
    assert "Cảm ơn bạn đã đánh giá." in page.inner_text(".flash")
    assert "Cảm ơn bạn đã đánh giá: Hài lòng." in page.inner_text("#rating")
    assert page.locator("#rating button").count() == 0  # one rating per dossier
    with live_server.db.read() as conn:
        dossier_id = conn.execute(select(dossiers.c.id).where(dossiers.c.code == code)).scalar_one()
    assert live_server.count(dossier_ratings, dossier_ratings.c.dossier_id == dossier_id) == 1
    _check(page, "10-rated", live_server)


def test_enter_in_a_field_goes_to_the_review_and_errors_are_announced(
    page_desktop: Page, live_server: LiveServer
) -> None:
    """The form's default button is "continue", not a list's "add a row"; errors take the focus."""
    page = page_desktop
    page.goto("/dang-nhap?next=/nop-ho-so/1.001612")
    page.fill("#f-username", "congdan2")
    page.fill("#f-password", "motcua-demo-2026")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("input[name='form-nganh_nghe-1-ma_nganh']").count() == 0
    too_big = {"name": "ban-ve.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" + b"0" * (10 * 2**20)}
    page.set_input_files("#f-tep-1", files=[too_big])
    assert page.inner_text("#f-tep-1-error") == "Tệp lớn hơn 10 MB; hãy chọn tệp nhỏ hơn."  # before uploading
    assert page.eval_on_selector("#f-tep-1", "input => input.files.length") == 0
    page.fill("#f-form-nganh_nghe-0-ma_nganh", "4711")
    with page.expect_navigation():
        page.press("#f-form-nganh_nghe-0-ma_nganh", "Enter")
    assert page.locator("input[name='form-nganh_nghe-1-ma_nganh']").count() == 0
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.input_value("#f-form-nganh_nghe-0-ma_nganh") == "4711"
    first_error = page.locator(".error-summary a").first
    target = first_error.get_attribute("href")
    assert target and page.locator(target).count() == 1
    _check(page, "errors", live_server)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("^Thêm dòng")).click()
    assert page.locator("input[name='form-nganh_nghe-1-ma_nganh']").count() == 1


def test_the_portal_speaks_english_on_request(device_page: Page, live_server: LiveServer) -> None:
    page = device_page
    page.goto("/thu-tuc?event=ket-hon&lang=en")
    assert page.inner_text("h1") == "Find an administrative procedure"
    assert "Procedures for: Getting married" in main_text(page)
    _check(page, "search-en", live_server, lang="en")
    page.goto("/tra-cuu-ho-so")
    assert page.inner_text("h1") == "Track a dossier"
    _check(page, "track-en", live_server, lang="en")
