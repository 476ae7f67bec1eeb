"""the outbox's dead letters: a job that keeps failing is given up, seen and handled

Revision ID: e9f4a1c3b7d8
Revises: f3b8d1e6a4c7
Create Date: 2026-12-06 10:00:00+07:00

- `dead_at`: when the worker gave up on the job (after its topic's `max_attempts`, or at once on a permanent
  error); a dead job is never claimed again. `discarded_at`, `discarded_by`, `discard_reason`: the city
  administrator's decision to leave a dead job dead (decision 0009).
- `ix_outbox_pending` keeps its predicate (`done_at IS NULL`: the claimable jobs and the few dead ones; every
  query of outstanding work asks it, `claim` adds `dead_at IS NULL`) but is ordered by (topic, id), the order
  `claim` takes jobs in. On (topic, available_at) PostgreSQL walked the primary key past every done job to find
  the first 50 pending ones (measured: 0.2–0.26 s and 17,000 buffers per claim at a million done jobs); now a
  claim reads its 50 index entries.
- `ix_outbox_dead` holds only the dead jobs (few), for the administrator's list and the health counts.
Adding the nullable columns rewrites nothing. Building `ix_outbox_dead` reads the whole table once (every
job ever queued: at 10 million dossiers tens of millions of rows, about a minute on the benchmark machine); on
PostgreSQL both indexes are built CONCURRENTLY (decision 0011), so writes to the outbox do not wait.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store import online_migrations as online
from motcua.store.schema.base import Instant

# revision identifiers, used by Alembic.
revision: str = "e9f4a1c3b7d8"
down_revision: str | Sequence[str] | None = "f3b8d1e6a4c7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    undone = sa.column("done_at").is_(None)
    dead = sa.column("dead_at").is_not(None)
    again = True if op.get_bind().dialect.name == "postgresql" else None  # the revision may run again
    for column in (
        sa.Column("dead_at", Instant(), nullable=True),
        sa.Column("discarded_at", Instant(), nullable=True),
        sa.Column("discarded_by", sa.String(length=64), nullable=True),
        sa.Column("discard_reason", sa.Text(), nullable=True),
    ):
        op.add_column("outbox", column, if_not_exists=again)  # nullable, no default: a catalog change
    # CONCURRENTLY on PostgreSQL, the new pending index swapped in (decision 0011).
    online.create_index("ix_outbox_dead", "outbox", ["topic", "id"], where=dead)
    online.replace_index("ix_outbox_pending", "outbox", ["topic", "id"], where=undone)


def downgrade() -> None:
    # A dead job becomes pending again (the code before this revision retries every job for ever).
    pending = sa.column("done_at").is_(None)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_dead")
        batch_op.drop_index("ix_outbox_pending")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("discard_reason")
        batch_op.drop_column("discarded_by")
        batch_op.drop_column("discarded_at")
        batch_op.drop_column("dead_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending", ["topic", "available_at"], sqlite_where=pending, postgresql_where=pending
        )
