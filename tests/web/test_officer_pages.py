"""The officer workspace without a browser: guards, unit scope, CSRF, queues and their filters, actions and
their refusals, desk reception, the receipt, unit and city administration, and the e-form conversion.
HTTP tests use the real app in-process (`web_client`) over the seeded database, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from sqlalchemy import select

from motcua.domain.clock import VN_TZ as VN
from motcua.domain.errors import Conflict, InvalidInput
from motcua.domain.lifecycle import Action, Actor, ActorKind, Channel
from motcua.services import dossiers as dossier_service
from motcua.services.admin import reapply_online_overrides
from motcua.services.catalog import get_city_procedure, load_city_layer
from motcua.services.runtime import Runtime
from motcua.services.seed import DEMO_PASSWORD
from motcua.services.workflows import workflow_ids
from motcua.store.schema.audit import audit_log
from motcua.store.schema.catalog import city_procedures
from motcua.store.schema.dossiers import dossiers
from motcua.web import app_config, eform, i18n

WEB = Path(app_config.__file__).resolve().parent
BIRTH = "1.001193"  # Đăng ký khai sinh: received and decided by the ward
WARD = "phuong-sai-gon"
CITIZEN = Actor(id="cd-079090001234", kind=ActorKind.CITIZEN, name="Nguyễn Văn An")
PDF = b"%PDF-1.4\n% scanned page\n"
JPEG = b"\xff\xd8\xff\xe0 scanned photo"


# ---------------------------------------------------------------- helpers (the browser tests use them too)


def file_online(rt: Runtime, child: str = "Nguyễn Minh Khang", citizen: Actor = CITIZEN) -> str:
    """A birth registration filed online by a citizen at the ward, through the service; its code."""
    with rt.db.read() as conn:
        schema = get_city_procedure(conn, BIRTH).form_schema
    assert schema is not None
    form = {**schema["examples"][0]}
    form["tre"] = {**form["tre"], "ho_ten": child}
    submission = dossier_service.Submission(BIRTH, WARD, Channel.ONLINE, form)
    return str(dossier_service.submit_dossier(rt, citizen, submission)["code"])


def officer(username: str, rt: Runtime) -> Actor:
    """The demo officer as the engine sees them."""
    from motcua.services.identity import actor_from_row, get_user

    with rt.db.read() as conn:
        row = get_user(conn, username)
    assert row is not None
    return actor_from_row(row)


def status_of(rt: Runtime, code: str) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(dossiers.c.status).where(dossiers.c.code == code)).scalar_one())


def runtime(client: TestClient[Any]) -> Runtime:
    rt: Runtime = client.app.state.runtime
    return rt


def csrf(client: TestClient[Any]) -> str:
    client.get("/dang-nhap")
    token = client.cookies.get("motcua_csrf")
    assert token
    return token


def login(client: TestClient[Any], username: str, password: str = DEMO_PASSWORD) -> str:
    """Log in (a fresh cookie jar) and return the CSRF token for forms."""
    client.cookies.clear()
    token = csrf(client)
    response = client.post(
        "/dang-nhap",
        data={"username": username, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return token


def error_links(html: str) -> dict[str, str]:
    """The error summary: {field id: message}."""
    return {k: unescape(v) for k, v in re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', html)}


def queue_codes(html: str) -> list[str]:
    return re.findall(r'<li class="queue-item[^"]*" data-code="([^"]+)"', html)


def act(client: TestClient[Any], token: str, code: str, action: str, **fields: str) -> Any:
    data = {"_csrf_token": token, "action": action, **fields}
    return client.post(f"/mot-cua/ho-so/{code}/thao-tac", data=data, follow_redirects=False)


# ---------------------------------------------------------------- guards, scope, CSRF


OFFICER_PAGES = (
    "/mot-cua/moi",
    "/mot-cua/cua-toi",
    "/mot-cua/don-vi",
    "/mot-cua/tiep-nhan",
    f"/mot-cua/tiep-nhan/{BIRTH}",
    "/mot-cua/quan-tri/can-bo",
    "/mot-cua/quan-tri/thu-tuc",
)


def test_pages_are_for_officers_with_the_right_role(web_client: TestClient[Any]) -> None:
    for path in OFFICER_PAGES:
        anonymous = web_client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/dang-nhap?next={path}"
    login(web_client, "congdan")
    for path in OFFICER_PAGES:
        assert web_client.get(path).status_code == 403, path
    login(web_client, "sg.tiepnhan")
    for path in OFFICER_PAGES[:5]:
        page = web_client.get(path)
        assert page.status_code == 200 and "<h1>" in page.text, path
    assert web_client.get("/mot-cua/quan-tri/can-bo").status_code == 403
    assert web_client.get("/mot-cua/quan-tri/thu-tuc").status_code == 403
    login(web_client, "sg.xuly")  # a processor neither receives nor files at the desk
    assert web_client.get("/mot-cua/moi").status_code == 403
    assert web_client.get("/mot-cua/tiep-nhan").status_code == 403
    assert web_client.get("/mot-cua/cua-toi").status_code == 200
    login(web_client, "sg.giamsat")  # a monitor sees the unit, has no queue of their own
    assert web_client.get("/mot-cua/don-vi").status_code == 200
    assert web_client.get("/mot-cua/cua-toi").status_code == 403


def test_another_units_officer_gets_a_404_for_the_dossier_its_files_and_actions(
    web_client: TestClient[Any],
) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    token = login(web_client, "stp.tiepnhan")  # the city's Department of Justice, not the ward
    page = web_client.get(f"/mot-cua/ho-so/{code}")
    assert page.status_code == 404 and f"Không tìm thấy hồ sơ {code}." in page.text
    assert "Nguyễn Văn An" not in page.text
    assert web_client.get(f"/mot-cua/ho-so/{code}/bien-nhan").status_code == 404
    assert web_client.get(f"/mot-cua/ho-so/{code}/tep/1").status_code == 404
    assert act(web_client, token, code, "accept").status_code == 404
    assert code not in web_client.get("/mot-cua/don-vi?status=all").text
    assert status_of(rt, code) == 1
    login(web_client, "sg.tiepnhan")
    assert web_client.get(f"/mot-cua/ho-so/{code}").status_code == 200


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    login(web_client, "sg.tiepnhan")
    refused = web_client.post(f"/mot-cua/ho-so/{code}/thao-tac", data={"action": "accept"})
    assert refused.status_code == 403 and "Biểu mẫu đã hết hạn hoặc không hợp lệ" in refused.text
    forged = web_client.post(f"/mot-cua/ho-so/{code}/thao-tac", data={"action": "accept", "_csrf_token": "x"})
    assert forged.status_code == 403
    assert status_of(rt, code) == 1
    login(web_client, "sg.quantri")
    assert web_client.post("/mot-cua/quan-tri/can-bo", data={"username": "sg.moi"}).status_code == 403
    login(web_client, "tp.quantri")
    assert web_client.post(f"/mot-cua/quan-tri/thu-tuc/{BIRTH}", data={"online": "khong"}).status_code == 403


# ---------------------------------------------------------------- queues


def test_new_queue_lists_submissions_oldest_first_and_filters_by_text_and_procedure(
    web_client: TestClient[Any], clock: Any
) -> None:
    rt = runtime(web_client)
    first = file_online(rt, child="Trần Bảo Ngọc")
    clock.advance(timedelta(minutes=5))
    second = file_online(rt, child="Lê Gia Huy")
    login(web_client, "sg.tiepnhan")
    page = web_client.get("/mot-cua/moi")
    assert page.status_code == 200 and "<h1>Hồ sơ mới chờ tiếp nhận</h1>" in page.text
    assert queue_codes(page.text)[:2] == [first, second]
    assert "Chưa tiếp nhận — chưa tính thời hạn" in page.text
    assert queue_codes(web_client.get("/mot-cua/moi?sort=recent").text)[:2] == [second, first]
    assert queue_codes(web_client.get(f"/mot-cua/moi?q={second[-4:]}").text) == [second]
    by_name = web_client.get("/mot-cua/moi", params={"q": "nguyễn văn an"}).text  # the applicant, any case
    assert {first, second} <= set(queue_codes(by_name))
    assert queue_codes(web_client.get("/mot-cua/moi?procedure=1.000894").text) == []
    assert web_client.get("/mot-cua/don-vi?sort=bogus").status_code == 400


def test_sla_bands_and_their_filter_follow_the_clock(web_client: TestClient[Any], clock: Any) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    dossier_service.act(rt, officer("sg.tiepnhan", rt), code, Action.ACCEPT, {})  # due in 1 working day
    login(web_client, "sg.xuly")

    def band_of(sla: str) -> list[str]:
        return queue_codes(web_client.get(f"/mot-cua/don-vi?sla={sla}").text)

    page = web_client.get("/mot-cua/don-vi").text
    item = page[page.index(f'data-code="{code}"') :].split("</li>", 1)[0]
    assert 'class="sla sla--within_time"' in item and 'class="sla sla--due_today"' in item  # legal / step
    assert code in band_of("within_time") and code not in band_of("overdue")
    clock.advance(timedelta(days=1))  # Tuesday 09:00: due now (the 12-hour session has ended)
    login(web_client, "sg.xuly")
    assert code in band_of("due_today")
    clock.advance(timedelta(hours=1))
    assert code in band_of("overdue")
    overdue = web_client.get("/mot-cua/don-vi").text
    assert f'queue-item--overdue" data-code="{code}"' in overdue


# The queue items as the page drew them with the shared macros before their values were prepared in Python
# (`officer.queue_rows`): the reference the page must still equal, byte for byte.
MACRO_QUEUE_ITEMS = """{% if items %}
<ol class="queue-list" aria-label="{{ t('officer.queue.results') }}">
  {% for d in items %}
  <li class="queue-item{% if d.running and sla_band_of(d.due_at) == 'overdue' %} queue-item--overdue{% endif %}" data-code="{{ d.code }}">
    <div class="queue-item__head">
      <h2 class="queue-item__code"><a href="/mot-cua/ho-so/{{ d.code }}">{{ d.code }}</a></h2>
      {{ ui.status_badge(d.status) }}
    </div>
    <p class="queue-item__procedure">{{ d.procedure.name }} <span class="muted">({{ d.procedure.code }})</span></p>
    <dl class="queue-item__facts">
      <div><dt>{{ t("officer.dossier.applicant") }}</dt><dd>{{ d.applicant_name }}</dd></div>
      <div><dt>{{ t("officer.dossier.submitted_at") }}</dt><dd>{{ ui.when(d.submitted_at) }} · {{ t("officer.channel." ~ d.channel) }}</dd></div>
      {{ ofc.deadline_facts(d.status, d.running, d.paused, d.due_at, d.step_due_at) }}
      {% if d.assignee_id %}<div><dt>{{ t("officer.dossier.assignee") }}</dt><dd>{{ d.assignee_name or d.assignee_id }}</dd></div>{% endif %}
    </dl>
  </li>
  {% endfor %}
</ol>
{% endif %}"""
_IMPORTS = (
    '{% import "officer/_officer.html" as ofc with context %}{% import "_macros.html" as ui with context %}'
)


def _items_html(items: list[dict[str, Any]], now: Any, lang: str) -> tuple[str, str]:
    """(the macros' HTML, the page's HTML) of the same queue items, the page's from its own template."""
    from motcua.web.routes.officer import queue_rows

    env = app_config.jinja_environment()
    page = (WEB / "templates" / "officer" / "queue.html").read_text(encoding="utf-8")
    loop = page[page.index("{% if rows %}") : page.index("{{ ofc.queue_pagination")]
    context = {"lang": lang, "now": now}
    macros = env.from_string(_IMPORTS + MACRO_QUEUE_ITEMS).render(context, items=items)
    prepared = env.from_string(_IMPORTS + loop).render(context, rows=queue_rows(items, now, lang))
    return macros.rstrip("\n"), prepared.rstrip("\n")


_INSTANTS = st.one_of(
    st.none(),
    st.just(""),
    st.builds(
        lambda minutes, offset: (NOON + timedelta(minutes=minutes)).astimezone(offset).isoformat(),
        st.integers(-5 * 24 * 60, 5 * 24 * 60),
        st.sampled_from([VN, UTC, timezone(timedelta(hours=-5))]),
    ),
)
NOON = datetime(2026, 3, 3, 12, 0, tzinfo=VN)
_QUEUE_ITEMS = st.fixed_dictionaries(
    {
        "code": st.sampled_from(["068.00.70.H29-260302-0001", "A&B<1>"]),
        "procedure": st.fixed_dictionaries(
            {"code": st.just(BIRTH), "name": st.sampled_from(["Đăng ký khai sinh", 'Tên <có> & "ký tự"'])}
        ),
        "status": st.integers(1, 10),
        "channel": st.sampled_from(["online", "desk", "post", "agent"]),
        "applicant_name": st.sampled_from(["Nguyễn Văn An", "O'Neil & <Co>", None]),
        "submitted_at": _INSTANTS,
        "due_at": _INSTANTS,
        "step_due_at": _INSTANTS,
        "assignee_id": st.sampled_from([None, "", "sg.xuly"]),
        "assignee_name": st.sampled_from(["", "Trần Thị Xử Lý"]),
        "running": st.booleans(),
        "paused": st.booleans(),
    }
)


@given(st.lists(_QUEUE_ITEMS, max_size=4), st.sampled_from(["vi", "en"]), st.integers(-3000, 3000))
def test_queue_items_prepared_in_python_are_the_html_the_macros_draw(
    items: list[dict[str, Any]], lang: str, minutes: int
) -> None:
    """Every branch of the deadline facts (running with or without a step due date, paused, new, closed),
    the SLA bands on both sides of midnight and of the due instant, instants in other offsets, escaping."""
    macros, prepared = _items_html(items, NOON + timedelta(minutes=minutes), lang)
    assert prepared == macros


def test_queue_pages_show_the_items_the_macros_drew(web_client: TestClient[Any], clock: Any) -> None:
    """On the real pages (both languages): the item list is, byte for byte, what the macros drew from the
    same items at the page's moment; new, running (with a step due date), paused and assigned dossiers."""
    from motcua.services import workspace

    rt = runtime(web_client)
    new, running, paused, assigned = (file_online(rt, child=f"Trẻ {i}") for i in range(4))
    receiver, processor = officer("sg.tiepnhan", rt), officer("sg.xuly", rt)
    for code in (running, paused, assigned):
        dossier_service.act(rt, receiver, code, Action.ACCEPT, {})
    dossier_service.act(rt, processor, paused, Action.REQUEST_SUPPLEMENT, {"missing": ["Giấy chứng sinh"]})
    dossier_service.act(rt, processor, assigned, Action.ASSIGN, {"assignee_id": "sg.xuly"})
    clock.advance(timedelta(hours=30))  # the legal due dates pass: overdue items
    login(web_client, "sg.xuly")
    for path, queue in (("/mot-cua/don-vi", "unit"), ("/mot-cua/cua-toi", "mine")):
        for lang in ("vi", "en"):
            html = web_client.get(f"{path}?lang={lang}").text
            shown = html[html.index('<ol class="queue-list"') : html.index("</ol>") + len("</ol>")]
            query = workspace.QueueQuery(
                queue=queue, status="", procedure="", text="", sort="due", sla="", limit=20, offset=0
            )
            items = workspace.officer_queue(rt, processor, query)["items"]
            macros, _ = _items_html(items, clock.now(), lang)
            assert shown == macros.strip("\n")
            codes = queue_codes(html)
            assert running in codes and assigned in codes and (queue == "mine" or paused in codes)
            assert "queue-item--overdue" in shown
        assert new in queue_codes(web_client.get("/mot-cua/don-vi").text)


def test_my_queue_holds_dossiers_at_my_step_unless_assigned_to_someone_else(
    web_client: TestClient[Any],
) -> None:
    rt = runtime(web_client)
    waiting, assigned = file_online(rt), file_online(rt, child="Phạm An Nhiên")
    receiver = officer("sg.tiepnhan", rt)
    for code in (waiting, assigned):
        dossier_service.act(rt, receiver, code, Action.ACCEPT, {})
    dossier_service.act(rt, officer("sg.xuly", rt), assigned, Action.ASSIGN, {"assignee_id": "sg.xuly"})
    login(web_client, "sg.xuly")
    mine = queue_codes(web_client.get("/mot-cua/cua-toi").text)
    assert waiting in mine and assigned in mine
    login(web_client, "sg.pheduyet")  # approvers wait for the processor's forward
    assert waiting not in queue_codes(web_client.get("/mot-cua/cua-toi").text)


def test_a_large_queue_says_more_than_and_still_pages_to_its_end(
    web_client: TestClient[Any], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue's total is counted up to a cap ("hơn 10.000"); the next link stays while more rows exist."""
    from motcua.services import workspace
    from motcua.web.routes import officer as officer_routes

    rt = runtime(web_client)
    codes = []
    for child in ("Trần Bảo Ngọc", "Lê Gia Huy", "Phạm An Nhiên"):
        codes.append(file_online(rt, child=child))
        clock.advance(timedelta(minutes=1))
    monkeypatch.setattr(workspace, "QUEUE_COUNT_CAP", 2)
    monkeypatch.setattr(officer_routes, "PAGE_SIZE", 1)
    login(web_client, "sg.tiepnhan")
    seen = []
    for offset, summary, has_next in (
        (0, "Hiển thị 1–1 trên hơn 1 hồ sơ", True),
        (1, "Hiển thị 2–2 trên hơn 2 hồ sơ", True),  # counted one past this page: there is a next one
        (2, "Hiển thị 3–3 trên tổng số 3", False),  # below the cap: exact
    ):
        page = unescape(web_client.get(f"/mot-cua/moi?offset={offset}").text)
        assert summary in page and ('rel="next"' in page) is has_next
        seen += queue_codes(page)
    assert seen == codes
    monkeypatch.setattr(workspace, "QUEUE_COUNT_CAP", 10_001)
    monkeypatch.setattr(officer_routes, "PAGE_SIZE", 2)
    english = unescape(web_client.get("/mot-cua/moi", params={"lang": "en"}).text)
    assert "Showing 1–2 of 3" in english and 'rel="next"' in english
    result = workspace.officer_queue(
        rt, officer("sg.tiepnhan", rt), workspace.QueueQuery(queue="new", status="1", limit=1)
    )
    assert result["total"] == 3 and result["total_is_capped"] is False
    monkeypatch.setattr(workspace, "QUEUE_COUNT_CAP", 2)
    result = workspace.officer_queue(
        rt, officer("sg.tiepnhan", rt), workspace.QueueQuery(queue="new", status="1", limit=1)
    )
    assert result["total"] == 2 and result["total_is_capped"] is True


def test_unit_queue_filters_pushed_into_each_unit_arm_select_the_same_dossiers(
    web_client: TestClient[Any],
) -> None:
    """`_where` puts the status filter into each arm of a unit's OR (each an index search): same rows as
    the plain `scope AND filters`, for every status choice, the SLA bands and a text search."""
    from sqlalchemy import and_

    from motcua.services import workspace

    rt = runtime(web_client)
    codes = [file_online(rt, child=child) for child in ("Trần Bảo Ngọc", "Lê Gia Huy", "Phạm An Nhiên")]
    receiver = officer("sg.tiepnhan", rt)
    dossier_service.act(rt, receiver, codes[0], Action.ACCEPT, {})
    dossier_service.act(rt, receiver, codes[1], Action.REFUSE_RECEPTION, {"reason": "Thiếu giấy tờ"})
    actor = officer("sg.xuly", rt)
    for status in ("", "all", "1", "2", "3", "10"):
        for extra in ({}, {"sla": "within_time"}, {"text": codes[2][-4:]}):
            query = workspace.QueueQuery(queue="unit", status=status, limit=50, **extra)
            result = workspace.officer_queue(rt, actor, query)
            with rt.db.read() as conn:
                scope = workspace._queue_scope(conn, rt, actor, "unit")
                conditions = workspace._filters(query, rt.clock.now(), rt.db.dialect)
                plain = set(conn.execute(select(dossiers.c.code).where(and_(scope, *conditions))).scalars())
            assert {item["code"] for item in result["items"]} == plain and result["total"] == len(plain)
    assert {item["code"] for item in workspace.officer_queue(rt, actor, workspace.QueueQuery())["items"]} == {
        codes[0],
        codes[2],
    }


def test_a_large_unit_queue_counts_to_the_cap_from_its_first_arm_or_else_the_whole_union(
    web_client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "all" and closed-status queues count up to the cap: from the dossiers received at the unit alone
    when they reach it, else over every arm. Either way the total is min(matching, cap), capped at the cap."""
    from sqlalchemy import and_

    from motcua.services import workspace
    from motcua.store.schema import dossiers as dossier_schema

    # the partial index of the open queues covers exactly the open statuses
    assert dossier_schema.OPEN_QUEUE_STATUSES == workspace.OPEN_STATUSES
    rt = runtime(web_client)
    codes = [file_online(rt, child=child) for child in ("Trần Bảo Ngọc", "Lê Gia Huy", "Phạm An Nhiên")]
    receiver = officer("sg.tiepnhan", rt)
    dossier_service.act(rt, receiver, codes[0], Action.REFUSE_RECEPTION, {"reason": "Thiếu giấy tờ"})
    actor = officer("sg.xuly", rt)
    for status, extra in (("all", {}), ("3", {}), ("all", {"procedure": "1.001193"})):
        query = workspace.QueueQuery(queue="unit", status=status, limit=1, **extra)
        with rt.db.read() as conn:
            scope = workspace._queue_scope(conn, rt, actor, "unit")
            conditions = workspace._filters(query, rt.clock.now(), rt.db.dialect)
            matching = len(conn.execute(select(dossiers.c.id).where(and_(scope, *conditions))).all())
        assert matching == (3 if status == "all" and not extra else 1 if status == "3" else matching)
        for cap in range(2, matching + 3):
            monkeypatch.setattr(workspace, "QUEUE_COUNT_CAP", cap)
            result = workspace.officer_queue(rt, actor, query)
            assert (result["total"], result["total_is_capped"]) == (min(matching, cap), matching >= cap)
            assert len(result["items"]) == min(matching, 1)


def test_capped_summary_numbers_use_each_languages_thousands_separator(
    web_client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from motcua.services import workspace

    def big_queue(*_: Any) -> dict[str, Any]:
        return {"items": [], "total": 10_001, "total_is_capped": True, "procedures": []}

    monkeypatch.setattr(workspace, "officer_queue", big_queue)
    login(web_client, "sg.xuly")
    vi = unescape(web_client.get("/mot-cua/don-vi?status=all").text)
    assert "Hiển thị 1–20 trên hơn 10.000 hồ sơ" in vi and 'rel="next"' in vi
    en = unescape(web_client.get("/mot-cua/don-vi", params={"status": "all", "lang": "en"}).text)
    assert "Showing 1–20 of more than 10,000 dossiers" in en


# ---------------------------------------------------------------- the dossier page and its actions


def test_dossier_page_shows_exactly_the_actions_of_the_officer(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    login(web_client, "sg.tiepnhan")
    page = web_client.get(f"/mot-cua/ho-so/{code}").text
    assert re.findall(r'data-action="([a-z_]+)"', page) == [
        "accept",
        "request_supplement",
        "refuse_reception",
    ]
    assert "Nguyễn Văn An" in page and "079090012345" in page  # applicant, form data
    assert "Tờ khai đăng ký khai sinh" in page and "Họ, chữ đệm, tên" in page and "30/10/2026" in page
    login(web_client, "sg.xuly")
    assert re.findall(r'data-action="([a-z_]+)"', web_client.get(f"/mot-cua/ho-so/{code}").text) == []
    assert "Bạn không có thao tác nào" in web_client.get(f"/mot-cua/ho-so/{code}").text


def test_actions_redirect_with_a_message_and_refusals_stay_on_the_form(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    token = login(web_client, "sg.tiepnhan")
    empty = act(web_client, token, code, "request_supplement", missing="  \n ", reason="")
    assert empty.status_code == 422
    assert error_links(empty.text) == {
        "f-request_supplement-missing": "Cần liệt kê rõ các giấy tờ, nội dung phải bổ sung."
    }
    assert 'aria-invalid="true"' in empty.text
    stale = act(web_client, token, code, "accept", version="99")
    assert stale.status_code == 409 and "Hồ sơ vừa được cập nhật" in stale.text
    assert status_of(rt, code) == 1
    done = act(
        web_client,
        token,
        code,
        "request_supplement",
        version="1",
        missing="Giấy chứng sinh (bản chính)\n- Văn bản ủy quyền",
        reason="Thiếu giấy tờ",
    )
    assert done.status_code == 303 and done.headers["location"] == f"/mot-cua/ho-so/{code}"
    page = web_client.get(done.headers["location"]).text
    assert "Đã gửi yêu cầu bổ sung hồ sơ." in page
    assert "<li>Giấy chứng sinh (bản chính)</li>" in page and "<li>Văn bản ủy quyền</li>" in page
    assert status_of(rt, code) == 5
    again = act(web_client, token, code, "accept")
    assert again.status_code == 409 and "Không thể «Tiếp nhận hồ sơ»" in again.text
    assert act(web_client, token, code, "withdraw").status_code == 400


def test_apology_needs_a_later_date_and_the_fee_a_whole_amount(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    dossier_service.act(rt, officer("sg.tiepnhan", rt), code, Action.ACCEPT, {})
    token = login(web_client, "sg.xuly")
    fee = act(web_client, token, code, "request_fee", amount_vnd="năm mươi")
    assert fee.status_code == 422 and "f-request_fee-amount_vnd" in error_links(fee.text)
    early = act(web_client, token, code, "apologise", reason="Cần xác minh thêm", new_due_date="2026-03-02")
    assert error_links(early.text) == {
        "f-apologise-new_due_date": "Ngày hẹn mới phải muộn hơn hạn hiện tại và thời điểm xin lỗi."
    }
    later = act(
        web_client,
        token,
        code,
        "apologise",
        reason="Cần xác minh thêm",
        new_due_date="2026-03-10",
        new_due_time="10:30",
    )
    assert later.status_code == 303
    page = web_client.get(f"/mot-cua/ho-so/{code}").text
    assert '<time datetime="2026-03-10T10:30+07:00">10/03/2026 10:30</time>' in page
    paid = act(web_client, token, code, "request_fee", amount_vnd="1.500.000")
    assert paid.status_code == 303
    assert "1.500.000 đồng" in web_client.get(f"/mot-cua/ho-so/{code}").text


def test_files_download_and_upload_within_the_dossier(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    code = file_online(rt)
    token = login(web_client, "sg.tiepnhan")
    bad = web_client.post(
        f"/mot-cua/ho-so/{code}/tep",
        data={"_csrf_token": token, "label": "Giấy chứng sinh", "kind": "upload"},
        files={"file": ("anh.gif", b"GIF89a", "image/gif")},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and "Chỉ nhận tệp PDF, JPEG hoặc PNG." in bad.text
    good = web_client.post(
        f"/mot-cua/ho-so/{code}/tep",
        data={"_csrf_token": token, "label": "Giấy chứng sinh", "kind": "upload"},
        files={"file": ("giấy chứng sinh.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    page = web_client.get(f"/mot-cua/ho-so/{code}").text
    file_id = re.search(rf'href="/mot-cua/ho-so/{re.escape(code)}/tep/(\d+)">Giấy chứng sinh</a>', page)
    assert file_id is not None
    download = web_client.get(f"/mot-cua/ho-so/{code}/tep/{file_id.group(1)}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert (
        "filename*=UTF-8''gi%E1%BA%A5y%20ch%E1%BB%A9ng%20sinh.pdf" in download.headers["content-disposition"]
    )


# ---------------------------------------------------------------- desk reception


def desk_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "_csrf_token": token,
        "applicant_name": "Lê Thị Mai",
        "applicant_personal_id": "079190012345",
        "applicant_phone": "0903123456",
        "f.nguoi_yeu_cau.ho_ten": "Lê Thị Mai",
        "f.nguoi_yeu_cau.so_dinh_danh": "079190012345",
        "f.nguoi_yeu_cau.quan_he": "Mẹ",
        "f.nguoi_yeu_cau.so_dien_thoai": "0903123456",
        "f.tre.ho_ten": "Lê Minh An",
        "f.tre.gioi_tinh": "Nam",
        "f.tre.ngay_sinh": "2026-02-20",
        "f.tre.noi_sinh": "Bệnh viện Từ Dũ, Thành phố Hồ Chí Minh",
        "f.tre.dan_toc": "Kinh",
        "f.tre.quoc_tich": "Việt Nam",
        "f.so_ban_sao": "2",
    }
    form.update(changes)
    return form


def test_desk_reception_reports_every_problem_inline_and_stores_nothing(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    token = login(web_client, "sg.tiepnhan")
    choose = web_client.get("/mot-cua/tiep-nhan").text
    assert f'href="/mot-cua/tiep-nhan/{BIRTH}"' in choose and "Đăng ký khai sinh" in choose
    assert "3.000333" not in choose  # the criminal-record extract is received at the city's centre
    assert web_client.get("/mot-cua/tiep-nhan/3.000333").status_code == 404
    form = web_client.get(f"/mot-cua/tiep-nhan/{BIRTH}").text
    assert 'name="f.tre.ho_ten"' in form and 'id="f-tre-ho_ten"' in form and 'type="date"' in form
    assert '<option value="Nữ">Nữ</option>' in form and 'enctype="multipart/form-data"' in form
    bad = web_client.post(
        f"/mot-cua/tiep-nhan/{BIRTH}",
        data=desk_form(
            token, applicant_personal_id="07919001234", **{"f.tre.ngay_sinh": "", "f.so_ban_sao": "hai"}
        ),
        files=[("doc_1", ("chung-sinh.gif", b"GIF89a", "image/gif"))],
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert error_links(bad.text) == {
        "f-applicant_personal_id": "Số định danh cá nhân phải có đúng 12 chữ số (đã nhập 11 chữ số).",
        "f-so_ban_sao": "Số bản sao Giấy khai sinh đề nghị cấp phải là số nguyên.",
        "f-tre-ngay_sinh": "Ngày, tháng, năm sinh là thông tin bắt buộc.",
        "f-doc_1": "chung-sinh.gif: Chỉ nhận tệp PDF, JPEG hoặc PNG.",
    }
    assert 'value="Lê Minh An"' in bad.text and 'value="hai"' in bad.text  # what was typed stays
    with rt.db.read() as conn:
        assert conn.execute(select(dossiers.c.id)).first() is None


def test_desk_reception_files_accepts_and_shows_a_print_ready_receipt(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    token = login(web_client, "sg.tiepnhan")
    filed = web_client.post(
        f"/mot-cua/tiep-nhan/{BIRTH}",
        data=desk_form(token),
        files=[
            ("doc_0", ("to-khai.pdf", PDF, "application/pdf")),
            ("doc_1", ("chung-sinh.jpg", JPEG, "image/jpeg")),
        ],
        follow_redirects=False,
    )
    assert filed.status_code == 303
    match = re.fullmatch(r"/mot-cua/ho-so/(.+)/bien-nhan", filed.headers["location"])
    assert match is not None
    code = match.group(1)
    assert status_of(rt, code) == 2
    receipt = web_client.get(filed.headers["location"]).text
    assert "Đã tiếp nhận hồ sơ. Hãy in giấy tiếp nhận" in receipt
    assert "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in receipt and code in receipt
    assert "Lê Thị Mai" in receipt and "079190012345" in receipt and "Phạm Thị Dung" in receipt
    assert '<time datetime="2026-03-03T09:00+07:00">03/03/2026 09:00</time>' in receipt  # 1 working day
    assert "Giấy chứng sinh; nếu không có" in receipt and "(chung-sinh.jpg)" in receipt
    assert "data-print hidden" in receipt  # the print button appears with JavaScript only
    view = dossier_service.get_dossier(rt, officer("sg.tiepnhan", rt), code)
    assert view["channel"]["code"] == "desk" and view["applicant"]["id"] == "cd-079190012345"
    assert [f["label"][:12] for f in view["files"]] == ["Tờ khai đăng", "Giấy chứng s"]
    assert view["form_data"]["so_ban_sao"] == 2


# ---------------------------------------------------------------- administration


def test_unit_admin_adds_an_officer_changes_roles_and_locks_the_account(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    token = login(web_client, "sg.quantri")
    page = web_client.get("/mot-cua/quan-tri/can-bo").text
    assert "Phạm Thị Dung" in page and "Phường Sài Gòn" in page and "Đỗ Thị Lan" not in page  # own unit only
    bad = web_client.post(
        "/mot-cua/quan-tri/can-bo",
        data={
            "_csrf_token": token,
            "username": "Sai Tên",
            "full_name": "Võ Văn Mới",
            "password": "motcua-2026",
        },
    )
    assert bad.status_code == 422 and "f-username" in error_links(bad.text)
    added = web_client.post(
        "/mot-cua/quan-tri/can-bo",
        data={
            "_csrf_token": token,
            "username": "sg.tiepnhan2",
            "full_name": "Võ Văn Mới",
            "password": "motcua-2026",
            "roles": "receiver",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert "Đã thêm cán bộ." in web_client.get("/mot-cua/quan-tri/can-bo").text
    roles = web_client.post(
        "/mot-cua/quan-tri/can-bo/sg.tiepnhan2/vai-tro",
        data={"_csrf_token": token, "roles": ["receiver", "returner"]},
        follow_redirects=False,
    )
    assert roles.status_code == 303
    assert officer("sg.tiepnhan2", rt).roles == {"receiver", "returner"}
    login(web_client, "sg.tiepnhan2", "motcua-2026")
    assert web_client.get("/mot-cua/moi").status_code == 200
    token = login(web_client, "sg.quantri")
    locked = web_client.post(
        "/mot-cua/quan-tri/can-bo/sg.tiepnhan2/trang-thai", data={"_csrf_token": token, "active": "0"}
    )
    assert locked.status_code == 200 and "Đã khóa tài khoản." in locked.text
    self_lock = web_client.post(
        "/mot-cua/quan-tri/can-bo/sg.quantri/trang-thai", data={"_csrf_token": token, "active": "0"}
    )
    assert self_lock.status_code == 422 and "Bạn không thể tự khóa tài khoản của mình." in self_lock.text
    other_unit = web_client.post(
        "/mot-cua/quan-tri/can-bo/stp.xuly/trang-thai", data={"_csrf_token": token, "active": "0"}
    )
    assert other_unit.status_code == 404
    web_client.cookies.clear()
    refused = web_client.post(
        "/dang-nhap",
        data={"username": "sg.tiepnhan2", "password": "motcua-2026", "_csrf_token": csrf(web_client)},
    )
    assert refused.status_code == 422
    with rt.db.read() as conn:
        actions = [
            row.action
            for row in conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.object_id == "sg.tiepnhan2")
                .order_by(audit_log.c.id)
            )
        ]
    assert actions == ["account.officer_created", "account.roles_changed", "account.deactivated"]


def test_city_admin_takes_a_procedure_offline_as_a_new_version(web_client: TestClient[Any]) -> None:
    rt = runtime(web_client)
    token = login(web_client, "tp.quantri")
    page = web_client.get("/mot-cua/quan-tri/thu-tuc").text
    assert "Đăng ký khai sinh" in page and "Trực tuyến toàn trình" in page
    assert (
        f'id="tt-{BIRTH.replace(".", "-")}"'
        not in web_client.get("/mot-cua/quan-tri/thu-tuc?online=khong").text
    )
    assert "1.003583" in web_client.get("/mot-cua/quan-tri/thu-tuc?online=khong&q=khai sinh").text
    changed = web_client.post(
        f"/mot-cua/quan-tri/thu-tuc/{BIRTH}", data={"_csrf_token": token, "online": "khong"}
    )
    assert changed.status_code == 200 and "Đã thay đổi mức độ trực tuyến" in changed.text
    with rt.db.read() as conn:
        versions = conn.execute(
            select(city_procedures.c.version, city_procedures.c.online, city_procedures.c.is_current)
            .where(city_procedures.c.code == BIRTH)
            .order_by(city_procedures.c.version)
        ).all()
        current = get_city_procedure(conn, BIRTH, on=rt.clock.now().date())
        audited = conn.execute(
            select(audit_log.c.data).where(audit_log.c.action == "catalog.online_level_changed")
        ).scalar_one()
    assert [(v.online, v.is_current) for v in versions] == [("toan_trinh", False), ("khong", True)]
    assert current.online.value == "khong" and "truc_tuyen" not in [c.value for c in current.channels]
    assert audited == {"from": "toan_trinh", "to": "khong", "version": 2}
    with pytest.raises(InvalidInput) as refused:
        file_online(rt)
    assert refused.value.code == "dossier.not_online"
    # `motcua db setup` reloads the layer from its file; the decision is applied again afterwards
    with rt.db.transaction() as conn:
        load_city_layer(conn, workflow_ids=workflow_ids(), now=rt.clock.now())
        assert get_city_procedure(conn, BIRTH).online.value == "toan_trinh"
        assert reapply_online_overrides(conn, now=rt.clock.now()) == 1
        assert get_city_procedure(conn, BIRTH).online.value == "khong"
        assert reapply_online_overrides(conn, now=rt.clock.now()) == 0
    again = web_client.post(
        f"/mot-cua/quan-tri/thu-tuc/{BIRTH}", data={"_csrf_token": token, "online": "khong"}
    )
    assert "Mức độ trực tuyến không thay đổi." in again.text
    assert (
        web_client.post(
            f"/mot-cua/quan-tri/thu-tuc/{BIRTH}", data={"_csrf_token": token, "online": "x"}
        ).status_code
        == 400
    )


# ---------------------------------------------------------------- messages and the e-form


def test_every_officer_message_key_in_templates_and_code_exists_in_both_languages() -> None:
    sources = [
        *(WEB / "templates" / "officer").glob("*.html"),
        *(WEB / "routes").glob("*.py"),
        WEB / "eform.py",
    ]
    used: set[str] = set()
    for path in sources:
        used |= set(
            re.findall(r"""["'](officer\.[a-z_]+\.[a-z0-9_]+|officer\.[a-z_]+)["']""", path.read_text())
        )
    used = {key for key in used if not key.endswith("_")}  # prefixes of keys built in templates
    assert len(used) > 100
    vi, en = i18n.catalog("vi"), i18n.catalog("en")
    assert sorted(key for key in used if key not in vi or key not in en) == []
    dynamic = {  # keys built as prefix ~ value in templates
        "officer.action.": [a.value for a in Action if a not in (Action.SUBMIT, Action.WITHDRAW)],
        "officer.event.": [a.value for a in Action],
        "officer.flash.": [a.value for a in Action if a not in (Action.SUBMIT, Action.WITHDRAW)],
        "officer.online.": ["toan_trinh", "mot_phan", "khong"],
        "officer.channel.": [c.value for c in Channel],
    }
    missing = [p + v for p, values in dynamic.items() for v in values if p + v not in vi or p + v not in en]
    assert missing == []


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["chu_ho", "nganh_nghe"],
    "properties": {
        "chu_ho": {
            "title": "Chủ hộ",
            "type": "object",
            "required": ["ho_ten"],
            "properties": {
                "ho_ten": {"title": "Họ tên", "type": "string"},
                "sinh": {"type": "string", "format": "date"},
            },
        },
        "von_vnd": {"title": "Vốn", "type": "integer"},
        "dong_y": {"title": "Cam đoan", "type": "boolean", "const": True},
        "nganh_nghe": {
            "title": "Ngành nghề",
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["ma"],
                "properties": {
                    "ma": {"title": "Mã ngành", "type": "string"},
                    "ten": {"title": "Tên", "type": "string"},
                },
            },
        },
        "noi_dung": {"title": "Nội dung", "type": "array", "items": {"type": "string", "enum": ["A", "B"]}},
    },
}


def test_eform_reads_the_posted_form_into_the_schemas_json() -> None:
    posted = {
        "f.chu_ho.ho_ten": " Lê Văn Bảy ",
        "f.chu_ho.sinh": "",
        "f.von_vnd": "1.500.000",
        "f.dong_y": "true",
        "f.nganh_nghe.0.ma": "",
        "f.nganh_nghe.0.ten": "",
        "f.nganh_nghe.2.ma": "4711",
        "f.noi_dung": ["A", "B"],
        "_csrf_token": "x",
    }
    parsed = eform.parse_form(SCHEMA, posted)
    assert parsed.errors == {}
    assert parsed.data == {
        "chu_ho": {"ho_ten": "Lê Văn Bảy"},
        "von_vnd": 1500000,
        "dong_y": True,
        "nganh_nghe": [{"ma": "4711"}],
        "noi_dung": ["A", "B"],
    }
    # a problem on the first kept row is shown on the form's third row
    problems = [{"field": "nganh_nghe/0/ten", "message": "Tên là thông tin bắt buộc."}]
    assert eform.problem_errors(problems, parsed) == {"nganh_nghe-2-ten": "Tên là thông tin bắt buộc."}
    empty = eform.parse_form(SCHEMA, {"f.von_vnd": "12a"}, lang="en")
    assert empty.data == {"chu_ho": {}} and empty.errors == {"von_vnd": "Vốn must be a whole number."}


def test_eform_numbers_are_kept_exactly_or_refused() -> None:
    """A number field never turns what was typed into infinity (400 nines and a decimal: no double, and
    infinity is not JSON) or into another whole number (a double has 15–17 digits); too many digits are
    refused with the field's message, never a 500."""
    schema = {
        "type": "object",
        "properties": {
            "dien_tich": {"title": "Diện tích", "type": "number"},
            "so_tien": {"title": "Số tiền", "type": "integer"},
        },
    }
    parsed = eform.parse_form(schema, {"f.dien_tich": "12345678901234567891", "f.so_tien": "1.500.000"})
    assert parsed.errors == {} and parsed.data == {"dien_tich": 12345678901234567891, "so_tien": 1500000}
    assert eform.parse_form(schema, {"f.dien_tich": "12,5"}).data == {"dien_tich": 12.5}
    assert eform.parse_form(schema, {"f.dien_tich": "9" * 400}).data == {"dien_tich": int("9" * 400)}
    for typed in ("9" * 400 + ",5", "9" * 5000):
        refused = eform.parse_form(schema, {"f.dien_tich": typed, "f.so_tien": "9" * 5000})
        assert refused.data == {}
        assert refused.errors == {
            "dien_tich": "Diện tích phải là số.",
            "so_tien": "Số tiền phải là số nguyên.",
        }


def test_eform_draws_controls_and_shows_filed_data_with_titles() -> None:
    nodes = {node.key: node for node in eform.form_nodes(SCHEMA)}
    assert [n.kind for n in nodes.values()] == ["group", "input", "checkbox", "repeat", "choices"]
    assert nodes["chu_ho"].children[1].input_type == "date" and nodes["dong_y"].required
    assert [child.name for child in nodes["nganh_nghe"].rows[2]] == [
        "f.nganh_nghe.2.ma",
        "f.nganh_nghe.2.ten",
    ]
    assert nodes["von_vnd"].inputmode == "numeric" and nodes["von_vnd"].id == "f-von_vnd"
    shown = eform.labelled_data(
        SCHEMA, {"von_vnd": 1500000, "chu_ho": {"sinh": "1990-05-14"}, "dong_y": True, "khac": "x"}
    )
    assert shown == [
        {
            "label": "Chủ hộ",
            "kind": "group",
            "children": [{"label": "sinh", "kind": "text", "text": "14/05/1990"}],
        },
        {"label": "Vốn", "kind": "text", "text": "1.500.000"},
        {"label": "Cam đoan", "kind": "flag", "flag": True},
        {"label": "khac", "kind": "text", "text": "x"},
    ]


def test_a_desk_dossier_that_cannot_be_accepted_is_kept_in_the_new_queue(
    web_client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(web_client)
    token = login(web_client, "sg.tiepnhan")

    def refuse(*_: Any, **__: Any) -> Any:
        raise Conflict(
            "dossier.concurrent_update", "Hồ sơ vừa được người khác cập nhật; hãy tải lại và thử lại."
        )

    monkeypatch.setattr(dossier_service, "act", refuse)
    filed = web_client.post(f"/mot-cua/tiep-nhan/{BIRTH}", data=desk_form(token), follow_redirects=False)
    assert filed.status_code == 303 and filed.headers["location"].endswith("/bien-nhan")
    code = filed.headers["location"].split("/")[3]
    assert status_of(rt, code) == 1  # filed once, waiting to be accepted
    receipt = web_client.get(filed.headers["location"]).text
    assert "Hồ sơ đã được lưu nhưng chưa tiếp nhận được" in receipt
    assert "Hồ sơ đã được nộp nhưng chưa được tiếp nhận" in receipt
    monkeypatch.undo()
    assert code in queue_codes(web_client.get("/mot-cua/moi").text)
