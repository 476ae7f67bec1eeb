"""The pages' foundation without a browser: messages, macros, sessions, guards, errors, headers, the secret key.
HTTP tests use the real app in-process (`web_client`) over the seeded database, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Router, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.testing import RequestFactory, TestClient

from motcua.domain.calendar import Timeliness
from motcua.domain.clock import VN_TZ, FixedClock
from motcua.domain.errors import NotFound
from motcua.domain.lifecycle import STATUS_LABELS_VI, Status
from motcua.domain.workflow import Role
from motcua.services.seed import DEMO_PASSWORD
from motcua.store.db import Database
from motcua.web import app_config, i18n, officer_required, roles_required
from motcua.web.auth import PAGE_DEPENDENCIES, PageSessionMiddleware, safe_next
from motcua.web.format import format_date, format_datetime, sla_band_of
from tests.web.conftest import make_app

WEB = Path(app_config.__file__).resolve().parent
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)


# ---------------------------------------------------------------- messages


def test_every_message_exists_in_both_languages_as_clean_text() -> None:
    vi, en = i18n.catalog("vi"), i18n.catalog("en")
    assert sorted(set(vi) - set(en)) == []
    assert sorted(set(en) - set(vi)) == []
    for lang, messages in (("vi", vi), ("en", en)):
        for key, text in messages.items():
            assert text.strip() == text and text, f"{lang}:{key} is empty or padded"
            assert "{" not in text or re.fullmatch(r"[^{}]*(\{[a-z_]+\}[^{}]*)*", text), f"{lang}:{key}"


def test_vietnamese_labels_match_the_domain() -> None:
    vi = i18n.catalog("vi")
    assert {int(s): vi[f"status.{int(s)}"] for s in Status} == {int(s): STATUS_LABELS_VI[s] for s in Status}
    assert {r.value: vi[f"role.{r.value}"] for r in Role} == {r.value: r.label_vi for r in Role}
    assert vi["sla.within_time"] == Timeliness.WITHIN_TIME.label_vi
    assert vi["sla.overdue"] == Timeliness.OVERDUE.label_vi
    assert vi["site.name"] == "Cổng dịch vụ công — Thành phố Hồ Chí Minh"


_KEY = r"(?:site|nav|lang|auth|account|kind|role|home|form|flash|error|status|sla|pagination)\.[a-z0-9_]+"


def test_every_message_key_written_in_templates_and_code_exists() -> None:
    """A typo in `t("…")` would show the raw key: every literal key in the web package must be in the catalog."""
    used: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        used |= set(re.findall(rf"""["']({_KEY})["']""", path.read_text(encoding="utf-8")))
    used = {key for key in used if not key.endswith(".html")}  # template names look alike
    assert len(used) > 60
    assert sorted(key for key in used if not i18n.has_key(key)) == []


def test_translate_fills_parameters_and_falls_back_to_vietnamese() -> None:
    assert i18n.translate("vi", "auth.throttled", minutes=15) == (
        "Bạn đã nhập sai quá nhiều lần. Hãy thử lại sau 15 phút."
    )
    assert (
        i18n.translate("en", "auth.throttled", minutes=3)
        == "Too many failed attempts. Try again in 3 minutes."
    )
    assert i18n.translate("fr", "auth.login") == "Đăng nhập"
    assert i18n.translate("en", "no.such_key") == "no.such_key"
    assert i18n.pick_language("de", None, "en") == "en"
    assert i18n.pick_language(None, "xx") == "vi"


# ---------------------------------------------------------------- formatting and macros


def test_dates_are_shown_in_vietnam_time() -> None:
    assert format_datetime("2026-03-01T17:30:00+00:00") == "02/03/2026 00:30"
    assert format_datetime(datetime(2026, 12, 31, 23, 59, tzinfo=VN_TZ)) == "31/12/2026 23:59"
    assert format_date("2026-03-01T17:30:00+00:00") == "02/03/2026"
    assert format_datetime(None) == "" and format_date("") == ""


@pytest.mark.parametrize(
    ("due", "band"),
    [
        ("2026-03-02T08:59:00+07:00", "overdue"),
        ("2026-03-02T09:00:00+07:00", "due_today"),
        ("2026-03-02T16:59:59+00:00", "due_today"),  # 23:59:59 in Ho Chi Minh City
        ("2026-03-02T17:00:00+00:00", "within_time"),  # 00:00 on the 3rd there
        ("2026-03-10T17:00:00+07:00", "within_time"),
        (None, None),
    ],
)
def test_sla_band(due: str | None, band: str | None) -> None:
    assert sla_band_of(due, NOW) == band


def _render(source: str, lang: str = "vi", **context: Any) -> str:
    env = app_config.jinja_environment()
    template = env.from_string('{% import "_macros.html" as ui with context %}' + source)
    request = RequestFactory().get("/ho-so-cua-toi", query_params={"status": "4", "offset": "20"})
    return template.render(lang=lang, now=NOW, request=request, **context)


def test_status_badges_name_all_ten_national_statuses() -> None:
    html = _render("{% for s in range(1, 11) %}{{ ui.status_badge(s) }}{% endfor %}")
    for status in Status:
        assert f'<span class="badge badge--s{int(status)}">{STATUS_LABELS_VI[status]}</span>' in html
    english = _render('{{ ui.status_badge({"code": 10}) }}', lang="en")
    assert english == '<span class="badge badge--s10">Result returned</span>'


def test_sla_band_macro_shows_band_and_due_time() -> None:
    html = _render("{{ ui.sla_band(due, show_due=True) }}", due="2026-03-02T10:00:00+00:00")
    assert 'class="sla sla--due_today"' in html and "Đến hạn hôm nay" in html
    assert '<time datetime="2026-03-02T17:00+07:00">02/03/2026 17:00</time>' in html
    assert "Quá hạn" in _render("{{ ui.sla_band(due) }}", due=datetime(2026, 3, 1, 17, 0, tzinfo=VN_TZ))
    assert _render("{{ ui.sla_band(None) }}").strip() == ""


def test_field_macro_links_label_hint_and_error_and_escapes_values() -> None:
    html = _render(
        '{{ ui.field("full_name", "Họ và tên", value=v, hint="Như trên CCCD", error="Nhập họ và tên.") }}',
        v='"><script>alert(1)</script>',
    )
    assert '<label class="field__label" for="f-full_name">Họ và tên</label>' in html
    assert 'aria-describedby="f-full_name-hint f-full_name-error"' in html
    assert 'aria-invalid="true"' in html and "required" in html
    assert '<p class="field__error" id="f-full_name-error">Nhập họ và tên.</p>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    optional = _render('{{ ui.field("email", "Thư điện tử", type="email", required=False) }}')
    assert "(không bắt buộc)" in optional and "required" not in optional
    select = _render(
        '{{ ui.field("k", "Kênh", type="select", value="desk", options=choices) }}',
        choices=[("online", "Trực tuyến"), ("desk", "Trực tiếp")],
    )
    assert '<option value="desk" selected>Trực tiếp</option>' in select


def test_pagination_keeps_the_query_and_moves_the_offset() -> None:
    html = _render("{{ ui.pagination(45, 20, 20) }}")
    assert "Hiển thị 21–40 trên tổng số 45" in html
    links = {rel: urlsplit(unescape(href)) for rel, href in re.findall(r'rel="(\w+)" href="([^"]+)"', html)}
    assert {rel: (url.path, parse_qs(url.query)) for rel, url in links.items()} == {
        "prev": ("/ho-so-cua-toi", {"status": ["4"], "offset": ["0"]}),
        "next": ("/ho-so-cua-toi", {"status": ["4"], "offset": ["40"]}),
    }
    assert "Không có kết quả." in _render("{{ ui.pagination(0, 20, 0) }}")


def _contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_badge_band_and_text_colours_meet_wcag_aa_contrast() -> None:
    css = (WEB / "static" / "app.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [(f"s{n}-fg", f"s{n}-bg") for n in range(1, 11)]
    pairs += [(f"sla-{band}-fg", f"sla-{band}-bg") for band in ("within_time", "due_today", "overdue")]
    pairs += [(name, "paper") for name in ("ink", "muted", "link", "danger", "success", "brand")]
    pairs += [(name, "wash") for name in ("ink", "muted", "link")]
    pairs += [("brand-ink", "brand"), ("brand-ink", "brand-dark"), ("focus-ink", "focus")]
    assert len(pairs) == 25
    for fg, bg in pairs:
        assert _contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg)


# ---------------------------------------------------------------- secret key and redirects


def test_secret_key_is_generated_once_privately(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOTCUA_SECRET_KEY", raising=False)
    first = app_config.secret_key()
    path = tmp_path / "var" / "secret.key"
    assert len(first) == 64 and path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert app_config.secret_key() == first
    monkeypatch.setenv("MOTCUA_SECRET_KEY", "k" * 40)
    assert app_config.secret_key() == "k" * 40
    monkeypatch.setenv("MOTCUA_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        app_config.secret_key()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/tai-khoan", "/tai-khoan"),
        ("/ho-so-cua-toi?status=4", "/ho-so-cua-toi?status=4"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("/dang-nhap?next=/x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_only_local_pages_are_followed_after_login(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


# ---------------------------------------------------------------- HTTP


def csrf_token(client: TestClient[Any], path: str = "/dang-nhap") -> str:
    """Open a page (which sets the CSRF cookie) and return the token forms carry."""
    client.get(path)
    token = client.cookies.get("motcua_csrf")
    assert token
    return token


def web_login(client: TestClient[Any], username: str, password: str = DEMO_PASSWORD, **extra: str) -> Any:
    form = {"username": username, "password": password, "_csrf_token": csrf_token(client), **extra}
    return client.post("/dang-nhap", data=form, follow_redirects=False)


def test_pages_send_security_headers_and_the_api_is_unchanged(web_client: TestClient[Any]) -> None:
    page = web_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text  # the CSP allows no inline code

    web_client.cookies.clear()
    api = web_client.get("/api/v1/units", params={"kind": "thanh_pho"})
    assert api.status_code == 200 and api.headers["content-type"] == "application/json"
    assert "set-cookie" not in api.headers and "content-security-policy" not in api.headers
    token = web_client.post("/api/v1/auth/token", json={"username": "congdan", "password": DEMO_PASSWORD})
    assert token.status_code == 200  # no CSRF on the API
    unauthenticated = web_client.get("/api/v1/dossiers")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "auth.required"
    assert web_client.get("/api/v1/khong-co").json()["error"]["code"] == "route.not_found"


def test_static_files_are_cached_and_a_missing_one_is_an_html_404(web_client: TestClient[Any]) -> None:
    css = web_client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "max-age=604800" in css.headers["cache-control"]
    assert "set-cookie" not in css.headers
    missing = web_client.get("/static/khong-co.css")
    assert missing.status_code == 404 and "Không tìm thấy trang" in missing.text


def test_login_form_reports_empty_fields_inline(web_client: TestClient[Any]) -> None:
    response = web_login(web_client, "", "")
    assert response.status_code == 422
    assert '<p class="field__error" id="f-username-error">Nhập tên đăng nhập.</p>' in response.text
    assert '<p class="field__error" id="f-password-error">Nhập mật khẩu.</p>' in response.text
    assert '<a href="#f-username">Nhập tên đăng nhập.</a>' in response.text
    assert "motcua_session" not in response.headers.get("set-cookie", "")


def test_login_goes_back_only_to_local_pages(web_client: TestClient[Any]) -> None:
    response = web_login(web_client, "congdan", next="https://evil.example/")
    assert response.status_code == 303 and response.headers["location"] == "/"
    web_client.cookies.clear()
    response = web_login(web_client, "congdan", next="/tai-khoan")
    assert response.headers["location"] == "/tai-khoan"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("motcua_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie


def test_secure_cookies_when_configured(web_client: TestClient[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_SECURE_COOKIES", "1")
    response = web_login(web_client, "congdan")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("motcua_session="))
    assert "Secure" in cookie


def test_repeated_failed_logins_are_throttled(web_client: TestClient[Any], clock: FixedClock) -> None:
    for _ in range(5):
        assert web_login(web_client, "congdan", "sai-mat-khau").status_code == 422
    refused = web_login(web_client, "congdan")  # even the right password, for a while
    assert refused.status_code == 429
    assert "Bạn đã nhập sai quá nhiều lần. Hãy thử lại sau 15 phút." in refused.text
    assert web_login(web_client, "congdan2").status_code == 303  # another account is not affected
    clock.advance(timedelta(minutes=15))
    assert web_login(web_client, "congdan").status_code == 303


def test_an_expired_session_is_logged_out(web_client: TestClient[Any], clock: FixedClock) -> None:
    web_login(web_client, "congdan")
    assert web_client.get("/tai-khoan").status_code == 200
    clock.advance(timedelta(hours=12))
    response = web_client.get("/tai-khoan", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dang-nhap?next=/tai-khoan"
    assert any(c.startswith('motcua_session=""') for c in response.headers.get_list("set-cookie"))


# ---------------------------------------------------------------- errors and guards in page handlers


@get("/khong-thay", sync_to_thread=False)
def _missing_dossier() -> str:
    raise NotFound("dossier.not_found", "Không tìm thấy hồ sơ 000.00.00.H29-260302-0001.")


@get("/hong", sync_to_thread=False)
def _broken() -> str:
    raise RuntimeError("secret internal detail")


@get("/can-bo", guards=[officer_required], sync_to_thread=False)
def _officers_only() -> str:
    return "ok"


@get("/phe-duyet", guards=[roles_required(Role.APPROVER)], sync_to_thread=False)
def _approvers_only() -> str:
    return "ok"


@dataclass
class _Upload:
    file: UploadFile
    note: str = ""


@post("/tai-len", sync_to_thread=False, status_code=200)
def _upload(data: Annotated[_Upload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> str:
    return f"{data.note}:{len(data.file.file.read())}"


@pytest.fixture
def guarded_client(seeded_db: Database, clock: FixedClock, tmp_path: Path) -> Any:
    """The app with a few test pages, composed like the real areas (session middleware + dependencies)."""
    test_pages = Router(
        path="/thu-nghiem",
        route_handlers=[_missing_dossier, _broken, _officers_only, _approvers_only, _upload],
        middleware=[PageSessionMiddleware],
        dependencies=PAGE_DEPENDENCIES,
    )
    app = make_app(seeded_db, clock, tmp_path / "files", extra_routes=[test_pages])
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client


def test_a_domain_error_in_a_page_shows_its_message_and_no_trace(guarded_client: TestClient[Any]) -> None:
    missing = guarded_client.get("/thu-nghiem/khong-thay")
    assert missing.status_code == 404
    assert "Không tìm thấy hồ sơ 000.00.00.H29-260302-0001." in missing.text
    assert "<code>dossier.not_found</code>" in missing.text
    broken = guarded_client.get("/thu-nghiem/hong?lang=en")
    assert broken.status_code == 500
    assert "<h1>Something went wrong</h1>" in broken.text
    assert "secret internal detail" not in broken.text and "Traceback" not in broken.text


def test_guards_send_visitors_to_login_and_refuse_other_roles(guarded_client: TestClient[Any]) -> None:
    anonymous = guarded_client.get("/thu-nghiem/can-bo", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/dang-nhap?next=/thu-nghiem/can-bo"
    web_login(guarded_client, "congdan")
    citizen = guarded_client.get("/thu-nghiem/can-bo")
    assert citizen.status_code == 403 and "Trang này chỉ dành cho cán bộ, công chức." in citizen.text
    guarded_client.cookies.clear()
    web_login(guarded_client, "sg.tiepnhan")
    assert guarded_client.get("/thu-nghiem/can-bo").text == "ok"
    receiver = guarded_client.get("/thu-nghiem/phe-duyet")
    assert receiver.status_code == 403 and "vai trò" in receiver.text
    guarded_client.cookies.clear()
    web_login(guarded_client, "sg.pheduyet")
    assert guarded_client.get("/thu-nghiem/phe-duyet").text == "ok"


def test_multipart_forms_carry_the_csrf_token_and_keep_their_files(guarded_client: TestClient[Any]) -> None:
    files = {"file": ("giay-to.pdf", b"%PDF-", "application/pdf")}
    refused = guarded_client.post("/thu-nghiem/tai-len", files=files, data={"note": "a"})
    assert refused.status_code == 403
    token = csrf_token(guarded_client)
    accepted = guarded_client.post(
        "/thu-nghiem/tai-len", files=files, data={"note": "a", "_csrf_token": token}
    )
    assert accepted.status_code == 200 and accepted.text == "a:5"


def test_language_choice_is_remembered(web_client: TestClient[Any]) -> None:
    english = web_client.get("/?lang=en")
    assert '<html lang="en">' in english.text and "lang=en" in english.headers["set-cookie"]
    assert '<html lang="en">' in web_client.get("/dang-nhap").text
    assert '<html lang="vi">' in web_client.get("/?lang=vi").text
    assert '<html lang="vi">' in web_client.get("/?lang=xx").text


def test_no_page_source_has_inline_script_or_style() -> None:
    for template in (WEB / "templates").rglob("*.html"):
        source = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), template.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", source), template.name
    assert os.access(WEB / "static" / "app.js", os.R_OK)
