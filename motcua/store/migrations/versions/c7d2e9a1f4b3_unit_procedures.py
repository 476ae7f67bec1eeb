"""the procedures of each unit, kept by triggers, for the officer queue's procedure filter

Revision ID: c7d2e9a1f4b3
Revises: e9f4a1c3b7d8
Create Date: 2026-12-06 10:00:00+07:00

An officer queue's procedure filter listed `SELECT DISTINCT procedure_code, procedure_name FROM dossiers`
over the unit's every dossier (359 ms per unit at 10 million dossiers, many seconds city-wide). It now reads
`unit_procedures`: every (unit, procedure) pair for which some dossier has or had that unit as its receiving,
competent or step unit — a superset of the DISTINCT (a dossier that moved on keeps its former unit's pair).
Triggers on `dossiers` keep it (PostgreSQL: a statement trigger on INSERT reading the transition table, a row
trigger with a WHEN clause on UPDATE of the unit columns; SQLite: row triggers). The DDL is the same as in
`motcua/store/schema/unit_procedures.py` (copied here: a revision must not change when the code does).

The upgrade creates the table and the triggers, then fills the table from the dossiers: each distinct
(receiving, competent, step, procedure) first, then its three units (38 % less CPU than unnesting every row:
0.28 instead of 0.45 s of backend CPU at 200k dossiers); on SQLite a UNION of three scans, in the revision's
transaction. PostgreSQL (decision 0011): the table and triggers are committed first (a moment's lock on
`dossiers`), so every write after that keeps the table; then the old dossiers are read by ranges of ids, each
range its own short transaction (`ON CONFLICT DO NOTHING`: the pairs are a set, a trigger's pair is kept).
Writers never wait for the backfill; killed halfway, the next upgrade runs it again from the start.
Measured on the benchmark machine (PostgreSQL 15, 2 shared cores, warm cache), one statement: 200k dossiers
(a 386 MB heap) 0.3–0.6 s; at 10 million expect ≈ 15 s of CPU plus one read of the ≈ 19 GB heap.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "c7d2e9a1f4b3"
down_revision: str | Sequence[str] | None = "e9f4a1c3b7d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNITS = ("receiving_unit_id", "competent_unit_id", "step_unit_id")
_WATCHED = (*_UNITS, "procedure_code", "procedure_name")
_PROCEDURE_CHANGED = " OR ".join(
    f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in ("procedure_code", "procedure_name")
)

_PG = (
    "CREATE OR REPLACE FUNCTION motcua_unit_procedures_inserted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) "
    "SELECT DISTINCT u.unit_id, n.procedure_name, n.procedure_code FROM new_dossiers n "
    "CROSS JOIN LATERAL (VALUES (n.receiving_unit_id), (n.competent_unit_id), (n.step_unit_id)) AS u (unit_id) "
    "ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "CREATE TRIGGER tr_dossiers_unit_procedures_insert AFTER INSERT ON dossiers "
    "REFERENCING NEW TABLE AS new_dossiers FOR EACH STATEMENT EXECUTE FUNCTION motcua_unit_procedures_inserted()",
    "CREATE OR REPLACE FUNCTION motcua_unit_procedures_moved() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) "
    "SELECT DISTINCT u.unit_id, NEW.procedure_name, NEW.procedure_code FROM (VALUES "
    "(NEW.receiving_unit_id, OLD.receiving_unit_id), (NEW.competent_unit_id, OLD.competent_unit_id), "
    "(NEW.step_unit_id, OLD.step_unit_id)) AS u (unit_id, was) "
    f"WHERE u.unit_id IS DISTINCT FROM u.was OR {_PROCEDURE_CHANGED} "
    "ORDER BY 1 ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    f"CREATE TRIGGER tr_dossiers_unit_procedures_update AFTER UPDATE OF {', '.join(_WATCHED)} ON dossiers "
    f"FOR EACH ROW WHEN ({' OR '.join(f'OLD.{c} IS DISTINCT FROM NEW.{c}' for c in _WATCHED)}) "
    "EXECUTE FUNCTION motcua_unit_procedures_moved()",
)
_SQLITE = (
    "CREATE TRIGGER tr_dossiers_unit_procedures_insert AFTER INSERT ON dossiers BEGIN "
    "INSERT OR IGNORE INTO unit_procedures (unit_id, procedure_name, procedure_code) VALUES "
    + ", ".join(f"(NEW.{c}, NEW.procedure_name, NEW.procedure_code)" for c in _UNITS)
    + "; END",
    f"CREATE TRIGGER tr_dossiers_unit_procedures_update AFTER UPDATE OF {', '.join(_WATCHED)} ON dossiers "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in _WATCHED)} BEGIN "
    + " ".join(
        "INSERT OR IGNORE INTO unit_procedures (unit_id, procedure_name, procedure_code) "
        f"SELECT NEW.{c}, NEW.procedure_name, NEW.procedure_code WHERE NEW.{c} IS NOT OLD.{c} "
        "OR NEW.procedure_code IS NOT OLD.procedure_code OR NEW.procedure_name IS NOT OLD.procedure_name;"
        for c in _UNITS
    )
    + " END",
)

# PostgreSQL, online (decision 0011): the same per range of dossier ids, each range its own transaction, after the
# triggers: a pair a trigger wrote meanwhile is kept (the pairs are a set), in the triggers' order (no deadlock).
_PG_BACKFILL_BATCH = (
    "INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) "
    "SELECT DISTINCT u.unit_id, d.procedure_name, d.procedure_code FROM (SELECT DISTINCT receiving_unit_id, "
    "competent_unit_id, step_unit_id, procedure_name, procedure_code FROM dossiers "
    "WHERE id > :low AND id <= :high) AS d "
    "CROSS JOIN LATERAL (VALUES (d.receiving_unit_id), (d.competent_unit_id), (d.step_unit_id)) AS u (unit_id) "
    "ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING"
)
_SQLITE_BACKFILL = "INSERT INTO unit_procedures (unit_id, procedure_name, procedure_code) " + " UNION ".join(
    f"SELECT {c}, procedure_name, procedure_code FROM dossiers" for c in _UNITS
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    again = True if dialect == "postgresql" else None  # PostgreSQL: the revision may run again after a kill
    op.create_table(
        "unit_procedures",
        sa.Column("unit_id", sa.String(length=80), nullable=False),
        sa.Column("procedure_name", sa.Text(), nullable=False),
        sa.Column("procedure_code", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "unit_id", "procedure_name", "procedure_code", name=op.f("pk_unit_procedures")
        ),
        sqlite_with_rowid=False,
        if_not_exists=again,
    )
    op.create_index(  # on the new, still empty table (created with it, in this transaction)
        "ix_unit_procedures_name_code",
        "unit_procedures",
        ["procedure_name", "procedure_code"],
        unique=False,
        if_not_exists=again,
    )
    if dialect == "postgresql":
        for trigger in ("tr_dossiers_unit_procedures_insert", "tr_dossiers_unit_procedures_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON dossiers")  # left by an interrupted run
        for statement in _PG:
            op.execute(statement)
        online.backfill("unit_procedures", _PG_BACKFILL_BATCH)  # commits the table and triggers first
    elif dialect == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        op.execute(_SQLITE_BACKFILL)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        "DROP TRIGGER IF EXISTS tr_dossiers_unit_procedures_update"
        + (" ON dossiers" if dialect == "postgresql" else "")
    )
    op.execute(
        "DROP TRIGGER IF EXISTS tr_dossiers_unit_procedures_insert"
        + (" ON dossiers" if dialect == "postgresql" else "")
    )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS motcua_unit_procedures_moved()")
        op.execute("DROP FUNCTION IF EXISTS motcua_unit_procedures_inserted()")
    op.drop_index("ix_unit_procedures_name_code", table_name="unit_procedures")
    op.drop_table("unit_procedures")
