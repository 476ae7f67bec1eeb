"""The append-only, hash-chained audit log and the heads of its K parallel chains (see domain/audit.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, UniqueConstraint

from motcua.store.schema.base import Instant, json_type, metadata

# One row per chain, created with the log: K = the number of rows. Each append locks its chain's row.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("chain", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", Instant(), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(80), nullable=False),
    Column("unit_id", String(80)),
    Column("data", json_type(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("chain", "seq", name="uq_audit_log_chain_seq"),
)
Index("ix_audit_log_object", audit_log.c.object_type, audit_log.c.object_id)
