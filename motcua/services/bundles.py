"""Decree 63/2024 inter-procedure bundles ("liên thông"): one submission, linked dossiers at the right agencies.

* `create_bundle` files the lead dossier (birth or death registration at the commune) and records the other
  parts as waiting; their forms are built from the lead form and checked at once, so a mistake is reported
  at submission, not days later.
* When the lead dossier is resolved, the event hook queues `bundles.advance`; the worker
  (`run_bundle_jobs`) then gets the newborn's personal ID from the population database, files the
  residence dossier at the commune police serving the commune, and sends the health-insurance card or
  funeral-allowance request to Social Insurance — each step idempotent, each registry call logged.
* The bundle is done when every part is finished; each part is tracked on its own.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, RowMapping, bindparam, select, update

from motcua.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from motcua.domain.lifecycle import TERMINAL, Action, Actor, ActorKind, Channel, Status
from motcua.domain.registry import (
    BUNDLES,
    BundleDefinition,
    BundleKind,
    BundlePart,
    Identity,
    IdentityKind,
    RegistryKind,
)
from motcua.integrations.gateway import Gateway
from motcua.integrations.http import GatewayError, Trace
from motcua.integrations.registries import PopulationRegistry, SocialInsuranceRegistry
from motcua.services.catalog import get_city_procedure
from motcua.services.dossiers import Submission, submit_dossier
from motcua.services.forms import validate_form
from motcua.services.gateway import SERVICE_ACTOR, Exchange, gateway_for, link_prefill, log_exchanges
from motcua.services.hooks import QUIET_HOOKS, EventContext
from motcua.services.identity import actor_from_row, get_user
from motcua.services.outbox import claim, enqueue, mark_done, mark_failed
from motcua.services.runtime import Runtime, UnitsChanged
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.integrations import bundle_parts, bundles
from motcua.store.schema.outbox import outbox

BUNDLE_TOPIC = "bundles.advance"
PLACEHOLDER_ID = "000000000000"  # stands for the newborn's personal ID while checking forms at submission
FINAL_PART_STATUSES = frozenset({"done", "not_eligible", "cancelled"})
PART_LABELS = {
    "waiting": "Chờ thủ tục chính được giải quyết",
    "created": "Đã tạo hồ sơ",
    "done": "Hoàn thành",
    "not_eligible": "Không thuộc diện hưởng",
    "cancelled": "Đã hủy do thủ tục chính không được giải quyết",
}
BUNDLE_LABELS = {
    "open": "Đang giải quyết",
    "done": "Đã hoàn thành",
    "stopped": "Dừng do thủ tục chính không được giải quyết",
}


# ------------------------------------------------------------------ running use cases in the caller's transaction


class _JoinedDatabase:
    """Stands in for `Database` so a use case runs inside an already open transaction (all or nothing)."""

    # A use case that would run itself again after a rollback (`dossiers.submit_dossier` when a reorganisation
    # replaced the unit directory) cannot here: it raises, and the owner of the transaction runs again.
    joins_a_transaction = True

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.engine = conn.engine

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        yield self.conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        yield self.conn


def _joined(rt: Runtime, conn: Connection) -> Runtime:
    return replace(rt, db=cast(Database, _JoinedDatabase(conn)))


# ------------------------------------------------------------------ building the parts' forms


def _text(data: Mapping[str, Any], *path: str) -> str:
    node: Any = data
    for step in path:
        node = node.get(step) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) else ""


def _residence_form(lead: Mapping[str, Any], extra: Mapping[str, Any], child_id: str) -> dict[str, Any]:
    """Đăng ký thường trú for the newborn, from the birth form and the household the child joins."""
    form: dict[str, Any] = {
        "nguoi_dang_ky": {
            "ho_ten": _text(lead, "tre", "ho_ten"),
            "so_dinh_danh": child_id,
            "ngay_sinh": _text(lead, "tre", "ngay_sinh"),
            "gioi_tinh": _text(lead, "tre", "gioi_tinh"),
            "so_dien_thoai": _text(lead, "nguoi_yeu_cau", "so_dien_thoai"),
        },
        "dia_chi_dang_ky": extra.get("dia_chi_dang_ky") or _text(lead, "me", "noi_cu_tru"),
        "truong_hop": "Về ở với vợ, chồng, con, cha, mẹ hoặc người thân",
        "dong_y_cua_chu_ho": True,
    }
    if isinstance(extra.get("chu_ho"), Mapping):
        form["chu_ho"] = dict(extra["chu_ho"])
    return form


def _removal_form(lead: Mapping[str, Any], extra: Mapping[str, Any], lead_code: str) -> dict[str, Any]:
    """Xóa đăng ký thường trú of the deceased, from the death registration form."""
    return {
        "nguoi_de_nghi": {
            "ho_ten": _text(lead, "nguoi_yeu_cau", "ho_ten"),
            "so_dinh_danh": _text(lead, "nguoi_yeu_cau", "so_dinh_danh"),
            "quan_he": _text(lead, "nguoi_yeu_cau", "quan_he"),
            "so_dien_thoai": _text(lead, "nguoi_yeu_cau", "so_dien_thoai"),
        },
        "nguoi_bi_xoa": {
            "ho_ten": _text(lead, "nguoi_chet", "ho_ten"),
            "so_dinh_danh": _text(lead, "nguoi_chet", "so_dinh_danh"),
            "ngay_sinh": _text(lead, "nguoi_chet", "ngay_sinh"),
        },
        "dia_chi_thuong_tru": extra.get("dia_chi_thuong_tru")
        or _text(lead, "nguoi_chet", "noi_cu_tru_cuoi_cung"),
        "ly_do": "Đã chết hoặc bị Tòa án tuyên bố mất tích, đã chết",
        "ghi_chu": f"Liên thông từ hồ sơ đăng ký khai tử {lead_code}",
    }


def _dependent_form(
    kind: BundleKind,
    part: BundlePart,
    lead: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    child_id: str,
    lead_code: str,
) -> dict[str, Any]:
    if kind is BundleKind.BIRTH:
        return _residence_form(lead, extra, child_id)
    return _removal_form(lead, extra, lead_code)


def _check_external(kind: BundleKind, lead: Mapping[str, Any], extra: Mapping[str, Any]) -> None:
    if kind is BundleKind.DEATH and not _text(lead, "nguoi_chet", "so_dinh_danh"):
        raise InvalidInput(
            "bundle.deceased_id_required",
            "Cần số định danh cá nhân của người chết để xóa đăng ký thường trú và giải quyết trợ cấp mai táng.",
        )
    if kind is BundleKind.BIRTH and not (
        _text(lead, "me", "so_dinh_danh") or _text(lead, "cha", "so_dinh_danh")
    ):
        raise InvalidInput(
            "bundle.parent_id_required",
            "Cần số định danh cá nhân của cha hoặc mẹ để cấp số định danh cá nhân và thẻ bảo hiểm y tế cho trẻ.",
        )
    method = extra.get("hinh_thuc_nhan")
    if method not in (None, "Tiền mặt", "Tài khoản ngân hàng"):
        raise InvalidInput(
            "bundle.bad_payment", "Hình thức nhận trợ cấp phải là «Tiền mặt» hoặc «Tài khoản ngân hàng»."
        )


# ------------------------------------------------------------------ submitting a bundle


@dataclass(frozen=True)
class BundleRequest:
    kind: BundleKind
    receiving_unit_id: str
    parts: Mapping[str, Mapping[str, Any]]  # by part key: the lead's full form, the others' own inputs


def create_bundle(rt: Runtime, actor: Actor, request: BundleRequest) -> dict[str, Any]:
    """File the lead dossier and record the linked parts, in one transaction; run again, once, if a
    reorganisation replaced the unit directory the lead dossier was computed on (`dossiers.submit_dossier`).
    The waiting parts are filed by `motcua worker` (`run_bundle_jobs`), whose failed job is retried."""
    try:
        return _create_bundle(rt, actor, request)
    except UnitsChanged:
        return _create_bundle(rt, actor, request)


def _create_bundle(rt: Runtime, actor: Actor, request: BundleRequest) -> dict[str, Any]:
    if actor.kind is not ActorKind.CITIZEN:
        raise Forbidden("bundle.citizens_only", "Chỉ công dân nộp được hồ sơ liên thông cho gia đình mình.")
    definition = BUNDLES[request.kind]
    lead = definition.lead
    lead_form = request.parts.get(lead.key)
    if not isinstance(lead_form, Mapping):
        raise InvalidInput("bundle.lead_form_required", f"Cần tờ khai «{lead.name}» (phần «{lead.key}»).")
    now = rt.clock.now()
    bundle_id = uuid.uuid4().hex
    with rt.db.transaction() as conn:
        _check_parts(conn, definition, request, lead_form, now)
        conn.execute(
            bundles.insert().values(
                id=bundle_id,
                kind=definition.kind,
                applicant_id=actor.id,
                submitted_by=actor.id,
                receiving_unit_id=request.receiving_unit_id,
                request={key: dict(value) for key, value in request.parts.items()},
                status="open",
                created_at=now,
            )
        )
        assert lead.procedure_code is not None
        view = submit_dossier(
            _joined(rt, conn),
            actor,
            Submission(lead.procedure_code, request.receiving_unit_id, Channel.ONLINE, lead_form),
        )
        lead_id = conn.execute(select(dossiers.c.id).where(dossiers.c.code == view["code"])).scalar_one()
        conn.execute(
            bundle_parts.insert(),
            [
                {
                    "bundle_id": bundle_id,
                    "key": part.key,
                    "position": position,
                    "procedure_code": part.procedure_code,
                    "registry": part.external.value if part.external else None,
                    "dossier_id": lead_id if part is lead else None,
                    "status": "created" if part is lead else "waiting",
                    "updated_at": now,
                }
                for position, part in enumerate(definition.parts)
            ],
        )
        return _bundle_view(conn, bundle_id)


def _check_parts(
    conn: Connection,
    definition: BundleDefinition,
    request: BundleRequest,
    lead_form: Mapping[str, Any],
    now: datetime,
) -> None:
    """Every dependent form, built now with a placeholder for what is not known yet, must already be valid."""
    kind = BundleKind(definition.kind)
    unknown = set(request.parts) - {part.key for part in definition.parts}
    if unknown:
        raise InvalidInput(
            "bundle.unknown_part", f"Hồ sơ liên thông này không có phần: {', '.join(sorted(unknown))}."
        )
    _check_external(kind, lead_form, {**_extra(request, "the_bhyt"), **_extra(request, "mai_tang")})
    for part in definition.parts:
        if part is definition.lead or part.procedure_code is None:
            continue
        form = _dependent_form(
            kind, part, lead_form, _extra(request, part.key), child_id=PLACEHOLDER_ID, lead_code="…"
        )
        procedure = get_city_procedure(conn, part.procedure_code, on=now.date())
        try:
            validate_form(procedure.form_schema or {}, form)
        except InvalidInput as exc:
            raise InvalidInput(
                "bundle.part_invalid", f"Phần «{part.name}»: {exc.message}", part=part.key, **exc.details
            ) from None


def _extra(request: BundleRequest | Mapping[str, Any], key: str) -> Mapping[str, Any]:
    parts = request.parts if isinstance(request, BundleRequest) else request
    value = parts.get(key)
    return value if isinstance(value, Mapping) else {}


# ------------------------------------------------------------------ reading a bundle


def get_bundle(rt: Runtime, actor: Actor, bundle_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        row = conn.execute(select(bundles).where(bundles.c.id == bundle_id.strip())).mappings().first()
        if row is None or not _may_read(rt, conn, actor, dict(row)):
            raise NotFound("bundle.not_found", "Không tìm thấy hồ sơ liên thông.")
        return _bundle_view(conn, row["id"])


def list_bundles(rt: Runtime, actor: Actor) -> dict[str, Any]:
    with rt.db.read() as conn:
        ids = conn.execute(
            select(bundles.c.id)
            .where(bundles.c.applicant_id == actor.id)
            .order_by(bundles.c.created_at.desc())
        ).scalars()
        return {"items": [_bundle_view(conn, bundle_id) for bundle_id in ids]}


def _may_read(rt: Runtime, conn: Connection, actor: Actor, row: Mapping[str, Any]) -> bool:
    if actor.id in (row["applicant_id"], row["submitted_by"]):
        return True
    if actor.kind is not ActorKind.OFFICER:
        return False
    from motcua.services.dossiers import get_dossier

    codes = conn.execute(
        select(dossiers.c.code)
        .join(bundle_parts, bundle_parts.c.dossier_id == dossiers.c.id)
        .where(bundle_parts.c.bundle_id == row["id"])
    ).scalars()
    for code in codes:
        try:
            get_dossier(rt, actor, code)
        except NotFound:
            continue
        return True
    return False


def _bundle_view(conn: Connection, bundle_id: str) -> dict[str, Any]:
    row = conn.execute(select(bundles).where(bundles.c.id == bundle_id)).mappings().one()
    definition = BUNDLES[BundleKind(row["kind"])]
    parts = conn.execute(
        select(
            bundle_parts,
            dossiers.c.code,
            dossiers.c.status.label("dossier_status"),
            dossiers.c.receiving_unit_id,
        )
        .outerjoin(dossiers, dossiers.c.id == bundle_parts.c.dossier_id)
        .where(bundle_parts.c.bundle_id == bundle_id)
        .order_by(bundle_parts.c.position)
    ).mappings()
    return {
        "id": row["id"],
        "kind": row["kind"],
        "name": definition.name,
        "national_code": definition.national_code,
        "legal_basis": definition.legal_basis,
        "status": {"code": row["status"], "label": BUNDLE_LABELS[row["status"]]},
        "created_at": row["created_at"].isoformat(),
        "done_at": row["done_at"].isoformat() if row["done_at"] else None,
        "parts": [_part_view(definition, dict(part)) for part in parts],
    }


def _part_view(definition: BundleDefinition, part: Mapping[str, Any]) -> dict[str, Any]:
    spec = definition.part(part["key"])
    dossier = None
    if part["code"] is not None:
        status = Status(part["dossier_status"])
        dossier = {
            "code": part["code"],
            "status": {"code": int(status), "label": status.label_vi},
            "receiving_unit_id": part["receiving_unit_id"],
        }
    return {
        "key": part["key"],
        "name": spec.name,
        "procedure_code": part["procedure_code"],
        "agency": spec.external.label_vi if spec.external else None,
        "status": {"code": part["status"], "label": PART_LABELS.get(part["status"], part["status"])},
        "done": _part_done(part["status"], part["dossier_status"]),
        "dossier": dossier,
        "reference": part["reference"],
        "result": part["result"],
    }


def _part_done(status: str, dossier_status: int | None) -> bool:
    if dossier_status is not None:
        return Status(dossier_status) in TERMINAL
    return status in FINAL_PART_STATUSES


# ------------------------------------------------------------------ reacting to the dossiers' events


# Which dossiers can be bundle parts, decided without a query where possible (the hook runs on every event):
# * a dossier is linked to its part in the transaction that submits it, AFTER the submission (`create_bundle`,
#   `_do_part`): on the submission's own events it is never a part yet, and after that it never changes;
# * only dossiers of the procedures named by a bundle part can be parts (`BUNDLES`, fixed in the code);
# * a dossier found NOT to be a part, by a transaction other than the one that submitted it, is remembered per
#   process and per database engine (bounded: cleared when full). Staleness rule: none — the answer is fixed
#   once the submission has committed, and dossiers are never deleted. Answers found inside the submitting
#   transaction are not remembered (it may roll back, and SQLite may then give the id to another dossier).
_PART_PROCEDURES = frozenset(
    part.procedure_code
    for definition in BUNDLES.values()
    for part in definition.parts
    if part.procedure_code is not None
)
_NOT_PARTS_MAX = 20_000
_not_parts: weakref.WeakKeyDictionary[Engine, set[int]] = weakref.WeakKeyDictionary()
# In conn.info: (the current transaction, the ids of the dossiers it submitted).
_SUBMITTED_HERE_KEY = "motcua.bundles.submitted"


def _submitted_here(conn: Connection) -> set[int]:
    """The dossiers the current transaction submitted (their event hooks ran in it)."""
    transaction = conn.get_transaction()
    held = conn.info.get(_SUBMITTED_HERE_KEY)
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        conn.info[_SUBMITTED_HERE_KEY] = held
    ids: set[int] = held[1]
    return ids


_PART_OF_DOSSIER = select(bundle_parts).where(bundle_parts.c.dossier_id == bindparam("dossier_id"))


def _bundle_part(ctx: EventContext) -> RowMapping | None:
    """The bundle part whose dossier this is, or None (see the rules above); not for a submission event."""
    conn = ctx.conn
    if ctx.state.procedure_code not in _PART_PROCEDURES:
        return None
    known = _not_parts.get(conn.engine)
    if known is not None and ctx.dossier_id in known:
        return None
    part = conn.execute(_PART_OF_DOSSIER, {"dossier_id": ctx.dossier_id}).mappings().first()
    if part is None:
        remember_not_part(conn, ctx.dossier_id)
    return part


def remember_not_part(conn: Connection, dossier_id: int) -> None:
    """Remember that the dossier was found not to be a bundle part by this transaction's reading (the rules
    above: ignored inside the transaction that submitted it). The dossier services call it with what an
    action's row read says (`dossiers.act`), so the hook needs no query of its own."""
    if dossier_id in _submitted_here(conn):
        return
    known = _not_parts.get(conn.engine)
    if known is None:
        known = _not_parts.setdefault(conn.engine, set())
    if len(known) >= _NOT_PARTS_MAX:
        known.clear()
    known.add(dossier_id)


def dossier_event_hook(ctx: EventContext) -> None:
    """The gateway's event hook: record a prefill on submission, move bundles on their dossiers' changes."""
    link_prefill(ctx)
    if ctx.event.type is Action.SUBMIT:  # not a part yet: a dossier is linked after its submission
        _submitted_here(ctx.conn).add(ctx.dossier_id)
        return
    if "status" not in ctx.event.changes:
        return
    conn = ctx.conn
    part = _bundle_part(ctx)
    if part is None:
        return
    definition = BUNDLES[BundleKind(_bundle_kind(conn, part["bundle_id"]))]
    status, at = ctx.state.status, ctx.event.at
    refused = ctx.state.outcome == "refused"  # decided, but against the applicant: nothing follows
    if part["key"] == definition.lead.key:
        if (
            status in (Status.RESOLVED, Status.RETURNED)
            and not refused
            and _needs_advance(conn, part["bundle_id"])
        ):
            enqueue(
                conn,
                topic=BUNDLE_TOPIC,
                key=part["bundle_id"],
                payload={"bundle_id": part["bundle_id"]},
                now=at,
            )
        elif refused or (status in TERMINAL and status is not Status.RETURNED):
            conn.execute(
                update(bundle_parts)
                .where(bundle_parts.c.bundle_id == part["bundle_id"], bundle_parts.c.status == "waiting")
                .values(status="cancelled", updated_at=at)
            )
    refresh_bundle(conn, part["bundle_id"], at)


def _writes_nothing(ctx: EventContext) -> bool:
    """Whether `dossier_event_hook` would write nothing for this event, known without a query: not a submission
    (the prefill is recorded on it), and no status change or a dossier that cannot be or is known not to be a
    bundle part (the rules above, as `_bundle_part` applies them)."""
    if ctx.event.type is Action.SUBMIT:
        return False
    if "status" not in ctx.event.changes or ctx.state.procedure_code not in _PART_PROCEDURES:
        return True
    known = _not_parts.get(ctx.conn.engine)
    return known is not None and ctx.dossier_id in known


QUIET_HOOKS[dossier_event_hook] = _writes_nothing


def _bundle_kind(conn: Connection, bundle_id: str) -> str:
    return str(conn.execute(select(bundles.c.kind).where(bundles.c.id == bundle_id)).scalar_one())


def _needs_advance(conn: Connection, bundle_id: str) -> bool:
    """Some part still waits and no advance is queued for the bundle yet."""
    waiting = conn.execute(
        select(bundle_parts.c.id).where(
            bundle_parts.c.bundle_id == bundle_id, bundle_parts.c.status == "waiting"
        )
    ).first()
    queued = conn.execute(
        select(outbox.c.id).where(
            outbox.c.topic == BUNDLE_TOPIC, outbox.c.key == bundle_id, outbox.c.done_at.is_(None)
        )
    ).first()
    return waiting is not None and queued is None


def refresh_bundle(conn: Connection, bundle_id: str, at: datetime) -> str:
    """Set the bundle's status from its parts: done when every part is finished."""
    rows = conn.execute(
        select(bundle_parts.c.key, bundle_parts.c.status, dossiers.c.status.label("dossier_status"))
        .outerjoin(dossiers, dossiers.c.id == bundle_parts.c.dossier_id)
        .where(bundle_parts.c.bundle_id == bundle_id)
    ).all()
    if not all(_part_done(r.status, r.dossier_status) for r in rows):
        return "open"
    stopped = any(r.status == "cancelled" for r in rows)
    status = "stopped" if stopped else "done"
    conn.execute(
        update(bundles)
        .where(bundles.c.id == bundle_id, bundles.c.status == "open")
        .values(status=status, done_at=at)
    )
    return status


# ------------------------------------------------------------------ the worker's side: the dependent parts


def run_bundle_jobs(
    rt: Runtime, *, now: datetime | None = None, gateway: Gateway | None = None, limit: int = 20
) -> int:
    """Advance the bundles whose lead dossier was resolved; returns how many jobs finished."""
    now = now or rt.clock.now()
    gateway = gateway or gateway_for(rt)
    finished = 0
    with rt.db.transaction() as conn:
        for job in claim(conn, topic=BUNDLE_TOPIC, now=now, limit=limit):
            problems = _advance(rt, conn, gateway, str(job.payload["bundle_id"]), now)
            if problems:
                mark_failed(conn, job, now=now, error="; ".join(problems))
            else:
                mark_done(conn, job, now=now)
                finished += 1
    return finished


@dataclass
class _Step:
    """Context of one advance: the bundle, its lead dossier and what the registries were told."""

    bundle: Mapping[str, Any]
    lead_code: str
    lead_form: Mapping[str, Any]
    applicant: Actor
    exchanges: list[Exchange]


def _advance(rt: Runtime, conn: Connection, gateway: Gateway, bundle_id: str, now: datetime) -> list[str]:
    """Do every waiting part that can be done; each in its own savepoint so one failure keeps the others."""
    bundle = conn.execute(select(bundles).where(bundles.c.id == bundle_id)).mappings().one()
    definition = BUNDLES[BundleKind(bundle["kind"])]
    parts = {
        p["key"]: dict(p)
        for p in conn.execute(select(bundle_parts).where(bundle_parts.c.bundle_id == bundle_id)).mappings()
    }
    lead = parts[definition.lead.key]
    lead_row = conn.execute(select(dossiers).where(dossiers.c.id == lead["dossier_id"])).mappings().one()
    if (
        Status(lead_row["status"]) not in (Status.RESOLVED, Status.RETURNED)
        or lead_row["outcome"] == "refused"
    ):
        return []
    user = get_user(conn, bundle["applicant_id"])
    assert user is not None
    step = _Step(dict(bundle), lead_row["code"], lead_row["form_data"], actor_from_row(user), [])
    problems: list[str] = []
    for part in definition.parts:
        if parts[part.key]["status"] != "waiting":
            continue
        try:
            with conn.begin_nested():
                _do_part(rt, conn, gateway, step, definition, part, parts, now)
        except (GatewayError, DomainError) as exc:
            problems.append(f"{part.key}: {getattr(exc, 'code', '')} {exc}")
    log_exchanges(conn, step.exchanges)
    refresh_bundle(conn, bundle_id, now)
    return problems


def _do_part(
    rt: Runtime,
    conn: Connection,
    gateway: Gateway,
    step: _Step,
    definition: BundleDefinition,
    part: BundlePart,
    parts: Mapping[str, dict[str, Any]],
    now: datetime,
) -> None:
    kind = BundleKind(definition.kind)
    extra = _extra(step.bundle["request"], part.key)
    child_id = (
        _child_id(conn, gateway, step, parts[definition.lead.key], now) if kind is BundleKind.BIRTH else ""
    )
    if part.external is None:
        assert part.procedure_code is not None and part.agency_selector is not None
        form = _dependent_form(kind, part, step.lead_form, extra, child_id=child_id, lead_code=step.lead_code)
        receiving = rt.directory(conn, now.date()).resolve(
            part.agency_selector, receiving_id=step.bundle["receiving_unit_id"], competent_id=None
        )
        view = submit_dossier(
            _joined(rt, conn),
            step.applicant,
            Submission(part.procedure_code, receiving.id, Channel.ONLINE, form),
        )
        dossier_id = conn.execute(select(dossiers.c.id).where(dossiers.c.code == view["code"])).scalar_one()
        _set_part(conn, step.bundle["id"], part.key, now, status="created", dossier_id=dossier_id)
        return
    registry = gateway.typed(RegistryKind.SOCIAL_INSURANCE, SocialInsuranceRegistry)
    key = f"{step.bundle['id']}:{part.key}"
    if kind is BundleKind.BIRTH:
        body = _health_card_request(step, child_id, extra)
        subject = child_id
        call = registry.request_health_card
    else:
        body = _funeral_request(step, extra)
        subject = _text(step.lead_form, "nguoi_chet", "so_dinh_danh")
        call = registry.claim_funeral_allowance
    purpose = f"lien-thong:{definition.kind}:{part.key}"
    try:
        reply, trace = call(body, purpose=purpose, key=key)
    except GatewayError as exc:
        _remember(step, subject, exc.trace, definition, part, now, outcome=exc.code.removeprefix("registry."))
        if exc.code != "registry.rejected":
            raise
        _set_part(
            conn, step.bundle["id"], part.key, now, status="not_eligible", result={"message": exc.message}
        )
        return
    _remember(step, subject, trace, definition, part, now, outcome="ok")
    status = "not_eligible" if reply.get("status") == "not_eligible" else "done"
    reference = reply.get("reference")
    _set_part(
        conn,
        step.bundle["id"],
        part.key,
        now,
        status=status,
        reference=reference if isinstance(reference, str) else None,
        result={k: v for k, v in reply.items() if k not in ("accepted", "reference")},
    )


def _child_id(
    conn: Connection, gateway: Gateway, step: _Step, lead_part: dict[str, Any], now: datetime
) -> str:
    """The newborn's personal ID: assigned by the population database once, then kept on the lead part."""
    known = (lead_part.get("result") or {}).get("child_personal_id")
    if isinstance(known, str):
        return known
    form = step.lead_form
    child = {
        "full_name": _text(form, "tre", "ho_ten"),
        "date_of_birth": _text(form, "tre", "ngay_sinh"),
        "sex": _text(form, "tre", "gioi_tinh"),
        "birth_place": _text(form, "tre", "noi_sinh"),
        "father_id": _text(form, "cha", "so_dinh_danh") or None,
        "mother_id": _text(form, "me", "so_dinh_danh") or None,
        "birth_registration": step.lead_code,
    }
    registry = gateway.typed(RegistryKind.POPULATION, PopulationRegistry)
    definition = BUNDLES[BundleKind.BIRTH]
    try:
        child_id, trace = registry.issue_newborn_id(
            child, purpose="lien-thong:khai-sinh:so-dinh-danh", key=step.bundle["id"]
        )
    except GatewayError as exc:
        subject = child["mother_id"] or child["father_id"] or ""
        _remember(
            step,
            subject,
            exc.trace,
            definition,
            definition.lead,
            now,
            outcome=exc.code.removeprefix("registry."),
        )
        raise
    _remember(step, child_id, trace, definition, definition.lead, now, outcome="ok")
    lead_part["result"] = {**(lead_part.get("result") or {}), "child_personal_id": child_id}
    conn.execute(
        update(bundle_parts).where(bundle_parts.c.id == lead_part["id"]).values(result=lead_part["result"])
    )
    return child_id


def _health_card_request(step: _Step, child_id: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    form = step.lead_form
    return {
        "personal_id": child_id,
        "full_name": _text(form, "tre", "ho_ten"),
        "date_of_birth": _text(form, "tre", "ngay_sinh"),
        "sex": _text(form, "tre", "gioi_tinh"),
        "initial_hospital": extra.get("noi_dang_ky_kcb_ban_dau"),
        "birth_registration": step.lead_code,
        "requested_by": _text(form, "nguoi_yeu_cau", "so_dinh_danh"),
    }


def _funeral_request(step: _Step, extra: Mapping[str, Any]) -> dict[str, Any]:
    form = step.lead_form
    return {
        "deceased_personal_id": _text(form, "nguoi_chet", "so_dinh_danh"),
        "died_on": _text(form, "nguoi_chet", "ngay_chet"),
        "claimant_personal_id": _text(form, "nguoi_yeu_cau", "so_dinh_danh"),
        "claimant_name": _text(form, "nguoi_yeu_cau", "ho_ten"),
        "relationship": _text(form, "nguoi_yeu_cau", "quan_he"),
        "payment_method": extra.get("hinh_thuc_nhan") or "Tiền mặt",
        "bank_account": extra.get("so_tai_khoan"),
        "death_registration": step.lead_code,
    }


def _remember(
    step: _Step,
    subject_id: str,
    trace: Trace | None,
    definition: BundleDefinition,
    part: BundlePart,
    at: datetime,
    *,
    outcome: str,
) -> None:
    """Note one registry call for the exchange log (written after the part's savepoint, whatever happened)."""
    if trace is None or trace.attempts == 0:
        return
    identity = Identity(IdentityKind.PERSONAL_ID, subject_id) if subject_id else None
    step.exchanges.append(
        Exchange(
            at=at,
            actor_id=SERVICE_ACTOR,
            actor_kind="service",
            subject_id=identity.account_id if identity else step.bundle["applicant_id"],
            registry=(part.external or RegistryKind.POPULATION).value,
            purpose=f"{definition.name} ({definition.legal_basis}): {part.name}, hồ sơ {step.lead_code}",
            outcome=outcome,
            trace=trace,
            procedure_code=definition.national_code,
            dossier_code=step.lead_code,
        )
    )


def _set_part(conn: Connection, bundle_id: str, key: str, at: datetime, **values: Any) -> None:
    conn.execute(
        update(bundle_parts)
        .where(bundle_parts.c.bundle_id == bundle_id, bundle_parts.c.key == key)
        .values(updated_at=at, **values)
    )


__all__ = [
    "BUNDLE_TOPIC",
    "BundleRequest",
    "create_bundle",
    "dossier_event_hook",
    "get_bundle",
    "list_bundles",
    "refresh_bundle",
    "run_bundle_jobs",
]
