"""reorganizations: the plans applied, the units they touched, the competent units they set

Revision ID: f0a5b2c8d1e9
Revises: d8e3f0b2a5c6
Create Date: 2026-12-06 10:00:00+07:00

Reorganisation plans are data (`motcua reorganize check|apply PLAN`, decision 0010). A plan is applied once:
its id and SHA-256 are kept with a summary of what it stored and moved. The units it touched are listed so
that `motcua db setup` (which reloads the registry from its data files) does not reopen or revert them, and
the competent units it set for procedures are kept so that reloading the city layer does not undo them.
Three new tables, no change to existing ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from motcua.store.schema.base import Instant

# revision identifiers, used by Alembic.
revision: str = "f0a5b2c8d1e9"
down_revision: str | Sequence[str] | None = "d8e3f0b2a5c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reorganizations",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("applied_at", Instant(), nullable=False),
        sa.Column("applied_by", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reorganizations")),
    )
    op.create_table(
        "reorganization_units",
        sa.Column("plan_id", sa.String(length=120), nullable=False),
        sa.Column("unit_id", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "unit_id", name="pk_reorganization_units"),
    )
    op.create_table(
        "city_competent_overrides",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("competent", sa.String(length=120), nullable=False),
        sa.Column("plan_id", sa.String(length=120), nullable=False),
        sa.Column("set_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_city_competent_overrides")),
    )


def downgrade() -> None:
    op.drop_table("city_competent_overrides")
    op.drop_table("reorganization_units")
    op.drop_table("reorganizations")
