"""A token that changes whenever the procedure catalog changes, so each process can cache what it reads of it.

`catalog_version` holds one row (id 1) whose `token` is set to a new random value by database triggers on every
INSERT, UPDATE or DELETE of `procedures` or `city_procedures` — whoever writes them (the national import, the
city layer load, the city administrator's online-level changes, a manual fix in SQL). A random token rather
than a counter: a change made and rolled back never produces a token that a later, different change reuses.
Readers compare the token in their own transaction with the token their cache was built under
(`motcua.services.catalog.catalog_snapshot`), so a committed change shows at once in every process.

The same DDL is in the Alembic revision b2f75ea2c4d1 (migrations are frozen copies; keep both in step).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, event, text

from motcua.store.schema.base import metadata
from motcua.store.schema.catalog import city_procedures, procedures

catalog_version = Table(
    "catalog_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token", String(32), nullable=False),
)

SQLITE_NEW_TOKEN = "lower(hex(randomblob(16)))"
PG_NEW_TOKEN = "md5(random()::text || clock_timestamp()::text)"


def sqlite_trigger_ddl(table: str, operation: str) -> str:
    """A row trigger (SQLite has no statement triggers) that upserts a fresh token."""
    return (
        f"CREATE TRIGGER tr_{table}_catalog_version_{operation.lower()} AFTER {operation} ON {table} "
        f"BEGIN INSERT INTO catalog_version (id, token) VALUES (1, {SQLITE_NEW_TOKEN}) "
        "ON CONFLICT (id) DO UPDATE SET token = excluded.token; END"
    )


PG_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"INSERT INTO catalog_version (id, token) VALUES (1, {PG_NEW_TOKEN}) "
    "ON CONFLICT (id) DO UPDATE SET token = excluded.token; RETURN NULL; END $$"
)


def pg_trigger_ddl(table: str) -> str:
    """One trigger per statement (an import of thousands of rows changes the token once)."""
    return (
        f"CREATE TRIGGER tr_{table}_catalog_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION motcua_catalog_changed()"
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
    connection.execute(catalog_version.insert().values(id=1, token=secrets.token_hex(16)))


for _watched in (procedures, city_procedures):
    event.listen(_watched, "after_create", _install_triggers)
event.listen(catalog_version, "after_create", _first_token)
