"""The application without event hooks (no documents issued, no gateway bundles), for the `core` variant
of the lifecycle load: the cost of the dossier use cases alone, next to the application as shipped."""

from __future__ import annotations

from motcua.api.app import create_app
from motcua.services.runtime import Runtime
from motcua.store.db import Database

app = create_app(Runtime(db=Database(), hooks=[]))
