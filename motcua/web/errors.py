"""HTML error pages for page requests; the JSON API keeps its own handlers and error format.

`with_html_errors(api_handlers)` wraps each API exception handler: a request under `/api/` (or the docs and
health paths) still gets the API's JSON, any other path gets `error.html` in the visitor's language. A
`DomainError` shows its own (Vietnamese) message; an unauthenticated visitor is redirected to the login page.
Stack traces are logged, never shown.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from motcua.domain.errors import DomainError
from motcua.store.db import lost_database
from motcua.web import i18n
from motcua.web.app_config import is_page_path
from motcua.web.auth import current_language, login_url
from motcua.web.render import page_context, redirect

log = logging.getLogger("motcua.web")

_DOMAIN_STATUS = {"invalid": 400, "unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409}
_KNOWN_STATUSES = frozenset({400, 403, 404, 405, 409, 413, 429, 500, 503})

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def with_html_errors(api_handlers: Mapping[Any, Handler]) -> dict[Any, Handler]:
    """The same handler map, answering HTML error pages for page requests."""
    return {key: _page_or(handler) for key, handler in api_handlers.items()}


def _page_or(api_handler: Handler) -> Handler:
    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        if is_page_path(request.url.path):
            return error_page(request, exc)
        return api_handler(request, exc)

    return handle


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The response a page request gets for `exc`: a redirect to the login page, or `error.html`."""
    if isinstance(exc, NotAuthorizedException) or (
        isinstance(exc, DomainError) and exc.kind == "unauthenticated"
    ):
        return redirect(login_url(request), flash="flash.login_required", kind="info")
    lang = current_language(request)
    status, message, code = _describe(exc, lang)
    if status >= 500:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _render_error(request, status, message, code)


def _describe(exc: Exception, lang: str) -> tuple[int, str, str | None]:
    """(HTTP status, message for the visitor, stable error code to show or None)."""
    if isinstance(exc, DomainError):
        status = _DOMAIN_STATUS.get(exc.kind, 400)
        return status, exc.message, exc.code
    if isinstance(exc, ValidationException):
        return 400, i18n.translate(lang, "error.message_400"), None
    if isinstance(exc, HTTPException):
        status = exc.status_code if exc.status_code in _KNOWN_STATUSES else 400
        if status == 403 and "CSRF" in str(exc.detail):
            return 403, i18n.translate(lang, "error.csrf"), "csrf.invalid"
        return status, i18n.translate(lang, f"error.message_{status}"), None
    if lost_database(exc):  # a restart or failover: the next try gets a new connection
        return 503, i18n.translate(lang, "error.message_503"), "database.unavailable"
    return HTTP_500_INTERNAL_SERVER_ERROR, i18n.translate(lang, "error.message_500"), None


def _render_error(
    request: Request[Any, Any, Any], status: int, message: str, code: str | None
) -> Response[Any]:
    lang = current_language(request)
    title = i18n.translate(lang, f"error.title_{status if status in _KNOWN_STATUSES else 400}")
    try:
        context = page_context(request, {"title": title, "message": message, "code": code, "status": status})
        template = request.app.template_engine.get_template("error.html")  # type: ignore[union-attr]
        body = template.render(**context, request=request)
    except Exception:  # the error page itself failed (e.g. the database is down): a plain page
        log.exception("error page failed to render")
        body = _FALLBACK.format(lang=lang, title=html.escape(title), message=html.escape(message))
    return Response(body, status_code=status, media_type=MediaType.HTML)


_FALLBACK = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head><body><main><h1>{title}</h1><p>{message}</p><p><a href="/">Trang chủ</a></p></main>
</body></html>"""
