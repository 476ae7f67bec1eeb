"""Presentation helpers shared by templates and handlers: dates in Vietnam time, SLA bands, URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from litestar.connection import ASGIConnection

from motcua.domain.clock import to_vn

SlaBand = Literal["within_time", "due_today", "overdue"]


def as_instant(value: datetime | str | None) -> datetime | None:
    """An aware datetime from a datetime or an ISO-8601 string (services return both); None stays None."""
    if value is None or value == "":
        return None
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_vn(instant)


def format_datetime(value: datetime | str | None) -> str:
    """`dd/mm/yyyy HH:MM` in Asia/Ho_Chi_Minh; empty for no value."""
    instant = as_instant(value)
    return instant.strftime("%d/%m/%Y %H:%M") if instant else ""


def format_date(value: datetime | str | None) -> str:
    """`dd/mm/yyyy` in Asia/Ho_Chi_Minh; empty for no value."""
    instant = as_instant(value)
    return instant.strftime("%d/%m/%Y") if instant else ""


def iso_instant(value: datetime | str | None) -> str:
    """The machine-readable instant for `<time datetime=…>`."""
    instant = as_instant(value)
    return instant.isoformat(timespec="minutes") if instant else ""


def sla_band_of(due: datetime | str | None, now: datetime) -> SlaBand | None:
    """Within time, due today (the due instant is later today, Vietnam time) or overdue; None without a due."""
    due_at = as_instant(due)
    if due_at is None:
        return None
    now_vn = to_vn(now)
    if now_vn > due_at:
        return "overdue"
    return "due_today" if due_at.date() == now_vn.date() else "within_time"


def url_with(connection: ASGIConnection[Any, Any, Any, Any], **params: Any) -> str:
    """The current path with query parameters replaced (`None` removes one), e.g. `url_with(request, page=2)`."""
    query = connection.query_params.dict()
    for name, value in params.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = [str(value)]
    encoded = urlencode(query, doseq=True)
    return f"{connection.url.path}?{encoded}" if encoded else connection.url.path
