"""Accounts, password login (argon2) and bearer tokens; turns a token into the engine's `Actor`."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, select, update

from motcua.domain.errors import Conflict, InvalidInput, Unauthenticated
from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.workflow import Role
from motcua.store.schema.identity import api_tokens, users

TOKEN_LIFETIME = timedelta(hours=12)
_hasher = PasswordHasher()
# Verifying against a real hash for unknown users keeps login time the same whether or not the user exists.
_DUMMY_HASH = _hasher.hash("motcua-dummy-password")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    user: dict[str, Any]


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("account.weak_password", "Mật khẩu phải có ít nhất 8 ký tự.")
    return _hasher.hash(password)


def create_user(
    conn: Connection,
    *,
    user_id: str,
    username: str,
    password: str | None,
    kind: ActorKind,
    full_name: str,
    now: datetime,
    unit_id: str | None = None,
    roles: frozenset[Role] = frozenset(),
    personal_id: str | None = None,
    tax_code: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    """Create an account. `password=None` makes a record that cannot log in (a walk-in applicant)."""
    if kind is ActorKind.OFFICER and not unit_id:
        raise InvalidInput("account.officer_needs_unit", "Cán bộ phải thuộc một đơn vị.")
    if kind is not ActorKind.OFFICER and roles:
        raise InvalidInput("account.roles_for_officers_only", "Chỉ cán bộ mới có vai trò xử lý.")
    exists = conn.execute(
        select(users.c.id).where((users.c.id == user_id) | (users.c.username == username))
    ).first()
    if exists:
        raise Conflict("account.exists", f"Tài khoản {username} đã tồn tại.")
    conn.execute(
        users.insert().values(
            id=user_id,
            username=username,
            password_hash=hash_password(password) if password else "!",
            kind=kind.value,
            full_name=full_name,
            personal_id=personal_id,
            tax_code=tax_code,
            unit_id=unit_id,
            roles=sorted(r.value for r in roles),
            email=email,
            phone=phone,
            active=True,
            created_at=now,
        )
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    conn: Connection, *, username: str, password: str, now: datetime, purpose: str = "api"
) -> IssuedToken:
    """Check the password and issue a bearer token (only its hash is stored)."""
    row = conn.execute(select(users).where(users.c.username == username.strip().lower())).mappings().first()
    stored = row["password_hash"] if row and row["active"] else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
        ok = row is not None and bool(row["active"])
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        raise Unauthenticated("auth.bad_credentials", "Tên đăng nhập hoặc mật khẩu không đúng.")
    if _hasher.check_needs_rehash(row["password_hash"]):
        conn.execute(
            update(users).where(users.c.id == row["id"]).values(password_hash=_hasher.hash(password))
        )
    token = secrets.token_urlsafe(32)
    expires = now + TOKEN_LIFETIME
    conn.execute(
        api_tokens.insert().values(
            token_hash=_token_hash(token),
            user_id=row["id"],
            purpose=purpose,
            created_at=now,
            expires_at=expires,
        )
    )
    return IssuedToken(token, expires, public_user(dict(row)))


def revoke(conn: Connection, *, token: str, now: datetime) -> None:
    digest = _token_hash(token)
    _actors.pop(digest, None)  # this process at once; other server processes within ACTOR_CACHE_SECONDS
    conn.execute(update(api_tokens).where(api_tokens.c.token_hash == digest).values(revoked_at=now))


# token hash → (monotonic time cached, actor, token expiry). Every authenticated request looked its token up
# in its own transaction; the cache skips that for a few seconds. Bounded staleness: a token revoked (or a
# user deactivated) through another server process keeps working there for at most ACTOR_CACHE_SECONDS.
ACTOR_CACHE_SECONDS = 5.0
_ACTOR_CACHE_SIZE = 10_000
_actors: dict[str, tuple[float, Actor, datetime, str]] = {}


def cached_actor(*, token: str, now: datetime, purpose: str | None = None) -> Actor | None:
    """The actor of a token from this process's cache (no database), or None when `actor_for_token` must
    look it up. Same rules as `actor_for_token`: fresh entry, unexpired token, matching purpose."""
    cached = _actors.get(_token_hash(token))
    if (
        cached is not None
        and monotonic() - cached[0] < ACTOR_CACHE_SECONDS
        and now < cached[2]
        and purpose in (None, cached[3])
    ):
        return cached[1]
    return None


def actor_for_token(conn: Connection, *, token: str, now: datetime, purpose: str | None = None) -> Actor:
    """The account behind a live token. With `purpose`, a token issued for something else is refused: a page
    session cookie is not an API bearer token, and the other way round."""
    actor = cached_actor(token=token, now=now, purpose=purpose)
    if actor is not None:
        return actor
    digest = _token_hash(token)
    row = (
        conn.execute(
            select(users, api_tokens.c.expires_at, api_tokens.c.revoked_at, api_tokens.c.purpose)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == digest)
        )
        .mappings()
        .first()
    )
    if (
        row is None
        or row["revoked_at"] is not None
        or row["expires_at"] <= now
        or not row["active"]
        or purpose not in (None, row["purpose"])
    ):
        _actors.pop(digest, None)
        raise Unauthenticated(
            "auth.invalid_token", "Phiên đăng nhập không hợp lệ hoặc đã hết hạn; hãy đăng nhập lại."
        )
    actor = actor_from_row(dict(row))
    if len(_actors) >= _ACTOR_CACHE_SIZE:
        _actors.clear()
    _actors[digest] = (monotonic(), actor, row["expires_at"], row["purpose"])
    return actor


def forget_actors(user_ids: Iterable[str]) -> int:
    """Drop this process's cached actors of these accounts (their unit or roles changed, e.g. a reorganisation
    moved them): their tokens stay valid and the next request reads the account again. Other server processes
    see the change within ACTOR_CACHE_SECONDS. Returns how many cached tokens were dropped."""
    wanted = set(user_ids)
    stale = [digest for digest, entry in list(_actors.items()) if entry[1].id in wanted]
    for digest in stale:
        _actors.pop(digest, None)
    return len(stale)


def actor_from_row(row: dict[str, Any]) -> Actor:
    return Actor(
        id=row["id"],
        kind=ActorKind(row["kind"]),
        roles=frozenset(Role(r) for r in row["roles"] or []),
        unit_id=row["unit_id"],
        name=row["full_name"],
    )


def get_user(conn: Connection, user_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return dict(row) if row else None


def public_user(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "username": row["username"],
        "kind": row["kind"],
        "full_name": row["full_name"],
        "unit_id": row["unit_id"],
        "roles": list(row["roles"] or []),
    }


def applicant_user_id(*, personal_id: str | None = None, tax_code: str | None = None) -> str:
    """Stable account id for a citizen (by personal ID) or a business (by enterprise code)."""
    if personal_id:
        return f"cd-{personal_id}"
    if tax_code:
        return f"dn-{tax_code}"
    raise InvalidInput(
        "applicant.identity_required", "Cần số định danh cá nhân hoặc mã số doanh nghiệp của người yêu cầu."
    )
