"""Administration pages of the officer workspace: the unit's officers (unit admin) and which procedures the
city offers online at which level (city admin). Every change goes through `motcua.services.admin` (audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from motcua.domain.catalog import OnlineLevel
from motcua.domain.errors import Conflict, Forbidden, InvalidInput
from motcua.domain.workflow import Role
from motcua.services import admin as admin_service
from motcua.web.auth import Rt, User, roles_required
from motcua.web.render import redirect, render, translator

Req = Request[Any, Any, Any]
OFFICERS_PATH = "/mot-cua/quan-tri/can-bo"
PROCEDURES_PATH = "/mot-cua/quan-tri/thu-tuc"
ONLINE_LEVELS = tuple(level.value for level in OnlineLevel)


# ---------------------------------------------------------------- the unit's officers


def _officers_page(
    request: Req,
    rt: Rt,
    user: User,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: OfficerForm | None = None,
) -> Template:
    _ = translator(request)
    with rt.db.read() as conn:
        directory = rt.directory(conn, rt.clock.now().date())
    unit_name = directory.get(user.unit_id).name if user.unit_id and user.unit_id in directory else ""
    return render(
        request,
        "officer/admin_officers.html",
        unit_name=unit_name,
        status_code=status_code,
        title=_("officer.admin.officers_title"),
        officers=admin_service.unit_officers(rt, user),
        grantable=[role.value for role in admin_service.GRANTABLE_ROLES],
        errors=errors or {},
        form=form or OfficerForm(),
    )


@get(OFFICERS_PATH, guards=[roles_required(Role.UNIT_ADMIN)], sync_to_thread=True)
def officers(request: Req, rt: Rt, user: User) -> Template:
    """The unit's officers with their roles; add one, change roles, lock or unlock an account."""
    return _officers_page(request, rt, user)


@dataclass
class OfficerForm:
    username: str = ""
    full_name: str = ""
    password: str = ""
    phone: str = ""
    email: str = ""
    roles: list[str] = field(default_factory=list)

    @classmethod
    def posted(cls, data: dict[str, Any]) -> OfficerForm:
        texts = {name: _text(data, name) for name in ("username", "full_name", "phone", "email")}
        password = data.get("password")
        return cls(
            **texts, password=password if isinstance(password, str) else "", roles=_as_list(data.get("roles"))
        )


# Forms with check boxes: read as a dict (one checked box is a text, several a list).
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@dataclass
class ActiveForm:
    active: str = ""


@post(OFFICERS_PATH, guards=[roles_required(Role.UNIT_ADMIN)], sync_to_thread=True, status_code=303)
def add_officer(request: Req, rt: Rt, user: User, data: FormBody) -> Template | Redirect:
    form = OfficerForm.posted(data)
    try:
        admin_service.add_officer(
            rt,
            user,
            username=form.username,
            full_name=form.full_name,
            password=form.password,
            roles=form.roles,
            phone=form.phone,
            email=form.email,
        )
    except (InvalidInput, Conflict, Forbidden) as exc:
        errors = {str(exc.details.get("field") or "_form"): exc.message}  # the field it is about
        form.password = ""
        return _officers_page(request, rt, user, status_code=422, errors=errors, form=form)
    return redirect(OFFICERS_PATH, flash="officer.flash.officer_added")


@post(
    f"{OFFICERS_PATH}/{{user_id:str}}/vai-tro",
    guards=[roles_required(Role.UNIT_ADMIN)],
    sync_to_thread=True,
    status_code=303,
)
def change_roles(request: Req, rt: Rt, user: User, user_id: str, data: FormBody) -> Template | Redirect:
    try:
        admin_service.set_officer_roles(rt, user, user_id, _as_list(data.get("roles")))
    except (InvalidInput, Forbidden) as exc:
        return _officers_page(request, rt, user, status_code=422, errors={"_form": exc.message})
    return redirect(OFFICERS_PATH, flash="officer.flash.roles_changed")


@post(
    f"{OFFICERS_PATH}/{{user_id:str}}/trang-thai",
    guards=[roles_required(Role.UNIT_ADMIN)],
    sync_to_thread=True,
    status_code=303,
)
def change_active(
    request: Req,
    rt: Rt,
    user: User,
    user_id: str,
    data: Annotated[ActiveForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    active = data.active == "1"
    try:
        admin_service.set_officer_active(rt, user, user_id, active)
    except InvalidInput as exc:
        return _officers_page(request, rt, user, status_code=422, errors={"_form": exc.message})
    return redirect(OFFICERS_PATH, flash="officer.flash.activated" if active else "officer.flash.deactivated")


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _as_list(value: Any) -> list[str]:
    """One checked box arrives as a text, several as a list."""
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or [] if v]


# ---------------------------------------------------------------- procedures online (city admin)


@get(PROCEDURES_PATH, guards=[roles_required(Role.CITY_ADMIN)], sync_to_thread=True)
def procedures(
    request: Req, rt: Rt, user: User, q: FromQuery[str] = "", online: FromQuery[str] = ""
) -> Template:
    """The city layer: each procedure's level of government and online level, changeable."""
    _ = translator(request)
    items = admin_service.city_procedures_online(rt, user, q=q.strip()[:100], online=online.strip())
    for item in items:
        year, month, day = item["valid_from"].split("-")
        item["valid_from_text"] = f"{day}/{month}/{year}"
    return render(
        request,
        "officer/admin_procedures.html",
        title=_("officer.admin.procedures_title"),
        items=items,
        levels=ONLINE_LEVELS,
        level_options=[(level, _(f"officer.online.{level}")) for level in ONLINE_LEVELS],
        q=q.strip()[:100],
        online=online.strip(),
    )


@dataclass
class OnlineForm:
    online: str = ""


@post(
    f"{PROCEDURES_PATH}/{{code:str}}",
    guards=[roles_required(Role.CITY_ADMIN)],
    sync_to_thread=True,
    status_code=303,
)
def change_online(
    rt: Rt,
    user: User,
    code: str,
    data: Annotated[OnlineForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    result = admin_service.set_online_level(rt, user, code, data.online)
    flash = "officer.flash.online_changed" if result["changed"] else "officer.flash.online_unchanged"
    return redirect(f"{PROCEDURES_PATH}#tt-{code.replace('.', '-')}", flash=flash, kind="success")


ROUTES = [officers, add_officer, change_roles, change_active, procedures, change_online]
