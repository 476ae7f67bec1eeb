"""What every use case needs: the database, the clock, the business calendar and cached reference data."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from time import monotonic

from sqlalchemy import Connection, select

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import Clock, SystemClock
from motcua.domain.errors import Conflict
from motcua.domain.units import UnitDirectory
from motcua.domain.workflow import Workflow
from motcua.services.files import BlobStore, default_blob_store
from motcua.services.hooks import EventHook, default_hooks
from motcua.services.workflows import WorkflowRegistry
from motcua.store.db import Database, HotStatement
from motcua.store.schema.units_version import units_version


@dataclass
class Runtime:
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.vietnam)
    workflows: WorkflowRegistry = field(default_factory=WorkflowRegistry)
    blobs: BlobStore = field(default_factory=default_blob_store)
    hooks: list[EventHook] = field(default_factory=default_hooks)
    # day → (units version token it was built under, monotonic time the token was last confirmed, directory)
    _directories: dict[date, tuple[str, float, UnitDirectory]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Reference data read by every submission, kept REFERENCE_CACHE_SECONDS (monotonic time of the read):
    # (procedure code, day) → the city's procedure in force that day; workflow id → its latest version.
    _procedures: dict[tuple[str, date], tuple[float, CityProcedure]] = field(default_factory=dict)
    _latest_workflows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def directory(self, conn: Connection, on: date) -> UnitDirectory:
        """The units valid on `on` as `conn` sees them: from this process's cache when the registry's version
        token (`units_version`, renewed by triggers on every write of `units` or `unit_lineage`) still holds.

        Staleness: none — one small query per call reads the token, so a reorganisation plan committed by
        another process (`motcua reorganize apply`) is seen by the very next call (decision 0010). The
        lifecycle's writes use `directory_to_write` instead (no query: their own statement checks the token).
        Bounded: at most 64 days cached (cleared when full)."""
        token = units_token(conn)
        cached = self._directories.get(on)
        if cached is not None and token is not None and cached[0] == token:
            self._directories[on] = (token, monotonic(), cached[2])
            return cached[2]
        if cached is not None:
            self.forget_catalog()  # a plan's procedure reassignments come with its unit changes
        return self._build_directory(conn, on, token)

    def directory_to_write(self, conn: Connection, on: date) -> tuple[UnitDirectory, str | None]:
        """For a write that checks the token itself: the cached directory of `on` and the token it was built
        under, with no query (however old it is), or both read now. The caller must then check, in a statement
        that writes the dossier, that the token is still current (`check_units`): on PostgreSQL a statement
        that waited for a reorganisation's lock sees its commit, so the check is airtight (decision 0010)."""
        cached = self._directories.get(on)
        if cached is not None:
            return cached[2], cached[0]
        token = units_token(conn)
        return self._build_directory(conn, on, token), token

    def check_units(self, used: str | None, current: str | None) -> None:
        """After a write: `current` is the token the writing statement read, `used` the one the directory was
        built under. Equal: the directory is confirmed fresh (for `cached_directory`). Different: a
        reorganisation committed in between — forget the directory and raise `UnitsChanged` (the caller rolls
        back and runs the use case again on the new directory)."""
        if used == current:
            if used is not None:
                for on, cached in list(self._directories.items()):
                    if cached[0] == used:
                        self._directories[on] = (used, monotonic(), cached[2])
            return
        self.forget_units()
        self.forget_catalog()  # a plan's procedure reassignments come with its unit changes
        raise UnitsChanged()

    def directory_replaced(self, on: date) -> bool:
        """Whether the directory of `on` this process holds has been replaced since (one read of the token; for
        an error path); if so it is forgotten. False when none is held."""
        cached = self._directories.get(on)
        if cached is None:
            return False
        with self.db.read() as conn:
            token = units_token(conn)
        if token == cached[0]:
            return False
        self.forget_units()
        self.forget_catalog()
        return True

    def _build_directory(self, conn: Connection, on: date, token: str | None) -> UnitDirectory:
        """Read the directory AFTER `token` (read by the caller first): under READ COMMITTED the directory is
        then at least as new as the token, so a pair can only be found stale later, never wrongly fresh."""
        from motcua.services.units import directory

        built = directory(conn, on)
        if token is None:  # no version row (a database emptied by hand): read every time
            return built
        with self._lock:
            if len(self._directories) > 64:
                self._directories.clear()
            self._directories[on] = (token, monotonic(), built)
        return built

    def cached_directory(self, on: date) -> UnitDirectory | None:
        """The units valid on `on` if this process has them and confirmed their token within
        UNITS_RECHECK_SECONDS (by `directory` or by a write's check), else None (no database). For the reads
        that run no statement of their own to check it (public tracking on the event loop, the archive scope):
        their staleness is UNITS_RECHECK_SECONDS at most."""
        cached = self._directories.get(on)
        if cached is None or monotonic() - cached[1] >= UNITS_RECHECK_SECONDS:
            return None
        return cached[2]

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
# How long a directory whose token was confirmed may be used with no query at all (`cached_directory`).
UNITS_RECHECK_SECONDS = 2.0


class UnitsChanged(Conflict):
    """A reorganisation committed while a write was computed on the directory it replaced: nothing is written
    (the caller rolls back and runs again on the new directory; only if that happens twice in a row does the
    user see this 409)."""

    def __init__(self) -> None:
        super().__init__(
            "unit.directory_changed",
            "Danh mục đơn vị hành chính vừa được sắp xếp lại; hồ sơ chưa được ghi, vui lòng gửi lại.",
        )


_UNITS_TOKEN = HotStatement(select(units_version.c.token).where(units_version.c.id == 1))


def units_token(conn: Connection) -> str | None:
    """The registry's version token as `conn` sees it (one small statement); None if its row is missing."""
    rows = _UNITS_TOKEN.rows(conn, {})
    return str(rows[0][0]) if rows else None


_CACHE_ENTRIES = 4096
