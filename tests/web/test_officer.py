"""The officer workspace in a real browser (Chromium), on a phone and a desktop, over SQLite and PostgreSQL:
the issue's story from the officers' side, desk reception with a print-ready receipt, queue filters and SLA
bands, unit scope, and the unit administrator adding an officer. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from playwright.sync_api import Page

from motcua.domain.lifecycle import Action
from motcua.services import dossiers as dossier_service
from motcua.services.documents import run_document_jobs
from tests.web.conftest import LiveServer
from tests.web.helpers import assert_accessible_basics, assert_fits_width, login_as, main_text, screenshot
from tests.web.test_officer_pages import BIRTH, CITIZEN, JPEG, PDF, file_online, officer, status_of


def _device(page: Page) -> str:
    viewport = page.viewport_size
    return "phone" if viewport and viewport["width"] < 500 else "desktop"


def _switch_to(page: Page, username: str, next_path: str) -> None:
    """Log out whoever was logged in (a fresh cookie jar), log in as `username` and open `next_path`."""
    page.context.clear_cookies()
    login_as(page, username, next_path=next_path)


def _check_page(page: Page, name: str, live_server: LiveServer) -> None:
    assert_accessible_basics(page, "vi")
    assert_fits_width(page)
    screenshot(page, f"officer-{name}-{live_server.backend}-{_device(page)}")


def _act(page: Page, action: str, **fields: str) -> None:
    """Fill an action's form on the dossier page and send it; the page comes back with a message."""
    form = page.locator(f"form[data-action={action}]")
    for name, value in fields.items():
        control = form.locator(f"[name={name}]")
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_officers_take_a_citizens_dossier_from_acceptance_to_returned_result(
    device_page: Page, live_server: LiveServer
) -> None:
    page, rt = device_page, live_server.runtime
    code = file_online(rt, child="Võ Minh Khôi")

    # The receiver finds it among the new dossiers and accepts it.
    login_as(page, "sg.tiepnhan", next_path="/mot-cua/moi")
    assert page.inner_text("h1") == "Hồ sơ mới chờ tiếp nhận"
    page.fill("#q-text", code)
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    item = page.locator(f'li[data-code="{code}"]')
    assert "Nguyễn Văn An" in item.inner_text() and "Mới đăng ký" in item.inner_text()
    _check_page(page, "queue-new", live_server)
    with page.expect_navigation():
        item.locator("h2 a").click()
    assert code in page.inner_text("h1")
    assert "Võ Minh Khôi" in main_text(page)  # the form data, under the schema's titles
    actions = page.locator("form[data-action]").evaluate_all("forms => forms.map(f => f.dataset.action)")
    assert actions == ["accept", "request_supplement", "refuse_reception"]
    _check_page(page, "dossier-new", live_server)
    _act(page, "accept", note="Hồ sơ đầy đủ")
    assert page.inner_text(".flash") == "Đã tiếp nhận hồ sơ."
    assert "Bạn không có thao tác nào" in main_text(page)  # the dossier is now the processor's

    # The processor asks for a missing document — with the keyboard only.
    _switch_to(page, "sg.xuly", "/mot-cua/cua-toi")
    assert page.locator(f'li[data-code="{code}"]').count() == 1
    page.goto(f"/mot-cua/ho-so/{code}")
    page.focus("#f-request_supplement-missing")
    page.keyboard.type("Giấy chứng sinh (bản chính)")
    page.keyboard.press("Enter")
    page.keyboard.type("Giấy tờ tùy thân của người yêu cầu")
    page.keyboard.press("Tab")
    page.keyboard.type("Bản chụp giấy chứng sinh bị mờ")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.inner_text(".flash") == "Đã gửi yêu cầu bổ sung hồ sơ."
    history = page.inner_text(".history")
    assert "Giấy chứng sinh (bản chính)" in history and "Giấy tờ tùy thân của người yêu cầu" in history
    assert "Hoàng Văn Em" in history
    assert status_of(rt, code) == 5
    _check_page(page, "dossier-supplement-requested", live_server)

    # The citizen supplements (through the service, as the portal does); the processor forwards.
    dossier_service.act(rt, CITIZEN, code, Action.SUPPLEMENT, {"note": "Đã nộp bản chính giấy chứng sinh"})
    page.reload()
    _act(page, "forward", note="Đủ điều kiện đăng ký")
    assert page.inner_text(".flash") == "Đã chuyển hồ sơ sang bước tiếp theo."

    # The approver approves; the processor issues the result; the returner hands it over.
    _switch_to(page, "sg.pheduyet", f"/mot-cua/ho-so/{code}")
    assert "Phê duyệt" in page.inner_text(".dossier-layout__side")
    _act(page, "approve", note="Đồng ý")
    assert page.inner_text(".flash") == "Đã phê duyệt hồ sơ."
    _switch_to(page, "sg.xuly", f"/mot-cua/ho-so/{code}")
    _act(page, "issue_result", note="Cấp Giấy khai sinh")
    assert page.inner_text(".flash") == "Đã ban hành kết quả."
    _switch_to(page, "sg.traketqua", f"/mot-cua/ho-so/{code}")
    _act(page, "return_result", method="desk")
    assert page.inner_text(".flash") == "Đã trả kết quả; hồ sơ kết thúc."
    assert status_of(rt, code) == 10
    assert "Đã trả kết quả" in page.inner_text(".dossier-status")
    events = page.locator(".history__what").all_inner_texts()
    assert events == [
        "Trả kết quả",
        "Ban hành kết quả",
        "Phê duyệt",
        "Chuyển bước tiếp theo",
        "Bổ sung hồ sơ",
        "Yêu cầu bổ sung hồ sơ",
        "Tiếp nhận hồ sơ",
        "Nộp hồ sơ",
    ]
    history = page.inner_text(".history")
    for name in ("Đặng Văn Hải", "Võ Thị Giang", "Hoàng Văn Em", "Phạm Thị Dung", "Nguyễn Văn An"):
        assert name in history
    _check_page(page, "dossier-returned", live_server)


def test_desk_reception_with_scans_and_a_print_ready_receipt(
    device_page: Page,
    live_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = device_page
    login_as(page, "sg.tiepnhan", next_path="/mot-cua/tiep-nhan")
    assert page.inner_text("h1") == "Tiếp nhận hồ sơ tại quầy"
    with page.expect_navigation():
        page.click(f'a[href="/mot-cua/tiep-nhan/{BIRTH}"]')
    assert page.inner_text("h1") == "Tiếp nhận hồ sơ: Đăng ký khai sinh"
    _check_page(page, "desk-form", live_server)

    page.fill("#f-applicant_name", "Lê Thị Mai")
    page.fill("#f-applicant_personal_id", "07919001234")  # one digit short
    page.fill("#f-nguoi_yeu_cau-ho_ten", "Lê Thị Mai")
    with page.expect_navigation():
        page.click("form.desk-form button[type=submit]")
    summary = page.locator(".error-summary")
    assert "Số định danh cá nhân phải có đúng 12 chữ số (đã nhập 11 chữ số)." in summary.inner_text()
    assert "Giới tính là thông tin bắt buộc." in summary.inner_text()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")  # announced first
    assert page.input_value("#f-nguoi_yeu_cau-ho_ten") == "Lê Thị Mai"  # kept

    page.fill("#f-applicant_personal_id", "079190012345")
    page.fill("#f-applicant_phone", "0903123456")
    page.fill("#f-nguoi_yeu_cau-so_dinh_danh", "079190012345")
    page.select_option("#f-nguoi_yeu_cau-quan_he", "Mẹ")
    page.fill("#f-nguoi_yeu_cau-so_dien_thoai", "0903123456")
    page.fill("#f-tre-ho_ten", "Lê Minh An")
    page.select_option("#f-tre-gioi_tinh", "Nam")
    page.fill("#f-tre-ngay_sinh", "2026-02-20")
    page.fill("#f-tre-noi_sinh", "Bệnh viện Từ Dũ, Thành phố Hồ Chí Minh")
    page.fill("#f-tre-dan_toc", "Kinh")
    page.fill("#f-tre-quoc_tich", "Việt Nam")
    page.set_input_files(
        "#f-doc_0", files=[{"name": "to-khai.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.set_input_files(
        "#f-doc_1", files=[{"name": "chung-sinh.jpg", "mimeType": "image/jpeg", "buffer": JPEG}]
    )
    with page.expect_navigation():
        page.click("form.desk-form button[type=submit]")

    match = re.search(r"/mot-cua/ho-so/(.+)/bien-nhan$", page.url)
    assert match is not None, page.url
    code = match.group(1)
    assert status_of(live_server.runtime, code) == 2
    receipt = page.inner_text(".receipt")
    assert code in receipt and "Lê Thị Mai" in receipt and "079190012345" in receipt
    assert "03/03/2026 09:00" in receipt  # one working day after Monday 09:00
    assert "Giấy chứng sinh; nếu không có" in receipt and "chung-sinh.jpg" in receipt
    assert page.locator("[data-print]").is_visible()  # shown by JavaScript
    _check_page(page, "desk-receipt", live_server)

    page.emulate_media(media="print")  # the receipt alone on paper
    assert not page.locator(".site-header").is_visible() and not page.locator(".receipt-tools").is_visible()
    assert page.locator(".receipt").is_visible()
    screenshot(page, f"officer-desk-receipt-print-{live_server.backend}-{_device(page)}")
    page.emulate_media(media="screen")

    if _device(page) == "desktop":  # the signed PDF, once the document worker has issued it
        monkeypatch.setenv("MOTCUA_PKI_DIR", str(tmp_path_factory.mktemp("pki")))
        # pyHanko runs its own event loop, so not in this thread (Playwright's loop runs here)
        with ThreadPoolExecutor(1) as worker:
            while worker.submit(run_document_jobs, live_server.runtime, limit=50).result():
                pass
        page.reload()
        link = page.locator("a", has_text="Tải giấy tiếp nhận có chữ ký số (PDF)")
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename == f"giay_tiep_nhan-{code}.pdf"
        with open(download.value.path(), "rb") as pdf:
            assert pdf.read(5) == b"%PDF-"


def test_queue_filters_and_sla_bands(device_page: Page, live_server: LiveServer) -> None:
    page, rt = device_page, live_server.runtime
    receiver = officer("sg.tiepnhan", rt)
    late = file_online(rt, child="Đinh Gia Bảo")
    dossier_service.act(rt, receiver, late, Action.ACCEPT, {})  # due Tuesday 09:00
    live_server.clock.advance(timedelta(days=1, hours=2))  # Tuesday 11:00
    fresh = file_online(rt, child="Đinh Gia Hân")
    dossier_service.act(rt, receiver, fresh, Action.ACCEPT, {})  # due Wednesday 11:00

    login_as(page, "sg.xuly", next_path="/mot-cua/cua-toi")
    for code, band in ((late, "Quá hạn"), (fresh, "Trong hạn")):
        page.fill("#q-text", code)
        with page.expect_navigation():
            page.click("form.filters button[type=submit]")
        item = page.locator(f'li[data-code="{code}"]')
        assert item.locator(".sla").first.inner_text().startswith(band)
        assert ("queue-item--overdue" in (item.get_attribute("class") or "")) is (code == late)

    page.fill("#q-text", "Nguyễn Văn An")
    page.select_option("#q-sla", "overdue")
    page.select_option("#q-sort", "recent")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert "sla=overdue" in page.url
    codes = page.locator("li.queue-item").evaluate_all("items => items.map(i => i.dataset.code)")
    assert late in codes and fresh not in codes
    assert page.input_value("#q-sla") == "overdue"  # the filter is kept on the page
    _check_page(page, "queue-overdue", live_server)

    page.select_option("#q-sla", "within_time")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    codes = page.locator("li.queue-item").evaluate_all("items => items.map(i => i.dataset.code)")
    assert fresh in codes and late not in codes


def test_an_officer_of_another_unit_cannot_open_the_dossier(
    device_page: Page, live_server: LiveServer
) -> None:
    page = device_page
    code = file_online(live_server.runtime)
    login_as(page, "stp.tiepnhan")
    response = page.goto(f"/mot-cua/ho-so/{code}")
    assert response is not None and response.status == 404
    assert page.inner_text("h1") == "Không tìm thấy trang"
    assert f"Không tìm thấy hồ sơ {code}." in main_text(page)
    assert "Nguyễn Văn An" not in page.content()
    page.goto(f"/mot-cua/don-vi?status=all&q={code}")
    assert page.locator("li.queue-item").count() == 0
    _check_page(page, "other-unit-404", live_server)


def test_unit_admin_adds_an_officer_who_can_then_work(device_page: Page, live_server: LiveServer) -> None:
    page = device_page
    username = f"sg.tiepnhan.{_device(page)}"
    login_as(page, "sg.quantri", next_path="/mot-cua/quan-tri/can-bo")
    assert page.inner_text("h1") == "Cán bộ của đơn vị"
    _check_page(page, "unit-admin", live_server)
    page.fill("#f-full_name", "Trương Thị Yến")
    page.fill("#f-username", username)
    page.fill("#f-password", "yen-2026-motcua")
    page.check("#new-role-receiver")
    page.check("#new-role-returner")
    with page.expect_navigation():
        page.click("section.add-officer button[type=submit]")
    assert page.inner_text(".flash") == "Đã thêm cán bộ."
    card = page.locator(f'li[data-user="{username}"]')
    assert "Trương Thị Yến" in card.inner_text()
    assert card.locator(f'[id="r-{username}-receiver"]').is_checked()
    assert card.locator(f'[id="r-{username}-returner"]').is_checked()
    assert not card.locator(f'[id="r-{username}-approver"]').is_checked()

    page.context.clear_cookies()
    login_as(page, username, password="yen-2026-motcua", next_path="/mot-cua/moi")
    assert page.inner_text("h1") == "Hồ sơ mới chờ tiếp nhận"
