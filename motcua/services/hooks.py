"""Reactions to dossier events inside the same transaction (documents to issue, linked dossiers, …).

A hook runs after the event, the projection and the audit entry are written, in the same transaction: if it
raises, the whole action is rolled back and the user sees the error — nothing half-done is committed.
Work that may fail for reasons outside motcua (a registry, the national portal) belongs in the outbox instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from motcua.domain.lifecycle import Actor, DossierState, Event
from motcua.services.documents import document_job, issue_on_event

if TYPE_CHECKING:
    from motcua.services.runtime import Runtime


@dataclass(frozen=True)
class EventContext:
    conn: Connection
    runtime: Runtime
    dossier_id: int
    state: DossierState
    event: Event
    actor: Actor
    payload: dict[str, Any]


EventHook = Callable[[EventContext], None]
# An outbox job a hook queues: (topic, key, payload), queued at the event's instant.
QueuedJob = tuple[str, str, dict[str, Any]]
# Hooks whose whole effect is queueing at most one outbox job computed from the event alone (no database
# read), with the function computing that job. The one-statement write of an action (PostgreSQL) writes the
# job in its own statement instead of running the hook after it: the same row, committed with the action, one
# round trip less. Every other path runs the hook itself.
QUEUE_ONLY_HOOKS: dict[EventHook, Callable[[EventContext], QueuedJob | None]] = {issue_on_event: document_job}
# Hooks that can tell, without a database read, that they would write nothing for an event, with the function
# telling it (True: nothing to write). An action whose every hook is queue-only or quiet for its event is written
# by one statement outside any transaction on PostgreSQL (`dossiers.act`); a hook not listed here is assumed to
# write, and the action runs in a transaction as before. The owner of a hook registers it with its definition.
QUIET_HOOKS: dict[EventHook, Callable[[EventContext], bool]] = {}


def default_hooks() -> list[EventHook]:
    """The hooks every runtime starts with: one line per area."""
    hooks: list[EventHook] = []
    # --- hook registrations ---
    hooks.append(issue_on_event)  # documents: receipts, slips and results, signed (services/documents)
    from motcua.services.bundles import dossier_event_hook  # gateway (imported here: bundles use dossiers)

    hooks.append(dossier_event_hook)  # gateway: prefill recorded on the dossier, Decree 63 bundles advance
    return hooks
