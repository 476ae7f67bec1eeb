"""a catalog version token, for caching the catalog per process

Revision ID: b2f75ea2c4d1
Revises: a1c0de5e55a1
Create Date: 2026-12-05 15:30:00+07:00

The procedure search and the catalog page (`/thu-tuc`) read the whole current catalog (2,642 national
procedures and the city layer) on every request: an accent-folded `LIKE` scan, the fields and the life-event
counts (bench/README.md: 165 ms p99 on SQLite). Each process now keeps the current catalog in memory with an
index built for the search (`motcua.services.catalog.catalog_snapshot`), and checks per request that it is
still current: `catalog_version` holds one row whose token triggers renew on every INSERT, UPDATE or DELETE of
`procedures` or `city_procedures`, whoever writes them. The DDL is the same as in
`motcua/store/schema/catalog_version.py` (copied here: a revision must not change when the code does).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "b2f75ea2c4d1"
down_revision: str | Sequence[str] | None = "a1c0de5e55a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("procedures", "city_procedures")
_OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
    )
    op.execute(
        sa.text("INSERT INTO catalog_version (id, token) VALUES (1, :token)").bindparams(
            token=secrets.token_hex(16)
        )
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _TABLES:
            for operation in _OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER tr_{table}_catalog_version_{operation.lower()} AFTER {operation} "
                    f"ON {table} BEGIN INSERT INTO catalog_version (id, token) "
                    "VALUES (1, lower(hex(randomblob(16)))) "
                    "ON CONFLICT (id) DO UPDATE SET token = excluded.token; END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION motcua_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO catalog_version (id, token) "
            "VALUES (1, md5(random()::text || clock_timestamp()::text)) "
            "ON CONFLICT (id) DO UPDATE SET token = excluded.token; RETURN NULL; END $$"
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER tr_{table}_catalog_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION motcua_catalog_changed()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _TABLES:
            for operation in _OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_catalog_version_{operation.lower()}")
    elif dialect == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_catalog_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS motcua_catalog_changed()")
    op.drop_table("catalog_version")
