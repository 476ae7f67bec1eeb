"""an index for lists ordered by legal deadline

Revision ID: a1c0de5e55a1
Revises: d94d081a352f
Create Date: 2026-12-05 15:00:00+07:00

The city-wide monitor's list (and any list without a narrower filter) is ordered by due date then id; at 10
million dossiers sorting the whole table took seconds (bench/README.md, queries). With `ORDER BY due_at NULLS
LAST, id` this index serves the first page by an index scan.
"""

from collections.abc import Sequence

from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "a1c0de5e55a1"
down_revision: str | Sequence[str] | None = "d94d081a352f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index("ix_dossiers_due_id", "dossiers", ["due_at", "id"])  # CONCURRENTLY (decision 0011)


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_due_id")
