"""A document whose background job died (the outbox's dead letter, decision 0009) is shown as failed, not as
"being issued": in the API's document list (status "failed"; the applicant reads a plain sentence, never the
internal error; officers see the error; the city administrator a link to the background jobs page) and on the
officer's receipt page. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient
from sqlalchemy import update

from motcua.domain.lifecycle import Action
from motcua.services import dossiers as dossier_service
from motcua.services.documents import DOCUMENTS_TOPIC, FAILED_NOTE_APPLICANT
from motcua.services.runtime import Runtime
from motcua.services.seed import DEMO_PASSWORD
from motcua.store.schema.outbox import outbox
from tests.web.test_officer_pages import file_online, login, officer, runtime

ERROR = "documents.signer_unavailable: HSM slot 0 timed out"
JOBS = "/mot-cua/quan-tri/viec-nen"


def _accepted(rt: Runtime) -> str:
    """A dossier accepted at the ward: its receipt is queued for the documents worker."""
    code = file_online(rt)
    dossier_service.act(rt, officer("sg.tiepnhan", rt), code, Action.ACCEPT, {})
    return code


def _kill_jobs(rt: Runtime, code: str, *, discarded: bool = False) -> None:
    """What the outbox does to a job that keeps failing: dead, with its last error (and maybe discarded)."""
    now = rt.clock.now()
    values: dict[str, Any] = {"dead_at": now, "attempts": 8, "last_error": ERROR}
    if discarded:
        values |= {"discarded_at": now, "discarded_by": "tp.quantri", "discard_reason": "Ký lại bằng tay"}
    with rt.db.transaction() as conn:
        conn.execute(
            update(outbox).where(outbox.c.topic == DOCUMENTS_TOPIC, outbox.c.key == code).values(**values)
        )


def _documents(client: TestClient[Any], code: str, username: str) -> dict[str, Any]:
    token = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    response = client.get(f"/api/v1/dossiers/{code}/documents", headers=headers)
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


def test_the_api_lists_a_dead_document_job_as_failed(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = _accepted(rt)
    queued = _documents(web_client, code, "congdan")
    assert [p["status"] for p in queued["pending"]] == ["pending"] and queued["failed"] == []

    _kill_jobs(rt, code)
    citizen = _documents(web_client, code, "congdan")
    assert citizen["pending"] == [] and citizen["items"] == [] and citizen["total"] == 0
    (failed,) = citizen["failed"]
    assert (failed["kind"], failed["status"], failed["status_label"]) == (
        "giay_tiep_nhan",
        "failed",
        "Không tạo được văn bản",
    )
    assert failed["note"] == FAILED_NOTE_APPLICANT
    assert "HSM" not in str(citizen) and "last_error" not in failed and "jobs_url" not in failed

    receiver = _documents(web_client, code, "sg.tiepnhan")
    (failed,) = receiver["failed"]
    assert failed["status"] == "failed" and failed["last_error"] == ERROR and failed["attempts"] == 8
    assert "quản trị viên" in failed["note"] and failed["discarded"] is False
    assert "jobs_url" not in failed  # only the city administrator can retry it

    (failed,) = _documents(web_client, code, "tp.quantri")["failed"]
    assert failed["jobs_url"] == f"{JOBS}?state=dead&topic={DOCUMENTS_TOPIC}"


def test_a_discarded_document_job_stays_failed(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = _accepted(rt)
    _kill_jobs(rt, code, discarded=True)
    (failed,) = _documents(web_client, code, "sg.tiepnhan")["failed"]
    assert failed["status"] == "failed" and failed["discarded"] is True
    assert "không tạo lại" in failed["note"]
    (failed,) = _documents(web_client, code, "tp.quantri")["failed"]
    assert failed["jobs_url"] == f"{JOBS}?state=discarded&topic={DOCUMENTS_TOPIC}"
    assert _documents(web_client, code, "congdan")["failed"][0]["note"] == FAILED_NOTE_APPLICANT


def test_the_receipt_page_says_the_signed_receipt_could_not_be_made(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = _accepted(rt)
    page = f"/mot-cua/ho-so/{code}/bien-nhan"
    login(web_client, "sg.tiepnhan")
    pending = web_client.get(page)
    assert pending.status_code == 200 and "đang được phát hành" in pending.text
    assert "Không tạo được giấy tiếp nhận" not in pending.text

    _kill_jobs(rt, code)
    failed = web_client.get(page)
    assert failed.status_code == 200
    assert "Không tạo được giấy tiếp nhận có chữ ký số" in failed.text
    assert "đang được phát hành" not in failed.text and "HSM" not in failed.text
    assert f'href="{JOBS}' not in failed.text  # a ward officer cannot act on it

    login(web_client, "tp.quantri")
    admin = web_client.get(page)
    assert admin.status_code == 200 and "Không tạo được giấy tiếp nhận có chữ ký số" in admin.text
    assert f'href="{JOBS}?state=dead&amp;topic={DOCUMENTS_TOPIC}"' in admin.text


def test_the_applicant_reads_a_plain_sentence_on_their_dossier_page(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = _accepted(rt)
    page = f"/ho-so-cua-toi/{code}"
    login(web_client, "congdan")
    before = web_client.get(page)
    assert before.status_code == 200 and "chưa tạo được" not in before.text

    _kill_jobs(rt, code)
    after = web_client.get(page)
    assert after.status_code == 200
    assert "«Giấy tiếp nhận hồ sơ và hẹn trả kết quả» chưa tạo được do sự cố kỹ thuật" in after.text
    assert "HSM" not in after.text and "signer_unavailable" not in after.text and "viec-nen" not in after.text
