import pytest

from s3stream import ConfigError, RetryPolicy, StoreError
from s3stream.engine.retry import call_with_retry


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    assert policy.delay(1, lambda: 1.0) == 1.0
    assert policy.delay(3, lambda: 1.0) == 4.0
    assert policy.delay(10, lambda: 1.0) == 5.0
    assert policy.delay(10, lambda: 0.0) == 0.0


def test_invalid_policy() -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)


def test_retries_retryable_errors_with_backoff_and_no_real_sleep() -> None:
    sleeps: list[float] = []
    errors = [StoreError("slow", code="SlowDown", status=503, retryable=True) for _ in range(3)]
    calls = 0

    def operation() -> str:
        nonlocal calls
        calls += 1
        if errors:
            raise errors.pop()
        return "ok"

    result = call_with_retry(
        operation, RetryPolicy(base_delay=0.5), describe="op", sleep=sleeps.append, rand=lambda: 1.0
    )
    assert result == "ok" and calls == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_fatal_errors_fail_at_once() -> None:
    calls = 0

    def operation() -> None:
        nonlocal calls
        calls += 1
        raise StoreError("denied", code="AccessDenied", status=403)

    with pytest.raises(StoreError, match="denied"):
        call_with_retry(operation, RetryPolicy(), describe="op", sleep=lambda s: None)
    assert calls == 1


def test_gives_up_after_max_attempts_and_says_so() -> None:
    def operation() -> None:
        raise StoreError("reset", code="ConnectionClosedError", retryable=True)

    with pytest.raises(StoreError) as info:
        call_with_retry(operation, RetryPolicy(max_attempts=3), describe="op", sleep=lambda s: None)
    assert "gave up after 3 attempts" in "".join(info.value.__notes__)


def test_should_stop_ends_retries() -> None:
    calls = 0

    def operation() -> None:
        nonlocal calls
        calls += 1
        raise StoreError("reset", code="X", retryable=True)

    with pytest.raises(StoreError):
        call_with_retry(
            operation, RetryPolicy(), describe="op", sleep=lambda s: None, should_stop=lambda: True
        )
    assert calls == 1


class FakeTime:
    """A clock that only moves when slept on (or when a call takes ``cost`` seconds)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retry_for_keeps_trying_past_max_attempts_until_its_budget_is_spent() -> None:
    time = FakeTime()
    calls = 0

    def operation() -> None:
        nonlocal calls
        calls += 1
        time.now += 1.0  # each attempt takes a second to fail (a timeout)
        raise StoreError("down", code="ConnectTimeoutError", retryable=True)

    policy = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=4.0, retry_for=27.5)
    with pytest.raises(StoreError) as info:
        call_with_retry(
            operation,
            policy,
            describe="op",
            sleep=time.sleep,
            rand=lambda: 1.0,
            clock=time.clock,
        )
    # first failure at 1 s: the budget runs to 28.5 s; waits 1, 2, 4, 4, 4, 4, then the
    # last one cut to 2.5 s so that a final attempt comes at the end of the budget
    assert time.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 2.5]
    assert calls == 8 and time.now == 29.5
    assert "gave up after 8 attempts in 27.5s" in "".join(info.value.__notes__)


def test_retry_for_returns_once_the_store_is_back() -> None:
    time = FakeTime()
    failures = 20

    def operation() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise StoreError("refused", code="EndpointConnectionError", retryable=True)
        return "ok"

    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0, retry_for=60)
    assert (
        call_with_retry(
            operation, policy, describe="op", sleep=time.sleep, rand=lambda: 1.0, clock=time.clock
        )
        == "ok"
    )
    assert len(time.sleeps) == 20 and time.now < 60


def test_retry_for_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="positive number of seconds"):
        RetryPolicy(retry_for=0)
