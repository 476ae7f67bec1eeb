"""The city administrator's background jobs page (decision 0009), in-process and in a phone-sized browser:
dead jobs with their error, counts per topic, retry and discard (CSRF-protected, audited), refusals."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from playwright.sync_api import Page
from sqlalchemy import select

from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.outbox import Job, PermanentJobError, RetryPolicy, enqueue, run_once
from motcua.services.runtime import Runtime
from motcua.store.schema.audit import audit_log
from motcua.store.schema.outbox import outbox
from tests.web.conftest import LiveServer
from tests.web.helpers import assert_accessible_basics, assert_fits_width, login_as, screenshot
from tests.web.test_officer_pages import file_online, login, runtime

PAGE = "/mot-cua/quan-tri/viec-nen"


def _refuse(job: Job) -> None:
    raise PermanentJobError("registry.rejected", "Cổng Dịch vụ công quốc gia không chấp nhận thông điệp")


def _dead_job(rt: Runtime) -> tuple[str, int]:
    """A dossier whose first status change the portal refused for good: (its code, the dead job's id)."""
    code = file_online(rt)
    run_once(rt.db, {NATIONAL_SYNC_TOPIC: _refuse}, now=rt.clock.now(), policy=RetryPolicy())
    with rt.db.read() as conn:
        job_id = conn.execute(
            select(outbox.c.id).where(outbox.c.key == code, outbox.c.dead_at.is_not(None))
        ).scalar_one()
    return code, int(job_id)


def test_only_the_city_admin_sees_the_page(web_client: TestClient[Any]) -> None:
    anonymous = web_client.get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/dang-nhap?next={PAGE}"
    for username in ("congdan", "sg.tiepnhan", "sg.quantri"):
        token = login(web_client, username)
        assert web_client.get(PAGE).status_code == 403, username
        assert web_client.post(f"{PAGE}/1/thu-lai", data={"_csrf_token": token}).status_code == 403
    login(web_client, "tp.quantri")
    page = web_client.get("/mot-cua/quan-tri/thu-tuc").text
    assert f'href="{PAGE}"' in page and "Công việc nền" in page  # in the city admin's navigation


def test_the_city_admin_sees_a_dead_job_and_retries_it(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code, job_id = _dead_job(rt)
    token = login(web_client, "tp.quantri")
    page = web_client.get(PAGE)
    assert page.status_code == 200 and "<h1>Công việc nền</h1>" in page.text
    assert code in page.text and "registry.rejected" in page.text
    assert "1 việc đã ngừng thử đang chờ quyết định" in page.text
    assert f"{NATIONAL_SYNC_TOPIC}</strong>:" in page.text
    assert web_client.post(f"{PAGE}/{job_id}/thu-lai").status_code == 403  # no CSRF token
    retried = web_client.post(f"{PAGE}/{job_id}/thu-lai", data={"_csrf_token": token})
    assert retried.status_code == 200 and "Đã đưa việc về hàng chờ" in retried.text
    assert code not in retried.text  # no longer dead
    assert code in web_client.get(f"{PAGE}?state=pending").text
    again = web_client.post(f"{PAGE}/{job_id}/thu-lai", data={"_csrf_token": token})
    assert again.status_code == 409 and "chỉ thử lại hoặc bỏ được việc đã ngừng thử" in again.text
    with rt.db.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == job_id)).one()
        audited = conn.execute(
            select(audit_log.c.action).where(audit_log.c.object_type == "outbox_job")
        ).all()
    assert row.dead_at is None and row.attempts == 0
    assert [a.action for a in audited] == ["outbox.job_retried"]


def test_discarding_needs_a_reason_and_records_who_and_why(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code, job_id = _dead_job(rt)
    token = login(web_client, "tp.quantri")
    refused = web_client.post(f"{PAGE}/{job_id}/bo", data={"_csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and "Cần ghi lý do bỏ công việc nền" in refused.text
    assert f'id="reason-{job_id}"' in refused.text and 'aria-invalid="true"' in refused.text
    done = web_client.post(
        f"{PAGE}/{job_id}/bo", data={"_csrf_token": token, "reason": "Hồ sơ nhập nhầm, đã hủy"}
    )
    assert done.status_code == 200 and "Đã bỏ việc và ghi lại lý do" in done.text
    listed = web_client.get(f"{PAGE}?state=discarded&topic={NATIONAL_SYNC_TOPIC}").text
    assert code in listed and "Đã bỏ bởi tp.quantri, lý do: Hồ sơ nhập nhầm, đã hủy" in listed
    assert (
        web_client.get(f"{PAGE}?state=nonsense").status_code == 200
    )  # an unknown filter shows the dead ones
    with rt.db.read() as conn:
        audited = conn.execute(
            select(audit_log.c.actor_id, audit_log.c.action).where(audit_log.c.object_type == "outbox_job")
        ).one()
    assert tuple(audited) == ("tp.quantri", "outbox.job_discarded")


def test_the_page_works_on_a_phone(page_phone: Page, live_server: LiveServer) -> None:
    rt = live_server.runtime
    topic = "tests.outbox_page"  # its own topic: the live server's database is shared by the browser tests
    with rt.db.transaction() as conn:
        enqueue(
            conn,
            topic=topic,
            key="000.00.70.H29-260302-0001-mot-ma-rat-dai-khong-co-khoang-trang",
            payload={"code": "x" * 120},
            now=rt.clock.now(),
        )
    run_once(rt.db, {topic: _refuse}, now=rt.clock.now(), policy=RetryPolicy())
    login_as(page_phone, "tp.quantri", next_path=PAGE)
    assert page_phone.inner_text("h1") == "Công việc nền"
    assert "registry.rejected" in page_phone.inner_text("main")
    assert_accessible_basics(page_phone, "vi")
    assert_fits_width(page_phone)
    screenshot(page_phone, f"outbox-{live_server.backend}")
