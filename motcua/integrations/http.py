"""One HTTP endpoint of an external system: timeouts, retries with exponential backoff (tenacity) on
transient failures (timeouts, refused connections, 5xx, 429), a circuit breaker, and a trace of every call
(hashes of the request and of the reply as received) for the exchange log.

Failures come out as `GatewayError` with a stable code and a Vietnamese message a citizen can act on; the
callers degrade to manual entry instead of failing the user's action.
"""

from __future__ import annotations

import functools
import hashlib
import json
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from motcua.integrations.breaker import BreakerOpen, CircuitBreaker

USER_AGENT = "motcua/0.1 (+https://github.com/motcua)"


@dataclass(frozen=True)
class EndpointConfig:
    """Where and how to call one external service. Times are in seconds."""

    base_url: str
    token: str | None = None  # sent as `Authorization: Bearer …` (the LGSP client credential)
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    retries: int = 2  # extra attempts after the first, for transient failures only
    backoff: float = 0.2  # first wait; doubles per retry
    backoff_max: float = 2.0
    breaker_threshold: int = 5
    breaker_reset: float = 30.0


@dataclass(frozen=True)
class Trace:
    """What the exchange log keeps of one call: never the payloads, only their hashes."""

    exchange_id: str
    method: str
    path: str
    request_hash: str
    response_hash: str | None
    status: int | None
    attempts: int
    duration_ms: int


class GatewayError(Exception):
    """A call to an external system did not give usable data. `code` is stable, `message` Vietnamese."""

    def __init__(self, code: str, message: str, trace: Trace | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trace = trace


class _Transient(Exception):
    def __init__(self, reason: str, status: int | None = None, content: bytes | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.content = content


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every endpoint (building one per client costs tens of milliseconds)."""
    return ssl.create_default_context()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request_digest(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(
        {"method": method, "path": path, "body": body},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return sha256_hex(canonical.encode("utf-8"))


def failure_message(code: str, label: str) -> str:
    """The Vietnamese message for a failure code, naming the system (`label`)."""
    messages = {
        "registry.not_configured": f"Chưa cấu hình kết nối tới {label}; vui lòng tự nhập thông tin.",
        "registry.unavailable": (
            f"{label} đang không phản hồi; vui lòng tự nhập thông tin (hồ sơ vẫn nộp được bình thường)."
        ),
        "registry.circuit_open": (
            f"{label} đang tạm gián đoạn nên hệ thống tạm ngừng tra cứu trong ít phút; vui lòng tự nhập thông tin."
        ),
        "registry.bad_reply": f"{label} trả về dữ liệu không đọc được; vui lòng tự nhập thông tin.",
        "registry.not_found": f"Không tìm thấy dữ liệu trong {label}; vui lòng tự nhập thông tin.",
        "registry.refused": (
            f"Kết nối tới {label} bị từ chối (sai thông tin xác thực); vui lòng tự nhập thông tin."
        ),
        "registry.rejected": f"{label} không chấp nhận yêu cầu tra cứu; vui lòng tự nhập thông tin.",
    }
    return messages.get(code, f"Không lấy được dữ liệu từ {label}; vui lòng tự nhập thông tin.")


class HttpEndpoint:
    """A thread-safe client for one base URL with its own retry policy and circuit breaker."""

    def __init__(
        self,
        label_vi: str,
        config: EndpointConfig,
        *,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label_vi = label_vi
        self.config = config
        self.breaker = breaker or CircuitBreaker(
            threshold=config.breaker_threshold, reset_after=config.breaker_reset
        )
        self._sleep = sleep
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            transport=transport,
            follow_redirects=False,
            verify=_tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        purpose: str | None = None,
        idempotency_key: str | None = None,
        exchange_id: str | None = None,
    ) -> tuple[dict[str, Any], Trace]:
        """Send one request (retried while transient) and return the JSON object replied, with its trace."""
        exchange_id = exchange_id or uuid.uuid4().hex
        started = time.perf_counter()
        request_hash = request_digest(method, path, dict(body) if body is not None else None)
        attempts = 0

        def trace(status: int | None, content: bytes | None) -> Trace:
            elapsed = int((time.perf_counter() - started) * 1000)
            digest = sha256_hex(content) if content is not None else None
            return Trace(exchange_id, method, path, request_hash, digest, status, attempts, elapsed)

        def fail(code: str, status: int | None = None, content: bytes | None = None) -> GatewayError:
            return GatewayError(code, failure_message(code, self.label_vi), trace(status, content))

        try:
            self.breaker.before_call()
        except BreakerOpen:
            raise fail("registry.circuit_open") from None
        headers = {"X-Request-Id": exchange_id}
        if purpose:
            headers["X-Purpose"] = purpose
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            try:
                response = self._client.request(method, path, json=body, headers=headers)
            except httpx.TimeoutException as exc:
                raise _Transient(f"timeout: {type(exc).__name__}") from exc
            except httpx.TransportError as exc:
                raise _Transient(f"transport: {type(exc).__name__}") from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise _Transient(f"status {response.status_code}", response.status_code, response.content)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.config.retries + 1),
            wait=wait_exponential(multiplier=self.config.backoff, max=self.config.backoff_max),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except _Transient as exc:
            self.breaker.record_failure()
            raise fail("registry.unavailable", exc.status, exc.content) from None
        except Exception:  # anything unforeseen still ends a half-open trial
            self.breaker.record_failure()
            raise
        status, content = response.status_code, response.content
        if status >= 400:
            self.breaker.record_success()  # the system answered: it is up, the request was the problem
            codes = {401: "registry.refused", 403: "registry.refused", 404: "registry.not_found"}
            raise fail(codes.get(status, "registry.rejected"), status, content)
        data = _json_object(content)
        if data is None:
            self.breaker.record_failure()  # a system that answers garbage is as good as down
            raise fail("registry.bad_reply", status, content)
        self.breaker.record_success()
        return data, trace(status, content)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
