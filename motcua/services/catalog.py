"""The procedure catalog use cases: import the national export, load the HCMC layer, and query both.

Imports are idempotent and versioned: an unchanged record is skipped, a changed one becomes a new version
and the old version stays (never deleted). Every function takes the caller's `Connection`, so an import
commits or rolls back as one unit of work.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from fractions import Fraction
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

import yaml
from sqlalchemy import Connection, Engine, and_, bindparam, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from motcua.domain.catalog import (
    CODE_PATTERN,
    CityProcedure,
    NationalProcedure,
    OnlineLevel,
    ProcessingTime,
    TimeUnit,
    parse_city_layer,
    parse_national_record,
    search_key,
)
from motcua.domain.clock import require_aware, to_vn
from motcua.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from motcua.domain.text import fold
from motcua.store.schema.catalog import city_procedures, procedures
from motcua.store.schema.catalog_version import catalog_version

CATALOG_DIR = Path(str(resources.files("motcua") / "data" / "catalog"))
NATIONAL_FILE = CATALOG_DIR / "national_procedures.jsonl.gz"
CITY_LAYER_FILE = CATALOG_DIR / "hcmc_procedures.yaml"

# National level labels → the slugs used by the `level` filter (the city layer uses "xa" and "tinh" too).
LEVEL_KEYS = {"Cấp bộ": "bo", "Cấp tỉnh": "tinh", "Cấp xã": "xa", "Cơ quan khác": "khac"}
MAX_PAGE_SIZE = 100

_ONLINE = (OnlineLevel.FULL.value, OnlineLevel.PARTIAL.value)
_CODE_PREFIX = re.compile(r"^[0-9.]+$")


# --------------------------------------------------------------------------------------------------------
# National import
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedLine:
    line: int
    code: str  # the error code, e.g. "catalog.bad_record"
    reason: str  # Vietnamese, starts with "Dòng <n>:"


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0  # a new version of a known procedure
    unchanged: int = 0
    rejected: list[RejectedLine] = dc_field(default_factory=list)

    def summary(self) -> str:
        """One line of counts (Vietnamese)."""
        return (
            f"Đã đọc {self.total} bản ghi: {self.created} thêm mới, {self.updated} cập nhật (phiên bản mới), "
            f"{self.unchanged} không đổi, {len(self.rejected)} bị loại."
        )


@dataclass
class _ParsedFile:
    records: list[NationalProcedure] = dc_field(default_factory=list)
    rejected: list[RejectedLine] = dc_field(default_factory=list)
    total: int = 0
    json_lines: int = 0


def import_national(conn: Connection, lines: Iterable[bytes | str], *, now: datetime) -> ImportReport:
    """Import national records (JSON Lines). Rejected lines are reported and do not stop the others; input
    that is not JSON Lines at all raises `InvalidInput("catalog.bad_file")` and changes nothing."""
    require_aware(now)
    parsed = _parse_lines(lines)
    if parsed.json_lines == 0:
        reason = "không có dòng JSON nào" if parsed.total else "tệp rỗng"
        raise InvalidInput(
            "catalog.bad_file",
            f"Tệp không phải danh mục thủ tục dạng JSON Lines ({reason}).",
            total=parsed.total,
        )
    report = ImportReport(total=parsed.total, rejected=parsed.rejected)
    _store_national(conn, parsed.records, report, now)
    return report


def import_national_file(conn: Connection, path: Path | str, *, now: datetime) -> ImportReport:
    """Import a `.jsonl` or gzip-compressed `.jsonl.gz` file (recognised by its content, not its name)."""
    path = Path(path)
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise InvalidInput(
            "catalog.file_unreadable", f"Không đọc được tệp {path}: {exc.strerror or exc}.", path=str(path)
        ) from exc
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as stream:
            lines = stream.readlines()
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInput(
            "catalog.bad_file", f"Tệp {path.name} bị hỏng, không giải nén được: {exc}.", path=str(path)
        ) from exc
    return import_national(conn, lines, now=now)


def _parse_lines(lines: Iterable[bytes | str]) -> _ParsedFile:
    parsed = _ParsedFile()
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = _decode(raw)
        if text is not None and not text.strip():
            continue
        parsed.total += 1
        obj = _json_value(text)
        if obj is _NOT_JSON:
            parsed.rejected.append(
                RejectedLine(number, "catalog.bad_json", f"Dòng {number}: không phải JSON hợp lệ.")
            )
            continue
        parsed.json_lines += 1
        try:
            record = parse_national_record(obj, line=number)
        except DomainError as exc:
            parsed.rejected.append(RejectedLine(number, exc.code, exc.message))
            continue
        if record.code in first_line:
            reason = f"Dòng {number}: mã {record.code} đã có ở dòng {first_line[record.code]}."
            parsed.rejected.append(RejectedLine(number, "catalog.duplicate_record", reason))
            continue
        first_line[record.code] = number
        parsed.records.append(record)
    return parsed


def _decode(raw: bytes | str) -> str | None:
    if isinstance(raw, str):
        return raw.lstrip("\ufeff")
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return None


_NOT_JSON = object()


def _json_value(text: str | None) -> Any:
    if text is None:
        return _NOT_JSON
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _store_national(
    conn: Connection, records: list[NationalProcedure], report: ImportReport, now: datetime
) -> None:
    """Insert new versions in batches; one query loads the current versions' hashes."""
    current = {
        row.code: row
        for row in conn.execute(
            select(
                procedures.c.row_id, procedures.c.code, procedures.c.version, procedures.c.content_hash
            ).where(procedures.c.is_current.is_(True))
        )
    }
    new_rows: list[dict[str, Any]] = []
    superseded: list[dict[str, Any]] = []
    for record in records:
        digest = record.content_hash()
        previous = current.get(record.code)
        if previous is None:
            report.created += 1
            version = 1
        elif previous.content_hash == digest:
            report.unchanged += 1
            continue
        else:
            report.updated += 1
            version = previous.version + 1
            superseded.append({"b_row_id": previous.row_id})
        new_rows.append(_national_row(record, digest, version, now))
    try:
        if superseded:
            conn.execute(
                update(procedures)
                .where(procedures.c.row_id == bindparam("b_row_id"))
                .values(is_current=False),
                superseded,
            )
        if new_rows:
            conn.execute(procedures.insert(), new_rows)
    except IntegrityError as exc:
        raise Conflict(
            "catalog.concurrent_import", "Danh mục đang được cập nhật bởi một tiến trình khác; hãy thử lại."
        ) from exc


def _national_row(record: NationalProcedure, digest: str, version: int, now: datetime) -> dict[str, Any]:
    level_keys = sorted({LEVEL_KEYS.get(level, "khac") for level in record.levels})
    return {
        "code": record.code,
        "version": version,
        "content_hash": digest,
        "name": record.name,
        "name_folded": search_key(record.name),
        "field": record.field,
        "levels": list(record.levels),
        "level_keys": "|" + "|".join(level_keys) + "|" if level_keys else "|",
        "ministry": record.ministry,
        "data": record.to_dict(),
        "imported_at": now,
        "is_current": True,
    }


# --------------------------------------------------------------------------------------------------------
# The HCMC layer
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReport:
    total: int
    created: int
    updated: int  # a new version of an entry the city already offered
    unchanged: int
    retired: int  # offered before, no longer in the layer file

    def summary(self) -> str:
        return (
            f"Danh mục Thành phố: {self.total} thủ tục — {self.created} thêm mới, {self.updated} cập nhật "
            f"(phiên bản mới), {self.unchanged} không đổi, {self.retired} ngừng cung cấp."
        )


def read_form_schemas(forms_dir: Path) -> dict[str, dict[str, Any]]:
    """Every `<slug>.schema.json` in the folder, by slug (each must at least be JSON)."""
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(forms_dir.glob("*.schema.json")):
        try:
            schemas[path.name.removesuffix(".schema.json")] = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise InvalidInput(
                "catalog.bad_form_json",
                f"Biểu mẫu {path.name} không phải JSON hợp lệ: {exc}.",
                file=path.name,
            ) from exc
    return schemas


def read_city_layer_file(yaml_path: Path) -> Any:
    try:
        return yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            "catalog.file_unreadable", f"Không đọc được tệp {yaml_path}: {exc.strerror or exc}."
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidInput("catalog.bad_yaml", f"Tệp {yaml_path.name} không phải YAML hợp lệ: {exc}") from exc


def load_city_layer(
    conn: Connection,
    *,
    yaml_path: Path | None = None,
    forms_dir: Path | None = None,
    workflow_ids: Iterable[str],
    now: datetime,
) -> LoadReport:
    """Validate the HCMC layer (default: the packaged one) and store it idempotently.

    A changed entry becomes a new version valid from the later of the file's `valid_from` and today; the
    previous version's `valid_to` closes on that day. An entry that disappeared from the file is retired
    (its last version closes today). Invalid input raises `InvalidInput` and stores nothing.
    """
    require_aware(now)
    yaml_path = yaml_path or CITY_LAYER_FILE
    forms_dir = forms_dir or yaml_path.parent / "forms"
    data = read_city_layer_file(yaml_path)
    national_names = _current_national_names(conn)
    if not national_names:
        raise InvalidInput(
            "catalog.national_missing",
            "Chưa có danh mục thủ tục quốc gia; hãy chạy `motcua catalog import` trước khi nạp danh mục Thành phố.",
        )
    entries = parse_city_layer(
        data,
        national_codes=national_names.keys(),
        national_names=national_names,
        form_schemas=read_form_schemas(forms_dir),
        workflow_ids=frozenset(workflow_ids),
    )
    return _store_city_layer(conn, entries, today=to_vn(now).date(), now=now)


def _current_national_names(conn: Connection) -> dict[str, str]:
    rows = conn.execute(select(procedures.c.code, procedures.c.name).where(procedures.c.is_current.is_(True)))
    return {row.code: row.name for row in rows}


def _store_city_layer(
    conn: Connection, entries: list[CityProcedure], *, today: date, now: datetime
) -> LoadReport:
    cp = city_procedures
    current = {
        row.code: row
        for row in conn.execute(
            select(cp.c.row_id, cp.c.code, cp.c.content_hash, cp.c.valid_from).where(
                cp.c.is_current.is_(True)
            )
        )
    }
    latest_version: dict[str, int] = {
        code: version
        for code, version in conn.execute(select(cp.c.code, func.max(cp.c.version)).group_by(cp.c.code))
    }
    created = updated = unchanged = 0
    for entry in entries:
        digest = entry.content_hash()
        previous = current.pop(entry.code, None)
        if previous is not None and previous.content_hash == digest:
            unchanged += 1
            continue
        never_stored = entry.code not in latest_version
        valid_from = entry.valid_from if never_stored else max(entry.valid_from, today)
        if previous is not None:
            _close_city_version(conn, previous.row_id, max(valid_from, previous.valid_from))
            updated += 1
        else:
            created += 1
        version = latest_version.get(entry.code, 0) + 1
        conn.execute(cp.insert().values(city_row(entry, digest, version, valid_from, now)))
    for retired in current.values():
        _close_city_version(conn, retired.row_id, max(today, retired.valid_from))
    return LoadReport(len(entries), created, updated, unchanged, len(current))


def _close_city_version(conn: Connection, row_id: int, valid_to: date) -> None:
    conn.execute(
        update(city_procedures)
        .where(city_procedures.c.row_id == row_id)
        .values(is_current=False, valid_to=valid_to)
    )


def city_row(
    entry: CityProcedure, digest: str, version: int, valid_from: date, now: datetime
) -> dict[str, Any]:
    """The stored row of one city-layer version (also used for the city admin's online-level versions)."""
    data = entry.to_dict()
    data["valid_from"] = valid_from.isoformat()
    return {
        "code": entry.code,
        "version": version,
        "content_hash": digest,
        "name": entry.name,
        "name_folded": search_key(entry.name),
        "level": entry.level.value,
        "workflow_id": entry.workflow,
        "time_amount": str(entry.time.amount),
        "time_unit": entry.time.unit.value,
        "cutoff": data["cutoff"],
        "online": entry.online.value,
        "fee_vnd": entry.fee_vnd,
        "fee_text": entry.fee_text,
        "data": data,
        "valid_from": valid_from,
        "valid_to": None,
        "is_current": True,
        "loaded_at": now,
    }


def get_city_procedure(conn: Connection, code: str, *, on: date | None = None) -> CityProcedure:
    """The city's version of a procedure: the current one, or the one in force on day `on`."""
    cp = city_procedures
    query = select(cp.c.data, cp.c.version).where(cp.c.code == code)
    if on is None:
        query = query.where(cp.c.is_current.is_(True))
    else:
        query = query.where(cp.c.valid_from <= on, or_(cp.c.valid_to.is_(None), cp.c.valid_to > on))
    row = conn.execute(query.order_by(cp.c.version.desc()).limit(1)).first()
    if row is None:
        when = f" vào ngày {on:%d/%m/%Y}" if on else ""
        raise NotFound(
            "procedure.not_offered", f"Thủ tục {code} không được Thành phố cung cấp{when}.", procedure=code
        )
    return CityProcedure.from_dict(row.data, version=row.version)


# --------------------------------------------------------------------------------------------------------
# Queries (plain dicts, ready for JSON)
# --------------------------------------------------------------------------------------------------------


def _catalog_join() -> Any:
    return procedures.outerjoin(
        city_procedures,
        and_(city_procedures.c.code == procedures.c.code, city_procedures.c.is_current.is_(True)),
    )


# The current catalog, cached per process. `search_procedures`, `list_fields` and the life-event browsing read
# it from memory; each call first reads the catalog's version token (`catalog_version`: triggers renew it on
# every write of `procedures` or `city_procedures`) in the caller's transaction and rebuilds the snapshot when
# the token differs. Staleness: none — a committed change is seen by the next call in every process, and the
# writer's own transaction sees its uncommitted change (the token is random, so a rolled-back change is never
# mistaken for a later one). Bound: one snapshot per live database engine (≈ 3,000 entries, a few MB).


@dataclass(frozen=True, slots=True)
class _Entry:
    """One row of the current catalog: a national procedure and, when the city offers it, its city version."""

    code: str
    national_folded: str  # search key of the national name
    city_folded: str  # search key of the city name; "" when the city does not offer the procedure
    national_padded: str  # " " + national_folded: holds " w" when a word of the name starts with w
    city_padded: str  # " " + city_folded, or ""
    words: str  # both padded names: a cheap first filter (holds " w" when either name does)
    field: str | None
    ministry: str | None
    level_keys: str
    city_level: str | None
    online: str | None
    online_rank: int
    item: dict[str, Any]  # the answer's item (copied on the way out)


@dataclass(frozen=True)
class CatalogSnapshot:
    token: str | None
    entries: tuple[_Entry, ...]  # in the search's base order: online first, then name, then code
    fields: tuple[dict[str, Any], ...]  # list_fields' answer
    city_entries: tuple[dict[str, Any], ...]  # the current city layer (life events), with "_folded"
    life_event_counts: Mapping[str, int]  # read-only


_CITY_KEYS = ("code", "name", "field_vi", "online", "level", "time", "fee", "life_events")
_snapshots: WeakKeyDictionary[Engine, CatalogSnapshot] = WeakKeyDictionary()
_rebuilding = threading.Lock()


def catalog_snapshot(conn: Connection) -> CatalogSnapshot:
    """The current catalog as `conn` sees it, from this process's cache when its version token still holds."""
    token = conn.execute(select(catalog_version.c.token).where(catalog_version.c.id == 1)).scalar()
    engine = conn.engine
    cached = _snapshots.get(engine)
    if cached is not None and token is not None and cached.token == token:
        return cached
    with _rebuilding:  # one rebuild at a time: concurrent requests wait for it instead of repeating it
        cached = _snapshots.get(engine)
        if cached is not None and token is not None and cached.token == token:
            return cached
        snapshot = _build_snapshot(conn, token)
        if token is not None:  # no version row (a database emptied by hand): read every time
            _snapshots[engine] = snapshot
        return snapshot


def _online_rank(online: str | None) -> int:
    return 0 if online == OnlineLevel.FULL.value else 1 if online == OnlineLevel.PARTIAL.value else 2


def _build_snapshot(conn: Connection, token: str | None) -> CatalogSnapshot:
    p, cp = procedures, city_procedures
    online_rank = case(
        (cp.c.online == OnlineLevel.FULL.value, 0), (cp.c.online == OnlineLevel.PARTIAL.value, 1), else_=2
    )
    rows = conn.execute(
        select(
            p.c.code,
            p.c.name,
            p.c.name_folded,
            p.c.field,
            p.c.levels,
            p.c.level_keys,
            p.c.ministry,
            cp.c.row_id.label("city_row"),
            cp.c.name.label("city_name"),
            cp.c.name_folded.label("city_folded"),
            cp.c.level.label("city_level"),
            cp.c.online,
            cp.c.time_amount,
            cp.c.time_unit,
            cp.c.fee_text,
            cp.c.fee_vnd,
        )
        .select_from(_catalog_join())
        .where(p.c.is_current.is_(True))
        # The database orders the names (its collation), as the search did when it ran in SQL.
        .order_by(online_rank, func.coalesce(cp.c.name_folded, p.c.name_folded), p.c.code)
    ).all()
    entries = []
    fields: dict[str, list[int]] = {}
    for row in rows:
        city = row.city_folded or ""
        national_padded, city_padded = " " + row.name_folded, " " + city if city else ""
        entries.append(
            _Entry(
                code=row.code,
                national_folded=row.name_folded,
                city_folded=city,
                national_padded=national_padded,
                city_padded=city_padded,
                words=national_padded + " |" + city_padded,
                field=row.field,
                ministry=row.ministry,
                level_keys=row.level_keys,
                city_level=row.city_level,
                online=row.online,
                online_rank=_online_rank(row.online),
                item=_search_item(row),
            )
        )
        if row.field is not None:
            counts = fields.setdefault(row.field, [0, 0])
            counts[0] += 1
            counts[1] += row.city_row is not None
    field_list: list[dict[str, Any]] = [
        {"field": name, "count": fields[name][0], "offered": fields[name][1]}
        for name in sorted(fields, key=lambda name: (fold(name), name))
    ]
    city_rows = conn.execute(select(cp.c.data, cp.c.name_folded).where(cp.c.is_current.is_(True)))
    city_entries = tuple(
        {**{key: row.data.get(key) for key in _CITY_KEYS}, "_folded": row.name_folded} for row in city_rows
    )
    events: Counter[str] = Counter()
    for entry in city_entries:
        events.update(entry["life_events"] or [])
    return CatalogSnapshot(
        token=token,
        entries=tuple(entries),
        fields=tuple(field_list),
        city_entries=city_entries,
        life_event_counts=MappingProxyType(dict(sorted(events.items()))),
    )


def _filter(
    entries: tuple[_Entry, ...],
    q: str | None,
    field: str | None,
    level: str | None,
    online_only: bool,
    ministry: str | None,
) -> list[_Entry]:
    """The entries a search selects, in their base order, with the rules of the SQL this replaced: every word
    of `q` starts a word of the national or the city name, or `q` is a prefix of the code; field, ministry
    equal; the city's level when it offers the procedure, else the national levels; offered online."""
    found = list(entries)
    text = (q or "").strip()
    if text:
        needles = [" " + word for word in search_key(text).split()]
        by_name: list[_Entry] = []
        if needles:
            by_name = found
            for needle in needles:  # either name holds every word (a superset): cheap, narrows fast
                by_name = [e for e in by_name if needle in e.words]
            by_name = [
                e
                for e in by_name
                if all(needle in e.national_padded for needle in needles)
                or all(needle in e.city_padded for needle in needles)
            ]
        if _CODE_PREFIX.match(text):
            named = {id(e) for e in by_name}
            found = [e for e in found if id(e) in named or e.code.startswith(text)]
        else:
            found = by_name
    if field:
        found = [e for e in found if e.field == field]
    if ministry:
        found = [e for e in found if e.ministry == ministry]
    if level:
        bar = f"|{level}|"
        found = [e for e in found if e.city_level == level or (e.city_level is None and bar in e.level_keys)]
    if online_only:
        found = [e for e in found if e.online in _ONLINE]
    return found


def search_procedures(
    conn: Connection,
    *,
    q: str | None = None,
    field: str | None = None,
    level: str | None = None,
    online_only: bool = False,
    ministry: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Accent-insensitive search of the current catalog: (page of items, total matches).

    `q` matches when every word of it starts a word of the national or the city name (diacritics ignored),
    or when it is a prefix of the code. Procedures the city offers online come first; then names that start
    with the query, then names holding it as a phrase, then names with the words scattered; then by name.
    `level` is bo | tinh | xa | khac: the city's level when the city offers the procedure, else the national.
    The catalog is read from this process's snapshot (`catalog_snapshot`), current in the caller's transaction.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidInput(
            "catalog.bad_page",
            f"Phân trang không hợp lệ: limit phải từ 1 đến {MAX_PAGE_SIZE}, offset không âm.",
        )
    if level and level not in LEVEL_KEYS.values():
        allowed = ", ".join(LEVEL_KEYS.values())
        raise InvalidInput(
            "catalog.bad_level", f"Cấp thực hiện '{level}' không hợp lệ (chấp nhận: {allowed})."
        )
    found = _filter(catalog_snapshot(conn).entries, q, field, level, online_only, ministry)
    phrase = search_key(q or "")
    if phrase:  # a stable sort: within (online, phrase) ranks the base order (name, code) stays
        found.sort(key=_phrase_rank(phrase))
    return [_copy_item(e.item) for e in found[offset : offset + limit]], len(found)


def _phrase_rank(phrase: str) -> Callable[[_Entry], tuple[int, int]]:
    """The sort key (online rank, phrase rank): 0 when a name starts with the query (a leading "Thủ tục"
    ignored), 1 when a name holds it as a phrase, 2 when its words are scattered."""
    prefixes = (phrase, f"thu tuc {phrase}")
    padded = " " + phrase

    def key(e: _Entry) -> tuple[int, int]:
        if e.national_folded.startswith(prefixes) or e.city_folded.startswith(prefixes):
            return e.online_rank, 0
        if padded in e.national_padded or padded in e.city_padded:
            return e.online_rank, 1
        return e.online_rank, 2

    return key


def _copy_item(item: dict[str, Any]) -> dict[str, Any]:
    time = item["time"]
    return {**item, "levels": list(item["levels"]), "time": dict(time) if time is not None else None}


def _search_item(row: Any) -> dict[str, Any]:
    offered = row.city_row is not None
    return {
        "code": row.code,
        "name": row.city_name if offered else row.name,
        "national_name": row.name,
        "field": row.field,
        "levels": list(row.levels),
        "ministry": row.ministry,
        "offered": offered,
        "online": row.online,
        "level": row.city_level,
        "time": _time_dict(row.time_amount, row.time_unit) if offered else None,
        "fee_text": row.fee_text,
        "fee_vnd": row.fee_vnd,
    }


def _time_dict(amount: str, unit: str) -> dict[str, str]:
    return ProcessingTime(Fraction(amount), TimeUnit(unit)).to_dict()


def get_procedure(conn: Connection, code: str) -> dict[str, Any]:
    """A procedure's national record and, when the city offers it, the city layer (documents, fee, time,
    channels, e-form schema, workflow). `NotFound("procedure.not_found")` otherwise."""
    row = None
    if CODE_PATTERN.match(code):
        row = conn.execute(
            select(procedures.c.data, procedures.c.version).where(
                procedures.c.code == code, procedures.c.is_current.is_(True)
            )
        ).first()
    if row is None:
        raise NotFound("procedure.not_found", f"Không tìm thấy thủ tục {code}.", procedure=code)
    national: Mapping[str, Any] = row.data
    city = _current_city_dict(conn, code)
    return {
        "code": code,
        "name": city["name"] if city else national["name"],
        "national_name": national["name"],
        "field": city["field_vi"] if city and city["field_vi"] else national["field"],
        "levels": national["levels"],
        "ministry": national["ministry"],
        "decision": national["decision"],
        "source_url": national["source_url"],
        "national_version": row.version,
        "national": dict(national),
        "offered": city is not None,
        "city": city,
    }


def _current_city_dict(conn: Connection, code: str) -> dict[str, Any] | None:
    try:
        procedure = get_city_procedure(conn, code)
    except NotFound:
        return None
    data = procedure.to_dict()
    data["time"] = procedure.time.to_dict()
    data["version"] = procedure.version
    return data


def list_fields(conn: Connection) -> list[dict[str, Any]]:
    """Distinct fields (lĩnh vực) of the current national catalog: field, count, how many the city offers."""
    return [dict(item) for item in catalog_snapshot(conn).fields]
