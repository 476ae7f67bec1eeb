"""The citizen portal (Cổng dịch vụ công): find a procedure, file a dossier online, track it, "Hồ sơ của tôi".

Pages call the services (catalog, dossiers, files, ratings), never the HTTP API. Filing is three steps
without JavaScript: the e-form (rendered from the procedure's JSON Schema, `motcua.web.citizen_eform`) with the
receiving unit and the uploads → a review of what will be sent → submission and the receipt with its QR code.
Between steps the draft travels in a hidden, signed field (`Draft`); uploaded files are put in the
content-addressed blob store at once (so a re-shown form keeps them) and attached when the dossier is filed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Annotated, Any
from urllib.parse import quote

import segno
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup

from motcua.domain.catalog import CityProcedure, OnlineLevel, SubmissionChannel
from motcua.domain.clock import to_vn
from motcua.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from motcua.domain.identifiers import parse_dossier_code
from motcua.domain.lifecycle import (
    Action,
    ActorKind,
    Channel,
    ProcedureTerms,
    Status,
    legal_due,  # the engine's own rule for the due date
)
from motcua.domain.registry import form_bindings, set_path
from motcua.domain.text import fold
from motcua.services import catalog, documents, life_events, ratings
from motcua.services import dossiers as dossier_service
from motcua.services import gateway as registry_gateway
from motcua.services.catalog import CATALOG_DIR, get_city_procedure
from motcua.services.files import MAX_UPLOAD_BYTES, check_upload
from motcua.services.forms import validate_form
from motcua.services.runtime import Runtime
from motcua.web import citizen_eform as eform
from motcua.web.app_config import secret_key
from motcua.web.auth import Rt, User, applicant_required
from motcua.web.render import redirect, render, translator

Req = Request[Any, Any, Any]
PAGE_SIZE = 20
MAX_QUERY = 200
MAX_NOTE = 2000
MAX_STAGED_FILES = 20
DRAFT_LIFETIME = timedelta(hours=12)
SUPPLEMENT_LABEL = "Giấy tờ bổ sung"  # stored with the file: Vietnamese, like every label in the dossier
# Life events in the order the portal shows them (message keys `citizen.event.<slug with _>`).
LIFE_EVENTS = (
    "sinh-con",
    "ket-hon",
    "qua-doi",
    "cu-tru",
    "nha-dat",
    "kinh-doanh",
    "viec-lam",
    "giay-to-ca-nhan",
)
# Unit kinds a procedure may be received at, in the order the receiving-unit list groups them.
UNIT_KIND_ORDER = (
    "trung_tam",
    "phuong",
    "xa",
    "dac_khu",
    "cong_an_xa",
    "so",
    "cong_an_tp",
    "ban_quan_ly",
    "thanh_pho",
)
OPEN_STATUSES = frozenset(int(s) for s in Status if not s.terminal)

MultipartBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


# ================================================================ finding a procedure


@get("/thu-tuc", sync_to_thread=True)
def procedures(
    request: Req,
    rt: Rt,
    q: FromQuery[str | None] = None,
    field: FromQuery[str | None] = None,
    event: FromQuery[str | None] = None,
    online: FromQuery[str | None] = None,
    offset: FromQuery[int] = 0,
) -> Template:
    """Search (diacritics optional), browse by field (lĩnh vực) and by life event; online offers first."""
    _ = translator(request)
    query = (q or "").strip()[:MAX_QUERY]
    online_only = online == "1"
    offset = max(0, offset)
    with rt.db.read() as conn:
        if event:
            items, total = life_events.procedures_for_life_event(
                conn, event, q=query or None, field=field or None, online_only=online_only,
                limit=PAGE_SIZE, offset=offset,
            )  # fmt: skip
        else:
            items, total = catalog.search_procedures(
                conn, q=query or None, field=field or None, online_only=online_only,
                limit=PAGE_SIZE, offset=offset,
            )  # fmt: skip
        fields, event_counts = _facets(conn)
    events = [slug for slug in LIFE_EVENTS if slug in event_counts]
    events += [slug for slug in event_counts if slug not in LIFE_EVENTS]
    return render(
        request,
        "citizen/procedures.html",
        title=_("citizen.search.title"),
        q=query,
        field=field or "",
        event=event or "",
        online_only=online_only,
        items=items,
        total=total,
        limit=PAGE_SIZE,
        offset=offset,
        fields=fields,
        events=[(slug, event_label(_, slug), event_counts[slug]) for slug in events],
        event_name=event_label(_, event) if event else None,
        browsing=not (query or field or event or online_only),
    )


def _facets(conn: Any) -> tuple[Sequence[Mapping[str, Any]], Mapping[str, int]]:
    """The fields (lĩnh vực) and life events to browse by (read-only), from the process's catalog snapshot:
    kept in memory and read again as soon as the catalog changes (`catalog.catalog_snapshot`)."""
    snapshot = catalog.catalog_snapshot(conn)
    return snapshot.fields, snapshot.life_event_counts


def event_label(_: Any, slug: str) -> str:
    key = f"citizen.event.{slug.replace('-', '_')}"
    label: str = _(key)
    return slug if label == key else label


@get("/thu-tuc/{code:str}", sync_to_thread=True)
def procedure_page(request: Req, code: str, rt: Rt) -> Template:
    """Everything needed before filing: documents, fees, legal time, channels, where to go, legal basis."""
    with rt.db.read() as conn:
        procedure = catalog.get_procedure(conn, code)
    city = procedure["city"]
    return render(
        request,
        "citizen/procedure.html",
        title=procedure["name"],
        procedure=procedure,
        city=city,
        online_offered=bool(city) and _offered_online(city["online"], city["channels"], city["form_schema"]),
    )


def _offered_online(online: str, channels: Iterable[str], form_schema: Any) -> bool:
    return (
        online != OnlineLevel.NONE.value
        and SubmissionChannel.ONLINE.value in channels
        and form_schema is not None
    )


# ================================================================ filing a dossier: the draft


@dataclass(frozen=True)
class StagedFile:
    """An upload kept in the blob store until the dossier is filed (then attached with `add_file`)."""

    slot: int  # index of the required document in the procedure's list
    label: str  # that document's name
    name: str  # the file name as uploaded (cleaned)
    sha256: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Draft:
    """What the applicant has entered so far; travels signed (HMAC-SHA256) in the form's `draft` field."""

    procedure: str
    actor: str
    unit_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    files: tuple[StagedFile, ...] = ()
    expires: float = 0.0
    # auto-fill: {dotted path: {"value", "source_label", "fetched_at"}} — values verified from a registry,
    # which win over whatever the browser posts for those fields
    verified: dict[str, dict[str, Any]] = field(default_factory=dict)


def _draft_key(request: Req) -> bytes:
    config = request.app.csrf_config
    secret = config.secret if config is not None else secret_key()
    return hashlib.sha256(b"motcua.citizen.draft\x00" + secret.encode()).digest()


def seal_draft(request: Req, draft: Draft) -> str:
    payload = json.dumps(asdict(draft), ensure_ascii=False, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(zlib.compress(payload, 6)).decode().rstrip("=")
    mac = hmac.new(_draft_key(request), body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def open_draft(request: Req, token: str, *, actor_id: str, procedure: str, now: datetime) -> Draft | None:
    """The draft in `token` if it is intact, this applicant's, for this procedure and not expired; else None."""
    body, _, mac = token.partition(".")
    expected = (
        base64.urlsafe_b64encode(hmac.new(_draft_key(request), body.encode(), hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )
    if not body or not hmac.compare_digest(mac, expected):
        return None
    try:
        raw = json.loads(zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
        draft = Draft(**{**raw, "files": tuple(StagedFile(**f) for f in raw["files"])})
    except (ValueError, TypeError, KeyError, zlib.error):
        return None
    if draft.actor != actor_id or draft.procedure != procedure or draft.expires < now.timestamp():
        return None
    return draft


# ================================================================ filing a dossier: the pages


def _applicant_for_online(user: User) -> None:
    if user.kind not in (ActorKind.CITIZEN, ActorKind.BUSINESS):
        raise Forbidden(
            "portal.online_for_citizens",
            "Nộp hồ sơ trực tuyến trên Cổng dành cho công dân và doanh nghiệp; "
            "nhân viên bưu điện tiếp nhận hồ sơ tại quầy.",
        )


@dataclass
class Offer:
    """A procedure the city takes online, with where it may be filed."""

    procedure: CityProcedure
    schema: Mapping[str, Any]
    unit_groups: list[tuple[str, list[tuple[str, str]]]]  # (unit kind, [(unit id, name)])

    @property
    def unit_ids(self) -> set[str]:
        return {unit_id for _, units in self.unit_groups for unit_id, _ in units}

    def unit_name(self, unit_id: str) -> str:
        return next((name for _, units in self.unit_groups for uid, name in units if uid == unit_id), unit_id)


def _offer(rt: Runtime, code: str) -> Offer:
    today = rt.clock.now().date()
    with rt.db.read() as conn:
        procedure = get_city_procedure(conn, code, on=today)
        units = rt.directory(conn, today)
    channels = [c.value for c in procedure.channels]
    if not _offered_online(procedure.online.value, channels, procedure.form_schema):
        raise InvalidInput(
            "portal.not_online", f"Thủ tục «{procedure.name}» chưa được cung cấp trực tuyến tại Thành phố."
        )
    assert procedure.form_schema is not None
    groups: dict[str, list[tuple[str, str]]] = {}
    for unit in units:
        if unit.kind.value in procedure.receiving_kinds:
            groups.setdefault(unit.kind.value, []).append((unit.id, unit.name))
    ordered = sorted(groups, key=lambda k: UNIT_KIND_ORDER.index(k) if k in UNIT_KIND_ORDER else 99)
    unit_groups = [(kind, sorted(groups[kind], key=lambda u: fold(u[1]))) for kind in ordered]
    schema = eform.in_order_of(procedure.form_schema, published_form(procedure.form))
    return Offer(procedure, schema, unit_groups)


@cache
def published_form(slug: str | None) -> dict[str, Any] | None:
    """The e-form as shipped in the package (`motcua/data/catalog/forms/<slug>.schema.json`), for its field
    order only (the stored one may be a later version; on PostgreSQL it has lost its key order)."""
    if not slug or not re.fullmatch(r"[a-z0-9-]+", slug):
        return None
    try:
        loaded = json.loads((CATALOG_DIR / "forms" / f"{slug}.schema.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


@get("/nop-ho-so/{code:str}", guards=[applicant_required], sync_to_thread=True)
def filing_form(request: Req, code: str, user: User, rt: Rt) -> Template:
    _applicant_for_online(user)
    offer = _offer(rt, code)
    draft = Draft(procedure=code, actor=user.id, expires=_expiry(rt))
    return _form_page(request, offer, draft, values={})


def _expiry(rt: Runtime) -> float:
    return (rt.clock.now() + DRAFT_LIFETIME).timestamp()


def _form_page(
    request: Req,
    offer: Offer,
    draft: Draft,
    *,
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    add_row: str | None = None,
    status_code: int = 200,
    autofill: AutofillView | None = None,
) -> Template:
    _ = translator(request)
    procedure = offer.procedure
    controls = eform.build(offer.schema, values, errors, add_row=add_row)
    eform.mark_verified(controls, verified_notes(_, draft.verified))
    return render(
        request,
        "citizen/filing_form.html",
        status_code=status_code,
        title=_("citizen.filing.title", name=procedure.name),
        procedure=procedure,
        controls=controls,
        unit_groups=offer.unit_groups,
        unit_id=draft.unit_id,
        documents=list(enumerate(procedure.documents)),
        declaration_slot=declaration_slot(procedure),
        staged=list(enumerate(draft.files)),
        draft=seal_draft(request, draft),
        errors=_in_page_order(errors or {}, controls),
        max_file_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        max_request_mb=_request_limit_mb(request),
        max_files=MAX_STAGED_FILES,
        kind_label=lambda kind: _(f"citizen.unit_kind.{kind}"),
        autofill=autofill or AutofillView(offered=_autofill_offered(offer)),
    )


def _request_limit_mb(request: Req) -> int:
    """The app's limit on one request body, in MB (what a form with several files may carry at once)."""
    limit = request.app.request_max_body_size
    return limit // (1024 * 1024) if isinstance(limit, int) else MAX_UPLOAD_BYTES // (1024 * 1024)


def _in_page_order(errors: Mapping[str, str], controls: list[eform.Control]) -> dict[str, str]:
    """The errors in the order the fields appear (the error summary lists them so): unit, form, files."""
    order = ["unit_id", *eform.names_in_order(controls)]
    rank = {name: index for index, name in enumerate(order)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(order))))


_DECLARATION_STARTS = ("to khai", "don ", "giay de nghi", "de nghi")


def declaration_slot(procedure: CityProcedure) -> int | None:
    """The required document the e-form replaces online (the declaration, "Tờ khai ..."), when it is first."""
    if procedure.documents and fold(procedure.documents[0].name).startswith(_DECLARATION_STARTS):
        return 0
    return None


@post("/nop-ho-so/{code:str}", guards=[applicant_required], sync_to_thread=True, status_code=200)
def filing_post(request: Req, code: str, user: User, rt: Rt, data: MultipartBody) -> Template | Redirect:
    """The e-form was sent: keep the uploads, read the fields, then show the review — or the form again."""
    _applicant_for_online(user)
    _ = translator(request)
    offer = _offer(rt, code)
    now = rt.clock.now()
    previous = open_draft(request, _first(data, "draft"), actor_id=user.id, procedure=code, now=now)
    removed = set(_all(data, "bo_tep"))
    kept = [f for index, f in enumerate(previous.files if previous else ()) if str(index) not in removed]
    errors: dict[str, str] = {}
    files = kept + _stage_uploads(rt, data, offer.procedure, errors, room=MAX_STAGED_FILES - len(kept), _=_)
    reading = eform.read(offer.schema, data, _)
    verified = previous.verified if previous else {}
    keep_verified(offer.schema, reading, verified)
    unit_id = _first(data, "unit_id").strip()
    draft = Draft(code, user.id, unit_id, reading.data, tuple(files), _expiry(rt), verified)
    if _first(data, AUTOFILL_BUTTON):  # "Lấy thông tin tự động"
        return _autofill(request, rt, user, offer, draft, reading.values, errors, data)
    add_row = _first(data, eform.ADD_ROW)
    if add_row:  # "Thêm dòng": the same form with one more row, nothing checked yet
        return _form_page(request, offer, draft, values=reading.values, errors=errors, add_row=add_row)
    errors.update(reading.errors)
    if unit_id not in offer.unit_ids:
        errors["unit_id"] = _("citizen.filing.unit_required")
    try:
        validate_form(offer.schema, reading.data)
    except InvalidInput as exc:
        for name, message in eform.errors_from_problems(exc.details.get("problems", [])).items():
            errors.setdefault(name, message)
    if errors:
        return _form_page(request, offer, draft, values=reading.values, errors=errors, status_code=422)
    return _review_page(request, offer, draft)


# ---------------------------------------------------------------- auto-fill from the national registries (#4)

AUTOFILL_BUTTON = "_tu_dong_dien"
AUTOFILL_CONSENT = "dong_y_lay_du_lieu"


@dataclass(frozen=True)
class AutofillView:
    """The consent box and button on the filing page, and what the last fetch brought."""

    offered: bool
    consent: bool = False
    filled: int = 0  # fields filled by the last fetch
    sources: tuple[str, ...] = ()  # registries that answered
    documents: tuple[str, ...] = ()  # required documents the registry data replaces
    notices: tuple[str, ...] = ()  # the gateway's Vietnamese messages where a registry failed


def _autofill_offered(offer: Offer) -> bool:
    """Whether the e-form has fields bound to the applicant's own registry records."""
    return any(b.subject == "applicant" for b in form_bindings(offer.schema))


def verified_notes(_: Any, verified: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """{control name: "Đã xác thực từ <registry>, lúc HH:MM dd/mm/yyyy"} for the verified fields."""
    notes = {}
    for path, item in verified.items():
        fetched = to_vn(datetime.fromisoformat(item["fetched_at"])).strftime("%H:%M %d/%m/%Y")
        name = eform.control_name(tuple(path.split(".")))
        notes[name] = _("citizen.autofill.verified_note", source=item["source_label"], time=fetched)
    return notes


def keep_verified(
    schema: Mapping[str, Any], reading: eform.Reading, verified: Mapping[str, Mapping[str, Any]]
) -> None:
    """Put the registry's values back over whatever the browser posted for verified fields."""
    fragment: dict[str, Any] = {}
    for path, item in verified.items():
        keys = tuple(path.split("."))
        set_path(reading.data, keys, item["value"])
        set_path(fragment, keys, item["value"])
        reading.errors.pop(eform.control_name(keys), None)
    reading.values.update(eform.values_from_data(schema, fragment))


def _autofill(
    request: Req,
    rt: Runtime,
    user: User,
    offer: Offer,
    draft: Draft,
    values: dict[str, Any],
    errors: dict[str, str],
    posted: Mapping[str, Any],
) -> Template:
    """Fetch the applicant's registry records (only with consent) and show the form again, filled."""
    _ = translator(request)
    if _first(posted, AUTOFILL_CONSENT) not in ("on", "1", "true"):
        errors = {**errors, AUTOFILL_CONSENT: _("citizen.autofill.consent_required")}
        view = AutofillView(offered=_autofill_offered(offer))
        return _form_page(request, offer, draft, values=values, errors=errors, status_code=422, autofill=view)
    try:
        result = registry_gateway.prefill(
            rt, user, registry_gateway.PrefillRequest(offer.procedure.code, consent=True)
        )
    except DomainError as exc:  # never an error page: the applicant types the fields instead
        view = AutofillView(offered=True, consent=True, notices=(exc.message,))
        return _form_page(request, offer, draft, values=values, errors=errors, autofill=view)
    verified = dict(draft.verified)
    for item in result["fields"]:
        verified[item["path"]] = {
            "value": item["value"],
            "source_label": item["source_label"],
            "fetched_at": item["fetched_at"],
        }
    reading = eform.Reading(data=json.loads(json.dumps(draft.data)), values=dict(values))
    keep_verified(offer.schema, reading, verified)
    filled = replace(draft, data=reading.data, verified=verified)
    view = AutofillView(
        offered=True,
        consent=True,
        filled=len(result["fields"]),
        sources=tuple(s["label"] for s in result["sources"] if s.get("status") == "ok"),
        documents=tuple(d["name"] for d in result["documents"]),
        notices=tuple(
            s["message"]
            for s in result["sources"]
            if s.get("status") not in (None, "ok") and s.get("message")
        ),
    )
    return _form_page(request, offer, filled, values=reading.values, errors=errors, autofill=view)


def _stage_uploads(
    rt: Runtime,
    data: Mapping[str, Any],
    procedure: CityProcedure,
    errors: dict[str, str],
    *,
    room: int,
    _: Any,
) -> list[StagedFile]:
    """Check each uploaded file (type, size: `check_upload`) and keep the good ones in the blob store."""
    staged: list[StagedFile] = []
    for slot, document in enumerate(procedure.documents):
        name = f"tep-{slot}"
        for upload in _uploads(data.get(name)):
            if len(staged) >= room:
                errors.setdefault(name, _("citizen.filing.too_many_files", count=MAX_STAGED_FILES))
                break
            content = upload.file.read()
            try:
                media_type = check_upload(content)
            except InvalidInput as exc:
                errors.setdefault(name, f"{clean_filename(upload.filename)}: {exc.message}")
                continue
            sha256 = rt.blobs.put(content)
            staged.append(
                StagedFile(
                    slot, document.name, clean_filename(upload.filename), sha256, len(content), media_type
                )
            )
    return staged


def _review_page(request: Req, offer: Offer, draft: Draft) -> Template:
    _ = translator(request)
    procedure = offer.procedure
    attached = {f.slot for f in draft.files}
    replaced = declaration_slot(procedure)
    missing = [
        document.name
        for slot, document in enumerate(procedure.documents)
        if document.required and not document.satisfied_by and slot not in attached and slot != replaced
    ]
    return render(
        request,
        "citizen/filing_review.html",
        title=_("citizen.review.title"),
        procedure=procedure,
        summary=eform.summary(offer.schema, draft.data, _),
        unit_name=offer.unit_name(draft.unit_id),
        files=draft.files,
        missing=missing,
        draft=seal_draft(request, draft),
    )


@post("/nop-ho-so/{code:str}/xac-nhan", guards=[applicant_required], sync_to_thread=True, status_code=200)
def filing_confirm(request: Req, code: str, user: User, rt: Rt, data: FormBody) -> Template | Redirect:
    """The review's two buttons: "Sửa lại" shows the form again, "Nộp hồ sơ" files the dossier."""
    _applicant_for_online(user)
    offer = _offer(rt, code)
    draft = open_draft(request, _first(data, "draft"), actor_id=user.id, procedure=code, now=rt.clock.now())
    if draft is None:
        return redirect(f"/nop-ho-so/{code}", flash="citizen.flash.draft_expired", kind="warning")
    values = eform.values_from_data(offer.schema, draft.data)
    if _first(data, "buoc") != "nop":
        return _form_page(request, offer, draft, values=values)
    submission = dossier_service.Submission(code, draft.unit_id, Channel.ONLINE, draft.data)
    try:
        dossier = dossier_service.submit_dossier(rt, user, submission)
    except InvalidInput as exc:  # the catalog changed in between, say: back to the form, with the reasons
        errors = eform.errors_from_problems(exc.details.get("problems", [])) or {"_form": exc.message}
        return _form_page(request, offer, draft, values=values, errors=errors, status_code=422)
    for staged in draft.files:
        dossier_service.add_file(
            rt, user, dossier["code"], data=rt.blobs.get(staged.sha256), filename=staged.name,
            label=staged.label, kind="upload",
        )  # fmt: skip
    return redirect(f"/ho-so/{quote(dossier['code'])}/bien-nhan", flash="citizen.flash.submitted")


# ================================================================ receipt, tracking


def public_url(request: Req, path: str) -> str:
    """An absolute link for print and QR codes: `MOTCUA_PUBLIC_URL` when set (behind a proxy), else this host."""
    base = os.environ.get("MOTCUA_PUBLIC_URL", "").strip() or str(request.base_url)
    return base.rstrip("/") + path


@lru_cache(maxsize=1024)
def qr_svg(url: str, title: str) -> Markup:
    """An inline SVG QR code (error correction M) opening `url` (≈7 ms to make: kept for the next view)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=4, dark="#000", light="#fff", title=title)
    return Markup(svg.replace("<svg ", '<svg role="img" focusable="false" ', 1))  # segno output: safe


def tracking_path(code: str) -> str:
    return f"/tra-cuu-ho-so/{quote(code)}"


@get("/ho-so/{code:str}/bien-nhan", guards=[applicant_required], sync_to_thread=True)
def receipt(request: Req, code: str, user: User, rt: Rt) -> Template:
    """The receipt of an online filing: code, dates, and a QR code that opens the public tracking page."""
    _ = translator(request)
    dossier = dossier_service.get_dossier(rt, user, code)
    url = public_url(request, tracking_path(dossier["code"]))
    return render(
        request,
        "citizen/receipt.html",
        title=_("citizen.receipt.title"),
        dossier=dossier,
        expected_due=None if dossier["dates"]["due_at"] else _expected_due(rt, dossier),
        tracking_url=url,
        qr=qr_svg(url, _("citizen.receipt.qr_title", code=dossier["code"])),
    )


def _expected_due(rt: Runtime, dossier: Mapping[str, Any]) -> datetime | None:
    """The appointment date if the dossier were accepted now (the engine's rule); None once closed."""
    if dossier["status"]["code"] != int(Status.SUBMITTED):
        return None
    try:
        with rt.db.read() as conn:
            procedure = get_city_procedure(conn, dossier["procedure"]["code"])
    except NotFound:
        return None
    terms = ProcedureTerms(procedure.code, procedure.time.amount, procedure.time.unit, procedure.cutoff)
    start = rt.calendar.start_instant(rt.clock.now(), procedure.cutoff)
    return legal_due(rt.calendar, terms, start)


@get("/tra-cuu-ho-so", sync_to_thread=False)
def track_form(request: Req, ma: FromQuery[str | None] = None) -> Template | Redirect:
    """Tracking without logging in: type the dossier code (the receipt's QR code opens the result directly)."""
    _ = translator(request)
    if ma is None:
        return render(request, "citizen/track.html", title=_("citizen.track.title"), code="", errors={})
    code = ma.strip()[:80]
    try:
        parse_dossier_code(code)
    except InvalidInput as exc:
        message = _("citizen.track.code_required") if not code else exc.message
        return render(
            request, "citizen/track.html", status_code=422, title=_("citizen.track.title"), code=code,
            errors={"ma": message},
        )  # fmt: skip
    return Redirect(tracking_path(code), status_code=303)


@get("/tra-cuu-ho-so/{code:str}", sync_to_thread=True)
def track_page(request: Req, code: str, rt: Rt) -> Template:
    """Status, dates and timeliness of a dossier: nothing personal."""
    _ = translator(request)
    try:
        result = dossier_service.track(rt, code)
    except (InvalidInput, NotFound) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        return render(
            request, "citizen/track.html", status_code=status, title=_("citizen.track.title"), code=code,
            errors={"ma": exc.message},
        )  # fmt: skip
    return render(
        request, "citizen/track.html", title=_("citizen.track.result_title", code=result["code"]),
        code=result["code"], result=result, errors={},
    )  # fmt: skip


# ================================================================ Hồ sơ của tôi


@get("/ho-so-cua-toi", guards=[applicant_required], sync_to_thread=True)
def my_dossiers(
    request: Req, user: User, rt: Rt, offset: FromQuery[int] = 0, trang_thai: FromQuery[int | None] = None
) -> Template:
    _ = translator(request)
    offset = max(0, offset)
    status = trang_thai if trang_thai in {int(s) for s in Status} else None
    items, total = dossier_service.list_dossiers(rt, user, status=status, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "citizen/my_dossiers.html",
        title=_("nav.my_dossiers"),
        items=items,
        total=total,
        limit=PAGE_SIZE,
        offset=offset,
        status=status,
        statuses=[int(s) for s in Status],
        open_statuses=OPEN_STATUSES,
    )


def _detail_page(
    request: Req,
    rt: Runtime,
    user: User,
    dossier: Mapping[str, Any],
    *,
    errors: Mapping[str, str] | None = None,
    note: str = "",
    status_code: int = 200,
) -> Template:
    _ = translator(request)
    today = rt.clock.now().date()
    with rt.db.read() as conn:
        units = rt.directory(conn, today)
    rating = None
    if dossier["status"]["code"] == int(Status.RETURNED):
        rating = ratings.get_rating(rt, user, dossier["code"])
    history = list(reversed(dossier["history"]))
    requests = [e for e in dossier["history"] if e["type"] == Action.REQUEST_SUPPLEMENT.value]
    fee = [e for e in dossier["history"] if e["type"] == Action.REQUEST_FEE.value]
    return render(
        request,
        "citizen/my_dossier.html",
        status_code=status_code,
        title=_("citizen.dossier.title", code=dossier["code"]),
        dossier=dossier,
        history=history,
        unit_name=lambda unit_id: units.get(unit_id).name if unit_id and unit_id in units else "",
        supplement_request=requests[-1] if requests else None,
        fee_request=fee[-1] if fee else None,
        results=[f for f in dossier["files"] if f["kind"] == "result"],
        failed_documents=documents.failed_documents(rt, user, dossier["code"]),  # dead jobs: a plain note
        rating=rating,
        can_rate=dossier["status"]["code"] == int(Status.RETURNED) and rating is None,
        scores=[int(s) for s in reversed(ratings.Satisfaction)],
        errors=dict(errors or {}),
        note=note,
        max_file_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        open_statuses=OPEN_STATUSES,
    )


@get("/ho-so-cua-toi/{code:str}", guards=[applicant_required], sync_to_thread=True)
def my_dossier(request: Req, code: str, user: User, rt: Rt) -> Template:
    """Status, history, due date, requests to supplement (with the form), withdrawal, result, rating."""
    return _detail_page(request, rt, user, dossier_service.get_dossier(rt, user, code))


@post("/ho-so-cua-toi/{code:str}/bo-sung", guards=[applicant_required], sync_to_thread=True)
def supplement(request: Req, code: str, user: User, rt: Rt, data: MultipartBody) -> Template | Redirect:
    """Answer a request to supplement: files (checked first, then attached) and a note, then SUPPLEMENT."""
    _ = translator(request)
    dossier = dossier_service.get_dossier(rt, user, code)
    if Action.SUPPLEMENT.value not in dossier["allowed_actions"]:
        raise Conflict("portal.no_supplement_requested", "Hồ sơ không ở trạng thái chờ bổ sung giấy tờ.")
    note = " ".join(_first(data, "ghi_chu").split())[:MAX_NOTE]
    uploads: list[tuple[str, bytes]] = []
    errors: dict[str, str] = {}
    for upload in _uploads(data.get("tep")):
        content = upload.file.read()
        try:
            check_upload(content)
        except InvalidInput as exc:
            errors.setdefault("tep", f"{clean_filename(upload.filename)}: {exc.message}")
            continue
        uploads.append((clean_filename(upload.filename), content))
    if not errors and not uploads and not note:
        errors["tep"] = _("citizen.supplement.empty")
    if len(uploads) > MAX_STAGED_FILES:
        errors["tep"] = _("citizen.filing.too_many_files", count=MAX_STAGED_FILES)
    if errors:
        return _detail_page(request, rt, user, dossier, errors=errors, note=note, status_code=422)
    for name, content in uploads:
        dossier_service.add_file(
            rt, user, code, data=content, filename=name, label=SUPPLEMENT_LABEL, kind="supplement"
        )
    payload = {"note": note, "documents": [name for name, _content in uploads]}
    dossier_service.act(rt, user, code, Action.SUPPLEMENT, payload)
    return redirect(f"/ho-so-cua-toi/{quote(code)}", flash="citizen.flash.supplemented")


@get("/ho-so-cua-toi/{code:str}/rut-ho-so", guards=[applicant_required], sync_to_thread=True)
def withdraw_page(request: Req, code: str, user: User, rt: Rt) -> Template:
    """Withdrawing is final: a confirmation step first."""
    _ = translator(request)
    dossier = dossier_service.get_dossier(rt, user, code)
    if Action.WITHDRAW.value not in dossier["allowed_actions"]:
        raise Conflict("portal.cannot_withdraw", "Hồ sơ này không thể rút ở trạng thái hiện tại.")
    return render(request, "citizen/withdraw.html", title=_("citizen.withdraw.title"), dossier=dossier)


@post("/ho-so-cua-toi/{code:str}/rut-ho-so", guards=[applicant_required], sync_to_thread=True)
def withdraw(request: Req, code: str, user: User, rt: Rt, data: FormBody) -> Redirect:
    reason = " ".join(_first(data, "ly_do").split())[:MAX_NOTE]
    dossier_service.act(rt, user, code, Action.WITHDRAW, {"reason": reason})
    return redirect(f"/ho-so-cua-toi/{quote(code)}", flash="citizen.flash.withdrawn")


@post("/ho-so-cua-toi/{code:str}/danh-gia", guards=[applicant_required], sync_to_thread=True)
def rate(request: Req, code: str, user: User, rt: Rt, data: FormBody) -> Redirect:
    """One click: the button pressed carries the answer."""
    ratings.rate_dossier(rt, user, code, _first(data, "muc"))
    return redirect(f"/ho-so-cua-toi/{quote(code)}", flash="citizen.flash.rated")


@get("/ho-so-cua-toi/{code:str}/tep/{file_id:int}", guards=[applicant_required], sync_to_thread=True)
def download(code: str, file_id: int, user: User, rt: Rt) -> Response[bytes]:
    """A file of one's own dossier (uploads, receipts, results), as a download."""
    content, meta = dossier_service.get_file(rt, user, code, file_id)
    name = clean_filename(meta["name"]) or f"tep-{file_id}"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "tep"
    return Response(
        content,
        media_type=meta["media_type"],
        headers={
            "content-disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
            "cache-control": "private, no-store",
        },
    )


# ================================================================ helpers


def _first(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def _all(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name)
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)]


def _uploads(value: Any) -> list[UploadFile]:
    """The files of a file input (none chosen: the browser sends an empty part, which is not a file)."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, UploadFile) and v.filename]


def clean_filename(name: str | None) -> str:
    """The last path segment of an uploaded file's name, without control characters, at most 120 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[-120:]


ROUTES = [
    procedures,
    procedure_page,
    filing_form,
    filing_post,
    filing_confirm,
    receipt,
    track_form,
    track_page,
    my_dossiers,
    my_dossier,
    supplement,
    withdraw_page,
    withdraw,
    rate,
    download,
]
