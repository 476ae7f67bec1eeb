"""Routes of the outbox's operations (decision 0009): the city administrator lists the background jobs by state
and topic with counts, retries a dead job or discards it (audited); monitoring reads `/healthz/outbox`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter, SkipValidation
from pydantic import BaseModel, Field

from motcua.domain.lifecycle import Actor
from motcua.services import outbox as outbox_service
from motcua.services.runtime import Runtime

Rt = SkipValidation[Runtime]
Who = SkipValidation[Actor]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000)]
Text64 = Annotated[str | None, QueryParameter(max_length=64)]
# `state` is a name Litestar reserves for the app's state: the query parameter is read under another name.
StateQuery = Annotated[str | None, QueryParameter(name="state", max_length=64)]
ADMIN_OUTBOX = "/api/v1/admin/outbox"


class DiscardIn(BaseModel):
    reason: str = Field(max_length=2000, description="Why the job is left undone (5–500 characters).")


@get(ADMIN_OUTBOX, sync_to_thread=True, tags=["admin"])
def outbox_jobs(
    actor: Who,
    rt: Rt,
    job_state: StateQuery = "dead",
    topic: Text64 = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Background jobs in a state — `dead` (given up, awaiting a decision; the default), `discarded`,
    `pending` or `done` (newest first) — of a topic if given, with per-topic counts of pending, dead and
    discarded jobs and the health figures. City administrators only (403 `outbox.city_admin_only`)."""
    return outbox_service.admin_overview(
        rt, actor, state=(job_state or "dead").strip(), topic=topic, limit=limit, offset=offset
    )


@post(f"{ADMIN_OUTBOX}/{{job_id:int}}/retry", sync_to_thread=True, tags=["admin"], status_code=200)
def retry_job(job_id: FromPath[int], actor: Who, rt: Rt) -> dict[str, Any]:
    """A dead job becomes pending again (attempts reset, due now); audited. 404 `outbox.job_not_found`,
    409 `outbox.not_dead`."""
    return outbox_service.admin_retry(rt, actor, job_id)


@post(f"{ADMIN_OUTBOX}/{{job_id:int}}/discard", sync_to_thread=True, tags=["admin"], status_code=200)
def discard_job(job_id: FromPath[int], data: JSONBody[DiscardIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """Leave a dead job undone for good, with the reason; audited. 400 `outbox.reason_required`, 404
    `outbox.job_not_found`, 409 `outbox.not_dead` / `outbox.already_discarded`."""
    return outbox_service.admin_discard(rt, actor, job_id, data.reason)


@get("/healthz/outbox", sync_to_thread=True, tags=["ops"])
def outbox_health(rt: Rt) -> dict[str, Any]:
    """For monitoring (no personal data, no login): dead jobs awaiting a decision, pending jobs, and the age
    in seconds of the oldest pending one (null when none). Alert on `dead > 0` or an age of hours. `/healthz`
    itself stays a database-free liveness check."""
    with rt.db.read() as conn:
        figures = outbox_service.outbox_health(conn, now=rt.clock.now())
    return {"status": "ok", "outbox": figures}


def outbox_routes() -> list[Any]:
    return [outbox_jobs, retry_job, discard_job, outbox_health]
