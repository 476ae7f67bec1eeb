"""How the pages plug into the Litestar app: Jinja environment, CSRF, the secret key, security headers.

`motcua.api.app.create_app` calls `template_config()`, `csrf_config()` and registers `security_headers` as a
`before_send` hook; the error handlers come from `motcua.web.errors.with_html_errors`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from motcua.web import i18n
from motcua.web.format import format_date, format_datetime, iso_instant, sla_band_of, url_with

WEB_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PATH = "/static"
SECRET_FILE = Path("var/secret.key")
CSRF_COOKIE = "motcua_csrf"

# Paths that answer JSON (the API, its docs, health): no CSRF, no HTML error pages, no page headers.
JSON_PATH_PREFIXES = ("/api/", "/docs", "/schema", "/openapi.json", "/healthz")


def is_page_path(path: str) -> bool:
    """True for the HTML side of the site (pages and their static files), False for the JSON API."""
    return not path.startswith(JSON_PATH_PREFIXES)


def secure_cookies() -> bool:
    """`MOTCUA_SECURE_COOKIES=1` marks every cookie `Secure` (behind HTTPS); off by default for http://127.0.0.1."""
    return os.environ.get("MOTCUA_SECURE_COOKIES", "") == "1"


# ---------------------------------------------------------------- secret key


def secret_key() -> str:
    """`MOTCUA_SECRET_KEY`, or a random key generated once into `var/secret.key` (mode 0600) and reused."""
    configured = os.environ.get("MOTCUA_SECRET_KEY", "")
    if configured:
        if len(configured) < 32:
            raise ValueError("MOTCUA_SECRET_KEY must be at least 32 characters long")
        return configured
    return _secret_from_file(SECRET_FILE)


def _secret_from_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a private temp file, then link it into place: concurrent starters all end up with one key.
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(secrets.token_hex(32))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 characters; delete it to generate a new one")
    return key


def csrf_config() -> CSRFConfig:
    """CSRF on every unsafe page request; the token travels in the `_csrf_token` form field (`csrf_field()`)."""
    return CSRFConfig(
        secret=secret_key(),
        cookie_name=CSRF_COOKIE,
        cookie_httponly=True,
        cookie_secure=secure_cookies(),
        cookie_samesite="lax",
        exclude=[rf"^{prefix}" for prefix in (*JSON_PATH_PREFIXES, f"{STATIC_PATH}/")],
    )


# ---------------------------------------------------------------- templates


@cache
def jinja_environment() -> Environment:
    """The Jinja environment of every page: autoescaping, the `t()` message global, formatting filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        t=_t,
        static_url=static_url,
        url_with=pass_context(lambda ctx, **params: url_with(ctx["request"], **params)),
        sla_band_of=pass_context(lambda ctx, due: sla_band_of(due, ctx["now"])),
    )
    env.filters.update(datetime_vn=format_datetime, date_vn=format_date, iso_instant=iso_instant)
    return env


@pass_context
def _t(ctx: Context, key: str, **params: Any) -> str:
    return i18n.translate(ctx.get("lang") or i18n.DEFAULT_LANGUAGE, key, **params)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(jinja_environment()))


def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`: browsers may cache static files for long and still see changes."""
    return f"{STATIC_PATH}/{name}?v={_static_version(name, (STATIC_DIR / name).stat().st_mtime_ns)}"


@cache
def _static_version(name: str, mtime_ns: int) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


# ---------------------------------------------------------------- security headers

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


async def security_headers(message: Message, scope: Scope) -> None:
    """`before_send` hook: the page headers on every non-API response; `no-store` on HTML (personal data)."""
    if message["type"] != "http.response.start" or not is_page_path(scope.get("path", "/")):
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in _PAGE_HEADERS.items():
        headers[name] = value
    if headers.get("content-type", "").startswith("text/html") and "cache-control" not in headers:
        headers["cache-control"] = "no-store"
