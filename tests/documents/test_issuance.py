"""Documents issued by dossier events, through the HTTP API on SQLite and PostgreSQL: an action queues its
document and the worker (`worker()`, what `motcua worker` runs) signs it — the receipt on acceptance, the slips
(02–05), the result (signed by the competent unit); the control sheet on demand, at once; who may download
them; verification by upload (API and the public page behind the QR code); the audit trail. The queue itself:
pending documents are listed, a timestamp authority outage delays the paper and not the action, a job run
twice or a worker killed before its commit issues the document exactly once.

Page 1 of each issued document goes to tests/artifacts/documents/issued-<kind>.png.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from motcua.services.documents import CLAIM_LEASE, DOCUMENTS_TOPIC
from motcua.store.schema.audit import audit_log
from motcua.store.schema.documents import issued_documents
from motcua.store.schema.files import dossier_files
from motcua.store.schema.outbox import outbox
from tests.api.conftest import DossierApi
from tests.documents.conftest import PUBLIC_URL, Tsa, decode_qr, page_png, pdf_text

Worker = Callable[..., int]

HON_NHAN = "1.004873"  # Cấp Giấy xác nhận tình trạng hôn nhân: a result without its own template


def _words(text: str) -> str:
    return " ".join(text.split())


def _accepted(api: DossierApi, procedure: str = "1.001193") -> str:
    api.at("2026-03-02 09:00")
    code: str = api.submit("congdan", procedure)["code"]
    api.at("2026-03-02 09:30")
    api.act("sg.tiepnhan", code, "accept")
    return code


def _listing(api: DossierApi, code: str, username: str = "congdan") -> dict[str, Any]:
    listing: dict[str, Any] = api.call("GET", f"/api/v1/dossiers/{code}/documents", username, expect=200)
    return listing


def _documents(api: DossierApi, code: str, username: str = "congdan") -> list[dict[str, Any]]:
    """The documents issued for the dossier."""
    items: list[dict[str, Any]] = _listing(api, code, username)["items"]
    return items


def _pending(api: DossierApi, code: str, username: str = "congdan") -> list[dict[str, Any]]:
    """The documents queued for the dossier and not signed yet."""
    pending: list[dict[str, Any]] = _listing(api, code, username)["pending"]
    return pending


def _count(api: DossierApi, table: Any, *where: Any) -> int:
    with api.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _jobs(api: DossierApi) -> list[dict[str, Any]]:
    with api.db.read() as conn:
        rows = conn.execute(
            select(outbox).where(outbox.c.topic == DOCUMENTS_TOPIC).order_by(outbox.c.id)
        ).mappings()
        return [dict(r) for r in rows]


SIGNED = audit_log.c.action == "document.signed"


def _pdf(api: DossierApi, document_id: str, username: str = "congdan") -> bytes:
    response = api.client.get(f"/api/v1/documents/{document_id}/pdf", headers=api.auth(username))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def _verify(api: DossierApi, data: bytes) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/documents/verify", files={"data": ("tai-lieu.pdf", data, "application/pdf")}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _issued(api: DossierApi, code: str, kind: str, username: str = "congdan") -> tuple[dict[str, Any], bytes]:
    """The one document of `kind` issued for the dossier, and its PDF; checked valid and saved as a PNG."""
    matching = [d for d in _documents(api, code, username) if d["kind"] == kind]
    assert len(matching) == 1, _documents(api, code, username)
    data = _pdf(api, matching[0]["id"], username)
    verdict = _verify(api, data)
    assert (verdict["verdict"], verdict["intact"], verdict["valid"], verdict["trusted"]) == (
        "valid",
        True,
        True,
        True,
    )
    page_png(data, f"issued-{kind}")
    return matching[0], data


def _tamper(data: bytes) -> bytes:
    position = data.index(b"stream\n", len(data) // 4) + 40
    return data[:position] + bytes([data[position] ^ 0x20]) + data[position + 1 :]


# ---------------------------------------------------------------- the receipt


def test_acceptance_issues_a_signed_receipt_the_applicant_downloads_and_anyone_verifies(
    api: DossierApi, worker: Worker
) -> None:
    code = _accepted(api)
    listing = _listing(api, code)
    assert (listing["items"], listing["total"]) == ([], 0)  # the action only queued it
    (queued,) = listing["pending"]
    assert (queued["kind"], queued["status"], queued["status_label"]) == (
        "giay_tiep_nhan",
        "pending",
        "Đang phát hành",
    )
    assert queued["title"] == "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
    assert queued["requested_at"] == "2026-03-02T09:30:00+07:00" and queued["attempts"] == 0
    assert api.get("congdan", code)["files"] == []

    assert worker() == 1
    listing = _listing(api, code)
    assert listing["pending"] == [] and listing["total"] == 1
    (receipt,) = listing["items"]
    assert (receipt["status"], receipt["status_label"]) == ("issued", "Đã phát hành")
    assert receipt["kind"] == "giay_tiep_nhan" and receipt["form"] == "Mẫu số 01"
    assert receipt["unit"] == {
        "id": "phuong-sai-gon",
        "name": "Phường Sài Gòn",
        "agency_code": "068.00.70.H29",
    }
    assert receipt["issued_at"] == "2026-03-02T09:30:00+07:00"
    assert receipt["verification_url"] == f"{PUBLIC_URL}/xac-minh/{receipt['id']}"
    assert re.fullmatch(r"[a-z2-7]{26}", receipt["id"])  # 128 random bits, base32

    data = _pdf(api, receipt["id"])
    assert hashlib.sha256(data).hexdigest() == receipt["sha256"]
    text = _words(pdf_text(data))
    for expected in (
        code,
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        "Nguyễn Văn An",
        "Đăng ký khai sinh",
        "09 giờ 30 phút, ngày 02/03/2026",  # received
        "09 giờ 30 phút, ngày 03/03/2026",  # appointment: one working day later
        "Giấy chứng sinh",  # a document the catalog requires
        "Phạm Thị Dung",  # the receiving officer
        "Bộ phận Một cửa phường Sài Gòn",
    ):
        assert expected in text, expected
    assert decode_qr(page_png(data, "issued-giay_tiep_nhan")) == [receipt["verification_url"]]

    verdict = _verify(api, data)
    assert verdict["ok"] and verdict["matches_issued"] and not verdict["modified"]
    assert verdict["unit"] == {
        "id": "phuong-sai-gon",
        "name": "Phường Sài Gòn",
        "agency_code": "068.00.70.H29",
    }
    assert verdict["signing_time"] == "2026-03-02T09:30:00+07:00"
    assert verdict["document"]["id"] == receipt["id"]

    files = api.get("congdan", code)["files"]
    assert [(f["kind"], f["sha256"]) for f in files] == [("receipt", receipt["sha256"])]


def test_only_those_who_may_see_the_dossier_download_its_documents(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)
    worker()
    (receipt,) = _documents(api, code)
    assert api.client.get(f"/api/v1/documents/{receipt['id']}/pdf").status_code == 401
    api.call("GET", f"/api/v1/documents/{receipt['id']}/pdf", "congdan2", expect=404)
    api.call("GET", f"/api/v1/dossiers/{code}/documents", "congdan2", expect=404)
    api.call("GET", f"/api/v1/documents/{receipt['id']}/pdf", "stp.xuly", expect=404)  # another unit
    assert _pdf(api, receipt["id"], "sg.xuly")[:5] == b"%PDF-"
    public = api.call("GET", f"/api/v1/documents/{receipt['id']}", expect=200)  # no login
    assert public["dossier_code"] == code and public["sha256"] == receipt["sha256"]
    assert "Nguyễn Văn An" not in str(public) and "079090001234" not in str(public)
    api.call("GET", "/api/v1/documents/khong-co-tai-lieu-nay", expect=404)


def test_a_tampered_copy_is_reported_as_modified(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)
    worker()
    (receipt,) = _documents(api, code)
    data = _pdf(api, receipt["id"])
    changed = _verify(api, _tamper(data))
    assert changed["verdict"] == "modified" and not changed["ok"] and changed["modified"]
    assert not changed["intact"] and not changed["matches_issued"]
    assert "sửa đổi" in changed["message"]
    assert changed["document"]["id"] == receipt["id"]  # which document it claims to be
    appended = _verify(api, data + b"\n% ghi them\n")
    assert appended["verdict"] != "valid" and not appended["matches_issued"]
    bad = api.client.post(
        "/api/v1/documents/verify", files={"data": ("x.png", b"\x89PNG\r\n\x1a\nxx", "image/png")}
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "documents.not_pdf"


# ---------------------------------------------------------------- slips and results


def test_the_result_is_signed_by_the_competent_unit_and_the_signing_audited(
    api: DossierApi, worker: Worker
) -> None:
    code = _accepted(api)
    api.at("2026-03-02 10:00")
    api.act("sg.xuly", code, "forward")
    api.at("2026-03-02 10:30")
    api.act("sg.pheduyet", code, "approve")
    api.at("2026-03-02 11:00")
    api.act("sg.xuly", code, "issue_result", result={"so": "125/2026", "quyen_so": "01/2026"})
    assert [d["kind"] for d in _pending(api, code)] == ["giay_tiep_nhan", "trich_luc_khai_sinh"]
    assert worker() == 2  # in the order the actions queued them
    result, data = _issued(api, code, "trich_luc_khai_sinh")
    assert result["unit"]["id"] == "phuong-sai-gon" and result["issued_at"] == "2026-03-02T11:00:00+07:00"
    text = _words(pdf_text(data))
    for expected in (
        "TRÍCH LỤC KHAI SINH",
        "NGUYỄN MINH KHANG",
        "Ngày ba mươi, tháng mười, năm hai nghìn không trăm hai mươi sáu",
        "Trần Thị Bích Ngọc",
        "125/2026",
        "01/2026",
        "Ủy ban nhân dân phường Sài Gòn",
        code,
    ):
        assert expected in text, expected
    assert [f["kind"] for f in api.get("congdan", code)["files"]] == ["receipt", "result"]
    with api.db.read() as conn:
        signed = (
            conn.execute(
                select(audit_log).where(audit_log.c.action == "document.signed").order_by(audit_log.c.id)
            )
            .mappings()
            .all()
        )
    issued = {d["kind"]: d["id"] for d in _documents(api, code)}
    assert [(e["data"]["kind"], e["object_id"], e["actor_id"], e["unit_id"]) for e in signed] == [
        ("giay_tiep_nhan", issued["giay_tiep_nhan"], "sg.tiepnhan", "phuong-sai-gon"),
        ("trich_luc_khai_sinh", issued["trich_luc_khai_sinh"], "sg.xuly", "phuong-sai-gon"),
    ]
    assert signed[-1]["data"]["sha256"] == result["sha256"] and signed[-1]["data"]["dossier"] == code


def test_a_procedure_without_its_own_template_gets_the_generic_result(
    api: DossierApi, worker: Worker
) -> None:
    code = _accepted(api, HON_NHAN)
    api.at("2026-03-02 10:00")
    api.act("sg.xuly", code, "forward")
    api.act("sg.pheduyet", code, "approve")
    api.act("sg.xuly", code, "issue_result", result={"Tình trạng hôn nhân": "Chưa đăng ký kết hôn với ai"})
    worker()
    _, data = _issued(api, code, "ket_qua_chung")
    text = _words(pdf_text(data))
    assert "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN" in text
    assert "Tình trạng hôn nhân Chưa đăng ký kết hôn với ai" in text
    assert "Cấp Giấy xác nhận tình trạng hôn nhân" in text


def test_supplementation_request_lists_what_is_missing(api: DossierApi, worker: Worker) -> None:
    api.at("2026-03-02 09:00")
    code = api.submit("congdan")["code"]
    missing = ["Giấy chứng sinh bản chính", "Văn bản ủy quyền có chứng thực"]
    api.act(
        "sg.tiepnhan", code, "request_supplement", missing=missing, reason="Bản chụp giấy chứng sinh bị mờ"
    )
    worker()
    _, data = _issued(api, code, "phieu_yeu_cau_bo_sung")
    text = _words(pdf_text(data))
    assert all(item in text for item in missing) and "Bản chụp giấy chứng sinh bị mờ" in text
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in text


def test_refusals_at_reception_and_after_appraisal(api: DossierApi, worker: Worker) -> None:
    api.at("2026-03-02 09:00")
    refused_at_desk = api.submit("congdan")["code"]
    api.act(
        "sg.tiepnhan", refused_at_desk, "refuse_reception", reason="Hồ sơ không thuộc thẩm quyền của phường"
    )
    worker()
    _, data = _issued(api, refused_at_desk, "phieu_tu_choi")
    text = _words(pdf_text(data))
    assert "không tiếp nhận giải quyết hồ sơ" in text and "Hồ sơ không thuộc thẩm quyền của phường" in text

    refused_later = _accepted(api)
    api.act("sg.xuly", refused_later, "forward")
    api.act("sg.pheduyet", refused_later, "refuse", reason="Giấy chứng sinh không hợp lệ theo xác minh")
    worker()
    _, data = _issued(api, refused_later, "phieu_tu_choi")
    text = _words(pdf_text(data))
    assert "không đủ điều kiện giải quyết" in text and "Giấy chứng sinh không hợp lệ theo xác minh" in text


def test_apology_gives_the_reason_and_the_new_date(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)
    api.at("2026-03-03 08:00")
    api.act(
        "sg.xuly", code, "apologise", reason="Cần xác minh nơi sinh", new_due_at="2026-03-05T16:00:00+07:00"
    )
    worker()
    _, data = _issued(api, code, "phieu_xin_loi")
    text = _words(pdf_text(data))
    assert "Cần xác minh nơi sinh" in text
    assert "09 giờ 30 phút, ngày 03/03/2026" in text and "16 giờ 00 phút, ngày 05/03/2026" in text


def test_stopping_issues_the_stop_notice(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)
    api.act("sg.xuly", code, "forward")
    api.act("sg.pheduyet", code, "stop", reason="Người yêu cầu đề nghị dừng giải quyết")
    worker()
    _, data = _issued(api, code, "thong_bao_dung")
    assert "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ" in _words(pdf_text(data))


def test_the_control_sheet_is_issued_on_demand_for_officers(api: DossierApi) -> None:
    code = _accepted(api)  # 09:30; the processing step is due at 16:36 the same day
    api.at("2026-03-03 08:00")
    api.act("sg.xuly", code, "forward", note="Đủ điều kiện")  # after its step's deadline
    api.at("2026-03-03 08:10")
    api.act("sg.pheduyet", code, "approve")  # within the approval step's share
    body = {"kind": "phieu_kiem_soat"}
    api.call("POST", f"/api/v1/dossiers/{code}/documents", "congdan", json=body, expect=403)
    api.call("POST", f"/api/v1/dossiers/{code}/documents", "stp.xuly", json=body, expect=404)
    wrong = api.call(
        "POST", f"/api/v1/dossiers/{code}/documents", "sg.xuly", json={"kind": "giay_tiep_nhan"}, expect=400
    )
    assert wrong["error"]["code"] == "documents.not_on_demand"
    sheet = api.call("POST", f"/api/v1/dossiers/{code}/documents", "sg.xuly", json=body, expect=201)
    assert sheet["kind"] == "phieu_kiem_soat"  # at once: no worker needed for what an officer asks for
    _, data = _issued(api, code, "phieu_kiem_soat", "sg.xuly")
    text = _words(pdf_text(data))
    rows = [
        "Tiếp nhận hồ sơ Tiếp nhận hồ sơ Phường Sài Gòn Phạm Thị Dung 02/03/2026 09:30",
        "Chuyển bước tiếp theo Thẩm định, xử lý hồ sơ Phường Sài Gòn Hoàng Văn Em 03/03/2026 08:00 "
        "02/03/2026 16:36 Trễ hạn Đủ điều kiện",
        "Phê duyệt Phê duyệt Phường Sài Gòn Võ Thị Giang 03/03/2026 08:10",
    ]
    for row in rows:
        assert row in text, row
    assert "Đúng hạn" in text.split("Võ Thị Giang", 1)[1]


# ---------------------------------------------------------------- the public page behind the QR code


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the upload form carries a CSRF token"
    return found.group(1)


def test_the_verification_page_shows_the_document_and_checks_an_upload(
    api: DossierApi, worker: Worker
) -> None:
    code = _accepted(api)
    worker()
    (receipt,) = _documents(api, code)
    data = _pdf(api, receipt["id"])
    api.client.cookies.clear()  # a stranger who scanned the QR code
    page = api.client.get(f"/xac-minh/{receipt['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in page.text and "Phường Sài Gòn" in page.text
    assert receipt["sha256"] in page.text
    assert "Nguyễn Văn An" not in page.text  # no personal data
    token = _csrf(page.text)
    good = api.client.post(
        f"/xac-minh/{receipt['id']}/doi-chieu",
        data={"_csrf_token": token},
        files={"tep": ("giay-tiep-nhan.pdf", data, "application/pdf")},
    )
    assert good.status_code == 200, good.text
    assert "Hợp lệ." in good.text and "đúng" in good.text
    bad = api.client.post(
        f"/xac-minh/{receipt['id']}/doi-chieu",
        data={"_csrf_token": token},
        files={"tep": ("giay-tiep-nhan.pdf", _tamper(data), "application/pdf")},
    )
    assert "Đã bị sửa đổi." in bad.text
    missing = api.client.get("/xac-minh/khong-co-ma-nay")
    assert missing.status_code == 404 and "Không tìm thấy tài liệu" in missing.text


# ---------------------------------------------------------------- timestamps through the whole action


def test_with_a_timestamp_authority_the_receipt_carries_a_trusted_timestamp(
    api: DossierApi, tsa: Tsa, worker: Worker
) -> None:
    code = _accepted(api)
    worker()
    (receipt,) = _documents(api, code)
    verdict = _verify(api, _pdf(api, receipt["id"]))
    assert verdict["ok"] and verdict["timestamp"] is not None
    assert verdict["signatures"][0]["timestamp_trusted"] is True


# ---------------------------------------------------------------- the queue: outages, retries, crashes


def test_a_timestamp_authority_outage_delays_the_receipt_not_the_acceptance(
    api: DossierApi, worker: Worker, tsa_server: Tsa, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.at("2026-03-02 09:00")
    code = api.submit("congdan")["code"]
    monkeypatch.setenv("MOTCUA_TSA_URL", "http://127.0.0.1:9/tsa")  # nothing listens there
    api.at("2026-03-02 09:30")
    accepted = api.act("sg.tiepnhan", code, "accept")
    assert accepted["status"]["code"] == 2  # the officer's action went through
    assert worker() == 0
    (waiting,) = _pending(api, code, "sg.tiepnhan")
    assert waiting["attempts"] == 1 and "documents.tsa_unavailable" in waiting["last_error"]
    assert waiting["next_attempt_at"] == "2026-03-02T09:30:01+07:00"  # the outbox's backoff
    assert "last_error" not in _pending(api, code)[0]  # the applicant sees only that it is on its way
    assert _count(api, issued_documents) == 0 and _count(api, dossier_files) == 0

    monkeypatch.setenv("MOTCUA_TSA_URL", tsa_server.url)  # the server is back
    monkeypatch.setenv("MOTCUA_TRUST_ROOTS", str(tsa_server.root_pem))
    assert worker() == 0  # not before its retry time
    api.at("2026-03-02 09:45")
    assert worker() == 1
    assert _pending(api, code) == []
    receipt, data = _issued(api, code, "giay_tiep_nhan")
    assert receipt["issued_at"] == "2026-03-02T09:30:00+07:00"  # dated when the dossier was received
    verdict = _verify(api, data)
    assert verdict["signing_time"] == "2026-03-02T09:45:00+07:00"  # signed when it really was
    assert verdict["timestamp"] is not None and verdict["signatures"][0]["timestamp_trusted"] is True
    assert "09 giờ 30 phút, ngày 02/03/2026" in _words(pdf_text(data))


def test_a_job_run_twice_issues_one_document(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)
    (job,) = _jobs(api)
    with api.db.transaction() as conn:  # the same job delivered twice
        conn.execute(outbox.insert().values({k: v for k, v in job.items() if k != "id"}))
    assert worker() == 2
    with api.db.transaction() as conn:  # and run once more, as if its completion had been lost
        conn.execute(update(outbox).where(outbox.c.id == job["id"]).values(done_at=None))
    assert worker(now=api.clock.now() + CLAIM_LEASE) == 1  # claimable again once its claim lapsed
    assert all(j["done_at"] is not None for j in _jobs(api))
    assert len(_documents(api, code)) == 1 and _pending(api, code) == []
    assert [f["kind"] for f in api.get("congdan", code)["files"]] == ["receipt"]
    assert _count(api, audit_log, SIGNED) == 1


class WorkerKilled(BaseException):
    """The process dies (SIGKILL, power loss): nothing after this point runs, no handler catches it."""


@pytest.mark.parametrize("crash", [WorkerKilled, RuntimeError], ids=["killed", "failed"])
def test_a_worker_stopped_before_its_commit_leaves_nothing_and_the_retry_issues_once(
    api: DossierApi, worker: Worker, monkeypatch: pytest.MonkeyPatch, crash: type[BaseException]
) -> None:
    code = _accepted(api)

    def fail_after_signing(*args: Any, **kwargs: Any) -> None:  # the last write before the commit
        raise crash("the worker stops here")

    with monkeypatch.context() as patched:
        patched.setattr("motcua.services.documents.append_audit", fail_after_signing)
        if crash is WorkerKilled:
            with pytest.raises(WorkerKilled):
                worker()
        else:
            assert worker() == 0  # recorded as a failed attempt
    assert _count(api, issued_documents) == 0 and _count(api, dossier_files) == 0
    assert _count(api, audit_log, SIGNED) == 0
    (job,) = _jobs(api)
    assert job["done_at"] is None
    assert [d["kind"] for d in _pending(api, code)] == ["giay_tiep_nhan"]

    later = api.clock.now() + CLAIM_LEASE  # a killed worker's claim lapses after the lease
    assert worker(now=later - timedelta(seconds=1)) == (0 if crash is WorkerKilled else 1)
    assert worker(now=later) == (1 if crash is WorkerKilled else 0)
    assert worker(now=later + timedelta(hours=2)) == 0
    _issued(api, code, "giay_tiep_nhan")
    assert _count(api, audit_log, SIGNED) == 1 and _pending(api, code) == []


def test_a_receipt_signed_late_shows_the_dossier_as_it_was_accepted(api: DossierApi, worker: Worker) -> None:
    code = _accepted(api)  # 09:30, appointment 03/03 09:30
    api.at("2026-03-03 08:00")
    api.act(
        "sg.xuly", code, "apologise", reason="Cần xác minh nơi sinh", new_due_at="2026-03-05T16:00:00+07:00"
    )
    assert worker() == 2  # the worker was down until now: both papers are signed at 08:00
    receipt, data = _issued(api, code, "giay_tiep_nhan")
    assert receipt["issued_at"] == "2026-03-02T09:30:00+07:00"
    text = _words(pdf_text(data))
    assert "09 giờ 30 phút, ngày 03/03/2026" in text  # the appointment given at acceptance,
    assert "05/03/2026" not in text  # not the later one
    assert "Thời gian ký: 03/03/2026 08:00" in text
