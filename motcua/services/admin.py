"""Administration from the officer workspace: a unit's officers and their roles (unit admin), and which
procedures the city offers online at which level (city admin). Every change is audited in its transaction.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from motcua.domain.catalog import CityProcedure, OnlineLevel, SubmissionChannel, search_key
from motcua.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from motcua.domain.lifecycle import Actor, ActorKind
from motcua.domain.workflow import Role
from motcua.services.audit import append_audit
from motcua.services.catalog import city_row
from motcua.services.identity import create_user
from motcua.services.runtime import Runtime
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.identity import api_tokens, users
from motcua.store.schema.online_overrides import city_online_overrides

# Roles a unit administrator may grant in their own unit (city administration is granted by the city).
GRANTABLE_ROLES = (
    Role.RECEIVER,
    Role.PROCESSOR,
    Role.APPROVER,
    Role.RETURNER,
    Role.UNIT_ADMIN,
    Role.MONITOR,
)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PHONE = re.compile(r"^0[0-9]{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# ---------------------------------------------------------------- a unit's officers


def _unit_admin_unit(actor: Actor) -> str:
    if actor.kind is not ActorKind.OFFICER or Role.UNIT_ADMIN not in actor.roles or not actor.unit_id:
        raise Forbidden("admin.unit_admin_only", "Chỉ quản trị đơn vị mới quản lý cán bộ của đơn vị.")
    return actor.unit_id


def unit_officers(rt: Runtime, actor: Actor) -> list[dict[str, Any]]:
    """The officers of the unit admin's unit: id, username, name, roles, active — by name."""
    unit_id = _unit_admin_unit(actor)
    with rt.db.read() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.username, users.c.full_name, users.c.roles, users.c.active)
            .where(users.c.unit_id == unit_id, users.c.kind == ActorKind.OFFICER.value)
            .order_by(users.c.active.desc(), users.c.full_name, users.c.id)
        ).all()
    return [
        {
            "id": row.id,
            "username": row.username,
            "name": row.full_name,
            "roles": [r.value for r in Role if r.value in (row.roles or [])],
            "active": bool(row.active),
        }
        for row in rows
    ]


def _parse_roles(raw: Iterable[str]) -> frozenset[Role]:
    roles: set[Role] = set()
    for value in raw:
        try:
            role = Role(value)
        except ValueError as exc:
            raise InvalidInput("admin.bad_role", f"Vai trò «{value}» không hợp lệ.", field="roles") from exc
        if role not in GRANTABLE_ROLES:
            raise Forbidden(
                "admin.role_not_grantable", f"Quản trị đơn vị không được giao vai trò {role.label_vi}."
            )
        roles.add(role)
    return frozenset(roles)


def add_officer(
    rt: Runtime,
    actor: Actor,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: Iterable[str],
    phone: str = "",
    email: str = "",
) -> dict[str, Any]:
    """Create an officer account in the unit admin's unit (the account id is the username)."""
    unit_id = _unit_admin_unit(actor)
    login = username.strip().lower()
    name = " ".join(full_name.split())
    if not USERNAME.fullmatch(login):
        raise InvalidInput(
            "admin.bad_username",
            "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, chữ số, dấu chấm, gạch ngang, gạch dưới.",
            field="username",
        )
    if len(name) < 2:
        raise InvalidInput("admin.name_required", "Cần họ và tên cán bộ.", field="full_name")
    granted = _parse_roles(roles)
    if not granted:
        raise InvalidInput("admin.roles_required", "Cần chọn ít nhất một vai trò.", field="roles")
    if len(password) < 8:
        raise InvalidInput("admin.weak_password", "Mật khẩu phải có ít nhất 8 ký tự.", field="password")
    if phone.strip() and not _PHONE.fullmatch(phone.strip()):
        raise InvalidInput("admin.bad_phone", "Số điện thoại gồm 10 chữ số, bắt đầu bằng 0.", field="phone")
    if email.strip() and not _EMAIL.fullmatch(email.strip()):
        raise InvalidInput("admin.bad_email", "Địa chỉ thư điện tử không hợp lệ.", field="email")
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == login)).first() is not None:
            raise Conflict(
                "admin.username_taken", f"Tên đăng nhập {login} đã có người dùng.", field="username"
            )
        create_user(
            conn,
            user_id=login,
            username=login,
            password=password,
            kind=ActorKind.OFFICER,
            full_name=name,
            now=now,
            unit_id=unit_id,
            roles=granted,
            phone=phone.strip() or None,
            email=email.strip() or None,
        )
        _audit(
            conn, actor, now, "account.officer_created", login, {"roles": sorted(r.value for r in granted)}
        )
    return {"id": login, "username": login, "name": name, "roles": sorted(r.value for r in granted)}


def set_officer_roles(rt: Runtime, actor: Actor, user_id: str, roles: Iterable[str]) -> dict[str, Any]:
    """Replace an officer's roles (roles outside what a unit admin grants are kept as they were)."""
    unit_id = _unit_admin_unit(actor)
    granted = _parse_roles(roles)
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        row = _officer_row(conn, unit_id, user_id)
        before = {Role(r) for r in row.roles or []}
        after = granted | {r for r in before if r not in GRANTABLE_ROLES}
        if user_id == actor.id and Role.UNIT_ADMIN not in after:
            raise InvalidInput(
                "admin.keep_own_admin", "Bạn không thể tự bỏ vai trò quản trị đơn vị của mình.", field="roles"
            )
        if not after:
            raise InvalidInput("admin.roles_required", "Cần chọn ít nhất một vai trò.", field="roles")
        if after != before:
            conn.execute(
                update(users).where(users.c.id == user_id).values(roles=sorted(r.value for r in after))
            )
            _audit(
                conn,
                actor,
                now,
                "account.roles_changed",
                user_id,
                {"from": sorted(r.value for r in before), "to": sorted(r.value for r in after)},
            )
    return {"id": user_id, "roles": sorted(r.value for r in after), "changed": after != before}


def set_officer_active(rt: Runtime, actor: Actor, user_id: str, active: bool) -> dict[str, Any]:
    """Deactivate (its sessions end) or reactivate an officer account of the unit."""
    unit_id = _unit_admin_unit(actor)
    if user_id == actor.id and not active:
        raise InvalidInput("admin.keep_own_account", "Bạn không thể tự khóa tài khoản của mình.")
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        row = _officer_row(conn, unit_id, user_id)
        changed = bool(row.active) != active
        if changed:
            conn.execute(update(users).where(users.c.id == user_id).values(active=active))
            if not active:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            action = "account.activated" if active else "account.deactivated"
            _audit(conn, actor, now, action, user_id, {})
    return {"id": user_id, "active": active, "changed": changed}


def _officer_row(conn: Connection, unit_id: str, user_id: str) -> Any:
    row = conn.execute(
        select(users.c.id, users.c.roles, users.c.active).where(
            users.c.id == user_id, users.c.unit_id == unit_id, users.c.kind == ActorKind.OFFICER.value
        )
    ).first()
    if row is None:
        raise NotFound("admin.officer_not_found", "Không tìm thấy cán bộ này trong đơn vị của bạn.")
    return row


def _audit(
    conn: Connection, actor: Actor, now: datetime, action: str, user_id: str, data: dict[str, Any]
) -> None:
    append_audit(
        conn,
        at=now,
        actor_id=actor.id,
        actor_role=Role.UNIT_ADMIN.value,
        action=action,
        object_type="user",
        object_id=user_id,
        unit_id=actor.unit_id,
        data=data,
    )


# ---------------------------------------------------------------- procedures online (city admin)


def _city_admin(actor: Actor) -> None:
    if actor.kind is not ActorKind.OFFICER or Role.CITY_ADMIN not in actor.roles:
        raise Forbidden("admin.city_admin_only", "Chỉ quản trị Thành phố mới thay đổi danh mục thủ tục.")


def city_procedures_online(
    rt: Runtime, actor: Actor, *, q: str = "", online: str = ""
) -> list[dict[str, Any]]:
    """The city layer's current procedures: code, name, level (xa|tinh), online level, version, valid from."""
    _city_admin(actor)
    cp = city_procedures
    query = select(
        cp.c.code, cp.c.name, cp.c.level, cp.c.online, cp.c.version, cp.c.valid_from, cp.c.name_folded
    ).where(cp.c.is_current.is_(True))
    if online in _LEVELS:
        query = query.where(cp.c.online == online)
    with rt.db.read() as conn:
        rows = conn.execute(query.order_by(cp.c.level, cp.c.name_folded, cp.c.code)).all()
    words = search_key(q).split()
    return [
        {
            "code": row.code,
            "name": row.name,
            "level": row.level,
            "online": row.online,
            "version": row.version,
            "valid_from": row.valid_from.isoformat(),
        }
        for row in rows
        if all(f" {word}" in f" {row.name_folded}" or row.code.startswith(word) for word in words)
    ]


_LEVELS = frozenset(level.value for level in OnlineLevel)


def set_online_level(rt: Runtime, actor: Actor, code: str, level: str) -> dict[str, Any]:
    """Offer a procedure online at another level, as a new city-layer version valid from today.

    The previous version closes today (dossiers already filed keep the version they were filed under). The
    online channel follows the level: added for toàn trình / một phần, removed for không trực tuyến. The
    decision is also kept in `city_online_overrides`, so `reapply_online_overrides` can restore it after the
    layer is reloaded from its data file.
    """
    _city_admin(actor)
    if level not in _LEVELS:
        raise InvalidInput(
            "admin.bad_online_level", "Mức độ trực tuyến phải là toan_trinh, mot_phan hoặc khong."
        )
    wanted = OnlineLevel(level)
    now = rt.clock.now()
    with rt.db.transaction() as conn:
        row = _current_city_row(conn, code.strip())
        code = str(row.code)
        _keep_override(conn, code, wanted, actor.id, now)
        if row.online == wanted.value:
            return {"code": code, "online": wanted.value, "version": row.version, "changed": False}
        version = _new_online_version(conn, row, wanted, now)
        append_audit(
            conn,
            at=now,
            actor_id=actor.id,
            actor_role=Role.CITY_ADMIN.value,
            action="catalog.online_level_changed",
            object_type="city_procedure",
            object_id=code,
            unit_id=actor.unit_id,
            data={"from": row.online, "to": wanted.value, "version": version},
        )
    rt.forget_catalog()  # this process files under the new level at once; others within seconds
    return {"code": code, "online": wanted.value, "version": version, "changed": True}


def reapply_online_overrides(conn: Connection, *, now: datetime) -> int:
    """After the city layer was (re)loaded from its data file: apply the city administrator's online-level
    decisions again where the current version differs. Returns how many new versions were stored."""
    applied = 0
    for override in conn.execute(select(city_online_overrides)).all():
        row = _current_city_row(conn, override.code, missing_ok=True)
        if row is None or row.online == override.online:
            continue
        version = _new_online_version(conn, row, OnlineLevel(override.online), now)
        append_audit(
            conn,
            at=now,
            actor_id="system",
            actor_role="system",
            action="catalog.online_level_reapplied",
            object_type="city_procedure",
            object_id=override.code,
            unit_id=None,
            data={"from": row.online, "to": override.online, "version": version, "set_by": override.set_by},
        )
        applied += 1
    return applied


def _keep_override(conn: Connection, code: str, level: OnlineLevel, actor_id: str, now: datetime) -> None:
    values = {"online": level.value, "set_by": actor_id, "set_at": now}
    updated = conn.execute(
        update(city_online_overrides).where(city_online_overrides.c.code == code).values(**values)
    ).rowcount
    if not updated:
        conn.execute(city_online_overrides.insert().values(code=code, **values))


def _new_online_version(conn: Connection, row: Any, level: OnlineLevel, now: datetime) -> int:
    """Close the current version `row` and store the same entry at `level` as the next version."""
    previous = CityProcedure.from_dict(row.data, version=row.version)
    valid_from = max(now.date(), row.valid_from)
    updated = dataclasses.replace(
        previous, online=level, channels=_channels_for(previous.channels, level), valid_from=valid_from
    )
    version = _next_city_version(conn, previous.code)
    conn.execute(
        update(city_procedures)
        .where(city_procedures.c.row_id == row.row_id)
        .values(is_current=False, valid_to=valid_from)
    )
    row_values = city_row(updated, updated.content_hash(), version, valid_from, now)
    conn.execute(city_procedures.insert().values(row_values))
    return version


def _current_city_row(conn: Connection, code: str, *, missing_ok: bool = False) -> Any:
    query = select(city_procedures).where(
        city_procedures.c.code == code, city_procedures.c.is_current.is_(True)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None and not missing_ok:
        raise NotFound("procedure.not_offered", f"Thủ tục {code} không được Thành phố cung cấp.")
    return row


def _next_city_version(conn: Connection, code: str) -> int:
    latest = conn.execute(
        select(func.max(city_procedures.c.version)).where(city_procedures.c.code == code)
    ).scalar()
    return int(latest or 0) + 1


def _channels_for(
    channels: tuple[SubmissionChannel, ...], level: OnlineLevel
) -> tuple[SubmissionChannel, ...]:
    others = tuple(c for c in channels if c is not SubmissionChannel.ONLINE)
    return others if level is OnlineLevel.NONE else (SubmissionChannel.ONLINE, *others)


__all__ = [
    "GRANTABLE_ROLES",
    "add_officer",
    "city_procedures_online",
    "reapply_online_overrides",
    "set_officer_active",
    "set_officer_roles",
    "set_online_level",
    "unit_officers",
]
