"""Dossiers: the projection row, the append-only event log, and the per-agency daily code counter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    event,
)
from sqlalchemy.engine import Connection

from motcua.store.schema.base import Instant, json_type, metadata

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("procedure_code", String(16), nullable=False),
    Column("procedure_name", Text, nullable=False),
    Column("city_procedure_version", Integer, nullable=False),
    Column("workflow_id", String(64), nullable=False),
    Column("workflow_version", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("applicant_id", String(64), nullable=False),
    Column("applicant_name", Text, nullable=False),
    Column("submitted_by", String(64), nullable=False),
    Column("receiving_unit_id", String(80), nullable=False),
    Column("competent_unit_id", String(80), nullable=False),
    Column("status", Integer, nullable=False),
    Column("step", String(64), nullable=False),
    Column("step_unit_id", String(80), nullable=False),
    Column("assignee_id", String(64)),
    Column("submitted_at", Instant(), nullable=False),
    Column("accepted_at", Instant()),
    Column("due_at", Instant()),
    Column("step_due_at", Instant()),
    Column("resolved_at", Instant()),
    Column("closed_at", Instant()),
    Column("outcome", String(16)),
    Column("version", Integer, nullable=False),
    # The whole engine state (DossierState as JSON) — the projection of the event log.
    Column("state", json_type(), nullable=False),
    # The applicant's form data, validated against the e-form of the procedure version in force.
    Column("form_data", json_type(), nullable=False),
    Column("updated_at", Instant(), nullable=False),
)
# Every action rewrites the row with a new status, so no update is HOT: each one adds an entry to every index
# whose predicate the new row matches (≈ 17 µs of PostgreSQL CPU per index and write). So the indexes below
# serve the lists and queues (each OR of several columns needs one per arm, else it is a sequential scan of
# the whole table: bench/README.md, hot queries), and the partial ones hold only the rows their queries can
# find (revision f3b8d1e6a4c7).
Index("ix_dossiers_step_unit_status", dossiers.c.step_unit_id, dossiers.c.status)
Index("ix_dossiers_receiving_unit_status", dossiers.c.receiving_unit_id, dossiers.c.status)
Index("ix_dossiers_applicant", dossiers.c.applicant_id, dossiers.c.submitted_at)
Index("ix_dossiers_due_id", dossiers.c.due_at, dossiers.c.id)
# Submission order ("newest first", "oldest first") of a long list (a unit's "all", the city's): read in order,
# a page at a time, instead of sorting every row — 13.8 s for the city at 10 million (revision b7d1f3a9c2e4).
Index("ix_dossiers_submitted_id", dossiers.c.submitted_at, dossiers.c.id)
# The filer's arm of an applicant's list: only the rows filed by someone other than their applicant (most are
# filed by the applicant); the list asks `applicant_id = me OR (submitted_by = me AND submitted_by <>
# applicant_id)`, the same rows.
Index(
    "ix_dossiers_submitted_by_other",
    dossiers.c.submitted_by,
    sqlite_where=dossiers.c.submitted_by != dossiers.c.applicant_id,
    postgresql_where=dossiers.c.submitted_by != dossiers.c.applicant_id,
)
# The competent unit's arm of a unit's "all" queue: only the rows it is not also the receiving unit of (most
# procedures are settled where they are received); the queue asks `competent_unit_id = u AND
# competent_unit_id <> receiving_unit_id`, the rest are in the receiving unit's arm.
Index(
    "ix_dossiers_competent_unit_other",
    dossiers.c.competent_unit_id,
    dossiers.c.status,
    sqlite_where=dossiers.c.competent_unit_id != dossiers.c.receiving_unit_id,
    postgresql_where=dossiers.c.competent_unit_id != dossiers.c.receiving_unit_id,
)
# The officers' open queues (a unit's, "mine"): only the open dossiers (a few % of the rows), with every
# column their filters and order read, so a page is found and sorted in the index and 20 rows are read
# (revision e5a7c3f1b9d2; the statuses are the non-terminal ones of `motcua.domain.lifecycle`).
OPEN_QUEUE_STATUSES = (1, 2, 4, 5, 6, 9)
# An officer's "mine" queues ask for open statuses and an assignee: only the assigned open dossiers.
Index(
    "ix_dossiers_assignee_open",
    dossiers.c.assignee_id,
    dossiers.c.status,
    sqlite_where=and_(dossiers.c.status.in_(OPEN_QUEUE_STATUSES), dossiers.c.assignee_id.is_not(None)),
    postgresql_where=and_(dossiers.c.status.in_(OPEN_QUEUE_STATUSES), dossiers.c.assignee_id.is_not(None)),
)
Index(
    "ix_dossiers_open_queue",
    dossiers.c.status,
    dossiers.c.receiving_unit_id,
    dossiers.c.competent_unit_id,
    dossiers.c.step_unit_id,
    dossiers.c.assignee_id,
    dossiers.c.workflow_id,
    dossiers.c.workflow_version,
    dossiers.c.step,
    dossiers.c.due_at,
    dossiers.c.step_due_at,
    dossiers.c.submitted_at,
    sqlite_where=dossiers.c.status.in_(OPEN_QUEUE_STATUSES),
    postgresql_where=dossiers.c.status.in_(OPEN_QUEUE_STATUSES),
)

# The city-wide open queue (the city's administrators and monitors: every unit's open dossiers, ≈ 5 % of the
# rows), most urgent first: read in order, 20 rows, instead of sorting them all (revision c4e8a2f6d0b7).
Index(
    "ix_dossiers_open_due",
    dossiers.c.due_at,
    dossiers.c.id,
    sqlite_where=dossiers.c.status.in_(OPEN_QUEUE_STATUSES),
    postgresql_where=dossiers.c.status.in_(OPEN_QUEUE_STATUSES),
)


@event.listens_for(dossiers, "after_create")
def _compress_with_lz4(target: Table, connection: Connection, **_: Any) -> None:
    """PostgreSQL compresses a row's large values when it outgrows ≈ 2 kB (a dossier's state and form data do):
    lz4 costs less CPU than the default pglz for each action's new state and each read (revision f3b8d1e6a4c7).
    lz4 is a build option of PostgreSQL: without it the default stays, as in the revision."""
    if connection.dialect.name != "postgresql":
        return
    methods = connection.exec_driver_sql(
        "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()
    if "lz4" in (methods or []):
        connection.exec_driver_sql(
            "ALTER TABLE dossiers ALTER COLUMN state SET COMPRESSION lz4, "
            "ALTER COLUMN form_data SET COMPRESSION lz4"
        )


dossier_events = Table(
    "dossier_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "dossier_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("dossiers.id"), nullable=False
    ),
    Column("seq", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("at", Instant(), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_unit_id", String(80)),
    Column("data", json_type(), nullable=False),
    Column("changes", json_type(), nullable=False),
    UniqueConstraint("dossier_id", "seq", name="uq_dossier_events_dossier_seq"),
)

dossier_counters = Table(
    "dossier_counters",
    metadata,
    Column("agency_code", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last_seq", Integer, nullable=False),
)
