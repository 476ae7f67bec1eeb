"""People and their credentials: citizens, businesses, officers (unit + roles) and post-office agents."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, Text

from motcua.store.schema.base import Instant, json_type, metadata

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("full_name", Text, nullable=False),
    Column("personal_id", String(12)),
    Column("tax_code", String(14)),
    Column("unit_id", String(80)),
    Column("roles", json_type(), nullable=False),
    Column("email", Text),
    Column("phone", String(20)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Instant(), nullable=False),
)
Index("ix_users_unit", users.c.unit_id)
Index("ix_users_personal_id", users.c.personal_id)

api_tokens = Table(
    "api_tokens",
    metadata,
    # SHA-256 of the bearer token: a stolen database does not yield usable tokens.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("created_at", Instant(), nullable=False),
    Column("expires_at", Instant(), nullable=False),
    Column("revoked_at", Instant()),
)
Index("ix_api_tokens_user", api_tokens.c.user_id)
