"""The officer workspace (Một cửa điện tử): queues with filters, the dossier page's data, desk reception.

These use cases sit on top of `motcua.services.dossiers` (which decides and records every change): they add
what the pages need around it — the queue of dossiers waiting on an officer (by the step's role at their unit),
officers' names for the history, the e-form schema the dossier was filed with, who may be assigned, and the
three-step desk filing (submit, attach the scans, accept) that lets the receipt list the scanned documents.
"""

from __future__ import annotations

import logging
import re
import threading
import time as time_module
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Text, and_, func, literal_column, or_, select, text, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BooleanClauseList, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.util import ClauseAdapter

from motcua.domain.catalog import CityProcedure, SubmissionChannel
from motcua.domain.clock import to_vn
from motcua.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from motcua.domain.identifiers import parse_dossier_code
from motcua.domain.lifecycle import TERMINAL, Action, Actor, ActorKind, Channel, Status
from motcua.domain.text import fold
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services.catalog import get_city_procedure
from motcua.services.files import check_upload
from motcua.services.identity import applicant_user_id
from motcua.services.runtime import Runtime
from motcua.store.db import Database
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.dossier_search import dossier_search
from motcua.store.schema.dossiers import OPEN_QUEUE_STATUSES, dossiers
from motcua.store.schema.identity import users
from motcua.store.schema.unit_procedures import unit_procedures
from motcua.store.schema.workflows import workflow_definitions

log = logging.getLogger("motcua.web")

QUEUES = ("new", "mine", "unit")
SORTS = ("due", "submitted", "recent")
SLA_BANDS = ("overdue", "due_today", "within_time")
OPEN_STATUSES = tuple(int(s) for s in Status if s not in TERMINAL)
PAUSED_STATUSES = (int(Status.SUPPLEMENT_REQUESTED), int(Status.FEE_DUE))
# Statuses whose legal clock is running: the SLA band means something for them.
RUNNING_STATUSES = (int(Status.ACCEPTED), int(Status.IN_PROCESS))
MAX_QUEUE_PAGE = 100


# ---------------------------------------------------------------- queues


@dataclass(frozen=True)
class QueueQuery:
    """What an officer asked of a queue (all optional but `queue`)."""

    queue: str = "unit"  # new | mine | unit
    status: str = ""  # "" = open dossiers, "all", or a national status 1–10
    procedure: str = ""  # a procedure code
    text: str = ""  # part of a dossier code, an applicant's name or personal ID
    sort: str = "due"  # due | submitted | recent
    sla: str = ""  # overdue | due_today | within_time (legal due date, running dossiers only)
    limit: int = 20
    offset: int = 0


def officer_queue(rt: Runtime, actor: Actor, query: QueueQuery) -> dict[str, Any]:
    """A page of a queue: {"items", "total", "total_is_capped", "procedures" (the queue's procedures, for the
    filter)}.

    The total is counted up to `count_cap(query)` rows, never further: a unit's "all" queue holds a year of
    dossiers and more (≈ 100,000 for Phường Sài Gòn at 10 million), and an exact count of them is a scan of
    every one of its rows on every page view. Below the cap the total is exact; at the cap `total_is_capped`
    is true and the total means "more than total - 1" — and, since the cap is always past the end of the
    page asked for, "there is a next page" stays exact. The procedure list is cached (`_procedures_of`)."""
    _check_query(actor, query)
    now = rt.clock.now()
    city_wide = _is_city_wide(actor, query.queue)
    cap = count_cap(query, city_wide=city_wide)
    large = _may_be_large(query, city_wide=city_wide)
    # A city-wide search for a part of a name: counted from `dossier_search` alone, its page walked for in
    # due-date order first (`walked_page`, `city_text_count`).
    city_text = city_wide and _part_pattern(query.text) is not None
    with rt.db.read() as conn:
        scope = _queue_scope(conn, rt, actor, query.queue, query.status)
        archive = _archive_of(conn, rt, actor, query.queue, query.status)
        where = _where(scope, query, now, rt.db.dialect, _search_unit(actor, query.queue, archive))
        total: int | None = None
        matched: list[int] | None = None  # every dossier the text matches, when few enough to list
        if city_text and not query.procedure and not query.sla:
            found = city_text_matches(conn, query.text, cap, _status_filter(query, rt.db.dialect))
            if found is not None:
                total, matched = found
        if total is None:
            total = (
                _capped_total(conn, scope, query, now, rt.db.dialect, cap)
                if large
                else _count(conn, where, cap)
            )
        order = _order(query.sort, large=large, many=total >= cap)
        rows: Iterable[Any] | None = None
        # The open queue walks only the open dossiers (≈ 5 % of the city): a part too rare among all of them to
        # reach the cap may still be common among those ("nguyen thi": 999 open, 0.2 % of them, at 10 million).
        open_only = query.status == "" and set(OPEN_STATUSES) == set(OPEN_QUEUE_STATUSES)
        if matched is not None:
            # The matching dossiers are known: their page by key, the queue's other conditions kept.
            plain = _where(scope, replace(query, text=""), now, rt.db.dialect)
            page = select(*_QUEUE_COLUMNS).where(plain, dossiers.c.id.in_(matched)).order_by(*order)
            rows = conn.execute(page.limit(query.limit).offset(query.offset)).mappings()
        elif (
            city_text
            and (total >= cap or open_only)
            and query.sort == "due"
            and query.offset + query.limit <= WALKED_PAGE_MAX
        ):
            # Each dossier probes its own row. The conditions as PostgreSQL has them: SQLite's open-status term is
            # SQL text naming `dossiers`, which the walk's subquery replaces (the same rows either way).
            probing = _where(scope, query, now, "postgresql", None)
            walked = walked_page(
                conn,
                _QUEUE_COLUMNS,
                probing,
                order,
                query.offset + query.limit,
                in_walk_order=False,
                open_only=open_only,
            )
            if walked is not None:
                rows = [row._mapping for row in walked[query.offset :]]
        if rows is None:
            page = select(*_QUEUE_COLUMNS).where(where).order_by(*order)
            rows = conn.execute(page.limit(query.limit).offset(query.offset)).mappings()
        items = [_queue_item(row) for row in rows]
        procedures = _procedures_of(conn, rt, actor, query.queue, scope)
        names = user_names(conn, {item["assignee_id"] for item in items if item["assignee_id"]})
    for item in items:
        item["assignee_name"] = names.get(item["assignee_id"] or "", "")
    return {"items": items, "total": total, "total_is_capped": total >= cap, "procedures": procedures}


QUEUE_COUNT_CAP = 10_001  # a queue's total stops here ("hơn 10.000"), as the city-wide list's does


def _count(conn: Connection, where: ColumnElement[bool], cap: int) -> int:
    """Matching rows, counted up to `cap`. A constant, not the id, per row: PostgreSQL may then count from an
    index alone (an index-only scan), as SQLite does (its id is the rowid, in every index)."""
    counted = select(literal_column("1")).select_from(dossiers).where(where).limit(cap).subquery()
    return int(conn.execute(select(func.count()).select_from(counted)).scalar_one())


def _capped_total(
    conn: Connection, scope: ColumnElement[bool], query: QueueQuery, now: datetime, dialect: str, cap: int
) -> int:
    """The total of a large queue, counted up to `cap`. A unit's scope is an OR of three columns, and counting
    their union reads the table row of every dossier counted (≈ 8 ms for 10,000 rows on SQLite). The first arm
    alone (received at the unit, with the status filter) is a range of its (unit, status) index, read without
    the table: when it reaches the cap, so does the union (a superset). Only then, else the union is counted.
    Not with other filters (procedure, SLA band): those need the rows, and the union would read them twice."""
    if (
        isinstance(scope, BooleanClauseList)
        and scope.operator is operators.or_
        and not _other_filters(query, now)
    ):
        first = _where(scope.clauses[0], query, now, dialect)
        counted = _count(conn, first, cap)
        if counted >= cap:
            return counted
    return _count(conn, _where(scope, query, now, dialect), cap)


def count_cap(query: QueueQuery, *, city_wide: bool = False) -> int:
    """How far `officer_queue` counts: QUEUE_COUNT_CAP (CITY_TEXT_COUNT_CAP for a city-wide search of a part of
    a name, code or ID), or one row past the page asked for if that is further (so a deep page still knows
    whether another follows)."""
    cap = CITY_TEXT_COUNT_CAP if city_wide and _part_pattern(query.text) is not None else QUEUE_COUNT_CAP
    return max(cap, query.offset + query.limit + 1)


# The procedures of a queue (the filter's choices), ordered by name then code, without duplicates.
# - A unit's "unit" queue: its rows of `unit_procedures` (kept by database triggers on `dossiers`, revision
#   c7d2e9a1f4b3), a range of that table's primary key read in order from the index alone — a few hundred rows,
#   never the unit's dossiers. City-wide (the city's administrators and monitors): the distinct (name, code)
#   of the whole table, its (name, code) index read in order. Not cached: the table is never stale, so a
#   procedure is in the filter from the commit of its unit's first dossier. It is a superset of the DISTINCT
#   over the unit's current scope: a dossier that moved on to another unit leaves its procedure in its former
#   unit's filter (choosing it then lists no dossier, or only the unit's other dossiers of it).
# - "new" and "mine": the DISTINCT over their scopes (a unit's submitted dossiers, an officer's open work:
#   small, read from their indexes, but still one heap row per dossier), kept per process for
#   PROCEDURES_TTL seconds. Staleness rule: a procedure appears in those filters at most PROCEDURES_TTL
#   seconds after its first dossier in the scope (the dossier itself is in the queue at once). Bounded:
#   PROCEDURES_MAX entries per database (oldest dropped), keyed by queue, unit, and officer and roles.
PROCEDURES_TTL = 60.0
PROCEDURES_MAX = 1_024
_ProcedureCache = OrderedDict[tuple[Any, ...], tuple[float, list[dict[str, str]]]]
_procedures_caches: weakref.WeakKeyDictionary[Database, _ProcedureCache] = weakref.WeakKeyDictionary()
_procedures_lock = threading.Lock()
_CITY_WIDE_ROLES = frozenset({Role.CITY_ADMIN, Role.MONITOR})


def _procedures_of(
    conn: Connection, rt: Runtime, actor: Actor, queue: str, scope: ColumnElement[bool]
) -> list[dict[str, str]]:
    if queue == "unit":
        predecessors = (
            () if _is_city_wide(actor, queue) else dossier_service.unit_predecessors(conn, rt, actor.unit_id)
        )
        if not predecessors:
            return _unit_procedures(conn, actor)
        # A successor's (decision 0010): its rows and its predecessors' (their archive, listed with status "all"
        # or a closed one), each unit's a range of the primary key, merged without duplicates.
        kept = unit_procedures.c
        listed = (
            select(kept.procedure_code, kept.procedure_name)
            .where(kept.unit_id.in_([actor.unit_id, *predecessors]))
            .distinct()
            .order_by(kept.procedure_name, kept.procedure_code)
        )
        return [{"code": code, "name": name} for code, name in conn.execute(listed)]
    key = (queue, actor.unit_id, actor.id if queue == "mine" else "", frozenset(actor.roles))
    now = time_module.monotonic()
    with _procedures_lock:
        cache = _procedures_caches.setdefault(rt.db, OrderedDict())
        hit = cache.get(key)
        if hit is not None and now - hit[0] < PROCEDURES_TTL:
            cache.move_to_end(key)
            return hit[1]
    procedures = [
        {"code": code, "name": name}
        for code, name in conn.execute(
            select(dossiers.c.procedure_code, dossiers.c.procedure_name)
            .where(scope)
            .distinct()
            .order_by(dossiers.c.procedure_name, dossiers.c.procedure_code)
        )
    ]
    with _procedures_lock:
        cache[key] = (now, procedures)
        cache.move_to_end(key)
        while len(cache) > PROCEDURES_MAX:
            cache.popitem(last=False)
    return procedures


def _unit_procedures(conn: Connection, actor: Actor) -> list[dict[str, str]]:
    """The "unit" queue's procedures, from `unit_procedures` (the city-wide scope as `_queue_scope` decides it)."""
    kept = unit_procedures.c
    listed = select(kept.procedure_code, kept.procedure_name)
    if actor.unit_id == dossier_service.CITY_UNIT_ID and actor.roles & _CITY_WIDE_ROLES:
        listed = listed.distinct()
    else:
        listed = listed.where(kept.unit_id == actor.unit_id)
    listed = listed.order_by(kept.procedure_name, kept.procedure_code)
    return [{"code": code, "name": name} for code, name in conn.execute(listed)]


def forget_queue_procedures() -> None:
    """Empty the per-process cache of the "new" and "mine" queues' procedure lists (tests; after a bulk import)."""
    with _procedures_lock:
        _procedures_caches.clear()


_QUEUE_COLUMNS = (
    dossiers.c.code,
    dossiers.c.procedure_code,
    dossiers.c.procedure_name,
    dossiers.c.status,
    dossiers.c.channel,
    dossiers.c.applicant_name,
    dossiers.c.submitted_at,
    dossiers.c.due_at,
    dossiers.c.step_due_at,
    dossiers.c.assignee_id,
)


def _check_query(actor: Actor, query: QueueQuery) -> None:
    if actor.kind is not ActorKind.OFFICER:
        raise InvalidInput("workspace.officers_only", "Hàng đợi hồ sơ chỉ dành cho cán bộ, công chức.")
    if query.queue not in QUEUES:
        raise InvalidInput("workspace.bad_queue", "Hàng đợi phải là new, mine hoặc unit.")
    if query.sort not in SORTS:
        raise InvalidInput("workspace.bad_sort", "Cách sắp xếp phải là due, submitted hoặc recent.")
    if query.sla and query.sla not in SLA_BANDS:
        raise InvalidInput("workspace.bad_sla", "Mức hạn phải là overdue, due_today hoặc within_time.")
    if query.status not in ("", "all") and not (query.status.isdigit() and 1 <= int(query.status) <= 10):
        raise InvalidInput("workspace.bad_status", "Trạng thái phải là một số từ 1 đến 10.")
    if not 1 <= query.limit <= MAX_QUEUE_PAGE or query.offset < 0:
        raise InvalidInput("workspace.bad_page", "Phân trang không hợp lệ.")


def _queue_scope(
    conn: Connection, rt: Runtime, actor: Actor, queue: str, status: str = ""
) -> ColumnElement[bool]:
    """Which dossiers a queue holds (`status`: the query's, `QueueQuery.status`). A unit's "unit" queue of every
    status or of a closed one also holds its predecessors' dossiers (the successor's archive, `_archive_of`)."""
    unit = actor.unit_id
    if queue == "new":
        return and_(dossiers.c.receiving_unit_id == unit, dossiers.c.status == int(Status.SUBMITTED))
    if queue == "mine":
        waiting_at_my_steps = and_(
            dossiers.c.step_unit_id == unit,
            dossiers.c.assignee_id.is_(None),
            _steps_of_roles(conn, rt, actor.roles),
        )
        active = [s for s in OPEN_STATUSES if s not in PAUSED_STATUSES]
        return and_(
            dossiers.c.status.in_(active), or_(dossiers.c.assignee_id == actor.id, waiting_at_my_steps)
        )
    if _is_city_wide(actor, queue):
        return true()  # the city's administrators and monitors see every dossier, as the dossier service does
    archive = _archive_of(conn, rt, actor, queue, status)  # () but for a successor: the same SQL as always
    return cast(ColumnElement[bool], dossier_service.unit_scope(unit, archive))


def _archive_of(conn: Connection, rt: Runtime, actor: Actor, queue: str, status: str) -> tuple[str, ...]:
    """The predecessors whose dossiers a queue also holds (`dossier_service.unit_predecessors`): a unit's "unit"
    queue of every status ("all") or of a closed one — the archive. Not the open queues: a closed unit keeps no
    open dossier (the plan moved them), so they stay exactly as they were."""
    if queue != "unit" or _is_city_wide(actor, queue):
        return ()
    if status != "all" and not (
        status.isdigit() and 1 <= int(status) <= 10 and Status(int(status)) in TERMINAL
    ):
        return ()
    return dossier_service.unit_predecessors(conn, rt, actor.unit_id)


def _where(
    scope: ColumnElement[bool],
    query: QueueQuery,
    now: datetime,
    dialect: str,
    search_unit: str | tuple[str, ...] | None = None,
) -> ColumnElement[bool]:
    """The scope and the filters (the same rows as `scope AND _filters(…)`). A unit's scope is an OR of three
    columns: the status filter goes into each arm, `(receiving = u AND status IN …) OR (competent = u AND
    status IN …) OR …`, so each arm is a search of its (unit, status) index; with the status outside the OR,
    SQLite scans the table and PostgreSQL reads every row of the unit to check it. The other filters stay
    outside (a text match repeated in three arms would be evaluated three times per row). Except the open
    dossiers on SQLite: their partial index serves the whole OR at once (below)."""
    status = _status_filter(query, dialect)
    others = _other_filters(query, now, search_unit)
    if query.status == "" and dialect == "sqlite":
        # The open dossiers: `ix_dossiers_open_queue` (partial, over them only) holds the three unit columns and
        # the sort keys, so SQLite sorts the page in it and reads 20 rows instead of every open row of the unit.
        # It is used only with the open-statuses term as written in its WHERE, here outside the OR.
        return and_(status, scope, *others) if status is not None else and_(scope, *others)
    if status is not None and isinstance(scope, BooleanClauseList) and scope.operator is operators.or_:
        return and_(or_(*(and_(arm, status) for arm in scope.clauses)), *others)
    return and_(scope, *([] if status is None else [status]), *others)


def _steps_of_roles(conn: Connection, rt: Runtime, roles: Iterable[Role]) -> ColumnElement[bool]:
    """Dossiers whose current step is worked on by one of `roles` (over every stored workflow version)."""
    wanted = frozenset(roles)
    matches = []
    for workflow_id, version in conn.execute(
        select(workflow_definitions.c.id, workflow_definitions.c.version)
    ):
        workflow = rt.workflows.get(conn, workflow_id, version)
        steps = [step.id for step in workflow.steps if step.role in wanted]
        if steps:
            matches.append(
                and_(
                    dossiers.c.workflow_id == workflow_id,
                    dossiers.c.workflow_version == version,
                    dossiers.c.step.in_(steps),
                )
            )
    return or_(*matches) if matches else dossiers.c.id.is_(None)


def _filters(query: QueueQuery, now: datetime, dialect: str) -> list[ColumnElement[bool]]:
    """Every filter of the query, to AND with the scope (`_where` places them)."""
    status = _status_filter(query, dialect)
    return ([] if status is None else [status]) + _other_filters(query, now)


def _status_filter(query: QueueQuery, dialect: str) -> ColumnElement[bool] | None:
    if query.status == "":
        return _open_statuses(dialect)
    if query.status != "all":
        return dossiers.c.status == int(query.status)
    return None


def _other_filters(
    query: QueueQuery, now: datetime, search_unit: str | tuple[str, ...] | None = None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.procedure:
        conditions.append(dossiers.c.procedure_code == query.procedure)
    text = " ".join(query.text.split())
    if text:
        conditions.append(_text_match(text, search_unit))
    if query.sla:
        conditions.append(_band(query.sla, now))
    return conditions


def _open_statuses(dialect: str) -> ColumnElement[bool]:
    """`status IN (open ones)`. SQLite keeps no statistics per value: it assumes each status holds a tenth of
    a unit's rows, and for a commune (whose rows are nearly all of its own unit) it then prefers scanning the
    whole table to its (unit, status) indexes. The open dossiers are the few being worked on (2 % of a year's
    dossiers in the generated city): `likelihood` tells it so. PostgreSQL has the statistics."""
    if dialect == "sqlite":  # constants of our own enum, written out: likelihood() takes no parameter
        listed = ", ".join(str(int(status)) for status in OPEN_STATUSES)
        return cast(ColumnElement[bool], text(f"likelihood(dossiers.status IN ({listed}), 0.05)"))
    return dossiers.c.status.in_(OPEN_STATUSES)


_CCCD = re.compile(r"\d{12}")


def _search_unit(actor: Actor, queue: str, predecessors: Sequence[str] = ()) -> str | tuple[str, ...] | None:
    """Whose rows of `dossier_search` a text search of `queue` reads (the same cases as `_queue_scope`): the
    officer's unit for its "new" and "unit" queues — every dossier of those scopes has a row for that unit —,
    with its `predecessors` (`_archive_of`) a tuple of the unit and them (the archive's dossiers have their
    rows), "" (every unit's rows) for the city-wide scope, None for "mine" (an officer's assigned dossiers may be
    at any unit: each dossier of the queue is probed by the key of its current step unit, which it always has)."""
    if queue == "mine":
        return None
    if _is_city_wide(actor, queue):
        return ""
    if predecessors and actor.unit_id:
        return (actor.unit_id, *predecessors)
    return actor.unit_id


_LIKE_ESCAPES = str.maketrans({"/": "//", "%": "/%", "_": "/_"})  # `LIKE … ESCAPE '/'`: % and _ are literal


class _NotTrigramIndexed(FunctionElement[str]):
    """A text column as an expression PostgreSQL's trigram index does not hold (`column || ''`), so a condition
    on it is checked on the rows another index found; the bare column elsewhere (SQLite has no such index, and
    the concatenation costs it ≈ 60 % more per row)."""

    type = Text()
    name = "not_trigram_indexed"
    inherit_cache = True


@compiles(_NotTrigramIndexed)
def _bare_column(element: _NotTrigramIndexed, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_NotTrigramIndexed, "postgresql")
def _concatenated(element: _NotTrigramIndexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(next(iter(element.clauses)), **kw)} || '')"


def _text_match(text: str, search_unit: str | tuple[str, ...] | None = None) -> ColumnElement[bool]:
    """A part of the code, of the applicant's name or of their ID — any case, with or without diacritics.

    A whole dossier code or a whole personal ID (12 digits) is looked up by equality, in its index. No name
    holds a code or 12 digits, and 12 digits are only ever a whole personal ID (`cd-…`), so the ID finds the same
    rows; a whole code finds that dossier only, not also a longer code ending with it (an agency code with more
    segments, a 5-digit sequence).

    Anything else is a part: the dossiers whose folded name, code or ID (`motcua.domain.text.fold`: "nguyen thi
    mai", "NGUYỄN THỊ MAI" and "thị mai" all find "Nguyễn Thị Mai") holds the folded text, from `dossier_search`
    (decision 0008), instead of a check of each of the unit's dossier rows (≈ 100,000 at 10 million: 327 + 378 ms
    for a page and its count). The queue's own scope still applies to the dossiers found.
    - One unit's queues: the unit's rows of `dossier_search`, read from its primary key, which carries the text
      (an index-only scan, ≈ 0.25 µs a row on PostgreSQL). `_NotTrigramIndexed` keeps PostgreSQL off the
      trigram index here: its lists are the whole city's, and the syllables of Vietnamese names are so few that
      a name part's trigrams are in a large share of all rows — reading them cost 2–3× the unit's own rows.
    - City-wide (`search_unit` ""): every unit's rows; on PostgreSQL the trigram index finds them (6–9× faster
      than reading them all, measured).
    - "mine" (None): each dossier of the queue probes its own row, by the key (its step unit, its id)."""
    whole = text.upper()
    if _is_dossier_code(whole):
        return dossiers.c.code == whole
    if _CCCD.fullmatch(text):
        return dossiers.c.applicant_id == applicant_user_id(personal_id=text)
    folded = fold(text)
    if not folded:  # only marks (a lone tone mark): they fold away, and every dossier holds the empty text
        return true()
    pattern = _like_pattern(folded)
    if search_unit == "":
        everywhere = select(dossier_search.c.dossier_id).where(
            dossier_search.c.search_text.like(pattern, escape="/")
        )
        return dossiers.c.id.in_(everywhere)
    held = _NotTrigramIndexed(dossier_search.c.search_text).like(pattern, escape="/")
    if search_unit is None:
        own_row = and_(
            dossier_search.c.unit_id == dossiers.c.step_unit_id, dossier_search.c.dossier_id == dossiers.c.id
        )
        return select(literal_column("1")).where(own_row, held).exists()
    units = (
        dossier_search.c.unit_id.in_(search_unit)  # a successor's and its predecessors' (`_search_unit`)
        if isinstance(search_unit, tuple)
        else dossier_search.c.unit_id == search_unit
    )
    return dossiers.c.id.in_(select(dossier_search.c.dossier_id).where(units, held))


def _like_pattern(folded: str) -> str:
    return f"%{folded.translate(_LIKE_ESCAPES)}%"


def _part_pattern(text: str) -> str | None:
    """The LIKE pattern `_text_match` searches `dossier_search` with, or None when it does not (a whole code or
    personal ID, an equality; a text that folds away, no filter)."""
    text = " ".join(text.split())
    if not text or _is_dossier_code(text.upper()) or _CCCD.fullmatch(text):
        return None
    folded = fold(text)
    return _like_pattern(folded) if folded else None


# ---------------------------------------------------------------- a city-wide search for a part of a name
#
# City-wide (the city's monitors and administrators, `search_unit` ""), a part of a name is looked for in every
# unit's rows of `dossier_search` through its trigram index, and the matches are then sorted by due date. A
# common part ("nguyen", "thi", "van": 6–9 % of the dossiers, ≈ 700,000 rows at 10 million) made that a sort of
# hundreds of thousands of dossiers: 14–34 s for a page, 3 s for the capped count. Instead:
# - the page (sorted by due date) of a common part — its count reached the cap — first walks the due-date order
#   (`ix_dossiers_due_id`), at most WALK_BUDGET dossiers, probing each one's row of its current step unit by its
#   key (as "mine" does): "nguyen" fills a page within ≈ 340 dossiers. A part the walk saw too rarely to fill
#   the page is walked once more, as far as the share it saw says the page needs (`_regrown_budget`, at most
#   WALK_BUDGET_MAX: "nguyen thi", 0.2 %, 732 → 134 ms at 10 million, ≈ 8 µs a dossier walked). Only a part
#   the walk did not see, or too rarely for WALK_BUDGET_MAX, goes to the trigram path, as before (≈ 7 ms lost
#   to the first walk at 10 million); a rarer part (its count below the cap) goes to it at once. That path
#   costs what PostgreSQL's trigram index takes to intersect the lists of a part's trigrams: ≈ 300 ms at
#   10 million for a part made of common ones ("thị mai", "nguyen thi mai"), whatever it matches;
# - the count reads the matching rows of `dossier_search` alone (no join: the city-wide scope holds every
#   dossier, and each row's dossier exists), up to a bound, and counts their distinct dossiers: a common part
#   stops after ≈ the cap's rows; a rarer one is read whole, and its dossiers' ids give the page by their keys
#   (`city_text_matches`), without a second scan of the trigram index.
# The answer is the same rows in the same order (tests compare both paths), with one difference only for a
# dossier renamed by hand after it left a unit (`dossier_search` keeps its old text on that unit's row): the
# walk sees its current text, the trigram path also the old one.
WALK_BUDGET = 1_000
WALK_BUDGET_MAX = 16_000  # the furthest a second walk goes (a mid-frequency part): ≈ 120 ms at 10 million
WALKED_PAGE_MAX = 200  # offset + limit beyond which a page is not walked for (the walk would rarely hold it)
CITY_TEXT_COUNT_CAP = 1_001  # a city-wide search's total on the officer's page stops here ("hơn 1.000")
# The most matching rows `city_text_matches` reads as ids: the web page's bounds, not the API's (cap 10,001).
MATCHED_IDS_MAX = 2 * CITY_TEXT_COUNT_CAP
_WALK_ORDER = (dossiers.c.due_at.asc().nulls_last(), dossiers.c.id)
_OPEN_LITERALLY = dossiers.c.status.in_([literal_column(str(status)) for status in OPEN_QUEUE_STATUSES])
_WALKED_COLUMNS = tuple(c for c in dossiers.c if c.name not in ("state", "form_data"))


def walked_page(
    conn: Connection,
    columns: Sequence[Any],
    where: ColumnElement[bool],
    order: Sequence[Any],
    rows_wanted: int,
    *,
    in_walk_order: bool,
    open_only: bool = False,
) -> list[Any] | None:
    """The first `rows_wanted` dossiers matching `where` in `order`, found among the first WALK_BUDGET dossiers
    of the due-date order — or None when they cannot be known from those (too few matched there). `where` must
    check the text by probing each dossier's own row (`_text_match(text, None)`), and `order` must sort by the
    legal due date first, nulls last (then `in_walk_order`: exactly (due_at, id), else a finer order among
    equal due dates, which holds only if the last row's due date is below the walk's last). `columns` must
    include `due_at`. `open_only`: `where` holds the open dossiers only, so only they are walked (the city-wide
    open queue: `ix_dossiers_open_due`, whose predicate is written out as its WHERE has it).

    A part found in the first walk too rarely to fill the page (a mid-frequency part, 0.1–2 % of the dossiers)
    is walked once more, further: as far as the share of matches the first walk saw says the page needs
    (`_regrown_budget`), if that is within WALK_BUDGET_MAX."""
    budget = WALK_BUDGET
    while True:
        rows, complete = _walk(conn, columns, where, order, rows_wanted, budget, in_walk_order, open_only)
        if complete:
            return rows
        budget = _regrown_budget(budget, len(rows), rows_wanted)
        if budget == 0:
            return None


def _walk(
    conn: Connection,
    columns: Sequence[Any],
    where: ColumnElement[bool],
    order: Sequence[Any],
    rows_wanted: int,
    budget: int,
    in_walk_order: bool,
    open_only: bool,
) -> tuple[list[Any], bool]:
    """The rows matching among the first `budget` dossiers of the walk, and whether they are the page."""
    among = _OPEN_LITERALLY if open_only else true()
    walked = select(*_WALKED_COLUMNS).where(among).order_by(*_WALK_ORDER).limit(budget).subquery("walked")
    adapt = ClauseAdapter(walked).traverse
    page = (
        select(*(adapt(column) for column in columns))
        .where(adapt(where))
        .order_by(*(adapt(key) for key in order))
        .limit(rows_wanted)
    )
    rows = list(conn.execute(page))
    if len(rows) == rows_wanted and in_walk_order:
        return rows, True
    # The walk's last dossier: none if the walk read every dossier (then the rows are all there are).
    boundary = conn.execute(
        select(dossiers.c.due_at, literal_column("1"))
        .where(among)
        .order_by(*_WALK_ORDER)
        .offset(budget - 1)
        .limit(1)
    ).first()
    if boundary is None:
        return rows, True
    if len(rows) < rows_wanted:
        return rows, False
    last_due = rows[-1]._mapping["due_at"]
    if last_due is None or (boundary[0] is not None and not last_due < boundary[0]):
        return (
            rows,
            False,
        )  # dossiers past the walk may share the last row's due date: the finer order needs them
    return rows, True


def _regrown_budget(budget: int, found: int, rows_wanted: int) -> int:
    """How far to walk again after a walk of `budget` dossiers found `found` of the `rows_wanted` (0: not again).
    The share found predicts the walk the page needs; half as far again covers the share's chance. A part not
    seen at all is rare: the trigram path finds its few dossiers faster. Only the first walk is regrown."""
    if budget != WALK_BUDGET or found == 0:
        return 0
    needed = (budget * rows_wanted // found if found < rows_wanted else 2 * budget) * 3 // 2
    return needed if needed <= WALK_BUDGET_MAX else 0


def city_text_count(
    conn: Connection, text: str, cap: int, status: ColumnElement[bool] | None = None
) -> int | None:
    """`city_text_matches`' total alone."""
    found = city_text_matches(conn, text, cap, status)
    return None if found is None else found[0]


def city_text_matches(
    conn: Connection, text: str, cap: int, status: ColumnElement[bool] | None = None
) -> tuple[int, list[int] | None] | None:
    """The city-wide count of dossiers whose text holds `text` (a part: `_part_pattern`) and, if given, whose
    status is `status` (a condition on `dossiers`), up to `cap` — as `_count` over the whole city with the
    trigram condition counts it — and, when every matching row was read (fewer than the bound) within
    MATCHED_IDS_MAX rows, the ids of those dossiers: the page is then sorted from them instead of from a second
    scan of the trigram index (≈ 150–300 ms at 10 million for a part made of common trigrams). None if `text` is
    not a part or the rows read could not tell (more than half of them duplicates: then count as before).
    A dossier has one row per unit it has been in (≈ 1.07 each in the generated city), so the rows are read up
    to a bound a little past the cap and their distinct dossiers counted. With a status, each matching row looks
    its dossier up by its key (the open queue: 5 % of the dossiers, so a common part stops after ≈ 20 × the
    cap's lookups, instead of PostgreSQL hashing every match, 1.1 s for "nguyen" at 10 million)."""
    pattern = _part_pattern(text)
    if pattern is None:
        return None
    matching = dossier_search.c.search_text.like(pattern, escape="/")
    # Each bound is a new scan of the trigram index (≈ 250 ms for a common part at 10 million). An open dossier
    # has been in more units than a closed one (more rows each): with a status, the second bound at once.
    rows_of = select(dossier_search.c.dossier_id).where(matching)
    if status is not None:
        rows_of = rows_of.join(dossiers, dossiers.c.id == dossier_search.c.dossier_id).where(status)
    for bound in (cap + cap // 8, 2 * cap) if status is None else (2 * cap,):
        ids: set[int] | None = None
        if bound <= MATCHED_IDS_MAX:
            read = conn.execute(rows_of.limit(bound)).scalars().all()
            rows, ids = len(read), set(read)
            distinct = len(ids)
        else:
            found = rows_of.limit(bound).subquery()
            rows, distinct = conn.execute(
                select(func.count(), func.count(found.c.dossier_id.distinct()))
            ).one()
        if rows < bound:
            return min(int(distinct), cap), None if ids is None else sorted(ids)
        if distinct >= cap:
            return cap, None
    return None


def _is_dossier_code(text: str) -> bool:
    try:
        parse_dossier_code(text)
    except InvalidInput:
        return False
    return True


def _band(band: str, now: datetime) -> ColumnElement[bool]:
    """The legal due date against now, Vietnam days — the same rule as `motcua.web.format.sla_band_of`."""
    local = to_vn(now)
    end_of_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=local.tzinfo)
    due = dossiers.c.due_at
    running = dossiers.c.status.in_(RUNNING_STATUSES)
    if band == "overdue":
        return and_(running, due < now)
    if band == "due_today":
        return and_(running, due >= now, due < end_of_day)
    return and_(running, due >= end_of_day)


def _may_be_large(query: QueueQuery, *, city_wide: bool = False) -> bool:
    """A unit's queue of every status, or of a closing status: a year of dossiers and more. The open and
    active queues of a unit hold the dossiers being worked on (thousands at most); the city's are every unit's
    (≈ 500,000 at 10 million dossiers: sorting them took 2.8 s, walking `ix_dossiers_open_due` takes 20 rows)."""
    if query.queue != "unit" or query.text.strip():
        return False  # a text search matches few rows: sorting them beats walking the index until 20 match
    if city_wide:
        return True
    return query.status == "all" or (query.status.isdigit() and Status(int(query.status)) in TERMINAL)


def _is_city_wide(actor: Actor, queue: str) -> bool:
    """The city's administrators and monitors see every dossier in their "unit" queue (`_queue_scope`)."""
    return (
        queue == "unit"
        and actor.unit_id == dossier_service.CITY_UNIT_ID
        and bool(actor.roles & _CITY_WIDE_ROLES)
    )


def _order(sort: str, *, large: bool, many: bool = False) -> list[Any]:
    """The page's order. `many`: the list's count reached its cap. Only then is submission order written so that
    `ix_dossiers_submitted_id` can serve it (a page read in order: 0.1 ms for the city's 10 million, 1.6 ms for
    Phường Sài Gòn's 100,000, instead of sorting them: 13.8 s, 0.3 s). A shorter list is sorted — its rows are
    far apart in that index, and walking it to 20 of them cost more (11 → 355 ms for a small unit): a leading
    `submitted_at IS NULL` key (always false: the column is NOT NULL) keeps the planners off the index."""
    if sort in ("submitted", "recent"):
        keys = (
            [dossiers.c.submitted_at, dossiers.c.id]
            if sort == "submitted"
            else [dossiers.c.submitted_at.desc(), dossiers.c.id.desc()]
        )
        return keys if many else [dossiers.c.submitted_at.is_(None), *keys]
    if large:
        # NULLS LAST, not a `due_at IS NULL` key: the index on (due_at, id) serves this order, so the first
        # page is read in order (as the API's list is) instead of sorting every row of the unit. Not for the
        # small queues: their open dossiers have the latest due dates, at the far end of that index, and
        # sorting them is cheaper — they keep the finer order (step due date, then submission).
        return [dossiers.c.due_at.asc().nulls_last(), dossiers.c.id]
    return [
        dossiers.c.due_at.is_(None),
        dossiers.c.due_at,
        dossiers.c.step_due_at.is_(None),
        dossiers.c.step_due_at,
        dossiers.c.submitted_at,
        dossiers.c.id,
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _queue_item(row: Any) -> dict[str, Any]:
    status = int(row["status"])
    return {
        "code": row["code"],
        "procedure": {"code": row["procedure_code"], "name": row["procedure_name"]},
        "status": status,
        "channel": row["channel"],
        "applicant_name": row["applicant_name"],
        "submitted_at": _iso(row["submitted_at"]),
        "due_at": _iso(row["due_at"]),
        "step_due_at": _iso(row["step_due_at"]),
        "assignee_id": row["assignee_id"],
        "running": status in RUNNING_STATUSES,
        "paused": status in PAUSED_STATUSES,
    }


# ---------------------------------------------------------------- people


def user_names(conn: Connection, user_ids: Iterable[str]) -> dict[str, str]:
    """Full names of the given accounts (one query); unknown ids are left out."""
    wanted = sorted({uid for uid in user_ids if uid})
    if not wanted:
        return {}
    rows = conn.execute(select(users.c.id, users.c.full_name).where(users.c.id.in_(wanted)))
    return {row.id: row.full_name for row in rows}


def unit_officers_with_role(conn: Connection, unit_id: str, role: Role) -> list[dict[str, str]]:
    """Active officers of a unit who hold `role`, by name: the people a dossier may be assigned to."""
    rows = conn.execute(
        select(users.c.id, users.c.full_name, users.c.roles)
        .where(
            users.c.unit_id == unit_id,
            users.c.kind == ActorKind.OFFICER.value,
            users.c.active.is_(True),
        )
        .order_by(users.c.full_name, users.c.id)
    )
    return [{"id": row.id, "name": row.full_name} for row in rows if role.value in (row.roles or [])]


# ---------------------------------------------------------------- the dossier page


def dossier_workspace(rt: Runtime, actor: Actor, code: str) -> dict[str, Any]:
    """Everything the officer's dossier page shows (scope checked by `get_dossier`: NotFound otherwise).

    {"dossier": the dossier view, "names": {user id: name}, "units": {unit id: name}, "steps": {step id: name},
    "form_schema": the e-form schema it was filed with (or None), "assignees": [{"id", "name"}],
    "receipt": the signed acceptance receipt file (or None)}
    """
    view = dossier_service.get_dossier(rt, actor, code)
    with rt.db.read() as conn:
        people = {event["actor_id"] for event in view["history"]}
        people |= {str(event["data"].get("assignee_id") or "") for event in view["history"]}
        people |= {view["step"]["assignee_id"] or "", *(f["added_by"] for f in view["files"])}
        workflow = rt.workflows.get(conn, view["workflow"]["id"], view["workflow"]["version"])
        directory = rt.directory(conn, rt.clock.now().date())
        unit_ids = {event["actor_unit_id"] for event in view["history"] if event["actor_unit_id"]}
        assignees: list[dict[str, str]] = []
        if Action.ASSIGN.value in view["allowed_actions"]:
            step_role = Role(view["step"]["role"])
            assignees = unit_officers_with_role(conn, view["step"]["unit"]["id"], step_role)
        return {
            "dossier": view,
            "names": user_names(conn, people),
            "units": {uid: directory.get(uid).name for uid in unit_ids if uid in directory},
            "steps": {step.id: step.name for step in workflow.steps},
            "form_schema": _filed_schema(conn, code),
            "assignees": assignees,
            "receipt": receipt_file(view),
        }


def _filed_schema(conn: Connection, code: str) -> Mapping[str, Any] | None:
    cp = city_procedures
    row = conn.execute(
        select(cp.c.data)
        .join(
            dossiers,
            and_(dossiers.c.procedure_code == cp.c.code, dossiers.c.city_procedure_version == cp.c.version),
        )
        .where(dossiers.c.code == code.strip())
    ).first()
    schema = row.data.get("form_schema") if row else None
    return schema if isinstance(schema, Mapping) else None


def receipt_file(view: Mapping[str, Any]) -> dict[str, Any] | None:
    """The latest signed acceptance receipt (Mẫu số 01) attached to the dossier, if one was issued."""
    receipts = [f for f in view.get("files", []) if f["kind"] == "receipt"]
    return receipts[-1] if receipts else None


def act_on_dossier(
    rt: Runtime,
    actor: Actor,
    code: str,
    action: Action,
    payload: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """`dossiers.act`, refusing when the dossier changed since the officer's page was drawn."""
    if expected_version is not None:
        current = dossier_service.get_dossier(rt, actor, code)
        if current["version"] != expected_version:
            raise Conflict(
                "dossier.changed_since_viewed",
                "Hồ sơ vừa được cập nhật sau khi bạn mở trang; hãy xem lại trạng thái mới rồi thao tác.",
            )
    return dossier_service.act(rt, actor, code, action, payload)


# ---------------------------------------------------------------- desk reception


def desk_procedures(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    """Procedures this officer's unit receives at its desk and that have an e-form, by name."""
    unit_kind = _desk_unit_kind(rt, actor)
    with rt.db.read() as conn:
        rows = conn.execute(
            select(city_procedures.c.data, city_procedures.c.version)
            .where(city_procedures.c.is_current.is_(True))
            .order_by(city_procedures.c.name_folded, city_procedures.c.code)
        ).all()
    offered = [CityProcedure.from_dict(row.data, version=row.version) for row in rows]
    return [
        {"code": p.code, "name": p.name, "field": p.field_vi or "", "time": p.time.text_vi()}
        for p in offered
        if _receivable(p, unit_kind)
    ]


def desk_procedure(rt: Runtime, actor: Actor, procedure_code: str) -> CityProcedure:
    """The current city version of a procedure this officer may receive at the desk (NotFound otherwise)."""
    unit_kind = _desk_unit_kind(rt, actor)
    with rt.db.read() as conn:
        procedure = get_city_procedure(conn, procedure_code.strip())
    if not _receivable(procedure, unit_kind):
        raise NotFound(
            "workspace.not_received_here",
            f"Đơn vị của bạn không tiếp nhận trực tiếp thủ tục «{procedure.name}» trên hệ thống.",
        )
    return procedure


def _desk_unit_kind(rt: Runtime, actor: Actor) -> str:
    if not actor.unit_id or Role.RECEIVER not in actor.roles:
        raise InvalidInput("workspace.receivers_only", "Chỉ cán bộ tiếp nhận mới tiếp nhận hồ sơ tại quầy.")
    with rt.db.read() as conn:
        directory = rt.directory(conn, rt.clock.now().date())
    if actor.unit_id not in directory:
        raise NotFound("unit.not_found", "Không tìm thấy đơn vị của bạn trong danh mục đơn vị hiện hành.")
    return directory.get(actor.unit_id).kind.value


def _receivable(procedure: CityProcedure, unit_kind: str) -> bool:
    return (
        unit_kind in procedure.receiving_kinds
        and SubmissionChannel.DESK in procedure.channels
        and procedure.form_schema is not None
    )


@dataclass(frozen=True)
class Scan:
    """A scanned document brought to the desk: the catalog document it is (its name) and the file."""

    label: str
    filename: str
    data: bytes


def file_at_desk(
    rt: Runtime,
    actor: Actor,
    *,
    procedure_code: str,
    applicant: Mapping[str, Any],
    form_data: Mapping[str, Any],
    scans: Sequence[Scan] = (),
    note: str = "",
) -> dict[str, Any]:
    """File a walk-in applicant's dossier at the officer's desk and accept it.

    Three steps, so that the signed receipt (issued on acceptance) lists the scanned documents: submit
    (status 1), attach each scan under its catalog document name, accept. The scans are checked (type, size)
    before anything is stored. Once the dossier exists it is never lost to a later refusal: the view comes
    back still at status 1 (the unit's "new" queue) with the refusal under "desk_problem", instead of an
    error that would invite filing the same dossier twice.
    """
    for scan in scans:
        check_upload(scan.data)
    submission = dossier_service.Submission(
        procedure_code=procedure_code,
        receiving_unit_id=actor.unit_id or "",
        channel=Channel.DESK,
        form_data=form_data,
        applicant=applicant,
        accept_now=False,
    )
    filed = dossier_service.submit_dossier(rt, actor, submission)
    try:
        for scan in scans:
            dossier_service.add_file(
                rt,
                actor,
                filed["code"],
                data=scan.data,
                filename=scan.filename,
                label=scan.label,
                kind="upload",
            )
        return dossier_service.act(rt, actor, filed["code"], Action.ACCEPT, {"note": note})
    except DomainError as exc:
        log.warning("desk filing %s stays unaccepted: %s", filed["code"], exc)
        view = dossier_service.get_dossier(rt, actor, filed["code"])
        return {**view, "desk_problem": exc.message}
