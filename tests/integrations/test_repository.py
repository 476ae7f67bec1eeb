"""The citizen's own repository: results and accepted documents of earlier dossiers, reused in a new one."""

from __future__ import annotations

import hashlib

from motcua.services.documents import run_document_jobs
from motcua.services.runtime import Runtime
from tests.api.conftest import KHAI_SINH, DossierApi, assert_error

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SHA = hashlib.sha256(PDF).hexdigest()


def _with_upload(api: DossierApi, username: str) -> str:
    code: str = api.submit(username, KHAI_SINH)["code"]
    api.call(
        "POST",
        f"/api/v1/dossiers/{code}/files",
        username,
        files={"data": ("giay-chung-sinh.pdf", PDF, "application/pdf")},
        params={"label": "Giấy chứng sinh"},
        expect=201,
    )
    return code


def test_an_accepted_document_is_listed_and_reused_in_a_new_dossier(gw_api: DossierApi) -> None:
    first = _with_upload(gw_api, "congdan")
    listed = gw_api.call("GET", "/api/v1/me/documents", "congdan", expect=200)["documents"]
    assert [(d["sha256"], d["verified"]) for d in listed] == [(SHA, False)]  # not yet checked by an officer
    gw_api.act("sg.tiepnhan", first, "accept")
    [document] = gw_api.call("GET", "/api/v1/me/documents", "congdan", expect=200)["documents"]
    assert document["verified"] is True and document["dossier"]["code"] == first
    assert document["label"] == "Giấy chứng sinh" and document["media_type"] == "application/pdf"

    second = gw_api.submit("congdan", KHAI_SINH)["code"]
    attached = gw_api.call(
        "POST",
        f"/api/v1/dossiers/{second}/files/reuse",
        "congdan",
        json={"sha256": SHA, "label": "Giấy chứng sinh"},
        expect=201,
    )
    assert attached["sha256"] == SHA and attached["size"] == len(PDF)
    files = gw_api.get("sg.tiepnhan", second)["files"]
    assert [(f["sha256"], f["label"], f["added_by"]) for f in files] == [
        (SHA, "Giấy chứng sinh", "cd-079090001234")
    ]
    assert gw_api.call("GET", "/api/v1/me/documents", "congdan2", expect=200)["documents"] == []


def test_the_result_of_an_earlier_dossier_is_in_the_repository(
    gw_api: DossierApi, gw_runtime: Runtime
) -> None:
    code = gw_api.submit("congdan", KHAI_SINH)["code"]
    gw_api.act("sg.tiepnhan", code, "accept")
    gw_api.act("sg.xuly", code, "forward")
    gw_api.act("sg.pheduyet", code, "approve")
    gw_api.act("sg.xuly", code, "issue_result", result={"so_dang_ky": "125/2026"})
    run_document_jobs(gw_runtime)  # the signed result is issued by the worker, after the action commits
    documents = gw_api.call("GET", "/api/v1/me/documents", "congdan", expect=200)["documents"]
    results = [d for d in documents if d["is_result"]]
    assert len(results) == 1 and results[0]["verified"] is True and results[0]["dossier"]["code"] == code
    assert all(d["kind"] in ("result", "upload", "supplement") for d in documents)  # no receipts or slips


def test_nobody_reuses_someone_elses_document(gw_api: DossierApi) -> None:
    _with_upload(gw_api, "congdan")
    hers = gw_api.submit("congdan2", KHAI_SINH)["code"]
    refused = gw_api.call(
        "POST", f"/api/v1/dossiers/{hers}/files/reuse", "congdan2", json={"sha256": SHA}, expect=404
    )
    assert_error(refused, "file.not_found")
    mine = gw_api.submit("congdan", KHAI_SINH)["code"]
    gw_api.call("POST", f"/api/v1/dossiers/{hers}/files/reuse", "congdan", json={"sha256": SHA}, expect=404)
    gw_api.act("congdan", mine, "withdraw")
    closed = gw_api.call(
        "POST", f"/api/v1/dossiers/{mine}/files/reuse", "congdan", json={"sha256": SHA}, expect=400
    )
    assert_error(closed, "file.dossier_closed")
