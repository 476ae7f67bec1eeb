"""ASGI entry point for uvicorn: `motcua.api.asgi:app`, configured from the environment."""

from __future__ import annotations

from motcua.api.app import create_app
from motcua.services.runtime import Runtime
from motcua.store.db import Database

app = create_app(Runtime(db=Database()))
