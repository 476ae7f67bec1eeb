"""The sandbox: an HTTP imitation of the city's data-sharing platform (registries) and of the National Public
Service Portal's status-sync endpoint, with switches for latency and faults.

Layout (base URL = `MOTCUA_REGISTRY_URL`):
  GET  /registries/population/citizens/{personal_id}
  POST /registries/population/newborns                      personal ID for a newborn being registered
  GET  /registries/enterprise/enterprises/{enterprise_code}
  GET  /registries/civil-status/people/{personal_id}         birth, marriage and death records
  GET  /registries/tax/taxpayers/{tax_code_or_personal_id}
  GET  /registries/social-insurance/people/{personal_id}
  POST /registries/social-insurance/health-insurance-cards  card for a child under 6 (Decree 63/2024)
  POST /registries/social-insurance/funeral-allowances      funeral allowance claim (Decree 63/2024)
  POST /portal/dossier-statuses                             status sync (idempotent by Idempotency-Key)
  GET  /portal/dossier-statuses?ma_ho_so=…                   what the portal received, in order
  GET|PUT|DELETE /admin/faults, POST /admin/reset, GET /admin/stats, GET /admin/demo

Faults, per target (a registry kind, `registries` for all of them, or `portal`), set with
`PUT /admin/faults {"target": "population", "delay_ms": 800, "fail_next": 2, "status": 503, ...}` or per
request with query parameters `fault_delay_ms`, `fault_status`, `fault_malformed`, `fault_foreign`:
  delay_ms      answer after this many milliseconds (a client with a shorter timeout times out)
  error_rate    probability (0–1) of answering `status` instead of data (seeded, so runs repeat)
  fail_next     the next N requests answer `status`, then normal service resumes
  status        the error status to answer (default 503)
  down          every request answers 503 (the system is down)
  malformed     answer 200 with broken JSON
  foreign_data  answer with someone else's record
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any

from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from motcua.domain.clock import VN_TZ
from motcua.domain.registry import RegistryKind
from motcua.integrations.sandbox import data as sandbox_data
from motcua.integrations.sandbox.data import World

REGISTRY_TARGETS = frozenset(kind.value for kind in RegistryKind)
TARGETS = REGISTRY_TARGETS | {"registries", "portal"}


@dataclass
class FaultSpec:
    delay_ms: int = 0
    error_rate: float = 0.0
    fail_next: int = 0
    status: int = 503
    down: bool = False
    malformed: bool = False
    foreign_data: bool = False


class SandboxState:
    """Mutable state of one sandbox app: faults, counters, what the portal received."""

    def __init__(self, *, token: str | None, seed: int = sandbox_data.SEED) -> None:
        self.token = token
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.world = World(seed=self.seed)
        self.faults: dict[str, FaultSpec] = {}
        self.requests: Counter[str] = Counter()
        self.portal_log: list[dict[str, Any]] = []
        self.replies: dict[str, dict[str, Any]] = {}  # idempotency key → first reply
        self.rng = random.Random(self.seed)

    def fault_for(self, target: str) -> FaultSpec:
        if target in self.faults:
            return self.faults[target]
        if target in REGISTRY_TARGETS and "registries" in self.faults:
            return self.faults["registries"]
        return FaultSpec()


def _sandbox(request: Request[Any, Any, Any]) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _json(body: Any, status: int = 200) -> Response[bytes]:
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response[bytes]:
    return _json({"error": {"code": code, "message": message}}, status)


def _request_fault(request: Request[Any, Any, Any], base: FaultSpec) -> FaultSpec:
    params = request.query_params
    spec = FaultSpec(**asdict(base))
    if params.get("fault_delay_ms"):
        spec.delay_ms = int(params["fault_delay_ms"])
    if params.get("fault_status"):
        spec.status, spec.fail_next = int(params["fault_status"]), 1
    spec.malformed = spec.malformed or params.get("fault_malformed") == "1"
    spec.foreign_data = spec.foreign_data or params.get("fault_foreign") == "1"
    return spec


async def _guard(request: Request[Any, Any, Any], target: str) -> tuple[Response[bytes] | None, FaultSpec]:
    """Count the request, check the credential, apply the faults; a response ends the request early."""
    sandbox = _sandbox(request)
    sandbox.requests[target] += 1
    if sandbox.token and request.headers.get("authorization") != f"Bearer {sandbox.token}":
        return _error(401, "unauthorized", "Thiếu hoặc sai thông tin xác thực."), FaultSpec()
    stored = sandbox.fault_for(target)
    spec = _request_fault(request, stored)
    if spec.delay_ms:
        await asyncio.sleep(spec.delay_ms / 1000)
    if spec.down:
        return _error(503, "down", "Hệ thống đang bảo trì."), spec
    if stored.fail_next > 0:
        stored.fail_next -= 1
        return _error(stored.status, "injected", "Lỗi giả lập."), spec
    if spec.fail_next > 0 or (spec.error_rate and sandbox.rng.random() < spec.error_rate):
        return _error(spec.status, "injected", "Lỗi giả lập."), spec
    if spec.malformed:
        return Response(b'{"personal_id": "0790', media_type="application/json"), spec
    return None, spec


def _today() -> date:
    return datetime.now(VN_TZ).date()


async def _person_reply(
    request: Request[Any, Any, Any],
    registry: str,
    personal_id: str,
    not_found: str,
    reply: Callable[[Any, Any], dict[str, Any]],
) -> Response[bytes]:
    """One person's record from a registry keyed by personal ID, with the fault switches applied."""
    early, spec = await _guard(request, registry)
    if early:
        return early
    world = _sandbox(request).world
    person = world.person(personal_id)
    if person is None:
        return _error(404, "not_found", not_found)
    if spec.foreign_data:
        person = world.stranger(personal_id)
    return _json(reply(world, person))


# ------------------------------------------------------------------ registries


@get("/registries/population/citizens/{personal_id:str}")
async def citizen(personal_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _person_reply(
        request,
        "population",
        personal_id,
        "Không có công dân với số định danh này.",
        sandbox_data.citizen_reply,
    )


@post("/registries/population/newborns", status_code=201)
async def newborn(data: JSONBody[dict[str, Any]], request: Request[Any, Any, Any]) -> Response[bytes]:
    early, _ = await _guard(request, "population")
    if early:
        return early
    try:
        child = _sandbox(request).world.newborn(data)
    except (KeyError, ValueError):
        return _error(422, "invalid", "Thiếu họ tên hoặc ngày sinh hợp lệ của trẻ.")
    return _json({"personal_id": child.personal_id, "full_name": child.full_name}, 201)


@get("/registries/enterprise/enterprises/{code:str}")
async def enterprise(code: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    early, spec = await _guard(request, "enterprise")
    if early:
        return early
    world = _sandbox(request).world
    found = world.enterprise(code)
    if found is None:
        return _error(404, "not_found", "Không có doanh nghiệp với mã số này.")
    if spec.foreign_data:
        found = world.enterprise("0100109106" if found.code != "0100109106" else "0300588569") or found
    return _json(sandbox_data.enterprise_reply(world, found))


@get("/registries/civil-status/people/{personal_id:str}")
async def civil_status(personal_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _person_reply(
        request, "civil_status", personal_id, "Không có dữ liệu hộ tịch.", sandbox_data.civil_status_reply
    )


@get("/registries/tax/taxpayers/{code:str}")
async def taxpayer(code: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    early, spec = await _guard(request, "tax")
    if early:
        return early
    world = _sandbox(request).world
    reply = sandbox_data.tax_reply(world, world.stranger(code).personal_id if spec.foreign_data else code)
    if reply is None:
        return _error(404, "not_found", "Không có người nộp thuế với mã số này.")
    return _json(reply)


@get("/registries/social-insurance/people/{personal_id:str}")
async def insured(personal_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _person_reply(
        request,
        "social_insurance",
        personal_id,
        "Không có dữ liệu bảo hiểm.",
        lambda world, person: sandbox_data.social_insurance_reply(world, person, _today()),
    )


def _replayed(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    key = request.headers.get("idempotency-key")
    return _sandbox(request).replies.get(key) if key else None


def _remember(request: Request[Any, Any, Any], reply: dict[str, Any]) -> dict[str, Any]:
    key = request.headers.get("idempotency-key")
    if key:
        _sandbox(request).replies[key] = reply
    return reply


@post("/registries/social-insurance/health-insurance-cards", status_code=201)
async def health_card(data: JSONBody[dict[str, Any]], request: Request[Any, Any, Any]) -> Response[bytes]:
    early, _ = await _guard(request, "social_insurance")
    if early:
        return early
    if (replay := _replayed(request)) is not None:
        return _json(replay, 201)
    world = _sandbox(request).world
    child = world.person(str(data.get("personal_id") or ""))
    if child is None:
        return _error(422, "invalid", "Số định danh cá nhân của trẻ không hợp lệ.")
    info = sandbox_data.social_insurance_reply(world, child, _today())
    if not info["health_card_number"].startswith("TE1"):
        return _error(422, "not_eligible", "Trẻ đã đủ 6 tuổi; không thuộc diện cấp thẻ theo liên thông.")
    reply = {
        "accepted": True,
        "status": "issued",
        "reference": f"BHYT-{info['insurance_code']}",
        "card_number": info["health_card_number"],
        "valid_from": child.date_of_birth.isoformat(),
        "valid_to": info["health_card_valid_to"],
        "initial_hospital": data.get("initial_hospital") or info["initial_hospital"],
    }
    return _json(_remember(request, reply), 201)


@post("/registries/social-insurance/funeral-allowances", status_code=201)
async def funeral_allowance(
    data: JSONBody[dict[str, Any]], request: Request[Any, Any, Any]
) -> Response[bytes]:
    early, _ = await _guard(request, "social_insurance")
    if early:
        return early
    if (replay := _replayed(request)) is not None:
        return _json(replay, 201)
    world = _sandbox(request).world
    deceased = world.person(str(data.get("deceased_personal_id") or ""))
    if deceased is None:
        return _error(422, "invalid", "Số định danh cá nhân của người chết không hợp lệ.")
    if not sandbox_data.social_insurance_reply(world, deceased, _today())["funeral_allowance_eligible"]:
        reply = {
            "accepted": True,
            "status": "not_eligible",
            "reference": f"MT-{deceased.personal_id}",
            "message": "Người chết không tham gia bảo hiểm xã hội; không thuộc diện hưởng trợ cấp mai táng.",
        }
    else:
        reply = {
            "accepted": True,
            "status": "accepted",
            "reference": f"MT-{deceased.personal_id}",
            "amount_vnd": sandbox_data.FUNERAL_ALLOWANCE_VND,
        }
    return _json(_remember(request, reply), 201)


# ------------------------------------------------------------------ national portal


@post("/portal/dossier-statuses")
async def portal_receive(data: JSONBody[dict[str, Any]], request: Request[Any, Any, Any]) -> Response[bytes]:
    early, _ = await _guard(request, "portal")
    if early:
        return early
    sandbox = _sandbox(request)
    key = request.headers.get("idempotency-key") or f"{data.get('ma_ho_so')}:{data.get('thu_tu')}"
    if any(entry["key"] == key for entry in sandbox.portal_log):
        return _json({"accepted": True, "duplicate": True})
    sandbox.portal_log.append({"key": key, "received_at": datetime.now(VN_TZ).isoformat(), **data})
    return _json({"accepted": True, "duplicate": False})


@get("/portal/dossier-statuses")
async def portal_log(request: Request[Any, Any, Any]) -> Response[bytes]:
    code = request.query_params.get("ma_ho_so")
    items = [e for e in _sandbox(request).portal_log if code is None or e.get("ma_ho_so") == code]
    return _json({"items": items, "total": len(items)})


# ------------------------------------------------------------------ admin


def _faults_body(sandbox: SandboxState) -> dict[str, Any]:
    return {"faults": {target: asdict(spec) for target, spec in sorted(sandbox.faults.items())}}


@get("/admin/faults")
async def get_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _json(_faults_body(_sandbox(request)))


@put("/admin/faults")
async def set_faults(data: JSONBody[dict[str, Any]], request: Request[Any, Any, Any]) -> Response[bytes]:
    sandbox = _sandbox(request)
    target = str(data.get("target") or "registries")
    if target not in TARGETS:
        return _error(400, "bad_target", f"target phải là một trong: {', '.join(sorted(TARGETS))}.")
    known = {f.name for f in fields(FaultSpec)}
    unknown = set(data) - known - {"target"}
    if unknown:
        return _error(400, "bad_field", f"Trường không hỗ trợ: {', '.join(sorted(unknown))}.")
    try:
        sandbox.faults[target] = FaultSpec(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return _error(400, "bad_field", "Giá trị không hợp lệ.")
    return _json(_faults_body(sandbox))


@delete("/admin/faults", status_code=200)
async def clear_faults(request: Request[Any, Any, Any]) -> Response[bytes]:
    sandbox = _sandbox(request)
    sandbox.faults.clear()
    return _json(_faults_body(sandbox))


@post("/admin/reset", status_code=200)
async def reset(request: Request[Any, Any, Any]) -> Response[bytes]:
    _sandbox(request).reset()
    return _json({"reset": True})


@get("/admin/stats")
async def stats(request: Request[Any, Any, Any]) -> Response[bytes]:
    sandbox = _sandbox(request)
    return _json({"requests": dict(sandbox.requests), "portal_received": len(sandbox.portal_log)})


@get("/admin/demo")
async def demo(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The demo identities, for people trying the system."""
    world = _sandbox(request).world
    people = [
        sandbox_data.citizen_reply(world, p)
        for p in world.people.values()
        if p.household_id == "HK79-0000001"
    ]
    return _json(
        {
            "citizens": [{"personal_id": p["personal_id"], "full_name": p["full_name"]} for p in people],
            "enterprises": [{"enterprise_code": "0300588569", "name": world.enterprises["0300588569"].name}],
        }
    )


@get("/healthz")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_sandbox_app(*, token: str | None = None, seed: int = sandbox_data.SEED) -> Litestar:
    """A fresh sandbox (its own world, faults and portal log). `token`: the bearer credential required."""
    return Litestar(
        route_handlers=[
            citizen,
            newborn,
            enterprise,
            civil_status,
            taxpayer,
            insured,
            health_card,
            funeral_allowance,
            portal_receive,
            portal_log,
            get_faults,
            set_faults,
            clear_faults,
            reset,
            stats,
            demo,
            health,
        ],
        state=State({"sandbox": SandboxState(token=token, seed=seed)}),
        openapi_config=None,
        debug=False,
    )
