"""The transactional outbox: work that must happen after a commit (sync to the national portal, notifications)
is written in the same transaction as the change that causes it, then done by `motcua worker`.

A job is pending (`done_at` and `dead_at` unset), done (`done_at`), or dead (`dead_at`: the worker gave up after
the topic's `max_attempts`, or at once on a permanent error; `last_error` says why). A dead job is never
claimed again; the city administrator retries it (pending again) or discards it (`discarded_*`: who, when,
why — it stays dead). Decision 0009.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, and_

from motcua.store.schema.base import Instant, json_type, metadata

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("payload", json_type(), nullable=False),
    Column("created_at", Instant(), nullable=False),
    Column("available_at", Instant(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("done_at", Instant()),
    Column("dead_at", Instant()),
    Column("discarded_at", Instant()),
    Column("discarded_by", String(64)),
    Column("discard_reason", Text),
)
# The jobs not done — the claimable ones and the few dead ones (every query of outstanding work asks `done_at IS
# NULL`, `claim` adds `dead_at IS NULL`): a done job leaves the index, which stays as small as the backlog
# instead of growing with every job ever queued (revision f3b8d1e6a4c7). Ordered by (topic, id), the order
# `claim` takes them in: its first rows are the index's first entries, where (topic, available_at) left the
# planner a walk of the primary key past every done job (≈ 0.2 s per claim at a million done jobs; revision
# e9f4a1c3b7d8).
PENDING = and_(outbox.c.done_at.is_(None), outbox.c.dead_at.is_(None))
UNDONE = outbox.c.done_at.is_(None)
Index("ix_outbox_pending", outbox.c.topic, outbox.c.id, sqlite_where=UNDONE, postgresql_where=UNDONE)
# Only the dead jobs (few): the administrator's list and the health counts read them without a scan.
DEAD = outbox.c.dead_at.is_not(None)
Index("ix_outbox_dead", outbox.c.topic, outbox.c.id, sqlite_where=DEAD, postgresql_where=DEAD)
