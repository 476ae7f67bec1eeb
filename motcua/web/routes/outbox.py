"""The background jobs page of the city administrator (`/mot-cua/quan-tri/viec-nen`): jobs by state and topic
with counts, retry or discard a dead one. Every change goes through `motcua.services.outbox` (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from motcua.domain.errors import InvalidInput
from motcua.domain.workflow import Role
from motcua.services import outbox as outbox_service
from motcua.web.auth import Rt, User, roles_required
from motcua.web.render import redirect, render, translator

Req = Request[Any, Any, Any]
OUTBOX_PATH = "/mot-cua/quan-tri/viec-nen"
PAGE_SIZE = 50


def _page(
    request: Req,
    rt: Rt,
    user: User,
    *,
    state: str,
    topic: str,
    offset: int,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
) -> Template:
    _ = translator(request)
    state = state if state in outbox_service.LIST_STATES else "dead"
    overview = outbox_service.admin_overview(
        rt, user, state=state, topic=topic, limit=PAGE_SIZE, offset=max(0, offset)
    )
    return render(
        request,
        "officer/admin_outbox.html",
        status_code=status_code,
        title=_("outbox.title"),
        state_options=[(s, _(f"outbox.state.{s}")) for s in outbox_service.LIST_STATES],
        topic_options=[("", _("outbox.topic_all"))] + [(t, t) for t in overview["counts"]],
        errors=errors or {},
        page_size=PAGE_SIZE,
        **overview,
    )


@get(OUTBOX_PATH, guards=[roles_required(Role.CITY_ADMIN)], sync_to_thread=True)
def jobs(
    request: Req,
    rt: Rt,
    user: User,
    job_state: Annotated[str, QueryParameter(name="state")] = "dead",
    topic: FromQuery[str] = "",
    offset: FromQuery[int] = 0,
) -> Template:
    """Dead jobs first (what needs a decision), and the counts per topic."""
    return _page(request, rt, user, state=job_state.strip(), topic=topic.strip()[:64], offset=offset)


@post(
    f"{OUTBOX_PATH}/{{job_id:int}}/thu-lai",
    guards=[roles_required(Role.CITY_ADMIN)],
    sync_to_thread=True,
    status_code=303,
)
def retry(rt: Rt, user: User, job_id: int) -> Redirect:
    outbox_service.admin_retry(rt, user, job_id)  # a DomainError (404, 409) becomes an error page
    return redirect(OUTBOX_PATH, flash="outbox.flash.retried")


@dataclass
class DiscardForm:
    reason: str = ""


@post(
    f"{OUTBOX_PATH}/{{job_id:int}}/bo",
    guards=[roles_required(Role.CITY_ADMIN)],
    sync_to_thread=True,
    status_code=303,
)
def discard(
    request: Req,
    rt: Rt,
    user: User,
    job_id: int,
    data: Annotated[DiscardForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    try:
        outbox_service.admin_discard(rt, user, job_id, data.reason)
    except InvalidInput as exc:
        errors = {f"reason-{job_id}": exc.message}
        return _page(request, rt, user, state="dead", topic="", offset=0, status_code=422, errors=errors)
    return redirect(OUTBOX_PATH, flash="outbox.flash.discarded")


ROUTES = [jobs, retry, discard]
