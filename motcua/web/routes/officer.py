"""The officer workspace (Một cửa điện tử): queues, the dossier page and its actions, desk reception, receipts.

Every page is for officers (guards), and every read goes through the services' scope rules: a dossier of
another unit is a 404 page, as if it did not exist. Forms post, then redirect back with a one-time message; a
refused action draws the dossier page again with the message on the form that was sent (422/409/403).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from markupsafe import Markup, escape

from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import Conflict, DomainError, Forbidden, InvalidInput
from motcua.domain.identifiers import parse_cccd, parse_mst
from motcua.domain.lifecycle import Action, ReturnMethod
from motcua.domain.workflow import Role
from motcua.services import documents, workspace
from motcua.services import dossiers as dossier_service
from motcua.services.files import MAX_UPLOAD_BYTES, check_upload
from motcua.services.forms import validate_form
from motcua.web import eform, i18n
from motcua.web.auth import Rt, User, current_language, officer_required, roles_required
from motcua.web.format import as_instant, format_datetime, iso_instant, sla_band_of
from motcua.web.render import redirect, render, translator

Req = Request[Any, Any, Any]
HANDLING = (Role.RECEIVER, Role.PROCESSOR, Role.APPROVER, Role.RETURNER)
PAGE_SIZE = 20

# The fields each action's form asks for: (field, required). Order = how the page lists the actions.
ACTION_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "accept": (("note", False),),
    "assign": (("assignee_id", True),),
    "forward": (("note", False),),
    "approve": (("note", False),),
    "issue_result": (("note", False),),
    "return_result": (("method", True),),
    "supplement": (("note", True),),
    "pay_fee": (("reference", True),),
    "request_supplement": (("missing", True), ("reason", False)),
    "request_fee": (("amount_vnd", True), ("reason", False)),
    "send_back": (("reason", True),),
    "apologise": (("reason", True), ("new_due_date", True), ("new_due_time", True)),
    "refuse_reception": (("reason", True),),
    "refuse": (("reason", True),),
    "stop": (("reason", True),),
}
PRIMARY_ACTIONS = frozenset({"accept", "forward", "approve", "issue_result", "return_result"})
DANGER_ACTIONS = frozenset({"refuse_reception", "refuse", "stop"})
RETURN_METHODS = tuple(method.value for method in ReturnMethod)
# Which form field a refusal of the dossier service is about (else it is shown for the whole form).
_ERROR_FIELDS = {
    "dossier.reason_required": "reason",
    "dossier.missing_list_required": "missing",
    "dossier.assignee_required": "assignee_id",
    "dossier.bad_assignee": "assignee_id",
    "dossier.bad_fee_amount": "amount_vnd",
    "dossier.payment_reference_required": "reference",
    "dossier.bad_return_method": "method",
    "dossier.bad_new_due": "new_due_date",
    "dossier.new_due_not_later": "new_due_date",
    "dossier.supplement_empty": "note",
}
_ERROR_STATUS = {"invalid": 422, "conflict": 409, "forbidden": 403}


# ---------------------------------------------------------------- queues


def _queue_page(
    request: Req,
    rt: Rt,
    user: User,
    queue: str,
    *,
    status: str,
    procedure: str,
    q: str,
    sort: str,
    sla: str,
    offset: int,
) -> Template:
    _ = translator(request)
    query = workspace.QueueQuery(
        queue=queue,
        status="1" if queue == "new" else status.strip(),
        procedure=procedure.strip(),
        text=q.strip()[:100],
        sort=sort.strip() or ("submitted" if queue == "new" else "due"),
        sla=sla.strip(),
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )
    result = workspace.officer_queue(rt, user, query)
    now = rt.clock.now()
    return render(
        request,
        "officer/queue.html",
        title=_(f"officer.queue.title_{queue}"),
        now=now,  # the page's instant: the rows' SLA bands and the layout's are of the same moment
        rows=queue_rows(result["items"], now, current_language(request)),
        queue=queue,
        query=query,
        statuses=range(1, 11),
        sorts=workspace.SORTS,
        bands=workspace.SLA_BANDS,
        limit=PAGE_SIZE,
        offset=query.offset,
        **result,
    )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue item as its page shows it, every value computed once, in Python.

    The page drew each item with the shared macros (status badge, SLA band, `<time>` of an instant, the
    deadline facts), and each macro parsed the item's ISO instants again: ≈ 75 µs per item, 20 per page.
    These are the same values — `deadline` is exactly what `deadline_facts` of `officer/_officer.html` draws
    (a test renders both) — so the page's HTML is the same, byte for byte."""

    code: Any
    status: int
    status_label: str
    procedure_code: Any
    procedure_name: Any
    applicant_name: Any
    submitted_iso: str
    submitted_text: str
    channel_label: str
    overdue: bool  # the clock runs and the legal due instant has passed
    deadline: Markup
    assignee: Any  # the assignee's name (or id); "" when nobody is assigned


def queue_rows(items: list[dict[str, Any]], now: datetime, lang: str) -> list[QueueRow]:
    """The rows of a queue page from `workspace.officer_queue`'s items, in `lang`, at `now`."""
    page = _PageClock(now, lang)
    t = page.t
    rows = []
    for item in items:
        status = item["status"]
        submitted = _instant(item["submitted_at"])
        due = _instant(item["due_at"])
        running = item["running"]
        rows.append(
            QueueRow(
                code=item["code"],
                status=status,
                status_label=t(f"status.{status}"),
                procedure_code=item["procedure"]["code"],
                procedure_name=item["procedure"]["name"],
                applicant_name=item["applicant_name"],
                submitted_iso="" if submitted is None else submitted.iso,
                submitted_text="" if submitted is None else submitted.text,
                channel_label=t(f"officer.channel.{item['channel']}"),
                overdue=bool(running) and due is not None and page.band(due) == "overdue",
                deadline=deadline_facts(
                    status, running, item["paused"], due, _instant(item["step_due_at"]), page
                ),
                assignee=(item.get("assignee_name") or item["assignee_id"]) if item["assignee_id"] else "",
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class _Instant:
    """An instant as the pages show it (`web/format.py`): in Vietnam time, its `<time datetime>` text, its
    dd/mm/yyyy HH:MM text, and the `ui.when` HTML of both."""

    value: datetime
    iso: str
    text: str
    when: str


# An instant's ISO text (as the services give it) → `_Instant`. A queue page shows the same items to every
# officer of the unit, view after view: their instants are formatted once. Bounded (cleared when full); never
# stale: the entry is a function of its key alone. Shared by the handler threads (a dict's get and set are
# atomic; a lost entry is formatted again).
_INSTANTS: dict[str, _Instant] = {}
_INSTANTS_MAX = 4096


def _instant(value: datetime | str | None) -> _Instant | None:
    if value is None or value == "":
        return None
    known = _INSTANTS.get(value) if isinstance(value, str) else None
    if known is None:
        instant = as_instant(value)
        assert instant is not None
        iso, text = iso_instant(instant), format_datetime(instant)
        known = _Instant(instant, iso, text, f'<time datetime="{escape(iso)}">{escape(text)}</time>')
        if isinstance(value, str):
            if len(_INSTANTS) >= _INSTANTS_MAX:
                _INSTANTS.clear()
            _INSTANTS[value] = known
    return known


class _PageClock:
    """One page's moment and language: SLA bands against `now` (`format.sla_band_of`), messages looked up
    (and escaped) once per page."""

    def __init__(self, now: datetime, lang: str) -> None:
        self.now = now
        self.lang = lang
        self._texts: dict[str, str] = {}
        self._html: dict[str, Markup] = {}

    def band(self, due: _Instant | None) -> str | None:
        return None if due is None else sla_band_of(due.value, self.now)

    def t(self, key: str) -> str:
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = i18n.translate(self.lang, key)
        return text

    def html(self, key: str) -> Markup:
        """The message as HTML text (escaped), as `{{ t(key) }}` puts it in a page."""
        text = self._html.get(key)
        if text is None:
            text = self._html[key] = escape(self.t(key))
        return text


def deadline_facts(
    status: int,
    running: bool,
    paused: bool,
    due: _Instant | None,
    step_due: _Instant | None,
    page: _PageClock,
) -> Markup:
    """`deadline_facts(status, running, paused, due_at, step_due_at)` of `officer/_officer.html`, in Python:
    the legal and the step's due dates as facts of a <dl>, with their SLA bands while the clock runs."""
    due_label = page.html("officer.dossier.due_at")
    if running:
        html = f"<div><dt>{due_label}</dt><dd>{_sla_band(due, page)}</dd></div>\n"
        if step_due is not None:
            step_label = page.html("officer.dossier.step_due_at")
            html += f"<div><dt>{step_label}</dt><dd>{_sla_band(step_due, page)}</dd></div>"
    elif paused:
        note = page.html("officer.dossier.paused")
        when = "" if due is None else due.when
        html = f'<div><dt>{due_label}</dt><dd>{when} · <span class="paused-note">{note}</span></dd></div>\n'
    elif status == 1:
        html = f"<div><dt>{due_label}</dt><dd>{page.html('officer.dossier.not_accepted')}</dd></div>\n"
    elif due is not None:
        html = f"<div><dt>{due_label}</dt><dd>{due.when}</dd></div>\n"
    else:
        html = ""
    return Markup(html)


def _sla_band(due: _Instant | None, page: _PageClock) -> str:
    """`ui.sla_band(due, show_due=True)` (`_macros.html`): the band, and the due instant in a <time>."""
    band = page.band(due)
    if due is None or band is None:
        return ""
    label = page.html(f"sla.{band}")
    return f'<span class="sla sla--{band}">{label}<span class="sla__due"> · {due.when}</span></span>'


@get("/mot-cua/moi", guards=[roles_required(Role.RECEIVER)], sync_to_thread=True)
def queue_new(
    request: Req,
    rt: Rt,
    user: User,
    procedure: FromQuery[str] = "",
    q: FromQuery[str] = "",
    sort: FromQuery[str] = "",
    offset: FromQuery[int] = 0,
) -> Template:
    """New submissions at my unit, to accept (oldest first)."""
    return _queue_page(
        request, rt, user, "new", status="", procedure=procedure, q=q, sort=sort, sla="", offset=offset
    )


@get("/mot-cua/cua-toi", guards=[roles_required(*HANDLING)], sync_to_thread=True)
def queue_mine(
    request: Req,
    rt: Rt,
    user: User,
    procedure: FromQuery[str] = "",
    q: FromQuery[str] = "",
    sort: FromQuery[str] = "",
    sla: FromQuery[str] = "",
    offset: FromQuery[int] = 0,
) -> Template:
    """Dossiers at a step of my role in my unit, not assigned to someone else, or assigned to me."""
    return _queue_page(
        request, rt, user, "mine", status="", procedure=procedure, q=q, sort=sort, sla=sla, offset=offset
    )


@get("/mot-cua/don-vi", guards=[officer_required], sync_to_thread=True)
def queue_unit(
    request: Req,
    rt: Rt,
    user: User,
    status: FromQuery[str] = "",
    procedure: FromQuery[str] = "",
    q: FromQuery[str] = "",
    sort: FromQuery[str] = "",
    sla: FromQuery[str] = "",
    offset: FromQuery[int] = 0,
) -> Template:
    """Everything received at, decided by or now at my unit (open ones unless a status is chosen)."""
    return _queue_page(
        request, rt, user, "unit", status=status, procedure=procedure, q=q, sort=sort, sla=sla, offset=offset
    )


# ---------------------------------------------------------------- the dossier page


def _dossier_page(
    request: Req,
    rt: Rt,
    user: User,
    code: str,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    failed_action: str = "",
    values: Mapping[str, str] | None = None,
) -> Template:
    _ = translator(request)
    page = workspace.dossier_workspace(rt, user, code)
    dossier = page["dossier"]
    allowed = [a for a in ACTION_FIELDS if a in dossier["allowed_actions"]]
    return render(
        request,
        "officer/dossier.html",
        status_code=status_code,
        title=f"{dossier['code']} — {dossier['procedure']['name']}",
        actions=allowed,
        action_fields=ACTION_FIELDS,
        primary_actions=PRIMARY_ACTIONS,
        danger_actions=DANGER_ACTIONS,
        assignee_options=[("", _("officer.choose"))] + [(a["id"], a["name"]) for a in page["assignees"]],
        method_options=[(m, _(f"officer.method.{m}")) for m in RETURN_METHODS],
        errors=dict(errors or {}),
        failed_action=failed_action,
        values=dict(values or {}),
        form_entries=eform.labelled_data(page["form_schema"], dossier["form_data"] or {}),
        **page,
    )


@get("/mot-cua/ho-so/{code:str}", guards=[officer_required], sync_to_thread=True)
def dossier_page(request: Req, rt: Rt, user: User, code: str) -> Template:
    """Applicant, form data, documents, history, the current step and the actions I may take now."""
    return _dossier_page(request, rt, user, code)


@dataclass
class ActionForm:
    action: str = ""
    version: str = ""
    note: str = ""
    reason: str = ""
    missing: str = ""
    assignee_id: str = ""
    amount_vnd: str = ""
    reference: str = ""
    method: str = ""
    new_due_date: str = ""
    new_due_time: str = ""


ActionBody = Annotated[ActionForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
# Forms with files and fields named after the e-form: read as a dict (repeated names give lists).
MultipartBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


@post("/mot-cua/ho-so/{code:str}/thao-tac", guards=[officer_required], sync_to_thread=True, status_code=303)
def dossier_action(request: Req, rt: Rt, user: User, code: str, data: ActionBody) -> Template | Redirect:
    """Take one of the actions the page offered; back to the page with a message."""
    _ = translator(request)
    if data.action not in ACTION_FIELDS:
        raise InvalidInput("workspace.bad_action", "Thao tác không hợp lệ.")
    action = Action(data.action)
    payload, field_errors = _payload(action, data, _)
    if field_errors:
        return _refused(request, rt, user, code, data, field_errors, 422)
    version = int(data.version) if data.version.isdigit() else None
    try:
        workspace.act_on_dossier(rt, user, code, action, payload, expected_version=version)
    except (InvalidInput, Conflict, Forbidden) as exc:
        target = _ERROR_FIELDS.get(exc.code, "_form")
        if target != "_form" and target not in dict(ACTION_FIELDS[data.action]):
            target = "_form"
        errors = {f"{data.action}-{target}" if target != "_form" else "_form": exc.message}
        return _refused(request, rt, user, code, data, errors, _ERROR_STATUS[exc.kind])
    return redirect(f"/mot-cua/ho-so/{_quote(code)}", flash=f"officer.flash.{data.action}")


def _refused(
    request: Req, rt: Rt, user: User, code: str, data: ActionForm, errors: dict[str, str], status: int
) -> Template:
    values = {name: str(getattr(data, name)) for name, _ in ACTION_FIELDS[data.action]}
    return _dossier_page(
        request, rt, user, code, status_code=status, errors=errors, failed_action=data.action, values=values
    )


def _payload(action: Action, data: ActionForm, _: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The service payload of an action form, or the fields that cannot be read (keyed `<action>-<field>`)."""
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {}
    for name, _required in ACTION_FIELDS[action.value]:
        value = str(getattr(data, name)).strip()
        if name == "missing":
            payload["missing"] = [line.strip(" -•\t") for line in value.splitlines() if line.strip(" -•\t")]
        elif name == "amount_vnd":
            digits = value.replace(".", "").replace(",", "").replace(" ", "")
            if digits.isdigit() and int(digits) > 0:
                payload["amount_vnd"] = int(digits)
            else:
                errors[f"{action.value}-amount_vnd"] = _("officer.errors.amount")
        elif name in ("new_due_date", "new_due_time"):
            continue
        else:
            payload[name] = value
    if action is Action.APOLOGISE:
        due = _due_instant(data.new_due_date, data.new_due_time or "16:00")
        if due is None:
            errors["apologise-new_due_date"] = _("officer.errors.due_date")
        else:
            payload["new_due_at"] = due.isoformat()
    return payload, errors


def _due_instant(day: str, at: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(day.strip()), time.fromisoformat(at.strip()), VN_TZ)
    except ValueError:
        return None


def _quote(code: str) -> str:
    return urllib.parse.quote(code, safe="")


# ---------------------------------------------------------------- files and receipt


@get("/mot-cua/ho-so/{code:str}/tep/{file_id:int}", guards=[officer_required], sync_to_thread=True)
def dossier_file(rt: Rt, user: User, code: str, file_id: int) -> Response[bytes]:
    """Download one of the dossier's files (the dossier's scope rules apply)."""
    content, meta = dossier_service.get_file(rt, user, code, file_id)
    filename = str(meta.get("name") or f"tep-{file_id}")
    fallback = "".join(c for c in filename if c.isascii() and c.isprintable() and c not in '"\\;') or "tep"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename)}"
    return Response(
        content,
        media_type=meta["media_type"],
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


@post("/mot-cua/ho-so/{code:str}/tep", guards=[officer_required], sync_to_thread=True, status_code=303)
def dossier_upload(request: Req, rt: Rt, user: User, code: str, data: MultipartBody) -> Template | Redirect:
    """Attach a scanned document (or the signed result) to an open dossier."""
    _ = translator(request)
    upload = data.get("file")
    label, kind = _text(data, "label"), _text(data, "kind") or "upload"
    errors: dict[str, str] = {}
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["upload-file"] = _("officer.errors.file_required")
    elif kind not in ("upload", "supplement", "result"):
        errors["upload-kind"] = _("officer.errors.file_kind")
    else:
        content = upload.file.read(MAX_UPLOAD_BYTES + 1)
        try:
            dossier_service.add_file(
                rt, user, code, data=content, filename=upload.filename, label=label or None, kind=kind
            )
        except (InvalidInput, Conflict, Forbidden) as exc:
            errors["upload-file"] = exc.message
    if errors:
        values = {"label": label, "kind": kind}
        return _dossier_page(
            request, rt, user, code, status_code=422, errors=errors, failed_action="upload", values=values
        )
    return redirect(f"/mot-cua/ho-so/{_quote(code)}", flash="officer.flash.file_added")


@get("/mot-cua/ho-so/{code:str}/bien-nhan", guards=[officer_required], sync_to_thread=True)
def receipt(request: Req, rt: Rt, user: User, code: str) -> Template:
    """The print-ready acceptance receipt and appointment (with the signed PDF when it was issued)."""
    _ = translator(request)
    page = workspace.dossier_workspace(rt, user, code)
    dossier = page["dossier"]
    received = [f for f in dossier["files"] if f["kind"] in ("upload", "supplement")]
    # The signed receipt's job died: "could not be made" (and where to retry, for the city administrator).
    failed = [] if page["receipt"] else documents.failed_documents(rt, user, dossier["code"])
    receipt_failed = next((f for f in failed if f["kind"] == documents.RECEIPT_KIND), None)
    return render(
        request,
        "officer/receipt.html",
        title=_("officer.receipt.title"),
        received=received,
        receipt_failed=receipt_failed,
        **page,
    )


# ---------------------------------------------------------------- desk reception


@get("/mot-cua/tiep-nhan", guards=[roles_required(Role.RECEIVER)], sync_to_thread=True)
def desk_choose(request: Req, rt: Rt, user: User) -> Template:
    """Choose the procedure of a walk-in applicant's dossier."""
    _ = translator(request)
    procedures = workspace.desk_procedures(rt, user)
    return render(request, "officer/desk_choose.html", title=_("officer.desk.title"), procedures=procedures)


def _desk_form(
    request: Req,
    procedure: CityProcedure,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Template:
    _ = translator(request)
    assert procedure.form_schema is not None
    return render(
        request,
        "officer/desk_form.html",
        status_code=status_code,
        title=_("officer.desk.form_title", name=procedure.name),
        procedure=procedure,
        nodes=eform.form_nodes(procedure.form_schema),
        errors=dict(errors or {}),
        values=dict(values or {}),
    )


@get("/mot-cua/tiep-nhan/{procedure_code:str}", guards=[roles_required(Role.RECEIVER)], sync_to_thread=True)
def desk_form(request: Req, rt: Rt, user: User, procedure_code: str) -> Template:
    """The applicant, the procedure's e-form and the scanned documents, on one page."""
    return _desk_form(request, workspace.desk_procedure(rt, user, procedure_code))


APPLICANT_FIELDS = (
    "applicant_name",
    "applicant_personal_id",
    "applicant_tax_code",
    "applicant_phone",
    "note",
)


@post(
    "/mot-cua/tiep-nhan/{procedure_code:str}",
    guards=[roles_required(Role.RECEIVER)],
    sync_to_thread=True,
    status_code=303,
)
def desk_submit(
    request: Req, rt: Rt, user: User, procedure_code: str, data: MultipartBody
) -> Template | Redirect:
    """Check everything, then file the dossier, attach the scans and accept it; on to the receipt."""
    _ = translator(request)
    procedure = workspace.desk_procedure(rt, user, procedure_code)
    assert procedure.form_schema is not None
    lang = current_language(request)
    applicant, errors = _applicant(data, rt.clock.now().date(), _)
    parsed = eform.parse_form(procedure.form_schema, data, lang)
    for key, message in parsed.errors.items():
        errors.setdefault(key, message)
    try:
        validate_form(procedure.form_schema, parsed.data)
    except InvalidInput as exc:
        for key, message in eform.problem_errors(exc.details.get("problems", []), parsed).items():
            errors.setdefault(key, message)
    scans, scan_errors = _scans(data, procedure, _)
    errors.update(scan_errors)
    values = {**eform.posted_values(data), **{name: _text(data, name) for name in APPLICANT_FIELDS}}
    if errors:
        return _desk_form(request, procedure, status_code=422, errors=errors, values=values)
    try:
        view = workspace.file_at_desk(
            rt,
            user,
            procedure_code=procedure.code,
            applicant=applicant,
            form_data=parsed.data,
            scans=scans,
            note=_text(data, "note"),
        )
    except DomainError as exc:
        if exc.kind not in ("invalid", "conflict"):
            raise
        return _desk_form(request, procedure, status_code=422, errors={"_form": exc.message}, values=values)
    if view.get("desk_problem"):  # filed, not accepted: the receipt page says so and links to the dossier
        target = f"/mot-cua/ho-so/{_quote(view['code'])}/bien-nhan"
        return redirect(target, flash="officer.flash.desk_not_accepted", kind="warning")
    return redirect(f"/mot-cua/ho-so/{_quote(view['code'])}/bien-nhan", flash="officer.flash.desk_filed")


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _applicant(data: Mapping[str, Any], today: date, _: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The walk-in applicant (name; personal ID, or tax code for a business; phone) and what is wrong."""
    errors: dict[str, str] = {}
    name = " ".join(_text(data, "applicant_name").split())
    personal_id = _text(data, "applicant_personal_id")
    tax_code = _text(data, "applicant_tax_code")
    phone = _text(data, "applicant_phone").replace(" ", "")
    if len(name) < 2:
        errors["applicant_name"] = _("officer.errors.applicant_name")
    if personal_id:
        try:
            parse_cccd(personal_id, today=today)
        except InvalidInput as exc:
            errors["applicant_personal_id"] = exc.message
    elif tax_code:
        try:
            tax_code = parse_mst(tax_code).normalized
        except InvalidInput as exc:
            errors["applicant_tax_code"] = exc.message
    else:
        errors["applicant_personal_id"] = _("officer.errors.applicant_id")
    if phone and not (phone.isdigit() and len(phone) == 10 and phone.startswith("0")):
        errors["applicant_phone"] = _("officer.errors.phone")
    applicant = {"full_name": name, "phone": phone}
    applicant |= {"personal_id": personal_id} if personal_id else {"tax_code": tax_code}
    return applicant, errors


def _scans(
    data: Mapping[str, Any], procedure: CityProcedure, _: Any
) -> tuple[list[workspace.Scan], dict[str, str]]:
    """The scanned documents, one file input per catalog document (`doc_<n>`, several files allowed)."""
    scans: list[workspace.Scan] = []
    errors: dict[str, str] = {}
    for index, document in enumerate(procedure.documents):
        raw = data.get(f"doc_{index}")
        uploads = raw if isinstance(raw, list) else [raw]
        for upload in uploads:
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            content = upload.file.read(MAX_UPLOAD_BYTES + 1)
            try:
                check_upload(content)
            except InvalidInput as exc:
                errors[f"doc_{index}"] = f"{upload.filename}: {exc.message}"
                continue
            scans.append(workspace.Scan(label=document.name, filename=upload.filename, data=content))
    return scans, errors


ROUTES = [
    queue_new,
    queue_mine,
    queue_unit,
    dossier_page,
    dossier_action,
    dossier_file,
    dossier_upload,
    receipt,
    desk_choose,
    desk_form,
    desk_submit,
]
