"""The procedures each unit has (or had) dossiers of: the choices of an officer queue's procedure filter.

`unit_procedures` holds every (unit, procedure code, procedure name) for which some dossier has or had that
unit as its receiving, competent or step unit. Database triggers on `dossiers` keep it, whoever writes the
dossiers (the lifecycle, `motcua import dossiers` and its COPY, the benchmark generator, a fix in SQL):
- after an INSERT, the pairs of the new rows' three unit columns (PostgreSQL: once per statement, from its
  transition table — one set-based insert for a COPY of thousands of rows; SQLite: per row);
- after an UPDATE that changes a unit column (or the procedure), the pairs of the columns that changed (a row
  trigger whose WHEN clause skips, without a function call, the actions that keep the units — most of them;
  on PostgreSQL one trigger shared with `dossier_search`, `tr_dossiers_update`, since revision a3c9e5f7b1d2).
Rows are only ever added (`ON CONFLICT DO NOTHING` / `INSERT OR IGNORE`), never removed: the table is a
SUPERSET of the pairs over the units' current dossiers. A dossier that moved on to another unit keeps its
former units' pairs, so a unit's filter may offer a procedure whose dossiers have all left it; choosing it
then lists no dossier (acceptable: the filter is a list of choices, not a count). Without moves (and without
dossiers deleted) it is exactly `SELECT DISTINCT` over the unit's scope.

What the triggers cost (PostgreSQL 15, backend CPU, measured at 200k dossiers, alternated with the triggers
dropped): a one-row INSERT +12 µs (a statement or a row trigger alike), an UPDATE that keeps the units +7 µs
(PostgreSQL fetches the old row to evaluate the WHEN clause), a 20,000-row INSERT … SELECT +5.5 µs per row
with the statement trigger against +11 µs with a row trigger: hence the statement trigger for INSERT. A
lifecycle (a submission and five actions) ≈ 50 µs of its ≈ 5 ms of PostgreSQL CPU.

Read by `motcua.services.workspace._procedures_of`: one unit's list is a range of the primary key, which is
ordered as the filter shows it (name, then code), read from the index alone; the city-wide list is the
(name, code) index read in order with duplicates skipped.

The same DDL is in the Alembic revisions c7d2e9a1f4b3 and a3c9e5f7b1d2 (migrations are frozen copies; keep
both in step).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Index, PrimaryKeyConstraint, String, Table, Text, event, text

from motcua.store.schema.base import metadata
from motcua.store.schema.dossiers import dossiers

unit_procedures = Table(
    "unit_procedures",
    metadata,
    Column("unit_id", String(80), nullable=False),
    Column("procedure_name", Text, nullable=False),
    Column("procedure_code", String(16), nullable=False),
    PrimaryKeyConstraint("unit_id", "procedure_name", "procedure_code", name="pk_unit_procedures"),
    sqlite_with_rowid=False,
)
Index("ix_unit_procedures_name_code", unit_procedures.c.procedure_name, unit_procedures.c.procedure_code)

UNIT_COLUMNS = ("receiving_unit_id", "competent_unit_id", "step_unit_id")
_WATCHED = (*UNIT_COLUMNS, "procedure_code", "procedure_name")
_PROCEDURE_CHANGED = " OR ".join(
    f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in ("procedure_code", "procedure_name")
)

# ---- PostgreSQL: a statement trigger for INSERT (transition table), a row trigger with WHEN for UPDATE.
# The pairs are inserted in key order, so two transactions adding the same new pairs wait on each other in
# the same order (no deadlock).
PG_INSERTED_FUNCTION_DDL = (
    "CREATE OR REPLACE FUNCTION motcua_unit_procedures_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) "
    "SELECT DISTINCT u.unit_id, n.procedure_name, n.procedure_code FROM new_dossiers n "
    "CROSS JOIN LATERAL (VALUES (n.receiving_unit_id), (n.competent_unit_id), (n.step_unit_id)) AS u (unit_id) "
    "ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING; RETURN NULL; END $$"
)
PG_INSERTED_TRIGGER_DDL = (
    "CREATE TRIGGER tr_dossiers_unit_procedures_insert AFTER INSERT ON dossiers "
    "REFERENCING NEW TABLE AS new_dossiers FOR EACH STATEMENT EXECUTE FUNCTION motcua_unit_procedures_inserted()"
)
# The UPDATE side on PostgreSQL is a part of ONE row trigger on `dossiers` shared with `dossier_search`
# (`dossier_search.PG_UPDATED_FUNCTION_DDL`, revision a3c9e5f7b1d2): two row triggers with WHEN clauses cost
# each action that sets a unit column ≈ 6–9 µs of backend CPU more than one (PostgreSQL prepares and evaluates
# each trigger's WHEN clause per statement), measured. Its condition and statement are these:
PG_MOVED_CONDITION = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _WATCHED)
PG_MOVED_STATEMENT = (
    "INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) "
    "SELECT DISTINCT u.unit_id, NEW.procedure_name, NEW.procedure_code FROM (VALUES "
    "(NEW.receiving_unit_id, OLD.receiving_unit_id), (NEW.competent_unit_id, OLD.competent_unit_id), "
    "(NEW.step_unit_id, OLD.step_unit_id)) AS u (unit_id, was) "
    f"WHERE u.unit_id IS DISTINCT FROM u.was OR {_PROCEDURE_CHANGED} "
    "ORDER BY 1 ON CONFLICT DO NOTHING"
)
WATCHED = _WATCHED

# ---- SQLite: row triggers only.
SQLITE_INSERTED_TRIGGER_DDL = (
    "CREATE TRIGGER tr_dossiers_unit_procedures_insert AFTER INSERT ON dossiers BEGIN "
    "INSERT OR IGNORE INTO unit_procedures (unit_id, procedure_name, procedure_code) VALUES "
    + ", ".join(f"(NEW.{c}, NEW.procedure_name, NEW.procedure_code)" for c in UNIT_COLUMNS)
    + "; END"
)
SQLITE_MOVED_TRIGGER_DDL = (
    f"CREATE TRIGGER tr_dossiers_unit_procedures_update AFTER UPDATE OF {', '.join(_WATCHED)} ON dossiers "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in _WATCHED)} BEGIN "
    + " ".join(
        "INSERT OR IGNORE INTO unit_procedures (unit_id, procedure_name, procedure_code) "
        f"SELECT NEW.{c}, NEW.procedure_name, NEW.procedure_code WHERE NEW.{c} IS NOT OLD.{c} "
        "OR NEW.procedure_code IS NOT OLD.procedure_code OR NEW.procedure_name IS NOT OLD.procedure_name;"
        for c in UNIT_COLUMNS
    )
    + " END"
)


def trigger_ddl(dialect: str) -> tuple[str, ...]:
    """The statements that create the triggers (and their functions) on `dialect`; none elsewhere."""
    if dialect == "sqlite":
        return (SQLITE_INSERTED_TRIGGER_DDL, SQLITE_MOVED_TRIGGER_DDL)
    if dialect == "postgresql":
        return (PG_INSERTED_FUNCTION_DDL, PG_INSERTED_TRIGGER_DDL)  # UPDATE: dossier_search's shared trigger
    return ()


def _install_triggers(target: Table, connection: Connection, **_: Any) -> None:
    """After `create_all` made `dossiers` (the trigger bodies name `unit_procedures`, resolved when they run)."""
    for statement in trigger_ddl(connection.dialect.name):
        connection.execute(text(statement))


event.listen(dossiers, "after_create", _install_triggers)
