"""The registry exchange log (X-Road is the model): every exchange, hash-chained, minimised, tamper-evident."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select, update

from motcua.domain.clock import VN_TZ
from motcua.integrations.http import Trace
from motcua.services.gateway import Exchange, log_exchange, log_exchanges, verify_exchange_log
from motcua.store.db import Database
from motcua.store.schema.integrations import registry_exchange_heads, registry_exchanges
from tests.api.conftest import KHAI_SINH, DossierApi

AT = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)


def _exchange(n: int, subject: str = "cd-079090001234") -> Exchange:
    trace = Trace(f"{n:032x}", "GET", "/citizens/079090001234", "a" * 64, "b" * 64, 200, 1, 12)
    return Exchange(
        at=AT,
        actor_id="cd-079090001234",
        actor_kind="citizen",
        subject_id=subject,
        registry="population",
        purpose="Điền sẵn tờ khai thủ tục 1.001193 «Đăng ký khai sinh»",
        outcome="ok",
        trace=trace,
        procedure_code="1.001193",
    )


def _log(db: Database, count: int) -> None:
    with db.transaction() as conn:
        log_exchanges(conn, [_exchange(n, subject=f"cd-07909000{n:04d}") for n in range(count)])


def test_an_untouched_log_verifies(db: Database) -> None:
    _log(db, 6)
    with db.read() as conn:
        report = verify_exchange_log(conn)
        rows = conn.execute(select(registry_exchanges)).mappings().all()
    assert report.ok and report.checked == 6 and report.problems == []
    assert {row["service"] for row in rows} == {"GET citizens"}  # the operation, without the identifier


def test_a_changed_entry_is_detected(db: Database) -> None:
    _log(db, 3)
    with db.transaction() as conn:
        conn.execute(update(registry_exchanges).where(registry_exchanges.c.id == 2).values(purpose="Tò mò"))
    with db.read() as conn:
        report = verify_exchange_log(conn)
    assert not report.ok
    assert [problem.kind for problem in report.problems] == ["changed"]


def test_a_deleted_entry_and_a_deleted_tail_are_detected(db: Database) -> None:
    with db.transaction() as conn:
        for n in range(3):
            log_exchange(conn, _exchange(n))  # one subject: one chain
    with db.transaction() as conn:
        conn.execute(delete(registry_exchanges).where(registry_exchanges.c.id == 2))
    with db.read() as conn:
        assert [(p.kind, p.seq) for p in verify_exchange_log(conn).problems] == [("deleted", 2)]
    with db.transaction() as conn:
        conn.execute(delete(registry_exchanges).where(registry_exchanges.c.id == 3))
    with db.read() as conn:
        assert [(p.kind, p.seq) for p in verify_exchange_log(conn).problems] == [("deleted", 2)]  # 2–3 gone


def test_a_rewritten_chain_without_its_head_is_detected(db: Database) -> None:
    _log(db, 2)
    with db.transaction() as conn:
        conn.execute(update(registry_exchange_heads).values(hash="f" * 64))
    with db.read() as conn:
        assert {p.kind for p in verify_exchange_log(conn).problems} == {"head_mismatch"}


def test_the_log_of_a_real_prefill_keeps_hashes_not_personal_data(gw_api: DossierApi) -> None:
    gw_api.call(
        "POST", "/api/v1/prefill", "congdan", json={"procedure_code": KHAI_SINH, "consent": True}, expect=200
    )
    with gw_api.db.read() as conn:
        [row] = conn.execute(select(registry_exchanges)).mappings().all()
        assert verify_exchange_log(conn).ok
    stored = json.dumps(dict(row), default=str, ensure_ascii=False)
    assert "Nguyễn Văn An" not in stored and "Lê Thánh Tôn" not in stored
    assert row["actor_id"] == "cd-079090001234" and row["subject_id"] == "cd-079090001234"
    assert row["registry"] == "population" and row["service"] == "GET citizens"
    assert row["http_status"] == 200 and len(row["request_hash"]) == len(row["response_hash"]) == 64
    monitor = gw_api.call("GET", "/api/v1/gateway/exchange-log/verify", "tp.giamsat", expect=200)
    assert monitor == {"ok": True, "checked": 1, "chains": 4, "problems": []}
    gw_api.call("GET", "/api/v1/gateway/exchange-log/verify", "sg.tiepnhan", expect=403)
