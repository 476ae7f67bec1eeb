"""What every use case needs: the database, the clock, the business calendar and cached reference data."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import Clock, SystemClock
from motcua.domain.units import UnitDirectory
from motcua.services.files import BlobStore, default_blob_store
from motcua.services.hooks import EventHook, default_hooks
from motcua.services.workflows import WorkflowRegistry
from motcua.store.db import Database


@dataclass
class Runtime:
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.vietnam)
    workflows: WorkflowRegistry = field(default_factory=WorkflowRegistry)
    blobs: BlobStore = field(default_factory=default_blob_store)
    hooks: list[EventHook] = field(default_factory=default_hooks)
    _directories: dict[date, UnitDirectory] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def directory(self, conn: Connection, on: date) -> UnitDirectory:
        """The units valid on `on`, cached per day (a reorganisation calls `forget_units`)."""
        cached = self._directories.get(on)
        if cached is not None:
            return cached
        from motcua.services.units import directory

        built = directory(conn, on)
        with self._lock:
            if len(self._directories) > 64:
                self._directories.clear()
            self._directories[on] = built
        return built

    def forget_units(self) -> None:
        with self._lock:
            self._directories.clear()
