"""All page routes, on one router that loads the session and the language for every page.

To add an area: write `motcua/web/routes/<area>.py` ending with `ROUTES = [...]`, then add `*<area>.ROUTES`
to the list below (one line).
"""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from motcua.web.app_config import STATIC_DIR, STATIC_PATH
from motcua.web.auth import PAGE_DEPENDENCIES, PageSessionMiddleware
from motcua.web.routes import (  # the officer workspace
    admin,
    citizen,  # the citizen portal
    common,
    officer,
    outbox,  # the city administrator's background jobs
)


def web_routes() -> list[Router]:
    """The pages router and the static files router, for `motcua.api.app.area_routes()`."""
    pages = Router(
        path="/",
        route_handlers=[
            *common.ROUTES,
            *officer.ROUTES,
            *admin.ROUTES,
            *outbox.ROUTES,
            *citizen.ROUTES,
        ],
        dependencies=PAGE_DEPENDENCIES,
        middleware=[PageSessionMiddleware],
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=7 * 24 * 3600, public=True),
        include_in_schema=False,
    )
    return [pages, static]
