"""Submission order of long lists: an index on dossiers (submitted_at, id).

"Newest first" on the city's "all" list sorted every dossier (13.8 s at 10 million; a unit's 100,000: 0.3 s). The
lists that reach their count cap now read a page in this index's order (`workspace._order`). Built concurrently
on PostgreSQL (decision 0011).

Revision ID: b7d1f3a9c2e4
Revises: a8c3e1f5d7b9
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from motcua.store import online_migrations as online

revision: str = "b7d1f3a9c2e4"
down_revision: str | Sequence[str] | None = "a8c3e1f5d7b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index("ix_dossiers_submitted_id", "dossiers", ["submitted_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_dossiers_submitted_id", table_name="dossiers")
