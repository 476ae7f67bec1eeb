"""The HTTP JSON API (Litestar). OpenAPI at /openapi.json; errors are {"error": {"code", "message"}}.

Handlers are thin: parse the request, call one service use case, return its dict. Database work is
synchronous (SQLAlchemy Core) and runs in Litestar's thread pool (`sync_to_thread=True`; the lifecycle's fast
path in the app's own worker threads, `FastPathThreads`). The `actor` dependency is async: a recently seen
token is answered from memory on the event loop, so an authenticated request makes one thread hop, not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import ResponseHeader, State, UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Example, SecurityScheme
from litestar.params import Body, FromPath, FromQuery, JSONBody, QueryParameter, SkipValidation
from litestar.response.base import ASGIResponse
from litestar.serialization import encode_json
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send
from pydantic import BaseModel, Field, ValidationError

from motcua.api.documents import document_routes
from motcua.api.gateway import gateway_routes
from motcua.api.outbox import outbox_routes
from motcua.domain.errors import DomainError, InvalidInput, Unauthenticated
from motcua.domain.lifecycle import Action, Actor, Channel
from motcua.services import dossiers as dossier_service
from motcua.services.catalog import MAX_PAGE_SIZE, get_procedure, list_fields, search_procedures
from motcua.services.files import MAX_UPLOAD_BYTES
from motcua.services.identity import actor_for_token, cached_actor, login
from motcua.services.runtime import Runtime
from motcua.services.units import list_units
from motcua.store.db import lost_database
from motcua.web import csrf_config, security_headers, template_config, web_routes, with_html_errors

log = logging.getLogger("motcua.api")
T = TypeVar("T")

_STATUS = {"invalid": 400, "unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = _STATUS.get(exc.kind, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        error_body(exc.code, exc.message, exc.details or None), status_code=status, headers=headers
    )


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    return Response(
        error_body("request.invalid", "Dữ liệu gửi lên không hợp lệ.", exc.extra), status_code=400
    )


_HTTP_MESSAGES = {
    401: ("auth.required", "Cần đăng nhập để thực hiện thao tác này."),
    404: ("route.not_found", "Không tìm thấy địa chỉ yêu cầu."),
    405: ("route.method_not_allowed", "Phương thức không được hỗ trợ cho địa chỉ này."),
    413: ("request.too_large", "Dữ liệu gửi lên quá lớn."),
    415: ("request.unsupported_media_type", "Kiểu dữ liệu gửi lên không được hỗ trợ."),
}


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    code, message = _HTTP_MESSAGES.get(exc.status_code, ("request.error", "Yêu cầu không hợp lệ."))
    return Response(error_body(code, message), status_code=exc.status_code)


DATABASE_UNAVAILABLE = (
    "database.unavailable",
    "Tạm thời mất kết nối tới cơ sở dữ liệu. Hãy thử lại sau giây lát.",
)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if lost_database(exc):
        log.warning(
            "database connection lost on %s %s: %s", request.method, request.url.path, exc.__class__.__name__
        )
        return Response(
            error_body(*DATABASE_UNAVAILABLE),
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        error_body("server.error", "Hệ thống gặp lỗi ngoài dự kiến; thao tác chưa được thực hiện."),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


# ---------------------------------------------------------------- dependencies


def _runtime(state: State) -> Runtime:
    rt: Runtime = state.runtime
    return rt


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _actor(request: Request[Any, Any, Any], rt: Rt) -> Actor:
    """The caller. Async: a token seen in the last few seconds is answered from memory (identity's token
    cache) on the event loop; only a miss goes to the database, in a worker thread."""
    token = _bearer(request)
    if token is None:
        raise Unauthenticated("auth.required", "Cần đăng nhập để thực hiện thao tác này.")
    now = rt.clock.now()
    actor = cached_actor(token=token, now=now, purpose="api")
    if actor is not None:
        return actor
    return await anyio.to_thread.run_sync(_actor_from_database, rt, token, now)


def _actor_from_database(rt: Runtime, token: str, now: datetime) -> Actor:
    with rt.db.read_one() as conn:  # one statement (the token joined to its user)
        return actor_for_token(conn, token=token, now=now, purpose="api")


# ---------------------------------------------------------------- request bodies


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ApplicantIn(BaseModel):
    full_name: str = Field(min_length=2, max_length=100)
    personal_id: str | None = Field(default=None, max_length=12)
    tax_code: str | None = Field(default=None, max_length=14)
    phone: str | None = Field(default=None, max_length=20)


class DossierIn(BaseModel):
    procedure_code: str = Field(max_length=16)
    receiving_unit_id: str = Field(max_length=80)
    channel: Channel = Channel.ONLINE
    form_data: dict[str, Any]
    applicant: ApplicantIn | None = None


class ActionIn(BaseModel):
    action: Action
    payload: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- handlers

# Dependencies are our own objects: Litestar must pass them through, not validate or convert them.
Rt = SkipValidation[Runtime]
Who = SkipValidation[Actor]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
# Fix: the catalog pages at most MAX_PAGE_SIZE, but the API documented and accepted 200, then failed.
CatalogLimit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)]
Offset = Annotated[int, QueryParameter(ge=0)]
Text100 = Annotated[str | None, QueryParameter(max_length=100)]
Text200 = Annotated[str | None, QueryParameter(max_length=200)]
Text300 = Annotated[str | None, QueryParameter(max_length=300)]
Status10 = Annotated[int | None, QueryParameter(ge=1, le=10)]
View = Annotated[Literal["full", "summary"], QueryParameter()]
# The dossier list's filters (`dossier_service.list_dossiers` checks the values: stable codes, Vietnamese).
SearchText = Annotated[
    str | None,
    QueryParameter(
        max_length=100,
        description="A part of a dossier code, of the applicant's name or personal ID (any case, with or "
        "without diacritics; % and _ are literal).",
        examples=[Example(value="nguyen thi mai")],
    ),
]
ProcedureCode = Annotated[
    str | None, QueryParameter(max_length=30, description="A procedure code (officers).")
]
SlaBand = Annotated[
    str | None,
    QueryParameter(
        enum=["overdue", "due_today", "within_time"],
        description="The legal due date of the dossiers being processed (officers).",
    ),
]
Sort = Annotated[str, QueryParameter(enum=["due", "submitted", "recent"], description="The list's order.")]


@post("/api/v1/auth/token", sync_to_thread=True, tags=["auth"], status_code=200)
def issue_token(data: JSONBody[TokenRequest], rt: Rt) -> dict[str, Any]:
    """Password login; returns a bearer token for the API."""
    with rt.db.transaction() as conn:
        issued = login(conn, username=data.username, password=data.password, now=rt.clock.now())
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_at": issued.expires_at.isoformat(),
        "user": issued.user,
    }


@get("/api/v1/me", sync_to_thread=True, tags=["auth"])
def me(actor: Who) -> dict[str, Any]:
    return {
        "id": actor.id,
        "kind": actor.kind.value,
        "name": actor.name,
        "unit_id": actor.unit_id,
        "roles": sorted(r.value for r in actor.roles),
    }


@get("/api/v1/units", sync_to_thread=True, tags=["units"])
def units(
    rt: Rt,
    kind: FromQuery[str | None] = None,
    parent_id: FromQuery[str | None] = None,
    q: Text100 = None,
) -> dict[str, Any]:
    """The organisation registry valid today: the city, its departments, 168 commune-level units, police."""
    now = rt.clock.now()
    with rt.db.read() as conn:
        items = list_units(conn, on=now.date(), kind=kind, parent_id=parent_id, q=q)
    return {"items": items, "total": len(items)}


@get("/api/v1/procedures", sync_to_thread=True, tags=["catalog"])
def procedures(
    rt: Rt,
    q: Text200 = None,
    field: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    ministry: FromQuery[str | None] = None,
    online_only: FromQuery[bool] = False,
    limit: CatalogLimit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Search the catalog (accent-insensitive) with filters and pagination."""
    with rt.db.read() as conn:
        items, total = search_procedures(
            conn,
            q=q,
            field=field,
            level=level,
            online_only=online_only,
            ministry=ministry,
            limit=limit,
            offset=offset,
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@get("/api/v1/procedures/fields", sync_to_thread=True, tags=["catalog"])
def procedure_fields(rt: Rt) -> dict[str, Any]:
    with rt.db.read() as conn:
        return {"items": list_fields(conn)}


@get("/api/v1/procedures/{code:str}", sync_to_thread=True, tags=["catalog"])
def procedure(code: FromPath[str], rt: Rt) -> dict[str, Any]:
    with rt.db.read() as conn:
        return get_procedure(conn, code)


@post(
    "/api/v1/dossiers",
    sync_to_thread=True,
    tags=["dossiers"],
    status_code=201,
    middleware=[lambda app: _FastJsonRoute(app, _fast_submission, 201)],
)
def create_dossier(data: JSONBody[DossierIn], actor: Who, rt: Rt) -> dict[str, Any]:
    """File a dossier (online by the applicant; at the desk, by post or by an agent on someone's behalf)."""
    return dossier_service.submit_dossier(rt, actor, _submission(data))


def _submission(data: DossierIn) -> dossier_service.Submission:
    """The service's submission from the request body (the route and its fast path)."""
    return dossier_service.Submission(
        procedure_code=data.procedure_code,
        receiving_unit_id=data.receiving_unit_id,
        channel=data.channel,
        form_data=data.form_data,
        applicant=data.applicant.model_dump() if data.applicant else None,
    )


@get("/api/v1/dossiers", sync_to_thread=True, tags=["dossiers"])
def my_dossiers(
    actor: Who,
    rt: Rt,
    queue: FromQuery[str] = "all",
    status: Status10 = None,
    limit: Limit = 20,
    offset: Offset = 0,
    text: SearchText = None,
    procedure: ProcedureCode = None,
    sla: SlaBand = None,
    sort: Sort = "due",
) -> dict[str, Any]:
    """The applicant's own dossiers, or an officer's queue: new, unit, mine or all; ordered by legal due date
    (none last), then code order (`sort=due`), or by submission (`submitted`: oldest first; `recent`: newest
    first). An officer's queue "all" (a unit's, or the city's for a city monitor or admin) is not counted
    exactly: its `total` is capped at 10,001, and `total_is_capped` is true when it reached the cap (there are
    at least that many).

    Filters, the same as the officers' web queues: `text` (a part of a dossier code, of the applicant's name or
    personal ID; any case, with or without diacritics: "nguyen thi mai" finds "Nguyễn Thị Mai"; `%` and `_` are
    literal), `procedure` (a procedure code) and `sla` (the legal due date of dossiers being processed:
    `overdue`, `due_today`, `within_time`). A citizen's own list may be searched by `text`; `procedure` and
    `sla` are for officers (400 `dossier.officer_filter`)."""
    items, total = dossier_service.list_dossiers(
        rt,
        actor,
        queue=queue,
        status=status,
        limit=limit,
        offset=offset,
        procedure=procedure or "",
        search=text or "",
        sla=sla or "",
        sort=sort,
    )
    capped = dossier_service.total_is_capped(actor, queue) and total >= dossier_service.LIST_COUNT_CAP
    return {"items": items, "total": total, "total_is_capped": capped, "limit": limit, "offset": offset}


@get("/api/v1/dossiers/{code:str}", sync_to_thread=True, tags=["dossiers"])
def dossier(code: FromPath[str], actor: Who, rt: Rt) -> dict[str, Any]:
    return dossier_service.get_dossier(rt, actor, code)


@post(
    "/api/v1/dossiers/{code:str}/actions",
    sync_to_thread=True,
    tags=["dossiers"],
    status_code=200,
    middleware=[lambda app: _FastJsonRoute(app, _fast_action, 200)],
)
def dossier_action(
    code: FromPath[str], data: JSONBody[ActionIn], actor: Who, rt: Rt, view: View = "full"
) -> dict[str, Any]:
    """Take one action on a dossier; the response lists the actions now allowed. `view=summary` leaves out
    the form data, files and history (a lighter answer for desk tools that move many dossiers)."""
    if data.action is Action.SUBMIT:
        raise InvalidInput("dossier.already_submitted", "Hồ sơ đã được nộp.")
    return dossier_service.act(rt, actor, code, data.action, data.payload, summary=view == "summary")


# ---------------------------------------------------------------- the lifecycle's fast path (issue #6)

# A lifecycle is six of these requests. Litestar's generic handling of them (dependency injection, the
# signature model, the body extractor, the response object) cost ≈ 60 µs of CPU per request, as much as the
# thread hop; `_FastJsonRoute` answers the common case without it and hands every other case, unchanged, to
# the route as declared above (which also keeps the OpenAPI document): the same checks, the same answers.
FAST_BODY_MAX = 256 * 1024
_JSON = b"application/json"
# What a fast handler returns: the service call (given the caller) to run in a worker thread, or None (let
# the route answer).
FastCall = Callable[[Actor], dict[str, Any]]
FastPlan = Callable[[Runtime, Scope, Any], FastCall | None]


def _fast_submission(rt: Runtime, scope: Scope, body: Any) -> FastCall | None:
    if scope["query_string"]:
        return None
    submission = _submission(DossierIn.model_validate(body))  # the route's model, validated as Litestar does
    return lambda actor: dossier_service.submit_dossier(rt, actor, submission)


_VIEWS = {b"": False, b"view=full": False, b"view=summary": True}


def _fast_action(rt: Runtime, scope: Scope, body: Any) -> FastCall | None:
    summary = _VIEWS.get(scope["query_string"])
    if summary is None:
        return None
    data = ActionIn.model_validate(body)
    if data.action is Action.SUBMIT:
        return None  # refused by the route
    code: str = scope["path_params"]["code"]
    return lambda actor: dossier_service.act(rt, actor, code, data.action, data.payload, summary=summary)


class FastPathThreads:
    """The fast path's worker threads, owned by the app (started at startup, or at the first request, and
    stopped at shutdown). Litestar's `sync_to_thread` goes through `loop.run_in_executor` on the loop's default
    executor: a `concurrent.futures.Future` (with its own lock and condition), a copied context, an asyncio
    future chained to it by callbacks on both sides. Here a job is a tuple on a `SimpleQueue` and its answer
    goes back with one `call_soon_threadsafe`: in-process, 8 concurrent lifecycles on PostgreSQL, ≈ 90 µs
    less server CPU per request (1,254 → 1,162 µs, medians of 10 alternated runs); alone, no difference.

    Same semantics as `run_in_executor`, which the fast path used: blocking work never runs on the event loop;
    the service's exception is raised in the awaiting task (and reaches the app's handlers); when the awaiting
    task is cancelled, a job not yet started is dropped and a started one runs to its end (its commit stands,
    nothing is answered). `size` threads at most, as many as the loop's default executor (min(32, cores + 4)):
    the same concurrency against the connection pool as before."""

    __slots__ = ("_jobs", "_threads", "size")

    def __init__(self, size: int | None = None) -> None:
        self.size = size or min(32, (os.cpu_count() or 1) + 4)
        self._jobs: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None
        ]
        self._jobs = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._work, name=f"motcua-fast-{i}", daemon=True)
                for i in range(self.size)
            ]
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Let every queued job finish, then end the threads."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    async def run(self, call: Callable[[], T]) -> T:
        if not self._threads:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, call))
        return await future

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            _run_job(*job)
            job = None  # nothing of a request outlives it in an idle thread


def _run_job(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], call: Callable[[], Any]) -> None:
    if future.cancelled():  # the request was cancelled before its work started: dropped, as an executor does
        return
    setter: Callable[[asyncio.Future[Any], Any], None]
    try:
        result = call()
    except BaseException as exc:  # handed to the awaiting task, as an executor does
        setter, value = _set_exception, exc
    else:
        setter, value = _set_result, result
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits the answer any more
        loop.call_soon_threadsafe(setter, future, value)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(exc)


class _FastJsonRoute:
    """Route middleware: a JSON POST with a bearer token, whose body is at most FAST_BODY_MAX bytes, decodes and
    validates, goes straight to the service (in a worker thread, as the route does: the token's account, when
    not cached, is read in that thread too) and is answered with the bytes Litestar would send (`encode_json`,
    the same headers; tests compare). Anything else — no bearer token, another content type, a query the plan
    does not know, a body that fails to decode or validate — is handed to the route, which answers as it
    always has (401, 400 `request.invalid` with Litestar's details, …). An error of the token lookup or of the
    service (401 for an unknown token, 409, 503 …) propagates to the app's exception handlers as from the
    route."""

    __slots__ = ("app", "plan", "status")

    def __init__(self, app: ASGIApp, plan: FastPlan, status: int) -> None:
        self.app = app
        self.plan = plan
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = length = content_type = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
        if (
            authorization is None
            or content_type is None
            or content_type.partition(b";")[0].strip().lower() != _JSON
            or length is None
            or not length.isdigit()
            or int(length) > FAST_BODY_MAX
        ):
            await self.app(scope, receive, send)
            return
        messages: list[ReceiveMessage] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if not messages or messages[-1]["type"] != "http.request" or len(body) > FAST_BODY_MAX:
            await self.app(scope, _replay(messages, receive), send)
            return
        call = self._plan(scope, authorization, body)
        if call is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        threads: FastPathThreads = scope["litestar_app"].state.fast_path_threads
        answer = encode_json(await threads.run(call))
        start = {
            "type": "http.response.start",
            "status": self.status,
            "headers": [(b"content-type", _JSON), (b"content-length", str(len(answer)).encode())],
        }
        await send(start)  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": answer, "more_body": False})

    def _plan(self, scope: Scope, authorization: bytes, body: bytes) -> Callable[[], dict[str, Any]] | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        rt: Runtime = scope["litestar_app"].state.runtime
        try:
            call = self.plan(rt, scope, msgspec.json.decode(body))
        except (msgspec.DecodeError, ValidationError):
            return None
        if call is None:
            return None
        # The caller as the route's `actor` dependency finds it: from the token cache, else (a token not seen
        # for a few seconds) from the database in the same worker thread as the use case: one thread hop.
        now = rt.clock.now()
        actor = cached_actor(token=token, now=now, purpose="api")
        if actor is not None:
            return lambda: call(actor)
        return lambda: call(_actor_from_database(rt, token, now))


def _replay(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    """`receive` for the route after the fast path read the body: the same messages, then the connection's."""
    pending = list(messages)

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


@post("/api/v1/dossiers/{code:str}/files", sync_to_thread=True, tags=["dossiers"], status_code=201)
def upload_file(
    code: FromPath[str],
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
    actor: Who,
    rt: Rt,
    label: Text300 = None,
    kind: FromQuery[str] = "upload",
) -> dict[str, Any]:
    """Attach a PDF/JPEG/PNG (≤ 10 MB) to an open dossier; stored by its SHA-256."""
    content = data.file.read(MAX_UPLOAD_BYTES + 1)
    return dossier_service.add_file(
        rt, actor, code, data=content, filename=data.filename, label=label, kind=kind
    )


@get("/api/v1/dossiers/{code:str}/files/{file_id:int}", sync_to_thread=True, tags=["dossiers"])
def download_file(code: FromPath[str], file_id: FromPath[int], actor: Who, rt: Rt) -> Response[bytes]:
    content, meta = dossier_service.get_file(rt, actor, code, file_id)
    return Response(
        content,
        media_type=meta["media_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{meta["sha256"][:16]}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


# The public tracking answer may be reused for a few seconds by any cache (a reverse proxy absorbs repeated
# looks at the same code); the ETag lets a client revalidate cheaply (304 without a body).
TRACK_CACHE_CONTROL = "public, max-age=5"


@get(
    "/api/v1/track/{code:str}",
    tags=["public"],
    response_headers=[
        ResponseHeader(name="ETag", description="Phiên bản của câu trả lời", documentation_only=True),
        ResponseHeader(name="Cache-Control", value=TRACK_CACHE_CONTROL, documentation_only=True),
    ],
)
async def track(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Public tracking by dossier code: status and dates only, no personal data. Cacheable for 5 seconds
    (`Cache-Control: public, max-age=5`), with an ETag: `If-None-Match` with it gives 304 Not Modified."""
    # On PostgreSQL the app answers most lookups before routing (`MotcuaApp`); this route answers the rest:
    # SQLite, the first lookup of a day, and errors, raised as in every handler and rendered by the app's
    # exception handlers. It takes the request alone (no dependency to resolve, no parameter to parse).
    rt: Runtime = request.app.state.runtime
    code: str = request.path_params["code"]
    # On PostgreSQL an awaited read on the event loop (no thread); otherwise the sync lookup in a thread.
    view = await dossier_service.track_async(rt, code)
    if view is None:
        view = await anyio.to_thread.run_sync(dossier_service.track, rt, code)
    return _TrackAnswer(_track_answer(view, request.scope["headers"]))


def _track_answer(view: dict[str, Any], headers: Any) -> _EncodedAnswer:
    """The tracking answer's bytes: 200 with the view, or 304 when the request's If-None-Match holds its ETag."""
    body = msgspec.json.encode(view)
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    if_none_match = next((v for k, v in headers if k == b"if-none-match"), None)
    tag = (b"etag", etag.encode())
    if if_none_match is not None and _etag_matches(if_none_match.decode("latin-1"), etag):
        return _EncodedAnswer(304, [tag, _TRACK_CACHE_HEADER], b"")
    length = (b"content-length", str(len(body)).encode())
    return _EncodedAnswer(200, [tag, _TRACK_CACHE_HEADER, _JSON_CONTENT_TYPE, length], body)


_TRACK_CACHE_HEADER = (b"cache-control", TRACK_CACHE_CONTROL.encode())
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class _TrackAnswer(Response[bytes]):
    """An answer whose status, headers and body are already encoded: Litestar's response step hands it on
    as it is (no header or body encoding per request). The same bytes a `Response` would send."""

    __slots__ = ("_encoded",)

    def __init__(self, encoded: _EncodedAnswer) -> None:
        # Deliberately not Response.__init__: nothing of a Response is used but `to_asgi_response`.
        self._encoded = encoded

    def to_asgi_response(self, app: Any, request: Any, **_: Any) -> ASGIResponse:
        return self._encoded


class _EncodedAnswer(ASGIResponse):
    __slots__ = ("_head",)

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._head = {"type": "http.response.start", "status": status, "headers": headers}
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self._head)  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match header against our (strong) ETag."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document at the well-known address."""
    schema: dict[str, Any] = request.app.openapi_schema.to_schema()
    return schema


@get("/healthz", tags=["ops"], include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


ROUTES = [
    issue_token,
    me,
    units,
    procedures,
    procedure_fields,
    procedure,
    create_dossier,
    my_dossiers,
    dossier,
    dossier_action,
    upload_file,
    download_file,
    track,
    openapi_json,
    health,
]


def area_routes() -> list[Any]:
    """Route handlers of the other areas (pages, documents, data-sharing gateway): one line per area."""
    routes: list[Any] = []
    # --- area registrations ---
    routes += document_routes()  # documents: verification, signed PDFs (motcua/api/documents.py)
    routes += web_routes()  # pages: citizen portal, officer workspace (motcua/web)
    routes += gateway_routes()  # data-sharing gateway: prefill, bundles (motcua/api/gateway.py)
    routes += outbox_routes()  # background jobs: dead letters, retry/discard, /healthz/outbox (api/outbox.py)
    return routes


_TRACK_PREFIX = "/api/v1/track/"


class MotcuaApp(Litestar):
    """The application, with public tracking answered before routing.

    The busiest public request, `GET /api/v1/track/{code}`, is answered here on PostgreSQL once the day's
    units are cached: one awaited statement, and the same bytes as the `track` route (`_track_answer`; tests
    compare) without Litestar's router, middleware and handler layers (≈ 20 % of a lookup's server CPU,
    bench/README.md). Everything else — SQLite, the first lookup of a day, an unknown or malformed code, a
    path with more segments, another method, any error — goes to the app as usual (an error is then met by
    the route and rendered by the exception handlers; /api/ answers carry no page headers, none are skipped)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(_TRACK_PREFIX)
            and "/" not in (code := scope["path"][len(_TRACK_PREFIX) :])
            and code
        ):
            try:
                view = await dossier_service.track_async(self.state.runtime, code)
            except Exception:  # the route meets it again, and the exception handlers answer
                view = None
            if view is not None:
                await _track_answer(view, scope["headers"])(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(runtime: Runtime, *, extra_routes: list[Any] | None = None) -> Litestar:
    threads = FastPathThreads()
    return MotcuaApp(
        route_handlers=[*ROUTES, *area_routes(), *(extra_routes or [])],
        dependencies={
            "rt": Provide(_runtime, sync_to_thread=False),
            "actor": Provide(_actor),
        },
        state=State({"runtime": runtime, "fast_path_threads": threads}),
        on_startup=[threads.start],
        on_shutdown=[threads.stop],
        # Page requests get HTML error pages; /api/ keeps these JSON handlers (motcua/web/errors.py).
        exception_handlers=with_html_errors(
            {
                DomainError: _domain_error,
                ValidationException: _validation_error,
                NotAuthorizedException: _http_error,
                HTTPException: _http_error,
                Exception: _internal_error,
            }
        ),
        template_config=template_config(),
        csrf_config=csrf_config(),  # pages only: /api/ is excluded (bearer tokens, no cookies)
        before_send=[security_headers],
        openapi_config=OpenAPIConfig(
            title="motcua API",
            version="1",
            description="Hệ thống thông tin giải quyết thủ tục hành chính — API JSON.",
            path="/docs",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        ),
        request_max_body_size=12 * 1024 * 1024,
        debug=False,
    )
