"""Page sessions: the `motcua_session` cookie holds an opaque login token (`identity.login(purpose="web")`).

`PageSessionMiddleware` (on the pages router) resolves the cookie to an `Actor` once per request, in a worker
thread, and picks the language (`?lang=` → `lang` cookie → Vietnamese). Handlers then call
`current_actor(request)` / `current_language(request)`, or declare the `user` / `viewer` dependencies; guards
(`officer_required`, `applicant_required`, `roles_required(...)`) protect whole pages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import anyio.to_thread
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import MiddlewareProtocol
from litestar.params import SkipValidation
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from motcua.domain.errors import Forbidden, Unauthenticated
from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.workflow import Role
from motcua.services.identity import actor_for_token
from motcua.services.runtime import Runtime
from motcua.web import i18n
from motcua.web.app_config import secure_cookies

SESSION_COOKIE = "motcua_session"
LANG_COOKIE = "lang"
LOGIN_PATH = "/dang-nhap"
_ACTOR_KEY = "motcua.actor"
_LANG_KEY = "motcua.lang"
_LANG_COOKIE_AGE = 365 * 24 * 3600

Connection = ASGIConnection[Any, Any, Any, Any]
Guard = Callable[[Connection, BaseRouteHandler], None]


def runtime_of(connection: Connection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


def load_actor(runtime: Runtime, token: str | None) -> Actor | None:
    """The actor of a live session token; None for no token, an unknown, expired or revoked one."""
    if not token:
        return None
    try:
        with runtime.db.read() as conn:
            return actor_for_token(conn, token=token, now=runtime.clock.now(), purpose="web")
    except Unauthenticated:
        return None


def current_actor(connection: Connection) -> Actor | None:
    """Who is logged in on this page request (None: nobody). Cached for the request."""
    state = connection.scope.setdefault("state", {})
    if _ACTOR_KEY not in state:  # outside the pages router (e.g. an HTML 404): look it up here
        state[_ACTOR_KEY] = load_actor(runtime_of(connection), connection.cookies.get(SESSION_COOKIE))
    actor: Actor | None = state[_ACTOR_KEY]
    return actor


def current_language(connection: Connection) -> str:
    """`vi` or `en`: the `?lang=` of this request, else the `lang` cookie, else Vietnamese."""
    state = connection.scope.setdefault("state", {})
    if _LANG_KEY not in state:
        state[_LANG_KEY] = i18n.pick_language(
            connection.query_params.get("lang"), connection.cookies.get(LANG_COOKIE)
        )
    lang: str = state[_LANG_KEY]
    return lang


class PageSessionMiddleware(MiddlewareProtocol):
    """Loads the session's actor off the event loop, fixes the language, and keeps the cookies in step."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        connection: Connection = ASGIConnection(scope)
        token = connection.cookies.get(SESSION_COOKIE)
        actor = await anyio.to_thread.run_sync(load_actor, runtime_of(connection), token) if token else None
        state = scope.setdefault("state", {})
        state[_ACTOR_KEY] = actor
        lang = current_language(connection)
        cookies: list[Cookie] = []
        if connection.query_params.get("lang") == lang and connection.cookies.get(LANG_COOKIE) != lang:
            cookies.append(language_cookie(lang))
        if token and actor is None:
            cookies.append(expired_session_cookie())
        if not cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                already = {value.split("=", 1)[0] for value in headers.getall("set-cookie", [])}
                for cookie in cookies:
                    if cookie.key not in already:  # the handler's own cookie (e.g. a new session) wins
                        headers.add("set-cookie", cookie.to_header(header=""))
            await send(message)

        await self.app(scope, receive, send_with_cookies)


# ---------------------------------------------------------------- cookies


def session_cookie(token: str, expires_at: datetime, now: datetime) -> Cookie:
    """The session cookie: HttpOnly, SameSite=Lax, Secure when configured, living as long as the token."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max(0, int((expires_at - now).total_seconds())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(),
    )


def expired_session_cookie() -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        max_age=0,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(),
    )


def language_cookie(lang: str) -> Cookie:
    return Cookie(
        key=LANG_COOKIE,
        value=lang,
        max_age=_LANG_COOKIE_AGE,
        path="/",
        samesite="lax",
        secure=secure_cookies(),
    )


# ---------------------------------------------------------------- redirects after login


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to after login; anything else (other hosts, `//x`, control characters) → default."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(char) < 0x20 for char in value) or value.startswith((LOGIN_PATH, "/dang-xuat")):
        return default
    return value


def login_url(connection: Connection) -> str:
    """`/dang-nhap?next=<where the visitor was going>` (for a form post: the page the form was on)."""
    if connection.scope.get("method", "GET") in ("GET", "HEAD"):
        target = connection.url.path + (f"?{connection.url.query}" if connection.url.query else "")
    else:
        referer = urlsplit(connection.headers.get("referer", ""))
        same_site = referer.netloc == connection.url.netloc
        target = referer.path + (f"?{referer.query}" if referer.query else "") if same_site else "/"
    target = safe_next(target)
    return LOGIN_PATH if target == "/" else f"{LOGIN_PATH}?next={quote(target, safe='/')}"


# ---------------------------------------------------------------- dependencies and guards


def _login_required() -> Unauthenticated:
    return Unauthenticated("web.login_required", "Cần đăng nhập để xem trang này.")


def provide_viewer(request: Request[Any, Any, Any]) -> Actor | None:
    """Dependency `viewer`: the logged-in actor or None."""
    return current_actor(request)


def provide_user(request: Request[Any, Any, Any]) -> Actor:
    """Dependency `user`: the logged-in actor; an anonymous visitor is sent to the login page."""
    actor = current_actor(request)
    if actor is None:
        raise _login_required()
    return actor


def login_required(connection: Connection, _: BaseRouteHandler) -> None:
    if current_actor(connection) is None:
        raise _login_required()


def officer_required(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard: officers only (others get 403, anonymous visitors the login page)."""
    actor = current_actor(connection)
    if actor is None:
        raise _login_required()
    if actor.kind is not ActorKind.OFFICER:
        raise Forbidden("web.officers_only", "Trang này chỉ dành cho cán bộ, công chức.")


def applicant_required(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard: citizens, businesses and post-office agents (the people who file dossiers)."""
    actor = current_actor(connection)
    if actor is None:
        raise _login_required()
    if actor.kind is ActorKind.OFFICER:
        raise Forbidden("web.applicants_only", "Trang này dành cho người nộp hồ sơ.")


def roles_required(*roles: Role) -> Guard:
    """Guard factory: an officer holding at least one of `roles` in their unit."""
    wanted = frozenset(roles)

    def guard(connection: Connection, handler: BaseRouteHandler) -> None:
        officer_required(connection, handler)
        actor = current_actor(connection)
        if actor is None or not actor.roles & wanted:
            raise Forbidden(
                "web.role_required", "Tài khoản của bạn không có vai trò được phép vào trang này."
            )

    return guard


# ---------------------------------------------------------------- failed-login throttle


class LoginThrottle:
    """After `limit` failed logins for one (client address, username) within `window`, refuse for a while."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], list[datetime]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: tuple[str, str], now: datetime) -> timedelta | None:
        """How long this key must wait before trying again; None when it may try now."""
        with self._lock:
            recent = [at for at in self._failures.get(key, []) if now - at < self.window]
            self._failures[key] = recent
            if len(recent) < self.limit:
                return None
            return recent[0] + self.window - now

    def failed(self, key: tuple[str, str], now: datetime) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # bounded memory under a spray of usernames
                self._failures.clear()
            self._failures.setdefault(key, []).append(now)

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


_throttle_lock = threading.Lock()


def login_throttle(connection: Connection) -> LoginThrottle:
    """The app's throttle (one per app instance, kept in its state)."""
    state = connection.app.state
    with _throttle_lock:
        if "login_throttle" not in state:
            state["login_throttle"] = LoginThrottle()
        throttle: LoginThrottle = state["login_throttle"]
    return throttle


# ---------------------------------------------------------------- handler parameter types

# Dependencies are our own objects: Litestar must pass them through, not validate them.
Rt = SkipValidation[Runtime]  # the app's `rt` dependency
User = SkipValidation[Actor]  # the `user` dependency: logged in, or redirected to the login page
Viewer = SkipValidation[Actor | None]  # the `viewer` dependency: the actor or None
PAGE_DEPENDENCIES = {
    "user": Provide(provide_user, sync_to_thread=False),
    "viewer": Provide(provide_viewer, sync_to_thread=False),
}
