"""Routes of the documents area: verification (API and the public page behind the QR code), metadata,
the signed PDF for those who may see the dossier, a dossier's documents and the on-demand control sheet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody, SkipValidation
from litestar.response import Template
from pydantic import BaseModel, Field

from motcua.domain.errors import DomainError, InvalidInput
from motcua.domain.lifecycle import Actor
from motcua.services import documents as document_service
from motcua.services.files import MAX_UPLOAD_BYTES
from motcua.services.runtime import Runtime

Rt = SkipValidation[Runtime]
Who = SkipValidation[Actor]
PAGE_TEMPLATE = "documents/verify.html"


class IssueIn(BaseModel):
    kind: str = Field(max_length=32)


@dataclass
class VerifyForm:
    """The upload form of the verification page (the CSRF field travels alongside)."""

    tep: UploadFile


@post("/api/v1/documents/verify", sync_to_thread=True, tags=["documents"], status_code=200)
def verify(
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)], rt: Rt
) -> dict[str, Any]:
    """Verify an uploaded PDF: signer, unit, signing time, timestamp, `intact`, `valid`, `trusted`, and whether it
    is byte-for-byte a document motcua issued (`matches_issued`). Public: no login needed."""
    content = data.file.read(MAX_UPLOAD_BYTES + 1)
    return document_service.verify_upload(rt, content)


@get("/api/v1/documents/{document_id:str}", sync_to_thread=True, tags=["documents"])
def document(document_id: FromPath[str], rt: Rt) -> dict[str, Any]:
    """Public metadata of an issued document (what the QR code's page shows): no personal data."""
    return document_service.get_document(rt, document_id)


@get("/api/v1/documents/{document_id:str}/pdf", sync_to_thread=True, tags=["documents"])
def document_pdf(document_id: FromPath[str], actor: Who, rt: Rt) -> Response[bytes]:
    """The signed PDF, for the applicant and the officers who may see the dossier."""
    content, meta = document_service.get_document_pdf(rt, actor, document_id)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{meta["filename"]}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@get("/api/v1/dossiers/{code:str}/documents", sync_to_thread=True, tags=["documents"])
def dossier_documents(code: FromPath[str], actor: Who, rt: Rt) -> dict[str, Any]:
    """A dossier's documents: `items`, those issued (receipt, slips, results, control sheets); `pending`,
    those an action queued that the background worker has not signed yet ("đang phát hành"); and `failed`
    (status "failed"), those whose job stopped after repeated errors and waits for the city administrator."""
    return document_service.dossier_documents(rt, actor, code)


@post("/api/v1/dossiers/{code:str}/documents", sync_to_thread=True, tags=["documents"], status_code=201)
def issue(code: FromPath[str], data: JSONBody[IssueIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """Issue a document on demand: `{"kind": "phieu_kiem_soat"}` (the processing control sheet, officers)."""
    if data.kind != "phieu_kiem_soat":
        raise InvalidInput(
            "documents.not_on_demand",
            "Chỉ phiếu kiểm soát quá trình giải quyết hồ sơ được lập theo yêu cầu; các giấy tờ khác được "
            "phát hành khi thực hiện thao tác trên hồ sơ.",
        )
    return document_service.issue_control_sheet(rt, actor, code)


# ---------------------------------------------------------------- the public page behind the QR code


def _page(
    request: Request[Any, Any, Any], document_id: str, result: dict[str, Any] | None, error: str | None
) -> Template:
    from motcua.web.render import render

    rt: Runtime = request.app.state.runtime
    try:
        found: dict[str, Any] | None = document_service.get_document(rt, document_id)
    except DomainError:
        found = None
    page: Template = render(
        request,
        PAGE_TEMPLATE,
        status_code=200 if found else 404,
        title="Xác minh tài liệu điện tử",
        document=found,
        document_id=document_id,
        result=result,
        error=error,
    )
    return page


@get("/xac-minh/{document_id:str}", sync_to_thread=True, include_in_schema=False)
def verification_page(request: Request[Any, Any, Any], document_id: FromPath[str]) -> Template:
    """What the QR code opens: the document's public metadata and a form to check a copy of it."""
    return _page(request, document_id, None, None)


# A path of its own: Litestar 2.25 re-registers every handler of a path when another method is added to it,
# wrapping a threaded sync handler twice (its coroutine is then never awaited).
@post("/xac-minh/{document_id:str}/doi-chieu", sync_to_thread=True, include_in_schema=False, status_code=200)
def verification_upload(
    request: Request[Any, Any, Any],
    document_id: FromPath[str],
    data: Annotated[VerifyForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template:
    """The page's upload form: is this file the document behind the QR code, unmodified?"""
    rt: Runtime = request.app.state.runtime
    try:
        result = document_service.verify_upload(
            rt, data.tep.file.read(MAX_UPLOAD_BYTES + 1), expected_id=document_id
        )
    except DomainError as exc:
        return _page(request, document_id, None, exc.message)
    return _page(request, document_id, result, None)


ROUTES = [verify, document, document_pdf, dossier_documents, issue, verification_page, verification_upload]


def document_routes() -> list[Any]:
    """For `motcua.api.app.area_routes()`."""
    return list(ROUTES)
