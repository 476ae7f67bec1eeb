"""Routes of the data-sharing gateway: auto-fill ("only once"), registry data on dossiers, the citizen's own
repository and data-access log, Decree 63/2024 bundles, and the registries' contract for the web forms."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter, SkipValidation
from pydantic import BaseModel, Field

from motcua.domain.errors import Forbidden
from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.registry import BUNDLES, BundleKind, RegistryKind
from motcua.domain.workflow import Role
from motcua.services import bundles as bundle_service
from motcua.services import gateway as gateway_service
from motcua.services.runtime import Runtime

Rt = SkipValidation[Runtime]
Who = SkipValidation[Actor]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Offset = Annotated[int, QueryParameter(ge=0)]


class PrefillIn(BaseModel):
    procedure_code: str = Field(max_length=16)
    consent: bool = Field(description="The applicant agrees that their data is fetched from the registries.")
    related_id: str | None = Field(
        default=None,
        max_length=14,
        description="Personal ID of someone the applicant may act for (their child, a deceased relative).",
    )


class RegistryCheckIn(BaseModel):
    sources: list[RegistryKind] | None = None


class ReuseIn(BaseModel):
    sha256: str = Field(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")
    label: str | None = Field(default=None, max_length=300)


class BundleIn(BaseModel):
    kind: BundleKind
    receiving_unit_id: str = Field(max_length=80)
    parts: dict[str, dict[str, Any]]


@post("/api/v1/prefill", sync_to_thread=True, tags=["gateway"], status_code=200)
def prefill(data: JSONBody[PrefillIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """Fill a procedure's e-form from the national registries (after the applicant's consent): each bound
    field comes back verified and read-only with its source and fetch time; a failing registry leaves its
    fields to be typed (`manual_fields`, `sources[].message`)."""
    request = gateway_service.PrefillRequest(data.procedure_code, data.consent, data.related_id)
    return gateway_service.prefill(rt, actor, request)


@get("/api/v1/registries", sync_to_thread=True, tags=["gateway"])
def registries(rt: Rt) -> dict[str, Any]:
    """The registries' contract (identity, fields with types and Vietnamese labels, record sections) and
    whether each is reachable: what the web forms need to show bound fields."""
    gateway = gateway_service.gateway_for(rt)
    status = {row["source"]: row for row in gateway.status()}
    items = [{**plugin.describe(), **status[kind.value]} for kind, plugin in gateway.plugins.items()]
    return {"items": items, "bundles": [_bundle_kind(kind) for kind in BundleKind]}


def _bundle_kind(kind: BundleKind) -> dict[str, Any]:
    definition = BUNDLES[kind]
    return {
        "kind": kind.value,
        "name": definition.name,
        "national_code": definition.national_code,
        "parts": [
            {"key": p.key, "name": p.name, "procedure_code": p.procedure_code, "after": p.after}
            for p in definition.parts
        ],
    }


@get("/api/v1/dossiers/{code:str}/registry-data", sync_to_thread=True, tags=["gateway"])
def dossier_registry_data(code: FromPath[str], actor: Who, rt: Rt) -> dict[str, Any]:
    """Which required documents of a dossier were met by registry data, and which fields are verified."""
    return gateway_service.registry_data(rt, actor, code)


@post("/api/v1/dossiers/{code:str}/registry-checks", sync_to_thread=True, tags=["gateway"], status_code=200)
def registry_check(
    code: FromPath[str], data: JSONBody[RegistryCheckIn], actor: Who, rt: Rt
) -> dict[str, Any]:
    """An officer handling the dossier reads the applicant's registry records (logged with the dossier)."""
    return gateway_service.officer_check(rt, actor, code, data.sources)


@post("/api/v1/dossiers/{code:str}/files/reuse", sync_to_thread=True, tags=["gateway"], status_code=201)
def reuse_file(code: FromPath[str], data: JSONBody[ReuseIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """Attach a document from the applicant's earlier dossier (by its SHA-256) to their open dossier."""
    return gateway_service.reuse_file(rt, actor, code, sha256=data.sha256, label=data.label)


@get("/api/v1/me/documents", sync_to_thread=True, tags=["gateway"])
def my_documents(actor: Who, rt: Rt) -> dict[str, Any]:
    """The citizen's own repository: results and accepted documents of earlier dossiers, reusable."""
    return gateway_service.my_documents(rt, actor)


@get("/api/v1/me/data-access", sync_to_thread=True, tags=["gateway"])
def data_access(actor: Who, rt: Rt, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    """Which officer or service read the citizen's data from the national registries, when and why."""
    return gateway_service.data_access(rt, actor, limit=limit, offset=offset)


@post("/api/v1/bundles", sync_to_thread=True, tags=["gateway"], status_code=201)
def create_bundle(data: JSONBody[BundleIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """One submission for a Decree 63/2024 bundle: the lead dossier now, the linked ones when it is resolved."""
    request = bundle_service.BundleRequest(data.kind, data.receiving_unit_id, data.parts)
    return bundle_service.create_bundle(rt, actor, request)


@get("/api/v1/bundles", sync_to_thread=True, tags=["gateway"])
def my_bundles(actor: Who, rt: Rt) -> dict[str, Any]:
    return bundle_service.list_bundles(rt, actor)


@get("/api/v1/bundles/{bundle_id:str}", sync_to_thread=True, tags=["gateway"])
def bundle(bundle_id: FromPath[str], actor: Who, rt: Rt) -> dict[str, Any]:
    """A bundle and each of its parts (dossier status, or the national agency's answer)."""
    return bundle_service.get_bundle(rt, actor, bundle_id)


@get("/api/v1/gateway/exchange-log/verify", sync_to_thread=True, tags=["gateway"])
def verify_exchange_log(actor: Who, rt: Rt) -> dict[str, Any]:
    """Check the exchange log's hash chains (city administrators and monitors)."""
    if actor.kind is not ActorKind.OFFICER or not actor.roles & {Role.CITY_ADMIN, Role.MONITOR}:
        raise Forbidden(
            "gateway.log_forbidden",
            "Chỉ quản trị và giám sát Thành phố được kiểm tra nhật ký trao đổi dữ liệu.",
        )
    with rt.db.read() as conn:
        report = gateway_service.verify_exchange_log(conn)
    return {
        "ok": report.ok,
        "checked": report.checked,
        "chains": report.chains,
        "problems": [
            {"kind": p.kind, "chain": p.chain, "seq": p.seq, "message": p.message} for p in report.problems
        ],
    }


def gateway_routes() -> list[Any]:
    return [
        prefill,
        registries,
        dossier_registry_data,
        registry_check,
        reuse_file,
        my_documents,
        data_access,
        create_bundle,
        my_bundles,
        bundle,
        verify_exchange_log,
    ]
