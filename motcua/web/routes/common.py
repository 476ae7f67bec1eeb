"""Pages every visitor shares: home, login, logout, the account page. (Errors: `motcua.web.errors`.)"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from motcua.domain.errors import Unauthenticated
from motcua.services.identity import get_user, login, revoke
from motcua.web.auth import (
    SESSION_COOKIE,
    Rt,
    User,
    Viewer,
    expired_session_cookie,
    login_throttle,
    safe_next,
    session_cookie,
)
from motcua.web.render import redirect, render, translator

# Life events on the home page: (message key, search words). The search page is /thu-tuc?q=…
QUICK_LINKS = (
    ("home.event_birth", "khai sinh"),
    ("home.event_marriage", "kết hôn"),
    ("home.event_residence", "thường trú"),
    ("home.event_temporary", "tạm trú"),
    ("home.event_death", "khai tử"),
    ("home.event_business", "hộ kinh doanh"),
    ("home.event_building", "giấy phép xây dựng"),
    ("home.event_criminal_record", "lý lịch tư pháp"),
)
MAX_USERNAME = 64
MAX_PASSWORD = 256


@get("/", sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Template:
    _ = translator(request)
    return render(request, "home.html", title=_("home.title"), quick_links=QUICK_LINKS)


# ---------------------------------------------------------------- login


@dataclass
class LoginForm:
    username: str = ""
    password: str = ""
    next: str = ""


LoginBody = Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/dang-nhap", sync_to_thread=False)
def login_page(
    request: Request[Any, Any, Any], viewer: Viewer, next: FromQuery[str | None] = None
) -> Template | Redirect:
    if viewer is not None:
        return Redirect(safe_next(next), status_code=303)
    return _login_form(request, next=safe_next(next, default=""))


@post("/dang-nhap", sync_to_thread=True, status_code=303)
def login_submit(request: Request[Any, Any, Any], data: LoginBody, rt: Rt) -> Template | Redirect:
    """Check the form, then the password; a good login sets the session cookie and goes to `next`."""
    _ = translator(request)
    username, target = data.username.strip(), safe_next(data.next, default="")
    errors = _check_login_form(username, data.password, _)
    if errors:
        return _login_form(request, status_code=422, username=username, next=target, errors=errors)
    now = rt.clock.now()
    key = (request.client.host if request.client else "?", username.lower())
    throttle = login_throttle(request)
    wait = throttle.retry_after(key, now)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        errors = {"_form": _("auth.throttled", minutes=minutes)}
        return _login_form(request, status_code=429, username=username, next=target, errors=errors)
    try:
        with rt.db.transaction() as conn:
            issued = login(conn, username=username, password=data.password, now=now, purpose="web")
            previous = request.cookies.get(SESSION_COOKIE)
            if previous:  # logging in as someone else ends the session this browser had
                revoke(conn, token=previous, now=now)
    except Unauthenticated:
        throttle.failed(key, now)
        errors = {"_form": _("auth.bad_credentials")}
        return _login_form(request, status_code=422, username=username, next=target, errors=errors)
    throttle.succeeded(key)
    cookie = session_cookie(issued.token, issued.expires_at, now)
    return redirect(target or "/", flash="flash.logged_in", cookies=[cookie])


def _check_login_form(username: str, password: str, _: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = _("auth.username_required")
    elif len(username) > MAX_USERNAME:
        errors["username"] = _("auth.too_long")
    if not password:
        errors["password"] = _("auth.password_required")
    elif len(password) > MAX_PASSWORD:
        errors["password"] = _("auth.too_long")
    return errors


def _login_form(request: Request[Any, Any, Any], *, status_code: int = 200, **context: Any) -> Template:
    _ = translator(request)
    context.setdefault("username", "")
    context.setdefault("errors", {})
    return render(request, "login.html", status_code=status_code, title=_("auth.login_title"), **context)


# ---------------------------------------------------------------- logout


@get("/dang-xuat", sync_to_thread=False)
def logout_page(request: Request[Any, Any, Any], viewer: Viewer) -> Template | Redirect:
    """A confirmation form (logging out changes state, so it is a POST)."""
    if viewer is None:
        return Redirect("/", status_code=303)
    _ = translator(request)
    return render(request, "logout.html", title=_("auth.logout_title"))


@post("/dang-xuat", sync_to_thread=True, status_code=303)
def logout_submit(request: Request[Any, Any, Any], rt: Rt) -> Redirect:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with rt.db.transaction() as conn:
            revoke(conn, token=token, now=rt.clock.now())
    return redirect("/", flash="flash.logged_out", cookies=[expired_session_cookie()])


# ---------------------------------------------------------------- account


@get("/tai-khoan", sync_to_thread=True)
def account(request: Request[Any, Any, Any], user: User, rt: Rt) -> Template:
    """Who is logged in: name, username, kind, unit and roles."""
    _ = translator(request)
    now = rt.clock.now()
    with rt.db.read() as conn:
        row = get_user(conn, user.id) or {}
        units = rt.directory(conn, now.date())
        unit_name = units.get(user.unit_id).name if user.unit_id and user.unit_id in units else None
    return render(
        request,
        "account.html",
        title=_("account.title"),
        username=row.get("username", ""),
        unit_name=unit_name,
        roles=sorted(role.value for role in user.roles),
    )


ROUTES = [home, login_page, login_submit, logout_page, logout_submit, account]
