"""lighter dossier writes: partial indexes, lz4 for the state

Revision ID: f3b8d1e6a4c7
Revises: e5a7c3f1b9d2
Create Date: 2026-12-06 04:40:00+07:00

Every action rewrites the dossier row with a new status, so no update is HOT: each write adds an entry to
every index whose predicate the new row matches (≈ 17 µs of PostgreSQL CPU per index per write, measured).
- `ix_dossiers_submitted_by` (every row) becomes `ix_dossiers_submitted_by_other`: only the rows filed by
  someone other than the applicant. The applicant's list asks `applicant_id = me OR (submitted_by = me AND
  submitted_by <> applicant_id)` — the same rows.
- `ix_dossiers_assignee_status` (every row) becomes `ix_dossiers_assignee_open`: only assigned open
  dossiers, the only ones the "mine" queues ask for.
- `ix_dossiers_competent_unit_status` (every row) becomes `ix_dossiers_competent_unit_other`: only the rows
  whose competent unit is not their receiving unit. A unit's "all" queue asks `receiving_unit_id = u OR
  (competent_unit_id = u AND competent_unit_id <> receiving_unit_id) OR step_unit_id = u` — the same rows.
- `ix_outbox_pending` holds only the pending jobs (`done_at IS NULL`, as every query of pending work asks):
  a done job leaves it instead of staying forever.
- The foreign key from `dossier_events` to `dossiers` stays (decision 0006): dropping it saved ≈ 0.4 ms of
  PostgreSQL CPU per lifecycle (its check locks the row the statement just wrote), 3 % of a lifecycle's cost,
  for a guarantee on the legal record that is worth more.
- PostgreSQL: `state` and `form_data` are compressed with lz4 instead of pglz (new values only: nothing is
  rewritten). Each action compresses the new state (≈ 5 µs less per write) and every read decompresses it.
At 10 million each new index reads the whole table (about a minute in all on the benchmark machine); on
PostgreSQL they are built CONCURRENTLY and swapped in (decision 0011), so writes do not wait.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from motcua.store import online_migrations as online

# revision identifiers, used by Alembic.
revision: str = "f3b8d1e6a4c7"
down_revision: str | Sequence[str] | None = "e5a7c3f1b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = (1, 2, 4, 5, 6, 9)  # copied, not imported: a revision must not change when the code does


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    supported = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    if method in (supported or []):  # lz4 is a build option of PostgreSQL
        op.execute(
            f"ALTER TABLE dossiers ALTER COLUMN state SET COMPRESSION {method}, "
            f"ALTER COLUMN form_data SET COMPRESSION {method}"
        )


def upgrade() -> None:
    other = sa.column("submitted_by") != sa.column("applicant_id")
    assigned_open = sa.and_(sa.column("status").in_(_OPEN), sa.column("assignee_id").is_not(None))
    competent_other = sa.column("competent_unit_id") != sa.column("receiving_unit_id")
    pending = sa.column("done_at").is_(None)
    # The new indexes first (CONCURRENTLY on PostgreSQL, decision 0011), then the old ones go: the lists keep
    # an index all along. Everything here may run again after a kill.
    online.create_index("ix_dossiers_submitted_by_other", "dossiers", ["submitted_by"], where=other)
    online.create_index(
        "ix_dossiers_assignee_open", "dossiers", ["assignee_id", "status"], where=assigned_open
    )
    online.create_index(
        "ix_dossiers_competent_unit_other", "dossiers", ["competent_unit_id", "status"], where=competent_other
    )
    online.replace_index("ix_outbox_pending", "outbox", ["topic", "available_at"], where=pending)
    for old in (
        "ix_dossiers_submitted_by",
        "ix_dossiers_assignee_status",
        "ix_dossiers_competent_unit_status",
    ):
        op.drop_index(old, table_name="dossiers", if_exists=True)
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.create_index("ix_outbox_pending", ["topic", "done_at", "available_at"], unique=False)
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_competent_unit_other")
        batch_op.drop_index("ix_dossiers_assignee_open")
        batch_op.drop_index("ix_dossiers_submitted_by_other")
        batch_op.create_index("ix_dossiers_assignee_status", ["assignee_id", "status"], unique=False)
        batch_op.create_index(
            "ix_dossiers_competent_unit_status", ["competent_unit_id", "status"], unique=False
        )
        batch_op.create_index("ix_dossiers_submitted_by", ["submitted_by"], unique=False)
