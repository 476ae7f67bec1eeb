"""a partial index for the officers' open queues

Revision ID: e5a7c3f1b9d2
Revises: b2f75ea2c4d1
Create Date: 2026-12-05 23:20:00+07:00

A unit's open queue and an officer's "mine" queue sort every open dossier of the unit for their first page;
each one's row was read for its sort keys (a page each: the rows hold the state JSON), ≈ 2,500 rows and 3–5 ms
per page view on a 100k-dossier commune (bench/README.md, SQLite commune). This index holds only the open
dossiers (statuses 1, 2, 4, 5, 6, 9: a few % of the rows) with the columns the queues filter and sort on, so
the page is sorted within the index and only its 20 rows are read; the count is index-only too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "e5a7c3f1b9d2"
down_revision: str | Sequence[str] | None = "b2f75ea2c4d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = (1, 2, 4, 5, 6, 9)  # copied, not imported: a revision must not change when the code does
_COLUMNS = [
    "status",
    "receiving_unit_id",
    "competent_unit_id",
    "step_unit_id",
    "assignee_id",
    "workflow_id",
    "workflow_version",
    "step",
    "due_at",
    "step_due_at",
    "submitted_at",
]


def upgrade() -> None:
    where = sa.column("status").in_(_OPEN)
    online.create_index("ix_dossiers_open_queue", "dossiers", _COLUMNS, where=where)  # CONCURRENTLY (0011)


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_open_queue")
