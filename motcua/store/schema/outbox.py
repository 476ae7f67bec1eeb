"""The transactional outbox: work that must happen after a commit (sync to the national portal, notifications)
is written in the same transaction as the change that causes it, then done by `motcua worker`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

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
)
# Only the pending jobs (every query of pending work asks `done_at IS NULL`): a done job leaves the index, which
# stays as small as the backlog instead of growing with every job ever queued (revision f3b8d1e6a4c7).
Index(
    "ix_outbox_pending",
    outbox.c.topic,
    outbox.c.available_at,
    sqlite_where=outbox.c.done_at.is_(None),
    postgresql_where=outbox.c.done_at.is_(None),
)
