"""Call pyHanko's synchronous API from any thread.

pyHanko's synchronous calls (`PdfSigner.sign_pdf`, `validate_pdf_signature`) wrap `asyncio.run`, which refuses
to start on a thread whose event loop is already running — an async request handler, or a process driving
Playwright's synchronous API (the browser tests) — and a document job there failed with "asyncio.run() cannot
be called from a running event loop". On such a thread the call runs on a short-lived thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def off_running_loop(call: Callable[[], T]) -> T:
    """`call()`, on a private thread when this thread's event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="motcua-pyhanko") as pool:
        return pool.submit(call).result()
