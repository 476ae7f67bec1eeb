"""Schema changes a city can take while it works: helpers for Alembic revisions (decision 0011).

`motcua.store.migrate.upgrade` runs each revision in its own transaction (`transaction_per_migration`). On
PostgreSQL a revision must hold a lock that blocks writes to a table that grows with dossiers only for a moment
(a catalog change: a nullable column, a trigger, an index swap), never for an index build or a backfill:

- `create_index(name, table, columns, where=...)` for EVERY index on an existing table: on PostgreSQL
  `CREATE INDEX CONCURRENTLY` outside the revision's transaction (Alembic's `autocommit_block`; the work done
  so far in the revision is committed first). Idempotent: a valid index of that name is kept; an INVALID one
  (a concurrent build killed or failed) is dropped and built again. SQLite: a plain CREATE INDEX in the
  revision's transaction (a commune's database is small and has one writer).
- `replace_index(...)`: the same for an index whose definition changes under the same name: the new one is
  built concurrently as `<name>__new`, then swapped in (DROP + RENAME, a moment) in the revision's transaction.
- `backfill(name, statement)`: fill a new table from `dossiers` in id ranges, each its own short transaction.
  Create the triggers that keep the table FIRST (in the revision's transaction, which the backfill commits),
  so that every write after that keeps the table; the statement must not overwrite what a trigger wrote
  meanwhile (`ON CONFLICT DO NOTHING`: a trigger's row is never older than the batch's snapshot).
  Resumable: a backfill killed halfway continues after its last committed batch when run again.

Everything a revision does before these calls is committed by them: it must be safe to run again (IF NOT
EXISTS, CREATE OR REPLACE, DROP TRIGGER IF EXISTS before CREATE TRIGGER), because a revision killed halfway
is run again from its start by the next `upgrade` (its version is stamped only when it ends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

BATCH_ROWS = 10_000
"""Dossier ids per backfill batch: ≈ 0.2 s of work on the benchmark machine (a writer that touches a row the
batch is writing waits for that much at most)."""

_DEADLOCK_RETRIES = 5

between_batches: Callable[[str, int], None] | None = None
"""Tests only: called with (backfill name, last id done) after each committed batch, and with
(`"index:<name>"`, 0) just before a concurrent index build starts."""


def _is_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _index_valid(name: str) -> bool | None:
    """True/False: an index `name` exists in the current schema and is valid/INVALID; None: there is none."""
    row = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE c.relname = :name AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"name": name},
        )
        .first()
    )
    return None if row is None else bool(row[0])


def _build_concurrently(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    where: Any,
    unique: bool,
    maintenance_work_mem: str | None,
    **postgresql_kw: Any,
) -> None:
    """Inside an autocommit block: build `name` unless a valid one exists (an INVALID one is rebuilt)."""
    valid = _index_valid(name)
    if valid:
        return
    if valid is False:  # left by an interrupted concurrent build
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    if between_batches is not None:
        between_batches(f"index:{name}", 0)
    if maintenance_work_mem:
        op.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
    try:
        op.create_index(
            name,
            table,
            list(columns),
            unique=unique,
            postgresql_where=where,
            postgresql_concurrently=True,
            **postgresql_kw,
        )
    finally:
        if maintenance_work_mem:
            op.execute("RESET maintenance_work_mem")


def create_index(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    where: Any = None,
    unique: bool = False,
    maintenance_work_mem: str | None = None,
    **postgresql_kw: Any,
) -> None:
    """Create index `name` on `table` without blocking its writers (PostgreSQL), idempotently.

    `where`: the partial index's predicate (both databases). `postgresql_kw`: `postgresql_using`,
    `postgresql_ops`, `postgresql_include` … as for `op.create_index`. `maintenance_work_mem`: for the build
    only (PostgreSQL), e.g. '512MB' so that a big sort stays in memory.
    """
    if not _is_postgresql():
        op.create_index(name, table, list(columns), unique=unique, sqlite_where=where)
        return
    with op.get_context().autocommit_block():
        _build_concurrently(
            name,
            table,
            columns,
            where=where,
            unique=unique,
            maintenance_work_mem=maintenance_work_mem,
            **postgresql_kw,
        )


def replace_index(
    name: str, table: str, columns: Sequence[str], *, where: Any = None, unique: bool = False
) -> None:
    """Give index `name` a new definition: built concurrently as `<name>__new`, then swapped in a moment.

    The swap (DROP INDEX + ALTER INDEX RENAME, an exclusive lock on `table` for milliseconds) is in the
    revision's transaction, which commits at the revision's end or at the next helper call: follow it with
    catalog changes only. Run again after a kill, it builds and swaps again (same result).
    """
    if not _is_postgresql():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, list(columns), unique=unique, sqlite_where=where)
        return
    new = f"{name}__new"
    with op.get_context().autocommit_block():
        _build_concurrently(new, table, columns, where=where, unique=unique, maintenance_work_mem=None)
    op.drop_index(name, table_name=table, if_exists=True)
    op.execute(f"ALTER INDEX {new} RENAME TO {name}")


# Where a backfill killed halfway had got to: one row per backfill in progress, in a table that exists only
# while one is (created by the first batch, dropped by the end of the backfill — so a finished upgrade leaves
# no trace and the schema matches the tables' definitions).
_PROGRESS = "motcua_backfill_progress"


def backfill(name: str, statement: str, *, batch_rows: int | None = None) -> None:
    """PostgreSQL: run `statement` for every range of dossier ids, each range its own transaction.

    `statement` reads `dossiers` with `WHERE <alias>.id > :low AND <alias>.id <= :high` and writes with
    `ON CONFLICT DO NOTHING` (or anything else that keeps a row a trigger wrote meanwhile). Rows past the
    highest id at the start are new dossiers: the triggers, created before, have written theirs.

    Resumable: after each batch the last id done is recorded under `name`, and a run killed halfway resumes
    after it (a kill between a batch and its record does that batch again: the statement is idempotent). The
    triggers were committed before the first batch, so every dossier written since then keeps the table.
    """
    rows = batch_rows or BATCH_ROWS
    text = sa.text(statement)
    with op.get_context().autocommit_block():
        bind = op.get_bind()
        bind.execute(
            sa.text(f"CREATE TABLE IF NOT EXISTS {_PROGRESS} (name text PRIMARY KEY, done bigint NOT NULL)")
        )
        low, high = bind.execute(sa.text("SELECT min(id) - 1, max(id) FROM dossiers")).one()
        done = bind.execute(
            sa.text(f"SELECT done FROM {_PROGRESS} WHERE name = :name"), {"name": name}
        ).scalar()
        if done is not None and low is not None:
            low = max(low, done)
        while high is not None and low < high:
            upper = min(low + rows, high)
            for attempt in range(_DEADLOCK_RETRIES + 1):
                try:  # autocommit: one statement, one transaction
                    bind.execute(text, {"low": low, "high": upper})
                    break
                except sa.exc.DBAPIError as error:
                    # A writer's transaction that wrote rows of several dossiers of this range in another order
                    # than the batch: PostgreSQL cancels one of the two; if it is the batch, do it again.
                    if getattr(error.orig, "sqlstate", None) != "40P01" or attempt == _DEADLOCK_RETRIES:
                        raise
            bind.execute(
                sa.text(
                    f"INSERT INTO {_PROGRESS} (name, done) VALUES (:name, :done) "
                    "ON CONFLICT (name) DO UPDATE SET done = excluded.done"
                ),
                {"name": name, "done": upper},
            )
            low = upper
            if between_batches is not None:
                between_batches(name, low)
        bind.execute(sa.text(f"DELETE FROM {_PROGRESS} WHERE name = :name"), {"name": name})
        if bind.execute(sa.text(f"SELECT count(*) FROM {_PROGRESS}")).scalar() == 0:
            bind.execute(sa.text(f"DROP TABLE {_PROGRESS}"))
