"""API fixtures (the seeded database `seeded_db` lives in tests/conftest.py: once per session per backend,
cloned per test), a runtime with a fixed clock, and an HTTP client on the real Litestar app."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from motcua.api.app import create_app
from motcua.domain.calendar import BusinessCalendar
from motcua.domain.clock import VN_TZ, FixedClock
from motcua.domain.lifecycle import ActorKind
from motcua.domain.workflow import Role
from motcua.services.files import LocalBlobStore
from motcua.services.identity import TOKEN_LIFETIME, _token_hash, create_user
from motcua.services.runtime import Runtime
from motcua.services.seed import DEMO_PASSWORD
from motcua.store.db import Database
from motcua.store.schema.audit import audit_log
from motcua.store.schema.dossiers import dossier_counters, dossier_events, dossiers
from motcua.store.schema.identity import api_tokens, users
from tests.conftest import SEED_TIME


@pytest.fixture(scope="session")
def calendar() -> BusinessCalendar:
    return BusinessCalendar.vietnam()


@pytest.fixture
def runtime(seeded_db: Database, clock: FixedClock, calendar: BusinessCalendar, tmp_path: Path) -> Runtime:
    return Runtime(db=seeded_db, clock=clock, calendar=calendar, blobs=LocalBlobStore(tmp_path / "files"))


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def login(client: TestClient[Any]) -> Callable[[str], dict[str, str]]:
    """`login("sg.tiepnhan")` → the Authorization header of a fresh bearer token for that demo account."""
    cache: dict[str, dict[str, str]] = {}

    def _login(username: str) -> dict[str, str]:
        if username not in cache:
            response = client.post(
                "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert response.status_code == 200, response.text
            cache[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return cache[username]

    return _login


# ---------------------------------------------------------------- driving dossiers through HTTP

WARD = "phuong-sai-gon"
KHAI_SINH = "1.001193"
DEPARTMENT = "so-nong-nghiep-va-moi-truong"
DEPARTMENT_OFFICERS = {
    "snnmt.tiepnhan": Role.RECEIVER,
    "snnmt.xuly": Role.PROCESSOR,
    "snnmt.pheduyet": Role.APPROVER,
}
_VIETNAMESE_LETTERS = frozenset("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
_EXAMPLE_FORMS: dict[str, dict[str, Any]] = {}  # the catalog is the same data on every backend


def is_vietnamese(text: str) -> bool:
    """True when the text has Vietnamese letters (a message a citizen can read, not an English default)."""
    return any(letter in _VIETNAMESE_LETTERS for letter in text.lower())


def assert_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    """The error body has the documented shape, the given stable code and a Vietnamese message."""
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert is_vietnamese(error["message"]), error
    return error


@dataclass
class DossierApi:
    """Calls the API as named demo users and checks each response's status code."""

    client: TestClient[Any]
    clock: FixedClock
    db: Database
    _tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def auth(self, username: str) -> dict[str, str]:
        """The Authorization header of an account. The token is stored as a login stores it, without the
        0.1 s argon2 check per user and test (test_auth_api logs in through HTTP); renewed once expired."""
        now = self.clock.now()
        token, expires_at = self._tokens.get(username, ("", now))
        if now >= expires_at:
            token, expires_at = secrets.token_urlsafe(32), now + TOKEN_LIFETIME
            with self.db.transaction() as conn:
                user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
                conn.execute(
                    api_tokens.insert().values(
                        token_hash=_token_hash(token),
                        user_id=user_id,
                        purpose="api",
                        created_at=now,
                        expires_at=expires_at,
                    )
                )
            self._tokens[username] = (token, expires_at)
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, username: str | None = None, *, expect: int, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **(self.auth(username) if username else {})}
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, f"{method} {path} as {username}: {response.text}"
        return response.json()

    def example_form(self, procedure_code: str) -> dict[str, Any]:
        """The valid sample payload of the procedure's e-form, as published by the catalog API."""
        if procedure_code not in _EXAMPLE_FORMS:
            procedure = self.call("GET", f"/api/v1/procedures/{procedure_code}", expect=200)
            _EXAMPLE_FORMS[procedure_code] = procedure["city"]["form_schema"]["examples"][0]
        return copy.deepcopy(_EXAMPLE_FORMS[procedure_code])

    def submit(
        self,
        username: str,
        procedure_code: str = KHAI_SINH,
        unit_id: str = WARD,
        *,
        channel: str = "online",
        applicant: dict[str, Any] | None = None,
        form_data: dict[str, Any] | None = None,
        expect: int = 201,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "procedure_code": procedure_code,
            "receiving_unit_id": unit_id,
            "channel": channel,
            "form_data": self.example_form(procedure_code) if form_data is None else form_data,
        }
        if applicant is not None:
            body["applicant"] = applicant
        result: dict[str, Any] = self.call("POST", "/api/v1/dossiers", username, json=body, expect=expect)
        return result

    def act(
        self, username: str, code: str, action: str, *, expect: int = 200, **payload: Any
    ) -> dict[str, Any]:
        body = {"action": action, "payload": payload}
        result: dict[str, Any] = self.call(
            "POST", f"/api/v1/dossiers/{code}/actions", username, json=body, expect=expect
        )
        return result

    def get(self, username: str, code: str, *, expect: int = 200) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/api/v1/dossiers/{code}", username, expect=expect)
        return result

    def track(self, code: str, *, expect: int = 200) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/api/v1/track/{code}", expect=expect)
        return result

    def at(self, local_time: str) -> None:
        """Set the clock to a wall-clock time in Ho Chi Minh City, e.g. `at("2026-03-02 09:30")`."""
        self.clock.set(datetime.fromisoformat(local_time).replace(tzinfo=VN_TZ))

    def row_counts(self) -> dict[str, int]:
        """How many dossiers, events, audit entries and users are stored, and how many code numbers used."""
        tables = {
            "dossiers": dossiers,
            "dossier_events": dossier_events,
            "audit_log": audit_log,
            "users": users,
        }
        with self.db.read() as conn:
            counts = {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in tables.items()
            }
            used = select(func.coalesce(func.sum(dossier_counters.c.last_seq), 0))
            counts["code_numbers"] = int(conn.execute(used).scalar_one())
        return counts


@pytest.fixture
def api(client: TestClient[Any], clock: FixedClock, seeded_db: Database) -> DossierApi:
    return DossierApi(client=client, clock=clock, db=seeded_db)


@pytest.fixture
def department_officers(seeded_db: Database) -> list[str]:
    """Officers of Sở Nông nghiệp và Môi trường (the demo accounts only staff Sở Tư pháp). They have no
    password (hashing costs 0.1 s each): `DossierApi.auth` gives them tokens."""
    with seeded_db.transaction() as conn:
        for username, role in DEPARTMENT_OFFICERS.items():
            create_user(
                conn,
                user_id=username,
                username=username,
                password=None,
                kind=ActorKind.OFFICER,
                full_name=f"Cán bộ {role.label_vi} Sở Nông nghiệp và Môi trường",
                now=SEED_TIME,
                unit_id=DEPARTMENT,
                roles=frozenset({role}),
            )
    return list(DEPARTMENT_OFFICERS)
