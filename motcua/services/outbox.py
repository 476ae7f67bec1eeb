"""The transactional outbox: enqueue in the caller's transaction; `motcua worker` claims and runs jobs.

A job commits with the change that caused it, so no status change is lost when a downstream system (the
national portal) is down: the worker retries with exponential backoff (1 s doubling to 1 hour). A job is
**pending**, **done**, or **dead**: after its topic's `max_attempts` (`data/outbox.yaml`), or at once when its
handler raises `PermanentJobError`, the worker gives up — `dead_at` and `last_error` are recorded, the job is
never claimed again and one warning line is logged. The city administrator sees the backlog and the dead jobs
(`list_jobs`, `outbox_health`) and retries a dead job (pending again, attempts reset, due now) or discards it
(it stays dead, with who, when and why); both are audited. A job's outcome (done, failed, dead) commits with
its claim, as before. Decision 0009.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from sqlalchemy import Connection, func, select, update

from motcua.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.workflow import Role
from motcua.services.audit import append_audit
from motcua.store.schema.outbox import DEAD, PENDING, outbox

if TYPE_CHECKING:
    from motcua.services.runtime import Runtime

log = logging.getLogger("motcua.worker")

MAX_BACKOFF = timedelta(hours=1)
POLICY_FILE = Path(__file__).resolve().parents[1] / "data" / "outbox.yaml"
MAX_ATTEMPTS_LIMIT = 1000

State = Literal["pending", "done", "dead"]
# What the administrator's list filters on: "dead" is a dead job nobody has decided on yet.
LIST_STATES = ("pending", "dead", "discarded", "done")


@dataclass(frozen=True)
class Job:
    id: int
    topic: str
    key: str
    payload: Mapping[str, Any]
    attempts: int


class PermanentJobError(Exception):
    """Raised by a job's handler when the job can never succeed as it is (the portal refused the message with
    a 4xx, its dossier no longer exists): the job dies at once instead of being retried for a day."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ---------------------------------------------------------------- the retry policy (data/outbox.yaml)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a job of each topic gets before it is dead."""

    default: int = 36
    by_topic: Mapping[str, int] = field(default_factory=dict)

    def max_attempts(self, topic: str) -> int:
        return self.by_topic.get(topic, self.default)


def parse_policy(data: Any, *, source: str = "outbox.yaml") -> RetryPolicy:
    """The policy from the file's content; `InvalidInput` (`outbox.bad_policy`) names what is wrong."""

    def bad(what: str) -> InvalidInput:
        return InvalidInput("outbox.bad_policy", f"Tệp {source} không hợp lệ: {what}.")

    if not isinstance(data, dict) or not isinstance(data.get("max_attempts"), dict):
        raise bad("cần mục max_attempts gồm các cặp chủ đề: số lần thử")
    attempts: dict[str, int] = {}
    for topic, value in data["max_attempts"].items():
        if not isinstance(topic, str) or not topic or len(topic) > 64:
            raise bad(f"tên chủ đề «{topic}» phải là chuỗi 1–64 ký tự")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS_LIMIT:
            raise bad(f"max_attempts của {topic} phải là số nguyên từ 1 đến {MAX_ATTEMPTS_LIMIT}")
        attempts[topic] = value
    if "default" not in attempts:
        raise bad("thiếu max_attempts.default")
    default = attempts.pop("default")
    return RetryPolicy(default=default, by_topic=attempts)


def load_policy(path: Path = POLICY_FILE) -> RetryPolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput("outbox.bad_policy", f"Không đọc được tệp {path}: {exc.strerror or exc}.") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput("outbox.bad_policy", f"Tệp {path.name} không phải YAML hợp lệ: {exc}") from exc
    return parse_policy(data, source=path.name)


@functools.cache
def retry_policy() -> RetryPolicy:
    """The shipped policy, read once per process (it changes with a deployment, not at run time)."""
    return load_policy()


# ---------------------------------------------------------------- queueing and running jobs

_INSERT = outbox.insert()  # built once: compiled once, values bound per call


def enqueue(conn: Connection, *, topic: str, key: str, payload: Mapping[str, Any], now: datetime) -> None:
    conn.execute(
        _INSERT,
        {
            "topic": topic,
            "key": key,
            "payload": dict(payload),
            "created_at": now,
            "available_at": now,
            "attempts": 0,
        },
    )


def claim(conn: Connection, *, topic: str, now: datetime, limit: int = 50) -> list[Job]:
    """Due pending jobs of a topic, oldest first (never a done or dead one); on PostgreSQL locked rows are
    skipped so workers can run in parallel."""
    stmt = (
        select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts)
        .where(outbox.c.topic == topic, PENDING, outbox.c.available_at <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Job(r.id, r.topic, r.key, r.payload, r.attempts) for r in conn.execute(stmt)]


def mark_done(conn: Connection, job: Job, *, now: datetime) -> None:
    conn.execute(update(outbox).where(outbox.c.id == job.id).values(done_at=now, attempts=job.attempts + 1))


def backoff(attempts: int) -> timedelta:
    """The wait after a job's `attempts`-th failure (1 s, 2 s, 4 s … up to 1 hour)."""
    return min(timedelta(seconds=2 ** min(attempts - 1, 12)), MAX_BACKOFF)


def mark_failed(
    conn: Connection,
    job: Job,
    *,
    now: datetime,
    error: str,
    permanent: bool = False,
    policy: RetryPolicy | None = None,
) -> State:
    """Record a failed attempt: retried after the backoff, or dead when the error is `permanent` or the job
    has used its topic's attempts. Returns the job's state ("pending" or "dead")."""
    attempts = job.attempts + 1
    dead = permanent or attempts >= (policy or retry_policy()).max_attempts(job.topic)
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
    if dead:
        values["dead_at"] = now
    else:
        values["available_at"] = now + backoff(attempts)
    conn.execute(update(outbox).where(outbox.c.id == job.id, PENDING).values(values))
    if not dead:
        return "pending"
    log.warning(
        "outbox job %s (%s, %s) is dead after %d attempt(s)%s: %s — retry or discard it: motcua outbox",
        job.id,
        job.topic,
        job.key,
        attempts,
        " (permanent error)" if permanent else "",
        error[:300],
    )
    return "dead"


Handler = Callable[[Job], None]


def run_once(
    db: Any,
    handlers: Mapping[str, Handler],
    *,
    now: datetime,
    limit: int = 50,
    policy: RetryPolicy | None = None,
) -> int:
    """Claim and run one batch per topic; each job's outcome is committed with its claim. Returns jobs done."""
    done = 0
    for topic, handler in handlers.items():
        with db.transaction() as conn:
            for job in claim(conn, topic=topic, now=now, limit=limit):
                try:
                    handler(job)
                except PermanentJobError as exc:  # can never succeed as it is: dead at once
                    mark_failed(conn, job, now=now, error=str(exc), permanent=True, policy=policy)
                except Exception as exc:  # any failure of a downstream system: retry later
                    mark_failed(conn, job, now=now, error=f"{type(exc).__name__}: {exc}", policy=policy)
                else:
                    mark_done(conn, job, now=now)
                    done += 1
    return done


# ---------------------------------------------------------------- what operators see


def state_of(row: Any) -> State:
    if row.done_at is not None:
        return "done"
    return "dead" if row.dead_at is not None else "pending"


def job_view(row: Any) -> dict[str, Any]:
    """A job as the administrator's list and the CLI show it."""
    discarded = row.discarded_at is not None
    return {
        "id": row.id,
        "topic": row.topic,
        "key": row.key,
        "state": state_of(row),
        "discarded": discarded,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "payload": dict(row.payload),
        "created_at": row.created_at.isoformat(),
        "available_at": row.available_at.isoformat(),
        "done_at": row.done_at.isoformat() if row.done_at else None,
        "dead_at": row.dead_at.isoformat() if row.dead_at else None,
        "discarded_at": row.discarded_at.isoformat() if discarded else None,
        "discarded_by": row.discarded_by,
        "discard_reason": row.discard_reason,
    }


def job_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Per topic: pending, dead (awaiting a decision) and discarded jobs. Done jobs are not counted (every job
    ever done: a scan of the whole table); both queries read only their partial index's rows."""
    counts: dict[str, dict[str, int]] = {}

    def slot(topic: str) -> dict[str, int]:
        return counts.setdefault(topic, {"pending": 0, "dead": 0, "discarded": 0})

    pending = select(outbox.c.topic, func.count()).where(PENDING).group_by(outbox.c.topic)
    for topic, n in conn.execute(pending):
        slot(topic)["pending"] = n
    discarded = outbox.c.discarded_at.is_not(None)
    dead = select(outbox.c.topic, discarded, func.count()).where(DEAD).group_by(outbox.c.topic, discarded)
    for topic, was_discarded, n in conn.execute(dead):
        slot(topic)["discarded" if was_discarded else "dead"] += n
    return dict(sorted(counts.items()))


def outbox_health(conn: Connection, *, now: datetime) -> dict[str, Any]:
    """For monitoring: dead jobs awaiting a decision, pending jobs and the age of the oldest pending one."""
    dead = conn.execute(
        select(func.count()).select_from(outbox).where(DEAD, outbox.c.discarded_at.is_(None))
    ).scalar_one()
    pending, oldest = conn.execute(select(func.count(), func.min(outbox.c.created_at)).where(PENDING)).one()
    age = None if oldest is None else max(0, math.floor((now - oldest).total_seconds()))
    return {"dead": dead, "pending": pending, "oldest_pending_age_seconds": age}


def list_jobs(
    conn: Connection, *, state: str | None = None, topic: str | None = None, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """Jobs in a state (`LIST_STATES`; all dead ones when None), of a topic if given: pending and dead ones
    oldest first, done ones newest first."""
    query = select(outbox)
    if state in (None, "dead", "discarded"):
        query = query.where(DEAD)
        if state is not None:
            decided = outbox.c.discarded_at.is_not(None)
            query = query.where(decided if state == "discarded" else outbox.c.discarded_at.is_(None))
        query = query.order_by(outbox.c.id)
    elif state == "pending":
        query = query.where(PENDING).order_by(outbox.c.id)
    elif state == "done":
        query = query.where(outbox.c.done_at.is_not(None)).order_by(outbox.c.id.desc())
    else:
        raise InvalidInput(
            "outbox.bad_state",
            "Trạng thái phải là pending (đang chờ), dead (đã ngừng thử), discarded (đã bỏ) hoặc done (đã xong).",
            field="state",
        )
    if topic:
        query = query.where(outbox.c.topic == topic)
    return [job_view(row) for row in conn.execute(query.limit(limit).offset(offset))]


# ---------------------------------------------------------------- what operators do (audited)

REASON_MIN, REASON_MAX = 5, 500


def require_city_admin(actor: Actor) -> None:
    if actor.kind is not ActorKind.OFFICER or Role.CITY_ADMIN not in actor.roles:
        raise Forbidden("outbox.city_admin_only", "Chỉ quản trị Thành phố mới xem và xử lý công việc nền.")


def _dead_job(conn: Connection, job_id: int) -> Any:
    query = select(outbox).where(outbox.c.id == job_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("outbox.job_not_found", f"Không tìm thấy công việc nền số {job_id}.")
    if row.dead_at is None:
        state = "đã xong" if row.done_at is not None else "đang chờ chạy"
        raise Conflict(
            "outbox.not_dead",
            f"Công việc nền số {job_id} {state}; chỉ thử lại hoặc bỏ được việc đã ngừng thử.",
        )
    return row


def _audit_job(
    conn: Connection,
    row: Any,
    action: str,
    *,
    now: datetime,
    actor_id: str,
    actor_role: str,
    unit_id: str | None,
    **extra: Any,
) -> None:
    """The audit entry of an administrator's decision on a dead job: the job as it was, and `extra`."""
    append_audit(
        conn,
        at=now,
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        object_type="outbox_job",
        object_id=row.id,
        unit_id=unit_id,
        data={
            "topic": row.topic,
            "key": row.key,
            "attempts": row.attempts,
            "last_error": (row.last_error or "")[:500],
            **extra,
        },
    )


def retry_dead_job(
    conn: Connection, job_id: int, *, now: datetime, actor_id: str, actor_role: str, unit_id: str | None
) -> dict[str, Any]:
    """A dead job (discarded or not) becomes pending again: attempts reset, due now. Audited."""
    row = _dead_job(conn, job_id)
    conn.execute(
        update(outbox)
        .where(outbox.c.id == job_id)
        .values(
            dead_at=None,
            attempts=0,
            available_at=now,
            discarded_at=None,
            discarded_by=None,
            discard_reason=None,
        )
    )
    _audit_job(
        conn,
        row,
        "outbox.job_retried",
        now=now,
        actor_id=actor_id,
        actor_role=actor_role,
        unit_id=unit_id,
        dead_at=row.dead_at.isoformat(),
        was_discarded=row.discarded_at is not None,
    )
    return {
        "id": job_id,
        "topic": row.topic,
        "key": row.key,
        "state": "pending",
        "available_at": now.isoformat(),
    }


def discard_dead_job(
    conn: Connection,
    job_id: int,
    *,
    reason: str,
    now: datetime,
    actor_id: str,
    actor_role: str,
    unit_id: str | None,
) -> dict[str, Any]:
    """Leave a dead job dead for good, recording who, when and why. Audited."""
    why = " ".join(reason.split())
    if not REASON_MIN <= len(why) <= REASON_MAX:
        raise InvalidInput(
            "outbox.reason_required",
            f"Cần ghi lý do bỏ công việc nền ({REASON_MIN}–{REASON_MAX} ký tự).",
            field="reason",
        )
    row = _dead_job(conn, job_id)
    if row.discarded_at is not None:
        raise Conflict(
            "outbox.already_discarded",
            f"Công việc nền số {job_id} đã được {row.discarded_by} bỏ lúc {row.discarded_at.isoformat()}.",
        )
    conn.execute(
        update(outbox)
        .where(outbox.c.id == job_id)
        .values(discarded_at=now, discarded_by=actor_id[:64], discard_reason=why)
    )
    _audit_job(
        conn,
        row,
        "outbox.job_discarded",
        now=now,
        actor_id=actor_id,
        actor_role=actor_role,
        unit_id=unit_id,
        reason=why,
    )
    return {"id": job_id, "topic": row.topic, "key": row.key, "state": "dead", "discarded": True}


# The city administrator's use cases (API and pages): authorised here, one transaction each.


def admin_overview(
    rt: Runtime,
    actor: Actor,
    *,
    state: str | None = "dead",
    topic: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    require_city_admin(actor)
    topic = (topic or "").strip()[:64] or None
    with rt.db.read() as conn:
        items = list_jobs(conn, state=state, topic=topic, limit=limit, offset=offset)
        counts = job_counts(conn)
        health = outbox_health(conn, now=rt.clock.now())
    return {
        "items": items,
        "counts": counts,
        "health": health,
        "state": state,
        "topic": topic,
        "limit": limit,
        "offset": offset,
    }


def admin_retry(rt: Runtime, actor: Actor, job_id: int) -> dict[str, Any]:
    require_city_admin(actor)
    with rt.db.transaction() as conn:
        return retry_dead_job(
            conn,
            job_id,
            now=rt.clock.now(),
            actor_id=actor.id,
            actor_role=Role.CITY_ADMIN.value,
            unit_id=actor.unit_id,
        )


def admin_discard(rt: Runtime, actor: Actor, job_id: int, reason: str) -> dict[str, Any]:
    require_city_admin(actor)
    with rt.db.transaction() as conn:
        return discard_dead_job(
            conn,
            job_id,
            reason=reason,
            now=rt.clock.now(),
            actor_id=actor.id,
            actor_role=Role.CITY_ADMIN.value,
            unit_id=actor.unit_id,
        )
