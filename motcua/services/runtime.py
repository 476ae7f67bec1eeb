"""What every use case needs: the database, the clock, the business calendar and cached reference data."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from time import monotonic

from sqlalchemy import Connection

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import Clock, SystemClock
from motcua.domain.units import UnitDirectory
from motcua.domain.workflow import Workflow
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
    _directories: dict[date, tuple[float, UnitDirectory]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Reference data read by every submission, kept REFERENCE_CACHE_SECONDS (monotonic time of the read):
    # (procedure code, day) → the city's procedure in force that day; workflow id → its latest version.
    _procedures: dict[tuple[str, date], tuple[float, CityProcedure]] = field(default_factory=dict)
    _latest_workflows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def directory(self, conn: Connection, on: date) -> UnitDirectory:
        """The units valid on `on`, cached per day for UNITS_CACHE_SECONDS (monotonic time of the read).

        Staleness: a reorganisation plan applied by another process (`motcua reorganize apply`) is seen by every
        process within UNITS_CACHE_SECONDS; the applying process calls `forget_units` and sees it at once.
        Bounded: at most 64 days cached (cleared when full)."""
        cached = self._directories.get(on)
        if cached is not None and monotonic() - cached[0] < UNITS_CACHE_SECONDS:
            return cached[1]
        from motcua.services.units import directory

        read_at = monotonic()
        built = directory(conn, on)
        with self._lock:
            if len(self._directories) > 64:
                self._directories.clear()
            self._directories[on] = (read_at, built)
        return built

    def cached_directory(self, on: date) -> UnitDirectory | None:
        """The units valid on `on` if this process has them already and they are fresh (`directory`), else None
        (no database)."""
        cached = self._directories.get(on)
        if cached is None or monotonic() - cached[0] >= UNITS_CACHE_SECONDS:
            return None
        return cached[1]

    def forget_units(self) -> None:
        with self._lock:
            self._directories.clear()

    def city_procedure(self, conn: Connection, code: str, on: date) -> CityProcedure:
        """The city's version of a procedure in force on `on` (`catalog.get_city_procedure`), cached.

        Staleness: a change to the catalog (a city-layer load, the city administrator's online level) is seen
        by every process within REFERENCE_CACHE_SECONDS; `forget_catalog` makes this process see it at once.
        Bounded: at most _CACHE_ENTRIES entries (cleared when full). Not-found answers are not cached."""
        key = (code, on)
        cached = self._procedures.get(key)
        if cached is not None and monotonic() - cached[0] < REFERENCE_CACHE_SECONDS:
            return cached[1]
        from motcua.services.catalog import get_city_procedure

        read_at = monotonic()
        procedure = get_city_procedure(conn, code, on=on)
        with self._lock:
            if len(self._procedures) >= _CACHE_ENTRIES:
                self._procedures.clear()
            self._procedures[key] = (read_at, procedure)
        return procedure

    def latest_workflow(self, conn: Connection, workflow_id: str) -> Workflow:
        """The latest stored version of a workflow (`WorkflowRegistry.latest`); which version is latest is
        cached like `city_procedure` (a new version is used by every process within REFERENCE_CACHE_SECONDS).
        A stored version never changes, so the definition itself is cached for good by the registry."""
        cached = self._latest_workflows.get(workflow_id)
        if cached is not None and monotonic() - cached[0] < REFERENCE_CACHE_SECONDS:
            return self.workflows.get(conn, workflow_id, cached[1])
        read_at = monotonic()
        workflow = self.workflows.latest(conn, workflow_id)
        with self._lock:
            if len(self._latest_workflows) >= _CACHE_ENTRIES:
                self._latest_workflows.clear()
            self._latest_workflows[workflow_id] = (read_at, workflow.version)
        return workflow

    def forget_catalog(self) -> None:
        """Drop the cached procedures and latest workflow versions (after a change made in this process)."""
        with self._lock:
            self._procedures.clear()
            self._latest_workflows.clear()


REFERENCE_CACHE_SECONDS = 5.0
UNITS_CACHE_SECONDS = 60.0  # a day's unit directory: rebuilt (one query, ≈ 350 units) once a minute
_CACHE_ENTRIES = 4096
