"""city online overrides

Revision ID: d94d081a352f
Revises: 870e377fecd8
Create Date: 2026-11-24 02:03:31.420259+07:00

The city administrator's online-level decisions (officer workspace, /mot-cua/quan-tri/thu-tuc), kept so that
reloading the city layer from its data file does not undo them (`services.admin.reapply_online_overrides`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store.schema.base import Instant

# revision identifiers, used by Alembic.
revision: str = "d94d081a352f"
down_revision: str | Sequence[str] | None = "870e377fecd8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "city_online_overrides",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("online", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", Instant(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_city_online_overrides")),
    )


def downgrade() -> None:
    op.drop_table("city_online_overrides")
