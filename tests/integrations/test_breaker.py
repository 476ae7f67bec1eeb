"""The circuit breaker: closed → open after repeated failures → half-open after the pause → closed or open."""

from __future__ import annotations

import pytest

from motcua.integrations.breaker import BreakerOpen, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, reset_after=30.0, clock=clock)


def test_opens_after_threshold_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call()
    assert breaker.seconds_until_retry() == pytest.approx(30.0)


def test_a_success_resets_the_failure_count() -> None:
    breaker = _breaker(FakeClock())
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_trial_through_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the trial
    with pytest.raises(BreakerOpen):
        breaker.before_call()  # a second caller waits for the trial's outcome
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_a_failed_trial_opens_it_again_for_a_full_pause() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 31.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 29.0
    with pytest.raises(BreakerOpen):
        breaker.before_call()
    clock.now += 1.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)
