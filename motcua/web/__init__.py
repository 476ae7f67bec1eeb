"""Server-rendered pages: the citizen portal and the officer workspace (conventions: `motcua/web/README.md`)."""

from __future__ import annotations

from motcua.web.app_config import csrf_config, security_headers, template_config
from motcua.web.auth import (
    Rt,
    User,
    Viewer,
    applicant_required,
    current_actor,
    current_language,
    login_required,
    officer_required,
    roles_required,
)
from motcua.web.errors import with_html_errors
from motcua.web.render import redirect, render, translator
from motcua.web.routes import web_routes

__all__ = [
    "Rt",
    "User",
    "Viewer",
    "applicant_required",
    "csrf_config",
    "current_actor",
    "current_language",
    "login_required",
    "officer_required",
    "redirect",
    "render",
    "roles_required",
    "security_headers",
    "template_config",
    "translator",
    "web_routes",
    "with_html_errors",
]
