"""First-run setup: reference data (units, workflows, catalog) and, for demos, one account per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from motcua.domain.lifecycle import ActorKind
from motcua.domain.workflow import Role
from motcua.services import admin, catalog, units, workflows
from motcua.services.audit import append_audit, ensure_audit_chains
from motcua.services.identity import applicant_user_id, create_user
from motcua.services.reorganization import reapply_competent_overrides
from motcua.store.db import Database
from motcua.store.schema.catalog import procedures
from motcua.store.schema.identity import users

DEMO_PASSWORD = "motcua-demo-2026"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    kind: ActorKind
    unit_id: str | None = None
    roles: tuple[Role, ...] = ()
    personal_id: str | None = None
    tax_code: str | None = None


_WARD = "phuong-sai-gon"
_DEPT = "so-tu-phap"
_R = Role
DEMO_ACCOUNTS = (
    DemoAccount("congdan", "Nguyễn Văn An", ActorKind.CITIZEN, personal_id="079090001234"),
    DemoAccount("congdan2", "Trần Thị Bình", ActorKind.CITIZEN, personal_id="079192004321"),
    DemoAccount("doanhnghiep", "Công ty TNHH Một Cửa Sài Gòn", ActorKind.BUSINESS, tax_code="0300588569"),
    DemoAccount("buudien", "Lê Văn Cường (Bưu điện Sài Gòn)", ActorKind.AGENT),
    *(
        DemoAccount(f"sg.{suffix}", name, ActorKind.OFFICER, _WARD, (role,))
        for suffix, name, role in (
            ("tiepnhan", "Phạm Thị Dung", _R.RECEIVER),
            ("xuly", "Hoàng Văn Em", _R.PROCESSOR),
            ("pheduyet", "Võ Thị Giang", _R.APPROVER),
            ("traketqua", "Đặng Văn Hải", _R.RETURNER),
            ("quantri", "Bùi Thị Hoa", _R.UNIT_ADMIN),
            ("giamsat", "Ngô Văn Khánh", _R.MONITOR),
        )
    ),
    *(
        DemoAccount(f"stp.{suffix}", name, ActorKind.OFFICER, _DEPT, (role,))
        for suffix, name, role in (
            ("tiepnhan", "Đỗ Thị Lan", _R.RECEIVER),
            ("xuly", "Trịnh Văn Minh", _R.PROCESSOR),
            ("pheduyet", "Lý Thị Ngọc", _R.APPROVER),
            ("traketqua", "Mai Văn Phúc", _R.RETURNER),
            ("quantri", "Chu Thị Quỳnh", _R.UNIT_ADMIN),
            ("giamsat", "Tạ Văn Sơn", _R.MONITOR),
        )
    ),
    DemoAccount(
        "tt.tiepnhan",
        "Lâm Thị Thảo",
        ActorKind.OFFICER,
        "trung-tam-phuc-vu-hanh-chinh-cong",
        (_R.RECEIVER, _R.RETURNER),
    ),
    DemoAccount(
        "ca.saigon",
        "Đại úy Huỳnh Văn Tài",
        ActorKind.OFFICER,
        "cong-an-phuong-sai-gon",
        (_R.RECEIVER, _R.PROCESSOR, _R.APPROVER, _R.RETURNER),
    ),
    DemoAccount("tp.quantri", "Phan Văn Uy", ActorKind.OFFICER, "thanh-pho-ho-chi-minh", (_R.CITY_ADMIN,)),
    DemoAccount("tp.giamsat", "Dương Thị Vân", ActorKind.OFFICER, "thanh-pho-ho-chi-minh", (_R.MONITOR,)),
)


def setup_reference_data(db: Database, *, now: datetime) -> dict[str, object]:
    """Idempotent: units, workflows, the national catalog (first run only) and the HCMC layer."""
    report: dict[str, object] = {}
    with db.transaction() as conn:
        report["units"] = units.load_units(conn, today=now.date())
        report["workflows"] = workflows.sync_workflows(conn, now=now).created
        report["audit_chains"] = ensure_audit_chains(conn)
    with db.transaction() as conn:
        if conn.execute(select(procedures.c.row_id).limit(1)).first() is None:
            national = catalog.import_national_file(conn, catalog.NATIONAL_FILE, now=now)
            report["national_procedures"] = national.created
    with db.transaction() as conn:
        layer = catalog.load_city_layer(conn, workflow_ids=workflows.workflow_ids(), now=now)
        admin.reapply_online_overrides(conn, now=now)  # the city admin's online levels survive a reload
        reapply_competent_overrides(conn, now=now)  # so do the competent units reorganisation plans set
        report["city_procedures"] = layer.created + layer.updated
        changed = {k: v for k, v in report.items() if k != "audit_chains" and v}
        if changed:
            append_audit(
                conn,
                at=now,
                actor_id="system",
                actor_role="system",
                action="reference_data.load",
                object_type="reference_data",
                object_id="motcua.data",
                unit_id=None,
                data={k: int(str(v)) for k, v in changed.items()},
            )
    return report


def ensure_demo_accounts(db: Database, *, now: datetime, password: str = DEMO_PASSWORD) -> int:
    created = 0
    with db.transaction() as conn:
        existing = {row.username for row in conn.execute(select(users.c.username))}
        for account in DEMO_ACCOUNTS:
            if account.username in existing:
                continue
            user_id = (
                applicant_user_id(personal_id=account.personal_id, tax_code=account.tax_code)
                if account.personal_id or account.tax_code
                else account.username
            )
            create_user(
                conn,
                user_id=user_id,
                username=account.username,
                password=password,
                kind=account.kind,
                full_name=account.full_name,
                now=now,
                unit_id=account.unit_id,
                roles=frozenset(account.roles),
                personal_id=account.personal_id,
                tax_code=account.tax_code,
            )
            created += 1
    return created
