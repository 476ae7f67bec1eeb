"""indexes for the dossier lists

Revision ID: cc8f2becce29
Revises: 008b1646267e
Create Date: 2026-11-24 01:25:33.086001+07:00

An applicant's dossiers (applicant or filer), a unit's "all" queue (receiving, competent or step unit) and an
officer's "mine" queue were sequential scans of the whole dossier table (bench/README.md, hot queries).
"""

from collections.abc import Sequence

from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "cc8f2becce29"
down_revision: str | Sequence[str] | None = "008b1646267e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Built CONCURRENTLY on PostgreSQL, writers do not wait (decision 0011).
    online.create_index("ix_dossiers_assignee_status", "dossiers", ["assignee_id", "status"])
    online.create_index("ix_dossiers_competent_unit_status", "dossiers", ["competent_unit_id", "status"])
    online.create_index("ix_dossiers_submitted_by", "dossiers", ["submitted_by"])


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_submitted_by")
        batch_op.drop_index("ix_dossiers_competent_unit_status")
        batch_op.drop_index("ix_dossiers_assignee_status")
