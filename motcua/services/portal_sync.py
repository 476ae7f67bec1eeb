"""Outbound sync to the National Public Service Portal: deliver the queued `national_portal.status` jobs.

Every status change is queued in the outbox in the transaction that made it (`services.dossiers`), so none
is lost while the portal is down. Delivery here keeps each dossier's changes in order: a job is sent only
when no earlier job of the same dossier is still pending; after a failure, that dossier's later jobs wait
for it. Deliveries are at-least-once; the portal deduplicates by the idempotency key `<code>:<seq>`.

A change the portal refuses for good (`PortalRefused`: a 4xx about the message), or whose dossier no longer
exists, is given up at once (a dead job, for the city administrator to retry or discard); a dead change no
longer holds the dossier's later ones back, which carry their sequence number (decision 0009).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from motcua.domain.errors import DomainError
from motcua.domain.identifiers import parse_dossier_code
from motcua.integrations.gateway import Gateway
from motcua.integrations.http import GatewayError
from motcua.integrations.portal import PortalRefused, StatusSync
from motcua.services.dossiers import NATIONAL_SYNC_TOPIC
from motcua.services.gateway import gateway_for
from motcua.services.outbox import Job, PermanentJobError, claim, mark_done, mark_failed
from motcua.services.runtime import Runtime
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.outbox import PENDING, outbox


@dataclass(frozen=True)
class SyncReport:
    delivered: int = 0
    failed: int = 0
    waiting: int = 0  # held back behind an earlier undelivered change of the same dossier


def deliver_status_changes(
    rt: Runtime,
    *,
    now: datetime | None = None,
    gateway: Gateway | None = None,
    limit: int = 50,
    budget_seconds: float = 10.0,
) -> SyncReport:
    """Send one batch of pending status changes to the portal; returns what happened to them.

    Runs in one transaction with the claimed jobs (on PostgreSQL the rows stay locked, so several workers
    never send the same change). The batch stops early when `budget_seconds` have passed or the portal's
    circuit breaker opens, to keep the transaction short while the portal struggles.
    """
    now = now or rt.clock.now()
    gateway = gateway or gateway_for(rt)
    delivered = failed = waiting = 0
    started = time.monotonic()
    with rt.db.transaction() as conn:
        held: set[str] = set()
        for job in claim(conn, topic=NATIONAL_SYNC_TOPIC, now=now, limit=limit):
            if job.key in held or _earlier_pending(conn, job):
                held.add(job.key)
                waiting += 1
                continue
            if time.monotonic() - started > budget_seconds:
                break
            try:
                gateway.portal.push_status(_status_sync(conn, job))
            except (GatewayError, DomainError, PermanentJobError) as exc:
                code = getattr(exc, "code", type(exc).__name__)
                permanent = isinstance(exc, (PortalRefused, PermanentJobError))
                mark_failed(conn, job, now=now, error=f"{code}: {exc}", permanent=permanent)
                held.add(job.key)
                failed += 1
                if code == "registry.circuit_open":
                    break
            else:
                mark_done(conn, job, now=now)
                delivered += 1
    return SyncReport(delivered, failed, waiting)


def _earlier_pending(conn: Connection, job: Job) -> bool:
    earlier = conn.execute(
        select(outbox.c.id)
        .where(
            outbox.c.topic == job.topic,
            outbox.c.key == job.key,
            PENDING,  # a dead change does not hold the later ones back
            outbox.c.id < job.id,
        )
        .limit(1)
    ).first()
    return earlier is not None


def _status_sync(conn: Connection, job: Job) -> StatusSync:
    payload = job.payload
    code = str(payload["code"])
    procedure_code = conn.execute(select(dossiers.c.procedure_code).where(dossiers.c.code == code)).scalar()
    if procedure_code is None:
        raise PermanentJobError("dossier.not_found", f"Hồ sơ {code} không còn trong hệ thống.")
    return StatusSync(
        dossier_code=code,
        seq=int(payload["seq"]),
        status=int(payload["status"]),
        at=str(payload["at"]),
        procedure_code=procedure_code,
        agency_code=parse_dossier_code(code).agency_code,
    )
