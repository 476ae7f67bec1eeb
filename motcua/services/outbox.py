"""The transactional outbox: enqueue in the caller's transaction; `motcua worker` claims and runs jobs.

A job commits with the change that caused it, so no status change is lost when a downstream system (the
national portal) is down: the worker retries with exponential backoff until it succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from motcua.store.schema.outbox import outbox

MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Job:
    id: int
    topic: str
    key: str
    payload: Mapping[str, Any]
    attempts: int


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
    """Pending jobs of a topic, oldest first; on PostgreSQL locked rows are skipped so workers can run in parallel."""
    stmt = (
        select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload, outbox.c.attempts)
        .where(outbox.c.topic == topic, outbox.c.done_at.is_(None), outbox.c.available_at <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Job(r.id, r.topic, r.key, r.payload, r.attempts) for r in conn.execute(stmt)]


def mark_done(conn: Connection, job: Job, *, now: datetime) -> None:
    conn.execute(update(outbox).where(outbox.c.id == job.id).values(done_at=now, attempts=job.attempts + 1))


def mark_failed(conn: Connection, job: Job, *, now: datetime, error: str) -> None:
    delay = min(timedelta(seconds=2 ** min(job.attempts, 12)), MAX_BACKOFF)
    conn.execute(
        update(outbox)
        .where(outbox.c.id == job.id)
        .values(attempts=job.attempts + 1, last_error=error[:2000], available_at=now + delay)
    )


Handler = Callable[[Job], None]


def run_once(db: Any, handlers: Mapping[str, Handler], *, now: datetime, limit: int = 50) -> int:
    """Claim and run one batch per topic; each job's outcome is committed with its claim. Returns jobs done."""
    done = 0
    for topic, handler in handlers.items():
        with db.transaction() as conn:
            for job in claim(conn, topic=topic, now=now, limit=limit):
                try:
                    handler(job)
                except Exception as exc:  # any failure of a downstream system: retry later
                    mark_failed(conn, job, now=now, error=f"{type(exc).__name__}: {exc}")
                else:
                    mark_done(conn, job, now=now)
                    done += 1
    return done
