"""Rendering pages: `render()` fills the layout's context; `redirect()` answers a form post (303 + flash)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from motcua.web import i18n
from motcua.web.app_config import secure_cookies
from motcua.web.auth import Connection, current_actor, current_language, runtime_of
from motcua.web.nav import nav_items

FLASH_COOKIE = "motcua_flash"
FlashKind = Literal["success", "info", "warning", "error"]
_FLASH_KINDS = ("success", "info", "warning", "error")


def page_context(connection: Connection, context: dict[str, Any]) -> dict[str, Any]:
    """What every page template may use, plus the handler's own values.

    `lang` (vi|en), `user` (Actor | None), `now` (aware datetime from the runtime clock), `nav` (NavItem list),
    `flash` ({"kind", "text"} | None), `title` (page title, without the site suffix), `request`.
    """
    actor = current_actor(connection)
    return {
        "lang": current_language(connection),
        "user": actor,
        "now": runtime_of(connection).clock.now(),
        "nav": nav_items(actor, connection.url.path),
        "flash": read_flash(connection),
        "title": None,
        **context,
    }


def render(
    request: Request[Any, Any, Any],
    template_name: str,
    *,
    status_code: int = 200,
    cookies: Iterable[Cookie] = (),
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """A page: `return render(request, "citizen/dossiers.html", title=..., items=items)`."""
    full = page_context(request, context)
    response_cookies = list(cookies)
    if full["flash"] and all(cookie.key != FLASH_COOKIE for cookie in response_cookies):
        response_cookies.append(_flash_cookie("", max_age=0))  # shown once
    return Template(
        template_name=template_name,
        context=full,
        status_code=status_code,
        cookies=response_cookies,
        headers=headers or {},
    )


def translator(connection: Connection) -> Any:
    """`_ = translator(request)` then `_("auth.bad_credentials")`: messages in the visitor's language."""
    lang = current_language(connection)
    return lambda key, **params: i18n.translate(lang, key, **params)


# ---------------------------------------------------------------- redirects and flash messages


def redirect(
    url: str, *, flash: str | None = None, kind: FlashKind = "success", cookies: Iterable[Cookie] = ()
) -> Redirect:
    """303 See Other to `url` (after a POST), optionally with a one-time message (a message key)."""
    response_cookies = list(cookies)
    if flash is not None:
        if not i18n.has_key(flash):
            raise ValueError(f"unknown flash message key {flash!r}")
        response_cookies.append(_flash_cookie(f"{kind}:{flash}", max_age=120))
    return Redirect(path=url, status_code=303, cookies=response_cookies)


def read_flash(connection: Connection) -> dict[str, str] | None:
    """The pending one-time message as {"kind", "text"}; only known message keys are ever shown."""
    kind, _, key = connection.cookies.get(FLASH_COOKIE, "").partition(":")
    if kind not in _FLASH_KINDS or not i18n.has_key(key):
        return None
    return {"kind": kind, "text": i18n.translate(current_language(connection), key)}


def _flash_cookie(value: str, *, max_age: int) -> Cookie:
    return Cookie(
        key=FLASH_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(),
    )
