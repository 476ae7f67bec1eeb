"""Documents attached to a dossier through HTTP: stored by checksum, visible only within the dossier's scope."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _file_dossier(client: TestClient[Any], login: Callable[[str], dict[str, str]]) -> str:
    form = client.get("/api/v1/procedures/1.001193").json()["city"]["form_schema"]["examples"][0]
    response = client.post(
        "/api/v1/dossiers",
        headers=login("congdan"),
        json={"procedure_code": "1.001193", "receiving_unit_id": "phuong-sai-gon", "form_data": form},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["code"])


def test_applicant_uploads_a_pdf_and_the_officer_downloads_the_same_bytes(
    client: TestClient[Any], login: Callable[[str], dict[str, str]]
) -> None:
    code = _file_dossier(client, login)
    response = client.post(
        f"/api/v1/dossiers/{code}/files",
        headers=login("congdan"),
        files={"data": ("giay-chung-sinh.pdf", PDF, "application/pdf")},
        params={"label": "Giấy chứng sinh"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    listed = client.get(f"/api/v1/dossiers/{code}", headers=login("sg.tiepnhan")).json()["files"]
    assert [(f["label"], f["name"]) for f in listed] == [("Giấy chứng sinh", "giay-chung-sinh.pdf")]
    download = client.get(f"/api/v1/dossiers/{code}/files/{listed[0]['id']}", headers=login("sg.tiepnhan"))
    assert download.status_code == 200
    assert download.content == PDF


def test_an_executable_is_refused_and_nothing_is_attached(
    client: TestClient[Any], login: Callable[[str], dict[str, str]]
) -> None:
    code = _file_dossier(client, login)
    response = client.post(
        f"/api/v1/dossiers/{code}/files",
        headers=login("congdan"),
        files={"data": ("virus.pdf", b"MZ\x90\x00not a pdf", "application/pdf")},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file.bad_type"
    assert client.get(f"/api/v1/dossiers/{code}", headers=login("congdan")).json()["files"] == []


def test_someone_outside_the_dossier_cannot_see_or_add_files(
    client: TestClient[Any], login: Callable[[str], dict[str, str]]
) -> None:
    code = _file_dossier(client, login)
    client.post(
        f"/api/v1/dossiers/{code}/files",
        headers=login("congdan"),
        files={"data": ("a.pdf", PDF, "application/pdf")},
    )
    for outsider in ("congdan2", "stp.xuly"):
        assert client.get(f"/api/v1/dossiers/{code}/files/1", headers=login(outsider)).status_code == 404
        response = client.post(
            f"/api/v1/dossiers/{code}/files",
            headers=login(outsider),
            files={"data": ("b.pdf", PDF, "application/pdf")},
        )
        assert response.status_code == 404
