"""Outbound status sync to the National Public Service Portal (Cổng Dịch vụ công quốc gia).

The portal's own sync specification was not found (DOMAIN.md §2.1, [U]); the message below carries what
every published integration sends — dossier code, procedure code, agency code, national status code and
label, instant, sequence — under field names of our choosing, documented in decision 0005. Deliveries are
at-least-once (the outbox retries), so each carries an idempotency key `<dossier code>:<event seq>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from motcua.domain.lifecycle import Status
from motcua.integrations.http import GatewayError, HttpEndpoint, Trace, failure_message

PORTAL_LABEL = "Cổng Dịch vụ công quốc gia"
# 4xx answers that say nothing about the message itself: credentials or a proxy (the city's configuration, to
# fix and retry: not every job's fault), a timeout, a rate limit. Any other 4xx refuses this message for good.
NOT_THE_MESSAGES_FAULT = frozenset({401, 403, 407, 408, 429})


class PortalRefused(GatewayError):
    """The portal answered and refused this message (a 4xx about the message, or `accepted` not true): sending
    it again cannot succeed, so the outbox gives the job up at once (decision 0009)."""


def refused_for_good(exc: GatewayError) -> bool:
    """A failure that resending the same message cannot cure."""
    if isinstance(exc, PortalRefused):
        return True
    status = exc.trace.status if exc.trace is not None else None
    return status is not None and 400 <= status < 500 and status not in NOT_THE_MESSAGES_FAULT


@dataclass(frozen=True)
class StatusSync:
    dossier_code: str
    seq: int
    status: int
    at: str  # ISO 8601 instant with offset
    procedure_code: str | None = None
    agency_code: str | None = None

    def body(self) -> dict[str, object]:
        return {
            "ma_ho_so": self.dossier_code,
            "ma_thu_tuc": self.procedure_code,
            "ma_don_vi": self.agency_code,
            "trang_thai": self.status,
            "ten_trang_thai": Status(self.status).label_vi,
            "thoi_diem": self.at,
            "thu_tu": self.seq,
        }

    @property
    def idempotency_key(self) -> str:
        return f"{self.dossier_code}:{self.seq}"


class PortalClient:
    def __init__(self, endpoint: HttpEndpoint | None) -> None:
        self.endpoint = endpoint

    def push_status(self, sync: StatusSync) -> Trace:
        """Deliver one status change; `PortalRefused` when the portal refused this message for good,
        `GatewayError` when it did not take it for now (retry later)."""
        if self.endpoint is None:
            raise GatewayError(
                "registry.not_configured", failure_message("registry.not_configured", PORTAL_LABEL)
            )
        try:
            data, trace = self.endpoint.call(
                "POST",
                "/dossier-statuses",
                body=sync.body(),
                purpose="dvcqg:dong-bo-trang-thai",
                idempotency_key=sync.idempotency_key,
            )
        except GatewayError as exc:
            if refused_for_good(exc):
                raise PortalRefused(exc.code, exc.message, exc.trace) from exc
            raise
        if data.get("accepted") is not True:
            raise PortalRefused(
                "registry.rejected", failure_message("registry.rejected", PORTAL_LABEL), trace
            )
        return trace
