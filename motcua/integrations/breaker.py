"""A small circuit breaker: after `threshold` failed calls in a row it opens and refuses calls at once for
`reset_after` seconds, then lets one trial call through (half-open); success closes it, failure re-opens it.

Written here rather than taken from a library: it is ~60 lines, has an injectable clock so the tests are
exact, and the maintained breakers on PyPI (pybreaker, purgatory) are not in the pinned stack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpen(Exception):
    """The breaker refused the call without trying it."""


class CircuitBreaker:
    def __init__(
        self, *, threshold: int = 5, reset_after: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1 or reset_after <= 0:
            raise ValueError("threshold must be ≥ 1 and reset_after > 0")
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        """Raise BreakerOpen unless a call may go through now (in half-open state: only one at a time)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_running):
                raise BreakerOpen()
            if state is BreakerState.HALF_OPEN:
                self._trial_running = True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_running = False

    def seconds_until_retry(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_after - (self._clock() - self._opened_at))
