"""A one-row table whose token database triggers renew on every write of the tables it watches.

Each process caches what it reads of slowly changing reference data (the unit registry, the procedure catalog)
together with the token it was read under, and compares tokens instead of re-reading the data. The triggers
fire whoever writes (a service, a data load, a manual fix in SQL), so no write path can forget them. Random
rather than a counter: a change made and rolled back never produces a token that a later, different change
reuses. PostgreSQL: one trigger per statement (an executemany or an import of thousands of rows renews the
token once per statement); SQLite, which has no statement triggers: a row trigger per operation.

The Alembic revisions that install a token (b2f75ea2c4d1, a8c3e1f5d7b9) hold frozen copies of this DDL.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, event, text

from motcua.store.schema.base import metadata

SQLITE_NEW_TOKEN = "lower(hex(randomblob(16)))"
PG_NEW_TOKEN = "md5(random()::text || clock_timestamp()::text)"


def version_token_table(name: str, *, function: str, watched: tuple[Table, ...]) -> Table:
    """The token table `name` (one row, id 1, created with a first token) and the triggers on each of
    `watched` that renew it; `function` names the PostgreSQL trigger function."""
    table = Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("token", String(32), nullable=False),
    )
    upsert = f"INSERT INTO {name} (id, token) VALUES (1, {{new}}) ON CONFLICT (id) DO UPDATE SET token = excluded.token"

    def install_triggers(target: Table, connection: Connection, **_: Any) -> None:
        """After `create_all` made a watched table (the trigger bodies are resolved when they run)."""
        dialect = connection.dialect.name
        if dialect == "sqlite":
            for operation in ("INSERT", "UPDATE", "DELETE"):
                connection.execute(
                    text(
                        f"CREATE TRIGGER tr_{target.name}_{name}_{operation.lower()} AFTER {operation} "
                        f"ON {target.name} BEGIN {upsert.format(new=SQLITE_NEW_TOKEN)}; END"
                    )
                )
        elif dialect == "postgresql":
            connection.execute(
                text(
                    f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"{upsert.format(new=PG_NEW_TOKEN)}; RETURN NULL; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER tr_{target.name}_{name} AFTER INSERT OR UPDATE OR DELETE ON {target.name} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                )
            )

    def first_token(target: Table, connection: Connection, **_: Any) -> None:
        connection.execute(table.insert().values(id=1, token=secrets.token_hex(16)))

    for watched_table in watched:
        event.listen(watched_table, "after_create", install_triggers)
    event.listen(table, "after_create", first_token)
    return table
