"""`motcua import dossiers`: a legacy system's export comes in validated, readable through the normal services,
consistent with its event log, and every rejected row is reported with its line and reason and leaves
nothing behind. Both databases (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, func, select

from motcua.cli.main import cli
from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import VN_TZ, FixedClock
from motcua.domain.errors import Conflict, InvalidInput
from motcua.domain.identifiers import parse_dossier_code
from motcua.domain.lifecycle import Action, Actor, ActorKind, Channel, state_from_dict
from motcua.domain.workflow import Role
from motcua.services import dossiers as dossier_service
from motcua.services.audit import audit_trail, verify_audit
from motcua.services.files import LocalBlobStore
from motcua.services.legacy_import import _BadNumber, _DossierCodes, _Rejected, import_dossiers
from motcua.services.runtime import Runtime
from motcua.services.seed import setup_reference_data
from motcua.store.db import Database
from motcua.store.schema.dossiers import dossier_events, dossiers
from motcua.store.schema.files import dossier_files
from motcua.store.schema.identity import users
from tests import pg
from tests.conftest import DATABASES, _new_pg_database

SEED_TIME = datetime(2026, 1, 5, 8, 0, tzinfo=VN_TZ)
WARD = "phuong-sai-gon"
WARD_CODE = "068.00.70.H29"
KHAI_SINH = "1.001193"  # birth registration at the ward: 1 working day, workflow tieu-chuan
CITIZEN_ID = "079090001234"
HEADER = [
    "code",
    "procedure_code",
    "receiving_unit",
    "channel",
    "status",
    "submitted_at",
    "accepted_at",
    "due_at",
    "paused_at",
    "resolved_at",
    "returned_at",
    "closed_at",
    "outcome",
    "applicant_name",
    "applicant_personal_id",
    "applicant_tax_code",
    "documents",
]
VIETNAMESE_MARKS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
DOC = {"name": "To khai.pdf", "sha256": "ab" * 32, "size": 12345, "media_type": "application/pdf"}


# ---------------------------------------------------------------- fixtures: a seeded city, on both databases


@pytest.fixture(scope="module")
def seeded_sqlite_file(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    setup_reference_data(database, now=SEED_TIME)
    database.dispose()
    return path


@pytest.fixture(scope="module")
def seeded_pg_name(pg_server: pg.PgServer, pg_template: str, schema: MetaData) -> Iterator[str]:
    name = f"{pg_server.name_prefix}_city"
    database = Database(pg_server.create_database(name, template=pg_template))
    setup_reference_data(database, now=SEED_TIME)
    database.dispose()
    yield name
    pg_server.drop_database(name)


@pytest.fixture(params=DATABASES)
def city(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh copy of a database holding the units, workflows and catalog (no dossiers)."""
    if request.param == "sqlite":
        path = tmp_path / "city.sqlite3"
        shutil.copyfile(request.getfixturevalue("seeded_sqlite_file"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        yield from _new_pg_database(request, template=request.getfixturevalue("seeded_pg_name"))


@pytest.fixture
def runtime(city: Database, clock: FixedClock, tmp_path: Path) -> Runtime:
    return Runtime(
        db=city, clock=clock, calendar=BusinessCalendar.vietnam(), blobs=LocalBlobStore(tmp_path / "files")
    )


def officer(username: str, role: Role, unit: str = WARD) -> Actor:
    return Actor(id=username, kind=ActorKind.OFFICER, roles=frozenset({role}), unit_id=unit, name=username)


def row(code_seq: int, status: int, **fields: Any) -> dict[str, Any]:
    """An export row for a birth registration at Phường Sài Gòn, filed on Monday 23 February 2026."""
    base = {
        "code": f"{WARD_CODE}-260223-{code_seq:04d}",
        "procedure_code": KHAI_SINH,
        "receiving_unit": WARD,
        "status": status,
        "submitted_at": "2026-02-23T08:10:00+07:00",
        "applicant_name": "Nguyễn Văn An",
        "applicant_personal_id": CITIZEN_ID,
    }
    return base | fields


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        for item in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in item.items()})
    return path


def count(db: Database, table: Any, *where: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


GOOD_ROWS = [
    row(1, 1),  # just submitted
    row(2, 2, accepted_at="2026-02-23T09:00:00+07:00"),
    row(
        3,
        10,
        accepted_at="2026-02-23 09:00",
        resolved_at="2026-02-24 10:00",
        returned_at="2026-02-25 14:00",
        documents=[DOC],
    ),
    row(4, 3, closed_at="2026-02-23T09:30:00+07:00"),
    row(5, 5, accepted_at="2026-02-23T09:00:00+07:00", paused_at="2026-02-23T15:00:00+07:00"),
    row(
        6,
        9,
        accepted_at="2026-02-23T09:00:00+07:00",
        resolved_at="2026-02-24T10:00:00+07:00",
        outcome="refused",
    ),
]


# ---------------------------------------------------------------- accepted rows


def test_imported_dossiers_read_track_and_replay_like_ones_filed_here(
    runtime: Runtime, tmp_path: Path
) -> None:
    report = import_dossiers(
        runtime.db, write_csv(tmp_path / "export.csv", GOOD_ROWS), now=runtime.clock.now()
    )
    assert (report.rows, report.imported, report.rejected) == (6, 6, [])
    assert report.events == 11  # the submission, plus one event carrying the final state unless still new
    receiver = officer("sg.tiepnhan", Role.RECEIVER)

    returned = dossier_service.get_dossier(runtime, receiver, f"{WARD_CODE}-260223-0003")
    assert returned["status"]["code"] == 10
    assert returned["dates"]["returned_at"] == "2026-02-25T14:00:00+07:00"
    # The due date is computed on the working calendar: 1 working day from Monday 09:00; as at an
    # acceptance in motcua, the legal deadline starts out equal to it.
    assert returned["dates"]["due_at"] == "2026-02-24T09:00:00+07:00"
    with runtime.db.read() as conn:
        stored = conn.execute(
            select(dossiers.c.state).where(dossiers.c.code == returned["code"])
        ).scalar_one()
    assert state_from_dict(stored).legal_due_at == datetime(2026, 2, 24, 9, 0, tzinfo=VN_TZ)
    assert returned["timeliness"]["code"] == "late"  # resolved Tuesday 10:00, an hour after the due date
    assert [(e["seq"], e["type"]) for e in returned["history"]] == [(1, "submit"), (2, "return_result")]
    assert returned["history"][1]["data"]["imported"] is True
    assert returned["history"][1]["data"]["line"] == 4  # the header is line 1
    assert [f["sha256"] for f in returned["files"]] == [DOC["sha256"]]

    tracked = dossier_service.track(runtime, f"{WARD_CODE}-260223-0006")
    assert tracked["status"]["code"] == 9
    assert tracked["receiving_unit"] == "Phường Sài Gòn"
    assert dossier_service.get_dossier(runtime, receiver, f"{WARD_CODE}-260223-0006")["outcome"] == "refused"
    paused = dossier_service.get_dossier(runtime, receiver, f"{WARD_CODE}-260223-0005")
    assert paused["paused"] is True

    with runtime.db.read() as conn:
        for item in GOOD_ROWS:
            assert dossier_service.replay_check(conn, item["code"]), item["code"]
        assert verify_audit(conn).ok
        batch = audit_trail(conn, "dossier_import", "export.csv#1")
    assert [(e["action"], e["data"]["dossiers"], e["data"]["lines"]) for e in batch] == [
        ("dossier.import_batch", 6, [2, 7])
    ]
    # The applicant's record exists (it cannot log in), once for the six dossiers.
    assert count(runtime.db, users, users.c.id == f"cd-{CITIZEN_ID}") == 1


def test_an_imported_open_dossier_carries_on_in_motcua(runtime: Runtime, tmp_path: Path) -> None:
    import_dossiers(runtime.db, write_csv(tmp_path / "export.csv", GOOD_ROWS[:2]), now=runtime.clock.now())
    code = f"{WARD_CODE}-260223-0002"  # accepted in the old system, now at the processing step
    processor = officer("sg.xuly", Role.PROCESSOR)
    assert "forward" in dossier_service.get_dossier(runtime, processor, code)["allowed_actions"]

    forwarded = dossier_service.act(runtime, processor, code, Action.FORWARD, {"note": "Đủ điều kiện"})

    assert (forwarded["status"]["code"], forwarded["step"]["id"], forwarded["version"]) == (4, "phe_duyet", 3)
    with runtime.db.read() as conn:
        assert dossier_service.replay_check(conn, code)
    # An imported dossier whose result was handed over accepts nothing more.
    import_dossiers(runtime.db, write_csv(tmp_path / "more.csv", [GOOD_ROWS[2]]), now=runtime.clock.now())
    with pytest.raises(Conflict):
        dossier_service.act(
            runtime, officer("sg.tiepnhan", Role.RECEIVER), f"{WARD_CODE}-260223-0003", Action.ACCEPT, {}
        )


def test_new_dossiers_never_collide_with_imported_codes(runtime: Runtime, tmp_path: Path) -> None:
    """The daily counter of the ward is raised past the highest imported sequence of that day."""
    today = [row(7, 1, code=f"{WARD_CODE}-260302-0007", submitted_at="2026-03-02T08:00:00+07:00")]
    import_dossiers(runtime.db, write_csv(tmp_path / "export.csv", today), now=runtime.clock.now())
    citizen = Actor(id=f"cd-{CITIZEN_ID}", kind=ActorKind.CITIZEN, name="Nguyễn Văn An")
    with runtime.db.read() as conn:
        from motcua.services.catalog import get_procedure

        form = get_procedure(conn, KHAI_SINH)["city"]["form_schema"]["examples"][0]

    filed = dossier_service.submit_dossier(
        runtime, citizen, dossier_service.Submission(KHAI_SINH, WARD, Channel.ONLINE, form)
    )

    assert filed["code"] == f"{WARD_CODE}-260302-0008"


# ---------------------------------------------------------------- rejected rows

BAD_ROWS = [
    (row(11, 1, code="068.00.70.H29-26022-0011"), "dossier_code.invalid"),
    (row(12, 1, procedure_code="9.999999"), "procedure.not_offered"),
    (row(13, 1, receiving_unit="phuong-khong-co"), "unit.not_found"),
    (row(14, 10, accepted_at="2026-02-23T09:00:00+07:00"), "import.missing_date"),
    (row(15, 2, accepted_at="2026-02-22T09:00:00+07:00"), "import.dates_out_of_order"),
    (row(16, 1, submitted_at="2026-03-09T08:00:00+07:00"), "import.date_in_future"),
    (row(17, 1, applicant_personal_id="07909000123"), "cccd.bad_length"),
    (row(18, 11), "import.bad_status"),
    (row(19, 1, submitted_at="23/02/2026"), "import.bad_datetime"),
    (row(20, 1, receiving_unit="cong-an-phuong-sai-gon"), "dossier.wrong_receiving_unit"),
    (
        row(21, 2, closed_at="2026-02-24T09:00:00+07:00", accepted_at="2026-02-23T09:00:00+07:00"),
        "import.date_contradicts_status",
    ),
    (row(22, 1, applicant_personal_id=None), "applicant.identity_required"),
    (row(23, 1, documents=[{"name": "x.pdf", "sha256": "nothex", "size": 1}]), "import.bad_documents"),
    (row(1, 2, accepted_at="2026-02-23T09:00:00+07:00"), "import.duplicate_code"),  # line 2's code again
]


def test_rejected_rows_are_reported_by_line_and_reason_and_leave_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    rows = [GOOD_ROWS[0], *(item for item, _ in BAD_ROWS)]
    report = import_dossiers(runtime.db, write_csv(tmp_path / "export.csv", rows), now=runtime.clock.now())

    assert report.imported == 1
    reasons = sorted((r.line, r.reason) for r in report.rejected)
    assert reasons == [(line, reason) for line, (_, reason) in enumerate(BAD_ROWS, start=3)]
    assert all(set(r.message.lower()) & VIETNAMESE_MARKS for r in report.rejected)  # a reason people read
    bad_codes = [item["code"] for item, _ in BAD_ROWS[:-1]]
    assert count(runtime.db, dossiers, dossiers.c.code.in_(bad_codes)) == 0
    assert count(runtime.db, dossiers) == 1
    assert count(runtime.db, dossier_events) == 1
    assert count(runtime.db, dossier_files) == 0  # the bad document belonged to a rejected row


def test_importing_the_same_export_again_adds_nothing(runtime: Runtime, tmp_path: Path) -> None:
    export = write_csv(tmp_path / "export.csv", GOOD_ROWS)
    import_dossiers(runtime.db, export, now=runtime.clock.now())
    before = (count(runtime.db, dossiers), count(runtime.db, dossier_events), count(runtime.db, users))

    again = import_dossiers(runtime.db, export, now=runtime.clock.now())

    assert again.imported == 0
    assert {r.reason for r in again.rejected} == {"dossier.exists"}
    assert sorted(r.line for r in again.rejected) == [2, 3, 4, 5, 6, 7]
    assert (
        count(runtime.db, dossiers),
        count(runtime.db, dossier_events),
        count(runtime.db, users),
    ) == before


def test_small_batches_commit_independently_and_keep_line_numbers(runtime: Runtime, tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, row(30, 42)]
    report = import_dossiers(
        runtime.db, write_csv(tmp_path / "export.csv", rows), now=runtime.clock.now(), batch_size=2
    )
    assert (report.imported, report.batches) == (6, 3)
    assert [(r.line, r.reason) for r in report.rejected] == [(8, "import.bad_status")]


# ---------------------------------------------------------------- formats and the command line


def test_json_array_and_json_lines_report_the_line_an_item_starts_on(
    runtime: Runtime, tmp_path: Path
) -> None:
    items = [GOOD_ROWS[0], row(40, 1) | {"status": "x"}, GOOD_ROWS[1]]
    array = tmp_path / "export.json"
    array.write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    text = array.read_text(encoding="utf-8")
    bad_line = text[: text.index(items[1]["code"])].count("\n")  # the item's opening brace is one line up

    report = import_dossiers(runtime.db, array, now=runtime.clock.now())

    assert report.imported == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(bad_line, "import.bad_status")]

    lines = tmp_path / "more.jsonl.gz"
    with gzip.open(lines, "wt", encoding="utf-8") as out:
        out.write(json.dumps(row(41, 1)) + "\n" + "{not json\n" + json.dumps(row(42, 1)) + "\n")
    report = import_dossiers(runtime.db, lines, now=runtime.clock.now())
    assert report.imported == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(2, "import.bad_json")]


def test_command_line_prints_the_summary_writes_the_report_and_exits_2_on_rejects(
    city: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", city.engine.url.render_as_string(hide_password=False))
    export = write_csv(tmp_path / "export.csv", [GOOD_ROWS[2], row(50, 1, applicant_name="")])
    rejected = tmp_path / "rejected.csv"

    result = CliRunner().invoke(cli, ["import", "dossiers", str(export), "--report", str(rejected)])

    assert result.exit_code == 2, result.output
    assert "nhập 1 hồ sơ" in result.output
    assert "dòng 3: [import.missing_field]" in result.output
    lines = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert lines[0] == ["line", "code", "reason", "message"]
    assert lines[1][:3] == ["3", f"{WARD_CODE}-260223-0050", "import.missing_field"]
    assert count(city, dossiers) == 1


def test_memoised_checks_still_reject_every_bad_row(runtime: Runtime, tmp_path: Path) -> None:
    """The importer memoises the checks of codes, applicants and dates; a repeated bad value is rejected
    every time, and a good agency and day do not let a bad sequence through."""
    rows = [
        row(60, 1),
        row(61, 1, applicant_personal_id="07909000123"),
        row(62, 1, applicant_personal_id="07909000123"),
        row(63, 1, code=f"{WARD_CODE}-260223-063"),  # the day and agency of line 2, a 3-digit sequence
        row(64, 1, code=f"{WARD_CODE}-260230-0064"),  # 30 February
        row(65, 1, submitted_at="23/02/2026"),
        row(66, 1, submitted_at="23/02/2026"),
        row(67, 1),
    ]
    report = import_dossiers(runtime.db, write_csv(tmp_path / "export.csv", rows), now=runtime.clock.now())
    assert report.imported == 2
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "cccd.bad_length"),
        (4, "cccd.bad_length"),
        (5, "dossier_code.invalid"),
        (6, "dossier_code.invalid"),
        (7, "import.bad_datetime"),
        (8, "import.bad_datetime"),
    ]


_AGENCIES = st.sampled_from([WARD_CODE, "000.00.29.G01", "abc", "A-B", "", "068.00.70.H29 "])
_YYMMDD = st.sampled_from(["260223", "260230", "991231", "26022", "2602231", "26O223", "٢٦٠٢٢٣"])
_SEQ = st.one_of(st.from_regex(r"[0-9]{1,6}", fullmatch=True), st.sampled_from(["١٢٣٤", "12a4", ""]))


@given(st.lists(st.tuples(_AGENCIES, _YYMMDD, _SEQ), max_size=30))
def test_the_code_memo_agrees_with_parse_dossier_code(parts: list[tuple[str, str, str]]) -> None:
    memo = _DossierCodes()
    for agency, yymmdd, seq in parts:
        code = f"{agency}-{yymmdd}-{seq}".strip()
        try:
            parsed = parse_dossier_code(code)
            expected: tuple[str, Any, int] | str = (parsed.agency_code, parsed.day, parsed.seq)
        except InvalidInput as exc:
            expected = exc.code
        try:
            got: tuple[str, Any, int] | str = memo.parse(code)
        except _Rejected as exc:
            got = exc.reason
        assert got == expected, code


def test_form_data_must_be_strict_json(runtime: Runtime, tmp_path: Path) -> None:
    """NaN and Infinity are not JSON: such a row is rejected (PostgreSQL's jsonb could not store it), for
    its number; text that is not JSON at all is rejected as such."""
    export = tmp_path / "export.csv"
    with export.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[*HEADER, "form_data"])
        writer.writeheader()
        writer.writerow(row(70, 1, form_data='{"ho_ten": "An", "can_nang": NaN}'))
        writer.writerow(row(71, 1, form_data='{"ho_ten": "An", "can_nang": 3.2}'))
        writer.writerow(row(72, 1, form_data='{"ho_ten": "An", "can_nang": 3.2'))
    report = import_dossiers(runtime.db, export, now=runtime.clock.now())
    assert report.imported == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "import.bad_number"),
        (4, "import.bad_form_data"),
    ]


_BAD_NUMBER = "import.bad_number"


def _strict_json(text: str) -> Any:
    """The reference: the standard library's decoder (NaN, Infinity and integers of any length read); a text
    it cannot read is not JSON (None), a value holding a number without a finite value is `_BAD_NUMBER`."""
    too_long = object()
    try:
        value = json.loads(text, parse_int=lambda digits: too_long if len(digits) > 4300 else int(digits))
    except ValueError:
        return None

    def finite(item: Any) -> bool:
        if isinstance(item, float):
            return math.isfinite(item)
        if isinstance(item, dict):
            return all(finite(v) for v in item.values())
        if isinstance(item, list):
            return all(finite(v) for v in item)
        return item is not too_long

    return value if finite(value) else _BAD_NUMBER


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(
    _JSON_VALUES,
    st.sampled_from(["", "x", ",", "]", "}", '"', "\\ud800", "1e400", "NaN", "9" * 4301, " ", "\x00"]),
    st.integers(min_value=0, max_value=60),
)
def test_json_fields_decode_as_the_strict_standard_decoder(value: Any, noise: str, at: int) -> None:
    """`form_data` and `documents` are decoded by msgspec; what they decode to — or that they are not JSON,
    or hold a number without a finite value — is exactly what `json.loads` says, for valid texts and for
    damaged ones."""
    from motcua.services.legacy_import import _decode_json_text

    text = json.dumps(value, ensure_ascii=at % 2 == 0)
    for candidate in (text, text[:at] + noise + text[at:]):
        expected = _strict_json(candidate)
        try:
            got = _decode_json_text(candidate)
        except _BadNumber:
            got = _BAD_NUMBER
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True), candidate


_DOC_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 10**12), st.floats(allow_nan=False), st.text(max_size=6)
)


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "name": st.one_of(_DOC_VALUES, st.just("  Tờ khai.pdf ")),
                    "sha256": st.one_of(_DOC_VALUES, st.just("AB" * 32), st.just("0f" * 32)),
                    "size": _DOC_VALUES,
                },
                optional={"media_type": _DOC_VALUES, "label": _DOC_VALUES, "kind": _DOC_VALUES},
            ),
            _DOC_VALUES,
        ),
        max_size=3,
    )
)
def test_documents_are_checked_as_before(items: list[Any]) -> None:
    """The documents' checks and stored metadata match the straightforward reading of the rules."""
    import re

    from motcua.services.legacy_import import _documents

    def reference(items: list[Any]) -> list[dict[str, Any]] | str:
        out = []
        for item in items:
            ok = isinstance(item, dict)
            sha = str(item.get("sha256") or "").lower() if ok else ""
            size = item.get("size") if ok else None
            if not (
                re.fullmatch(r"[0-9a-f]{64}", sha)
                and isinstance(size, int)
                and size >= 0
                and str(item.get("name") or "").strip()
            ):
                return "import.bad_documents"
            out.append(
                {
                    "sha256": sha,
                    "size": size,
                    "media_type": str(item.get("media_type") or "application/pdf")[:100],
                    "name": str(item["name"]).strip()[:300],
                    "label": (str(item["label"]).strip() or None) if item.get("label") else None,
                    "kind": str(item.get("kind") or "upload")[:32],
                }
            )
        return out

    try:
        got: list[dict[str, Any]] | str = _documents({"documents": items})
    except _Rejected as exc:
        got = exc.reason
    assert got == reference(items)


# ---------------------------------------------------------------- numbers: kept as read, or the row refused

# Each a number the importer cannot store as given: infinity once read (stored as null), not JSON, or an
# integer longer than Python reads.
UNSTORABLE = ["1e400", "-1E+400", "NaN", "Infinity", "-Infinity", "9" * 4301]


def _with_number(item: dict[str, Any], number: str) -> str:
    """A JSON Lines row: `item` whose "@@" strings are `number` as written in the export."""
    return json.dumps(item, ensure_ascii=False).replace('"@@"', number)


def test_rows_carrying_unstorable_numbers_are_rejected_in_every_format(
    runtime: Runtime, tmp_path: Path
) -> None:
    """A number that would be stored changed (1e400 → infinity → null) or is not JSON (NaN, Infinity) makes
    its row a rejected one — nested in form_data, in the documents, or anywhere in a JSON row — with
    `import.bad_number`, a Vietnamese message naming the number, and the row's code; the other rows of the
    file come in, and nothing of a rejected row is stored."""
    good_form = {"tre": {"can_nang": 3.25, "chieu_cao": [50, 0.5e-3, 1.7976931348623157e308]}}
    csv_rows = [
        row(80, 1, form_data=json.dumps(good_form)),
        *(
            row(81 + i, 1, form_data=f'{{"tre": {{"ho_ten": "An", "so_do": [1, {{"can_nang": {n}}}]}}}}')
            for i, n in enumerate(UNSTORABLE)
        ),
        row(87, 1, documents=f'[{{"name": "a.pdf", "sha256": "{"ab" * 32}", "size": 1e400}}]'),
    ]
    export = tmp_path / "export.csv"
    with export.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[*HEADER, "form_data"])
        writer.writeheader()
        writer.writerows(csv_rows)
    report = import_dossiers(runtime.db, export, now=runtime.clock.now())
    assert report.imported == 1
    assert [(r.line, r.code, r.reason) for r in report.rejected] == [
        (line, item["code"], "import.bad_number") for line, item in enumerate(csv_rows[1:], start=3)
    ]
    assert "1e400" in report.rejected[0].message and "form_data" in report.rejected[0].message
    assert "documents" in report.rejected[-1].message
    assert all(set(r.message.lower()) & VIETNAMESE_MARKS for r in report.rejected)

    lines = [
        _with_number(row(90, 1, form_data={"tre": {"can_nang": 3.25}}), "0"),
        *(
            _with_number(row(91 + i, 1, form_data={"tre": [{"can_nang": "@@"}]}), n)
            for i, n in enumerate(UNSTORABLE)
        ),
        _with_number(row(97, 1, ghi_chu="@@"), "NaN"),  # a field the importer does not even read
        _with_number(row(98, 1, documents=[DOC | {"size": "@@"}]), "Infinity"),
    ]
    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_dossiers(runtime.db, jsonl, now=runtime.clock.now())
    assert report.imported == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (line, "import.bad_number") for line in range(2, len(lines) + 1)
    ]
    assert [r.code for r in report.rejected] == [json.loads(t, parse_int=str)["code"] for t in lines[1:]]

    array = tmp_path / "export.json"
    array.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    again = import_dossiers(runtime.db, array, now=runtime.clock.now())
    assert again.imported == 0  # the good row is stored already; every other row refused for its number
    assert sorted((r.line, r.reason) for r in again.rejected) == [
        (2, "dossier.exists"),
        *((line, "import.bad_number") for line in range(3, len(lines) + 2)),
    ]

    assert count(runtime.db, dossiers) == 2
    assert count(runtime.db, dossier_events) == 2
    assert count(runtime.db, dossier_files) == 0
    with runtime.db.read() as conn:
        stored = {code: form for code, form in conn.execute(select(dossiers.c.code, dossiers.c.form_data))}
        assert verify_audit(conn).ok
    assert _same_json(
        stored,
        {f"{WARD_CODE}-260223-0080": good_form, f"{WARD_CODE}-260223-0090": {"tre": {"can_nang": 3.25}}},
    )


def test_the_command_line_reports_a_row_refused_for_its_number(
    city: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", city.engine.url.render_as_string(hide_password=False))
    export = tmp_path / "export.jsonl"
    export.write_text(
        _with_number(row(100, 1), "0")
        + "\n"
        + _with_number(row(101, 1, form_data={"so_tien": "@@"}), "1e400")
        + "\n",
        encoding="utf-8",
    )
    rejected = tmp_path / "rejected.csv"

    result = CliRunner().invoke(cli, ["import", "dossiers", str(export), "--report", str(rejected)])

    assert result.exit_code == 2, result.output
    assert "nhập 1 hồ sơ" in result.output
    assert "dòng 2: [import.bad_number]" in result.output and "1e400" in result.output
    lines = list(csv.reader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert lines[1][:3] == ["2", f"{WARD_CODE}-260223-0101", "import.bad_number"]
    assert count(city, dossiers) == 1

    as_json = CliRunner().invoke(cli, ["import", "dossiers", str(export), "--json"])
    assert as_json.exit_code == 2
    data = json.loads(as_json.output.strip().splitlines()[-1])
    assert sorted((r["line"], r["reason"]) for r in data["rejected_rows"]) == [
        (1, "dossier.exists"),
        (2, "import.bad_number"),
    ]


# JSON number texts: the grammar's, and the edges of the double range and of Python's integer reading.
_NUMBER_TEXTS = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(
        [
            "1e400",
            "-1e400",
            "1e308",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.797693134862316e308",
            "-1.8e308",
            "5e-324",
            "2e-324",
            "1e-400",
            "-0",
            "-0.0",
            "0.1000000000000000000001",
            "1" + "0" * 400,
            "9" * 4300,
            "9" * 4301,
            "NaN",
            "Infinity",
            "-Infinity",
        ]
    ),
)
_SHAPES = ['{"n": %s}', '{"a": [1, {"b": [%s]}], "c": "x"}', "[%s]"]


def _read_number(text: str) -> Any:
    """What a JSON number reads as (an integer exactly, a double otherwise), or `_BAD_NUMBER` when it has no
    finite value or is longer than Python reads."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return _BAD_NUMBER
    if not any(c in text for c in ".eE"):
        return int(text) if len(text.lstrip("-")) <= 4300 else _BAD_NUMBER
    value = float(text)
    return value if math.isfinite(value) else _BAD_NUMBER


def _same_number(stored: Any, read: Any) -> bool:
    """Equal as numbers: jsonb gives 1e308 back as the integer it is, 0.0 as 0.0."""
    if isinstance(read, float) or isinstance(stored, float):
        return isinstance(stored, int | float) and float(stored) == read
    return type(stored) is int and stored == read


def _same_json(stored: Any, read: Any) -> bool:
    if isinstance(read, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == read.keys()
            and all(_same_json(stored[k], v) for k, v in read.items())
        )
    if isinstance(read, list):
        return isinstance(stored, list) and len(stored) == len(read) and all(map(_same_json, stored, read))
    if isinstance(read, int | float) and not isinstance(read, bool):
        return _same_number(stored, read)
    return bool(stored == read)


def _found(value: Any) -> Any:
    while isinstance(value, dict | list):
        value = value["n"] if "n" in value else value["a"][1]["b"][0] if "a" in value else value[0]
    return value


@given(_NUMBER_TEXTS, st.sampled_from(_SHAPES))
def test_a_json_number_is_stored_as_read_or_its_row_refused(number: str, shape: str) -> None:
    """In a CSV field's JSON text, a JSON Lines row and a JSON array item alike: a number with a finite
    value is stored as it reads (the COPY text PostgreSQL parses and the JSON SQLite keeps both give it back
    unchanged), one without is refused as `import.bad_number`; a non-finite number is never stored."""
    from decimal import Decimal

    from motcua.services.legacy_import import _copy_json, _decode_json_text, _json_record, _read_json_array

    text = shape % number
    read = _read_number(number)
    line = json.dumps(row(1, 1))[:-1] + ', "form_data": {"v": ' + text + "}}"
    try:
        field_value: Any = _decode_json_text(text)
    except _BadNumber as exc:
        field_value = _BAD_NUMBER
        assert exc.text[:20] in number
    record, (_, item) = _json_record(line), next(_read_json_array("[" + line + "]"))
    if read is _BAD_NUMBER:
        assert field_value is _BAD_NUMBER
        for refused in (record, item):
            assert refused["__error__"][0] == "import.bad_number"
            assert refused["code"] == f"{WARD_CODE}-260223-0001"
        return
    for value in (field_value, record["form_data"]["v"], item["form_data"]["v"]):
        assert _same_number(_found(value), read)
        copy_text = _copy_json(value).replace("\\\\", "\\")  # what COPY hands to jsonb
        assert "Infinity" not in copy_text and "NaN" not in copy_text and "null" not in copy_text
        stored_text = json.dumps(value, allow_nan=False)  # SQLite's JSON column (raises on non-finite)
        for kept in (json.loads(copy_text), json.loads(stored_text)):
            assert _same_number(_found(kept), read)
        if isinstance(read, float):  # the decimal jsonb keeps is the double's own shortest text
            assert Decimal(_copy_json(_found(value))) == Decimal(repr(read))


_counter = iter(range(1000, 10_000))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_NUMBER_TEXTS, min_size=1, max_size=4), st.booleans())
def test_numbers_read_back_from_the_database_as_they_were_read(
    runtime: Runtime, tmp_path: Path, numbers: list[str], as_lines: bool
) -> None:
    """Through the database (COPY into jsonb, executemany into SQLite) and back: each accepted row's numbers
    are the ones its export holds; a row with a number without a finite value is refused, nothing stored."""
    reads = [_read_number(n) for n in numbers]
    refused = _BAD_NUMBER in reads
    seq = next(_counter)
    form = "{" + ", ".join(f'"n{i}": [{n}]' for i, n in enumerate(numbers)) + "}"
    if as_lines:
        export = tmp_path / f"export-{seq}.jsonl"
        line = json.dumps(row(seq, 1))[:-1] + ', "form_data": ' + form + "}"
        export.write_text(line + "\n", encoding="utf-8")
    else:
        export = tmp_path / f"export-{seq}.csv"
        with export.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=[*HEADER, "form_data"])
            writer.writeheader()
            writer.writerow(row(seq, 1, form_data=form))

    report = import_dossiers(runtime.db, export, now=runtime.clock.now())

    code = f"{WARD_CODE}-260223-{seq:04d}"
    with runtime.db.read() as conn:
        stored = conn.execute(
            select(dossiers.c.form_data).where(dossiers.c.code == code)
        ).scalar_one_or_none()
    if refused:
        assert [(r.code, r.reason) for r in report.rejected] == [(code, "import.bad_number")]
        assert stored is None
        return
    assert report.imported == 1, report.rejected
    assert sorted(stored) == [f"n{i}" for i in range(len(numbers))]
    for i, read in enumerate(reads):
        assert _same_number(stored[f"n{i}"][0], read), (numbers[i], stored[f"n{i}"])
