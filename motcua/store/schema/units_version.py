"""A token that changes whenever the organisation registry changes, so each process can cache its unit directory.

`units_version` holds one row (id 1) whose `token` is set to a new random value by database triggers on every
INSERT, UPDATE or DELETE of `units` or `unit_lineage` — whoever writes them (a reorganisation plan, the registry
load of `motcua db setup`, a manual fix in SQL). Random rather than a counter, as `catalog_version`: a change
made and rolled back never produces a token that a later, different change reuses.

Readers (`motcua.services.runtime.Runtime.directory`) compare the token with the one their cached directory was
built under; the lifecycle's writes on PostgreSQL read it in the statement that writes the dossier
(`services/dossiers.py`, `_with_event_sql`), so a submission or an action computed on a directory that a
reorganisation has since replaced never commits (decision 0010).

The same DDL is in the Alembic revision a8c3e1f5d7b9 (migrations are frozen copies; keep both in step).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, event, text

from motcua.store.schema.base import metadata
from motcua.store.schema.units import unit_lineage, units

units_version = Table(
    "units_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token", String(32), nullable=False),
)

SQLITE_NEW_TOKEN = "lower(hex(randomblob(16)))"
PG_NEW_TOKEN = "md5(random()::text || clock_timestamp()::text)"


def sqlite_trigger_ddl(table: str, operation: str) -> str:
    """A row trigger (SQLite has no statement triggers) that upserts a fresh token."""
    return (
        f"CREATE TRIGGER tr_{table}_units_version_{operation.lower()} AFTER {operation} ON {table} "
        f"BEGIN INSERT INTO units_version (id, token) VALUES (1, {SQLITE_NEW_TOKEN}) "
        "ON CONFLICT (id) DO UPDATE SET token = excluded.token; END"
    )


PG_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_units_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO units_version (id, token) VALUES (1, {PG_NEW_TOKEN}) "
    "ON CONFLICT (id) DO UPDATE SET token = excluded.token; RETURN NULL; END $$"
)


def pg_trigger_ddl(table: str) -> str:
    """One trigger per statement (a plan's executemany changes the token once per statement)."""
    return (
        f"CREATE TRIGGER tr_{table}_units_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION motcua_units_changed()"
    )


def _install_triggers(target: Table, connection: Connection, **_: Any) -> None:
    """After `create_all` made a watched table (the trigger bodies are resolved when they run)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        for operation in ("INSERT", "UPDATE", "DELETE"):
            connection.execute(text(sqlite_trigger_ddl(target.name, operation)))
    elif dialect == "postgresql":
        connection.execute(text(PG_FUNCTION_DDL))
        connection.execute(text(pg_trigger_ddl(target.name)))


def _first_token(target: Table, connection: Connection, **_: Any) -> None:
    connection.execute(units_version.insert().values(id=1, token=secrets.token_hex(16)))


for _watched in (units, unit_lineage):
    event.listen(_watched, "after_create", _install_triggers)
event.listen(units_version, "after_create", _first_token)
