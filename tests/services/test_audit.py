"""The stored audit log on both databases: appends commit with the change; tampering is found."""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, delete, func, select, update

from motcua.cli.main import cli
from motcua.domain.audit import GENESIS_HASH, seal
from motcua.domain.clock import FixedClock
from motcua.domain.errors import NotFound
from motcua.services.audit import (
    HASHED_COLUMNS,
    AuditReport,
    append_audit,
    audit_trail,
    ensure_audit_chains,
    verify_audit,
    verify_database,
)
from motcua.store.db import Database
from motcua.store.schema.audit import audit_heads, audit_log


def record(conn: Connection, at: datetime, object_id: str, action: str = "tiep_nhan", **data: object) -> int:
    return append_audit(
        conn,
        at=at,
        actor_id="can-bo-01",
        actor_role="officer",
        action=action,
        object_type="dossier",
        object_id=object_id,
        unit_id="79-26734",
        data=data,
    )


def fill(db: Database, clock: FixedClock, count: int) -> None:
    """`count` entries about 5 dossiers, one transaction each."""
    for number in range(count):
        with db.transaction() as conn:
            record(conn, clock.advance(timedelta(minutes=1)), f"HS-{number % 5}", ghi_chu=f"lần {number}")


def problems_of(db: Database) -> set[tuple[str, int, int]]:
    return {(problem.kind, problem.chain, problem.seq) for problem in verify_database(db).problems}


def rows(db: Database, *criteria: Any) -> list[dict[str, Any]]:
    """Stored entries matching `criteria`, in insertion order."""
    with db.read() as conn:
        return [
            dict(found._mapping) for found in conn.execute(select(audit_log).where(*criteria).order_by("id"))
        ]


def tamper(db: Database, change: Callable[[Connection], object]) -> None:
    with db.transaction() as conn:
        change(conn)


# --- appending -------------------------------------------------------------------------------------------------


def test_appended_entries_verify_and_make_up_the_objects_trail(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 30)
    report = verify_database(db)
    assert report == AuditReport(ok=True, checked=30, problems=[], chains=8)

    with db.read() as conn:
        trail = audit_trail(conn, "dossier", "HS-2")
    assert [entry["data"] for entry in trail] == [{"ghi_chu": f"lần {n}"} for n in range(2, 30, 5)]
    assert len({entry["chain"] for entry in trail}) == 1  # one object, one chain: its trail is in order
    assert [entry["seq"] for entry in trail] == sorted(entry["seq"] for entry in trail)
    assert trail[0]["at"] == datetime.fromisoformat("2026-03-02T09:03:00+07:00")
    assert str(trail[0]["at"].tzinfo) == "Asia/Ho_Chi_Minh"


def test_entries_from_concurrent_transactions_form_intact_chains(db: Database, clock: FixedClock) -> None:
    threads_count, per_thread = 8, 25
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            start.wait()
            for number in range(per_thread):
                with db.transaction() as conn:
                    record(conn, clock.now(), f"HS-{thread}-{number % 3}", n=number)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(thread,)) for thread in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert verify_database(db) == AuditReport(
        ok=True, checked=threads_count * per_thread, problems=[], chains=8
    )
    with db.read() as conn:
        heads = conn.execute(select(func.sum(audit_heads.c.seq))).scalar_one()
    assert heads == threads_count * per_thread


def test_verification_while_others_append_sees_one_consistent_snapshot(
    db: Database, clock: FixedClock
) -> None:
    """Heads and rows are read in one snapshot, so entries committed meanwhile never look like tampering."""
    writers_count, per_writer = 3, 40
    first_commit = threading.Event()
    errors: list[BaseException] = []

    def append() -> None:
        try:
            for number in range(per_writer):
                with db.transaction() as conn:
                    record(conn, clock.now(), f"HS-{number % 16}")
                first_commit.set()
        except BaseException as error:
            errors.append(error)
            first_commit.set()

    writers = [threading.Thread(target=append) for _ in range(writers_count)]
    for writer in writers:
        writer.start()
    first_commit.wait(timeout=60)
    reports = [verify_database(db)]
    while any(writer.is_alive() for writer in writers):
        reports.append(verify_database(db))
    for writer in writers:
        writer.join()

    assert errors == []
    assert [report.problems for report in reports if not report.ok] == []
    assert reports[0].checked > 0
    assert verify_database(db) == AuditReport(
        ok=True, checked=writers_count * per_writer, problems=[], chains=8
    )


def test_an_entry_rolls_back_with_the_change_it_records(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 3)
    with pytest.raises(RuntimeError, match="change failed"), db.transaction() as conn:
        record(conn, clock.now(), "HS-9")
        raise RuntimeError("change failed")
    assert verify_database(db).checked == 3
    assert verify_database(db).ok


def test_text_is_stored_composed_and_unicode_data_survives_storage(db: Database, clock: FixedClock) -> None:
    decomposed = unicodedata.normalize("NFD", "Trả kết quả")
    data = {
        "lý do": decomposed,
        "số tiền": 10**18,
        "tệp": ["a.pdf", None, True],
        "lồng": {"z": 1, "a": [1, 2]},
    }
    with db.transaction() as conn:
        record(conn, clock.now(), "HS-1", decomposed, **data)
    [stored] = rows(db, audit_log.c.object_id == "HS-1")
    assert stored["action"] == "Trả kết quả"
    assert stored["data"]["lý do"] == "Trả kết quả"
    assert stored["data"]["số tiền"] == 10**18
    assert verify_database(db).ok


def test_bad_entries_are_refused_and_nothing_is_written(db: Database, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="naive"), db.transaction() as conn:
        record(conn, datetime(2026, 3, 2, 9, 0), "HS-1")
    with pytest.raises(TypeError, match="float"), db.transaction() as conn:
        record(conn, clock.now(), "HS-1", phi=1.5)
    assert verify_database(db).checked == 0


def test_the_number_of_chains_is_fixed_when_the_log_is_created(db: Database, clock: FixedClock) -> None:
    with db.transaction() as conn:
        assert ensure_audit_chains(conn, chains=3) == 3
        assert ensure_audit_chains(conn, chains=8) == 3
    fill(db, clock, 10)
    report = verify_database(db)
    assert (report.ok, report.chains) == (True, 3)
    with db.read() as conn:
        assert set(conn.execute(select(audit_log.c.chain)).scalars()) <= {0, 1, 2}


# --- tampering -----------------------------------------------------------------------------------------------


def test_a_row_changed_with_sql_is_reported_with_its_seq(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 20)
    [victim] = rows(db, audit_log.c.id == 7)
    tamper(db, lambda conn: conn.execute(update(audit_log).where(audit_log.c.id == 7).values(data={"x": 1})))
    report = verify_database(db)
    assert not report.ok
    assert problems_of(db) == {("changed", victim["chain"], victim["seq"])}
    assert f"bản ghi số {victim['seq']}: nội dung đã bị sửa" in report.problems[0].message


def test_a_rewritten_row_with_a_recomputed_hash_is_still_found(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 20)
    victim = rows(db, audit_log.c.object_id == "HS-3")[1]
    fields = {name: victim[name] for name in HASHED_COLUMNS} | {"actor_id": "ke-gian"}
    forged = seal(victim["chain"], victim["seq"], victim["prev_hash"], fields)
    tamper(
        db,
        lambda conn: conn.execute(
            update(audit_log)
            .where(audit_log.c.id == victim["id"])
            .values(actor_id="ke-gian", hash=forged.hash)
        ),
    )
    assert problems_of(db) == {("broken_link", victim["chain"], victim["seq"] + 1)}


def test_a_deleted_middle_row_is_reported(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 20)
    victim = rows(db, audit_log.c.object_id == "HS-4")[1]
    tamper(db, lambda conn: conn.execute(delete(audit_log).where(audit_log.c.id == victim["id"])))
    assert problems_of(db) == {("deleted", victim["chain"], victim["seq"])}


def test_a_deleted_last_row_of_a_chain_is_reported(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 20)
    chain = rows(db, audit_log.c.object_id == "HS-0")[0]["chain"]
    last = rows(db, audit_log.c.chain == chain)[-1]
    tamper(db, lambda conn: conn.execute(delete(audit_log).where(audit_log.c.id == last["id"])))
    report = verify_database(db)
    assert problems_of(db) == {("deleted", chain, last["seq"])}
    assert report.problems[0].message == f"Chuỗi {chain}, bản ghi số {last['seq']}: đã bị xoá (ở cuối chuỗi)."


def test_a_whole_chain_deleted_is_reported(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 20)
    chain = rows(db, audit_log.c.id == 1)[0]["chain"]
    tamper(db, lambda conn: conn.execute(delete(audit_log).where(audit_log.c.chain == chain)))
    assert problems_of(db) == {("deleted", chain, 1)}


def test_appending_after_verification_continues_each_chain(db: Database, clock: FixedClock) -> None:
    fill(db, clock, 5)
    with db.read() as conn:
        assert verify_audit(conn).ok
    fill(db, clock, 5)
    with db.read() as conn:
        first = conn.execute(select(audit_log).where(audit_log.c.seq == 1).order_by(audit_log.c.id)).first()
    assert first is not None and first.prev_hash == GENESIS_HASH
    assert verify_database(db).checked == 10


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_verify_reports_an_intact_log_then_the_tampered_row(
    sqlite_db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", sqlite_db.engine.url.render_as_string())
    fill(sqlite_db, clock, 6)

    intact = CliRunner().invoke(cli, ["audit", "verify"])
    assert (intact.exit_code, intact.output) == (0, "Nhật ký kiểm toán toàn vẹn: 6 bản ghi, 8 chuỗi\n")

    [victim] = rows(sqlite_db, audit_log.c.id == 2)
    tamper(
        sqlite_db, lambda conn: conn.execute(update(audit_log).where(audit_log.c.id == 2).values(action="x"))
    )
    broken = CliRunner().invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert broken.output.splitlines() == [
        "Nhật ký kiểm toán KHÔNG toàn vẹn: 1 vấn đề (6 bản ghi, 8 chuỗi):",
        f"- Chuỗi {victim['chain']}, bản ghi số {victim['seq']}: nội dung đã bị sửa (mã băm không khớp).",
    ]


def test_cli_verify_on_a_database_without_the_log_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path}/blank.sqlite3")
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert isinstance(result.exception, NotFound)
    assert result.exception.code == "audit.no_log"


def test_transactions_auditing_several_objects_in_opposite_orders_never_deadlock(
    db: Database, clock: FixedClock
) -> None:
    """A document event audits the dossier and the document; two such transactions must not lock each other's
    chain heads in opposite order (the load test once hit PostgreSQL's deadlock detector this way)."""
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(15):
                first, second = (f"hs-{n}", f"vb-{n}") if worker % 2 else (f"vb-{n}", f"hs-{n}")
                with db.transaction() as conn:
                    record(conn, clock.now(), first)
                    record(conn, clock.now(), second)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as conn:
        report = verify_audit(conn)
        assert report.ok and report.checked >= 6 * 15 * 2
