"""Import dossiers from a legacy system's export: validated, bulk-inserted, with a report of rejected rows.

After the 2025 merger the dossiers of three provinces' old systems come into motcua. An export is a CSV file
(with a header row), a JSON array or JSON Lines (`.jsonl`/`.ndjson`), optionally gzip-compressed (`.gz`).
One row per dossier:

| field | required | meaning |
|---|---|---|
| `code` | yes | the national dossier code `<agency code>-<yymmdd>-<seq>` |
| `procedure_code` | yes | a procedure the city offers (the city catalog in force today) |
| `receiving_unit` | yes | unit id or agency code of the unit that received it (valid today) |
| `status` | yes | national status 1–10 (`Status`) |
| `submitted_at` | yes | ISO 8601; without an offset it is Ho Chi Minh City time |
| `applicant_name` | yes | the applicant's full name |
| `applicant_personal_id` / `applicant_tax_code` | one of them | 12-digit personal ID, or enterprise code |
| `channel` | no | online (default), desk, post, agent |
| `competent_unit` | no | unit id or agency code; default from the catalog entry |
| `accepted_at` | status 2, 4, 6, 8, 9, 10 | when the dossier was accepted (the legal clock starts) |
| `due_at` | no | the legal due date; computed on the working calendar when missing |
| `paused_at` | status 5, 6 | when the supplement or the fee was requested |
| `resolved_at` | status 9, 10 | when the result was issued (or the dossier refused) |
| `returned_at` | status 10 | when the result was handed over |
| `closed_at` | status 3, 7, 8 | when the dossier was closed (default for 10: `returned_at`) |
| `outcome` | no | `approved` (default for 9, 10) or `refused` |
| `form_data` | no | a JSON object (in CSV: JSON text), stored as given |
| `documents` | no | a JSON list of `{name, sha256, size, media_type, label?, kind?}` (metadata only) |

A row is rejected — nothing of it is written — when a field is missing or malformed, a reference is unknown,
the dates contradict the status or each other or lie in the future, or the code is already stored (by an
earlier import, or a repeated line). Numbers are JSON's: integers kept exactly, the others read as the nearest
double and stored as such; a row carrying anywhere (a JSON Lines or JSON row, or the JSON text of its
`form_data` or `documents`) NaN, Infinity or a number with no finite double (1e400) — which would be stored
changed, as null — is rejected as `import.bad_number`. The report names the line and the reason (a stable code and a
Vietnamese message).

What is written for an accepted row, in batches of `batch_size` rows (one transaction each, so re-running an
interrupted import imports the rest and reports the rest as `dossier.exists`):
- the dossier row, its state being exactly the fold of its events (`replay_check` holds);
- its events: the submission (`submit`, the initial state) and, unless still just submitted, one event for
  the action that led to the final status, marked `imported` with the source and line;
- the applicant's account record (cannot log in; like a walk-in applicant's), when missing;
- the documents' metadata (`files`, `dossier_files`; the content is not part of the export);
- the per-agency daily code counters, raised so new codes never collide with imported ones;
- one audit entry per batch summarising it (source, lines, counts, first and last code).
No outbox job is queued: the legacy system already reported these dossiers to the national portal.

Units are those valid on the import's day. A reorganisation applied while an import runs is seen by the next
batch written: its transaction reads the unit registry's token once its rows are in, rolls back if the token
changed, and the batch is validated again against the new units (`ImportReport.units_reloaded`; decision 0010).

PostgreSQL receives the rows through COPY; SQLite through executemany.

Speed (issue #6). Per dossier the importer spends ≈ 100 µs validating and formatting and ≈ 30 µs sending,
PostgreSQL ≈ 110–140 µs storing (5 rows, 3 jsonb documents to parse, 9 index entries, 5 foreign-key checks);
on 2 cores that is ≈ 6,000 dossiers/s at best. What keeps the Python side lean: the checks that repeat are
memoised (code parts per agency and day, identity numbers, date texts, due dates per clock start and
procedure, ISO texts of instants; each memo bounded, never stale — they depend on the reference data read
at the start and on `now` only); rows become COPY text directly (the initial state from a per-plan JSON
prefix, the final state as that JSON followed by the final event's changes, which jsonb folds); JSON is
encoded and the export's JSON fields decoded by msgspec; applicants and files an earlier batch stored are not sent again. The benchmark
generator's bulk load (`bulk_load`) also drops and re-creates the secondary indexes and foreign keys around
a load into empty tables.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from time import perf_counter
from typing import IO, Any, NoReturn, TypeVar

import msgspec
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import sqlite

from motcua.domain.calendar import BusinessCalendar
from motcua.domain.catalog import CityProcedure
from motcua.domain.clock import VN_TZ
from motcua.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from motcua.domain.identifiers import parse_cccd, parse_dossier_code, parse_mst
from motcua.domain.lifecycle import (  # the engine's own rule for the legal due date
    Action,
    Channel,
    DossierState,
    ProcedureTerms,
    Status,
    legal_due,
    state_to_dict,
)
from motcua.domain.units import UnitDirectory
from motcua.domain.workflow import END, RouteAction, StepAction, Workflow
from motcua.services.audit import append_audit
from motcua.services.runtime import units_token
from motcua.services.units import directory
from motcua.services.workflows import WorkflowRegistry
from motcua.store.db import Database
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.dossiers import dossier_counters, dossier_events, dossiers
from motcua.store.schema.files import dossier_files, files
from motcua.store.schema.identity import users

DEFAULT_BATCH = 10_000
IMPORT_ACTOR = "legacy-import"  # the actor of the events that carry an imported dossier's final state
_CLOSED_WITH = {Status.REJECTED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED}
# The action whose event brings a dossier from "just submitted" to each status.
FINAL_ACTION = {
    Status.ACCEPTED: Action.ACCEPT,
    Status.REJECTED: Action.REFUSE_RECEPTION,
    Status.IN_PROCESS: Action.FORWARD,
    Status.SUPPLEMENT_REQUESTED: Action.REQUEST_SUPPLEMENT,
    Status.FEE_DUE: Action.REQUEST_FEE,
    Status.WITHDRAWN: Action.WITHDRAW,
    Status.STOPPED: Action.STOP,
    Status.RESOLVED: Action.ISSUE_RESULT,
    Status.RETURNED: Action.RETURN_RESULT,
}
# The dates each status requires, and the ones it must not have.
_REQUIRED_DATES: Mapping[Status, tuple[str, ...]] = {
    Status.SUBMITTED: (),
    Status.ACCEPTED: ("accepted_at",),
    Status.REJECTED: ("closed_at",),
    Status.IN_PROCESS: ("accepted_at",),
    Status.SUPPLEMENT_REQUESTED: ("paused_at",),
    Status.FEE_DUE: ("accepted_at", "paused_at"),
    Status.WITHDRAWN: ("closed_at",),
    Status.STOPPED: ("accepted_at", "closed_at"),
    Status.RESOLVED: ("accepted_at", "resolved_at"),
    Status.RETURNED: ("accepted_at", "resolved_at", "returned_at"),
}
_FORBIDDEN_DATES: Mapping[Status, tuple[str, ...]] = {
    Status.SUBMITTED: ("accepted_at", "paused_at", "resolved_at", "returned_at", "closed_at"),
    Status.ACCEPTED: ("paused_at", "resolved_at", "returned_at", "closed_at"),
    Status.REJECTED: ("accepted_at", "paused_at", "resolved_at", "returned_at"),
    Status.IN_PROCESS: ("paused_at", "resolved_at", "returned_at", "closed_at"),
    Status.SUPPLEMENT_REQUESTED: ("resolved_at", "returned_at", "closed_at"),
    Status.FEE_DUE: ("resolved_at", "returned_at", "closed_at"),
    Status.WITHDRAWN: ("paused_at", "resolved_at", "returned_at"),
    Status.STOPPED: ("paused_at", "resolved_at", "returned_at"),
    Status.RESOLVED: ("paused_at", "returned_at", "closed_at"),
    Status.RETURNED: ("paused_at",),
}
_DATE_FIELDS = (
    "submitted_at",
    "accepted_at",
    "due_at",
    "paused_at",
    "resolved_at",
    "returned_at",
    "closed_at",
)
_DATE_ORDER = ("submitted_at", "accepted_at", "paused_at", "resolved_at", "returned_at", "closed_at")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DATE_LABELS = {
    "submitted_at": "ngày nộp",
    "accepted_at": "ngày tiếp nhận",
    "due_at": "ngày hẹn trả",
    "paused_at": "ngày yêu cầu bổ sung/nộp phí",
    "resolved_at": "ngày có kết quả",
    "returned_at": "ngày trả kết quả",
    "closed_at": "ngày kết thúc",
}


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class RejectedRow:
    line: int
    code: str | None
    reason: str  # a stable error code, e.g. `import.missing_field`
    message: str  # Vietnamese


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    imported: int = 0
    events: int = 0
    documents: int = 0
    applicants_created: int = 0
    batches: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    seconds: float = 0.0
    # Times a reorganisation replaced the unit directory during the import: the batch in hand was checked
    # again against the new one before it was written (decision 0010).
    units_reloaded: int = 0

    def summary(self) -> str:
        rate = f", {self.imported / self.seconds:,.0f} hồ sơ/giây" if self.seconds > 0 else ""
        reloaded = (
            f" Danh mục đơn vị được sắp xếp lại trong khi nhập: kiểm tra lại {self.units_reloaded} lần."
            if self.units_reloaded
            else ""
        )
        return (
            f"{self.source}: {self.rows} dòng, nhập {self.imported} hồ sơ ({self.events} sự kiện, "
            f"{self.documents} tài liệu), từ chối {len(self.rejected)} dòng, {self.batches} lô{rate}.{reloaded}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "events": self.events,
            "documents": self.documents,
            "applicants_created": self.applicants_created,
            "batches": self.batches,
            "rejected": len(self.rejected),
            "units_reloaded": self.units_reloaded,
            "seconds": round(self.seconds, 3),
        }


def write_rejections(report: ImportReport, out: IO[str]) -> None:
    """The rejected rows as CSV: line, code, reason, message."""
    writer = csv.writer(out)
    writer.writerow(["line", "code", "reason", "message"])
    for row in report.rejected:
        writer.writerow([row.line, row.code or "", row.reason, row.message])


# ---------------------------------------------------------------- reading exports

Record = Mapping[str, Any]


def read_export(path: Path) -> Iterator[tuple[int, Record]]:
    """(line number, row) pairs of a CSV, JSON-array or JSON-Lines export, gzip-compressed or not."""
    name = path.name.lower().removesuffix(".gz")
    with _open_text(path) as stream:
        if name.endswith(".csv"):
            yield from _read_csv(stream)
        elif name.endswith((".jsonl", ".ndjson")):
            yield from _read_json_lines(stream)
        elif name.endswith(".json"):
            yield from _read_json_array(stream.read())
        else:
            raise InvalidInput(
                "import.unknown_format",
                f"Không nhận dạng được định dạng tệp {path.name}: dùng .csv, .json, .jsonl (có thể nén .gz).",
            )


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _read_csv(stream: IO[str]) -> Iterator[tuple[int, Record]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip() for name in header]
    start = reader.line_num + 1
    for values in reader:
        # A blank value is a missing one (`isspace` is False for "": both tested).
        pairs = zip(names, values, strict=False)
        record = {name: value for name, value in pairs if value and not value.isspace()}
        if record or any(v.strip() for v in values):
            yield start, record
        start = reader.line_num + 1


def _read_json_lines(stream: IO[str]) -> Iterator[tuple[int, Record]]:
    for number, text in enumerate(stream, start=1):
        if text.strip():
            yield number, _json_record(text)


def _json_record(text: str) -> Record:
    """One JSON Lines row, decoded strictly (`_decode_json_text`): a line with NaN, Infinity or a number
    without a finite value anywhere in it is a rejected row (`import.bad_number`), not a changed one."""
    try:
        value = _decode_json_text(text)
    except _BadNumber as exc:
        return {"__error__": _bad_number("dòng", exc), "code": _loose_code(text)}
    if value is _NOT_JSON:
        return {"__error__": ("import.bad_json", "Dòng không phải JSON hợp lệ.")}
    if not isinstance(value, dict):
        return {"__error__": ("import.bad_json", "Mỗi dòng phải là một đối tượng JSON.")}
    return value


def _loose_code(text: str) -> Any:
    """The `code` of a row refused for its numbers, read leniently, for the report (None if unreadable)."""
    try:
        value = json.loads(text, parse_int=str)
    except ValueError:
        return None
    return value.get("code") if isinstance(value, dict) else None


def _read_json_array(text: str) -> Iterator[tuple[int, Record]]:
    """Walk a JSON array item by item, so each item is reported with the line it starts on. Numbers are
    read strictly: an item with NaN, Infinity or a number without a finite value is a rejected row."""
    numbers = _NumberCheck()
    decoder = json.JSONDecoder(
        parse_float=numbers.float, parse_int=numbers.int, parse_constant=numbers.constant
    )
    position = _skip_space(text, 0)
    if position >= len(text) or text[position] != "[":
        raise InvalidInput("import.bad_json", "Tệp JSON phải là một mảng các hồ sơ.")
    position, line, counted = _skip_space(text, position + 1), 1, 0
    while position < len(text) and text[position] != "]":
        line += text.count("\n", counted, position)
        counted = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "import.bad_json", f"Tệp JSON hỏng ở dòng {exc.lineno}: {exc.msg}.", line=exc.lineno
            ) from None
        if numbers.bad is not None:
            code = value.get("code") if isinstance(value, dict) else None
            value = {"__error__": _bad_number("phần tử", _BadNumber(numbers.bad)), "code": code}
            numbers.bad = None
        yield (
            line,
            value
            if isinstance(value, dict)
            else {"__error__": ("import.bad_json", "Mỗi phần tử phải là một đối tượng JSON.")},
        )
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)


_T = TypeVar("_T")


class _NumberCheck:
    """The JSON array reader's number hooks: a number refused by the rules of `_decode_json_text` is noted
    (`bad`) and read as null, so the reader goes on to the next item and the item is reported."""

    def __init__(self) -> None:
        self.bad: str | None = None

    def float(self, text: str) -> float | None:
        return self._read(_finite_float, text)

    def int(self, text: str) -> int | None:
        return self._read(_readable_int, text)

    def constant(self, text: str) -> None:
        return self._read(_refuse_constant, text)

    def _read(self, parse: Callable[[str], _T], text: str) -> _T | None:
        try:
            return parse(text)
        except _BadNumber:
            self.bad = self.bad or text
            return None


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


# ---------------------------------------------------------------- reference data, cached per import


@dataclass
class _Plan:
    """What every dossier of one (procedure, receiving unit, competent unit, channel) shares."""

    procedure: CityProcedure
    workflow: Workflow
    receiving_id: str
    competent_id: str
    initial: dict[str, Any]  # the encoded initial state, without the per-dossier fields
    steps: Mapping[str, tuple[str, str]]  # "start", "processing", "fee", "stop", "return" → (step, unit)
    copy_columns: str  # COPY text of the procedure and workflow columns
    copy_units: str  # COPY text of the receiving and competent unit columns
    terms: ProcedureTerms
    # COPY text of the initial state's JSON without the per-dossier fields (`_PER_DOSSIER`) and without its
    # closing brace: a row appends its own fields (see `_copy_row`).
    initial_head: str = ""


# The state fields a dossier's initial state does not share with the others of its plan.
_PER_DOSSIER = (
    "code",
    "channel",
    "applicant_id",
    "submitted_by",
    "submitted_at",
    "step_entered_at",
    "last_event_at",
)
_CACHE_LIMIT = 200_000  # entries per memo below: a bounded memory, cleared when full (values never go stale:
# they depend only on the reference data read at the start of the import and on the import's `now`)


class _Reference:
    """Units valid today, the city's current catalog and the workflows; plans cached per key."""

    def __init__(self, conn: Connection, *, today: date, calendar: BusinessCalendar) -> None:
        self.today = today
        self.calendar = calendar
        # The token first: a reorganisation committed between the two reads is then seen as a change later.
        self.units_token = units_token(conn)
        self.units: UnitDirectory = directory(conn, today)
        self.procedures: dict[str, CityProcedure] = {
            row.code: CityProcedure.from_dict(row.data, version=row.version)
            for row in conn.execute(
                select(city_procedures.c.code, city_procedures.c.data, city_procedures.c.version).where(
                    city_procedures.c.is_current.is_(True)
                )
            )
        }
        registry = WorkflowRegistry()
        self.workflows = {
            p.workflow: registry.latest(conn, p.workflow) for p in self.procedures.values() if p.workflow
        }
        self._plans: dict[tuple[str, str, str | None], _Plan] = {}
        self._clock_starts: dict[tuple[datetime, time | None], datetime] = {}
        self._dues: dict[tuple[datetime, str], datetime] = {}
        self.codes = _DossierCodes()
        self._isos: dict[datetime, str] = {}  # an instant → its ISO 8601 text (isoformat is ~1 µs with tz)
        self._instants: dict[str, datetime] = {}  # an export's date text → the instant (Hồ Chí Minh time)
        self._applicants: dict[tuple[str | None, str | None], tuple[str, str, str] | _Rejected] = {}
        self._forms: dict[str, dict[str, Any]] = {}  # form data JSON text → the object (shared, read only)
        self._form_json: dict[int, tuple[Any, str]] = {}  # id(form object) → (the object, its COPY JSON)

    def unit_id(self, ref: str) -> str:
        ref = ref.strip()
        if ref in self.units:
            return ref
        return self.units.by_agency_code(ref).id

    def plan(self, procedure_code: str, receiving_ref: str, competent_ref: str | None) -> _Plan:
        key = (procedure_code, receiving_ref, competent_ref)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(*key)
        return plan

    def _make_plan(self, procedure_code: str, receiving_ref: str, competent_ref: str | None) -> _Plan:
        procedure = self.procedures.get(procedure_code)
        if procedure is None:
            raise NotFound(
                "procedure.not_offered",
                f"Thủ tục {procedure_code} không có trong danh mục Thành phố đang áp dụng.",
            )
        receiving = self.units.get(self.unit_id(receiving_ref))
        if receiving.kind.value not in procedure.receiving_kinds:
            raise InvalidInput(
                "dossier.wrong_receiving_unit",
                f"«{receiving.name}» không tiếp nhận thủ tục «{procedure.name}».",
            )
        if competent_ref:
            competent_id = self.unit_id(competent_ref)
        elif procedure.competent == "receiving":
            competent_id = receiving.id
        else:
            selector = procedure.competent
            selector = selector if selector.startswith("kind:") else f"unit:{selector}"
            competent_id = self.units.resolve(selector, receiving_id=receiving.id, competent_id=None).id
        workflow = self.workflows[procedure.workflow]

        def where(step_id: str) -> tuple[str, str]:
            selector = workflow.step(step_id).unit
            unit = self.units.resolve(selector, receiving_id=receiving.id, competent_id=competent_id)
            return step_id, unit.id

        start = workflow.start
        processing = start.routes[RouteAction.ACCEPT]
        steps = {
            "start": where(start.id),
            "processing": where(processing),
            "fee": where(_first_step_allowing(workflow, processing, StepAction.REQUEST_FEE)),
            "stop": where(_first_step_allowing(workflow, processing, StepAction.STOP)),
            "return": where(_returning_step(workflow)),
        }
        prototype = DossierState(
            code="",
            procedure_code=procedure.code,
            workflow_id=workflow.id,
            workflow_version=workflow.version,
            channel=Channel.ONLINE,
            applicant_id="",
            submitted_by="",
            receiving_unit_id=receiving.id,
            competent_unit_id=competent_id,
            time_amount=procedure.time.amount,
            time_unit=procedure.time.unit,
            cutoff=procedure.cutoff,
            status=Status.SUBMITTED,
            step=steps["start"][0],
            step_unit_id=steps["start"][1],
            submitted_at=datetime(2000, 1, 1, tzinfo=VN_TZ),
            step_entered_at=datetime(2000, 1, 1, tzinfo=VN_TZ),
        )
        copy_columns = "\t".join(
            (
                procedure.code,
                _copy_text(procedure.name),
                str(procedure.version or 1),
                workflow.id,
                str(workflow.version),
            )
        )
        initial = state_to_dict(prototype)
        shared = {name: value for name, value in initial.items() if name not in _PER_DOSSIER}
        return _Plan(
            procedure,
            workflow,
            receiving.id,
            competent_id,
            initial,
            steps,
            copy_columns,
            f"{receiving.id}\t{competent_id}",
            ProcedureTerms(procedure.code, procedure.time.amount, procedure.time.unit, procedure.cutoff),
            _copy_json(shared)[:-1],
        )

    def clock_start(self, accepted: datetime, cutoff: time | None) -> datetime:
        key = (accepted, cutoff)
        value = self._clock_starts.get(key)
        if value is None:
            if len(self._clock_starts) > 500_000:
                self._clock_starts.clear()
            value = self._clock_starts[key] = self.calendar.start_instant(accepted, cutoff)
        return value

    def due(self, clock_start: datetime, terms: ProcedureTerms) -> datetime:
        """The legal due date, as the engine computes it at acceptance (memoised: it is costly)."""
        key = (clock_start, terms.code)  # one procedure, one set of terms: the code hashes faster
        value = self._dues.get(key)
        if value is None:
            if len(self._dues) > 500_000:
                self._dues.clear()
            value = self._dues[key] = legal_due(self.calendar, terms, clock_start)
        return value

    def iso(self, instant: datetime) -> str:
        if instant.tzinfo is not VN_TZ:  # the memo's keys compare as instants: one zone only
            return instant.isoformat()
        text = self._isos.get(instant)
        if text is None:
            if len(self._isos) >= _CACHE_LIMIT:
                self._isos.clear()
            text = self._isos[instant] = instant.isoformat()
        return text

    def instant(self, record: Record, name: str) -> datetime | None:
        raw = record.get(name)
        if raw is None or raw == "":
            return None
        if type(raw) is str:
            value = self._instants.get(raw)
            if value is None:
                value = _instant(record, name)
                assert value is not None
                if len(self._instants) >= _CACHE_LIMIT:
                    self._instants.clear()
                self._instants[raw] = value
            return value
        return _instant(record, name)

    def applicant(self, record: Record) -> dict[str, Any]:
        """The applicant's record (`_applicant`; the identity checks memoised per personal ID or tax code)."""
        name = " ".join((_text(record, "applicant_name") or "").split())
        if len(name) < 2:
            raise _Rejected("applicant.name_required", "Cần họ tên người yêu cầu.")
        key = (
            _text(record, "applicant_personal_id", required=False, limit=12),
            _text(record, "applicant_tax_code", required=False, limit=14),
        )
        known = self._applicants.get(key)
        if known is None:
            try:
                found = _applicant(record, self.today)
                known = (found["id"], found["kind"], found.get("personal_id") or found["tax_code"])
            except _Rejected as exc:
                known = exc
            if len(self._applicants) >= _CACHE_LIMIT:
                self._applicants.clear()
            self._applicants[key] = known
        if isinstance(known, _Rejected):
            raise _Rejected(known.reason, known.message)
        identity, kind, number = known
        if kind == "citizen":
            return {"id": identity, "kind": kind, "name": name, "personal_id": number}
        return {"id": identity, "kind": kind, "name": name, "tax_code": number}

    def form_data(self, record: Record) -> Any:
        raw = record.get("form_data")
        if type(raw) is str and len(raw) <= 16_384:  # identical texts (one per procedure, often) parse once
            value = self._forms.get(raw)
            if value is None:
                value = _json_field(record, "form_data", dict)
                if len(self._forms) >= 10_000:
                    self._forms.clear()
                self._forms[raw] = value
            return value
        return _json_field(record, "form_data", dict)

    def form_json(self, form: Any) -> str:
        """The COPY text of a form data object, memoised per object (rows of a procedure often share one)."""
        known = self._form_json.get(id(form))
        if known is not None and known[0] is form:
            return known[1]
        text = _copy_json(form)
        if len(self._form_json) >= 10_000:
            self._form_json.clear()
        self._form_json[id(form)] = (form, text)  # the entry keeps the object alive: its id stays its own
        return text


class _DossierCodes:
    """`parse_dossier_code`, memoised: a code is `<agency>-<yymmdd>-<seq>`; an agency part and a `yymmdd`
    part that were valid in a code before are valid again, and the sequence must be 4 digits or more. Codes
    are unique, so the memo is by part (a few thousand agencies and days), bounded all the same."""

    def __init__(self) -> None:
        self.agencies: set[str] = set()
        self.days: dict[str, date] = {}

    def parse(self, code: str) -> tuple[str, date, int]:
        """(agency code, day, sequence), or `_Rejected` as `parse_dossier_code` would reject the code."""
        parts = code.split("-")
        if len(parts) == 3:
            agency, yymmdd, seq = parts
            day = self.days.get(yymmdd)
            if (
                day is not None
                and agency in self.agencies
                and len(seq) >= 4
                and seq.isascii()
                and seq.isdigit()
            ):
                return agency, day, int(seq)
        try:
            parsed = parse_dossier_code(code)
        except InvalidInput as exc:
            raise _Rejected(exc.code, exc.message) from None
        if len(self.agencies) >= _CACHE_LIMIT or len(self.days) >= _CACHE_LIMIT:
            self.agencies.clear()
            self.days.clear()
        self.agencies.add(parsed.agency_code)
        self.days[code.strip().split("-")[1]] = parsed.day
        return parsed.agency_code, parsed.day, parsed.seq


def _first_step_allowing(workflow: Workflow, from_step: str, action: StepAction) -> str:
    """The first step from `from_step` along the forward path whose officers may take `action`."""
    step_id, seen = from_step, set()
    while step_id != END and step_id not in seen:
        seen.add(step_id)
        step = workflow.step(step_id)
        if action in step.may:
            return step_id
        step_id = next(
            (step.routes[r] for r in (RouteAction.FORWARD, RouteAction.APPROVE) if r in step.routes), END
        )
    return from_step


def _returning_step(workflow: Workflow) -> str:
    return next(s.id for s in workflow.steps if RouteAction.RETURN_RESULT in s.routes)


# ---------------------------------------------------------------- validation


@dataclass
class _Row:
    """One validated dossier, ready to write: the columns of its row, its events and its documents."""

    line: int
    code: str
    agency_code: str
    day: date
    seq: int
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    events: int  # how many events it has
    submitted_at: datetime
    dossier: dict[str, Any] | None = None  # SQLite: the row, its events (the dossier id set by the writer)
    event_rows: list[dict[str, Any]] = field(default_factory=list)
    copy_dossier: str = ""  # PostgreSQL: the COPY line without the dossier id
    copy_events: tuple[str, ...] = ()  # … each event's, without the dossier id
    copy_links: list[str] = field(default_factory=list)  # … each document link's, without the dossier id


class _Rejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _text(record: Record, name: str, *, required: bool = True, limit: int = 200) -> str | None:
    raw = record.get(name)
    value = raw.strip() if type(raw) is str else "" if raw is None else str(raw).strip()
    if not value:
        if required:
            raise _Rejected("import.missing_field", f"Thiếu trường bắt buộc «{name}».")
        return None
    if len(value) > limit:
        raise _Rejected("import.field_too_long", f"Trường «{name}» dài quá {limit} ký tự.")
    return value


def _instant(record: Record, name: str) -> datetime | None:
    raw = record.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise _Rejected(
                "import.bad_datetime",
                f"Trường «{name}» ({_DATE_LABELS[name]}) phải là thời điểm ISO 8601, "
                "ví dụ 2025-09-03T09:15:00+07:00.",
            ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=VN_TZ)
    return value if value.tzinfo is VN_TZ else value.astimezone(VN_TZ)


def _json_field(record: Record, name: str, kind: type) -> Any:
    raw = record.get(name)
    if raw is None or raw == "":
        return kind()
    if isinstance(raw, str):
        try:
            raw = _decode_json_text(raw)
        except _BadNumber as exc:
            raise _Rejected(*_bad_number(f"trường «{name}»", exc)) from None
    if not isinstance(raw, kind):
        noun = "đối tượng" if kind is dict else "danh sách"
        raise _Rejected(f"import.bad_{name}", f"Trường «{name}» phải là một {noun} JSON.")
    return raw


class _BadNumber(ValueError):
    """A number the importer cannot store as given: NaN or Infinity (not JSON), a number beyond the range of
    a double (1e400: it would become infinity, stored as null), an integer of more than 4,300 digits."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _refuse_constant(text: str) -> NoReturn:
    raise _BadNumber(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        return value
    raise _BadNumber(text)


def _readable_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python reads (4,300)
        raise _BadNumber(text) from None


def _bad_number(where: str, exc: _BadNumber) -> tuple[str, str]:
    """The rejection of a row for a number it cannot store exactly: (`import.bad_number`, message)."""
    shown = exc.text if len(exc.text) <= 24 else exc.text[:20] + "…"
    return (
        "import.bad_number",
        f"{where[0].upper()}{where[1:]} có số không lưu đúng được: {shown} — JSON không có NaN/Infinity, "
        "số phải hữu hạn (trong khoảng ±1,797e308). Hồ sơ không được nhập, để dữ liệu không bị thay đổi.",
    )


_decode_json = msgspec.json.decode  # ~5× the standard library's decoder
_NOT_JSON: Any = None  # what `_decode_json_text` answers for a text that is not JSON


def _decode_json_text(text: str) -> Any:
    """A JSON text's value, or `_NOT_JSON` (None) when it is not JSON; raises `_BadNumber` for a text that
    is JSON but for a number it cannot store as given (NaN, Infinity, 1e400, an integer of more than 4,300
    digits).

    Numbers are read as JSON is read everywhere: integers exactly, the others as the nearest double. What
    is kept is what is read (msgspec encodes a double by its shortest exact text, and PostgreSQL's jsonb
    stores that decimal), so every accepted number comes back unchanged; a number with no finite double would
    become infinity — not JSON, stored as null — and refuses the row. The standard library's strict
    decoding is the reference: msgspec decodes the same value for every text it accepts, and refuses
    every non-finite number (NaN and Infinity are malformed for it, 1e400 out of range); what it refuses
    (those, lone surrogates, malformed text) is decided by `json.loads`."""
    try:
        return _decode_json(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:  # strict JSON: NaN and Infinity are not JSON (PostgreSQL's jsonb refuses them)
        return json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_readable_int
        )
    except _BadNumber:
        try:  # JSON but for that number (read leniently, NaN and all): the number is the reason
            json.loads(text, parse_int=str)
        except ValueError:
            return _NOT_JSON
        raise
    except ValueError:
        return _NOT_JSON


def _applicant(record: Record, today: date) -> dict[str, Any]:
    name = " ".join((_text(record, "applicant_name") or "").split())
    if len(name) < 2:
        raise _Rejected("applicant.name_required", "Cần họ tên người yêu cầu.")
    personal_id = _text(record, "applicant_personal_id", required=False, limit=12)
    tax_code = _text(record, "applicant_tax_code", required=False, limit=14)
    try:
        if personal_id:
            parse_cccd(personal_id, today=today)
            return {"id": f"cd-{personal_id}", "kind": "citizen", "name": name, "personal_id": personal_id}
        if tax_code:
            normalized = parse_mst(tax_code).normalized
            return {"id": f"dn-{normalized}", "kind": "business", "name": name, "tax_code": normalized}
    except InvalidInput as exc:
        raise _Rejected(exc.code, exc.message) from None
    raise _Rejected(
        "applicant.identity_required",
        "Cần số định danh cá nhân (applicant_personal_id) hoặc mã số doanh nghiệp (applicant_tax_code).",
    )


def _documents(record: Record) -> list[dict[str, Any]]:
    documents = []
    for item in _json_field(record, "documents", list):
        if isinstance(item, dict):  # texts checked without `str()` copies
            sha, size, name = item.get("sha256"), item.get("size"), item.get("name")
            if type(sha) is not str:
                sha = str(sha or "")
            sha = sha.lower()
            if type(name) is not str:
                name = str(name or "")
            name = name.strip()
        else:
            sha, size, name = "", None, ""
        if not (_SHA256.fullmatch(sha) and isinstance(size, int) and size >= 0 and name):
            raise _Rejected(
                "import.bad_documents",
                "Mỗi tài liệu cần name, sha256 (64 ký tự hex) và size (số byte không âm).",
            )
        media_type, label, kind = item.get("media_type"), item.get("label"), item.get("kind")
        documents.append(
            {
                "sha256": sha,
                "size": size,
                "media_type": str(media_type or "application/pdf")[:100],
                "name": name[:300],
                "label": (str(label).strip() or None) if label else None,
                "kind": str(kind or "upload")[:32],
            }
        )
    return documents


def _status(record: Record) -> Status:
    raw = record.get("status")
    if isinstance(raw, Status):
        return raw
    try:
        return Status(int(str(_text(record, "status", limit=4))))
    except ValueError:
        raise _Rejected(
            "import.bad_status", "Trạng thái phải là mã trạng thái quốc gia từ 1 đến 10."
        ) from None


def _check_dates(status: Status, dates: dict[str, datetime | None], now: datetime) -> datetime | None:
    """Reject dates the status does not allow, or out of order; return the latest (the last in order)."""
    for name in _REQUIRED_DATES[status]:
        if dates[name] is None and not (name == "closed_at" and status is Status.RETURNED):
            raise _Rejected(
                "import.missing_date",
                f"Trạng thái «{status.label_vi}» cần trường «{name}» ({_DATE_LABELS[name]}).",
            )
    for name in _FORBIDDEN_DATES[status]:
        if dates[name] is not None:
            raise _Rejected(
                "import.date_contradicts_status",
                f"Hồ sơ ở trạng thái «{status.label_vi}» không thể có {_DATE_LABELS[name]} («{name}»).",
            )
    previous: tuple[str, datetime] | None = None
    for name in _DATE_ORDER:
        value = dates[name]
        if value is None:
            continue
        if value > now:
            raise _Rejected("import.date_in_future", f"{_DATE_LABELS[name].capitalize()} ở tương lai.")
        if previous is not None and value < previous[1]:
            raise _Rejected(
                "import.dates_out_of_order",
                f"{_DATE_LABELS[name].capitalize()} sớm hơn {_DATE_LABELS[previous[0]]}.",
            )
        previous = (name, value)
    due, accepted = dates["due_at"], dates["accepted_at"]
    if due is not None and (accepted is None or due < accepted):
        raise _Rejected(
            "import.bad_due_date", "Ngày hẹn trả chỉ có khi đã tiếp nhận và không sớm hơn ngày tiếp nhận."
        )
    return None if previous is None else previous[1]


def _iso(ref: _Reference, value: datetime | None) -> str | None:
    return None if value is None else ref.iso(value)


@dataclass
class _Valid:
    """An export row that passed every check, its fields parsed."""

    line: int
    code: str
    agency_code: str
    day: date
    seq: int
    status: Status
    channel: str
    plan: _Plan
    dates: dict[str, datetime | None]
    last: datetime  # the latest of the dates: the instant of the final event
    applicant: dict[str, Any]
    outcome: str | None
    form_data: Any
    documents: list[dict[str, Any]]


def _validate(ref: _Reference, line: int, record: Record, now: datetime) -> _Valid:
    """Check one export row (raises `_Rejected` with the first problem found)."""
    if "__error__" in record:
        raise _Rejected(*record["__error__"])
    code = _text(record, "code", limit=64) or ""
    agency_code, day, seq = ref.codes.parse(code)
    status = _status(record)
    channel_text = _text(record, "channel", required=False, limit=16) or "online"
    try:
        channel = Channel(channel_text).value
    except ValueError:
        raise _Rejected("import.bad_channel", "Kênh nộp phải là online, desk, post hoặc agent.") from None
    try:
        plan = ref.plan(
            _text(record, "procedure_code", limit=16) or "",
            _text(record, "receiving_unit", limit=80) or "",
            _text(record, "competent_unit", required=False, limit=80),
        )
    except DomainError as exc:
        raise _Rejected(exc.code, exc.message) from None
    instant = ref.instant
    dates = {name: instant(record, name) for name in _DATE_FIELDS}
    if dates["submitted_at"] is None:
        raise _Rejected("import.missing_field", "Thiếu trường bắt buộc «submitted_at».")
    last = _check_dates(status, dates, now)
    assert last is not None
    applicant = ref.applicant(record)
    outcome = _text(record, "outcome", required=False, limit=16)
    if outcome not in (None, "approved", "refused") or (
        outcome and status not in (Status.RESOLVED, Status.RETURNED)
    ):
        raise _Rejected(
            "import.bad_outcome", "Kết quả (outcome) chỉ là approved hoặc refused, với hồ sơ đã có kết quả."
        )
    form_data = ref.form_data(record)
    documents = _documents(record)
    return _Valid(
        line,
        code,
        agency_code,
        day,
        seq,
        status,
        channel,
        plan,
        dates,
        last,
        applicant,
        outcome,
        form_data,
        documents,
    )


def _final_event(
    ref: _Reference, v: _Valid, step: str
) -> tuple[datetime, datetime | None, datetime | None, dict[str, Any], str, str]:
    """What the event carrying a dossier's final state holds: its instant, the due date, the closing instant,
    the state fields it changes, its type and the unit it is taken at."""
    dates, last = v.dates, v.last
    due, closed, changes = _final_changes(ref, v.plan, v.status, dates, v.outcome)
    changes["version"] = 2
    changes["last_event_at"] = ref.iso(last)
    if changes["step"] != step:
        changes["step_entered_at"] = changes["last_event_at"]
    action = FINAL_ACTION[v.status]
    if v.status is Status.RESOLVED and changes["outcome"] == "refused":
        action = Action.REFUSE
    return last, due, closed, changes, action.value, changes["step_unit_id"]


def prepare_row(ref: _Reference, line: int, record: Record, now: datetime, source: str) -> _Row:
    """Validate one export row and build everything stored for it (raises `_Rejected`)."""
    v = _validate(ref, line, record, now)
    plan, applicant, dates = v.plan, v.applicant, v.dates
    submitted = dates["submitted_at"]
    assert submitted is not None
    submitted_iso = ref.iso(submitted)
    state = dict(plan.initial)
    state.update(
        code=v.code,
        channel=v.channel,
        applicant_id=applicant["id"],
        submitted_by=applicant["id"],
        submitted_at=submitted_iso,
        step_entered_at=submitted_iso,
        last_event_at=submitted_iso,
    )
    events = [_event(1, Action.SUBMIT.value, submitted, applicant["id"], applicant["kind"], None, {}, state)]
    due: datetime | None = None
    closed: datetime | None = None
    if v.status is not Status.SUBMITTED:
        last, due, closed, changes, action, unit = _final_event(ref, v, state["step"])
        data = {"imported": True, "source": source, "line": line}
        events.append(_event(2, action, last, IMPORT_ACTOR, "officer", unit, data, changes))
        state = {**state, **changes}
    dossier = {
        "code": v.code,
        "procedure_code": plan.procedure.code,
        "procedure_name": plan.procedure.name,
        "city_procedure_version": plan.procedure.version or 1,
        "workflow_id": plan.workflow.id,
        "workflow_version": plan.workflow.version,
        "channel": v.channel,
        "applicant_id": applicant["id"],
        "applicant_name": applicant["name"],
        "submitted_by": applicant["id"],
        "receiving_unit_id": plan.receiving_id,
        "competent_unit_id": plan.competent_id,
        "status": int(v.status),
        "step": state["step"],
        "step_unit_id": state["step_unit_id"],
        "assignee_id": None,
        "submitted_at": submitted,
        "accepted_at": dates["accepted_at"],
        "due_at": due,
        "step_due_at": None,
        "resolved_at": dates["resolved_at"],
        "closed_at": closed,
        "outcome": state["outcome"],
        "version": state["version"],
        "state": state,
        "form_data": v.form_data,
        "updated_at": events[-1]["at"],
    }
    return _Row(
        line,
        v.code,
        v.agency_code,
        v.day,
        v.seq,
        applicant,
        v.documents,
        len(events),
        submitted,
        dossier,
        events,
    )


def _copy_row(ref: _Reference, line: int, record: Record, now: datetime, data_head: str) -> _Row:
    """`prepare_row` for PostgreSQL: the same checks and the same stored values, written straight as COPY
    text. The dossier's state is the initial state's JSON followed by the final event's changes: jsonb keeps
    the last value of a repeated key, so the stored object is the fold of the two events, as `replay`
    computes it."""
    v = _validate(ref, line, record, now)
    plan, applicant, dates = v.plan, v.applicant, v.dates
    submitted = dates["submitted_at"]
    assert submitted is not None
    submitted_iso = ref.iso(submitted)
    applicant_id = applicant["id"]  # digits after "cd-"/"dn-": nothing to escape in JSON or COPY
    initial_json = (
        f'{plan.initial_head},"code":"{v.code}","channel":"{v.channel}","applicant_id":"{applicant_id}",'
        f'"submitted_by":"{applicant_id}","submitted_at":"{submitted_iso}",'
        f'"step_entered_at":"{submitted_iso}","last_event_at":"{submitted_iso}"}}'
    )
    first = f"1\tsubmit\t{submitted_iso}\t{applicant_id}\t{applicant['kind']}\t\\N\t{{}}\t{initial_json}"
    step, step_unit = plan.steps["start"]
    events: tuple[str, ...]
    if v.status is Status.SUBMITTED:
        state_json, updated_iso, events = initial_json, submitted_iso, (first,)
        due_iso = closed_iso = outcome = NULL
        version = "1"
    else:
        _, due, closed, changes, action, unit = _final_event(ref, v, step)
        changes_json = _copy_json(changes)
        state_json = initial_json[:-1] + "," + changes_json[1:]
        updated_iso = changes["last_event_at"]
        events = (
            first,
            f"2\t{action}\t{updated_iso}\t{IMPORT_ACTOR}\tofficer\t{unit}\t{data_head}{line}}}\t{changes_json}",
        )
        step, step_unit = changes["step"], unit
        due_iso = NULL if due is None else changes["due_at"]
        closed_iso = NULL if closed is None else changes["closed_at"]
        outcome = changes.get("outcome") or NULL
        version = "2"
    accepted, resolved = dates["accepted_at"], dates["resolved_at"]
    row = _Row(line, v.code, v.agency_code, v.day, v.seq, applicant, v.documents, len(events), submitted)
    row.copy_dossier = "\t".join(
        (
            v.code,
            plan.copy_columns,
            v.channel,
            applicant_id,
            _copy_text(applicant["name"]),
            applicant_id,
            plan.copy_units,
            str(int(v.status)),
            step,
            step_unit,
            NULL,
            submitted_iso,
            NULL if accepted is None else ref.iso(accepted),
            due_iso,
            NULL,
            NULL if resolved is None else ref.iso(resolved),
            closed_iso,
            outcome,
            version,
            state_json,
            ref.form_json(v.form_data),
            updated_iso,
        )
    )
    row.copy_events = events
    if v.documents:
        row.copy_links = [
            f"{d['sha256']}\t{_copy_text(d['kind'])}\t{_copy_text(d['name'])}\t"
            f"{_copy_optional(d['label'])}\t{applicant_id}\t{submitted_iso}"
            for d in v.documents
        ]
    return row


_PLACE = {
    Status.REJECTED: "start",
    Status.ACCEPTED: "processing",
    Status.IN_PROCESS: "processing",
    Status.FEE_DUE: "fee",
    Status.STOPPED: "stop",
    Status.RESOLVED: "return",
    Status.RETURNED: "return",
}


def _final_changes(
    ref: _Reference,
    plan: _Plan,
    status: Status,
    dates: Mapping[str, datetime | None],
    outcome: str | None,
) -> tuple[datetime | None, datetime | None, dict[str, Any]]:
    """The due date, the closing instant and the state fields the final event changes, encoded as
    `state_to_dict` encodes them."""
    accepted = dates["accepted_at"]
    changes: dict[str, Any] = {"status": int(status)}
    due = None
    if accepted is not None:
        clock_start = ref.clock_start(accepted, plan.procedure.cutoff)
        due = dates["due_at"] or ref.due(clock_start, plan.terms)
        due_iso = ref.iso(due)
        changes.update(  # as the engine accepts: the appointment and the legal deadline start out equal
            accepted_at=ref.iso(accepted),
            clock_start=ref.iso(clock_start),
            due_at=due_iso,
            legal_due_at=due_iso,
        )
    place = _PLACE.get(status) or ("start" if accepted is None else "processing")
    changes["step"], changes["step_unit_id"] = plan.steps[place]
    if status in (Status.SUPPLEMENT_REQUESTED, Status.FEE_DUE):
        resume = Status.SUBMITTED if accepted is None else Status.IN_PROCESS
        changes.update(paused_at=_iso(ref, dates["paused_at"]), resume_status=int(resume))
        if status is Status.SUPPLEMENT_REQUESTED:
            changes["supplement_requests"] = 1
    if status in (Status.RESOLVED, Status.RETURNED):
        changes.update(resolved_at=_iso(ref, dates["resolved_at"]), outcome=outcome or "approved")
    if status is Status.RETURNED:
        changes["returned_at"] = _iso(ref, dates["returned_at"])
    closed = None
    if status in _CLOSED_WITH:
        closed = dates["closed_at"] or dates["returned_at"]
        changes["closed_at"] = _iso(ref, closed)
    return due, closed, changes


def _event(
    seq: int,
    action: str,
    at: datetime,
    actor_id: str,
    actor_kind: str,
    actor_unit_id: str | None,
    data: dict[str, Any],
    changes: dict[str, Any],
) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": action,
        "at": at,
        "actor_id": actor_id,
        "actor_kind": actor_kind,
        "actor_unit_id": actor_unit_id,
        "data": data,
        "changes": changes,
    }


# ---------------------------------------------------------------- the bulk path


def import_dossiers(
    db: Database,
    path: Path | str,
    *,
    now: datetime,
    calendar: BusinessCalendar | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """`motcua import dossiers FILE`: read, validate and bulk-insert a legacy export."""
    path = Path(path)
    if not path.is_file():
        raise NotFound("import.file_not_found", f"Không tìm thấy tệp {path}.")
    records = read_export(path)
    return import_records(
        db, records, now=now, source=path.name, calendar=calendar, batch_size=batch_size, on_batch=on_batch
    )


def import_records(
    db: Database,
    records: Iterable[tuple[int, Record]],
    *,
    now: datetime,
    source: str,
    calendar: BusinessCalendar | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[ImportReport], None] | None = None,
    bulk_load: bool = False,
) -> ImportReport:
    """The bulk path shared by the legacy import and the benchmark data generator.

    `records` are (line number, row) pairs with the fields of an export row (values as text, or already
    typed: datetimes, ints, dicts, lists). Each batch is validated and formatted here while the previous one
    is written by a second thread in its own transaction: the database works while Python prepares.

    `bulk_load` (the benchmark generator; PostgreSQL): when the dossier tables are empty, load everything in
    ONE transaction that drops their secondary indexes and foreign keys first and re-creates them at the
    end — a sorted index build and one validating join instead of maintaining eight index entries and
    checking three keys per row. The tables stay locked (ACCESS EXCLUSIVE) until the commit; an interrupted
    load leaves nothing. When they are not empty it imports batch by batch like `motcua import`.

    A reorganisation (`motcua reorganize apply`) may commit while an import runs: each batch's transaction reads
    the unit registry's token after its rows are in (holding the dossiers' write lock the apply waits for), and a
    batch validated against a directory the plan replaced is rolled back, validated again against the new one
    and written (decision 0010): nothing lands at a closed unit.
    """
    started = perf_counter()
    report = ImportReport(source=source)
    calendar = calendar or BusinessCalendar.vietnam()
    today = now.date()
    with db.read() as conn:
        ref = _Reference(conn, today=today, calendar=calendar)
    for_copy = db.dialect == "postgresql"
    with ExitStack() as stack:
        shared: Connection | None = None
        if bulk_load and for_copy:
            conn = stack.enter_context(db.transaction())
            restore = _begin_bulk_load(conn)
            if restore is None:  # not empty: batch by batch, each committed
                stack.close()
            else:
                shared = conn
                if units_token(conn) != ref.units_token:  # the lock now keeps a reorganisation out
                    ref = _Reference(conn, today=today, calendar=calendar)
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="motcua-import"))
        pipeline = _Pipeline(
            db, ref, now=now, report=report, shared=shared, executor=executor, on_batch=on_batch
        )
        for batch in _batches(records, batch_size):
            pipeline.add(batch)
        pipeline.finish()
        if shared is not None:
            _end_bulk_load(shared, restore or [])
    report.seconds = perf_counter() - started
    return report


class _UnitsChanged(Exception):
    """A batch's transaction found the unit registry's token changed: rolled back, to be validated again."""


# A batch is validated again at most this many times in a row (each time a reorganisation committed meanwhile).
_UNITS_ATTEMPTS = 3


@dataclass
class _Prepared:
    """A validated batch: its rows, the rows it rejected, and what it was validated against."""

    batch: list[tuple[int, Record]]
    rows: list[_Row]
    rejected: list[RejectedRow]
    units_token: str | None


class _Pipeline:
    """Validates batch k+1 while a second thread writes batch k in its own transaction (the database works while
    Python prepares); the report is written in batch order, once a batch is committed."""

    def __init__(
        self,
        db: Database,
        ref: _Reference,
        *,
        now: datetime,
        report: ImportReport,
        shared: Connection | None,
        executor: ThreadPoolExecutor,
        on_batch: Callable[[ImportReport], None] | None,
    ) -> None:
        self.db, self.ref, self.now, self.report, self.shared = db, ref, now, report, shared
        self.executor, self.on_batch = executor, on_batch
        self.for_copy = db.dialect == "postgresql"
        self.merged = _Merged()
        self.pending: tuple[Future[None], _Prepared] | None = None

    def add(self, batch: list[tuple[int, Record]]) -> None:
        prepared = self._prepare(batch)
        self._settle()
        if prepared.units_token != self.ref.units_token:  # validated on a directory replaced meanwhile
            prepared = self._prepare(batch)
        self.pending = (self._submit(prepared), prepared)

    def finish(self) -> None:
        self._settle()

    def _prepare(self, batch: list[tuple[int, Record]]) -> _Prepared:
        rows, rejected = _prepare_batch(
            self.ref, batch, now=self.now, source=self.report.source, for_copy=self.for_copy
        )
        return _Prepared(batch, rows, rejected, self.ref.units_token)

    def _submit(self, prepared: _Prepared) -> Future[None]:
        return self.executor.submit(
            _write_batch,
            self.db,
            prepared,
            now=self.now,
            report=self.report,
            merged=self.merged,
            shared=self.shared,
        )

    def _settle(self) -> None:
        """Wait for the batch in flight; validate and write it again while a reorganisation replaced its units."""
        if self.pending is None:
            return
        future, prepared = self.pending
        self.pending = None
        for attempt in range(1, _UNITS_ATTEMPTS + 1):
            try:
                future.result()
                break
            except _UnitsChanged:
                if self.shared is not None or attempt == _UNITS_ATTEMPTS:
                    raise Conflict(
                        "import.units_changed",
                        f"Danh mục đơn vị hành chính thay đổi liên tục trong khi nhập; lô bắt đầu từ dòng "
                        f"{prepared.batch[0][0]} chưa được ghi (các lô trước đã ghi). Hãy chạy lại lệnh: "
                        "các hồ sơ đã nhập sẽ được bỏ qua.",
                    ) from None
                with self.db.read() as conn:
                    self.ref = _Reference(conn, today=self.ref.today, calendar=self.ref.calendar)
                self.report.units_reloaded += 1
                prepared = self._prepare(prepared.batch)
                future = self._submit(prepared)
        if self.on_batch:
            self.on_batch(self.report)


# The dossier tables a bulk load writes. It keeps their primary keys and the unique constraints of
# `dossiers` (the code's: each batch looks up the codes stored already).
_BULK_TABLES = ("dossiers", "dossier_events", "dossier_files")


def _begin_bulk_load(conn: Connection) -> list[str] | None:
    """Lock the dossier tables; if they are empty, drop their secondary indexes, foreign keys and unique
    constraints (but those of `dossiers`), and return the statements that re-create them (None, and nothing
    dropped, when a table holds rows)."""
    raw = _driver(conn)
    with raw.cursor() as cur:
        cur.execute(f"LOCK TABLE {', '.join(_BULK_TABLES)} IN ACCESS EXCLUSIVE MODE")
        cur.execute("SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in _BULK_TABLES))
        if cur.fetchone()[0]:
            return None
        tables = list(_BULK_TABLES)
        cur.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid), contype "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u') "
            "AND NOT (contype = 'u' AND conrelid = 'dossiers'::regclass) "
            "ORDER BY contype, conrelid::regclass::text, conname",
            (tables,),
        )
        constraints = cur.fetchall()  # foreign keys first: dropped before the rest
        cur.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indrelid = ANY(%s::regclass[]) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
            "ORDER BY 1",
            (tables,),
        )
        indexes = cur.fetchall()
        for table, name, _, _ in constraints:
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {name}")
    return [
        *(definition for _, definition in indexes),
        *(
            f"ALTER TABLE {t} ADD CONSTRAINT {n} {d}"
            for t, n, d, kind in reversed(constraints)
            if kind == "u"
        ),
        *(
            f"ALTER TABLE {t} ADD CONSTRAINT {n} {d}"
            for t, n, d, kind in reversed(constraints)
            if kind == "f"
        ),
    ]


def _end_bulk_load(conn: Connection, restore: Sequence[str]) -> None:
    """Re-create what `_begin_bulk_load` dropped (each foreign key checks every loaded row: one join)."""
    raw = _driver(conn)
    with raw.cursor() as cur:
        cur.execute("SET LOCAL maintenance_work_mem = '512MB'")  # sorted builds of millions of entries
        cur.execute("SET LOCAL work_mem = '256MB'")  # the foreign keys' validating joins
        for statement in restore:
            cur.execute(statement)


@dataclass
class _Merged:
    """Applicants and files this import has stored (or found stored) already: not sent again. Bounded."""

    users: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)

    def remember(self, rows: Sequence[_Row]) -> None:
        if len(self.users) > 1_000_000:
            self.users.clear()
        if len(self.files) > 1_000_000:
            self.files.clear()
        self.users.update(row.applicant["id"] for row in rows)
        self.files.update(d["sha256"] for row in rows for d in row.documents)


def _batches(records: Iterable[tuple[int, Record]], size: int) -> Iterator[list[tuple[int, Record]]]:
    batch: list[tuple[int, Record]] = []
    for item in records:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prepare_batch(
    ref: _Reference,
    batch: Sequence[tuple[int, Record]],
    *,
    now: datetime,
    source: str,
    for_copy: bool,
) -> tuple[list[_Row], list[RejectedRow]]:
    """Validate a batch: the rows to write, and those that fail or repeat a code of the batch."""
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    rejected: list[RejectedRow] = []
    data_head = '{"imported":true,"source":' + _copy_json(source) + ',"line":'
    for line, record in batch:
        try:
            if for_copy:
                row = _copy_row(ref, line, record, now, data_head)
            else:
                row = prepare_row(ref, line, record, now, source)
        except _Rejected as exc:
            code = record.get("code")
            rejected.append(RejectedRow(line, str(code) if code else None, exc.reason, exc.message))
            continue
        first = seen.setdefault(row.code, line)
        if first != line:
            message = f"Mã hồ sơ {row.code} trùng với dòng {first} của tệp."
            rejected.append(RejectedRow(line, row.code, "import.duplicate_code", message))
            continue
        rows.append(row)
    return rows, rejected


def _write_batch(
    db: Database,
    prepared: _Prepared,
    *,
    now: datetime,
    report: ImportReport,
    merged: _Merged,
    shared: Connection | None = None,
) -> None:
    """One transaction (or a part of the bulk load's `shared` one): drop the rows whose code is stored
    already, write the rest, check the units they were validated against are still today's (else roll back:
    `_UnitsChanged`), audit the batch; then the batch goes into the report."""
    rows = prepared.rows
    rejected = list(prepared.rejected)
    with ExitStack() as stack:
        conn = shared if shared is not None else stack.enter_context(db.transaction())
        existing = _existing_codes(conn, [row.code for row in rows])
        if existing:
            message = "Hồ sơ {} đã có trong hệ thống (đã nhập trước đó, hoặc trùng mã)."
            rejected.extend(
                RejectedRow(row.line, row.code, "dossier.exists", message.format(row.code))
                for row in rows
                if row.code in existing
            )
            rows = [row for row in rows if row.code not in existing]
        if not rows:
            report.rows += len(prepared.batch)
            report.rejected.extend(rejected)
            return
        if conn.dialect.name == "postgresql":
            created = _PostgresWriter(conn, merged, truncate=shared is not None).write(rows, now)
        else:
            created = _SqliteWriter(conn).write(rows, now)
        # After the rows: on PostgreSQL this transaction now holds the write lock on `dossiers` that a
        # reorganisation's apply takes first, so a plan is either committed and seen here, or waits for us.
        if units_token(conn) != prepared.units_token:
            raise _UnitsChanged
        _raise_counters(conn, rows)
        events = sum(row.events for row in rows)
        append_audit(
            conn,
            at=now,
            actor_id=IMPORT_ACTOR,
            actor_role="system",
            action="dossier.import_batch",
            object_type="dossier_import",
            object_id=f"{report.source}#{report.batches + 1}",
            unit_id=None,
            data={
                "source": report.source,
                "batch": report.batches + 1,
                "lines": [rows[0].line, rows[-1].line],
                "dossiers": len(rows),
                "events": events,
                "first_code": rows[0].code,
                "last_code": rows[-1].code,
                "codes_sha256": hashlib.sha256("\n".join(r.code for r in rows).encode()).hexdigest(),
            },
        )
    merged.remember(rows)
    report.rows += len(prepared.batch)
    report.rejected.extend(rejected)
    report.batches += 1
    report.imported += len(rows)
    report.events += events
    report.documents += sum(len(row.documents) for row in rows)
    report.applicants_created += created


def _existing_codes(conn: Connection, codes: list[str]) -> set[str]:
    if not codes:
        return set()
    if conn.dialect.name == "postgresql":  # one array parameter: 10,000 bind parameters compile slowly
        with _driver(conn).cursor() as cur:
            # A validated code is `[0-9A-Z.]+-digits-digits`: the array's text needs no quoting.
            cur.execute("SELECT code FROM dossiers WHERE code = ANY(%s::text[])", (_array_text(codes),))
            return {row[0] for row in cur.fetchall()}
    found: set[str] = set()
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        found.update(conn.scalars(select(dossiers.c.code).where(dossiers.c.code.in_(chunk))))
    return found


def _raise_counters(conn: Connection, rows: Sequence[_Row]) -> None:
    """Raise each (agency, day) counter to the highest imported sequence, so new codes never collide."""
    highest: dict[tuple[str, date], int] = {}
    for row in rows:
        key = (row.agency_code, row.day)
        if row.seq > highest.get(key, 0):
            highest[key] = row.seq
    ordered = sorted(highest.items())  # a consistent lock order between concurrent imports
    if conn.dialect.name == "postgresql":
        with _driver(conn).cursor() as cur:
            cur.execute(
                "INSERT INTO dossier_counters (agency_code, day, last_seq) "
                "SELECT * FROM unnest(%s::text[], %s::date[], %s::int[]) "
                "ON CONFLICT (agency_code, day) DO UPDATE "
                "SET last_seq = greatest(dossier_counters.last_seq, excluded.last_seq)",
                (
                    _array_text([a for (a, _), _ in ordered]),
                    _array_text([d.isoformat() for (_, d), _ in ordered]),
                    _array_text([str(s) for _, s in ordered]),
                ),
            )
        return
    upsert = sqlite.insert(dossier_counters)
    biggest = func.max(dossier_counters.c.last_seq, upsert.excluded.last_seq)
    conn.execute(
        upsert.on_conflict_do_update(index_elements=["agency_code", "day"], set_={"last_seq": biggest}),
        [{"agency_code": a, "day": d, "last_seq": s} for (a, d), s in ordered],
    )


def _array_text(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of values that need no quoting (codes, dates, numbers): psycopg's list
    adapter checks every element, which costs more than the query."""
    return "{" + ",".join(values) + "}"


def _driver(conn: Connection) -> Any:
    """The DBAPI (psycopg) connection under a SQLAlchemy connection, in the same transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None, "a live database connection"
    return raw


def _new_users(
    rows: Sequence[_Row], now: datetime, known: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The applicants' account records, but those of the `known` ids."""
    applicants: dict[str, dict[str, Any]] = {}
    for row in rows:
        applicant = row.applicant
        if applicant["id"] not in known:
            applicants.setdefault(applicant["id"], applicant)
    return [
        {
            "id": a["id"],
            "username": a["id"],
            "password_hash": "!",  # cannot log in, like a walk-in applicant's record
            "kind": a["kind"],
            "full_name": a["name"],
            "personal_id": a.get("personal_id"),
            "tax_code": a.get("tax_code"),
            "unit_id": None,
            "roles": [],
            "email": None,
            "phone": None,
            "active": True,
            "created_at": now,
        }
        for a in applicants.values()
    ]


def _unique_files(
    rows: Sequence[_Row], now: datetime, known: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        for d in row.documents:
            if d["sha256"] not in unique and d["sha256"] not in known:
                unique[d["sha256"]] = {
                    "sha256": d["sha256"],
                    "size": d["size"],
                    "media_type": d["media_type"],
                    "created_at": now,
                }
    return list(unique.values())


def _document_links(row: _Row) -> list[dict[str, Any]]:
    return [
        {
            "sha256": d["sha256"],
            "kind": d["kind"],
            "name": d["name"],
            "label": d["label"],
            "added_by": row.applicant["id"],
            "added_at": row.submitted_at,
        }
        for d in row.documents
    ]


class _SqliteWriter:
    """executemany through SQLAlchemy Core (the embedded database of a single commune)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def write(self, rows: Sequence[_Row], now: datetime) -> int:
        conn = self.conn
        next_id = int(conn.execute(select(func.coalesce(func.max(dossiers.c.id), 0))).scalar_one()) + 1
        records = [row.dossier for row in rows if row.dossier is not None]
        for offset, record in enumerate(records):
            record["id"] = next_id + offset
        conn.execute(dossiers.insert(), records)
        events = [
            {"dossier_id": r["id"], **e} for row, r in zip(rows, records, strict=True) for e in row.event_rows
        ]
        conn.execute(dossier_events.insert(), events)
        new_users = sqlite.insert(users).on_conflict_do_nothing(index_elements=["id"])
        created = conn.execute(new_users, _new_users(rows, now)).rowcount
        file_rows = _unique_files(rows, now)
        if file_rows:
            conn.execute(sqlite.insert(files).on_conflict_do_nothing(index_elements=["sha256"]), file_rows)
            links = [
                {"dossier_id": r["id"], **link}
                for row, r in zip(rows, records, strict=True)
                for link in _document_links(row)
            ]
            conn.execute(dossier_files.insert(), links)
        return max(int(created or 0), 0)


# ---- PostgreSQL: COPY in text format, each row formatted once by the preparing thread

_encode_json = msgspec.json.Encoder().encode  # compact UTF-8 JSON, ~10× the standard library's encoder
NULL = "\\N"


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_json(value: Any) -> str:
    # The encoder escapes control characters, so only its backslashes need doubling for COPY.
    return _encode_json(value).decode().replace("\\", "\\\\")


def _copy_instant(value: datetime | None) -> str:
    return NULL if value is None else value.isoformat()


def _copy_optional(value: str | None) -> str:
    return NULL if value is None else _copy_text(value)


_DOSSIER_COLUMNS = (
    "id, code, procedure_code, procedure_name, city_procedure_version, workflow_id, workflow_version, channel, "
    "applicant_id, applicant_name, submitted_by, receiving_unit_id, competent_unit_id, status, step, "
    "step_unit_id, assignee_id, submitted_at, accepted_at, due_at, step_due_at, resolved_at, closed_at, outcome, "
    "version, state, form_data, updated_at"
)
_EVENT_COLUMNS = "dossier_id, seq, type, at, actor_id, actor_kind, actor_unit_id, data, changes"
_LINK_COLUMNS = "dossier_id, sha256, kind, name, label, added_by, added_at"
_USER_COLUMNS = tuple(c.name for c in users.columns)
_FILE_COLUMNS = ("sha256", "size", "media_type", "created_at")


class _PostgresWriter:
    """COPY … FROM STDIN on the transaction's own connection; dossier ids reserved from their sequence."""

    def __init__(self, conn: Connection, merged: _Merged, *, truncate: bool = False) -> None:
        self.raw = _driver(conn)
        self.merged = merged
        self.truncate = truncate  # the staging tables outlive a batch (the bulk load's one transaction)

    def write(self, rows: Sequence[_Row], now: datetime) -> int:
        ids = self._reserve_ids(len(rows))
        # The COPY data as one list of pieces joined once: "<id>\t<line>\n" without building each line.
        dossier_parts: list[str] = []
        event_parts: list[str] = []
        link_parts: list[str] = []
        for row, dossier_id in zip(rows, ids, strict=True):
            prefix = f"{dossier_id}\t"
            dossier_parts += (prefix, row.copy_dossier, "\n")
            for line in row.copy_events:
                event_parts += (prefix, line, "\n")
            for line in row.copy_links:
                link_parts += (prefix, line, "\n")
        self._copy_text(f"dossiers ({_DOSSIER_COLUMNS})", "".join(dossier_parts))
        self._copy_text(f"dossier_events ({_EVENT_COLUMNS})", "".join(event_parts))
        created = self._merge("users", "id", _USER_COLUMNS, _new_users(rows, now, self.merged.users))
        if link_parts:
            self._merge("files", "sha256", _FILE_COLUMNS, _unique_files(rows, now, self.merged.files))
            self._copy_text(f"dossier_files ({_LINK_COLUMNS})", "".join(link_parts))
        return created

    def _reserve_ids(self, count: int) -> list[int]:
        with self.raw.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('dossiers', 'id')) FROM generate_series(1, %s)",
                (count,),
            )
            return [int(r[0]) for r in cur.fetchall()]

    def _copy(self, target: str, lines: list[str]) -> None:
        self._copy_text(target, "\n".join(lines) + "\n")

    def _copy_text(self, target: str, data: str) -> None:
        with self.raw.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            copy.write(data.encode(self.raw.info.encoding))  # the text once, in the connection's encoding

    def _merge(self, table: str, key: str, columns: Sequence[str], values: list[dict[str, Any]]) -> int:
        """Insert the rows whose key is not stored yet (COPY into a temporary table, then one INSERT)."""
        if not values:
            return 0
        staging = f"motcua_import_{table}"
        names = ", ".join(columns)
        with self.raw.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            )
            if self.truncate:
                cur.execute(f"TRUNCATE {staging}")
        self._copy(f"{staging} ({names})", ["\t".join(_copy_value(v[c]) for c in columns) for v in values])
        with self.raw.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ON CONFLICT ({key}) DO NOTHING"
            )
            return max(int(cur.rowcount), 0)


def _copy_value(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        return _copy_text(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _copy_json(value)


__all__ = [
    "DEFAULT_BATCH",
    "IMPORT_ACTOR",
    "ImportReport",
    "RejectedRow",
    "import_dossiers",
    "import_records",
    "read_export",
    "write_rejections",
]
