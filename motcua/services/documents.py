"""Issuing and verifying documents: the one-stop forms, electronic results and the control sheet.

Dossier events issue documents through the outbox. `issue_on_event` is an event hook (registered in
`motcua.services.hooks.default_hooks`): in the action's transaction it only queues a `documents.issue` job
(acceptance → receipt, request_supplement → form 02, refuse_reception / refuse → 03, apologise → 04,
stop → 05, issue_result → the procedure's result), so the action never waits for rendering, signing or a
timestamp authority. `run_document_jobs` (called by `motcua worker`) renders and signs each queued document
with the acting unit's key (the competent unit's for results), then stores the PDF as a dossier file,
records the issue and a `document.signed` audit entry and marks the job done, all in one transaction. The
control sheet is issued on demand (`issue_control_sheet`), synchronously.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import jinja2
from sqlalchemy import Connection, select, update

from motcua.documents import templates
from motcua.documents.settings import DocumentSettings
from motcua.domain.calendar import classify
from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import require_aware, to_vn
from motcua.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from motcua.domain.lifecycle import (
    Action,
    Actor,
    ActorKind,
    DossierState,
    Event,
    Status,
    replay,
    state_from_dict,
)
from motcua.domain.units import Unit, UnitDirectory, UnitKind
from motcua.domain.workflow import Role
from motcua.services.audit import append_audit
from motcua.services.catalog import get_city_procedure
from motcua.services.files import MAX_UPLOAD_BYTES, attach, dossier_file_list, sniff_media_type, store_file
from motcua.services.identity import actor_from_row, get_user
from motcua.services.outbox import Job, PermanentJobError, claim, enqueue, mark_done, mark_failed
from motcua.store.schema.documents import issued_documents
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.outbox import outbox

if TYPE_CHECKING:  # the hooks module imports this one: the dossier services are imported where used
    from motcua.documents.pki import UnitSigner
    from motcua.services.hooks import EventContext
    from motcua.services.runtime import Runtime

log = logging.getLogger("motcua.documents")

PLACE = "Thành phố Hồ Chí Minh"
DOCUMENTS_TOPIC = "documents.issue"
# How long a claimed job is hidden from other workers: a crashed worker's job is claimed again after it.
CLAIM_LEASE = timedelta(minutes=5)
PENDING_LABEL = "Đang phát hành"
ISSUED_LABEL = "Đã phát hành"
# A document whose job died (the outbox's dead letter, decision 0009): it will not be made until the city
# administrator retries the job on the background jobs page. Officers are told so; applicants read a plain
# sentence, never the internal error.
FAILED_LABEL = "Không tạo được văn bản"
FAILED_NOTE_OFFICER = (
    "Không tạo được văn bản sau nhiều lần thử; việc đã được chuyển cho quản trị viên hệ thống xử lý."
)
FAILED_NOTE_DISCARDED = (
    "Không tạo được văn bản; quản trị viên hệ thống đã quyết định không tạo lại (lý do ở trang việc nền)."
)
FAILED_NOTE_APPLICANT = (
    "Văn bản này chưa tạo được do sự cố kỹ thuật; sự cố đã được ghi nhận để cơ quan giải quyết xử lý. Nếu cần, bạn có thể liên hệ "
    "bộ phận một cửa nơi nộp hồ sơ."
)
JOBS_PAGE = (
    "/mot-cua/quan-tri/viec-nen"  # the city administrator's background jobs page (web/routes/outbox.py)
)
RECEIPT_KIND = "giay_tiep_nhan"  # the acceptance receipt (Mẫu số 01)
# Which document each event issues (results: the procedure's template, see `templates.Registry.result_kind`).
EVENT_DOCUMENTS: dict[Action, str] = {
    Action.ACCEPT: RECEIPT_KIND,
    Action.REQUEST_SUPPLEMENT: "phieu_yeu_cau_bo_sung",
    Action.REFUSE_RECEPTION: "phieu_tu_choi",
    Action.REFUSE: "phieu_tu_choi",
    Action.APOLOGISE: "phieu_xin_loi",
    Action.STOP: "thong_bao_dung",
}
_ROLE_ORDER = (Role.APPROVER, Role.PROCESSOR, Role.RECEIVER, Role.RETURNER, Role.UNIT_ADMIN, Role.CITY_ADMIN)
_TIME_UNITS = {"working_day": "ngày làm việc", "calendar_day": "ngày", "hour": "giờ làm việc"}
# Result payload keys that fill the register line of a civil-status extract rather than the table.
_REGISTER_KEYS = ("so", "so_dang_ky", "quyen_so")


def settings() -> DocumentSettings:
    return DocumentSettings.from_env()


# ---------------------------------------------------------------- the hook: queue, nothing more


def issue_on_event(ctx: EventContext) -> None:
    """Event hook: queue the document this event calls for, if any (committed with the action)."""
    job = document_job(ctx)
    if job is not None:
        topic, key, payload = job
        enqueue(ctx.conn, topic=topic, key=key, payload=payload, now=ctx.event.at)


def document_job(ctx: EventContext) -> tuple[str, str, dict[str, Any]] | None:
    """The outbox job (topic, key, payload; queued at the event's instant) that `issue_on_event` queues for
    this event, or None. From the event alone, no database: the one-statement write of an action on
    PostgreSQL writes it in its statement instead of running the hook (`hooks.QUEUE_ONLY_HOOKS`)."""
    event = ctx.event
    if event.type is Action.ISSUE_RESULT:
        kind_id = templates.registry().result_kind(ctx.state.procedure_code).id
        unit_id = ctx.state.competent_unit_id  # the result is signed by the unit competent to decide
    elif event.type in EVENT_DOCUMENTS:
        kind_id = EVENT_DOCUMENTS[event.type]
        unit_id = event.actor_unit_id or ctx.state.step_unit_id
    else:
        return None
    payload = {
        "dossier_id": ctx.dossier_id,
        "kind": kind_id,
        "unit_id": unit_id,
        "actor_id": ctx.actor.id,
        "event_seq": event.seq,
        "at": event.at.isoformat(),
    }
    return DOCUMENTS_TOPIC, ctx.state.code, payload


# ---------------------------------------------------------------- the worker: issue what was queued


def run_document_jobs(rt: Runtime, *, now: datetime | None = None, limit: int = 20) -> int:
    """Issue up to `limit` queued documents; returns how many jobs finished (issued, or found issued).

    Each job is claimed with a lease (a short write transaction), rendered and signed outside any write
    transaction, then stored, attached, recorded, audited and marked done in one transaction: a crash
    before that commit leaves nothing behind, and the job is claimed again when its lease ends. A job run
    twice finds its document issued (unique dossier, kind and event) and only marks itself done. A failure
    (timestamp authority down, a rendering error) is retried with the outbox's backoff; a TSA failure ends
    the round, since the next jobs would wait for the same server. `now` fixes the instant (tests); by
    default each job reads the runtime's clock, so its signing time is when it is really signed.
    """
    finished = 0
    for _ in range(limit):
        at = to_vn(require_aware(now or rt.clock.now()))
        job = _claim_next(rt, at)
        if job is None:
            break
        try:
            finished += _issue_for_job(rt, job, at)
        except Exception as exc:  # the job is retried; the action that queued it has long committed
            code = exc.code if isinstance(exc, DomainError) else type(exc).__name__
            log.warning(
                "document job %s of %s failed: %s: %s",
                job.id,
                job.key,
                code,
                exc,
                exc_info=not isinstance(exc, DomainError),  # a traceback only for the unexpected
            )
            with rt.db.transaction() as conn:
                mark_failed(conn, job, now=at, error=f"{code}: {exc}", permanent=_permanent(exc))
            if code == "documents.tsa_unavailable":
                break
    return finished


def _permanent(exc: Exception) -> bool:
    """A failure that running the job again cannot cure: its dossier or event is gone (NotFound), or the
    document's template is broken (fixed by a deployment, then the administrator retries): dead at once."""
    return isinstance(exc, (PermanentJobError, NotFound, jinja2.TemplateError))


def _claim_next(rt: Runtime, now: datetime) -> Job | None:
    """The oldest due job, hidden from other workers for `CLAIM_LEASE`."""
    with rt.db.transaction() as conn:
        jobs = claim(conn, topic=DOCUMENTS_TOPIC, now=now, limit=1)
        if not jobs:
            return None
        conn.execute(update(outbox).where(outbox.c.id == jobs[0].id).values(available_at=now + CLAIM_LEASE))
        return jobs[0]


def _issue_for_job(rt: Runtime, job: Job, now: datetime) -> bool:
    """Issue the job's document unless it already is; False when another worker finished the job first."""
    dossier_id, kind_id = int(job.payload["dossier_id"]), str(job.payload["kind"])
    event_seq = int(job.payload["event_seq"])
    draft: _Draft | None = None
    with rt.db.read() as conn:
        if _issued_for_event(conn, dossier_id, kind_id, event_seq) is None:
            dossier, event = _load_dossier_at(conn, dossier_id, event_seq)
            issued_at = to_vn(event.at)
            draft = _draft(
                conn,
                rt,
                dossier=dossier,
                kind_id=kind_id,
                unit_id=str(job.payload["unit_id"]),
                actor=_job_actor(conn, str(job.payload["actor_id"]), event),
                event=event,
                issued_at=issued_at,
                signed_at=max(now, issued_at),
            )
    pdf = _render_and_sign(draft) if draft is not None else None
    with rt.db.transaction() as conn:
        if not _still_pending(conn, job):
            return False
        mark_done(conn, job, now=now)
        if draft and pdf and _issued_for_event(conn, dossier_id, kind_id, event_seq) is None:
            _record(conn, rt, draft, pdf)
    return True


def _still_pending(conn: Connection, job: Job) -> bool:
    """The job is not done yet (on PostgreSQL its row stays locked until this transaction ends)."""
    stmt = select(outbox.c.done_at, outbox.c.dead_at).where(outbox.c.id == job.id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return row is not None and row.done_at is None and row.dead_at is None


def _issued_for_event(conn: Connection, dossier_id: int, kind_id: str, event_seq: int) -> str | None:
    """The id of the document of this kind already issued for this dossier event, if any."""
    found: str | None = conn.execute(
        select(issued_documents.c.id).where(
            issued_documents.c.dossier_id == dossier_id,
            issued_documents.c.kind == kind_id,
            issued_documents.c.event_seq == event_seq,
        )
    ).scalar()
    return found


def _job_actor(conn: Connection, actor_id: str, event: Event) -> Actor:
    """Who took the action: the account as it is now, or what the event recorded if it is gone."""
    user = get_user(conn, actor_id)
    if user is not None:
        return actor_from_row(user)
    return Actor(id=actor_id, kind=event.actor_kind, unit_id=event.actor_unit_id)


# ---------------------------------------------------------------- issuing


@dataclass(frozen=True)
class _Dossier:
    row: dict[str, Any]
    state: DossierState
    procedure: CityProcedure | None


def _load_dossier(conn: Connection, dossier_id: int, state: DossierState | None = None) -> _Dossier:
    """The dossier row, its state (the current one unless given) and the catalog entry it was filed under
    (the current one if that is gone)."""
    row = dict(conn.execute(select(dossiers).where(dossiers.c.id == dossier_id)).mappings().one())
    state = state or state_from_dict(row["state"])
    procedure: CityProcedure | None = None
    for day in (state.submitted_at.date(), None):
        try:
            procedure = get_city_procedure(conn, row["procedure_code"], on=day)
            break
        except NotFound:
            continue
    return _Dossier(row, state, procedure)


def _load_dossier_at(conn: Connection, dossier_id: int, event_seq: int) -> tuple[_Dossier, Event]:
    """The dossier as it stood right after event `event_seq` (the worker may run after later events), and
    that event."""
    from motcua.services import dossiers as dossier_service

    events = [e for e in dossier_service.history(conn, dossier_id) if e.seq <= event_seq]
    if not events or events[-1].seq != event_seq:
        raise NotFound("documents.event_not_found", f"Không tìm thấy sự kiện số {event_seq} của hồ sơ.")
    try:
        state: DossierState | None = replay(events)
    except DomainError:  # an imported log that does not start with the submission: the current state
        state = None
    return _load_dossier(conn, dossier_id, state), events[-1]


@dataclass(frozen=True)
class _Draft:
    """A document ready to render and sign: everything read from the database, nothing written yet."""

    document_id: str
    dossier_id: int
    code: str
    kind: templates.DocumentKind
    unit: Unit
    units: UnitDirectory
    signer: UnitSigner
    actor: Actor
    event_seq: int | None
    issued_at: datetime  # the document's date: the event's instant, or now for the control sheet
    signed_at: datetime  # when it is signed (a queued document is signed later than it is dated)
    context: dict[str, Any]


def _draft(
    conn: Connection,
    rt: Runtime,
    *,
    dossier: _Dossier,
    kind_id: str,
    unit_id: str,
    actor: Actor,
    event: Event | None,
    issued_at: datetime,
    signed_at: datetime,
) -> _Draft:
    from motcua.documents.pki import UnitIdentity, keystore

    kind = templates.registry().get(kind_id)
    units = rt.directory(conn, issued_at.date())
    unit = units.get(unit_id)
    signer = keystore(settings()).signer_for(
        UnitIdentity(unit.id, unit.name, unit.agency_code), now=signed_at
    )
    context = document_context(
        conn, rt, dossier, kind_id, unit=unit, units=units, actor=actor, event=event, at=issued_at
    )
    context["signature"] = {
        "signer": f"{unit.name} ({unit.agency_code})",
        "at": signed_at.isoformat(),
        "serial": _serial(signer.certificate.serial_number),
        "issuer": signer.certificate.issuer.native.get("common_name", ""),
    }
    return _Draft(
        document_id=new_document_id(),
        dossier_id=int(dossier.row["id"]),
        code=dossier.state.code,
        kind=kind,
        unit=unit,
        units=units,
        signer=signer,
        actor=actor,
        event_seq=event.seq if event else None,
        issued_at=issued_at,
        signed_at=signed_at,
        context=context,
    )


def _render_and_sign(draft: _Draft) -> bytes:
    """The signed PDF of a draft (CPU, and the timestamp authority when one is configured; no database)."""
    from motcua.documents.render import render_pdf
    from motcua.documents.signing import SignatureBox, sign_pdf, timestamper_for

    config = settings()
    started = time.perf_counter()
    url = config.verification_url(draft.document_id)
    rendered = render_pdf(
        draft.kind.id, draft.context, document_id=draft.document_id, url=url, issued_at=draft.issued_at
    )
    rendered_at = time.perf_counter()
    box = None
    if rendered.signature_page is not None and rendered.signature_rect is not None:
        box = SignatureBox(rendered.signature_page, rendered.signature_rect)
    signed = sign_pdf(
        rendered.pdf,
        draft.signer,
        at=draft.signed_at,
        reason=f"{draft.kind.title} — hồ sơ {draft.code}",
        location=f"{draft.unit.name}, {PLACE}",
        box=box,
        timestamper=timestamper_for(config.tsa_url),
    )
    log.info(
        "signed %s %s for %s: render %.0f ms, sign %.0f ms",
        draft.kind.id,
        draft.document_id,
        draft.code,
        (rendered_at - started) * 1000,
        (time.perf_counter() - rendered_at) * 1000,
    )
    return signed


def _record(conn: Connection, rt: Runtime, draft: _Draft, pdf: bytes) -> dict[str, Any]:
    """Store the signed PDF, attach it to the dossier, record the issue and audit it; returns its metadata."""
    kind, unit = draft.kind, draft.unit
    stored = store_file(conn, rt.blobs, pdf, media_type="application/pdf", now=draft.signed_at)
    file_id = attach(
        conn,
        dossier_id=draft.dossier_id,
        stored=stored,
        kind=kind.file_kind,
        name=f"{kind.id}-{draft.code}.pdf",
        label=kind.title,
        added_by=draft.actor.id,
        now=draft.signed_at,
    )
    values = {
        "id": draft.document_id,
        "dossier_id": draft.dossier_id,
        "kind": kind.id,
        "sha256": stored.sha256,
        "file_id": file_id,
        "unit_id": unit.id,
        "signer_fingerprint": draft.signer.fingerprint,
        "event_seq": draft.event_seq,
        "issued_at": draft.issued_at,
        "issued_by": draft.actor.id,
    }
    conn.execute(issued_documents.insert().values(**values))
    append_audit(  # last: on PostgreSQL the audit chain's head stays locked until the commit
        conn,
        at=draft.signed_at,
        actor_id=draft.actor.id,
        actor_role=_acting_role(draft.actor),
        action="document.signed",
        object_type="document",
        object_id=draft.document_id,
        unit_id=unit.id,
        data={
            "kind": kind.id,
            "sha256": stored.sha256,
            "dossier": draft.code,
            "unit_id": unit.id,
            "signer_fingerprint": draft.signer.fingerprint,
            "file_id": file_id,
            "event_seq": draft.event_seq,
        },
    )
    return _public(values, draft.units, settings(), code=draft.code)


def new_document_id() -> str:
    """128 random bits in lowercase base32 (26 letters and digits 2-7): unguessable, no punctuation to break a
    printed line or to mistype."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def _serial(number: int) -> str:
    text = f"{number:x}"
    return ":".join(text[i : i + 2] for i in range(0, min(len(text), 16), 2)) + (
        "…" if len(text) > 16 else ""
    )


def _acting_role(actor: Actor) -> str:
    if actor.kind is not ActorKind.OFFICER:
        return actor.kind.value
    return next((role.value for role in _ROLE_ORDER if role in actor.roles), ActorKind.OFFICER.value)


# ---------------------------------------------------------------- what the templates receive


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def unit_context(unit: Unit, units: UnitDirectory) -> dict[str, Any]:
    """How a unit heads its documents: the superior body, its own name, how it is named in running text."""
    city_committee = "Ủy ban nhân dân Thành phố Hồ Chí Minh"
    superior: str | None
    if unit.kind in (UnitKind.WARD, UnitKind.COMMUNE, UnitKind.SPECIAL_ZONE):
        superior, authority = "Ủy ban nhân dân", f"Ủy ban nhân dân {_lower_first(unit.name)}"
        desk = f"Bộ phận Một cửa {_lower_first(unit.name)}"
    elif unit.kind is UnitKind.CITY:
        superior, authority, desk = None, city_committee, "Trung tâm Phục vụ hành chính công Thành phố"
    elif unit.kind is UnitKind.COMMUNE_POLICE:
        parent = units.get(unit.parent_id) if unit.parent_id and unit.parent_id in units else None
        superior, authority = (parent.name if parent else "Công an Thành phố Hồ Chí Minh"), unit.name
        desk = f"Bộ phận tiếp nhận hồ sơ {_lower_first(unit.name)}"
    elif unit.kind is UnitKind.CITY_POLICE:
        superior, authority, desk = "Bộ Công an", unit.name, f"Bộ phận tiếp nhận hồ sơ {unit.name}"
    elif unit.kind is UnitKind.CENTER:
        superior, authority, desk = city_committee, unit.name, unit.name
    else:
        superior, authority, desk = city_committee, unit.name, f"Bộ phận Một cửa {unit.name}"
    return {
        "id": unit.id,
        "name": unit.name,
        "agency_code": unit.agency_code,
        "superior": superior,
        "header_name": unit.name,
        "authority": authority,
        "desk_name": desk,
    }


def _amount(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):g}".replace(".", ",")


def _unit_name(units: UnitDirectory, unit_id: str | None) -> str:
    if unit_id and unit_id in units:
        return units.get(unit_id).name
    return unit_id or ""


def _applicant(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    user = get_user(conn, row["applicant_id"]) or {}
    form = row["form_data"] or {}
    raw = form.get("nguoi_yeu_cau")
    requester: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return {
        "name": row["applicant_name"],
        "identifier": user.get("personal_id") or user.get("tax_code") or requester.get("so_dinh_danh") or "",
        "phone": user.get("phone") or requester.get("so_dien_thoai") or "",
        "email": user.get("email") or requester.get("email") or "",
        "address": requester.get("noi_cu_tru") or requester.get("dia_chi") or "",
    }


def _dossier_context(rt: Runtime, dossier: _Dossier, units: UnitDirectory, at: datetime) -> dict[str, Any]:
    state = dossier.state
    timeliness = None
    if state.due_at is not None and state.status not in (Status.REJECTED, Status.WITHDRAWN, Status.STOPPED):
        timeliness = classify(rt.calendar, state.due_at, state.resolved_at, at).label_vi
    receiving = units.get(state.receiving_unit_id) if state.receiving_unit_id in units else None
    return {
        "code": state.code,
        "procedure": {"code": dossier.row["procedure_code"], "name": dossier.row["procedure_name"]},
        "channel": state.channel.label_vi,
        "submitted_at": state.submitted_at.isoformat(),
        "accepted_at": state.accepted_at.isoformat() if state.accepted_at else None,
        "due_at": state.due_at.isoformat() if state.due_at else None,
        "legal_time": f"{_amount(state.time_amount)} {_TIME_UNITS.get(state.time_unit.value, state.time_unit.value)}",
        "return_place": unit_context(receiving, units)["desk_name"] if receiving else state.receiving_unit_id,
        "receiving_unit": _unit_name(units, state.receiving_unit_id),
        "competent_unit": _unit_name(units, state.competent_unit_id),
        "status": state.status.label_vi,
        "timeliness": timeliness,
    }


def _event_context(event: Event | None, at: datetime) -> dict[str, Any]:
    data = dict(event.data) if event else {}
    return {
        "at": (event.at if event else at).isoformat(),
        "type": event.type.value if event else None,
        "reason": str(data.get("reason") or ""),
        "missing": [str(item) for item in data.get("missing") or []],
        "stage": "reception" if event and event.type is Action.REFUSE_RECEPTION else "resolution",
        "previous_due_at": data.get("previous_due_at"),
        "new_due_at": data.get("new_due_at"),
        "note": str(data.get("note") or ""),
    }


def document_context(
    conn: Connection,
    rt: Runtime,
    dossier: _Dossier,
    kind_id: str,
    *,
    unit: Unit,
    units: UnitDirectory,
    actor: Actor,
    event: Event | None,
    at: datetime,
) -> dict[str, Any]:
    """Everything a template may use (see the header of `motcua/data/documents/index.yaml`), as of `at` (the
    document's date)."""
    config = settings()
    context: dict[str, Any] = {
        "place": PLACE,
        "tracking_url": f"{config.public_url.rstrip('/')}/tra-cuu-ho-so",
        "unit": unit_context(unit, units),
        "dossier": _dossier_context(rt, dossier, units, at),
        "applicant": _applicant(conn, dossier.row),
        "officer": {"name": _person_name(conn, actor), "role": _acting_role(actor)},
        "event": _event_context(event, at),
    }
    kind = templates.registry().get(kind_id)
    if kind_id == "giay_tiep_nhan":
        context.update(_received_documents(conn, dossier, at))
    elif kind_id == "phieu_kiem_soat":
        context["history"] = control_history(conn, rt, dossier, units)
    elif kind.file_kind == "result":
        context["result"] = _result_context(dossier, event, at)
        context["birth"] = _birth_context(dossier.row["form_data"] or {})
    return context


def _person_name(conn: Connection, actor: Actor) -> str:
    if actor.name:
        return actor.name
    user = get_user(conn, actor.id)
    return str(user["full_name"]) if user else actor.id


def _received_documents(conn: Connection, dossier: _Dossier, at: datetime) -> dict[str, Any]:
    """The catalog's documents (required ones, and optional ones a file was uploaded for) with the files
    received by `at` (not those supplemented after the receipt's date)."""
    files = [
        f
        for f in dossier_file_list(conn, dossier.row["id"])
        if f["kind"] in ("upload", "supplement") and datetime.fromisoformat(f["added_at"]) <= at
    ]
    by_label: dict[str, list[str]] = {}
    for item in files:
        by_label.setdefault(item["label"] or "", []).append(item["name"])
    documents = []
    for document in dossier.procedure.documents if dossier.procedure else ():
        attached = by_label.pop(document.name, [])
        if document.required or attached:
            documents.append({"name": document.name, "quantity": document.quantity or "", "files": attached})
    extra = [name for names in by_label.values() for name in names]
    return {"documents": documents, "extra_files": extra}


def _humanise(key: str) -> str:
    """A result field's label: the key as given (Vietnamese labels are welcome), underscores as spaces."""
    label = key.replace("_", " ").strip()
    return label[:1].upper() + label[1:]


def _result_context(dossier: _Dossier, event: Event | None, at: datetime) -> dict[str, Any]:
    payload = dict((event.data.get("result") if event else None) or {})
    names = list(dossier.procedure.results) if dossier.procedure and dossier.procedure.results else []
    names = names or [f"Kết quả giải quyết thủ tục {dossier.row['procedure_name']}"]
    fields = [
        {"label": _humanise(str(key)), "value": value if isinstance(value, str) else str(value)}
        for key, value in payload.items()
        if key not in _REGISTER_KEYS
    ]
    return {
        "name": names[0],
        "names": names,
        "registered_at": at.isoformat(),
        "register_number": str(payload.get("so") or payload.get("so_dang_ky") or dossier.state.code),
        "register_book": str(payload.get("quyen_so") or ""),
        "legal_basis": list(dossier.procedure.legal_basis) if dossier.procedure else [],
        "fields": fields,
        "note": str(event.data.get("note") or "") if event else "",
    }


def _birth_context(form: dict[str, Any]) -> dict[str, Any]:
    """The civil-status data of a birth registration (e-form `khai-sinh`), for the extract."""
    child = dict(form.get("tre") or {})
    parents = []
    for key, title in (("me", "Mẹ"), ("cha", "Cha")):
        person = form.get(key)
        if isinstance(person, dict) and person.get("ho_ten"):
            birth = str(person.get("ngay_sinh") or "")
            parents.append({**person, "title": title, "nam_sinh": birth[:4]})
    return {"child": child, "parents": parents}


def control_history(
    conn: Connection, rt: Runtime, dossier: _Dossier, units: UnitDirectory
) -> list[dict[str, Any]]:
    """One row per event: the step it was taken at, unit, who, when, the step's deadline then, timeliness."""
    from motcua.services import dossiers as dossier_service

    workflow = rt.workflows.get(conn, dossier.state.workflow_id, dossier.state.workflow_version)
    names: dict[str, str] = {}
    running: dict[str, Any] = {}
    rows = []
    for event in dossier_service.history(conn, dossier.row["id"]):
        step_id = running.get("step") or event.changes.get("step")
        step_due = running.get("step_due_at")
        paused = running.get("paused_at") is not None
        timeliness = ""
        if step_due and not paused and event.type is not Action.SUBMIT:
            due = datetime.fromisoformat(step_due)
            timeliness = classify(rt.calendar, due, event.at, event.at).label_vi
        if event.actor_id not in names:
            user = get_user(conn, event.actor_id)
            names[event.actor_id] = str(user["full_name"]) if user else event.actor_id
        rows.append(
            {
                "seq": event.seq,
                "action": event.type.label_vi,
                "step": workflow.step(step_id).name if step_id else "",
                "unit": _unit_name(units, event.actor_unit_id or running.get("step_unit_id")),
                "officer": names[event.actor_id],
                "at": event.at.isoformat(),
                "step_due": step_due,
                "timeliness": timeliness,
                "note": str(event.data.get("reason") or event.data.get("note") or ""),
            }
        )
        running.update(event.changes)
    return rows


# ---------------------------------------------------------------- on demand, reading, verifying


def issue_control_sheet(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    """The processing control sheet, now, signed by the requesting officer's unit."""
    from motcua.services import dossiers as dossier_service

    if actor.kind is not ActorKind.OFFICER or not actor.unit_id:
        raise Forbidden("documents.officer_only", "Chỉ cán bộ xử lý hồ sơ mới lập được phiếu kiểm soát.")
    dossier_service.get_dossier(rt, actor, code)  # NotFound unless the officer may see the dossier
    now = to_vn(rt.clock.now())
    with rt.db.read() as conn:
        dossier_id = conn.execute(select(dossiers.c.id).where(dossiers.c.code == code.strip())).scalar_one()
        draft = _draft(
            conn,
            rt,
            dossier=_load_dossier(conn, dossier_id),
            kind_id="phieu_kiem_soat",
            unit_id=actor.unit_id,
            actor=actor,
            event=None,
            issued_at=now,
            signed_at=now,
        )
    pdf = _render_and_sign(draft)  # outside the write transaction: it holds SQLite's write lock
    with rt.db.transaction() as conn:
        return _record(conn, rt, draft, pdf)


def _public(
    row: Any, units: UnitDirectory | None, config: DocumentSettings, code: str | None = None
) -> dict[str, Any]:
    """What anyone holding the document id may see: no personal data."""
    kind = templates.registry().get(row["kind"])
    unit = units.get(row["unit_id"]) if units is not None and row["unit_id"] in units else None
    return {
        "id": row["id"],
        "kind": kind.id,
        "title": kind.title,
        "form": kind.form,
        "dossier_code": code,
        "unit": {
            "id": row["unit_id"],
            "name": unit.name if unit else row["unit_id"],
            "agency_code": unit.agency_code if unit else "",
        },
        "issued_at": to_vn(row["issued_at"]).isoformat(),
        "sha256": row["sha256"],
        "signer_fingerprint": row["signer_fingerprint"],
        "verification_url": config.verification_url(row["id"]),
    }


def _find(conn: Connection, rt: Runtime, column: str, value: str) -> dict[str, Any] | None:
    """The public metadata of the first document whose `column` (id or sha256) equals `value`."""
    row = (
        conn.execute(
            select(issued_documents, dossiers.c.code)
            .join(dossiers, dossiers.c.id == issued_documents.c.dossier_id)
            .where(issued_documents.c[column] == value)
            .order_by(issued_documents.c.issued_at)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    units = rt.directory(conn, to_vn(row["issued_at"]).date())
    return _public(row, units, settings(), code=row["code"])


def get_document(rt: Runtime, document_id: str) -> dict[str, Any]:
    """Public metadata of an issued document (the verification page and `GET /api/v1/documents/{id}`)."""
    with rt.db.read() as conn:
        found = _find(conn, rt, "id", document_id.strip()) if len(document_id) <= 32 else None
    if found is None:
        raise NotFound("documents.not_found", "Không tìm thấy tài liệu với mã xác minh này.")
    return found


def dossier_documents(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    """A dossier's documents, for someone allowed to see it: `items`, those issued; `pending`, those
    queued by an action and not yet signed ("đang phát hành"; officers also see why a retry is waiting); and
    `failed`, those whose job died (status "failed": not made until the city administrator retries the job;
    officers see the error, and the city administrator a link to the background jobs page)."""
    from motcua.services import dossiers as dossier_service

    dossier_service.get_dossier(rt, actor, code)
    with rt.db.read() as conn:
        rows = (
            conn.execute(
                select(issued_documents, dossiers.c.code)
                .join(dossiers, dossiers.c.id == issued_documents.c.dossier_id)
                .where(dossiers.c.code == code.strip())
                .order_by(issued_documents.c.issued_at, issued_documents.c.id)
            )
            .mappings()
            .all()
        )
        jobs = (
            conn.execute(
                select(outbox)
                .where(
                    outbox.c.topic == DOCUMENTS_TOPIC,
                    outbox.c.key == code.strip(),
                    outbox.c.done_at.is_(None),
                )
                .order_by(outbox.c.id)
            )
            .mappings()
            .all()
        )
        units = rt.directory(conn, rt.clock.now().date())
    config = settings()
    items = [
        {
            **_public(r, units, config, code=r["code"]),
            "file_id": r["file_id"],
            "status": "issued",
            "status_label": ISSUED_LABEL,
        }
        for r in rows
    ]
    officer = actor.kind is ActorKind.OFFICER
    admin = officer and Role.CITY_ADMIN in actor.roles
    pending = [_pending(job, officer=officer) for job in jobs if job["dead_at"] is None]
    failed = [_failed(job, officer=officer, admin=admin) for job in jobs if job["dead_at"] is not None]
    return {"items": items, "pending": pending, "failed": failed, "total": len(items)}


def _pending(job: Any, *, officer: bool) -> dict[str, Any]:
    """A queued document: what it will be and, after a failed attempt, when it is tried again."""
    kind = templates.registry().get(str(job["payload"]["kind"]))
    retrying = job["attempts"] > 0
    item: dict[str, Any] = {
        "kind": kind.id,
        "title": kind.title,
        "form": kind.form,
        "status": "pending",
        "status_label": PENDING_LABEL,
        "event_seq": job["payload"].get("event_seq"),
        "requested_at": job["payload"].get("at"),
        "attempts": job["attempts"],
        "next_attempt_at": to_vn(job["available_at"]).isoformat() if retrying else None,
    }
    if officer:
        item["last_error"] = job["last_error"]
    return item


def _failed(job: Any, *, officer: bool, admin: bool) -> dict[str, Any]:
    """A document whose job died: what it was to be, and a sentence for the reader (no internal error for an
    applicant). Officers see the job's error and number; the city administrator, where to retry it."""
    kind = templates.registry().get(str(job["payload"]["kind"]))
    discarded = job["discarded_at"] is not None
    item: dict[str, Any] = {
        "kind": kind.id,
        "title": kind.title,
        "form": kind.form,
        "status": "failed",
        "status_label": FAILED_LABEL,
        "note": (FAILED_NOTE_DISCARDED if discarded else FAILED_NOTE_OFFICER)
        if officer
        else FAILED_NOTE_APPLICANT,
        "event_seq": job["payload"].get("event_seq"),
        "requested_at": job["payload"].get("at"),
    }
    if officer:
        item["job_id"] = job["id"]
        item["attempts"] = job["attempts"]
        item["failed_at"] = to_vn(job["dead_at"]).isoformat()
        item["last_error"] = job["last_error"]
        item["discarded"] = discarded
    if admin:
        state = "discarded" if discarded else "dead"
        item["jobs_url"] = f"{JOBS_PAGE}?state={state}&topic={DOCUMENTS_TOPIC}"
    return item


def failed_documents(rt: Runtime, actor: Actor, code: str) -> list[dict[str, Any]]:
    """The dossier's documents whose job died, as `dossier_documents` lists them under `failed` (pages: "could
    not be made" instead of "being issued"). No scope check: for a page that has already read the dossier as
    this actor."""
    officer = actor.kind is ActorKind.OFFICER
    admin = officer and Role.CITY_ADMIN in actor.roles
    with rt.db.read() as conn:
        jobs = conn.execute(
            select(outbox)
            .where(
                outbox.c.topic == DOCUMENTS_TOPIC,
                outbox.c.key == code.strip(),
                outbox.c.done_at.is_(None),
                outbox.c.dead_at.is_not(None),
            )
            .order_by(outbox.c.id)
        ).mappings()
        return [_failed(job, officer=officer, admin=admin) for job in jobs]


def get_document_pdf(rt: Runtime, actor: Actor, document_id: str) -> tuple[bytes, dict[str, Any]]:
    """The signed PDF, for those allowed to see the dossier (the dossier-file scope rules)."""
    from motcua.services import dossiers as dossier_service

    with rt.db.read() as conn:
        row = conn.execute(
            select(issued_documents.c.file_id, issued_documents.c.kind, dossiers.c.code)
            .join(dossiers, dossiers.c.id == issued_documents.c.dossier_id)
            .where(issued_documents.c.id == document_id.strip())
        ).first()
    if row is None or row.file_id is None:
        raise NotFound("documents.not_found", "Không tìm thấy tài liệu với mã xác minh này.")
    content, meta = dossier_service.get_file(rt, actor, row.code, int(row.file_id))
    return content, {**meta, "filename": f"{row.kind}-{row.code}.pdf"}


_VERDICTS = {
    "valid": "Tài liệu hợp lệ: chữ ký số đúng, tệp trùng khớp từng byte với bản do motcua phát hành.",
    "modified": "Tài liệu đã bị sửa đổi sau khi ký: nội dung không còn khớp với chữ ký số, không có giá trị.",
    "unreadable": "Tệp PDF bị hỏng hoặc đã bị sửa đổi nên không đọc được chữ ký số.",
    "unsigned": "Tệp không có chữ ký số; không phải tài liệu điện tử do motcua phát hành.",
    "invalid": "Chữ ký số không hợp lệ về mặt mật mã.",
    "untrusted": "Chữ ký số không thuộc chứng thư của các đơn vị trên motcua (không tin cậy).",
    "other_document": "Tệp có chữ ký hợp lệ nhưng là một tài liệu khác, không phải tài liệu của mã xác minh này.",
    "not_issued": "Chữ ký số hợp lệ nhưng motcua không phát hành tệp này.",
}


def verify_upload(rt: Runtime, data: bytes, *, expected_id: str | None = None) -> dict[str, Any]:
    """Check an uploaded PDF: signatures (intact, valid, trusted) and whether it is byte-for-byte a document
    motcua issued (and, behind a QR code, the one with `expected_id`)."""
    from motcua.documents.pki import trust_roots
    from motcua.documents.verification import verify_pdf

    if not data:
        raise InvalidInput("file.empty", "Tệp tải lên rỗng.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            "file.too_large", f"Tệp vượt quá dung lượng cho phép ({MAX_UPLOAD_BYTES // 2**20} MB)."
        )
    if sniff_media_type(data) != "application/pdf":
        raise InvalidInput("documents.not_pdf", "Chỉ xác minh được tệp PDF.")
    config = settings()
    result = verify_pdf(data, trust_roots(config))
    with rt.db.read() as conn:
        exact = _find(conn, rt, "sha256", result.sha256)
        original = None
        if result.signatures:
            original = _find(conn, rt, "sha256", result.signatures[-1].signed_revision_sha256)
        claimed_id = expected_id or result.claimed_document_id
        claimed = _find(conn, rt, "id", claimed_id) if claimed_id and len(claimed_id) <= 32 else None
    document = exact or original or claimed
    verdict = _verdict(result, exact, expected_id)
    last = result.signatures[-1] if result.signatures else None
    return {
        "verdict": verdict,
        "ok": verdict == "valid",
        "message": _VERDICTS[verdict],
        "sha256": result.sha256,
        "intact": result.intact,
        "valid": result.valid,
        "trusted": result.trusted,
        "modified": result.modified,
        "matches_issued": exact is not None and (expected_id is None or exact["id"] == expected_id),
        "signer": last.signer if last else None,
        "unit": {"id": last.unit_id, "name": last.unit_name, "agency_code": last.agency_code}
        if last
        else None,
        "signing_time": last.signing_time.isoformat() if last and last.signing_time else None,
        "timestamp": last.timestamp.isoformat() if last and last.timestamp else None,
        "signatures": [_signature_dict(s) for s in result.signatures],
        "document": document,
    }


def _verdict(result: Any, exact: dict[str, Any] | None, expected_id: str | None) -> str:
    if not result.readable:
        return "unreadable"
    if not result.signed:
        return "unsigned"
    if result.modified:
        return "modified"
    if not result.valid:
        return "invalid"
    if not result.trusted:
        return "untrusted"
    if exact is None:
        return "not_issued"
    if expected_id is not None and exact["id"] != expected_id:
        return "other_document"
    return "valid"


def _signature_dict(sig: Any) -> dict[str, Any]:
    return {
        "signer": sig.signer,
        "unit": {"id": sig.unit_id, "name": sig.unit_name, "agency_code": sig.agency_code},
        "issuer": sig.issuer,
        "certificate_serial": sig.certificate_serial,
        "certificate_fingerprint": sig.certificate_fingerprint,
        "signing_time": sig.signing_time.isoformat() if sig.signing_time else None,
        "timestamp": sig.timestamp.isoformat() if sig.timestamp else None,
        "timestamp_trusted": sig.timestamp_trusted,
        "intact": sig.intact,
        "valid": sig.valid,
        "trusted": sig.trusted,
        "covers_whole_file": sig.covers_whole_file,
    }
