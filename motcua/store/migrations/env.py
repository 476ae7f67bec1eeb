"""Alembic environment: motcua's metadata on motcua's own engine (the same SQLite pragmas as the app).

Run through `motcua.store.migrate`, which passes an open connection (or a URL) in `config.attributes`.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import JSON, Connection
from sqlalchemy.dialects import postgresql

from motcua.store.db import database_url, make_engine
from motcua.store.schema import load_all
from motcua.store.schema.base import Instant

config = context.config
target_metadata = load_all()


def _url() -> str:
    return config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or database_url()


def _render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Spell motcua's column types so that revision files import what they use."""
    if kind != "type":
        return False
    if isinstance(item, Instant):
        autogen.imports.add("from motcua.store.schema.base import Instant")
        return "Instant()"
    if isinstance(item, JSON) and isinstance(item._variant_mapping.get("postgresql"), postgresql.JSONB):
        autogen.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # One transaction per revision, each stamped when it commits: a revision may commit early to build an
        # index concurrently or backfill in batches (motcua.store.online_migrations, decision 0011).
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as own_connection:  # Alembic begins a transaction per revision
            _run(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
