"""A bounded asyncio load generator for 127.0.0.1: complete dossier lifecycles, public tracking, /healthz.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (uvloop when installed): one
connection per virtual user, Content-Length bodies. It spends a few tens of microseconds per request, where
httpx spends several hundred — on a 2-core machine the load generator shares the CPU with the server and
the database, so its own cost decides how much of the machine is left to measure. `--client httpx` runs the
same scenarios through httpx for a cross-check. The /healthz phase measures the HTTP server's ceiling with
the same client, so a figure is read against it.

Every phase stops by itself: after `max_count` operations or `seconds`, whichever comes first; operations in
flight finish (each request has a timeout). Latencies are kept per request type.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 30.0
LIFECYCLE: tuple[
    tuple[str, str, dict[str, Any]], ...
] = (  # (request type, demo account, action payload); the submission comes first
    ("accept", "sg.tiepnhan", {}),
    ("forward", "sg.xuly", {"note": "Đủ điều kiện"}),
    ("approve", "sg.pheduyet", {}),
    ("issue_result", "sg.xuly", {"result": {"so": "123/2026"}}),
    ("return_result", "sg.traketqua", {"method": "desk"}),
)
ACCOUNTS = ("congdan", "sg.tiepnhan", "sg.xuly", "sg.pheduyet", "sg.traketqua")


class HttpError(Exception):
    pass


class RawClient:
    """One keep-alive HTTP/1.1 connection to HOST:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        cookie: str | None = None,
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + (body or b""))
        try:
            return await asyncio.wait_for(self._response(), REQUEST_TIMEOUT)
        except BaseException:
            await self.close()
            raise

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, close, chunked = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        body = await self._chunked() if chunked else await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(p[:-2] for p in parts)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.reader = None


class HttpxClient:
    """The same interface over httpx (for a cross-check of the raw client's figures)."""

    def __init__(self, port: int) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        token: str | None = None,
        cookie: str | None = None,
    ) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"} if body is not None else {}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if cookie:
            headers["cookie"] = cookie
        response = await self.client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


Client = RawClient | HttpxClient


def make_client(kind: str, port: int) -> Client:
    return HttpxClient(port) if kind == "httpx" else RawClient(port)


@dataclass
class Recorder:
    """Latencies (seconds) per request type, errors, and the phase's wall time."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, detail: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail[:300]}")

    def summary(self, operations: int, unit: str) -> dict[str, Any]:
        elapsed = max(self.finished - self.started, 1e-9)
        requests = sum(len(v) for v in self.latencies.values())
        return {
            "seconds": round(elapsed, 2),
            unit: operations,
            f"{unit}_per_second": round(operations / elapsed, 1),
            "requests": requests,
            "requests_per_second": round(requests / elapsed, 1),
            "errors": self.errors,
            "error_samples": self.error_samples,
            "latency_ms": {kind: percentiles(values) for kind, values in sorted(self.latencies.items())},
        }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"count": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


@dataclass
class Budget:
    """Bounded count and time, shared by the virtual users of a phase."""

    max_count: int
    seconds: float
    taken: int = 0
    deadline: float = 0.0

    def take(self) -> bool:
        if self.taken >= self.max_count or time.perf_counter() >= self.deadline:
            return False
        self.taken += 1
        return True


async def run_phase(
    users: int,
    budget: Budget,
    operation: Callable[[Client, Recorder], Awaitable[None]],
    *,
    client_kind: str,
    port: int,
) -> Recorder:
    """`users` virtual users repeat `operation` while the budget allows."""
    recorder = Recorder()

    async def user() -> None:
        client = make_client(client_kind, port)
        try:
            while budget.take():
                await operation(client, recorder)
        finally:
            await client.close()

    recorder.started = time.perf_counter()
    budget.deadline = recorder.started + budget.seconds
    await asyncio.gather(*(user() for _ in range(users)))
    recorder.finished = time.perf_counter()
    return recorder


async def timed(
    client: Client,
    recorder: Recorder,
    kind: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    cookie: str | None = None,
) -> tuple[int, bytes] | None:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    started = time.perf_counter()
    try:
        status, content = await client.request(method, path, data, token, cookie)
    except Exception as exc:  # a timeout or a dropped connection is an error of the run, not a crash
        recorder.error(kind, f"{type(exc).__name__}: {exc}")
        return None
    recorder.add(kind, time.perf_counter() - started)
    if status >= 400:
        recorder.error(kind, f"HTTP {status}: {content[:600].decode('utf-8', 'replace')}")
        return None
    return status, content


# ---------------------------------------------------------------- scenarios


async def login_all(port: int, password: str, usernames: Sequence[str] = ACCOUNTS) -> dict[str, str]:
    """Bearer tokens of the accounts a lifecycle uses (a real login each: argon2)."""
    client = RawClient(port)
    tokens = {}
    try:
        for username in usernames:
            body = json.dumps({"username": username, "password": password}).encode()
            status, content = await client.request("POST", "/api/v1/auth/token", body)
            if status != 200:
                raise HttpError(f"login {username}: HTTP {status} {content[:200]!r}")
            tokens[username] = json.loads(content)["access_token"]
    finally:
        await client.close()
    return tokens


@dataclass(frozen=True)
class Team:
    """One ward's people in a lifecycle: its citizen and its four officers (`LIFECYCLE`'s roles), by the
    demo account names `congdan`, `sg.tiepnhan`, … they stand for, and the submission they file."""

    tokens: dict[str, str]  # demo account name -> this team's bearer token
    submission: dict[str, Any]


def lifecycle_operation(
    teams: Sequence[Team], created: list[str], *, view: str = "summary"
) -> Callable[[Client, Recorder], Awaitable[None]]:
    """One complete life: the citizen files online, the ward's officers take it to the handing-over.
    Each virtual user (connection) works with one team, round robin, so N teams spread the load over N wards
    as a city's day does. The officers' actions ask for `view` (`summary`: the answer without form data,
    files and history)."""
    query = "" if view == "full" else f"?view={view}"
    assigned: dict[int, Team] = {}

    async def operation(client: Client, recorder: Recorder) -> None:
        team = assigned.setdefault(id(client), teams[len(assigned) % len(teams)])
        response = await timed(
            client, recorder, "submit", "POST", "/api/v1/dossiers", team.submission, team.tokens["congdan"]
        )
        if response is None:
            return
        code = json.loads(response[1])["code"]
        for kind, username, payload in LIFECYCLE:
            body = {"action": kind, "payload": payload}
            path = f"/api/v1/dossiers/{code}/actions{query}"
            if await timed(client, recorder, kind, "POST", path, body, team.tokens[username]) is None:
                return
        created.append(code)

    return operation


def tracking_operation(codes: Sequence[str], seed: int = 1) -> Callable[[Client, Recorder], Awaitable[None]]:
    rng = random.Random(seed)

    async def operation(client: Client, recorder: Recorder) -> None:
        await timed(client, recorder, "track", "GET", f"/api/v1/track/{rng.choice(codes)}")

    return operation


def get_operation(
    kind: str, paths: Sequence[str], token: str | None, seed: int = 1, cookie: str | None = None
) -> Callable[[Client, Recorder], Awaitable[None]]:
    """GETs of paths drawn at random, with a bearer token (API) or a `Cookie` header (pages)."""
    rng = random.Random(seed)

    async def operation(client: Client, recorder: Recorder) -> None:
        await timed(client, recorder, kind, "GET", rng.choice(paths), token=token, cookie=cookie)

    return operation


def install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
