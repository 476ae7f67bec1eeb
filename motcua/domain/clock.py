"""Time is explicit: every instant is timezone-aware and comes from an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Final, Protocol
from zoneinfo import ZoneInfo

VN_TZ: Final[tzinfo] = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The real clock, in Vietnam time. Only services and the CLI create one."""

    def now(self) -> datetime:
        return datetime.now(VN_TZ)


class FixedClock:
    """A clock for tests and replays: returns a set instant, advanced on demand."""

    def __init__(self, instant: datetime) -> None:
        self._instant = require_aware(instant)

    def now(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        self._instant = require_aware(instant)

    def advance(self, delta: timedelta) -> datetime:
        self._instant = self._instant + delta
        return self._instant


def require_aware(instant: datetime) -> datetime:
    """Reject naive datetimes: every instant in motcua carries its offset."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("naive datetime: every instant must be timezone-aware")
    return instant


def to_vn(instant: datetime) -> datetime:
    """The same instant expressed in Asia/Ho_Chi_Minh."""
    return require_aware(instant).astimezone(VN_TZ)
