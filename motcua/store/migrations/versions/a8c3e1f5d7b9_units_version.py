"""a units version token, so every process sees a reorganisation at once

Revision ID: a8c3e1f5d7b9
Revises: c4e8a2f6d0b7
Create Date: 2026-12-06 13:10:00+07:00

Each server process kept the day's unit directory for 60 s, so after a reorganisation plan was applied by
another process a stale one could still file a dossier at a closed unit (decision 0010). `units_version` holds
one row whose token triggers renew on every INSERT, UPDATE or DELETE of `units` or `unit_lineage`; each process
keys its cached directory by it, and the lifecycle's writes read it in the statement that writes the dossier.
The DDL is the same as in `motcua/store/schema/units_version.py` (copied here: a revision must not change when
the code does).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a8c3e1f5d7b9"
down_revision: str | Sequence[str] | None = "c4e8a2f6d0b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("units", "unit_lineage")
_OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "units_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units_version")),
    )
    op.execute(
        sa.text("INSERT INTO units_version (id, token) VALUES (1, :token)").bindparams(
            token=secrets.token_hex(16)
        )
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _TABLES:
            for operation in _OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER tr_{table}_units_version_{operation.lower()} AFTER {operation} "
                    f"ON {table} BEGIN INSERT INTO units_version (id, token) "
                    "VALUES (1, lower(hex(randomblob(16)))) "
                    "ON CONFLICT (id) DO UPDATE SET token = excluded.token; END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION motcua_units_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO units_version (id, token) "
            "VALUES (1, md5(random()::text || clock_timestamp()::text)) "
            "ON CONFLICT (id) DO UPDATE SET token = excluded.token; RETURN NULL; END $$"
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER tr_{table}_units_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION motcua_units_changed()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _TABLES:
            for operation in _OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_units_version_{operation.lower()}")
    elif dialect == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_units_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS motcua_units_changed()")
    op.drop_table("units_version")
