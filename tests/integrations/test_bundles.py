"""Decree 63/2024 bundles end to end through the API, the worker and the sandbox: one submission, linked
dossiers at the ward and the commune police, requests to Social Insurance, each part tracked, done when all
are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from motcua.domain.identifiers import parse_cccd
from motcua.integrations.gateway import Gateway
from motcua.services.bundles import _PART_PROCEDURES, run_bundle_jobs
from motcua.services.gateway import verify_exchange_log
from motcua.services.runtime import Runtime
from motcua.store.schema.dossiers import dossiers
from motcua.store.schema.integrations import bundles, registry_exchanges
from tests.api.conftest import KHAI_SINH, WARD, DossierApi, assert_error
from tests.api.test_hot_path import statements
from tests.integrations.conftest import CONGDAN, CONGDAN2, MOTHER, Sandbox

WARD_POLICE = "cong-an-phuong-sai-gon"
HOME = "25 Lê Thánh Tôn, phường Sài Gòn, Thành phố Hồ Chí Minh"
KHAI_TU = "1.000656"


def _birth_parts(api: DossierApi) -> dict[str, Any]:
    form = api.example_form(KHAI_SINH)
    form["nguoi_yeu_cau"].update(ho_ten="Nguyễn Văn An", so_dinh_danh=CONGDAN)
    form["tre"].update(ho_ten="Nguyễn Bảo Ngọc", gioi_tinh="Nữ", ngay_sinh="2026-02-25")
    form["cha"].update(ho_ten="Nguyễn Văn An", so_dinh_danh=CONGDAN, ngay_sinh="1990-05-14", noi_cu_tru=HOME)
    form["me"].update(ho_ten="Trần Thị Bình", so_dinh_danh=CONGDAN2, ngay_sinh="1992-08-21", noi_cu_tru=HOME)
    return {
        "khai_sinh": form,
        "thuong_tru": {
            "dia_chi_dang_ky": HOME,
            "chu_ho": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": CONGDAN, "quan_he_voi_chu_ho": "Con"},
        },
        "the_bhyt": {"noi_dang_ky_kcb_ban_dau": "Bệnh viện Nhi Đồng 1"},
    }


def _death_parts(api: DossierApi) -> dict[str, Any]:
    form = api.example_form(KHAI_TU)
    form["nguoi_yeu_cau"].update(ho_ten="Nguyễn Văn An", so_dinh_danh=CONGDAN, quan_he="Con")
    form["nguoi_chet"].update(
        ho_ten="Lê Thị Hồng",
        so_dinh_danh=MOTHER,
        ngay_sinh="1962-09-30",
        gioi_tinh="Nữ",
        ngay_chet="2026-02-20",
        noi_cu_tru_cuoi_cung=HOME,
    )
    return {"khai_tu": form, "mai_tang": {"hinh_thuc_nhan": "Tiền mặt"}}


def _file(api: DossierApi, kind: str, parts: dict[str, Any], *, expect: int = 201) -> dict[str, Any]:
    body = {"kind": kind, "receiving_unit_id": WARD, "parts": parts}
    result: dict[str, Any] = api.call("POST", "/api/v1/bundles", "congdan", json=body, expect=expect)
    return result


def _resolve(api: DossierApi, code: str, receiver: str, processor: str, approver: str) -> None:
    api.act(receiver, code, "accept")
    api.act(processor, code, "forward")
    api.act(approver, code, "approve")
    api.act(processor, code, "issue_result", result={"so_dang_ky": "01/2026"})


def _parts(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {part["key"]: part for part in bundle["parts"]}


def test_birth_registration_residence_and_health_card_in_one_submission(
    gw_api: DossierApi, gw_runtime: Runtime, gateway: Gateway
) -> None:
    bundle = _file(gw_api, "khai-sinh-thuong-tru-bhyt", _birth_parts(gw_api))
    assert bundle["national_code"] == "2.000986" and bundle["status"]["code"] == "open"
    parts = _parts(bundle)
    lead = parts["khai_sinh"]["dossier"]
    assert lead["receiving_unit_id"] == WARD and lead["status"]["code"] == 1
    assert parts["thuong_tru"]["status"]["code"] == "waiting" and parts["thuong_tru"]["dossier"] is None
    assert parts["the_bhyt"]["status"]["code"] == "waiting"
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 0  # nothing to do before the birth is registered

    _resolve(gw_api, lead["code"], "sg.tiepnhan", "sg.xuly", "sg.pheduyet")
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 1
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    residence = parts["thuong_tru"]["dossier"]
    assert residence["receiving_unit_id"] == WARD_POLICE and residence["status"]["code"] == 1
    card = parts["the_bhyt"]
    assert card["status"]["code"] == "done" and card["done"] is True
    assert card["result"]["card_number"].startswith("TE179") and card["result"]["valid_to"] == "2032-01-31"
    filed = gw_api.get("ca.saigon", residence["code"])["form_data"]
    child_id = filed["nguoi_dang_ky"]["so_dinh_danh"]
    info = parse_cccd(child_id, today=gw_api.clock.now().date())
    assert (info.birth_year, info.sex, info.province_code) == (2026, "nữ", "079")
    assert filed["nguoi_dang_ky"]["ho_ten"] == "Nguyễn Bảo Ngọc" and filed["dia_chi_dang_ky"] == HOME
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 0  # done once

    gw_api.act("sg.traketqua", lead["code"], "return_result", method="desk")
    assert (
        gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200)["status"]["code"]
        == "open"
    )
    for action in ("accept", "forward", "approve", "issue_result"):
        gw_api.act("ca.saigon", residence["code"], action)
    gw_api.act("ca.saigon", residence["code"], "return_result", method="online")
    done = gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200)
    assert done["status"]["code"] == "done" and done["done_at"] is not None
    assert all(part["done"] for part in done["parts"])
    assert [b["id"] for b in gw_api.call("GET", "/api/v1/bundles", "congdan", expect=200)["items"]] == [
        bundle["id"]
    ]
    gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan2", expect=404)
    assert (
        gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "ca.saigon", expect=200)["id"] == bundle["id"]
    )

    with gw_api.db.read() as conn:
        services = {
            (row.actor_id, row.registry, row.service, row.dossier_code, row.outcome)
            for row in conn.execute(select(registry_exchanges))
        }
        assert verify_exchange_log(conn).ok
    assert ("motcua.lien-thong", "population", "POST newborns", lead["code"], "ok") in services
    assert (
        "motcua.lien-thong",
        "social_insurance",
        "POST health-insurance-cards",
        lead["code"],
        "ok",
    ) in services


def test_death_registration_removal_of_residence_and_funeral_allowance(
    gw_api: DossierApi, gw_runtime: Runtime, gateway: Gateway
) -> None:
    bundle = _file(gw_api, "khai-tu-xoa-thuong-tru-mai-tang", _death_parts(gw_api))
    lead = _parts(bundle)["khai_tu"]["dossier"]
    _resolve(gw_api, lead["code"], "sg.tiepnhan", "sg.xuly", "sg.pheduyet")
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 1
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    removal = parts["xoa_thuong_tru"]["dossier"]
    assert removal["receiving_unit_id"] == WARD_POLICE
    form = gw_api.get("ca.saigon", removal["code"])["form_data"]
    assert form["nguoi_bi_xoa"] == {
        "ho_ten": "Lê Thị Hồng",
        "so_dinh_danh": MOTHER,
        "ngay_sinh": "1962-09-30",
    }
    assert form["dia_chi_thuong_tru"] == HOME and lead["code"] in form["ghi_chu"]
    allowance = parts["mai_tang"]
    assert allowance["status"]["code"] == "done"
    assert allowance["result"] == {"status": "accepted", "amount_vnd": 23_400_000}
    assert allowance["agency"] == "Cơ sở dữ liệu quốc gia về bảo hiểm"


def test_a_part_whose_agency_is_down_is_retried_while_the_others_go_ahead(
    gw_api: DossierApi, gw_runtime: Runtime, gateway: Gateway, sandbox: Sandbox
) -> None:
    bundle = _file(gw_api, "khai-sinh-thuong-tru-bhyt", _birth_parts(gw_api))
    lead = _parts(bundle)["khai_sinh"]["dossier"]
    _resolve(gw_api, lead["code"], "sg.tiepnhan", "sg.xuly", "sg.pheduyet")
    sandbox.fault("social_insurance", down=True)
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 0
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    assert parts["thuong_tru"]["status"]["code"] == "created"
    assert parts["the_bhyt"]["status"]["code"] == "waiting"
    sandbox.clear_faults()
    gw_api.clock.advance(timedelta(minutes=1))
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 1
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    assert parts["the_bhyt"]["status"]["code"] == "done"
    with gw_api.db.read() as conn:
        created = conn.execute(
            select(func.count()).select_from(dossiers).where(dossiers.c.procedure_code == "1.004222")
        )
        assert created.scalar_one() == 1  # the residence dossier was filed once


def test_a_withdrawn_lead_stops_the_bundle(gw_api: DossierApi) -> None:
    bundle = _file(gw_api, "khai-sinh-thuong-tru-bhyt", _birth_parts(gw_api))
    gw_api.act("congdan", _parts(bundle)["khai_sinh"]["dossier"]["code"], "withdraw")
    stopped = gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200)
    assert stopped["status"]["code"] == "stopped"
    assert {p["key"]: p["status"]["code"] for p in stopped["parts"]} == {
        "khai_sinh": "created",
        "thuong_tru": "cancelled",
        "the_bhyt": "cancelled",
    }


def test_a_refused_lead_files_nothing_more(gw_api: DossierApi, gw_runtime: Runtime, gateway: Gateway) -> None:
    bundle = _file(gw_api, "khai-sinh-thuong-tru-bhyt", _birth_parts(gw_api))
    code = _parts(bundle)["khai_sinh"]["dossier"]["code"]
    gw_api.act("sg.tiepnhan", code, "accept")
    gw_api.act("sg.xuly", code, "forward")
    gw_api.act("sg.pheduyet", code, "refuse", reason="Giấy chứng sinh không hợp lệ")
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 0
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    assert parts["thuong_tru"]["status"]["code"] == parts["the_bhyt"]["status"]["code"] == "cancelled"
    with gw_api.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(dossiers)).scalar_one() == 1


def test_mistakes_in_any_part_are_reported_at_submission_and_nothing_is_filed(gw_api: DossierApi) -> None:
    before = gw_api.row_counts()
    parts = _birth_parts(gw_api)
    del parts["thuong_tru"]["chu_ho"]["quan_he_voi_chu_ho"]
    error = assert_error(_file(gw_api, "khai-sinh-thuong-tru-bhyt", parts, expect=400), "bundle.part_invalid")
    assert "Đăng ký thường trú" in error["message"]
    parts = _birth_parts(gw_api)
    del parts["khai_sinh"]["me"]["so_dinh_danh"], parts["khai_sinh"]["cha"]["so_dinh_danh"]
    assert_error(_file(gw_api, "khai-sinh-thuong-tru-bhyt", parts, expect=400), "bundle.parent_id_required")
    death = _death_parts(gw_api)
    del death["khai_tu"]["nguoi_chet"]["so_dinh_danh"]
    assert_error(
        _file(gw_api, "khai-tu-xoa-thuong-tru-mai-tang", death, expect=400), "bundle.deceased_id_required"
    )
    assert_error(
        _file(gw_api, "khai-sinh-thuong-tru-bhyt", {"khai_tu": {}}, expect=400), "bundle.lead_form_required"
    )
    assert gw_api.row_counts() == before
    with gw_api.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(bundles)).scalar_one() == 0
    officer = {"kind": "khai-sinh-thuong-tru-bhyt", "receiving_unit_id": WARD, "parts": _birth_parts(gw_api)}
    gw_api.call("POST", "/api/v1/bundles", "sg.tiepnhan", json=officer, expect=403)


# ------------------------------------------------------------------ the event hook's cost (issue #6)


def _part_lookups(seen: list[str]) -> int:
    """The hook's own lookups of a dossier's part (an action's row read also says whether it is one)."""
    return sum(statement.lstrip().startswith("SELECT bundle_parts.") for statement in seen)


def test_the_hook_looks_a_dossier_up_once_and_still_moves_the_bundles(
    gw_api: DossierApi, gw_runtime: Runtime, gateway: Gateway
) -> None:
    """A plain birth registration (a bundle lead's procedure) is never looked up by the hook: not on its
    submission (a dossier is linked after it), and each action's row read says it is no part (remembered).
    A desk filing, accepted in the transaction that submits it, is looked up there and not remembered from
    that transaction; its later actions' reads answer. Bundles filed in between still advance, and dossiers
    of other procedures are never looked up."""
    with statements(gw_api.db) as seen:
        plain = gw_api.submit("congdan")["code"]
    assert _part_lookups(seen) == 0
    with statements(gw_api.db) as seen:
        _resolve(gw_api, plain, "sg.tiepnhan", "sg.xuly", "sg.pheduyet")
        gw_api.act("sg.traketqua", plain, "return_result", method="desk")
    assert _part_lookups(seen) == 0
    assert sum("in_bundle" in statement for statement in seen) == 5  # the five actions' row reads

    walk_in = {"full_name": "Lê Thị Mai", "personal_id": "079185012345"}
    with statements(gw_api.db) as seen:
        desk = gw_api.submit("sg.tiepnhan", channel="desk", applicant=walk_in)["code"]  # submit + accept
    assert _part_lookups(seen) == 1
    with statements(gw_api.db) as seen:
        gw_api.act("sg.xuly", desk, "forward")
        gw_api.act("sg.pheduyet", desk, "approve")
    assert _part_lookups(seen) == 0  # the actions' row reads, outside the submitting transaction, answer

    bundle = _file(gw_api, "khai-sinh-thuong-tru-bhyt", _birth_parts(gw_api))
    lead = _parts(bundle)["khai_sinh"]["dossier"]["code"]
    _resolve(gw_api, lead, "sg.tiepnhan", "sg.xuly", "sg.pheduyet")
    assert run_bundle_jobs(gw_runtime, gateway=gateway) == 1
    parts = _parts(gw_api.call("GET", f"/api/v1/bundles/{bundle['id']}", "congdan", expect=200))
    assert parts["thuong_tru"]["dossier"] is not None and parts["the_bhyt"]["status"]["code"] == "done"
    residence = parts["thuong_tru"]["dossier"]["code"]
    with statements(gw_api.db) as seen:
        gw_api.act("ca.saigon", residence, "accept")  # a dependent part: looked up, its bundle refreshed
    assert _part_lookups(seen) >= 1

    assert {KHAI_SINH, KHAI_TU, "1.004222", "1.003197"} == _PART_PROCEDURES
    with statements(gw_api.db) as seen:
        temporary = gw_api.submit("congdan", "1.004194", WARD_POLICE)["code"]  # Đăng ký tạm trú: no bundle
        gw_api.act("ca.saigon", temporary, "accept")
    assert _part_lookups(seen) == 0
