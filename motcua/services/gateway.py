"""The data-sharing gateway's use cases: auto-fill ("only once"), officers' registry checks, the registry
data a dossier relies on, the citizen's own repository, and the accountable exchange log.

* `prefill` — after the applicant consents, fetch the registries an e-form is bound to (`x-registry`),
  refuse data that is not theirs, and return the bound fields as verified, read-only values plus the
  required documents that registry data replaces (`satisfied_by`). A failing registry degrades to manual
  entry with a Vietnamese message; it never fails the request.
* When the dossier is submitted (`link_prefill`, an event hook) the prefill is recorded on the dossier:
  which requirement was met by which data, which fields stayed as fetched, and when they were fetched.
* Every call to a registry is in the exchange log (`log_exchange`): who, about whom, which service, why,
  when, the hashes of request and reply — hash-chained like the audit log (`verify_exchange_log`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from motcua.domain.audit import GENESIS_HASH, ChainEntry, ChainHead, chain_for, jsonable, seal, verify_chain
from motcua.domain.catalog import CityProcedure
from motcua.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from motcua.domain.identifiers import parse_cccd, parse_mst
from motcua.domain.lifecycle import TERMINAL, Action, Actor, ActorKind, Status
from motcua.domain.registry import (
    Applicant,
    FormBinding,
    Identity,
    IdentityKind,
    RegistryKind,
    RegistryRecord,
    RequirementSource,
    form_bindings,
    get_path,
    parse_requirement_source,
    set_path,
)
from motcua.integrations.gateway import Gateway, GatewayConfig
from motcua.integrations.http import GatewayError, Trace
from motcua.integrations.registries import RegistryPlugin
from motcua.services.audit import AuditReport, append_audit
from motcua.services.catalog import get_city_procedure
from motcua.services.files import StoredFile, attach
from motcua.services.hooks import EventContext
from motcua.services.identity import get_user
from motcua.services.runtime import Runtime
from motcua.store.db import HotStatement
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.files import dossier_files, files
from motcua.store.schema.identity import users
from motcua.store.schema.integrations import (
    dossier_registry_data,
    registry_consents,
    registry_exchange_heads,
    registry_exchanges,
    registry_prefills,
)

PREFILL_TTL = timedelta(hours=24)
EXCHANGE_CHAINS = 4
REUSABLE_KINDS = ("result", "upload", "supplement")  # not receipts, slips or control sheets
SERVICE_ACTOR = "motcua.lien-thong"  # the gateway acting on its own (bundles), not on a person's request
EXCHANGE_HASHED = (
    "at", "exchange_id", "actor_id", "actor_kind", "actor_unit_id", "subject_id", "registry", "service",
    "purpose", "procedure_code", "dossier_code", "outcome", "http_status", "request_hash", "response_hash",
)  # fmt: skip

# ------------------------------------------------------------------ the gateway of a runtime

_GATEWAYS: dict[int, tuple[weakref.ref[Runtime], Gateway]] = {}
_GATEWAYS_LOCK = threading.Lock()


def install_gateway(rt: Runtime, gateway: Gateway) -> None:
    """Use `gateway` for this runtime (tests, the CLI); otherwise one is built from the environment."""
    with _GATEWAYS_LOCK:
        _install(rt, gateway)


def _install(rt: Runtime, gateway: Gateway) -> None:
    key = id(rt)
    _GATEWAYS[key] = (weakref.ref(rt, lambda _ref: _GATEWAYS.pop(key, None)), gateway)


def gateway_for(rt: Runtime) -> Gateway:
    """The runtime's gateway: the installed one, or one built once from the environment."""
    with _GATEWAYS_LOCK:
        found = _GATEWAYS.get(id(rt))
        if found is not None and found[0]() is rt:
            return found[1]
        gateway = Gateway(GatewayConfig.from_env())
        _install(rt, gateway)
        return gateway


# ------------------------------------------------------------------ the exchange log


@dataclass(frozen=True)
class Exchange:
    """One call to an external system, as the log keeps it."""

    at: datetime
    actor_id: str
    actor_kind: str
    subject_id: str
    registry: str
    purpose: str
    outcome: str
    trace: Trace
    actor_unit_id: str | None = None
    procedure_code: str | None = None
    dossier_code: str | None = None

    @property
    def service(self) -> str:
        """The operation called, without identifiers: `GET citizens`, `POST health-insurance-cards`."""
        resource = self.trace.path.strip("/").split("/", 1)[0]
        return f"{self.trace.method} {resource}"


def log_exchange(conn: Connection, exchange: Exchange) -> int:
    """Append one exchange to its chain (by data subject) in the caller's transaction; returns the row id."""
    values = {
        "at": exchange.at,
        "exchange_id": exchange.trace.exchange_id,
        "actor_id": exchange.actor_id,
        "actor_kind": exchange.actor_kind,
        "actor_unit_id": exchange.actor_unit_id,
        "subject_id": exchange.subject_id,
        "registry": exchange.registry,
        "service": exchange.service,
        "purpose": exchange.purpose,
        "procedure_code": exchange.procedure_code,
        "dossier_code": exchange.dossier_code,
        "outcome": exchange.outcome,
        "http_status": exchange.trace.status,
        "request_hash": exchange.trace.request_hash,
        "response_hash": exchange.trace.response_hash,
    }
    fields = {name: jsonable(values[name]) for name in EXCHANGE_HASHED}
    chain = chain_for(exchange.subject_id, EXCHANGE_CHAINS)
    head = _lock_exchange_head(conn, chain)
    entry = seal(chain, head.seq + 1, head.hash, fields)
    stored = {**fields, "at": exchange.at, "chain": chain, "seq": entry.seq}
    row_id = conn.execute(
        insert(registry_exchanges)
        .values(**stored, prev_hash=entry.prev_hash, hash=entry.hash)
        .returning(registry_exchanges.c.id)
    ).scalar_one()
    conn.execute(
        update(registry_exchange_heads)
        .where(registry_exchange_heads.c.chain == chain)
        .values(seq=entry.seq, hash=entry.hash)
    )
    return int(row_id)


def log_exchanges(conn: Connection, exchanges: Iterable[Exchange]) -> None:
    """Log several exchanges, locking their chains in one global order (no deadlock between writers)."""
    for exchange in sorted(exchanges, key=lambda e: chain_for(e.subject_id, EXCHANGE_CHAINS)):
        log_exchange(conn, exchange)


def _lock_exchange_head(conn: Connection, chain: int) -> ChainHead:
    query = select(registry_exchange_heads.c.seq, registry_exchange_heads.c.hash).where(
        registry_exchange_heads.c.chain == chain
    )
    row = conn.execute(query.with_for_update()).one_or_none()
    if row is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        rows = [{"chain": c, "seq": 0, "hash": GENESIS_HASH} for c in range(EXCHANGE_CHAINS)]
        conn.execute(
            dialect.insert(registry_exchange_heads).on_conflict_do_nothing(index_elements=["chain"]), rows
        )
        row = conn.execute(query.with_for_update()).one()
    return ChainHead(chain, row.seq, row.hash)


def verify_exchange_log(conn: Connection) -> AuditReport:
    """Every changed, deleted, reordered or inserted exchange entry, by chain (see domain.audit)."""
    heads = [ChainHead(r.chain, r.seq, r.hash) for r in conn.execute(select(registry_exchange_heads))]
    rows = conn.execute(select(registry_exchanges).order_by(registry_exchanges.c.id))
    checked = 0

    def entries() -> Iterator[ChainEntry]:
        nonlocal checked
        for row in rows:
            checked += 1
            fields = {name: getattr(row, name) for name in EXCHANGE_HASHED}
            fields["at"] = jsonable(row.at)
            yield ChainEntry(row.chain, row.seq, row.prev_hash, row.hash, fields)

    problems = verify_chain(entries(), heads)
    return AuditReport(ok=not problems, checked=checked, problems=problems, chains=len(heads))


# ------------------------------------------------------------------ fetching with ownership checks


@dataclass
class Fetch:
    """The outcome of fetching one subject's record from one registry."""

    source: RegistryKind
    identity: Identity
    subject: str  # applicant | related
    record: RegistryRecord | None = None
    code: str = "ok"
    message: str | None = None
    trace: Trace | None = None

    @property
    def ok(self) -> bool:
        return self.record is not None


def fetch_checked(
    plugin: RegistryPlugin, identity: Identity, subject: str, owner: Applicant, purpose: str, at: datetime
) -> Fetch:
    """Fetch and check ownership; every failure becomes a Fetch with a code and a Vietnamese message."""
    result = Fetch(plugin.kind, identity, subject)
    try:
        record = plugin.fetch(identity, purpose, at=at)
    except GatewayError as exc:
        result.code, result.message, result.trace = exc.code, exc.message, exc.trace
        return result
    except DomainError as exc:
        result.code, result.message = exc.code, exc.message
        return result
    result.trace = record.trace if isinstance(record.trace, Trace) else None
    try:
        plugin.check_ownership(record, owner)
    except Forbidden as exc:
        result.code, result.message = exc.code, exc.message
        return result
    result.record = record
    return result


def fetch_all(
    gateway: Gateway,
    plan: Iterable[tuple[RegistryKind, Identity, str]],
    owner: Applicant,
    purpose: str,
    at: datetime,
) -> list[Fetch]:
    """Fetch several records at once (one thread per registry call)."""
    jobs = list(dict.fromkeys(plan))
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(jobs), 8), thread_name_prefix="registry") as pool:
        futures = [
            pool.submit(fetch_checked, gateway.registry(kind), identity, subject, owner, purpose, at)
            for kind, identity, subject in jobs
        ]
        return [future.result() for future in futures]


def _outcome(item: Fetch) -> str:
    if item.ok:
        return "ok"
    return item.code.removeprefix("registry.")


def _log_fetches(
    conn: Connection,
    fetched: Iterable[Fetch],
    *,
    actor: Actor,
    purpose: str,
    at: datetime,
    procedure_code: str | None,
    dossier_code: str | None = None,
) -> None:
    """Log every fetch that reached a registry (a breaker refusal or a missing configuration sent nothing)."""
    log_exchanges(
        conn,
        (
            Exchange(
                at=at,
                actor_id=actor.id,
                actor_kind=actor.kind.value,
                actor_unit_id=actor.unit_id,
                subject_id=item.identity.account_id,
                registry=item.source.value,
                purpose=purpose,
                outcome=_outcome(item),
                trace=item.trace,
                procedure_code=procedure_code,
                dossier_code=dossier_code,
            )
            for item in fetched
            if item.trace is not None and item.trace.attempts > 0
        ),
    )


def applicant_of(conn: Connection, user_id: str) -> Applicant:
    user = get_user(conn, user_id)
    if user is None:
        raise NotFound("account.not_found", "Không tìm thấy tài khoản.")
    return Applicant(user_id=user_id, personal_id=user["personal_id"], tax_code=user["tax_code"])


def parse_identity(text: str, *, on: datetime) -> Identity:
    """A personal ID (12 digits) or an enterprise code, validated."""
    value = text.strip()
    if len(value) == 12 and value.isdigit():
        return Identity(IdentityKind.PERSONAL_ID, parse_cccd(value, today=on.date()).number)
    return Identity(IdentityKind.ENTERPRISE_CODE, parse_mst(value).normalized)


# ------------------------------------------------------------------ prefill


@dataclass(frozen=True)
class PrefillRequest:
    procedure_code: str
    consent: bool
    related_id: str | None = None  # someone the applicant may act for: their child, a deceased relative


@dataclass
class _Plan:
    bindings: list[FormBinding]
    requirements: list[tuple[str, RequirementSource]]
    subjects: dict[str, Identity]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def needed(self, gateway: Gateway) -> list[tuple[RegistryKind, Identity, str]]:
        wanted = [(b.source, b.subject) for b in self.bindings]
        wanted += [(r.source, r.subject) for _, r in self.requirements]
        plan: list[tuple[RegistryKind, Identity, str]] = []
        for source, subject in dict.fromkeys(wanted):
            identity = self.subjects.get(subject)
            plugin = gateway.registry(source)
            if identity is not None and identity.kind in plugin.identity_kinds:
                plan.append((source, identity, subject))
        return plan


def purpose_text(procedure: CityProcedure, action: str) -> str:
    basis = f" (căn cứ {procedure.legal_basis[0]})" if procedure.legal_basis else ""
    return f"{action} thủ tục {procedure.code} «{procedure.name}»{basis}"


def prefill(
    rt: Runtime, actor: Actor, request: PrefillRequest, *, gateway: Gateway | None = None
) -> dict[str, Any]:
    """Fill the e-form of a procedure from the national registries for the logged-in applicant."""
    if not request.consent:
        raise InvalidInput(
            "prefill.consent_required",
            "Cần sự đồng ý của người nộp hồ sơ trước khi hệ thống lấy dữ liệu từ cơ sở dữ liệu quốc gia.",
        )
    if actor.kind not in (ActorKind.CITIZEN, ActorKind.BUSINESS):
        raise Forbidden(
            "prefill.applicants_only", "Chỉ người dân, doanh nghiệp được tự điền sẵn tờ khai của mình."
        )
    gateway = gateway or gateway_for(rt)
    now = rt.clock.now()
    with rt.db.read() as conn:
        applicant = applicant_of(conn, actor.id)
        procedure = get_city_procedure(conn, request.procedure_code.strip(), on=now.date())
    plan = _prefill_plan(applicant, procedure, request, now)
    purpose = purpose_text(procedure, "Điền sẵn tờ khai")
    fetched = fetch_all(gateway, plan.needed(gateway), applicant, f"tthc:{procedure.code}:prefill", now)
    good = {(f.source, f.subject): f for f in fetched if f.ok}
    filled = _filled_fields(plan, good, gateway)
    documents = _met_documents(plan, good, gateway)
    prefill_id, salt = uuid.uuid4().hex, secrets.token_hex(16)
    with rt.db.transaction() as conn:
        _log_fetches(conn, fetched, actor=actor, purpose=purpose, at=now, procedure_code=procedure.code)
        _store_prefill(conn, prefill_id, salt, applicant, plan, procedure, filled, documents, fetched, now)
    return _prefill_view(prefill_id, procedure, plan, filled, documents, fetched, now)


def _prefill_plan(
    applicant: Applicant, procedure: CityProcedure, request: PrefillRequest, now: datetime
) -> _Plan:
    bindings = form_bindings(procedure.form_schema or {})
    requirements = [
        (document.name, parse_requirement_source(document.satisfied_by))
        for document in procedure.documents
        if document.satisfied_by
    ]
    subjects: dict[str, Identity] = {}
    own = applicant.identity()
    if own is not None:
        subjects["applicant"] = own
    if request.related_id:
        subjects["related"] = parse_identity(request.related_id, on=now)
    plan = _Plan(bindings, requirements, subjects)
    if any(b.subject == "related" for b in bindings) and "related" not in subjects:
        plan.skipped.append(
            {
                "subject": "related",
                "message": "Nhập số định danh cá nhân của người liên quan (con, người đã mất) để điền sẵn "
                "phần thông tin của họ.",
            }
        )
    return plan


@dataclass(frozen=True)
class _Filled:
    binding: FormBinding
    value: Any
    fetch: Fetch
    label: str


def _filled_fields(
    plan: _Plan, good: Mapping[tuple[RegistryKind, str], Fetch], gateway: Gateway
) -> list[_Filled]:
    filled = []
    for binding in plan.bindings:
        item = good.get((binding.source, binding.subject))
        spec = gateway.registry(binding.source).field(binding.field)
        if item is None or item.record is None or spec is None:
            continue
        value = item.record.value(binding.field)
        if value is None or isinstance(value, list):
            continue
        filled.append(_Filled(binding, value, item, spec.label_vi))
    return filled


@dataclass(frozen=True)
class _Met:
    name: str
    requirement: RequirementSource
    section_label: str
    fetch: Fetch


def _met_documents(
    plan: _Plan, good: Mapping[tuple[RegistryKind, str], Fetch], gateway: Gateway
) -> list[_Met]:
    met = []
    for name, requirement in plan.requirements:
        item = good.get((requirement.source, requirement.subject))
        section = gateway.registry(requirement.source).section(requirement.section)
        if item is None or item.record is None or section is None or not item.record.has_section(section):
            continue
        met.append(_Met(name, requirement, section.label_vi, item))
    return met


def _digest(salt: str, value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((salt + canonical).encode("utf-8")).hexdigest()


def _fetch_meta(item: Fetch) -> dict[str, Any]:
    record = item.record
    return {
        "source": item.source.value,
        "subject_id": item.identity.account_id,
        "fetched_at": record.fetched_at.isoformat() if record else None,
        "exchange_id": item.trace.exchange_id if item.trace else "",
        "reference": record.reference if record else None,
    }


def _store_prefill(
    conn: Connection,
    prefill_id: str,
    salt: str,
    applicant: Applicant,
    plan: _Plan,
    procedure: CityProcedure,
    filled: list[_Filled],
    documents: list[_Met],
    fetched: list[Fetch],
    now: datetime,
) -> None:
    own = plan.subjects.get("applicant")
    related = plan.subjects.get("related")
    subject_id = own.account_id if own else applicant.user_id
    conn.execute(
        registry_prefills.insert().values(
            id=prefill_id,
            user_id=applicant.user_id,
            subject_id=subject_id,
            related_id=related.account_id if related else None,
            procedure_code=procedure.code,
            created_at=now,
            expires_at=now + PREFILL_TTL,
            salt=salt,
            fields=[
                {
                    "path": f.binding.dotted,
                    "label": f.binding.title,
                    "field": f.binding.field,
                    "digest": _digest(salt, f.value),
                    **_fetch_meta(f.fetch),
                }
                for f in filled
            ],
            documents=[
                {
                    "name": m.name,
                    "section": m.requirement.section,
                    "section_label": m.section_label,
                    **_fetch_meta(m.fetch),
                }
                for m in documents
            ],
        )
    )
    conn.execute(
        registry_consents.insert().values(
            user_id=applicant.user_id,
            subject_id=subject_id,
            procedure_code=procedure.code,
            registries=sorted({f.source.value for f in fetched}),
            purpose=purpose_text(procedure, "Điền sẵn tờ khai"),
            given_at=now,
            prefill_id=prefill_id,
        )
    )


def _prefill_view(
    prefill_id: str,
    procedure: CityProcedure,
    plan: _Plan,
    filled: list[_Filled],
    documents: list[_Met],
    fetched: list[Fetch],
    now: datetime,
) -> dict[str, Any]:
    form_data: dict[str, Any] = {}
    for item in filled:
        set_path(form_data, item.binding.path, item.value)
    filled_paths = {item.binding.dotted for item in filled}
    return {
        "prefill_id": prefill_id,
        "procedure": {"code": procedure.code, "name": procedure.name},
        "consent": {"given_at": now.isoformat(), "registries": sorted({f.source.value for f in fetched})},
        "fields": [
            {
                "path": item.binding.dotted,
                "label": item.binding.title,
                "value": item.value,
                "verified": True,
                "read_only": True,
                "source": item.binding.source.value,
                "source_label": item.binding.source.label_vi,
                "registry_field": item.binding.field,
                "registry_label": item.label,
                "subject": item.binding.subject,
                "fetched_at": item.fetch.record.fetched_at.isoformat() if item.fetch.record else None,
            }
            for item in filled
        ],
        "form_data": form_data,
        "manual_fields": [b.dotted for b in plan.bindings if b.dotted not in filled_paths],
        "documents": [
            {
                "name": met.name,
                "satisfied": True,
                "source": met.requirement.source.value,
                "source_label": met.requirement.source.label_vi,
                "record": met.requirement.section,
                "record_label": met.section_label,
                "fetched_at": met.fetch.record.fetched_at.isoformat() if met.fetch.record else None,
            }
            for met in documents
        ],
        "sources": [_source_view(item) for item in fetched] + plan.skipped,
        "manual_entry": len(filled_paths) < len(plan.bindings),
    }


def _source_view(item: Fetch) -> dict[str, Any]:
    view: dict[str, Any] = {
        "source": item.source.value,
        "label": item.source.label_vi,
        "subject": item.subject,
        "status": _outcome(item),
    }
    if item.message:
        view["message"] = item.message
    return view


# ------------------------------------------------------------------ the prefill becomes part of the dossier


# Built once (the hook runs on every online submission): the submitter's latest unused prefill for a
# procedure; a prepared statement on PostgreSQL (`HotStatement`).
_LATEST_PREFILL = HotStatement(
    select(registry_prefills)
    .where(
        registry_prefills.c.user_id == bindparam("user_id"),
        registry_prefills.c.procedure_code == bindparam("procedure_code"),
        registry_prefills.c.dossier_id.is_(None),
        registry_prefills.c.expires_at > bindparam("at", type_=registry_prefills.c.expires_at.type),
    )
    .order_by(registry_prefills.c.created_at.desc())
    .limit(1)
)


def link_prefill(ctx: EventContext) -> None:
    """On submission: record the submitter's latest unused prefill for this procedure on the new dossier."""
    if ctx.event.type is not Action.SUBMIT:
        return
    if ctx.actor.kind not in (ActorKind.CITIZEN, ActorKind.BUSINESS):
        return  # only these have prefills (`prefill` refuses others) and an account's kind never changes
    conn, state, at = ctx.conn, ctx.state, ctx.event.at
    found = _LATEST_PREFILL.rows(
        conn, {"user_id": ctx.actor.id, "procedure_code": state.procedure_code, "at": at}
    )
    if not found:
        return
    row = dict(zip(_LATEST_PREFILL.columns, found[0], strict=True))
    rows = [
        _data_row(ctx.dossier_id, "field", f, f["path"], f["label"], f["field"], ctx.actor.id, at)
        | {
            "verified": _digest(row["salt"], get_path(ctx.payload, tuple(f["path"].split("."))))
            == f["digest"]
        }
        for f in row["fields"]
    ]
    rows += [
        _data_row(
            ctx.dossier_id, "document", d, d["name"], d["section_label"], d["section"], ctx.actor.id, at
        )
        for d in row["documents"]
    ]
    if rows:
        conn.execute(dossier_registry_data.insert(), rows)
    conn.execute(
        update(registry_prefills).where(registry_prefills.c.id == row["id"]).values(dossier_id=ctx.dossier_id)
    )


def _data_row(
    dossier_id: int,
    kind: str,
    meta: Mapping[str, Any],
    requirement: str,
    label: str,
    item: str,
    recorded_by: str,
    at: datetime,
) -> dict[str, Any]:
    return {
        "dossier_id": dossier_id,
        "kind": kind,
        "requirement": requirement,
        "label": label,
        "registry": meta["source"],
        "item": item,
        "subject_id": meta["subject_id"],
        "verified": True,
        "reference": meta.get("reference"),
        "exchange_id": meta.get("exchange_id") or "",
        "fetched_at": datetime.fromisoformat(meta["fetched_at"]),
        "recorded_at": at,
        "recorded_by": recorded_by,
    }


# ------------------------------------------------------------------ reading a dossier's registry data


def _readable_dossier(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    """The dossier row, if the actor may read the dossier (the dossier service decides); NotFound otherwise."""
    from motcua.services.dossiers import get_dossier

    get_dossier(rt, actor, code)
    with rt.db.read() as conn:
        row = conn.execute(select(dossiers).where(dossiers.c.code == code.strip())).mappings().one()
        return dict(row)


def registry_data(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    """Which requirements of a dossier were met by registry data and which fields are registry-verified."""
    row = _readable_dossier(rt, actor, code)
    with rt.db.read() as conn:
        rows = conn.execute(
            select(dossier_registry_data)
            .where(dossier_registry_data.c.dossier_id == row["id"])
            .order_by(dossier_registry_data.c.id)
        ).mappings()
        items = [dict(r) for r in rows]

    def view(r: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "requirement": r["requirement"],
            "label": r["label"],
            "source": r["registry"],
            "source_label": RegistryKind(r["registry"]).label_vi,
            "item": r["item"],
            "verified": r["verified"],
            "reference": r["reference"],
            "fetched_at": r["fetched_at"].isoformat(),
            "recorded_at": r["recorded_at"].isoformat(),
            "recorded_by": r["recorded_by"],
            "exchange_id": r["exchange_id"],
        }

    return {
        "code": row["code"],
        "documents": [view(r) for r in items if r["kind"] == "document"],
        "fields": [view(r) for r in items if r["kind"] == "field"],
    }


# ------------------------------------------------------------------ an officer checks the applicant's data


def officer_check(
    rt: Runtime,
    actor: Actor,
    code: str,
    sources: list[RegistryKind] | None = None,
    *,
    gateway: Gateway | None = None,
) -> dict[str, Any]:
    """An officer handling a dossier reads its applicant's registry records (logged with the dossier code)
    and records the required documents they replace."""
    if actor.kind is not ActorKind.OFFICER:
        raise Forbidden(
            "registry.officers_only", "Chỉ cán bộ xử lý hồ sơ được tra cứu cơ sở dữ liệu quốc gia."
        )
    gateway = gateway or gateway_for(rt)
    row = _readable_dossier(rt, actor, code)
    now = rt.clock.now()
    with rt.db.read() as conn:
        applicant = applicant_of(conn, row["applicant_id"])
        procedure = get_city_procedure(conn, row["procedure_code"], on=now.date())
    identity = applicant.identity()
    if identity is None:
        raise InvalidInput(
            "registry.no_identity", "Người nộp hồ sơ chưa có số định danh cá nhân hoặc mã số doanh nghiệp."
        )
    requirements = [
        (d.name, parse_requirement_source(d.satisfied_by)) for d in procedure.documents if d.satisfied_by
    ]
    requirements = [(name, r) for name, r in requirements if r.subject == "applicant"]
    wanted = sources or list(dict.fromkeys([r.source for _, r in requirements] or [RegistryKind.POPULATION]))
    plan = [
        (kind, identity, "applicant")
        for kind in wanted
        if identity.kind in gateway.registry(kind).identity_kinds
    ]
    fetched = fetch_all(gateway, plan, applicant, f"tthc:{procedure.code}:tham-dinh:{row['code']}", now)
    good = {(f.source, f.subject): f for f in fetched if f.ok}
    met = _met_documents(_Plan([], requirements, {"applicant": identity}), good, gateway)
    purpose = purpose_text(procedure, f"Thẩm định hồ sơ {row['code']},")
    with rt.db.transaction() as conn:
        _log_fetches(
            conn,
            fetched,
            actor=actor,
            purpose=purpose,
            at=now,
            procedure_code=procedure.code,
            dossier_code=row["code"],
        )
        rows = [
            _data_row(
                row["id"],
                "document",
                _fetch_meta(m.fetch),
                m.name,
                m.section_label,
                m.requirement.section,
                actor.id,
                now,
            )
            for m in met
        ]
        if rows:
            conn.execute(dossier_registry_data.insert(), rows)
    return {
        "code": row["code"],
        "records": [_record_view(item, gateway) for item in fetched],
        "documents": [
            {
                "name": m.name,
                "satisfied": True,
                "record_label": m.section_label,
                "fetched_at": now.isoformat(),
            }
            for m in met
        ],
    }


def _record_view(item: Fetch, gateway: Gateway) -> dict[str, Any]:
    view = _source_view(item)
    if item.record is not None:
        plugin = gateway.registry(item.source)
        view["fetched_at"] = item.record.fetched_at.isoformat()
        view["fields"] = [
            {"name": spec.name, "label": spec.label_vi, "value": item.record.value(spec.name)}
            for spec in plugin.fields
            if item.record.value(spec.name) is not None
        ]
    return view


# ------------------------------------------------------------------ the citizen's own repository


def my_documents(rt: Runtime, actor: Actor) -> dict[str, Any]:
    """Results of the applicant's earlier dossiers and the documents officers accepted, reusable by sha256."""
    with rt.db.read() as conn:
        rows = conn.execute(
            select(
                dossier_files.c.sha256,
                dossier_files.c.kind,
                dossier_files.c.name,
                dossier_files.c.label,
                dossier_files.c.added_at,
                dossiers.c.code,
                dossiers.c.procedure_code,
                dossiers.c.procedure_name,
                dossiers.c.status,
                dossiers.c.accepted_at,
                files.c.size,
                files.c.media_type,
            )
            .join(dossiers, dossiers.c.id == dossier_files.c.dossier_id)
            .join(files, files.c.sha256 == dossier_files.c.sha256)
            .where(dossiers.c.applicant_id == actor.id, dossier_files.c.kind.in_(REUSABLE_KINDS))
            .order_by(dossier_files.c.added_at.desc(), dossier_files.c.id.desc())
        ).mappings()
        registry_rows = conn.execute(
            select(dossier_registry_data, dossiers.c.code)
            .join(dossiers, dossiers.c.id == dossier_registry_data.c.dossier_id)
            .where(dossiers.c.applicant_id == actor.id, dossier_registry_data.c.kind == "document")
            .order_by(dossier_registry_data.c.fetched_at.desc())
        ).mappings()
        documents = _unique_documents(dict(r) for r in rows)
        records = [
            {
                "requirement": r["requirement"],
                "record_label": r["label"],
                "source": r["registry"],
                "source_label": RegistryKind(r["registry"]).label_vi,
                "dossier_code": r["code"],
                "fetched_at": r["fetched_at"].isoformat(),
            }
            for r in registry_rows
        ]
    return {"documents": documents, "registry_records": records}


def _unique_documents(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["sha256"] in seen:
            continue
        status = Status(r["status"])
        verified = r["kind"] == "result" or (r["accepted_at"] is not None and status is not Status.REJECTED)
        seen[r["sha256"]] = {
            "sha256": r["sha256"],
            "kind": r["kind"],
            "name": r["name"],
            "label": r["label"],
            "size": r["size"],
            "media_type": r["media_type"],
            "verified": verified,
            "is_result": r["kind"] == "result",
            "dossier": {
                "code": r["code"],
                "procedure_code": r["procedure_code"],
                "procedure_name": r["procedure_name"],
            },
            "added_at": r["added_at"].isoformat(),
        }
    return list(seen.values())


def reuse_file(rt: Runtime, actor: Actor, code: str, *, sha256: str, label: str | None) -> dict[str, Any]:
    """Attach a document from the applicant's earlier dossier to their new, open dossier (no re-upload)."""
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        target = conn.execute(select(dossiers).where(dossiers.c.code == code.strip())).mappings().first()
        if target is None or actor.id not in (target["applicant_id"], target["submitted_by"]):
            raise NotFound("dossier.not_found", f"Không tìm thấy hồ sơ {code}.")
        if Status(target["status"]) in TERMINAL:
            raise InvalidInput("file.dossier_closed", "Hồ sơ đã kết thúc; không thể bổ sung tệp.")
        source = conn.execute(
            select(dossier_files.c.name, files.c.size, files.c.media_type)
            .join(dossiers, dossiers.c.id == dossier_files.c.dossier_id)
            .join(files, files.c.sha256 == dossier_files.c.sha256)
            .where(
                dossier_files.c.sha256 == sha256.strip().lower(),
                dossiers.c.applicant_id == target["applicant_id"],
                or_(dossiers.c.applicant_id == actor.id, dossiers.c.submitted_by == actor.id),
                dossiers.c.id != target["id"],
            )
            .limit(1)
        ).first()
        if source is None:
            raise NotFound("file.not_found", "Không tìm thấy tài liệu này trong kho dữ liệu của bạn.")
        stored = StoredFile(sha256.strip().lower(), int(source.size), str(source.media_type))
        file_id = attach(
            conn,
            dossier_id=target["id"],
            stored=stored,
            kind="upload",
            name=source.name,
            label=label,
            added_by=actor.id,
            now=now,
        )
        append_audit(
            conn,
            at=now,
            actor_id=actor.id,
            actor_role=actor.kind.value,
            action="dossier.file_reused",
            object_type="dossier",
            object_id=target["code"],
            unit_id=actor.unit_id,
            data={"file_id": file_id, "sha256": stored.sha256},
        )
    return {
        "id": file_id,
        "sha256": stored.sha256,
        "size": stored.size,
        "media_type": stored.media_type,
        "kind": "upload",
    }


# ------------------------------------------------------------------ who read my data


def data_access(rt: Runtime, actor: Actor, *, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Which officer or service read the actor's data from the national registries, when and why."""
    with rt.db.read() as conn:
        me = applicant_of(conn, actor.id)
        subjects = [i.account_id for i in (me.identity(),) if i is not None] or [actor.id]
        readers = users.alias("readers")
        rows = conn.execute(
            select(registry_exchanges, readers.c.full_name, readers.c.kind.label("reader_kind"))
            .outerjoin(readers, readers.c.id == registry_exchanges.c.actor_id)
            .where(registry_exchanges.c.subject_id.in_(subjects))
            .order_by(registry_exchanges.c.at.desc(), registry_exchanges.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).mappings()
        items = [_access_view(dict(r), actor) for r in rows]
    return {"items": items, "limit": limit, "offset": offset}


def _access_view(row: Mapping[str, Any], me: Actor) -> dict[str, Any]:
    kind = row["actor_kind"]
    if row["actor_id"] == me.id:
        reader = {"kind": kind, "name": "Bạn (qua Cổng dịch vụ công Thành phố)", "unit_id": None}
    elif kind == "service":
        reader = {"kind": "service", "name": "Hệ thống liên thông thủ tục hành chính", "unit_id": None}
    else:
        reader = {"kind": kind, "name": row["full_name"] or row["actor_id"], "unit_id": row["actor_unit_id"]}
    return {
        "at": row["at"].isoformat(),
        "reader": reader,
        "registry": {"code": row["registry"], "label": RegistryKind(row["registry"]).label_vi},
        "service": row["service"],
        "purpose": row["purpose"],
        "procedure_code": row["procedure_code"],
        "dossier_code": row["dossier_code"],
        "outcome": row["outcome"],
    }


__all__ = [
    "Exchange",
    "PrefillRequest",
    "data_access",
    "gateway_for",
    "install_gateway",
    "link_prefill",
    "log_exchange",
    "log_exchanges",
    "my_documents",
    "officer_check",
    "prefill",
    "registry_data",
    "reuse_file",
    "verify_exchange_log",
]
